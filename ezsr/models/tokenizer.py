"""CLIP's byte-level BPE tokenizer, reading its vocabulary from local files.

Two vocabulary formats are read:
* OpenAI/OpenCLIP `bpe_simple_vocab_16e6.txt.gz`: a merges list (first line a header);
  the vocabulary is the 256 byte symbols, the same with the end-of-word mark `</w>`,
  one token per merge (the first 48,894), then `<|startoftext|>`, `<|endoftext|>`.
* Hugging Face `vocab.json` (token -> id) + `merges.txt` (first line `#version...`).

Nothing is downloaded: `find_vocab` looks in the checkpoint's folder, then beside the
checkpoint file, then $EZSR_CLIP_VOCAB, then in installed packages that ship the file
(open_clip, clip).
"""

from __future__ import annotations

import gzip
import html
import importlib.util
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Sequence, cast

import torch

try:
    import regex as re

    _PAT = (
        r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]"""
        r"""|[^\s\p{L}\p{N}]+"""
    )
except ImportError:  # pragma: no cover - `regex` comes with transformers; stdlib approximation
    import re

    _PAT = r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|[^\s\w]+|_+"""

SOT, EOT = "<|startoftext|>", "<|endoftext|>"
N_MERGES_OPENAI = 49152 - 256 - 2


@lru_cache()
def bytes_to_unicode() -> dict[int, str]:
    """Map each byte to a printable unicode character (printable latin-1 bytes map to
    themselves, the rest to code points from 256 up), so BPE works on text symbols."""
    keep = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def _clean(text: str) -> str:
    try:
        import ftfy

        text = ftfy.fix_text(text)
    except ImportError:
        pass
    text = html.unescape(html.unescape(text))
    return " ".join(text.split()).strip().lower()


class Tokenizer:
    """encode(text) -> list[int] (no start/end tokens); __call__(texts) -> [K, L] int64."""

    def __init__(
        self,
        encoder: dict[str, int],
        merges: Sequence[tuple[str, str]],
        context_length: int = 77,
        source: str = "?",
    ):
        self.encoder = encoder
        self.decoder = {v: k for k, v in encoder.items()}
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.byte_encoder = bytes_to_unicode()
        self.context_length = context_length
        self.source = source
        for special in (SOT, EOT):
            if special not in encoder:
                raise ValueError(f"vocabulary {source} has no {special} token")
        self.sot, self.eot = encoder[SOT], encoder[EOT]
        self.cache = {SOT: [SOT], EOT: [EOT]}
        self.pat = re.compile(_PAT, re.IGNORECASE)

    # -- constructors -----------------------------------------------------------------
    @classmethod
    def from_bpe_gz(cls, path: str | os.PathLike[str], context_length: int = 77) -> "Tokenizer":
        """From OpenAI's `bpe_simple_vocab_16e6.txt.gz` (or a plain-text merges file of the
        same format: header line, then one `a b` merge per line)."""
        path = Path(path)
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as f:
            lines = f.read().split("\n")
        merges = cast(
            "list[tuple[str, str]]",  # one `a b` pair per line
            [tuple(m.split()) for m in lines[1 : N_MERGES_OPENAI + 1] if m.strip()],
        )
        symbols = list(bytes_to_unicode().values())
        vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges] + [SOT, EOT]
        return cls({t: i for i, t in enumerate(vocab)}, merges, context_length, str(path))

    @classmethod
    def from_hf(
        cls,
        vocab_json: str | os.PathLike[str],
        merges_txt: str | os.PathLike[str],
        context_length: int = 77,
    ) -> "Tokenizer":
        """From Hugging Face `vocab.json` + `merges.txt`."""
        with open(vocab_json, encoding="utf-8") as f:
            encoder = json.load(f)
        with open(merges_txt, encoding="utf-8") as f:
            lines = f.read().split("\n")
        merges = cast(
            "list[tuple[str, str]]",  # one `a b` pair per line
            [tuple(m.split()) for m in lines if m.strip() and not m.startswith("#version")],
        )
        return cls(encoder, merges, context_length, str(vocab_json))

    # -- BPE ---------------------------------------------------------------------------
    def bpe(self, token: str) -> list[str]:
        if token in self.cache:
            return self.cache[token]
        word = list(token[:-1]) + [token[-1] + "</w>"]
        while len(word) > 1:
            pairs = [(word[i], word[i + 1]) for i in range(len(word) - 1)]
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            merged, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        self.cache[token] = word
        return word

    def encode(self, text: str) -> list[int]:
        ids = []
        for tok in self.pat.findall(_clean(text)):
            tok = "".join(self.byte_encoder[b] for b in tok.encode("utf-8"))
            for piece in self.bpe(tok):
                if piece not in self.encoder:
                    raise ValueError(f"token {piece!r} is not in vocabulary {self.source}")
                ids.append(self.encoder[piece])
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        text = "".join(self.decoder[int(i)] for i in ids)
        inv = {v: k for k, v in self.byte_encoder.items()}
        return (
            bytearray(inv[c] for c in text.replace("</w>", " ") if c in inv)
            .decode("utf-8", errors="replace")
            .strip()
        )

    def __call__(
        self, texts: str | Sequence[str], context_length: int | None = None, truncate: bool = True
    ) -> torch.Tensor:
        """[K, L] int64: start token, BPE ids, end token, zero padding. Too long texts are
        cut (keeping the end token last) when truncate=True, else raise."""
        if isinstance(texts, str):
            texts = [texts]
        n = context_length or self.context_length
        out = torch.zeros(len(texts), n, dtype=torch.long)
        for i, t in enumerate(texts):
            ids = [self.sot] + self.encode(t) + [self.eot]
            if len(ids) > n:
                if not truncate:
                    raise ValueError(f"text {t[:40]!r}... is {len(ids)} tokens, more than {n}")
                ids = ids[: n - 1] + [self.eot]
            out[i, : len(ids)] = torch.tensor(ids)
        return out


