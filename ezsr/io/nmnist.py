"""N-MNIST / N-Caltech101 40-bit `.bin` (Orchard et al. 2015): 5-byte records, b0 = x,
b1 = y, b2 bit 7 = p, t = (b2 & 0x7F) << 16 | b3 << 8 | b4 (us). No header, no magic, so
only the extension (or format="bin") selects it. Sensor size: 34x34 by the N-MNIST
convention when every event fits in it, else max + 1 of the data (N-Caltech101 samples
vary in size, up to 240x180). Decoded in C++ (csrc/core/decode_records.cpp).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from ezsr.events import Events
from ezsr.io import _stream
from ezsr.io._registry import Format, register

NMNIST_SIZE = 34


def size_rule(ev: Events) -> Events:
    """The sensor size of a whole recording decoded with its data's size: 34x34 when every
    event fits (ezsr.io.summarize applies it to the extremes of a file read in chunks)."""
    if len(ev) and ev.width <= NMNIST_SIZE and ev.height <= NMNIST_SIZE:
        ev.width = ev.height = NMNIST_SIZE
        ev.size_source = "convention"
    return ev


def read_bin(path: str) -> Events:
    return size_rule(
        _stream.make_events(_stream.decode_whole(path, 0, "nmnist"), None, None, "data", path)
    )


def iter_bin(path: str, n_events: int | None = None, dt_us: int | None = None) -> Iterator[Events]:
    return _stream.chunk_blocks(
        _stream.decoded_blocks(path, 0, "nmnist"), n_events, dt_us, None, None, "data", path
    )


def write_bin(path: str, events: Events) -> None:
    """40-bit records; needs 0 <= x, y < 256 and 0 <= t < 2^23 us."""
    c = events.numpy()
    x, y, t, p = (c[k].astype(np.int64) for k in ("x", "y", "t", "p"))
    for name, v, hi in (("x", x, 256), ("y", y, 256), ("t", t, 1 << 23)):
        if len(v) and (v.min() < 0 or v.max() >= hi):
            raise ValueError(
                f"{path}: column '{name}' must lie in [0, {hi}) for the 40-bit "
                f".bin format, got {v.min()}..{v.max()}"
            )
    rec = np.empty((len(x), 5), dtype=np.uint8)
    rec[:, 0], rec[:, 1] = x, y
    rec[:, 2] = ((p > 0).astype(np.int64) << 7) | (t >> 16)
    rec[:, 3], rec[:, 4] = (t >> 8) & 0xFF, t & 0xFF
    with open(path, "wb") as f:
        f.write(rec.tobytes())


register(
    Format("bin", (".bin",), read_bin, write_bin, iter_bin, sniff=None, empty_ok=True)
)  # no header: 0 records = 0 bytes
