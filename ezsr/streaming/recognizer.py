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

import gc
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

import numpy as np
import torch

from ezsr.streaming.buffer import EZSR_WINDOW, Window, Windower, WindowQueue, as_events

if TYPE_CHECKING:
    from ezsr.streaming.runners import Runner

# Streams running at once share one freeze of the garbage collector: the first one in
# freezes (unless something else already froze objects: then nothing is frozen or undone
# here), the last one out unfreezes.
_GC_LOCK = threading.Lock()
_GC_STREAMS = 0
_GC_FROZE = False


def _freeze_gc() -> None:
    """Join the streams' freeze (leave it with _unfreeze_gc)."""
    global _GC_STREAMS, _GC_FROZE
    with _GC_LOCK:
        if _GC_STREAMS == 0:
            _GC_FROZE = gc.get_freeze_count() == 0
            if _GC_FROZE:
                gc.freeze()
        _GC_STREAMS += 1


def _unfreeze_gc() -> None:
    global _GC_STREAMS, _GC_FROZE
    with _GC_LOCK:
        _GC_STREAMS -= 1
        if _GC_STREAMS == 0 and _GC_FROZE:
            gc.unfreeze()
            _GC_FROZE = False


STAGES = ("ingest", "preprocess", "inference", "postprocess", "age")


@dataclass
class Decision:
    """One recognition: window index, t_end_us (µs timestamp of the window's last event,
    on the source's clock), t_rel_us (the same since the stream's first event), labels/
    scores (top-k, probabilities after smoothing, best first), per-stage ms."""

    index: int
    t_end_us: int
    n_events: int
    labels: list[str]
    scores: list[float]
    latency_ms: dict = field(default_factory=dict)
    t_rel_us: int = 0

    def record(self) -> dict:
        """The decision as a JSON-ready dict (what --summary-json lists per window)."""
        return {
            "index": self.index,
            "t_end_us": self.t_end_us,
            "t_rel_us": self.t_rel_us,
            "n_events": self.n_events,
            "labels": list(self.labels),
            "scores": [float(v) for v in self.scores],
        }


