"""The events and class names of the main job on a built-in default (`ezsr demo`): events
synthesised from a photo that ships with scikit-image, a fast synthetic pattern, or a real
recording, recognised by the streaming runtime with the offline default model."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ezsr.events import Events
from ezsr.ops.ezsr_preprocess import EZSR_WINDOW

DEMO_PHOTO = "chelsea"  # skimage.data.chelsea(): a cat, bundled with scikit-image
DEMO_CLASSES = "cat,dog,car,airplane,bird,horse,ship,truck,frog,deer"


def demo_events(
    file: str | None = None, seed: int = 0, source: str = "photo"
) -> tuple[Events, str]:
    """(events, description): the recording `file`, else (source "photo") the bundled
    photo through ezsr.simulate.image_to_events (saccade motion, 640x480 sensor), or
    (source "synthetic") the fast numpy pattern of synthetic_events."""
    if source not in ("photo", "synthetic"):
        raise ValueError(f"source must be 'photo' or 'synthetic', got {source!r}")
    if file:
        from ezsr import io

        if not Path(file).exists():
            raise FileNotFoundError(f"{file}: no such event file")
        return io.read(file), f"recording {file}"
    if source == "synthetic":
        return synthetic_events(seed=seed), "a synthetic moving pattern (numpy, no simulator)"
    try:
        from skimage import data
    except ImportError as exc:
        raise ImportError(
            "the built-in demo photo needs scikit-image "
            "(pip install scikit-image), or give an event FILE"
        ) from exc
    from ezsr.simulate import image_to_events

    img = getattr(data, DEMO_PHOTO)()
    t0 = time.perf_counter()
    ev = image_to_events(img, motion="saccade", sensor=(480, 640), seed=seed)
    took = time.perf_counter() - t0
    return ev, (
        f"skimage.data.{DEMO_PHOTO}() (a photo of a cat, {img.shape[1]}x{img.shape[0]}) "
        f"-> ezsr.simulate.image_to_events(motion='saccade', sensor 640x480) "
        f"in {took:.2f} s"
    )


def write_visualisation(ev: Events, path: str, window: int = EZSR_WINDOW) -> int:
    """EZSR's visualisation (ezsr.ops.ezsr_visualize) of the deterministic window
    (ezsr.ops.default_window_start) as a PNG; returns the window's first event index."""
    from PIL import Image

    from ezsr.ops import default_window_start, ezsr_visualize

    start = default_window_start(len(ev), window)
    Image.fromarray(ezsr_visualize(ev.window(start, window))).save(path)
    return start


def classes_line(names: list[str], shown: int = 12) -> str:
    """The class names for one line: all of them, or the first `shown` and the count."""
    if len(names) <= shown:
        return ", ".join(names)
    return ", ".join(names[:shown]) + f", ... ({len(names)} names)"


def synthetic_events(
    height: int = 480,
    width: int = 640,
    frames: int = 30,
    frame_us: int = 1000,
    threshold: float = 0.3,
    seed: int = 0,
) -> Events:
    """A moving textured pattern, made in numpy, turned into events (documented placeholder).

    The scene: a smooth random texture plus a bright ring, translated 3 px right and 1 px
    down per frame. Events come from a simple per-pixel log-intensity rule: a pixel fires
    one event (polarity = sign of the change) when its log intensity moved by >= threshold
    since its last event, and its reference level advances by whole thresholds. Timestamps
    are the frame time plus a uniform jitter inside the frame, sorted. This is a demo
    source, not the simulator (ezsr.simulate implements the ESIM rule).
    Returns ezsr.Events (int16 x/y, int64 t in us, uint8 p) on a width x height sensor.
    """
    rng = np.random.default_rng(seed)
    pad = 4 * frames
    th, tw = height + pad, width + 3 * frames + pad
    yy, xx = np.mgrid[0:th, 0:tw].astype(np.float32)
    tex = np.zeros((th, tw), np.float32)
    for _ in range(4):  # a few random plane waves
        fx, fy = rng.uniform(0.004, 0.02, 2)
        tex += np.sin(fx * xx + fy * yy + rng.uniform(0, 6.3)).astype(np.float32)
    r = np.hypot(xx - tw / 2, yy - th / 2)
    tex += 4.0 * ((r > 90) & (r < 120))
    intensity = np.exp(0.4 * tex)
    ref = None
    xs, ys, ts, ps = [], [], [], []
    for k in range(frames):
        log_i = np.log(intensity[k : k + height, 3 * k : 3 * k + width] + 1e-3)
        if ref is None:
            ref = log_i.copy()
            continue
        d = log_i - ref
        fire = np.abs(d) >= threshold
        y, x = np.nonzero(fire)
        steps = np.trunc(d[fire] / threshold)
        ref[fire] += steps * threshold
        xs.append(x)
        ys.append(y)
        ps.append((steps > 0).astype(np.uint8))
        ts.append(k * frame_us + rng.integers(0, frame_us, x.size))
    t = np.concatenate(ts)
    order = np.argsort(t, kind="stable")
    return Events(
        np.concatenate(xs)[order].astype(np.int16),
        np.concatenate(ys)[order].astype(np.int16),
        t[order],
        np.concatenate(ps)[order],
        width,
        height,
        size_source="user",
    )
