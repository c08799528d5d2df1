"""Export-safe torch modules: the zero-shot head, EZSR preprocessing from padded events,
and an fp16 wrapper that keeps LayerNorm and softmax in fp32.

Everything here traces into standard ONNX ops (opset 17): one ScatterElements(reduction=add)
for the histogram, GatherElements + an unrolled bisection for the quantile, Gather with constant indices for
the nearest resize + center crop, LayerNormalization as one node. No data-dependent
Python control flow, so one graph serves every batch size and event count.
"""

from __future__ import annotations

import contextlib
import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
EZSR_SENSOR = (480, 640)  # (height, width) of EZSR's N-ImageNet preprocessing
EZSR_QUANTILE = 0.75


# ----------------------------------------------------------------------------- head
class ZeroShotHead(nn.Module):
    """features [B, D] -> logits [B, K] = scale * normalize(features) @ classifier.

    classifier: [D, K] float text classifier (columns L2-normalised, as
        ezsr.zeroshot.build_classifier returns it). scale: the logit multiplier, i.e.
        logit_scale.exp() of a CLIP model (100 for OpenAI CLIP).
    The head runs in fp32 whatever the encoder's dtype.
    """

    def __init__(self, classifier: torch.Tensor, scale: float = 100.0):
        super().__init__()
        if classifier.dim() != 2:
            raise ValueError(f"ZeroShotHead: 'classifier' must be [D, K], got "
                             f"{tuple(classifier.shape)}")
        self.register_buffer("classifier", classifier.detach().float().clone())
        self.scale = float(scale)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        f = features.float()
        f = f * torch.rsqrt((f * f).sum(-1, keepdim=True).clamp_min(1e-12))
        return (f @ self.classifier) * self.scale


def head_scale(model) -> float:
    """The logit multiplier of a CLIP-style model or teacher: exp(logit_scale) clamped at
    100 (as CLIP and ezsr.zeroshot.classify do), looked up on the object or its `.model`;
    100 when there is none (e.g. the offline ConSE teacher)."""
    for obj in (model, getattr(model, "model", None)):
        ls = getattr(obj, "logit_scale", None)
        if ls is not None:
            return min(float(torch.as_tensor(ls).detach().float().exp()), 100.0)
    return 100.0


# ------------------------------------------------------------------ resize indices
def nearest_crop_indices(in_size: int, short_in: int, long_in: int, out_size: int,
                         is_short: bool) -> torch.Tensor:
    """Source indices along one axis of "resize shortest side to out_size (NEAREST), then
    center-crop out_size" (reference §1 step 7).

    The long side resizes to int(out_size * long / short) (torchvision's rule); nearest is
    torch.nn.functional.interpolate's (src = floor(dst * in / out) in float32, whose
    rounding differs from exact arithmetic at a few pixels, so it is run on an index
    ramp rather than re-derived); the crop starts at round((resized - out_size) / 2).
    Returns int64 [out_size].
    """
    resized = out_size if is_short else int(out_size * long_in / short_in)
    top = int(round((resized - out_size) / 2.0))
    ramp = torch.arange(in_size, dtype=torch.float32).view(1, 1, in_size)
    src = F.interpolate(ramp, size=resized, mode="nearest")[0, 0].long()
    return src[top:top + out_size].clone()


