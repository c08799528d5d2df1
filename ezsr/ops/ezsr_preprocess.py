"""EZSR's event preprocessing (EZSR's preprocessing steps 3-7, docs/design.md), batched, and its visualisation.

    events ─► polarity histogram [B, 2, H, W] (step 3, ezsr.ops.polarity_histogram)
           ─► hot-pixel clip at the 0.75-quantile of the entries > 0.1 (step 4, per sample)
           ─► each channel / (its max + 1) (step 5)
           ─► mean of the two channels (step 6; the same gray in all 3 RGB channels)
           ─► NEAREST resize of the shortest side to 224, center crop 224 (step 7),
              CLIP mean/std normalisation ─► [B, 3, 224, 224] float32

Batched without a Python loop per sample. On the CPU one fused kernel
(csrc/core/ezsr_frame.cpp, torch.ops.ezsr.ezsr_frame) does steps 3-7 per window touching
only the pixels the window's events hit. The composed path (any device, and the reference the
kernel is tested against): the per-sample quantile is a top-k over the masked flat
histogram; steps 5-7 gather only the 224x224 pixels that the NEAREST resize and the crop
keep (clip and normalise are per pixel, so they commute with the gather).
Step 7 follows torchvision's tensor Resize(NEAREST) exactly: torch's nearest rule
src = min(floor(dst * float32(in / out)), in - 1), then CenterCrop's round((new - out) / 2).
Step 2 (choosing the 15,000-event window) is the caller's: see default_window_start and
ezsr.EventBatch.from_windows. An empty window gives the picture of zeros (the original crashes).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from ezsr import _ext
from ezsr.events import EventBatch, Events
from ezsr.ops._common import as_batch, check_batch_offsets, report_dropped
from ezsr.ops.coords import check_coord_rounding, scale_events
from ezsr.ops.histogram import polarity_histogram

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
EZSR_WINDOW = 15000
MODES = ("crop", "squash")


def default_window_start(n_events: int, window: int = EZSR_WINDOW) -> int:
    """The deterministic step-2 choice: the centred window, (n - window) // 2, or 0.

    The original EZSR code draws a random start even at inference; this is the
    project's reproducible replacement.
    """
    if n_events < 0 or window <= 0:
        raise ValueError(
            f"default_window_start: need n_events >= 0 and window > 0, got {n_events}, {window}"
        )
    return max(0, (n_events - window) // 2)


def positive_quantile(flat: torch.Tensor, q: float = 0.75, threshold: float = 0.1) -> torch.Tensor:
    """Per row of flat [B, M]: the q-quantile of the entries > threshold.

    Linear interpolation exactly as numpy.quantile / torch.quantile compute it
    (virtual index q * (n - 1); lerp a + (b - a) * f, or b - (b - a) * (1 - f) when f >= 0.5).
    Returns [B] in flat's dtype; +inf for a row with no such entry (so clipping keeps it).
    """
    b = flat.shape[0]
    mask = flat > threshold
    n = mask.sum(1)
    if b == 0 or int(n.max()) == 0:
        return torch.full((b,), float("inf"), dtype=flat.dtype, device=flat.device)
    pos = q * (n - 1).clamp(min=0).double()
    lo = pos.floor().long()
    hi = torch.minimum(lo + 1, (n - 1).clamp(min=0))
    frac = (pos - lo.double()).to(flat.dtype)
    # the k-th smallest of n values is the (n-1-k)-th largest: a top-k of the upper part
    k = int((n - 1 - lo).max()) + 1
    top = flat.masked_fill(~mask, float("-inf")).topk(k, dim=1, largest=True, sorted=True).values
    a = top.gather(1, (n - 1 - lo).clamp(min=0)[:, None])[:, 0]
    c = top.gather(1, (n - 1 - hi).clamp(min=0)[:, None])[:, 0]
    d = c - a
    val = torch.where(frac >= 0.5, c - d * (1 - frac), a + d * frac)
    return torch.where(n > 0, val, torch.full_like(val, float("inf")))


def nearest_index(
    in_size: int, out_size: int, device: torch.device | str | None = None
) -> torch.Tensor:
    """[out_size] int64 source index of torch's NEAREST resize (torchvision tensor Resize)."""
    if in_size == out_size:
        return torch.arange(out_size, device=device)
    scale = torch.tensor(in_size / out_size, dtype=torch.float32)
    idx = (torch.arange(out_size, dtype=torch.float32) * scale).floor().long()
    return idx.clamp_(max=in_size - 1).to(device)


