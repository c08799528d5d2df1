"""EZSR preprocessing: the batched path vs a per-sample numpy reference written from
EZSR (arXiv 2407.21616), and the published visualisation reproduced bit for bit."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import needs_kernels, shared_file

from ezsr import EventBatch, Events
from ezsr.ops import default_window_start, ezsr_preprocess, ezsr_visualize, histogram_to_ezsr_input
from ezsr.ops.ezsr_preprocess import nearest_index, positive_quantile

MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


def numpy_ezsr(x, y, p, height, width, out=224, squash=False):
    """EZSR's preprocessing steps 1 and 3-7 (docs/design.md) for one window, literally, in numpy."""
    x, y, p = np.asarray(x, np.int64), np.asarray(y, np.int64), np.asarray(p, np.float64)
    if p.size and p.min() >= -0.5:
        p = np.where(p <= 0.5, -1.0, p)  # step 1
    hh, ww = (out, out) if squash else (height, width)
    if squash:
        x, y = (x * out / width).astype(np.int64), (y * out / height).astype(np.int64)
    pos = np.zeros((hh, ww), np.float32)
    neg = np.zeros((hh, ww), np.float32)
    np.add.at(pos, (y[p == 1], x[p == 1]), 1)  # step 3
    np.add.at(neg, (y[p < 0.5], x[p < 0.5]), 1)
    hist = np.stack([pos, neg])
    vals = hist[hist > 0.1]
    if vals.size:  # step 4 (no crash when empty)
        hist = np.clip(hist, None, np.quantile(vals, 0.75))
    hist = hist / (hist.max(axis=(1, 2), keepdims=True) + 1)  # step 5
    gray = hist.mean(0)  # step 6
    if squash:
        rows, cols = np.arange(out), np.arange(out)
    else:  # step 7: torch NEAREST rule
        if height <= width:
            nh, nw = out, int(out * width / height)
        else:
            nh, nw = int(out * height / width), out
        rows = np.minimum(
            np.floor(np.arange(nh, dtype=np.float32) * np.float32(height / nh)), height - 1
        ).astype(np.int64)
        cols = np.minimum(
            np.floor(np.arange(nw, dtype=np.float32) * np.float32(width / nw)), width - 1
        ).astype(np.int64)
        if nh == height:
            rows = np.arange(nh)
        if nw == width:
            cols = np.arange(nw)
        top, left = int(round((nh - out) / 2.0)), int(round((nw - out) / 2.0))
        rows, cols = rows[top : top + out], cols[left : left + out]
    img = np.repeat(gray[rows][:, cols][None], 3, 0).astype(np.float32)
    return (img - MEAN[:, None, None]) / STD[:, None, None]


