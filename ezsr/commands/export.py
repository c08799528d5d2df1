"""`ezsr export OUT.onnx --model NAME --classes ...`: an event encoder with its zero-shot
head as ONNX (and optionally a TensorRT engine); see docs/export.md."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from ezsr.events import Events

EPILOG = """\
The text classifier (class names x prompt templates through the CLIP text tower) needs CLIP's
BPE vocabulary, which is never downloaded: give --vocab PATH (bpe_simple_vocab_16e6.txt.gz or
a folder with vocab.json + merges.txt), keep it beside --clip-checkpoint or set
$EZSR_CLIP_VOCAB; or give a ready classifier with --classifier W.pt (a [D, K] tensor saved
with torch.save, e.g. from ezsr.zeroshot.build_classifier; K = the number of classes).
A try-out with no weights at all (random tiny model, random classifier):
  python -c "import torch; torch.save(torch.randn(32, 3), 'W.pt')"
  ezsr export tiny.onnx --model test-tiny --classifier W.pt --classes cat,dog,car
"""


def opset_arg(value: str) -> int:
    """An ONNX opset the export supports: 17 .. the installed torch exporter's highest."""
    from ezsr.export.onnx_export import MIN_OPSET, max_opset

    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    hi = max_opset()
    if not MIN_OPSET <= n <= hi:
        import torch

        raise argparse.ArgumentTypeError(
            f"must be in {MIN_OPSET}..{hi} ({MIN_OPSET}: LayerNormalization as one node; {hi}: "
            f"the highest opset torch {torch.__version__} exports), got {n}"
        )
    return n


