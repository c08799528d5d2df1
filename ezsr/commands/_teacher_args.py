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
    g.add_argument(
        "--checkpoint",
        metavar="PATH",
        type=existing_path,
        help="CLIP checkpoint (OpenAI .pt, OpenCLIP/EVA-CLIP state dict, Hugging Face "
        "folder), an EZSR image-tower checkpoint (then --base is needed), or the "
        "student.pt of an `ezsr train` run (its teacher names the classes)",
    )
    g.add_argument(
        "--model",
        metavar="NAME",
        help="architecture of --checkpoint, e.g. ViT-B/32, ViT-B/16, ViT-L/14, "
        "EVA02-CLIP-B/16 ('auto' for a Hugging Face folder)",
    )
    g.add_argument(
        "--base",
        metavar="PATH",
        type=existing_path,
        help="full CLIP checkpoint giving the text tower when --checkpoint is an "
        "EZSR image-tower checkpoint",
    )
    g.add_argument(
        "--vocab",
        metavar="PATH",
        type=existing_path,
        help="CLIP BPE vocabulary (bpe_simple_vocab_16e6.txt.gz or a folder with "
        "vocab.json + merges.txt); default: beside the checkpoint, then "
        "$EZSR_CLIP_VOCAB (nothing is downloaded)",
    )
    g.add_argument(
        "--templates",
        default=None,
        help="prompt set: openai (80 ImageNet templates), eventclip, simple, or a file "
        "with one template per line containing {}",
    )
    g.add_argument("--device", default="cpu", type=device_arg, help="torch device (cpu, cuda)")


# how errors of ezsr.zeroshot.loader name the spec's fields on these commands' command lines
OPTIONS = {
    "model": "--model",
    "checkpoint": "--checkpoint",
    "clip_checkpoint": "--base",
    "vocab": "--vocab",
    "classifier": "--classifier",
    "classes": "--classes",
}


def teacher_from_args(args, quiet: bool = False):
    """(teacher, name) for the parsed options: ezsr.zeroshot.load_teacher of their
    ModelSpec; its notes go to stderr unless quiet."""
    from ezsr.commands._common import student_file
    from ezsr.zeroshot.loader import ModelSpec, load_teacher

    student_file(args)  # a student.pt refuses --model/--base, before anything is loaded
    spec = ModelSpec(
        model=args.model,
        checkpoint=args.checkpoint,
        clip_checkpoint=args.base,
        vocab=getattr(args, "vocab", None),
        device=args.device,
        option_names=OPTIONS,
    )
    loaded = load_teacher(spec)
    if not quiet:
        for note in loaded.notes:
            print(f"note: {note}", file=sys.stderr)
    return loaded.teacher, loaded.name
