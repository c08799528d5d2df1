"""`ezsr export --model offline`: the offline default (EfficientNet-Lite0 -> ImageNet
probabilities -> ConSE combination of class-name embeddings -> logits) as one ONNX graph,
against the torch path of the streaming runtime on real event windows; and the stream runs it
under ONNX Runtime with no CLIP weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import shared_file

from ezsr.cli import main

NAMES = "cat,dog,car,airplane,bird,horse,ship,truck,frog,deer,face,cup"
RECORDINGS = [
    "n_imagenet/ezsr_test_event.npz",
    "n_caltech101/Faces_easy_0001.bin",
    "aedat4/dvxplorer_sample.aedat4",
    "aedat4/davis346_with_frames.aedat4",
    "prophesee/gen3_evt2_sample.raw",
    "aedat2/dvs128_short.aedat",
]


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    """The torch module of the streaming runtime and the exported graph, same classes."""
    from ezsr.zeroshot.loader import load_zero_shot

    try:
        zs = load_zero_shot("offline", NAMES, templates="simple")
    except (ImportError, ValueError) as exc:  # the offline extra is not installed
        pytest.skip(f"offline teacher unavailable: {exc}")
    path = tmp_path_factory.mktemp("offline") / "offline.onnx"
    assert (
        main(
            ["export", str(path), "--model", "offline", "--classes", NAMES, "--templates", "simple"]
        )
        == 0
    )
    return zs, path


def _windows():
    """15,000-event windows of real recordings (none used to build the
    model or its classifier): 49 windows of six recordings."""
    from ezsr import io

    out = []
    for rel in RECORDINGS:
        ev = io.read(shared_file(rel))
        out += [w for w in ev.count_windows(15000) if len(w) == 15000][:16]
    return out


def test_offline_graph_matches_the_torch_path_on_real_windows(offline):
    from ezsr.export.onnx_export import ort_session, read_metadata
    from ezsr.zeroshot.graph import preprocess_windows

    zs, path = offline
    meta = read_metadata(path)
    assert meta["class_names"] == NAMES.split(",") and meta["precision"] == "fp32"
    wins = _windows()
    assert len(wins) == 49
    x = torch.cat([preprocess_windows([w], "cpu") for w in wins])
    with torch.no_grad():
        ref = torch.softmax(zs.module(x).double(), 1).numpy()
    sess = ort_session(path)
    got = np.concatenate(
        [sess.run(["logits"], {"image": x[i : i + 8].numpy()})[0] for i in range(0, len(x), 8)]
    )
    got = torch.softmax(torch.from_numpy(got).double(), 1).numpy()
    agree = float((got.argmax(1) == ref.argmax(1)).mean())
    assert agree >= 0.99, agree
    assert np.abs(got - ref).max() <= 1e-4
    assert len(set(ref.argmax(1))) > 1  # the windows do not all land on one class


def test_stream_runs_the_offline_graph_under_onnxruntime(offline, tmp_path):
    zs, path = offline
    rec = shared_file("n_imagenet/ezsr_test_event.npz")
    js = tmp_path / "s.json"
    assert (
        main(
            [
                "stream",
                str(rec),
                "--onnx",
                str(path),
                "--quiet",
                "--top-k",
                "3",
                "--summary-json",
                str(js),
            ]
        )
        == 0
    )
    s = json.loads(js.read_text())
    assert s["backend"] == "onnxruntime-cpu" and s["windows"] == 7
    from ezsr import io
    from ezsr.zeroshot.graph import preprocess_windows

    ev = io.read(rec)
    x = preprocess_windows([ev.window(15000, 15000)], "cpu")
    with torch.no_grad():
        p = torch.softmax(zs.module(x).double(), 1)[0]
    d = s["decisions"][1]
    assert d["labels"][0] == zs.class_names[int(p.argmax())]
    assert d["scores"][0] == pytest.approx(float(p.max()), abs=1e-4)
