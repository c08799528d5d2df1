"""Make docs/img/heatmap.png and docs/img/fewshot.png from the shared test recordings.

    .venv/bin/python docs/img/fewshot_pictures.py ../shared/data/events docs/img

No CLIP weights are used (none are available offline): the heatmap comes from a ViT-B/16
with random weights, the few-shot chart from the offline ConSE teacher (pip install
'ezsr[offline]'). Prints the numbers the chart shows.
"""

from __future__ import annotations

import gzip
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from ezsr import io
from ezsr.zeroshot.classifier import build_classifier, encode_events
from ezsr.zeroshot.fewshot import AdapterConfig, TrainConfig, predict, train_adapter

SHOTS = (1, 2, 4, 8, 16)
WINDOW = 1500  # events per recording cut from the shared files


def heatmap_picture(events_dir: Path, out: Path) -> None:
    from ezsr.models import create_model
    from ezsr.models.teachers import CLIPTeacher
    from ezsr.models.tokenizer import load_tokenizer
    from ezsr.zeroshot.heatmap import heatmap_pictures

    torch.manual_seed(0)
    model = create_model("ViT-B-16")  # random weights
    with tempfile.TemporaryDirectory() as d:  # a tiny BPE vocabulary: random text tower anyway
        vocab = Path(d) / "bpe_simple_vocab_16e6.txt.gz"
        with gzip.open(vocab, "wt", encoding="utf-8") as f:
            f.write("#version: tiny\nc a\nca t</w>\nd o\ndo g</w>\n")
        teacher = CLIPTeacher(model, load_tokenizer(str(vocab), model.context_length))
    ev = io.read(events_dir / "n_imagenet" / "ezsr_test_event.npz")
    hm = heatmap_pictures(ev, teacher, ["a cat"], start=26502, scale=1)
    Image.fromarray(hm.picture).quantize(128).save(out, optimize=True)
    print(
        f"{out}: {hm.maps.shape[-1]}x{hm.maps.shape[-1]} grid; cosine ranges",
        [(round(float(m.min()), 3), round(float(m.max()), 3)) for m in hm.maps],
    )


def windows(path: Path, n: int) -> list:
    ev = io.read(path)
    return [ev.window(s, n) for s in range(0, len(ev) - n + 1, n)]


def fewshot_chart(events_dir: Path, out: Path) -> None:
    from ezsr.models.teachers import create_teacher

    teacher = create_teacher("offline")
    classes = {
        "cat": events_dir / "n_imagenet" / "ezsr_test_event.npz",
        "face": events_dir / "n_caltech101" / "Faces_easy_0001.bin",
    }
    names = list(classes)
    feats, labels = [], []
    for k, p in enumerate(classes.values()):
        for w in windows(p, WINDOW):
            feats.append(encode_events(teacher, w).float().cpu())  # [1, D]: one view
            labels.append(k)
    labels_t = torch.tensor(labels)
    w0 = build_classifier(teacher, names, "openai")
    acc = {0: []}
    for k in SHOTS:
        acc[k] = []
    for seed in range(3):
        g = torch.Generator().manual_seed(seed)
        train_idx = {k: [] for k in SHOTS}
        perm = {
            c: [i for i in torch.randperm(len(labels), generator=g).tolist() if labels[i] == c]
            for c in range(len(names))
        }
        test = [i for c in perm for i in perm[c][max(SHOTS) :]]
        for k in SHOTS:
            train_idx[k] = [i for c in perm for i in perm[c][:k]]
        y = labels_t[test]
        zs = predict(None, [feats[i] for i in test], w0)
        acc[0].append(float((zs.argmax(1) == y).float().mean()))
        for k in SHOTS:
            cfg = AdapterConfig(int(w0.shape[0]), residual=0.8)
            head, _ = train_adapter(
                [feats[i] for i in train_idx[k]],
                [labels[i] for i in train_idx[k]],
                w0,
                cfg,
                TrainConfig(lr=1e-3, epochs=50, batch_size=32, views=1, seed=seed),
                progress=False,
            )
            lg = predict(head, [feats[i] for i in test])
            acc[k].append(float((lg.argmax(1) == y).float().mean()))
    mean = {k: float(np.mean(v)) for k, v in acc.items()}
    print(
        f"{out}: {len(feats)} windows of {WINDOW} events "
        f"({', '.join(f'{n}: {labels.count(i)}' for i, n in enumerate(names))}); "
        "top-1 on held-out windows, mean of 3 seeds:",
        {("zero-shot" if k == 0 else f"{k}-shot"): round(100 * v, 1) for k, v in mean.items()},
    )
    # bar chart: zero-shot, then K = 1, 2, 4, 8, 16
    wpx, hpx, left, bottom = 420, 220, 40, 30
    img = Image.new("RGB", (wpx, hpx), "white")
    dr = ImageDraw.Draw(img)
    keys = [0, *SHOTS]
    bw = (wpx - left - 10) // len(keys)
    for j, k in enumerate(keys):
        x0 = left + j * bw + 6
        h = int((hpx - bottom - 20) * mean[k])
        dr.rectangle(
            [x0, hpx - bottom - h, x0 + bw - 12, hpx - bottom],
            fill=(150, 150, 150) if k == 0 else (40, 110, 200),
        )
        dr.text((x0, hpx - bottom - h - 12), f"{100 * mean[k]:.0f}%", fill="black")
        dr.text((x0, hpx - bottom + 6), "zero" if k == 0 else f"K={k}", fill="black")
    dr.line([left, 10, left, hpx - bottom, wpx - 5, hpx - bottom], fill="black")
    dr.text((4, 4), "top-1", fill="black")
    img.quantize(16).save(out, optimize=True)


if __name__ == "__main__":
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    heatmap_picture(src, dst / "heatmap.png")
    fewshot_chart(src, dst / "fewshot.png")
