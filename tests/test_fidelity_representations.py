"""N-ImageNet's representations and EZSR's N-ImageNet evaluation input, against outputs of
the published code (tests/fixtures/n_imagenet/, tests/fixtures/published_inputs/; the READMEs
there give the commands that made them), plus the published coordinate roundings."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from _digests import assert_matches, load_digests, matches
from conftest import shared_file

from ezsr import EventBatch, Events, io
from ezsr.ops import representation
from ezsr.ops.coords import COORD_ROUNDINGS, scale_coordinate, scale_events
from ezsr.ops.ezsr_preprocess import ezsr_preprocess, ezsr_preprocess_reference
from ezsr.ops.representations import clip_count_n_imagenet

FIX = Path(__file__).parent / "fixtures"
NI_REPS = ("sorted_time_surface", "dist", "exp_time_surface")


@pytest.fixture(scope="module")
def recording():
    return io.read(shared_file("n_imagenet/ezsr_test_event.npz"))


def _sha(a: np.ndarray) -> bytes:
    return hashlib.sha256(np.ascontiguousarray(a, dtype=np.float32).tobytes()).digest()


@pytest.mark.parametrize("name", NI_REPS)
def test_n_imagenet_representations_equal_published(recording, name):
    d = load_digests(FIX / "n_imagenet" / "representations.json")
    wins = d["windows"]
    batch = EventBatch.from_streams([recording[int(s) : int(e)] for s, e in wins])
    got = representation(batch, name, size=(224, 224), coord_rounding="n_imagenet").numpy()
    for i in range(len(wins)):
        g = got[i]
        background = np.float32(np.exp(-1 / 0.3)) if name == "exp_time_surface" else 0
        assert int((g != background).sum()) == d[f"{name}/{i}/count"], (name, i)
        assert _sha(g) == bytes(d[f"{name}/{i}/sha256"]), (name, i)


def test_exact_rounding_differs_from_published(recording):
    """The default (exact floor) is not N-ImageNet's input: the option matters."""
    d = load_digests(FIX / "n_imagenet" / "representations.json")
    s, e = d["windows"][1]
    got = representation(recording[int(s) : int(e)], "sorted_time_surface", size=(224, 224))[0]
    assert _sha(got.numpy()) != bytes(d["sorted_time_surface/1/sha256"])


def test_sorted_time_surface_ranks_only_pixels_with_events():
    # pixel latest times 0, 10, 10, 30 (ON) on a 2x3 sensor with 2 empty pixels; ranks
    # 1, 2, 2, 3 -> 0, 0.5, 0.5, 1; empty pixels 0 and not ranked (they would shift the ranks)
    e = Events([0, 1, 2, 0, 0], [0, 0, 0, 1, 1], [0, 10, 10, 20, 30], [1, 1, 1, 1, 1], 3, 2)
    out = representation(e, "sorted_time_surface")[0]
    assert out[0].tolist() == [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]]
    assert out[1].abs().sum() == 0


def test_dist_count_clip_follows_n_imagenet():
    # 100 pixels: 90 zeros, 5 ones, 3 twos, 1 seven, 1 nine. Cumulative pixel counts per
    # distinct value 90, 95, 98, 99, 100 < 99 for three values -> clip at 3 (a quantile of the
    # positive counts would give about 9)
    v = torch.tensor([0.0] * 90 + [1.0] * 5 + [2.0] * 3 + [7.0, 9.0]).view(1, 1, 10, 10)
    out = clip_count_n_imagenet(v)
    assert sorted(out.flatten().tolist())[-3:] == [2.0, 3.0, 3.0]


def test_exp_time_surface_formula():
    e = Events([0, 1], [0, 0], [0, 100], [1, 0], 3, 1)
    out = representation(e, "exp_time_surface")[0]
    bg = np.float32(np.exp(-1 / 0.3))
    assert out[0, 0].tolist() == [float(bg)] * 3  # ON at x=0 has tau 0: exp(-1/0.3) as empty
    assert out[1, 0, 1] == 1.0 and out[1, 0, 0] == bg
    assert representation(e, "exp_time_surface", tau=0.5)[0, 0, 0, 2] == np.float32(np.exp(-2))


