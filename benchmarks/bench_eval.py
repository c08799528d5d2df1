"""`ezsr eval` throughput: files/s with DataLoader workers vs reading in the main process.

Generates an N-ImageNet-layout folder (ROOT/extracted_val/<wnid>/*.npz, `--files` recordings of
`--events` events each on the 640x480 sensor; the shared N-ImageNet sample is copied when
present) and runs ezsr.zeroshot.evaluate.evaluate, the function `ezsr eval` calls, once per
worker count in the same process. The model is a small one by default (`--model test-tiny`,
random weights) so that the rows measure the read + preprocess path a GPU would wait on; pass
`--model ViT-B/16 --device cuda` to time the whole evaluation on a GPU. The text classifier is
built before the timed runs. Ratios: files/s with N workers over files/s with 0 (the files
read one at a time in the main process, as before the loader existed). The workers run one
torch thread each; `--threads` sets the main process's (on a machine whose cores are busy
with other work, torch's multi-threaded ops in the main process can be much slower than one
thread, which then dominates the workers-0 row: compare with `--threads 1`).

    python benchmarks/bench_eval.py --json out.json [--workers 0,1,2] [--files 64]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _report import write_report  # noqa: E402  (benchmarks/_report.py, run as a script)

from ezsr import Events, io  # noqa: E402
from ezsr.zeroshot.evaluate import default_workers, evaluate, load_dataset, make_protocol  # noqa: E402

_SHARED = (
    [Path(os.environ["EZSR_SHARED"])]
    if "EZSR_SHARED" in os.environ
    else [ROOT.parent / "shared", ROOT.parent.parent / "shared"]
)
SAMPLES = [d / "data" / "events" / "n_imagenet" / "ezsr_test_event.npz" for d in _SHARED]
WNIDS = ("n01440764", "n01443537", "n01484850", "n01491361")


def make_folder(root: Path, files: int, events: int) -> Path:
    """ROOT/extracted_val/<wnid>/<i>.npz: the shared sample copied, or synthetic streams."""
    sample = next((s for s in SAMPLES if s.exists()), None)
    for i in range(files):
        d = root / "extracted_val" / WNIDS[i % len(WNIDS)]
        d.mkdir(parents=True, exist_ok=True)
        if sample is not None:
            shutil.copyfile(sample, d / f"{i}.npz")
            continue
        g = torch.Generator().manual_seed(i)
        ev = Events(
            torch.randint(0, 640, (events,), generator=g),
            torch.randint(0, 480, (events,), generator=g),
            torch.sort(torch.randint(0, 50_000, (events,), generator=g)).values,
            torch.randint(0, 2, (events,), generator=g),
            640,
            480,
        )
        io.write(d / f"{i}.npz", ev)
    return root


def make_teacher(name: str, device: str):
    """A CLIP teacher of architecture `name` (random weights); its text side (not timed, and
    needing no vocabulary) gives fixed random unit vectors."""
    from ezsr.models import CLIPTeacher, create_model

    class BenchTeacher(CLIPTeacher):
        def encode_text(self, texts):
            g = torch.Generator().manual_seed(len(texts))
            return torch.nn.functional.normalize(
                torch.randn(len(texts), self.embed_dim, generator=g), dim=-1
            )

    return BenchTeacher(create_model(name, device=device), tokenizer=lambda *a, **k: None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=64)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument(
        "--workers",
        default=None,
        help="comma-separated worker counts (default: 0, 1 and the default count)",
    )
    ap.add_argument("--protocol", default="ezsr", choices=["ezsr", "eventclip"])
    ap.add_argument("--model", default="test-tiny")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads of the main process (default: torch's); the "
        "workers always run one thread each, as DataLoader sets them",
    )
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    counts = (
        [int(w) for w in args.workers.split(",")]
        if args.workers
        else sorted({0, 1, default_workers()})
    )
    tmp = Path(tempfile.mkdtemp(prefix="ezsr_bench_eval_"))
    try:
        make_folder(tmp, args.files, args.events)
        ds = load_dataset("mini-n-imagenet", tmp, protocol=args.protocol)
        teacher = make_teacher(args.model, args.device)
        prot = make_protocol(ds.name, args.protocol, out_size=teacher.image_size)
        results = []
        first = True
        for w in counts:
            secs = []
            for _ in range(args.reps + (1 if first else 0)):  # the first run warms up
                t0 = time.perf_counter()
                evaluate(
                    ds,
                    teacher,
                    prot,
                    batch_size=args.batch_size,
                    templates="simple",
                    progress=False,
                    device=args.device,
                    workers=w,
                )
                if args.device.startswith("cuda"):
                    torch.cuda.synchronize()
                secs.append(time.perf_counter() - t0)
            if first:
                secs, first = secs[1:], False
            fps = len(ds.samples) / statistics.median(secs)
            results.append(
                {
                    "name": f"eval_{args.protocol}_workers{w}",
                    "workers": w,
                    "files": len(ds.samples),
                    "seconds": secs,
                    "files_per_s": fps,
                }
            )
            print(f"workers {w}: {fps:8.1f} files/s  (median of {secs})")
        base = results[0]["files_per_s"] if counts[0] == 0 else None
        ratios = (
            {
                f"eval_files_per_s_workers{r['workers']}_over_workers0": r["files_per_s"] / base
                for r in results[1:]
            }
            if base
            else {}
        )
        for k, v in ratios.items():
            print(f"{k}: {v:.2f}x")
        write_report(
            args.json,
            ratios,
            results,
            meta={
                "cores": len(os.sched_getaffinity(0)),
                "model": args.model,
                "main_threads": torch.get_num_threads(),
                "load_average": os.getloadavg(),
                "device": args.device,
                "events_per_file": args.events,
                "default_workers": default_workers(),
            },
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
