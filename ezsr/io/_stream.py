"""Streaming machinery shared by the readers: file blocks -> decoded column blocks ->
Events (whole, or chunks of n events / dt microseconds).

Memory: a binary file is read BLOCK_BYTES at a time and each decoder call is capped at
MAX_EVENTS_PER_CALL events, so a long recording (or a header that lies about sizes) never
makes the reader hold more than one block and one chunk.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Optional, Tuple, cast

import numpy as np
import torch

from ezsr.events import Events
from ezsr.io import _decode
from ezsr.io._decode import ERRORS, EXPECTED, KINDS, WORD_SIZE, decode, new_state
from ezsr.io._registry import EventFileError

BLOCK_BYTES = 1 << 22  # 4 MiB of file per read
MAX_EVENTS_PER_CALL = 1 << 21  # events per decoder call (C++ path)
BOUNDARIES_PER_SEARCH = 4096  # time-chunk boundaries found per searchsorted call

Columns = Tuple[np.ndarray, ...]  # (x int16, y int16, t int64, p uint8) numpy arrays


def decoded_blocks(
    path: str,
    offset: int,
    kind: str,
    width: int = 0,
    height: int = 0,
    block_bytes: int | None = None,
    backend: str = "auto",
) -> Iterator[Columns]:
    """Decode the file from byte `offset` to its end in blocks; yields column tuples.

    The decoder state (EVT3 time/row/vector base, EVT2 time high, counter wraps) and any
    incomplete word carry over from one block to the next. Raises EventFileError with the
    absolute byte offset on an invalid word or a truncated last word.
    """
    ws = WORD_SIZE[kind]
    block_bytes = BLOCK_BYTES if block_bytes is None else block_bytes  # read at call time
    block_bytes = max(ws, block_bytes // ws * ws)
    state = new_state()
    last_t = None  # time of the previous block's last event
    with open(path, "rb") as f:
        f.seek(offset)
        carry = b""
        pos = offset  # file offset of data[0]
        while True:
            chunk = f.read(block_bytes)
            data = carry + chunk if carry else chunk
            start = 0
            while len(data) - start >= ws:
                blk = decode(
                    memoryview(data)[start:],
                    kind,
                    state,
                    width,
                    height,
                    MAX_EVENTS_PER_CALL,
                    backend,
                )
                if blk.error:
                    raise EventFileError(
                        path,
                        f"expected {EXPECTED[kind]}, found {ERRORS.get(blk.error, 'an error')}",
                        offset=pos + start + blk.error_offset,
                    )
                state = blk.state
                if len(blk.t):
                    cols: Columns = (blk.x, blk.y, blk.t, blk.p)
                    if _trusted(cols, last_t):  # checked once here, not again per chunk
                        cols = _Trusted(cols)
                    last_t = int(blk.t[-1])
                    yield cols
                if blk.consumed == 0:
                    break
                start += blk.consumed
            carry = bytes(data[start:])
            pos += start
            if not chunk:
                if carry:
                    raise EventFileError(path, _decode.trailing(kind, len(carry)), offset=pos)
                return


def decode_whole(
    path: str, offset: int, kind: str, width: int = 0, height: int = 0, backend: str = "auto"
) -> Columns:
    """Decode the file from byte `offset` to its end in one call (ezsr.io.read: the caller
    wants every event in memory anyway, so the file body is read whole, which avoids
    concatenating blocks). Same errors as decoded_blocks."""
    if backend != "reference" and _decode.has_kernel():
        x, y, t, p, info = torch.ops.ezsr.decode_file(
            str(path), int(offset), KINDS[kind], int(width), int(height)
        )
        consumed, _, err_at, err, unsorted, rest = (int(v) for v in info)
        if err:
            raise EventFileError(
                path,
                f"expected {EXPECTED[kind]}, found {ERRORS.get(err, 'an error')}",
                offset=err_at,
            )
        if rest:
            raise EventFileError(path, _decode.trailing(kind, rest), offset=offset + consumed)
        if unsorted >= 0:
            _raise_unsorted(path, t.numpy(), unsorted)
        return _Checked((x.numpy(), y.numpy(), t.numpy(), p.numpy()))
    data = np.fromfile(path, dtype=np.uint8, offset=offset)
    blk = decode(data, kind, None, width, height, 0, backend)
    if blk.error:
        raise EventFileError(
            path,
            f"expected {EXPECTED[kind]}, found {ERRORS.get(blk.error, 'an error')}",
            offset=offset + blk.error_offset,
        )
    rest = len(data) - blk.consumed
    if rest:
        raise EventFileError(path, _decode.trailing(kind, rest), offset=offset + blk.consumed)
    return blk.x, blk.y, blk.t, blk.p


class _Checked(tuple):
    """Columns whose time order was already checked (by the C++ file decoder, or by
    _trusted for a decoded block); slices of them (_part) stay checked."""


class _Trusted(_Checked):
    """Decoded columns checked by _trusted: x, y int16, t int64 in time order, p uint8
    0/1 numpy arrays; make_events wraps them in Events without converting or checking."""


def _trusted(cols: Columns, last_t: int | None) -> bool:
    """Whether decoded columns (x, y int16, t int64, p uint8 numpy arrays) are in time
    order, also after `last_t` (the previous block's last time), with polarity 0/1: then
    their chunks become Events with no further per-chunk check (make_events). False sends
    them through the per-chunk checks, which raise at the first bad event as before."""
    x, y, t, p = cols
    if not (
        isinstance(x, np.ndarray)
        and x.dtype == np.int16
        and y.dtype == np.int16
        and t.dtype == np.int64
        and p.dtype == np.uint8
    ):
        return False
    if last_t is not None and int(t[0]) < last_t:
        return False
    if len(t) > 1 and not bool((t[1:] >= t[:-1]).all()):
        return False
    return not len(p) or int(p.max()) <= 1


def _part(cols: Columns, start: int | None, stop: int | None) -> Columns:
    """cols[start:stop] column-wise; checked columns stay checked."""
    x, y, t, p = cols
    out = (x[start:stop], y[start:stop], t[start:stop], p[start:stop])
    return type(cols)(out) if isinstance(cols, _Checked) else out


def _raise_unsorted(path: str, t: np.ndarray, i: int) -> None:
    raise EventFileError(
        path,
        f"timestamps decrease at event {i} ({int(t[i - 1])} -> "
        f"{int(t[i])} us); expected non-decreasing time",
    )


def _cat(parts: list[Columns]) -> Columns:
    if not parts:
        return (
            np.zeros(0, np.int16),
            np.zeros(0, np.int16),
            np.zeros(0, np.int64),
            np.zeros(0, np.uint8),
        )
    if len(parts) == 1:
        return parts[0]
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(4))


def make_events(
    cols: Columns, width: int | None, height: int | None, size_source: str, path: str = ""
) -> Events:
    """Events from columns; width/height None -> max + 1 of the data (size_source 'data')."""
    x, y, t, p = cols
    if width is None or height is None:
        width = int(x.max()) + 1 if len(x) else 0
        height = int(y.max()) + 1 if len(y) else 0
        size_source = "data"
    if isinstance(cols, _Trusted):  # what Events() would make of them, minus the checks
        return Events.wrap(x, y, t, p, width, height, size_source or "user")
    if len(t) > 1 and not isinstance(cols, _Checked):
        back = np.flatnonzero(t[1:] < t[:-1])
        if back.size:
            _raise_unsorted(path, t, int(back[0]) + 1)
    return Events(x, y, t, p, width, height, size_source, validate=False)


def read_blocks(
    blocks: Iterable[Columns],
    width: Optional[int],
    height: Optional[int],
    size_source: str,
    path: str = "",
) -> Events:
    return make_events(_cat(list(blocks)), width, height, size_source, path)


def chunk_blocks(
    blocks: Iterable[Columns],
    n_events: int | None,
    dt_us: int | None,
    width: Optional[int],
    height: Optional[int],
    size_source: str,
    path: str = "",
) -> Iterator[Events]:
    """Regroup decoded blocks into Events of n_events events, or of dt_us microseconds
    (consecutive windows from the first timestamp, empty ones included, like
    Events.time_windows). Holds at most one chunk plus one block (and the boundaries of
    BOUNDARIES_PER_SEARCH chunks)."""
    if n_events is not None and n_events <= 0:
        raise ValueError(f"iter_chunks: n_events must be > 0, got {n_events}")
    if dt_us is not None and dt_us <= 0:
        raise ValueError(f"iter_chunks: dt_us must be > 0 us, got {dt_us}")
    seen_w = seen_h = 0

    def emit(cols: Columns) -> Events:
        nonlocal seen_w, seen_h
        if width is None and len(cols[0]):  # size from the data seen so far
            seen_w = max(seen_w, int(cols[0].max()) + 1)
            seen_h = max(seen_h, int(cols[1].max()) + 1)
        w, h = (width, height) if width is not None else (seen_w, seen_h)
        return make_events(cols, w, h, size_source if width is not None else "data", path)

    buf: list[Columns] = []
    held = 0
    boundary = None
    step = cast(int, dt_us)  # used where n_events is None: the caller gave dt_us
    for blk in blocks:
        if n_events is not None:
            buf.append(blk)
            held += len(blk[2])
            while held >= n_events:
                cols = _cat(buf)
                yield emit(_part(cols, None, n_events))
                rest = _part(cols, n_events, None)
                buf, held = ([rest] if len(rest[2]) else []), len(rest[2])
        else:
            t = blk[2]
            if boundary is None:
                if not len(t):  # readers may yield empty blocks (e.g. AEDAT 3.1 packets
                    continue  # without valid events): the first window starts at an event
                boundary = int(t[0]) + step
            while len(t) and int(t[-1]) >= boundary:
                # the boundaries inside this block, searched BOUNDARIES_PER_SEARCH at a time
                # (a 4 MiB block holds ~100 chunks of 1 ms at 10 Mev/s: one searchsorted
                # call, not 100; the cap bounds memory across a long gap in time)
                m = min((int(t[-1]) - boundary) // step + 1, BOUNDARIES_PER_SEARCH)
                ends = np.searchsorted(t, boundary + step * np.arange(m, dtype=np.int64))
                start = 0
                for k in ends.tolist():
                    buf.append(_part(blk, start, k))
                    yield emit(_cat(buf))
                    buf, start = [], k
                blk = _part(blk, start, None)
                t = blk[2]
                boundary += m * step
            if len(t):
                buf.append(blk)
                held += len(t)
    if buf and sum(len(b[2]) for b in buf):
        yield emit(_cat(buf))
