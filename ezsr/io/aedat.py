"""iniVation / jAER AEDAT files: 2.0 (jAER, DVS128 and DAVIS address layouts), 3.1 and 4.0.

Layouts from iniVation's public "AEDAT file formats" documentation, and for 2.0 from jAER's
own extractors (github.com/SensorsINI/jaer), which define what a 2.0 address means:
  2.0  `#` text header, then big-endian records (i32 address, i32 timestamp us); decoded in
       C++ (csrc/core/decode_records.cpp). The header's `# AEChip:` line names the jAER chip
       class, which picks the layout and the sensor size.
       DVS128 (src/ch/unizh/ini/jaer/chip/retina/DVS128.java, DVS128.Extractor): an address
       with bit 15 (sync) or bit 31 (special) set is not a pixel and is skipped; else raw bit
       0 = 1 is OFF (p = 1 - (a & 1)), x = 127 - ((a >> 1) & 0x7F) (mirrored),
       y = (a >> 8) & 0x7F.
       DAVIS (src/eu/seebetter/ini/chips/DavisChip.java fields, DavisBaseCamera.java
       DavisEventExtractor): bit 31 = APS sample or IMU sample, bit 10 = external-input /
       special event (both skipped); else p = (a >> 11) & 1 (1 = ON),
       x = sizeX - 1 - ((a >> 12) & 0x3FF) (mirrored with the chip's width),
       y = (a >> 22) & 0x1FF.
       y is kept as jAER gives it (jAER draws row 0 at the bottom).
  3.1  `#` header up to `#!END-HEADER`, then packets: 28-byte LE header (i16 type, i16 source,
       i32 eventSize, i32 tsOffset, i32 tsOverflow, i32 capacity, i32 number, i32 valid) and
       capacity * eventSize bytes. Polarity events (type 1): u32 data (bit 0 valid, bit 1 p,
       y = bits 2..16, x = bits 17..31), i32 timestamp; t = tsOverflow << 31 | timestamp.
  4.0  `#!AER-DAT4.0\r\n`, i32 header size, IOHeader flatbuffer (compression, data table
       position, XML info node naming the streams and their sizeX/sizeY), then packets:
       i32 stream id, i32 size, then a (LZ4- or zstd-) compressed flatbuffer. Event packets
       ("EVTS") hold a vector of 16-byte structs (i64 t, i16 x, i16 y, bool p, 3 pad);
       other streams (frames, IMU, triggers) are skipped.
"""

from __future__ import annotations

import os
import re
import struct
from typing import Any, Callable, Iterator, NoReturn, Optional

import numpy as np

from ezsr.events import Events
from ezsr.io import _encode, _stream
from ezsr.io._header import read_prefixed_lines
from ezsr.io._registry import EventFileError, Format, register

# sensor (W, H) by camera name (iniVation datasheets; for AEDAT 2.0 the jAER chip classes'
# WIDTH_PIXELS / HEIGHT_PIXELS in src/eu/seebetter/ini/chips/davis/*.java)
_CAMERAS = [
    ("davis346", (346, 260)),
    ("davis240", (240, 180)),
    ("davis640", (640, 480)),
    ("cdavis", (640, 480)),
    ("davis208", (208, 192)),
    ("davis128", (128, 128)),
    ("dvxplorer_lite", (320, 240)),
    ("dvxplorer", (640, 480)),
    ("dvs128", (128, 128)),
    ("tmpdiff128", (128, 128)),
]
# the `# AEChip:` class ezsr.io.write names for a DAVIS sensor size (jAER chip classes)
MAX_PACKET_BYTES = 1 << 28  # 256 MiB decompressed: larger is a lie, not a packet


def _camera_size(text: str) -> Optional[tuple[int, int]]:
    low = text.lower()
    for key, size in _CAMERAS:
        if key in low:
            return size
    return None


