"""CLIP towers and checkpoint routes against Hugging Face transformers' CLIPModel."""

from __future__ import annotations

import json
import zipfile

import pytest
import torch

from ezsr.models import (
    CheckpointError,
    adapt_patch_weight,
    create_event_encoder,
    create_model,
    get_config,
    list_models,
)
from ezsr.models.checkpoints import hf_to_internal, read_torchscript_tensors
from ezsr.models.transformer import rope_tables, rotate_pairs

transformers = pytest.importorskip("transformers")

TINY_HF = dict(
    text_config=dict(
        vocab_size=600,
        hidden_size=48,
        intermediate_size=192,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=16,
        bos_token_id=598,
        eos_token_id=599,
        pad_token_id=0,
    ),
    vision_config=dict(
        hidden_size=64,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=32,
        patch_size=8,
    ),
    projection_dim=32,
)


def hf_model(cfg: dict, seed: int = 0):
    torch.manual_seed(seed)
    m = transformers.CLIPModel(transformers.CLIPConfig(**cfg)).eval()
    with torch.no_grad():  # HF initialises LayerNorms to (1, 0): randomise them too
        for name, p in m.named_parameters():
            if "layer_norm" in name or "layrnorm" in name or "layernorm" in name:
                p.add_(0.1 * torch.randn_like(p))
        m.logit_scale.fill_(3.0)
    return m


def text_tokens(k: int, n: int, vocab: int, seed: int = 1) -> torch.Tensor:
    """[k, n] ids: start token, random ids below vocab-2, end token (the largest id), zeros."""
    g = torch.Generator().manual_seed(seed)
    t = torch.zeros(k, n, dtype=torch.long)
    for i in range(k):
        length = 3 + i % (n - 4)
        t[i, 0] = vocab - 2
        t[i, 1:length] = torch.randint(1, vocab - 2, (length - 1,), generator=g)
        t[i, length] = vocab - 1
    return t


def hf_features(m, images, tokens):
    with torch.no_grad():
        img = m.get_image_features(pixel_values=images)
        txt = m.get_text_features(
            input_ids=tokens,
            attention_mask=(tokens != 0).long() | (torch.arange(tokens.shape[1]) == 0).long(),
        )
    img = getattr(img, "pooler_output", img)
    txt = getattr(txt, "pooler_output", txt)
    return img, txt


def ours(model, images, tokens):
    with torch.no_grad():
        return model.encode_image(images), model.encode_text(tokens)


def max_err(a, b):
    return float((a - b).detach().abs().max())


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("hf_tiny")
    m = hf_model(TINY_HF)
    m.save_pretrained(d / "hf")
    images = torch.randn(2, 3, 32, 32)
    tokens = text_tokens(3, 16, 600)
    ref = hf_features(m, images, tokens)
    return dict(dir=d, hf=m, images=images, tokens=tokens, ref=ref)


def check(model, tiny, tol=1e-4):
    img, txt = ours(model, tiny["images"], tiny["tokens"])
    assert max_err(img, tiny["ref"][0]) <= tol
    assert max_err(txt, tiny["ref"][1]) <= tol


def test_registry_lists_configs():
    names = list_models()
    for n in [
        "ViT-B-32",
        "ViT-B-16",
        "ViT-L-14",
        "ViT-L-14-336",
        "EVA02-CLIP-B-16",
        "EVA02-CLIP-L-14",
    ]:
        assert n in names
    assert get_config("ViT-B/32") == get_config("ViT-B-32")
    with pytest.raises(ValueError, match="known models: .*ViT-B-16"):
        create_model("ViT-Q/99")


def test_hf_folder_route(tiny):
    check(create_model("test-tiny", pretrained=tiny["dir"] / "hf"), tiny)
    check(create_model("auto", pretrained=tiny["dir"] / "hf"), tiny)


def test_openai_and_openclip_state_dict_routes(tiny):
    sd = hf_to_internal(tiny["hf"].state_dict())
    torch.save(sd, tiny["dir"] / "openai.pt")
    check(create_model("test-tiny", pretrained=tiny["dir"] / "openai.pt"), tiny)
    wrapped = {"epoch": 3, "state_dict": {"module." + k: v for k, v in sd.items()}}
    torch.save(wrapped, tiny["dir"] / "openclip.pt")
    check(create_model("test-tiny", pretrained=tiny["dir"] / "openclip.pt"), tiny)


