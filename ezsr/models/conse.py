"""The ConSE combination (Norouzi et al., "Zero-Shot Learning by Convex Combination of
Semantic Embeddings", ICLR 2014, eq. 1) and the offline teacher's image side as one torch
module, so it exports to ONNX like any encoder.

    conse_combine(p [B, C], class_embeddings [C, D], top_t) -> [B, D] unit rows:
        normalise(sum over the top_t classes i of p_i * s(class_i))
    ConSEEncoder(teacher): CLIP-normalised EZSR frame [B, 3, 224, 224] -> [B, D] unit
        features, exactly ConSETeacher.encode_image of the frame un-normalised to RGB in [0, 1]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from ezsr.models.teachers import ConSETeacher


def conse_combine(p: torch.Tensor, class_embeddings: torch.Tensor, top_t: int) -> torch.Tensor:
    """[B, C] class probabilities, [C, D] class-name embeddings -> [B, D] unit embeddings:
    the probability-weighted sum of the embeddings of the top_t most probable classes."""
    top_p, top_i = p.topk(min(int(top_t), p.shape[1]), dim=-1)  # [B, T]
    emb = (top_p.unsqueeze(-1) * class_embeddings[top_i]).sum(1)  # [B, D]
    return F.normalize(emb, dim=-1)


class ConSEEncoder(nn.Module):
    """The offline ConSE teacher's image side as one module (export-safe: Conv, Softmax, TopK,
    Gather, elementwise ops).

    forward(x [B, 3, 224, 224] float32, CLIP-normalised EZSR input) -> [B, D] float32 unit rows:
    x un-normalised to RGB in [0, 1] (clamped), scaled as EfficientNet-Lite0 expects
    ((rgb * 255 - 127) / 128), ImageNet softmax [B, 1000], ConSE combination of the top_t
    class-name embeddings (a [1000, D] buffer taken from the teacher). The input must already
    be 224 x 224 (the teacher's resize is the identity there).
    """

    class_embeddings: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, teacher: ConSETeacher) -> None:
        super().__init__()
        from ezsr.ops.ezsr_preprocess import CLIP_MEAN, CLIP_STD

        self.net = teacher.net
        self.top_t = int(teacher.top_t)
        self.image_size = int(teacher.image_size)
        self.register_buffer("class_embeddings", teacher.class_embeddings.detach().float().clone())
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rgb = (x.float() * self.std + self.mean).clamp(0, 1)
        p = self.net((rgb * 255 - 127) / 128).softmax(-1)
        return conse_combine(p, self.class_embeddings, self.top_t)