def _version(path: str) -> str:
    with open(path, "rb") as f:
        head = f.read(16)
    m = re.match(rb"#!AER-DAT(\d+\.\d+)", head)
    if m is None:
        raise EventFileError(
            path, "expected an AEDAT file starting with '#!AER-DAT<version>'", offset=0
        )
    return m[1].decode()


# ------------------------------------------------------------------ AEDAT 2.0
def aedat2_header(path: str) -> tuple[str, int, int, int, str]:
    """(kind, data offset, width, height, size_source) of an AEDAT 2.0 file. A DAVIS file
    must name a chip of known width: jAER mirrors x with it."""
    version = _version(path)
    if version not in ("2.0",):
        raise EventFileError(
            path,
            f"unsupported AEDAT version {version}; this reader handles "
            "2.0 here, 3.1 and 4.0 by their own formats",
            offset=0,
        )
    lines, offset = read_prefixed_lines(path, b"#")
    chip = next((ln for ln in lines if ln.startswith("# AEChip:")), "")
    hw = next((ln for ln in lines if ln.startswith("# HardwareInterface:")), "")
    kind = "aedat2_davis" if "davis" in (chip + hw).lower() else "aedat2_dvs128"
    size = _camera_size(chip) or _camera_size(hw)
    if kind == "aedat2_dvs128":
        size = (128, 128)  # the DVS128 layout: 7-bit x and y, x mirrored as 127 - x
    elif size is None:
        raise EventFileError(
            path,
            f"AEDAT 2.0 DAVIS file whose chip ({chip or hw or 'none'}) "
            "has no known sensor width; jAER mirrors x with it (x = width - 1 - "
            f"raw x). Known chips: {', '.join(k for k, _ in _CAMERAS)}",
            offset=0,
        )
    return kind, offset, size[0], size[1], "convention"


def _mirror_x(path: str, width: int) -> Callable[[_stream.Columns], _stream.Columns]:
    """DAVIS columns with jAER's x mirror applied: x = width - 1 - raw x (a raw x outside
    the chip's width is an error, jAER would give a negative x)."""

    def apply(cols: _stream.Columns) -> _stream.Columns:
        x = cols[0]
        if len(x) and int(x.max()) >= width:
            raise EventFileError(
                path,
                f"DAVIS event with raw x {int(x.max())}; expected "
                f"x < {width}, the width of the chip the header names",
            )
        return (np.int16(width - 1) - x).astype(np.int16), *cols[1:]

    return apply


def _aedat2_blocks(path: str) -> tuple[Iterator[_stream.Columns], int, int, str]:
    kind, offset, w, h, src = aedat2_header(path)
    # y bounds are not enforced: jAER files of a chip family vary in size; the data decide
    blocks = _stream.decoded_blocks(path, offset, kind)
    if kind == "aedat2_davis":
        blocks = map(_mirror_x(path, w), blocks)
    return blocks, w, h, src


def read_aedat2(path: str) -> Events:
    kind, offset, w, h, src = aedat2_header(path)
    cols = _stream.decode_whole(path, offset, kind)
    if kind == "aedat2_davis":
        cols = type(cols)(_mirror_x(path, w)(cols))  # keeps the time-order-checked mark
    return _grow_to_data(_stream.make_events(cols, w, h, src, path))


def iter_aedat2(
    path: str, n_events: int | None = None, dt_us: int | None = None
) -> Iterator[Events]:
    blocks, w, h, src = _aedat2_blocks(path)
    return _stream.chunk_blocks(blocks, n_events, dt_us, w, h, src, path)


def _grow_to_data(ev: Events) -> Events:
    """A stream larger than its conventional sensor keeps all events: size from the data."""
    if len(ev) and (int(ev.x.max()) >= ev.width or int(ev.y.max()) >= ev.height):
        ev.width = max(ev.width, int(ev.x.max()) + 1)
        ev.height = max(ev.height, int(ev.y.max()) + 1)
        ev.size_source = "data"
    return ev


# ------------------------------------------------------------------ AEDAT 3.1
_PKT3 = struct.Struct("<hhiiiiii")


