"""`ezsr classify / eval / export`: bad input is refused early with a message that names
the option or file and what was expected (no tracebacks, no torch advice to load unsafely)."""

from __future__ import annotations

import gzip
import json
import random

import numpy as np
import pytest
import torch
from conftest import needs_offline_extra

from ezsr.cli import main

MERGES = [("c", "a"), ("ca", "t</w>"), ("d", "o"), ("do", "g</w>")]


def run(capsys, *args):
    """(exit code, stdout, stderr) of `ezsr ARGS` run in this process; argparse errors
    (SystemExit) give their code too."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A random file, a trainer checkpoint, a tiny CLIP checkpoint + BPE vocabulary, an
    event recording and a [D, K] classifier for the test-tiny model."""
    from ezsr import Events, io
    from ezsr.models import create_model

    d = tmp_path_factory.mktemp("cli_models")
    (d / "rand.pt").write_bytes(np.random.default_rng(0).bytes(4000))
    run_dir = d / "runs" / "a"
    run_dir.mkdir(parents=True)
    torch.save(
        {
            "format": "ezsr-train-1",
            "student": "vit_b16",
            "step": 3,
            "model": {"w": torch.zeros(2)},
            "rng": [{"numpy": np.random.get_state(), "python": random.getstate()}],
        },
        run_dir / "last.pt",
    )
    torch.manual_seed(0)
    torch.save(create_model("test-tiny").state_dict(), d / "tiny.pt")
    with gzip.open(d / "bpe_simple_vocab_16e6.txt.gz", "wt", encoding="utf-8") as f:
        f.write("#version: tiny\n" + "\n".join(" ".join(m) for m in MERGES) + "\n")
    g = torch.Generator().manual_seed(0)
    n = 2000
    io.write(
        d / "ev.npz",
        Events(
            torch.randint(0, 64, (n,), generator=g),
            torch.randint(0, 48, (n,), generator=g),
            torch.arange(n, dtype=torch.int64) * 10,
            torch.randint(0, 2, (n,), generator=g),
            width=64,
            height=48,
        ),
    )
    torch.save(torch.randn(32, 3), d / "W.pt")
    return d


def assert_clean(err: str):
    assert "Traceback" not in err and "weights_only" not in err and "\x1b" not in err


# ------------------------------------------------------------------ classify
def test_classify_class_options(files, capsys, monkeypatch):
    names = files / "names.txt"
    names.write_text("x\ny\n")
    code, _, err = run(
        capsys, "classify", files / "ev.npz", "--classes", "a,b", "--classes-file", names
    )
    assert code == 2 and "--classes-file" in err and "--classes" in err
    monkeypatch.setenv("EZSR_CACHE", str(files / "cache"))
    code, out, err = run(
        capsys,
        "classify",
        files / "ev.npz",
        "--classes",
        "cat",
        "--checkpoint",
        files / "tiny.pt",
        "--model",
        "test-tiny",
        "--vocab",
        files / "bpe_simple_vocab_16e6.txt.gz",
        "--templates",
        "simple",
    )
    assert code == 0 and out.startswith("cat") and "only one class" in err
    code, _, err = run(capsys, "classify", files / "ev.npz", "--classes", "a,b", "--top", "0")
    assert code == 2 and "argument --top: must be >= 1" in err


def test_checkpoint_not_readable(files, capsys):
    head = ["classify", files / "ev.npz", "--classes", "a,b"]
    code, _, err = run(capsys, *head, "--checkpoint", files / "rand.pt", "--model", "ViT-B/16")
    assert code == 1 and f"{files / 'rand.pt'}: not a checkpoint ezsr can read (expected" in err
    assert "torch.load said:" in err
    assert_clean(err)
    code, _, err = run(
        capsys, *head, "--checkpoint", files / "runs/a/last.pt", "--model", "ViT-B/16"
    )
    assert code == 1 and "is a training checkpoint of `ezsr train` (student vit_b16" in err
    assert str(files / "runs/a/student.pt") in err
    assert_clean(err)
    code, _, err = run(capsys, *head, "--checkpoint", files / "missing.pt", "--model", "ViT-B/16")
    assert code == 2 and "argument --checkpoint" in err


