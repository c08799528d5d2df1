"""Streaming under overload: a source far faster than the model keeps memory bounded (it does
not grow with the stream), drops stale windows, counts every one of them and reports them in
the summary and the printed table."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import torch

from ezsr.commands.stream import format_table
from ezsr.events import Events
from ezsr.streaming import StreamRecognizer


class SlowModel:
    """2 ms per window; logits name the window's first timestamp (mod 3)."""

    name, device, class_names = "slow", torch.device("cpu"), ["a", "b", "c"]

    def __init__(self):
        self.seen = []

    def preprocess(self, windows):
        return windows

    def infer(self, windows):
        time.sleep(0.002)
        t = int(windows[0].t[0])
        self.seen.append(t)
        out = np.zeros((1, 3), np.float32)
        out[0, (t // 1000) % 3] = 5.0
        return out


def camera(n_chunks, n=1000):
    """n_chunks chunks of n events (one window each), made on demand as fast as possible."""
    g = np.random.default_rng(0)
    for i in range(n_chunks):
        yield Events(
            g.integers(0, 640, n).astype(np.int16),
            g.integers(0, 480, n).astype(np.int16),
            np.full(n, i * 1000, np.int64),
            g.integers(0, 2, n).astype(np.uint8),
            640,
            480,
            validate=False,
        )


def run(n_chunks):
    model = SlowModel()
    rec = StreamRecognizer(model, n_events=1000, max_pending=2, warmup=0)
    rec.stats.cap = 64  # latency reservoirs: the only per-chunk record the runtime keeps
    tracemalloc.start()
    s = rec.run(camera(n_chunks), live=True)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return s, peak, model


def test_overload_keeps_memory_bounded_and_counts_every_dropped_window():
    small, peak_small, _ = run(60)
    big, peak_big, model = run(1500)  # 25x the events (1.5 M, ~20 MB through the runtime)
    for s, n in ((small, 60), (big, 1500)):
        assert s["windows"] + s["dropped"] == n  # every cut window recognised or counted
        assert s["max_pending_seen"] <= 2 and s["dropped_events"] == 0
        assert s["events"] == n * 1000 and s["stopped"] == "end"
    assert big["dropped"] > big["windows"]  # the model really was outpaced
    assert model.seen[-1] == 1499 * 1000  # the freshest window is never the one dropped
    assert big["latency_ms"]["ingest"]["n"] == 1500  # counted, though 64 samples are kept
    # memory does not follow the stream: 25x the events, about the same peak
    assert peak_big < 1.5 * peak_small + 512 * 1024, (peak_small, peak_big)
    assert peak_big < 2 * 2**20  # measured 0.25 MB; the stream carried ~20 MB of events
    table = format_table(big)
    assert f"windows {big['windows']}, dropped {big['dropped']} (stale)" in table


def test_windows_are_stale_by_age_while_a_newer_one_waits():
    from ezsr.streaming import Window, WindowQueue

    ev = next(camera(1))
    now = time.perf_counter()
    q = WindowQueue(max_pending=8, max_age=0.05)
    for i, age in enumerate((0.3, 0.2, 0.06, 0.01, 0.0)):
        q.put(Window(ev, i, now - age, i, "count"))
    assert q.get().index == 3 and q.dropped == 3  # the three older than 50 ms are dropped
    assert q.get().index == 4
    q.put(Window(ev, 5, now - 10.0, 5, "count"))  # alone: an old window is still recognised
    assert q.get().index == 5 and q.dropped == 3
