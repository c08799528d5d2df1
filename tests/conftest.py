"""Shared test fixtures: devices to test on and the real recordings in ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from ezsr import _ext

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
