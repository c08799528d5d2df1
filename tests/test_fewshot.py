"""Few-shot adaptation (EventCLIP's adapter): learning on synthetic recordings of known
classes with a tiny frozen encoder, adapter files, EventCLIP split files, ONNX parity."""

from __future__ import annotations

import pickle

import pytest
import torch
import torch.nn.functional as F

from ezsr import Events, io
from ezsr.zeroshot.fewshot import (
    AdapterConfig,
    FewShotHead,
    TrainConfig,
    adapt,
    draw_split,
    embed_recordings,
    load_adapter,
    lr_at,
    predict,
    read_eventclip_split,
    save_adapter,
    train_adapter,
)

W, H = 64, 48
CLASSES = ["airplanes", "anchor", "ant", "barrel"]  # N-Caltech101 folders (101 classes in all)


def shape_events(kind: int, seed: int, n: int = 2500) -> Events:
    """A recording of shape `kind` (0 horizontal bar, 1 vertical bar, 2 ring, 3 diagonal)
    at a random offset, with 10 % uniform noise events."""
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(n, generator=g)
    dx, dy = (torch.randint(-5, 6, (2,), generator=g)).tolist()
    cx, cy = W / 2 + dx, H / 2 + dy
    if kind == 0:
        x, y = cx - 14 + 28 * u, cy + 3 * torch.randn(n, generator=g)
    elif kind == 1:
        x, y = cx + 3 * torch.randn(n, generator=g), cy - 14 + 28 * u
    elif kind == 2:
        a = 6.2832 * u
        x, y = cx + 11 * a.cos(), cy + 11 * a.sin()
    else:
        x, y = cx - 12 + 24 * u, cy - 12 + 24 * u
    noise = torch.rand(n, generator=g) < 0.1
    x = torch.where(noise, torch.rand(n, generator=g) * W, x).round().long().clamp(0, W - 1)
    y = torch.where(noise, torch.rand(n, generator=g) * H, y).round().long().clamp(0, H - 1)
    x[0], y[0], x[-1], y[-1] = 0, 0, W - 1, H - 1  # fixes the sensor size readers infer
    return Events(
        x,
        y,
        torch.arange(n, dtype=torch.int64) * 10,
        torch.randint(0, 2, (n,), generator=g),
        width=W,
        height=H,
    )


class TinyTeacher:
    """A tiny frozen encoder built here: the EZSR frame average-pooled to 8 x 8, centred,
    through a fixed random projection to 32 dims. Texts: fixed random unit vectors (so the
    zero-shot classifier knows nothing about the shapes)."""

    name, cache_key, image_size, embed_dim = "tiny-test", None, 32, 32

    def __init__(self):
        self.proj = torch.randn(64, 32, generator=torch.Generator().manual_seed(0))

    @torch.no_grad()
    def encode_normalized(self, x):
        f = F.avg_pool2d(x[:, :1], 4).flatten(1)  # [B, 64]
        return F.normalize((f - f.mean(1, keepdim=True)) @ self.proj, dim=-1)

    def encode_text(self, texts):
        out = []
        for t in texts:
            g = torch.Generator().manual_seed(sum(map(ord, t)) * 7 + len(t))
            out.append(F.normalize(torch.randn(32, generator=g), dim=0))
        return torch.stack(out)


@pytest.fixture(scope="module")
def shapes_root(tmp_path_factory):
    """N-Caltech101 layout: training/<class>/*.npy (10 each), testing/<class>/*.npy (8 each)."""
    root = tmp_path_factory.mktemp("shapes")
    for split, n, off in (("training", 10, 0), ("testing", 8, 1000)):
        for k, c in enumerate(CLASSES):
            d = root / split / c
            d.mkdir(parents=True)
            for i in range(n):
                io.write(d / f"{c}_{i:03d}.npy", shape_events(k, off + 100 * k + i))
    return root