def crop_indices(height: int, width: int, out_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows [out], cols [out]) int64 of the nearest resize + center crop of an H x W image."""
    short, long = min(height, width), max(height, width)
    rows = nearest_crop_indices(height, short, long, out_size, height <= width)
    cols = nearest_crop_indices(width, short, long, out_size, width < height)
    return rows, cols


# ------------------------------------------------------------------- preprocessing
class EZSRPreprocess(nn.Module):
    """Padded raw events -> EZSR encoder input, in export-safe ops (reference §1 steps 1, 3-7).

    forward(x, y, p, valid):
      x, y  [B, N] integer   column, row on a sensor of `sensor` = (height, width)
      p     [B, N] numeric   polarity; ON where p > 0.5 ({0,1}, bool or {-1,+1} all work)
      valid [B, N] bool      False for padding; events outside the sensor are ignored too
    returns [B, 3, out_size, out_size] float32, CLIP-normalised (normalize=False: the gray
    frame in [0, 1); out_size=None: at full sensor resolution, no resize).

    The caller chooses the window (at most N events per row; EZSR uses 15,000). mode="crop"
    builds the histogram at full sensor resolution and takes the nearest resize + center
    crop; mode="squash" builds it at out_size x out_size by floor(v * out / size) (EZSR's
    N-ImageNet evaluation path).

    The 0.75-quantile of the non-zero histogram entries is computed without sorting (see
    clip_value). A window without events stays all zeros (no crash, unlike the original).
    """

    def __init__(self, sensor: tuple[int, int] = EZSR_SENSOR, out_size: int | None = 224,
                 mode: str = "crop", normalize: bool = True):
        super().__init__()
        if mode not in ("crop", "squash"):
            raise ValueError(f"EZSRPreprocess: mode must be 'crop' or 'squash', got {mode!r}")
        self.height, self.width = int(sensor[0]), int(sensor[1])
        if self.height <= 0 or self.width <= 0:
            raise ValueError(f"EZSRPreprocess: sensor must be positive (height, width), got {sensor}")
        self.out_size, self.mode = (int(out_size) if out_size else None), mode
        if self.out_size is None:  # full sensor resolution, no resize (visualisation, tests)
            if mode != "crop":
                raise ValueError("EZSRPreprocess: out_size=None needs mode='crop'")
            rows, cols = torch.arange(self.height), torch.arange(self.width)
            self.hist_h, self.hist_w = self.height, self.width
        elif mode == "crop":
            rows, cols = crop_indices(self.height, self.width, self.out_size)
            self.hist_h, self.hist_w = self.height, self.width
        else:
            rows = cols = torch.arange(self.out_size)
            self.hist_h = self.hist_w = self.out_size
        # flat pixel indices of the nearest resize + center crop: one gather per channel
        pix = (rows[:, None] * self.hist_w + cols[None, :]).reshape(-1)
        self.register_buffer("pixels", pix, persistent=False)
        self.out_h, self.out_w = rows.numel(), cols.numel()
        mean = torch.tensor(CLIP_MEAN if normalize else (0.0,) * 3).view(1, 3, 1, 1)
        std = torch.tensor(CLIP_STD if normalize else (1.0,) * 3).view(1, 3, 1, 1)
        # (gray - mean) / std as one multiply-add: gray * inv_std + shift
        self.register_buffer("inv_std", 1.0 / std, persistent=False)
        self.register_buffer("shift", -mean / std, persistent=False)

    def histogram(self, x, y, p, valid) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Counts [B, 2 * hist_h * hist_w] float32 (ON plane first), and per event its flat
        bin index [B, N] int64 and whether it counted [B, N] bool."""
        x, y = x.long(), y.long()
        inside = valid.bool() & (x >= 0) & (x < self.width) & (y >= 0) & (y < self.height)
        if self.mode == "squash":
            x = torch.div(x * self.hist_w, self.width, rounding_mode="floor")
            y = torch.div(y * self.hist_h, self.height, rounding_mode="floor")
        off = (p.float() <= 0.5).long()
        idx = (off * self.hist_h + y) * self.hist_w + x
        idx = torch.where(inside, idx, torch.zeros_like(idx))  # padding adds 0 at bin 0
        hist = torch.zeros(x.shape[0], 2 * self.hist_h * self.hist_w, dtype=torch.float32,
                           device=x.device)
        return hist.scatter_add(1, idx, inside.float()), idx, inside

    @staticmethod
    def clip_value(hist: torch.Tensor, idx: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
        """[B, 1]: the 0.75-quantile (linear interpolation, as torch.quantile) of the
        non-zero entries of hist [B, M], found from the events alone.

        Event e sits in a bin holding c_e events, so sum_e [c_e <= v] / c_e counts the
        non-zero bins with value <= v (F(v)); the k-th smallest bin value is the least v
        with F(v) >= k + 1, found by a bisection over the integers unrolled 24 times
        (counts < 2^24). No sort, TopK or second scatter: O(24 N) elementwise work.
        """
        c = hist.gather(1, idx)
        w = inside.float() / c.clamp_min(1.0)  # [B, N]
        m = w.sum(1, keepdim=True).round()  # number of non-zero bins
        pos = EZSR_QUANTILE * (m.clamp_min(1.0) - 1.0)
        lo_k, hi_k = torch.floor(pos), torch.ceil(pos)
        k = torch.cat([lo_k, hi_k], 1)  # [B, 2] ranks to find
        lo = torch.ones_like(k)
        hi = (c * inside.float()).amax(1, keepdim=True).clamp_min(1.0).expand_as(k)
        c3, w3 = c.unsqueeze(1), w.unsqueeze(1)  # [B, 1, N]
        for _ in range(24):  # invariant: answer in [lo, hi]
            mid = torch.floor((lo + hi) * 0.5)
            f = (w3 * (c3 <= mid.unsqueeze(2)).float()).sum(2)  # F(mid) [B, 2]
            ok = f >= k + 0.5
            hi = torch.where(ok, mid, hi)
            lo = torch.where(ok, lo, torch.minimum(mid + 1.0, hi))
        v_lo, v_hi = hi[:, :1], hi[:, 1:]
        return v_lo + (pos - lo_k) * (v_hi - v_lo)

    def forward(self, x, y, p, valid) -> torch.Tensor:
        hist, idx, inside = self.histogram(x, y, p, valid)
        b = hist.shape[0]
        q = self.clip_value(hist, idx, inside)  # step 4: clip at q ...
        planes = hist.view(b, 2, -1)
        peak = torch.minimum(planes.amax(-1), q)  # max of the clipped plane = min(max, q)
        img = planes.index_select(2, self.pixels)  # step 7 (nearest + crop), 2 x S*S pixels
        img = torch.minimum(img, q.unsqueeze(2))  # ... applied to the kept pixels only
        gray = (img / (peak + 1.0).unsqueeze(2)).mean(1, keepdim=True)  # steps 5-6
        gray = gray.view(b, 1, self.out_h, self.out_w)
        return gray * self.inv_std + self.shift  # CLIP normalisation, [B, 3, S, S]


# --------------------------------------------------------------- whole classifiers
class ImageClassifier(nn.Module):
    """image [B, 3, H, W] (CLIP-normalised) -> logits [B, K]: encoder then ZeroShotHead."""

    def __init__(self, encoder: nn.Module, head: ZeroShotHead):
        super().__init__()
        self.encoder, self.head = encoder, head

    def forward(self, image):
        return self.head(self.encoder(image))


class EventClassifier(nn.Module):
    """padded events (x, y, p, valid; [B, N] each) -> logits [B, K]."""

    def __init__(self, preprocess: EZSRPreprocess, encoder: nn.Module, head: ZeroShotHead):
        super().__init__()
        self.preprocess, self.encoder, self.head = preprocess, encoder, head

    def forward(self, x, y, p, valid):
        return self.head(self.encoder(self.preprocess(x, y, p, valid)))


# ------------------------------------------------------------------------- fp16
class FP32LayerNorm(nn.LayerNorm):
    """LayerNorm that computes in fp32 and returns the input's dtype."""

    def forward(self, x):
        return F.layer_norm(x.float(), self.normalized_shape, self.weight.float()
                            if self.weight is not None else None,
                            self.bias.float() if self.bias is not None else None,
                            self.eps).to(x.dtype)


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
        a = a.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool \
            else a + attn_mask.float()
    return _ORIG["softmax"](a, -1).to(v.dtype) @ v


_ORIG = {"softmax": torch.Tensor.softmax}  # the method: F.softmax calls it


@contextlib.contextmanager
def fp32_softmax():
    """Within the block, softmax (F.softmax, torch.softmax, Tensor.softmax) and
    F.scaled_dot_product_attention compute their softmax in fp32. Not thread-safe: it
    patches torch functions; used around an fp16 encoder's forward and ONNX tracing."""
    saved = (F.softmax, torch.softmax, torch.Tensor.softmax, F.scaled_dot_product_attention,
             torch.backends.mha.get_fastpath_enabled())
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
            ln = FP32LayerNorm(child.normalized_shape, eps=child.eps,
                               elementwise_affine=child.elementwise_affine,
                               bias=child.bias is not None)
            ln.load_state_dict(child.state_dict())
            setattr(module, name, ln)
        else:
            _swap_layernorms(child)
