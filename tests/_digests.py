"""Compare arrays with the digests of fixtures made by published code from the shared
recordings (tests/fixtures/digest.py): shape, dtype and the SHA-256 of the C-order bytes, so
equality is bit for bit without keeping the arrays in the repository."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np


def load_digests(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def sha256_of(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def matches(a: np.ndarray, entry: dict[str, Any]) -> bool:
    """True when `a` has the digest's shape and dtype and the same bytes."""
    a = np.asarray(a)
    return (
        list(a.shape) == entry["shape"]
        and str(a.dtype) == entry["dtype"]
        and sha256_of(a) == entry["sha256"]
    )


def assert_matches(a: np.ndarray, entry: dict[str, Any], what: str = "") -> None:
    a = np.asarray(a)
    assert list(a.shape) == entry["shape"] and str(a.dtype) == entry["dtype"], (
        what,
        a.shape,
        a.dtype,
        entry,
    )
    assert sha256_of(a) == entry["sha256"], f"{what}: bytes differ from the published output"
