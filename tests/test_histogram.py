"""ezsr.ops.polarity_histogram: kernels vs the pure-torch reference."""

import pytest
import torch
from conftest import needs_kernels, random_batch

from ezsr import Events
from ezsr.ops import histogram_reference, polarity_histogram

CASES = {
    "random": dict(lengths=[1000, 0, 3000, 17]),
    "empty": dict(lengths=[0]),
    "empty_batch_of_three": dict(lengths=[0, 0, 0]),
    "one_event": dict(lengths=[1]),
    "out_of_range": dict(lengths=[500, 500], oob=5),
    "one_long_stream": dict(lengths=[200_000]),
}


@needs_kernels
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [torch.int16, torch.int32])
@pytest.mark.parametrize("size", [None, (24, 32)])
@pytest.mark.parametrize("cap", [None, 2.0])
def test_kernel_matches_reference(case, dtype, size, cap, device):
    b = random_batch(dtype=dtype, device=device, **CASES[case])
    got = polarity_histogram(b, size=size, cap=cap, out_of_bounds="ignore")
    oh, ow = size or (b.height, b.width)
    want, _ = histogram_reference(b.x, b.y, b.p, b.offsets, b.width, b.height, ow, oh, cap or 0.0)
    assert got.shape == (len(b), 2, oh, ow)
    assert torch.equal(got, want)


def test_all_events_on_one_border_pixel(device):
    n = 1000
    e = Events(
        torch.full((n,), 63),
        torch.full((n,), 47),
        torch.arange(n),
        torch.ones(n, dtype=torch.uint8),
        64,
        48,
    ).to(device)
    h = polarity_histogram(e)
    assert h[0, 0, 47, 63] == n and h.sum() == n


def test_counts_and_channels_by_hand():
    # ON at (x=1, y=0) twice, OFF at (x=0, y=1) once
    e = Events([1, 1, 0], [0, 0, 1], [0, 1, 2], [1, 1, 0], width=2, height=2)
    h = polarity_histogram(e)[0]
    assert h.tolist() == [[[0, 2], [0, 0]], [[0, 0], [1, 0]]]


def test_out_of_bounds_policies():
    e = Events([0, 5, -1], [0, 0, 0], [0, 1, 2], [1, 1, 1], width=2, height=2)
    with pytest.warns(UserWarning, match="2 events lie outside"):
        h = polarity_histogram(e)
    assert h.sum() == 1
    with pytest.raises(ValueError, match="outside the 2x2 sensor"):
        polarity_histogram(e, out_of_bounds="error")


def test_bad_offsets_are_named():
    b = random_batch([10, 10])
    b.offsets = torch.tensor([0, 15, 12], dtype=torch.int64)
    with pytest.raises(ValueError, match="offsets"):
        polarity_histogram(b)


@needs_kernels
def test_opcheck():
    b = random_batch([100, 0, 50])
    torch.library.opcheck(
        torch.ops.ezsr.histogram.default, (b.x, b.y, b.p, b.offsets, b.width, b.height, 32, 24, 0.0)
    )


@needs_kernels
def test_reference_only_switches_every_op_to_its_reference(monkeypatch):
    """ezsr._ext.reference_only(): has_kernel is False inside (and restored after), and
    the ops then run their pure-torch references (the compiled one is never called)."""
    from ezsr import _ext
    from ezsr.ops import histogram as H

    g = torch.Generator().manual_seed(0)
    ev = Events(
        torch.randint(0, 30, (500,), generator=g, dtype=torch.int16),
        torch.randint(0, 20, (500,), generator=g, dtype=torch.int16),
        torch.arange(500),
        torch.randint(0, 2, (500,), generator=g, dtype=torch.uint8),
        30,
        20,
    )
    want = polarity_histogram(ev)
    calls = []
    monkeypatch.setattr(
        H, "histogram_reference", lambda *a, **k: calls.append(1) or histogram_reference(*a, **k)
    )
    with _ext.reference_only():
        assert not _ext.has_kernel("histogram", "cpu")
        got = polarity_histogram(ev)
    assert calls and torch.equal(got, want)
    assert _ext.has_kernel("histogram", "cpu")
