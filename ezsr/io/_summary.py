"""Whole-file facts and single windows of an event file in bounded memory.

summarize() and read_window() walk the file with iter_chunks (formats with a streaming
decoder never hold more than one chunk of CHUNK_EVENTS events plus one decoded block), so
`ezsr info` and `ezsr show` of one window work on recordings larger than memory. Formats
without a streaming decoder (npz, npy) are read whole, as ezsr.io.read does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import numpy as np

from ezsr.events import Events
from ezsr.io._registry import EventFileError, Format, reader_format

CHUNK_EVENTS = 1 << 20  # events per chunk: about 13 MiB of columns


def _chunks(path: str | Path, format: str | None, chunk_events: int) -> Iterator[Events]:
    """The file's non-empty chunks of chunk_events events, time order checked between them."""
    from ezsr.io import iter_chunks

    last = None
    for c in iter_chunks(path, n_events=chunk_events, format=format):
        if not len(c):
            continue
        first = int(c.t[0])
        if last is not None and first < last:  # chunks are checked inside, not between
            raise EventFileError(
                path,
                f"timestamps decrease between chunks ({last} -> "
                f"{c.t_first} us); expected non-decreasing time",
            )
        last = int(c.t[-1])
        yield c


def _size_rule(fmt: Format) -> Optional[Callable[[Events], Events]]:
    """The reader's whole-recording size rule (applied by its read() after decoding), or
    None: AEDAT grows a conventional size to the data, N-MNIST .bin takes 34x34 when the
    data fits. The other readers keep the header's size (or the data's)."""
    from ezsr.io import aedat, nmnist

    return {
        "aedat2": aedat._grow_to_data,
        "aedat3": aedat._grow_to_data,
        "aedat4": aedat._grow_to_data,
        "bin": nmnist.size_rule,
    }.get(fmt.name)


def summarize(
    path: str | Path, format: str | None = None, chunk_events: int = CHUNK_EVENTS
) -> dict[str, Any]:
    """format (the one decoded), count, width, height, t_first, t_last (us), on, off of an
    event file, accumulated chunk by chunk (same values as from ezsr.io.read(path)).

    Memory: one chunk, not the recording. Raises EventFileError as ezsr.io.read does.
    """
    fmt = reader_format(path, format)
    if fmt.summary is not None:  # the format counts more than its polarity events (.es)
        return fmt.summary(str(path))
    name = fmt.decoded_as(str(path)) if fmt.decoded_as else fmt.name
    if fmt.iter_chunks is None:  # no streaming decoder: the whole file is read anyway
        ev = fmt.read(str(path))
        return _summary(name, len(ev), ev.width, ev.height, ev.t_first, ev.t_last, ev.on)
    count = on = width = height = xmax = ymax = 0
    t_first: int | None = None
    t_last: int | None = None
    data_size = False
    for c in _chunks(path, format, chunk_events):
        count += len(c)
        on += c.on
        t_first = c.t_first if t_first is None else t_first
        t_last = c.t_last
        width, height = max(width, c.width), max(height, c.height)
        xmax, ymax = max(xmax, int(c.x.max()) + 1), max(ymax, int(c.y.max()) + 1)
        data_size |= c.size_source == "data"
    if count == 0:  # the header's size of an empty recording: a cheap whole read
        ev = fmt.read(str(path))
        return _summary(name, 0, ev.width, ev.height, None, None, 0)
    if data_size:  # the chunks' size is the data's so far
        width, height = max(width, xmax), max(height, ymax)
    rule = _size_rule(fmt)
    if rule is not None:  # on the extremes of the data: the size read() would give
        z = np.zeros(2, np.int16)
        ext = np.array([0, 1], np.int16)
        stub = rule(
            Events(
                ext * np.int16(xmax - 1),
                ext * np.int16(ymax - 1),
                z.astype(np.int64),
                z.astype(np.uint8),
                width,
                height,
                "data" if data_size else "convention",
                validate=False,
            )
        )
        width, height = stub.width, stub.height
    return _summary(name, count, width, height, t_first, t_last, on)


def _summary(
    name: str, count: int, width: int, height: int, t_first: int | None, t_last: int | None, on: int
) -> dict[str, Any]:
    return {
        "format": name,
        "count": count,
        "width": width,
        "height": height,
        "t_first": t_first,
        "t_last": t_last,
        "on": on,
        "off": count - on,
    }


def read_window(
    path: str | Path,
    start: int | None = None,
    n: int | None = None,
    t0: int | None = None,
    dt: int | None = None,
    format: str | None = None,
    width: int | None = None,
    height: int | None = None,
    chunk_events: int = CHUNK_EVENTS,
) -> Events:
    """One window of an event file without reading the rest into memory: events
    [start, start + n) (index window), or those with t0 <= t < t0 + dt (us). The sensor
    size is width x height (e.g. from summarize(); default: the size of the chunks read).
    Reading stops at the window's end. Returns Events (possibly empty)."""
    if (
        (start is None) == (t0 is None)
        or (start is not None and n is None)
        or (start is None and n is not None)
        or (t0 is not None and dt is None)
    ):
        raise ValueError("read_window: give start and n, or t0 and dt")
    if (start is not None and n is not None and (n < 0 or start < 0)) or (
        dt is not None and dt < 0
    ):
        raise ValueError(
            f"read_window: start, n and dt must be >= 0, got start={start}, n={n}, dt={dt}"
        )
    parts: list[Events] = []
    seen, size = 0, (0, 0)
    for c in _chunks(path, format, chunk_events):
        size = (max(size[0], c.width), max(size[1], c.height))
        if start is not None and n is not None:
            lo, hi = max(start - seen, 0), min(start + n - seen, len(c))
            seen += len(c)
            if lo < hi:
                parts.append(c[lo:hi])
            if seen >= start + n:
                break
        elif t0 is not None and dt is not None:
            t_last = int(c.t[-1])  # chunks are not empty
            if t_last >= t0:
                parts.append(c.time_window(t0, dt))
            if t_last >= t0 + dt:
                break
    w = width if width is not None else size[0]
    h = height if height is not None else size[1]
    if not parts:
        z = np.zeros(0, np.int16)
        return Events(z, z, z.astype(np.int64), z.astype(np.uint8), w, h, validate=False)
    ev = Events.concat(parts) if len(parts) > 1 else parts[0]
    return Events(ev.x, ev.y, ev.t, ev.p, w, h, ev.size_source, validate=False)


def count_events(
    path: str | Path,
    limit: int | None = None,
    format: str | None = None,
    chunk_events: int = CHUNK_EVENTS,
) -> int:
    """Events in the file, counted chunk by chunk; with `limit`, reading stops as soon as
    the count exceeds it (so the answer is min(count, something > limit))."""
    count = 0
    for c in _chunks(path, format, min(chunk_events, (limit or chunk_events) + 1)):
        count += len(c)
        if limit is not None and count > limit:
            break
    return count
