"""The journey a researcher takes, rehearsed on the CPU: every shipped config in
training/configs runs 2 optimiser steps with only its scale overridden (a tiny batch, a folder
of JPEGs in ImageNet layout made from the built-in photos, few simulator frames, a
random-weight teacher checkpoint in OpenAI format of the config's own teacher architecture
written here, full size). tiny_cpu then goes the whole way: 2 ranks under torchrun (gloo),
--resume, `ezsr eval` of its student.pt on an N-ImageNet-layout folder made from the shared
recording, `ezsr export` of the student and `ezsr stream --onnx` of that export.
"""

import csv
import gzip
import json
import math
import shutil
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = ROOT / "training" / "configs"
SHARED_REC = ROOT.parent / "shared" / "data" / "events" / "n_imagenet" / "ezsr_test_event.npz"
AT_SCALE = ["imagenet_vitb16", "ablation_global", "ablation_global_scalar"]

# the scale of a rehearsal; everything else comes from the shipped config
SCALE = [
    "optim.batch_size=1",
    "optim.warmup_steps=1",
    "run.steps=2",
    "run.log_every=1",
    "run.ckpt_every=0",
    "run.keep_ckpts=0",
    "run.device=cpu",
    "run.progress=false",
    "run.tensorboard=false",
    "data.workers=0",
    "sim.max_frames=4",
]


def test_every_shipped_config_is_rehearsed():
    shipped = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
    assert shipped == sorted(["tiny_cpu", *AT_SCALE])


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """ImageNet layout (<class>/<n>.JPEG) of the built-in photos: each photo and its mirror."""
    from PIL import Image

    from ezsr.training.data import builtin_images

    root = tmp_path_factory.mktemp("imagenet") / "train"
    files, _, names = builtin_images()
    for f, name in zip(files, names):
        d = root / name.replace(" ", "_")
        d.mkdir(parents=True)
        im = Image.open(f).convert("RGB")
        im.save(d / "0.JPEG", quality=90)
        im.transpose(Image.FLIP_LEFT_RIGHT).save(d / "1.JPEG", quality=90)
    return root


@pytest.fixture(scope="module")
def teacher_checkpoints(tmp_path_factory):
    """name -> a random-weight CLIP checkpoint of that architecture in OpenAI's layout (plain
    state dict, fp16 as OpenAI ships them, with its three integer entries) and a tiny BPE
    vocabulary beside it; written once per architecture."""
    from ezsr.models import create_model

    made = {}

    def get(name: str) -> Path:
        if name not in made:
            d = tmp_path_factory.mktemp(name)
            torch.manual_seed(0)
            model = create_model(name)
            sd = {k: v.half() for k, v in model.state_dict().items()}
            sd.update(
                input_resolution=torch.tensor(model.image_size),
                context_length=torch.tensor(model.context_length),
                vocab_size=torch.tensor(model.vocab_size),
            )
            del model
            torch.save(sd, d / f"{name}.pt")
            with gzip.open(d / "bpe_simple_vocab_16e6.txt.gz", "wt", encoding="utf-8") as f:
                f.write("#version: tiny\nt h\nth e</w>\n")
            made[name] = d / f"{name}.pt"
        return made[name]

    return get


def _rows(out: Path) -> list[dict]:
    with open(out / "log.csv") as f:
        return [r for r in csv.DictReader(f) if r.get("loss")]


