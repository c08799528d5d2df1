"""Zero-shot classifiers from text, and classification of event streams.

build_classifier (CLIP's prompt ensembling, Radford et al. 2021, as EZSR uses it): for each
class embed every template, L2-normalise each, average, L2-normalise again -> W [D, K];
logits = logit_scale * normalize(f) @ W with ezsr.models.logit_scale of the teacher.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence, cast

import torch
import torch.nn.functional as F

from ezsr.events import EventBatch, Events
from ezsr.models.teachers import Teacher
from ezsr.models.teachers import logit_scale as teacher_logit_scale
from ezsr.ops.ezsr_preprocess import CLIP_MEAN, CLIP_STD, EZSR_WINDOW, default_window_start

if TYPE_CHECKING:
    from ezsr.models.clip import CLIP

log = logging.getLogger(__name__)

MIN_EVENTS = 10
PROGRESS_MIN_PROMPTS = 200  # build_classifier shows a progress bar above this many prompts


def as_teacher(model: Teacher | torch.nn.Module) -> Teacher:
    """A teacher (encode_image/encode_text/embed_dim) from a teacher or a CLIP module."""
    if hasattr(model, "encode_text") and not isinstance(model, torch.nn.Module):
        return model
    from ezsr.models.teachers import CLIPTeacher

    return CLIPTeacher(cast("CLIP", model))  # a CLIP module (ezsr.models.CLIP or alike)


def _classifier_key(
    teacher: Teacher, classnames: Sequence[str], templates: Sequence[str]
) -> str | None:
    key = getattr(teacher, "cache_key", None)
    if key is None or key.endswith(":random"):
        return None
    h = hashlib.sha256()
    for part in [key, "\x00".join(templates), "\x00".join(classnames)]:
        h.update(part.encode("utf-8"))
        h.update(b"\x01")
    return h.hexdigest()[:24]


@torch.no_grad()
def build_classifier(
    model: Teacher | torch.nn.Module,
    classnames: Sequence[str],
    templates: Sequence[str] | str = "openai",
    cache: bool = True,
    batch_size: int = 512,
    progress: bool | None = None,
) -> torch.Tensor:
    """Text classifier W [D, K] float32 (unit columns) for K class names.

    model: a teacher or a CLIP module; templates: prompt templates or a set name (see
    ezsr.zeroshot.prompts). Cached on disk (ezsr.models.teachers.cache_dir()/classifiers,
    i.e. $EZSR_CACHE or ~/.cache/ezsr) keyed by the model's weights, the templates and the
    names; random-weight models are not cached.
    progress: a tqdm bar over the classes on stderr; None (default) shows it when more than
    PROGRESS_MIN_PROMPTS prompts are embedded and the work lasts over a second.
    """
    from tqdm import tqdm

    from ezsr.models.teachers import cache_dir
    from ezsr.zeroshot.prompts import get_templates

    classnames = [str(c) for c in classnames]
    if not classnames:
        raise ValueError("empty class list: give at least one class name")
    if len(set(classnames)) != len(classnames):
        dup = sorted({c for c in classnames if classnames.count(c) > 1})
        log.warning("duplicate class names: %s", dup[:5])
    templates = get_templates(templates)
    teacher = as_teacher(model)
    key = _classifier_key(teacher, classnames, templates) if cache else None
    path = cache_dir() / "classifiers" / f"{key}.pt" if key else None
    if path is not None and path.exists():
        try:
            w = torch.load(path, map_location="cpu", weights_only=True)
            if w.shape == (teacher.embed_dim, len(classnames)):
                return w
        except Exception:
            log.warning("ignoring unreadable classifier cache %s", path)
    prompts = [t.format(c) for c in classnames for t in templates]
    show = len(prompts) > PROGRESS_MIN_PROMPTS if progress is None else progress
    bar = tqdm(
        total=len(classnames),
        unit="class",
        disable=not show,
        delay=0 if progress else 1,
        desc=f"text classifier ({len(classnames)} classes x {len(templates)} prompts)",
    )
    parts, t0 = [], time.perf_counter()
    with bar:
        for i in range(0, len(prompts), batch_size):
            parts.append(teacher.encode_text(prompts[i : i + batch_size]).float().cpu())
            bar.update(min(i + batch_size, len(prompts)) // len(templates) - bar.n)
    emb = F.normalize(torch.cat(parts), dim=-1).view(len(classnames), len(templates), -1)
    w = F.normalize(emb.mean(1), dim=-1).T.contiguous()
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(w, path)
            if show and time.perf_counter() - t0 > 1:  # the bar was shown
                log.info("text classifier cached in %s (delete it to rebuild)", path)
        except OSError as exc:
            log.warning("cannot write classifier cache %s: %s", path, exc)
    return w


# ------------------------------------------------------------------ events -> images
def _preprocess(events: Events | EventBatch, out_size: int, mode: str) -> torch.Tensor:
    """ezsr.ops.ezsr_preprocess (EZSR steps 3-7) -> [B, 3, S, S] CLIP-normalised."""
    from ezsr.ops import ezsr_preprocess

    return ezsr_preprocess(events, out_size=out_size, mode=mode)


def unnormalize(x: torch.Tensor) -> torch.Tensor:
    """CLIP-normalised [B, 3, H, W] -> RGB in [0, 1] (the event frame as an image)."""
    mean = torch.tensor(CLIP_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=x.device).view(1, 3, 1, 1)
    return (x * std + mean).clamp(0, 1)


def encode_events(
    teacher: Teacher, events: Events | EventBatch, mode: str = "crop", out_size: int | None = None
) -> torch.Tensor:
    """Unit image embeddings [B, D] of event windows: EZSR preprocessing, then the CLIP
    image tower on the normalised frame, or (other teachers) the frame as an RGB image."""
    size = out_size or int(getattr(teacher, "image_size", 224))
    return encode_frames(teacher, _preprocess(events, size, mode))


def encode_frames(teacher: Teacher, x: torch.Tensor) -> torch.Tensor:
    """Unit image embeddings [B, D] of CLIP-normalised EZSR frames x [B, 3, S, S]:
    the teacher's encode_normalized where it has one (CLIP towers, students), else its
    encode_image on the frame un-normalised to RGB in [0, 1] (the event frame as an image)."""
    if hasattr(teacher, "encode_normalized"):
        return teacher.encode_normalized(x)
    return teacher.encode_image(unnormalize(x))


def select_window(events: Events, window: int = EZSR_WINDOW, start: int | None = None) -> Events:
    """The contiguous window EZSR classifies: all events if N <= window, else `window`
    events from `start` (default: the deterministic default_window_start)."""
    n = len(events)
    if n < MIN_EVENTS:
        raise ValueError(
            f"event stream has {n} events; at least {MIN_EVENTS} are needed to classify"
        )
    if n <= window:
        return events
    s = default_window_start(n, window) if start is None else int(start)
    if not 0 <= s <= n - window:
        raise ValueError(f"window start {s} outside [0, {n - window}] for {n} events")
    return events.window(s, window)


@dataclass
class Prediction:
    labels: list[str]
    scores: list[float]

    def as_dict(self) -> dict[str, Any]:
        return {"labels": self.labels, "scores": self.scores}


@torch.no_grad()
def classify(
    events: Events,
    classnames: Sequence[str],
    model: Teacher | torch.nn.Module | None = None,
    templates: Sequence[str] | str = "openai",
    top: int = 5,
    window: int = EZSR_WINDOW,
    start: int | None = None,
    mode: str = "crop",
    classifier: torch.Tensor | None = None,
    logit_scale: float | None = None,
) -> Prediction:
    """Top-k class names and probabilities (softmax over all classes) for one stream.

    model: teacher or CLIP module (default: the offline teacher). The stream is cut to
    the EZSR window (see select_window), preprocessed by ezsr.ops.ezsr_preprocess, embedded,
    and compared with build_classifier(model, classnames, templates).
    logit_scale: temperature multiplier (default: the CLIP model's exp(logit_scale), 100
    for other teachers).
    """
    if not classnames:
        raise ValueError("empty class list: give at least one class name")
    if model is None:
        from ezsr.models.teachers import create_teacher

        model = create_teacher("offline")
    teacher = as_teacher(model)
    w = classifier if classifier is not None else build_classifier(teacher, classnames, templates)
    emb = encode_events(teacher, select_window(events, window, start), mode)
    scale = logit_scale if logit_scale is not None else teacher_logit_scale(teacher)
    probs = (scale * emb.float().cpu() @ w).softmax(-1)[0]
    k = min(top, len(classnames))
    p, i = probs.topk(k)
    return Prediction([classnames[j] for j in i.tolist()], [float(v) for v in p])
