"""ezsr.simulate.images_to_event_windows: one count window per image without materialising
the stream (the trainer's sim.window=events). The targeted path (frame-interval counts, then
only the window's events; CUDA by default, run here on the kernels' CPU twins) must give
exactly the window that cutting the whole stream with the same draws gives."""

from __future__ import annotations

import pytest
import torch

import ezsr.simulate as S
from ezsr import EventBatch
from ezsr.simulate import images as I
from tests.conftest import needs_cuda, needs_kernels

COLS = ("x", "y", "t", "p", "offsets")


def _images(B=3, h=30, w=45, seed=0):
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(B, 1, 8, 11, generator=g)
    lum = 0.05 + 0.9 * torch.nn.functional.interpolate(small, size=(h, w), mode="bilinear")
    return lum.expand(B, 3, h, w).contiguous()


def _full_stream(imgs, kw):
    """Every event of the fused walk (the targeted path's own stream), sorted as
    images_to_events sorts them."""
    settings = I._Settings(**kw)
    args = I._fused_args(*I._schedule(imgs, settings), settings)
    B, (H, W) = imgs.shape[0], kw["sensor"]
    lo = torch.full((B,), torch.iinfo(torch.int64).min, device=imgs.device)
    hi = torch.full((B,), torch.iinfo(torch.int64).max, device=imgs.device)
    return EventBatch(*torch.ops.ezsr.render_simulate_events(*args, lo, hi), W, H)


def _same(a, b):
    return all(torch.equal(getattr(a, c).cpu(), getattr(b, c).cpu()) for c in COLS)


@needs_kernels
@pytest.mark.parametrize("refractory", [0, 2_000])
def test_targeted_windows_equal_windows_cut_from_the_whole_stream(monkeypatch, refractory):
    monkeypatch.setattr(I, "FUSED_DEVICES", ("cpu", "cuda"))
    imgs = _images()
    kw = dict(motion="saccade", sensor=(24, 32), seed=4, sigma=0.03, refractory_us=refractory)
    full = _full_stream(imgs, kw)
    n = full.offsets[1:] - full.offsets[:-1]
    assert n.min() > 500
    # the fused walk's stream is the chain's (here the C library's log and torch's agree on
    # every value of this case; in general they may differ in the last bit)
    assert _same(full, S.images_to_events(imgs, **kw))
    # small windows everywhere in the stream, so that windows start and end on frame times
    # shared by many events (ties sorted by pixel across two frame intervals)
    for window_seed in range(40):
        for lo, hi in ((1, 1), (2, 9), (100, 300)):
            got = S.images_to_event_windows(imgs, lo, hi, window_seed, **kw)
            start, keep = I.window_draws(n, lo, hi, window_seed)
            assert _same(got, I.cut_windows(full, start, keep)), (window_seed, lo, hi)
    # windows longer than the stream keep it whole
    assert _same(S.images_to_event_windows(imgs, 10**7, 10**7, 0, **kw), full)


@needs_kernels
def test_windows_elsewhere_are_cut_from_images_to_events():
    """Motions the fused walk does not cover (and the CPU by default) cut the windows from
    images_to_events with the same draws; the training transform's event_windows too."""
    from ezsr.training.transform import event_windows

    imgs = _images()
    for motion in ("saccade", "trajectory"):
        kw = dict(motion=motion, sensor=(24, 32), seed=2)
        events = S.images_to_events(imgs, **kw)
        got = S.images_to_event_windows(imgs, 50, 80, 9, **kw)
        assert _same(got, event_windows(events, 50, 80, 9))
        assert ((got.offsets[1:] - got.offsets[:-1]) >= 50).all()


@needs_kernels
def test_interval_counts_add_up_to_the_stream():
    imgs = _images()
    kw = dict(motion="saccade", sensor=(24, 32), seed=4, sigma=0.03)
    settings = I._Settings(**kw)
    sched = I._schedule(imgs, settings)
    args = I._fused_args(*sched, settings)
    counts, tails = torch.ops.ezsr.render_simulate_interval_counts(*args)
    full = _full_stream(imgs, kw)
    ts = sched[2]
    assert counts.shape == (3, ts.numel() - 1) and (tails <= counts).all()
    assert torch.equal(counts.sum(1), full.offsets[1:] - full.offsets[:-1])
    for b in range(3):  # tails are events exactly at a frame time (ts[f + 1])
        t = full.t[full.offsets[b] : full.offsets[b + 1]]
        assert tails[b].sum() <= torch.isin(t, ts[1:]).sum()


@needs_kernels
@needs_cuda
def test_targeted_windows_on_cuda_equal_windows_cut_from_the_whole_stream():
    imgs = _images().cuda()
    kw = dict(motion="saccade", sensor=(24, 32), seed=4, sigma=0.03)
    full = _full_stream(imgs, kw)
    assert _same(full, S.images_to_events(imgs, **kw))  # CUDA's logf on both paths
    n = (full.offsets[1:] - full.offsets[:-1]).cpu()
    for window_seed in range(10):
        got = S.images_to_event_windows(imgs, 2, 300, window_seed, **kw)
        start, keep = I.window_draws(n, 2, 300, window_seed)
        assert got.x.is_cuda and _same(got, I.cut_windows(full, start, keep))
