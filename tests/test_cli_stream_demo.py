"""`ezsr stream` and `ezsr demo` on the command line (in-process, through ezsr.cli.main):
the backend implied by --onnx / --engine, option checks before any work, and errors that
name the option or file."""

import json
import re
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ezsr import Events, io
from ezsr.cli import main
from ezsr.streaming.demo import synthetic_events


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A small recording, an empty one, ONNX files with 3 and 1 classes, bad inputs."""
    from _tiny_vit import TinyViT

    from ezsr.export.onnx_export import export_onnx

    d = tmp_path_factory.mktemp("cli")
    rec, empty = d / "rec.npz", d / "empty.npz"
    io.write(rec, synthetic_events(height=48, width=64, frames=8, threshold=0.02))
    z = np.zeros(0)
    io.write(
        empty,
        Events(
            z.astype(np.int16), z.astype(np.int16), z.astype(np.int64), z.astype(np.uint8), 64, 48
        ),
    )
    enc = TinyViT(out_dim=16)
    cls = F.normalize(torch.randn(16, 3, generator=torch.Generator().manual_seed(0)), dim=0)
    tiny = export_onnx(enc, cls, d / "tiny.onnx", class_names=["a", "b", "c"])
    one = export_onnx(enc, cls[:, :1], d / "one.onnx", class_names=["cat"])
    rand = d / "rand.pt"
    rand.write_bytes(np.random.default_rng(0).bytes(2000))
    w = d / "W.pt"
    torch.save(torch.randn(32, 3), w)
    names = d / "names.txt"
    names.write_text("cat\ndog\n")
    paths = {
        "rec": rec,
        "empty": empty,
        "tiny": tiny,
        "one": one,
        "rand": rand,
        "w": w,
        "names": names,
        "dir": d,
    }
    return {k: str(v) for k, v in paths.items()}


def _stream(files, *extra):
    return ["stream", files["rec"], "--window", "3000", "--quiet", *extra]


def test_onnx_implies_the_onnxruntime_backend(files, tmp_path):
    js = tmp_path / "new" / "s.json"  # the folder is created at the start
    assert (
        main(
            _stream(files, "--onnx", files["tiny"], "--max-windows", "1", "--summary-json", str(js))
        )
        == 0
    )
    s = json.loads(js.read_text())
    assert s["backend"].startswith("onnxruntime") and s["windows"] == 1
    assert s["classes"] == ["a", "b", "c"]
    # --max-windows 0 (the default) recognises every window
    assert (
        main(
            _stream(files, "--onnx", files["tiny"], "--max-windows", "0", "--summary-json", str(js))
        )
        == 0
    )
    assert json.loads(js.read_text())["windows"] > 1


def test_threads_set_onnxruntimes_pool_which_never_spins(files, tmp_path, monkeypatch):
    from ezsr.commands import stream as stream_cmd
    from ezsr.export.runners import OnnxRuntimeRunner

    made = []
    real_init = OnnxRuntimeRunner.__init__

    def spy(self, *a, **k):
        real_init(self, *a, **k)
        made.append(self.session.get_session_options())

    monkeypatch.setattr(OnnxRuntimeRunner, "__init__", spy)
    js = tmp_path / "s.json"
    argv = _stream(files, "--onnx", files["tiny"], "--threads", "1", "--summary-json", str(js))
    assert main(argv) == 0 and json.loads(js.read_text())["windows"] > 1
    opts = made[-1]
    assert opts.intra_op_num_threads == 1
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert main(_stream(files, "--onnx", files["tiny"], "--max-windows", "1")) == 0
    assert made[-1].intra_op_num_threads == 0  # offline: ONNX Runtime's default, every core
    assert made[-1].get_session_config_entry("session.intra_op.allow_spinning") == "0"
    argv = _stream(files, "--onnx", files["tiny"], "--realtime", "--speed", "50")
    assert main(argv) == 0
    assert made[-1].intra_op_num_threads == stream_cmd.model_threads(True)  # live


def test_torch_threads_are_set_for_the_stream_and_restored(files, monkeypatch):
    before = torch.get_num_threads()
    calls = []
    real = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: (calls.append(n), real(n)))
    model = ["--backend", "torch", "--model", "test-tiny", "--classifier", files["w"]]
    argv = _stream(files, *model, "--classes", "a,b,c", "--threads", "1", "--max-windows", "2")
    assert main(argv) == 0
    assert calls[0] == 1 and torch.get_num_threads() == before


@pytest.mark.parametrize("cores, threads", [(1, 1), (2, 1), (8, 7)])
def test_a_live_model_leaves_a_core_to_decoding(monkeypatch, cores, threads):
    from ezsr.commands import stream as stream_cmd

    monkeypatch.setattr(torch, "get_num_threads", lambda: cores)  # physical cores
    assert stream_cmd.model_threads(True) == threads
    assert stream_cmd.model_threads(False) is None  # offline: the library's default


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--onnx", "T", "--backend", "torch"), "--backend torch conflicts with --onnx"),
        (
            ("--engine", "x.engine", "--backend", "onnxruntime"),
            "--backend onnxruntime conflicts with --engine x.engine",
        ),
        (("--onnx", "T", "--classes", "a,b"), "K=3 logits, 2 class name(s)"),
        (("--onnx", "RAND"), "not an ONNX model"),
        (("--onnx", "missing.onnx"), "--onnx missing.onnx: no such file"),
        (("--backend", "tensorrt"), "--backend tensorrt needs --engine FILE"),
        (("--window", "0"), "--window 0 (time windows only) needs --dt-us"),
        (("--stride", "5000"), "--stride 5000 must be <= --window 3000"),
        (("--window", "0", "--dt-us", "1000", "--stride", "5"), "--stride needs count windows"),
        (
            ("--onnx", "T", "--model", "ViT-B-16", "--checkpoint", "RAND"),
            "--model, --checkpoint: not used with --onnx",
        ),
    ],
)
def test_stream_errors_name_the_options(files, capsys, extra, message):
    extra = [files["tiny"] if a == "T" else files["rand"] if a == "RAND" else a for a in extra]
    assert main(_stream(files, *extra)) == 1
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("cmd", ["stream", "demo"])
@pytest.mark.parametrize(
    "extra, message",
    [
        (("--classes", ""), "argument --classes: no class names"),
        (("--classes", " , "), "argument --classes: no class names"),
        (("--classes", "@missing.txt"), "class list file missing.txt does not exist"),
        (("--top-k", "0"), "argument --top-k: must be >= 1"),
        (("--max-windows", "-1"), "argument --max-windows: must be >= 0"),
    ],
)
def test_argparse_rejects_before_any_work(files, capsys, cmd, extra, message):
    with pytest.raises(SystemExit) as e:
        main([cmd, files["rec"], *extra])
    assert e.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--chunk-us", "0"), "argument --chunk-us: must be >= 1"),
        (("--dt-us", "0"), "argument --dt-us: must be >= 1"),
        (("--stride", "0"), "argument --stride: must be >= 1"),
        (("--smoothing", "1"), "argument --smoothing: must be in [0, 1)"),
        (("--speed", "0"), "argument --speed: must be a finite number > 0"),
        (("--window", "-1"), "argument --window: must be >= 0"),
    ],
)
def test_stream_argparse_checks(files, capsys, extra, message):
    with pytest.raises(SystemExit):
        main(_stream(files, *extra))
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--backend", "onnxruntime"), "argument --backend: the demo runs the offline model"),
        (("--window", "0"), "argument --window: must be >= 1"),
    ],
)
def test_demo_argparse_checks(files, capsys, extra, message):
    with pytest.raises(SystemExit):
        main(["demo", *extra])
    assert message in capsys.readouterr().err


def test_classifier_rows_must_match_the_model(files, capsys, monkeypatch):
    class Teacher:  # the offline teacher's embedding size, without loading it
        embed_dim = 384

    import ezsr.models

    monkeypatch.setattr(ezsr.models, "create_teacher", lambda *a, **k: Teacher())
    assert main(_stream(files, "--classifier", files["w"], "--classes", "cat,dog,car")) == 1
    assert (
        f"--classifier {files['w']} has D=32 rows; model 'offline' embeds 384"
        in capsys.readouterr().err
    )
    assert main(_stream(files, "--classifier", files["rand"], "--classes", "cat,dog,car")) == 1
    assert "not a torch.save'd" in capsys.readouterr().err


def test_empty_recording_is_an_error(files, capsys):
    assert main(["stream", files["empty"], "--onnx", files["tiny"]]) == 1
    assert f"{files['empty']}: 0 events; nothing to recognise" in capsys.readouterr().err
    assert main(["demo", files["empty"]]) == 1
    assert f"{files['empty']}: 0 events; nothing to recognise" in capsys.readouterr().err


def test_one_class_warns(files, capsys):
    assert main(_stream(files, "--onnx", files["one"], "--max-windows", "1")) == 0
    assert "one class (cat) always wins" in capsys.readouterr().err


class DummyRunner:
    """Stands in for the offline model: constant logits."""

    name, device = "torch", "cpu"

    def __init__(self, names):
        self.class_names = list(names)

    def preprocess(self, windows):
        return None

    def infer(self, x):
        return np.arange(len(self.class_names), dtype=np.float32)[None]


def test_demo_prints_the_names_read_and_checks_first(files, capsys, tmp_path, monkeypatch):
    from ezsr.commands import stream

    monkeypatch.setattr(stream, "make_runner", lambda args, live=False: DummyRunner(args.classes))
    js = tmp_path / "sub" / "s.json"
    assert (
        main(
            [
                "demo",
                files["rec"],
                "--classes",
                "@" + files["names"],
                "--window",
                "3000",
                "--max-windows",
                "1",
                "--summary-json",
                str(js),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "classes: cat, dog" in out and json.loads(js.read_text())["windows"] == 1
    assert main(["demo", files["rec"], "--classes", "cat", "--max-windows", "1"]) == 0
    assert "one class (cat) always wins" in capsys.readouterr().err
    assert main(["demo", files["rec"], "--source", "synthetic"]) == 1
    assert "or --source synthetic, not both" in capsys.readouterr().err
    assert main(["demo", "--summary-json", files["dir"]]) == 1  # before the simulation
    assert f"--summary-json {files['dir']}: is a folder" in capsys.readouterr().err


class SlowBatchRunner(DummyRunner):
    """Constant logits for every window of a call; 5 ms a call, so windows queue up."""

    def preprocess(self, windows):
        return len(windows)

    def infer(self, n):
        time.sleep(0.005)
        return np.tile(np.arange(len(self.class_names), dtype=np.float32), (n, 1))


def test_stream_max_batch_decides_waiting_windows_together(files, capsys, monkeypatch):
    from ezsr.commands import stream

    monkeypatch.setattr(
        stream, "make_runner", lambda args, live=False: SlowBatchRunner(["cat", "dog"])
    )
    argv = ["stream", files["rec"], "--classes", "cat,dog", "--window", "500", "--quiet"]
    assert main([*argv, "--max-batch", "4"]) == 0
    out = capsys.readouterr().out
    calls = re.search(r"(\d+) model calls for (\d+) windows \(up to (\d) a call\)", out)
    assert calls, out
    n_calls, n_windows, most = (int(v) for v in calls.groups())
    assert n_calls < n_windows and 1 < most <= 4
    assert f"windows {n_windows}, dropped 0" in out
    with pytest.raises(SystemExit):
        main([*argv, "--max-batch", "0"])
    assert "argument --max-batch: must be >= 1, got 0" in capsys.readouterr().err
