"""Tests write only under pytest's temporary folders: conftest points every cache variable
and the working directory there (its session-finish hook also fails the run when the
repository's runs/ or ~/.cache/ezsr changed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import CACHE_VARS, ROOT


def test_caches_and_cwd_are_under_pytest_tmp(tmp_path_factory, isolated_dirs):
    base = Path(tmp_path_factory.getbasetemp()).resolve()
    for var in CACHE_VARS:
        assert Path(os.environ[var]).resolve().is_relative_to(base), var
    assert Path.cwd().resolve().is_relative_to(base)
    assert not Path.cwd().resolve().is_relative_to(ROOT.resolve())


def test_default_outputs_resolve_under_tmp(isolated_dirs):
    """The places ezsr writes by default: the teacher/classifier cache and a training
    config's relative out_dir (runs/NAME), in this process and in a subprocess."""
    from ezsr.models.teachers import cache_dir
    from ezsr.training.config import make_config

    base = isolated_dirs.resolve()
    assert Path(cache_dir()).resolve().is_relative_to(base)
    out = Path(make_config(["tiny_cpu"], []).run.out_dir)
    assert not out.is_absolute() and Path.cwd().joinpath(out).resolve().is_relative_to(base)
    code = "from ezsr.models.teachers import cache_dir; print(cache_dir())"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert Path(r.stdout.strip()).resolve().is_relative_to(base)
