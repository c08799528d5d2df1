"""Decode rate of ezsr.io.read per format on synthetic recordings written by ezsr itself,
side by side with expelliarmus (a GPL C decoder for EVT 2.0 / EVT 3.0 / DAT) when it is
installed in the benchmark environment. expelliarmus is never a dependency of ezsr: it is
imported here only, and skipped when absent.

    python benchmarks/bench_io.py --json bench_io.json [--events 10000000] [--repeat 3]

Ratios (> 1: ezsr is faster): evt3_decode_vs_expelliarmus, evt2_decode_vs_expelliarmus,
dat_decode_vs_expelliarmus. Rates are M events/s, best of --repeat runs, whole-file read
into memory (file read + decode + columns), files warm in the page cache.

Like for like: both sides decode the whole file into the same field types (t int64, x int16,
y int16, p uint8). expelliarmus returns one structured numpy array (16 bytes per event with
padding); ezsr.io.read returns an ezsr.Events of four torch columns (13 bytes per event) and
its time also counts the header parsing and the Events construction, so ezsr does the same
work or more in every timed call.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _report import write_report  # benchmarks/_report.py (run as a script)

from ezsr import io  # noqa: E402
from ezsr.events import Events  # noqa: E402
from ezsr.io import _decode  # noqa: E402

# format name for io.write, extension, sensor (W, H), expelliarmus encoding or None
FORMATS = [
    ("evt3", ".raw", (1280, 720), "evt3"),
    ("evt2", ".raw", (640, 480), "evt2"),
    ("evt21", ".raw", (640, 480), None),
    ("dat", ".dat", (640, 480), "dat"),
    ("aedat2", ".aedat", (346, 260), None),
    ("bin", ".bin", (240, 180), None),
    ("hdf5", ".h5", (640, 480), None),
    ("npy", ".npy", (640, 480), None),
]


def synthetic(n: int, w: int, h: int, t_max: int, seed: int = 0) -> Events:
    """n events at random pixels, Poisson-like arrival over [0, t_max) us (so neighbouring
    events often share a timestamp, as in real recordings)."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, t_max, n, dtype=np.int64))
    return Events(
        rng.integers(0, w, n).astype(np.int16),
        rng.integers(0, h, n).astype(np.int16),
        t,
        rng.integers(0, 2, n).astype(np.uint8),
        w,
        h,
    )


def best_time(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
        del out
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--json", metavar="PATH", help="write {'ratios': ..., 'results': ...} here")
    ap.add_argument("--events", type=int, default=10_000_000, help="events per recording")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per decoder (best kept)")
    ap.add_argument(
        "--formats",
        default=",".join(f[0] for f in FORMATS),
        help="comma-separated subset of " + ",".join(f[0] for f in FORMATS),
    )
    ap.add_argument(
        "--dir",
        default=None,
        help="where to write the synthetic files (default: a temporary folder, removed afterwards)",
    )
    args = ap.parse_args(argv)
    try:
        from expelliarmus import Wizard
    except ImportError:
        Wizard = None
        print("expelliarmus not installed: no comparison (pip install expelliarmus)")
    want = set(args.formats.split(","))
    results, ratios = [], {}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for fmt, ext, (w, h), exp_enc in FORMATS:
            if fmt not in want:
                continue
            if fmt == "hdf5":
                try:
                    import h5py  # noqa: F401
                except ImportError:
                    continue
            t_max = (1 << 23) - 1 if fmt == "bin" else 10_000_000
            ev = synthetic(args.events, w, h, t_max)
            path = os.path.join(tmp, fmt + ext)
            io.write(path, ev, format=fmt)
            del ev
            size = os.path.getsize(path)
            n = len(io.read(path))
            assert n == args.events, (fmt, n)
            wiz = None
            if Wizard is not None and exp_enc is not None:
                wiz = Wizard(encoding=exp_enc)
                arr = wiz.read(path)
                assert len(arr) == n, (fmt, len(arr))
                del arr
            # alternate the two decoders so both see the same machine load
            sec = esec = float("inf")
            for _ in range(args.repeat):
                sec = min(sec, best_time(lambda: io.read(path), 1))
                if wiz is not None:
                    esec = min(esec, best_time(lambda: wiz.read(path), 1))
            results.append(
                {
                    "format": fmt,
                    "decoder": "ezsr",
                    "events": n,
                    "bytes": size,
                    "seconds": sec,
                    "mev_per_s": n / sec / 1e6,
                    "kernel": "c++"
                    if _decode.has_kernel() and fmt not in ("hdf5", "npy")
                    else "numpy",
                }
            )
            if wiz is not None:
                results.append(
                    {
                        "format": fmt,
                        "decoder": "expelliarmus",
                        "events": n,
                        "bytes": size,
                        "seconds": esec,
                        "mev_per_s": n / esec / 1e6,
                    }
                )
                ratios[f"{fmt}_decode_vs_expelliarmus"] = esec / sec
            os.remove(path)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; {args.events:,} events/file")
    print(f"{'format':<8} {'decoder':<13} {'MB':>7} {'s':>7} {'Mev/s':>8}")
    for r in results:
        print(
            f"{r['format']:<8} {r['decoder']:<13} {r['bytes'] / 1e6:7.1f} {r['seconds']:7.3f} "
            f"{r['mev_per_s']:8.1f}"
        )
    for k, v in ratios.items():
        print(f"{k}: {v:.2f}x")
    write_report(args.json, ratios, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
