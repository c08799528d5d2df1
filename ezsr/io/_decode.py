"""Block decoders for the binary event formats: the C++ op torch.ops.ezsr.decode_events
(csrc/core/decode_*.cpp) when the extension is built, else the numpy/Python references
below (vectorised numpy for the fixed-layout formats; a plain Python loop for the EVT 3.0
state machine: slow, but the definition the C++ is tested against).

A decoder takes bytes after the file header, block by block, with a state of 8 int64
(see csrc/include/ezsr/decode.h: time_high, time_low, epoch, y, base_x, base_p, flags,
last_t) that carries over between blocks. Columns out: x, y int16, t int64 (us), p uint8.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Union

import numpy as np
import torch

from ezsr import _ext

# csrc/include/ezsr/decode.h DecodeKind
KINDS = {
    "evt2": 0,
    "evt21": 1,
    "evt3": 2,
    "dat": 3,
    "aedat2_dvs128": 4,
    "aedat2_davis": 5,
    "nmnist": 6,
    "evt21_legacy": 7,
    "es_dvs": 8,
    "es_atis": 9,
}
# bytes per word; Event Stream events are variable-length byte runs (the word is a byte)
WORD_SIZE = {
    "evt2": 4,
    "evt21": 8,
    "evt21_legacy": 8,
    "evt3": 2,
    "dat": 8,
    "aedat2_dvs128": 8,
    "aedat2_davis": 8,
    "nmnist": 5,
    "es_dvs": 1,
    "es_atis": 1,
}
ERRORS = {
    1: "a word type the format does not define",
    2: "an event outside the sensor size given in the header",
    3: "a timestamp earlier than the previous event's",
    4: "an unknown decoder kind",
}
EXPECTED = {
    "evt2": "32-bit EVT 2.0 words of type 0, 1, 8, 0xA, 0xE or 0xF",
    "evt21": "64-bit EVT 2.1 words of type 0, 1, 8, 0xA, 0xE or 0xF",
    "evt21_legacy": "64-bit EVT 2.1 words (high half first) of type 0, 1, 8, 0xA, 0xE or 0xF",
    "evt3": "16-bit EVT 3.0 words of type 0x0, 0x2-0x8, 0xA, 0xE or 0xF",
    "dat": "8-byte CD events with non-decreasing timestamps",
    "aedat2_dvs128": "8-byte big-endian address/timestamp records, time non-decreasing",
    "aedat2_davis": "8-byte big-endian address/timestamp records, time non-decreasing",
    "nmnist": "5-byte records with non-decreasing timestamps",
    "es_dvs": "Event Stream DVS events inside the header's sensor",
    "es_atis": "Event Stream ATIS events inside the header's sensor",
}


def trailing(kind: str, n: int) -> str:
    """The message for n bytes left over at the end of a file of this kind."""
    if kind.startswith("es_"):
        return f"truncated: the last event is cut after {n} of its 5 bytes"
    return f"truncated: {n} trailing bytes, expected whole {WORD_SIZE[kind]}-byte words"


@dataclass
class Block:
    """Decoded columns of one block plus how it ended."""

    x: np.ndarray  # [n] int16
    y: np.ndarray  # [n] int16
    t: np.ndarray  # [n] int64 us
    p: np.ndarray  # [n] uint8
    state: np.ndarray  # [8] int64, to pass to the next block
    consumed: int  # bytes decoded (whole words)
    error: int = 0  # 0 or a key of ERRORS
    error_offset: int = -1  # byte offset in the block


def has_kernel() -> bool:
    return _ext.has_kernel("decode_events", "cpu")


def new_state() -> np.ndarray:
    return np.zeros(8, dtype=np.int64)


def decode(
    data: Union[bytes, bytearray, memoryview, np.ndarray],
    kind: str,
    state: np.ndarray | None = None,
    width: int = 0,
    height: int = 0,
    max_events: int = 0,
    backend: str = "auto",
) -> Block:
    """Decode bytes (bytes, bytearray, memoryview or uint8 array) of one format.

    width/height > 0 turn on the sensor bounds check. max_events > 0 bounds the output (the
    C++ decoder stops before a word that would exceed it; the references ignore it).
    backend: "auto" (C++ when built), "cpp" or "reference".
    """
    buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data
    state = new_state() if state is None else np.asarray(state, dtype=np.int64)
    if backend == "cpp" or (backend == "auto" and has_kernel()):
        with warnings.catch_warnings():  # read-only input: the op only reads it
            warnings.simplefilter("ignore", UserWarning)
            data_t = torch.from_numpy(np.ascontiguousarray(buf))
        x, y, t, p, st, info = torch.ops.ezsr.decode_events(
            data_t,
            KINDS[kind],
            torch.from_numpy(state.copy()),
            int(width),
            int(height),
            int(max_events),
        )
        consumed, _, off, err = (int(v) for v in info)
        return Block(x.numpy(), y.numpy(), t.numpy(), p.numpy(), st.numpy(), consumed, err, off)
    return _REFERENCE[kind](buf, state.copy(), int(width), int(height))


# ---------------------------------------------------------------- references
def _empty(state: np.ndarray, consumed: int = 0, error: int = 0, offset: int = -1) -> Block:
    return Block(
        np.zeros(0, np.int16),
        np.zeros(0, np.int16),
        np.zeros(0, np.int64),
        np.zeros(0, np.uint8),
        state,
        consumed,
        error,
        offset,
    )


def _first(mask: np.ndarray) -> int:
    """Index of the first True, or len(mask)."""
    idx = np.flatnonzero(mask)
    return int(idx[0]) if idx.size else len(mask)


def _time_high(
    is_th: np.ndarray, high: np.ndarray, state: np.ndarray, wrap: int
) -> tuple[np.ndarray, np.ndarray]:
    """Forward-filled time-high (with wraps) per word; -1 where none is known yet."""
    seen = bool(state[6] & 1)
    h = high[is_th]
    prev = np.concatenate([[state[0]], h[:-1]]) if h.size else h
    jumps = (h < prev).astype(np.int64)
    if not seen and h.size:
        jumps[0] = 0
    epoch = state[2] + np.cumsum(jumps) * wrap
    full = np.full(len(is_th), -1, dtype=np.int64)
    pos = np.flatnonzero(is_th)
    full[pos] = h + epoch
    last = np.maximum.accumulate(np.where(is_th, np.arange(len(is_th)), -1))
    known = last >= 0
    filled = np.where(known, full[np.maximum(last, 0)], state[0] + state[2] if seen else -1)
    new = state.copy()
    if h.size:
        new[0], new[2], new[6] = h[-1], epoch[-1], 1
    return filled, new


def _evt2_like(
    buf: np.ndarray, state: np.ndarray, width: int, height: int, wide: bool, legacy: bool = False
) -> Block:
    ws = 8 if wide else 4
    m = len(buf) // ws
    words = buf[: m * ws].view("<u8" if wide else "<u4").astype(np.uint64)
    if legacy:  # high 32-bit half stored first
        words = (words << np.uint64(32)) | (words >> np.uint64(32))
    typ = (words >> np.uint64(60 if wide else 28)).astype(np.int64)
    bad = ~np.isin(typ, [0, 1, 8, 0xA, 0xE, 0xF])
    hi = (words >> np.uint64(32)) if wide else words
    high = ((hi & np.uint64(0x0FFFFFFF)).astype(np.int64)) << 6
    th, _ = _time_high(typ == 8, high, state, 1 << 34)
    cd = (typ <= 1) & (th >= 0)
    lo = hi if wide else words
    x0 = ((lo >> np.uint64(43 - 32 if wide else 11)) & np.uint64(0x7FF)).astype(np.int64)
    y = (lo & np.uint64(0x7FF)).astype(np.int64)
    tl = ((lo >> np.uint64(54 - 32 if wide else 22)) & np.uint64(0x3F)).astype(np.int64)
    if wide:
        mask = (words & np.uint64(0xFFFFFFFF)).astype("<u4")
        bits = np.unpackbits(mask.view(np.uint8).reshape(-1, 4), axis=1, bitorder="little")
        top = np.floor(np.log2(np.maximum(mask, 1).astype(np.float64))).astype(np.int64)
        xmax = x0 + top
    else:
        bits, xmax = None, x0
    oob = cd & (width > 0) & ((xmax >= width) | (y >= height)) if width > 0 else np.zeros(m, bool)
    if wide:
        oob &= mask > 0
    e = min(_first(bad), _first(oob))
    err = 0 if e == m else (1 if bad[e] else 2)
    keep = slice(0, e)
    th, new = _time_high((typ == 8)[keep], high[keep], state, 1 << 34)
    cd = cd[keep]
    if wide:
        assert bits is not None  # set above when wide
        w_idx, b_idx = np.nonzero(bits[keep] & cd[:, None])
        xs, ys = x0[w_idx] + b_idx, y[w_idx]
        ts, ps = th[w_idx] + tl[w_idx], typ[w_idx]
    else:
        xs, ys, ts, ps = x0[keep][cd], y[keep][cd], th[cd] + tl[keep][cd], typ[keep][cd]
    return Block(
        xs.astype(np.int16),
        ys.astype(np.int16),
        ts.astype(np.int64),
        ps.astype(np.uint8),
        new,
        e * ws,
        err,
        e * ws if err else -1,
    )


def _evt3_reference(buf: np.ndarray, state: np.ndarray, width: int, height: int) -> Block:
    """EVT 3.0 state machine, one word at a time (see decode_evt.cpp for the layout)."""
    th, tl, epoch, y, base_x, base_p, flags, last_t = (int(v) for v in state)
    seen = bool(flags & 1)
    xs: list[int] = []
    ys: list[int] = []
    ts: list[int] = []
    ps: list[int] = []
    err, off = 0, -1
    words = buf[: len(buf) // 2 * 2].view("<u2").tolist()
    i = 0
    for i, w in enumerate(words):
        typ = w >> 12
        t = epoch + (th << 12) + tl
        if typ == 0x0:
            y = w & 0x7FF
        elif typ == 0x2:
            if seen:
                x = w & 0x7FF
                if width > 0 and (x >= width or y >= height):
                    err, off = 2, 2 * i
                    break
                xs.append(x)
                ys.append(y)
                ts.append(t)
                ps.append((w >> 11) & 1)
        elif typ == 0x3:
            base_x, base_p = w & 0x7FF, (w >> 11) & 1
        elif typ in (0x4, 0x5):
            nb = 12 if typ == 0x4 else 8
            mask = w & ((1 << nb) - 1)
            if seen and mask:
                top = base_x + mask.bit_length() - 1
                if width > 0 and (top >= width or y >= height):
                    err, off = 2, 2 * i
                    break
                for b in range(nb):
                    if mask >> b & 1:
                        xs.append(base_x + b)
                        ys.append(y)
                        ts.append(t)
                        ps.append(base_p)
            base_x = min(base_x + nb, 0x7FFF - 32)
        elif typ == 0x6:
            tl = w & 0xFFF
        elif typ == 0x8:
            high = w & 0xFFF
            if seen and high < th:
                epoch += 1 << 24
            th, seen = high, True
        elif typ not in (0x7, 0xA, 0xE, 0xF):
            err, off = 1, 2 * i
            break
    else:
        i = len(words)
    new = np.array([th, tl, epoch, y, base_x, base_p, int(seen), last_t], dtype=np.int64)
    return Block(
        np.array(xs, np.int16),
        np.array(ys, np.int16),
        np.array(ts, np.int64),
        np.array(ps, np.uint8),
        new,
        off if err else 2 * i,
        err,
        off,
    )


# a reference decoder: (bytes as uint8 array, state [8] int64, width, height) -> Block
_Ref = Callable[[np.ndarray, np.ndarray, int, int], Block]


def _records(kind: str) -> _Ref:
    def parse(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if kind == "nmnist":
            r = buf[: len(buf) // 5 * 5].reshape(-1, 5).astype(np.int64)
            return (
                r[:, 0],
                r[:, 1],
                (r[:, 2] & 0x7F) << 16 | r[:, 3] << 8 | r[:, 4],
                r[:, 2] >> 7,
                np.ones(len(r), bool),
            )
        if kind == "dat":
            r = buf[: len(buf) // 8 * 8].view("<u4").reshape(-1, 2).astype(np.int64)
            w = r[:, 1]
            return (
                w & 0x3FFF,
                (w >> 14) & 0x3FFF,
                r[:, 0],
                ((w >> 28) & 0xF) != 0,
                np.ones(len(r), bool),
            )
        r = buf[: len(buf) // 8 * 8].view(">u4").reshape(-1, 2).astype(np.int64)
        a = r[:, 0]
        if kind == "aedat2_dvs128":  # jAER DVS128.Extractor: bit 15/31 = special, OFF = bit 0
            return (
                127 - ((a >> 1) & 0x7F),
                (a >> 8) & 0x7F,
                r[:, 1],
                1 - (a & 1),
                (a & 0x80008000) == 0,
            )
        dvs = ((a >> 31) == 0) & (((a >> 10) & 1) == 0)  # x raw: ezsr.io.aedat mirrors it
        return (a >> 12) & 0x3FF, (a >> 22) & 0x1FF, r[:, 1], (a >> 11) & 1, dvs

    rng = 1 << (23 if kind == "nmnist" else 32)
    ws = WORD_SIZE[kind]

    def ref(buf: np.ndarray, state: np.ndarray, width: int, height: int) -> Block:
        x, y, raw, p, ev = parse(buf)
        rec_idx = np.flatnonzero(ev)
        x, y, raw, p = x[ev], y[ev], raw[ev], p[ev]
        any_before = bool(state[6] & 1)
        # unwrap: a step back by more than half the counter range is a wrap
        t = raw + state[2]
        prev = np.concatenate([[state[7] if any_before else t[0] if t.size else 0], t[:-1]])
        back = t < prev
        wraps = back & (prev - t > rng // 2)
        t = t + np.cumsum(wraps) * rng
        prev = np.concatenate([[state[7] if any_before else t[0] if t.size else 0], t[:-1]])
        bad_t = t < prev
        oob = ((x >= width) | (y >= height)) if width > 0 else np.zeros(len(x), bool)
        e = min(_first(bad_t), _first(oob))
        n_rec = len(buf) // ws
        err = 0 if e == len(x) else (3 if bad_t[e] else 2)
        new = state.copy()
        if e:
            new[7], new[6] = t[e - 1], 1
            new[2] = state[2] + int(np.sum(wraps[:e])) * rng
        consumed = int(rec_idx[e]) * ws if err else n_rec * ws
        return Block(
            x[:e].astype(np.int16),
            y[:e].astype(np.int16),
            t[:e].astype(np.int64),
            p[:e].astype(np.uint8),
            new,
            consumed,
            err,
            consumed if err else -1,
        )

    return ref


def _es_reference(atis: bool) -> _Ref:
    """Event Stream DVS / ATIS bytes, one at a time (see decode_es.cpp for the layout)."""

    def ref(buf: np.ndarray, state: np.ndarray, width: int, height: int) -> Block:
        t = int(state[7])
        data = bytes(buf)
        xs: list[int] = []
        ys: list[int] = []
        ts: list[int] = []
        ps: list[int] = []
        i, n, err, off = 0, len(data), 0, -1
        while i < n:
            b = data[i]
            if (b & 0xFC) == 0xFC if atis else b >= 0xFE:
                t += 63 * (b & 3) if atis else (127 if b == 0xFF else 0)
                i += 1
                continue
            if n - i < 5:
                break
            x, y = data[i + 1] | data[i + 2] << 8, data[i + 3] | data[i + 4] << 8
            if width > 0 and (x >= width or y >= height):
                err, off = 2, i
                break
            t += b >> 2 if atis else b >> 1
            xs.append(x)
            ys.append(y)
            ts.append(t)
            ps.append(((b >> 1) & 1) | ((b & 1) << 1) if atis else b & 1)
            i += 5
        new = state.copy()
        new[7] = t
        new[6] |= 1 if xs else 0
        return Block(
            np.array(xs, np.int64).astype(np.int16),
            np.array(ys, np.int64).astype(np.int16),
            np.array(ts, np.int64),
            np.array(ps, np.uint8),
            new,
            i,
            err,
            off,
        )

    return ref


_REFERENCE: dict[str, _Ref] = {
    "evt2": lambda b, s, w, h: _evt2_like(b, s, w, h, False),
    "evt21": lambda b, s, w, h: _evt2_like(b, s, w, h, True),
    "evt21_legacy": lambda b, s, w, h: _evt2_like(b, s, w, h, True, True),
    "evt3": _evt3_reference,
    **{k: _records(k) for k in ("dat", "aedat2_dvs128", "aedat2_davis", "nmnist")},
    "es_dvs": _es_reference(False),
    "es_atis": _es_reference(True),
}
