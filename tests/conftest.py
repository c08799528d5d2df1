"""Shared test fixtures: devices to test on and the real recordings in ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from ezsr import EventBatch, _ext

ROOT = Path(__file__).resolve().parents[1]
SHARED_EVENTS = Path(os.environ.get("EZSR_SHARED", ROOT.parent / "shared")) / "data" / "events"

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def shared_file(rel: str) -> Path:
    """Path of a recording under ../shared/data/events; skips the test when absent."""
    path = SHARED_EVENTS / rel
    if not path.exists():
        pytest.skip(f"{path} not present (../shared is only beside the development checkout)")
    return path


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    return request.param


needs_kernels = pytest.mark.skipif(_ext._C is None, reason=f"extension not built: {_ext.LOAD_ERROR}")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def random_batch(lengths, width=64, height=48, dtype=torch.int16, oob=0, seed=0, device="cpu",
                 one_pixel=False, same_time=False):
    """An EventBatch of streams with the given lengths: uniform x, y (oob pixels past each
    edge), random polarity, sorted random times with repeats inside each stream."""
    g = torch.Generator().manual_seed(seed)
    n = sum(lengths)
    x = torch.randint(-oob, width + oob, (n,), generator=g).to(dtype)
    y = torch.randint(-oob, height + oob, (n,), generator=g).to(dtype)
    if one_pixel:
        x.fill_(width - 1), y.fill_(0)
    p = torch.randint(0, 2, (n,), generator=g, dtype=torch.uint8)
    offsets = torch.cumsum(torch.tensor([0] + list(lengths)), 0)
    # sorted timestamps inside each stream, with repeats
    t = torch.randint(0, 5000, (n,), generator=g)
    t = torch.cat([t[offsets[i]:offsets[i + 1]].sort().values for i in range(len(lengths))])
    if same_time:
        t.fill_(7)
    return EventBatch(x, y, t, p, offsets, width, height).to(device)