def test_read_state_dict_messages(files, tmp_path):
    from ezsr.models.checkpoints import CheckpointError, read_state_dict

    torch.save(torch.zeros(3), tmp_path / "t.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    for name, want in (("t.pt", "it holds a Tensor"), ("empty.pt", "EOFError")):
        with pytest.raises(CheckpointError, match="not a checkpoint ezsr can read") as e:
            read_state_dict(tmp_path / name)
        assert want in str(e.value)


# ------------------------------------------------------------------ export
def test_export_bad_files_and_options(files, tmp_path, capsys):
    out = tmp_path / "t.onnx"
    base = ["export", out, "--model", "test-tiny", "--classes", "cat,dog,car"]
    code, _, err = run(capsys, *base, "--classifier", files / "rand.pt")
    assert code == 1 and f"--classifier {files / 'rand.pt'}: not a checkpoint ezsr can read" in err
    assert_clean(err)
    code, _, err = run(capsys, *base, "--classifier", files / "runs/a/last.pt")
    assert code == 1 and "training checkpoint of `ezsr train`" in err and "--checkpoint" in err
    code, _, err = run(
        capsys, *base, "--classifier", files / "W.pt", "--checkpoint", files / "rand.pt"
    )
    assert code == 1 and "not a checkpoint ezsr can read" in err
    assert_clean(err)
    code, _, err = run(capsys, *base, "--classifier", files / "W.pt", "--opset", "99")
    assert code == 2 and "argument --opset: must be in 17.." in err and "got 99" in err
    code, _, err = run(capsys, *base[:-1], "cat,dog", "--classifier", files / "W.pt")
    assert code == 1 and "3 columns for 2 class names" in err
    assert not out.exists()


def test_export_engine_needs_tensorrt_first(files, tmp_path, capsys):
    pytest.importorskip("onnx")
    try:
        import tensorrt  # noqa: F401

        pytest.skip("TensorRT is installed")
    except ImportError:
        pass
    out = tmp_path / "t.onnx"
    code, _, err = run(
        capsys,
        "export",
        out,
        "--model",
        "test-tiny",
        "--classes",
        "cat,dog,car",
        "--classifier",
        files / "W.pt",
        "--engine",
        tmp_path / "e.plan",
    )
    assert code == 1 and "--engine: TensorRT is not installed" in err
    assert_clean(err)
    assert not out.exists()  # refused before the ONNX export


def test_export_vocabulary(files, tmp_path, capsys, monkeypatch):
    pytest.importorskip("onnx")
    monkeypatch.delenv("EZSR_CLIP_VOCAB", raising=False)
    monkeypatch.setattr("ezsr.models.tokenizer._package_vocab", lambda: None)
    monkeypatch.setenv("EZSR_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "t.onnx"
    code, _, err = run(capsys, "export", out, "--model", "ViT-B-16", "--classes", "cat,dog,car")
    assert code == 1 and "--vocab PATH" in err and "--classifier W.pt" in err
    assert "random weights" not in err  # refused before the model is built
    code, stdout, err = run(
        capsys,
        "export",
        out,
        "--model",
        "test-tiny",
        "--classes",
        "cat,dog,car",
        "--templates",
        "simple",
        "--vocab",
        files / "bpe_simple_vocab_16e6.txt.gz",
    )
    assert code == 0 and out.exists() and "wrote" in stdout, err
    import os

    assert "EZSR_CLIP_VOCAB" not in os.environ


# ------------------------------------------------------------------ eval
def test_eval_checks_before_work(files, tmp_path, capsys):
    from ezsr import io

    code, _, err = run(
        capsys, "eval", "--dataset", "n-cars", "--root", tmp_path, "--limit-per-class", "0"
    )
    assert code == 2 and "argument --limit-per-class: must be >= 1" in err
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = run(
        capsys,
        "eval",
        "--dataset",
        "n-cars",
        "--root",
        tmp_path / "nothing",
        "--json",
        blocker / "r.json",
    )
    assert code == 1 and "--json" in err and "nothing" not in err
    code, _, err = run(
        capsys,
        "eval",
        "--dataset",
        "n-cars",
        "--root",
        tmp_path,
        "--split-file",
        tmp_path / "missing.json",
    )
    assert code == 2 and "argument --split-file" in err
    # an invalid split file is refused before the (unreadable) checkpoint is touched
    root = tmp_path / "ncars" / "test"
    for cls in ("background", "cars"):
        (root / cls).mkdir(parents=True)
        io.write(root / cls / "a.npz", io.read(files / "ev.npz"))
    bad = tmp_path / "split.json"
    bad.write_text('{"seen": ["cars"], ')
    code, _, err = run(
        capsys,
        "eval",
        "--dataset",
        "n-cars",
        "--root",
        tmp_path / "ncars",
        "--split-file",
        bad,
        "--checkpoint",
        files / "rand.pt",
        "--model",
        "ViT-B/16",
    )
    assert code == 1 and f"split_file {bad}: invalid JSON" in err


def test_eval_help_mentions_cache(capsys):
    code, out, _ = run(capsys, "eval", "--help")
    assert code == 0 and "EZSR_CACHE" in out and "~/.cache/ezsr/classifiers" in out


def test_build_classifier_progress(capsys):
    from ezsr.zeroshot import build_classifier

    class Teacher:
        embed_dim = 4

        def encode_text(self, texts):
            return torch.nn.functional.normalize(torch.ones(len(texts), 4), dim=-1)

    names = [f"c{i}" for i in range(30)]
    capsys.readouterr()
    build_classifier(Teacher(), names, "openai", cache=False, progress=True)
    assert "text classifier (30 classes x 80 prompts)" in capsys.readouterr().err
    build_classifier(Teacher(), names, "openai", cache=False, progress=False)
    assert capsys.readouterr().err == ""


def test_export_a_trained_student_file(tmp_path, capsys):
    """`ezsr export --checkpoint student.pt`: the student (not --model) is exported, checked
    against the classifier's width, and ONNX Runtime agrees with PyTorch (--check)."""
    pytest.importorskip("onnxruntime")
    from ezsr.models import ProjectedEncoder, create_event_encoder, save_student

    student = ProjectedEncoder(create_event_encoder("test-tiny", in_chans=3), 32, 48)
    path = save_student(
        tmp_path / "student.pt",
        student,
        student="test-tiny",
        embed_dim=48,
        input_size=32,
        input_mode="crop",
        teacher="offline",
    )
    torch.save(torch.randn(48, 3), tmp_path / "W.pt")
    torch.save(torch.randn(32, 3), tmp_path / "W32.pt")
    base = ["export", str(tmp_path / "s.onnx"), "--checkpoint", str(path), "--classes", "a,b,c"]
    code, out, err = run(capsys, *base, "--classifier", str(tmp_path / "W32.pt"))
    assert code == 1 and "32 rows, but student" in err and "48-dim" in err
    code, out, err = run(capsys, *base, "--classifier", str(tmp_path / "W.pt"), "--check")
    assert code == 0, err
    assert "3 classes" in out and '"top1_agreement": 1.0' in out


def test_classify_with_a_trained_student_file(tmp_path, capsys):
    """`ezsr classify --checkpoint student.pt`: the student embeds the event frame at its
    input size and its teacher (offline here) embeds the class names."""
    needs_offline_extra()
    from ezsr import io
    from ezsr.events import Events
    from ezsr.models import ProjectedEncoder, create_event_encoder, save_student

    torch.manual_seed(0)
    student = ProjectedEncoder(create_event_encoder("test-tiny", in_chans=3), 32, 384)
    path = save_student(
        tmp_path / "student.pt",
        student,
        student="test-tiny",
        embed_dim=384,
        input_size=32,
        input_mode="crop",
        teacher="offline",
    )
    g = torch.Generator().manual_seed(0)
    n = 3000
    ev = Events(
        torch.randint(0, 64, (n,), generator=g),
        torch.randint(0, 48, (n,), generator=g),
        torch.arange(n) * 10,
        torch.randint(0, 2, (n,), generator=g),
        width=64,
        height=48,
    )
    rec = tmp_path / "rec.npz"
    io.write(rec, ev)
    code, out, err = run(
        capsys, "classify", rec, "--classes", "cat,dog,car", "--checkpoint", path, "--json"
    )
    assert code == 0, err
    pred = json.loads(out)
    assert sorted(pred["labels"]) == ["car", "cat", "dog"]
    assert abs(sum(pred["scores"]) - 1.0) < 1e-4
    code, out, err = run(
        capsys, "classify", rec, "--classes", "cat,dog", "--checkpoint", path, "--base", path
    )
    assert code == 1 and "--base: not used with --checkpoint" in err


def test_student_file_refuses_the_options_it_does_not_use(tmp_path, capsys):
    """A student.pt names its encoder and teacher: --model, --clip-checkpoint and --base are
    errors with it (they used to be ignored), in classify, export and stream; and in stream a
    --checkpoint that is not a student needs --model."""
    from ezsr.models import ProjectedEncoder, create_event_encoder, save_student

    student = ProjectedEncoder(create_event_encoder("test-tiny", in_chans=3), 32, 48)
    path = save_student(
        tmp_path / "student.pt",
        student,
        student="test-tiny",
        embed_dim=48,
        input_size=32,
        input_mode="crop",
        teacher="offline",
    )
    rec = tmp_path / "rec.npz"
    rec.write_bytes(b"")  # never read: the options are refused first
    for args in (
        ["classify", rec, "--classes", "a,b", "--checkpoint", path, "--model", "ViT-B/16"],
        [
            "export",
            tmp_path / "o.onnx",
            "--classes",
            "a,b",
            "--checkpoint",
            path,
            "--model",
            "ViT-B-16",
        ],
        ["stream", rec, "--classes", "a,b", "--checkpoint", path, "--clip-checkpoint", path],
    ):
        code, out, err = run(capsys, *args)
        assert code == 1 and "not used with --checkpoint" in err, (args[0], err)
    rand = tmp_path / "rand.pt"
    rand.write_bytes(bytes(range(256)) * 4)
    code, out, err = run(capsys, "stream", rec, "--classes", "a,b", "--checkpoint", rand)
    assert code == 1 and "not the student.pt" in err and "--model NAME" in err
    code, out, err = run(
        capsys, "stream", rec, "--classes", "a,b", "--checkpoint", tmp_path / "gone.pt"
    )
    assert code == 1 and "no such file" in err
