"""Zero-shot evaluation on event datasets (the `ezsr eval` command).

Layouts (folder per class, one event file per sample):
* n-imagenet / mini-n-imagenet: ROOT/extracted_val/<wnid>/*.npz (N-ImageNet npz); the
  class list is the shipped ImageNet list (1000) or, for mini, the wnid folders present.
* n-caltech101: ROOT/testing/<class>/*.npy (EST/EventCLIP layout) or ROOT/<class>/*.bin
* n-cars: ROOT/test/{background,cars}/*.npy (EST layout) or ROOT/{background,cars}/*
A ROOT that directly holds the class folders is accepted too.

Protocols:
* "ezsr": one deterministic 15,000-event window per sample (reference §1), EZSR
  preprocessing ("squash" for N-ImageNet, as EZSR's N-ImageNet path, "crop" otherwise),
  the 80 OpenAI templates, class names as given (underscores kept).
* "eventclip": multi-view (reference §2): windows of N events (20k N-Caltech101, 30k
  N-Cars, 70k N-ImageNet) at arange(0, n, N) plus a last [n-N, n) one when the remainder
  is > N/2, up to 10 views, logits averaged; prompt `a point cloud image of a {}`; names
  lower-cased with `_` -> space and EventCLIP's renames. Each view is EventCLIP's frame
  (ezsr.ops eventclip_frame) through the teacher's own image preprocessing; where that op
  is absent, ezsr_preprocess is used and a warning says so.
Windows are deterministic, so a run is repeatable.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from ezsr.events import EventBatch, Events
from ezsr.zeroshot.classes import (imagenet_classes, n_caltech101_classes, n_cars_classes,
                                   prompt_name)

log = logging.getLogger(__name__)

DATASETS = ("n-imagenet", "mini-n-imagenet", "n-caltech101", "n-cars")
SPLIT_DIRS = {"n-imagenet": ("extracted_val", "val"), "mini-n-imagenet": ("extracted_val", "val"),
              "n-caltech101": ("testing", "test", "validation"), "n-cars": ("test", "testing")}
EVENTCLIP_N = {"n-imagenet": 70000, "mini-n-imagenet": 70000, "n-caltech101": 20000, "n-cars": 30000}
EVENT_SUFFIXES = (".npz", ".npy", ".bin", ".dat", ".h5", ".hdf5", ".raw", ".aedat4", ".aedat")


@dataclass
class Sample:
    path: Path
    label: int


@dataclass
class Dataset:
    name: str
    folders: list[str]      # class folder names, index = label
    classnames: list[str]   # names written into prompts
    samples: list[Sample]


def _split_dir(root: Path, dataset: str, split: str | None) -> Path:
    if split:
        d = root / split
        if not d.is_dir():
            raise FileNotFoundError(f"--split {split}: {d} is not a folder")
        return d
    for s in SPLIT_DIRS[dataset]:
        if (root / s).is_dir():
            return root / s
    return root


def load_dataset(dataset: str, root, split: str | None = None, protocol: str = "ezsr",
                 names: str = "clsloc", limit_per_class: int | None = None) -> Dataset:
    """Find the samples of a dataset folder. names (ImageNet only): "clsloc" (EZSR's
    map_clsloc names) or "clip" (CLIP's curated names)."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"--root {root} is not a folder")
    base = _split_dir(root, dataset, split)
    present = sorted(p.name for p in base.iterdir() if p.is_dir())
    if not present:
        raise FileNotFoundError(f"{base}: no class folders (expected the {dataset} layout, "
                                "see `ezsr eval --help`)")
    style = "eventclip" if protocol == "eventclip" else "ezsr"
    if dataset in ("n-imagenet", "mini-n-imagenet"):
        table = {c.wnid: c for c in imagenet_classes("sorted")}
        unknown = [p for p in present if p not in table]
        if unknown:
            raise ValueError(f"{base}: folders {unknown[:3]} are not ImageNet wnids")
        folders = sorted(table) if dataset == "n-imagenet" else present
        raw = [table[w].name if names == "clsloc" else table[w].clip_name for w in folders]
        classnames = [n.replace("_", " ") if style == "eventclip" else n for n in raw]
    else:
        shipped = n_caltech101_classes() if dataset == "n-caltech101" else n_cars_classes()
        extra = [p for p in present if p not in shipped]
        if extra:
            log.warning("%s: folders not in the shipped %s class list: %s", base, dataset, extra[:5])
        folders = sorted(set(shipped) | set(present))
        classnames = [prompt_name(f, style) for f in folders]
    index = {f: i for i, f in enumerate(folders)}
    samples = []
    for f in present:
        files = sorted(p for p in (base / f).iterdir() if p.suffix.lower() in EVENT_SUFFIXES)
        samples += [Sample(p, index[f]) for p in files[:limit_per_class]]
    if not samples:
        raise FileNotFoundError(f"{base}: no event files in the class folders")
    return Dataset(dataset, folders, classnames, samples)


def eventclip_starts(n: int, window: int, max_views: int = 10) -> list[int]:
    """Starts of EventCLIP's count windows: arange(0, n, N) for full windows, plus [n-N, n)
    when the remainder exceeds N/2; a stream shorter than N is one view; at most
    max_views, evenly picked."""
    if n <= window:
        return [0]
    starts = list(range(0, n - window + 1, window))
    if n - (starts[-1] + window) > window / 2:
        starts.append(n - window)
    if len(starts) > max_views:
        pick = torch.linspace(0, len(starts) - 1, max_views).round().long().tolist()
        starts = [starts[i] for i in pick]
    return starts


def sample_views(events: Events, protocol: str, dataset: str) -> list[Events]:
    from ezsr.zeroshot.classifier import select_window
    if protocol == "ezsr":
        return [select_window(events)]
    if protocol == "eventclip":
        w = EVENTCLIP_N[dataset]
        return [events.window(s, min(w, len(events))) for s in eventclip_starts(len(events), w)]
    raise ValueError(f"unknown protocol {protocol!r}; expected 'ezsr' or 'eventclip'")


def read_split_file(path, folders: list[str], classnames: list[str]) -> tuple[set[int], set[int]]:
    """Seen/unseen class indices from a JSON file {"seen": [...], "unseen": [...]} (or a
    text file with lines `seen NAME` / `unseen NAME`); names are folder names or class names."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"--split-file {path}: cannot read it ({exc})") from None
    try:
        d = json.loads(text)
    except json.JSONDecodeError as exc:
        if text.lstrip().startswith(("{", "[")):
            raise ValueError(f"--split-file {path}: invalid JSON ({exc}); expected "
                             '{"seen": [...], "unseen": [...]}') from None
        d = {"seen": [], "unseen": []}
        for line in text.splitlines():
            if line.strip():
                kind, _, name = line.strip().partition(" ")
                if kind not in d:
                    raise ValueError(f"--split-file {path}: line {line!r} must start with "
                                     "'seen' or 'unseen' (or give JSON {\"seen\": [...], "
                                     "\"unseen\": [...]})")
                d[kind].append(name.strip())
    if not isinstance(d, dict):
        raise ValueError(f"--split-file {path}: expected a JSON object "
                         f'{{"seen": [...], "unseen": [...]}}, found a {type(d).__name__}')
    lookup = {n: i for i, n in enumerate(folders)}
    lookup.update({n: i for i, n in enumerate(classnames)})
    out = []
    for kind in ("seen", "unseen"):
        if kind not in d:
            raise ValueError(f"--split-file {path}: no '{kind}' list")
        bad = [n for n in d[kind] if n not in lookup]
        if bad:
            raise ValueError(f"--split-file {path}: unknown class names in '{kind}': "
                             f"{bad[:5]}")
        out.append({lookup[n] for n in d[kind]})
    return out[0], out[1]


def accuracy_report(logits: torch.Tensor, labels: torch.Tensor, classnames: list[str],
                    split: tuple[set[int], set[int]] | None = None) -> dict:
    """top1/top5 (fractions), per-class top-1, mean per-class accuracy, and with a
    seen/unseen split: seen, unseen and harmonic-mean accuracy."""
    k = min(5, logits.shape[1])
    top = logits.topk(k, dim=1).indices
    hit1 = top[:, 0] == labels
    hit5 = (top == labels[:, None]).any(1)
    per_class = {}
    for c in labels.unique().tolist():
        m = labels == c
        per_class[classnames[c]] = float(hit1[m].float().mean())
    rep = {"n": int(labels.numel()), "top1": float(hit1.float().mean()),
           "top5": float(hit5.float().mean()),
           "mean_per_class": float(sum(per_class.values()) / max(len(per_class), 1)),
           "per_class": per_class}
    if split is not None:
        seen, unseen = split
        acc = {}
        for kind, cls in (("seen", seen), ("unseen", unseen)):
            m = torch.tensor([int(l) in cls for l in labels.tolist()], dtype=torch.bool)
            acc[kind] = float(hit1[m].float().mean()) if m.any() else float("nan")
        s, u = acc["seen"], acc["unseen"]
        acc["harmonic"] = 2 * s * u / (s + u) if s + u > 0 else 0.0
        rep.update(acc)
    return rep


_warned_frames = False


def encode_views(teacher, batch: EventBatch, protocol: str, mode: str) -> torch.Tensor:
    """Unit embeddings of a batch of views. EventCLIP protocol: EventCLIP's RGB frame
    (ezsr.ops.representation(..., "eventclip_frame"), 0..255) through the teacher's own
    image preprocessing (CLIP: bicubic resize, centre crop, normalise), as EventCLIP does;
    EZSR protocol (or no eventclip_frame op): EZSR preprocessing."""
    global _warned_frames
    from ezsr.zeroshot.classifier import encode_events
    if protocol == "eventclip":
        try:
            from ezsr.ops import REPRESENTATIONS, representation
            if "eventclip_frame" in REPRESENTATIONS:
                return teacher.encode_image(representation(batch, "eventclip_frame") / 255.0)
        except ImportError:
            pass
        if not _warned_frames:
            log.warning("ezsr.ops has no eventclip_frame representation: EventCLIP views are "
                        "rendered with EZSR preprocessing")
            _warned_frames = True
    return encode_events(teacher, batch, mode)


@torch.no_grad()
def evaluate(dataset: Dataset, teacher, protocol: str = "ezsr", batch_size: int = 32,
             templates=None, mode: str | None = None, split_file=None, progress: bool = True,
             device="cpu") -> dict:
    """Zero-shot accuracy of `teacher` on `dataset` (see module docstring)."""
    from tqdm import tqdm

    from ezsr import io
    from ezsr.zeroshot.classifier import _logit_scale, build_classifier

    templates = templates or ("eventclip" if protocol == "eventclip" else "openai")
    mode = mode or ("squash" if dataset.name in ("n-imagenet", "mini-n-imagenet")
                    and protocol == "ezsr" else "crop")
    w = build_classifier(teacher, dataset.classnames, templates,
                         progress=None if progress else False).to(device)
    scale = _logit_scale(teacher)
    logits, labels = [], []
    pending: list[tuple[int, list[Events]]] = []

    def flush():
        views = [v for _, vs in pending for v in vs]
        width = max(v.width for v in views)
        height = max(v.height for v in views)
        batch = EventBatch.from_streams(views, width, height).to(device)  # preprocess on device
        emb = encode_views(teacher, batch, protocol, mode).to(device).float()
        lg = scale * emb @ w
        i = 0
        for label, vs in pending:
            logits.append(lg[i:i + len(vs)].mean(0).cpu())
            labels.append(label)
            i += len(vs)
        pending.clear()

    for s in tqdm(dataset.samples, desc=f"eval {dataset.name}", disable=not progress, unit="file"):
        ev = io.read(s.path)
        pending.append((s.label, sample_views(ev, protocol, dataset.name)))
        if sum(len(v) for _, v in pending) >= batch_size:
            flush()
    if pending:
        flush()
    split = read_split_file(split_file, dataset.folders, dataset.classnames) if split_file else None
    rep = accuracy_report(torch.stack(logits), torch.tensor(labels), dataset.classnames, split)
    rep.update({"dataset": dataset.name, "protocol": protocol, "mode": mode,
                "templates": templates if isinstance(templates, str) else "custom",
                "classes": len(dataset.classnames), "teacher": getattr(teacher, "name", "?")})
    if math.isnan(rep.get("seen", 0.0)) or math.isnan(rep.get("unseen", 0.0)):
        log.warning("the split file leaves the seen or unseen set without samples")
    return rep