def test_safetensors_file_route(tiny):
    from safetensors.torch import save_file

    save_file(
        {k: v.contiguous() for k, v in tiny["hf"].state_dict().items()},
        tiny["dir"] / "m.safetensors",
    )
    check(create_model("test-tiny", pretrained=tiny["dir"] / "m.safetensors"), tiny)


def test_torchscript_archive_route_is_read_not_run(tiny):
    model = create_model("test-tiny", pretrained=tiny["dir"] / "hf")
    with torch.no_grad():
        traced = torch.jit.trace(model, (tiny["images"], tiny["tokens"]), check_trace=False)
    path = tiny["dir"] / "scripted.pt"
    torch.jit.save(traced, str(path))
    with zipfile.ZipFile(path) as zf:
        assert any("/code/" in n for n in zf.namelist())
    tensors = read_torchscript_tensors(path)
    assert torch.equal(tensors["visual.conv1.weight"], model.visual.conv1.weight)
    check(create_model("test-tiny", pretrained=path), tiny)


def test_vit_b32_shape_parity():
    cfg = dict(projection_dim=512)  # transformers' defaults are the ViT-B/32 shapes
    m = hf_model(cfg, seed=3)
    sd = hf_to_internal(m.state_dict())
    ours_m = create_model("ViT-B-32")
    ours_m.load_state_dict(sd)
    images = torch.randn(1, 3, 224, 224)
    tokens = text_tokens(1, 77, 49408)
    ref_img, ref_txt = hf_features(m, images, tokens)
    img, txt = ours(ours_m, images, tokens)
    assert max_err(img, ref_img) <= 1e-4
    assert max_err(txt, ref_txt) <= 1e-4


def test_eva_state_dict_round_trip(tmp_path):
    torch.manual_seed(0)
    a = create_model("test-tiny-eva")
    sd = {
        ("text." + k if not k.startswith(("visual.", "logit_scale")) else k): v
        for k, v in a.state_dict().items()
    }
    sd["visual.rope.freqs_cos"] = torch.zeros(16, 16)  # stored by EVA-CLIP, recomputed here
    sd["visual.blocks.0.attn.rope.freqs_sin"] = torch.zeros(16, 16)
    torch.save(sd, tmp_path / "eva.pt")
    b = create_model("test-tiny-eva", pretrained=tmp_path / "eva.pt")
    x = torch.randn(2, 3, 32, 32)
    t = text_tokens(2, 16, 600)
    assert torch.equal(a.encode_image(x), b.encode_image(x))
    assert torch.equal(a.encode_text(t), b.encode_text(t))


def test_rope_tables_hand_computed():
    cos, sin = rope_tables(head_dim=8, grid=2, pt_seq_len=16)
    # token (row 1, col 0) -> index 2; row positions are 0 and 1/2*16 = 8;
    # frequencies 1 and 1/100, each used for a channel pair; columns rotate the 2nd half
    ang = torch.tensor([8, 8, 0.08, 0.08, 0, 0, 0, 0])
    assert torch.allclose(cos[2], ang.cos(), atol=1e-6)
    assert torch.allclose(sin[2], ang.sin(), atol=1e-6)
    assert torch.equal(
        rotate_pairs(torch.tensor([1.0, 2.0, 3.0, 4.0])), torch.tensor([-2.0, 1.0, -4.0, 3.0])
    )


