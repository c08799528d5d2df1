"""Zero-shot evaluation on event datasets (the `ezsr eval` command).

Layouts (folder per class, one event file per sample):
* n-imagenet / mini-n-imagenet: ROOT/extracted_val/<wnid>/*.npz (N-ImageNet npz); the
  class list is the shipped ImageNet list (1000) or, for mini, the wnid folders present.
  N-ImageNet's robustness validation sets (camera motion mode_1, mode_3, mode_5, mode_6,
  mode_7; brightness_4 ... brightness_7) are ROOT/extracted_val_<variant>/<wnid>/*.npz
  (variant=, EventCLIP's datasets/imagenet.py names; N-ImageNet ships them as N_Imagenet_cam)
  and evaluate exactly like the main validation set.
* n-caltech101: ROOT/testing/<class>/*.npy (EST/EventCLIP layout) or ROOT/<class>/*.bin
* n-cars: ROOT/test/{background,cars}/*.npy (EST layout) or ROOT/{background,cars}/*
A ROOT that directly holds the class folders is accepted too.

Protocols (EvalProtocol):
* "ezsr" (EZSR, arXiv 2407.21616): one window per sample, EZSR preprocessing ("squash" for
  N-ImageNet, as EZSR's N-ImageNet path, "crop" otherwise), the 80 OpenAI templates,
  map_clsloc class names as given (underscores kept). window="fixed" (default): the
  deterministic centred 15,000-event window; window="random": EZSR's published protocol,
  a window of L ~ U{13000..17000} events at a random start, drawn per sample from `seed`
  and the file's path inside the split (so a sample's window does not depend on the
  order, the batch or the worker that reads it).
* "eventclip" (EventCLIP, arXiv 2306.06354; github.com/Wuziyi616/EventCLIP): the events of
  a sample are centred in a fixed canvas per dataset (ezsr.ops.eventclip_center); frames
  of N events (20k N-Caltech101, 30k N-Cars, 70k N-ImageNet) at arange(0, n, N) plus
  [n-N, n) when the remainder is > N/2 (ezsr.ops.eventclip_frame_starts); per dataset
  V = max(min(round(n95 / N), 10), 1) views (n95 = EventCLIP's 95th-percentile event count:
  V = 10 N-Caltech101, 1 N-Cars, 2 N-ImageNet); a sample with more frames than V keeps V of
  them picked at random (seeded per sample as above), as EventCLIP's randperm does;
  EventCLIP's frame (ezsr.ops.eventclip_frame: white background on for N-Caltech101 and
  N-ImageNet, hot-pixel statistics over the non-zero entries for N-Cars) through CLIP's own
  image transform as EventCLIP applies it to the uint8 frame (PIL bicubic resize of the
  shortest side, centre crop, /255, CLIP normalisation; image_preprocess="teacher" uses the
  teacher's encode_image instead, and teachers without encode_normalized always do); logits
  averaged over the views (from the raw image
  features of a CLIP teacher, as EventCLIP's ZSCLIPClassifier, unless features="unit");
  prompt `a point cloud image of a {}`; CLIP's curated ImageNet names, lower-cased, `_` ->
  space, EventCLIP's renames.
Each sample's input depends only on its own file (and the seed): the same logits come out
for any --batch-size, file order or number of workers. Files are read and preprocessed by
`workers` DataLoader processes (prefetching; pinned memory on CUDA); the main process only
runs the model.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence, TypeVar, cast

import numpy as np
import torch

from ezsr.events import Events
from ezsr.io import event_file_extensions
from ezsr.zeroshot.classes import (
    imagenet_classes,
    n_caltech101_classes,
    n_cars_classes,
    prompt_name,
)

if TYPE_CHECKING:
    from ezsr.models.teachers import Teacher
    from ezsr.zeroshot.fewshot import FewShotHead

_T = TypeVar("_T")

log = logging.getLogger(__name__)

DATASETS = ("n-imagenet", "mini-n-imagenet", "n-caltech101", "n-cars")
SPLIT_DIRS = {
    "n-imagenet": ("extracted_val", "val"),
    "mini-n-imagenet": ("extracted_val", "val"),
    "n-caltech101": ("testing", "test", "validation"),
    "n-cars": ("test", "testing"),
}
# N-ImageNet's robustness validation sets: ROOT/extracted_val_<variant> (EventCLIP's
# datasets/imagenet.py build_n_imagenet_dataset names them; its --subset 1..9 is mode_1,
# mode_5, mode_6, mode_7, mode_3, brightness_4, brightness_5, brightness_6, brightness_7)
N_IMAGENET_VARIANTS = (
    "mode_1",
    "mode_3",
    "mode_5",
    "mode_6",
    "mode_7",
    "brightness_4",
    "brightness_5",
    "brightness_6",
    "brightness_7",
)
PROTOCOLS = ("ezsr", "eventclip")
WINDOWS = ("fixed", "random")
EZSR_RANDOM_WINDOW = (13000, 17000)  # EZSR's N-ImageNet evaluation: L ~ U{13000..17000}
IMAGE_PREPROCESS = ("pil", "teacher")


@dataclass(frozen=True)
class EventCLIPSetup:
    """EventCLIP's per-dataset settings (configs/zsclip/*.py quantize_args and
    datasets/{caltech,cars,imagenet}.py): frame_events N, canvas height x width (the
    resolution its events are centred in), white background, hot-pixel statistics, and
    typical_events (its max_n: the 95th percentile of events per sample)."""

    frame_events: int
    height: int
    width: int
    white_background: bool
    hot_pixel_stats: str
    typical_events: int

    @property
    def views(self) -> int:
        """Views per sample at test time (datasets/event2img.py, max_imgs = 10 for the test
        set): max(min(round(typical_events / N), 10), 1)."""
        return max(min(round(self.typical_events / self.frame_events), 10), 1)


EVENTCLIP_SETUPS = {
    "n-imagenet": EventCLIPSetup(70000, 480, 640, True, "all", 135000),
    "mini-n-imagenet": EventCLIPSetup(70000, 480, 640, True, "all", 135000),
    "n-caltech101": EventCLIPSetup(20000, 180, 240, True, "all", 225000),
    "n-cars": EventCLIPSetup(30000, 100, 120, False, "nonzero", 12500),
}


@dataclass(frozen=True)
class EvalProtocol:
    """How each sample becomes model input (see the module docstring).

    name: "ezsr" | "eventclip"; mode: EZSR preprocessing ("crop" | "squash"); window:
    "fixed" | "random" (ezsr only); window_range: (low, high) events of a random window,
    inclusive; seed: random windows / EventCLIP view picks; out_size: the model's input
    size; eventclip: the dataset's EventCLIPSetup; features: "raw" (EventCLIP: logits of
    the unnormalised CLIP image features) or "unit"; preprocess_kw: further keyword
    arguments of ezsr.ops.ezsr_preprocess (e.g. a coordinate rounding option);
    image_preprocess (eventclip): "pil" (CLIP's PIL transform of the uint8 frame, in the
    loader workers) or "teacher" (the teacher's own encode_image on the frame).
    """

    name: str = "ezsr"
    mode: str = "crop"
    window: str = "fixed"
    window_range: tuple[int, int] = EZSR_RANDOM_WINDOW
    seed: int = 0
    out_size: int = 224
    eventclip: EventCLIPSetup | None = None
    features: str = "raw"
    preprocess_kw: dict = field(default_factory=dict)
    image_preprocess: str = "pil"


def make_protocol(
    dataset: str,
    protocol: str = "ezsr",
    mode: str | None = None,
    window: str = "fixed",
    seed: int = 0,
    out_size: int = 224,
    features: str = "raw",
    image_preprocess: str = "pil",
    **preprocess_kw: Any,
) -> EvalProtocol:
    """The EvalProtocol of `protocol` on `dataset` with its per-dataset defaults."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    if window not in WINDOWS:
        raise ValueError(f"unknown window {window!r}; expected one of {', '.join(WINDOWS)}")
    if features not in ("raw", "unit"):
        raise ValueError(f"unknown features {features!r}; expected 'raw' or 'unit'")
    if image_preprocess not in IMAGE_PREPROCESS:
        raise ValueError(
            f"unknown image_preprocess {image_preprocess!r}; expected one of "
            f"{', '.join(IMAGE_PREPROCESS)}"
        )
    if protocol == "eventclip" and window != "fixed":
        raise ValueError(
            "window='random' is EZSR's protocol; EventCLIP's views are its own "
            "(use protocol='ezsr')"
        )
    mode = mode or (
        "squash" if dataset in ("n-imagenet", "mini-n-imagenet") and protocol == "ezsr" else "crop"
    )
    return EvalProtocol(
        protocol,
        mode,
        window,
        EZSR_RANDOM_WINDOW,
        int(seed),
        int(out_size),
        EVENTCLIP_SETUPS[dataset] if protocol == "eventclip" else None,
        features,
        dict(preprocess_kw),
        image_preprocess,
    )


@dataclass
class Sample:
    path: Path
    label: int
    key: str = ""  # the file's path inside the split folder: seeds its random choices


@dataclass
class Dataset:
    name: str
    folders: list[str]  # class folder names, index = label
    classnames: list[str]  # names written into prompts
    samples: list[Sample]


def _split_dir(root: Path, dataset: str, split: str | None, variant: str | None) -> Path:
    if variant:
        if dataset != "n-imagenet":
            raise ValueError(
                f"variant {variant}: robustness variants exist for n-imagenet only, not {dataset}"
            )
        if variant not in N_IMAGENET_VARIANTS:
            raise ValueError(
                f"variant {variant!r}: expected one of {', '.join(N_IMAGENET_VARIANTS)}"
            )
        if split:
            raise ValueError("give split or variant, not both")
        d = root / f"extracted_val_{variant}"
        if not d.is_dir():
            found = sorted(p.name for p in root.iterdir() if p.name.startswith("extracted_val"))
            raise FileNotFoundError(
                f"variant {variant}: {d} is not a folder (found: "
                f"{', '.join(found) or 'no extracted_val* folders'})"
            )
        return d
    if split:
        d = root / split
        if not d.is_dir():
            raise FileNotFoundError(f"split {split}: {d} is not a folder")
        return d
    for s in SPLIT_DIRS[dataset]:
        if (root / s).is_dir():
            return root / s
    return root


def load_dataset(
    dataset: str,
    root: str | Path,
    split: str | None = None,
    protocol: str = "ezsr",
    names: str | None = None,
    limit_per_class: int | None = None,
    variant: str | None = None,
) -> Dataset:
    """Find the samples of a dataset folder.

    names (ImageNet only): "clsloc" (EZSR's map_clsloc names), "clip" (CLIP's curated
    names, EventCLIP's CLIP-IN_ClassNames.txt) or None: clip for the eventclip protocol,
    clsloc otherwise. variant: one of N_IMAGENET_VARIANTS (n-imagenet's robustness sets).
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")
    names = names or ("clip" if protocol == "eventclip" else "clsloc")
    if names not in ("clsloc", "clip"):
        raise ValueError(f"unknown names {names!r}; expected 'clsloc' or 'clip'")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"root {root} is not a folder")
    base = _split_dir(root, dataset, split, variant)
    present = sorted(p.name for p in base.iterdir() if p.is_dir())
    if not present:
        raise FileNotFoundError(
            f"{base}: no class folders (the {dataset} layout has one "
            "folder of recordings per class there)"
        )
    style = "eventclip" if protocol == "eventclip" else "ezsr"
    if dataset in ("n-imagenet", "mini-n-imagenet"):
        table = {c.wnid: c for c in imagenet_classes("sorted")}
        unknown = [p for p in present if p not in table]
        if unknown:
            raise ValueError(f"{base}: folders {unknown[:3]} are not ImageNet wnids")
        folders = sorted(table) if dataset == "n-imagenet" else present
        raw = [table[w].name if names == "clsloc" else table[w].clip_name for w in folders]
        classnames = [n.lower().replace("_", " ") if style == "eventclip" else n for n in raw]
    else:
        shipped = n_caltech101_classes() if dataset == "n-caltech101" else n_cars_classes()
        extra = [p for p in present if p not in shipped]
        if extra:
            log.warning(
                "%s: folders not in the shipped %s class list: %s", base, dataset, extra[:5]
            )
        folders = sorted(set(shipped) | set(present))
        classnames = [prompt_name(f, style) for f in folders]
    index = {f: i for i, f in enumerate(folders)}
    samples = []
    for f in present:
        files = sorted(
            p for p in (base / f).iterdir() if p.suffix.lower() in event_file_extensions()
        )
        samples += [Sample(p, index[f], f"{f}/{p.name}") for p in files[:limit_per_class]]
    if not samples:
        raise FileNotFoundError(f"{base}: no event files in the class folders")
    return Dataset(dataset, folders, classnames, samples)


# ------------------------------------------------------------------ per-sample input
def sample_rng(seed: int, key: str) -> np.random.Generator:
    """The random generator of one sample: seeded by (seed, crc32 of its key)."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(key.encode("utf-8"))])


def ezsr_window(events: Events, protocol: EvalProtocol, key: str = "") -> Events:
    """The window EZSR classifies: the fixed centred 15,000 events, or (window="random")
    L ~ U{low..high} events at a uniform random start (all events when n <= L)."""
    from ezsr.zeroshot.classifier import MIN_EVENTS, select_window

    if protocol.window == "fixed":
        return select_window(events)
    n = len(events)
    if n < MIN_EVENTS:
        raise ValueError(
            f"event stream has {n} events; at least {MIN_EVENTS} are needed to classify"
        )
    rng = sample_rng(protocol.seed, key)
    lo, hi = protocol.window_range
    length = int(rng.integers(lo, hi + 1))
    if n <= length:
        return events
    return events.window(int(rng.integers(0, n - length + 1)), length)


def eventclip_views(
    events: Events, setup: EventCLIPSetup, seed: int = 0, key: str = ""
) -> list[int]:
    """Starts of the frames EventCLIP classifies for one (centred) stream: all of its
    frame starts, or `setup.views` of them picked at random (sorted)."""
    from ezsr.ops import eventclip_frame_starts

    starts = eventclip_frame_starts(len(events), setup.frame_events)
    if len(starts) > setup.views:
        pick = sample_rng(seed, key).permutation(len(starts))[: setup.views]
        starts = [starts[i] for i in sorted(pick.tolist())]
    return starts


def sample_input(events: Events, protocol: EvalProtocol, key: str = "") -> torch.Tensor:
    """Model input of one sample, independent of any other sample.

    ezsr: [1, 3, S, S] float32 CLIP-normalised (ezsr.ops.ezsr_preprocess of the window at
    the stream's own sensor size). eventclip: [V, 3, S, S] float32 CLIP-normalised
    (clip_pil_transform of the frames) with image_preprocess="pil", else [V, H, W] uint8
    EventCLIP frames (the three RGB channels are equal) on the dataset's canvas.
    """
    from ezsr.events import EventBatch
    from ezsr.ops import eventclip_center, eventclip_gray, ezsr_preprocess

    if protocol.name == "ezsr":
        win = ezsr_window(events, protocol, key)
        return ezsr_preprocess(
            win, out_size=protocol.out_size, mode=protocol.mode, **protocol.preprocess_kw
        )
    setup = cast(EventCLIPSetup, protocol.eventclip)  # set by make_protocol for "eventclip"
    ev = eventclip_center(events, setup.height, setup.width)
    starts = eventclip_views(ev, setup, protocol.seed, key)
    batch = EventBatch.from_windows(ev, starts, setup.frame_events)
    frames = eventclip_gray(batch, setup.white_background, setup.hot_pixel_stats).to(torch.uint8)
    if protocol.image_preprocess == "pil":
        return clip_pil_transform(frames, protocol.out_size)
    return frames


def clip_pil_transform(frames: torch.Tensor, size: int) -> torch.Tensor:
    """CLIP's image transform (github.com/openai/CLIP clip/clip.py _transform: torchvision
    Resize(size, BICUBIC) and CenterCrop(size) on a PIL image, ToTensor, Normalize) of gray
    uint8 frames [V, H, W], as EventCLIP feeds its frames: the shortest side to `size` and
    the long side to int(size * long / short) by PIL's bicubic resize (rounded to uint8),
    a centre crop at round((new - size) / 2), /255, CLIP mean/std.
    Returns [V, 3, size, size] float32 (the three channels of a gray frame)."""
    from PIL import Image

    from ezsr.ops.ezsr_preprocess import CLIP_MEAN, CLIP_STD

    out = []
    for g in frames.cpu().numpy():
        im = Image.fromarray(g)
        w, h = im.size
        short, long = (w, h) if w <= h else (h, w)
        new_long = int(size * long / short)
        nw, nh = (size, new_long) if w <= h else (new_long, size)
        # Pillow defines Image.BICUBIC in a loop over its enums, which type checkers cannot
        # see; Image.Resampling would need Pillow >= 9.1 (the floor is 9)
        im = im.resize((nw, nh), Image.BICUBIC)  # type: ignore[attr-defined]
        top, left = int(round((nh - size) / 2.0)), int(round((nw - size) / 2.0))
        out.append(np.asarray(im.crop((left, top, left + size, top + size))))
    x = torch.from_numpy(np.stack(out)).float().div(255)[:, None].expand(-1, 3, -1, -1)
    mean = torch.tensor(CLIP_MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, dtype=torch.float32).view(1, 3, 1, 1)
    return (x - mean) / std


class _Inputs(torch.utils.data.Dataset):
    """Reads and preprocesses sample i (in a DataLoader worker): (i, input or None, error)."""

    def __init__(self, samples: list[Sample], protocol: EvalProtocol) -> None:
        self.samples, self.protocol = samples, protocol

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor | None, str | None]:
        from ezsr import io

        s = self.samples[i]
        try:
            return i, sample_input(io.read(s.path), self.protocol, s.key or s.path.name), None
        except Exception as exc:  # raised in the main process as one line naming the file
            msg = str(exc)
            return i, None, msg if str(s.path) in msg else f"{s.path}: {msg}"


