"""Tiny stand-ins for the trainer's tests: a teacher, a student and event transforms that run
in milliseconds on the CPU. Importable as 'train_standins:<name>' (tests/ on sys.path), so
torchrun subprocesses can build them from a config too."""

from __future__ import annotations

import torch
import torch.nn.functional as F

DIM = 8


class TinyTeacher:
    """A plain object like the real teachers. The interface: encode_image([B,3,H,W] in [0,1]) / encode_text(list[str]) -> [.,D]
    L2-normalised, embed_dim, logit_scale. A fixed random projection of a 4x4 thumbnail."""

    embed_dim = DIM
    logit_scale = 100.0

    name, cache_key = "tiny-standin", None  # no on-disk classifier cache

    def __init__(self, nan_after: int = -1):
        g = torch.Generator().manual_seed(123)
        self.w = torch.randn(48, DIM, generator=g)
        self.calls, self.nan_after = 0, nan_after

    def encode_image(self, images):
        self.calls += 1
        z = F.adaptive_avg_pool2d(images.float(), 4).flatten(1) @ self.w
        if 0 <= self.nan_after < self.calls:
            z = z * float("nan")
        return F.normalize(z, dim=-1)

    def encode_text(self, texts):
        out = []
        for s in texts:
            g = torch.Generator().manual_seed(sum(ord(c) * (i + 1) for i, c in enumerate(s)))
            out.append(torch.randn(DIM, generator=g))
        return F.normalize(torch.stack(out), dim=-1)


class TinyStudent(torch.nn.Module):
    """[B,3,H,W] -> [B,DIM]: 8x8 pooling, a 2-layer MLP with dropout (exercises the RNG)."""

    def __init__(self, dropout: float = 0.1):
        super().__init__()
        g = torch.get_rng_state()
        torch.manual_seed(7)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(3 * 64, 32),
            torch.nn.GELU(),
            torch.nn.Dropout(dropout),
            torch.nn.Linear(32, DIM),
        )
        torch.set_rng_state(g)

    def forward(self, x):
        return self.net(F.adaptive_avg_pool2d(x, 8).flatten(1))


def plain_transform(images, seed):
    """Deterministic stand-in for simulate+represent: horizontal temporal-contrast-like edges."""
    x = images.float() / 255.0
    return (x - torch.roll(x, 1, dims=-1)).abs() * 4 - 0.5


def seeded_transform(images, seed):
    """Stand-in whose output depends on the per-step seed, like random camera motion."""
    g = torch.Generator().manual_seed(int(seed))
    shift = int(torch.randint(1, 4, (1,), generator=g))
    x = images.float() / 255.0
    return (x - torch.roll(x, shift, dims=-1)).abs() * 4 + 0.01 * torch.randn(x.shape, generator=g)


# factories for configs: model.student=train_standins:student etc.
def student(cfg):
    """No dropout: a DDP run draws other dropout masks than one process, by design."""
    return TinyStudent(dropout=0.0)


def teacher(cfg):
    return TinyTeacher()


def plain(sim_cfg):
    return plain_transform


def seeded(sim_cfg):
    return seeded_transform
