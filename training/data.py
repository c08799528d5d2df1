"""Images for distillation: folder datasets, the built-in offline photo set, augmentation and a
resumable per-rank sampler.

Workers decode (ezsr.simulate.open_image: Pillow, libspng for PNG) and crop/resize to data.image_size; a batch leaves the DataLoader as
    images  [B, 3, S, S] uint8 RGB     labels [B] int64 (-1 = unlabelled)    index [B] int64
and everything after that (simulation, representation, teacher) runs batched on the training
device (training/transform.py). Augmentation draws from a generator seeded by
(seed, epoch, sample index), so a sample's crop does not depend on the worker, the rank or the
number of ranks — which is what makes `--resume` and DDP runs reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm")


@dataclass(frozen=True)
class Augment:
    """RandomResizedCrop + horizontal flip + brightness/contrast jitter, or a fixed center crop."""

    size: int = 224
    scale: tuple = (0.35, 1.0)
    ratio: tuple = (0.75, 4 / 3)
    hflip: float = 0.5
    color_jitter: float = 0.2
    fixed: bool = False

    @classmethod
    def from_config(cls, d, fixed: Optional[bool] = None) -> "Augment":
        return cls(
            d.image_size,
            tuple(d.scale),
            tuple(d.ratio),
            d.hflip,
            d.color_jitter,
            d.fixed_crops if fixed is None else fixed,
        )

    def __call__(self, img, rng: np.random.Generator) -> np.ndarray:
        """PIL image (any mode) -> [3, size, size] uint8 numpy array."""
        from PIL import Image

        img = img.convert("RGB")
        w, h = img.size
        if self.fixed:  # shorter side to size, center crop
            s = min(w, h)
            box = ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)
            flip, gain, bias = False, 1.0, 0.0
        else:
            box = self._random_box(w, h, rng)
            flip = rng.random() < self.hflip
            j = self.color_jitter
            gain = 1.0 + rng.uniform(-j, j) if j > 0 else 1.0  # contrast
            bias = rng.uniform(-j, j) * 128.0 if j > 0 else 0.0  # brightness
        out = img.resize((self.size, self.size), Image.BILINEAR, box=box)
        a = np.asarray(out, dtype=np.uint8)
        if flip:
            a = a[:, ::-1]
        if gain != 1.0 or bias != 0.0:
            m = a.mean()
            a = np.clip((a.astype(np.float32) - m) * gain + m + bias, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(a.transpose(2, 0, 1))

    def _random_box(self, w: int, h: int, rng: np.random.Generator) -> tuple:
        area = w * h
        for _ in range(10):
            target = area * rng.uniform(*self.scale)
            ar = math.exp(rng.uniform(math.log(self.ratio[0]), math.log(self.ratio[1])))
            cw, ch = int(round(math.sqrt(target * ar))), int(round(math.sqrt(target / ar)))
            if 0 < cw <= w and 0 < ch <= h:
                x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
                return (x0, y0, x0 + cw, y0 + ch)
        s = min(w, h)
        return ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)


class ImageDataset(Dataset):
    """A list of image files with optional labels, augmented deterministically per sample.

    Items are addressed by (index, epoch) pairs (ResumableSampler yields them); a plain int
    index means epoch 0. Returns (image [3,S,S] uint8 tensor, label int64, file index int64).
    `repeats` makes an epoch visit every file that many times (for tiny sets).
    """

    def __init__(
        self,
        files: Sequence[str],
        labels: Sequence[int],
        classnames: Sequence[str],
        augment: Augment,
        seed: int = 0,
        repeats: int = 1,
    ):
        if not files:
            raise ValueError("ImageDataset: no image files")
        if len(labels) != len(files):
            raise ValueError("ImageDataset: files and labels differ in length")
        self.files, self.labels = list(map(str, files)), [int(v) for v in labels]
        self.classnames, self.augment = list(classnames), augment
        self.seed, self.repeats = seed, repeats
        self._decoded: dict = {}  # decoded photos of tiny sets (<= KEEP_DECODED files), per worker

    KEEP_DECODED = 64

    def __len__(self) -> int:
        return len(self.files) * self.repeats

    def __getitem__(self, key):
        idx, epoch = key if isinstance(key, tuple) else (key, 0)
        i = idx % len(self.files)
        rng = np.random.default_rng([self.seed, epoch, idx])
        im = self._decoded.get(i) or self._decode(i)
        if len(self.files) <= self.KEEP_DECODED:
            self._decoded[i] = im
        arr = self.augment(im, rng)
        return torch.from_numpy(arr), torch.tensor(self.labels[i]), torch.tensor(i)

    def _decode(self, i: int):
        from ezsr.simulate.images import open_image

        # JPEG: let the decoder downscale by 2/4/8 while keeping enough pixels for the
        # smallest crop; PNG: libspng when pyspng is installed
        a = self.augment
        need = a.size if a.fixed else math.ceil(a.size / math.sqrt(a.scale[0]))
        try:
            return open_image(self.files[i], min_side=need)
        except ValueError as exc:
            raise OSError(f"ImageDataset: cannot decode {exc}") from exc

    def load_fixed(self, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """n samples (cycling through the files) decoded and augmented with `seed`:
        (images [n,3,S,S] uint8, labels [n] int64). Used for the held-out evaluation set."""
        saved, self.seed = self.seed, seed
        try:
            items = [self[(k, 0)] for k in range(n)]
        finally:
            self.seed = saved
        return torch.stack([a for a, _, _ in items]), torch.stack([b for _, b, _ in items])


def scan_folder(root: str | Path, key: str = "data.root") -> tuple[list[str], list[int], list[str]]:
    """Files, labels and class names of an image folder.

    ImageNet layout (root/<class>/*.jpg): labels index the sorted class folders, class names
    are the folder names with '_' -> ' '. A flat folder of images: labels are -1, no classes.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"{key}={root}: not a directory (expected an image folder, "
            f"ImageNet layout <class>/*.JPEG or flat)"
        )
    subdirs = sorted(d for d in root.iterdir() if d.is_dir())
    files, labels = [], []
    if subdirs:
        for k, d in enumerate(subdirs):
            for f in sorted(d.rglob("*")):
                if f.suffix.lower() in IMAGE_EXTS:
                    files.append(str(f))
                    labels.append(k)
        names = [d.name.replace("_", " ") for d in subdirs]
    else:
        files = [str(f) for f in sorted(root.iterdir()) if f.suffix.lower() in IMAGE_EXTS]
        labels, names = [-1] * len(files), []
    if not files:
        raise FileNotFoundError(
            f"{key}={root}: no images ({', '.join(IMAGE_EXTS)}) in it or its class folders"
        )
    return files, labels, names


# Photos shipped inside scikit-image and scikit-learn, with a class name each: a dataset that
# needs no download. One photo per class, so held-out samples are other crops and other camera
# motions of the same photos (no disjoint images exist).
BUILTIN = [
    ("skimage", "astronaut.png", "astronaut"),
    ("skimage", "chelsea.png", "cat"),
    ("skimage", "coffee.png", "cup of coffee"),
    ("skimage", "rocket.jpg", "rocket"),
    ("skimage", "motorcycle_left.png", "motorcycle"),
    ("skimage", "hubble_deep_field.jpg", "galaxy"),
    ("skimage", "brick.png", "brick wall"),
    ("skimage", "moon.png", "moon"),
    ("skimage", "coins.png", "coins"),
    ("skimage", "camera.png", "photographer"),
    ("sklearn", "china.jpg", "temple"),
    ("sklearn", "flower.jpg", "flower"),
]


def builtin_images() -> tuple[list[str], list[int], list[str]]:
    """Files, labels and class names of the built-in photo set (those that are installed)."""
    dirs = {}
    try:
        import skimage.data

        dirs["skimage"] = Path(skimage.data.__file__).parent
    except ImportError:
        pass
    try:
        import sklearn.datasets

        dirs["sklearn"] = Path(sklearn.datasets.__file__).parent / "images"
    except ImportError:
        pass
    files, names = [], []
    for pkg, name, cls in BUILTIN:
        if pkg in dirs and (dirs[pkg] / name).exists():
            files.append(str(dirs[pkg] / name))
            names.append(cls)
    if len(files) < 2:
        raise FileNotFoundError(
            "data.root=builtin needs scikit-image or scikit-learn installed "
            "(their sample photos are the built-in image set); "
            "pip install scikit-image, or set data.root to an image folder"
        )
    return files, list(range(len(files))), names


def build_datasets(d, seed: int) -> tuple[ImageDataset, Optional[ImageDataset]]:
    """(train, held-out) datasets of a DataConfig. held-out is None for unlabelled data."""
    if d.root == "builtin":
        files, labels, names = builtin_images()
        vfiles, vlabels = files, labels  # same photos, other crops and motions
    else:
        files, labels, names = scan_folder(d.root)
        vfiles, vlabels = [], []
        if d.val_root:
            vfiles, vlabels, vnames = scan_folder(d.val_root, "data.val_root")
            if vnames != names:
                raise ValueError(
                    f"data.val_root: its classes differ from data.root's "
                    f"({len(vnames)} vs {len(names)} class folders)"
                )
        elif d.val_fraction > 0:
            rng = np.random.default_rng(seed + 12345)
            perm = rng.permutation(len(files))
            n_val = max(1, int(len(files) * d.val_fraction))
            hold = set(perm[:n_val].tolist())
            vfiles = [f for k, f in enumerate(files) if k in hold]
            vlabels = [v for k, v in enumerate(labels) if k in hold]
            files = [f for k, f in enumerate(files) if k not in hold]
            labels = [v for k, v in enumerate(labels) if k not in hold]
    if d.classnames:
        names = [ln.strip() for ln in Path(d.classnames).read_text().splitlines() if ln.strip()]
        if labels and max(labels) >= len(names):
            raise ValueError(
                f"data.classnames: {d.classnames} lists {len(names)} names but the "
                f"data has {max(labels) + 1} classes"
            )
    train = ImageDataset(files, labels, names, Augment.from_config(d), seed, d.repeats)
    held = None
    if vfiles and names and min(vlabels) >= 0:
        # builtin: the same photos, so held-out samples are always random crops (never the
        # fixed crops a cached-teacher run trains on)
        fixed = False if d.root == "builtin" else None
        held = ImageDataset(vfiles, vlabels, names, Augment.from_config(d, fixed=fixed), seed)
    return train, held


class ResumableSampler(DistributedSampler):
    """DistributedSampler (shuffle per epoch from seed + epoch, shard rank::world, drop_last)
    that yields (index, epoch) and can skip the first `skip` samples of this rank's shard —
    the data position restored by --resume."""

    def __init__(
        self, dataset, num_replicas: int = 1, rank: int = 0, seed: int = 0, shuffle: bool = True
    ):
        super().__init__(
            dataset,
            num_replicas=num_replicas,
            rank=rank,
            shuffle=shuffle,
            seed=seed,
            drop_last=True,
        )
        self.skip = 0

    def __iter__(self):
        for k, idx in enumerate(super().__iter__()):
            if k >= self.skip:
                yield (idx, self.epoch)

    def __len__(self) -> int:
        return self.num_samples - self.skip