def _aedat3_blocks(path: str, start: int) -> Iterator[_stream.Columns]:
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        pos = start
        while pos < size:
            f.seek(pos)
            hdr = f.read(28)
            if len(hdr) < 28:
                raise EventFileError(
                    path, f"truncated packet header ({len(hdr)} of 28 bytes)", offset=pos
                )
            etype, _src, esize, _tsoff, overflow, cap, number, _valid = _PKT3.unpack(hdr)
            if esize <= 0 or cap < 0 or number < 0 or number > cap:
                raise EventFileError(
                    path,
                    f"packet header with eventSize={esize}, "
                    f"capacity={cap}, number={number}; expected positive "
                    "sizes and number <= capacity",
                    offset=pos,
                )
            nbytes = cap * esize
            if pos + 28 + nbytes > size:
                raise EventFileError(
                    path,
                    f"packet claims {nbytes} bytes but the file has {size - pos - 28} left",
                    offset=pos,
                )
            if etype == 1:
                if esize < 8:
                    raise EventFileError(
                        path, f"polarity packet with eventSize {esize}; expected >= 8", offset=pos
                    )
                raw = np.frombuffer(f.read(number * esize), dtype=np.uint8).reshape(number, esize)
                data = raw[:, :4].copy().view("<u4")[:, 0]
                ts = raw[:, 4:8].copy().view("<i4")[:, 0].astype(np.int64)
                valid = (data & 1).astype(bool)
                t = (np.int64(overflow) << 31) | ts[valid]
                yield (
                    ((data[valid] >> 17) & 0x7FFF).astype(np.int16),
                    ((data[valid] >> 2) & 0x7FFF).astype(np.int16),
                    t,
                    ((data[valid] >> 1) & 1).astype(np.uint8),
                )
            pos += 28 + nbytes


def _aedat3_open(path: str) -> tuple[Iterator[_stream.Columns], Optional[int], Optional[int], str]:
    version = _version(path)
    if version != "3.1":
        raise EventFileError(path, f"unsupported AEDAT version {version}; expected 3.1", offset=0)
    lines, offset = read_prefixed_lines(path, b"#", end_line=b"#!END-HEADER")
    if not lines or lines[-1] != "#!END-HEADER":
        raise EventFileError(path, "header without '#!END-HEADER'", offset=offset)
    size = _camera_size("\n".join(lines))
    w, h = size if size else (None, None)
    return _aedat3_blocks(path, offset), w, h, "convention" if size else "data"


def read_aedat3(path: str) -> Events:
    blocks, w, h, src = _aedat3_open(path)
    return _grow_to_data(_stream.read_blocks(blocks, w, h, src, path))


def iter_aedat3(
    path: str, n_events: int | None = None, dt_us: int | None = None
) -> Iterator[Events]:
    blocks, w, h, src = _aedat3_open(path)
    return _stream.chunk_blocks(blocks, n_events, dt_us, w, h, src, path)


