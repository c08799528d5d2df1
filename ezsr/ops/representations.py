"""Every representation by name: ezsr.ops.representation(events, name, **kw) -> [B, C, H, W].

N-ImageNet's representations (N-ImageNet, github.com/82magnolia/n_imagenet; tau = normalised time inside the window) and
EventCLIP's frame (EventCLIP, arXiv 2306.06354), composed from the kernels (histogram, voxel grid, time
surface) plus torch where a custom kernel would not pay off. All are batched (no Python
loop per sample) and run on the events' device.

| name                | C      | definition                                                  |
|---------------------|--------|-------------------------------------------------------------|
| histogram           | 2      | [ON, OFF] counts                                            |
| voxel_grid          | bins   | signed polarity, bilinear in tau (bins=5)                   |
| timestamp_image     | 2      | per pixel and polarity the latest tau (0 where none)        |
| event_image         | 4      | [ON count / max, ON latest tau, OFF count / max, OFF tau]   |
| binary_event_image  | 2      | 1 where a pixel has an event of that polarity               |
| sorted_time_surface | 2      | the pixels WITH events ranked among their unique latest-tau |
|                     |        | values (1..K), min-max scaled to [0, 1]; empty pixels 0     |
|                     |        | (N-ImageNet's `strict` variant, its shipped configs)         |
| exp_time_surface    | 2      | exp(-(1 - latest tau) / 0.3); empty pixels exp(-1 / 0.3)    |
| dist                | 2      | DiST (see dist())                                           |
| eventclip_frame     | 3      | EventCLIP's RGB frame, values 0..255 (see eventclip_frame())|
| ezsr                | 3      | EZSR's CLIP-normalised 224x224 input (ezsr_preprocess)      |

Choices where the sources leave room (documented here and in docs/kernels.md): maxima,
ranks and clips are taken per sample and polarity plane; empty planes give zeros.
N-ImageNet computes its representations at 224x224 after scaling the coordinates: pass
size=(224, 224) and coord_rounding="n_imagenet" to representation() for its exact input
(ezsr.ops.coords). With that, sorted_time_surface, exp_time_surface and dist equal the
published code's outputs bit for bit (tests/test_fidelity_representations.py).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ezsr.events import EventBatch, Events
from ezsr.ops._common import as_batch, segment_ids
from ezsr.ops.coords import check_coord_rounding, scale_events
from ezsr.ops.ezsr_preprocess import ezsr_preprocess
from ezsr.ops.histogram import polarity_histogram
from ezsr.ops.temporal import normalised_time_reference, time_surface, voxel_grid


def _per_plane_max(v: torch.Tensor) -> torch.Tensor:
    return v.amax(dim=(2, 3), keepdim=True) if v.numel() else v.new_zeros(v.shape[:2] + (1, 1))


def _safe_div(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(b > 0, a / b.clamp(min=torch.finfo(a.dtype).tiny), torch.zeros_like(a))


def unique_rank(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per plane of v [B, C, H, W]: (0-based rank of each entry among the plane's unique
    values, number of unique values per plane [B, C, 1, 1]). One sort for all planes:
    planes are separated by adding 2 * plane index to values in [0, 1]."""
    b, c, h, w = v.shape
    plane = torch.arange(b * c, device=v.device, dtype=torch.float64).view(b, c, 1, 1)
    key = (v.double() + 2 * plane).reshape(-1)
    if key.numel() == 0:
        return torch.zeros_like(v), v.new_zeros((b, c, 1, 1))
    uniq, inv = torch.unique(key, sorted=True, return_inverse=True)
    first = torch.searchsorted(uniq, 2 * plane.reshape(-1) - 0.5)  # first rank per plane
    count = torch.diff(torch.cat([first, first.new_tensor([uniq.numel()])]))
    rank = inv.view(b, c, h, w) - first.view(b, c, 1, 1)
    return rank.float(), count.view(b, c, 1, 1).float()


