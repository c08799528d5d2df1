"""The main job on a built-in default (`ezsr demo`): events synthesised from a photo that
ships with scikit-image (or a real recording) -> streaming zero-shot recognition with the
offline default model -> labels and a latency table."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ezsr.events import Events

DEMO_PHOTO = "chelsea"  # skimage.data.chelsea(): a cat, bundled with scikit-image
DEMO_CLASSES = "cat,dog,car,airplane,bird,horse,ship,truck,frog,deer"


def demo_events(file: str | None = None, seed: int = 0, source: str = "photo"
                ) -> tuple[Events, str]:
    """(events, description): the recording `file`, else (source "photo") the bundled
    photo through ezsr.simulate.image_to_events (saccade motion, 640x480 sensor), or
    (source "synthetic") the fast numpy pattern of ezsr.commands.demo.synthetic_events."""
    if source not in ("photo", "synthetic"):
        raise ValueError(f"--source must be 'photo' or 'synthetic', got {source!r}")
    if file:
        from ezsr import io

        if not Path(file).exists():
            raise FileNotFoundError(f"{file}: no such event file")
        return io.read(file), f"recording {file}"
    if source == "synthetic":
        from ezsr.commands.demo import synthetic_events

        return synthetic_events(seed=seed), "a synthetic moving pattern (numpy, no simulator)"
    try:
        from skimage import data
    except ImportError as exc:
        raise ImportError("the built-in demo photo needs scikit-image "
                          "(pip install scikit-image), or give an event FILE") from exc
    from ezsr.simulate import image_to_events

    img = getattr(data, DEMO_PHOTO)()
    t0 = time.perf_counter()
    ev = image_to_events(img, motion="saccade", sensor=(480, 640), seed=seed)
    took = time.perf_counter() - t0
    return ev, (f"skimage.data.{DEMO_PHOTO}() (a photo of a cat, {img.shape[1]}x{img.shape[0]}) "
                f"-> ezsr.simulate.image_to_events(motion='saccade', sensor 640x480) "
                f"in {took:.2f} s")


def write_visualisation(ev: Events, path: str, window: int = 15000) -> None:
    """EZSR's visualisation (ezsr.ops.ezsr_visualize) of the deterministic window as a PNG."""
    from PIL import Image

    from ezsr.ops import default_window_start, ezsr_visualize

    start = default_window_start(len(ev), window)
    Image.fromarray(ezsr_visualize(ev.window(start, window))).save(path)
    print(f"wrote {path}: EZSR visualisation of events [{start}, {start + window})")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", default=None,
                   help="an event recording (default: events simulated from a bundled photo)")
    p.add_argument("--classes", default=DEMO_CLASSES, help="'a,b,c' or @FILE")
    p.add_argument("--model", default="offline",
                   help="'offline' (default teacher, no download) or a CLIP name")
    p.add_argument("--backend", choices=["torch", "onnxruntime"], default="torch")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--window", type=int, default=15000, help="events per window")
    p.add_argument("--realtime", action="store_true", help="replay at the recorded speed")
    p.add_argument("--top-k", type=int, default=3)
    p.add_argument("--seed", type=int, default=0, help="simulation seed")
    p.add_argument("--source", choices=["photo", "synthetic"], default="photo",
                   help="without FILE: events simulated from the bundled photo (default) or a "
                        "fast synthetic pattern")
    p.add_argument("--max-windows", type=int, default=8,
                   help="stop after this many decisions (default 8, 0: all ~118 windows)")
    p.add_argument("--summary-json", default=None, help="write the summary JSON here")


def run(args) -> int:
    from ezsr.commands.stream import format_table, stream_file
    from ezsr.streaming import EventsReplay

    ev, what = demo_events(args.file, args.seed, getattr(args, "source", "photo"))
    span = (ev.t_last - ev.t_first) / 1e3 if len(ev) else 0.0
    print(f"events: {what}\n        {len(ev)} events, {ev.width}x{ev.height}, {span:.1f} ms")
    ns = argparse.Namespace(
        file=args.file or "<simulated>", classes=args.classes, backend=args.backend,
        model=args.model, checkpoint=None, clip_checkpoint=None, classifier=None, onnx=None, engine=None,
        device=args.device, window=args.window, dt_us=None, chunk_us=1000,
        realtime=args.realtime, speed=1.0, top_k=args.top_k, smoothing=0.0, format=None,
        quiet=False, max_windows=getattr(args, "max_windows", None) or None, stride=None)
    if getattr(args, "output", None):
        write_visualisation(ev, args.output, args.window)
    print(f"model: {args.model}, backend {args.backend}; classes: {args.classes}")
    summary = stream_file(ns, EventsReplay(ev, 1000, args.realtime))
    print(format_table(summary))
    if ns.max_windows and summary["windows"] >= ns.max_windows:
        print(f"(stopped after {ns.max_windows} windows: --max-windows 0 recognises all; "
              "--realtime replays live, dropping the windows the model cannot keep up with)")
    if args.summary_json:
        Path(args.summary_json).write_text(json.dumps(summary, indent=2))
    return 0 if summary["windows"] else 1
