"""Pictures of representations for people (used by `ezsr show` and `ezsr demo`).

render(events, name) -> np.ndarray uint8, [H, W] (gray) or [H, W', 3] (RGB):
  ezsr             EZSR's own visualisation (ezsr.ops.ezsr_visualize), bit-exact with the
                   published picture
  eventclip_frame  the RGB frame as EventCLIP feeds it to CLIP
  anything else    its channels side by side, each min-max scaled to 0..255 (a signed
                   voxel grid keeps 0 at mid-gray)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ezsr.events import Events


def channels_to_picture(rep: torch.Tensor, signed: bool = False) -> np.ndarray:
    """[C, H, W] → uint8 [H, C*W]: channels side by side, each scaled to 0..255."""
    v = rep.detach().float().cpu().numpy()
    tiles = []
    for c in v:
        if signed:
            m = float(np.abs(c).max(initial=0.0))
            c = 0.5 + 0.5 * c / m if m > 0 else np.full_like(c, 0.5)
        else:
            lo, hi = float(c.min(initial=0.0)), float(c.max(initial=0.0))
            c = (c - lo) / (hi - lo) if hi > lo else np.zeros_like(c)
        tiles.append((c * 255).astype(np.uint8))
    return np.concatenate(tiles, axis=1)


def render_batch(reps: torch.Tensor, name: str) -> list[np.ndarray]:
    """Pictures of a batch of representations [B, C, H, W] named `name` (not 'ezsr')."""
    if name == "eventclip_frame":
        return [r.permute(1, 2, 0).clamp(0, 255).to(torch.uint8).cpu().numpy() for r in reps]
    return [channels_to_picture(r, signed=(name == "voxel_grid")) for r in reps]


def render(events: Events, name: str = "ezsr", **kw: Any) -> np.ndarray:
    """The picture of one window of events under representation `name`."""
    from ezsr.ops import ezsr_visualize, representation

    if name == "ezsr":
        return ezsr_visualize(events)
    return render_batch(representation(events, name, **kw), name)[0]