def test_lr_schedule_is_warmup_then_cosine_to_a_hundredth():
    assert lr_at(0, 100, 1.0, 0.05) == pytest.approx(0.2)
    assert lr_at(4, 100, 1.0, 0.05) == pytest.approx(1.0)
    assert lr_at(5, 100, 1.0, 0.05) == pytest.approx(1.0)
    assert lr_at(100, 100, 1.0, 0.05) == pytest.approx(0.01)


def test_head_at_init_is_zero_shot_when_the_residual_is_one():
    """r = 1 leaves the embedding unchanged: the untrained head is the zero-shot classifier."""
    g = torch.Generator().manual_seed(0)
    w = F.normalize(torch.randn(16, 5, generator=g), dim=0)
    head = FewShotHead(AdapterConfig(16, residual=1.0, width=32, heads=4, ffn=64), w).eval()
    f = torch.randn(3, 4, 16, generator=g)
    valid = torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1]], dtype=torch.bool)
    want = predict(None, [f[i][valid[i]] for i in range(3)], w, 100.0)
    torch.testing.assert_close(head(f, valid), want, rtol=1e-5, atol=1e-4)


def test_padded_views_do_not_change_a_recordings_logits():
    g = torch.Generator().manual_seed(1)
    head = FewShotHead(
        AdapterConfig(16, residual=0.5, width=32, heads=4, ffn=64), torch.randn(16, 3, generator=g)
    ).eval()
    f = torch.randn(1, 2, 16, generator=g)
    padded = torch.cat([f, 50 * torch.randn(1, 3, 16, generator=g)], 1)
    valid = torch.tensor([[True, True, False, False, False]])
    torch.testing.assert_close(head(padded, valid), head(f), rtol=1e-5, atol=1e-5)


def test_accuracy_rises_above_zero_shot_with_shots(shapes_root, tmp_path):
    """Four shapes (N-Caltech101 folders, 101-way head) through a frozen random ViT: the
    zero-shot classifier (random text) is at chance; 1 and 8 shots learn the shapes."""
    from ezsr.zeroshot.evaluate import load_dataset, make_protocol

    teacher = TinyTeacher()
    test = load_dataset("n-caltech101", shapes_root, "testing", "ezsr")
    feats = embed_recordings(
        teacher, test.samples, make_protocol("n-caltech101", "ezsr", out_size=32), progress=False
    )
    labels = torch.tensor([s.label for s in test.samples])
    from ezsr.zeroshot.classifier import build_classifier

    w = build_classifier(teacher, test.classnames, "simple")
    acc = {0: float((predict(None, feats, w).argmax(1) == labels).float().mean())}
    for k in (1, 8):
        path, rep = adapt(
            "n-caltech101",
            shapes_root,
            k,
            0,
            teacher,
            tmp_path / f"a{k}.pt",
            protocol="ezsr",
            templates="simple",
            lr=1e-3,
            epochs=30,
            workers=0,
            progress=False,
        )
        head, meta = load_adapter(path)
        assert meta["train"]["n_train"] == 4 * k and meta["train"]["shots"] == k
        acc[k] = float((predict(head, feats).argmax(1) == labels).float().mean())
    assert acc[0] <= 0.5
    assert acc[1] > acc[0] + 0.2
    assert acc[8] >= 0.75 and acc[8] >= acc[1]


