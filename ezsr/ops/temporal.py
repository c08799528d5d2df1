"""Time-aware representations: voxel grid and time surface (timestamp image).

Both use the normalised time of an event inside its stream,
    tau = (t - t_first) / (t_last - t_first)   (float64, clamped to [0, 1]),
(the differences taken in float64, so spans beyond int64 do not overflow),
with t_first / t_last the stream's first and last timestamps (t sorted) and tau = 0 for a
stream whose events share one timestamp.

Kernels: csrc/core/temporal.cpp (CPU, OpenMP) and temporal_cuda.cu (CUDA), registered as
torch.ops.ezsr.voxel_grid / time_surface; the *_reference functions below are the
pure-torch definitions they are tested against and the fallback without the extension.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from ezsr import _ext
from ezsr.events import EventBatch, Events
from ezsr.ops._common import as_batch, check_batch_offsets, report_dropped, segment_ids


def normalised_time_reference(t: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """[N] float64 tau of every event (see the module docstring)."""
    n = t.numel()
    seg = segment_ids(offsets, n)
    if n == 0:
        return torch.zeros(0, dtype=torch.float64, device=t.device)
    first = t[offsets[:-1].clamp(max=n - 1)][seg].double()
    last = t[(offsets[1:] - 1).clamp(min=0)][seg].double()
    span = last - first  # in float64: no int64 overflow for spans beyond 2^63 us
    tau = (t.double() - first) / torch.where(span > 0, span, torch.ones_like(span))
    return torch.where(span > 0, tau.clamp(0.0, 1.0), torch.zeros_like(tau))


def _valid_and_seg(
    x: torch.Tensor, y: torch.Tensor, offsets: torch.Tensor, width: int, height: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    seg = segment_ids(offsets, x.numel())
    xl, yl = x.long(), y.long()
    valid = (xl >= 0) & (xl < width) & (yl >= 0) & (yl < height)
    dropped = torch.zeros(offsets.numel() - 1, dtype=torch.int64, device=x.device)
    dropped.index_add_(0, seg[~valid], torch.ones_like(seg[~valid]))
    return seg, xl, yl, valid, dropped


def voxel_grid_reference(
    x: torch.Tensor,
    y: torch.Tensor,
    t: torch.Tensor,
    p: torch.Tensor,
    offsets: torch.Tensor,
    width: int,
    height: int,
    bins: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pure-torch voxel grid: (grid [B, bins, H, W] float32, dropped [B] int64).

    Every event adds its signed polarity (+1 ON, -1 OFF) to the two bins around
    tau * (bins - 1): (1 - frac) to the lower one, frac to the upper one.
    """
    batch = offsets.numel() - 1
    seg, xl, yl, valid, dropped = _valid_and_seg(x, y, offsets, width, height)
    pos = normalised_time_reference(t, offsets) * (bins - 1)
    b0 = pos.floor().long().clamp(max=bins - 1)
    frac = pos - b0.double()
    pol = torch.where(p == 1, 1.0, -1.0).float()
    w0, w1 = pol * (1.0 - frac).float(), pol * frac.float()
    base = ((seg * bins + b0) * height + yl) * width + xl
    out = torch.zeros(batch * bins * height * width, dtype=torch.float32, device=x.device)
    out.index_add_(0, base[valid], w0[valid])
    up = valid & (b0 + 1 < bins)
    out.index_add_(0, base[up] + height * width, w1[up])
    return out.view(batch, bins, height, width), dropped


