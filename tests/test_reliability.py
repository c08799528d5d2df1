"""Input edge cases that used to crash or give silently wrong results: empty blocks in time
chunking, Events indexing with numpy/torch integers, huge --window values, TensorRT class
names beside the engine."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

from ezsr import Events, io


# ------------------------------------------------------------- empty blocks (AEDAT 3.1)
def _pol(x, y, p, valid, ts):
    return struct.pack("<Ii", (x << 17) | (y << 2) | (p << 1) | valid, ts)


def _packet(events, overflow=0):
    body = b"".join(_pol(*e) for e in events)
    n = len(events)
    return struct.pack("<hhiiiiii", 1, 0, 8, 4, overflow, n, n, sum(e[3] for e in events)) + body


def aedat3_with_empty_first_packets(path, n=3000, seed=0):
    """AEDAT 3.1: a packet of no events and one of only invalid events first, then n valid
    events in packets of 500 (DVS128). Returns the valid events as (x, y, p, t) arrays."""
    rng = np.random.default_rng(seed)
    x, y = rng.integers(0, 128, n), rng.integers(0, 128, n)
    p, t = rng.integers(0, 2, n), np.sort(rng.integers(10_000, 60_000, n))
    data = b"#!AER-DAT3.1\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n"
    data += _packet([])
    data += _packet([(1, 2, 1, 0, 5), (3, 4, 0, 0, 6)])  # every event invalid
    for i in range(0, n, 500):
        data += _packet(
            [(int(x[k]), int(y[k]), int(p[k]), 1, int(t[k])) for k in range(i, min(n, i + 500))]
        )
        if i == 1000:
            data += _packet([])  # an empty one in the middle
    path.write_bytes(data)
    return x, y, p, t


def test_time_chunks_of_a_file_whose_first_packets_are_empty(tmp_path):
    path = tmp_path / "empty_first.aedat3"
    x, y, p, t = aedat3_with_empty_first_packets(path)
    whole = io.read(path)
    assert whole.t.tolist() == t.tolist() and whole.x.tolist() == x.tolist()
    for dt in (1000, 7777, 10**6):
        chunks = list(io.iter_chunks(path, dt_us=dt))
        want = list(whole.time_windows(dt))
        assert [len(c) for c in chunks] == [len(w) for w in want]
        assert torch.equal(torch.cat([c.t for c in chunks]), whole.t)
        assert chunks[0].t_first == int(t[0])
    assert sum(len(c) for c in io.iter_chunks(path, n_events=700)) == len(t)


def test_chunk_blocks_skips_leading_empty_blocks():
    from ezsr.io._stream import chunk_blocks

    def cols(ts):
        k = len(ts)
        return (
            np.zeros(k, np.int16),
            np.zeros(k, np.int16),
            np.asarray(ts, np.int64),
            np.ones(k, np.uint8),
        )

    blocks = [cols([]), cols([]), cols([5, 6, 20]), cols([]), cols([47])]
    got = [c.t.tolist() for c in chunk_blocks(iter(blocks), None, 10, 4, 4, "user")]
    assert got == [[5, 6], [20], [], [], [47]]  # windows from the first event, 10 us each
    assert list(chunk_blocks(iter([cols([]), cols([])]), None, 10, 4, 4, "user")) == []


def test_stream_command_reads_a_file_whose_first_packets_are_empty(tmp_path, monkeypatch, capsys):
    import json

    from ezsr.cli import main
    from ezsr.commands import stream

    class ConstantRunner:
        name, device = "torch", "cpu"

        def __init__(self, names):
            self.class_names = list(names)

        def preprocess(self, windows):
            return None

        def infer(self, x):
            return np.arange(len(self.class_names), dtype=np.float32)[None]

    path = tmp_path / "empty_first.aedat3"
    _, _, _, t = aedat3_with_empty_first_packets(path)
    monkeypatch.setattr(stream, "make_runner", lambda args, live=False: ConstantRunner(["a", "b"]))
    js = tmp_path / "s.json"
    assert (
        main(
            [
                "stream",
                str(path),
                "--window",
                "1000",
                "--chunk-us",
                "500",
                "--quiet",
                "--summary-json",
                str(js),
            ]
        )
        == 0
    )
    s = json.loads(js.read_text())
    assert s["events"] == len(t) and s["windows"] >= 1


# ------------------------------------------------------------------ Events indexing
def _ev():
    return Events([3, 1, 4, 1, 5], [9, 2, 6, 5, 3], [10, 20, 30, 40, 50], [1, 0, 1, 1, 0], 8, 10)


@pytest.mark.parametrize(
    "i",
    [
        2,
        -1,
        np.int64(2),
        np.int32(-1),
        np.uint8(0),
        torch.tensor(2),
        torch.tensor(-1, dtype=torch.int32),
        np.array(3),
    ],
)
def test_events_index_by_any_integer_is_one_event(i):
    ev = _ev()
    got = ev[i]
    k = int(i)
    want = ev[slice(k, k + 1 if k != -1 else None)]
    assert len(got) == 1 and got.x.dim() == 1
    for c in ("x", "y", "t", "p"):
        assert torch.equal(getattr(got, c), getattr(want, c))
    got.validate()
    assert (got.width, got.height) == (8, 10)


def test_events_wrap_shares_the_columns_and_equals_the_checked_constructor():
    g = np.random.default_rng(3)
    x, y = g.integers(0, 640, 50).astype(np.int16), g.integers(0, 480, 50).astype(np.int16)
    t, p = np.sort(g.integers(0, 10**6, 50)), g.integers(0, 2, 50).astype(np.uint8)
    wrapped = Events.wrap(x, y, t, p, 640, 480)
    checked = Events(x, y, t, p, 640, 480)
    for c in ("x", "y", "t", "p"):
        a, b = getattr(wrapped, c), getattr(checked, c)
        assert a.dtype == b.dtype and torch.equal(a, b)
    assert (wrapped.width, wrapped.height, wrapped.size_source) == (640, 480, "user")
    x[0] = 7  # no copy: the numpy column is the tensor's memory
    assert int(wrapped.x[0]) == 7
    tx = torch.from_numpy(x)
    assert Events.wrap(tx, y, t, p, 640, 480).x is tx  # tensors pass as they are
    wrapped.validate()


def test_events_index_by_arrays_masks_and_lists():
    ev = _ev()
    assert ev[np.array([4, 0])].t.tolist() == [50, 10]
    assert ev[torch.tensor([1, 1], dtype=torch.int32)].x.tolist() == [1, 1]
    assert ev[[0, 2]].t.tolist() == [10, 30] and len(ev[[]]) == 0
    assert ev[ev.p == 1].t.tolist() == [10, 30, 40]
    assert ev[np.array([True, False, False, False, True])].t.tolist() == [10, 50]
    assert ev[1:3].t.tolist() == [20, 30]


@pytest.mark.parametrize(
    "i, err, msg",
    [
        (5, IndexError, "index 5 out of range for 5 events"),
        (np.int64(-6), IndexError, "index -6 out of range"),
        (torch.tensor(7), IndexError, "index 7 out of range"),
        (True, TypeError, "got bool"),
        (np.bool_(True), TypeError, "got bool"),
        (torch.tensor(True), TypeError, "1-D bool or integer"),
        (1.0, TypeError, "got float"),
        (torch.tensor(1.0), TypeError, "1-D bool or integer"),
        (torch.zeros(2, 2, dtype=torch.long), TypeError, "of shape (2, 2)"),
        (np.array([0.5]), TypeError, "float64"),
        ((0, 1), TypeError, "got tuple"),
        (None, TypeError, "got NoneType"),
        (torch.tensor([True, False]), IndexError, "mask of 2 entries for 5 events"),
    ],
)
def test_events_bad_index_is_a_clear_error(i, err, msg):
    with pytest.raises(err, match=msg.replace("(", r"\(").replace(")", r"\)")):
        _ev()[i]


# ------------------------------------------------------------------ huge --window
HUGE = str(10**12)  # 13 TB of ring buffer if it were allocated


class ConstantRunner:
    """Stands in for a model: constant logits."""

    name, device = "torch", "cpu"

    def __init__(self, names):
        self.class_names = list(names)

    def preprocess(self, windows):
        self.last = [len(w) for w in windows] if isinstance(windows, list) else windows
        return None

    def infer(self, x):
        return np.arange(len(self.class_names), dtype=np.float32)[None]


@pytest.fixture
def small_rec(tmp_path):
    rng = np.random.default_rng(1)
    n = 5000
    ev = Events(
        rng.integers(0, 64, n).astype(np.int16),
        rng.integers(0, 48, n).astype(np.int16),
        np.sort(rng.integers(0, 100_000, n)),
        rng.integers(0, 2, n).astype(np.uint8),
        64,
        48,
    )
    path = tmp_path / "rec.raw"
    io.write(path, ev, format="evt3")
    return path, ev


def test_stream_and_demo_bound_a_huge_window_by_the_recording(
    small_rec, tmp_path, monkeypatch, capsys
):
    import json

    from ezsr.cli import main
    from ezsr.commands import stream

    path, ev = small_rec
    monkeypatch.setattr(stream, "make_runner", lambda args, live=False: ConstantRunner(["a", "b"]))
    js = tmp_path / "s.json"
    assert main(["stream", str(path), "--window", HUGE, "--quiet", "--summary-json", str(js)]) == 0
    err = capsys.readouterr().err
    assert (
        f"note: --window {HUGE} is larger than {path} (5000 events); using --window 5000" in err
        and err.count("note:") == 1
    )
    s = json.loads(js.read_text())
    assert s["windows"] == 1 and s["events"] == 5000
    assert (
        main(
            [
                "demo",
                str(path),
                "--classes",
                "a,b",
                "--window",
                HUGE,
                "--max-windows",
                "0",
                "--summary-json",
                str(js),
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert f"--window {HUGE} is larger than {path} (5000 events)" in err
    assert json.loads(js.read_text())["windows"] == 1


def test_show_and_classify_say_when_the_window_is_the_whole_recording(
    small_rec, tmp_path, monkeypatch, capsys
):
    from PIL import Image

    import ezsr.zeroshot
    from ezsr.cli import main
    from ezsr.commands import _teacher_args
    from ezsr.render import render

    path, ev = small_rec
    out = tmp_path / "w.png"
    assert main(["show", str(path), "-o", str(out), "--window", HUGE]) == 0
    cap = capsys.readouterr()
    assert f"--window {HUGE} is larger than {path} (5000 events)" in cap.err
    assert "events [0, 5000)" in cap.out
    assert np.array_equal(np.array(Image.open(out)), render(ev, "ezsr"))

    seen = {}

    def fake_classify(events, names, teacher, **kw):
        seen.update(kw, n=len(events))
        return ezsr.zeroshot.Prediction(list(names), [0.5, 0.5])

    monkeypatch.setattr(_teacher_args, "teacher_from_args", lambda args, quiet: (None, None))
    monkeypatch.setattr(ezsr.zeroshot, "classify", fake_classify)
    assert main(["classify", str(path), "--classes", "a,b", "--window", HUGE]) == 0
    assert f"--window {HUGE} is larger than {path} (5000 events)" in capsys.readouterr().err
    assert seen["window"] == 5000 and seen["n"] == 5000


# ------------------------------------------------------------- TensorRT class names
@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny ONNX classifier with class names in its metadata, and an 'engine' built from it
    by build_engine with TensorRT faked at its module boundary (TensorRT is not installed
    here): the real build_engine code runs, the fake builder returns fixed bytes."""
    from unittest import mock

    import torch.nn.functional as F
    from _tiny_vit import TinyViT

    from ezsr.export import tensorrt as T
    from ezsr.export.onnx_export import export_onnx

    d = tmp_path_factory.mktemp("trt")
    names = ["cat", "dog", "car"]
    enc = TinyViT(out_dim=16)
    cls = F.normalize(torch.randn(16, 3, generator=torch.Generator().manual_seed(0)), dim=0)
    onnx_path = export_onnx(enc, cls, d / "m.onnx", class_names=names)
    trt = mock.MagicMock()
    net = trt.Builder.return_value.create_network.return_value
    net.num_inputs = 1
    net.get_input.return_value.shape = (1, 3, 224, 224)
    trt.Builder.return_value.build_serialized_network.return_value = b"FAKE ENGINE BYTES"
    with mock.patch.object(T, "_trt", lambda: trt):
        engine = T.build_engine(onnx_path, d / "m.engine")
    return d, names, engine


