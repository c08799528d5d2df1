"""Event Stream `.es`: the committed fixtures written and decoded by the `event_stream`
package (tests/fixtures/es/README.md), files written by event_stream at test time when it is
installed, ezsr's writer read back by event_stream, streaming in tiny blocks, bad headers
and truncations, and fuzzing (C++ decoder against the Python reference, reader on junk)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ezsr import io
from ezsr.events import Events
from ezsr.io import _decode, es
from tests.conftest import needs_kernels

FIX = Path(__file__).parent / "fixtures" / "es"
FUZZ = int(os.environ.get("EZSR_FUZZ_EXAMPLES", "150"))


@pytest.fixture(scope="module")
def published():
    return dict(np.load(FIX / "event_stream_decoded.npz"))


def columns(rec, kind):
    """A record array's columns under the fixture's names."""
    if kind == "generic":
        return {
            "t": rec["t"],
            "bytes_len": np.array([len(b) for b in rec["bytes"]]),
            "bytes": np.frombuffer(b"".join(rec["bytes"]), np.uint8),
        }
    names = {"atis": ("t", "x", "y", "e", "p"), "color": ("t", "x", "y", "r", "g", "b")}[kind]
    return {n: rec[n] for n in names}


@pytest.mark.parametrize("kind", ["atis", "color", "generic"])
def test_fixture_records_equal_event_stream(published, kind):
    got, w, h, rec = es.read_records(FIX / f"{kind}_small.es")
    assert got == kind and [w or 0, h or 0] == published[f"{kind}_size"].tolist()
    for name, col in columns(rec, kind).items():
        np.testing.assert_array_equal(col, published[f"{kind}_{name}"], err_msg=name)


def test_fixture_atis_summary_read_and_chunks(published, capsys):
    """ezsr info counts every ATIS event as event_stream does; ezsr.io.read gives the change
    detections (is_tc = 0) with p = polarity, whole or in chunks."""
    from ezsr.cli import main

    path = FIX / "atis_small.es"
    cd = ~published["atis_e"]
    assert main(["info", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["count"] == len(published["atis_t"]) == 3000 and out["type"] == "atis"
    assert out["change_detection"] == cd.sum() and out["threshold_crossing"] == (~cd).sum()
    assert out["on"] == (published["atis_p"] & cd).sum()
    assert (out["t_first"], out["t_last"]) == (published["atis_t"][0], published["atis_t"][-1])
    ev = io.read(path)
    assert (ev.width, ev.height, ev.size_source) == (304, 240, "header")
    for k, ref in (
        ("t", published["atis_t"][cd]),
        ("x", published["atis_x"][cd]),
        ("y", published["atis_y"][cd]),
        ("p", published["atis_p"][cd]),
    ):
        np.testing.assert_array_equal(
            getattr(ev, k).numpy(), ref.astype(np.int64) if k == "t" else ref
        )
    parts = list(io.iter_chunks(path, n_events=100))
    assert [len(c) for c in parts[:-1]] == [100] * (len(parts) - 1)
    assert torch.equal(Events.concat(parts).t, ev.t)


def test_colour_and_generic_are_refused_with_a_clear_error(capsys):
    for kind, words in (("color", "colour events"), ("generic", "generic events")):
        with pytest.raises(io.EventFileError, match=words):
            io.read(FIX / f"{kind}_small.es")
    info = io.summarize(FIX / "color_small.es")
    assert info["count"] == 200 and info["type"] == "color"


def synthetic(n, w=346, h=260, t0=0, seed=0, span=3_000_000):
    rng = np.random.default_rng(seed)
    t = t0 + np.sort(rng.integers(0, span, n, dtype=np.int64))
    return Events(
        rng.integers(0, w, n).astype(np.int16),
        rng.integers(0, h, n).astype(np.int16),
        t,
        rng.integers(0, 2, n).astype(np.uint8),
        w,
        h,
    )


@pytest.mark.parametrize("n", [0, 1, 4000])
def test_round_trip_and_tiny_blocks(tmp_path, monkeypatch, n):
    """write -> read; blocks of 7 bytes split events and overflow runs: the carried time and
    the cut event's bytes must hold."""
    from ezsr.io import _stream

    ev = synthetic(n, t0=50_000)
    path = tmp_path / "s.es"
    io.write(path, ev)
    back, fmt = io.read(path, return_format=True)
    assert fmt == "es" and len(back) == n
    assert all(torch.equal(getattr(back, k).long(), getattr(ev, k).long()) for k in "xytp")
    monkeypatch.setattr(_stream, "BLOCK_BYTES", 7)
    monkeypatch.setattr(_stream, "MAX_EVENTS_PER_CALL", 3)
    parts = list(io.iter_chunks(path, n_events=333))
    if n:
        assert torch.equal(Events.concat(parts).t, ev.t)
        assert torch.equal(Events.concat(parts).x, ev.x)
    monkeypatch.setattr(_decode, "has_kernel", lambda: False)
    slow = io.read(path)
    assert torch.equal(slow.t, ev.t) and torch.equal(slow.p, ev.p)


def test_writer_refuses_what_the_format_cannot_hold(tmp_path):
    ev = synthetic(3)
    with pytest.raises(ValueError, match="rebase"):
        io.write(tmp_path / "a.es", Events(ev.x, ev.y, ev.t + (1 << 40), ev.p, 346, 260))
    with pytest.raises(ValueError, match=">= 0"):
        io.write(tmp_path / "b.es", Events(ev.x, ev.y, ev.t - 10**7, ev.p, 346, 260))


