"""Argument types and checks shared by the `ezsr` subcommands.

Each `*_arg` function is an argparse `type=`: it turns the string into a value or raises
argparse.ArgumentTypeError, which argparse prints as `ezsr CMD: error: argument --X: ...`
before any work starts.
"""

from __future__ import annotations

import argparse
import os
from typing import overload


def device_arg(value: str) -> str:
    """A torch device that exists here: cpu, cuda, cuda:N (N < the device count), mps."""
    import torch

    try:
        dev = torch.device(value)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a torch device (cpu, cuda, cuda:1, ...)"
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = (
                "this torch has no CUDA support"
                if torch.version.cuda is None
                else "no CUDA device is visible"
            )
            raise argparse.ArgumentTypeError(
                f"{value}: CUDA is not available ({why}; torch "
                f"{torch.__version__}); use --device cpu"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise argparse.ArgumentTypeError(
                f"{value}: only {torch.cuda.device_count()} CUDA device(s) are visible"
            )
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise argparse.ArgumentTypeError(f"{value}: MPS is not available here")
    return value


def int_at_least(low: int):
    """An argparse type: an integer >= low."""

    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
        if n < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {n}")
        return n

    parse.__name__ = f"int >= {low}"  # argparse names the type in some messages
    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)


def positive_float(value: str) -> float:
    """A finite number > 0."""
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not (x > 0 and x != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {value}")
    return x


@overload
def output_file(path: str, option: str = "-o") -> str: ...
@overload
def output_file(path: None, option: str = "-o") -> None: ...


def output_file(path: str | None, option: str = "-o") -> str | None:
    """Check, before any work, that an output file can be written: its folder is created if
    missing (as `ezsr export` always did); a path that is a folder is an error. None and '-'
    (stdout) pass through."""
    if path is None or path == "-":
        return path
    if os.path.isdir(path):
        raise ValueError(f"{option} {path}: is a folder; give a file name")
    parent = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"{option} {path}: cannot create its folder {parent} ({exc})") from exc
    if not os.access(parent, os.W_OK):
        raise ValueError(f"{option} {path}: its folder {parent} is not writable")
    return path


def student_file(args, model_default=None) -> dict | None:
    """The contents of --checkpoint when it is a trained student (`ezsr train`'s student.pt),
    else None. A student names its own encoder and teacher, so --model (other than its
    default), --clip-checkpoint and --base are refused with it rather than ignored."""
    from ezsr.models.student import peek_student_file

    path = getattr(args, "checkpoint", None)
    if not path:
        return None
    if not os.path.exists(path):
        raise FileNotFoundError(f"--checkpoint {path}: no such file")
    meta = peek_student_file(path)  # names only: the weights are loaded once, later
    if meta is None:
        return None
    given = [
        opt
        for opt, v in (
            ("--model", getattr(args, "model", None) not in (None, model_default)),
            ("--clip-checkpoint", getattr(args, "clip_checkpoint", None)),
            ("--base", getattr(args, "base", None)),
        )
        if v
    ]
    if given:
        raise ValueError(
            f"{', '.join(given)}: not used with --checkpoint {path}, a trained "
            f"student (its encoder {meta['student']!r} and teacher "
            f"{meta['teacher']['name']!r} are named in the file); leave them out"
        )
    return meta


def bound_window(window: int, n_events: int, what: str, option: str = "--window") -> int:
    """min(window, n_events), saying so in one line on stderr when the window is larger
    than the recording (what: the file or source named in the line)."""
    import sys

    if n_events and window > n_events:
        print(
            f"note: {option} {window} is larger than {what} ({n_events} events); using "
            f"{option} {n_events}, the whole recording",
            file=sys.stderr,
        )
        return n_events
    return window


def add_window_args(p: argparse.ArgumentParser, start_help: str | None = None) -> None:
    """--window (events per window, EZSR's 15,000 by default) and, with start_help,
    --start (the window's first event index; None by default)."""
    from ezsr.ops.ezsr_preprocess import EZSR_WINDOW

    if start_help is not None:
        p.add_argument("--start", type=non_negative_int, default=None, help=start_help)
    p.add_argument(
        "--window",
        type=positive_int,
        default=EZSR_WINDOW,
        help=f"events per window (default {EZSR_WINDOW})",
    )