def event_image(events: Events | EventBatch) -> torch.Tensor:
    """[B, 4, H, W]: ON count / its max, ON latest tau, OFF count / its max, OFF latest tau."""
    hist = polarity_histogram(events)
    ts = time_surface(events, out_of_bounds="ignore")
    counts = _safe_div(hist, _per_plane_max(hist))
    return torch.stack([counts[:, 0], ts[:, 0], counts[:, 1], ts[:, 1]], dim=1)


def _latest_time_ranks(events: Events | EventBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sample and polarity plane, over the pixels that have events only: (0-based rank of
    each pixel's latest timestamp among the plane's unique latest timestamps, -1 where the
    pixel has no event; K [B, 2, 1, 1], the number of those unique values). Ranks of the raw
    int64 times equal the ranks of tau (a strictly increasing map of t)."""
    b = as_batch(events)
    n = b.x.numel()
    seg = segment_ids(b.offsets, n)
    xl, yl = b.x.long(), b.y.long()
    valid = (xl >= 0) & (xl < b.width) & (yl >= 0) & (yl < b.height)
    planes = len(b) * 2
    flat = ((seg * 2 + (b.p != 1).long()) * b.height + yl) * b.width + xl
    latest = torch.full((planes * b.height * b.width,), -1, dtype=torch.int64, device=b.device)
    t0 = b.t[b.offsets[:-1].clamp(max=max(n - 1, 0))][seg] if n else b.t
    latest.scatter_reduce_(0, flat[valid], (b.t - t0)[valid], reduce="amax", include_self=True)
    occupied = latest >= 0
    plane = torch.arange(planes * b.height * b.width, device=b.device) // (b.height * b.width)
    # one sort for all planes: key = plane * span + latest, span > every latest
    span = int(latest.max()) + 2 if latest.numel() else 1
    key = plane[occupied] * span + latest[occupied]
    uniq, inv = torch.unique(key, sorted=True, return_inverse=True)
    per_plane = torch.bincount(torch.div(uniq, span, rounding_mode="floor"), minlength=planes)
    first = torch.cumsum(per_plane, 0) - per_plane
    rank = torch.full_like(latest, -1)
    rank[occupied] = inv - first[plane[occupied]]
    shape = (len(b), 2, b.height, b.width)
    return rank.view(shape), per_plane.view(len(b), 2, 1, 1)


def sorted_time_surface(events: Events | EventBatch) -> torch.Tensor:
    """[B, 2, H, W]: N-ImageNet's sorted time surface (its shipped `strict` variant,
    real_cnn_model/data/imagenet.py reshape_then_acc_sort). Per polarity, the pixels that
    have events are ranked 1..K among the unique values of their latest timestamp, and the
    ranks min-max scaled to [0, 1]: (rank - 1) / (K - 1), 0 when K = 1. Pixels without
    events are 0 and are not one of the ranked values."""
    rank, k = _latest_time_ranks(events)
    out = _safe_div(rank.clamp(min=0).float(), (k - 1).float())
    return torch.where(rank >= 0, out, torch.zeros_like(out))


EXP_TAU = 0.3  # N-ImageNet's EXP_TAU (real_cnn_model/data/imagenet.py)


def exp_time_surface(events: Events | EventBatch, tau: float = EXP_TAU) -> torch.Tensor:
    """[B, 2, H, W]: N-ImageNet's exponential time surface (reshape_then_acc_exp):
    exp(-(1 - t_max) / tau) per polarity, t_max the pixel's latest normalised time (tau of
    the module docstring) and 0 where the pixel has no event, so empty pixels hold
    exp(-1 / tau) (0.0357 at the default tau = 0.3), as in the published code. Computed in
    float64 and rounded to float32 once, as the published code does."""
    if not tau > 0:
        raise ValueError(f"exp_time_surface: tau must be > 0, got {tau}")
    b = as_batch(events)
    n = b.x.numel()
    seg = segment_ids(b.offsets, n)
    xl, yl = b.x.long(), b.y.long()
    valid = (xl >= 0) & (xl < b.width) & (yl >= 0) & (yl < b.height)
    flat = ((seg * 2 + (b.p != 1).long()) * b.height + yl) * b.width + xl
    tmax = torch.zeros(len(b) * 2 * b.height * b.width, dtype=torch.float64, device=b.device)
    tmax.scatter_reduce_(
        0,
        flat[valid],
        normalised_time_reference(b.t, b.offsets)[valid],
        reduce="amax",
        include_self=True,
    )
    return torch.exp(-(1 - tmax) / tau).float().view(len(b), 2, b.height, b.width)


def _time_min(events: Events | EventBatch) -> torch.Tensor:
    """[B, 2, H, W] per pixel and polarity the earliest tau, 1 where there is no event."""
    b = as_batch(events)
    n = b.x.numel()
    seg = segment_ids(b.offsets, n)
    xl, yl = b.x.long(), b.y.long()
    valid = (xl >= 0) & (xl < b.width) & (yl >= 0) & (yl < b.height)
    tau = normalised_time_reference(b.t, b.offsets).float()
    flat = ((seg * 2 + (b.p != 1).long()) * b.height + yl) * b.width + xl
    out = torch.ones(len(b) * 2 * b.height * b.width, device=b.device)
    out.scatter_reduce_(0, flat[valid], tau[valid], reduce="amin", include_self=True)
    return out.view(len(b), 2, b.height, b.width)


def clip_count_n_imagenet(hist: torch.Tensor, rate: float = 0.99) -> torch.Tensor:
    """N-ImageNet's count clip (reshape_then_acc_adj_sort, CLIP_COUNT_RATE = 0.99), per plane
    of hist [B, C, H, W]: c = the number of distinct count values (0 included, in increasing
    order) whose cumulative number of pixels stays below rate * H * W; counts above c become
    c. (c counts distinct VALUES, not a count itself.)"""
    b, ch, h, w = hist.shape
    flat = hist.reshape(b * ch, h * w)
    if flat.numel() == 0:
        return hist
    s = flat.sort(dim=1).values
    last = torch.ones_like(s, dtype=torch.bool)
    last[:, :-1] = s[:, 1:] != s[:, :-1]  # end of a run of one value
    cum = torch.arange(1, h * w + 1, device=hist.device)  # pixels up to that run's end
    c = (last & (cum < h * w * rate)).sum(1).to(hist.dtype).view(b, ch, 1, 1)
    return torch.minimum(hist, c)


def dist(events: Events | EventBatch) -> torch.Tensor:
    """DiST (N-ImageNet reshape_then_acc_adj_sort), [B, 2, H, W] in [0, 1).

    count: polarity histogram clipped by N-ImageNet's rule (clip_count_n_imagenet);
    t_max / t_min: latest / earliest tau per pixel (t_min = 1 where empty);
    disc = (maxpool5(t_max) + maxpool5(-t_min)) / (25 * avgpool5(count))  (0 where the 5x5
    neighbourhood is empty); t_max -= 3 * disc where count > 0; clamp >= 0; 0 where the 5x5
    neighbourhood count is 1 (isolated events); output: rank among the plane's unique
    values / number of unique values.
    """
    count = clip_count_n_imagenet(polarity_histogram(events))
    t_max = time_surface(events, out_of_bounds="ignore")
    t_min = _time_min(events)
    nb = 25 * F.avg_pool2d(count, 5, stride=1, padding=2, count_include_pad=True)
    spread = F.max_pool2d(t_max, 5, stride=1, padding=2) + F.max_pool2d(
        -t_min, 5, stride=1, padding=2
    )
    disc = _safe_div(spread, nb)
    t = torch.where(count > 0, t_max - 3 * disc, t_max).clamp(min=0)
    # N-ImageNet tests nb == 1.0; on the CPU 25 * avgpool of a lone 1 is exactly 1.0, and the
    # tolerance keeps that on devices whose pooling rounds differently
    t = torch.where((nb - 1).abs() < 1e-4, torch.zeros_like(t), t)
    rank, uniq = unique_rank(t)
    return _safe_div(rank, uniq)


def eventclip_frame_starts(n_events: int, frame_events: int) -> list[int]:
    """EventCLIP's frame starts: arange(0, n, N) (full frames only), plus n - N when the
    remainder exceeds N / 2 (EventCLIP, arXiv 2306.06354). A stream shorter than N gives [0]."""
    if frame_events <= 0:
        raise ValueError(f"eventclip_frame_starts: frame_events must be > 0, got {frame_events}")
    if n_events <= frame_events:
        return [0]
    starts = list(range(0, n_events - frame_events + 1, frame_events))
    if n_events - (starts[-1] + frame_events) > frame_events / 2:
        starts.append(n_events - frame_events)
    return starts


def eventclip_center(events: Events, height: int, width: int) -> Events:
    """EventCLIP's centring (datasets/utils.py center_events): shift the stream by whole
    pixels so that its bounding box is centred in a fixed canvas of height x width, the
    sensor size EventCLIP assumes per dataset (EventCLIP, arXiv 2306.06354: 180x240 N-Caltech101, 100x120
    N-Cars, 480x640 N-ImageNet).

    shift = floor((max + min + 1 - size) / 2) per axis, over all events of the sample;
    x -= shift_x, y -= shift_y. Returns Events with width x height = the canvas. A stream
    whose extent exceeds the canvas keeps events outside it (the frame ops drop them; the
    published code would fail there). An empty stream is returned on the canvas unchanged.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"eventclip_center: canvas must be positive, got {height}x{width}")
    if len(events) == 0:
        return Events(
            events.x, events.y, events.t, events.p, width, height, "canvas", validate=False
        )
    x = events.x.to(torch.int32)
    y = events.y.to(torch.int32)
    sx = (int(x.max()) + int(x.min()) + 1 - width) // 2
    sy = (int(y.max()) + int(y.min()) + 1 - height) // 2
    return Events(x - sx, y - sy, events.t, events.p, width, height, "canvas", validate=False)


