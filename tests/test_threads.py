"""OpenMP thread teams smaller than requested: every CPU op against its pure-torch reference
under OMP_THREAD_LIMIT, OMP_DYNAMIC and inside a nested parallel region (a user's own
parallel code calling ezsr). A kernel that splits work by the requested thread count
instead of the team's size drops ranges or reads past its private planes (a segfault:
OMP_THREAD_LIMIT=1 with torch.set_num_threads(2) on one 200,000-event stream).

Each case runs tests/_op_checks.py in a subprocess, since the variables are read when the
OpenMP runtime starts."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT, needs_kernels


def _run_checks(env_extra: dict, threads: list[int]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "GOMP_"))}
    env.update(env_extra)
    r = subprocess.run(
        [sys.executable, "-m", "tests._op_checks", *map(str, threads)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, f"rc={r.returncode} (-11: segfault)\n{r.stdout}\n{r.stderr[-3000:]}"
    assert r.stdout.strip().startswith("ok"), r.stdout


@needs_kernels
def test_ops_under_thread_limit_one():
    """The team has one thread while torch asks for two or four."""
    _run_checks({"OMP_THREAD_LIMIT": "1"}, [2, 4])


@needs_kernels
def test_ops_under_dynamic_teams_and_a_thread_limit():
    """OMP_DYNAMIC lets the runtime start fewer threads (it does on a loaded machine); the
    limit of 3 makes a request for 4 come up short in any case."""
    _run_checks({"OMP_DYNAMIC": "true", "OMP_THREAD_LIMIT": "3"}, [1, 4])


@needs_kernels
def test_ops_in_a_nested_parallel_region_without_variables():
    """No variable at all: the ops called from both threads of an outer OpenMP region
    (nested regions get a team of one by default while omp_get_max_threads() says 2; the
    old split by the requested count segfaulted here)."""
    _run_checks({}, [2])
