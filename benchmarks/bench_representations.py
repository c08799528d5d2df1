"""Representation kernels vs what a user would otherwise write, in one process.

    python benchmarks/bench_representations.py [--json PATH] [--events 1e7] [--windows 256]

1. Polarity histogram of N random events into 2 x 480 x 640 (same process, same torch
   thread count): the ezsr CPU op vs numpy bincount, torch scatter_add_ and torch
   index_put_(accumulate=True). Baselines include building the flat index from x, y, p as a
   user must; scatter_add_ is also timed with a pre-built index ("no index build") to show
   the bare scatter. Also the voxel grid and time surface ops vs their torch references.
2. EZSR preprocessing (EZSR's preprocessing steps 2-7, docs/design.md) of 256 windows of 15,000 events: the
   batched ezsr_preprocess including gathering the windows into an EventBatch (the
   headline ratio), and of an already built EventBatch (as a data loader hands it), vs a
   per-sample numpy/torch implementation written below as a user of the original code
   would run it (slicing its windows is free for it).
3. With CUDA: the histogram op's effective GB/s and its ratio to index_put_ on the GPU.
Times are the best of --repeat runs; ratios are baseline time / ezsr time.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's ezsr first

from _report import write_report  # benchmarks/_report.py (run as a script)

from ezsr import EventBatch, Events  # noqa: E402
from ezsr.ops import ezsr_preprocess, polarity_histogram, time_surface, voxel_grid  # noqa: E402
from ezsr.ops.temporal import time_surface_reference, voxel_grid_reference  # noqa: E402

H, W = 480, 640
MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(3, 1, 1)
STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(3, 1, 1)


def best_of(fn, repeat: int, sync=lambda: None) -> float:
    fn()  # warm-up
    sync()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


def random_events(n: int, seed: int = 0, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, W, (n,), generator=g, dtype=torch.int16)
    y = torch.randint(0, H, (n,), generator=g, dtype=torch.int16)
    p = torch.randint(0, 2, (n,), generator=g, dtype=torch.uint8)
    t = torch.sort(torch.randint(0, 1_000_000, (n,), generator=g)).values
    return Events(x, y, t, p, W, H, validate=False).to(device)


# ------------------------------------------------------------------ per-sample baseline
def per_sample_ezsr(x: np.ndarray, y: np.ndarray, p: np.ndarray) -> torch.Tensor:
    """One window through EZSR's preprocessing steps 1, 3-7 (docs/design.md), numpy + torch, as the original runs."""
    p = p.astype(np.float32)
    if p.min() >= -0.5:
        p[p <= 0.5] = -1
    pos = np.bincount(y[p == 1].astype(np.int64) * W + x[p == 1], minlength=H * W)
    neg = np.bincount(y[p < 0.5].astype(np.int64) * W + x[p < 0.5], minlength=H * W)
    hist = np.stack([pos, neg]).reshape(2, H, W).astype(np.float32)
    vals = hist[hist > 0.1]
    if vals.size:
        hist = np.clip(hist, None, np.quantile(vals, 0.75))
    hist = hist / (hist.max(axis=(1, 2), keepdims=True) + 1)
    img = torch.from_numpy(hist.mean(0))[None, None].expand(1, 3, H, W)
    img = F.interpolate(img, size=(224, int(224 * W / H)), mode="nearest")[0]
    left = int(round((img.shape[2] - 224) / 2.0))
    return (img[:, :, left : left + 224] - MEAN) / STD


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--json", help="write {'ratios': ..., 'results': ...} here")
    ap.add_argument("--events", type=float, default=1e7, help="events for the histogram (1e7)")
    ap.add_argument("--windows", type=int, default=256, help="EZSR windows (256)")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per case (best counts)")
    args = ap.parse_args()
    n = int(args.events)
    threads = torch.get_num_threads()
    results, ratios = [], {}

    def record(section, name, seconds, items, unit):
        results.append(
            {
                "section": section,
                "name": name,
                "seconds": seconds,
                "rate": items / seconds,
                "unit": unit,
            }
        )

    # ---------------------------------------------------------------- 1. histogram
    ev = random_events(n)
    x, y, p = ev.x, ev.y, ev.p
    xn, yn, pn = x.numpy(), y.numpy(), p.numpy()
    out = torch.zeros(2 * H * W)
    ones = torch.ones(n)

    def flat_index():
        return ((1 - p.long()) * H + y.long()) * W + x.long()

    idx = flat_index()
    cases = {
        "ezsr histogram (CPU op)": lambda: polarity_histogram(ev, out_of_bounds="ignore"),
        "numpy bincount (incl. index)": lambda: np.bincount(
            ((1 - pn.astype(np.int64)) * H + yn) * W + xn, minlength=2 * H * W
        ),
        "torch scatter_add_ (incl. index)": lambda: out.zero_().scatter_add_(0, flat_index(), ones),
        "torch scatter_add_ (no index build)": lambda: out.zero_().scatter_add_(0, idx, ones),
        "torch index_put_ accumulate (incl. index)": lambda: out.zero_().index_put_(
            (flat_index(),), ones, accumulate=True
        ),
    }
    times = {}
    for name, fn in cases.items():
        times[name] = best_of(fn, args.repeat)
        record("histogram", name, times[name], n, "ev/s")
    want = torch.from_numpy(cases["numpy bincount (incl. index)"]().astype(np.float32))
    assert torch.equal(polarity_histogram(ev).reshape(-1), want), "histogram disagrees with numpy"
    ez = times["ezsr histogram (CPU op)"]
    ratios["histogram_cpu_vs_torch_scatter_add"] = times["torch scatter_add_ (incl. index)"] / ez
    ratios["histogram_cpu_vs_torch_scatter_add_no_index_build"] = (
        times["torch scatter_add_ (no index build)"] / ez
    )
    ratios["histogram_cpu_vs_numpy_bincount"] = times["numpy bincount (incl. index)"] / ez
    ratios["histogram_cpu_vs_torch_index_put"] = (
        times["torch index_put_ accumulate (incl. index)"] / ez
    )

    # voxel grid / time surface vs their pure-torch references (index_add_ / scatter_reduce_)
    off = torch.tensor([0, n])
    rep = max(1, args.repeat // 2)
    for name, fn, ref in [
        (
            "voxel_grid",
            lambda: voxel_grid(ev, 5, out_of_bounds="ignore"),
            lambda: voxel_grid_reference(x, y, ev.t, p, off, W, H, 5),
        ),
        (
            "time_surface",
            lambda: time_surface(ev, out_of_bounds="ignore"),
            lambda: time_surface_reference(x, y, ev.t, p, off, W, H),
        ),
    ]:
        tk, tr = best_of(fn, rep), best_of(ref, rep)
        record(name, f"ezsr {name} (CPU op)", tk, n, "ev/s")
        record(name, f"torch reference of {name}", tr, n, "ev/s")
        ratios[f"{name}_cpu_vs_torch_reference"] = tr / tk
    ev = x = y = p = idx = ones = out = None  # free the 1e7-event inputs before the next section

    # ------------------------------------------------------------ 2. EZSR preprocessing
    nw, wl = args.windows, 15_000
    stream = random_events(nw * wl // 2 + wl, seed=1)
    # hot pixels so the clip matters
    stream.x[::50], stream.y[::50] = 100, 200
    starts = torch.linspace(0, len(stream) - wl, nw).long()
    cols = stream.numpy()

    def batched():
        return ezsr_preprocess(EventBatch.from_windows(stream, starts, wl))

    def per_sample():
        return torch.stack(
            [
                per_sample_ezsr(cols["x"][s : s + wl], cols["y"][s : s + wl], cols["p"][s : s + wl])
                for s in starts.tolist()
            ]
        )

    ready = EventBatch.from_windows(stream, starts, wl)
    tb = best_of(batched, 3)
    tr = best_of(lambda: ezsr_preprocess(ready), 3)
    ts = best_of(per_sample, 1)
    torch.testing.assert_close(batched(), per_sample(), atol=2e-6, rtol=0)
    record("ezsr_preprocess", f"ezsr_preprocess incl. window gather ({nw})", tb, nw, "windows/s")
    record("ezsr_preprocess", f"ezsr_preprocess of a ready EventBatch ({nw})", tr, nw, "windows/s")
    record("ezsr_preprocess", f"per-sample numpy/torch ({nw} windows)", ts, nw, "windows/s")
    ratios["ezsr_preprocess_batched_vs_per_sample"] = ts / tb
    ratios["ezsr_preprocess_ready_batch_vs_per_sample"] = ts / tr
    # Both again on one thread: on a busy 2-core machine the per-sample baseline's small
    # torch ops suffer most from thread contention, which inflates the 2-thread ratio.
    torch.set_num_threads(1)
    tb1, ts1 = best_of(batched, 3), best_of(per_sample, 1)
    torch.set_num_threads(threads)
    record(
        "ezsr_preprocess", f"ezsr_preprocess incl. gather, 1 thread ({nw})", tb1, nw, "windows/s"
    )
    record("ezsr_preprocess", f"per-sample numpy/torch, 1 thread ({nw})", ts1, nw, "windows/s")
    ratios["ezsr_preprocess_batched_vs_per_sample_1_thread"] = ts1 / tb1

    # ------------------------------------------------------------------- 3. GPU
    if torch.cuda.is_available():
        dev = "cuda"
        sync = torch.cuda.synchronize
        evg = random_events(n, device=dev)
        xg, yg, pg = evg.x, evg.y, evg.p
        og = torch.zeros(2 * H * W, device=dev)
        onesg = torch.ones(n, device=dev)
        tk = best_of(
            lambda: polarity_histogram(evg, out_of_bounds="ignore", validate=False),
            args.repeat * 4,
            sync,
        )
        ti = best_of(
            lambda: og.zero_().index_put_(
                (((1 - pg.long()) * H + yg.long()) * W + xg.long(),), onesg, accumulate=True
            ),
            args.repeat * 4,
            sync,
        )
        record("gpu", f"ezsr histogram ({torch.cuda.get_device_name()})", tk, n, "ev/s")
        record("gpu", "torch index_put_ accumulate (incl. index)", ti, n, "ev/s")
        gbytes = (n * (2 + 2 + 1) + 2 * H * W * 4) / 1e9
        results.append(
            {
                "section": "gpu",
                "name": "ezsr histogram effective bandwidth",
                "seconds": tk,
                "rate": gbytes / tk,
                "unit": "GB/s",
            }
        )
        ratios["histogram_cuda_vs_torch_index_put"] = ti / tk

    # ------------------------------------------------------------------------ report
    meta = {
        "threads": threads,
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "events": n,
        "windows": nw,
    }
    print(f"# bench_representations: {meta}")
    print(f"{'section':<16} {'case':<46} {'time (ms)':>10} {'rate':>16}")
    for r in results:
        rate = (
            f"{r['rate'] / 1e6:9.1f} M{r['unit']}"
            if r["unit"] == "ev/s"
            else f"{r['rate']:9.1f} {r['unit']}"
        )
        print(f"{r['section']:<16} {r['name']:<46} {1e3 * r['seconds']:10.2f} {rate:>16}")
    print("ratios (baseline time / ezsr time):")
    for k, v in ratios.items():
        print(f"  {k:<52} {v:7.2f}x")
    write_report(args.json, ratios, results, meta=meta)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
