"""Polarity histogram: event counts per pixel and polarity.

Kernels: csrc/core/histogram.cpp (CPU, OpenMP) and histogram_cuda.cu (CUDA), registered as
torch.ops.ezsr.histogram; histogram_reference below is the pure-torch definition they
are tested against and the fallback when the extension is absent.
"""

from __future__ import annotations

import torch

from ezsr import _ext
from ezsr.events import EventBatch, Events
from ezsr.ops._common import as_batch, check_batch_offsets, report_dropped, segment_ids


def histogram_reference(
    x: torch.Tensor,
    y: torch.Tensor,
    p: torch.Tensor,
    offsets: torch.Tensor,
    width: int,
    height: int,
    out_width: int,
    out_height: int,
    cap: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pure-torch polarity histogram.

    x, y [N] int16/int32 (column, row); p [N] uint8 (1 = ON); offsets [B+1] int64.
    Returns counts [B, 2, out_height, out_width] float32 (channel 0 = ON, 1 = the rest)
    and dropped [B] int64 (events outside width x height). Coordinates map to the output
    by floor(v * out_size / size). cap > 0 clamps every count to cap.
    """
    batch = offsets.numel() - 1
    seg = segment_ids(offsets, x.numel())
    xl, yl = x.long(), y.long()
    valid = (xl >= 0) & (xl < width) & (yl >= 0) & (yl < height)
    ox = torch.div(xl * out_width, width, rounding_mode="floor")
    oy = torch.div(yl * out_height, height, rounding_mode="floor")
    ch = (p != 1).long()
    flat = ((seg * 2 + ch) * out_height + oy) * out_width + ox
    out = torch.zeros(batch * 2 * out_height * out_width, dtype=torch.float32, device=x.device)
    out.index_add_(0, flat[valid], torch.ones_like(flat[valid], dtype=torch.float32))
    dropped = torch.zeros(batch, dtype=torch.int64, device=x.device)
    dropped.index_add_(0, seg[~valid], torch.ones_like(seg[~valid]))
    out = out.view(batch, 2, out_height, out_width)
    if cap > 0:
        out = out.clamp_(max=cap)
    return out, dropped


def histogram_raw(
    x: torch.Tensor,
    y: torch.Tensor,
    p: torch.Tensor,
    offsets: torch.Tensor,
    width: int,
    height: int,
    out_width: int,
    out_height: int,
    cap: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """torch.ops.ezsr.histogram when a kernel exists for x's device, else the reference."""
    if _ext.use_kernel("histogram", x.device):
        return torch.ops.ezsr.histogram(
            x, y, p, offsets, width, height, out_width, out_height, float(cap)
        )
    return histogram_reference(x, y, p, offsets, width, height, out_width, out_height, cap)


def polarity_histogram(
    events: Events | EventBatch,
    size: tuple[int, int] | None = None,
    cap: float | None = None,
    out_of_bounds: str = "warn",
    validate: bool = True,
) -> torch.Tensor:
    """Counts per pixel and polarity of one stream or a batch.

    events: ezsr.Events (B = 1) or ezsr.EventBatch.
    size: (height, width) of the output; default the sensor size. A different size
        maps coordinates by floor(v * size / sensor) (EZSR's N-ImageNet squash path).
    cap: clamp every count to this value (None: no cap).
    out_of_bounds: events outside the sensor are dropped; "warn" says how many,
        "error" raises ValueError, "ignore" is silent (no device sync on the GPU).
    validate: check the offsets (a device sync on the GPU).
    Returns [B, 2, H, W] float32 on the events' device; channel 0 = ON, 1 = OFF.
    """
    b = as_batch(events)
    check_batch_offsets(b, validate)
    out_h, out_w = size if size is not None else (b.height, b.width)
    if cap is not None and cap <= 0:
        raise ValueError(f"polarity_histogram: cap must be > 0, got {cap}")
    if b.width <= 0 or b.height <= 0:
        raise ValueError(f"polarity_histogram: the sensor size {b.width}x{b.height} is empty")
    counts, dropped = histogram_raw(
        b.x, b.y, b.p, b.offsets, b.width, b.height, out_w, out_h, cap or 0.0
    )
    report_dropped(dropped, out_of_bounds, "polarity_histogram", b.width, b.height)
    return counts


if _ext._C is not None:

    @torch.library.register_fake("ezsr::histogram")
    def _histogram_fake(
        x: torch.Tensor,
        y: torch.Tensor,
        p: torch.Tensor,
        offsets: torch.Tensor,
        width: int,
        height: int,
        out_width: int,
        out_height: int,
        cap: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        batch = offsets.shape[0] - 1
        return (
            x.new_empty((batch, 2, out_height, out_width), dtype=torch.float32),
            x.new_empty((batch,), dtype=torch.int64),
        )
