"""ezsr.ops.representation: every name against a straightforward numpy definition
written here, on small random batches, plus hand-computed cases."""

import numpy as np
import pytest
import torch

from ezsr import EventBatch, Events
from ezsr.ops import REPRESENTATIONS, eventclip_frame_starts, representation

H, W = 12, 16


def make_batch(lengths=(400, 1, 0, 900), seed=0):
    rng = np.random.default_rng(seed)
    streams = []
    for n in lengths:
        x, y = rng.integers(0, W, n), rng.integers(0, H, n)
        t = np.sort(rng.integers(0, 1000, n))
        streams.append(
            Events(
                x.astype(np.int16),
                y.astype(np.int16),
                t,
                rng.integers(0, 2, n).astype(np.uint8),
                W,
                H,
            )
        )
    return EventBatch.from_streams(streams), streams


def np_planes(ev):
    """counts [2,H,W], t_max [2,H,W] (0 empty), t_min [2,H,W] (1 empty), event by event."""
    c = np.zeros((2, H, W))
    tmax = np.zeros((2, H, W))
    tmin = np.ones((2, H, W))
    t = ev.t.numpy()
    for x, y, ti, p in zip(ev.x.tolist(), ev.y.tolist(), t, ev.p.tolist()):
        tau = (ti - t[0]) / (t[-1] - t[0]) if t[-1] > t[0] else 0.0
        ch = 0 if p == 1 else 1
        c[ch, y, x] += 1
        tmax[ch, y, x] = max(tmax[ch, y, x], tau)
        tmin[ch, y, x] = min(tmin[ch, y, x], tau)
    return c, tmax, tmin


def np_rank(v):
    u = np.unique(v)
    return np.searchsorted(u, v), len(u)


def np_event_image(ev):
    c, tmax, _ = np_planes(ev)
    n = [c[i] / c[i].max() if c[i].max() > 0 else c[i] for i in range(2)]
    return np.stack([n[0], tmax[0], n[1], tmax[1]])


def np_sorted_ts(ev):
    """N-ImageNet's strict sorted time surface: only pixels with events are ranked."""
    c, tmax, _ = np_planes(ev)
    out = np.zeros_like(tmax)
    for i in range(2):
        occ = c[i] > 0
        if occ.any():
            r, k = np_rank(tmax[i][occ])
            out[i][occ] = r / (k - 1) if k > 1 else 0
    return out


def np_exp_ts(ev):
    _, tmax, _ = np_planes(ev)
    return np.exp(-(1 - tmax) / 0.3)


def np_count_clip(c):
    """N-ImageNet: number of distinct values whose cumulative pixel count < 0.99 * H * W."""
    vals, cnt = np.unique(c, return_counts=True)
    return np.minimum(c, int((np.cumsum(cnt) < c.size * 0.99).sum()))


def np_dist(ev):
    c, tmax, tmin = np_planes(ev)
    out = np.zeros_like(c)
    for i in range(2):
        cnt = np_count_clip(c[i])
        t = tmax[i].copy()
        for yy in range(H):
            for xx in range(W):
                ys, xs = slice(max(yy - 2, 0), yy + 3), slice(max(xx - 2, 0), xx + 3)
                nb = cnt[ys, xs].sum()
                disc = (tmax[i][ys, xs].max() - tmin[i][ys, xs].min()) / nb if nb > 0 else 0
                if cnt[yy, xx] > 0:
                    t[yy, xx] = max(tmax[i][yy, xx] - 3 * disc, 0)
                if abs(nb - 1) < 1e-4:
                    t[yy, xx] = 0
        r, k = np_rank(t.astype(np.float32))
        out[i] = r / k
    return out


def np_eventclip(ev, white):
    c, _, _ = np_planes(ev)
    thr = c.mean() + 10 * c.std()
    c[c > thr] = 0
    if c.max() > 0:
        c = c / c.max()
    img = np.stack([c[0], c[1]], -1) @ np.array([[127] * 3, [127] * 3])
    if white:
        w = np.clip(c[0] + c[1], 0, 1)[..., None]
        img = img * w + 255 * (1 - w)
    return np.round(img).transpose(2, 0, 1)


NUMPY = {
    "histogram": lambda ev: np_planes(ev)[0],
    "binary_event_image": lambda ev: (np_planes(ev)[0] > 0).astype(float),
    "timestamp_image": lambda ev: np_planes(ev)[1],
    "event_image": np_event_image,
    "sorted_time_surface": np_sorted_ts,
    "exp_time_surface": np_exp_ts,
    "dist": np_dist,
    "eventclip_frame": lambda ev: np_eventclip(ev, False),
}


@pytest.mark.parametrize("name", NUMPY)
def test_matches_numpy_definition(name):
    batch, streams = make_batch()
    got = representation(batch, name)
    assert got.dtype == torch.float32 and got.shape[0] == len(streams)
    for i, ev in enumerate(streams):
        np.testing.assert_allclose(got[i].numpy(), NUMPY[name](ev), atol=1e-5, rtol=1e-5)


def test_eventclip_white_background():
    batch, streams = make_batch((300, 50), seed=3)
    got = representation(batch, "eventclip_frame", white_background=True)
    for i, ev in enumerate(streams):
        np.testing.assert_allclose(got[i].numpy(), np_eventclip(ev, True), atol=1e-4)


def test_every_name_runs_on_empty_and_one_event_streams():
    z = np.zeros(0, np.int64)
    empty = Events(z, z, z, z.astype(np.uint8), W, H)
    one = Events([3], [4], [5], [1], W, H)
    for name in REPRESENTATIONS:
        for ev in (empty, one):
            out = representation(ev, name)
            assert out.shape[0] == 1 and torch.isfinite(out).all(), name
            if name in ("histogram", "binary_event_image", "voxel_grid", "event_image") and len(ev):
                assert out.abs().sum() > 0, name


def test_hand_computed_event_image():
    e = Events([0, 0, 1], [0, 0, 0], [0, 10, 20], [1, 1, 0], width=2, height=1)
    out = representation(e, "event_image")[0]
    assert out[:, 0].tolist() == [[1.0, 0.0], [0.5, 0.0], [0.0, 1.0], [0.0, 1.0]]


def test_eventclip_frame_starts():
    assert eventclip_frame_starts(100_000, 30_000) == [0, 30_000, 60_000]  # rest 10k
    assert eventclip_frame_starts(110_000, 30_000) == [0, 30_000, 60_000, 80_000]  # rest 20k
    assert eventclip_frame_starts(1_000, 30_000) == [0]


def test_unknown_name():
    with pytest.raises(ValueError, match="unknown name 'histo'.*voxel_grid"):
        representation(make_batch()[0], "histo")