def random_stream(n, width=640, height=480, seed=0, hot=True):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, width, n)
    y = rng.integers(0, height, n)
    if hot and n:  # a few hot pixels so the clip matters
        x[: n // 10], y[: n // 10] = 5, 7
        x[n // 10 : n // 5] = rng.integers(0, 4, n // 10)
    t = np.sort(rng.integers(0, 50_000, n))
    p = rng.integers(0, 2, n)
    return Events(x.astype(np.int16), y.astype(np.int16), t, p.astype(np.uint8), width, height)


@pytest.mark.parametrize("mode", ["crop", "squash"])
def test_batched_matches_per_sample_numpy(mode):
    ev = random_stream(60_000)
    starts = [0, 7_000, 30_000, 45_000, 59_990]  # the last window is short (10 events)
    got = ezsr_preprocess(EventBatch.from_windows(ev, starts, 15_000), mode=mode)
    assert got.shape == (5, 3, 224, 224) and got.dtype == torch.float32
    for i, s in enumerate(starts):
        w = ev.window(s, 15_000)
        want = numpy_ezsr(w.x, w.y, w.p, 480, 640, squash=(mode == "squash"))
        np.testing.assert_allclose(got[i].numpy(), want, rtol=0, atol=2e-6)


@pytest.mark.parametrize("hw", [(34, 34), (180, 240), (300, 200), (224, 224)])
def test_other_sensor_sizes(hw):
    h, w = hw
    ev = random_stream(3000, width=w, height=h, seed=1)
    got = ezsr_preprocess(ev)[0].numpy()
    np.testing.assert_allclose(got, numpy_ezsr(ev.x, ev.y, ev.p, h, w), rtol=0, atol=2e-6)


def test_empty_window_gives_the_zero_picture():
    z = np.zeros(0, np.int64)
    ev = Events(z, z, z, z.astype(np.uint8), 640, 480)
    got = ezsr_preprocess(ev)
    want = torch.from_numpy(np.broadcast_to((-MEAN / STD)[:, None, None], (3, 224, 224)).copy())
    torch.testing.assert_close(got[0], want)
    assert not ezsr_visualize(ev).any()
    batch = EventBatch.from_streams([ev, random_stream(100)])
    torch.testing.assert_close(ezsr_preprocess(batch)[0], want)


def test_nearest_index_is_torch_nearest():
    for i, o in [(480, 224), (640, 298), (34, 224), (240, 120), (224, 224)]:
        want = F.interpolate(torch.arange(i).float()[None, None], size=o, mode="nearest")
        assert torch.equal(nearest_index(i, o), want[0, 0].long())


def test_positive_quantile_matches_numpy():
    rng = np.random.default_rng(0)
    rows = [
        rng.integers(0, 6, 1000).astype(np.float32),
        rng.random(777).astype(np.float32),
        np.zeros(1000, np.float32),
        np.r_[np.zeros(999), 3.0].astype(np.float32),
    ]
    m = max(len(r) for r in rows)
    flat = torch.zeros(len(rows), m)
    for i, r in enumerate(rows):
        flat[i, : len(r)] = torch.from_numpy(r)
    for q in (0.75, 0.99, 0.5):
        got = positive_quantile(flat, q, 0.1)
        for i, r in enumerate(rows):
            v = r[r > 0.1]
            want = np.quantile(v, q) if v.size else np.inf
            assert float(got[i]) == pytest.approx(float(want), rel=1e-6)


def test_hand_computed_small_case():
    # 2x2 sensor: ON (0,0) x3, ON (1,0) x1, OFF (1,1) x1. Entries > 0.1: [3, 1, 1],
    # q = 0.75-quantile = 1 + (3 - 1) * 0.5 = 2 -> ON becomes [2, 1], max 2 -> / 3;
    # OFF max 1 -> / 2. gray = ([2/3, 1/3, 0, 0] + [0, 0, 0, 1/2]) / 2.
    e = Events([0, 0, 0, 1, 1], [0, 0, 0, 0, 1], [0, 1, 2, 3, 4], [1, 1, 1, 1, 0], 2, 2)
    out = ezsr_preprocess(e, out_size=2)[0, 0]
    gray = torch.tensor([[1 / 3, 1 / 6], [0, 1 / 4]])
    torch.testing.assert_close(out, (gray - float(MEAN[0])) / float(STD[0]))
    v = ezsr_visualize(e)
    assert v.tolist() == [[255, 127], [0, 191]]


def test_histogram_to_ezsr_input_checks_its_argument():
    with pytest.raises(ValueError, match="'hist'.*\\[B, 2, H, W\\]"):
        histogram_to_ezsr_input(torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="float32"):
        histogram_to_ezsr_input(torch.zeros(1, 2, 8, 8, dtype=torch.float64))
    with pytest.raises(ValueError, match="mode"):
        ezsr_preprocess(random_stream(10), mode="stretch")


def test_default_window_start():
    assert default_window_start(107_037) == (107_037 - 15_000) // 2
    assert default_window_start(100) == 0
    with pytest.raises(ValueError):
        default_window_start(10, window=0)


def test_reference_picture_bit_for_bit():
    from PIL import Image

    from ezsr import io

    path = shared_file("n_imagenet/ezsr_test_event.npz")
    ref = np.array(Image.open(shared_file("n_imagenet/ezsr_event_reference.png")))
    ev = io.read(path)
    got = ezsr_visualize(ev.window(26502, 15000))
    assert got.dtype == np.uint8 and got.shape == ref.shape
    assert np.array_equal(got, ref)
    # a different window gives a different picture (the test can fail)
    assert not np.array_equal(ezsr_visualize(ev.window(0, 15000)), ref)


@needs_kernels
@pytest.mark.parametrize("mode", ["crop", "squash"])
def test_fused_kernel_equals_composed_path(mode):
    from ezsr.ops.ezsr_preprocess import ezsr_preprocess_reference

    ev = random_stream(80_000, seed=5)
    starts = torch.tensor([0, 100, 20_000, 65_000, 79_999])
    for dtype in (torch.int16, torch.int32):
        b = EventBatch.from_windows(ev, starts, 15_000)
        b.x, b.y = b.x.to(dtype), b.y.to(dtype)
        assert torch.equal(ezsr_preprocess(b, mode=mode), ezsr_preprocess_reference(b, mode=mode))


@needs_kernels
def test_fused_kernel_out_of_range_and_opcheck():
    e = Events([0, 700, -1, 5], [0, 0, 0, 500], [0, 1, 2, 3], [1, 1, 0, 0], 640, 480)
    with pytest.warns(UserWarning, match="3 events lie outside"):
        got = ezsr_preprocess(e)
    want = numpy_ezsr([0], [0], [1], 480, 640)
    np.testing.assert_allclose(got[0].numpy(), want, rtol=0, atol=2e-6)
    b = EventBatch.from_windows(random_stream(5000, width=64, height=48), [0, 4000], 2000)
    rows, cols = torch.arange(0, 48, 3), torch.arange(0, 64, 2)
    torch.library.opcheck(
        torch.ops.ezsr.ezsr_frame.default,
        (b.x, b.y, b.p, b.offsets, 64, 48, 64, 48, rows, cols, [0.5], [2.0]),
    )
    with pytest.raises(RuntimeError, match="'rows' must lie in"):
        torch.ops.ezsr.ezsr_frame(
            b.x, b.y, b.p, b.offsets, 64, 48, 64, 48, rows + 40, cols, [0.0], [1.0]
        )
