"""Writers of the binary formats (vectorised numpy): Prophesee EVT 2.0 / 2.1 / 3.0 `.raw`,
`.dat`, and jAER AEDAT 2.0. They write the layouts the decoders read (see
csrc/core/decode_evt.cpp, decode_records.cpp), so a write -> read round trip is exact.
Used for synthetic recordings (benchmarks) and tests; not tuned for size (EVT 3.0 is
written with one ADDR_X word per event, no vector words).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ezsr.events import Events


def _cols(
    events: Events, path: str, max_xy: int, max_t: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    c = events.numpy()
    x, y, t, p = (c[k].astype(np.int64) for k in ("x", "y", "t", "p"))
    for name, v, hi in (("x", x, max_xy), ("y", y, max_xy)):
        if len(v) and (v.min() < 0 or v.max() >= hi):
            raise ValueError(
                f"{path}: column '{name}' must lie in [0, {hi}) for this format, "
                f"got {v.min()}..{v.max()}"
            )
    if len(t) and (t.min() < 0 or (max_t is not None and t.max() >= max_t)):
        raise ValueError(f"{path}: column 't' must lie in [0, {max_t}) us for this format")
    if len(t) > 1 and (np.diff(t) < 0).any():
        raise ValueError(f"{path}: column 't' must be non-decreasing")
    return x, y, t, (p > 0).astype(np.int64)


def _raw_header(events: Events, version: str, fmt: str) -> bytes:
    w, h = events.width, events.height
    version = version.split("-")[0]
    return (
        f"% evt {version}\n% format {fmt};height={h};width={w}\n% geometry {w}x{h}\n"
        "% generator ezsr\n% end\n"
    ).encode()


def _spread(first_word: np.ndarray | None, n_words: np.ndarray) -> tuple[np.ndarray, int]:
    """Start index of each event's words in the output, and the output length."""
    ends = np.cumsum(n_words)
    return ends - n_words, int(ends[-1]) if len(ends) else 0


def encode_evt2(events: Events, path: str = "", wide: bool = False) -> bytes:
    """EVT 2.0 (32-bit) or, with wide=True, EVT 2.1 (64-bit, one pixel per vector word):
    a TIME_HIGH word wherever t >> 6 changes, then one CD word per event."""
    x, y, t, p = _cols(events, path, 2048, 1 << 34)
    th = t >> 6
    new_th = np.ones(len(t), bool)
    new_th[1:] = th[1:] != th[:-1]
    start, total = _spread(None, new_th.astype(np.int64) + 1)
    out = np.zeros(total, dtype=np.uint64)
    ev_at = start + new_th
    if wide:
        out[start[new_th]] = (np.uint64(8) << np.uint64(60)) | (
            th[new_th].astype(np.uint64) << np.uint64(32)
        )
        out[ev_at] = (
            (p.astype(np.uint64) << np.uint64(60))
            | ((t & 0x3F).astype(np.uint64) << np.uint64(54))
            | ((x & ~31).astype(np.uint64) << np.uint64(43))
            | (y.astype(np.uint64) << np.uint64(32))
            | (np.uint64(1) << (x & 31).astype(np.uint64))
        )
        return out.astype("<u8").tobytes()
    out[start[new_th]] = (np.uint64(8) << np.uint64(28)) | th[new_th].astype(np.uint64)
    out[ev_at] = ((p << 28) | ((t & 0x3F) << 22) | (x << 11) | y).astype(np.uint64)
    return out.astype("<u4").tobytes()


def encode_evt3(events: Events, path: str = "") -> bytes:
    """EVT 3.0: TIME_HIGH / TIME_LOW / ADDR_Y words where those change, one ADDR_X per event.
    Times past the 24-bit counter are reached by wrapping it (TIME_HIGH 0xFFF then 0x000)."""
    x, y, t, p = _cols(events, path, 2048, None)
    if not len(t):
        return b""
    parts = []
    epochs = t >> 24
    bounds = np.flatnonzero(np.diff(epochs)) + 1
    cur_epoch = 0
    first = True
    for s, e in zip(np.concatenate([[0], bounds]), np.concatenate([bounds, [len(t)]])):
        ep = int(epochs[s])
        words = []
        if first:
            words.append(0x8000)  # TIME_HIGH 0: the decoder's counter starts here
        words += [0x8FFF, 0x8000] * (ep - cur_epoch)
        cur_epoch = ep
        parts.append(np.array(words, dtype=np.uint16))
        parts.append(_evt3_segment(x[s:e], y[s:e], t[s:e] & 0xFFFFFF, p[s:e], first))
        first = False
    return np.concatenate(parts).astype("<u2").tobytes()


