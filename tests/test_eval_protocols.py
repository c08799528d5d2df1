"""`ezsr eval` protocols: EventCLIP's frames/views against its published code, EZSR's random
window, N-ImageNet's robustness sets, and per-sample results that do not depend on the batch,
the file order or the loader workers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from _digests import assert_matches, load_digests
from conftest import shared_file

from ezsr import Events, io
from ezsr.ops import eventclip_center, eventclip_frame, eventclip_frame_starts
from ezsr.zeroshot.evaluate import (
    EVENTCLIP_SETUPS,
    N_IMAGENET_VARIANTS,
    evaluate,
    eventclip_views,
    ezsr_window,
    load_dataset,
    make_protocol,
    sample_input,
)
from tests.test_zeroshot import blob_events, run_cli, tiny_clip  # noqa: F401 (fixtures)

FIXTURES = Path(__file__).parent / "fixtures" / "eventclip"
# recording -> ezsr dataset name (EventCLIP's settings of that dataset)
RECORDINGS = {
    "n_caltech101/Faces_easy_0001.bin": "n-caltech101",
    "n_cars/sample_ncars.dat": "n-cars",
    "n_cars/ncars_obj_004397.dat": "n-cars",
    "n_imagenet/ezsr_test_event.npz": "n-imagenet",
}


@pytest.fixture(scope="module")
def published():
    return load_digests(FIXTURES / "eventclip_frames.json")


@pytest.mark.parametrize("rel", sorted(RECORDINGS))
def test_eventclip_frames_equal_published(rel, published):
    """Centring, frame split, hot-pixel statistics and white background of each dataset give
    EventCLIP's frames bit for bit (fixtures made by its own code, see the README there)."""
    dataset = RECORDINGS[rel]
    key = rel.replace("/", "__").replace(".", "_")
    setup = EVENTCLIP_SETUPS[dataset]
    ev = io.read(shared_file(rel))
    centred = eventclip_center(ev, setup.height, setup.width)
    assert [int(centred.x.min()), int(centred.y.min())] == published[key + "__shift"]
    ref = published[key]
    assert ref["shape"][0] <= setup.views  # every frame is a view: no random pick involved
    got = sample_input(ev, make_protocol(dataset, "eventclip", image_preprocess="teacher"), key=rel)
    assert_matches(got.numpy(), ref, key)  # uint8 [V, H, W], bit for bit
    # CLIP's transform of EventCLIP's RGB frames (PIL image, torchvision Resize(224, BICUBIC):
    # short side 224, long side int(224 * long / short); CenterCrop(224) at round((new-224)/2))
    from PIL import Image

    new_w, left = {"n-caltech101": (298, 37), "n-cars": (268, 22), "n-imagenet": (298, 37)}[dataset]
    want = []
    for f in got.numpy():  # = EventCLIP's frames (checked above)
        im = Image.fromarray(np.repeat(f[..., None], 3, axis=2)).resize((new_w, 224), Image.BICUBIC)
        a = np.asarray(im.crop((left, 0, left + 224, 224))).astype(np.float32) / 255
        mean = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
        std = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
        want.append(((a - mean) / std).transpose(2, 0, 1))
    pil = sample_input(ev, make_protocol(dataset, "eventclip"), key=rel)
    np.testing.assert_array_equal(pil.numpy(), np.stack(want))
    # the other hot-pixel statistics reproduce EventCLIP's flipped count_non_zero
    from ezsr import EventBatch

    other = "all" if setup.hot_pixel_stats == "nonzero" else "nonzero"
    batch = EventBatch.from_windows(
        centred, eventclip_frame_starts(len(ev), setup.frame_events), setup.frame_events
    )
    swapped = eventclip_frame(batch, setup.white_background, other)[:, 0].to(torch.uint8)
    assert published[key + "_swapped"]["sha256"] != ref["sha256"]  # the option changes it
    assert_matches(swapped.numpy(), published[key + "_swapped"], key + "_swapped")


