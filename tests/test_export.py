"""ONNX export: the in-graph EZSR preprocessing against an independent numpy reference and
EZSR's own picture, and ONNX Runtime vs PyTorch parity for both graphs in fp32 and fp16."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _tiny_vit import TinyViT
from conftest import shared_file

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from ezsr.export.graph import HalfEncoder  # noqa: E402
from ezsr.export.onnx_export import (  # noqa: E402
    build_classifier_module,
    example_inputs,
    export_onnx,
    ort_session,
    parity,
    read_metadata,
)
from ezsr.ops.ezsr_preprocess import CLIP_MEAN, CLIP_STD  # noqa: E402
from ezsr.zeroshot.graph import EZSRPreprocess, pad_events  # noqa: E402

H, W = 480, 640


def ezsr_reference(x, y, p, height=H, width=W, out=224, normalize=True):
    """EZSR's preprocessing steps 3-7 (docs/design.md) in numpy + F.interpolate, written independently of export/."""
    hist = np.zeros((2, height, width), np.float64)
    np.add.at(hist, ((np.asarray(p) <= 0.5).astype(int), np.asarray(y), np.asarray(x)), 1)
    nz = hist[hist > 0.1]
    if nz.size:
        hist = np.minimum(hist, np.quantile(nz, 0.75))
    hist = hist / (hist.max(axis=(1, 2), keepdims=True) + 1)
    gray = torch.from_numpy(hist.mean(0)).float()[None, None]
    if out is None:
        return gray[0, 0].numpy()
    short, long = min(height, width), max(height, width)
    size = (out, int(out * long / short)) if height <= width else (int(out * long / short), out)
    img = F.interpolate(gray, size=size, mode="nearest")
    top, left = round((size[0] - out) / 2), round((size[1] - out) / 2)
    img = img[:, :, top : top + out, left : left + out].expand(1, 3, out, out)
    if normalize:
        img = (img - torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)) / torch.tensor(CLIP_STD).view(
            1, 3, 1, 1
        )
    return img[0].numpy()


def real_window(start=26502, n=15000):
    from ezsr import io

    ev = io.read(shared_file("n_imagenet/ezsr_test_event.npz"))
    assert len(ev) == 107037 and (ev.width, ev.height) == (640, 480)
    return ev.window(start, n)


def _rows(win):
    return (
        win.x.int()[None],
        win.y.int()[None],
        win.p.int()[None],
        torch.ones(1, len(win), dtype=torch.bool),
    )


# ------------------------------------------------------------------ preprocessing
@pytest.mark.parametrize("case", ["random", "hot_pixel", "one_event", "empty_row", "out_of_range"])
def test_preprocess_matches_reference(case):
    g = np.random.default_rng(1)
    n = 3000
    x, y, p = g.integers(0, W, n), g.integers(0, H, n), g.integers(0, 2, n)
    valid = np.ones(n, bool)
    if case == "hot_pixel":  # one pixel far above the 0.75-quantile, must be clipped
        x[:800], y[:800], p[:800] = 5, 7, 1
    elif case == "one_event":
        valid[1:] = False
    elif case == "empty_row":
        valid[:] = False
    elif case == "out_of_range":  # ignored, as padding
        x[:10] = W + 3
        y[10:20] = -1
    keep = valid & (x >= 0) & (x < W) & (y >= 0) & (y < H)
    want = ezsr_reference(x[keep], y[keep], p[keep])
    pre = EZSRPreprocess((H, W))
    got = pre(*(torch.from_numpy(a)[None] for a in (x, y, p, valid)))[0].numpy()
    assert got.shape == (3, 224, 224)
    np.testing.assert_allclose(got, want, atol=1e-5)
    if case == "empty_row":
        np.testing.assert_allclose(got[0], -CLIP_MEAN[0] / CLIP_STD[0], atol=1e-6)


