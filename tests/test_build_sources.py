"""The extension's source lists (ezsr/_build_flags.py), checked without a compiler."""

from __future__ import annotations

import os
from collections import Counter

from ezsr import _build_flags


def test_cuda_build_gives_every_source_its_own_object_file():
    # setuptools/torch put csrc/core/X.cpp and csrc/core/X.cu both at build/.../csrc/core/X.o:
    # ninja then stops with "multiple rules generate X.o" and the CUDA build never starts.
    for cuda in (False, True):
        objects = Counter(os.path.splitext(s)[0] for s in _build_flags.sources(cuda))
        assert [o for o, n in objects.items() if n > 1] == [], f"cuda={cuda}"


def test_cuda_build_adds_the_cuda_sources():
    cpu, gpu = set(_build_flags.sources(False)), set(_build_flags.sources(True))
    extra = gpu - cpu
    assert cpu < gpu
    assert {os.path.basename(s) for s in extra if s.endswith(".cu")} == {
        "histogram_cuda.cu",
        "simulate_cuda.cu",
        "temporal_cuda.cu",
    }
    assert all(
        s.endswith(".cu") or s.startswith(os.path.join("csrc", "torch", "cuda")) for s in extra
    )
