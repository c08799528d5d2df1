"""Text heatmaps: projected patch tokens of every tower kind, the cosine map against a
hand-built model with known patch features, its placement over the picture, the CLI."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ezsr import Events, io
from ezsr.zeroshot.heatmap import heatmap_pictures, patch_features, text_heatmap, upsample

W, H = 64, 48  # sensor; crop mode: rows 0..47 -> 32, columns 8..55 -> 32 (centre crop)


class LocalModel(torch.nn.Module):
    """Hand-built tower: patch (i, j) of an 8x8-patch grid on a 32x32 input has the token
    (a, 1 - a, 0) with a = the mean over the patch of the gray frame (first channel
    un-normalised: 0 where there are no events); texts are fixed vectors."""

    image_size = 32
    name = "local"

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def patch_tokens(self, x):
        a = F.avg_pool2d(x[:, :1] * 0.26862954 + 0.48145466, 8).flatten(1)  # [B, 16] row-major
        return torch.stack([a, 1 - a, torch.zeros_like(a)], -1)  # [B, 16, 3]

    def encode_text(self, texts):
        table = {"on": [1.0, 0.0, 0.0], "off": [0.0, 1.0, 0.0], "mix": [1.0, 1.0, 1.0]}
        return torch.tensor([table[t] for t in texts])


def corner_events(n=3000, seed=0) -> Events:
    """Events only in the bottom-right quarter of the centre crop (rows 24..47, columns
    32..55 of the 48x64 sensor), plus two corner events that fix the sensor size."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(32, 56, (n,), generator=g)
    y = torch.randint(24, 48, (n,), generator=g)
    return Events(
        x,
        y,
        torch.arange(n, dtype=torch.int64),
        torch.randint(0, 2, (n,), generator=g),
        width=W,
        height=H,
    )


def test_known_patch_features_give_the_expected_map_exactly():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32, generator=g)
    m = LocalModel()
    maps = text_heatmap(m, x, torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]]))
    assert maps.shape == (2, 2, 4, 4)
    gray = x[:, 0].double() * 0.26862954 + 0.48145466
    a = gray.reshape(2, 4, 8, 4, 8).mean(dim=(2, 4))  # patch means [2, 4, 4]
    norm = (a**2 + (1 - a) ** 2).sqrt()
    torch.testing.assert_close(maps[:, 0].double(), a / norm, rtol=0, atol=1e-6)
    torch.testing.assert_close(maps[:, 1].double(), 1 / (3**0.5 * norm), rtol=0, atol=1e-6)
    # one text as a [D] vector gives [B, gh, gw]
    assert text_heatmap(m, x, torch.tensor([0.0, 1.0, 0.0])).shape == (2, 4, 4)


def test_map_has_the_patch_grid_and_lies_over_the_events():
    m = LocalModel()
    hm = heatmap_pictures(corner_events(), m, ["on", "off"], alpha=1.0, scale=2)
    assert hm.maps.shape == (2, 4, 4) and hm.frame.shape == (32, 32)
    assert hm.picture.shape == (64, 3 * 64, 3)
    on = hm.maps[0]
    # events fill the bottom-right 2x2 patches; those patches are where "on" agrees most
    assert set(np.flatnonzero(on.numpy() >= on.max().item() - 1e-6)) <= {10, 11, 14, 15}
    assert on[2:, 2:].min() > on[:2, :].max() and on[2:, 2:].min() > on[:, :2].max()
    # "off" is the opposite
    assert hm.maps[1][2:, 2:].max() < hm.maps[1][:2, :2].min()
    # upsampled over the frame: hot where the frame shows events, cold elsewhere
    up = upsample(on, 32).numpy()
    lit = hm.frame > hm.frame.min()
    assert lit[16:, 16:].mean() > 0.5 and not lit[:16].any() and not lit[:, :16].any()
    assert up[lit].mean() > up[~lit].mean()
    # the first overlay panel (alpha 1: pure jet colours) is red over the events and dark
    # blue (jet at 0: (0, 0, 128)) far from them
    panel = hm.picture[::2, 64::2][:, :32].astype(int)
    assert panel[28, 28, 0] >= 120 and panel[28, 28, 1] < 60 and panel[28, 28, 2] == 0
    assert tuple(panel[2, 2]) == (0, 0, 128)


