"""Model registry and factories: configs are JSON files in ezsr/models/configs, named
like OpenCLIP (`ViT-B-32`; `ViT-B/32` is accepted too)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ezsr.models.checkpoints import (
    CheckpointError,
    LoadReport,
    config_from_hf,
    detect_format,
    load_into,
    peek_shapes,
    to_internal,
)
from ezsr.models.clip import CLIP, VisionTower, build_vision

log = logging.getLogger(__name__)
CONFIG_DIR = Path(__file__).parent / "configs"


def list_models() -> list[str]:
    """Names of the registered model configs."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def _canonical(name: str) -> str:
    return name.replace("/", "-")


def get_config(name: str) -> dict[str, Any]:
    """The config dict of a registered model; ValueError listing the known names."""
    path = CONFIG_DIR / f"{_canonical(name)}.json"
    if not path.exists():
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    return json.loads(path.read_text())


def create_model(
    name: str | None,
    pretrained: str | Path | None = None,
    image_checkpoint: str | Path | None = None,
    device: torch.device | str = "cpu",
) -> CLIP:
    """A CLIP model by registered name, optionally loaded from a checkpoint.

    name: a registered config (see list_models()); None or "auto" with a Hugging Face
      folder as `pretrained` takes the config from its config.json.
    pretrained: a full CLIP checkpoint (OpenAI .pt / TorchScript, OpenCLIP, EVA-CLIP, HF
      folder); must fit the config exactly.
    image_checkpoint: an EZSR checkpoint (image tower only) loaded over the model with
      strict=False semantics; the report is stored in `model.load_reports`.
    Returns the model in eval mode.
    """
    if name in (None, "auto"):
        if pretrained is None or not Path(pretrained).is_dir():
            raise ValueError("model name 'auto' needs a Hugging Face CLIP folder as pretrained")
        cfg, name = config_from_hf(pretrained), f"hf:{Path(pretrained).name}"
    else:
        cfg = get_config(name)
        name = _canonical(name)
    model = CLIP(cfg, name)
    model.load_reports = []
    model.checkpoint = None
    if pretrained is not None:
        model.load_reports.append(load_into(model, pretrained, strict=True))
        model.checkpoint = str(pretrained)
    if image_checkpoint is not None:
        rep = load_into(model.visual, image_checkpoint, strict=False, prefix="visual.")
        model.load_reports.append(rep)
        model.checkpoint = f"{model.checkpoint}+{image_checkpoint}"
    return model.to(device).eval()


def check_checkpoint(
    path: str | Path, name: str, key: str, part: str = "model", strict: bool = True
) -> None:
    """Check, from its tensor shapes alone (no data read, no model built), that checkpoint
    `path` loads into registered model `name`; else CheckpointError, one line naming the
    config `key`, the file and what was expected.

    part: "model" (the whole CLIP) or "visual" (its image tower: keys under `visual.`).
    strict: every key of the part must be in the file (False: EZSR's strict=False loads,
    where matching keys are copied; a shape mismatch or a file of which no key fits is
    still an error). Files whose shapes cannot be read without loading them pass; the load
    itself checks those.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{key}={path}: no such file")
    sd = peek_shapes(path)
    if sd is None:
        return
    try:
        sd = to_internal(sd, detect_format(sd))
    except (CheckpointError, KeyError) as exc:
        raise CheckpointError(f"{key}={path}: {exc}") from None
    with torch.device("meta"):
        model = CLIP(get_config(name), _canonical(name))
    own = model.state_dict()
    if part == "visual":
        own = {k: v for k, v in own.items() if k.startswith("visual.")}
        if not any(k.startswith("visual.") for k in sd):
            raise CheckpointError(
                f"{key}={path}: no image tower (visual.*) in the file; "
                f"expected a CLIP or EZSR checkpoint of {name}"
            )
    for k, v in sd.items():
        if k in own and tuple(own[k].shape) != tuple(v.shape):
            raise CheckpointError(
                f"{key}={path}: {k} has shape {tuple(v.shape)}, {name} expects "
                f"{tuple(own[k].shape)} (a checkpoint of another architecture?)"
            )
    missing = [k for k in own if k not in sd]
    if strict and missing:
        raise CheckpointError(
            f"{key}={path}: {len(missing)} keys of {name} are missing, e.g. "
            f"{missing[0]} (a checkpoint of another architecture?)"
        )
    if len(missing) == len(own):
        raise CheckpointError(
            f"{key}={path}: no key fits {name} (first key in the file: {next(iter(sd), None)!r})"
        )


class EventEncoder(nn.Module):
    """An image tower taking event representations [B, C, S, S] -> embeddings [B, D]."""

    image_size: int
    load_reports: list[LoadReport]  # set by create_event_encoder

    def __init__(self, visual: VisionTower, name: str, in_chans: int) -> None:
        super().__init__()
        self.visual, self.name, self.in_chans = visual, name, in_chans
        self.image_size = visual.image_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_chans:
            raise ValueError(
                f"event encoder {self.name} expects [B, {self.in_chans}, "
                f"{self.image_size}, {self.image_size}], got {tuple(x.shape)}"
            )
        return self.visual(x)


def adapt_patch_weight(w: torch.Tensor, in_chans: int) -> torch.Tensor:
    """RGB patch-embedding weights [W, 3, p, p] -> [W, C, p, p]: averaged over RGB and
    repeated C times, scaled by 3/C, so a C-channel input with every channel equal to v
    gives the same response as an RGB input with every channel equal to v."""
    if in_chans == w.shape[1]:
        return w.clone()
    return w.mean(dim=1, keepdim=True).repeat(1, in_chans, 1, 1) * (3.0 / in_chans)


def create_event_encoder(
    name: str,
    in_chans: int = 3,
    pretrained: str | Path | None = None,
    init: str | Path | None = None,
) -> EventEncoder:
    """The image tower of model `name` as an event encoder.

    in_chans: channels of the event representation (3 for EZSR's input; e.g. 2 for a
      polarity histogram, `bins` for a voxel grid). With C != 3 the patch embedding is
      initialised from the RGB one by `adapt_patch_weight`.
    init: a full CLIP checkpoint to initialise the tower from (e.g. OpenAI ViT-B/16).
    pretrained: an EZSR checkpoint (image tower, 3 channels) loaded over that with
      strict=False semantics; its report is in `encoder.load_reports`.
    """
    cfg = get_config(name)
    visual = build_vision(cfg["vision"], cfg["embed_dim"], in_chans=3)
    reports: list[LoadReport] = []
    for path, strict in ((init, True), (pretrained, False)):
        if path is None:
            continue
        reports.append(load_into(visual, path, strict=strict, prefix="visual."))
    if in_chans != 3:
        rgb = visual.patch_weight.detach()
        adapted = build_vision(cfg["vision"], cfg["embed_dim"], in_chans=in_chans)
        sd = dict(visual.state_dict())
        key = "conv1.weight" if "conv1.weight" in sd else "patch_embed.proj.weight"
        sd[key] = adapt_patch_weight(rgb, in_chans)
        adapted.load_state_dict(sd)
        visual = adapted
    enc = EventEncoder(visual, _canonical(name), in_chans)
    enc.load_reports = reports
    return enc.eval()