@pytest.mark.parametrize("name", AT_SCALE)
def test_at_scale_config_runs_two_steps(name, photos, teacher_checkpoints, tmp_path, caplog):
    from ezsr.models import load_student
    from ezsr.training.cli import main
    from ezsr.training.config import make_config

    shipped = make_config([name])
    ckpt = teacher_checkpoints(shipped.model.teacher)
    out = tmp_path / "run"
    caplog.set_level("INFO")
    rc = main(
        [
            name,
            *SCALE,
            f"data.root={photos}",
            f"model.teacher_pretrained={ckpt}",
            f"run.out_dir={out}",
        ]
    )
    assert rc == 0
    rows = _rows(out)
    assert [int(r["step"]) for r in rows] == [1, 2]
    for r in rows:
        assert math.isfinite(float(r["loss"]))
        g = float(r["global"])
        if shipped.loss.scalar_weight > 0 and shipped.loss.scalar_kind != "none":
            want = shipped.loss.global_weight * g + shipped.loss.scalar_weight * float(r["scalar"])
        else:  # the global-only ablation: no scalar-wise term at all
            assert not r.get("scalar")
            want = shipped.loss.global_weight * g
        assert float(r["loss"]) == pytest.approx(want, rel=1e-5)
    assert "student initialised from the teacher's image tower" in caplog.text
    assert "0 missing keys" in caplog.text
    student, meta = load_student(out / "student.pt")
    assert meta["student"] == shipped.model.student and meta["step"] == 2
    assert meta["input"] == {"size": shipped.sim.out_size, "mode": shipped.sim.mode}
    assert (out / "last.pt").exists() and not list(out.glob("step_*.pt"))


def _ezsr(capsys, *args) -> str:
    """`ezsr ARGS` (the CLI's main, in this process); its stdout."""
    from ezsr.cli import main

    capsys.readouterr()
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert code == 0, err[-3000:]
    return out


def test_tiny_cpu_journey(tmp_path, capsys):
    """torchrun (2 gloo ranks) -> --resume -> ezsr eval -> ezsr export -> ezsr stream --onnx
    (the ezsr commands through the CLI's main in this process: same code, no interpreter start)."""
    pytest.importorskip("onnxruntime")
    from conftest import needs_offline_extra, torchrun_training

    needs_offline_extra()  # the tiny_cpu config's teacher is the offline one
    from ezsr.training.cli import main

    out = tmp_path / "run"
    scale = [
        "optim.batch_size=4",
        "run.steps=2",
        "run.log_every=1",
        "run.eval_every=0",
        "run.eval_samples=8",
        "run.progress=false",
        "run.tensorboard=false",
        "data.workers=0",
        "data.repeats=2",
        f"run.out_dir={out}",
        f"model.teacher_cache={tmp_path / 'cache'}",
    ]
    torchrun_training(["tiny_cpu", *scale])
    ck = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
    assert ck["world_size"] == 2 and ck["step"] == 2

    assert main(["tiny_cpu", *scale, "run.steps=3", "--resume"]) == 0
    assert [int(r["step"]) for r in _rows(out)] == [1, 2, 3]
    student = out / "student.pt"

    if SHARED_REC.exists():  # an N-ImageNet-layout folder (mini: the classes present)
        data = tmp_path / "n_imagenet" / "extracted_val"
        for wnid in ("n02123045", "n02124075"):  # tabby cat, Egyptian cat
            (data / wnid).mkdir(parents=True)
            shutil.copyfile(SHARED_REC, data / wnid / SHARED_REC.name)
        report = json.loads(
            _ezsr(
                capsys,
                "eval",
                "--dataset",
                "mini-n-imagenet",
                "--root",
                data.parent,
                "--checkpoint",
                student,
                "--workers",
                "0",
                "--no-progress",
                "--json",
            )
        )
        assert report["n"] == 2 and report["classes"] == 2
        assert report["teacher"] == "student:test-tiny" and 0.0 <= report["top1"] <= 1.0
        assert sorted(x["label"] for x in report["samples"]) == ["Egyptian_cat", "tabby"]

    onnx = tmp_path / "student.onnx"
    _ezsr(capsys, "export", onnx, "--checkpoint", student, "--classes", "cat,dog,car", "--check")
    assert onnx.exists()
    if SHARED_REC.exists():
        summary = tmp_path / "stream.json"
        _ezsr(
            capsys,
            "stream",
            SHARED_REC,
            "--onnx",
            onnx,
            "--max-windows",
            "3",
            "--quiet",
            "--summary-json",
            summary,
        )
        s = json.loads(summary.read_text())
        assert s["windows"] == 3 and s["backend"].startswith("onnxruntime"), s
