"""Zero-shot evaluation of the student on a folder of real event recordings.

Layout like N-ImageNet: `<root>/<class>/<file>` with any format ezsr.io reads; labels index the
sorted class folders; class names are the folder names with '_' -> ' ' unless a names file is
given (one per line, in sorted-folder order, e.g. ImageNet names for wnid folders). Each file
is preprocessed as EZSR does at inference (EZSR, arXiv 2407.21616): the 15000-event window at
ezsr.ops.default_window_start, then ezsr.ops.ezsr_preprocess(out_size, mode). Evaluation is
not a hot path: files are read one at a time.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import torch

from ezsr.training.losses import normalize


def scan(root: str | Path, max_files: int = 0, names_file: str = ""):
    """(files, labels, classnames) of an event-dataset folder; at most max_files (0 = all),
    spread evenly over the classes."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"run.eval_real: {root} is not a directory")
    classes = sorted(d for d in root.iterdir() if d.is_dir())
    if not classes:
        raise FileNotFoundError(f"run.eval_real: {root} has no class folders")
    per_class = [sorted(f for f in d.rglob("*") if f.is_file()) for d in classes]
    files, labels = [], []
    k = 0
    while any(per_class) and (not max_files or len(files) < max_files):
        for c, fs in enumerate(per_class):
            if k < len(fs) and (not max_files or len(files) < max_files):
                files.append(fs[k])
                labels.append(c)
        k += 1
        if all(k >= len(fs) for fs in per_class):
            break
    names = [d.name.replace("_", " ") for d in classes]
    if names_file:
        names = [ln.strip() for ln in Path(names_file).read_text().splitlines() if ln.strip()]
        if len(names) != len(classes):
            raise ValueError(
                f"run.eval_real_classnames: {names_file} has {len(names)} names, "
                f"{root} has {len(classes)} class folders"
            )
    return files, labels, names


@torch.no_grad()
def evaluate_real(
    student,
    classifier: torch.Tensor,
    files,
    labels,
    device,
    out_size: int = 224,
    mode: str = "crop",
    window: int = 15000,
    autocast=None,
) -> dict:
    """Top-1 / top-5 of `student` on event files. classifier: [D, K] text classifier."""
    from ezsr import io
    from ezsr.events import EventBatch
    from ezsr.ops import default_window_start, ezsr_preprocess

    student.eval()
    top1 = top5 = 0
    for f, y in zip(files, labels):
        ev = io.read(f)
        start = default_window_start(len(ev), window) if len(ev) > window else 0
        batch = EventBatch.from_windows(ev, [start], window) if len(ev) else ev
        x = ezsr_preprocess(batch, out_size=out_size, mode=mode).to(device)
        with autocast() if autocast else nullcontext():
            s = normalize(student(x).float())
        rank = (s @ classifier).argsort(1, descending=True)[0]
        top1 += int(rank[0] == y)
        top5 += int(y in rank[:5].tolist())
    n = max(len(files), 1)
    return {"real_top1": top1 / n, "real_top5": top5 / n, "real_n": len(files)}