def default_workers() -> int:
    """DataLoader workers by default: the usable cores minus one for the main process,
    at most 7 (EZSR's own evaluation used 7)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(0, min(7, cores - 1))


def _first(batch: _T) -> _T:
    return batch


def iter_inputs(
    samples: list[Sample],
    protocol: EvalProtocol,
    workers: int | None = None,
    pin_memory: bool = False,
    prefetch: int = 4,
) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield (index, input) for every sample in order, read and preprocessed by `workers`
    processes (0: in this process) with `prefetch` samples in flight per worker."""
    workers = default_workers() if workers is None else int(workers)
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    workers = min(workers, len(samples))
    ds = _Inputs(samples, protocol)
    kw: dict[str, Any] = (
        {"prefetch_factor": prefetch, "persistent_workers": False} if workers else {}
    )
    loader = torch.utils.data.DataLoader(
        ds,
        batch_size=None,
        shuffle=False,
        num_workers=workers,
        pin_memory=pin_memory,
        collate_fn=_first,
        **kw,
    )
    for i, x, err in loader:
        if err is not None:
            raise ValueError(err)
        yield i, x


def read_split_file(
    path: str | Path, folders: list[str], classnames: list[str]
) -> tuple[set[int], set[int]]:
    """Seen/unseen class indices from a JSON file {"seen": [...], "unseen": [...]} (or a
    text file with lines `seen NAME` / `unseen NAME`); names are folder names or class names."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"split_file {path}: cannot read it ({exc})") from None
    try:
        d = json.loads(text)
    except json.JSONDecodeError as exc:
        if text.lstrip().startswith(("{", "[")):
            raise ValueError(
                f"split_file {path}: invalid JSON ({exc}); expected "
                '{"seen": [...], "unseen": [...]}'
            ) from None
        d = {"seen": [], "unseen": []}
        for line in text.splitlines():
            if line.strip():
                kind, _, name = line.strip().partition(" ")
                if kind not in d:
                    raise ValueError(
                        f"split_file {path}: line {line!r} must start with "
                        "'seen' or 'unseen' (or give JSON {\"seen\": [...], "
                        '"unseen": [...]})'
                    ) from None
                d[kind].append(name.strip())
    if not isinstance(d, dict):
        raise ValueError(
            f"split_file {path}: expected a JSON object "
            f'{{"seen": [...], "unseen": [...]}}, found a {type(d).__name__}'
        )
    lookup = {n: i for i, n in enumerate(folders)}
    lookup.update({n: i for i, n in enumerate(classnames)})
    out = []
    for kind in ("seen", "unseen"):
        if kind not in d:
            raise ValueError(f"split_file {path}: no '{kind}' list")
        bad = [n for n in d[kind] if n not in lookup]
        if bad:
            raise ValueError(f"split_file {path}: unknown class names in '{kind}': {bad[:5]}")
        out.append({lookup[n] for n in d[kind]})
    return out[0], out[1]


def accuracy_report(
    logits: torch.Tensor,
    labels: torch.Tensor,
    classnames: list[str],
    split: tuple[set[int], set[int]] | None = None,
) -> dict:
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
    rep = {
        "n": int(labels.numel()),
        "top1": float(hit1.float().mean()),
        "top5": float(hit5.float().mean()),
        "mean_per_class": float(sum(per_class.values()) / max(len(per_class), 1)),
        "per_class": per_class,
    }
    if split is not None:
        seen, unseen = split
        acc = {}
        for kind, cls in (("seen", seen), ("unseen", unseen)):
            m = torch.tensor([int(lab) in cls for lab in labels.tolist()], dtype=torch.bool)
            acc[kind] = float(hit1[m].float().mean()) if m.any() else float("nan")
        s, u = acc["seen"], acc["unseen"]
        acc["harmonic"] = 2 * s * u / (s + u) if s + u > 0 else 0.0
        rep.update(acc)
    return rep


def _raw_clip(teacher: object) -> bool:
    from ezsr.models.teachers import CLIPTeacher

    return isinstance(teacher, CLIPTeacher)


def encode_inputs(teacher: Any, x: torch.Tensor, protocol: EvalProtocol) -> torch.Tensor:
    """Image features [B, D] float32 of a batch of sample_input()s (concatenated).

    ezsr: x [B, 3, S, S] CLIP-normalised -> unit embeddings (teacher.encode_normalized, or
    encode_image of the frame as an RGB image for teachers without it).
    eventclip: x [B, 3, S, S] CLIP-normalised (image_preprocess="pil") or [B, H, W] uint8
    frames (the teacher's own image preprocessing); for a CLIP teacher with features="raw"
    the unnormalised image features, as EventCLIP's zero-shot classifier uses them,
    otherwise unit embeddings.
    teacher: a Teacher (duck-typed: the raw features use a CLIPTeacher's .model and .device).
    """
    if protocol.name == "ezsr":
        from ezsr.zeroshot.classifier import encode_frames

        return encode_frames(teacher, x).float()
    raw = protocol.features == "raw" and _raw_clip(teacher)
    if x.dtype != torch.uint8:  # already CLIP-normalised (clip_pil_transform)
        if raw:
            return teacher.model.encode_image(x.to(teacher.device)).float()
        return teacher.encode_normalized(x).float()
    images = (x.float() / 255.0)[:, None].expand(-1, 3, -1, -1)
    if raw:
        from ezsr.models.teachers import clip_normalize, resize_center_crop

        images = clip_normalize(resize_center_crop(images.to(teacher.device), teacher.image_size))
        return teacher.model.encode_image(images).float()
    return teacher.encode_image(images).float()


@torch.no_grad()
def evaluate(
    dataset: Dataset,
    teacher: Teacher,
    protocol: str | EvalProtocol = "ezsr",
    batch_size: int = 32,
    templates: str | Sequence[str] | None = None,
    mode: str | None = None,
    split_file: str | Path | None = None,
    progress: bool = True,
    device: torch.device | str = "cpu",
    workers: int | None = None,
    top: int = 5,
    adapter: FewShotHead | None = None,
) -> dict[str, Any]:
    """Zero-shot accuracy of `teacher` on `dataset` (see the module docstring).

    protocol: "ezsr" | "eventclip" (per-dataset defaults, `mode` overrides EZSR's
    preprocessing) or an EvalProtocol (make_protocol). batch_size: views per forward pass;
    workers: DataLoader processes reading and preprocessing files (None: default_workers(),
    0: this process). Returns the accuracy report (accuracy_report) plus "samples": for
    every sample its file, true class and the top-`top` class names ("top5_labels", fewer
    with fewer classes) with their softmax probabilities of the view-averaged logits
    ("top5_scores").
    adapter: a few-shot head (ezsr.zeroshot.fewshot.FewShotHead) that replaces the text
    classifier: each sample's view features go through it as one recording.
    """
    from tqdm import tqdm

    from ezsr.models.teachers import logit_scale
    from ezsr.zeroshot.classifier import build_classifier

    if isinstance(protocol, str):
        protocol = make_protocol(
            dataset.name, protocol, mode, out_size=getattr(teacher, "image_size", 224)
        )
    if protocol.image_preprocess == "pil" and not hasattr(teacher, "encode_normalized"):
        protocol = dataclasses.replace(protocol, image_preprocess="teacher")
    templates = templates or ("eventclip" if protocol.name == "eventclip" else "openai")
    if adapter is None:
        w = build_classifier(
            teacher, dataset.classnames, templates, progress=None if progress else False
        ).to(device)
    scale = logit_scale(teacher)
    n = len(dataset.samples)
    logits: list[torch.Tensor | None] = [None] * n
    pending: list[tuple[int, torch.Tensor]] = []

    def flush() -> None:
        # pinned per-sample tensors go to the device asynchronously, then are joined there
        x = torch.cat([v.to(device, non_blocking=True) for _, v in pending])
        f = encode_inputs(teacher, x, protocol).to(device)
        lg = scale * f @ w if adapter is None else None
        i = 0
        for idx, v in pending:
            logits[idx] = (
                cast(torch.Tensor, lg)[i : i + len(v)].mean(0)
                if adapter is None
                else adapter(f[i : i + len(v)].float().unsqueeze(0))[0]
            ).cpu()
            i += len(v)
        pending.clear()

    pin = torch.device(device).type == "cuda"
    bar = tqdm(total=n, desc=f"eval {dataset.name}", disable=not progress, unit="file")
    with bar:
        for idx, x in iter_inputs(dataset.samples, protocol, workers, pin_memory=pin):
            pending.append((idx, x))
            if sum(len(v) for _, v in pending) >= batch_size:
                flush()
            bar.update(1)
        if pending:
            flush()
    all_logits = torch.stack(cast("list[torch.Tensor]", logits))  # flush filled every index
    labels = torch.tensor([s.label for s in dataset.samples])
    split = read_split_file(split_file, dataset.folders, dataset.classnames) if split_file else None
    rep = accuracy_report(all_logits, labels, dataset.classnames, split)
    rep.update(
        {
            "dataset": dataset.name,
            "protocol": protocol.name,
            "mode": protocol.mode,
            "window": protocol.window if protocol.name == "ezsr" else "eventclip views",
            "seed": protocol.seed,
            "templates": templates if isinstance(templates, str) else "custom",
            "classes": len(dataset.classnames),
            "teacher": getattr(teacher, "name", "?"),
        }
    )
    if protocol.name == "eventclip":
        setup = cast(EventCLIPSetup, protocol.eventclip)  # set by make_protocol
        rep.update(
            {
                "views": setup.views,
                "frame_events": setup.frame_events,
                "canvas": [setup.height, setup.width],
                "features": "raw" if protocol.features == "raw" and _raw_clip(teacher) else "unit",
                "image_preprocess": protocol.image_preprocess,
            }
        )
    k = min(top, all_logits.shape[1])
    probs, top_idx = all_logits.softmax(-1).topk(k, dim=1)
    rep["samples"] = [
        {
            "file": str(s.path),
            "label": dataset.classnames[s.label],
            "top5_labels": [dataset.classnames[j] for j in top_idx[i].tolist()],
            "top5_scores": [float(v) for v in probs[i]],
        }
        for i, s in enumerate(dataset.samples)
    ]
    if math.isnan(rep.get("seen", 0.0)) or math.isnan(rep.get("unseen", 0.0)):
        log.warning("the split file leaves the seen or unseen set without samples")
    return rep
