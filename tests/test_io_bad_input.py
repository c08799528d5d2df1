"""Bad files: truncated, wrong magic, header without events, garbage after the header,
absurd header sizes, unsupported versions -> EventFileError (a ValueError) naming the file,
the byte offset and what was expected; plus bounded fuzzing of every decoder (C++ against
the numpy/Python references) and of the file readers. A longer fuzz run:

    EZSR_FUZZ_EXAMPLES=20000 python -m pytest -q tests/test_io_bad_input.py -k fuzz
"""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ezsr import io
from ezsr.events import Events
from ezsr.io import _decode
from tests.conftest import needs_kernels

FUZZ = int(os.environ.get("EZSR_FUZZ_EXAMPLES", "150"))
KINDS = list(_decode.KINDS)


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def err(path, **kw) -> io.EventFileError:
    with pytest.raises(io.EventFileError) as info:
        io.read(path, **kw)
    assert isinstance(info.value, ValueError) and str(path) in str(info.value)
    return info.value


EVT2_HEAD = b"% evt 2.0\n% geometry 640x480\n% end\n"


def test_truncated_evt2_names_offset(tmp_path):
    words = np.array([0x80000001, 0x10000000 | (5 << 11) | 7], "<u4").tobytes()
    e = err(write(tmp_path, "t.raw", EVT2_HEAD + words + b"\x01\x02"))
    assert e.offset == len(EVT2_HEAD) + 8 and "trailing" in str(e)


def test_garbage_after_header(tmp_path):
    words = np.array([0x80000001, 0x30000000], "<u4").tobytes()  # type 3 is undefined
    e = err(write(tmp_path, "g.raw", EVT2_HEAD + words))
    assert e.offset == len(EVT2_HEAD) + 4 and "type" in str(e)


def test_event_outside_header_sensor(tmp_path):
    words = np.array([0x80000001, 0x10000000 | (700 << 11) | 7], "<u4").tobytes()
    e = err(write(tmp_path, "o.raw", EVT2_HEAD + words))
    assert e.offset == len(EVT2_HEAD) + 4 and "sensor" in str(e)


def test_header_only_raw_is_empty_stream(tmp_path):
    ev = io.read(write(tmp_path, "h.raw", EVT2_HEAD))
    assert len(ev) == 0 and (ev.width, ev.height, ev.size_source) == (640, 480, "header")


@pytest.mark.parametrize(
    "name,data,offset,words",
    [
        ("v.raw", b"% evt 4.0\n", 0, "unsupported"),
        ("s.raw", b"% evt 3.0\n% geometry 99999999x5\n", 0, "absurd"),
        ("v.dat", b"% Version 1\n\x00\x08", 0, "version"),
        ("z.dat", b"% Version 2\n\x00\x10", 13, "event size"),
        ("c.raw", b"% evt 3.0\n% geometry 64", 23, "header"),  # cut mid header line
        ("v.aedat", b"#!AER-DAT1.0\r\n", 0, "unsupported"),
        ("m.aedat4", b"not an aedat file at all", 0, "#!AER-DAT"),
        ("h.aedat4", b"#!AER-DAT4.0\r\n" + struct.pack("<i", 1 << 30), 14, "header size"),
        (
            "p.aedat3",
            b"#!AER-DAT3.1\r\n#!END-HEADER\r\n"
            + struct.pack("<hhiiiiii", 1, 0, 8, 0, 0, 1 << 28, 1, 1),
            28,
            "claims",
        ),
    ],
)
def test_bad_headers(tmp_path, name, data, offset, words):
    e = err(write(tmp_path, name, data))
    assert e.offset == offset and words in str(e)


def test_aedat4_lying_packet_size_is_bounded(tmp_path):
    """A packet header claiming 2 GiB must fail before anything is allocated."""
    xml = (
        '<dv version="2.0"><node name="outInfo" path="/mainloop/Recorder/outInfo/">'
        '<node name="0" path="/mainloop/Recorder/outInfo/0/">'
        '<attr key="typeIdentifier" type="string">EVTS</attr></node></node></dv>'
    ).encode()
    header = _flat_ioheader(compression=0, table=-1, info=xml)
    data = (
        b"#!AER-DAT4.0\r\n"
        + struct.pack("<i", len(header))
        + header
        + struct.pack("<ii", 0, 0x7FFFFFFF)
        + b"\x00" * 16
    )
    e = err(write(tmp_path, "l.aedat4", data))
    assert e.offset == 18 + len(header) and "does not fit" in str(e)