def test_engine_sidecar_carries_the_class_names(exported):
    import json

    from ezsr.export import tensorrt as T

    d, names, engine = exported
    assert engine.read_bytes() == b"FAKE ENGINE BYTES"
    meta = json.loads(T.metadata_path(engine).read_text())
    assert T.metadata_path(engine) == d / "m.engine.json"
    assert meta["class_names"] == names and meta["engine_bytes"] == 17
    assert T.engine_class_names(engine) == names
    assert T.engine_class_names(engine, names) == names


@pytest.mark.parametrize(
    "given, msg",
    [
        (["dog", "cat", "car"], "differ at position 0"),
        (["cat", "dog"], "exported for 3 classes .* the 2 given differ at position 2"),
        ([f"c{i}" for i in range(10)], "the 10 given differ"),
    ],
)
def test_engine_refuses_other_class_names(exported, given, msg):
    from ezsr.export import tensorrt as T

    _, _, engine = exported
    with pytest.raises(ValueError, match=msg):
        T.engine_class_names(engine, given)


def test_engine_without_or_with_a_foreign_sidecar(exported, tmp_path):
    from ezsr.export import tensorrt as T

    d, names, engine = exported
    bare = tmp_path / "bare.engine"
    bare.write_bytes(b"x")
    with pytest.raises(ValueError, match="bare.engine.json is missing"):
        T.engine_class_names(bare)
    assert T.engine_class_names(bare, ["a", "b"]) == ["a", "b"]
    other = tmp_path / "other.engine"
    other.write_bytes(b"FAKE ENGINE BYTEZ")  # same size, other content
    T.metadata_path(other).write_text(T.metadata_path(engine).read_text())
    with pytest.raises(ValueError, match="describes another engine"):
        T.engine_class_names(other)
    T.metadata_path(other).write_text("{not json")
    with pytest.raises(ValueError, match="other.engine.json: not the JSON metadata"):
        T.engine_class_names(other)