def _package_vocab() -> Path | None:
    for pkg in ("open_clip", "clip"):
        spec = importlib.util.find_spec(pkg)
        if spec is None or not spec.submodule_search_locations:
            continue
        for base in spec.submodule_search_locations:
            p = Path(base) / "bpe_simple_vocab_16e6.txt.gz"
            if p.exists():
                return p
    return None


class VocabNotFoundError(FileNotFoundError):
    """No CLIP tokenizer vocabulary where find_vocab looked."""


VOCAB_HINT = (
    "give the vocabulary (vocab=PATH; --vocab PATH on the command line: "
    "bpe_simple_vocab_16e6.txt.gz, or a folder with vocab.json + merges.txt), put it "
    "beside the checkpoint or set $EZSR_CLIP_VOCAB"
)


def find_vocab(near: str | os.PathLike | None = None) -> tuple[str, tuple[Path, ...]]:
    """Locate a CLIP vocabulary: ("hf", (vocab.json, merges.txt)) or ("bpe", (file,)).

    Looks in `near` (a vocabulary file, a folder, or the folder of a checkpoint file), then
    $EZSR_CLIP_VOCAB (a file or folder), then installed packages. Raises VocabNotFoundError
    (a FileNotFoundError) naming where it looked and what to give.
    """
    places = []
    if near is not None:
        p = Path(near)
        if (
            p.is_file()
            and p.name.endswith((".txt.gz", ".txt"))
            and p.name not in ("merges.txt", "vocab.txt")
        ):
            return "bpe", (p,)  # a BPE merges file under any name
        places.append(p if p.is_dir() else p.parent)
    env = os.environ.get("EZSR_CLIP_VOCAB")
    if env:
        places.append(Path(env))
    for place in places:
        if place.is_file():
            return "bpe", (place,)
        if (place / "vocab.json").exists() and (place / "merges.txt").exists():
            return "hf", (place / "vocab.json", place / "merges.txt")
        for name in ("bpe_simple_vocab_16e6.txt.gz", "bpe_simple_vocab_16e6.txt"):
            if (place / name).exists():
                return "bpe", (place / name,)
    pkg = _package_vocab()
    if pkg is not None:
        return "bpe", (pkg,)
    looked = ", ".join(str(p) for p in places) or "no checkpoint folder"
    raise VocabNotFoundError(
        "no CLIP tokenizer vocabulary found (looked for vocab.json + merges.txt or "
        f"bpe_simple_vocab_16e6.txt.gz in: {looked}; $EZSR_CLIP_VOCAB; the open_clip/clip "
        f"packages; nothing is downloaded): {VOCAB_HINT}"
    )


def load_tokenizer(
    near: str | os.PathLike[str] | None = None, context_length: int = 77
) -> Tokenizer:
    kind, files = find_vocab(near)
    if kind == "hf":  # (vocab.json, merges.txt)
        return Tokenizer.from_hf(files[0], files[1], context_length=context_length)
    return Tokenizer.from_bpe_gz(files[0], context_length=context_length)


def tokenize(
    texts: str | Sequence[str],
    context_length: int = 77,
    truncate: bool = True,
    tokenizer: Tokenizer | None = None,
    vocab: str | None = None,
) -> torch.Tensor:
    """[K, context_length] int64 token ids of `texts` (start, BPE ids, end, zero padding)."""
    tok = tokenizer or load_tokenizer(vocab, context_length)
    return tok(texts, context_length, truncate)
