"""Transformer building blocks for the CLIP and EVA02 towers (plain torch).

Parameter names follow the checkpoints they load from, so that conversion is a
renaming table and not a reshaping exercise:

* `ResidualAttentionBlock` uses OpenAI CLIP / OpenCLIP names
  (`ln_1`, `attn.in_proj_weight`, `attn.out_proj`, `ln_2`, `mlp.c_fc`, `mlp.c_proj`).
* `EVABlock` uses EVA-CLIP names (`norm1`, `attn.q_proj/k_proj/v_proj`, `attn.q_bias`,
  `attn.v_bias`, `attn.inner_attn_ln` (sub-LN), `attn.proj`, `norm2`, `mlp.w1/w2/ffn_ln/w3`
  (SwiGLU with sub-LN)); without sub-LN (EVA02-CLIP-bigE-14-plus, an EVA01-style tower)
  `attn.qkv` (packed), `mlp.fc1/fc2` (GELU) and optionally post-norm residuals.

All tensors are [B, N, W] float (batch, tokens, width).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class QuickGELU(nn.Module):
    """x * sigmoid(1.702 x): the activation of the OpenAI CLIP checkpoints."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


def make_act(name: str) -> nn.Module:
    if name == "quick_gelu":
        return QuickGELU()
    if name == "gelu":
        return nn.GELU()
    raise ValueError(f"unknown activation {name!r}; expected 'quick_gelu' or 'gelu'")


