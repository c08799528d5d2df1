"""Text heatmaps over an event picture: where each patch token of the image tower agrees
with a text embedding, as in the "Heatmap w.r.t to Text" figure of EZSR's README
(https://github.com/Yan98/Event-based-Zero-Shot-Recognition, asset/heatmap.png; the
repository publishes the figure, not the code that drew it).

    map[i, j] = cos(patch_token[i, j], text)          i, j over the (S/p) x (S/p) patch grid

patch_token: the tower's projected patch token (the last block's token of patch (i, j)
through the same final norm and projection as the class token: ezsr.models.clip
VisionTransformer.patch_tokens / EVAVisionTransformer.patch_tokens), so it lives in the
space image and text embeddings are compared in. text: the text tower's embedding of the
prompt as given (no template). The grid map is upsampled bilinearly to the S x S input
(patch (i, j) covers input rows i*p..(i+1)*p-1 and columns j*p..(j+1)*p-1) and drawn in a
jet colour map over the gray event picture the encoder sees (EZSR preprocessing of the
window, un-normalised).

    text_heatmap(model, x, text_emb) -> [B, gh, gw] float32 cosine map
    heatmap_pictures(events, teacher, texts) -> Heatmaps(maps, picture, frame)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ezsr.events import Events


def patch_features(model: object, x: torch.Tensor) -> torch.Tensor:
    """Projected patch tokens [B, N, D] of CLIP-normalised input x [B, 3, S, S] for any of
    ezsr's image towers: a CLIP model (encode_patches), a tower or event encoder with
    patch_tokens (or its `.visual`), a trained student (ProjectedEncoder: the encoder's
    tokens through its projection), or a teacher wrapping one of these (CLIPTeacher .model,
    StudentTeacher .student). ValueError for models without patch tokens (e.g. the offline
    ConSE teacher)."""
    for obj in (model, getattr(model, "student", None), getattr(model, "model", None)):
        if obj is None:
            continue
        if hasattr(obj, "encode_patches"):
            return obj.encode_patches(x)
        if hasattr(obj, "patch_tokens"):
            return obj.patch_tokens(x)
        visual = getattr(obj, "visual", None)
        if visual is not None and hasattr(visual, "patch_tokens"):
            return visual.patch_tokens(x)
        enc, proj = getattr(obj, "encoder", None), getattr(obj, "proj", None)
        if isinstance(enc, nn.Module) and isinstance(proj, nn.Linear):  # ProjectedEncoder
            return proj(patch_features(enc, x))
    name = getattr(model, "name", type(model).__name__)
    raise ValueError(
        f"model {name!r} has no patch tokens (heatmaps need a ViT image tower: a "
        "CLIP/EVA-CLIP model or a trained student; the offline ConSE teacher has "
        "none)"
    )


@torch.no_grad()
def text_heatmap(model: object, x: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """Cosine of each projected patch token with each text embedding.

    x: [B, 3, S, S] CLIP-normalised input; text: [D] or [T, D] float.
    Returns [B, gh, gw] (one text) or [B, T, gh, gw] float32, gh = gw = sqrt(N).
    """
    tok = patch_features(model, x).float()  # [B, N, D]
    b, n, _ = tok.shape
    g = int(round(n**0.5))
    if g * g != n:
        raise ValueError(f"{n} patch tokens do not form a square grid")
    t = text.float().to(tok.device)
    single = t.dim() == 1
    t = F.normalize(t.reshape(-1, t.shape[-1]), dim=-1)  # [T, D]
    cos = F.normalize(tok, dim=-1) @ t.T  # [B, N, T]
    maps = cos.transpose(1, 2).reshape(b, -1, g, g)
    return maps[:, 0] if single else maps


def upsample(grid_map: torch.Tensor, size: int) -> torch.Tensor:
    """[gh, gw] -> [size, size] bilinear (align_corners=False: patch centres stay over the
    centres of the pixels they cover)."""
    return F.interpolate(
        grid_map[None, None].float(), size=(size, size), mode="bilinear", align_corners=False
    )[0, 0]


def jet(v: np.ndarray) -> np.ndarray:
    """Values in [0, 1] [...] -> uint8 RGB [..., 3] of the classic jet colour map (dark
    blue - blue - cyan - yellow - red - dark red)."""
    v = np.clip(np.asarray(v, dtype=np.float32), 0.0, 1.0)
    r = np.clip(1.5 - np.abs(4.0 * v - 3.0), 0.0, 1.0)
    g = np.clip(1.5 - np.abs(4.0 * v - 2.0), 0.0, 1.0)
    b = np.clip(1.5 - np.abs(4.0 * v - 1.0), 0.0, 1.0)
    return (np.stack([r, g, b], -1) * 255.0 + 0.5).astype(np.uint8)


def overlay(
    gray: np.ndarray,
    grid_map: torch.Tensor,
    alpha: float = 0.5,
    vmin: float | None = None,
    vmax: float | None = None,
) -> np.ndarray:
    """The heatmap over a picture: gray uint8 [S, S] (the encoder's input frame), grid_map
    [gh, gw] cosines -> uint8 RGB [S, S, 3] = (1 - alpha) * gray + alpha * jet(scaled map).
    The map is scaled from [vmin, vmax] (default: its own min and max) to [0, 1]."""
    up = upsample(grid_map, gray.shape[0]).numpy()
    lo = float(up.min()) if vmin is None else vmin
    hi = float(up.max()) if vmax is None else vmax
    v = (up - lo) / (hi - lo) if hi > lo else np.zeros_like(up)
    rgb = np.repeat(gray[..., None].astype(np.float32), 3, -1)
    out = (1.0 - alpha) * rgb + alpha * jet(v).astype(np.float32)
    return (out + 0.5).clip(0, 255).astype(np.uint8)


@dataclass
class Heatmaps:
    maps: torch.Tensor  # [T, gh, gw] float32 cosines, one per text
    texts: list[str]
    frame: np.ndarray  # uint8 [S, S]: the encoder's input as a gray picture
    picture: np.ndarray  # uint8 [S*scale, (T+1)*S*scale, 3]: frame | map per text


@torch.no_grad()
def heatmap_pictures(
    events: Events,
    teacher: Any,
    texts: Sequence[str],
    window: int = 15000,
    start: int | None = None,
    mode: str = "crop",
    alpha: float = 0.5,
    scale: int = 2,
    text_embeddings: torch.Tensor | None = None,
) -> Heatmaps:
    """Text heatmaps of one recording.

    events: ezsr.Events (the EZSR window is cut as `ezsr classify` does: select_window);
    teacher: a CLIPTeacher, StudentTeacher, CLIP model or event encoder (patch_features);
    texts: prompts, embedded with teacher.encode_text unless text_embeddings [T, D] is given.
    The picture is the gray input frame followed by one overlay per text, each enlarged
    `scale` times (nearest).
    """
    from ezsr.ops import ezsr_preprocess
    from ezsr.zeroshot.classifier import select_window, unnormalize

    texts = [str(t) for t in texts]
    if not texts:
        raise ValueError('give at least one text (--text "a cat")')
    size = int(getattr(teacher, "image_size", 224))
    x = ezsr_preprocess(select_window(events, window, start), out_size=size, mode=mode)
    dev = torch.device("cpu")
    for obj in (getattr(teacher, "student", None), getattr(teacher, "model", None), teacher):
        if isinstance(obj, nn.Module):  # where the tower's weights are
            dev = next(obj.parameters(), torch.empty(0)).device
            break
    x = x.to(dev)
    if text_embeddings is None:
        text_embeddings = teacher.encode_text(texts)
    if text_embeddings.shape[0] != len(texts):
        raise ValueError(f"{text_embeddings.shape[0]} text embeddings for {len(texts)} texts")
    maps = text_heatmap(teacher, x, text_embeddings)[0].cpu()  # [T, gh, gw]
    frame = (unnormalize(x)[0, 0].cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    panels = [np.repeat(frame[..., None], 3, -1)] + [overlay(frame, m, alpha) for m in maps]
    pic = np.concatenate(panels, axis=1)
    if scale > 1:
        pic = pic.repeat(scale, 0).repeat(scale, 1)
    return Heatmaps(maps, texts, frame, pic)
