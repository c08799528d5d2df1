"""Class lists shipped with the package (ezsr/zeroshot/data/) and the ImageNet-1k table
(ezsr.models.imagenet, which the offline teacher's ImageNet classifier shares).

* N-Caltech101: the 101 folder names of the dataset (including BACKGROUND_Google), sorted as
  EventCLIP lists them (from its few-shot split files).
* N-Cars: `background`, `cars` (folder names).

read_classes parses a class list as the command line gives it; read_class_list reads a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ezsr.models.imagenet import ImageNetClass, imagenet_classes

__all__ = [
    "ImageNetClass",
    "imagenet_classes",
    "n_caltech101_classes",
    "n_cars_classes",
    "prompt_name",
    "read_classes",
    "read_class_list",
]

DATA = Path(__file__).parent / "data"


def n_caltech101_classes() -> list[str]:
    return (DATA / "n_caltech101.txt").read_text().split()


def n_cars_classes() -> list[str]:
    return (DATA / "n_cars.txt").read_text().split()


# EventCLIP's renamings (from CoOp) for prompting, keyed by folder name
NCALTECH_PROMPT_NAMES = {
    "airplanes": "airplane",
    "Faces_easy": "face",
    "Leopards": "leopard",
    "Motorbikes": "motorbike",
    "BACKGROUND_Google": "background",
}
NCARS_PROMPT_NAMES = {"cars": "car"}


def prompt_name(name: str, style: str = "ezsr") -> str:
    """Class name as written into prompts: "ezsr" keeps it (underscores kept, as EZSR);
    "eventclip" applies EventCLIP's renames, lower-cases and turns `_` into spaces (as EventCLIP)."""
    if style == "ezsr":
        return name
    if style == "eventclip":
        name = NCALTECH_PROMPT_NAMES.get(name, NCARS_PROMPT_NAMES.get(name, name))
        return name.lower().replace("_", " ")
    if style == "clean":
        return name.replace("_", " ")
    raise ValueError(f"unknown name style {style!r}; expected ezsr, eventclip or clean")


def read_classes(spec: str | Sequence[str], label: str = "classes") -> list[str]:
    """Class names from a list, a comma-separated string ("cat,dog"), or "@FILE" (one name
    a line, so a name may hold commas). label: how errors name the argument."""
    if not isinstance(spec, str):
        names = [str(s) for s in spec]
    elif spec.startswith("@"):
        path = Path(spec[1:])
        if not path.exists():
            raise FileNotFoundError(f"{label}: class list file {path} does not exist")
        names = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    else:
        names = [s.strip() for s in spec.split(",") if s.strip()]
    if not names:
        raise ValueError(f"{label}: no class names given (use 'cat,dog' or @FILE)")
    return names


def read_class_list(path: str | Path) -> list[str]:
    """Class names from a file: one per line, or comma-separated; blank lines ignored."""
    text = Path(path).read_text()
    names = [n.strip() for line in text.splitlines() for n in line.split(",")]
    names = [n for n in names if n]
    if not names:
        raise ValueError(f"class list file {path} has no class names")
    return names
