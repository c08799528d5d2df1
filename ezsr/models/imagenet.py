"""The ImageNet-1k class table (ezsr/models/data/): the label space of ImageNet classifiers
(the offline teacher's EfficientNet-Lite0) and of N-ImageNet.

* `imagenet_map_clsloc.txt` is the ILSVRC devkit's map_clsloc.txt (`wnid index name`, the
  order EZSR's N-ImageNet evaluation uses: label = index - 1); taken from the
  map_clsloc-derived imagenet_class_index.json of the public repository
  daksim/Imagenet-1K-Formatter (which cites gist aaronpolhamus/964a4411c0906315deb9f4a3723aac57).
* `imagenet_sorted.tsv` lists the same classes by sorted wnid (N-ImageNet's label order and
  torchvision/Keras order) with the map_clsloc name and the curated name list published with
  CLIP (as shipped in EventCLIP's datasets/files/CLIP-IN_ClassNames.txt).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class ImageNetClass:
    wnid: str
    clsloc_index: int  # 1-based index in map_clsloc.txt
    name: str  # map_clsloc name (underscores kept, as EZSR uses)
    clip_name: str  # CLIP's curated name


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
