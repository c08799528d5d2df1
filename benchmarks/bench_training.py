"""Training throughput: the data path (decode + simulate + represent) and the full step.

    python benchmarks/bench_training.py [--json PATH] [--quick]

1. Data path, samples/s (both include JPEG/PNG decode + random crop in DataLoader workers):
   - fused:      workers decode; each batch is simulated and represented on the training
                 device in one batched call (ezsr.simulate.images_to_histogram ->
                 ezsr.ops.histogram_to_ezsr_input), as the trainer does
   - per-sample: the same work done per sample inside the DataLoader workers with the torch
                 reference (ezsr.simulate.image_to_events on the simulator's pure-torch
                 reference kernel -> histogram_reference -> histogram_to_ezsr_input), the way a
                 plain torch pipeline would; and once more with the compiled kernels per sample
   ratios train_data_fused_vs_per_sample = fused / per-sample reference (goal >= 10x on the
   2-core CPU) and train_data_fused_vs_per_sample_kernels = fused / per-sample kernels.
   Same images, crop size, sensor, max_frames, motion and duration on both sides. The fused
   run gives the main process the cores the workers leave free (--main-threads).
   Once more with the decoded photos kept in the workers (*_decoded, the trainer's mode for
   tiny image sets): train_data_fused_vs_per_sample_decoded, simulate + represent only.
   Once more on JPEG copies of the photos (*_jpeg, quality 90: ImageNet-like files, which the
   workers decode at a reduced DCT scale): train_data_fused_vs_per_sample_jpeg. Most of the
   built-in photos are PNG, whose decode (libspng, 1-7 ms a photo here) cannot be scaled
   down.
2. Full step (tiny_cpu config: tiny ViT student, offline teacher): samples/s and the
   data-wait fraction (time blocked on the DataLoader / wall time).
3. CUDA only: the fused data path at 224x224, batch 256, 8 workers (data_fused_cuda; no
   per-sample baseline there), and the ViT-B/16 student step, bf16: samples/s and data wait
   (goal < 10 %).
Writes {"ratios": {...}, "results": [...]} to --json and a table to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _report import write_report  # benchmarks/_report.py (run as a script)

from ezsr.training.config import make_config  # noqa: E402
from ezsr.training.data import Augment, ImageDataset, builtin_images  # noqa: E402
from ezsr.training.transform import EventSynthesis  # noqa: E402


class PerSample(Dataset):
    """Decode + simulate + represent one image per __getitem__ (the baseline).

    reference=True runs every ezsr op on its pure-torch reference (ezsr._ext.reference_only:
    rendering, the simulator and the histogram), as a plain torch pipeline would; False
    keeps the compiled kernels."""

    def __init__(self, base: ImageDataset, sim, reference: bool):
        self.base, self.sim, self.reference = base, sim, reference

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        from ezsr import _ext, simulate
        from ezsr.ops import histogram_to_ezsr_input, polarity_histogram

        img, label, _ = self.base[i]
        with _ext.reference_only() if self.reference else contextlib.nullcontext():
            ev = simulate.image_to_events(
                img.float() / 255,
                motion=self.sim.motion,
                sensor=tuple(self.sim.sensor),
                seed=int(i),
                **self.sim.extra,
            )
            h = polarity_histogram(ev, out_of_bounds="ignore")
            return histogram_to_ezsr_input(h, out_size=self.sim.out_size)[0], label


def time_loader(loader, fn, n_batches: int) -> float:
    """samples/s over n_batches after one warm-up batch."""
    it = iter(loader)
    fn(next(it))
    t0, n = time.perf_counter(), 0
    for _ in range(n_batches):
        b = next(it)
        fn(b)
        n += b[0].shape[0]
    return n / (time.perf_counter() - t0)


def jpeg_copies(out_dir: str) -> list:
    """The built-in photos re-encoded as JPEG (quality 90, 4:2:0) in out_dir: an
    ImageNet-like set (JPEG files of a few hundred pixels a side) of the same pictures."""
    from PIL import Image

    files = []
    for k, f in enumerate(builtin_images()[0]):
        dst = os.path.join(out_dir, f"{k:02d}_{Path(f).stem}.jpg")
        with Image.open(f) as im:
            im.convert("RGB").save(dst, "JPEG", quality=90)
        files.append(dst)
    return files


def bench_data(
    cfg,
    batch: int,
    n_batches: int,
    workers: int,
    device: str,
    main_threads: int,
    keep_decoded: bool = False,
    suffix: str = "",
    files: list | None = None,
    baselines: bool = True,
) -> list:
    """Both paths see the same images (same dataset, crop size, augmentation), sensor,
    max_frames, motion model and duration (EventSynthesis.from_config(cfg.sim)); only the seeds
    differ (per batch vs per sample), which changes the motions, not their statistics.
    keep_decoded: every worker keeps the decoded photos (what the trainer does for sets of
    <= ImageDataset.KEEP_DECODED files), so decode drops out and simulate + represent remain.
    baselines=False: the fused path only (the per-sample baselines are CPU work: at 224x224
    and batch 256 the reference one would take hours)."""
    builtin, labels, names = builtin_images()
    files = files or builtin
    base = ImageDataset(files, labels, names, Augment.from_config(cfg.data), 0, repeats=1000)
    base.KEEP_DECODED = len(files) if keep_decoded else 0
    sim = EventSynthesis.from_config(cfg.sim)
    dev = torch.device(device)

    def fused_fn(b):
        x = sim(b[0].to(dev, non_blocking=True), 1)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return x

    # the main process simulates while the workers decode: on a CPU give it the cores the
    # workers leave free (2 cores, 2 workers: 1 thread), else the two oversubscribe each other
    threads = torch.get_num_threads()
    torch.set_num_threads(main_threads)
    try:
        fused = time_loader(
            DataLoader(
                base, batch, shuffle=True, num_workers=workers, pin_memory=dev.type == "cuda"
            ),
            fused_fn,
            n_batches,
        )
    finally:
        torch.set_num_threads(threads)
    common = dict(
        batch=batch,
        image_size=cfg.data.image_size,
        sensor=list(cfg.sim.sensor),
        max_frames=cfg.sim.max_frames,
        motion=cfg.sim.motion,
        workers=workers,
        main_threads=main_threads,
        decode=not keep_decoded,
        device=device,
    )
    rows = [dict(name="data_fused" + suffix, samples_per_s=fused, **common)]
    if not baselines:
        return rows

    # the baselines: all the work in the workers (1 torch thread each, DataLoader's default).
    # Workers deliver their batches in bursts (all start together): time a multiple of the
    # worker count so that the clock spans whole rounds (1 batch would time a batch that was
    # already made in parallel with the warm-up one).
    def rounds(k):
        k = max(k, workers, 1)
        return k + (-k) % max(workers, 1)

    per = time_loader(
        DataLoader(PerSample(base, sim, True), batch, shuffle=True, num_workers=workers),
        lambda b: b,
        rounds(n_batches // 4),
    )
    per_k = time_loader(
        DataLoader(PerSample(base, sim, False), batch, shuffle=True, num_workers=workers),
        lambda b: b,
        rounds(n_batches // 2),
    )
    return rows + [
        dict(name="data_per_sample_reference" + suffix, samples_per_s=per, **common),
        dict(name="data_per_sample_kernels" + suffix, samples_per_s=per_k, **common),
    ]


def bench_step(files, overrides, name: str) -> dict:
    from ezsr.training.trainer import Trainer

    ImageDataset.KEEP_DECODED = 0  # decode every sample, as with a real dataset
    with tempfile.TemporaryDirectory() as out:
        cfg = make_config(
            files,
            [
                *overrides,
                f"run.out_dir={out}",
                "run.progress=false",
                "run.tensorboard=false",
                "run.eval_every=0",
                "run.eval_samples=8",
                "run.ckpt_every=0",
            ],
        )
        tr = Trainer(cfg)
        tr.eval_set = None  # throughput only
        m = tr.fit()
    return dict(
        name=name,
        samples_per_s=m["samples_per_s"],
        data_wait=m["data_wait"],
        batch=cfg.optim.batch_size,
        student=cfg.model.student,
        precision=tr.precision,
        device=str(tr.device),
        steps=cfg.run.steps,
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--json", help="write results here")
    ap.add_argument("--quick", action="store_true", help="fewer batches (a smoke run)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--data-only", action="store_true", help="skip the full-step sections")
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument(
        "--main-threads",
        type=int,
        default=0,
        help="torch threads of the main process while the fused path runs "
        "(0: the cores the workers leave free, at least 1)",
    )
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    nb = 2 if args.quick else 8
    cfg = make_config(["tiny_cpu"], [])
    mt = args.main_threads or max(1, (os.cpu_count() or 1) - args.workers)
    results = bench_data(cfg, args.batch, nb, args.workers, "cpu", mt)
    results += bench_data(
        cfg, args.batch, nb, args.workers, "cpu", mt, keep_decoded=True, suffix="_decoded"
    )
    with tempfile.TemporaryDirectory() as tmp:
        results += bench_data(
            cfg, args.batch, nb, args.workers, "cpu", mt, suffix="_jpeg", files=jpeg_copies(tmp)
        )
    steps = 6 if args.quick else 20
    if not args.data_only:
        results.append(
            bench_step(
                ["tiny_cpu"],
                [
                    f"run.steps={steps}",
                    f"run.log_every={steps // 2}",
                    f"data.workers={args.workers}",
                ],
                "step_tiny_cpu",
            )
        )
    if torch.cuda.is_available() and not args.data_only:
        results += bench_data(
            make_config(["imagenet_vitb16"], []),
            256,
            nb,
            8,
            "cuda",
            torch.get_num_threads(),
            suffix="_cuda",
            baselines=False,
        )
        results.append(
            bench_step(
                ["imagenet_vitb16"],
                [
                    "data.root=builtin",
                    "data.repeats=1000",
                    "run.steps=30",
                    "run.log_every=15",
                    "data.workers=8",
                ],
                "step_vitb16_bf16_cuda",
            )
        )
    r = {x["name"]: x for x in results}
    ratios = {
        "train_data_fused_vs_per_sample": r["data_fused"]["samples_per_s"]
        / r["data_per_sample_reference"]["samples_per_s"]
    }
    ratios["train_data_fused_vs_per_sample_kernels"] = (
        r["data_fused"]["samples_per_s"] / r["data_per_sample_kernels"]["samples_per_s"]
    )
    ratios["train_data_fused_vs_per_sample_decoded"] = (
        r["data_fused_decoded"]["samples_per_s"]
        / r["data_per_sample_reference_decoded"]["samples_per_s"]
    )
    ratios["train_data_fused_vs_per_sample_jpeg"] = (
        r["data_fused_jpeg"]["samples_per_s"] / r["data_per_sample_reference_jpeg"]["samples_per_s"]
    )
    if "step_vitb16_bf16_cuda" in r:
        ratios["gpu_step_data_wait"] = r["step_vitb16_bf16_cuda"]["data_wait"]
    print(f"{'benchmark':<34}{'samples/s':>12}{'data wait':>11}  notes")
    for x in results:
        dw = f"{100 * x['data_wait']:.0f}%" if "data_wait" in x else "-"
        note = ", ".join(
            f"{k}={x[k]}" for k in ("batch", "device", "student", "precision") if k in x
        )
        print(f"{x['name']:<34}{x['samples_per_s']:>12.1f}{dw:>11}  {note}")
    for k, v in ratios.items():
        print(f"{k}: {v:.2f}")
    write_report(args.json, ratios, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
