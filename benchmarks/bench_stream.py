"""Does the streaming runtime keep up with a 1280x720 sensor? (ezsr.streaming, ezsr stream)

    python benchmarks/bench_stream.py --json out.json [--seconds 3] [--rate 10e6]

A generated EVT 3.0 recording (uniform random pixels of a 1280x720 sensor, sorted random
times, --rate events/s for --seconds; written once and kept in --cache) is replayed from the
file through StreamRecognizer (FileReplay, 1 ms chunks, 15,000-event windows) with two
stand-in models that take no real compute, so the runtime itself is measured:

* a 0.3 ms model (preprocessing by ezsr.zeroshot.graph.preprocess_windows, then 0.3 ms of
  busy CPU): --realtime replay at the recorded pace. Rows: windows dropped as stale (goal 0)
  and the stream's preprocess p99 against the bare preprocess_windows p99 on the same
  windows in the same process with nothing else running
  (ratio stream_preprocess_p99_vs_bare, goal <= 2);
* the tiny test model exported to ONNX (`ezsr export --model test-tiny`, random weights;
  ONNX Runtime, --ort-threads intra-op threads that do not spin), the user-visible case of
  `ezsr stream FILE --onnx tiny.onnx --realtime`: rows realtime_tiny_onnx_dropped_windows
  (goal 0) and its preprocess p99 against the same bare baseline;
* a null model (no preprocessing, no inference): the file replayed as fast as it decodes
  with the live drop policy. Row: sustained ingest in events/s (ratio ingest_null_model_mevps
  in Mev/s, goal >= 50 on 2 cores) with the windows dropped (goal 0), and the CPU seconds of
  the decoding and ingest threads (events over the larger one: an upper bound of the rate
  with a free core for each, as the threads run slower side by side than taking turns;
  reported, not a goal row).

The 1-minute load average is recorded with every run (the numbers depend on what else runs).
"""

from __future__ import annotations

import argparse
import contextlib
import io as io_text
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _report import write_report  # benchmarks/_report.py (run as a script)

from ezsr import Events, io  # noqa: E402
from ezsr.cli import main as ezsr_cli  # noqa: E402
from ezsr.export.runners import OnnxRuntimeRunner  # noqa: E402
from ezsr.streaming import FileReplay, StreamRecognizer  # noqa: E402
from ezsr.zeroshot.graph import preprocess_windows  # noqa: E402

SENSOR = (1280, 720)


def recording(cache: Path, seconds: float, rate: float, seed: int = 0) -> Path:
    """The generated EVT 3.0 file (made once per seconds/rate/seed)."""
    n = int(seconds * rate)
    path = cache / f"gen_{SENSOR[0]}x{SENSOR[1]}_{n}_{int(seconds * 1e6)}us_s{seed}.raw"
    if not path.exists():
        g = np.random.default_rng(seed)
        t = np.sort(g.integers(0, int(seconds * 1e6), n)).astype(np.int64)
        ev = Events(
            g.integers(0, SENSOR[0], n).astype(np.int16),
            g.integers(0, SENSOR[1], n).astype(np.int16),
            t,
            g.integers(0, 2, n).astype(np.uint8),
            *SENSOR,
        )
        cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part.raw")
        io.write(tmp, ev, format="evt3")
        tmp.rename(path)
    return path


class BusyModel:
    """preprocess_windows, then `ms` of busy CPU (a model that small); keeps up to `keep`
    windows for the bare baseline."""

    name, device, class_names = "busy", torch.device("cpu"), ["a", "b", "c"]

    def __init__(self, ms: float, keep: int = 400):
        self.s, self.keep, self.windows = ms / 1e3, keep, []

        self.cpu = []  # runner-thread CPU seconds per window (preprocess + model)

    def preprocess(self, windows):
        self._c0 = time.thread_time()
        if len(self.windows) < self.keep:
            self.windows.append(windows[0])
        return preprocess_windows(windows, "cpu")

    def infer(self, x):
        end = time.perf_counter() + self.s
        while time.perf_counter() < end:
            pass
        self.cpu.append(time.thread_time() - self._c0)
        return np.zeros((1, 3), np.float32)


class CpuMeter:
    """Wraps a source; cpu_s = CPU time of the thread that iterates it (the ingest thread:
    decoding hand-over, windowing, queueing), wall time excluded."""

    def __init__(self, source):
        self.source, self.cpu_s = source, 0.0

    def __iter__(self):
        c0 = time.thread_time()
        try:
            for chunk in self.source:
                self.cpu_s = time.thread_time() - c0
                yield chunk
        finally:
            self.cpu_s = time.thread_time() - c0

    def close(self):
        self.source.close()