# ------------------------------------------------------------------ AEDAT 4.0
class _FlatTable:
    """Just enough of the flatbuffers wire format to read one table (bounds-checked):
    table = i32 offset back to its vtable; vtable = u16 vtable size, u16 table size,
    u16 field offsets; offset fields hold a u32 relative to their own position."""

    def __init__(self, buf: bytes, pos: int, path: str, base: int) -> None:
        self.buf, self.path, self.base = buf, path, base
        self.pos = pos
        vt = pos - self._i32(pos)
        self.vt = vt
        self.vt_size = self._u16(vt)
        if self.vt_size < 4 or vt + self.vt_size > len(buf):
            self._bad(vt, "a flatbuffer vtable inside the buffer")

    def _bad(self, off: int, what: str) -> NoReturn:
        raise EventFileError(
            self.path, f"corrupt flatbuffer: expected {what}", offset=self.base + off
        )

    def _check(self, off: int, n: int) -> None:
        if off < 0 or off + n > len(self.buf):
            self._bad(off, f"{n} bytes inside the {len(self.buf)}-byte buffer")

    def _u16(self, off: int) -> int:
        self._check(off, 2)
        return struct.unpack_from("<H", self.buf, off)[0]

    def _i32(self, off: int) -> int:
        self._check(off, 4)
        return struct.unpack_from("<i", self.buf, off)[0]

    def field(self, i: int) -> int | None:
        """Absolute position of field i, or None when absent."""
        slot = 4 + 2 * i
        if slot + 2 > self.vt_size:
            return None
        off = self._u16(self.vt + slot)
        return self.pos + off if off else None

    def scalar(self, i: int, fmt: str, default: Any) -> Any:
        at = self.field(i)
        if at is None:
            return default
        self._check(at, struct.calcsize(fmt))
        return struct.unpack_from(fmt, self.buf, at)[0]

    def vector(self, i: int, elem_size: int) -> tuple[int, int] | None:
        """(start, length) of a vector field."""
        at = self.field(i)
        if at is None:
            return None
        self._check(at, 4)
        target = at + struct.unpack_from("<I", self.buf, at)[0]
        self._check(target, 4)
        n = struct.unpack_from("<I", self.buf, target)[0]
        self._check(target + 4, n * elem_size)
        return target + 4, n


def _root(buf: bytes, path: str, base: int) -> _FlatTable:
    if len(buf) < 8:
        raise EventFileError(path, "flatbuffer shorter than 8 bytes", offset=base)
    return _FlatTable(buf, struct.unpack_from("<I", buf, 0)[0], path, base)


def _decompress(path: str, data: bytes, compression: int, offset: int) -> bytes:
    try:
        if compression == 0:
            return data
        if compression in (1, 2):
            import lz4.frame

            d = lz4.frame.LZ4FrameDecompressor()
            out = d.decompress(data, max_length=MAX_PACKET_BYTES)
            if not d.eof:
                raise EventFileError(
                    path, "LZ4 packet larger than 256 MiB or truncated", offset=offset
                )
            return out
        if compression in (3, 4):
            try:
                import zstandard
            except ImportError as exc:
                raise EventFileError(
                    path,
                    "zstd-compressed AEDAT 4 packets need the "
                    "'zstandard' package (pip install zstandard)",
                    offset=offset,
                ) from exc
            return zstandard.ZstdDecompressor().decompress(data, max_output_size=MAX_PACKET_BYTES)
    except EventFileError:
        raise
    except ImportError as exc:
        raise EventFileError(
            path,
            "LZ4-compressed AEDAT 4 needs the 'lz4' package (pip install ezsr[io])",
            offset=offset,
        ) from exc
    except Exception as exc:  # the decompressors' own errors on damaged data
        raise EventFileError(path, f"packet does not decompress ({exc})", offset=offset) from exc
    raise EventFileError(
        path, f"unknown compression type {compression}; expected 0-4", offset=offset
    )