def time_surface_reference(
    x: torch.Tensor,
    y: torch.Tensor,
    t: torch.Tensor,
    p: torch.Tensor,
    offsets: torch.Tensor,
    width: int,
    height: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pure-torch time surface: (surface [B, 2, H, W] float32, dropped [B] int64).

    Per pixel and polarity (channel 0 = ON) the largest tau of its events, 0 where none.
    """
    batch = offsets.numel() - 1
    seg, xl, yl, valid, dropped = _valid_and_seg(x, y, offsets, width, height)
    tau = normalised_time_reference(t, offsets).float()
    flat = ((seg * 2 + (p != 1).long()) * height + yl) * width + xl
    out = torch.zeros(batch * 2 * height * width, dtype=torch.float32, device=x.device)
    out.scatter_reduce_(0, flat[valid], tau[valid], reduce="amax", include_self=True)
    return out.view(batch, 2, height, width), dropped


def _raw(
    op: str, reference: Callable[..., tuple[torch.Tensor, torch.Tensor]], *args: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    x = args[0]
    if _ext.use_kernel(op, x.device):
        return getattr(torch.ops.ezsr, op)(*args)
    return reference(*args)


def _prepare(events: Events | EventBatch, op: str, validate: bool) -> EventBatch:
    b = as_batch(events)
    check_batch_offsets(b, validate)
    if b.width <= 0 or b.height <= 0:
        raise ValueError(f"{op}: the sensor size {b.width}x{b.height} is empty")
    return b


def voxel_grid(
    events: Events | EventBatch, bins: int = 5, out_of_bounds: str = "warn", validate: bool = True
) -> torch.Tensor:
    """Voxel grid of one stream or a batch, bilinear in normalised time.

    events: ezsr.Events (B = 1) or ezsr.EventBatch (t sorted inside each stream).
    bins: number of time bins (>= 1).
    out_of_bounds: "warn" | "error" | "ignore" for events outside the sensor (dropped).
    validate: check the offsets (a device sync on the GPU).
    Returns [B, bins, H, W] float32; each event contributes +1 (ON) or -1 (OFF) split
    between the two bins nearest tau * (bins - 1).
    """
    if int(bins) < 1:
        raise ValueError(f"voxel_grid: 'bins' must be >= 1, got {bins}")
    b = _prepare(events, "voxel_grid", validate)
    out, dropped = _raw(
        "voxel_grid",
        voxel_grid_reference,
        b.x,
        b.y,
        b.t,
        b.p,
        b.offsets,
        b.width,
        b.height,
        int(bins),
    )
    report_dropped(dropped, out_of_bounds, "voxel_grid", b.width, b.height)
    return out


def time_surface(
    events: Events | EventBatch, out_of_bounds: str = "warn", validate: bool = True
) -> torch.Tensor:
    """Timestamp image: per pixel and polarity the latest normalised time tau.

    Returns [B, 2, H, W] float32 in [0, 1]; channel 0 = ON, 1 = OFF; 0 where no event
    (as is the stream's first event, tau = 0).
    """
    b = _prepare(events, "time_surface", validate)
    out, dropped = _raw(
        "time_surface", time_surface_reference, b.x, b.y, b.t, b.p, b.offsets, b.width, b.height
    )
    report_dropped(dropped, out_of_bounds, "time_surface", b.width, b.height)
    return out


if _ext._C is not None:

    @torch.library.register_fake("ezsr::voxel_grid")
    def _voxel_grid_fake(
        x: torch.Tensor,
        y: torch.Tensor,
        t: torch.Tensor,
        p: torch.Tensor,
        offsets: torch.Tensor,
        width: int,
        height: int,
        bins: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        batch = offsets.shape[0] - 1
        return (
            x.new_empty((batch, bins, height, width), dtype=torch.float32),
            x.new_empty((batch,), dtype=torch.int64),
        )

    @torch.library.register_fake("ezsr::time_surface")
    def _time_surface_fake(
        x: torch.Tensor,
        y: torch.Tensor,
        t: torch.Tensor,
        p: torch.Tensor,
        offsets: torch.Tensor,
        width: int,
        height: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        batch = offsets.shape[0] - 1
        return (
            x.new_empty((batch, 2, height, width), dtype=torch.float32),
            x.new_empty((batch,), dtype=torch.int64),
        )
