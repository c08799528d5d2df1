"""Per-stage latency of the streaming path for each backend and ViT shape (random weights).

    python benchmarks/bench_latency.py --json out.json [--plot out.png] [--iters 10]

Stages per call on one (or B identical) 15,000-event windows: preprocess (events -> input
on the backend's device), inference (encoder + zero-shot head), postprocess (softmax,
top-5). Backends: torch eager (CPU), onnxruntime CPU with the image graph, onnxruntime CPU
with the events graph (preprocessing inside the graph, so its "inference" includes it);
on a GPU also torch eager CUDA, torch CUDA graphs and onnxruntime CUDA EP when present.
Ratio onnxruntime_cpu_vs_torch_eager = torch eager p50 / onnxruntime p50 of the inference
stage for ViT-B/16 at batch 1 (informational: the CPU deployment goal is int8 ONNX Runtime
>= 1.6x fp32 ONNX Runtime, benchmarks/bench_int8.py; fp32 ONNX Runtime cannot reach 1.2x
torch eager here, its GEMMs already run near the FMA peak, docs/benchmarks.md). Both sides
get the same thread count.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _report import write_report  # benchmarks/_report.py (run as a script)

from ezsr.events import Events  # noqa: E402
from ezsr.export.onnx_export import export_onnx, ort_session  # noqa: E402
from ezsr.streaming.recognizer import softmax  # noqa: E402
from ezsr.zeroshot.graph import (  # noqa: E402
    ImageClassifier,
    ZeroShotHead,
    pad_events,  # noqa: E402
    preprocess_windows,  # noqa: E402
)

# (patch, width, layers, heads, embed dim): the ViT shapes of the issue
SHAPES = {
    "ViT-S/16": (16, 384, 12, 6, 384),
    "ViT-B/32": (32, 768, 12, 12, 512),
    "ViT-B/16": (16, 768, 12, 12, 512),
}
K = 1000  # classes in the head (ImageNet-sized)


class _Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.out = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(self.ln_1(x)).view(b, n, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
        x = x + self.out(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d))
        return x + self.mlp(self.ln_2(x))


class ViT(nn.Module):
    """A CLIP-style pre-LN ViT image tower (class token, ln_pre/ln_post, projection)."""

    def __init__(self, patch, width, layers, heads, dim, size=224):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, patch, patch, bias=False)
        self.cls = nn.Parameter(torch.randn(1, 1, width) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, (size // patch) ** 2 + 1, width) * 0.02)
        self.ln_pre, self.ln_post = nn.LayerNorm(width), nn.LayerNorm(width)
        self.blocks = nn.Sequential(*[_Block(width, heads) for _ in range(layers)])
        self.proj = nn.Parameter(torch.randn(width, dim) / width**0.5)

    def forward(self, x):
        x = self.conv1(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
        x = self.blocks(self.ln_pre(x))
        return self.ln_post(x[:, 0]) @ self.proj


def make_tower(name):
    """The project's tower (ezsr.models) where it has this shape, else the local ViT."""
    torch.manual_seed(0)
    try:
        from ezsr import models

        cfg = {"ViT-B/32": "ViT-B-32", "ViT-B/16": "ViT-B-16"}.get(name)
        if cfg and hasattr(models, "create_event_encoder"):
            return models.create_event_encoder(cfg).eval(), "ezsr.models"
    except Exception:  # noqa: BLE001 - fall back to the local definition
        pass
    return ViT(*SHAPES[name]).eval(), "local"


def window(n=15000, seed=0) -> Events:
    g = np.random.default_rng(seed)
    return Events(
        g.integers(0, 640, n).astype(np.int32),
        g.integers(0, 480, n).astype(np.int32),
        np.sort(g.integers(0, 50000, n)),
        g.integers(0, 2, n).astype(np.uint8),
        640,
        480,
    )


def time_stages(configs: dict, iters: int, warmup: int) -> dict:
    """{backend: {stage: [seconds]}}; the backends take turns call by call (round robin),
    so a change of load on the shared machine hits all of them alike."""
    out = {k: {"preprocess": [], "inference": [], "postprocess": []} for k in configs}
    for i in range(warmup + iters):
        for name, (pre, infer) in configs.items():
            t0 = time.perf_counter()
            x = pre()
            if isinstance(x, torch.Tensor) and x.is_cuda:
                torch.cuda.synchronize()  # the preprocessing's kernels, not the inference's
            t1 = time.perf_counter()
            logits = infer(x)
            t2 = time.perf_counter()
            prob = softmax(np.asarray(logits, np.float64))
            np.argsort(-prob, axis=1)[:, :5]
            t3 = time.perf_counter()
            if i >= warmup:
                out[name]["preprocess"].append(t1 - t0)
                out[name]["inference"].append(t2 - t1)
                out[name]["postprocess"].append(t3 - t2)
    return out


