"""Every public op, compiled kernel against its pure-torch reference (ezsr._ext.reference_only),
shared by the thread-team tests (tests/test_threads.py, run in subprocesses with OpenMP
environment variables) and the fuzz tests (tests/test_fuzz_ops.py).

check_ops(batch) runs each op once with the kernels and once inside reference_only() and
asserts that both give the same tensor (exactly, or within the float-sum tolerance of the
voxel grid), or that both raise the same named exception. Run as a script
(`python -m tests._op_checks THREADS...`) it checks a fixed set of batches at each thread
count, at top level and inside a nested OpenMP parallel region, and prints "ok".
"""

from __future__ import annotations

import ctypes
import sys
import warnings

import numpy as np
import torch

from ezsr import EventBatch, _ext
from ezsr.ops import (
    REPRESENTATIONS,
    ezsr_preprocess,
    polarity_histogram,
    representation,
    time_surface,
    voxel_grid,
)
from ezsr.simulate import frames_to_events
from ezsr.simulate import kernels as K

# name -> (op(batch), absolute tolerance per unit of the largest |value| (0: exact))
OPS = {
    "histogram": (lambda b: polarity_histogram(b, out_of_bounds="ignore"), 0.0),
    "histogram_resized_capped": (
        lambda b: polarity_histogram(
            b,
            size=(max(1, b.height // 2 + 1), max(1, b.width // 3 + 1)),
            cap=3.0,
            out_of_bounds="ignore",
        ),
        0.0,
    ),
    "voxel_grid_1": (lambda b: voxel_grid(b, 1, out_of_bounds="ignore"), 1e-5),
    "voxel_grid_5": (lambda b: voxel_grid(b, 5, out_of_bounds="ignore"), 1e-5),
    "time_surface": (lambda b: time_surface(b, out_of_bounds="ignore"), 0.0),
    "ezsr_crop": (lambda b: ezsr_preprocess(b, 32, "crop", out_of_bounds="ignore"), 0.0),
    "ezsr_squash": (lambda b: ezsr_preprocess(b, 24, "squash", out_of_bounds="ignore"), 0.0),
}
CORE = list(OPS)  # the ops with their own kernel
for _name in REPRESENTATIONS:
    if _name != "ezsr":
        OPS[f"representation:{_name}"] = (
            lambda b, _n=_name: representation(b, _n),
            1e-5 if _name == "voxel_grid" else 0.0,
        )


def _outcome(fn, batch):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(batch), None
    except (ValueError, TypeError, IndexError, RuntimeError) as exc:  # named errors only
        return None, exc


def _compare(name, got, want, tol):
    assert got.shape == want.shape and got.dtype == want.dtype, (name, got.shape, want.shape)
    if tol == 0.0:
        same = (
            torch.equal(got, want)
            or (torch.isnan(got) == torch.isnan(want)).all()
            and torch.equal(got.nan_to_num(), want.nan_to_num())
        )
        assert same, f"{name}: kernel != reference, max diff {(got - want).abs().max()}"
    else:
        scale = max(1.0, float(want.abs().max())) if want.numel() else 1.0
        # float sums in another order: a few ulp per summed term
        torch.testing.assert_close(got, want, atol=tol * scale, rtol=1e-5, msg=name)


def check_ops(batch: EventBatch, names=None) -> int:
    """Every op in OPS (or `names`) on batch: kernel == reference, or both raise the same
    exception type. Returns how many ops ran to a result (not an error)."""
    ran = 0
    for name in names or OPS:
        fn, tol = OPS[name]
        got, gerr = _outcome(fn, batch)
        with _ext.reference_only():
            want, werr = _outcome(fn, batch)
        if gerr is not None or werr is not None:
            assert type(gerr) is type(werr), f"{name}: kernel raised {gerr!r}, reference {werr!r}"
            continue
        _compare(name, got, want, tol)
        ran += 1
    return ran


def check_simulate(seed: int = 0, frames: int = 6, height: int = 40, width: int = 70) -> int:
    """torch.ops.ezsr.simulate_events and frames_to_events against the reference."""
    g = torch.Generator().manual_seed(seed)
    img = torch.rand(frames, height, width, generator=g)
    ts = torch.cumsum(torch.randint(1, 300, (frames,), generator=g), 0)
    got = frames_to_events(img, ts, 0.15, 0.15, sigma=0.03, seed=seed)
    with _ext.reference_only():
        want = frames_to_events(img, ts, 0.15, 0.15, sigma=0.03, seed=seed)
    for c in ("x", "y", "t", "p"):
        assert torch.equal(getattr(got, c), getattr(want, c)), f"frames_to_events column {c}"
    logf = torch.log(1e-3 + torch.rand(2, frames, height * width, generator=g))
    tsb = torch.cumsum(torch.randint(1, 300, (2, frames), generator=g), 1)
    thr = torch.full((2, height * width), 0.1)
    outs = []
    for fn in (torch.ops.ezsr.simulate_events, K.simulate_reference):
        ref, last = K.new_state(logf[:, 0])
        outs.append(fn(logf, tsb, thr, thr, ref, last, width, 0) + (ref, last))
    for a, b in zip(*outs):
        assert torch.equal(a, b), "simulate_events != simulate_reference"
    return len(got)


def random_batch(lengths, width, height, seed=0, oob=2):
    rng = np.random.default_rng(seed)
    n = sum(lengths)
    x = rng.integers(-oob, width + oob, n).astype(np.int16)
    y = rng.integers(-oob, height + oob, n).astype(np.int16)
    t = (
        np.concatenate([np.sort(rng.integers(-500, 10**6, k)) for k in lengths])
        if n
        else np.zeros(0, np.int64)
    )
    p = rng.integers(0, 2, n).astype(np.uint8)
    off = torch.tensor(np.cumsum([0] + list(lengths)), dtype=torch.int64)
    return EventBatch(
        torch.from_numpy(x),
        torch.from_numpy(y),
        torch.from_numpy(t),
        torch.from_numpy(p),
        off,
        width,
        height,
    )


def _gomp():
    """The OpenMP runtime this process loaded (torch's libgomp, shared with ezsr._C)."""
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "libgomp" in line or "libiomp" in line}
    if not libs:
        raise RuntimeError("no OpenMP runtime loaded")
    return ctypes.CDLL(sorted(libs)[0])


def run_nested(fn, outer: int = 2):
    """Call fn() from every thread of an outer OpenMP parallel region of `outer` threads (a
    user's own parallel code calling ezsr), so the ops' regions are nested. Returns the
    (level, team size) each call saw and re-raises the first exception."""
    gomp = _gomp()
    seen, errors = [], []

    @ctypes.CFUNCTYPE(None, ctypes.c_void_p)
    def body(_):
        seen.append((gomp.omp_get_level(), gomp.omp_get_num_threads()))
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    gomp.GOMP_parallel(body, None, outer, 0)
    if errors:
        raise errors[0]
    return seen


BATCHES = [  # (lengths, width, height): one long stream (the events are split across the
    ([200_000], 346, 260),  # team), fewer streams than threads, and many short streams
    ([60_000, 0, 30_000], 64, 48),
    ([300] * 9 + [0], 32, 24),
]


def main(argv) -> None:
    threads = [int(a) for a in argv] or [1, 2, 3, 4]
    batches = [random_batch(*spec, seed=i) for i, spec in enumerate(BATCHES)]
    for n in threads:
        torch.set_num_threads(n)
        check_ops(batches[0], CORE)  # the compiled kernels on one long stream
        for b in batches[1:]:
            check_ops(b)  # everything, representations included
        check_simulate(seed=n)
        levels = run_nested(
            lambda n=n: [check_ops(b, CORE) for b in batches[:2]] + [check_simulate(seed=n + 10)]
        )
        assert levels and all(level == 1 for level, _ in levels), levels
    print("ok", threads, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
