"""`ezsr demo`: the main job on a built-in default, needing no files.

Events synthesised from a photo bundled with scikit-image (skimage.data.chelsea, a cat) by
ezsr.simulate.image_to_events, or a real recording when FILE is given, run through the
streaming runtime (ezsr.streaming) with the offline default model
(ezsr.models.create_teacher("offline"), the event frame fed as an image): top labels for
every 15,000-event window, then a latency table. -o also writes EZSR's visualisation of the
centred window. `--source synthetic` uses the fast numpy pattern of
ezsr.streaming.demo.synthetic_events instead of the simulator.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="the main job: events from a bundled photo (or FILE) -> "
        "live zero-shot labels and a latency table",
        description="Simulate events from a photo bundled with scikit-image "
        "(or read FILE), recognise them window by window with the offline "
        "zero-shot model through the streaming runtime, and print the labels "
        "and a per-stage latency table.",
    )
    add_arguments(p)
    p.add_argument(
        "-o",
        "--output",
        default=None,
        help="also write EZSR's visualisation of the centred window to this PNG",
    )
    p.set_defaults(func=run)


def demo_backend_arg(value: str) -> str:
    """argparse type of demo --backend: torch only (the offline teacher cannot be exported to
    ONNX); the error says how to run ONNX Runtime or TensorRT instead."""
    if value != "torch":
        from ezsr.commands.stream import EXPORT_HINT

        raise argparse.ArgumentTypeError(
            f"the demo runs the offline model under torch only, got {value!r}; for ONNX "
            f"Runtime (or TensorRT with --engine) export an encoder and stream a recording: "
            f"{EXPORT_HINT}"
        )
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ezsr.commands._common import add_window_args, device_arg, non_negative_int, positive_int
    from ezsr.commands.stream import classes_arg
    from ezsr.streaming.demo import DEMO_CLASSES

    p.add_argument(
        "file",
        nargs="?",
        default=None,
        help="an event recording (default: events simulated from a bundled photo)",
    )
    p.add_argument(
        "--classes",
        default=DEMO_CLASSES,
        type=classes_arg,
        help="'a,b,c' or @FILE with one name a line (default: ten CIFAR-like names)",
    )
    p.add_argument(
        "--model", default="offline", help="'offline' (default teacher, no download) or a CLIP name"
    )
    p.add_argument(
        "--backend",
        type=demo_backend_arg,
        default="torch",
        metavar="torch",
        help="torch only (for ONNX Runtime / TensorRT: `ezsr export`, then "
        "`ezsr stream FILE --onnx FILE` or `--engine FILE`)",
    )
    p.add_argument(
        "--device", default=None, type=device_arg, help="cpu or cuda (default: cuda when available)"
    )
    add_window_args(p)
    p.add_argument("--realtime", action="store_true", help="replay at the recorded speed")
    p.add_argument("--top-k", type=positive_int, default=3, help="labels printed per window")
    p.add_argument("--seed", type=int, default=0, help="simulation seed")
    p.add_argument(
        "--source",
        choices=["photo", "synthetic"],
        default=None,
        help="without FILE only: events simulated from the bundled photo (default) "
        "or a fast synthetic pattern",
    )
    p.add_argument(
        "--max-windows",
        type=non_negative_int,
        default=8,
        help="stop after this many decisions (default 8; 0: all, ~118 windows)",
    )
    p.add_argument("--summary-json", default=None, help="write the summary JSON here")


def run(args) -> int:
    from ezsr.commands._common import output_file
    from ezsr.commands.stream import format_table, stream_file
    from ezsr.streaming import EventsReplay
    from ezsr.streaming.demo import classes_line, demo_events, write_visualisation
    from ezsr.zeroshot.classes import read_classes

    names = read_classes(args.classes, "--classes")
    source = getattr(args, "source", None)
    if args.file and source:
        raise ValueError(
            f"give FILE ({args.file}) or --source {source}, not both (--source "
            "picks the built-in events used when no FILE is given)"
        )
    output_file(args.summary_json, "--summary-json")
    output_file(getattr(args, "output", None), "-o")
    ev, what = demo_events(args.file, args.seed, source or "photo")
    if not len(ev):
        raise ValueError(f"{args.file or what}: 0 events; nothing to recognise")
    span = (int(ev.t[-1]) - int(ev.t[0])) / 1e3  # not empty (checked above)
    print(f"events: {what}\n        {len(ev)} events, {ev.width}x{ev.height}, {span:.1f} ms")
    from ezsr.commands._common import bound_window

    args.window = bound_window(args.window, len(ev), args.file or "the simulated events")
    ns = argparse.Namespace(
        file=args.file or "<simulated>",
        classes=names,
        backend="torch",
        model=args.model,
        checkpoint=None,
        clip_checkpoint=None,
        classifier=None,
        onnx=None,
        engine=None,
        device=args.device,
        window=args.window,
        dt_us=None,
        chunk_us=1000,
        realtime=args.realtime,
        speed=1.0,
        top_k=args.top_k,
        smoothing=0.0,
        format=None,
        quiet=False,
        max_windows=getattr(args, "max_windows", None) or None,
        stride=None,
        summary_json=args.summary_json,
    )  # the summary then lists every window's labels
    if getattr(args, "output", None):
        start = write_visualisation(ev, args.output, args.window)
        print(f"wrote {args.output}: EZSR visualisation of events [{start}, {start + args.window})")
    print(f"model: {args.model}, backend torch; classes: {classes_line(names)}")
    summary = stream_file(ns, EventsReplay(ev, 1000, args.realtime))
    print(format_table(summary))
    if ns.max_windows and summary["windows"] >= ns.max_windows:
        print(
            f"(stopped after {ns.max_windows} window(s): --max-windows 0 recognises all; "
            "--realtime replays live, dropping the windows the model cannot keep up with)"
        )
    if args.summary_json:
        Path(args.summary_json).write_text(json.dumps(summary, indent=2))
    if not summary["windows"]:
        print(
            f"ezsr demo: error: {ns.file}: {len(ev)} events but no window recognised",
            file=sys.stderr,
        )
        return 1
    return 0