def test_stream_engine_uses_the_sidecar_names(exported, small_rec, tmp_path, monkeypatch, capsys):
    import json

    from ezsr.cli import main
    from ezsr.export import tensorrt as T

    _, names, engine = exported

    class FakeEngine:  # the TensorRT engine runner (needs TensorRT and a GPU)
        outputs = ["logits"]

        def __init__(self, path, profile=None, device="cuda"):
            self.engine = self

        def get_tensor_shape(self, name):
            return (1, len(names))

        def run(self, feeds):
            return np.array([[0.0, 2.0, 1.0]], np.float32)

    monkeypatch.setattr(T, "TensorRTRunner", FakeEngine)
    path, _ = small_rec
    js = tmp_path / "s.json"
    assert (
        main(
            [
                "stream",
                str(path),
                "--engine",
                str(engine),
                "--device",
                "cpu",
                "--window",
                "2000",
                "--max-windows",
                "1",
                "--summary-json",
                str(js),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert json.loads(js.read_text())["classes"] == names and "dog 0.6" in out
    assert (
        main(
            [
                "stream",
                str(path),
                "--engine",
                str(engine),
                "--device",
                "cpu",
                "--classes",
                "a,b,c",
                "--quiet",
            ]
        )
        == 1
    )
    assert "exported for 3 classes (cat, dog, car" in capsys.readouterr().err