class NullModel:
    name, device, class_names = "null", torch.device("cpu"), ["a", "b", "c"]

    def preprocess(self, windows):
        return None

    def infer(self, x):
        return np.zeros((1, 3), np.float32)


def bare_p99(windows, reps: int = 2) -> dict:
    t = []
    for _ in range(reps):
        for w in windows:
            t0 = time.perf_counter()
            preprocess_windows([w], "cpu")
            t.append(time.perf_counter() - t0)
    a = np.asarray(t) * 1e3
    return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)), "n": a.size}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--json", default=None, help="write results here")
    ap.add_argument("--seconds", type=float, default=3.0, help="recording length (default 3)")
    ap.add_argument("--rate", type=float, default=10e6, help="events/s (default 10e6)")
    ap.add_argument("--model-ms", type=float, default=0.3, help="the small model's time")
    ap.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="runs of each stream (the best run counts: the others were disturbed by other work)",
    )
    ap.add_argument(
        "--cache",
        default=str(Path(tempfile.gettempdir()) / "ezsr-bench-stream"),
        help="folder for the generated recording",
    )
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument(
        "--ort-threads", type=int, default=1, help="ONNX Runtime threads of the tiny model"
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    path = recording(Path(args.cache), args.seconds, args.rate)
    print(
        f"recording {path} ({path.stat().st_size / 2**20:.0f} MiB, "
        f"{time.perf_counter() - t0:.1f} s)",
        flush=True,
    )
    results, ratios = [], {}
    load0 = os.getloadavg()[0]

    best = None
    for _ in range(args.repeats):  # realtime replay with the small model
        model = BusyModel(args.model_ms)
        c0 = time.process_time()
        src = CpuMeter(FileReplay(path, chunk_us=1000, realtime=True))
        s = StreamRecognizer(model, n_events=15000).run(src, live=True)
        s["cpu_s"] = time.process_time() - c0  # all threads, busy-wait model included
        s["ingest_cpu_s"] = src.cpu_s
        s["runner_cpu_ms_per_window"] = float(np.mean(model.cpu)) * 1e3
        key = (s["dropped"], s["latency_ms"]["preprocess"]["p99"])
        if best is None or key < best[0]:
            best = (key, s, model)
    _, s, model = best
    bare = bare_p99(model.windows)
    pre = s["latency_ms"]["preprocess"]
    row = {
        "stream": "realtime",
        "model_ms": args.model_ms,
        "windows": s["windows"],
        "dropped": s["dropped"],
        "events": s["events"],
        "wall_s": s["wall_s"],
        "warmup_s": s["warmup_s"],
        "cpu_s": s["cpu_s"],
        "ingest_cpu_s": s["ingest_cpu_s"],
        "runner_cpu_ms_per_window": s["runner_cpu_ms_per_window"],
        "cores_needed": (
            s["ingest_cpu_s"] + s["runner_cpu_ms_per_window"] / 1e3 * (s["windows"] + s["dropped"])
        )
        / args.seconds,
        "latency_ms": s["latency_ms"],
        "bare_preprocess_ms": bare,
    }
    results.append(row)
    ratios["stream_preprocess_p99_vs_bare"] = pre["p99"] / bare["p99"]
    ratios["realtime_replay_dropped_windows"] = float(s["dropped"])
    print(
        f"realtime {args.seconds:g} s at {args.rate / 1e6:g} Mev/s, {args.model_ms} ms model: "
        f"{s['windows']} windows, {s['dropped']} dropped; preprocess p50 {pre['p50']:.3f} "
        f"p99 {pre['p99']:.3f} ms vs bare p50 {bare['p50']:.3f} p99 {bare['p99']:.3f} ms "
        f"(wall {s['wall_s']:.2f} s, CPU {s['cpu_s']:.2f} s)\n  CPU: ingest thread "
        f"{s['ingest_cpu_s']:.2f} s, runner {s['runner_cpu_ms_per_window']:.3f} ms a window "
        f"-> {row['cores_needed']:.2f} cores needed for every window of the "
        f"{args.seconds:g}-s recording",
        flush=True,
    )

    with tempfile.TemporaryDirectory() as tmp:  # the tiny model, exported, under ONNX Runtime
        w = Path(tmp) / "W.pt"
        torch.manual_seed(0)
        torch.save(torch.randn(32, 3), w)
        onnx = Path(tmp) / "tiny.onnx"
        with contextlib.redirect_stdout(io_text.StringIO()):
            ezsr_cli(["export", str(onnx), "--model", "test-tiny", "--classifier", str(w),
                      "--classes", "cat,dog,car"])  # fmt: skip
        best = None
        for _ in range(args.repeats):
            runner = OnnxRuntimeRunner(onnx, threads=args.ort_threads)
            s = StreamRecognizer(runner, n_events=15000).run(
                FileReplay(path, chunk_us=1000, realtime=True), live=True
            )
            key = (s["dropped"], s["latency_ms"]["preprocess"]["p99"])
            if best is None or key < best[0]:
                best = (key, s)
    s = best[1]
    pre = s["latency_ms"]["preprocess"]
    results.append(
        {
            "stream": "realtime_tiny_onnx",
            "ort_threads": args.ort_threads,
            "windows": s["windows"],
            "dropped": s["dropped"],
            "events": s["events"],
            "wall_s": s["wall_s"],
            "latency_ms": s["latency_ms"],
            "bare_preprocess_ms": bare,
        }
    )
    ratios["realtime_tiny_onnx_dropped_windows"] = float(s["dropped"])
    ratios["tiny_onnx_preprocess_p99_vs_bare"] = pre["p99"] / bare["p99"]
    inf = s["latency_ms"]["inference"]
    print(
        f"realtime, tiny ONNX model ({args.ort_threads} ONNX Runtime thread(s)): "
        f"{s['windows']} windows, {s['dropped']} dropped; preprocess p50 {pre['p50']:.3f} "
        f"p99 {pre['p99']:.3f} ms, inference p50 {inf['p50']:.3f} p99 {inf['p99']:.3f} ms",
        flush=True,
    )

    best = None
    for _ in range(args.repeats):  # as fast as it decodes, null model, live drop policy
        c0 = time.process_time()
        src = CpuMeter(FileReplay(path, chunk_us=1000))
        s = StreamRecognizer(NullModel(), n_events=15000, warmup=0).run(src, live=True)
        s["cpu_s"] = time.process_time() - c0
        s["ingest_cpu_s"] = src.cpu_s
        s["decode_cpu_s"] = getattr(src.source, "decode_cpu_s", 0.0)
        rate = s["events"] / s["wall_s"]
        if best is None or (s["dropped"], -rate) < (best["dropped"], -best["rate"]):
            best = dict(s, rate=rate)
    s = best
    results.append(
        {
            "stream": "ingest_null_model",
            "windows": s["windows"],
            "dropped": s["dropped"],
            "events": s["events"],
            "wall_s": s["wall_s"],
            "events_per_s": s["rate"],
            "cpu_s": s["cpu_s"],
            "ingest_cpu_s": s["ingest_cpu_s"],
            "decode_cpu_s": s["decode_cpu_s"],
            # events over the larger CPU time of the two busy threads: an upper
            # bound of the rate with a free core for each
            "events_per_busiest_thread_cpu_s": s["events"]
            / max(s["decode_cpu_s"], s["ingest_cpu_s"], 1e-9),
            "events_per_cpu_s": s["events"] / max(s["cpu_s"], 1e-9),
            "latency_ms": s["latency_ms"],
        }
    )
    ratios["ingest_null_model_mevps"] = s["rate"] / 1e6
    ratios["ingest_null_model_dropped_windows"] = float(s["dropped"])
    print(
        f"ingest, null model: {s['rate'] / 1e6:.1f} Mev/s, {s['windows']} windows, "
        f"{s['dropped']} dropped; {s['events'] / s['cpu_s'] / 1e6:.1f} Mev per CPU-second "
        f"(ingest thread {s['events'] / max(s['ingest_cpu_s'], 1e-9) / 1e6:.1f}, decoding "
        f"thread {s['events'] / max(s['decode_cpu_s'], 1e-9) / 1e6:.1f} Mev per its "
        "CPU-second: bound with a free core each "
        f"{results[-1]['events_per_busiest_thread_cpu_s'] / 1e6:.1f} Mev/s)",
        flush=True,
    )

    machine = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "threads": args.threads,
        "torch": torch.__version__,
        "load_average_1min_at_start": load0,
        "load_average_1min_at_end": os.getloadavg()[0],
    }
    write_report(args.json, ratios, results, machine=machine)
    print(
        "\nratios (goals: stream_preprocess_p99_vs_bare <= 2, realtime dropped 0 (both models), "
        "ingest >= 50 Mev/s with 0 dropped):"
    )
    for k, v in ratios.items():
        print(f"  {k:<40} {v:.2f}")
    print(
        f"load average (1 min): {load0:.2f} at start, {os.getloadavg()[0]:.2f} at end "
        f"on {os.cpu_count()} cores"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
