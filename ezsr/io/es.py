"""Event Stream `.es` files (version 2.x), the format of the `event_stream` package
(github.com/neuromorphicsystems/event_stream; specification in the README of
github.com/neuromorphic-paris/event_stream).

Header: the 12 ASCII bytes "Event Stream", version bytes (major, minor, patch; major 2 is
read), a type byte (0 generic, 1 DVS, 2 ATIS, 3 asynchronous display, 4 colour) and, except
for generic, u16 LE width and height (20 bytes in all; generic: 16). Then variable-length
events whose time is the running sum of per-event deltas and overflow bytes (from 0 us):
  DVS    0xFF overflow (+127 us), 0xFE reset; else t_delta << 1 | is_increase, x u16, y u16
  ATIS   0xFD-0xFF overflow (+63 us x (b & 3)), 0xFC reset; else t_delta << 2 |
         polarity << 1 | is_tc, x u16, y u16 (is_tc = 1: an exposure threshold crossing,
         polarity = which of its two; is_tc = 0: a change detection, polarity = increase)
  colour 0xFF overflow (+254 us), 0xFE reset; else t_delta, x u16, y u16, r, g, b
  generic 0xFF overflow (+254 us), 0xFE reset; else t_delta, size bytes (7 bits each, low
         bit 1 = another size byte follows), then that many data bytes

ezsr.io.read / iter_chunks give polarity events: DVS files whole, ATIS files their change
detections (threshold crossings are exposure measurements, not polarity events); colour and
generic files hold no polarity events and are refused with a clear error. read_records()
returns every event of any type with event_stream's dtypes; summary() (ezsr info,
ezsr.io.summarize) counts every event as event_stream does, with the ATIS split. DVS and ATIS bytes are decoded in C++
(csrc/core/decode_es.cpp, Python reference in ezsr.io._decode). ezsr.io.write writes DVS
type files.
"""

from __future__ import annotations

from typing import Any, Iterator, Optional

import numpy as np

from ezsr.events import Events
from ezsr.io import _stream
from ezsr.io._registry import EventFileError, Format, register

MAGIC = b"Event Stream"
TYPES = {0: "generic", 1: "dvs", 2: "atis", 3: "display", 4: "color"}
# event_stream's numpy dtypes (field "p" titled "on"; "e", "p" titled "exposure", "polarity")
DTYPES = {
    "dvs": np.dtype([("t", "<u8"), ("x", "<u2"), ("y", "<u2"), (("on", "p"), "?")]),
    "atis": np.dtype(
        [
            ("t", "<u8"),
            ("x", "<u2"),
            ("y", "<u2"),
            (("exposure", "e"), "?"),
            (("polarity", "p"), "?"),
        ]
    ),
    "color": np.dtype(
        [("t", "<u8"), ("x", "<u2"), ("y", "<u2"), ("r", "u1"), ("g", "u1"), ("b", "u1")]
    ),
    "generic": np.dtype([("t", "<u8"), ("bytes", "O")]),
}
MAX_WRITE_BYTES = 1 << 31  # an .es file this large from ezsr.io.write means unrebased times


def header(path: str) -> tuple[str, int, Optional[int], Optional[int]]:
    """(type name, data offset, width, height) of an Event Stream file; width and height
    are None for generic streams."""
    with open(path, "rb") as f:
        head = f.read(20)
    if not head.startswith(MAGIC):
        raise EventFileError(
            path,
            "expected an Event Stream file starting with the 12 bytes 'Event Stream'",
            offset=0,
        )
    if len(head) < 16:
        raise EventFileError(
            path,
            f"truncated header ({len(head)} bytes); expected the "
            "version and type bytes after 'Event Stream'",
            offset=len(head),
        )
    major, minor, patch, code = head[12], head[13], head[14], head[15]
    if major != 2:
        raise EventFileError(
            path,
            f"unsupported Event Stream version {major}.{minor}.{patch}; expected 2.x",
            offset=12,
        )
    kind = TYPES.get(code)
    if kind is None or kind == "display":
        raise EventFileError(
            path,
            f"unsupported Event Stream type byte {code}; expected 0 "
            "(generic), 1 (DVS), 2 (ATIS) or 4 (colour)",
            offset=15,
        )
    if kind == "generic":
        return kind, 16, None, None
    if len(head) < 20:
        raise EventFileError(
            path,
            f"truncated header ({len(head)} bytes); expected u16 width "
            "and height after the type byte",
            offset=len(head),
        )
    w, h = head[16] | head[17] << 8, head[18] | head[19] << 8
    if not (0 < w <= 32767 and 0 < h <= 32767):
        raise EventFileError(
            path,
            f"header gives a sensor size {w}x{h}; expected 1..32767 pixels per side",
            offset=16,
        )
    return kind, 20, w, h