HOT_PIXEL_STATS = ("all", "nonzero")


def eventclip_frame(
    events: Events | EventBatch, white_background: bool = False, hot_pixel_stats: str = "all"
) -> torch.Tensor:
    """EventCLIP's frame (arXiv 2306.06354; github.com/Wuziyi616/EventCLIP datasets/vis.py make_event_histogram):
    [B, 3, H, W] float32 holding integers 0..255.

    Per sample: ON/OFF counts; entries > mean + 10 * std set to 0, the statistics (float64,
    population std) taken over all entries of both channels (hot_pixel_stats="all",
    EventCLIP's default) or over the non-zero entries only ("nonzero", EventCLIP's
    count_non_zero=True of its N-Cars configs); divided by the sample's max (float32);
    img = 127 * ON + 127 * OFF in all three channels; optional white background
    img * w + 255 * (1 - w) with w = clip(ON + OFF, 0, 1); rounded half to even.
    Events outside the sensor are dropped silently; an empty sample gives 0 (255 with the
    white background). CLIP's own preprocessing follows in the caller.
    """
    gray = eventclip_gray(events, white_background, hot_pixel_stats)
    return gray[:, None].expand(-1, 3, -1, -1).contiguous()


def eventclip_gray(
    events: Events | EventBatch, white_background: bool = False, hot_pixel_stats: str = "all"
) -> torch.Tensor:
    """One channel of eventclip_frame (its three channels are equal): [B, H, W] float32.

    The hot-pixel statistics are computed from the non-zero entries (the zeros enter the
    "all" statistics in closed form), so only the dense steps touch every pixel.
    """
    if hot_pixel_stats not in HOT_PIXEL_STATS:
        raise ValueError(
            f"eventclip_frame: hot_pixel_stats must be one of {HOT_PIXEL_STATS}, "
            f"got {hot_pixel_stats!r}"
        )
    hist = polarity_histogram(events, out_of_bounds="ignore")
    bsz, _, h, w = hist.shape
    m = 2 * h * w
    flat = hist.view(bsz, m)
    if m and bsz:
        rows, cols = flat.nonzero(as_tuple=True)
        vals = flat[rows, cols].double()
        nnz = torch.bincount(rows, minlength=bsz).double()
        s1 = torch.zeros(bsz, dtype=torch.float64, device=hist.device).index_add_(0, rows, vals)
        n = torch.full_like(nnz, float(m)) if hot_pixel_stats == "all" else nnz.clamp(min=1)
        mean = s1 / n
        dev = torch.zeros_like(s1).index_add_(0, rows, (vals - mean[rows]) ** 2)
        if hot_pixel_stats == "all":
            dev = dev + (m - nnz) * mean * mean  # the zero entries: (0 - mean)^2 each
        thr = mean + 10 * (dev / n).sqrt()
        hot = vals > thr[rows]
        flat[rows[hot], cols[hot]] = 0
    gmax = flat.amax(1).view(bsz, 1, 1) if m else hist.new_ones((bsz, 1, 1))
    gmax = torch.where(gmax > 0, gmax, torch.ones_like(gmax))  # an empty sample stays 0
    on, off = hist[:, 0] / gmax, hist[:, 1] / gmax
    img = on * 127 + off * 127
    if white_background:
        wt = (on + off).clamp_(0, 1)
        img = img * wt + 255 * (1 - wt)
    return img.round_().clamp_(0, 255)


