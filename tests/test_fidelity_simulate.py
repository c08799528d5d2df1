"""The simulator against esim_py (rpg_vid2e) and the accumulated crossing level.

Fixture: tests/fixtures/esim_py/ (events made by esim_py itself; README there has the
command). The kernels (CPU, and CUDA where present) and the torch reference are fed esim_py's
own log levels, so the comparison is of the crossing rule, event for event.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ezsr.simulate import kernels as K

FIXTURE = Path(__file__).parent / "fixtures" / "esim_py" / "translated_texture.npz"


def _run(impl, device, logf, ts, cp, cn, width, refractory):
    logf = logf.to(device)
    P = logf.shape[-1]
    tp = torch.full((1, P), cp, device=device)
    tn = torch.full((1, P), cn, device=device)
    ref, last = K.new_state(logf[:, 0])
    fn = torch.ops.ezsr.simulate_events if impl == "kernel" else K.simulate_reference
    x, y, t, p, off = fn(logf, ts.to(device), tp, tn, ref, last, width, refractory)
    return [a.cpu().numpy().astype(np.int64) for a in (x, y, t, p)], ref.cpu(), last.cpu()


@pytest.fixture(scope="module")
def esim():
    d = np.load(FIXTURE)
    frames = d["frames"]
    T, H, W = frames.shape
    logf = torch.from_numpy(d["log_lut"][frames.reshape(T, H * W)])[None].contiguous()
    return d, logf, torch.from_numpy(d["ts"])[None], W


@pytest.mark.parametrize("impl", ["kernel", "reference"])
def test_events_equal_esim_py(esim, impl, device):
    d, logf, ts, W = esim
    (x, y, t, p), _, _ = _run(
        impl, device, logf, ts, float(d["contrast_pos"]), float(d["contrast_neg"]), W, 0
    )
    et = np.floor(d["t"]).astype(np.int64)
    assert len(t) == len(et) == 11644
    np.testing.assert_array_equal(t, et)
    np.testing.assert_array_equal(y * W + x, d["y"].astype(np.int64) * W + d["x"])
    np.testing.assert_array_equal(p, d["p"])


def _refractory_filter(pix, times, R):
    """Keep mask of the refractory rule over events in time order: an event is kept when its
    pixel has not fired yet or the time since the pixel's last kept event is >= R."""
    last, keep = {}, np.zeros(len(times), dtype=bool)
    for i in np.argsort(times, kind="stable"):
        q = int(pix[i])
        if q not in last or times[i] - last[q] >= R:
            keep[i], last[q] = True, times[i]
    return keep


@pytest.mark.parametrize("impl", ["kernel", "reference"])
def test_refractory_differs_from_esim_py_only_by_rounding(esim, impl, device):
    """Refractory: esim_py compares its unrounded float64 times, ezsr the integer µs it emits.
    The same filter run over esim_py's events reproduces both: on the unrounded times what
    esim_py emitted, on the floored times exactly what ezsr emits (3 more events here)."""
    d, logf, ts, W = esim
    R = int(d["refractory"])
    (x, y, t, p), _, _ = _run(
        impl, device, logf, ts, float(d["contrast_pos"]), float(d["contrast_neg"]), W, R
    )
    pix = d["y"].astype(np.int64) * W + d["x"]
    np.testing.assert_array_equal(_refractory_filter(pix, d["t"], R), d["keep_refractory"])
    keep_int = _refractory_filter(pix, np.floor(d["t"]).astype(np.int64), R)
    assert len(t) == keep_int.sum() != d["keep_refractory"].sum()
    np.testing.assert_array_equal(t, np.floor(d["t"][keep_int]).astype(np.int64))
    np.testing.assert_array_equal(y * W + x, pix[keep_int])
    np.testing.assert_array_equal(p, d["p"][keep_int])


def _accumulated_count(levels, c):
    """Crossings of one rising pixel by esim_py's loop (float32 accumulation), in numpy."""
    f = np.float32
    ref, n = f(levels[0]), 0
    for L0, L1 in zip(levels[:-1], levels[1:]):
        cur = ref
        while True:
            cur = f(cur + f(c))
            if not (cur > L0 and cur <= L1):
                break
            ref, n = cur, n + 1
    return n


@pytest.mark.parametrize("impl", ["kernel", "reference"])
def test_float32_level_is_accumulated(impl, device):
    """ref + k*C (one rounding) and the accumulated level differ in float32. Here the old rule
    ends interval 1 with 6 crossings at ref + 6C, and fl(fl(ref + 6C) + C) equals L1, so in
    interval 2 its first level fails the strict test against L0 and the rising pixel stays
    silent: 6 events instead of 14. The accumulated rule (esim_py's) never loses one."""
    f = np.float32
    levels = np.array([f(-2.7535496), f(-2.0535498), f(-1.35)], dtype=np.float32)
    c = f(0.1)
    old_level_6, old_level_7 = f(levels[0] + f(6) * c), f(levels[0] + f(7) * c)
    assert old_level_6 <= levels[1] < old_level_7 and f(old_level_6 + c) == levels[1]
    expected = _accumulated_count(levels, c)
    assert expected == 14
    logf = torch.from_numpy(levels)[None, :, None].contiguous()
    ts = torch.tensor([[0, 1000, 2000]])
    (x, y, t, p), ref, last = _run(impl, device, logf, ts, float(c), float(c), 1, 0)
    assert len(t) == expected and (p == 1).all() and (np.diff(t) >= 0).all()
    hist = K.simulate_histogram_raw(
        logf.to(device),
        ts.to(device),
        torch.full((1, 1), float(c), device=device),
        torch.full((1, 1), float(c), device=device),
        *K.new_state(logf[:, 0].to(device)),
        0,
    )
    assert hist.cpu()[0, :, 0].tolist() == [expected, 0]
