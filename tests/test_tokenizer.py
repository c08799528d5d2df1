"""CLIP BPE tokenizer on a tiny vocabulary built here, against transformers' CLIPTokenizer."""

from __future__ import annotations

import gzip
import json

import pytest
import torch

from ezsr.models.tokenizer import Tokenizer, bytes_to_unicode, find_vocab, load_tokenizer

MERGES = [
    ("c", "a"),
    ("ca", "t</w>"),
    ("d", "o"),
    ("do", "g</w>"),
    ("p", "h"),
    ("ph", "o"),
    ("t", "o</w>"),
    ("o", "f</w>"),
    ("pho", "to</w>"),
    ("t", "h"),
    ("th", "e</w>"),
]
SENTENCES = ["a photo of a cat.", "A  PHOTO of the dog!", "dogcat 42 cat's", "naïve café"]


def vocab_list():
    sym = list(bytes_to_unicode().values())
    return (
        sym
        + [s + "</w>" for s in sym]
        + ["".join(m) for m in MERGES]
        + ["<|startoftext|>", "<|endoftext|>"]
    )


@pytest.fixture()
def vocab_dirs(tmp_path):
    gz = tmp_path / "openai"
    gz.mkdir()
    with gzip.open(gz / "bpe_simple_vocab_16e6.txt.gz", "wt", encoding="utf-8") as f:
        f.write("#version: tiny\n" + "\n".join(" ".join(m) for m in MERGES) + "\n")
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab_list())}))
    (hf / "merges.txt").write_text(
        "#version: 0.2\n" + "\n".join(" ".join(m) for m in MERGES) + "\n"
    )
    return gz, hf


def test_bytes_to_unicode_is_a_bijection():
    t = bytes_to_unicode()
    assert len(t) == 256 and len(set(t.values())) == 256
    assert t[ord("a")] == "a" and t[ord(" ")] == chr(256 + 32)  # space is the 33rd remapped byte


def test_hand_computed_ids(vocab_dirs):
    tok = Tokenizer.from_bpe_gz(vocab_dirs[0] / "bpe_simple_vocab_16e6.txt.gz", context_length=12)
    v = {t: i for i, t in enumerate(vocab_list())}
    ids = tok("a photo of a cat.")[0].tolist()
    expect = [
        v["<|startoftext|>"],
        v["a</w>"],
        v["photo</w>"],
        v["of</w>"],
        v["a</w>"],
        v["cat</w>"],
        v[".</w>"],
        v["<|endoftext|>"],
    ]
    assert ids == expect + [0] * 4
    long = tok("cat " * 20)
    assert long.shape == (1, 12) and long[0, -1] == v["<|endoftext|>"]
    with pytest.raises(ValueError, match="more than 12"):
        tok("cat " * 20, truncate=False)


def test_both_formats_agree_and_match_transformers(vocab_dirs):
    a = load_tokenizer(vocab_dirs[0], context_length=32)
    b = load_tokenizer(vocab_dirs[1], context_length=32)
    assert torch.equal(a(SENTENCES), b(SENTENCES))
    transformers = pytest.importorskip("transformers")
    hf = transformers.CLIPTokenizer(
        vocab=str(vocab_dirs[1] / "vocab.json"), merges=str(vocab_dirs[1] / "merges.txt")
    )
    for s in SENTENCES[:3]:  # ASCII sentences (normalisers differ on accents)
        assert a.encode(s) == hf(s, add_special_tokens=False)["input_ids"], s


def test_missing_vocabulary_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("EZSR_CLIP_VOCAB", raising=False)
    monkeypatch.setattr("ezsr.models.tokenizer._package_vocab", lambda: None)
    with pytest.raises(FileNotFoundError, match="EZSR_CLIP_VOCAB"):
        find_vocab(tmp_path)