def test_eventclip_frame_starts_and_views(published):
    for k in published:
        if k.startswith("split_"):
            n_frame, n = (int(v[1:]) for v in k.split("_")[1:])
            assert eventclip_frame_starts(n, n_frame) == published[k], k
    # EventCLIP's test-time views: max(min(round(max_n / N), 10), 1) (datasets/event2img.py)
    assert {d: s.views for d, s in EVENTCLIP_SETUPS.items()} == {
        "n-imagenet": 2,
        "mini-n-imagenet": 2,
        "n-caltech101": 10,
        "n-cars": 1,
    }
    setup = EVENTCLIP_SETUPS["n-imagenet"]
    ev = Events(
        torch.zeros(300_000, dtype=torch.int32),
        torch.zeros(300_000, dtype=torch.int32),
        torch.arange(300_000),
        torch.ones(300_000, dtype=torch.uint8),
        640,
        480,
    )
    all_starts = eventclip_frame_starts(len(ev), setup.frame_events)
    assert all_starts == [0, 70000, 140000, 210000]
    picks = {tuple(eventclip_views(ev, setup, seed, "n01440764/a.npz")) for seed in range(8)}
    assert all(len(p) == 2 and set(p) <= set(all_starts) and list(p) == sorted(p) for p in picks)
    assert len(picks) > 1  # the seed picks the views
    assert eventclip_views(ev, setup, 3, "x/a.npz") == eventclip_views(ev, setup, 3, "x/a.npz")


def test_clip_curated_names_are_eventclips():
    from ezsr.zeroshot import imagenet_classes

    names = "\n".join(c.clip_name for c in imagenet_classes("sorted"))
    # sha256 of EventCLIP's datasets/files/CLIP-IN_ClassNames.txt names (fixture README)
    assert (
        hashlib.sha256(names.encode()).hexdigest()
        == "2816f0e36561cd9664c9741ab3d5f2329fa390a2382dee96f6f1e8026807e83c"
    )


def test_ezsr_random_window():
    n = 100_000
    ev = Events(
        torch.zeros(n, dtype=torch.int32),
        torch.zeros(n, dtype=torch.int32),
        torch.arange(n),
        torch.ones(n, dtype=torch.uint8),
        640,
        480,
    )
    fixed = make_protocol("n-imagenet", "ezsr")
    w = ezsr_window(ev, fixed)
    assert len(w) == 15000 and int(w.t[0]) == (n - 15000) // 2  # the deterministic default
    rnd = make_protocol("n-imagenet", "ezsr", window="random", seed=1)
    wins = [ezsr_window(ev, rnd, f"c/{i}.npz") for i in range(40)]
    lengths = [len(w) for w in wins]
    assert all(13000 <= m <= 17000 for m in lengths) and len(set(lengths)) > 30
    assert all(0 <= int(w.t[0]) <= n - len(w) for w in wins)
    again = ezsr_window(ev, rnd, "c/7.npz")  # per sample, reproducible
    assert (len(again), int(again.t[0])) == (len(wins[7]), int(wins[7].t[0]))
    other = ezsr_window(ev, make_protocol("n-imagenet", "ezsr", window="random", seed=2), "c/7.npz")
    assert (len(other), int(other.t[0])) != (len(again), int(again.t[0]))
    short = ev.window(0, 12000)  # shorter than any window: all of it
    assert len(ezsr_window(short, rnd, "c/0.npz")) == 12000
    with pytest.raises(ValueError, match="EZSR's protocol"):
        make_protocol("n-cars", "eventclip", window="random")


SIZES = [(240, 180), (120, 100), (200, 150), (64, 48), (240, 180), (160, 120), (100, 80)]


