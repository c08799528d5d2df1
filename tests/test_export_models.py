"""`ezsr export` / `ezsr stream` / `ezsr demo` with the project's own models (ezsr.models):
a tiny registered CLIP config with random weights, and the offline teacher."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import shared_file

from ezsr import models
from ezsr.cli import main

onnx = pytest.importorskip("onnx")


def tiny_classifier(tmp_path, k=3):
    """A saved random [D, K] text classifier for the test-tiny tower (no CLIP vocabulary
    is available offline, so the text tower cannot run in tests)."""
    enc = models.create_event_encoder("test-tiny").eval()
    with torch.no_grad():
        d = enc(torch.zeros(1, 3, enc.image_size, enc.image_size)).shape[1]
    w = torch.nn.functional.normalize(
        torch.randn(d, k, generator=torch.Generator().manual_seed(1)), dim=0
    )
    path = tmp_path / "cls.pt"
    torch.save(w, path)
    return str(path)


def test_export_cli_tiny_clip_both_kinds(tmp_path, capsys):
    from ezsr.export.onnx_export import read_metadata

    cls = tiny_classifier(tmp_path)
    for kind in ("image", "events"):
        out = tmp_path / f"{kind}.onnx"
        rc = main(
            [
                "export",
                str(out),
                "--model",
                "test-tiny",
                "--classes",
                "cat,dog,car",
                "--classifier",
                cls,
                "--kind",
                kind,
                "--check",
            ]
        )
        assert rc == 0
        text = capsys.readouterr().out
        parity = json.loads(text.split("parity vs PyTorch:")[1].strip().splitlines()[0])
        assert parity["top1_agreement"] == 1.0 and parity["max_abs_diff"] < 1e-3
        meta = read_metadata(out)
        assert meta["class_names"] == ["cat", "dog", "car"] and meta["kind"] == kind
        assert "LayerNormalization" in {n.op_type for n in onnx.load(str(out)).graph.node}
        want = "every node is supported" if kind == "image" else "ScatterElements"
        assert want in text


def test_export_real_tower_parity(tmp_path):
    """The models engineer's ViT tower (test-tiny config) through both graphs, fp32 and
    fp16, against PyTorch on random and real inputs."""
    import torch.nn.functional as F
    from _real_data import real_rows

    from ezsr.export.onnx_export import build_classifier_module, export_onnx, parity

    enc = models.create_event_encoder("test-tiny").eval()
    size = enc.image_size
    with torch.no_grad():
        d = enc(torch.zeros(1, 3, size, size)).shape[1]
    cls = F.normalize(torch.randn(d, 7, generator=torch.Generator().manual_seed(0)), dim=0)
    for kind in ("image", "events"):
        for precision, tol in (("fp32", 1e-3), ("fp16", 0.15)):
            path = export_onnx(
                enc,
                cls,
                tmp_path / f"{kind}{precision}.onnx",
                kind=kind,
                precision=precision,
                out_size=size,
            )
            module = build_classifier_module(enc, cls, kind, precision, out_size=size)
            from ezsr.export.onnx_export import example_inputs

            r = parity(
                module, path, example_inputs(kind, batch=3, n_events=4000, seed=2, out_size=size)
            )
            assert r["max_abs_diff"] < tol and r["top1_agreement"] == 1.0, (kind, precision, r)
            if kind == "events":
                r = parity(module, path, real_rows())
                assert r["max_abs_diff"] < tol and r["top1_agreement"] == 1.0, r


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_stream_cli_tiny_clip(tmp_path, backend):
    src = shared_file("n_imagenet/ezsr_test_event.npz")
    js = tmp_path / "s.json"
    rc = main(
        [
            "stream",
            str(src),
            "--model",
            "test-tiny",
            "--classes",
            "cat,dog,car",
            "--classifier",
            tiny_classifier(tmp_path),
            "--backend",
            backend,
            "--device",
            "cpu",
            "--quiet",
            "--summary-json",
            str(js),
        ]
    )
    assert rc == 0
    s = json.loads(js.read_text())
    assert s["windows"] == 7 and s["dropped"] == 0 and s["events"] == 107037
    assert s["latency_ms"]["inference"]["p50"] > 0


def test_export_cli_rejects_mismatched_classifier(tmp_path, capsys):
    rc = main(
        [
            "export",
            str(tmp_path / "m.onnx"),
            "--model",
            "test-tiny",
            "--classes",
            "a,b",
            "--classifier",
            tiny_classifier(tmp_path, k=3),
        ]
    )
    assert rc == 1 and "3 columns for 2 class names" in capsys.readouterr().err
