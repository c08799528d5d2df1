"""ezsr training: distil an event encoder into a frozen teacher's image-embedding space from
events synthesised on the training device.

    python -m training tiny_cpu                      # the small offline CPU run
    python -m training imagenet_vitb16 data.root=/data/imagenet/train
    torchrun --nproc_per_node 8 -m training imagenet_vitb16 data.root=...
    ezsr train ...                                   # the same command line

Layers: config (dataclasses + files + overrides), data (folders, augmentation, sampler),
transform (images -> events -> encoder input, batched on the device), losses, teacher_cache,
checkpoint, logs, trainer (the loop).
"""

from training.config import TrainConfig, make_config
from training.losses import DistillationLoss

__all__ = ["TrainConfig", "make_config", "DistillationLoss", "Trainer", "main"]


def __getattr__(name):
    if name == "Trainer":
        from training.trainer import Trainer

        return Trainer
    if name == "main":
        from training.cli import main

        return main
    raise AttributeError(name)