def test_event_stream_package_reads_ezsr_and_ezsr_reads_it(tmp_path):
    """Both directions against the installed event_stream (DVS and ATIS)."""
    event_stream = pytest.importorskip("event_stream")
    ev = synthetic(3000, t0=12_345)
    path = tmp_path / "z.es"
    io.write(path, ev)
    dec = event_stream.Decoder(str(path))
    rec = np.concatenate(list(dec))
    assert (dec.type, dec.width, dec.height) == ("dvs", 346, 260)
    np.testing.assert_array_equal(rec["t"].astype(np.int64), ev.t.numpy())
    np.testing.assert_array_equal(rec["x"], ev.x.numpy())
    np.testing.assert_array_equal(rec["on"], ev.p.numpy() == 1)
    atis = np.zeros(2000, event_stream.atis_dtype)
    rng = np.random.default_rng(5)
    atis["t"] = np.cumsum(rng.integers(0, 700, 2000))
    atis["x"], atis["y"] = rng.integers(0, 640, 2000), rng.integers(0, 480, 2000)
    atis["exposure"], atis["polarity"] = rng.integers(0, 2, (2, 2000)) == 1
    apath = tmp_path / "a.es"
    with event_stream.Encoder(str(apath), "atis", 640, 480) as enc:
        enc.write(atis)
    n_published = sum(len(c) for c in event_stream.Decoder(str(apath)))
    assert io.summarize(apath)["count"] == n_published == 2000
    cd = ~atis["exposure"]
    back = io.read(apath)
    np.testing.assert_array_equal(back.t.numpy(), atis["t"][cd].astype(np.int64))
    np.testing.assert_array_equal(back.p.numpy(), atis["polarity"][cd])


HEAD = es.MAGIC + bytes([2, 0, 0, 1, 10, 0, 10, 0])


@pytest.mark.parametrize(
    "data,offset,words",
    [
        (b"Event Strea", 0, "'Event Stream'"),
        (es.MAGIC + bytes([1, 0, 0, 1]), 12, "version 1.0.0"),
        (es.MAGIC + bytes([2, 0, 0, 3]), 15, "type byte 3"),
        (es.MAGIC + bytes([2, 0, 0, 2, 10]), 17, "width and height"),
        (es.MAGIC + bytes([2, 0, 0, 1, 0, 0, 10, 0]), 16, "0x10"),
        (HEAD + bytes([2, 3, 0, 4, 0, 0xFF, 2, 1]), 26, "cut after 2 of its 5 bytes"),
        (HEAD + bytes([2, 3, 0, 4, 0, 4, 12, 0, 1, 0]), 25, "inside the header's sensor"),
    ],
)
@pytest.mark.parametrize("kernel", [True, False])
def test_bad_files(tmp_path, monkeypatch, data, offset, words, kernel):
    if not kernel:
        monkeypatch.setattr(_decode, "has_kernel", lambda: False)
    path = tmp_path / "bad.es"
    path.write_bytes(data)
    for call in (io.read, lambda p: list(io.iter_chunks(p, n_events=2)), io.summarize):
        with pytest.raises(io.EventFileError) as e:
            call(path)
        assert e.value.offset == offset and words in str(e.value) and str(path) in str(e.value)


@needs_kernels
@settings(max_examples=FUZZ, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["es_dvs", "es_atis"]),
    data=st.binary(max_size=300),
    cut=st.integers(1, 40),
    cap=st.integers(1, 20),
)
def test_fuzz_split_and_capped_equals_whole(kind, data, cut, cap):
    """Any bytes decoded in pieces (time and cut events carried over, capped calls) give the
    one-shot decode, which equals the Python reference."""
    whole = _decode.decode(data, kind, backend="cpp")
    ref = _decode.decode(data, kind, backend="reference")
    np.testing.assert_array_equal(whole.t, ref.t)
    np.testing.assert_array_equal(whole.p, ref.p)
    state, pos, parts, buf = None, 0, [], b""
    while pos < len(data) or buf:
        buf += data[pos : pos + cut]
        pos += cut
        while buf:  # decode what is held until the decoder wants more bytes
            blk = _decode.decode(buf, kind, state, max_events=cap, backend="cpp")
            assert blk.error == 0
            parts.append(blk.t)
            state, buf = blk.state, buf[blk.consumed :]
            if blk.consumed == 0:
                break
        if pos >= len(data):
            break
    assert len(buf) < 5  # only a cut event is left over
    got = np.concatenate(parts) if parts else whole.t[:0]
    np.testing.assert_array_equal(got, whole.t)


@settings(
    max_examples=max(20, FUZZ // 4),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(junk=st.binary(max_size=300), keep=st.integers(0, 60), kind=st.sampled_from([1, 2, 4]))
def test_fuzz_reader_only_raises_event_file_error(tmp_path, junk, keep, kind):
    path = tmp_path / "f.es"
    path.write_bytes((es.MAGIC + bytes([2, 0, 0, kind, 64, 0, 48, 0]))[:keep] + junk)
    for call in (io.read, io.summarize):
        try:
            call(path)
        except io.EventFileError:
            pass