def test_preprocess_rows_are_independent_and_padding_is_ignored():
    g = np.random.default_rng(2)
    a = [g.integers(0, s, 1000) for s in (W, H, 2)]
    b = [g.integers(0, s, 400) for s in (W, H, 2)]
    rows = pad_events([_events(*a), _events(*b)])
    assert rows["x"].shape == (2, 1000) and rows["valid"][1].sum() == 400
    out = EZSRPreprocess((H, W))(*(torch.from_numpy(rows[k]) for k in ("x", "y", "p", "valid")))
    np.testing.assert_allclose(out[0].numpy(), ezsr_reference(*a), atol=1e-5)
    np.testing.assert_allclose(out[1].numpy(), ezsr_reference(*b), atol=1e-5)


def _events(x, y, p):
    from ezsr.events import Events

    return Events(x.astype(np.int32), y.astype(np.int32), np.arange(len(x)), p, W, H)


def test_preprocess_squash_mode():
    g = np.random.default_rng(3)
    x, y, p = g.integers(0, W, 2000), g.integers(0, H, 2000), g.integers(0, 2, 2000)
    got = EZSRPreprocess((H, W), mode="squash")(
        *(torch.from_numpy(a)[None] for a in (x, y, p)), torch.ones(1, 2000, dtype=torch.bool)
    )
    want = ezsr_reference(x * 224 // W, y * 224 // H, p, height=224, width=224)
    np.testing.assert_allclose(got[0].numpy(), want, atol=1e-5)


def test_preprocess_reproduces_ezsr_reference_png():
    """EZSR's own visualisation of the window at 26502 of the README sample, bit for bit."""
    from PIL import Image

    png = np.asarray(Image.open(shared_file("n_imagenet/ezsr_event_reference.png")))
    win = real_window()
    gray = EZSRPreprocess((H, W), out_size=None, normalize=False)(*_rows(win))[0, 0].numpy()
    v = (gray - gray.min()) / (gray.max() - gray.min())
    np.testing.assert_array_equal((v * 255).astype(np.uint8), png)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_preprocess_onnx_graph_real_window():
    """The preprocessing alone as an ONNX graph under ONNX Runtime, on the real window."""
    win = real_window()
    pre = EZSRPreprocess((H, W)).eval()
    path = "/tmp/ezsr_test_pre.onnx"
    args = example_inputs("events", batch=2, n_events=512)
    names = ["x", "y", "p", "valid"]
    torch.onnx.export(
        pre,
        args,
        path,
        input_names=names,
        output_names=["image"],
        dynamic_axes={n: {0: "b", 1: "n"} for n in names},
        opset_version=17,
        dynamo=False,
    )
    ops = {n.op_type for n in onnx.load(path).graph.node}
    assert "ScatterElements" in ops and "TopK" not in ops
    feeds = pad_events([win])
    got = ort_session(path).run(None, feeds)[0][0]
    np.testing.assert_allclose(
        got, ezsr_reference(win.x.numpy(), win.y.numpy(), win.p.numpy()), atol=1e-5
    )


# ----------------------------------------------------------------- whole graphs
@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    enc = TinyViT(out_dim=16)
    cls = F.normalize(torch.randn(16, 10), dim=0)
    return enc, cls


@pytest.mark.parametrize("kind", ["image", "events"])
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_onnx_parity_random(tiny, kind, precision, tmp_path):
    enc, cls = tiny
    names = [f"class{i}" for i in range(10)]
    path = export_onnx(
        enc, cls, tmp_path / "m.onnx", kind=kind, precision=precision, class_names=names
    )
    model = onnx.load(str(path))
    assert model.opset_import[0].version >= 17
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("LayerNormalization") == 6  # ln_pre, 2 per block x 2, ln_post
    meta = read_metadata(path)
    assert meta["class_names"] == names and meta["kind"] == kind
    module = build_classifier_module(enc, cls, kind, precision)
    # batch 3 and 5000 events: neither is the traced batch 2 / 2048 events
    r = parity(module, path, example_inputs(kind, batch=3, n_events=5000, seed=7))
    tol = 1e-3 if precision == "fp32" else 0.15  # logits are ~+-40 (scale 100)
    assert r["max_abs_diff"] < tol, r
    assert r["top1_agreement"] == 1.0, r
    if precision == "fp16":  # fp16 graph vs the fp32 torch model: same decisions
        ref = build_classifier_module(enc, cls, kind, "fp32")
        r32 = parity(ref, path, example_inputs(kind, batch=3, n_events=5000, seed=7))
        assert r32["max_abs_diff"] < 0.5 and r32["top1_agreement"] == 1.0, r32


def test_fp16_graph_keeps_layernorm_and_softmax_fp32(tiny, tmp_path):
    enc, cls = tiny
    path = export_onnx(enc, cls, tmp_path / "h.onnx", precision="fp16")
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    types = {
        v.name: v.type.tensor_type.elem_type
        for v in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output)
    }
    types.update({i.name: i.data_type for i in model.graph.initializer})
    f32, f16 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16
    seen = {"LayerNormalization": 0, "Softmax": 0, "MatMul16": 0}
    for node in model.graph.node:
        if node.op_type in ("LayerNormalization", "Softmax"):
            assert types[node.input[0]] == f32, node
            seen[node.op_type] += 1
        if node.op_type == "MatMul" and types.get(node.input[0]) == f16:
            seen["MatMul16"] += 1
    assert seen["LayerNormalization"] == 6 and seen["Softmax"] == 2 and seen["MatMul16"] >= 4
    assert types["image"] == f32 and types["logits"] == f32


