"""Replays the decoder fuzz campaign's inputs (benchmarks/fuzz_decoders.py, docs/reliability.md):
the minimised corpus kept per target and every input that ever crashed a decoder, through the
same check the fuzzer ran: C++ block decoder == Python reference; a whole file reads or
raises EventFileError, and when it reads, summarize / iter_chunks agree with io.read."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from conftest import ROOT, needs_kernels

FUZZ_DIR = ROOT / "tests" / "fixtures" / "fuzz"


def _harness():
    spec = importlib.util.spec_from_file_location(
        "fuzz_decoders", ROOT / "benchmarks" / "fuzz_decoders.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _inputs(kind: str):
    base = FUZZ_DIR / kind
    return sorted(p for p in base.glob("*/*") if p.is_file()) if base.is_dir() else []


def _target(path: Path) -> str:
    return path.parent.name.replace("_", ":", 1)


@needs_kernels
def test_every_target_has_a_kept_corpus():
    harness = _harness()
    kept = {p.name for p in (FUZZ_DIR / "corpus").iterdir()}
    missing = [t for t in harness.targets() if t.replace(":", "_", 1) not in kept]
    assert not missing, f"no corpus kept for {missing}: run benchmarks/fuzz_decoders.py"


@needs_kernels
@pytest.mark.parametrize("kind", ["crashes", "corpus"])
def test_replay_fuzz_inputs(kind, tmp_path):
    harness = _harness()
    files = _inputs(kind)
    if kind == "corpus":
        assert len(files) > 50
    known = set(harness.targets())
    for f in files:
        target = _target(f)
        if target not in known:  # a format this build does not register
            continue
        try:
            harness.check_one(target, f.read_bytes(), str(tmp_path))
        except Exception as exc:  # noqa: BLE001 - name the input
            raise AssertionError(f"{f.relative_to(ROOT)} ({target}): {exc!r}") from exc
