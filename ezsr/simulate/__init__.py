"""Event simulation: frames or static images -> events (the ESIM rule, Rebecq et al., CoRL 2018).

  frames_to_events(frames, timestamps_us, ...) -> Events        video / frame sequences
  image_to_events(image, motion=..., ...) -> Events             one image, camera motion
  images_to_events(images [B, ...], ...) -> EventBatch          batched, one kernel chain
  images_to_histogram(images [B, ...], ...) -> [B, 2, H, W]     fused, no events stored
  images_to_event_windows(images, lo, hi, window_seed, ...)     one count window per image

Kernels: torch.ops.ezsr.simulate_events / simulate_histogram (csrc/core/simulate.cpp,
simulate_cuda.cu) with the pure-torch reference in ezsr.simulate.kernels.
"""

from ezsr.simulate.frames import frames_to_events, log_intensity, to_luma
from ezsr.simulate.images import (
    image_to_events,
    images_to_event_windows,
    images_to_events,
    images_to_histogram,
    load_image,
    open_image,
)
from ezsr.simulate.kernels import simulate_histogram_reference, simulate_reference
from ezsr.simulate.motion import MOTIONS

__all__ = [
    "frames_to_events",
    "image_to_events",
    "images_to_event_windows",
    "images_to_events",
    "images_to_histogram",
    "load_image",
    "open_image",
    "log_intensity",
    "to_luma",
    "simulate_reference",
    "simulate_histogram_reference",
    "MOTIONS",
]
