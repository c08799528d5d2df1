"""EventCLIP / EST `.npy`: one float or int array [N, 4] with columns x, y, t (seconds),
p (+1 / -1, or 1 / 0), as used for N-Caltech101 and N-Cars in EventCLIP and EST. t is
converted to int64 microseconds by rounding; time must not decrease (EventFileError
naming the event otherwise, as for every format). Sensor size: max + 1 of the data (the
datasets' samples vary in size).
"""

from __future__ import annotations

import numpy as np

from ezsr.events import Events
from ezsr.io import _stream
from ezsr.io._registry import EventFileError, Format, register


def read_npy(path: str) -> Events:
    with open(path, "rb") as f:
        head = f.read(6)
    if head != b"\x93NUMPY":  # np.load would try to unpickle it and suggest allow_pickle
        hint = " (it is a zip archive: an .npz? pass format=npz)" if head[:2] == b"PK" else ""
        raise EventFileError(
            path,
            f"not an .npy file: it starts with {head!r}, expected b'\\x93NUMPY'{hint}",
            offset=0,
        )
    try:
        a = np.load(path, allow_pickle=False, mmap_mode="r")
    except Exception as exc:  # numpy raises ValueError, OSError, but also SyntaxError and
        # tokenize.TokenError from parsing a damaged header: all mean "not a .npy array"
        raise EventFileError(
            path, f"not a readable .npy array ({type(exc).__name__}: {exc})", offset=0
        ) from exc
    if a.ndim != 2 or a.shape[1] != 4:
        raise EventFileError(
            path, f"array of shape {a.shape}; expected [N, 4] columns x, y, t (seconds), p"
        )
    if a.dtype.kind not in "fiu":
        raise EventFileError(path, f"array of dtype {a.dtype}; expected numbers")
    a = np.asarray(a)
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise EventFileError(path, "array holds NaN or infinite values")
    x, y = a[:, 0], a[:, 1]
    if len(a) and (
        x.min() < 0
        or y.min() < 0
        or x.max() >= 32768
        or y.max() >= 32768
        or (a.dtype.kind == "f" and ((x != np.round(x)).any() or (y != np.round(y)).any()))
    ):
        raise EventFileError(path, "x/y columns must be integers in [0, 32768)")
    ts = a[:, 2].astype(np.float64) * 1e6
    if len(ts) and (np.abs(ts).max() >= 2.0**62):
        raise EventFileError(
            path,
            "t column (seconds) is too large to hold in int64 "
            "microseconds; expected seconds, e.g. 0.0 .. 1e5",
        )
    t = np.round(ts).astype(np.int64)
    back = np.flatnonzero(t[1:] < t[:-1])
    if back.size:  # as every reader: time order is checked, not silently kept unsorted
        _stream._raise_unsorted(path, t, int(back[0]) + 1)  # (found by the decoder fuzz)
    return Events(x.astype(np.int16), y.astype(np.int16), t, a[:, 3] > 0, validate=False)


def write_npy(path: str, events: Events) -> None:
    """float64 [N, 4]: x, y, t in seconds, p in {-1, +1} (EventCLIP's convention)."""
    c = events.numpy()
    out = np.empty((len(events), 4), dtype=np.float64)
    out[:, 0], out[:, 1] = c["x"], c["y"]
    out[:, 2] = c["t"] / 1e6
    out[:, 3] = np.where(c["p"] > 0, 1.0, -1.0)
    with open(path, "wb") as f:
        np.save(f, out)


register(Format("npy", (".npy",), read_npy, write_npy, sniff=None))