def test_coordinate_roundings():
    v = torch.arange(640)
    exact = scale_coordinate(v, 640, 224)
    assert torch.equal(exact, v * 224 // 640)
    ni = scale_coordinate(v, 640, 224, "n_imagenet")
    fp16 = scale_coordinate(v, 640, 224, "ezsr_fp16")
    assert (ni < exact).nonzero().flatten().tolist() == [180, 340, 360] and not (ni > exact).any()
    up = (fp16 > exact).nonzero().flatten().tolist()
    assert len(up) == 14 and up[:3] == [377, 397, 417] and not (fp16 < exact).any()
    # out of the sensor stays out (truncation would move -1 to 0)
    for r in COORD_ROUNDINGS:
        assert scale_coordinate(torch.tensor([-1, 640]), 640, 224, r).tolist() == [-1, -1]
    with pytest.raises(ValueError, match="coord_rounding"):
        scale_coordinate(v, 640, 224, "round")
    ev = Events([377, 180], [0, 479], [0, 1], [1, 0], 640, 480)
    s = scale_events(ev, (224, 224), "ezsr_fp16")
    assert (s.width, s.height, s.x.tolist(), s.y.tolist()) == (224, 224, [132, 63], [0, 223])


@pytest.mark.parametrize("seed", [0, 1])
def test_ezsr_fp16_input_equals_published_eval_input(recording, seed):
    """EZSR's N-ImageNet evaluation (dataset/dataset.py ImageNetDataset, random window with
    Python's random seeded): ezsr's model input with coord_rounding="ezsr_fp16" is the
    published one bit for bit (also as float16, what engine_evaluate.py feeds the model)."""
    d = load_digests(FIX / "published_inputs" / f"ezsr_nimagenet_eval_seed{seed}.json")
    s, n = int(d["window_start"]), int(d["window_length"])
    ref = d["input"]  # float32 [3, 224, 224]: equal bytes, so also equal after .half()
    win = recording[s : s + n]
    for fn in (ezsr_preprocess, ezsr_preprocess_reference):
        got = fn(win, mode="squash", coord_rounding="ezsr_fp16")[0]
        assert_matches(got.numpy(), ref, fn.__name__)
    assert not matches(ezsr_preprocess(win, mode="squash")[0].numpy(), ref)  # exact floor
    assert_matches(
        representation(win, "ezsr", mode="squash", coord_rounding="ezsr_fp16")[0].numpy(), ref
    )


def test_coord_rounding_needs_squash():
    e = Events([1], [1], [0], [1], 640, 480)
    with pytest.raises(ValueError, match="squash"):
        ezsr_preprocess(e, coord_rounding="ezsr_fp16")
    with pytest.raises(ValueError, match="size="):
        representation(e, "histogram", coord_rounding="n_imagenet")


def test_eval_coord_rounding_reaches_the_input(recording):
    """`ezsr eval --coord-rounding ezsr_fp16` (N-ImageNet: squash) builds each sample's input
    with that rounding; crop mode or EventCLIP's protocol refuse it."""
    import argparse

    from ezsr.commands.eval import preprocess_options
    from ezsr.zeroshot.classifier import select_window
    from ezsr.zeroshot.evaluate import make_protocol, sample_input

    args = argparse.Namespace(
        coord_rounding="ezsr_fp16", mode=None, protocol="ezsr", dataset="n-imagenet"
    )
    protocol = make_protocol("n-imagenet", "ezsr", **preprocess_options(args))
    win = select_window(recording)
    got = sample_input(recording, protocol)
    assert torch.equal(got, ezsr_preprocess(win, mode="squash", coord_rounding="ezsr_fp16"))
    assert not torch.equal(got, sample_input(recording, make_protocol("n-imagenet", "ezsr")))
    for bad in (dict(mode="crop"), dict(protocol="eventclip"), dict(dataset="n-caltech101")):
        with pytest.raises(ValueError, match="coord-rounding"):
            preprocess_options(argparse.Namespace(**{**vars(args), **bad}))
