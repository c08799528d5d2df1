"""int8 ONNX Runtime against fp32 ONNX Runtime, ViT-B/16 at batch 1 on the CPU, same run.

    python benchmarks/bench_int8.py --json out.json [--iters 10] [--threads 2]

The ViT-B/16 event encoder of ezsr.models (create_event_encoder("ViT-B-16"); random weights
unless --checkpoint gives EZSR/CLIP weights: none are available offline) is exported fp32 (ezsr.export.onnx_export.export_onnx) and int8 (precision="int8": dynamic,
and static QDQ calibrated on the first windows of each recording), then timed alternately
on one EZSR input (batch 1) with the same thread count. Agreement: top-1 of int8 vs fp32 on
15,000-event windows of the real recordings in ../shared/data/events (calibration windows
excluded). With random weights a random text classifier separates nothing (every window
lands near the same class, margins far below any quantisation error), so the head's K = 6
classes are the recordings themselves: the encoder's centred, normalised embeddings of each
recording's calibration window (a nearest-prototype classifier). Ratios: int8_dynamic_vs_fp32_onnxruntime (fp32 p50 / int8 p50, goal >= 1.6),
int8_static_vs_fp32_onnxruntime, and the agreements int8_*_top1_agreement (goal >= 0.98).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _report import write_report  # benchmarks/_report.py (run as a script)

from ezsr import io, models  # noqa: E402
from ezsr.export.onnx_export import export_onnx, ort_session  # noqa: E402
from ezsr.zeroshot.graph import preprocess_windows  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "events"
RECORDINGS = [
    "n_imagenet/ezsr_test_event.npz",
    "n_caltech101/Faces_easy_0001.bin",
    "aedat4/dvxplorer_sample.aedat4",
    "aedat4/davis346_with_frames.aedat4",
    "prophesee/gen3_evt2_sample.raw",
    "aedat2/dvs128_short.aedat",
]


def windows(per_file: int = 30, step: int = 5000):
    """(calibration, held-out) 15,000-event windows: the first window of each recording
    calibrates; up to per_file windows starting every `step` events after it are held out
    (they overlap by 10,000 events: more windows from the few short recordings there are)."""
    calib, held = [], []
    for rel in RECORDINGS:
        if not (SHARED / rel).exists():
            continue
        ev = io.read(SHARED / rel)
        if len(ev) < 30000:
            continue
        calib.append(ev.window(0, 15000))
        held += [ev.window(s, 15000) for s in range(15000, len(ev) - 15000 + 1, step)][:per_file]
    return calib, held


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--json", default=None)
    ap.add_argument("--iters", type=int, default=10, help="timed calls per graph")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default="ViT-B-16")
    ap.add_argument("--checkpoint", default=None, help="EZSR/CLIP weights (default: random)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    enc = models.create_event_encoder(args.model, pretrained=args.checkpoint).eval()
    with torch.no_grad():
        d = enc(torch.zeros(1, 3, 224, 224)).shape[1]
    calib, held = windows()
    if calib:  # classes = the recordings: K = 6 centred embeddings of their first windows
        with torch.no_grad():
            f = F.normalize(enc(torch.cat([preprocess_windows([w], "cpu") for w in calib])), dim=1)
        cls = F.normalize((f - f.mean(0)).T, dim=0)
    else:
        cls = F.normalize(torch.randn(d, 10, generator=torch.Generator().manual_seed(0)), dim=0)
    tmp = Path(tempfile.mkdtemp())
    t0 = time.perf_counter()
    paths = {
        "fp32": export_onnx(enc, cls, tmp / "fp32.onnx"),
        "int8_dynamic": export_onnx(enc, cls, tmp / "dyn.onnx", precision="int8"),
    }
    if calib:
        paths["int8_static"] = export_onnx(
            enc, cls, tmp / "static.onnx", precision="int8", int8_mode="static", calibration=calib
        )
    print(f"exported {', '.join(paths)} in {time.perf_counter() - t0:.0f} s", flush=True)
    sess = {k: ort_session(p, threads=args.threads, spin=False) for k, p in paths.items()}
    x = (
        preprocess_windows([held[0]], "cpu").numpy()
        if held
        else np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    )
    for s in sess.values():
        s.run(["logits"], {"image": x})
    times = {k: [] for k in sess}
    for _ in range(args.iters):  # alternate, so load changes hit every graph alike
        for k, s in sess.items():
            t = time.perf_counter()
            s.run(["logits"], {"image": x})
            times[k].append(time.perf_counter() - t)
    results, ratios = [], {}
    p50 = {k: float(np.median(v)) * 1e3 for k, v in times.items()}
    logits = {}
    for k, s in sess.items():
        logits[k] = (
            np.concatenate(
                [
                    s.run(["logits"], {"image": preprocess_windows([w], "cpu").numpy()})[0]
                    for w in held
                ]
            )
            if held
            else None
        )
    for k in sess:
        row = {
            "graph": k,
            "p50_ms": p50[k],
            "p99_ms": float(np.percentile(times[k], 99)) * 1e3,
            "size_mb": os.path.getsize(paths[k]) / 2**20,
            "n": args.iters,
        }
        if k != "fp32":
            ratios[f"{k}_vs_fp32_onnxruntime"] = p50["fp32"] / p50[k]
            if held:
                agree = float((logits[k].argmax(1) == logits["fp32"].argmax(1)).mean())
                ratios[f"{k}_top1_agreement"] = agree
                row["top1_agreement"] = agree
                diff = np.abs(logits[k] - logits["fp32"]).max(1)
                row["max_abs_logit_diff"] = float(diff.max())
                # steadier than the flips with near-tie margins: the mean int8 logit error
                row["mean_abs_logit_diff"] = float(np.abs(logits[k] - logits["fp32"]).mean())
                srt = np.sort(logits["fp32"], 1)
                margin = srt[:, -1] - srt[:, -2]  # fp32 top-1 minus top-2 logit
                flip = logits[k].argmax(1) != logits["fp32"].argmax(1)
                # a flip where fp32 itself is a near-tie (margin below twice the int8 logit
                # error of that window) is the quantisation noise any int8 graph has
                row["flips"] = int(flip.sum())
                row["flips_fp32_margins"] = [round(float(m), 4) for m in margin[flip]]
                row["flips_within_int8_error"] = int((flip & (margin < 2 * diff)).sum())
                row["fp32_margin_median"] = float(np.median(margin))
        results.append(row)
        print(
            f"{k:<13} p50 {p50[k]:8.1f} ms  {row['size_mb']:6.1f} MiB"
            + (
                f"  top-1 agreement {row['top1_agreement']:.3f} on {len(held)} windows "
                f"({row['flips']} flips, {row['flips_within_int8_error']} of them fp32 "
                f"near-ties; fp32 margins of the flips {row['flips_fp32_margins']}, median "
                f"margin {row['fp32_margin_median']:.3f}; mean |logit error| "
                f"{row['mean_abs_logit_diff']:.3f})"
                if "top1_agreement" in row
                else ""
            ),
            flush=True,
        )
    machine = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "threads": args.threads,
        "torch": torch.__version__,
        "weights": args.checkpoint or "random",
        "model": args.model,
        "held_out_windows": len(held),
        "load_average_1min_at_end": os.getloadavg()[0],
    }
    try:
        import onnxruntime

        machine["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    write_report(args.json, ratios, results, machine=machine)
    print("\nratios (goal int8 >= 1.6x fp32 ONNX Runtime, top-1 agreement >= 0.98):")
    for k, v in ratios.items():
        print(f"  {k:<40} {v:.3f}")
    print(f"load average (1 min) at end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
