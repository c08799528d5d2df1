"""HDF5 in the common layout `events/{x,y,t,p}` (v2e and several datasets), read and
write. Needs h5py (pip install ezsr[io]). t must be integer microseconds; the sensor size
comes from attributes `width`/`height` of the `events` group (or of the file) when present
(header), else max + 1 of the data. iter_chunks reads slices, never the whole file.
"""

from __future__ import annotations

from typing import Any, Iterator, Optional

import numpy as np

from ezsr.events import Events
from ezsr.io import _stream
from ezsr.io._registry import EventFileError, Format, register

_MAGIC = b"\x89HDF\r\n\x1a\n"


def _h5py(path: str) -> Any:
    try:
        import h5py
    except ImportError as exc:
        raise EventFileError(path, "HDF5 files need h5py (pip install ezsr[io])") from exc
    return h5py


def _open(path: str) -> tuple[Any, dict[str, Any], int, tuple[Optional[int], Optional[int], str]]:
    h5py = _h5py(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise EventFileError(path, f"not a readable HDF5 file ({exc})", offset=0) from exc
    g = f.get("events")
    cols: dict[str, Any] = {}
    if g is None or not all(k in g for k in "xytp"):
        f.close()
        raise EventFileError(path, "expected datasets events/x, events/y, events/t, events/p")
    for k in "xytp":
        cols[k] = g[k]
        if cols[k].ndim != 1:
            f.close()
            raise EventFileError(path, f"events/{k} has shape {cols[k].shape}; expected 1-D")
    n = cols["x"].shape[0]
    if any(cols[k].shape[0] != n for k in "ytp"):
        f.close()
        raise EventFileError(path, "events/x, y, t, p have different lengths")
    if cols["t"].dtype.kind == "f":
        f.close()
        raise EventFileError(path, "events/t is floating point; expected integer microseconds")
    w = g.attrs.get("width", f.attrs.get("width"))
    h = g.attrs.get("height", f.attrs.get("height"))
    size: tuple[Optional[int], Optional[int], str] = (
        (int(w), int(h), "header") if w is not None and h is not None else (None, None, "data")
    )
    return f, cols, n, size


def _blocks(f: Any, cols: dict[str, Any], n: int, step: int = 1 << 20) -> Iterator[_stream.Columns]:
    with f:
        for s in range(0, n, step):
            e = min(n, s + step)
            x, y = cols["x"][s:e], cols["y"][s:e]
            big = len(x) and max(int(x.max()), int(y.max())) >= 32768
            ct = np.int32 if big else np.int16
            t = cols["t"][s:e]
            if t.dtype == np.uint64 and len(t) and int(t.max()) >= 2**63:
                raise EventFileError(f.filename, "events/t holds values beyond int64 microseconds")
            if len(x) and min(int(x.min()), int(y.min())) < 0:
                raise EventFileError(f.filename, "events/x or events/y holds negative values")
            yield (
                x.astype(ct),
                y.astype(ct),
                t.astype(np.int64),
                (cols["p"][s:e] > 0).astype(np.uint8),
            )


def read_h5(path: str) -> Events:
    f, cols, n, (w, h, src) = _open(path)
    return _stream.read_blocks(_blocks(f, cols, n), w, h, src, path)


def iter_h5(path: str, n_events: int | None = None, dt_us: int | None = None) -> Iterator[Events]:
    f, cols, n, (w, h, src) = _open(path)
    return _stream.chunk_blocks(_blocks(f, cols, n), n_events, dt_us, w, h, src, path)


def write_h5(path: str, events: Events) -> None:
    """events/x, y (uint16 or int32), t (int64 us), p (uint8), attrs width/height."""
    h5py = _h5py(path)
    c = events.numpy()
    small = len(events) == 0 or (
        c["x"].min() >= 0 and c["y"].min() >= 0 and max(c["x"].max(), c["y"].max()) < 65536
    )
    with h5py.File(path, "w") as f:
        g = f.create_group("events")
        for k, dt in (
            ("x", np.uint16 if small else np.int32),
            ("y", np.uint16 if small else np.int32),
            ("t", np.int64),
            ("p", np.uint8),
        ):
            g.create_dataset(
                k,
                data=c[k].astype(dt),
                chunks=True if len(events) else None,
                compression="gzip" if len(events) > 4096 else None,
            )
        g.attrs["width"], g.attrs["height"] = events.width, events.height


register(
    Format(
        "hdf5",
        (".h5", ".hdf5"),
        read_h5,
        write_h5,
        iter_h5,
        sniff=lambda head: head.startswith(_MAGIC),
    )
)
