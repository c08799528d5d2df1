"""`ezsr demo`: the main job on a built-in default, needing no files.

Until the zero-shot path lands, the demo shows the representation pipeline: it makes a
synthetic event stream (below), runs EZSR's batched preprocessing on windows of it and
writes EZSR's visualisation of the centred window as a PNG.
"""

from __future__ import annotations

import time

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
    p = sub.add_parser("demo", help="the main job on a built-in synthetic stream (no files needed)",
                       description="Make a synthetic event stream (a moving textured pattern, "
                       "generated in numpy), run EZSR's batched preprocessing on windows of "
                       "15,000 events, and write EZSR's visualisation of the centred window.")
    p.add_argument("-o", "--output", default="ezsr_demo.png",
                   help="where to write the picture (default: ezsr_demo.png)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic scene (default 0)")
    p.set_defaults(func=run)


def run(args) -> int:
    import torch
    from PIL import Image

    import ezsr
    from ezsr import EventBatch
    from ezsr.ops import default_window_start, ezsr_preprocess, ezsr_visualize

    t0 = time.perf_counter()
    ev = synthetic_events(seed=args.seed)
    t1 = time.perf_counter()
    print(f"synthetic stream: {ev}  ({ev.on} ON / {ev.off} OFF, made in {t1 - t0:.2f} s)")
    starts = torch.arange(0, max(len(ev) - 15000, 0) + 1, 15000)
    batch = EventBatch.from_windows(ev, starts, 15000)
    t2 = time.perf_counter()
    x = ezsr_preprocess(batch)
    t3 = time.perf_counter()
    print(f"EZSR input of {len(batch)} windows of 15,000 events: {tuple(x.shape)} {x.dtype} "
          f"in {1e3 * (t3 - t2):.1f} ms (kernels: {ezsr.info()['kernels']})")
    s = default_window_start(len(ev))
    pic = ezsr_visualize(ev.window(s, 15000))
    Image.fromarray(pic).save(args.output)
    print(f"wrote {args.output}: EZSR visualisation of events [{s}, {s + 15000}), "
          f"{pic.shape[1]}x{pic.shape[0]}, {int((pic > 0).sum())} lit pixels")
    return 0