def test_adapter_file_round_trip(tmp_path):
    g = torch.Generator().manual_seed(2)
    feats = [
        torch.randn(int(torch.randint(1, 4, (1,), generator=g)), 24, generator=g) for _ in range(12)
    ]
    labels = [i % 3 for i in range(12)]
    cfg = AdapterConfig(24, residual=0.8)
    head, info = train_adapter(
        feats,
        labels,
        F.normalize(torch.randn(24, 3, generator=g), dim=0),
        cfg,
        TrainConfig(lr=1e-3, epochs=3, batch_size=4),
        progress=False,
    )
    assert info["steps"] == 9
    path = save_adapter(tmp_path / "a.pt", head, ["x", "y", "z"], {"shots": 4}, ["X", "Y", "Z"])
    raw = torch.load(path, weights_only=True)  # a plain dict: no code needed to read it
    assert raw["format"] == "ezsr-adapter-1" and raw["config"]["width"] == 256
    assert raw["config"]["heads"] == 4 and raw["config"]["ffn"] == 1024
    assert raw["config"]["layers"] == 2 and raw["config"]["residual"] == 0.8
    back, meta = load_adapter(path)
    assert meta["class_names"] == ["x", "y", "z"] and meta["folders"] == ["X", "Y", "Z"]
    for (k, a), (_, b) in zip(head.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b), k
    torch.testing.assert_close(predict(back, feats), predict(head, feats), rtol=0, atol=0)
    # not an adapter file: one line naming it
    torch.save({"format": "other"}, tmp_path / "b.pt")
    with pytest.raises(ValueError, match=r"b\.pt: not an adapter file.*'other'"):
        load_adapter(tmp_path / "b.pt")
    (tmp_path / "c.pt").write_bytes(b"junk")
    with pytest.raises(ValueError, match=r"c\.pt: not an adapter file"):
        load_adapter(tmp_path / "c.pt")


def test_seeded_split_draws_k_per_class(shapes_root):
    from ezsr.zeroshot.evaluate import load_dataset

    ds = load_dataset("n-caltech101", shapes_root, "training", "ezsr")
    a, b, c = (draw_split(ds.samples, 3, s).samples for s in (0, 0, 1))
    assert [s.path for s in a] == [s.path for s in b] != [s.path for s in c]
    counts = {}
    for s in a:
        counts[s.label] = counts.get(s.label, 0) + 1
    assert sorted(counts.values()) == [3, 3, 3, 3]


def test_eventclip_split_file(shapes_root, tmp_path):
    """EventCLIP's format: pickle of {'data/N-Caltech101/training/<class>/<file>': label}."""
    from ezsr.zeroshot.evaluate import load_dataset

    ds = load_dataset("n-caltech101", shapes_root, "training", "ezsr")
    d = {
        f"data/N-Caltech101/training/{c}/{c}_00{i}.npy": 2 + j
        for j, c in enumerate(CLASSES[:2])
        for i in (1, 4)
    }
    f = tmp_path / "2shot-repeat=True.pkl"
    f.write_bytes(pickle.dumps(d))
    sp = read_eventclip_split(f, shapes_root / "training", ds.folders)
    assert [s.path.name for s in sp.samples] == [k.split("/")[-1] for k in d]
    assert [ds.folders[s.label] for s in sp.samples] == [k.split("/")[-2] for k in d]
    # anything but plain data is refused without being run
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"x": print}))
    with pytest.raises(
        ValueError, match=r"evil\.pkl: not an EventCLIP split file.*builtins\.print"
    ):
        read_eventclip_split(evil, shapes_root / "training", ds.folders)
    gone = tmp_path / "gone.pkl"
    gone.write_bytes(pickle.dumps({"a/training/ant/nope.npy": 2}))
    with pytest.raises(FileNotFoundError, match="1 of its 1 files"):
        read_eventclip_split(gone, shapes_root / "training", ds.folders)