def _no_polarity(path: str, kind: str) -> EventFileError:
    what = "colour events (x, y, r, g, b)" if kind == "color" else "generic events (bytes)"
    return EventFileError(
        path,
        f"holds Event Stream {what}, not polarity (DVS or ATIS) events; "
        "ezsr.io.es.read_records gives its records",
    )


def _change_detections(cols: _stream.Columns) -> _stream.Columns:
    """ATIS columns (p = polarity | is_tc << 1) -> the change detections' columns."""
    keep = cols[3] < 2
    return type(cols)(c[keep] for c in cols)


def read_es(path: str) -> Events:
    kind, offset, w, h = header(path)
    if kind not in ("dvs", "atis"):
        raise _no_polarity(path, kind)
    assert w is not None and h is not None  # DVS and ATIS headers give the sensor size
    cols = _stream.decode_whole(path, offset, "es_" + kind, w, h)
    if kind == "atis":
        cols = _change_detections(cols)
    return _stream.make_events(cols, w, h, "header", path)


def iter_es(path: str, n_events: int | None = None, dt_us: int | None = None) -> Iterator[Events]:
    kind, offset, w, h = header(path)
    if kind not in ("dvs", "atis"):
        raise _no_polarity(path, kind)
    assert w is not None and h is not None  # DVS and ATIS headers give the sensor size
    blocks = _stream.decoded_blocks(path, offset, "es_" + kind, w, h)
    if kind == "atis":
        blocks = map(_change_detections, blocks)
    return _stream.chunk_blocks(blocks, n_events, dt_us, w, h, "header", path)


def read_records(path: str) -> tuple[str, Optional[int], Optional[int], np.ndarray]:
    """(type, width, height, records) with every event of the file in event_stream's
    dtype for its type (DTYPES): what event_stream.Decoder yields, concatenated."""
    kind, offset, w, h = header(path)
    if kind in ("dvs", "atis"):
        assert w is not None and h is not None  # DVS and ATIS headers give the sensor size
        x, y, t, p = _stream.decode_whole(path, offset, "es_" + kind, w, h)
        rec = np.empty(len(t), DTYPES[kind])
        rec["t"], rec["x"], rec["y"] = t, x.view(np.uint16), y.view(np.uint16)
        if kind == "dvs":
            rec["on"] = p == 1
        else:
            rec["exposure"], rec["polarity"] = p >= 2, (p & 1) == 1
        return kind, w, h, rec
    data = np.fromfile(path, dtype=np.uint8, offset=offset).tobytes()
    return kind, w, h, (_color if kind == "color" else _generic)(path, data, offset, w, h)


def _color(path: str, data: bytes, offset: int, w: Optional[int], h: Optional[int]) -> np.ndarray:
    """Colour events, byte by byte (a plain loop: colour files are small and rare)."""
    assert w is not None and h is not None  # colour headers give the sensor size
    out: list[tuple[int, ...]] = []
    t, i, n = 0, 0, len(data)
    while i < n:
        b = data[i]
        if b >= 0xFE:
            t += 254 if b == 0xFF else 0
            i += 1
            continue
        if n - i < 8:
            raise EventFileError(
                path,
                f"truncated: the last event is cut after {n - i} of its 8 bytes",
                offset=offset + i,
            )
        x, y = data[i + 1] | data[i + 2] << 8, data[i + 3] | data[i + 4] << 8
        if x >= w or y >= h:
            raise EventFileError(
                path,
                f"expected colour events inside the header's {w}x{h} "
                f"sensor, found one at ({x}, {y})",
                offset=offset + i,
            )
        t += b
        out.append((t, x, y, data[i + 5], data[i + 6], data[i + 7]))
        i += 8
    return np.array(out, DTYPES["color"])


def _generic(path: str, data: bytes, offset: int, w: Optional[int], h: Optional[int]) -> np.ndarray:
    """Generic events: t, then size bytes and data bytes (a plain loop)."""
    out: list[tuple[int, bytes]] = []
    t, i, n = 0, 0, len(data)
    while i < n:
        b = data[i]
        if b >= 0xFE:
            t += 254 if b == 0xFF else 0
            i += 1
            continue
        start, size, shift = i, 0, 0
        i += 1
        while True:
            if i >= n:
                raise EventFileError(
                    path,
                    "truncated: an event's size bytes run past the end of the file",
                    offset=offset + start,
                )
            s = data[i]
            size |= (s >> 1) << shift
            shift += 7
            i += 1
            if not s & 1:
                break
        if size > n - i:
            raise EventFileError(
                path,
                f"truncated: an event announces {size} data bytes but {n - i} are left",
                offset=offset + start,
            )
        t += b
        out.append((t, data[i : i + size]))
        i += size
    rec = np.empty(len(out), DTYPES["generic"])
    for k, (tk, payload) in enumerate(out):
        rec[k] = (tk, payload)
    return rec


