"""The one zero-shot loader: which model embeds the events and which names the classes,
from a typed ModelSpec.

    spec = ModelSpec(model="ViT-B-16", checkpoint="ezsr_b16.pt", clip_checkpoint="openai.pt")
    load_teacher(spec)            -> LoadedTeacher(teacher, name, notes): a Teacher
                                     (ezsr.models.Teacher) for classify / eval / adapt
    load_zero_shot(spec, classes) -> ZeroShot(module, encoder, classifier, scale, class_names,
                                     image_size): an image classifier module for streaming
                                     and export

What `checkpoint` holds decides the rest: nothing (the offline ConSE teacher, or a CLIP
name with random weights), a trained student (`ezsr train`'s student.pt, which names its
encoder and teacher), an EZSR image-tower checkpoint (the text tower then comes from
`clip_checkpoint`), or a full CLIP checkpoint. The library never names command-line flags:
errors name the spec's fields through `ModelSpec.option_names` (the CLI maps each field to
its flag, e.g. {"clip_checkpoint": "--base"}).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Mapping, Sequence

import torch
from torch import nn

from ezsr.zeroshot.classes import read_classes
from ezsr.zeroshot.graph import ImageClassifier, ZeroShotHead

if TYPE_CHECKING:
    from ezsr.models.teachers import Teacher

log = logging.getLogger(__name__)

OFFLINE: Final = "offline"
OFFLINE_DESCRIPTION = (
    "offline default teacher (ConSE: EfficientNet-Lite0 ImageNet classifier + "
    "all-MiniLM-L6-v2 text embeddings) on the event frame"
)


@dataclass(frozen=True)
class ModelSpec:
    """Which model embeds the events and which one names the classes.

    model: an architecture name of ezsr.models (e.g. "ViT-B-16", "EVA02-CLIP-B-16") or
        "offline" / None (the offline ConSE teacher, no download).
    checkpoint: path of a trained student (student.pt), an EZSR image-tower checkpoint or
        a CLIP checkpoint of `model`.
    clip_checkpoint: path of the full CLIP checkpoint whose text tower names the classes (and
        whose image tower initialises an EZSR encoder).
    vocab: CLIP's BPE vocabulary (a .txt.gz or a folder with vocab.json + merges.txt);
        default: beside the checkpoint, then $EZSR_CLIP_VOCAB.
    classifier: a ready text classifier [D, K] (a tensor or a torch.save'd file) used
        instead of a text tower.
    device: torch device string.
    option_names: how errors name the fields (field -> e.g. "--checkpoint"); a field not
        in it is named as itself.
    """

    model: str | None = None
    checkpoint: str | None = None
    clip_checkpoint: str | None = None
    vocab: str | None = None
    classifier: str | Path | torch.Tensor | None = None
    device: str = "cpu"
    option_names: Mapping[str, str] = field(default_factory=dict, compare=False)

    def label(self, name: str) -> str:
        """How errors name the field `name`."""
        return self.option_names.get(name, name)

    @property
    def offline(self) -> bool:
        return self.model in (None, OFFLINE)


@dataclass
class LoadedTeacher:
    # an ezsr.models.Teacher, or a StudentTeacher (which has encode_normalized, not encode_image)
    teacher: Any
    name: str  # "offline", the CLIP model's name, or "student PATH"
    notes: list[str]  # what the caller may show the user (partial loads, defaults taken)


@dataclass
class ZeroShot:
    module: nn.Module  # image [B, 3, S, S] (CLIP-normalised EZSR input) -> logits [B, K]
    encoder: nn.Module | None  # image -> features (what `ezsr export` traces; for the
    #                            offline teacher its ConSE graph, ezsr.models.conse.ConSEEncoder)
    classifier: torch.Tensor  # [D, K] float32
    scale: float  # logit multiplier (ezsr.models.logit_scale)
    class_names: list[str]
    image_size: int = 224  # the encoder's input size (the EZSR preprocessing out_size)


class TeacherEncoder(nn.Module):
    """A teacher fed with the CLIP-normalised EZSR frame [B, 3, S, S] -> [B, D] unit
    features: encode_normalized where the teacher has it, else the frame un-normalised to
    RGB in [0, 1] (the event frame as an image) through encode_image."""

    def __init__(self, teacher: Teacher) -> None:
        super().__init__()
        self.teacher = teacher

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from ezsr.zeroshot.classifier import encode_frames

        return encode_frames(self.teacher, x)


# ------------------------------------------------------------------------ teachers
def load_teacher(spec: ModelSpec) -> LoadedTeacher:
    """The Teacher of a spec (classify, eval, adapt): the offline teacher without a
    checkpoint, a trained student's StudentTeacher, or a CLIPTeacher of `model` from a CLIP
    checkpoint (or an EZSR image tower + clip_checkpoint for the text tower)."""
    from ezsr.models.checkpoints import CheckpointError, detect_format, read_state_dict
    from ezsr.models.factory import create_model
    from ezsr.models.student import load_student_teacher, peek_student_file
    from ezsr.models.teachers import CLIPTeacher, create_teacher
    from ezsr.models.tokenizer import load_tokenizer

    lab = spec.label
    if not spec.checkpoint:
        if not spec.offline or spec.clip_checkpoint:
            raise ValueError(
                f"{lab('model')}/{lab('clip_checkpoint')} need {lab('checkpoint')} "
                "(the CLIP weights to use)"
            )
        try:
            teacher = create_teacher(OFFLINE, device=spec.device)
        except ImportError as exc:  # a user error: the optional extra is not installed
            raise ValueError(str(exc)) from exc
        return LoadedTeacher(
            teacher,
            OFFLINE,
            [
                f"using the {OFFLINE_DESCRIPTION}; pass "
                f"{lab('checkpoint')}/{lab('model')} for a "
                "CLIP/EZSR model"
            ],
        )
    if peek_student_file(spec.checkpoint) is not None:  # `ezsr train`'s student.pt
        return LoadedTeacher(
            load_student_teacher(spec.checkpoint, device=spec.device, vocab=spec.vocab),
            f"student {spec.checkpoint}",
            [],
        )
    if spec.offline:
        raise ValueError(
            f"{lab('checkpoint')} needs {lab('model')} NAME (its architecture), "
            f"e.g. {lab('model')} ViT-B/16"
        )
    try:
        fmt = detect_format(read_state_dict(spec.checkpoint)[0])
    except CheckpointError as exc:
        msg = str(exc)
        raise CheckpointError(
            msg if msg.startswith(str(spec.checkpoint)) else f"{spec.checkpoint}: {msg}"
        ) from None
    if fmt == "ezsr":
        if not spec.clip_checkpoint:
            raise ValueError(
                f"{spec.checkpoint} holds only an image tower (EZSR checkpoint): "
                "give the CLIP checkpoint of its text tower with "
                f"{lab('clip_checkpoint')}"
            )
        model = create_model(
            spec.model,
            pretrained=spec.clip_checkpoint,
            image_checkpoint=spec.checkpoint,
            device=spec.device,
        )
        near = spec.clip_checkpoint
    else:
        model = create_model(spec.model, pretrained=spec.checkpoint, device=spec.device)
        near = spec.checkpoint
    notes = [
        rep.summary() for rep in getattr(model, "load_reports", []) if rep.missing or rep.unexpected
    ]
    tok = load_tokenizer(spec.vocab or near, model.context_length)
    return LoadedTeacher(CLIPTeacher(model, tok), model.name, notes)


# ------------------------------------------------------------------ zero-shot modules
def load_zero_shot(
    spec: ModelSpec | str = OFFLINE,
    classes: str | Sequence[str] = "cat,dog",
    checkpoint: str | None = None,
    clip_checkpoint: str | None = None,
    templates: str | Sequence[str] = "openai",
    device: torch.device | str = "cpu",
    classifier: str | torch.Tensor | None = None,
    vocab: str | None = None,
) -> ZeroShot:
    """A zero-shot image classifier (streaming, export) for a spec and class names.

    spec: a ModelSpec, or a model name with the spec's fields as keyword arguments.
    model "offline": the offline teacher under the head; its encoder is the same ConSE
    computation as one exportable module (ezsr.models.conse.ConSEEncoder).
    A CLIP name: the event encoder create_event_encoder(name, pretrained=checkpoint,
    init=clip_checkpoint) and the text classifier of create_model(name,
    pretrained=clip_checkpoint); random weights when no checkpoint is given (logged).
    checkpoint may also be a trained student: that student is the encoder, whatever the
    model says, and its teacher (named in the file) embeds the classes.
    classifier: a ready [D, K] text classifier instead of the text tower; K must match.
    classes: a list, "a,b,c" or "@FILE" (ezsr.zeroshot.read_classes).
    """
    if not isinstance(spec, ModelSpec):
        spec = ModelSpec(
            model=spec,
            checkpoint=checkpoint,
            clip_checkpoint=clip_checkpoint,
            vocab=vocab,
            classifier=classifier,
            device=str(device),
        )
    from ezsr import models, zeroshot
    from ezsr.models.student import read_student_file

    lab = spec.label
    model = spec.model or OFFLINE
    names = read_classes(classes, lab("classes"))
    given = (
        load_classifier(spec.classifier, len(names), spec) if spec.classifier is not None else None
    )
    student = read_student_file(spec.checkpoint) if spec.checkpoint else None
    if student is not None:
        return _student_zero_shot(student, spec, names, templates, given)
    if spec.offline:
        teacher = models.create_teacher(OFFLINE, device=spec.device)
        if given is not None:
            _check_rows(given, spec, model, int(teacher.embed_dim))
        cls = (
            given
            if given is not None
            else zeroshot.build_classifier(teacher, names, templates).float()
        )
        scale = models.logit_scale(teacher)
        module = ImageClassifier(TeacherEncoder(teacher), ZeroShotHead(cls, scale))
        from ezsr.models.conse import ConSEEncoder

        return ZeroShot(
            module.to(spec.device).eval(),
            ConSEEncoder(teacher).eval(),
            cls,
            scale,
            names,
            int(teacher.image_size),
        )
    clip = models.create_model(model, pretrained=spec.clip_checkpoint)
    if spec.clip_checkpoint is None and spec.checkpoint is None:
        log.warning("model %s: no checkpoint given, the image tower has random weights", model)
    enc = models.create_event_encoder(model, pretrained=spec.checkpoint, init=spec.clip_checkpoint)
    if given is not None:
        cls = given
    else:
        text: Teacher | nn.Module = clip
        if spec.vocab:  # the given vocabulary, not one found beside the checkpoint
            text = models.CLIPTeacher(clip, models.load_tokenizer(spec.vocab, clip.context_length))
        cls = zeroshot.build_classifier(text, names, templates).float()
    with torch.no_grad():
        d = enc(torch.zeros(1, 3, enc.image_size, enc.image_size)).shape[1]
    if given is not None:
        _check_rows(cls, spec, model, d)
    elif cls.shape[0] != d:
        raise ValueError(
            f"the {model} text classifier has {cls.shape[0]} rows, the encoder "
            f"gives {d}-dim embeddings"
        )
    scale = models.logit_scale(clip)
    module = ImageClassifier(enc, ZeroShotHead(cls, scale)).to(spec.device).eval()
    return ZeroShot(module, enc, cls, scale, names, int(enc.image_size))


def _student_zero_shot(
    meta: dict[str, Any],
    spec: ModelSpec,
    names: list[str],
    templates: str | Sequence[str],
    given: torch.Tensor | None,
) -> ZeroShot:
    """A trained student (ezsr.models.student) under the zero-shot head of its teacher's
    text side, or of the given classifier (then the teacher is not loaded; scale 100)."""
    from ezsr import zeroshot
    from ezsr.models.student import build_student, teacher_of
    from ezsr.models.teachers import MAX_LOGIT_SCALE, logit_scale

    path = spec.checkpoint
    enc = build_student(meta)
    if meta["input"]["mode"] != "crop":
        log.warning(
            "%s was trained on %s-mode input; streaming preprocesses in crop mode",
            path,
            meta["input"]["mode"],
        )
    t = meta["teacher"]
    log.info(
        "%s: student %s (%d steps) distilled from teacher %s",
        path,
        meta["student"],
        meta["step"],
        t["name"],
    )
    if given is not None:
        _check_rows(given, spec, f"student {path}", int(meta["embed_dim"]))
        cls, scale = given, MAX_LOGIT_SCALE
    else:
        teacher = teacher_of(
            meta,
            path,
            spec.device,
            f"; give {spec.label('classifier')} W.pt with a ready text classifier instead",
            vocab=spec.vocab,
        )
        cls = zeroshot.build_classifier(teacher, names, templates).float()
        scale = logit_scale(teacher)
    module = ImageClassifier(enc, ZeroShotHead(cls, scale)).to(spec.device).eval()
    return ZeroShot(module, enc, cls, scale, names, int(meta["input"]["size"]))


# ------------------------------------------------------------------ text classifiers
def _what(source: object) -> str:
    return "(tensor)" if isinstance(source, torch.Tensor) else str(source)


def _check_rows(cls: torch.Tensor, spec: ModelSpec, model: str, d: int) -> None:
    """The classifier's rows D must be the model's embedding size."""
    if cls.shape[0] != d:
        raise ValueError(
            f"{spec.label('classifier')} {_what(spec.classifier)} has "
            f"D={cls.shape[0]} rows; model '{model}' embeds {d}"
        )


def load_classifier(
    source: str | Path | torch.Tensor, k: int, spec: ModelSpec | None = None
) -> torch.Tensor:
    """A [D, K] float32 text classifier for k class names from a tensor or a torch.save'd
    file (FileNotFoundError / ValueError naming the spec's classifier field otherwise)."""
    spec = spec or ModelSpec(classifier=source)
    lab = spec.label("classifier")
    if isinstance(source, torch.Tensor):
        w = source
    else:
        if not Path(source).is_file():
            raise FileNotFoundError(f"{lab} {source}: no such file")
        try:
            w = torch.load(source, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - not a torch.save file
            raise ValueError(
                f"{lab} {source}: not a torch.save'd [D, K] tensor ({type(exc).__name__})"
            ) from None
    return check_classifier(w, source, k, spec)


def check_classifier(
    w: object, source: object, k: int, spec: ModelSpec | None = None
) -> torch.Tensor:
    """w as a float32 [D, K] text classifier for k class names (ValueError naming the
    spec's classifier field and `source` otherwise)."""
    spec = spec or ModelSpec()
    lab = spec.label("classifier")
    if not isinstance(w, torch.Tensor) or w.dim() != 2:
        shape = tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__
        raise ValueError(f"{lab} {_what(source)}: expected a [D, K] tensor, got {shape}")
    if w.shape[1] != k:
        raise ValueError(
            f"{lab} {_what(source)}: {w.shape[1]} columns for {k} class "
            f"names ({spec.label('classes')})"
        )
    return w.float()
