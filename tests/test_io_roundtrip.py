"""write -> read round trips for every writable format (synthetic streams, empty ones
included), chunked iteration vs whole reads, format detection and overrides."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ezsr import io
from ezsr.events import Events

# format name, extension, sensor (W, H), largest t the format holds
WRITABLE = [
    ("npz", ".npz", (640, 480), 1 << 40),
    ("npy", ".npy", (200, 150), 1 << 30),
    ("hdf5", ".h5", (346, 260), 1 << 40),
    ("bin", ".bin", (34, 34), 1 << 23),
    ("raw", ".raw", (1280, 720), 1 << 40),
    ("evt2", ".raw", (640, 480), 1 << 34),
    ("evt21", ".raw", (640, 480), 1 << 34),
    ("evt21_legacy", ".raw", (1280, 720), 1 << 34),
    ("evt3", ".raw", (1280, 720), 1 << 40),
    ("dat", ".dat", (304, 240), 1 << 32),
    ("aedat2", ".aedat", (128, 128), 1 << 31),
    ("aedat2", ".aedat", (346, 260), 1 << 31),
]
IDS = [f"{f}-{w}x{h}" for f, _, (w, h), _ in WRITABLE]


def synthetic(n: int, w: int, h: int, t_max: int, seed: int = 0) -> Events:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, t_max, n, dtype=np.int64))
    return Events(
        rng.integers(0, w, n).astype(np.int16),
        rng.integers(0, h, n).astype(np.int16),
        t,
        rng.integers(0, 2, n).astype(np.uint8),
        w,
        h,
    )


def same(a: Events, b: Events) -> bool:
    return all(torch.equal(getattr(a, k).long(), getattr(b, k).long()) for k in "xytp")


@pytest.mark.parametrize("fmt,ext,size,t_max", WRITABLE, ids=IDS)
@pytest.mark.parametrize("n", [0, 1, 5000])
def test_round_trip(tmp_path, fmt, ext, size, t_max, n):
    if fmt == "hdf5":
        pytest.importorskip("h5py")
    ev = synthetic(n, *size, min(t_max, 1 << 36))
    path = tmp_path / f"s{ext}"
    io.write(path, ev, format=fmt)
    back = io.read(path)
    assert len(back) == n and same(back, ev)
    if fmt in ("hdf5", "raw", "evt2", "evt21", "evt21_legacy", "evt3", "dat"):
        assert (back.width, back.height, back.size_source) == (*size, "header")
    if n:
        parts = list(io.iter_chunks(path, n_events=999))
        assert [len(c) for c in parts[:-1]] == [999] * (len(parts) - 1)
        assert same(Events.concat(parts), ev)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(0, 300),
    seed=st.integers(0, 2**16),
    span=st.sampled_from([10, 5000, 1 << 24, 1 << 33]),
    fmt=st.sampled_from(["evt2", "evt21", "evt21_legacy", "evt3", "dat"]),
)
def test_round_trip_random_prophesee(tmp_path_factory, n, seed, span, fmt):
    """Times crossing the EVT2 (2^34) / EVT3 (2^24) / DAT counters and long gaps."""
    if fmt == "dat":
        span = min(span, (1 << 32) - 1)
    rng = np.random.default_rng(seed)
    t0 = int(rng.integers(0, 1 << 30)) if fmt != "dat" else 0
    ev = synthetic(n, 1280 if fmt == "evt3" else 640, 480, span, seed)
    ev = Events(ev.x, ev.y, ev.t + t0, ev.p, ev.width, ev.height)
    path = tmp_path_factory.mktemp("rt") / "s.raw"
    io.write(path, ev, format=fmt)
    assert same(io.read(path, format="dat" if fmt == "dat" else None), ev)


def test_time_chunks_are_windows(tmp_path):
    ev = synthetic(20000, 640, 480, 1_000_000)
    path = tmp_path / "s.raw"
    io.write(path, ev, format="evt2")
    want = list(ev.time_windows(33_000))
    got = list(io.iter_chunks(path, dt_us=33_000))
    assert len(got) == len(want)
    assert all(same(a, b) for a, b in zip(got, want))


@pytest.mark.parametrize("block_bytes, per_search", [(64, 4096), (4096, 4096), (4096, 3)])
def test_time_chunks_across_blocks_and_gaps(tmp_path, monkeypatch, block_bytes, per_search):
    """Small file blocks put many 1 ms boundaries in some blocks, none in others, and split
    chunks across blocks; time gaps give empty chunks; a small per_search finds a block's
    boundaries in several searches. The chunks equal Events.time_windows of the whole
    stream."""
    from ezsr.io import _stream

    a = synthetic(3000, 1280, 480, 40_000, seed=1)
    b = synthetic(2000, 1280, 480, 5_000, seed=2)
    gap = 70_500  # 70 empty 1 ms chunks between the bursts
    ev = Events(
        torch.cat([a.x, b.x]),
        torch.cat([a.y, b.y]),
        torch.cat([a.t, b.t + int(a.t[-1]) + gap]),
        torch.cat([a.p, b.p]),
        1280,
        480,
    )
    path = tmp_path / "s.raw"
    io.write(path, ev, format="evt3")
    monkeypatch.setattr(_stream, "BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(_stream, "BOUNDARIES_PER_SEARCH", per_search)
    want = list(ev.time_windows(1000))
    got = list(io.iter_chunks(path, dt_us=1000))
    assert sum(1 for w in want if not len(w)) >= 70
    assert [len(c) for c in got] == [len(w) for w in want]
    assert all(same(c, w) for c, w in zip(got, want))


def test_detection_header_beats_extension_and_override(tmp_path):
    ev = synthetic(100, 640, 480, 10_000)
    path = tmp_path / "looks_like.dat"
    io.write(path, ev, format="evt3")  # EVT3 content behind a .dat name
    back, fmt = io.read(path, return_format=True)
    assert fmt == "evt3" and same(back, ev)  # the EVT version decoded, not "raw"
    with pytest.raises(io.EventFileError):
        io.read(path, format="dat")  # override honoured: not a .dat header
    npy = tmp_path / "x.npy"
    io.write(npy, ev)
    assert io.read(npy, return_format=True)[1] == "npy"


def test_eventclip_npy_units(tmp_path):
    """x, y, t in seconds, p in {-1, +1}: hand-made array."""
    a = np.array([[3, 4, 0.5, -1], [5, 6, 1.25, 1]], dtype=np.float32)
    path = tmp_path / "e.npy"
    np.save(path, a)
    ev = io.read(path)
    assert ev.t.tolist() == [500000, 1250000] and ev.p.tolist() == [0, 1]
    assert ev.x.tolist() == [3, 5] and (ev.width, ev.height, ev.size_source) == (6, 7, "data")


def test_hdf5_external_layout(tmp_path):
    """A v2e-style file without size attributes: size from the data."""
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "v2e.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("events")
        g["x"], g["y"] = np.array([1, 9], np.uint16), np.array([2, 3], np.uint16)
        g["t"], g["p"] = np.array([10, 20], np.int64), np.array([1, 0], np.int8)
    ev = io.read(path)
    assert (ev.width, ev.height, ev.size_source) == (10, 4, "data") and ev.p.tolist() == [1, 0]


@pytest.mark.parametrize(
    "fmt,ext",
    [("evt3", ".raw"), ("evt2", ".raw"), ("dat", ".dat"), ("aedat2", ".aedat"), ("bin", ".bin")],
)
def test_iter_chunks_streams(tmp_path, monkeypatch, fmt, ext):
    """The first chunk arrives after reading a couple of blocks, not the whole file."""
    from ezsr.io import _stream

    ev = synthetic(200_000, 34 if fmt == "bin" else 128, 34 if fmt == "bin" else 128, (1 << 23) - 1)
    path = tmp_path / f"s{ext}"
    io.write(path, ev, format=fmt)
    read_bytes = []

    class Counting:
        def __init__(self, f):
            self.f = f

        def read(self, n=-1):
            b = self.f.read(n)
            read_bytes.append(len(b))
            return b

        def __getattr__(self, k):
            return getattr(self.f, k)

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.f.close()

    monkeypatch.setattr(_stream, "BLOCK_BYTES", 4096)
    monkeypatch.setattr(_stream, "open", lambda p, m: Counting(open(p, m)), raising=False)
    it = io.iter_chunks(path, n_events=300)
    first = next(it)
    assert len(first) == 300 and same(first, ev[:300])
    assert sum(read_bytes) <= 3 * 4096 < path.stat().st_size / 10
