"""run.strategy=fsdp (torch FSDP2 fully_shard per transformer block) on 2 CPU ranks (gloo):
the same losses and weights as DDP on the same global batch, with activation checkpointing
on, and checkpoints that resume under the other strategy (and in one process)."""

import csv
from pathlib import Path

import numpy as np
import torch
from conftest import torchrun_training

ROOT = Path(__file__).resolve().parents[1]


def _args(image_root, out, *extra):
    # a real ViT student (test-tiny: 2 transformer blocks, sharded one by one) behind the
    # linear projection to the stand-in teacher's width
    return [
        f"data.root={image_root}",
        "data.image_size=32",
        "data.workers=0",
        "data.repeats=2",
        "sim.out_size=32",
        "optim.batch_size=4",
        "optim.warmup_steps=0",
        "optim.lr=1e-2",
        "optim.schedule=constant",
        "run.progress=false",
        "run.tensorboard=false",
        "run.device=cpu",
        "run.log_every=1",
        "run.eval_samples=4",
        "model.student=test-tiny",
        "model.student_init=none",
        "model.teacher=train_standins:teacher",
        "sim.path=train_standins:plain",
        f"run.out_dir={out}",
        *extra,
    ]


def _torchrun(args, *resume):
    torchrun_training([*args, *resume])


def _losses(out: Path) -> list[float]:
    with open(out / "log.csv") as f:
        return [float(r["loss"]) for r in csv.DictReader(f) if r.get("loss")]


def _weights(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)["model"]


def test_fsdp_matches_ddp_and_checkpoints_cross_strategies(image_root, tmp_path):
    ddp, fsdp = tmp_path / "ddp", tmp_path / "fsdp"
    _torchrun(
        _args(
            image_root,
            ddp,
            "run.steps=3",
            "run.ckpt_every=1",
            "run.keep_ckpts=3",
            "run.strategy=ddp",
        )
    )
    # FSDP (+ activation checkpointing) continues DDP's step-1 checkpoint on the same batches
    fsdp.mkdir()
    _torchrun(
        _args(
            image_root,
            fsdp,
            "run.steps=3",
            "run.strategy=fsdp",
            "run.activation_checkpointing=true",
        ),
        f"--resume={ddp / 'step_00000001.pt'}",
    )
    a, b = _losses(ddp), _losses(fsdp)
    assert len(a) == 3 and len(b) == 2 and a[0] != a[1]
    np.testing.assert_allclose(b, a[1:], rtol=1e-5, atol=1e-6)
    want, sharded = _weights(ddp / "last.pt"), _weights(fsdp / "last.pt")
    assert sorted(want) == sorted(sharded)  # full, name-keyed: no shards, no wrapper prefixes
    for k in want:
        torch.testing.assert_close(sharded[k], want[k], rtol=1e-5, atol=1e-6)
    from ezsr.models import load_student

    student, meta = load_student(fsdp / "student.pt")  # written from the gathered full state
    assert meta["step"] == 3
    for k, v in student.state_dict().items():
        torch.testing.assert_close(v, want[k], rtol=1e-5, atol=1e-6)

    # the FSDP checkpoint (and the DDP one) resume in one process without FSDP: same step 4
    from ezsr.training.config import make_config
    from ezsr.training.trainer import Trainer

    got = []
    for src in (fsdp / "last.pt", ddp / "last.pt"):
        out = tmp_path / f"one_{src.parent.name}"
        out.mkdir()
        tr = Trainer(make_config([], _args(image_root, out, "run.steps=4")), resume=str(src))
        try:
            tr.fit()
        finally:
            tr.close()
        got.append({k: v.detach().clone() for k, v in tr.student.state_dict().items()})
    for k in got[1]:  # Adam's m / sqrt(v) amplifies the checkpoints' 1e-6 differences where
        # a gradient is ~0, so a looser bound here
        torch.testing.assert_close(got[0][k], got[1][k], rtol=1e-3, atol=2e-4)
    assert any(not torch.equal(got[1][k], want[k]) for k in want)  # step 4 moved the student