def summary(path: str) -> dict[str, Any]:
    """ezsr info / ezsr.io.summarize of an .es file: its type and every event counted as
    event_stream counts it, the sensor, time range (us) and ON/OFF split. ATIS adds the
    change_detection and threshold_crossing counts; the time range is over all events, on/off
    over the change detections (the events ezsr.io.read gives). DVS and ATIS files are walked
    block by block (bounded memory)."""
    kind, offset, w, h = header(path)
    out: dict[str, Any] = {"format": "es", "type": kind}
    if kind in ("dvs", "atis"):
        assert w is not None and h is not None  # DVS and ATIS headers give the sensor size
        count = cd = on = 0
        t_first: int | None = None
        t_last: int | None = None
        for _, _, t, p in _stream.decoded_blocks(path, offset, "es_" + kind, w, h):
            count += len(t)
            t_first = int(t[0]) if t_first is None else t_first
            t_last = int(t[-1])
            if kind == "atis":
                cd += int((p < 2).sum())
                on += int((p == 1).sum())
            else:
                on += int(p.sum())
        out["count"] = count
        if kind == "atis":
            out["change_detection"], out["threshold_crossing"] = cd, count - cd
        out.update(
            {
                "width": w,
                "height": h,
                "t_first": t_first,
                "t_last": t_last,
                "on": on,
                "off": (cd if kind == "atis" else count) - on,
            }
        )
        return out
    _, _, _, rec = read_records(path)
    out.update(
        {
            "count": len(rec),
            "width": w,
            "height": h,
            "t_first": int(rec["t"][0]) if len(rec) else None,
            "t_last": int(rec["t"][-1]) if len(rec) else None,
        }
    )
    return out


def write_es(path: str, events: Events) -> None:
    """A DVS type Event Stream 2.0.0 file: per event, 0xFF overflow bytes for each 127 us of
    its time step, then (t_delta << 1 | ON, x u16, y u16). Needs t >= 0 (time starts at 0),
    non-decreasing, and the sensor within 65535 x 65535."""
    c = events.numpy()
    x, y, t, p = (c[k].astype(np.int64) for k in ("x", "y", "t", "p"))
    w, h = events.width, events.height
    if not (0 < w <= 65535 and 0 < h <= 65535):
        raise ValueError(f"{path}: an Event Stream sensor is 1..65535 pixels per side, got {w}x{h}")
    for name, v, hi in (("x", x, w), ("y", y, h)):
        if len(v) and (v.min() < 0 or v.max() >= hi):
            raise ValueError(
                f"{path}: column '{name}' must lie in [0, {hi}) (the sensor), "
                f"got {v.min()}..{v.max()}"
            )
    dt = np.diff(t, prepend=0)
    if len(t) and (t[0] < 0 or (dt < 0).any()):
        raise ValueError(
            f"{path}: column 't' must be >= 0 and non-decreasing (Event Stream time starts at 0 us)"
        )
    over = dt // 127
    per = over + 5
    total = int(per.sum())
    if total > MAX_WRITE_BYTES:
        raise ValueError(
            f"{path}: {total} bytes, most of them overflow bytes for a first "
            f"timestamp of {int(t[0]) if len(t) else 0} us; rebase the times "
            "(t - t[0]) before writing"
        )
    out = np.full(total, 0xFF, np.uint8)
    at = np.cumsum(per) - 5
    out[at] = ((dt - over * 127) << 1) | (p > 0)
    out[at + 1], out[at + 2] = x & 0xFF, x >> 8
    out[at + 3], out[at + 4] = y & 0xFF, y >> 8
    head = MAGIC + bytes([2, 0, 0, 1, w & 0xFF, w >> 8, h & 0xFF, h >> 8])
    with open(path, "wb") as f:
        f.write(head)
        f.write(out.tobytes())


register(
    Format(
        "es",
        (".es",),
        read_es,
        write_es,
        iter_es,
        sniff=lambda head: head.startswith(MAGIC),
        summary=summary,
    )
)
