"""Distillation losses: event embeddings pulled onto the frozen teacher's image embeddings.

EZSR's objective (EZSR, arXiv 2407.21616, training section) = a global similarity term + a scalar-wise
regularisation that aligns the two embeddings dimension by dimension:

    s_n = s / |s|,  t_n = t / |t|                       (both [B, D])
    global  "cosine":  mean_b (1 - <s_n, t_n>)
            "infonce": mean_b CE(<s_n, T_n> / tau, own index)   event -> image; the rows T_n are
                       the teacher embeddings of the whole global batch (gathered across ranks;
                       the teacher is frozen, so no gradient needs to cross ranks)
    scalar  "l1":      mean_{b,d} |k s_n - k t_n|,  "l2": mean_{b,d} (k s_n - k t_n)^2
                       with k = scalar_scale (default sqrt(D), so a dimension's size is ~1)
    text    (optional, with labels): CE(logit_scale * s_n @ W, label), W [D, K] the teacher's
                       zero-shot text classifier

    total = global_weight * global + scalar_weight * scalar + text_weight * text

A cosine term alone fixes only the direction's agreement on average; the scalar-wise term
penalises every coordinate, so the event embedding cannot drift in the degrees of freedom a
global similarity leaves free. Setting scalar_weight=0 gives the plain global-loss ablation.
Every term is a mean over the local batch, so DDP's gradient averaging equals the gradient
of the loss on the global batch.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F


def normalize(x: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit L2 norm (float32 math)."""
    return F.normalize(x.float(), dim=-1, eps=1e-12)


def cosine_loss(s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """mean_b (1 - cos(s_b, t_b)). s, t: [B, D]."""
    return (1.0 - (normalize(s) * normalize(t)).sum(-1)).mean()


def infonce_loss(
    s: torch.Tensor, t_all: torch.Tensor, offset: int = 0, temperature: float = 0.07
) -> torch.Tensor:
    """Event -> image InfoNCE. s: [B, D] local student rows; t_all: [G, D] teacher rows of the
    global batch; the positive of row b is t_all[offset + b]."""
    logits = normalize(s) @ normalize(t_all).t() / temperature
    target = torch.arange(s.shape[0], device=s.device) + offset
    return F.cross_entropy(logits, target)


def scalar_loss(
    s: torch.Tensor, t: torch.Tensor, kind: str = "l1", scale: float = 0.0
) -> torch.Tensor:
    """Per-dimension penalty between normalised embeddings, mean over B x D.

    kind "l1": |k s_n - k t_n|; "l2": (k s_n - k t_n)^2; k = scale or sqrt(D).
    """
    k = scale if scale > 0 else math.sqrt(s.shape[-1])
    diff = (normalize(s) - normalize(t)) * k
    if kind == "l1":
        return diff.abs().mean()
    if kind == "l2":
        return diff.pow(2).mean()
    raise ValueError(f"scalar_loss: kind must be 'l1' or 'l2', got {kind!r}")


def text_loss(
    s: torch.Tensor, classifier: torch.Tensor, labels: torch.Tensor, logit_scale: float = 100.0
) -> torch.Tensor:
    """Cross-entropy of the zero-shot logits. classifier: [D, K]; labels: [B] int64, -1 =
    unlabelled (ignored). Zero when no row has a label."""
    logits = logit_scale * normalize(s) @ classifier.float()
    if not bool((labels >= 0).any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits, labels, ignore_index=-1)


class DistillationLoss(torch.nn.Module):
    """The configured objective; forward returns (total, {term: value}) with float32 scalars."""

    def __init__(
        self,
        global_kind: str = "cosine",
        global_weight: float = 1.0,
        scalar_kind: str = "l1",
        scalar_weight: float = 1.0,
        scalar_scale: float = 0.0,
        temperature: float = 0.07,
        text_weight: float = 0.0,
        classifier: Optional[torch.Tensor] = None,
        logit_scale: float = 100.0,
    ):
        super().__init__()
        if global_kind not in ("cosine", "infonce"):
            raise ValueError(
                f"DistillationLoss: global_kind must be 'cosine' or 'infonce', got {global_kind!r}"
            )
        if text_weight > 0 and classifier is None:
            raise ValueError("DistillationLoss: text_weight > 0 needs a text classifier [D, K]")
        self.global_kind, self.global_weight = global_kind, global_weight
        self.scalar_kind, self.scalar_weight, self.scalar_scale = (
            scalar_kind,
            scalar_weight,
            scalar_scale,
        )
        self.temperature, self.text_weight, self.logit_scale = (
            temperature,
            text_weight,
            logit_scale,
        )
        self.register_buffer("classifier", classifier, persistent=False)

    @classmethod
    def from_config(cls, c, classifier=None, logit_scale: float = 100.0) -> "DistillationLoss":
        """From an ezsr.training.config.LossConfig."""
        return cls(
            c.global_kind,
            c.global_weight,
            c.scalar_kind,
            c.scalar_weight,
            c.scalar_scale,
            c.temperature,
            c.text_weight,
            classifier,
            logit_scale,
        )

    def forward(
        self,
        s: torch.Tensor,
        t: torch.Tensor,
        labels: Optional[torch.Tensor] = None,
        t_all: Optional[torch.Tensor] = None,
        offset: int = 0,
    ):
        """s: student [B, D]; t: teacher [B, D]; labels [B] (-1 = none); t_all/offset: the
        global batch's teacher rows and this rank's first row (InfoNCE under DDP)."""
        if s.shape != t.shape:
            raise ValueError(
                f"DistillationLoss: student embeddings {tuple(s.shape)} and teacher "
                f"embeddings {tuple(t.shape)} differ (check the student's embed_dim)"
            )
        terms = {}
        if self.global_kind == "cosine":
            terms["global"] = cosine_loss(s, t)
        else:
            terms["global"] = infonce_loss(
                s, t if t_all is None else t_all, 0 if t_all is None else offset, self.temperature
            )
        total = self.global_weight * terms["global"]
        if self.scalar_weight > 0 and self.scalar_kind != "none":
            terms["scalar"] = scalar_loss(s, t, self.scalar_kind, self.scalar_scale)
            total = total + self.scalar_weight * terms["scalar"]
        if self.text_weight > 0 and labels is not None:
            terms["text"] = text_loss(s, self.classifier, labels, self.logit_scale)
            total = total + self.text_weight * terms["text"]
        terms["cos"] = (normalize(s) * normalize(t)).sum(-1).mean().detach()
        return total, terms
