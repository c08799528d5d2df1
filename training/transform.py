"""The device-side batch transform: RGB images -> synthetic events -> encoder input.

One call per micro-batch, all batched tensor ops on the training device (no per-sample Python):

    images [B,3,S,S] uint8 --/255--> [B,3,S,S] float32 in [0,1]
      "fused":  ezsr.simulate.images_to_histogram(images, motion, sensor, duration_us, seed)
                    -> hist [B,2,H,W] float32 (events never materialised)
      "events": ezsr.simulate.images_to_events(...) -> EventBatch (CSR)
                    -> ezsr.ops.polarity_histogram -> hist [B,2,H,W]
      ezsr.ops.histogram_to_ezsr_input(hist, out_size, mode) -> x [B,3,out,out] float32,
                    CLIP-normalised (EZSR preprocessing steps 4-7, reference §1)

`seed` is drawn per (step, micro-step, rank) by the trainer, so every batch sees fresh random
camera motion and a resumed run sees the same motions as an uninterrupted one.
"""

from __future__ import annotations

import importlib
from typing import Callable

import torch


def import_object(spec: str):
    """'package.module:attr' -> the attribute (used for custom students/teachers/transforms)."""
    mod, _, attr = spec.partition(":")
    try:
        obj = importlib.import_module(mod)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot import {spec!r} (expected 'package.module:callable'): "
                         f"{exc}") from exc
    return obj


class EventSynthesis:
    """Callable (images uint8 [B,3,S,S] on the device, seed int) -> x [B,3,out,out] float32."""

    def __init__(self, path: str = "fused", motion: str = "saccade",
                 sensor: tuple = (224, 224), duration_us: int = 0, out_size: int = 224,
                 mode: str = "crop", max_frames: int = 0, max_crossings: float = 0.0,
                 contrast: float = 0.0):
        if path not in ("fused", "events"):
            raise ValueError(f"sim.path must be 'fused' or 'events', got {path!r}")
        try:
            from ezsr import simulate  # noqa: F401
        except ImportError as exc:
            raise ImportError("training needs ezsr.simulate (the event simulator) for "
                              f"sim.path={path!r}: {exc}") from exc
        self.path, self.motion, self.sensor = path, motion, (int(sensor[0]), int(sensor[1]))
        self.duration_us, self.out_size, self.mode = int(duration_us), int(out_size), mode
        # simulator keywords beyond the interface's fixed ones; 0 = the simulator's default
        self.extra = {k: v for k, v in (("max_frames", int(max_frames)),
                                        ("max_crossings", float(max_crossings)),
                                        ("contrast_pos", float(contrast)),
                                        ("contrast_neg", float(contrast))) if v}

    @classmethod
    def from_config(cls, s) -> Callable:
        """An ezsr.training.config.SimConfig -> EventSynthesis, or the object a 'module:callable'
        path names (called with the SimConfig)."""
        if ":" in s.path:
            return import_object(s.path)(s)
        return cls(s.path, s.motion, tuple(s.sensor), s.duration_us, s.out_size, s.mode,
                   s.max_frames, s.max_crossings, s.contrast)

    def histogram(self, images: torch.Tensor, seed: int) -> torch.Tensor:
        """images [B,3,S,S] float in [0,1] -> [B,2,H,W] float32 event counts."""
        from ezsr import simulate

        kw = dict(motion=self.motion, sensor=self.sensor, duration_us=self.duration_us or None,
                  seed=int(seed), **self.extra)
        if self.path == "fused":
            return simulate.images_to_histogram(images, **kw)
        from ezsr.ops import polarity_histogram

        batch = simulate.images_to_events(images, **kw)
        return polarity_histogram(batch, validate=False, out_of_bounds="ignore")

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, seed: int) -> torch.Tensor:
        from ezsr.ops import histogram_to_ezsr_input

        if images.dtype == torch.uint8:
            images = images.float().div_(255.0)
        hist = self.histogram(images, seed)
        return histogram_to_ezsr_input(hist, out_size=self.out_size, mode=self.mode)