def test_half_encoder_eager_close_to_fp32(tiny):
    enc, _ = tiny
    x = torch.randn(2, 3, 224, 224)
    a, b = enc(x), HalfEncoder(enc)(x)
    assert b.dtype == torch.float32
    assert (a - b).abs().max() < 2e-2 * a.abs().max()
    assert F.softmax is not None and torch.Tensor.softmax.__name__ == "softmax"  # restored


def test_onnx_parity_real_window(tiny, tmp_path):
    """Both graphs on the real N-ImageNet window: events graph == torch on the same events,
    and image graph fed with the reference preprocessing == events graph."""
    enc, cls = tiny
    win = real_window()
    ev_path = export_onnx(enc, cls, tmp_path / "e.onnx", kind="events")
    im_path = export_onnx(enc, cls, tmp_path / "i.onnx", kind="image")
    r = parity(build_classifier_module(enc, cls, "events"), ev_path, list(_rows(win)))
    assert r["max_abs_diff"] < 1e-3 and r["top1_agreement"] == 1.0, r
    feeds = pad_events([win, win.window(0, 9000)])
    ev_logits = ort_session(ev_path).run(None, feeds)[0]
    img = ezsr_reference(win.x.numpy(), win.y.numpy(), win.p.numpy())[None].astype(np.float32)
    im_logits = ort_session(im_path).run(None, {"image": img})[0]
    np.testing.assert_allclose(ev_logits[0], im_logits[0], atol=1e-3)
    assert not np.allclose(ev_logits[1], ev_logits[0], atol=1e-2)  # rows really differ


def test_export_rejects_bad_arguments(tiny, tmp_path):
    enc, cls = tiny
    with pytest.raises(ValueError, match="opset"):
        export_onnx(enc, cls, tmp_path / "a.onnx", opset=13)
    with pytest.raises(ValueError, match="class names"):
        export_onnx(enc, cls, tmp_path / "a.onnx", class_names=["a", "b"])
    with pytest.raises(ValueError, match="precision"):
        export_onnx(enc, cls, tmp_path / "a.onnx", precision="int4")
    with pytest.raises(ValueError, match="more than n"):
        pad_events([_events(np.zeros(5), np.zeros(5), np.zeros(5))], n=3)


