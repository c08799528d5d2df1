"""Zero-shot classifiers as torch modules, in export-safe ops: the head (normalised features
times a text classifier), EZSR preprocessing from padded events, and the image / event
classifiers built from them. The streaming runtime runs them; `ezsr export` traces them.

Everything here traces into standard ONNX ops (opset 17): one ScatterElements(reduction=add)
for the histogram, GatherElements + an unrolled bisection for the quantile, Gather with
constant indices for the nearest resize + center crop. No data-dependent Python control
flow, so one graph serves every batch size and event count.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import torch
from torch import nn

from ezsr.events import EventBatch, Events
from ezsr.ops.ezsr_preprocess import CLIP_MEAN, CLIP_STD, resize_crop_index

EZSR_SENSOR = (480, 640)  # (height, width) of N-ImageNet's sensor (EZSR's evaluation input)
EZSR_QUANTILE = 0.75  # EZSR's hot-pixel clip: the 0.75-quantile of the non-zero counts


# ----------------------------------------------------------------------------- head
class ZeroShotHead(nn.Module):
    """features [B, D] -> logits [B, K] = scale * normalize(features) @ classifier.

    classifier: [D, K] float text classifier (columns L2-normalised, as
        ezsr.zeroshot.build_classifier returns it). scale: the logit multiplier, i.e.
        ezsr.models.logit_scale of the teacher (100 for OpenAI CLIP).
    The head runs in fp32 whatever the encoder's dtype.
    """

    classifier: torch.Tensor  # buffer [D, K] float32

    def __init__(self, classifier: torch.Tensor, scale: float = 100.0) -> None:
        super().__init__()
        if classifier.dim() != 2:
            raise ValueError(
                f"ZeroShotHead: 'classifier' must be [D, K], got {tuple(classifier.shape)}"
            )
        self.register_buffer("classifier", classifier.detach().float().clone())
        self.scale = float(scale)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        f = features.float()
        f = f * torch.rsqrt((f * f).sum(-1, keepdim=True).clamp_min(1e-12))
        return (f @ self.classifier) * self.scale


# ------------------------------------------------------------------- preprocessing
class EZSRPreprocess(nn.Module):
    """Padded raw events -> EZSR encoder input, in export-safe ops (EZSR steps 3-7, as ezsr.ops.ezsr_preprocess).

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

    pixels: torch.Tensor  # buffer [out_h * out_w] int64: flat pixel of each output pixel
    inv_std: torch.Tensor  # buffer [1, 3, 1, 1] float32
    shift: torch.Tensor  # buffer [1, 3, 1, 1] float32

    def __init__(
        self,
        sensor: tuple[int, int] = EZSR_SENSOR,
        out_size: int | None = 224,
        mode: str = "crop",
        normalize: bool = True,
    ) -> None:
        super().__init__()
        if mode not in ("crop", "squash"):
            raise ValueError(f"EZSRPreprocess: mode must be 'crop' or 'squash', got {mode!r}")
        self.height, self.width = int(sensor[0]), int(sensor[1])
        if self.height <= 0 or self.width <= 0:
            raise ValueError(
                f"EZSRPreprocess: sensor must be positive (height, width), got {sensor}"
            )
        self.out_size, self.mode = (int(out_size) if out_size else None), mode
        if self.out_size is None:  # full sensor resolution, no resize (visualisation, tests)
            if mode != "crop":
                raise ValueError("EZSRPreprocess: out_size=None needs mode='crop'")
            rows, cols = torch.arange(self.height), torch.arange(self.width)
            self.hist_h, self.hist_w = self.height, self.width
        elif mode == "crop":
            rows, cols = resize_crop_index(self.height, self.width, self.out_size, "crop")
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

    def histogram(
        self, x: torch.Tensor, y: torch.Tensor, p: torch.Tensor, valid: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
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
        hist = torch.zeros(
            x.shape[0], 2 * self.hist_h * self.hist_w, dtype=torch.float32, device=x.device
        )
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

    def forward(
        self, x: torch.Tensor, y: torch.Tensor, p: torch.Tensor, valid: torch.Tensor
    ) -> torch.Tensor:
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


def preprocess_windows(
    windows: Sequence[Events],
    device: torch.device | str,
    out_size: int = 224,
    mode: str = "crop",
    pin: bool = True,
) -> torch.Tensor:
    """EZSR encoder input [B, 3, S, S] float32 (CLIP-normalised) on `device`.

    Windows are concatenated on the host (pinned when the device is CUDA, so the copy is
    async) and preprocessed on the device.
    """
    from ezsr.ops import ezsr_preprocess

    device = torch.device(device)
    windows = list(windows)

    if (
        len(windows) == 1 and device.type == "cpu" and windows[0].device.type == "cpu"
    ):  # the stream's case: no concatenation, no copy
        return ezsr_preprocess(windows[0], out_size=out_size, mode=mode)
    batch = EventBatch.from_streams(windows)
    if device.type == "cuda":
        if pin and batch.x.device.type == "cpu":  # windows already on the GPU need no pinning
            x, y, t, p, offsets = (
                v.pin_memory() for v in (batch.x, batch.y, batch.t, batch.p, batch.offsets)
            )
            batch = EventBatch(x, y, t, p, offsets, batch.width, batch.height)
        batch = batch.to(device, non_blocking=True)
    return ezsr_preprocess(batch, out_size=out_size, mode=mode)


def pad_events(windows: Iterable[Events], n: int | None = None) -> dict[str, np.ndarray]:
    """Pad event windows (ezsr.Events, one per row) into the events graph's inputs.

    Returns x, y, p int32 [B, N] and valid bool [B, N]; N = n or the longest window.
    A window longer than n raises ValueError (cut windows before padding).
    """
    windows = list(windows)
    n = n or max(max(len(w) for w in windows), 1)
    b = len(windows)
    out = {
        "x": np.zeros((b, n), np.int32),
        "y": np.zeros((b, n), np.int32),
        "p": np.zeros((b, n), np.int32),
        "valid": np.zeros((b, n), bool),
    }
    for i, w in enumerate(windows):
        k = len(w)
        if k > n:
            raise ValueError(f"pad_events: window {i} has {k} events, more than n={n}")
        out["x"][i, :k] = w.x.cpu().numpy()
        out["y"][i, :k] = w.y.cpu().numpy()
        out["p"][i, :k] = w.p.cpu().numpy()
        out["valid"][i, :k] = True
    return out


# --------------------------------------------------------------- whole classifiers
class ImageClassifier(nn.Module):
    """image [B, 3, H, W] (CLIP-normalised) -> logits [B, K]: encoder then ZeroShotHead."""

    def __init__(self, encoder: nn.Module, head: ZeroShotHead) -> None:
        super().__init__()
        self.encoder, self.head = encoder, head

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(image))


class EventClassifier(nn.Module):
    """padded events (x, y, p, valid; [B, N] each) -> logits [B, K]."""

    def __init__(self, preprocess: EZSRPreprocess, encoder: nn.Module, head: ZeroShotHead) -> None:
        super().__init__()
        self.preprocess, self.encoder, self.head = preprocess, encoder, head

    def forward(
        self, x: torch.Tensor, y: torch.Tensor, p: torch.Tensor, valid: torch.Tensor
    ) -> torch.Tensor:
        return self.head(self.encoder(self.preprocess(x, y, p, valid)))
