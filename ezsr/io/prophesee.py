"""Prophesee files: `.raw` in EVT 2.0, EVT 2.1 and EVT 3.0, and `.dat` CD files.

Both start with `%` text lines. Sensor size: `% geometry WxH`, `% format EVT3;height=H;
width=W` or `% Width`/`% Height` (header), else the camera generation named in
`% plugin_name` / `% sensor_generation` (convention), else max + 1 of the data.
Decoding: csrc/core/decode_evt.cpp and decode_records.cpp (see ezsr.io._decode).
"""

from __future__ import annotations

import functools
import logging
import os
import re
from typing import Iterator, Optional, Tuple

from ezsr.events import Events
from ezsr.io import _encode, _stream
from ezsr.io._header import read_prefixed_lines
from ezsr.io._registry import EventFileError, Format, register

# sensor (W, H) by camera generation, from Prophesee's sensor pages
_GENERATIONS = [
    ("gen41", (1280, 720)),
    ("gen4", (1280, 720)),
    ("imx636", (1280, 720)),
    ("imx646", (1280, 720)),
    ("imx647", (1280, 720)),
    ("gen31", (640, 480)),
    ("gen3", (640, 480)),
    ("imx8", (320, 320)),
    ("genx320", (320, 320)),
]
_EVT = {
    "2.0": "evt2",
    "2.1": "evt21",
    "3.0": "evt3",
    "evt2": "evt2",
    "evt21": "evt21",
    "evt3": "evt3",
}
_LABEL = {
    "evt2": "EVT 2.0",
    "evt21": "EVT 2.1",
    "evt21_legacy": "EVT 2.1 (legacy)",
    "evt3": "EVT 3.0",
}
log = logging.getLogger("ezsr.io")
# (width, height, size_source); width/height None when the header gives no size ("data")
_Size = Tuple[Optional[int], Optional[int], str]


def _size_from_header(lines: list[str]) -> _Size:
    text = "\n".join(lines)
    m = re.search(r"^% geometry (\d+)x(\d+)", text, re.M)
    if m:
        return int(m[1]), int(m[2]), "header"
    m = re.search(r"^% format [^\n]*", text, re.M)
    if m:
        w = re.search(r"width=(\d+)", m[0])
        h = re.search(r"height=(\d+)", m[0])
        if w and h:
            return int(w[1]), int(h[1]), "header"
    w = re.search(r"^% Width (\d+)", text, re.M)
    h = re.search(r"^% Height (\d+)", text, re.M)
    if w and h:
        return int(w[1]), int(h[1]), "header"
    m = re.search(
        r"^% (?:plugin_name|sensor_generation|camera_integrator_name)[^\n]*", text, re.M | re.I
    )
    if m:
        low = m[0].lower().replace(".", "")
        for key, (w_, h_) in _GENERATIONS:
            if key in low:
                return w_, h_, "convention"
    return None, None, "data"


def _check_size(path: str, w: Optional[int], h: Optional[int]) -> None:
    if w is not None and h is not None and not (0 < w <= 16384 and 0 < h <= 16384):
        raise EventFileError(
            path,
            f"header gives an absurd sensor size {w}x{h}; expected 1..16384 pixels per side",
            offset=0,
        )


def raw_header(
    path: str, want: str | None = None, quiet: bool = False
) -> tuple[str, int, Optional[int], Optional[int], str]:
    """(kind, data offset, width, height, size_source) of a Prophesee .raw file.

    want: the EVT version asked for (evt2, evt21, evt21_legacy, evt3). It decides when the
    header names no version; a header's version wins over it, with a warning (unless quiet).
    """
    lines, offset = read_prefixed_lines(path, b"%", end_line=b"% end")
    kind = None
    for line in lines:
        m = re.match(r"% evt (\S+)", line)
        if m is None:
            m = re.match(r"% format (EVT\d+)", line)
        if m:
            key = m[1].lower()
            if key not in _EVT:
                raise EventFileError(
                    path,
                    f"unsupported event format version '{m[1]}' in "
                    "header; expected EVT 2.0, 2.1 or 3.0",
                    offset=0,
                )
            kind = _EVT[key]
            if kind == "evt21" and "endianness=legacy" in line:
                kind = "evt21_legacy"  # IMX636 order: each word's high 32-bit half first
    if kind is None:
        kind = want or "evt2"  # files from before the `% evt` line was written are EVT 2.0
    elif want and want.split("_")[0] != kind.split("_")[0] and not quiet:
        log.warning(
            "%s: its header says %s but format %s (%s) was asked for; decoding %s as "
            "the header says",
            path,
            _LABEL[kind],
            want,
            _LABEL[want],
            _LABEL[kind],
        )
    w, h, src = _size_from_header(lines)
    _check_size(path, w, h)
    return kind, offset, w, h, src


