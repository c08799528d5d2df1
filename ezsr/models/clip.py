"""CLIP in plain torch: ViT image towers (OpenAI/OpenCLIP and EVA02 variants) and the
text transformer.

The internal parameter layout is OpenAI CLIP's (`visual.*`, `token_embedding`,
`positional_embedding`, `transformer.resblocks.*`, `ln_final`, `text_projection`,
`logit_scale`) with an EVA-CLIP image tower under `visual.*` for EVA02 configs; every
checkpoint format is converted to it by ezsr.models.checkpoints.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Union, cast

import torch
import torch.nn.functional as F
from torch import nn

from ezsr.models.transformer import EVABlock, Transformer, init_normal_, rope_tables

if TYPE_CHECKING:
    from ezsr.models.checkpoints import LoadReport


# ------------------------------------------------------------------ typed configs
@dataclass(frozen=True)
class TextConfig:
    """The text tower of a model config (ezsr/models/configs/*.json, "text")."""

    context_length: int
    vocab_size: int
    width: int
    heads: int
    layers: int
    mlp_ratio: float = 4.0
    act: str = "quick_gelu"
    ln_eps: float = 1e-5


@dataclass(frozen=True)
class _ViTConfig:
    """What every ViT image tower has: input side, patch side, width, depth, heads."""

    image_size: int
    patch_size: int
    width: int
    layers: int
    heads: int


@dataclass(frozen=True)
class ClipVisionConfig(_ViTConfig):
    """An OpenAI/OpenCLIP ViT image tower ("vision" with "type": "clip")."""

    mlp_ratio: float = 4.0
    act: str = "quick_gelu"
    ln_eps: float = 1e-5


@dataclass(frozen=True)
class EvaVisionConfig(_ViTConfig):
    """An EVA02-CLIP image tower ("vision" with "type": "eva")."""

    mlp_ratio: float = 2.6667
    ln_eps: float = 1e-6
    rope: bool = True
    rope_pt_seq_len: int = 16
    swiglu: bool = True
    subln: bool = True
    postnorm: bool = False


VISION_TYPES = {"clip": ClipVisionConfig, "eva": EvaVisionConfig}


@dataclass(frozen=True)
class CLIPConfig:
    """A whole model config: embedding size, image tower, text tower."""

    embed_dim: int
    vision: ClipVisionConfig | EvaVisionConfig
    text: TextConfig

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any], where: str = "model config") -> "CLIPConfig":
        """The typed config of a config dict; ValueError naming the key for an unknown or
        missing key (nothing is silently dropped)."""
        _check_keys(
            cfg, {"embed_dim", "vision", "text"}, {"embed_dim", "vision", "text"}, where, ""
        )
        vision = dict(cfg["vision"])
        kind = vision.pop("type", "clip")
        if kind not in VISION_TYPES:
            raise ValueError(
                f"{where}: vision.type {kind!r} is not known; expected one of "
                f"{sorted(VISION_TYPES)}"
            )
        return cls(
            int(cfg["embed_dim"]),
            _typed(VISION_TYPES[kind], vision, where, "vision."),
            _typed(TextConfig, cfg["text"], where, "text."),
        )


def _check_keys(
    d: Mapping[str, Any], known: set[str], required: set[str], where: str, prefix: str
) -> None:
    if not isinstance(d, Mapping):
        raise ValueError(
            f"{where}: {prefix.rstrip('.') or 'the config'} must be a mapping, "
            f"got {type(d).__name__}"
        )
    for k in d:
        if k not in known:
            raise ValueError(
                f"{where}: unknown key '{prefix}{k}'; expected one of "
                f"{sorted(prefix + n for n in known)}"
            )
    for k in sorted(required):
        if k not in d:
            raise ValueError(f"{where}: missing key '{prefix}{k}'")


def _typed(cls: Any, d: Mapping[str, Any], where: str, prefix: str) -> Any:
    fields = dataclasses.fields(cls)
    required = {f.name for f in fields if f.default is dataclasses.MISSING}
    _check_keys(d, {f.name for f in fields}, required, where, prefix)
    return cls(**d)


# ------------------------------------------------------------------ towers
class VisionTransformer(nn.Module):
    """OpenAI CLIP ViT: conv patch embedding (no bias), class token, learned positions,
    ln_pre, transformer, ln_post on the class token, projection `proj` [W, D].

    forward(x [B, C, S, S] float, CLIP-normalised) -> [B, D] (not normalised).
    """

    def __init__(
        self,
        image_size: int,
        patch_size: int,
        width: int,
        layers: int,
        heads: int,
        output_dim: int,
        mlp_ratio: float = 4.0,
        act: str = "quick_gelu",
        ln_eps: float = 1e-5,
        in_chans: int = 3,
    ) -> None:
        super().__init__()
        self.image_size, self.patch_size, self.in_chans = image_size, patch_size, in_chans
        grid = image_size // patch_size
        scale = width**-0.5
        self.conv1 = nn.Conv2d(in_chans, width, patch_size, patch_size, bias=False)
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(grid * grid + 1, width))
        self.ln_pre = nn.LayerNorm(width, eps=ln_eps)
        self.transformer = Transformer(width, layers, heads, mlp_ratio, act, ln_eps)
        self.ln_post = nn.LayerNorm(width, eps=ln_eps)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))
        init_normal_(self.transformer)

    @property
    def patch_weight(self) -> torch.Tensor:
        """The patch embedding's weight [W, C, p, p] (an nn.Parameter)."""
        return self.conv1.weight

    def forward_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """[B, C, S, S] -> the last block's tokens [B, 1 + N, W] (class token first, then
        the N = (S/p)^2 patches in row-major order)."""
        x = self.conv1(x).flatten(2).transpose(1, 2)  # [B, N, W]
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        return self.transformer(self.ln_pre(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ln_post(self.forward_tokens(x)[:, 0]) @ self.proj

    def patch_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Projected patch tokens [B, N, D]: each patch token through the class token's
        ln_post and proj, i.e. in the embedding space texts are compared in (row-major
        over the (S/p) x (S/p) patch grid)."""
        return self.ln_post(self.forward_tokens(x)[:, 1:]) @ self.proj


class EVAVisionTransformer(nn.Module):
    """EVA-CLIP ViT: conv patch embedding with bias, `cls_token`, `pos_embed`, blocks
    (EVA02: 2-D rotary position embedding of the patch tokens, SwiGLU and sub-LN; bigE:
    packed qkv, GELU MLP, post-norm; see EVABlock), final `norm`, class-token pooling and a
    linear `head` with bias.

    forward(x [B, C, S, S] float, CLIP-normalised) -> [B, D].
    """

    def __init__(
        self,
        image_size: int,
        patch_size: int,
        width: int,
        layers: int,
        heads: int,
        output_dim: int,
        mlp_ratio: float = 2.6667,
        ln_eps: float = 1e-6,
        rope: bool = True,
        rope_pt_seq_len: int = 16,
        swiglu: bool = True,
        subln: bool = True,
        postnorm: bool = False,
        in_chans: int = 3,
    ) -> None:
        super().__init__()
        self.image_size, self.patch_size, self.in_chans = image_size, patch_size, in_chans
        grid = image_size // patch_size
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(in_chans, width, patch_size, patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embed = nn.Parameter(0.02 * torch.randn(1, grid * grid + 1, width))
        self.blocks = nn.ModuleList(
            EVABlock(width, heads, mlp_ratio, ln_eps, swiglu, subln, postnorm)
            for _ in range(layers)
        )
        self.norm = nn.LayerNorm(width, eps=ln_eps)
        self.head = nn.Linear(width, output_dim)
        init_normal_(self)
        if rope:
            cos, sin = rope_tables(width // heads, grid, rope_pt_seq_len)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        else:
            self.rope_cos = self.rope_sin = None

    @property
    def patch_weight(self) -> torch.Tensor:
        """The patch embedding's weight [W, C, p, p] (an nn.Parameter)."""
        return cast(nn.Conv2d, self.patch_embed.proj).weight

    def forward_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """[B, C, S, S] -> the last block's tokens [B, 1 + N, W] (class token first)."""
        x = cast(nn.Conv2d, self.patch_embed.proj)(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1).to(x.dtype), x], 1)
        x = x + self.pos_embed.to(x.dtype)
        rope = (
            None
            if self.rope_cos is None
            else (self.rope_cos.to(x.dtype), self.rope_sin.to(x.dtype))
        )
        for blk in self.blocks:
            x = blk(x, rope)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.forward_tokens(x))[:, 0])

    def patch_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Projected patch tokens [B, N, D]: each patch token through `norm` and `head` as
        the class token is (row-major over the patch grid)."""
        return self.head(self.norm(self.forward_tokens(x)[:, 1:]))


#: An image tower: OpenAI CLIP's ViT or EVA-CLIP's.
VisionTower = Union[VisionTransformer, EVAVisionTransformer]


def build_vision(cfg: Mapping[str, Any], embed_dim: int, in_chans: int = 3) -> VisionTower:
    """The image tower of a config's "vision" dict (unknown keys are a ValueError)."""
    vision = dict(cfg)
    kind = vision.pop("type", "clip")
    if kind not in VISION_TYPES:
        raise ValueError(f"unknown vision tower type {kind!r}; expected 'clip' or 'eva'")
    kw = dataclasses.asdict(_typed(VISION_TYPES[kind], vision, "model config", "vision."))
    tower = VisionTransformer if kind == "clip" else EVAVisionTransformer
    return tower(output_dim=embed_dim, in_chans=in_chans, **kw)


class CLIP(nn.Module):
    """Image and text towers of CLIP.

    encode_image(x [B, 3, S, S] float, CLIP-normalised) -> [B, D] (not normalised)
    encode_text(tokens [K, L] int64, from ezsr.models.tokenize) -> [K, D] (not normalised);
    the text feature is read at each row's end-of-text token, the largest id in the row.
    `logit_scale` is the log of the temperature (logits = logit_scale.exp() * cos).
    """

    visual: VisionTower
    attn_mask: torch.Tensor  # buffer [L, L] float32 causal mask
    # set by ezsr.models.create_model: what was loaded, and from where ("A+B": CLIP then image)
    load_reports: list[LoadReport]
    checkpoint: str | None

    def __init__(self, cfg: dict[str, Any], name: str = "custom") -> None:
        super().__init__()
        self.name, self.cfg = name, cfg
        typed = CLIPConfig.from_dict(cfg, f"model config {name}")
        self.embed_dim = typed.embed_dim
        self.visual = build_vision(cfg["vision"], self.embed_dim)
        t = typed.text
        self.context_length, self.vocab_size = t.context_length, t.vocab_size
        width = t.width
        self.token_embedding = nn.Embedding(t.vocab_size, width)
        self.positional_embedding = nn.Parameter(0.01 * torch.randn(t.context_length, width))
        self.transformer = Transformer(width, t.layers, t.heads, t.mlp_ratio, t.act, t.ln_eps)
        self.ln_final = nn.LayerNorm(width, eps=t.ln_eps)
        self.text_projection = nn.Parameter(width**-0.5 * torch.randn(width, self.embed_dim))
        self.logit_scale = nn.Parameter(torch.tensor(4.6052))  # log(100)
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        init_normal_(self.transformer)
        mask = torch.full((t.context_length,) * 2, float("-inf")).triu_(1)
        self.register_buffer("attn_mask", mask, persistent=False)

    @property
    def image_size(self) -> int:
        return self.visual.image_size

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        return self.visual(x)

    def encode_patches(self, x: torch.Tensor) -> torch.Tensor:
        """Projected patch tokens [B, N, D] (not normalised) of CLIP-normalised images
        [B, 3, S, S]; N = (S / patch_size)^2, row-major."""
        return self.visual.patch_tokens(x)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.dim() != 2:
            raise ValueError(f"tokens must be [K, L] int64, got shape {tuple(tokens.shape)}")
        n = tokens.shape[1]
        if n > self.context_length:
            raise ValueError(f"tokens have length {n} > context_length {self.context_length}")
        x = self.token_embedding(tokens) + self.positional_embedding[:n]
        x = self.transformer(x, self.attn_mask[:n, :n].to(x.dtype))
        x = self.ln_final(x)
        eot = x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)]
        return eot @ self.text_projection

    def forward(self, images: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        img = F.normalize(self.encode_image(images), dim=-1)
        txt = F.normalize(self.encode_text(tokens), dim=-1)
        return self.logit_scale.exp() * img @ txt.T
