"""Command line of the trainer: `python -m ezsr.training` and `ezsr train` share it."""

from __future__ import annotations

import argparse
import json
import logging
import sys

DESCRIPTION = (
    "Distil an event encoder into a frozen teacher's image-embedding space from events "
    "synthesised out of RGB images on the training device (EZSR)."
)

HELP = """\
Arguments are config files and key=value overrides, applied in order after the defaults:
  CONFIG       a .yaml/.json file, or a built-in name: tiny_cpu, imagenet_vitb16,
               ablation_global, ablation_global_scalar (a file may start from another
               with `base: NAME`)
  key=value    a dotted field, e.g. optim.lr=3e-4 data.root=/data/imagenet/train run.steps=5000
Sections and fields: data.*, sim.*, model.*, loss.*, optim.*, run.* (see --print-config).
Multi-GPU / multi-node: launch with torchrun, e.g.
  torchrun --nproc_per_node 8 -m ezsr.training imagenet_vitb16 data.root=...
  (run.strategy=fsdp shards students too large for one GPU; docs/reproduce.md)
Resume: put --resume last (`... tiny_cpu --resume`) or give it a path (`--resume=CKPT`).
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "args",
        nargs="*",
        metavar="CONFIG|key=value",
        help="config files (or built-in names) and key=value overrides",
    )
    p.add_argument(
        "--resume",
        nargs="?",
        const="auto",
        default=None,
        metavar="CKPT",
        help="continue from a checkpoint (default: <run.out_dir>/last.pt); the "
        "run continues exactly: model, optimiser, schedule, RNG and data position",
    )
    p.add_argument(
        "--print-config", action="store_true", help="print the resolved config as JSON and exit"
    )


def run(args) -> int:
    from pathlib import Path

    from ezsr.training.config import make_config

    if not args.args and not args.print_config:
        raise ValueError(
            "give a CONFIG and/or key=value overrides, e.g. `tiny_cpu` (the "
            "offline CPU run) or `imagenet_vitb16 data.root=/data/imagenet/train`; "
            "see --help"
        )
    files = [a for a in args.args if "=" not in a]
    overrides = [a for a in args.args if "=" in a]
    cfg = make_config(files, overrides)
    if args.print_config:
        print(json.dumps(cfg.to_dict(), indent=2))
        return 0
    from ezsr.training.trainer import Trainer, TrainingDiverged

    resume = args.resume
    if resume == "auto":
        resume = str(Path(cfg.run.out_dir) / "last.pt")
    if resume:  # before any model is built: a missing or foreign file fails fast
        import zipfile

        if not Path(resume).is_file():
            raise FileNotFoundError(f"--resume: checkpoint {resume} does not exist")
        if not zipfile.is_zipfile(resume):
            raise ValueError(f"--resume: {resume} is not a checkpoint written by torch.save")
    trainer = Trainer(cfg, resume=resume)  # destroys its process group itself if it fails
    try:
        m = trainer.fit()
    except TrainingDiverged as exc:
        print(f"training stopped: {exc}", file=sys.stderr)
        return 3
    finally:
        trainer.close()
    if trainer.is_main:
        print(summary(m, trainer))
    return 0


def summary(m: dict, trainer) -> str:
    if not m:
        return (
            f"nothing to train: {trainer.last_ckpt} is at step {trainer.step} >= "
            f"run.steps={trainer.cfg.run.steps} (raise run.steps to continue); no file "
            "was changed"
        )
    lines = [
        f"done: {trainer.step} steps, checkpoint {trainer.out / 'last.pt'}, log "
        f"{trainer.out / 'log.csv'}"
    ]
    if m.get("first_loss") is not None and "loss" in m:
        lines.append(
            f"distillation loss: {m['first_loss']:.4f} (first step) -> {m['loss']:.4f} (last step)"
        )
    if "eval_top1" in m:
        lines.append(
            f"held-out zero-shot top-1: {m['eval_top1']:.3f} (chance "
            f"{m['eval_chance']:.3f}; teacher on the RGB crops {m['eval_teacher_top1']:.3f}"
            f"); student-teacher cosine {m['eval_cos']:.3f}"
        )
    if "samples_per_s" in m:
        lines.append(
            f"throughput (last interval): {m['samples_per_s']:.1f} samples/s, data wait "
            f"{100 * m['data_wait']:.0f}%"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m ezsr.training",
        description=DESCRIPTION + "\n\n" + HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return run(args)
    except (ValueError, FileNotFoundError, OSError) as exc:
        print(f"training: error: {exc}", file=sys.stderr)
        return 1
