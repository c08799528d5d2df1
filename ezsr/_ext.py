"""Loads the compiled kernels (ezsr._C) if they were built, and says which path runs.

Importing ezsr never fails for lack of the extension or of CUDA: ops then run their
pure-torch references, and the first such call logs it once per op.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from types import ModuleType
from typing import Iterator

import torch

log = logging.getLogger("ezsr")

_C: ModuleType | None
try:  # importing the module runs its TORCH_LIBRARY registrations
    _C = importlib.import_module("ezsr._C")  # compiled: no Python source for mypy to read

    LOAD_ERROR: str | None = None
except ImportError as exc:  # not built, or built against another torch
    _C = None
    LOAD_ERROR = str(exc)

_warned: set[str] = set()
_reference_only = False


@contextlib.contextmanager
def reference_only() -> Iterator[None]:
    """Within this block every ezsr op runs its pure-torch reference (no compiled kernel,
    no log line): for comparisons and benchmarks against a plain torch pipeline. The switch
    is process-wide (other threads see it too); DataLoader worker processes each have
    their own."""
    global _reference_only
    saved, _reference_only = _reference_only, True
    try:
        yield
    finally:
        _reference_only = saved


def has_kernel(op: str, device: torch.device | str) -> bool:
    """True when torch.ops.ezsr.<op> has a compiled kernel for the device's type (False
    inside reference_only())."""
    if _C is None or _reference_only:
        return False
    key = {"cpu": "CPU", "cuda": "CUDA"}.get(torch.device(device).type)
    if key is None:
        return False
    return torch._C._dispatch_has_kernel_for_dispatch_key(f"ezsr::{op}", key)


def use_kernel(op: str, device: torch.device | str) -> bool:
    """has_kernel, logging once per (op, device type) when the reference runs instead."""
    if has_kernel(op, device):
        return True
    if _reference_only:
        return False
    key = f"{op}:{torch.device(device).type}"
    if key not in _warned:
        _warned.add(key)
        why = LOAD_ERROR or f"no {torch.device(device).type} kernel was built"
        log.warning("ezsr.%s on %s runs the pure-torch reference (%s)", op, device, why)
    return False


def kernel_backends() -> list[str]:
    """Backends with compiled kernels: a subset of ['cpu', 'cuda'] (empty: reference only)."""
    out = []
    if _C is not None and has_kernel("histogram", "cpu"):
        out.append("cpu")
    if _C is not None and has_kernel("histogram", "cuda"):
        out.append("cuda")
    return out