@pytest.mark.parametrize("name", ["test-tiny", "test-tiny-eva"])
def test_tower_patch_tokens_are_the_class_token_path_applied_to_patches(name):
    from ezsr.models import create_model

    torch.manual_seed(0)
    model = create_model(name)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        tok = model.visual.forward_tokens(x)
        pt = model.encode_patches(x)
        v = model.visual
        if name == "test-tiny":
            cls, want = v.ln_post(tok[:, 0]) @ v.proj, v.ln_post(tok[:, 1:]) @ v.proj
        else:
            cls, want = v.head(v.norm(tok)[:, 0]), v.head(v.norm(tok[:, 1:]))
        torch.testing.assert_close(model.encode_image(x), cls, rtol=0, atol=0)
    assert pt.shape == (2, 16, 32)
    torch.testing.assert_close(pt, want, rtol=0, atol=0)
    # a patch token depends on its own patch: changing one patch changes its token most
    y = x.clone()
    y[:, :, 8:16, 16:24] += 3.0  # patch row 1, column 2 -> index 6
    with torch.no_grad():
        d = (model.encode_patches(y) - pt).norm(dim=-1)[0]
    assert int(d.argmax()) == 6


def test_patch_features_of_students_and_teachers():
    from ezsr.models import ProjectedEncoder, create_event_encoder
    from ezsr.models.teachers import CLIPTeacher

    torch.manual_seed(0)
    enc = create_event_encoder("test-tiny")
    student = ProjectedEncoder(enc, 32, 48).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        got = patch_features(student, x)
        torch.testing.assert_close(got, student.proj(enc.visual.patch_tokens(x)))
    assert got.shape == (1, 16, 48)

    # a student behind the teacher interface: the student's tokens, never its teacher's tower
    from ezsr.models import create_model
    from ezsr.models.student import StudentTeacher

    class Teacher:
        model = create_model("test-tiny")
        cache_key = None

    st = StudentTeacher(
        student, Teacher(), {"embed_dim": 48, "input": {"size": 32}, "student": "test-tiny"}
    )
    with torch.no_grad():
        torch.testing.assert_close(patch_features(st, x), got)

    class Offline:
        name = "offline"

    with pytest.raises(ValueError, match="'offline' has no patch tokens"):
        patch_features(Offline(), x)
    assert CLIPTeacher  # the CLIP teacher path is exercised through the CLI below


def test_cli_heatmap(tmp_path, capsys):
    from PIL import Image

    from ezsr.cli import main
    from ezsr.models import create_model

    torch.manual_seed(0)
    torch.save(create_model("test-tiny").state_dict(), tmp_path / "tiny.pt")
    merges = [("c", "a"), ("ca", "t</w>"), ("d", "o"), ("do", "g</w>")]
    with gzip.open(tmp_path / "bpe_simple_vocab_16e6.txt.gz", "wt", encoding="utf-8") as f:
        f.write("#version: tiny\n" + "\n".join(" ".join(m) for m in merges) + "\n")
    io.write(tmp_path / "ev.npz", corner_events())
    out = tmp_path / "map.png"
    base = [
        "heatmap",
        str(tmp_path / "ev.npz"),
        "--text",
        "a cat",
        "--text",
        "a dog",
        "-o",
        str(out),
        "--checkpoint",
        str(tmp_path / "tiny.pt"),
        "--model",
        "test-tiny",
    ]
    capsys.readouterr()
    assert main(base + ["--vocab", str(tmp_path / "bpe_simple_vocab_16e6.txt.gz"), "--json"]) == 0
    maps = json.loads(capsys.readouterr().out)
    a, b = np.array(maps["a cat"]), np.array(maps["a dog"])
    assert a.shape == b.shape == (4, 4)
    assert np.abs(a - b).max() > 1e-3  # two texts, two maps
    assert np.abs(a).max() <= 1.0 + 1e-6
    assert Image.open(out).size == (3 * 64, 64)
    # the offline default teacher has no patch tokens: one clear line
    assert main(["heatmap", str(tmp_path / "ev.npz"), "--text", "x", "-o", str(out)]) == 1
    assert "need a ViT image tower" in capsys.readouterr().err