# ------------------------------------------------------------------- TensorRT
def test_tensorrt_op_check(tiny, tmp_path):
    from onnx import TensorProto, helper

    from ezsr.export.tensorrt import check_tensorrt_support

    enc, cls = tiny
    for precision in ("fp32", "fp16"):
        img = export_onnx(enc, cls, tmp_path / f"i{precision}.onnx", precision=precision)
        assert check_tensorrt_support(img) == []
    ev = export_onnx(enc, cls, tmp_path / "e.onnx", kind="events")
    problems = check_tensorrt_support(ev)
    assert [p["op"] for p in problems] == ["ScatterElements"]  # the histogram's add-scatter
    assert "reduction='add'" in problems[0]["problem"]
    # a hand-made graph with one node of each kind of problem, one inside an If branch
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [10000])
    k = helper.make_tensor("k", TensorProto.INT64, [1], [5000])
    branch = helper.make_graph(
        [helper.make_node("Unique", ["x"], ["u"], name="inner_unique")],
        "b",
        [],
        [helper.make_tensor_value_info("u", TensorProto.FLOAT, None)],
    )
    nodes = [
        helper.make_node("TopK", ["x", "k"], ["v", "i"], name="topk"),
        helper.make_node("Det", ["x"], ["d"], name="det"),
        helper.make_node("Foo", ["x"], ["f"], name="custom", domain="my.ops"),
        helper.make_node("Relu", ["x"], ["r"], name="ok"),
        helper.make_node("If", ["c"], ["o"], name="if", then_branch=branch, else_branch=branch),
    ]
    g = helper.make_graph(
        nodes,
        "g",
        [x, helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("r", TensorProto.FLOAT, [10000])],
        [k],
    )
    got = {(p["node"], p["op"]) for p in check_tensorrt_support(helper.make_model(g))}
    assert got == {
        ("topk", "TopK"),
        ("det", "Det"),
        ("custom", "my.ops::Foo"),
        ("inner_unique", "Unique"),
    }


def test_tensorrt_build_and_run(tiny, tmp_path):
    trt = pytest.importorskip("tensorrt", reason="TensorRT is not installed (no GPU machine)")
    if not torch.cuda.is_available():
        pytest.skip("TensorRT needs a CUDA device")
    from ezsr.export.tensorrt import TensorRTRunner, build_engine

    enc, cls = tiny
    for precision, tol in (("fp32", 1e-2), ("fp16", 0.2)):
        path = export_onnx(enc, cls, tmp_path / f"{precision}.onnx", precision=precision)
        eng = build_engine(
            path, tmp_path / f"{precision}.engine", timing_cache=str(tmp_path / "cache")
        )
        runner = TensorRTRunner(eng)
        for b in (1, 4):
            x = torch.randn(b, 3, 224, 224)
            got = runner.run({"image": x.numpy()})
            want = build_classifier_module(enc, cls, "image", "fp32")(x).detach().numpy()
            assert np.abs(got - want).max() < tol and (got.argmax(1) == want.argmax(1)).all()
    assert trt.__version__


def test_tensorrt_missing_is_a_clear_error(tmp_path):
    try:
        import tensorrt  # noqa: F401

        pytest.skip("TensorRT is installed here")
    except ImportError:
        pass
    from ezsr.export.tensorrt import build_engine

    with pytest.raises(ImportError, match="TensorRT is not installed"):
        build_engine(tmp_path / "m.onnx", tmp_path / "m.engine")


def test_stream_cli_with_exported_onnx(tiny, tmp_path):
    import json

    from ezsr.cli import main

    enc, cls = tiny
    names = [f"c{i}" for i in range(10)]
    onnx_path = export_onnx(enc, cls, tmp_path / "m.onnx", kind="events", class_names=names)
    src = shared_file("n_imagenet/ezsr_test_event.npz")
    js = tmp_path / "s.json"
    rc = main(
        [
            "stream",
            str(src),
            "--backend",
            "onnxruntime",
            "--onnx",
            str(onnx_path),
            "--summary-json",
            str(js),
            "--quiet",
            "--window",
            "20000",
        ]
    )
    assert rc == 0
    s = json.loads(js.read_text())
    assert s["windows"] == 5 and s["dropped"] == 0  # 107,037 // 20,000; rest 7,037 < 10,000
    for stage in ("ingest", "preprocess", "inference", "postprocess", "age"):
        assert set(s["latency_ms"][stage]) >= {"p50", "p99"}
    assert s["classes"] == names


