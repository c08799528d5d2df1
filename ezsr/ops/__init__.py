"""Torch ops that turn event streams into tensors.

Each op has a compiled CPU/CUDA kernel (torch.ops.ezsr.*) and a pure-torch reference
beside it; the wrappers here pick the kernel for the input's device and fall back to
the reference (logging it once) where none was built.
"""

from ezsr.ops.coords import COORD_ROUNDINGS, scale_events
from ezsr.ops.ezsr_preprocess import (
    default_window_start,
    ezsr_preprocess,
    ezsr_visualize,
    histogram_to_ezsr_input,
)
from ezsr.ops.histogram import histogram_reference, polarity_histogram
from ezsr.ops.representations import (
    REPRESENTATIONS,
    eventclip_center,
    eventclip_frame,
    eventclip_frame_starts,
    eventclip_gray,
    representation,
)
from ezsr.ops.temporal import time_surface, time_surface_reference, voxel_grid, voxel_grid_reference

__all__ = [
    "polarity_histogram",
    "histogram_reference",
    "voxel_grid",
    "voxel_grid_reference",
    "time_surface",
    "time_surface_reference",
    "ezsr_preprocess",
    "histogram_to_ezsr_input",
    "ezsr_visualize",
    "default_window_start",
    "representation",
    "REPRESENTATIONS",
    "eventclip_frame_starts",
    "eventclip_frame",
    "eventclip_gray",
    "eventclip_center",
    "COORD_ROUNDINGS",
    "scale_events",
]
