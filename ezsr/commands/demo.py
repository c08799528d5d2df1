"""`ezsr demo`: the main job on a built-in default, needing no files.

Events synthesised from a photo bundled with scikit-image (skimage.data.chelsea, a cat) by
ezsr.simulate.image_to_events, or a real recording when FILE is given, run through the
streaming runtime (ezsr.streaming) with the offline default model
(ezsr.models.create_teacher("offline"), the event frame fed as an image): top labels for
every 15,000-event window, then a latency table. -o also writes EZSR's visualisation of the
centred window. `--source synthetic` uses the fast numpy pattern below instead of the
simulator.
"""

from __future__ import annotations

import numpy as np


def synthetic_events(height: int = 480, width: int = 640, frames: int = 30, frame_us: int = 1000,
                     threshold: float = 0.3, seed: int = 0):
    """A moving textured pattern, made in numpy, turned into events (documented placeholder).

    The scene: a smooth random texture plus a bright ring, translated 3 px right and 1 px
    down per frame. Events come from a simple per-pixel log-intensity rule: a pixel fires
    one event (polarity = sign of the change) when its log intensity moved by >= threshold
    since its last event, and its reference level advances by whole thresholds. Timestamps
    are the frame time plus a uniform jitter inside the frame, sorted. This is a demo
    source, not the simulator (ezsr.simulate implements the ESIM rule).
    Returns ezsr.Events (int16 x/y, int64 t in us, uint8 p) on a width x height sensor.
    """
    from ezsr import Events

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
        log_i = np.log(intensity[k:k + height, 3 * k:3 * k + width] + 1e-3)
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
    return Events(np.concatenate(xs)[order].astype(np.int16),
                  np.concatenate(ys)[order].astype(np.int16), t[order],
                  np.concatenate(ps)[order], width, height, size_source="user")


def register(sub) -> None:
    from ezsr.streaming.demo import add_arguments

    p = sub.add_parser("demo", help="the main job: events from a bundled photo (or FILE) -> "
                       "live zero-shot labels and a latency table",
                       description="Simulate events from a photo bundled with scikit-image "
                       "(or read FILE), recognise them window by window with the offline "
                       "zero-shot model through the streaming runtime, and print the labels "
                       "and a per-stage latency table.")
    add_arguments(p)
    p.add_argument("-o", "--output", default=None,
                   help="also write EZSR's visualisation of the centred window to this PNG")
    p.set_defaults(func=run)


def run(args) -> int:
    from ezsr.streaming.demo import run as run_demo

    return run_demo(args)
