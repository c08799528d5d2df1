"""`ezsr export OUT.onnx --model NAME --classes ...`: an event encoder with its zero-shot
head as ONNX (and optionally a TensorRT engine); see docs/export.md."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser(
        "export", help="export an event encoder + zero-shot head to ONNX / TensorRT",
        description="Write an ONNX classifier (opset >= 17, dynamic batch): kind 'image' takes "
        "the EZSR input [B,3,224,224]; kind 'events' takes padded raw events x, y, p, valid "
        "[B,N] and builds the EZSR histogram in the graph. Class names go into the model's "
        "metadata. Prints the ops TensorRT would reject and, with --check, ONNX Runtime parity "
        "against PyTorch.")
    p.add_argument("output", help="ONNX file to write")
    p.add_argument("--model", default="ViT-B-16", help="CLIP name of ezsr.models (default ViT-B-16)")
    p.add_argument("--checkpoint", default=None, help="EZSR event-encoder checkpoint")
    p.add_argument("--clip-checkpoint", default=None, help="full CLIP checkpoint (text tower)")
    p.add_argument("--classifier", default=None,
                   help="a saved text classifier [D, K] (torch.save) to use instead of the "
                        "text tower; K must match --classes")
    p.add_argument("--classes", required=True, help="'cat,dog' or @FILE (one name a line)")
    p.add_argument("--templates", default="openai", help="prompt template set (default openai)")
    p.add_argument("--kind", choices=["image", "events"], default="image")
    p.add_argument("--precision", choices=["fp32", "fp16"], default="fp32")
    p.add_argument("--mode", choices=["crop", "squash"], default="crop",
                   help="EZSR preprocessing variant of the events graph")
    p.add_argument("--sensor", default="480x640", help="HxW of the events graph's sensor")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--check", action="store_true", help="ONNX Runtime vs PyTorch parity")
    p.add_argument("--engine", default=None, help="also build a TensorRT engine here")
    p.add_argument("--timing-cache", default=None, help="TensorRT timing cache file")
    p.set_defaults(func=run)


def run(args) -> int:
    from export.onnx_export import (build_classifier_module, example_inputs, export_onnx,
                                    model_size_mb, parity)
    from export.tensorrt import build_engine, check_tensorrt_support
    from ezsr.streaming.model import load_zero_shot

    try:
        h, w = (int(v) for v in args.sensor.lower().split("x"))
    except ValueError:
        raise ValueError(f"--sensor: expected HxW such as 480x640, got {args.sensor!r}") from None
    zs = load_zero_shot(args.model, args.classes, args.checkpoint, args.clip_checkpoint,
                        args.templates, classifier=args.classifier)
    if zs.encoder is None:
        raise ValueError(f"--model {args.model}: not exportable (not one torch module); use a "
                         "CLIP name such as ViT-B-16")
    path = export_onnx(zs.encoder, zs.classifier, args.output, kind=args.kind,
                       precision=args.precision, scale=zs.scale, class_names=zs.class_names,
                       sensor=(h, w), out_size=zs.image_size, mode=args.mode,
                       opset=args.opset)
    print(f"wrote {path} ({model_size_mb(path):.1f} MiB, {args.kind}, {args.precision}, "
          f"{len(zs.class_names)} classes)")
    problems = check_tensorrt_support(path)
    if problems:
        print("TensorRT would not accept:")
        for pr in problems:
            print(f"  {pr['op']} ({pr['node']}): {pr['problem']}")
    else:
        print("TensorRT op check: every node is supported")
    if args.check:
        module = build_classifier_module(zs.encoder, zs.classifier, args.kind, args.precision,
                                         zs.scale, (h, w), zs.image_size, args.mode)
        r = parity(module, path, example_inputs(args.kind, batch=2, sensor=(h, w),
                                                out_size=zs.image_size))
        print("parity vs PyTorch:", json.dumps(r))
    if args.engine:
        build_engine(path, args.engine, timing_cache=args.timing_cache)
        print(f"wrote TensorRT engine {args.engine}")
    return 0
