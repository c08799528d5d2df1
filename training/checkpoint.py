"""Atomic checkpoints and RNG state capture.

A checkpoint is one torch.save'd dict:
    step, epoch, batch_in_epoch   the data position after `step` optimiser steps
    model, optimizer, scheduler, scaler   state dicts (model = the bare student, no DDP/compile)
    rng                           per-rank list of {torch, cuda, numpy, python} RNG states
    config, world_size, format
Written to `<path>.tmp`, flushed and fsync'ed, then os.replace'd over `path`, so a run killed
while saving leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

from ezsr.models.checkpoints import TRAIN_FORMAT as FORMAT  # its one home: the loaders read it


def rng_state() -> dict:
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }


def set_rng_state(s: dict) -> None:
    torch.set_rng_state(s["torch"])
    if s.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])
    np.random.set_state(s["numpy"])
    random.setstate(s["python"])


def save_atomic(obj: dict, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def link_atomic(src: str | Path, path: str | Path) -> Path:
    """`path` becomes the same file as `src` (a hard link, swapped in with os.replace; a copy
    where the file system has no hard links): last.pt costs no second write of the state."""
    import shutil

    src, path = Path(src), Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, path)
    return path


def load(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"--resume: checkpoint {path} does not exist")
    try:  # our own format: it holds numpy RNG states, which weights_only loading rejects
        # mmap: every rank of a resumed run reads the file; the pages are shared, not copied
        ck = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    except Exception as exc:  # not a torch.save file at all (pickle, zip or EOF errors)
        raise ValueError(
            f"--resume: {path} is not a checkpoint torch can read "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
        ) from None
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise ValueError(
            f"--resume: {path} is not an ezsr training checkpoint (expected format {FORMAT!r})"
        )
    return ck


def prune(directory: Path, keep: int) -> None:
    """Delete all but the newest `keep` step_*.pt checkpoints."""
    old = sorted(directory.glob("step_*.pt"))
    for p in old[: max(0, len(old) - keep)]:
        p.unlink(missing_ok=True)
