"""StreamRecognizer: source -> windows -> runner -> decisions, with per-stage latency.

Two threads: the ingest thread iterates the source, cuts windows (Windower) and hands
them over through a bounded WindowQueue; the calling thread preprocesses, infers and
post-processes. Live sources use the "drop_oldest" queue (the runner always takes the
freshest window; stale ones are dropped and counted); offline replay uses "block"
(every window is recognised).

Stages, per window, in milliseconds:
  ingest      pushing chunks into the ring and cutting windows (per chunk)
  preprocess  events -> encoder input on the runner's device
  inference   encoder + zero-shot head
  postprocess softmax, temporal smoothing, top-k
  age         event age at decision: decision time - ingest time of the window's last event
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
import torch

from ezsr.streaming.buffer import EZSR_WINDOW, Window, WindowQueue, Windower, as_events

STAGES = ("ingest", "preprocess", "inference", "postprocess", "age")


@dataclass
class Decision:
    """One recognition: window index, t_end_us (µs timestamp of the window's last event),
    labels/scores (top-k, probabilities after smoothing, best first), per-stage ms."""

    index: int
    t_end_us: int
    n_events: int
    labels: list[str]
    scores: list[float]
    latency_ms: dict = field(default_factory=dict)


class LatencyStats:
    """Samples per stage (seconds); summary() gives p50/p99/mean/max in ms."""

    def __init__(self):
        self.samples: dict[str, list[float]] = {s: [] for s in STAGES}

    def add(self, stage: str, seconds: float) -> None:
        self.samples.setdefault(stage, []).append(seconds)

    def summary(self) -> dict:
        out = {}
        for stage, v in self.samples.items():
            if v:
                a = np.asarray(v) * 1e3
                out[stage] = {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)),
                              "mean": float(a.mean()), "max": float(a.max()), "n": int(a.size)}
        return out


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


class StreamRecognizer:
    """Recognise a live or replayed event stream.

    runner: a runner of ezsr.streaming.runners. n_events / dt_us: window by count and/or
    time, whichever first (EZSR: 15,000 events); stride: a new count window every `stride`
    events (sliding; default n_events, no overlap). top_k: labels per decision. smoothing:
    exponential moving average of the class probabilities, p <- s * p + (1 - s) * p_new
    (0 = none). max_pending: windows allowed to wait (live mode).
    """

    def __init__(self, runner, n_events: int | None = EZSR_WINDOW, dt_us: int | None = None,
                 top_k: int = 5, smoothing: float = 0.0, max_pending: int = 1,
                 min_events: int | None = None, stride: int | None = None):
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"StreamRecognizer: smoothing must be in [0, 1), got {smoothing}")
        if top_k < 1:
            raise ValueError(f"StreamRecognizer: top_k must be >= 1, got {top_k}")
        self.runner = runner
        self.n_events, self.dt_us, self.min_events = n_events, dt_us, min_events
        self.stride = stride
        self.top_k = min(top_k, len(runner.class_names))
        self.smoothing, self.max_pending = smoothing, max_pending
        self.stats = LatencyStats()
        self._smoothed = None

    # ------------------------------------------------------------------ stages
    def decide(self, window: Window) -> Decision:
        """Preprocess, infer and post-process one window; records the stage latencies."""
        t0 = time.perf_counter()
        inputs = self.runner.preprocess([window.events])
        for v in (inputs.values() if isinstance(inputs, dict) else [inputs]):
            if isinstance(v, torch.Tensor) and v.is_cuda:  # preprocess's kernels count as
                torch.cuda.synchronize(v.device)             # preprocess, not inference
                break
        t1 = time.perf_counter()
        logits = self.runner.infer(inputs)
        t2 = time.perf_counter()
        prob = softmax(np.asarray(logits, np.float64)[0])
        if self.smoothing and self._smoothed is not None:
            prob = self.smoothing * self._smoothed + (1.0 - self.smoothing) * prob
        self._smoothed = prob
        top = np.argsort(-prob, kind="stable")[:self.top_k]
        labels = [self.runner.class_names[i] for i in top]
        t3 = time.perf_counter()
        lat = {"preprocess": t1 - t0, "inference": t2 - t1, "postprocess": t3 - t2,
               "age": t3 - window.arrival}
        for k, v in lat.items():
            self.stats.add(k, v)
        return Decision(window.index, window.t_end_us, len(window.events), labels,
                        [float(prob[i]) for i in top], {k: v * 1e3 for k, v in lat.items()})

    # -------------------------------------------------------------------- loop
    def run(self, source: Iterable, live: bool = False,
            on_decision: Callable[[Decision], None] | None = None,
            max_windows: int | None = None) -> dict:
        """Consume `source` to its end (or max_windows decisions); return the summary:
        windows (recognised), dropped (stale windows discarded), dropped_events (ring or
        push-source overflow), events, wall_s, latency_ms -> stage -> p50/p99/mean/max/n.
        live=True drops stale windows under overload; False recognises every window.
        """
        windower = Windower(self.n_events, self.dt_us, min_events=self.min_events,
                            stride=self.stride)
        queue = WindowQueue(self.max_pending, "drop_oldest" if live else "block")
        errors: list[BaseException] = []
        counts = {"events": 0}
        stop = threading.Event()

        def ingest():
            try:
                for chunk in source:
                    if stop.is_set():
                        break
                    t0 = time.perf_counter()
                    ev = as_events(chunk)
                    counts["events"] += len(ev)
                    ready = windower.push(ev, t0)
                    self.stats.add("ingest", time.perf_counter() - t0)
                    for w in ready:
                        queue.put(w)
                if not stop.is_set():
                    last = windower.flush()
                    if last is not None:
                        queue.put(last)
            except BaseException as exc:  # re-raised in the caller's thread
                errors.append(exc)
            finally:
                queue.close()

        start = time.perf_counter()
        th = threading.Thread(target=ingest, name="ezsr-ingest", daemon=True)
        th.start()
        decisions = 0
        try:
            while max_windows is None or decisions < max_windows:
                w = queue.get()
                if w is None:
                    break
                d = self.decide(w)
                decisions += 1
                if on_decision is not None:
                    on_decision(d)
        finally:
            stop.set()
            queue.close()
            th.join(timeout=10)
        if errors:
            raise errors[0]
        dropped_events = windower.dropped_events + int(getattr(source, "dropped_events", 0))
        return {"windows": decisions, "dropped": queue.dropped, "dropped_events": dropped_events,
                "max_pending_seen": queue.high_water, "events": counts["events"],
                "wall_s": time.perf_counter() - start, "backend": self.runner.name,
                "device": str(self.runner.device), "latency_ms": self.stats.summary()}