def test_errors_name_file_and_key(tiny, tmp_path):
    good = (tiny["dir"] / "hf" / "model.safetensors").read_bytes()
    bad = tmp_path / "truncated.pt"
    torch.save(hf_to_internal(tiny["hf"].state_dict()), bad)
    bad.write_bytes(bad.read_bytes()[: len(good) // 3])
    with pytest.raises(CheckpointError, match="truncated.pt"):
        create_model("test-tiny", pretrained=bad)
    sd = hf_to_internal(tiny["hf"].state_dict())
    del sd["visual.ln_post.weight"]
    torch.save(sd, tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match=r"missing.pt: missing key visual\.ln_post\.weight"):
        create_model("test-tiny", pretrained=tmp_path / "missing.pt")
    with pytest.raises(
        CheckpointError, match=r"missing.pt: missing key visual\.cls_token.*wrong architecture"
    ):
        create_model("test-tiny-eva", pretrained=tmp_path / "missing.pt")  # CLIP file, EVA model
    torch.save(hf_to_internal(tiny["hf"].state_dict()), tmp_path / "tiny.pt")
    with pytest.raises(CheckpointError, match=r"tiny.pt: key visual.conv1.weight has shape"):
        create_model("ViT-B-32", pretrained=tmp_path / "tiny.pt")
    with pytest.raises(FileNotFoundError):
        create_model("test-tiny", pretrained=tmp_path / "nope.pt")


def test_ezsr_image_tower_checkpoint_reports_keys(tiny, tmp_path):
    base = create_model("test-tiny", pretrained=tiny["dir"] / "hf")
    vis = {k: v + 1.0 for k, v in base.state_dict().items() if k.startswith("visual.")}
    del vis["visual.proj"]
    vis["visual.extra_head.weight"] = torch.zeros(3)
    torch.save({"model": vis}, tmp_path / "ezsr.pth")
    m = create_model(
        "test-tiny", pretrained=tiny["dir"] / "hf", image_checkpoint=tmp_path / "ezsr.pth"
    )
    rep = m.load_reports[-1]
    assert rep.missing == ["proj"] and rep.unexpected == ["extra_head.weight"]
    assert torch.equal(m.visual.conv1.weight, base.visual.conv1.weight + 1)
    assert torch.equal(m.visual.proj, base.visual.proj)  # kept from the base
    assert torch.equal(m.text_projection, base.text_projection)  # text tower untouched
    # a tower saved from model.visual (no `visual.` prefix) loads the same way
    torch.save({k[len("visual.") :]: v for k, v in vis.items()}, tmp_path / "bare.pth")
    m2 = create_model(
        "test-tiny", pretrained=tiny["dir"] / "hf", image_checkpoint=tmp_path / "bare.pth"
    )
    assert torch.equal(m2.visual.conv1.weight, m.visual.conv1.weight)
    assert m2.load_reports[-1].missing == ["proj"]


def test_event_encoder_channels(tiny, tmp_path):
    torch.save(hf_to_internal(tiny["hf"].state_dict()), tmp_path / "base.pt")
    rgb = create_event_encoder("test-tiny", in_chans=3, init=tmp_path / "base.pt")
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert (
            max_err(
                rgb(x), tiny["ref"][0][:0].new_tensor(hf_features(tiny["hf"], x, tiny["tokens"])[0])
            )
            <= 1e-4
        )
        five = create_event_encoder("test-tiny", in_chans=5, init=tmp_path / "base.pt")
        v = torch.randn(2, 1, 32, 32)
        # equal channels: the C-channel encoder answers like the RGB one on a gray image
        assert max_err(five(v.expand(2, 5, 32, 32)), rgb(v.expand(2, 3, 32, 32))) <= 1e-4
    w = torch.randn(4, 3, 2, 2)
    a = adapt_patch_weight(w, 2)
    assert a.shape == (4, 2, 2, 2) and torch.allclose(a[:, 0], w.mean(1) * 1.5)
    with pytest.raises(ValueError, match=r"expects \[B, 5"):
        five(torch.zeros(1, 3, 32, 32))


def test_config_json_is_registered_data():
    cfg = get_config("EVA02-CLIP-L-14")
    assert cfg["vision"]["rope"] and cfg["vision"]["swiglu"] and cfg["vision"]["subln"]
    assert json.loads(json.dumps(cfg)) == cfg


def test_clip_teacher_interface(tiny):
    from ezsr.models import CLIPTeacher
    from ezsr.models.tokenizer import Tokenizer
    from ezsr.ops.ezsr_preprocess import CLIP_MEAN, CLIP_STD
    from tests.test_tokenizer import MERGES, vocab_list

    tok = Tokenizer({t: i for i, t in enumerate(vocab_list())}, MERGES, context_length=16)
    m = create_model("test-tiny", pretrained=tiny["dir"] / "hf")
    t = CLIPTeacher(m, tok)
    assert t.embed_dim == 32
    x = torch.rand(2, 3, 32, 48)  # wider than tall: the centre 32x32 is used
    mean, std = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    expect = torch.nn.functional.normalize(m.encode_image((x[..., 8:40] - mean) / std), dim=-1)
    assert max_err(t.encode_image(x), expect) <= 1e-5
    e = t.encode_text(["a photo of a cat.", "the dog"])
    assert e.shape == (2, 32) and torch.allclose(e.norm(dim=1), torch.ones(2), atol=1e-5)
    assert (
        max_err(
            e,
            torch.nn.functional.normalize(
                m.encode_text(tok(["a photo of a cat.", "the dog"])), dim=-1
            ),
        )
        <= 1e-6
    )
