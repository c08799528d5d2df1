"""Class lists shipped with the package (ezsr/zeroshot/data/).

* ImageNet-1k: `imagenet_map_clsloc.txt` is the ILSVRC devkit's map_clsloc.txt
  (`wnid index name`, the order EZSR's N-ImageNet evaluation uses: label = index - 1);
  taken from the map_clsloc-derived imagenet_class_index.json of the public repository
  daksim/Imagenet-1K-Formatter (which cites gist aaronpolhamus/964a4411c0906315deb9f4a3723aac57).
  `imagenet_sorted.tsv` lists the same classes by sorted wnid (N-ImageNet's label order and
  torchvision/Keras order) with the map_clsloc name and the curated name list published with
  CLIP (as shipped in EventCLIP's datasets/files/CLIP-IN_ClassNames.txt).
* N-Caltech101: the 101 folder names of the dataset (including BACKGROUND_Google), sorted as
  EventCLIP lists them (from its few-shot split files).
* N-Cars: `background`, `cars` (folder names).

read_classes parses a class list as the command line gives it; read_class_list reads a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class ImageNetClass:
    wnid: str
    clsloc_index: int   # 1-based index in map_clsloc.txt
    name: str           # map_clsloc name (underscores kept, as EZSR uses)
    clip_name: str      # CLIP's curated name


@lru_cache()
def _imagenet() -> dict[str, ImageNetClass]:
    clip = {}
    for line in (DATA / "imagenet_sorted.tsv").read_text().splitlines():
        if line and not line.startswith("#"):
            wnid, _, cname = line.split("\t")
            clip[wnid] = cname
    out = {}
    for line in (DATA / "imagenet_map_clsloc.txt").read_text().splitlines():
        wnid, idx, name = line.split(" ")
        out[wnid] = ImageNetClass(wnid, int(idx), name, clip[wnid])
    return out


def imagenet_classes(order: str = "sorted") -> list[ImageNetClass]:
    """The 1000 ImageNet classes in "sorted" wnid order (N-ImageNet labels) or
    "map_clsloc" order (EZSR's labels)."""
    cls = list(_imagenet().values())
    if order == "sorted":
        return sorted(cls, key=lambda c: c.wnid)
    if order == "map_clsloc":
        return sorted(cls, key=lambda c: c.clsloc_index)
    raise ValueError(f"unknown ImageNet order {order!r}; expected 'sorted' or 'map_clsloc'")


def n_caltech101_classes() -> list[str]:
    return (DATA / "n_caltech101.txt").read_text().split()


def n_cars_classes() -> list[str]:
    return (DATA / "n_cars.txt").read_text().split()


# EventCLIP's renamings (from CoOp) for prompting, keyed by folder name
NCALTECH_PROMPT_NAMES = {"airplanes": "airplane", "Faces_easy": "face", "Leopards": "leopard",
                         "Motorbikes": "motorbike", "BACKGROUND_Google": "background"}
NCARS_PROMPT_NAMES = {"cars": "car"}


def prompt_name(name: str, style: str = "ezsr") -> str:
    """Class name as written into prompts: "ezsr" keeps it (underscores kept, §1);
    "eventclip" applies EventCLIP's renames, lower-cases and turns `_` into spaces (§2)."""
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


def read_class_list(path) -> list[str]:
    """Class names from a file: one per line, or comma-separated; blank lines ignored."""
    text = Path(path).read_text()
    names = [n.strip() for line in text.splitlines() for n in line.split(",")]
    names = [n for n in names if n]
    if not names:
        raise ValueError(f"class list file {path} has no class names")
    return names
