"""Helpers shared by the op wrappers: unpacking event inputs, out-of-bounds policy."""

from __future__ import annotations

import warnings

import numpy as np
import torch

from ezsr.events import EventBatch, Events, check_offsets

OUT_OF_BOUNDS = ("warn", "error", "ignore")


def as_batch(events: Events | EventBatch) -> EventBatch:
    """An EventBatch view of one stream (B = 1) or the batch itself."""
    if isinstance(events, EventBatch):
        return events
    if isinstance(events, Events):
        # from numpy on the CPU: torch.tensor releases and retakes the GIL, and each such
        # hand-over can cost a streaming runner a switch interval while another thread
        # runs Python (see ezsr.streaming.recognizer)
        offsets = (
            torch.from_numpy(np.array([0, len(events)], np.int64))
            if events.device.type == "cpu"
            else torch.tensor([0, len(events)], dtype=torch.int64, device=events.device)
        )
        return EventBatch(
            events.x, events.y, events.t, events.p, offsets, events.width, events.height
        )
    raise TypeError(f"expected ezsr.Events or ezsr.EventBatch, got {type(events).__name__}")


def segment_ids(offsets: torch.Tensor, n_events: int) -> torch.Tensor:
    """[N] int64: the stream index of every event of a CSR batch."""
    lengths = offsets[1:] - offsets[:-1]
    return torch.repeat_interleave(
        torch.arange(lengths.numel(), device=offsets.device), lengths, output_size=n_events
    )


def check_batch_offsets(batch: EventBatch, validate: bool) -> None:
    """check_offsets when validate (as_batch's offsets of one stream need none)."""
    if validate:
        check_offsets(batch.offsets, batch.x.numel())


def report_dropped(dropped: torch.Tensor, policy: str, op: str, width: int, height: int) -> None:
    """Apply the out-of-bounds policy to the per-stream dropped counts of an op."""
    if policy not in OUT_OF_BOUNDS:
        raise ValueError(f"{op}: out_of_bounds must be one of {OUT_OF_BOUNDS}, got {policy!r}")
    if policy == "ignore":
        return
    # numpy on the CPU: no torch op, so no GIL hand-over (see as_batch)
    total = int(dropped.numpy().sum() if dropped.device.type == "cpu" else dropped.sum())
    if not total:
        return
    msg = (
        f"{op}: {total} events lie outside the {width}x{height} sensor (columns 'x'/'y') and "
        "were dropped"
    )
    if policy == "error":
        raise ValueError(msg.replace("and were dropped", "(out_of_bounds='error')"))
    warnings.warn(msg, stacklevel=3)