# -------------------------------------------------- against the kernel path (repr)
def _kernel_preprocess():
    from ezsr import ops

    return ops.ezsr_preprocess


@pytest.mark.parametrize("mode", ["crop", "squash"])
def test_graph_preprocess_matches_kernel_path(mode):
    """ezsr.zeroshot.graph.EZSRPreprocess == ezsr.ops.ezsr_preprocess on fixed-size windows."""
    fn = _kernel_preprocess()
    from ezsr.events import EventBatch

    g = np.random.default_rng(11)
    wins = []
    for n, hot in ((15000, False), (15000, True), (700, False)):
        x, y, p = g.integers(0, W, n), g.integers(0, H, n), g.integers(0, 2, n)
        if hot:
            x[:3000], y[:3000] = 100, 200
        wins.append(_events(x, y, p))
    want = fn(EventBatch.from_streams(wins), out_size=224, mode=mode)
    rows = pad_events(wins)
    got = EZSRPreprocess((H, W), mode=mode)(
        *(torch.from_numpy(rows[k]) for k in ("x", "y", "p", "valid"))
    )
    np.testing.assert_allclose(got.numpy(), want.cpu().numpy(), atol=1e-5)


def test_graph_preprocess_matches_kernel_path_real_window():
    fn = _kernel_preprocess()
    win = real_window()
    want = fn(win, out_size=224, mode="crop")
    got = EZSRPreprocess((H, W))(*_rows(win))
    np.testing.assert_allclose(got.numpy(), want.cpu().numpy(), atol=1e-5)


def test_quantile_bisection_matches_numpy_on_crowded_sensors():
    """Many events on few pixels (counts up to hundreds, heavy ties): the sort-free
    quantile equals np.quantile(non-zero entries, 0.75) exactly."""
    g = np.random.default_rng(4)
    for trial in range(40):
        h, w = int(g.integers(1, 6)), int(g.integers(1, 6))
        n = int(g.integers(1, 600))
        x, y, p = g.integers(0, w, n), g.integers(0, h, n), g.integers(0, 2, n)
        pre = EZSRPreprocess((h, w), out_size=None, normalize=False)
        hist, idx, inside = pre.histogram(
            *(torch.from_numpy(a)[None] for a in (x, y, p)), torch.ones(1, n, dtype=torch.bool)
        )
        got = float(pre.clip_value(hist, idx, inside))
        counts = np.zeros((2, h, w))
        np.add.at(counts, ((p <= 0.5).astype(int), y, x), 1)
        want = np.quantile(counts[counts > 0.1], 0.75)
        assert got == pytest.approx(want, abs=1e-9), (trial, h, w, n)


def test_ort_session_takes_providers_with_options(tmp_path):
    """Providers may come as (name, options), as the CUDA one does (device_id): the check of
    the available providers compares names; a missing provider is named."""
    pytest.importorskip("onnxruntime")
    from _tiny_vit import TinyViT

    from ezsr.export.onnx_export import export_onnx, ort_session

    path = export_onnx(
        TinyViT(out_dim=16),
        torch.nn.functional.normalize(torch.randn(16, 3), dim=0),
        tmp_path / "t.onnx",
        class_names=["a", "b", "c"],
    )
    sess = ort_session(path, [("CPUExecutionProvider", {})])
    assert sess.get_providers()[0] == "CPUExecutionProvider"
    with pytest.raises(ValueError, match="NoSuchExecutionProvider"):
        ort_session(path, [("NoSuchExecutionProvider", {}), "CPUExecutionProvider"])
