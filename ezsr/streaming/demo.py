"""The main job on a built-in default (`ezsr demo`): events synthesised from a photo that
ships with scikit-image (or a real recording) -> streaming zero-shot recognition with the
offline default model -> labels and a latency table."""

from __future__ import annotations

import argparse
import json
import sys
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


def demo_backend_arg(value: str) -> str:
    """argparse type of demo --backend: torch only (the offline teacher cannot be exported to
    ONNX); the error says how to run ONNX Runtime or TensorRT instead."""
    if value != "torch":
        from ezsr.commands.stream import EXPORT_HINT
        raise argparse.ArgumentTypeError(
            f"the demo runs the offline model under torch only, got {value!r}; for ONNX "
            f"Runtime (or TensorRT with --engine) export an encoder and stream a recording: "
            f"{EXPORT_HINT}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ezsr.commands._common import device_arg, non_negative_int, positive_int
    from ezsr.commands.stream import classes_arg

    p.add_argument("file", nargs="?", default=None,
                   help="an event recording (default: events simulated from a bundled photo)")
    p.add_argument("--classes", default=DEMO_CLASSES, type=classes_arg,
                   help="'a,b,c' or @FILE with one name a line (default: ten CIFAR-like names)")
    p.add_argument("--model", default="offline",
                   help="'offline' (default teacher, no download) or a CLIP name")
    p.add_argument("--backend", type=demo_backend_arg, default="torch", metavar="torch",
                   help="torch only (for ONNX Runtime / TensorRT: `ezsr export`, then "
                        "`ezsr stream FILE --onnx FILE` or `--engine FILE`)")
    p.add_argument("--device", default=None, type=device_arg,
                   help="cpu or cuda (default: cuda when available)")
    p.add_argument("--window", type=positive_int, default=15000,
                   help="events per window (default 15000)")
    p.add_argument("--realtime", action="store_true", help="replay at the recorded speed")
    p.add_argument("--top-k", type=positive_int, default=3, help="labels printed per window")
    p.add_argument("--seed", type=int, default=0, help="simulation seed")
    p.add_argument("--source", choices=["photo", "synthetic"], default=None,
                   help="without FILE only: events simulated from the bundled photo (default) "
                        "or a fast synthetic pattern")
    p.add_argument("--max-windows", type=non_negative_int, default=8,
                   help="stop after this many decisions (default 8; 0: all, ~118 windows)")
    p.add_argument("--summary-json", default=None, help="write the summary JSON here")


def classes_line(names: list[str], shown: int = 12) -> str:
    """The class names for one line: all of them, or the first `shown` and the count."""
    if len(names) <= shown:
        return ", ".join(names)
    return ", ".join(names[:shown]) + f", ... ({len(names)} names)"


def run(args) -> int:
    from ezsr.commands._common import output_file
    from ezsr.commands.stream import format_table, stream_file
    from ezsr.streaming import EventsReplay
    from ezsr.streaming.model import read_classes

    names = read_classes(args.classes)
    source = getattr(args, "source", None)
    if args.file and source:
        raise ValueError(f"give FILE ({args.file}) or --source {source}, not both (--source "
                         "picks the built-in events used when no FILE is given)")
    output_file(args.summary_json, "--summary-json")
    output_file(getattr(args, "output", None), "-o")
    ev, what = demo_events(args.file, args.seed, source or "photo")
    if not len(ev):
        raise ValueError(f"{args.file or what}: 0 events; nothing to recognise")
    span = (ev.t_last - ev.t_first) / 1e3
    print(f"events: {what}\n        {len(ev)} events, {ev.width}x{ev.height}, {span:.1f} ms")
    ns = argparse.Namespace(
        file=args.file or "<simulated>", classes=names, backend="torch",
        model=args.model, checkpoint=None, clip_checkpoint=None, classifier=None, onnx=None,
        engine=None, device=args.device, window=args.window, dt_us=None, chunk_us=1000,
        realtime=args.realtime, speed=1.0, top_k=args.top_k, smoothing=0.0, format=None,
        quiet=False, max_windows=getattr(args, "max_windows", None) or None, stride=None)
    if getattr(args, "output", None):
        write_visualisation(ev, args.output, args.window)
    print(f"model: {args.model}, backend torch; classes: {classes_line(names)}")
    summary = stream_file(ns, EventsReplay(ev, 1000, args.realtime))
    print(format_table(summary))
    if ns.max_windows and summary["windows"] >= ns.max_windows:
        print(f"(stopped after {ns.max_windows} window(s): --max-windows 0 recognises all; "
              "--realtime replays live, dropping the windows the model cannot keep up with)")
    if args.summary_json:
        Path(args.summary_json).write_text(json.dumps(summary, indent=2))
    if not summary["windows"]:
        print(f"ezsr demo: error: {ns.file}: {len(ev)} events but no window recognised",
              file=sys.stderr)
        return 1
    return 0
