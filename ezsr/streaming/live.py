"""Live event sources: cameras and network streams, as iterables of ezsr.Events chunks.

Specs (what `ezsr stream SOURCE` accepts besides a file):

* ``camera`` / ``camera:SERIAL`` - an iniVation camera (DVXplorer, DAVIS, DVS128) through
  dv-processing (``pip install 'ezsr[live]'``; module ``dv_processing``): the first camera
  found, or the one with that serial number (``dv_processing.io.camera.open``).
* ``tcp://HOST:PORT`` - an AEDAT4 network stream, what DV's "Network TCP server" output and
  dv-processing's ``dv_processing.io.NetworkWriter`` serve (read with
  ``dv_processing.io.NetworkReader``).
* ``prophesee`` / ``prophesee:SERIAL`` - a Prophesee camera through the Metavision SDK's
  Python API (``metavision_core.event_io.EventsIterator``); the SDK is installed from
  Prophesee's own packages, not PyPI.

Every chunk is an ezsr.Events on the CPU (x, y int16 pixels, t int64 µs on the camera's
clock, p uint8 with 1 = ON). A source ends when the camera is unplugged or the server closes
the connection (``end_reason`` says which), or when ``close()`` is called (the stream's
Ctrl-C path). Reconnect policy: ``reconnect_s`` seconds (default 0: none) of retries, one a
second, after a closed connection; events older than the last one delivered are dropped and
counted in ``dropped_events`` so time stays non-decreasing across a reconnect.
"""

from __future__ import annotations

import time
from typing import Any, Iterator, Sequence, Union

import numpy as np

from ezsr.events import Events

LIVE_PREFIXES = ("camera", "tcp://", "prophesee")


def is_live(spec: object) -> bool:
    """Whether `spec` names a live source (camera[:SERIAL], tcp://HOST:PORT,
    prophesee[:SERIAL]) rather than a file."""
    s = str(spec)
    return s in ("camera", "prophesee") or s.startswith(("camera:", "tcp://", "prophesee:"))


def open_live(
    spec: str, reconnect_s: float = 0.0, poll_s: float = 0.001
) -> Union[DvSource, MetavisionSource]:
    """The source for a live spec (see the module docstring); ValueError for a bad spec,
    ImportError naming the package to install when its SDK is missing."""
    s = str(spec)
    if s.startswith("tcp://"):
        host, _, port = s[len("tcp://") :].rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{spec}: expected tcp://HOST:PORT with PORT in 1..65535")
        return DvSource(("tcp", host, int(port)), reconnect_s=reconnect_s, poll_s=poll_s)
    kind, _, serial = s.partition(":")
    if kind == "camera":
        return DvSource(("camera", serial or None), reconnect_s=reconnect_s, poll_s=poll_s)
    if kind == "prophesee":
        return MetavisionSource(serial or "")
    raise ValueError(
        f"{spec}: not a live source (camera[:SERIAL], tcp://HOST:PORT or prophesee[:SERIAL])"
    )


def _require_dv() -> Any:
    try:
        import dv_processing
    except ImportError:
        raise ImportError(
            "live iniVation cameras and AEDAT4 network streams need "
            "dv-processing: pip install 'ezsr[live]' (or pip install "
            "dv-processing)"
        ) from None
    return dv_processing


def structured_to_events(
    a: np.ndarray,
    width: int,
    height: int,
    names: Sequence[str] = ("x", "y", "timestamp", "polarity"),
) -> Events:
    """An SDK's structured event array (dv-processing: x, y, timestamp, polarity;
    Metavision: x, y, t, p) -> ezsr.Events on a width x height sensor."""
    x, y, t, p = (a[n] for n in names)
    return Events(
        np.ascontiguousarray(x, np.int16),
        np.ascontiguousarray(y, np.int16),
        np.ascontiguousarray(t, np.int64),
        (np.asarray(p) > 0).astype(np.uint8),
        width,
        height,
        validate=False,
    )


class _LiveBase:
    """close(), counters and the end reason shared by the live sources."""

    live = True

    def __init__(self) -> None:
        self._closed = False
        self.end_reason: str | None = None  # "closed" (close()), "disconnected", "end of stream"
        self.dropped_events = 0
        self.connects = 0
        self.width = self.height = 0

    def close(self) -> None:
        """Stop the iteration at the next poll (any thread)."""
        self._closed = True


