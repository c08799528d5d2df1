"""ezsr.ops.voxel_grid / time_surface: kernels vs the pure-torch references and by hand."""

import pytest
import torch
from conftest import needs_cuda, needs_kernels, random_batch

from ezsr import EventBatch, Events
from ezsr.ops import time_surface, time_surface_reference, voxel_grid, voxel_grid_reference

CASES = {
    "random": dict(lengths=[1000, 0, 3000, 17]),
    "empty": dict(lengths=[0]),
    "empty_batch_of_three": dict(lengths=[0, 0, 0]),
    "one_event": dict(lengths=[1]),
    "one_pixel": dict(lengths=[2000], one_pixel=True),
    "border_and_out_of_range": dict(lengths=[500, 500], oob=3),
    "same_timestamp": dict(lengths=[300], same_time=True),
    "one_long_stream": dict(lengths=[200_000]),  # the split-across-threads path
    "large_counts": dict(lengths=[100_000], width=4, height=3),
}


def _args(b):
    return b.x, b.y, b.t, b.p, b.offsets, b.width, b.height


@needs_kernels
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [torch.int16, torch.int32])
@pytest.mark.parametrize("bins", [1, 5])
def test_voxel_grid_matches_reference(case, dtype, bins, device):
    b = random_batch(dtype=dtype, device=device, **CASES[case])
    got = voxel_grid(b, bins, out_of_bounds="ignore")
    want, dropped = voxel_grid_reference(*_args(b), bins)
    assert got.shape == (len(b), bins, b.height, b.width)
    # float sums in another order: tolerance relative to the number of summed terms
    tol = 1e-6 * max(1, int(want.abs().max()) if want.numel() else 1) * 50
    torch.testing.assert_close(got, want, atol=tol, rtol=1e-5)
    _, kd = torch.ops.ezsr.voxel_grid(*_args(b), bins)
    assert torch.equal(kd, dropped)


@needs_kernels
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [torch.int16, torch.int32])
def test_time_surface_matches_reference(case, dtype, device):
    b = random_batch(dtype=dtype, device=device, **CASES[case])
    got = time_surface(b, out_of_bounds="ignore")
    want, dropped = time_surface_reference(*_args(b))
    assert torch.equal(got, want)  # a max is exact
    _, kd = torch.ops.ezsr.time_surface(*_args(b))
    assert torch.equal(kd, dropped)


def test_voxel_grid_by_hand():
    # t = 0, 50, 100 over 3 bins: tau*(bins-1) = 0, 1, 2
    e = Events([0, 1, 1, 0], [0, 0, 0, 1], [0, 50, 75, 100], [1, 0, 1, 1], width=2, height=2)
    g = voxel_grid(e, bins=3)[0]
    want = torch.zeros(3, 2, 2)
    want[0, 0, 0] = 1.0  # ON at tau 0
    want[1, 0, 1] = -1.0  # OFF at tau 0.5 -> bin 1 exactly
    want[1, 0, 1] += 0.5  # ON at tau 0.75 -> pos 1.5: half to bin 1, half to bin 2
    want[2, 0, 1] = 0.5
    want[2, 1, 0] = 1.0  # ON at tau 1 -> last bin
    assert torch.equal(g, want)
    # polarity is conserved: each event's weights sum to +-1
    assert float(g.sum()) == pytest.approx(1 - 1 + 1 + 1)


def test_time_surface_by_hand():
    e = Events([0, 0, 1, 1], [0, 0, 1, 1], [10, 20, 30, 50], [1, 1, 0, 0], width=2, height=2)
    s = time_surface(e)[0]
    assert s[0, 0, 0] == pytest.approx(0.25)  # latest ON at (0,0): (20-10)/40
    assert s[1, 1, 1] == 1.0  # latest OFF at (1,1): t_last
    assert s.sum() == pytest.approx(1.25)


def test_reference_fallback_matches_kernel_semantics_on_unsorted_streams():
    # unsorted t: tau is clamped into [0, 1], never out of range
    e = Events([0, 1, 0], [0, 0, 0], [100, 0, 50], [1, 1, 1], width=2, height=1, validate=False)
    b = EventBatch(e.x, e.y, e.t, e.p, torch.tensor([0, 3]), 2, 1)
    want, _ = voxel_grid_reference(*_args(b), 3)
    assert float(want.sum()) == pytest.approx(3.0)
    s, _ = time_surface_reference(*_args(b))
    assert float(s.max()) <= 1.0


def test_errors_are_named():
    b = random_batch([10, 10])
    with pytest.raises(ValueError, match="bins"):
        voxel_grid(b, bins=0)
    b.offsets = torch.tensor([0, 15, 12])
    with pytest.raises(ValueError, match="offsets"):
        time_surface(b)
    e = Events([0, 5], [0, 0], [0, 1], [1, 1], width=2, height=2)
    with pytest.warns(UserWarning, match="1 events lie outside"):
        voxel_grid(e)
    with pytest.raises(ValueError, match="outside the 2x2 sensor"):
        time_surface(e, out_of_bounds="error")


@needs_kernels
def test_kernel_rejects_bad_columns():
    b = random_batch([10])
    with pytest.raises(RuntimeError, match="'t'"):
        torch.ops.ezsr.time_surface(b.x, b.y, b.t.int(), b.p, b.offsets, 64, 48)
    with pytest.raises(RuntimeError, match="offsets"):
        torch.ops.ezsr.voxel_grid(b.x, b.y, b.t, b.p, torch.tensor([0, 9]), 64, 48, 3)


@needs_kernels
def test_opcheck():
    b = random_batch([100, 0, 50])
    torch.library.opcheck(torch.ops.ezsr.voxel_grid.default, (*_args(b), 4))
    torch.library.opcheck(torch.ops.ezsr.time_surface.default, _args(b))


@needs_cuda
@pytest.mark.parametrize("offsets", [[0, 9], [3, 5], [-4, 2, 8], [0, 3, 1]])
def test_cuda_kernels_skip_events_that_invalid_offsets_put_in_no_stream(offsets):
    """The CUDA ops do not check offsets (that would synchronise): events outside every
    [offsets[b], offsets[b+1]) are skipped and the span lookups stay in range, so unchecked
    offsets never read or write out of bounds (compute-sanitizer runs this in
    benchmarks/gpu_session.sh sanitize). Events that do lie in a stream count as usual."""
    b = random_batch([5], device="cuda")
    off = torch.tensor(offsets, device="cuda")
    n_streams = len(offsets) - 1
    inside = [sum(offsets[k] <= i < offsets[k + 1] for i in range(5)) for k in range(n_streams)]
    h, dropped = torch.ops.ezsr.histogram(b.x, b.y, b.p, off, 64, 48, 64, 48, float("inf"))
    torch.cuda.synchronize()
    assert h.sum(dim=(1, 2, 3)).tolist() == [float(k) for k in inside] and dropped.sum() == 0
    for op, extra in ((torch.ops.ezsr.time_surface, ()), (torch.ops.ezsr.voxel_grid, (3,))):
        out, dropped = op(b.x, b.y, b.t, b.p, off, 64, 48, *extra)
        torch.cuda.synchronize()
        assert out.shape[0] == n_streams and torch.isfinite(out).all()
