"""Teacher image embeddings computed once for fixed crops and memory-mapped afterwards.

With data.fixed_crops=true every file always yields the same crop, so the frozen teacher's
embedding of it never changes; computing it once removes the teacher from the training step.

Layout of model.teacher_cache (a directory):
    embeddings.npy  [N_files, D] float16 (np.load(..., mmap_mode="r"): pages in on demand)
    meta.json       teacher, teacher_pretrained, image_size, n, dim, files_sha1
meta.json is written last (after embeddings.npy is complete and renamed into place), so a
cache without it is incomplete and is rebuilt. A cache whose meta does not match the run
(other teacher, crop size or file list) raises ValueError instead of being silently used.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset


def _meta(cfg, files) -> dict:
    h = hashlib.sha1("\n".join(files).encode()).hexdigest()
    return {
        "teacher": cfg.model.teacher,
        "teacher_pretrained": cfg.model.teacher_pretrained,
        "image_size": cfg.data.image_size,
        "n": len(files),
        "files_sha1": h,
    }


@torch.no_grad()
def build_or_load(cfg, teacher, dataset, device, batch_size: int = 64, log=print) -> np.ndarray:
    """[N_files, D] float16 memory-mapped embeddings of dataset.files under the fixed crop."""
    root = Path(cfg.model.teacher_cache)
    meta, emb_path, meta_path = (
        _meta(cfg, dataset.files),
        root / "embeddings.npy",
        root / "meta.json",
    )
    if meta_path.exists():
        have = json.loads(meta_path.read_text())
        if {k: have.get(k) for k in meta} != meta:
            raise ValueError(
                f"model.teacher_cache: {root} was built for another teacher, crop "
                f"size or file list ({have}); delete it or pick another directory"
            )
        return np.load(emb_path, mmap_mode="r")
    root.mkdir(parents=True, exist_ok=True)
    n = len(dataset.files)
    log(f"teacher cache: embedding {n} images once into {emb_path}")
    loader = DataLoader(
        Subset(dataset, range(n)),
        batch_size=batch_size,
        num_workers=cfg.data.workers,
        shuffle=False,
    )
    tmp = root / "embeddings.tmp.npy"
    out = None
    for images, _, idx in loader:
        e = teacher.encode_image(images.to(device).float().div_(255.0)).float().cpu().numpy()
        if out is None:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=(n, e.shape[1]))
        out[idx.numpy()] = e.astype(np.float16)
    out.flush()
    del out
    os.replace(tmp, emb_path)
    meta["dim"] = int(np.load(emb_path, mmap_mode="r").shape[1])
    meta_path.write_text(json.dumps(meta, indent=1))
    return np.load(emb_path, mmap_mode="r")
