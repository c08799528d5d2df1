"""Zero-shot classifier modules for streaming and export, built from ezsr.models.

load_zero_shot(model, classes, ...) -> ZeroShot(module, encoder, classifier, scale, names):
  module: nn.Module image [B, 3, 224, 224] (CLIP-normalised EZSR input) -> logits [B, K]
  encoder: the nn.Module image -> features (what `ezsr export` traces); None for teachers
    that are not one torch module (the offline ConSE teacher), which run under torch only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from ezsr.export.graph import CLIP_MEAN, CLIP_STD, ImageClassifier, ZeroShotHead, head_scale

log = logging.getLogger(__name__)


@dataclass
class ZeroShot:
    module: nn.Module
    encoder: nn.Module | None
    classifier: torch.Tensor  # [D, K]
    scale: float
    class_names: list[str]
    image_size: int = 224  # the encoder's input size (the EZSR preprocessing out_size)


class TeacherEncoder(nn.Module):
    """A teacher (encode_image on RGB in [0, 1]) fed with the CLIP-normalised EZSR frame:
    the frame is un-normalised back to [0, 1] first (the event frame as an image)."""

    def __init__(self, teacher):
        super().__init__()
        self.teacher = teacher
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x):
        if hasattr(self.teacher, "encode_normalized"):
            return self.teacher.encode_normalized(x)
        return self.teacher.encode_image((x * self.std + self.mean).clamp(0, 1))


def read_classes(spec: str | Sequence[str]) -> list[str]:
    """Class names from a list, a comma-separated string, or @FILE (one name a line)."""
    if not isinstance(spec, str):
        names = [str(s) for s in spec]
    elif spec.startswith("@"):
        path = Path(spec[1:])
        if not path.exists():
            raise FileNotFoundError(f"--classes: class list file {path} does not exist")
        names = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    else:
        names = [s.strip() for s in spec.split(",") if s.strip()]
    if not names:
        raise ValueError("--classes: no class names given (use 'cat,dog' or @FILE)")
    return names


def load_zero_shot(model: str = "offline", classes: str | Sequence[str] = "cat,dog",
                   checkpoint: str | None = None, clip_checkpoint: str | None = None,
                   templates: str | Sequence[str] = "openai", device="cpu",
                   classifier=None, vocab=None) -> ZeroShot:
    """A zero-shot classifier by model name.

    model "offline": ezsr.models.create_teacher("offline") (no download; torch only).
    Any CLIP name of ezsr.models (e.g. "ViT-B-16"): the event encoder
    create_event_encoder(name, pretrained=checkpoint, init=clip_checkpoint) and the text
    classifier from create_model(name, pretrained=clip_checkpoint); random weights when
    no checkpoint is given (logged).
    classifier: a ready text classifier [D, K] (tensor or a torch.save'd file, e.g. from
    ezsr.zeroshot.build_classifier) used instead of the text tower; K must match classes.
    checkpoint may also be a trained student (`ezsr train`'s student.pt): that student is the
    encoder, whatever `model` says, and its teacher (named in the file) embeds the classes.
    vocab: CLIP's BPE vocabulary for a CLIP text tower (default: beside clip_checkpoint, then
    $EZSR_CLIP_VOCAB, then installed packages).
    """
    from ezsr import models, zeroshot
    from ezsr.models.student import read_student_file

    names = read_classes(classes)
    given = _load_classifier(classifier, len(names)) if classifier is not None else None
    student = read_student_file(checkpoint) if checkpoint else None
    if student is not None:
        return _student_zero_shot(student, checkpoint, names, templates, device, given,
                                  classifier, vocab)
    if model == "offline" or not hasattr(models, "create_event_encoder"):
        teacher = models.create_teacher(model, device=str(device))
        if given is not None:
            _check_rows(given, classifier, model, int(teacher.embed_dim))
        cls = given if given is not None else \
            zeroshot.build_classifier(teacher, names, templates).float()
        enc = TeacherEncoder(teacher)
        scale = head_scale(teacher)
        return ZeroShot(ImageClassifier(enc, ZeroShotHead(cls, scale)).to(device).eval(),
                        None, cls, scale, names, int(getattr(teacher, "image_size", 224)))
    clip = models.create_model(model, pretrained=clip_checkpoint)
    if clip_checkpoint is None and checkpoint is None:
        log.warning("model %s: no checkpoint given, the image tower has random weights", model)
    enc = models.create_event_encoder(model, pretrained=checkpoint, init=clip_checkpoint)
    if given is not None:
        cls = given
    else:
        text = clip
        if vocab:  # the given vocabulary, not one found beside the checkpoint
            text = models.CLIPTeacher(clip, models.load_tokenizer(vocab, clip.context_length))
        cls = zeroshot.build_classifier(text, names, templates).float()
    with torch.no_grad():
        d = enc(torch.zeros(1, 3, enc.image_size, enc.image_size)).shape[1]
    if given is not None:
        _check_rows(cls, classifier, model, d)
    elif cls.shape[0] != d:
        raise ValueError(f"the {model} text classifier has {cls.shape[0]} rows, the encoder "
                         f"gives {d}-dim embeddings")
    scale = head_scale(clip)
    module = ImageClassifier(enc, ZeroShotHead(cls, scale)).to(device).eval()
    return ZeroShot(module, enc, cls, scale, names, int(enc.image_size))


def _student_zero_shot(meta: dict, path, names, templates, device, given, spec,
                       vocab=None) -> ZeroShot:
    """A trained student (ezsr.models.student) under the zero-shot head of its teacher's
    text side, or of the given classifier (then the teacher is not loaded; scale 100)."""
    from ezsr import zeroshot
    from ezsr.models.student import build_student, teacher_of

    enc = build_student(meta)
    if meta["input"]["mode"] != "crop":
        log.warning("%s was trained on %s-mode input; streaming preprocesses in crop mode",
                    path, meta["input"]["mode"])
    t = meta["teacher"]
    log.info("%s: student %s (%d steps) distilled from teacher %s", path, meta["student"],
             meta["step"], t["name"])
    if given is not None:
        _check_rows(given, spec, f"student {path}", int(meta["embed_dim"]))
        cls, scale = given, 100.0
    else:
        teacher = teacher_of(meta, path, device, "; give --classifier W.pt with a ready "
                             "text classifier instead", vocab=vocab)
        cls = zeroshot.build_classifier(teacher, names, templates).float()
        scale = head_scale(teacher)
    module = ImageClassifier(enc, ZeroShotHead(cls, scale)).to(device).eval()
    return ZeroShot(module, enc, cls, scale, names, int(meta["input"]["size"]))


def _label(spec) -> str:
    return "(tensor)" if isinstance(spec, torch.Tensor) else str(spec)


def _check_rows(cls: torch.Tensor, spec, model: str, d: int) -> None:
    """The classifier's rows D must be the model's embedding size."""
    if cls.shape[0] != d:
        raise ValueError(f"--classifier {_label(spec)} has D={cls.shape[0]} rows; model "
                         f"'{model}' embeds {d}")


def _load_classifier(spec, k: int) -> torch.Tensor:
    if isinstance(spec, torch.Tensor):
        w = spec
    else:
        if not Path(spec).is_file():
            raise FileNotFoundError(f"--classifier {spec}: no such file")
        try:
            w = torch.load(spec, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - not a torch.save file
            raise ValueError(f"--classifier {spec}: not a torch.save'd [D, K] tensor "
                             f"({type(exc).__name__})") from None
    return check_classifier(w, spec, k)


def check_classifier(w, spec, k: int) -> torch.Tensor:
    """w as a float32 [D, K] text classifier for k class names (ValueError naming
    --classifier `spec` otherwise)."""
    if not isinstance(w, torch.Tensor) or w.dim() != 2:
        shape = tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__
        raise ValueError(f"--classifier {_label(spec)}: expected a [D, K] tensor, got {shape}")
    if w.shape[1] != k:
        raise ValueError(f"--classifier {_label(spec)}: {w.shape[1]} columns for {k} class "
                         "names (--classes)")
    return w.float()
