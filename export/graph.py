"""fp16 export of an encoder: an fp16 copy that keeps LayerNorm and softmax in fp32, for
ONNX graphs and strongly typed TensorRT networks. The zero-shot head, EZSR preprocessing
graph and whole classifiers the export wraps around an encoder are library modules
(ezsr.zeroshot.graph).
"""

from __future__ import annotations

import contextlib
import copy
import math

import torch
import torch.nn.functional as F
from torch import nn


# ------------------------------------------------------------------------- fp16
class FP32LayerNorm(nn.LayerNorm):
    """LayerNorm that computes in fp32 and returns the input's dtype."""

    def forward(self, x):
        return F.layer_norm(
            x.float(),
            self.normalized_shape,
            self.weight.float() if self.weight is not None else None,
            self.bias.float() if self.bias is not None else None,
            self.eps,
        ).to(x.dtype)


def _softmax32(x, dim=None, dtype=None, **kw):
    out_dtype = dtype or x.dtype
    return _ORIG["softmax"](x.float(), dim).to(out_dtype)


def _sdpa32(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, **kw):
    """Scaled dot-product attention with the softmax in fp32 (dropout not supported)."""
    s = scale if scale is not None else 1.0 / math.sqrt(q.shape[-1])
    a = (q @ k.transpose(-2, -1)).float() * s
    if is_causal:
        n, m = q.shape[-2], k.shape[-2]
        keep = torch.ones(n, m, dtype=torch.bool, device=q.device).tril()
        a = a.masked_fill(~keep, float("-inf"))
    if attn_mask is not None:
        a = (
            a.masked_fill(~attn_mask, float("-inf"))
            if attn_mask.dtype == torch.bool
            else a + attn_mask.float()
        )
    return _ORIG["softmax"](a, -1).to(v.dtype) @ v


_ORIG = {"softmax": torch.Tensor.softmax}  # the method: F.softmax calls it


@contextlib.contextmanager
def fp32_softmax():
    """Within the block, softmax (F.softmax, torch.softmax, Tensor.softmax) and
    F.scaled_dot_product_attention compute their softmax in fp32. Not thread-safe: it
    patches torch functions; used around an fp16 encoder's forward and ONNX tracing."""
    saved = (
        F.softmax,
        torch.softmax,
        torch.Tensor.softmax,
        F.scaled_dot_product_attention,
        torch.backends.mha.get_fastpath_enabled(),
    )
    F.softmax = torch.softmax = _softmax32
    torch.Tensor.softmax = lambda self, dim=None, dtype=None: _softmax32(self, dim, dtype)
    F.scaled_dot_product_attention = _sdpa32
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        F.softmax, torch.softmax, torch.Tensor.softmax, F.scaled_dot_product_attention = saved[:4]
        torch.backends.mha.set_fastpath_enabled(saved[4])


class HalfEncoder(nn.Module):
    """An fp16 copy of an encoder: weights and activations fp16, LayerNorm and softmax fp32.

    forward(x float32 [B, ...]) -> float32 features. The input is cast to fp16 inside, so
    the exported graph keeps fp32 inputs/outputs and carries explicit Casts (what a
    strongly typed TensorRT network needs).
    """

    def __init__(self, encoder: nn.Module):
        super().__init__()
        enc = copy.deepcopy(encoder).eval()
        _swap_layernorms(enc)
        self.encoder = enc.half()
        for m in self.encoder.modules():  # LayerNorm parameters stay fp32
            if isinstance(m, FP32LayerNorm):
                m.float()

    def forward(self, x):
        with fp32_softmax():
            return self.encoder(x.half()).float()


def _swap_layernorms(module: nn.Module) -> None:
    for name, child in module.named_children():
        if type(child) is nn.LayerNorm:
            ln = FP32LayerNorm(
                child.normalized_shape,
                eps=child.eps,
                elementwise_affine=child.elementwise_affine,
                bias=child.bias is not None,
            )
            ln.load_state_dict(child.state_dict())
            setattr(module, name, ln)
        else:
            _swap_layernorms(child)
