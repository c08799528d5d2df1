"""ezsr training: distil an event encoder into a frozen teacher's image-embedding space from
events synthesised on the training device.

    python -m ezsr.training tiny_cpu                      # the small offline CPU run
    python -m ezsr.training imagenet_vitb16 data.root=/data/imagenet/train
    torchrun --nproc_per_node 8 -m ezsr.training imagenet_vitb16 data.root=...
    ezsr train ...                                   # the same command line

Layers: config (dataclasses + files + overrides), data (folders, augmentation, sampler),
transform (images -> events -> encoder input, batched on the device), losses, teacher_cache,
checkpoint, logs, trainer (the loop).
"""

from ezsr.training.config import TrainConfig, make_config
from ezsr.training.losses import DistillationLoss

__all__ = ["TrainConfig", "make_config", "DistillationLoss", "Trainer", "main"]


def __getattr__(name):
    if name == "Trainer":
        from ezsr.training.trainer import Trainer

        return Trainer
    if name == "main":
        from ezsr.training.cli import main

        return main
    raise AttributeError(name)
