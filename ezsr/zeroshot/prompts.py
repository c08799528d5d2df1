"""Prompt templates for zero-shot classifiers. Each template contains one `{}` for the
class name.

* "openai": the 80 ImageNet templates published with CLIP (Radford et al. 2021, the
  "Prompt Engineering for ImageNet" notebook); EZSR uses these (EZSR, arXiv 2407.21616).
* "eventclip": EventCLIP's prompt `a point cloud image of a {}` (Wu et al. 2023, configs).
* "simple": `a photo of a {}.`
* a custom list, or a text file with one template per line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

OPENAI_IMAGENET_TEMPLATES = (
    "a bad photo of a {}.",
    "a photo of many {}.",
    "a sculpture of a {}.",
    "a photo of the hard to see {}.",
    "a low resolution photo of the {}.",
    "a rendering of a {}.",
    "graffiti of a {}.",
    "a bad photo of the {}.",
    "a cropped photo of the {}.",
    "a tattoo of a {}.",
    "the embroidered {}.",
    "a photo of a hard to see {}.",
    "a bright photo of a {}.",
    "a photo of a clean {}.",
    "a photo of a dirty {}.",
    "a dark photo of the {}.",
    "a drawing of a {}.",
    "a photo of my {}.",
    "the plastic {}.",
    "a photo of the cool {}.",
    "a close-up photo of a {}.",
    "a black and white photo of the {}.",
    "a painting of the {}.",
    "a painting of a {}.",
    "a pixelated photo of the {}.",
    "a sculpture of the {}.",
    "a bright photo of the {}.",
    "a cropped photo of a {}.",
    "a plastic {}.",
    "a photo of the dirty {}.",
    "a jpeg corrupted photo of a {}.",
    "a blurry photo of the {}.",
    "a photo of the {}.",
    "a good photo of the {}.",
    "a rendering of the {}.",
    "a {} in a video game.",
    "a photo of one {}.",
    "a doodle of a {}.",
    "a close-up photo of the {}.",
    "a photo of a {}.",
    "the origami {}.",
    "the {} in a video game.",
    "a sketch of a {}.",
    "a doodle of the {}.",
    "a origami {}.",
    "a low resolution photo of a {}.",
    "the toy {}.",
    "a rendition of the {}.",
    "a photo of the clean {}.",
    "a photo of a large {}.",
    "a rendition of a {}.",
    "a photo of a nice {}.",
    "a photo of a weird {}.",
    "a blurry photo of a {}.",
    "a cartoon {}.",
    "art of a {}.",
    "a sketch of the {}.",
    "a embroidered {}.",
    "a pixelated photo of a {}.",
    "itap of the {}.",
    "a jpeg corrupted photo of the {}.",
    "a good photo of a {}.",
    "a plushie {}.",
    "a photo of the nice {}.",
    "a photo of the small {}.",
    "a photo of the weird {}.",
    "the cartoon {}.",
    "art of the {}.",
    "a drawing of the {}.",
    "a photo of the large {}.",
    "a black and white photo of a {}.",
    "the plushie {}.",
    "a dark photo of a {}.",
    "itap of a {}.",
    "graffiti of the {}.",
    "a toy {}.",
    "itap of my {}.",
    "a photo of a cool {}.",
    "a photo of a small {}.",
    "a tattoo of the {}.",
)

EVENTCLIP_TEMPLATES = ("a point cloud image of a {}",)
SIMPLE_TEMPLATES = ("a photo of a {}.",)

PROMPT_SETS = {
    "openai": OPENAI_IMAGENET_TEMPLATES,
    "eventclip": EVENTCLIP_TEMPLATES,
    "simple": SIMPLE_TEMPLATES,
}


def get_templates(spec: str | Sequence[str] | None = "openai") -> list[str]:
    """Templates from a set name, a file (one per line) or a list; each must hold `{}`."""
    if spec is None:
        spec = "openai"
    if isinstance(spec, str):
        if spec in PROMPT_SETS:
            out = list(PROMPT_SETS[spec])
        elif Path(spec).is_file():
            out = [t.strip() for t in Path(spec).read_text().splitlines() if t.strip()]
        else:
            raise ValueError(
                f"unknown prompt set {spec!r}: expected one of "
                f"{sorted(PROMPT_SETS)} or a file with one template per line"
            )
    else:
        out = list(spec)
    if not out:
        raise ValueError("empty template list")
    for t in out:
        if "{}" not in t:
            raise ValueError(f"template {t!r} has no '{{}}' for the class name")
    return out