def _mixed_caltech(root: Path) -> None:
    """N-Caltech101 layout, .npy files of different sensor sizes and lengths (one with 50k
    events: 2 EventCLIP frames), so batches mix sizes and view counts."""
    for i, (w, h) in enumerate(SIZES):
        cls = ("Faces_easy", "airplanes", "Leopards")[i % 3]
        (root / cls).mkdir(parents=True, exist_ok=True)
        n = 50_000 if i == 2 else 3000 + 997 * i
        ev = blob_events("left" if i % 2 else "right", n=n, width=w, height=h, seed=i)
        io.write(root / cls / f"{cls}_{i}.npy", ev)


@pytest.mark.parametrize("protocol", ["ezsr", "eventclip"])
def test_eval_per_sample_independent_of_batch_order_workers(
    protocol,
    tiny_clip,  # noqa: F811 (the fixture imported from test_zeroshot)
    tmp_path,
    monkeypatch,
):
    from ezsr.models import CLIPTeacher, create_model, load_tokenizer

    monkeypatch.setenv("EZSR_CACHE", str(tmp_path / "c"))
    _mixed_caltech(tmp_path / "cal" / "testing")
    teacher = CLIPTeacher(
        create_model("test-tiny", pretrained=tiny_clip / "tiny.pt"), load_tokenizer(tiny_clip, 16)
    )
    ds = load_dataset("n-caltech101", tmp_path / "cal", protocol=protocol)
    assert len(ds.samples) == len(SIZES)
    prot = make_protocol("n-caltech101", protocol, out_size=teacher.image_size)
    # each sample's input is a function of its own file only
    inputs = {s.key: sample_input(io.read(s.path), prot, s.key) for s in ds.samples}
    assert len({tuple(x.shape) for x in inputs.values()}) >= (1 if protocol == "ezsr" else 2)

    import ezsr.zeroshot.evaluate as ev_mod

    seen: list[torch.Tensor] = []
    encode = ev_mod.encode_inputs

    def recording(teacher, x, protocol):
        seen.append(x.clone())
        return encode(teacher, x, protocol)

    monkeypatch.setattr(ev_mod, "encode_inputs", recording)

    def run(batch_size, workers, order):
        seen.clear()
        ds.samples.sort(key=lambda s: s.key, reverse=order == "reversed")
        rep = evaluate(
            ds,
            teacher,
            prot,
            batch_size=batch_size,
            templates="simple",
            progress=False,
            workers=workers,
        )
        fed = torch.cat(seen)
        assert len(seen) == len(ds.samples) if batch_size == 1 else len(seen) < len(ds.samples)
        i = 0
        for s in ds.samples:  # what the model saw for each sample: exactly its own input
            x = inputs[s.key]
            assert torch.equal(fed[i : i + len(x)], x), s.key
            i += len(x)
        assert i == len(fed)
        return rep

    one = run(1, 0, "sorted")
    seven = run(7, 0, "sorted")
    rev = run(7, 2, "reversed")
    by_file = [{s["file"]: s for s in r["samples"]} for r in (one, seven, rev)]
    for f, s in by_file[0].items():
        for other in by_file[1:]:
            # the same input gives the same logits up to the float summation order of the
            # model's batched matmuls (batch 1 vs 7)
            assert other[f]["top5_labels"] == s["top5_labels"], f
            np.testing.assert_allclose(other[f]["top5_scores"], s["top5_scores"], rtol=1e-4)
    assert len(one["samples"]) == len(SIZES) and len(one["samples"][0]["top5_labels"]) == 5
    assert one["top1"] == seven["top1"] == rev["top1"]
    if protocol == "eventclip":
        assert one["views"] == 10 and one["canvas"] == [180, 240] and one["features"] == "raw"
        assert one["image_preprocess"] == "pil"
        # EventCLIP's logits come from the raw image features: for a one-view sample only the
        # temperature changes (same ranking), for the two-view sample the views are weighted
        # by their feature norms
        unit = evaluate(
            ds,
            teacher,
            make_protocol("n-caltech101", protocol, features="unit", out_size=teacher.image_size),
            batch_size=7,
            templates="simple",
            progress=False,
            workers=0,
        )
        assert unit["features"] == "unit"
        one_view = [s for s in ds.samples if len(inputs[s.key]) == 1]
        assert len(one_view) == len(SIZES) - 1
        u = {s["file"]: s for s in unit["samples"]}
        for s in one_view:
            f = str(s.path)
            assert u[f]["top5_labels"] == by_file[0][f]["top5_labels"]
            assert u[f]["top5_scores"][0] < by_file[0][f]["top5_scores"][0]  # |f| > 1: sharper


