"""EZSR's released encoders: EVA02-CLIP-L-14-336 and EVA02-CLIP-bigE-14-plus.

Names and shapes of ezsr's models (meta device, no weights) against EVA-CLIP's own model
definition, and the forward pass of tiny random models of the same block types against
EVA-CLIP's outputs (fixture: tests/fixtures/eva_clip_reference.json.gz, see the README there).
"""

import gzip
import json
from pathlib import Path

import pytest
import torch

from ezsr.models import CLIP, get_config
from ezsr.models.checkpoints import detect_format, to_internal

FIXTURE = Path(__file__).parent / "fixtures" / "eva_clip_reference.json.gz"


@pytest.fixture(scope="module")
def ref():
    with gzip.open(FIXTURE, "rt") as f:
        return json.load(f)


def _meta_internal(shapes: dict) -> dict:
    sd = {k: torch.empty(s, device="meta") for k, s in shapes.items()}
    return {k: tuple(v.shape) for k, v in to_internal(sd, detect_format(sd)).items()}


@pytest.mark.parametrize("name", ["EVA02-CLIP-L-14-336", "EVA02-CLIP-bigE-14-plus"])
@pytest.mark.parametrize("cls", ["CLIP", "CustomCLIP"])
def test_names_and_shapes_match_eva_clip(ref, name, cls):
    with torch.device("meta"):
        model = CLIP(get_config(name), name)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    theirs = _meta_internal(ref["shapes"][f"{name}/{cls}"])
    assert set(ours) - set(theirs) == set()
    assert set(theirs) - set(ours) == set()
    bad = {k: (ours[k], theirs[k]) for k in ours if ours[k] != theirs[k]}
    assert bad == {}
    # 0.43 B parameters (L-14-336; EVA-CLIP also stores 1.8 M rotary-table entries), 5.04 B
    # (bigE-14-plus)
    n = sum(v.numel() for v in model.state_dict().values())
    assert n == {"EVA02-CLIP-L-14-336": 428083137, "EVA02-CLIP-bigE-14-plus": 5044889089}[name]


def _fill(shapes: dict) -> dict:
    """The fixture's weights: 0.05 * randn per entry in sorted-name order (seed 0), +1 for
    1-D `*.weight`; rotary tables draw too but are not weights."""
    g = torch.Generator().manual_seed(0)
    out = {}
    for k in sorted(shapes):
        r = 0.05 * torch.randn(shapes[k], generator=g)
        if k.endswith(".weight") and len(shapes[k]) == 1:
            r += 1.0
        if "rope.freqs" not in k:
            out[k] = r
    return out


@pytest.mark.parametrize(
    "tiny,ours", [("tiny-eva02", "test-tiny-eva"), ("tiny-bigE", "test-tiny-eva-bigE")]
)
def test_tiny_forward_matches_eva_clip(ref, tiny, ours):
    r = ref["tiny"][tiny]
    model = CLIP(get_config(ours), ours).eval()
    sd = _fill(r["shapes"])
    missing, unexpected = model.load_state_dict(to_internal(sd, detect_format(sd)), strict=True)
    assert not missing and not unexpected
    S = r["config"]["vision_cfg"]["image_size"]
    x = torch.randn(2, 3, S, S, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        img = model.encode_image(x)
        txt = model.encode_text(torch.tensor(r["tokens"]))
    torch.testing.assert_close(img, torch.tensor(r["image"]), atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(txt, torch.tensor(r["text"]), atol=2e-5, rtol=1e-4)
