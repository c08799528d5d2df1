"""`ezsr stream FILE --classes ...`: live recognition of an event recording with a latency
summary (see docs/streaming.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ezsr.commands._common import (
    device_arg,
    non_negative_int,
    output_file,
    positive_float,
    positive_int,
    student_file,
)

STAGE_ORDER = ("ingest", "preprocess", "inference", "postprocess", "age")
EXPORT_HINT = (
    "`ezsr export enc.onnx --model ViT-B-16 --clip-checkpoint openai.pt --checkpoint "
    "ezsr_b16.pt --classes cat,dog,car` (see docs/export.md), then `ezsr stream "
    "FILE --onnx enc.onnx`"
)


def classes_arg(value: str) -> list[str]:
    """argparse type of --classes: 'a,b,c' or @FILE (one name a line) -> the names; an empty
    list or a missing file is an error before any work."""
    from ezsr.zeroshot.classes import read_classes

    if value.startswith("@") and not Path(value[1:]).is_file():
        what = "is a folder" if Path(value[1:]).is_dir() else "does not exist"
        raise argparse.ArgumentTypeError(
            f"{value}: class list file {value[1:]} {what} (give "
            "'cat,dog,car' or @FILE with one name a line)"
        )
    try:
        return read_classes(value)
    except OSError as exc:
        raise argparse.ArgumentTypeError(
            f"{value}: cannot read the class list file ({exc.strerror or exc})"
        ) from None
    except ValueError:
        where = f"file {value[1:]}" if value.startswith("@") else repr(value)
        raise argparse.ArgumentTypeError(
            f"no class names in {where}; give 'cat,dog,car' or @FILE with one name a line"
        ) from None


def smoothing_arg(value: str) -> float:
    """argparse type of --smoothing: a number in [0, 1)."""
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0.0 <= x < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value}")
    return x


def register(sub) -> None:
    p = sub.add_parser(
        "stream",
        help="recognise an event recording window by window, with latency stats",
        description="Replay an event file (as fast as possible, or at the recorded speed with "
        "--realtime), or read a live source (camera[:SERIAL], tcp://HOST:PORT, "
        "prophesee[:SERIAL]; Ctrl-C or a closed connection ends it with the summary), "
        "through the streaming runtime: windows of --window events and/or --dt-us "
        "microseconds, EZSR preprocessing on the runner's device, zero-shot classification. "
        "Prints the top labels of every window and a latency table (p50/p99 per stage).",
    )
    p.add_argument(
        "file",
        metavar="SOURCE",
        help="an event file (any format ezsr.io reads), or a live source: "
        "camera[:SERIAL] (iniVation camera), tcp://HOST:PORT (AEDAT4 network "
        "stream, e.g. DV's TCP server output), prophesee[:SERIAL] (Metavision "
        "SDK); live sources need pip install 'ezsr[live]' (see docs/streaming.md)",
    )
    p.add_argument(
        "--classes",
        default=None,
        type=classes_arg,
        help="class names: 'cat,dog,car' or @FILE with one name a line "
        "(default: the names stored in --onnx, else a small demo list)",
    )
    p.add_argument(
        "--backend",
        choices=["torch", "onnxruntime", "tensorrt"],
        default=None,
        help="runner (default: onnxruntime with --onnx, tensorrt with --engine, else torch)",
    )
    p.add_argument(
        "--model",
        default="offline",
        help="'offline' (the default teacher, no download; under --backend "
        "onnxruntime it is exported on the fly, or use `ezsr export --model "
        "offline`) or a CLIP "
        "name of ezsr.models such as ViT-B-16",
    )
    p.add_argument(
        "--checkpoint",
        default=None,
        help="the student.pt of an `ezsr train` run (its encoder and teacher are "
        "named in it), or an EZSR event-encoder checkpoint of --model NAME",
    )
    p.add_argument("--clip-checkpoint", default=None, help="full CLIP checkpoint (text tower)")
    p.add_argument(
        "--vocab",
        metavar="PATH",
        default=None,
        help="CLIP BPE vocabulary for a CLIP text tower (bpe_simple_vocab_16e6.txt.gz "
        "or a folder with vocab.json + merges.txt; default: beside "
        "--clip-checkpoint, then $EZSR_CLIP_VOCAB)",
    )
    p.add_argument(
        "--classifier",
        default=None,
        help="a saved text classifier [D, K] (torch.save) to use instead of the "
        "text tower; D must be the model's embedding size, K the number of "
        "--classes",
    )
    p.add_argument(
        "--adapter",
        metavar="PATH",
        default=None,
        help="an adapter file of `ezsr adapt` (few-shot adaptation of --model / "
        "--checkpoint); its class names are used unless --classes is given "
        "(then they must be the same). For --onnx/--engine, bake it in with "
        "`ezsr export --adapter`",
    )
    p.add_argument(
        "--onnx",
        default=None,
        help="an ONNX file from `ezsr export` (implies --backend onnxruntime; its "
        "class names are used unless --classes is given)",
    )
    p.add_argument(
        "--engine",
        default=None,
        help="a TensorRT engine (implies --backend tensorrt); its class names "
        "come from ENGINE.json, written beside it by `ezsr export --engine`",
    )
    p.add_argument(
        "--device", default=None, type=device_arg, help="cpu or cuda (default: cuda when available)"
    )
    p.add_argument(
        "--precision",
        choices=["fp32", "fp16", "bf16"],
        default="fp32",
        help="--backend torch on CUDA: the encoder's weights and input in this type (the "
        "zero-shot head stays fp32; default fp32)",
    )
    p.add_argument(
        "--cuda-graph",
        action="store_true",
        help="--backend torch on CUDA: replay a captured CUDA graph of the model per window "
        "instead of launching its kernels one by one (lower latency at batch 1)",
    )
    p.add_argument(
        "--window",
        type=non_negative_int,
        default=15000,
        help="events per window (default 15000; 0: time windows only, needs --dt-us)",
    )
    p.add_argument(
        "--dt-us", type=positive_int, default=None, help="also close a window after this many µs"
    )
    p.add_argument(
        "--stride",
        type=positive_int,
        default=None,
        help="sliding windows: a decision every STRIDE events, <= --window (default: --window)",
    )
    p.add_argument(
        "--chunk-us",
        type=positive_int,
        default=1000,
        help="replay chunk length in µs (default 1000)",
    )
    p.add_argument(
        "--realtime",
        action="store_true",
        help="replay at the recorded speed and drop stale windows under overload",
    )
    p.add_argument(
        "--speed",
        type=positive_float,
        default=1.0,
        help="replay speed factor with --realtime (> 0, default 1)",
    )
    p.add_argument("--top-k", type=positive_int, default=3, help="labels printed per window")
    p.add_argument(
        "--smoothing",
        type=smoothing_arg,
        default=0.0,
        help="EMA factor on class probabilities across windows, in [0, 1)",
    )
    p.add_argument("--format", default=None, help="override the detected file format")
    p.add_argument("--summary-json", default=None, help="write the summary JSON here")
    p.add_argument(
        "--max-windows",
        type=non_negative_int,
        default=0,
        help="stop after this many decisions (default 0: all)",
    )
    p.add_argument(
        "--max-batch",
        type=positive_int,
        default=1,
        help="up to this many waiting windows go through the model in one call, each "
        "still getting its own decision (default 1). Where a call's time grows slowly with "
        "its batch (a GPU), a larger value keeps up with faster streams instead of dropping "
        "windows as stale",
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="CPU threads of the model: ONNX Runtime's intra-op threads, or torch's for "
        "--backend torch (default: live (--realtime or a live source) one per physical "
        "core but one, which is left to decoding and windowing, at least 1; offline one "
        "per physical core)",
    )
    p.add_argument(
        "--max-pending",
        type=positive_int,
        default=256,
        help="windows that may wait for the model in live mode (--realtime or a "
        "live source): the memory bound (256 windows of 15,000 events: ~50 MB); beyond "
        "it the oldest is dropped (default 256). Windows are also dropped as stale once "
        "--max-age-ms old while a newer one waits",
    )
    p.add_argument(
        "--max-age-ms",
        type=positive_float,
        default=50.0,
        help="live mode: a waiting window this old (since its last event "
        "arrived) is stale when a newer one waits (default 50)",
    )
    p.add_argument(
        "--warmup",
        type=non_negative_int,
        default=2,
        help="untimed preprocess + inference calls before the stream starts "
        "(default 2; reported on their own line)",
    )
    p.add_argument(
        "--reconnect",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="live sources: after a closed connection retry once a second for "
        "this long (default 0: the stream ends with its summary)",
    )
    p.add_argument("--quiet", action="store_true", help="do not print every window")
    p.set_defaults(func=run)


def check_args(args) -> None:
    """Checks that need more than one option, before any work: the backend implied by
    --onnx / --engine, time-only windows, --stride, the files given, --summary-json."""
    onnx, engine = getattr(args, "onnx", None), getattr(args, "engine", None)
    if onnx and engine:
        raise ValueError(f"--onnx {onnx} and --engine {engine}: give one model file")
    implied = "onnxruntime" if onnx else "tensorrt" if engine else None
    if args.backend is None:
        args.backend = implied or "torch"
    elif implied and args.backend != implied:
        opt = f"--onnx {onnx}" if onnx else f"--engine {engine}"
        raise ValueError(
            f"--backend {args.backend} conflicts with {opt} (that file runs under "
            f"--backend {implied}; leave --backend out)"
        )
    if (
        student_file(args, model_default="offline") is None
        and getattr(args, "checkpoint", None)
        and getattr(args, "model", "offline") == "offline"
    ):
        raise ValueError(
            f"--checkpoint {args.checkpoint}: not the student.pt of an `ezsr train` "
            "run; an EZSR event-encoder checkpoint needs --model NAME (its "
            "architecture, e.g. ViT-B-16)"
        )
    if onnx or engine:  # the model is in the file: model options would be ignored
        given = [
            opt
            for opt, v in (
                ("--model", getattr(args, "model", "offline") != "offline"),
                ("--checkpoint", getattr(args, "checkpoint", None)),
                ("--clip-checkpoint", getattr(args, "clip_checkpoint", None)),
                ("--classifier", getattr(args, "classifier", None)),
                ("--adapter", getattr(args, "adapter", None)),
            )
            if v
        ]
        if given:
            raise ValueError(
                f"{', '.join(given)}: not used with "
                f"{'--onnx' if onnx else '--engine'} (the model and its classifier "
                "are in that file); leave them out"
            )
    for opt, path in (
        ("--onnx", onnx),
        ("--engine", engine),
        ("--classifier", getattr(args, "classifier", None)),
    ):
        if path and not Path(path).is_file():
            raise FileNotFoundError(f"{opt} {path}: no such file")
    if args.backend == "tensorrt" and not engine:
        raise ValueError(
            "--backend tensorrt needs --engine FILE (build it with `ezsr export "
            "... --engine enc.engine`, see docs/export.md)"
        )
    gpu_only = [
        flag
        for flag, on in (
            ("--precision", getattr(args, "precision", "fp32") != "fp32"),
            ("--cuda-graph", getattr(args, "cuda_graph", False)),
        )
        if on
    ]
    if gpu_only and (args.backend != "torch" or str(args.device or "").startswith("cpu")):
        raise ValueError(
            f"{' and '.join(gpu_only)} apply to --backend torch on a CUDA device "
            f"(got --backend {args.backend}, --device {args.device or 'default'})"
        )
    if not args.window and args.dt_us is None:
        raise ValueError("--window 0 (time windows only) needs --dt-us")
    stride = getattr(args, "stride", None)
    if stride is not None and not args.window:
        raise ValueError("--stride needs count windows (--window > 0)")
    if stride is not None and stride > args.window:
        raise ValueError(f"--stride {stride} must be <= --window {args.window}")
    output_file(getattr(args, "summary_json", None), "--summary-json")


def model_threads(live: bool) -> int | None:
    """The model's default CPU threads: offline None (the libraries' default, one per
    physical core: throughput); live one fewer than torch's default (physical cores, or
    OMP_NUM_THREADS), at least 1, since the decoding and ingest threads need about one core
    at 10 Mev/s and the model's latency is what counts. On 2 cores, live 10 Mev/s replay:
    the tiny ONNX model's inference p50 0.29 ms on one thread against 0.48-0.52 ms on two,
    and the offline model's (torch) p99 59 ms against 120 ms at the same p50; offline
    (`ezsr demo`), torch p50 39 ms on one, 29 ms on two."""
    if not live:
        return None
    import torch

    return max(1, torch.get_num_threads() - 1)


def make_runner(args, live: bool = False):
    """The runner for the parsed arguments (checked by check_args); live: the stream drops
    stale windows (--realtime or a live source), which picks the default threads."""
    import torch

    from ezsr import streaming
    from ezsr.export.runners import OnnxRuntimeRunner, TensorRTRunner

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    threads = getattr(args, "threads", None) or model_threads(live)
    if args.backend == "onnxruntime":
        if args.onnx:
            return OnnxRuntimeRunner(args.onnx, args.classes, device=device, threads=threads)
        # no ONNX file given: export the chosen model on the fly
        import tempfile

        from ezsr.export.onnx_export import export_onnx

        zs = _zero_shot(args, "cpu")
        if zs.encoder is None:
            raise ValueError(
                f"--backend onnxruntime: model '{args.model}' cannot be exported "
                f"to ONNX; run {EXPORT_HINT}"
            )
        path = Path(tempfile.mkdtemp()) / "stream.onnx"
        export_onnx(
            zs.encoder,
            zs.classifier,
            path,
            scale=zs.scale,
            class_names=zs.class_names,
            out_size=zs.image_size,
        )
        return OnnxRuntimeRunner(path, device=device, threads=threads)
    if args.backend == "tensorrt":
        from ezsr.export.tensorrt import engine_class_names
        from ezsr.zeroshot.classes import read_classes

        names = engine_class_names(
            args.engine, read_classes(args.classes) if args.classes else None
        )  # from ENGINE.json; given names must match
        return TensorRTRunner(args.engine, names, device=device)
    if threads:
        torch.set_num_threads(threads)  # this process is the CLI's: its one model
    zs = _zero_shot(args, device)
    return streaming.TorchRunner(
        zs.module,
        zs.class_names,
        device=device,
        out_size=zs.image_size,
        precision=getattr(args, "precision", "fp32"),
        cuda_graph=getattr(args, "cuda_graph", False),
    )


# how errors of ezsr.zeroshot.loader name the spec's fields on the stream / export command lines
OPTIONS = {
    "model": "--model",
    "checkpoint": "--checkpoint",
    "clip_checkpoint": "--clip-checkpoint",
    "vocab": "--vocab",
    "classifier": "--classifier",
    "classes": "--classes",
}


def model_spec(args, device):
    """The ezsr.zeroshot.ModelSpec of the parsed stream / export model options."""
    from ezsr.zeroshot.loader import ModelSpec

    return ModelSpec(
        model=args.model,
        checkpoint=args.checkpoint,
        clip_checkpoint=args.clip_checkpoint,
        vocab=getattr(args, "vocab", None),
        classifier=getattr(args, "classifier", None),
        device=str(device),
        option_names=OPTIONS,
    )


def _zero_shot(args, device):
    from ezsr.streaming.demo import DEMO_CLASSES
    from ezsr.zeroshot.loader import load_zero_shot

    if getattr(args, "adapter", None):  # the adapter's text classifier and class names
        from dataclasses import replace

        from ezsr.zeroshot.fewshot import apply_adapter, load_adapter, resolve_classes

        if args.classifier:
            raise ValueError(
                "--classifier: not used with --adapter (the adapter holds the "
                "classifier); leave it out"
            )
        head, meta = load_adapter(args.adapter)
        names = resolve_classes(meta, args.classes, args.adapter)
        spec = replace(model_spec(args, device), classifier=head.classifier().detach())
        return apply_adapter(load_zero_shot(spec, names), head, meta, args.adapter)
    return load_zero_shot(model_spec(args, device), args.classes or DEMO_CLASSES)


def format_table(summary: dict) -> str:
    """The latency table: a warm-up line, p50/p99/mean/n per stage, the counts line and,
    when the stream did not run to its end, how it stopped."""
    lat = summary["latency_ms"]
    rows = []
    if summary.get("warmup_calls"):
        rows.append(
            f"warm-up: {summary['warmup_calls']} untimed call(s), "
            f"{summary['warmup_s'] * 1e3:.1f} ms (not in the table)"
        )
    rows.append(f"{'stage':<12}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}{'n':>7}")
    for stage in STAGE_ORDER:
        if stage in lat:
            s = lat[stage]
            rows.append(
                f"{stage:<12}{s['p50']:>10.2f}{s['p99']:>10.2f}{s['mean']:>10.2f}{s['n']:>7}"
            )
    rows.append(
        f"windows {summary['windows']}, dropped {summary['dropped']} (stale), "
        f"{summary['events']} events in {summary['wall_s']:.2f} s, backend "
        f"{summary['backend']} on {summary['device']}"
    )
    if summary.get("max_batch_seen", 1) > 1:
        rows.append(
            f"{summary['calls']} model calls for {summary['windows']} windows "
            f"(up to {summary['max_batch_seen']} a call)"
        )
    if summary.get("stopped") == "interrupted":
        rows.append("stopped: interrupted (Ctrl-C)")
    elif summary.get("end") not in (None, "end of stream"):
        rows.append(f"stopped: source {summary['end']}")
    return "\n".join(rows)


def bound_file_window(args) -> None:
    """Refuse a file without events; a --window larger than the recording becomes its event
    count, said in one line (the ring buffer is sized by the window). Reads at most
    --window + 1 events (up to the first event with --window 0)."""
    from ezsr import io
    from ezsr.commands._common import bound_window

    n = io.count_events(args.file, limit=args.window or 0, format=args.format)
    if not n:
        raise ValueError(f"{args.file}: 0 events; nothing to recognise")
    if args.window:
        args.window = bound_window(args.window, n, args.file)
        if getattr(args, "stride", None) and args.stride > args.window:
            args.stride = args.window


def stream_file(args, source=None) -> dict:
    """Run the stream for parsed args (checked by check_args); prints decisions; returns
    the summary. torch's thread count, which --threads (or the live default) sets for
    --backend torch, is restored afterwards."""
    import torch

    saved_threads = torch.get_num_threads()
    try:
        return _stream_file(args, source)
    finally:
        if torch.get_num_threads() != saved_threads:
            torch.set_num_threads(saved_threads)


def _stream_file(args, source=None) -> dict:
    from ezsr import streaming
    from ezsr.streaming.live import is_live, open_live

    live = bool(args.realtime)
    if source is None and is_live(args.file):
        source = open_live(args.file, reconnect_s=getattr(args, "reconnect", 0.0)).connect()
        live = True
    elif source is None:
        if not Path(args.file).exists():
            raise FileNotFoundError(f"{args.file}: no such event file")
        bound_file_window(args)
    runner = make_runner(args, live)
    if len(runner.class_names) == 1:
        print(
            f"warning: one class ({runner.class_names[0]}) always wins with score 1.0, so the "
            "scores mean nothing; give --classes two or more names",
            file=sys.stderr,
        )
    rec = streaming.StreamRecognizer(
        runner,
        n_events=args.window or None,
        dt_us=args.dt_us,
        top_k=args.top_k,
        smoothing=args.smoothing,
        stride=getattr(args, "stride", None),
        max_pending=getattr(args, "max_pending", 256),
        max_batch=getattr(args, "max_batch", 1),
        max_age=getattr(args, "max_age_ms", 50.0) / 1e3,
        warmup=getattr(args, "warmup", 2),
        keep_decisions=bool(getattr(args, "summary_json", None)),
    )
    source = (
        source
        if source is not None
        else streaming.FileReplay(
            args.file,
            chunk_us=args.chunk_us,
            realtime=args.realtime,
            speed=args.speed,
            format=args.format,
        )
    )

    def show(d):
        if not args.quiet:
            labels = "  ".join(f"{lab} {s:.2f}" for lab, s in zip(d.labels, d.scores))
            print(
                f"[{d.index:4d}] t={d.t_rel_us / 1e3:10.2f} ms  n={d.n_events:6d}  {labels}  "
                f"({d.latency_ms['age']:.1f} ms)",
                flush=True,
            )

    summary = rec.run(
        source, live=live, on_decision=show, max_windows=getattr(args, "max_windows", None) or None
    )
    summary["file"] = str(args.file)
    summary["classes"] = runner.class_names
    return summary


def run(args) -> int:
    check_args(args)
    summary = stream_file(args)
    print(format_table(summary))
    if args.summary_json:
        Path(args.summary_json).write_text(json.dumps(summary, indent=2))
    if not summary["windows"]:
        print(
            f"ezsr stream: error: {args.file}: {summary['events']} events but no window recognised",
            file=sys.stderr,
        )
        return 1
    return 0