def test_export_parity_with_the_adapter(tmp_path):
    """The ONNX graph (encoder + adapter + head) gives the torch head's logits."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    import numpy as np

    from ezsr.models import create_event_encoder
    from ezsr.zeroshot.fewshot import adapted_encoder

    torch.manual_seed(0)
    enc = create_event_encoder("test-tiny").eval()
    g = torch.Generator().manual_seed(3)
    head = FewShotHead(AdapterConfig(32, residual=0.8), torch.randn(32, 5, generator=g)).eval()
    for p in head.parameters():  # a trained-looking head: every weight non-trivial
        p.data += 0.05 * torch.randn(p.shape, generator=g)
    from ezsr.export.onnx_export import export_onnx

    enc2, cls, scale = adapted_encoder(enc, head)
    path = export_onnx(
        enc2,
        cls,
        tmp_path / "a.onnx",
        kind="image",
        scale=scale,
        class_names=list("abcde"),
        out_size=32,
    )
    x = torch.randn(3, 3, 32, 32, generator=g)
    with torch.no_grad():
        want = head(enc(x).unsqueeze(1))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-4, atol=1e-3)


def test_cli_adapt_then_eval_classify_stream_export(shapes_root, tmp_path, capsys, monkeypatch):
    """`ezsr adapt` writes an adapter; eval, classify, stream and export take it and give
    the library's numbers (random test-tiny CLIP with a tiny BPE vocabulary)."""
    import gzip
    import json

    from ezsr.cli import main
    from ezsr.models import create_model
    from ezsr.zeroshot.evaluate import load_dataset, make_protocol

    monkeypatch.setenv("EZSR_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    torch.save(create_model("test-tiny").state_dict(), tmp_path / "tiny.pt")
    vocab = tmp_path / "bpe_simple_vocab_16e6.txt.gz"
    with gzip.open(vocab, "wt", encoding="utf-8") as f:
        f.write("#version: tiny\nc a\nca t</w>\nd o\ndo g</w>\n")
    model = ["--checkpoint", tmp_path / "tiny.pt", "--model", "test-tiny", "--vocab", vocab]
    a = tmp_path / "a.pt"

    def run(*args):
        capsys.readouterr()
        code = main([str(x) for x in args])
        return code, *capsys.readouterr()

    code, out, err = run(
        "adapt",
        "--dataset",
        "n-caltech101",
        "--root",
        shapes_root,
        "--shots",
        2,
        "--protocol",
        "ezsr",
        "--epochs",
        3,
        "--templates",
        "simple",
        "-o",
        a,
        "--no-progress",
        "--workers",
        0,
        *model,
    )
    assert code == 0 and f"wrote {a}" in out and "8 recordings" in out, err
    head, meta = load_adapter(a)
    assert meta["train"]["protocol"] == "ezsr" and meta["train"]["epochs"] == 3
    assert meta["config"]["features"] == "unit" and len(meta["class_names"]) == 101

    # eval --adapter: the library's accuracy on the test folder
    code, out, err = run(
        "eval",
        "--dataset",
        "n-caltech101",
        "--root",
        shapes_root,
        "--adapter",
        a,
        "--json",
        "--no-progress",
        "--workers",
        0,
        *model,
    )
    assert code == 0, err
    rep = json.loads(out)
    from ezsr.zeroshot.loader import ModelSpec, load_teacher

    teacher = load_teacher(
        ModelSpec("test-tiny", str(tmp_path / "tiny.pt"), vocab=str(vocab))
    ).teacher
    test = load_dataset("n-caltech101", shapes_root, "testing", "ezsr")
    feats = embed_recordings(
        teacher, test.samples, make_protocol("n-caltech101", "ezsr", out_size=32), progress=False
    )
    lg = predict(head, feats)
    labels = torch.tensor([s.label for s in test.samples])
    assert rep["n"] == 32 and rep["adapter"] == str(a)
    assert rep["top1"] == pytest.approx(float((lg.argmax(1) == labels).float().mean()))

    # classify --adapter: the head's probabilities of the file's one window
    f0 = test.samples[0].path
    code, out, err = run("classify", f0, "--adapter", a, "--json", "--top", 3, *model)
    assert code == 0, err
    pred = json.loads(out)
    p, i = lg[0].softmax(-1).topk(3)
    assert pred["labels"] == [meta["class_names"][j] for j in i.tolist()]
    assert pred["scores"] == pytest.approx(p.tolist(), abs=1e-5)
    code, _, err = run("classify", f0, "--adapter", a, "--classes", "cat,dog", *model)
    assert code == 1 and "trained on 101 classes" in err

    # export --adapter --check: ONNX Runtime agrees with torch, class names from the adapter
    pytest.importorskip("onnxruntime")
    onnx_path = tmp_path / "a.onnx"
    code, out, err = run(
        "export",
        onnx_path,
        "--model",
        "test-tiny",
        "--clip-checkpoint",
        tmp_path / "tiny.pt",
        "--adapter",
        a,
        "--check",
    )
    assert code == 0 and "101 classes" in out, err
    parity = json.loads(out.split("parity vs PyTorch:", 1)[1].strip().splitlines()[0])
    assert parity["max_abs_diff"] < 1e-3, parity

    # stream --adapter (torch runner) gives the same top label as classify on each window
    code, out, err = run(
        "stream",
        f0,
        "--model",
        "test-tiny",
        "--clip-checkpoint",
        tmp_path / "tiny.pt",
        "--adapter",
        a,
        "--device",
        "cpu",
    )
    assert code == 0, err
    assert pred["labels"][0] in out


def test_view_adapter_is_eventclips_transformer_adapter():
    """ViewAdapter computes what EventCLIP's TransformerAdapter (models/adapter.py: Linear
    D->256, torch's nn.TransformerEncoder of 2 pre-LN layers, 4 heads, FFN 1024, ReLU,
    batch_first, key padding mask, Linear 256->D, r*in + (1-r)*out) computes, with the
    weights copied over."""
    from torch import nn

    from ezsr.zeroshot.fewshot import ViewAdapter

    torch.manual_seed(0)
    d, r = 48, 0.8
    layer = nn.TransformerEncoderLayer(256, 4, 1024, norm_first=True, batch_first=True)
    ref = nn.ModuleDict(
        {
            "in_proj": nn.Linear(d, 256),
            "enc": nn.TransformerEncoder(layer, 2, enable_nested_tensor=False),
            "out_proj": nn.Linear(256, d),
        }
    ).eval()
    ours = ViewAdapter(AdapterConfig(d, residual=r)).eval()
    sd = {
        "in_proj.weight": ref["in_proj"].weight,
        "in_proj.bias": ref["in_proj"].bias,
        "out_proj.weight": ref["out_proj"].weight,
        "out_proj.bias": ref["out_proj"].bias,
    }
    for i, lyr in enumerate(ref["enc"].layers):
        b = f"blocks.{i}."
        sd.update(
            {
                b + "attn.in_proj_weight": lyr.self_attn.in_proj_weight,
                b + "attn.in_proj_bias": lyr.self_attn.in_proj_bias,
                b + "attn.out_proj.weight": lyr.self_attn.out_proj.weight,
                b + "attn.out_proj.bias": lyr.self_attn.out_proj.bias,
                b + "ln_1.weight": lyr.norm1.weight,
                b + "ln_1.bias": lyr.norm1.bias,
                b + "ln_2.weight": lyr.norm2.weight,
                b + "ln_2.bias": lyr.norm2.bias,
                b + "fc1.weight": lyr.linear1.weight,
                b + "fc1.bias": lyr.linear1.bias,
                b + "fc2.weight": lyr.linear2.weight,
                b + "fc2.bias": lyr.linear2.bias,
            }
        )
    ours.load_state_dict({k: v.detach().clone() for k, v in sd.items()})
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # perturb the norms so that their affine parameters matter
        for k, v in ours.state_dict().items():
            if "ln_" in k:
                v.add_(0.1 * torch.randn(v.shape, generator=g))
        for lyr, i in zip(ref["enc"].layers, range(2)):
            lyr.norm1.weight.copy_(ours.blocks[i].ln_1.weight)
            lyr.norm1.bias.copy_(ours.blocks[i].ln_1.bias)
            lyr.norm2.weight.copy_(ours.blocks[i].ln_2.weight)
            lyr.norm2.bias.copy_(ours.blocks[i].ln_2.bias)
        f = torch.randn(3, 4, d, generator=g)
        valid = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.bool)
        y = ref["out_proj"](ref["enc"](ref["in_proj"](f), src_key_padding_mask=~valid))
        want = r * f + (1 - r) * y
        got = ours(f, valid)
    torch.testing.assert_close(got[valid], want[valid], rtol=1e-5, atol=1e-5)