def _raw_blocks(
    path: str, want: str | None = None
) -> tuple[Iterator[_stream.Columns], Optional[int], Optional[int], str]:
    kind, offset, w, h, src = raw_header(path, want)
    return _stream.decoded_blocks(path, offset, kind, w or 0, h or 0), w, h, src


def read_raw(path: str, want: str | None = None) -> Events:
    kind, offset, w, h, src = raw_header(path, want)
    cols = _stream.decode_whole(path, offset, kind, w or 0, h or 0)
    return _stream.make_events(cols, w, h, src, path)


def iter_raw(
    path: str, n_events: int | None = None, dt_us: int | None = None, want: str | None = None
) -> Iterator[Events]:
    blocks, w, h, src = _raw_blocks(path, want)
    return _stream.chunk_blocks(blocks, n_events, dt_us, w, h, src, path)


def dat_header(path: str) -> tuple[int, Optional[int], Optional[int], str]:
    """(data offset, width, height, size_source) of a .dat file (after its 2 type/size bytes)."""
    lines, offset = read_prefixed_lines(path, b"%", end_line=b"% end")
    for line in lines:
        m = re.match(r"% Version (\S+)", line)
        if m and m[1] != "2":
            raise EventFileError(
                path, f"unsupported .dat version {m[1]}; expected version 2", offset=0
            )
    with open(path, "rb") as f:
        f.seek(offset)
        ts = f.read(2)
    if len(ts) < 2:
        if os.path.getsize(path) == offset:
            raise EventFileError(
                path, "header with no event-type/size bytes and no events", offset=offset
            )
        raise EventFileError(
            path, "truncated: expected 2 bytes (event type, event size)", offset=offset
        )
    if ts[1] != 8:
        raise EventFileError(
            path, f"event size {ts[1]} bytes; expected 8 (CD events)", offset=offset + 1
        )
    w, h, src = _size_from_header(lines)
    _check_size(path, w, h)
    return offset + 2, w, h, src


def _dat_blocks(path: str) -> tuple[Iterator[_stream.Columns], Optional[int], Optional[int], str]:
    offset, w, h, src = dat_header(path)
    return _stream.decoded_blocks(path, offset, "dat", w or 0, h or 0), w, h, src


def read_dat(path: str) -> Events:
    offset, w, h, src = dat_header(path)
    cols = _stream.decode_whole(path, offset, "dat", w or 0, h or 0)
    return _stream.make_events(cols, w, h, src, path)


def iter_dat(path: str, n_events: int | None = None, dt_us: int | None = None) -> Iterator[Events]:
    blocks, w, h, src = _dat_blocks(path)
    return _stream.chunk_blocks(blocks, n_events, dt_us, w, h, src, path)


def _sniff_raw(head: bytes) -> bool:
    return head.startswith(b"%") and (
        b"\n% evt " in head or b"% format EVT" in head or head.startswith(b"% evt ")
    )


def _sniff_dat(head: bytes) -> bool:
    return (
        head.startswith(b"%")
        and not _sniff_raw(head)
        and (b"% Data file containing" in head or b"% Version" in head)
    )


# `io.read(..., return_format=True)` and `ezsr info` name the EVT version decoded (evt2,
# evt21, evt21_legacy, evt3), not "raw"
register(
    Format(
        "raw",
        (".raw",),
        read_raw,
        _encode.raw_writer("3.0"),
        iter_raw,
        sniff=_sniff_raw,
        decoded_as=lambda p: raw_header(p, None, True)[0],
    )
)
register(
    Format(
        "dat", (".dat",), read_dat, _encode.writer(_encode.encode_dat), iter_dat, sniff=_sniff_dat
    )
)
# names picking the .raw encoding: for writing; for reading, the version of a header that
# names none (a header's `% evt` / `% format` line wins, with a warning)
for _name, _ver in (
    ("evt2", "2.0"),
    ("evt21", "2.1"),
    ("evt21_legacy", "2.1-legacy"),
    ("evt3", "3.0"),
):
    register(
        Format(
            _name,
            (),
            functools.partial(read_raw, want=_name),
            _encode.raw_writer(_ver),
            functools.partial(iter_raw, want=_name),
            decoded_as=functools.partial(lambda p, w: raw_header(p, w, True)[0], w=_name),
        )
    )
