"""The trainer's inputs: model names checked when the config is read, student initialisation
(teacher | none | PATH) with its load report, and bad input refused in one line naming the
config key before any model is built."""

import logging

import pytest
import torch

from ezsr.training.cli import main
from ezsr.training.config import make_config


@pytest.fixture()
def no_models(monkeypatch):
    """Building a model is a test failure: the errors must come before."""
    import ezsr.models
    import ezsr.models.factory

    def boom(*a, **k):
        raise AssertionError("a model was built before the bad input was reported")

    for mod in (ezsr.models, ezsr.models.factory):
        monkeypatch.setattr(mod, "create_event_encoder", boom)
        monkeypatch.setattr(mod, "create_model", boom)
    monkeypatch.setattr(ezsr.models, "create_teacher", boom)


def _err(capsys, *args) -> str:
    assert main(list(args)) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_unknown_model_names_list_the_known_ones(capsys, no_models):
    err = _err(capsys, "imagenet_vitb16", "model.student=vit_b16")
    assert "model.student='vit_b16' is not a registered model" in err
    assert "ViT-B-16" in err and "EVA02-CLIP-bigE-14-plus" in err
    err = _err(capsys, "tiny_cpu", "model.teacher=clip-b16")
    assert "model.teacher='clip-b16'" in err and "offline" in err
    assert make_config(["imagenet_vitb16"]).model.student == "ViT-B-16"
    assert make_config([]).model.student == "ViT-B-16"


@pytest.fixture()
def tiny_clip_file(tmp_path):
    from ezsr.models import create_model

    path = tmp_path / "tiny.pt"
    torch.save(create_model("test-tiny").state_dict(), path)
    return path


def test_bad_files_fail_in_one_line_before_any_model(tmp_path, tiny_clip_file, capsys, no_models):
    photos = tmp_path / "imgs" / "cls"
    photos.mkdir(parents=True)
    (photos / "notes.txt").write_text("no image here")
    base = ["imagenet_vitb16", f"run.out_dir={tmp_path / 'run'}", "run.device=cpu"]

    err = _err(
        capsys,
        *base,
        f"data.root={tmp_path / 'imgs'}",
        f"model.teacher_pretrained={tiny_clip_file}",
    )
    assert f"model.teacher_pretrained={tiny_clip_file}" in err
    assert "ViT-B-16 expects" in err and "another architecture" in err

    err = _err(
        capsys,
        *base,
        f"data.root={tmp_path / 'imgs'}",
        "model.teacher=test-tiny",
        f"model.teacher_pretrained={tiny_clip_file}",
        "model.student=test-tiny-eva",
        f"model.student_init={tiny_clip_file}",
    )
    assert f"model.student_init={tiny_clip_file}" in err and "test-tiny-eva" in err

    err = _err(
        capsys,
        *base,
        f"data.root={tmp_path / 'imgs'}",
        "model.teacher=test-tiny",
        f"model.teacher_pretrained={tiny_clip_file}",
        "model.student=test-tiny",
    )
    assert f"data.root={tmp_path / 'imgs'}: no images" in err

    err = _err(
        capsys,
        *base,
        f"data.root={tmp_path / 'imgs'}",
        f"model.teacher_pretrained={tmp_path / 'missing.pt'}",
    )
    assert "model.teacher_pretrained=" in err and "no such file" in err


def test_student_init_from_the_teacher_and_from_a_file(tiny_clip_file, caplog):
    from ezsr.models import CLIPTeacher, create_model
    from ezsr.training.trainer import build_student

    teacher = CLIPTeacher(create_model("test-tiny", pretrained=tiny_clip_file), tokenizer=object())
    want = teacher.model.visual.state_dict()
    caplog.set_level(logging.INFO)

    cfg = make_config([], ["model.student=test-tiny", "model.teacher=test-tiny", "sim.out_size=32"])
    student = build_student(cfg, teacher.embed_dim, teacher)
    for k, v in want.items():
        assert torch.equal(student.visual.state_dict()[k], v), k
    assert "from the teacher's image tower (test-tiny): 0 missing keys" in caplog.text

    cfg = make_config([], ["model.student=test-tiny", "model.student_init=none", "sim.out_size=32"])
    fresh = build_student(cfg, teacher.embed_dim, teacher)
    assert not torch.equal(fresh.visual.proj, want["proj"])

    caplog.clear()
    cfg = make_config(
        [], ["model.student=test-tiny", f"model.student_init={tiny_clip_file}", "sim.out_size=32"]
    )
    from_file = build_student(cfg, teacher.embed_dim, None)
    for k, v in want.items():
        assert torch.equal(from_file.visual.state_dict()[k], v), k
    assert f"student initialised from {tiny_clip_file}" in caplog.text

    # another architecture than the teacher's: random init, and the log says so
    caplog.clear()
    cfg = make_config([], ["model.student=test-tiny-eva", "sim.out_size=32"])
    build_student(cfg, teacher.embed_dim, teacher)
    assert "starts from random weights" in caplog.text


def test_checkpoint_shapes_are_read_without_data(tmp_path):
    """check_checkpoint reads names and shapes from the pickle (storages on the meta device)
    of plain, wrapped (OpenCLIP), safetensors and TorchScript files alike."""
    from safetensors.torch import save_file

    from ezsr.models import create_model
    from ezsr.models.checkpoints import CheckpointError, peek_shapes
    from ezsr.models.factory import check_checkpoint

    torch.manual_seed(0)
    model = create_model("test-tiny")
    sd = model.state_dict()
    torch.save(sd, tmp_path / "plain.pt")
    torch.save(
        {"epoch": 1, "state_dict": {"module." + k: v.half() for k, v in sd.items()}},
        tmp_path / "openclip.pt",
    )
    save_file({k: v.contiguous() for k, v in sd.items()}, tmp_path / "m.safetensors")
    with torch.no_grad():
        traced = torch.jit.trace(
            model, (torch.randn(1, 3, 32, 32), torch.randint(1, 500, (1, 16))), check_trace=False
        )
    torch.jit.save(traced, str(tmp_path / "scripted.pt"))
    want = {k: tuple(v.shape) for k, v in sd.items()}
    for name in ("plain.pt", "openclip.pt", "m.safetensors", "scripted.pt"):
        got = peek_shapes(tmp_path / name)
        assert got is not None, name
        assert {k: tuple(v.shape) for k, v in got.items() if k in want} == want, name
        assert all(v.device.type == "meta" for v in got.values())
        check_checkpoint(tmp_path / name, "test-tiny", "model.teacher_pretrained")
        with pytest.raises(CheckpointError, match=r"model\.teacher_pretrained=.*ViT-B-32 expects"):
            check_checkpoint(tmp_path / name, "ViT-B-32", "model.teacher_pretrained")