def stats(v):
    a = np.asarray(v) * 1e3
    return {
        "p50": float(np.percentile(a, 50)),
        "p99": float(np.percentile(a, 99)),
        "n": int(a.size),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--json", required=True, help="write results here")
    ap.add_argument("--plot", default=None, help="latency-distribution plot (PNG)")
    ap.add_argument("--iters", type=int, default=8, help="timed calls per configuration")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2, help="CPU threads for torch and ORT")
    ap.add_argument(
        "--models",
        default=",".join(SHAPES),
        help=f"comma-separated shapes, of: {','.join(SHAPES)} (default: all)",
    )
    ap.add_argument("--batches", default="1,8", help="comma-separated batch sizes")
    args = ap.parse_args(argv)
    unknown = [m for m in args.models.split(",") if m not in SHAPES]
    if unknown:
        ap.error(f"--models: unknown {', '.join(unknown)}; choose from {', '.join(SHAPES)}")
    torch.set_num_threads(args.threads)
    batches = [int(b) for b in args.batches.split(",")]
    ev = window()
    results, samples = [], {}
    tmp = Path(tempfile.mkdtemp())
    cuda = torch.cuda.is_available()
    for name in args.models.split(","):
        tower, origin = make_tower(name)
        cls = F.normalize(torch.randn(SHAPES[name][4], K), dim=0)
        module = ImageClassifier(tower, ZeroShotHead(cls, 100.0)).eval()
        img_path = export_onnx(tower, cls, tmp / "img.onnx")
        ev_path = export_onnx(tower, cls, tmp / "ev.onnx", kind="events")
        sess_img = ort_session(img_path, threads=args.threads, spin=False)
        sess_ev = ort_session(ev_path, threads=args.threads, spin=False)
        # a copy: .cuda() moves a module in place, and the CPU rows keep using `tower`
        gmod = (
            ImageClassifier(copy.deepcopy(tower), ZeroShotHead(cls, 100.0)).cuda().eval()
            if cuda
            else None
        )
        for b in batches:
            wins = [ev] * b
            iters = max(2, args.iters // (3 if b > 1 else 1))
            configs = {
                "torch_eager_cpu": (
                    lambda: preprocess_windows(wins, "cpu"),
                    lambda x: module(x).numpy(),
                ),
                "onnxruntime_cpu": (
                    lambda: preprocess_windows(wins, "cpu").numpy(),
                    lambda x: sess_img.run(["logits"], {"image": x})[0],
                ),
                "onnxruntime_cpu_events_graph": (
                    lambda: pad_events(wins),
                    lambda f: sess_ev.run(["logits"], f)[0],
                ),
            }
            if cuda:
                from ezsr.streaming.runners import TorchRunner

                cg = TorchRunner(gmod, [str(i) for i in range(K)], "cuda", cuda_graph=True)
                configs["torch_eager_cuda"] = (
                    lambda: preprocess_windows(wins, "cuda"),
                    lambda x: gmod(x).cpu().numpy(),
                )
                configs["torch_cudagraph_cuda"] = (
                    lambda: preprocess_windows(wins, "cuda"),
                    cg.infer,
                )
            with torch.no_grad():
                timed = time_stages(configs, iters, args.warmup)
            for backend, st in timed.items():
                row = {
                    "model": name,
                    "tower": origin,
                    "backend": backend,
                    "batch": b,
                    **{k: stats(v) for k, v in st.items()},
                }
                row["total"] = stats([sum(z) for z in zip(*st.values())])
                results.append(row)
                samples[f"{name} b{b} {backend}"] = np.asarray(st["inference"]) * 1e3
                row["inference_samples_ms"] = [round(v * 1e3, 3) for v in st["inference"]]
                print(
                    f"{name:<9} b={b}  {backend:<30} pre {row['preprocess']['p50']:8.2f}  "
                    f"inf {row['inference']['p50']:9.2f} (p99 {row['inference']['p99']:9.2f})  "
                    f"post {row['postprocess']['p50']:6.3f} ms",
                    flush=True,
                )
    ratios = {}

    def p50(model, backend, b=1):
        for r in results:
            if (r["model"], r["backend"], r["batch"]) == (model, backend, b):
                return r["inference"]["p50"]
        return None

    for name in args.models.split(","):
        t, o = p50(name, "torch_eager_cpu"), p50(name, "onnxruntime_cpu")
        if t and o:
            key = "onnxruntime_cpu_vs_torch_eager" + ("" if name == "ViT-B/16" else f"[{name}]")
            ratios[key] = t / o
    machine = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "threads": args.threads,
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if cuda else None,
        "load_average_1min_at_end": os.getloadavg()[0],
    }
    try:
        import onnxruntime

        machine["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    write_report(args.json, ratios, results, machine=machine)
    print("\nratios (informational; the CPU goal is int8, benchmarks/bench_int8.py):")
    for k, v in ratios.items():
        print(f"  {k:<45} {v:.2f}x")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        keys = list(samples)
        fig, ax = plt.subplots(figsize=(10, 0.35 * len(keys) + 1.5))
        try:  # matplotlib >= 3.9 names it tick_labels
            ax.boxplot([samples[k] for k in keys], orientation="horizontal", tick_labels=keys)
        except TypeError:
            ax.boxplot([samples[k] for k in keys], vert=False, labels=keys)
        ax.set_xscale("log")
        ax.set_xlabel("inference latency per call (ms, log scale)")
        ax.set_title(
            f"ezsr streaming inference latency ({machine['cores']} cores, "
            f"{args.threads} threads{', ' + machine['cuda'] if cuda else ''})"
        )
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