def test_n_imagenet_variants_and_cli_json(tiny_clip, tmp_path, run_cli, monkeypatch):  # noqa: F811
    monkeypatch.setenv("EZSR_CACHE", str(tmp_path / "c"))
    assert "brightness_4" in N_IMAGENET_VARIANTS and "mode_1" in N_IMAGENET_VARIANTS
    root = tmp_path / "N_Imagenet_cam"
    for d in ("extracted_val_brightness_4", "extracted_val"):
        for w, sides in {"n01440764": ["left", "right"], "n01443537": ["right"]}.items():
            (root / d / w).mkdir(parents=True)
            for i, side in enumerate(sides):
                io.write(
                    root / d / w / f"{w}_{i}.npz",
                    blob_events(side, width=640, height=480, seed=i + len(d)),
                )
    ds = load_dataset("n-imagenet", root, variant="brightness_4")
    assert len(ds.classnames) == 1000 and len(ds.samples) == 3
    assert all("extracted_val_brightness_4" in str(s.path) for s in ds.samples)
    with pytest.raises(FileNotFoundError, match="found: extracted_val, extracted_val_bri"):
        load_dataset("n-imagenet", root, variant="mode_1")
    with pytest.raises(ValueError, match="n-imagenet only"):
        load_dataset("n-cars", root, variant="mode_1")
    base = [
        "eval",
        "--dataset",
        "n-imagenet",
        "--root",
        root,
        "--checkpoint",
        tiny_clip / "tiny.pt",
        "--model",
        "test-tiny",
        "--templates",
        "simple",
        "--no-progress",
        "--variant",
        "brightness_4",
    ]
    out = tmp_path / "a.json"
    r = run_cli(
        *base,
        "--json",
        out,
        "--batch-size",
        "1",
        "--workers",
        "0",
        "--window",
        "random",
        "--seed",
        "5",
    )
    assert r.returncode == 0, r.stderr
    assert "n-imagenet brightness_4 (ezsr, 3 samples" in r.stdout
    a = json.loads(out.read_text())
    r = run_cli(
        *base, "--json", "--batch-size", "7", "--workers", "1", "--window", "random", "--seed", "5"
    )
    assert r.returncode == 0, r.stderr
    b = json.loads(r.stdout)
    assert a["variant"] == "brightness_4" and a["window"] == "random" and a["seed"] == 5
    assert len(a["samples"]) == len(b["samples"]) == 3
    for sa, sb in zip(a["samples"], b["samples"]):  # sample by sample: the same answer
        assert (sa["file"], sa["label"], sa["top5_labels"]) == (
            sb["file"],
            sb["label"],
            sb["top5_labels"],
        )
        np.testing.assert_allclose(sa["top5_scores"], sb["top5_scores"], rtol=1e-4)
    s = a["samples"][0]
    assert s["file"].endswith(".npz") and s["label"] == "tench"
    assert len(s["top5_labels"]) == 5 and s["top5_scores"] == sorted(s["top5_scores"], reverse=True)
    with pytest.raises(SystemExit):  # argparse: not a variant name
        run_cli(*base[:-2], "--variant", "mode_9")
    r = run_cli(*base, "--protocol", "eventclip", "--window", "random")
    assert r.returncode == 1 and "EZSR's protocol" in r.stderr