def _flat_ioheader(compression: int, table: int, info: bytes) -> bytes:
    """A hand-built IOHeader flatbuffer: root offset, vtable (3 fields), table, string."""
    # layout: [0] u32 root -> 16; [4..14) vtable; [16] table: i32 soffset, i32 compression,
    # i64 table position, u32 string offset; then the string
    vt = struct.pack("<HHHHH", 10, 20, 4, 8, 16)
    table_pos = 16
    string_pos = table_pos + 20
    tbl = struct.pack("<iiqI", table_pos - 4, compression, table, string_pos - (table_pos + 16))
    buf = struct.pack("<I", table_pos) + vt + b"\x00\x00" + tbl
    return buf + struct.pack("<I", len(info)) + info + b"\x00"


def test_aedat4_events_from_hand_built_file(tmp_path):
    """Uncompressed AEDAT 4: a hand-built event packet decodes to its events; another stream's
    packet (id 1, not events) is skipped."""
    xml = (
        '<dv version="2.0"><node name="outInfo" path="/mainloop/Recorder/outInfo/">'
        '<node name="0" path="/mainloop/Recorder/outInfo/0/">'
        '<attr key="typeIdentifier" type="string">EVTS</attr>'
        '<node name="info" path="/x/"><attr key="sizeX" type="int">64</attr>'
        '<attr key="sizeY" type="int">48</attr></node></node>'
        '<node name="1" path="/mainloop/Recorder/outInfo/1/">'
        '<attr key="typeIdentifier" type="string">IMUS</attr></node></node></dv>'
    ).encode()
    header = _flat_ioheader(compression=0, table=-1, info=xml)
    events = [(100, 3, 4, 1), (150, 63, 47, 0)]
    # packet: root -> table at 12; vtable at 4 (size 6, table 8, field 0 at 4)
    vec = struct.pack("<I", len(events)) + b"".join(struct.pack("<qhh?3x", *e) for e in events)
    pkt = (
        struct.pack("<I", 12)
        + struct.pack("<HHH", 6, 8, 4)
        + b"\x00\x00"
        + struct.pack("<iI", 12 - 4, 4)
        + vec
    )
    data = (
        b"#!AER-DAT4.0\r\n"
        + struct.pack("<i", len(header))
        + header
        + struct.pack("<ii", 1, 5)
        + b"junk!"
        + struct.pack("<ii", 0, len(pkt))
        + pkt
    )
    ev = io.read(write(tmp_path, "hand.aedat4", data))
    assert ev.t.tolist() == [100, 150] and ev.x.tolist() == [3, 63] and ev.y.tolist() == [4, 47]
    assert ev.p.tolist() == [1, 0] and (ev.width, ev.height, ev.size_source) == (64, 48, "header")


def test_npy_absurd_seconds(tmp_path):
    """Found by the reader fuzz (a warning, then garbage times): t beyond int64 us."""
    path = tmp_path / "big.npy"
    np.save(path, np.array([[1, 2, 1e300, 1]]))
    e = err(path)
    assert "too large" in str(e)


def test_aedat3_polarity_packet(tmp_path):
    """Hand-built AEDAT 3.1: valid and invalid polarity events, overflow bits, a skipped
    packet of another type."""

    def pol(x, y, p, valid, ts):
        return struct.pack("<Ii", (x << 17) | (y << 2) | (p << 1) | valid, ts)

    body = pol(5, 6, 1, 1, 10) + pol(7, 8, 0, 0, 11) + pol(9, 1, 0, 1, 12)
    pkt = struct.pack("<hhiiiiii", 1, 0, 8, 4, 2, 3, 3, 2) + body
    other = struct.pack("<hhiiiiii", 2, 0, 4, 0, 0, 1, 1, 1) + b"\x00" * 4
    data = b"#!AER-DAT3.1\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n" + other + pkt
    ev = io.read(write(tmp_path, "a.aedat3", data))
    assert ev.x.tolist() == [5, 9] and ev.y.tolist() == [6, 1] and ev.p.tolist() == [1, 0]
    assert ev.t.tolist() == [(2 << 31) | 10, (2 << 31) | 12] and ev.width == 128


# ------------------------------------------------------------------- fuzzing
@needs_kernels
@settings(max_examples=FUZZ, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(KINDS),
    data=st.binary(max_size=400),
    sensor=st.sampled_from([(0, 0), (64, 48), (2048, 2048)]),
)
def test_fuzz_decoders_match_reference(kind, data, sensor):
    """Random bytes: the C++ decoder never crashes and agrees with the reference (events,
    state and bytes consumed; on an error, its code and byte offset)."""
    a = _decode.decode(data, kind, None, *sensor, backend="cpp")
    b = _decode.decode(data, kind, None, *sensor, backend="reference")
    assert (a.error, a.error_offset) == (b.error, b.error_offset)
    assert 0 <= a.consumed <= len(data)
    if not a.error:
        assert a.consumed == b.consumed
        for k in ("x", "y", "t", "p"):
            np.testing.assert_array_equal(getattr(a, k), getattr(b, k))
        np.testing.assert_array_equal(a.state, b.state)