class MultiheadSelfAttention(nn.Module):
    """Self-attention with a packed [3W, W] input projection (nn.MultiheadAttention's
    names), computed with F.scaled_dot_product_attention."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not divisible by heads {heads}")
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, n, w = x.shape
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)
        q, k, v = qkv.view(b, n, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out_proj(y.transpose(1, 2).reshape(b, n, w))


class MLP(nn.Module):
    def __init__(self, width: int, hidden: int, act: str) -> None:
        super().__init__()
        self.c_fc = nn.Linear(width, hidden)
        self.gelu = make_act(act)
        self.c_proj = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.gelu(self.c_fc(x)))


class ResidualAttentionBlock(nn.Module):
    """Pre-LN block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(
        self,
        width: int,
        heads: int,
        mlp_ratio: float = 4.0,
        act: str = "quick_gelu",
        ln_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width, eps=ln_eps)
        self.attn = MultiheadSelfAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width, eps=ln_eps)
        self.mlp = MLP(width, int(width * mlp_ratio), act)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), mask)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(
        self,
        width: int,
        layers: int,
        heads: int,
        mlp_ratio: float = 4.0,
        act: str = "quick_gelu",
        ln_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList(
            ResidualAttentionBlock(width, heads, mlp_ratio, act, ln_eps) for _ in range(layers)
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for blk in self.resblocks:
            x = blk(x, mask)
        return x


# ---------------------------------------------------------------- EVA02 parts
def rope_tables(
    head_dim: int, grid: int, pt_seq_len: int = 16, theta: float = 10000.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables [grid*grid, head_dim] of EVA02's 2-D rotary embedding.

    Half of the head dimension rotates with the patch row, half with the column.
    Positions are rescaled to the pretraining grid (pos / grid * pt_seq_len), and each
    frequency is used for an adjacent (even, odd) pair of channels.
    """
    half = head_dim // 2
    freqs = 1.0 / theta ** (torch.arange(0, half, 2, dtype=torch.float64)[: half // 2] / half)
    pos = torch.arange(grid, dtype=torch.float64) / grid * pt_seq_len
    f = torch.outer(pos, freqs).repeat_interleave(2, dim=-1)  # [grid, half]
    rows = f[:, None, :].expand(grid, grid, half)
    cols = f[None, :, :].expand(grid, grid, half)
    ang = torch.cat([rows, cols], dim=-1).reshape(grid * grid, head_dim)
    return ang.cos().float(), ang.sin().float()


def rotate_pairs(x: torch.Tensor) -> torch.Tensor:
    """(x0, x1, x2, x3, ...) -> (-x1, x0, -x3, x2, ...): rotation by 90° of each pair."""
    x = x.unflatten(-1, (-1, 2))
    return torch.stack((-x[..., 1], x[..., 0]), dim=-1).flatten(-2)


class EVAAttention(nn.Module):
    """EVA-CLIP attention. With sub-LN (EVA02) the projections are separate (`q_proj`,
    `k_proj`, `v_proj`) and `inner_attn_ln` normalises the heads' output; without it (EVA01 /
    bigE) one packed `qkv` [3W, W] projection. Both add `q_bias` and `v_bias` (k has none)."""

    def __init__(self, width: int, heads: int, ln_eps: float, subln: bool = True) -> None:
        super().__init__()
        self.heads, self.subln = heads, subln
        if subln:
            self.q_proj = nn.Linear(width, width, bias=False)
            self.k_proj = nn.Linear(width, width, bias=False)
            self.v_proj = nn.Linear(width, width, bias=False)
        else:
            self.qkv = nn.Linear(width, 3 * width, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(width))
        self.v_bias = nn.Parameter(torch.zeros(width))
        self.inner_attn_ln = nn.LayerNorm(width, eps=ln_eps) if subln else nn.Identity()
        self.proj = nn.Linear(width, width)

    def forward(
        self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None
    ) -> torch.Tensor:
        b, n, w = x.shape
        h, d = self.heads, w // self.heads
        if self.subln:
            q = F.linear(x, self.q_proj.weight, self.q_bias).view(b, n, h, d).transpose(1, 2)
            k = self.k_proj(x).view(b, n, h, d).transpose(1, 2)
            v = F.linear(x, self.v_proj.weight, self.v_bias).view(b, n, h, d).transpose(1, 2)
        else:
            bias = torch.cat([self.q_bias, torch.zeros_like(self.q_bias), self.v_bias])
            q, k, v = F.linear(x, self.qkv.weight, bias).view(b, n, 3, h, d).permute(2, 0, 3, 1, 4)
        if rope is not None:  # rotate patch tokens only; token 0 is the class token
            cos, sin = rope
            q = torch.cat([q[:, :, :1], q[:, :, 1:] * cos + rotate_pairs(q[:, :, 1:]) * sin], 2)
            k = torch.cat([k[:, :, :1], k[:, :, 1:] * cos + rotate_pairs(k[:, :, 1:]) * sin], 2)
        y = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, w)
        return self.proj(self.inner_attn_ln(y))


class SwiGLU(nn.Module):
    """w3(ffn_ln(silu(w1 x) * w2 x)): EVA02's gated MLP with a sub-LN before the output."""

    def __init__(self, width: int, hidden: int, ln_eps: float, subln: bool = True) -> None:
        super().__init__()
        self.w1 = nn.Linear(width, hidden)
        self.w2 = nn.Linear(width, hidden)
        self.ffn_ln = nn.LayerNorm(hidden, eps=ln_eps) if subln else nn.Identity()
        self.w3 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w3(self.ffn_ln(F.silu(self.w1(x)) * self.w2(x)))


class EVAMlp(nn.Module):
    def __init__(self, width: int, hidden: int, ln_eps: float, subln: bool) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.ffn_ln = nn.LayerNorm(hidden, eps=ln_eps) if subln else nn.Identity()
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.ffn_ln(F.gelu(self.fc1(x))))


class EVABlock(nn.Module):
    """Pre-norm x + attn(norm1(x)), x + mlp(norm2(x)); with postnorm (bigE)
    x + norm1(attn(x)), x + norm2(mlp(x)). The MLP is SwiGLU (EVA02) or fc1-GELU-fc2."""

    def __init__(
        self,
        width: int,
        heads: int,
        mlp_ratio: float,
        ln_eps: float,
        swiglu: bool = True,
        subln: bool = True,
        postnorm: bool = False,
    ) -> None:
        super().__init__()
        hidden = int(width * mlp_ratio)
        self.postnorm = postnorm
        self.norm1 = nn.LayerNorm(width, eps=ln_eps)
        self.attn = EVAAttention(width, heads, ln_eps, subln)
        self.norm2 = nn.LayerNorm(width, eps=ln_eps)
        self.mlp = (
            SwiGLU(width, hidden, ln_eps, subln) if swiglu else EVAMlp(width, hidden, ln_eps, subln)
        )

    def forward(
        self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor:
        if self.postnorm:
            x = x + self.norm1(self.attn(x, rope))
            return x + self.norm2(self.mlp(x))
        x = x + self.attn(self.norm1(x), rope)
        return x + self.mlp(self.norm2(x))


def init_normal_(module: nn.Module, std: float = 0.02) -> None:
    """Small random init for linear layers (tests and event encoders without weights)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


__all__ = [
    "Transformer",
    "ResidualAttentionBlock",
    "EVABlock",
    "rope_tables",
    "rotate_pairs",
    "QuickGELU",
    "init_normal_",
]
