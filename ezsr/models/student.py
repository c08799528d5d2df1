"""Trained students: the file `ezsr train` writes beside its checkpoints
(`<run.out_dir>/student.pt`) and the commands read (`--checkpoint runs/NAME/student.pt`).

A training checkpoint (last.pt) holds optimiser and RNG state and needs the trainer's code
to read; student.pt holds only what inference needs, and loads with
`torch.load(weights_only=True)` (tensors, numbers and strings: no code runs):

    format      "ezsr-student-1"
    student     create_event_encoder name of the encoder
    width       the encoder's output width when a linear projection to the teacher's width
                follows it (ProjectedEncoder), else None
    embed_dim   D, the teacher's embedding width (the student's output)
    input       {"size": S, "mode": "crop" | "squash"}: the EZSR preprocessing it was trained
                on (ezsr.ops.histogram_to_ezsr_input / ezsr_preprocess out_size and mode)
    teacher     {"name": create_teacher name, "pretrained": its checkpoint path or ""}: whose
                text side names the classes (zero-shot)
    step        training steps behind the weights
    state_dict  the student's parameters
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import torch
from torch import nn

if TYPE_CHECKING:
    from ezsr.models.teachers import Teacher

FORMAT = "ezsr-student-1"


class ProjectedEncoder(nn.Module):
    """An encoder [B, 3, S, S] -> [B, d] followed by a bias-free linear map to the teacher's
    width D: [B, D]. The trainer adds it when the student's width differs from the teacher's."""

    def __init__(self, encoder: nn.Module, d_in: int, d_out: int):
        super().__init__()
        self.encoder, self.proj = encoder, nn.Linear(d_in, d_out, bias=False)
        self.image_size = getattr(encoder, "image_size", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.encoder(x))


def save_student(
    path: str | Path,
    module: nn.Module,
    *,
    student: str,
    embed_dim: int,
    input_size: int,
    input_mode: str,
    teacher: str,
    teacher_pretrained: str = "",
    step: int = 0,
    state_dict: dict | None = None,
) -> Path:
    """Write a student file atomically (a temporary file, then os.replace). state_dict: the
    module's full parameters when `module` holds only a shard of them (FSDP); default
    module.state_dict()."""
    if ":" in student:
        raise ValueError(
            f"model.student={student} is custom code: its student.pt could not be "
            "rebuilt by name (save its state_dict yourself)"
        )
    width = module.proj.in_features if isinstance(module, ProjectedEncoder) else None
    obj = {
        "format": FORMAT,
        "student": student,
        "width": width,
        "embed_dim": int(embed_dim),
        "input": {"size": int(input_size), "mode": str(input_mode)},
        "teacher": {"name": str(teacher), "pretrained": str(teacher_pretrained or "")},
        "step": int(step),
        "state_dict": {k: v.detach().cpu() for k, v in (state_dict or module.state_dict()).items()},
    }
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)
    return path


def peek_student_file(path: str | Path) -> dict | None:
    """A student file's fields with its tensors stubbed out (the pickle only, nothing
    executed; cheap on any file), or None when `path` is not a student file."""
    from ezsr.models.checkpoints import peek_pickle

    obj = peek_pickle(Path(path))
    return obj if isinstance(obj, dict) and obj.get("format") == FORMAT else None


def read_student_file(path: str | Path) -> dict | None:
    """The contents of a student file, or None when `path` is some other file (a CLIP
    checkpoint, say: only its pickle is looked at). Reads with weights_only=True."""
    if peek_student_file(path) is None:
        return None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # not a torch.save file, or one that needs code to load
        return None
    return obj if isinstance(obj, dict) and obj.get("format") == FORMAT else None


def build_student(meta: dict) -> nn.Module:
    """The student module of a student file's contents (weights loaded, eval mode)."""
    from ezsr.models.factory import create_event_encoder

    enc = create_event_encoder(meta["student"], in_chans=3)
    module = ProjectedEncoder(enc, meta["width"], meta["embed_dim"]) if meta["width"] else enc
    module.load_state_dict(meta["state_dict"])
    module.image_size = meta["input"]["size"]
    return module.eval()


def load_student(path: str | Path) -> tuple[nn.Module, dict]:
    """(student module on the CPU in eval mode, the file's contents without state_dict)."""
    meta = read_student_file(path)
    if meta is None:
        raise ValueError(f"{path}: not a student file of `ezsr train` (format {FORMAT})")
    module = build_student(meta)
    return module, {k: v for k, v in meta.items() if k != "state_dict"}


class StudentTeacher:
    """A trained student behind the teacher interface of ezsr.zeroshot (classify, eval):
    images are the student's (the CLIP-normalised EZSR frame, encode_normalized), texts are
    its teacher's. The text classifier cache is the teacher's (same text side)."""

    def __init__(self, student: nn.Module, teacher: Teacher, meta: dict[str, Any]) -> None:
        self.student, self.teacher = student.eval(), teacher
        self.embed_dim = int(meta["embed_dim"])
        self.image_size = int(meta["input"]["size"])
        self.name = f"student:{meta['student']}"
        self.cache_key = getattr(teacher, "cache_key", None)
        self.logit_scale = _logit_scale(teacher)  # the teacher's: the text side is its

    @torch.no_grad()
    def encode_normalized(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 3, S, S] CLIP-normalised EZSR frames -> [B, D] unit embeddings."""
        dev = next(self.student.parameters()).device
        return torch.nn.functional.normalize(self.student(x.to(dev)).float(), dim=-1)

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        return self.teacher.encode_text(texts)


def _logit_scale(teacher: object) -> float:
    from ezsr.models.teachers import logit_scale

    return logit_scale(teacher)


def teacher_of(
    meta: dict[str, Any],
    path: str | Path | None,
    device: torch.device | str = "cpu",
    hint: str = "",
    vocab: str | Path | None = None,
) -> Teacher:
    """The teacher named in a student file (create_teacher), whose text side names the
    classes; vocab: CLIP's BPE vocabulary for a CLIP teacher (default: found beside its
    checkpoint or in $EZSR_CLIP_VOCAB). ValueError naming the file when it cannot be loaded."""
    from ezsr.models.teachers import CLIPTeacher, create_teacher
    from ezsr.models.tokenizer import load_tokenizer

    t = meta["teacher"]
    try:
        if vocab and t["name"] != "offline":
            from ezsr.models.factory import create_model

            clip = create_model(t["name"], pretrained=t["pretrained"] or None, device=str(device))
            return CLIPTeacher(clip, load_tokenizer(vocab, clip.context_length))
        return create_teacher(t["name"], pretrained=t["pretrained"] or None, device=str(device))
    except (OSError, ValueError, ImportError) as exc:
        raise ValueError(
            f"{path}: its teacher {t['name']!r} (checkpoint "
            f"{t['pretrained'] or 'default'}) embeds the class names and could not "
            f"be loaded ({exc}){hint}"
        ) from exc


def load_student_teacher(
    path: str | Path, device: torch.device | str = "cpu", vocab: str | Path | None = None
) -> StudentTeacher:
    """The StudentTeacher of a student file: the student and the teacher named in it."""
    student, meta = load_student(path)
    return StudentTeacher(student.to(device), teacher_of(meta, path, device, vocab=vocab), meta)