@needs_kernels
@settings(max_examples=FUZZ, deadline=None)
# found by this test: a one-word block holding a 12-event vector got a capacity of 1 and
# the decoder could never make progress (fixed: capped calls get room for 32 events)
@example(kind="evt3", words=[0] * 10 + [3], cut=1, cap=1)
@given(
    kind=st.sampled_from(["evt2", "evt21", "evt21_legacy", "evt3"]),
    words=st.lists(st.integers(0, 0xFFFF), max_size=300),
    cut=st.integers(1, 64),
    cap=st.integers(1, 50),
)
def test_fuzz_split_and_capped_equals_whole(kind, words, cut, cap):
    """Valid-type words decoded in pieces (state carried, capacity-limited calls) equal the
    one-shot decode."""
    keep = {
        "evt2": (0, 1, 8),
        "evt21": (0, 1, 8),
        "evt21_legacy": (0, 1, 8),
        "evt3": (0, 2, 3, 4, 5, 6, 8),
    }[kind]
    ws = _decode.WORD_SIZE[kind]
    arr = np.array(words, dtype=np.uint64)
    shift = {2: 12, 4: 28, 8: 60}[ws]
    arr = (arr * np.uint64(0x9E3779B97F4A7C15 if ws == 8 else 1)) % np.uint64(
        1 << (8 * ws) - 4 if ws < 8 else 1 << 60
    )
    types = np.array(keep, dtype=np.uint64)[np.arange(len(arr)) % len(keep)]
    arr = arr | (types << np.uint64(shift))
    data = arr.astype({2: "<u2", 4: "<u4", 8: "<u8"}[ws]).tobytes()
    if kind == "evt21_legacy":  # high 32-bit half first
        data = np.frombuffer(data, "<u4").reshape(-1, 2)[:, ::-1].tobytes()
    whole = _decode.decode(data, kind, backend="cpp")
    assert whole.error == 0
    state, pos, parts = None, 0, []
    while pos < len(data):
        end = min(len(data), pos + cut * ws)
        blk = _decode.decode(data[pos:end], kind, state, max_events=max(cap, 32), backend="cpp")
        assert blk.error == 0
        parts.append(blk.t)
        state, pos = blk.state, pos + blk.consumed
        assert blk.consumed > 0
    np.testing.assert_array_equal(np.concatenate(parts) if parts else whole.t[:0], whole.t)


