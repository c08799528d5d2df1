"""`ezsr train`: distil an event encoder (delegates to the `training` package)."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    from training.cli import HELP, add_arguments

    p = sub.add_parser("train", help="distil an event encoder into a CLIP teacher's space",
                       description="Train an event encoder on events synthesised from RGB "
                       "images (EZSR distillation); same as `python -m training`.\n\n" + HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=_run)


def _run(args) -> int:
    from training.cli import run

    return run(args)