def register(sub) -> None:
    from ezsr.commands._teacher_args import existing_path

    p = sub.add_parser(
        "export",
        help="export an event encoder + zero-shot head to ONNX / TensorRT",
        description="Write an ONNX classifier (opset >= 17, dynamic batch): kind 'image' takes "
        "the EZSR input [B,3,224,224]; kind 'events' takes padded raw events x, y, p, valid "
        "[B,N] and builds the EZSR histogram in the graph. Class names go into the model's "
        "metadata. Prints the ops TensorRT would reject and, with --check, ONNX Runtime parity "
        "against PyTorch.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("output", help="ONNX file to write")
    p.add_argument(
        "--model",
        default=None,
        help="CLIP name of ezsr.models (default ViT-B-16; not with a student.pt), "
        "or 'offline': the offline default (EfficientNet-Lite0 -> ImageNet "
        "probabilities -> ConSE combination of class-name embeddings), no "
        "CLIP weights needed",
    )
    p.add_argument(
        "--checkpoint",
        default=None,
        type=existing_path,
        help="EZSR event-encoder checkpoint of --model, or the student.pt of an "
        "`ezsr train` run (its encoder and teacher are named in it)",
    )
    p.add_argument(
        "--clip-checkpoint",
        default=None,
        type=existing_path,
        help="full CLIP checkpoint (text tower)",
    )
    p.add_argument(
        "--classifier",
        default=None,
        type=existing_path,
        help="a saved text classifier [D, K] (torch.save) to use instead of the "
        "text tower; K must match --classes",
    )
    p.add_argument(
        "--vocab",
        metavar="PATH",
        default=None,
        type=existing_path,
        help="CLIP BPE vocabulary for the text tower (bpe_simple_vocab_16e6.txt.gz or "
        "a folder with vocab.json + merges.txt; default: beside "
        "--clip-checkpoint, then $EZSR_CLIP_VOCAB); not needed with --classifier",
    )
    p.add_argument(
        "--classes",
        default=None,
        help="'cat,dog' or @FILE (one name a line); required unless --adapter gives them",
    )
    p.add_argument(
        "--adapter",
        metavar="PATH",
        default=None,
        type=existing_path,
        help="an adapter file of `ezsr adapt` (few-shot adaptation of this model): "
        "the adapter goes into the graph after the encoder, with its text "
        "classifier and class names (--classes, if given, must be the same)",
    )
    p.add_argument("--templates", default="openai", help="prompt template set (default openai)")
    p.add_argument("--kind", choices=["image", "events"], default="image")
    p.add_argument(
        "--precision",
        choices=["fp32", "fp16", "int8"],
        default="fp32",
        help="fp32 (default); fp16 encoder (GPU); int8 through ONNX Runtime's "
        "quantisation for CPU deployment (see --int8-mode)",
    )
    p.add_argument(
        "--int8-mode",
        choices=["dynamic", "static"],
        default="dynamic",
        help="with --precision int8: dynamic (int8 weights, activations quantised "
        "per call; no data needed; default) or static QDQ (int8 activations "
        "calibrated on --calibration)",
    )
    p.add_argument(
        "--calibration",
        default=None,
        type=existing_path,
        metavar="FILE",
        help="an event recording whose 15,000-event windows (up to 32) calibrate "
        "--int8-mode static",
    )
    p.add_argument(
        "--int8-reduce-range",
        action="store_true",
        help="with --int8-mode dynamic: 7-bit weights, for x86 CPUs without VNNI "
        "(AVX2 only: pre-2019 Intel, AMD before Zen 4), whose u8 x s8 "
        "products can saturate with 8-bit weights; less accurate elsewhere",
    )
    p.add_argument(
        "--mode",
        choices=["crop", "squash"],
        default="crop",
        help="EZSR preprocessing variant of the events graph",
    )
    p.add_argument("--sensor", default="480x640", help="HxW of the events graph's sensor")
    p.add_argument(
        "--opset",
        type=opset_arg,
        default=17,
        help="ONNX opset (default 17; at most what the installed torch exports)",
    )
    p.add_argument("--check", action="store_true", help="ONNX Runtime vs PyTorch parity")
    p.add_argument(
        "--engine",
        default=None,
        help="also build a TensorRT engine here (needs TensorRT >= 10 and a GPU)",
    )
    p.add_argument("--timing-cache", default=None, help="TensorRT timing cache file")
    p.set_defaults(func=run)


def _check_requirements(args) -> None:
    """Every missing package, bad output path and missing vocabulary, before any work."""
    from ezsr.commands._common import output_file

    for mod, why in (("onnx", "the ONNX export"), ("onnxruntime", "--check")):
        if mod == "onnxruntime" and not args.check:
            continue
        try:
            __import__(mod)
        except ImportError:
            raise ValueError(f"{why} needs the {mod} package: pip install 'ezsr[export]'") from None
    if args.engine:
        from ezsr.export.tensorrt import require_tensorrt

        try:
            require_tensorrt()
        except ImportError as exc:
            raise ValueError(f"--engine: {exc}") from None
    output_file(args.output, "output")
    output_file(args.engine, "--engine")
    output_file(args.timing_cache, "--timing-cache")


def _check_vocab(args) -> None:
    """Without --classifier a CLIP model's text tower needs the BPE vocabulary: fail now,
    saying what to give, rather than after building the model."""
    from ezsr.models.tokenizer import VocabNotFoundError, find_vocab

    if args.classifier or args.model == "offline":
        return
    try:
        find_vocab(args.vocab or args.clip_checkpoint)
    except VocabNotFoundError:
        if args.vocab:
            raise ValueError(
                f"--vocab {args.vocab}: no bpe_simple_vocab_16e6.txt.gz or "
                "vocab.json + merges.txt there"
            ) from None
        looked = (
            f" (looked beside {args.clip_checkpoint}, in $EZSR_CLIP_VOCAB and the "
            "open_clip/clip packages)"
            if args.clip_checkpoint
            else ""
        )
        raise ValueError(
            f"--model {args.model}: the text classifier needs CLIP's tokenizer vocabulary, and "
            f"none was found{looked}; nothing is downloaded. Give --vocab PATH "
            "(bpe_simple_vocab_16e6.txt.gz, or a folder with vocab.json + merges.txt) or "
            "--classifier W.pt (a ready [D, K] text classifier saved with torch.save)"
        ) from None


def _load_classifier(path: str, k: int, model: str, d: int | None) -> torch.Tensor:
    """The --classifier tensor [D, K], read with weights_only and checked against the
    model's embedding width D and the K class names."""
    from ezsr.commands.stream import OPTIONS
    from ezsr.models.checkpoints import load_file
    from ezsr.zeroshot.loader import ModelSpec, check_classifier

    w = check_classifier(
        load_file(
            path, "a [D, K] text classifier tensor saved with torch.save", option="--classifier"
        ),
        path,
        k,
        ModelSpec(option_names=OPTIONS),
    )
    if d is not None and w.shape[0] != d:  # None: checked once the model is loaded
        raise ValueError(
            f"--classifier {path}: {w.shape[0]} rows, but {model} gives {d}-dim embeddings"
        )
    return w


def _calibration_windows(path, window: int = 15000, limit: int = 32):
    """Up to `limit` consecutive windows of `window` events of the recording `path` (None
    without one): what --int8-mode static calibrates on."""
    if not path:
        return None
    from ezsr import io

    out: list[Events] = []
    for w in io.iter_chunks(path, n_events=window):
        if len(w) and len(out) < limit:
            out.append(w)
        if len(out) >= limit:
            break
    if not out:
        raise ValueError(f"--calibration {path}: no events")
    return out


def run(args) -> int:
    from ezsr.commands.stream import OPTIONS
    from ezsr.models.factory import get_config
    from ezsr.zeroshot.classes import read_classes
    from ezsr.zeroshot.loader import ModelSpec, load_zero_shot

    try:
        h, w = (int(v) for v in args.sensor.lower().split("x"))
    except ValueError:
        raise ValueError(f"--sensor: expected HxW such as 480x640, got {args.sensor!r}") from None
    from ezsr.commands._common import student_file

    # a trained student (`ezsr train`'s student.pt) names its encoder and teacher itself
    student = student_file(args)
    args.model = args.model or ("student" if student is not None else "ViT-B-16")
    dim: int | None
    if student is not None:
        label, dim = f"student {args.checkpoint}", int(student["embed_dim"])
    else:
        label, dim = (
            f"--model {args.model}",
            None if args.model == "offline" else get_config(args.model)["embed_dim"],
        )  # unknown: listed
    if args.precision == "int8" and args.int8_mode == "static" and not args.calibration:
        raise ValueError(
            "--int8-mode static needs --calibration FILE (an event recording "
            "whose windows calibrate the activation ranges)"
        )
    _check_requirements(args)
    adapter = None
    classifier: torch.Tensor | None
    if args.adapter:  # its classifier and class names replace the text tower's
        from ezsr.zeroshot.fewshot import check_adapter, load_adapter, resolve_classes

        if args.classifier:
            raise ValueError(
                "--classifier: not used with --adapter (the adapter holds the "
                "classifier); leave it out"
            )
        adapter = load_adapter(args.adapter)
        if dim is not None:  # the offline model's width is known once loaded: apply_adapter
            check_adapter(*adapter, dim, path=args.adapter)
        names = resolve_classes(
            adapter[1],
            read_classes(args.classes, "--classes") if args.classes else None,
            args.adapter,
        )
        classifier = adapter[0].classifier().detach()
    elif not args.classes:
        raise ValueError("--classes is required (or --adapter with its class names)")
    else:
        names = read_classes(args.classes, "--classes")
        classifier = (
            _load_classifier(args.classifier, len(names), label, dim) if args.classifier else None
        )
    if student is None and adapter is None:  # a student's teacher is loaded below
        _check_vocab(args)
    spec = ModelSpec(
        model=args.model,
        checkpoint=args.checkpoint,
        clip_checkpoint=args.clip_checkpoint,
        vocab=args.vocab,
        classifier=classifier,
        option_names=OPTIONS,
    )
    zs = load_zero_shot(spec, names, templates=args.templates)
    if adapter is not None:
        from ezsr.zeroshot.fewshot import apply_adapter

        zs = apply_adapter(zs, *adapter, args.adapter)
    if zs.encoder is None:
        raise ValueError(
            f"--model {args.model}: not exportable (not one torch module); use a "
            "CLIP name such as ViT-B-16"
        )

    from ezsr.export.onnx_export import (
        build_classifier_module,
        example_inputs,
        export_onnx,
        model_size_mb,
        parity,
    )
    from ezsr.export.tensorrt import build_engine, check_tensorrt_support

    path = export_onnx(
        zs.encoder,
        zs.classifier,
        args.output,
        kind=args.kind,
        precision=args.precision,
        scale=zs.scale,
        class_names=zs.class_names,
        sensor=(h, w),
        out_size=zs.image_size,
        mode=args.mode,
        opset=args.opset,
        int8_mode=args.int8_mode,
        calibration=_calibration_windows(args.calibration),
        int8_reduce_range=args.int8_reduce_range,
    )
    print(
        f"wrote {path} ({model_size_mb(path):.1f} MiB, {args.kind}, {args.precision}, "
        f"{len(zs.class_names)} classes)"
    )
    problems = check_tensorrt_support(path)
    if problems:
        print("TensorRT would not accept:")
        for pr in problems:
            print(f"  {pr['op']} ({pr['node']}): {pr['problem']}")
    else:
        print("TensorRT op check: every node is supported")
    if args.check:
        module = build_classifier_module(
            zs.encoder,
            zs.classifier,
            args.kind,
            "fp32" if args.precision == "int8" else args.precision,
            zs.scale,
            (h, w),
            zs.image_size,
            args.mode,
        )
        r = parity(
            module, path, example_inputs(args.kind, batch=2, sensor=(h, w), out_size=zs.image_size)
        )
        print("parity vs PyTorch:", json.dumps(r))
    if args.engine:
        build_engine(path, args.engine, timing_cache=args.timing_cache)
        print(f"wrote TensorRT engine {args.engine}")
    return 0
