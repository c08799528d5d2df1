"""`ezsr train`: distil an event encoder (delegates to the `training` package)."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    from ezsr.training.cli import HELP, add_arguments

    p = sub.add_parser(
        "train",
        help="distil an event encoder into a CLIP teacher's space",
        description="Train an event encoder on events synthesised from RGB "
        "images (EZSR distillation); same as `python -m ezsr.training`.\n\n" + HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p)
    p.set_defaults(func=_run)


def _run(args) -> int:
    from ezsr.training.cli import run

    return run(args)