def _aedat4_open(path: str) -> tuple[Iterator[_stream.Columns], Optional[int], Optional[int], str]:
    _version(path) == "4.0" or _raise_version(path)
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        f.seek(14)
        raw = f.read(4)
        if len(raw) < 4:
            raise EventFileError(path, "truncated: expected the i32 header size", offset=14)
        hsize = struct.unpack("<i", raw)[0]
        if hsize <= 0 or 18 + hsize > size:
            raise EventFileError(
                path, f"header size {hsize} does not fit the {size}-byte file", offset=14
            )
        hbuf = f.read(hsize)
    root = _root(hbuf, path, 18)
    compression = root.scalar(0, "<i", 0)
    table_pos = root.scalar(1, "<q", -1)
    info = root.vector(2, 1)
    xml = hbuf[info[0] : info[0] + info[1]].decode("utf-8", "replace") if info else ""
    streams: dict[int, tuple[str, Optional[int], Optional[int]]] = {}
    for m in re.finditer(
        r'<node name="(\d+)" path="[^"]*/outInfo/\d+/">(.*?)(?=<node name="\d+" '
        r'path="[^"]*/outInfo/\d+/">|\Z)',
        xml,
        re.S,
    ):
        body = m[2]
        tid = re.search(r'key="typeIdentifier" type="string">(\w+)<', body)
        sx = re.search(r'key="sizeX" type="int">(\d+)<', body)
        sy = re.search(r'key="sizeY" type="int">(\d+)<', body)
        streams[int(m[1])] = (
            tid[1] if tid else "",
            int(sx[1]) if sx else None,
            int(sy[1]) if sy else None,
        )
    events = {k: v for k, v in streams.items() if v[0] == "EVTS"}
    if not events:
        raise EventFileError(path, "no event stream (typeIdentifier EVTS) in the header", offset=18)
    sid = min(events)
    w, h = events[sid][1], events[sid][2]
    end = table_pos if 18 + hsize <= table_pos <= size else size
    return _aedat4_blocks(path, 18 + hsize, end, sid, compression), w, h, "header" if w else "data"


def _raise_version(path: str) -> NoReturn:
    raise EventFileError(
        path, f"unsupported AEDAT version {_version(path)}; expected 4.0", offset=0
    )


def _aedat4_blocks(
    path: str, pos: int, end: int, sid: int, compression: int
) -> Iterator[_stream.Columns]:
    with open(path, "rb") as f:
        while pos + 8 <= end:
            f.seek(pos)
            stream_id, nbytes = struct.unpack("<ii", f.read(8))
            if nbytes < 0 or pos + 8 + nbytes > end:
                raise EventFileError(
                    path,
                    f"packet of {nbytes} bytes does not fit the file ({end - pos - 8} bytes left)",
                    offset=pos,
                )
            if stream_id == sid:
                buf = _decompress(path, f.read(nbytes), compression, pos + 8)
                if len(buf) >= 8 and struct.unpack_from("<I", buf, 0)[0] == len(buf) - 4:
                    buf = buf[4:]  # dv-processing writes size-prefixed flatbuffers
                root = _root(buf, path, pos + 8)
                vec = root.vector(0, 16)
                if vec and vec[1]:
                    rec = np.frombuffer(
                        buf,
                        dtype=np.dtype(
                            [("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "u1"), ("pad", "V3")]
                        ),
                        count=vec[1],
                        offset=vec[0],
                    )
                    yield (
                        rec["x"].copy(),
                        rec["y"].copy(),
                        rec["t"].copy(),
                        (rec["p"] != 0).astype(np.uint8),
                    )
            pos += 8 + nbytes
        if pos != end:
            raise EventFileError(path, f"truncated packet header ({end - pos} bytes)", offset=pos)


def read_aedat4(path: str) -> Events:
    blocks, w, h, src = _aedat4_open(path)
    return _grow_to_data(_stream.read_blocks(blocks, w, h, src, path))


def iter_aedat4(
    path: str, n_events: int | None = None, dt_us: int | None = None
) -> Iterator[Events]:
    blocks, w, h, src = _aedat4_open(path)
    return _stream.chunk_blocks(blocks, n_events, dt_us, w, h, src, path)


def _sniff(version: bytes) -> Callable[[bytes], bool]:
    return lambda head: head.startswith(b"#!AER-DAT" + version)


register(Format("aedat4", (".aedat4",), read_aedat4, None, iter_aedat4, sniff=_sniff(b"4")))
register(Format("aedat3", (".aedat3",), read_aedat3, None, iter_aedat3, sniff=_sniff(b"3")))
# every other "#!AER-DAT" version lands here and gets a clear "unsupported version" error
register(
    Format(
        "aedat2",
        (".aedat",),
        read_aedat2,
        _encode.writer(_encode.encode_aedat2),
        iter_aedat2,
        sniff=lambda head: head.startswith(b"#!AER-DAT") and head[9:10] not in b"34",
    )
)
