"""Temporary stand-in for ezsr.ops.ezsr_preprocess (owned by the kernel-core issue),
used only while that op is absent from ezsr.ops. Reference §1 steps 3-7 in plain torch;
not bit-exact with PIL's NEAREST resize."""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from ezsr.events import EventBatch, Events
from ezsr.models.clip import CLIP_MEAN, CLIP_STD

log = logging.getLogger(__name__)
_warned = False


def ezsr_preprocess(events: Events | EventBatch, out_size: int = 224, mode: str = "crop") -> torch.Tensor:
    global _warned
    if not _warned:
        log.info("ezsr.ops.ezsr_preprocess not available: using the zeroshot fallback")
        _warned = True
    from ezsr.ops import polarity_histogram
    size = (out_size, out_size) if mode == "squash" else None
    h = polarity_histogram(events, size=size, out_of_bounds="warn").float()
    b = h.shape[0]
    flat = h.view(b, -1)
    for i in range(b):                       # step 4: hot-pixel clip at the 0.75 quantile
        nz = flat[i][flat[i] > 0.1]
        if nz.numel():
            flat[i].clamp_(max=float(torch.quantile(nz, 0.75)))
    h = h / (h.amax(dim=(2, 3), keepdim=True) + 1)           # step 5
    img = h.mean(1, keepdim=True).expand(b, 3, *h.shape[2:])  # step 6
    if mode == "crop":                                        # step 7
        hh, ww = img.shape[-2:]
        s = out_size / min(hh, ww)
        nh, nw = max(out_size, int(hh * s)), max(out_size, int(ww * s))
        img = F.interpolate(img, size=(nh, nw), mode="nearest")
        top, left = (nh - out_size) // 2, (nw - out_size) // 2
        img = img[..., top:top + out_size, left:left + out_size]
    elif mode != "squash":
        raise ValueError(f"mode must be 'crop' or 'squash', got {mode!r}")
    mean = torch.tensor(CLIP_MEAN, device=img.device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=img.device).view(1, 3, 1, 1)
    return ((img - mean) / std).contiguous()