class DvSource(_LiveBase):
    """An iniVation camera or an AEDAT4 network stream through dv-processing.

    target: ("tcp", host, port) or ("camera", serial | None). The reader is opened when
    iteration starts; getNextEventBatch is polled every poll_s seconds while no batch is
    ready. reconnect_s: after a lost connection, retry once a second for this long.
    """

    def __init__(
        self, target: tuple[Any, ...], reconnect_s: float = 0.0, poll_s: float = 0.001
    ) -> None:
        super().__init__()
        self.target, self.reconnect_s, self.poll_s = target, float(reconnect_s), poll_s
        self._dv = _require_dv()
        self._reader: Any = None
        self.name = (
            f"tcp://{target[1]}:{target[2]}"
            if target[0] == "tcp"
            else f"camera:{target[1]}"
            if target[1]
            else "camera"
        )

    def _open(self) -> Any:
        dv = self._dv
        if self.target[0] == "camera" and not dv.io.camera.discover():
            raise ConnectionError(
                f"{self.name}: no iniVation camera found "
                "(dv_processing.io.camera.discover() lists none)"
            )
        try:
            if self.target[0] == "tcp":
                reader = dv.io.NetworkReader(self.target[1], self.target[2])
            elif self.target[1]:
                reader = dv.io.camera.open(self.target[1])
            else:
                reader = dv.io.camera.open()
        except Exception as exc:  # noqa: BLE001 - dv-processing raises RuntimeError & co.
            what = "connect to" if self.target[0] == "tcp" else "open"
            why = str(exc).split(" [")[0]  # boost's source location follows in brackets
            raise ConnectionError(f"{self.name}: cannot {what} it ({why})") from None
        if not reader.isEventStreamAvailable():
            raise ValueError(
                f"{self.name}: the stream carries no events (camera {reader.getCameraName()!r})"
            )
        res = reader.getEventResolution()
        self.width, self.height = (int(res[0]), int(res[1])) if res is not None else (0, 0)
        self.camera_name = reader.getCameraName()
        self.connects += 1
        return reader

    def _reopen(self) -> Any:
        """A new reader within reconnect_s seconds, or None."""
        deadline = time.monotonic() + self.reconnect_s
        while not self._closed and time.monotonic() < deadline:
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
            try:
                return self._open()
            except ConnectionError:
                continue
        return None

    def connect(self) -> "DvSource":
        """Open the camera / connect now (so errors and the sensor size come before any
        model is loaded); iteration then starts from this connection."""
        if self._reader is None:
            self._reader = self._open()
        return self

    def __iter__(self) -> Iterator[Events]:
        reader, self._reader = self._reader or self._open(), None
        last_t = None
        while not self._closed:
            try:
                batch = reader.getNextEventBatch()
            except Exception:  # noqa: BLE001 - a broken connection raises in some versions
                batch, running = None, False
            else:
                running = batch is not None or reader.isRunning()
            if batch is None:
                if running:
                    time.sleep(self.poll_s)
                    continue
                reader = self._reopen() if self.reconnect_s > 0 else None
                if reader is None:
                    break
                continue
            a = batch.numpy()
            if last_t is not None and a.size and a["timestamp"][0] < last_t:
                keep = a["timestamp"] >= last_t  # a reconnect may replay or restart time
                self.dropped_events += int(a.size - keep.sum())
                a = a[keep]
            if not a.size:
                continue
            last_t = int(a["timestamp"][-1])
            yield structured_to_events(a, self.width, self.height)
        if self.end_reason is None:
            self.end_reason = (
                "closed"
                if self._closed
                else ("disconnected" if self.target[0] == "tcp" else "camera stopped")
            )


class MetavisionSource(_LiveBase):
    """A Prophesee camera (or a RAW/HDF5 file) through the Metavision SDK's Python API:
    metavision_core.event_io.EventsIterator(input_path=serial_or_path, mode="delta_t",
    delta_t=delta_t_us) yields structured arrays with fields x, y, p, t; get_size() gives
    (height, width). input_path "" opens the first camera found.

    Written against the documented API (docs.prophesee.ai, "EventsIterator"); the SDK is
    not on PyPI and was not installed where ezsr is tested.
    """

    def __init__(self, serial: str = "", delta_t_us: int = 1000) -> None:
        super().__init__()
        try:
            from metavision_core.event_io import EventsIterator
        except ImportError:
            raise ImportError(
                "Prophesee cameras need the Metavision SDK's Python API "
                "(metavision_core), installed from Prophesee's packages "
                "(https://docs.prophesee.ai); it is not on PyPI"
            ) from None
        self._iterator_cls = EventsIterator
        self.serial, self.delta_t_us = serial, int(delta_t_us)
        self._it: Any = None  # the SDK's EventsIterator once connected
        self.name = f"prophesee:{serial}" if serial else "prophesee"

    def connect(self) -> "MetavisionSource":
        """Open the camera now (errors and the sensor size before any model is loaded)."""
        if self._it is None:
            try:
                self._it = self._iterator_cls(
                    input_path=self.serial, mode="delta_t", delta_t=self.delta_t_us
                )
            except Exception as exc:  # noqa: BLE001 - the SDK raises its own errors
                raise ConnectionError(f"{self.name}: cannot open it ({exc})") from None
            self.height, self.width = (int(v) for v in self._it.get_size())
            self.connects += 1
        return self

    def __iter__(self) -> Iterator[Events]:
        it = self.connect()._it
        self._it = None
        for a in it:
            if self._closed:
                break
            if a.size:
                yield structured_to_events(a, self.width, self.height, ("x", "y", "t", "p"))
        if self.end_reason is None:
            self.end_reason = "closed" if self._closed else "camera stopped"
