"""Events file -> zero-shot label: latency and throughput.

For each model (the offline ConSE default, and ViT-B/32 and ViT-B/16 CLIP shapes with random
weights) and batch size (1 and 64 windows of 15,000 events), time the whole path
    read file -> windows -> ezsr preprocessing -> image embedding -> logits -> top-5
with the text classifier built beforehand (it is cached per class list), and separately the
image encoder alone on the same input. Ratios compare numbers measured in this run:
batch-64 over batch-1 throughput, and the encoder's share of the end-to-end time.

    python benchmarks/bench_zeroshot.py --json out.json [--device cuda] [--reps 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _report import write_report  # benchmarks/_report.py (run as a script)

from ezsr import EventBatch, Events, io  # noqa: E402
from ezsr.zeroshot.classifier import EZSR_WINDOW, _preprocess, default_window_start  # noqa: E402

_SHARED = (
    [Path(os.environ["EZSR_SHARED"])]
    if "EZSR_SHARED" in os.environ
    else [ROOT.parent / "shared", ROOT.parent.parent / "shared"]
)
SAMPLES = [d / "data" / "events" / "n_imagenet" / "ezsr_test_event.npz" for d in _SHARED]


def events_file(tmp: Path) -> Path:
    for sample in SAMPLES:
        if sample.exists():
            return sample
    g = torch.Generator().manual_seed(0)
    n = 100_000
    ev = Events(
        torch.randint(0, 640, (n,), generator=g),
        torch.randint(0, 480, (n,), generator=g),
        torch.arange(n, dtype=torch.int64) // 2,
        torch.randint(0, 2, (n,), generator=g),
        640,
        480,
    )
    path = tmp / "synthetic.npz"
    io.write(path, ev)
    return path


def sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def timeit(fn, reps: int, device, warmup: bool = True) -> list[float]:
    if warmup:
        fn()
    sync(device)
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync(device)
        out.append(time.perf_counter() - t0)
    return out


def make_encoder(name: str, device):
    """(image function on CLIP-normalised [B,3,224,224], embed_dim, label)"""
    if name == "offline":
        from ezsr.models import create_teacher
        from ezsr.zeroshot.classifier import unnormalize

        t = create_teacher("offline", device=device)
        return (lambda x: t.encode_image(unnormalize(x))), t.embed_dim
    from ezsr.models import create_model

    m = create_model(name, device=device)
    return (lambda x: torch.nn.functional.normalize(m.encode_image(x), dim=-1)), m.embed_dim


@torch.no_grad()
def bench(model: str, batch: int, path: Path, device, reps: int) -> dict:
    enc, dim = make_encoder(model, device)
    k = 1000
    w = torch.nn.functional.normalize(torch.randn(dim, k, device=device), dim=0)

    def end_to_end():
        ev = io.read(path)
        n = len(ev)
        if batch == 1:
            s = default_window_start(n, EZSR_WINDOW)
            starts = [s]
        else:
            starts = torch.linspace(0, max(n - EZSR_WINDOW, 0), batch).long().tolist()
        b = EventBatch.from_windows(ev, starts, EZSR_WINDOW).to(device)
        x = _preprocess(b, 224, "crop")
        logits = 100 * enc(x) @ w
        return logits.topk(5, dim=-1).indices.cpu()

    ev = io.read(path)
    starts = torch.linspace(0, max(len(ev) - EZSR_WINDOW, 0), batch).long().tolist()
    x = _preprocess(EventBatch.from_windows(ev, starts, EZSR_WINDOW).to(device), 224, "crop")
    warm = not (str(device) == "cpu" and batch > 1)  # big CPU batches: one cold run each
    e2e = timeit(end_to_end, reps, device, warm)
    encode = timeit(lambda: enc(x), reps, device, warm)
    med, med_enc = statistics.median(e2e), statistics.median(encode)
    return {
        "model": model,
        "batch": batch,
        "device": str(device),
        "reps": reps,
        "latency_ms": 1000 * med,
        "encoder_ms": 1000 * med_enc,
        "latency_min_ms": 1000 * min(e2e),
        "encoder_min_ms": 1000 * min(encode),
        "labels_per_s": batch / med,
        "encoder_share": med_enc / med,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--json", metavar="PATH", help="write {ratios, results} here")
    ap.add_argument(
        "--device", default=None, help="cpu or cuda (default: cpu, plus cuda if available)"
    )
    ap.add_argument("--models", default="offline,ViT-B-32,ViT-B-16")
    ap.add_argument("--batches", default="1,64")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    devices = (
        [args.device] if args.device else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    )
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        path = events_file(Path(tmp))
        print(
            f"events file: {path} ({len(io.read(path))} events); torch threads {torch.get_num_threads()}"
        )
        for device in devices:
            for model in args.models.split(","):
                for batch in map(int, args.batches.split(",")):
                    reps = args.reps if batch == 1 or device != "cpu" else 1
                    r = bench(model, batch, path, device, reps)
                    results.append(r)
                    print(
                        f"{device:5s} {model:10s} batch {batch:3d}: latency {r['latency_ms']:9.1f} ms  "
                        f"(min {r['latency_min_ms']:9.1f})  encoder {r['encoder_ms']:9.1f} ms  "
                        f"{r['labels_per_s']:8.2f} labels/s  "
                        f"encoder share {r['encoder_share']:.2f}",
                        flush=True,
                    )
    ratios = {}
    for r in results:
        if r["batch"] != 1:
            one = next(
                (
                    q
                    for q in results
                    if q["model"] == r["model"] and q["device"] == r["device"] and q["batch"] == 1
                ),
                None,
            )
            if one:
                ratios[f"{r['device']}/{r['model']}/batch{r['batch']}_vs_batch1_throughput"] = (
                    r["labels_per_s"] / one["labels_per_s"]
                )
        ratios[f"{r['device']}/{r['model']}/batch{r['batch']}/encoder_share"] = r["encoder_share"]
    print("\nratios (same run):")
    for k, v in ratios.items():
        print(f"  {k:60s} {v:6.2f}")
    write_report(args.json, ratios, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