class LatencyStats:
    """Samples per stage (seconds); summary() gives p50/p99/mean/max in ms.

    Memory is bounded: past `cap` samples a stage keeps a uniform reservoir of `cap` of
    them (Vitter's algorithm R, fixed seed) for the percentiles; n, mean and max count
    every sample.
    """

    def __init__(self, cap: int = 65536) -> None:
        self.cap = int(cap)
        self.samples: dict[str, list[float]] = {s: [] for s in STAGES}
        self._n: dict[str, int] = {}
        self._sum: dict[str, float] = {}
        self._max: dict[str, float] = {}
        self._rng = np.random.default_rng(0)

    def add(self, stage: str, seconds: float) -> None:
        v = self.samples.setdefault(stage, [])
        n = self._n.get(stage, 0) + 1
        self._n[stage] = n
        self._sum[stage] = self._sum.get(stage, 0.0) + seconds
        self._max[stage] = max(self._max.get(stage, seconds), seconds)
        if len(v) < self.cap:
            v.append(seconds)
        else:
            j = int(self._rng.integers(0, n))
            if j < self.cap:
                v[j] = seconds

    def summary(self) -> dict:
        out = {}
        for stage, v in self.samples.items():
            if v:
                a = np.asarray(v) * 1e3
                n = self._n[stage]
                out[stage] = {
                    "p50": float(np.percentile(a, 50)),
                    "p99": float(np.percentile(a, 99)),
                    "mean": self._sum[stage] * 1e3 / n,
                    "max": self._max[stage] * 1e3,
                    "n": n,
                }
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
    (0 = none). Live mode (the drop policy): a waiting window is stale, dropped and counted,
    once max_age seconds (default 0.05) passed since its last event arrived and a newer window
    waits, or when max_pending (default 256, the memory bound: at most ~50 MB of
    15,000-event windows) are already waiting. The bound is sized not to bite before the age
    policy: at 50 Mev/s, 50 ms is 167 such windows; with 32, a null model's replay of a
    10 Mev/s recording as fast as it decodes (~37 Mev/s, 2 cores) dropped 6-9 of 2,000
    windows in 3 of 6 runs, each time with 32 windows waiting; with 256, none in 6.
    warmup: untimed calls before the stream. switch_interval: the interpreter's GIL switch
    interval while the stream runs (seconds; None: unchanged; default 2 ms, see run()).
    freeze_gc: move every object that exists when the stream starts out of the cyclic
    garbage collector's reach (gc.freeze) for the stream: a full collection walks them all
    (~170,000 objects once torch is imported: 50-65 ms here), which stalled the ingest
    thread for 61 ms in 1 of 15 null-model replays and dropped windows by age; frozen, a
    collection walks only what the stream made. Undone when the last of the streams running
    at once ends; nothing is frozen (or undone) when something else had frozen objects
    before.
    max_batch: up to this many waiting windows go through one preprocess + inference call
    (oldest first, after the stale ones are dropped), each still getting its own decision.
    1 (default): one window a call, the latency-optimal case. Where a call's time grows
    slowly with its batch (a GPU), a larger value keeps up with faster streams instead of
    dropping their windows as stale.
    ingest_nice: in live mode the ingest thread runs at this niceness above the process's
    (Linux; 0: as the process), so the runner wins the CPU when both are runnable: the
    ingest thread's work has the window queue as slack, the runner's is the latency (in a
    10 Mev/s replay at load 2.7, the slowest 1 % of preprocess calls waited 4.0-4.5 ms for
    a core with the ingest thread at nice 0, 2.2-2.9 ms at nice 5).
    """

    def __init__(
        self,
        runner: Runner,
        n_events: int | None = EZSR_WINDOW,
        dt_us: int | None = None,
        top_k: int = 5,
        smoothing: float = 0.0,
        max_pending: int = 256,
        min_events: int | None = None,
        stride: int | None = None,
        warmup: int = 2,
        keep_decisions: bool = False,
        switch_interval: float | None = 0.002,
        max_age: float | None = 0.05,
        ingest_nice: int = 5,
        max_batch: int = 1,
        freeze_gc: bool = True,
    ) -> None:
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"StreamRecognizer: smoothing must be in [0, 1), got {smoothing}")
        if top_k < 1:
            raise ValueError(f"StreamRecognizer: top_k must be >= 1, got {top_k}")
        self.runner = runner
        self.n_events, self.dt_us, self.min_events = n_events, dt_us, min_events
        self.stride = stride
        self.top_k = min(top_k, len(runner.class_names))
        self.smoothing, self.max_pending = smoothing, max_pending
        self.warmup, self.keep_decisions = int(warmup), keep_decisions
        self.switch_interval, self.max_age = switch_interval, max_age
        self.ingest_nice = int(ingest_nice)
        if int(max_batch) < 1:
            raise ValueError(f"StreamRecognizer: max_batch must be >= 1, got {max_batch}")
        self.max_batch = int(max_batch)
        self.freeze_gc = bool(freeze_gc)
        self.stats = LatencyStats()
        self.calls, self.max_batch_seen = 0, 0  # preprocess + inference calls of the stream
        self._smoothed: np.ndarray | None = None
        self._t0: int | None = None  # timestamp of the stream's first event

    # ----------------------------------------------------------------- warm-up
    def warm_up(self, width: int, height: int, calls: int | None = None) -> float:
        """Run preprocess + infer `calls` times (default self.warmup) on a fixed random
        window of the stream's size on a width x height sensor, untimed: the first calls
        pay for lazy imports, kernel/primitive selection and allocator growth, which would
        otherwise be the stream's p99. Returns the seconds it took."""
        from ezsr.events import Events

        calls = self.warmup if calls is None else calls
        if calls <= 0:
            return 0.0
        n = self.n_events or 15000
        g = np.random.default_rng(0)
        ev = Events(
            g.integers(0, max(width, 1), n).astype(np.int16),
            g.integers(0, max(height, 1), n).astype(np.int16),
            np.arange(n, dtype=np.int64),
            g.integers(0, 2, n).astype(np.uint8),
            max(width, 1),
            max(height, 1),
            validate=False,
        )
        t0 = time.perf_counter()
        for _ in range(calls):
            inputs = self.runner.preprocess([ev])
            self.runner.infer(inputs)
        return time.perf_counter() - t0

    # ------------------------------------------------------------------ stages
    def decide(self, window: Window) -> Decision:
        """Preprocess, infer and post-process one window; records the stage latencies."""
        return self.decide_many([window])[0]

    def decide_many(self, windows: Sequence[Window]) -> list[Decision]:
        """One preprocess + inference call for all `windows` (oldest first), then one
        decision each, in order (smoothing runs through them in that order). Each decision
        carries the call's stage times; the stats record one preprocess / inference entry
        per call and one age per window."""
        t0 = time.perf_counter()
        inputs = self.runner.preprocess([w.events for w in windows])
        for v in inputs.values() if isinstance(inputs, dict) else [inputs]:
            if isinstance(v, torch.Tensor) and v.is_cuda:  # preprocess's kernels count as
                torch.cuda.synchronize(v.device)  # preprocess, not inference
                break
        t1 = time.perf_counter()
        logits = np.asarray(self.runner.infer(inputs), np.float64)
        t2 = time.perf_counter()
        if logits.shape[0] != len(windows):
            raise RuntimeError(
                f"runner {self.runner.name} returned {logits.shape[0]} rows of logits for "
                f"{len(windows)} windows"
            )
        out, ages = [], []
        for window, row in zip(windows, logits):
            prob = softmax(row)
            if self.smoothing and self._smoothed is not None:
                prob = self.smoothing * self._smoothed + (1.0 - self.smoothing) * prob
            self._smoothed = prob
            top = np.argsort(-prob, kind="stable")[: self.top_k]
            labels = [self.runner.class_names[i] for i in top]
            t3 = time.perf_counter()
            lat = {
                "preprocess": t1 - t0,
                "inference": t2 - t1,
                "postprocess": t3 - t2,
                "age": t3 - window.arrival,
            }
            t0_us = (
                self._t0
                if self._t0 is not None
                else int(window.events.t[0])
                if len(window.events)
                else window.t_end_us
            )
            out.append(
                Decision(
                    window.index,
                    window.t_end_us,
                    len(window.events),
                    labels,
                    [float(prob[i]) for i in top],
                    {k: v * 1e3 for k, v in lat.items()},
                    window.t_end_us - t0_us,
                )
            )
            ages.append(lat["age"])
        self.stats.add("preprocess", t1 - t0)
        self.stats.add("inference", t2 - t1)
        self.stats.add("postprocess", time.perf_counter() - t2)
        for a in ages:
            self.stats.add("age", a)
        self.calls += 1
        self.max_batch_seen = max(self.max_batch_seen, len(windows))
        return out

    # -------------------------------------------------------------------- loop
    def run(
        self,
        source: Iterable[Any],
        live: bool = False,
        on_decision: Callable[[Decision], None] | None = None,
        max_windows: int | None = None,
        sensor: tuple[int, int] | None = None,
    ) -> dict[str, Any]:
        """Consume `source` to its end (or max_windows decisions, or Ctrl-C); return the
        summary: windows (recognised), dropped (stale windows discarded), dropped_events
        (ring or source overflow), events, wall_s, stopped ("end", "max_windows",
        "interrupted"), end (the source's end_reason, e.g. "disconnected"), warmup_s,
        latency_ms -> stage -> p50/p99/mean/max/n, and with keep_decisions every
        decision's record (Decision.record).
        live=True drops stale windows under overload; False recognises every window.
        sensor: (width, height) for the warm-up window (default: the source's width and
        height attributes, else 640x480).
        A KeyboardInterrupt in the calling thread (Ctrl-C) ends the stream: the source is
        closed (its close() called when it has one) and the summary is returned.
        """
        windower = Windower(
            self.n_events, self.dt_us, min_events=self.min_events, stride=self.stride
        )
        queue = WindowQueue(self.max_pending, "drop_oldest" if live else "block", self.max_age)
        errors: list[BaseException] = []
        counts = {"events": 0}
        stop = threading.Event()
        self._t0 = None
        self.calls, self.max_batch_seen = 0, 0
        if sensor is None:
            sensor = (int(getattr(source, "width", 0) or 0), int(getattr(source, "height", 0) or 0))
        if not (sensor[0] > 0 and sensor[1] > 0):
            sensor = (640, 480)
        warm = self.warm_up(*sensor)

        def ingest() -> None:
            if live and self.ingest_nice:
                try:
                    os.setpriority(
                        os.PRIO_PROCESS,
                        threading.get_native_id(),
                        os.getpriority(os.PRIO_PROCESS, 0) + self.ingest_nice,
                    )
                except (AttributeError, OSError):  # not Linux, or not permitted: as it is
                    pass
            try:
                for chunk in source:
                    if stop.is_set():
                        break
                    t0 = time.perf_counter()
                    ev = as_events(chunk)
                    if self._t0 is None and len(ev):
                        self._t0 = int(ev.t[0])
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

        # The ingest thread runs Python between the decoder's GIL-free calls; a runner
        # thread woken by a new window (or back from a kernel) waits for the GIL until the
        # interpreter's switch interval (5 ms by default) forces a hand-over: that wait, not
        # the work, was the stream's preprocess p99 and what dropped windows at 10 Mev/s.
        # The interval is shortened while the stream runs and restored afterwards. Shorter
        # is not better: each forced hand-over costs the threads that lose the GIL, and at
        # 0.5 ms a null-model replay ran at a median 46 Mev/s against 58 at 2 ms (5 runs
        # each), while the realtime replay's preprocess p99 was no lower (1.2-1.7 ms).
        saved_interval = sys.getswitchinterval()
        if self.switch_interval:
            sys.setswitchinterval(min(saved_interval, self.switch_interval))
        if self.freeze_gc:
            _freeze_gc()
        start = time.perf_counter()
        th = threading.Thread(target=ingest, name="ezsr-ingest", daemon=True)
        th.start()
        decisions, records, stopped = 0, [], "end"
        try:
            while max_windows is None or decisions < max_windows:
                room = self.max_batch if max_windows is None else max_windows - decisions
                ws = queue.get_many(min(self.max_batch, room))
                if not ws:
                    break
                for d in self.decide_many(ws):
                    decisions += 1
                    if self.keep_decisions:
                        records.append(d.record())
                    if on_decision is not None:
                        on_decision(d)
            else:
                stopped = "max_windows"
        except KeyboardInterrupt:
            stopped = "interrupted"
        finally:
            stop.set()
            close = getattr(source, "close", None)
            if callable(close) and (stopped != "end" or errors):
                close()  # a live source stops polling; a file replay needs nothing
            queue.close()
            try:
                th.join(timeout=10)
            finally:  # also after a second Ctrl-C during the join
                if self.switch_interval:
                    sys.setswitchinterval(saved_interval)
                if self.freeze_gc:
                    _unfreeze_gc()
        if errors:
            raise errors[0]
        dropped_events = windower.dropped_events + int(getattr(source, "dropped_events", 0))
        out = {
            "windows": decisions,
            "dropped": queue.dropped,
            "dropped_events": dropped_events,
            "max_pending_seen": queue.high_water,
            "events": counts["events"],
            "wall_s": time.perf_counter() - start,
            "stopped": stopped,
            "end": getattr(source, "end_reason", None)
            or ("end of stream" if stopped == "end" else None),
            "t_first_us": self._t0,
            "warmup_s": warm,
            "warmup_calls": self.warmup,
            "backend": self.runner.name,
            "device": str(self.runner.device),
            "latency_ms": self.stats.summary(),
            "calls": self.calls,
            "max_batch_seen": self.max_batch_seen,
        }
        if self.keep_decisions:
            out["decisions"] = records
        return out