def resize_crop_index(
    height: int,
    width: int,
    out_size: int = 224,
    mode: str = "crop",
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows [out], cols [out]) int64: the source pixel of every output pixel of step 7.

    crop: Resize(out_size) of the shortest side (the long side becomes
    int(out_size * long / short), as torchvision computes it), then CenterCrop(out_size).
    squash: straight NEAREST resize to out_size x out_size.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "squash":
        return nearest_index(height, out_size, device), nearest_index(width, out_size, device)
    if height <= width:
        new_h, new_w = out_size, int(out_size * width / height)
    else:
        new_h, new_w = int(out_size * height / width), out_size
    top, left = int(round((new_h - out_size) / 2.0)), int(round((new_w - out_size) / 2.0))
    rows = nearest_index(height, new_h)[top : top + out_size]
    cols = nearest_index(width, new_w)[left : left + out_size]
    return rows.to(device), cols.to(device)


def clip_and_scale(hist: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Steps 4-5 as per-sample constants: (q [B, 1, 1, 1], divisor [B, 2, 1, 1]).

    The step-5 picture is min(hist, q) / divisor; divisor = min(channel max, q) + 1.
    """
    b = hist.shape[0]
    q = positive_quantile(hist.reshape(b, -1), 0.75, 0.1)
    cmax = hist.amax(dim=(2, 3)) if hist.numel() else hist.new_zeros(hist.shape[:2])
    div = torch.minimum(cmax, q[:, None]) + 1
    return q.view(b, 1, 1, 1), div.view(b, 2, 1, 1)


def _check_hist(hist: torch.Tensor, fn: str) -> None:
    if not isinstance(hist, torch.Tensor) or hist.dim() != 4 or hist.shape[1] != 2:
        raise ValueError(
            f"{fn}: argument 'hist' must be a [B, 2, H, W] tensor, got "
            f"{getattr(hist, 'shape', type(hist).__name__)}"
        )
    if hist.dtype != torch.float32:
        raise ValueError(f"{fn}: argument 'hist' must be float32, got {hist.dtype}")


def histogram_to_ezsr_input(
    hist: torch.Tensor, out_size: int = 224, mode: str = "crop"
) -> torch.Tensor:
    """Steps 4-7 from a ready polarity histogram.

    hist: [B, 2, H, W] float32 counts (channel 0 = ON), any device.
    mode: "crop" (shortest side to out_size, center crop) or "squash" (straight resize
        to out_size x out_size; a no-op when the histogram already is out_size x out_size,
        EZSR's N-ImageNet evaluation path).
    Returns [B, 3, out_size, out_size] float32, CLIP-normalised.
    """
    _check_hist(hist, "histogram_to_ezsr_input")
    if out_size <= 0:
        raise ValueError(f"histogram_to_ezsr_input: out_size must be > 0, got {out_size}")
    q, div = clip_and_scale(hist)
    rows, cols = resize_crop_index(hist.shape[2], hist.shape[3], out_size, mode, hist.device)
    g = hist.index_select(2, rows).index_select(3, cols)
    g = torch.minimum(g, q) / div
    return _normalise((g[:, 0] + g[:, 1]) / 2)


def _normalise(gray: torch.Tensor) -> torch.Tensor:
    """gray [B, H, W] → CLIP-normalised [B, 3, H, W] (torchvision Normalize arithmetic)."""
    mean = torch.tensor(CLIP_MEAN, dtype=torch.float32, device=gray.device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, dtype=torch.float32, device=gray.device).view(1, 3, 1, 1)
    return (gray[:, None] - mean) / std


def _squash_coords(
    events: Events | EventBatch, out_size: int, mode: str, coord_rounding: str
) -> Events | EventBatch:
    """Events with coordinates already mapped to out_size x out_size by a published rounding
    (coord_rounding != "exact", squash mode only); the events unchanged otherwise."""
    check_coord_rounding(coord_rounding, "ezsr_preprocess")
    if coord_rounding == "exact":
        return events
    if mode != "squash":
        raise ValueError(
            f"ezsr_preprocess: coord_rounding={coord_rounding!r} applies to "
            f"mode='squash' only (mode={mode!r} keeps the sensor's pixels)"
        )
    return scale_events(events, (out_size, out_size), coord_rounding)


def ezsr_preprocess_reference(
    events: Events | EventBatch,
    out_size: int = 224,
    mode: str = "crop",
    out_of_bounds: str = "warn",
    coord_rounding: str = "exact",
) -> torch.Tensor:
    """The composed path: polarity_histogram + histogram_to_ezsr_input (any device)."""
    if mode not in MODES:
        raise ValueError(f"ezsr_preprocess: mode must be one of {MODES}, got {mode!r}")
    events = _squash_coords(events, out_size, mode, coord_rounding)
    size = (out_size, out_size) if mode == "squash" else None
    hist = polarity_histogram(events, size=size, out_of_bounds=out_of_bounds)
    return histogram_to_ezsr_input(hist, out_size, mode)


@functools.lru_cache(maxsize=16)
def _cpu_crop_index(
    height: int, width: int, out_size: int, mode: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """resize_crop_index on the CPU, computed once per sensor size (the kernel only reads
    it; a stream calls ezsr_preprocess once per window)."""
    return resize_crop_index(height, width, out_size, mode)


def ezsr_preprocess(
    events: Events | EventBatch,
    out_size: int = 224,
    mode: str = "crop",
    out_of_bounds: str = "warn",
    coord_rounding: str = "exact",
) -> torch.Tensor:
    """EZSR's preprocessing of B windows (EZSR's preprocessing steps 3-7, docs/design.md), batched.

    events: ezsr.Events (B = 1) or ezsr.EventBatch of windows (the caller picks them,
        e.g. EventBatch.from_windows(ev, starts, 15000)); any device.
    mode: "crop" (the published load_and_preprocess path) or "squash" (EZSR's N-ImageNet
        evaluation: histogram built at out_size x out_size by coordinate scaling).
    out_of_bounds: "warn" | "error" | "ignore" for events outside the sensor (dropped).
    coord_rounding: how squash mode maps coordinates to out_size (ezsr.ops.coords):
        "exact" floor(v * out / in) (default), "n_imagenet" (float64 product, truncated) or
        "ezsr_fp16" (float32 product cast to float16, truncated: the input EZSR's published
        N-ImageNet numbers were evaluated on, reproduced bit for bit).
    Returns [B, 3, out_size, out_size] float32, CLIP-normalised.

    On the CPU one fused kernel (torch.ops.ezsr.ezsr_frame) does steps 3-7 per window
    touching only the window's own pixels; elsewhere the composed reference path runs.
    """
    if mode not in MODES:
        raise ValueError(f"ezsr_preprocess: mode must be one of {MODES}, got {mode!r}")
    if out_size <= 0:
        raise ValueError(f"ezsr_preprocess: out_size must be > 0, got {out_size}")
    events = _squash_coords(events, out_size, mode, coord_rounding)
    b = as_batch(events)
    if b.device.type != "cpu" or not _ext.has_kernel("ezsr_frame", "cpu"):
        return ezsr_preprocess_reference(events, out_size, mode, out_of_bounds)
    check_batch_offsets(b, isinstance(events, EventBatch))  # one stream's are [0, n]
    if b.width <= 0 or b.height <= 0:
        raise ValueError(f"ezsr_preprocess: the sensor size {b.width}x{b.height} is empty")
    hh, hw = (out_size, out_size) if mode == "squash" else (b.height, b.width)
    rows, cols = _cpu_crop_index(hh, hw, out_size, mode)
    out, dropped = torch.ops.ezsr.ezsr_frame(
        b.x,
        b.y,
        b.p,
        b.offsets,
        b.width,
        b.height,
        hw,
        hh,
        rows,
        cols,
        list(CLIP_MEAN),
        list(CLIP_STD),
    )
    report_dropped(dropped, out_of_bounds, "ezsr_preprocess", b.width, b.height)
    return out


def ezsr_visualize(events: Events) -> np.ndarray:
    """EZSR's picture of one window: uint8 [H, W] at the sensor size.

    Steps 3-5, mean of the two channels, min-max scaled, (v * 255).astype(uint8)
    (truncation). An empty window (or a flat picture) gives zeros.
    """
    if not isinstance(events, Events):
        raise TypeError(f"ezsr_visualize: expected ezsr.Events, got {type(events).__name__}")
    hist = polarity_histogram(events.to("cpu"))
    q, div = clip_and_scale(hist)
    g = torch.minimum(hist, q) / div
    v = ((g[0, 0] + g[0, 1]) / 2).numpy()
    lo, hi = v.min(initial=0.0), v.max(initial=0.0)
    if hi <= lo:
        return np.zeros(v.shape, dtype=np.uint8)
    return ((v - lo) / (hi - lo) * 255).astype(np.uint8)


if _ext._C is not None and hasattr(torch.ops.ezsr, "ezsr_frame"):

    @torch.library.register_fake("ezsr::ezsr_frame")
    def _ezsr_frame_fake(
        x: torch.Tensor,
        y: torch.Tensor,
        p: torch.Tensor,
        offsets: torch.Tensor,
        width: int,
        height: int,
        hist_width: int,
        hist_height: int,
        rows: torch.Tensor,
        cols: torch.Tensor,
        mean: list[float],
        std: list[float],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        batch = offsets.shape[0] - 1
        return (
            x.new_empty((batch, len(mean), rows.shape[0], cols.shape[0]), dtype=torch.float32),
            x.new_empty((batch,), dtype=torch.int64),
        )