@settings(
    max_examples=max(20, FUZZ // 4),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
# found by this test (long run): a .npy header cut and followed by junk made numpy raise
# tokenize.TokenError instead of ValueError
@example(fmt="npy", junk=b"\x00" * 9 + b"{", keep=118)
@given(
    fmt=st.sampled_from(["raw", "dat", "aedat2", "aedat3", "aedat4", "bin", "npz", "npy", "hdf5"]),
    junk=st.binary(max_size=300),
    keep=st.integers(0, 400),
)
def test_fuzz_readers_only_raise_event_file_error(tmp_path, fmt, junk, keep):
    """A valid file's head with random bytes after it (or cut short) reads or raises
    EventFileError; nothing else (no crash, no other exception)."""
    ev = Events(
        np.array([1, 2, 3], np.int16),
        np.array([1, 1, 2], np.int16),
        np.array([5, 9, 70], np.int64),
        np.array([1, 0, 1], np.uint8),
        34,
        34,
    )
    path = tmp_path / f"f.{fmt}"
    if fmt == "aedat3":
        base = b"#!AER-DAT3.1\r\n#!END-HEADER\r\n"
    elif fmt == "aedat4":
        base = b"#!AER-DAT4.0\r\n"
    else:
        if fmt == "hdf5":
            pytest.importorskip("h5py")
        io.write(path, ev, format=fmt)
        base = path.read_bytes()
    path.write_bytes(base[:keep] + junk)
    try:
        io.read(path, format=fmt)
    except io.EventFileError:
        pass


@pytest.mark.parametrize("backend_kernel", [True, False])
def test_decreasing_time_is_reported(tmp_path, monkeypatch, backend_kernel):
    """EVT2 events with t_low 9 then 4 under one TIME_HIGH: time goes back at event 1."""
    if not backend_kernel:
        monkeypatch.setattr(_decode, "has_kernel", lambda: False)
    words = np.array(
        [0x80000001, 0x10000000 | (9 << 22) | (5 << 11) | 7, (4 << 22) | (6 << 11) | 7], "<u4"
    ).tobytes()
    e = err(write(tmp_path, "b.raw", EVT2_HEAD + words))
    assert "decrease at event 1" in str(e) and "(73 -> 68 us)" in str(e)


@pytest.mark.parametrize(
    "t_low, by, message",
    [
        ([9, 4, 12], {"n_events": 2}, "event 1 (73 -> 68 us)"),  # back inside block 1
        ([9, 4, 12], {"dt_us": 1}, "(73 -> 68 us)"),
        ([9, 12, 4], {"n_events": 3}, "event 2 (76 -> 68 us)"),  # back at block 2's start
        ([9, 12, 4], {"dt_us": 1}, "(76 -> 68 us)"),
    ],
)
def test_decreasing_time_is_reported_when_streaming(tmp_path, monkeypatch, t_low, by, message):
    """Blocks of 3 EVT2 words (TIME_HIGH + 2 events, then 1 event): a decoded block is
    order-checked once for all its chunks; one out of order (inside or against the block
    before) still raises in the chunk that holds the decrease."""
    from ezsr.io import _stream

    monkeypatch.setattr(_stream, "BLOCK_BYTES", 12)
    cd = [0x80000001] + [(v << 22) | (6 << 11) | 7 for v in t_low]
    path = write(tmp_path, "b.raw", EVT2_HEAD + np.array(cd, "<u4").tobytes())
    seen = []
    with pytest.raises(io.EventFileError, match="decrease at") as e:
        for c in io.iter_chunks(path, **by):
            seen.append(c.t.tolist())
    assert message in str(e.value)
    assert all(t == sorted(t) for t in seen)


@needs_kernels
@settings(max_examples=FUZZ, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["evt2", "dat"]),
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 600),
    odd=st.sampled_from([0, 3, 30]),
    sensor=st.sampled_from([(0, 0), (640, 480), (640, 0)]),
)
def test_fuzz_runs_match_reference(kind, seed, n, odd, sensor):
    """Mostly valid streams (long runs of CD words / increasing records, as real files are,
    which the C++ decoders take in bulk) with a few odd words mixed in: out-of-sensor pixels,
    EVT2 TIME_HIGH steps back (wraps), t_low steps back, skipped and undefined words, .dat
    counter wraps and steps back. The C++ decoder must agree with the reference exactly."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 640, n).astype(np.uint32)
    y = rng.integers(0, 480, n).astype(np.uint32)
    bad = rng.integers(0, 1000, n) < odd  # per mille of odd words
    x[bad & (rng.integers(0, 2, n) == 0)] += 640
    y[bad & (rng.integers(0, 2, n) == 1)] += 480
    if kind == "evt2":
        w = (
            (rng.integers(0, 2, n).astype(np.uint32) << 28)
            | (rng.integers(0, 64, n).astype(np.uint32) << 22)
            | (x << 11)
            | y
        )
        th = np.cumsum(rng.integers(0, 2, n)).astype(np.int64) - rng.integers(0, 2, n) * bad
        is_th = rng.integers(0, 40, n) == 0
        w[is_th] = (np.uint32(8) << 28) | (th[is_th] & 0x0FFFFFFF).astype(np.uint32)
        other = bad & (rng.integers(0, 3, n) == 0)
        w[other] = (rng.choice([2, 0xA, 0xE], other.sum()).astype(np.uint32) << 28) | 5
        w[0] = np.uint32(8) << 28  # a TIME_HIGH first, so the events count
        data = w.astype("<u4").tobytes()
    else:
        raw = np.cumsum(rng.integers(0, 3, n)).astype(np.int64)
        raw[bad & (rng.integers(0, 2, n) == 0)] -= 5
        raw[rng.integers(0, 500, n) == 0] += (1 << 32) - 100  # near the 32-bit wrap
        rec = np.empty((n, 2), "<u4")
        rec[:, 0] = (raw & 0xFFFFFFFF).astype(np.uint32)
        rec[:, 1] = x | (y << 14) | (rng.integers(0, 16, n).astype(np.uint32) << 28)
        data = rec.tobytes()
    a = _decode.decode(data, kind, None, *sensor, backend="cpp")
    b = _decode.decode(data, kind, None, *sensor, backend="reference")
    assert (a.error, a.error_offset, a.consumed) == (b.error, b.error_offset, b.consumed)
    for k in ("x", "y", "t", "p"):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k))
    np.testing.assert_array_equal(a.state, b.state)


@pytest.mark.parametrize("back_at", [1, 5, 9])
def test_evt2_time_step_back_inside_a_run(tmp_path, back_at):
    """Ten CD words after one TIME_HIGH (decoded in bulk by the C++ run loop): a t_low that
    goes down at word `back_at` is reported as unsorted at that event, t = 64 + t_low us."""
    t_low = list(range(10, 20))
    t_low[back_at] = 2
    words = [0x80000001] + [(1 << 28) | (tl << 22) | (3 << 11) | 4 for tl in t_low]
    e = err(write(tmp_path, "b.raw", EVT2_HEAD + np.array(words, "<u4").tobytes()))
    assert f"at event {back_at} ({64 + t_low[back_at - 1]} -> 66 us)" in str(e)
