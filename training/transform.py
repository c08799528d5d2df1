"""The device-side batch transform: RGB images -> synthetic events -> encoder input.

One call per micro-batch, all batched tensor ops on the training device (no per-sample Python):

    images [B,3,S,S] uint8 --/255--> [B,3,S,S] float32 in [0,1]
    window "events" (default; what `ezsr eval` sees):
      ezsr.simulate.images_to_event_windows(images, lo, hi, seed, motion, sensor, ...) ->
                    EventBatch of one window per image: N ~ U{lo..hi} events at a random
                    start of what images_to_events would give (on a GPU the stream is not
                    materialised: frame-interval counts, then only the window's events)
      ezsr.ops.ezsr_preprocess(windows, out_size, mode) -> x [B,3,out,out] float32, the same
                    function `ezsr eval` applies to recorded windows
    window "sweep" (the whole simulated sweep in one histogram):
      "fused":  ezsr.simulate.images_to_histogram(...) -> hist [B,2,H,W] float32 (events never
                    materialised)
      "events": ezsr.simulate.images_to_events(...) -> ezsr.ops.polarity_histogram -> hist
      ezsr.ops.histogram_to_ezsr_input(hist, out_size, mode) -> x [B,3,out,out] float32,
                    CLIP-normalised (EZSR preprocessing steps 4-7)
    A count window needs the events' order, so window "events" simulates events on either
    sim.path (the histogram-only kernel cannot cut windows).

`seed` is drawn per (step, micro-step, rank) by the trainer, so every batch sees fresh random
camera motion and a resumed run sees the same motions as an uninterrupted one.
"""

from __future__ import annotations

import importlib
from typing import Callable

import torch


def event_windows(batch, lo: int, hi: int, seed: int):
    """One window per stream of an EventBatch, batched (no per-stream Python): stream b of n_b
    events gets N_b ~ U{lo..hi} and keeps events [s_b, s_b + min(N_b, n_b)) with s_b uniform
    in [0, max(n_b - N_b, 0)] (EZSR's N-ImageNet evaluation window; ezsr.simulate's
    window_draws, from torch.Generator().manual_seed(seed) on the CPU, so the same windows on
    any device). Returns an EventBatch on the batch's device."""
    from ezsr.simulate.images import cut_windows, window_draws

    start, keep = window_draws(batch.offsets[1:] - batch.offsets[:-1], lo, hi, seed)
    return cut_windows(batch, start, keep)


def import_object(spec: str):
    """'package.module:attr' -> the attribute (used for custom students/teachers/transforms)."""
    mod, _, attr = spec.partition(":")
    try:
        obj = importlib.import_module(mod)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ValueError(
            f"cannot import {spec!r} (expected 'package.module:callable'): {exc}"
        ) from exc
    return obj


class EventSynthesis:
    """Callable (images uint8 [B,3,S,S] on the device, seed int) -> x [B,3,out,out] float32."""

    def __init__(
        self,
        path: str = "fused",
        motion: str = "saccade",
        sensor: tuple = (480, 640),
        duration_us: int = 0,
        out_size: int = 224,
        mode: str = "squash",
        max_frames: int = 0,
        max_crossings: float = 0.0,
        contrast: float = 0.0,
        window: str = "events",
        window_events: tuple = (13000, 17000),
    ):
        if path not in ("fused", "events"):
            raise ValueError(f"sim.path must be 'fused' or 'events', got {path!r}")
        try:
            from ezsr import simulate  # noqa: F401
        except ImportError as exc:
            raise ImportError(
                f"training needs ezsr.simulate (the event simulator) for sim.path={path!r}: {exc}"
            ) from exc
        self.path, self.motion, self.sensor = path, motion, (int(sensor[0]), int(sensor[1]))
        self.duration_us, self.out_size, self.mode = int(duration_us), int(out_size), mode
        if window not in ("events", "sweep"):
            raise ValueError(f"sim.window must be 'events' or 'sweep', got {window!r}")
        self.window, self.window_events = window, (int(window_events[0]), int(window_events[1]))
        # simulator keywords beyond the interface's fixed ones; 0 = the simulator's default
        self.extra = {
            k: v
            for k, v in (
                ("max_frames", int(max_frames)),
                ("max_crossings", float(max_crossings)),
                ("contrast_pos", float(contrast)),
                ("contrast_neg", float(contrast)),
            )
            if v
        }

    @classmethod
    def from_config(cls, s) -> Callable:
        """An ezsr.training.config.SimConfig -> EventSynthesis, or the object a 'module:callable'
        path names (called with the SimConfig)."""
        if ":" in s.path:
            return import_object(s.path)(s)
        return cls(
            s.path,
            s.motion,
            tuple(s.sensor),
            s.duration_us,
            s.out_size,
            s.mode,
            s.max_frames,
            s.max_crossings,
            s.contrast,
            s.window,
            tuple(s.window_events),
        )

    def histogram(self, images: torch.Tensor, seed: int) -> torch.Tensor:
        """images [B,3,S,S] float in [0,1] -> [B,2,H,W] float32 event counts."""
        from ezsr import simulate

        kw = dict(
            motion=self.motion,
            sensor=self.sensor,
            duration_us=self.duration_us or None,
            seed=int(seed),
            **self.extra,
        )
        if self.path == "fused":
            return simulate.images_to_histogram(images, **kw)
        from ezsr.ops import polarity_histogram

        batch = simulate.images_to_events(images, **kw)
        return polarity_histogram(batch, validate=False, out_of_bounds="ignore")

    def windows(self, images: torch.Tensor, seed: int):
        """images [B,3,S,S] float in [0,1] -> EventBatch of one count window per image."""
        from ezsr import simulate

        lo, hi = self.window_events
        return simulate.images_to_event_windows(
            images,
            lo,
            hi,
            int(seed),
            motion=self.motion,
            sensor=self.sensor,
            duration_us=self.duration_us or None,
            seed=int(seed),
            **self.extra,
        )

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, seed: int) -> torch.Tensor:
        from ezsr.ops import ezsr_preprocess, histogram_to_ezsr_input

        if images.dtype == torch.uint8:
            images = images.float().div_(255.0)
        if self.window == "events":
            return ezsr_preprocess(
                self.windows(images, seed),
                out_size=self.out_size,
                mode=self.mode,
                out_of_bounds="ignore",
            )
        hist = self.histogram(images, seed)
        return histogram_to_ezsr_input(hist, out_size=self.out_size, mode=self.mode)
