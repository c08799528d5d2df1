"""`ezsr stream FILE --classes ...`: live recognition of an event recording with a latency
summary (see docs/streaming.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ezsr.commands._common import device_arg

STAGE_ORDER = ("ingest", "preprocess", "inference", "postprocess", "age")


def register(sub) -> None:
    p = sub.add_parser(
        "stream", help="recognise an event recording window by window, with latency stats",
        description="Replay an event file (as fast as possible, or at the recorded speed with "
        "--realtime) through the streaming runtime: windows of --window events and/or --dt-us "
        "microseconds, EZSR preprocessing on the runner's device, zero-shot classification. "
        "Prints the top labels of every window and a latency table (p50/p99 per stage).")
    p.add_argument("file", help="event file (any format ezsr.io reads)")
    p.add_argument("--classes", default=None,
                   help="class names: 'cat,dog,car' or @FILE with one name a line "
                        "(default: the names stored in --onnx, else a small demo list)")
    p.add_argument("--backend", choices=["torch", "onnxruntime", "tensorrt"], default="torch",
                   help="runner (default torch)")
    p.add_argument("--model", default="offline",
                   help="'offline' (the default teacher, no download) or a CLIP name of "
                        "ezsr.models such as ViT-B-16")
    p.add_argument("--checkpoint", default=None, help="EZSR event-encoder checkpoint")
    p.add_argument("--clip-checkpoint", default=None, help="full CLIP checkpoint (text tower)")
    p.add_argument("--classifier", default=None,
                   help="a saved text classifier [D, K] (torch.save) to use instead of the "
                        "text tower; K must match --classes")
    p.add_argument("--onnx", default=None,
                   help="an ONNX file from `ezsr export` (onnxruntime backend; its class names "
                        "are used unless --classes is given)")
    p.add_argument("--engine", default=None, help="a TensorRT engine (tensorrt backend)")
    p.add_argument("--device", default=None, type=device_arg,
                   help="cpu or cuda (default: cuda when available)")
    p.add_argument("--window", type=int, default=15000, help="events per window (0: time only)")
    p.add_argument("--dt-us", type=int, default=None, help="also close a window after this many µs")
    p.add_argument("--stride", type=int, default=None,
                   help="sliding windows: a decision every STRIDE events (default: --window)")
    p.add_argument("--chunk-us", type=int, default=1000, help="replay chunk length in µs")
    p.add_argument("--realtime", action="store_true",
                   help="replay at the recorded speed and drop stale windows under overload")
    p.add_argument("--speed", type=float, default=1.0, help="replay speed factor with --realtime")
    p.add_argument("--top-k", type=int, default=3, help="labels printed per window")
    p.add_argument("--smoothing", type=float, default=0.0,
                   help="EMA factor on class probabilities across windows, in [0, 1)")
    p.add_argument("--format", default=None, help="override the detected file format")
    p.add_argument("--summary-json", default=None, help="write the summary JSON here")
    p.add_argument("--max-windows", type=int, default=None, help="stop after this many decisions")
    p.add_argument("--quiet", action="store_true", help="do not print every window")
    p.set_defaults(func=run)


DEMO_CLASSES = "cat,dog,car,airplane,bird,horse,ship,truck,frog,deer"


def make_runner(args):
    """(runner, description) for the parsed arguments."""
    import torch

    from ezsr import streaming

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.backend == "onnxruntime":
        if args.onnx:
            classes = None
            if args.classes:
                from ezsr.streaming.model import read_classes
                classes = read_classes(args.classes)
            return streaming.OnnxRuntimeRunner(args.onnx, classes, device=device)
        # no ONNX file given: export the chosen model on the fly
        import tempfile

        from export.onnx_export import export_onnx
        zs = _zero_shot(args, "cpu")
        if zs.encoder is None:
            raise ValueError(f"--backend onnxruntime: model '{args.model}' is not one torch "
                             "module; pick a CLIP name (e.g. --model ViT-B-32) or --onnx FILE")
        path = Path(tempfile.mkdtemp()) / "stream.onnx"
        export_onnx(zs.encoder, zs.classifier, path, scale=zs.scale, class_names=zs.class_names,
                    out_size=zs.image_size)
        return streaming.OnnxRuntimeRunner(path, device=device)
    if args.backend == "tensorrt":
        if not args.engine:
            raise ValueError("--backend tensorrt needs --engine FILE (build it with "
                             "`ezsr export ... --engine FILE`)")
        from ezsr.streaming.model import read_classes
        return streaming.TensorRTRunner(args.engine, read_classes(args.classes or DEMO_CLASSES))
    zs = _zero_shot(args, device)
    return streaming.TorchRunner(zs.module, zs.class_names, device=device,
                                 out_size=zs.image_size)


def _zero_shot(args, device):
    from ezsr.streaming.model import load_zero_shot

    return load_zero_shot(args.model, args.classes or DEMO_CLASSES, args.checkpoint,
                          args.clip_checkpoint, device=device,
                          classifier=getattr(args, "classifier", None))


def format_table(summary: dict) -> str:
    lat = summary["latency_ms"]
    rows = [f"{'stage':<12}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}{'n':>7}"]
    for stage in STAGE_ORDER:
        if stage in lat:
            s = lat[stage]
            rows.append(f"{stage:<12}{s['p50']:>10.2f}{s['p99']:>10.2f}{s['mean']:>10.2f}"
                        f"{s['n']:>7}")
    rows.append(f"windows {summary['windows']}, dropped {summary['dropped']} (stale), "
                f"{summary['events']} events in {summary['wall_s']:.2f} s, backend "
                f"{summary['backend']} on {summary['device']}")
    return "\n".join(rows)


def stream_file(args, source=None) -> dict:
    """Run the stream for parsed args; prints decisions; returns the summary."""
    from ezsr import streaming

    if not Path(args.file).exists() and source is None:
        raise FileNotFoundError(f"{args.file}: no such event file")
    runner = make_runner(args)
    rec = streaming.StreamRecognizer(runner, n_events=args.window or None, dt_us=args.dt_us,
                                     top_k=args.top_k, smoothing=args.smoothing,
                                     stride=getattr(args, "stride", None))
    source = source if source is not None else streaming.FileReplay(
        args.file, chunk_us=args.chunk_us, realtime=args.realtime, speed=args.speed,
        format=args.format)

    def show(d):
        if not args.quiet:
            labels = "  ".join(f"{lab} {s:.2f}" for lab, s in zip(d.labels, d.scores))
            print(f"[{d.index:4d}] t={d.t_end_us / 1e3:10.2f} ms  n={d.n_events:6d}  {labels}  "
                  f"({d.latency_ms['age']:.1f} ms)", flush=True)

    summary = rec.run(source, live=args.realtime, on_decision=show,
                      max_windows=getattr(args, "max_windows", None))
    summary["file"] = str(args.file)
    summary["classes"] = runner.class_names
    return summary


def run(args) -> int:
    summary = stream_file(args)
    print(format_table(summary))
    if args.summary_json:
        Path(args.summary_json).write_text(json.dumps(summary, indent=2))
    return 0 if summary["windows"] else (print("no window recognised", file=sys.stderr) or 1)