def _evt3_segment(
    x: np.ndarray, y: np.ndarray, t: np.ndarray, p: np.ndarray, first: bool
) -> np.ndarray:
    th, tl = t >> 12, t & 0xFFF
    n = len(t)
    new_th = np.ones(n, bool)
    new_th[1:] = th[1:] != th[:-1]
    new_tl = new_th.copy()
    new_tl[1:] |= tl[1:] != tl[:-1]
    new_y = np.ones(n, bool)
    new_y[1:] = y[1:] != y[:-1]
    k = new_th.astype(np.int64) + new_tl + new_y + 1
    start, total = _spread(None, k)
    out = np.zeros(total, dtype=np.uint16)
    at = start.copy()
    out[at[new_th]] = 0x8000 | th[new_th]
    at += new_th
    out[at[new_tl]] = 0x6000 | tl[new_tl]
    at += new_tl
    out[at[new_y]] = y[new_y]
    at += new_y
    out[at] = 0x2000 | (p << 11) | x
    return out


def encode_dat(events: Events, path: str = "") -> bytes:
    """Prophesee .dat v2: `%` header, bytes (type 0, size 8), then u32 t, u32 x|y<<14|p<<28."""
    x, y, t, p = _cols(events, path, 1 << 14, 1 << 32)
    head = (
        f"% Data file containing CD events.\n% Version 2\n% Width {events.width}\n"
        f"% Height {events.height}\n% end\n"
    ).encode() + bytes([0, 8])
    rec = np.empty((len(t), 2), dtype="<u4")
    rec[:, 0] = t
    rec[:, 1] = x | (y << 14) | (p << 28)
    return head + rec.tobytes()


def encode_aedat2(events: Events, path: str = "") -> bytes:
    """jAER AEDAT 2.0 in the layouts jAER's extractors read (see ezsr.io.aedat): DVS128
    addresses when the sensor fits 128x128 (OFF sets bit 0, x stored as 127 - x), else DAVIS
    addresses for a jAER DAVIS chip of that size (x stored as width - 1 - x)."""
    from ezsr.io._header import JAER_DAVIS_CHIPS

    dvs128 = events.width <= 128 and events.height <= 128
    size = (events.width, events.height)
    if not dvs128 and size not in JAER_DAVIS_CHIPS:
        raise ValueError(
            f"{path}: AEDAT 2.0 holds a DVS128 (<= 128x128) or a jAER DAVIS sensor "
            f"({', '.join(f'{w}x{h}' for w, h in JAER_DAVIS_CHIPS)}); got "
            f"{size[0]}x{size[1]}"
        )
    x, y, t, p = _cols(events, path, 128 if dvs128 else 512, 1 << 31)
    if not dvs128 and len(x) and x.max() >= events.width:
        raise ValueError(
            f"{path}: column 'x' must lie in [0, {events.width}) for AEDAT 2.0 "
            "DAVIS (jAER mirrors x with the sensor width)"
        )
    chip = "ch.unizh.ini.jaer.chip.retina.DVS128" if dvs128 else JAER_DAVIS_CHIPS[size]
    head = (
        "#!AER-DAT2.0\r\n# Data format is int32 address, int32 timestamp (8 bytes total)\r\n"
        f"# AEChip: {chip}\r\n# Generator: ezsr\r\n"
    ).encode()
    if dvs128:
        addr = (1 - p) | ((127 - x) << 1) | (y << 8)
    else:
        addr = (y << 22) | ((events.width - 1 - x) << 12) | (p << 11)
    rec = np.empty((len(t), 2), dtype=">u4")
    rec[:, 0], rec[:, 1] = addr, t
    return head + rec.tobytes()


def writer(encode: Callable[..., bytes], **kw: Any) -> Callable[[str, Events], None]:
    """A Format.write(path, events) from an encoder returning bytes (header included)."""

    def write(path: str, events: Events) -> None:
        data = encode(events, path, **kw)
        with open(path, "wb") as f:
            f.write(data)

    return write


def raw_writer(version: str) -> Callable[[str, Events], None]:
    """version "2.0", "2.1", "2.1-legacy" (IMX636 order: each word's high half first), "3.0"."""
    fmt = {"2.0": "EVT2", "2.1": "EVT21", "2.1-legacy": "EVT21;endianness=legacy", "3.0": "EVT3"}[
        version
    ]

    def write(path: str, events: Events) -> None:
        body = (
            encode_evt3(events, path)
            if version == "3.0"
            else encode_evt2(events, path, wide=version.startswith("2.1"))
        )
        if version == "2.1-legacy":
            body = np.frombuffer(body, "<u4").reshape(-1, 2)[:, ::-1].tobytes()
        with open(path, "wb") as f:
            f.write(_raw_header(events, version, fmt))
            f.write(body)

    return write
