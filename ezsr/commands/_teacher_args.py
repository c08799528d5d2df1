"""Shared options of `ezsr classify` and `ezsr eval`: which model names the classes."""

from __future__ import annotations

import argparse
import os
import sys

from ezsr.commands._common import device_arg


def existing_path(value: str) -> str:
    """A file or folder that exists (argparse type)."""
    if not os.path.exists(value):
        raise argparse.ArgumentTypeError(f"{value}: no such file or folder")
    return value


def add_teacher_args(p) -> None:
    g = p.add_argument_group("model (default: the offline ConSE teacher, no CLIP weights needed)")
    g.add_argument("--checkpoint", metavar="PATH", type=existing_path,
                   help="CLIP checkpoint (OpenAI .pt, OpenCLIP/EVA-CLIP state dict, Hugging Face "
                        "folder), an EZSR image-tower checkpoint (then --base is needed), or the "
                        "student.pt of an `ezsr train` run (its teacher names the classes)")
    g.add_argument("--model", metavar="NAME",
                   help="architecture of --checkpoint, e.g. ViT-B/32, ViT-B/16, ViT-L/14, "
                        "EVA02-CLIP-B/16 ('auto' for a Hugging Face folder)")
    g.add_argument("--base", metavar="PATH", type=existing_path,
                   help="full CLIP checkpoint giving the text tower when --checkpoint is an "
                        "EZSR image-tower checkpoint")
    g.add_argument("--vocab", metavar="PATH", type=existing_path,
                   help="CLIP BPE vocabulary (bpe_simple_vocab_16e6.txt.gz or a folder with "
                        "vocab.json + merges.txt); default: beside the checkpoint, then "
                        "$EZSR_CLIP_VOCAB (nothing is downloaded)")
    g.add_argument("--templates", default=None,
                   help="prompt set: openai (80 ImageNet templates), eventclip, simple, or a file "
                        "with one template per line containing {}")
    g.add_argument("--device", default="cpu", type=device_arg, help="torch device (cpu, cuda)")


def teacher_from_args(args, quiet: bool = False):
    """(teacher, description) for the parsed options."""
    if not args.checkpoint:
        if args.model or args.base:
            raise ValueError("--model/--base need --checkpoint (the CLIP weights to use)")
        from ezsr.models.teachers import create_teacher
        desc = ("offline default teacher (ConSE: EfficientNet-Lite0 ImageNet classifier + "
                "all-MiniLM-L6-v2 text embeddings) on the event frame; pass --checkpoint/--model "
                "for a CLIP/EZSR model")
        if not quiet:
            print(f"note: using the {desc}", file=sys.stderr)
        try:
            return create_teacher("offline", device=args.device), "offline"
        except ImportError as exc:  # a user error: the optional extra is not installed
            raise ValueError(str(exc)) from exc
    from ezsr.commands._common import student_file
    from ezsr.models.student import load_student_teacher
    if student_file(args) is not None:  # `ezsr train`'s student.pt
        return load_student_teacher(args.checkpoint, device=args.device,
                                    vocab=getattr(args, "vocab", None)), \
            f"student {args.checkpoint}"
    from ezsr.models import create_model
    from ezsr.models.checkpoints import CheckpointError, detect_format, read_state_dict
    from ezsr.models.teachers import CLIPTeacher
    from ezsr.models.tokenizer import load_tokenizer
    if not args.model:
        raise ValueError("--checkpoint needs --model NAME (its architecture), e.g. --model ViT-B/16")
    try:
        fmt = detect_format(read_state_dict(args.checkpoint)[0])
    except CheckpointError as exc:
        msg = str(exc)
        raise CheckpointError(msg if msg.startswith(str(args.checkpoint)) else
                              f"{args.checkpoint}: {msg}") from None
    if fmt == "ezsr":
        if not args.base:
            raise ValueError(f"{args.checkpoint} holds only an image tower (EZSR checkpoint): "
                             "give the CLIP checkpoint of its text tower with --base")
        model = create_model(args.model, pretrained=args.base, image_checkpoint=args.checkpoint,
                             device=args.device)
        near = args.base
    else:
        model = create_model(args.model, pretrained=args.checkpoint, device=args.device)
        near = args.checkpoint
    for rep in getattr(model, "load_reports", []):
        if (rep.missing or rep.unexpected) and not quiet:
            print(f"note: {rep.summary()}", file=sys.stderr)
    tok = load_tokenizer(args.vocab or near, model.context_length)
    return CLIPTeacher(model, tok), model.name