REPRESENTATIONS = {
    "histogram": lambda ev, **kw: polarity_histogram(ev, **kw),
    "voxel_grid": lambda ev, **kw: voxel_grid(ev, **kw),
    "timestamp_image": lambda ev, **kw: time_surface(ev, **kw),
    "event_image": lambda ev, **kw: event_image(ev, **kw),
    "binary_event_image": lambda ev, **kw: (polarity_histogram(ev, **kw) > 0).float(),
    "sorted_time_surface": lambda ev, **kw: sorted_time_surface(ev, **kw),
    "exp_time_surface": lambda ev, **kw: exp_time_surface(ev, **kw),
    "dist": lambda ev, **kw: dist(ev, **kw),
    "eventclip_frame": lambda ev, **kw: eventclip_frame(ev, **kw),
    "ezsr": lambda ev, **kw: ezsr_preprocess(ev, **kw),
}


def representation(
    events: Events | EventBatch,
    name: str,
    size: tuple[int, int] | None = None,
    coord_rounding: str = "exact",
    **kw: Any,
) -> torch.Tensor:
    """The representation `name` of one stream or a batch: [B, C, H, W] float32.

    name: one of REPRESENTATIONS (see the module docstring); kw go to that function
    (e.g. bins=5 for voxel_grid, mode="squash" for ezsr, white_background=True for
    eventclip_frame).
    size: (height, width) to compute it at, the coordinates mapped there first by
    coord_rounding ("exact" floor, or the published "n_imagenet" / "ezsr_fp16" roundings,
    ezsr.ops.coords); None: the sensor size. For "ezsr", coord_rounding goes to
    ezsr_preprocess (its squash mode) and size must be None.
    """
    if name not in REPRESENTATIONS:
        raise ValueError(
            f"representation: unknown name {name!r}; expected one of {sorted(REPRESENTATIONS)}"
        )
    check_coord_rounding(coord_rounding, "representation")
    if name == "ezsr":
        if size is not None:
            raise ValueError("representation: 'ezsr' takes out_size= and mode=, not size=")
        return ezsr_preprocess(events, coord_rounding=coord_rounding, **kw)
    if size is not None:
        events = scale_events(events, size, coord_rounding)
    elif coord_rounding != "exact":
        raise ValueError(f"representation: coord_rounding={coord_rounding!r} needs size=")
    return REPRESENTATIONS[name](events, **kw)
