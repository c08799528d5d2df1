"""Mapping event coordinates to another (smaller) sensor size, with the published roundings.

Squashing N-ImageNet's 640x480 sensor to 224x224 maps a column x to x * 224 / 640. The exact
floor of that is ezsr's default; the published code bases rounded it in two other ways, and
their numbers were produced with those, so each is available by name:

| coord_rounding | rule (v: column or row, s = out_size / in_size)                    | used by |
|----------------|---------------------------------------------------------------------|---------|
| "exact"        | floor(v * out_size / in_size) in integers (default)                 | ezsr    |
| "n_imagenet"   | trunc(float64(v) * float64(s))                                      | N-ImageNet (real_cnn_model/data/imagenet.py, reshape_event_no_sample + .long()) |
| "ezsr_fp16"    | trunc(float16(float32(v) * float32(s)))                             | EZSR's N-ImageNet evaluation (dataset/dataset.py + event_utlities.py: float32 events scaled, then .half() in event_historgram) |

With 640 -> 224 (s = 0.35), "n_imagenet" puts columns 180, 340 and 360 one lower than the
exact floor, and "ezsr_fp16" puts 14 columns (e.g. 377, 397, 417) one higher; rows
(480 -> 224) differ likewise. The float rules are the same torch operations on the same
values as the published code, so they agree with it bit for bit on any device.
"""

from __future__ import annotations

import torch

from ezsr.events import EventBatch, Events

COORD_ROUNDINGS = ("exact", "n_imagenet", "ezsr_fp16")


def check_coord_rounding(coord_rounding: str, fn: str) -> None:
    if coord_rounding not in COORD_ROUNDINGS:
        raise ValueError(
            f"{fn}: coord_rounding must be one of {COORD_ROUNDINGS}, got {coord_rounding!r}"
        )


def scale_coordinate(
    v: torch.Tensor, in_size: int, out_size: int, coord_rounding: str = "exact"
) -> torch.Tensor:
    """[N] int64: coordinates v [N] (integers, any int dtype) of an axis of in_size pixels
    mapped to out_size pixels by the rule coord_rounding (see the module docstring).
    Coordinates outside [0, in_size) map to -1, so the ops still drop them (truncation would
    move -1 to 0)."""
    check_coord_rounding(coord_rounding, "scale_coordinate")
    if in_size <= 0 or out_size <= 0:
        raise ValueError(f"scale_coordinate: sizes must be > 0, got {in_size} -> {out_size}")
    v = v.long()
    if coord_rounding == "exact":
        out = torch.div(v * out_size, in_size, rounding_mode="floor")
    elif coord_rounding == "n_imagenet":
        out = (v.double() * (out_size / in_size)).long()
    else:
        out = (v.float() * (out_size / in_size)).half().long()
    return torch.where((v >= 0) & (v < in_size), out, torch.full_like(out, -1))


def scale_events(
    events: Events | EventBatch, size: tuple[int, int], coord_rounding: str = "exact"
) -> Events | EventBatch:
    """The same events on a sensor of size (height, width), coordinates mapped by
    scale_coordinate; t, p (and offsets) are shared, not copied. x, y become int16 (int32
    for sides > 32767)."""
    check_coord_rounding(coord_rounding, "scale_events")
    if not isinstance(events, (Events, EventBatch)):
        raise TypeError(
            f"scale_events: expected ezsr.Events or ezsr.EventBatch, got {type(events).__name__}"
        )
    out_h, out_w = int(size[0]), int(size[1])
    if out_h <= 0 or out_w <= 0:
        raise ValueError(f"scale_events: size must be positive, got {size}")
    if events.width <= 0 or events.height <= 0:
        raise ValueError(f"scale_events: the sensor size {events.width}x{events.height} is empty")
    dt = torch.int16 if max(out_h, out_w) <= 32767 else torch.int32
    x = scale_coordinate(events.x, events.width, out_w, coord_rounding).to(dt)
    y = scale_coordinate(events.y, events.height, out_h, coord_rounding).to(dt)
    if isinstance(events, EventBatch):
        return EventBatch(x, y, events.t, events.p, events.offsets, out_w, out_h)
    return Events(x, y, events.t, events.p, out_w, out_h, "user", validate=False)
