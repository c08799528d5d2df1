"""Property-based fuzzing of every public op: histograms, voxel grid, time surface, every
representation, EZSR preprocessing and the simulator, compiled kernel against its pure-torch
reference (ezsr._ext.reference_only) on random inputs: random sizes, empty streams and
batches, coordinates at and beyond the sensor edges (up to the dtype's extremes), negative,
non-monotonic and extreme timestamps, extreme counts on one pixel, and 1-4 CPU threads.
Each op equals its reference or both raise the same named exception.

CI runs a few examples per property; the campaign (docs/reliability.md) sets more:
    EZSR_FUZZ_EXAMPLES=2000 python -m pytest -q tests/test_fuzz_ops.py
    OMP_THREAD_LIMIT=2 EZSR_FUZZ_EXAMPLES=500 python -m pytest -q tests/test_fuzz_ops.py
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from _op_checks import OPS, check_ops
from conftest import needs_kernels
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ezsr import EventBatch, _ext
from ezsr.ops import ezsr_preprocess

EXAMPLES = int(os.environ.get("EZSR_FUZZ_EXAMPLES", "25"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=EXAMPLES <= 25,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

INT_RANGE = {torch.int16: (-(2**15), 2**15 - 1), torch.int32: (-(2**31), 2**31 - 1)}
T_MIN, T_MAX = -(2**63), 2**63 - 1


@st.composite
def batches(draw):
    """An EventBatch of 1-4 streams (some empty) on a small or odd-sized sensor."""
    width = draw(st.sampled_from([1, 2, 3, 7, 16, 33]) | st.integers(1, 90))
    height = draw(st.sampled_from([1, 2, 5, 12, 31]) | st.integers(1, 70))
    lengths = draw(
        st.lists(
            st.sampled_from([0, 1, 2, 3]) | st.integers(0, 300) | st.sampled_from([2000, 6000]),
            min_size=1,
            max_size=4,
        )
    )
    n = sum(lengths)
    dtype = draw(st.sampled_from([torch.int16, torch.int32]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    lo, hi = INT_RANGE[dtype]
    coords = draw(st.sampled_from(["inside", "edges", "beyond", "extreme", "one_pixel"]))

    def coord(size):
        if coords == "inside":
            return rng.integers(0, size, n)
        if coords == "edges":  # 0, size - 1 and one past either edge
            return rng.choice(np.array([-1, 0, size - 1, size]), n)
        if coords == "beyond":
            return rng.integers(-3, size + 3, n)
        if coords == "extreme":
            return rng.choice(np.array([lo, lo + 1, -1, 0, size - 1, size, hi - 1, hi]), n)
        return np.full(n, size - 1)  # every event on one pixel: extreme counts

    x, y = coord(width), coord(height)
    times = draw(
        st.sampled_from(["sorted", "equal", "negative", "unsorted", "extreme", "huge_span"])
    )
    if times == "sorted":
        t = rng.integers(0, 10**6, n)
    elif times == "equal":
        t = np.full(n, 7)
    elif times == "negative":
        t = rng.integers(-(10**9), 0, n)
    elif times == "unsorted":
        t = rng.integers(-1000, 1000, n)
    elif times == "extreme":
        t = rng.choice(np.array([T_MIN, T_MIN + 1, -1, 0, 1, T_MAX - 1, T_MAX], np.int64), n)
    else:
        t = rng.integers(-(2**62), 2**62, n)
    if times not in ("unsorted", "extreme"):  # sorted inside each stream
        off = np.cumsum([0] + lengths)
        t = (
            np.concatenate([np.sort(t[off[i] : off[i + 1]]) for i in range(len(lengths))])
            if n
            else t
        )
    p = rng.integers(0, 2, n).astype(np.uint8)
    offsets = torch.tensor(np.cumsum([0] + lengths), dtype=torch.int64)
    return EventBatch(
        torch.from_numpy(x).to(dtype),
        torch.from_numpy(y).to(dtype),
        torch.from_numpy(t.astype(np.int64)),
        torch.from_numpy(p),
        offsets,
        width,
        height,
    )


@pytest.fixture(autouse=True)
def restore_threads():
    saved = torch.get_num_threads()
    yield
    torch.set_num_threads(saved)


@needs_kernels
@SETTINGS
@given(
    batch=batches(),
    threads=st.integers(1, 4),
    names=st.lists(st.sampled_from(sorted(OPS)), min_size=1, max_size=4, unique=True),
)
def test_fuzz_ops_equal_their_reference(batch, threads, names):
    torch.set_num_threads(threads)
    check_ops(batch, names)


@needs_kernels
@SETTINGS
@given(
    batch=batches(),
    threads=st.integers(1, 4),
    out_size=st.integers(1, 70),
    mode=st.sampled_from(["crop", "squash"]),
)
def test_fuzz_ezsr_preprocess_sizes(batch, threads, out_size, mode):
    torch.set_num_threads(threads)
    got = ezsr_preprocess(batch, out_size, mode, out_of_bounds="ignore")
    with _ext.reference_only():
        want = ezsr_preprocess(batch, out_size, mode, out_of_bounds="ignore")
    assert got.shape == (len(batch), 3, out_size, out_size) and torch.equal(got, want)


@needs_kernels
@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    frames=st.integers(1, 7),
    height=st.integers(1, 40),
    width=st.integers(1, 70),
    threads=st.integers(1, 4),
    gaps=st.sampled_from(["small", "large", "equal", "decreasing"]),
    contrast=st.sampled_from([0.01, 0.05, 0.2, 3.0]),
    sigma=st.sampled_from([0.0, 0.1]),
    refractory=st.sampled_from([0, 1, 50, 10**9]),
    content=st.sampled_from(["random", "constant", "zeros", "ones", "uint8"]),
)
def test_fuzz_simulate_equals_reference(
    seed, frames, height, width, threads, gaps, contrast, sigma, refractory, content
):
    from ezsr.simulate import frames_to_events

    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(seed)
    img = {
        "random": lambda: torch.rand(frames, height, width, generator=g),
        "constant": lambda: torch.full((frames, height, width), 0.5),
        "zeros": lambda: torch.zeros(frames, height, width),
        "ones": lambda: torch.ones(frames, height, width),
        "uint8": lambda: torch.randint(
            0, 256, (frames, height, width), generator=g, dtype=torch.uint8
        ),
    }[content]()
    step = {"small": (1, 5), "large": (10**6, 10**9), "equal": (0, 1), "decreasing": (-5, 1)}
    ts = torch.cumsum(torch.randint(*step[gaps], (frames,), generator=g), 0) - 10**5
    kw = dict(
        contrast_pos=contrast,
        contrast_neg=contrast,
        refractory_us=refractory,
        sigma=sigma,
        seed=seed % 1000,
        chunk_frames=3,
    )
    outcomes = []
    for ref in (False, True):
        try:
            if ref:
                with _ext.reference_only():
                    outcomes.append(frames_to_events(img, ts, **kw))
            else:
                outcomes.append(frames_to_events(img, ts, **kw))
        except (ValueError, TypeError) as exc:
            outcomes.append(exc)
    got, want = outcomes
    if isinstance(got, Exception) or isinstance(want, Exception):
        assert type(got) is type(want), (got, want)
        assert gaps in ("equal", "decreasing") and frames > 1, got  # only bad timestamps
        return
    for c in ("x", "y", "t", "p"):
        assert torch.equal(getattr(got, c), getattr(want, c)), c


@pytest.mark.parametrize("reference", [False, True])
def test_span_beyond_int64_found_by_the_fuzz(reference):
    """Found by test_fuzz_ops_equal_their_reference: a stream from -2^63 + 1 to 2^63 - 2 us
    overflowed t_last - t_first in int64; the kernel gave tau = 1 to the middle event and
    the reference tau = 0 to all. Times are now subtracted in float64: tau = 0, 0.5, 1."""
    from ezsr.ops import time_surface, voxel_grid

    t = torch.tensor([-(2**63) + 1, 0, 2**63 - 2])
    b = EventBatch(
        torch.tensor([0, 1, 2], dtype=torch.int16),
        torch.zeros(3, dtype=torch.int16),
        t,
        torch.ones(3, dtype=torch.uint8),
        torch.tensor([0, 3]),
        3,
        1,
    )
    if reference:
        with _ext.reference_only():
            ts, vg = time_surface(b), voxel_grid(b, 3)
    else:
        ts, vg = time_surface(b), voxel_grid(b, 3)
    assert ts[0, 0, 0].tolist() == [0.0, 0.5, 1.0]
    assert vg[0, :, 0].tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
