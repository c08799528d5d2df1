"""Event sources: iterables of ezsr.Events chunks (CPU, t non-decreasing across chunks).

* FileReplay: a recording through ezsr.io.iter_chunks, as fast as possible or at the
  recorded speed (each chunk is released when the wall clock reaches its last event).
* PushSource: what a camera SDK feeds from its own callback thread (push never blocks;
  when the consumer falls behind, the oldest chunks are dropped and counted).
* Any other iterable of chunks (Events, dicts x/y/t/p, or (x, y, t, p) tuples) works as
  a source as it is.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Iterable, Iterator, cast

from ezsr.events import Events
from ezsr.streaming.buffer import Chunk, as_events

DECODE_NICE = 5  # niceness of FileReplay's decoding thread (Linux: per-thread nice)
# chunks handed from the decoding thread to the iterating one per queue operation when
# replaying as fast as possible: one lock hand-over per 1-ms chunk cost both threads
# about as much as their own work per chunk
FAST_BATCH = 8
# events decoded ahead at most (with at least one chunk, however large): ~55 MB of columns;
# 256 chunks of 1 ms at 10 Mev/s are 2.56 M, while 256 chunks of 100 ms would be 256 M
PREFETCH_EVENTS = 1 << 22


class FileReplay:
    """Replay an event file in chunks of chunk_us microseconds (or chunk_events events).

    realtime: release each chunk when (t_last - t_first) / speed has passed on the wall
    clock since the start, as a camera would deliver it; otherwise as fast as possible.
    prefetch: decode in a thread of its own, up to this many chunks ahead (0: decode in
    the iterating thread), and up to prefetch_events events (None: no event limit; at
    least one chunk is always let through). The decoders release the GIL, so decoding
    overlaps the windowing and the model instead of taking turns with them; memory stays
    bounded by both limits. With realtime the decoding thread runs DECODE_NICE above the
    niceness of the thread that iterates the replay (Linux): it works ahead of the clock
    with `prefetch` chunks of slack, so the runner should win the CPU when both are
    runnable. As fast as possible, the decoder sets the pace of the whole stream and keeps
    the iterating thread's priority (niced below it, it lost the CPU to every other process
    on a loaded machine) and hands the chunks over FAST_BATCH at a time.
    decode_cpu_s: CPU seconds of the decoding thread, set when it reaches the file's end.
    """

    def __init__(
        self,
        path: str | Path | None,
        chunk_us: int | None = 1000,
        chunk_events: int | None = None,
        realtime: bool = False,
        speed: float = 1.0,
        format: str | None = None,
        prefetch: int = 256,
        prefetch_events: int | None = PREFETCH_EVENTS,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"FileReplay: speed must be > 0, got {speed}")
        if chunk_events:
            chunk_us = None
        self.path, self.chunk_us, self.chunk_events = path, chunk_us, chunk_events
        self.realtime, self.speed, self.format = realtime, speed, format
        self.prefetch = int(prefetch)
        self.prefetch_events = prefetch_events
        self.decode_cpu_s = 0.0
        self._stop = threading.Event()

    def close(self) -> None:
        """Stop the current iteration's decoding thread (any thread may call it)."""
        self._stop.set()

    def __iter__(self) -> Iterator[Events]:
        from ezsr import io

        # path is None only for EventsReplay, which has its own __iter__
        chunks = io.iter_chunks(
            cast("str | Path", self.path),
            n_events=self.chunk_events,
            dt_us=self.chunk_us,
            format=self.format,
        )
        if self.prefetch > 0:
            self._stop = threading.Event()  # one per iteration
            self.decode_cpu_s = 0.0
            chunks = _prefetched(
                chunks,
                self.prefetch,
                self._stop,
                DECODE_NICE if self.realtime else 0,
                self,
                1 if self.realtime else FAST_BATCH,
                self.prefetch_events,
            )
        yield from paced(chunks, self.realtime, self.speed)


def _prefetched(
    chunks: Iterable[Events],
    depth: int,
    stop: threading.Event,
    nice: int = 0,
    meter: FileReplay | None = None,
    batch: int = 1,
    max_events: int | None = None,
) -> Iterator[Events]:
    """Iterate `chunks` in a daemon thread, up to `depth` items and `max_events` events
    ahead (at least one item, however large), at niceness `nice` (0: as the process),
    handed over in lists of `batch` items (the last one shorter); its errors are raised
    here, in the consumer's thread, after the items before them. The thread's CPU seconds
    go to meter.decode_cpu_s (when a meter is given) before the end is handed over."""
    batch = max(1, int(batch))
    max_items = max(1, depth // batch)
    q: deque[tuple[object, int]] = deque()  # (item, its events)
    cv = threading.Condition()
    held = 0  # events waiting in q
    end = object()

    def put(item: object, n: int = 0) -> bool:
        nonlocal held
        with cv:
            while len(q) >= max_items or (q and max_events and held + n > max_events):
                if stop.is_set():
                    return False
                cv.wait(0.1)
            if stop.is_set():
                return False
            q.append((item, n))
            held += n
            cv.notify_all()
            return True

    def work() -> None:
        if nice:  # decoding ahead of a paced replay: let the runner thread win the CPU
            try:
                os.setpriority(
                    os.PRIO_PROCESS,
                    threading.get_native_id(),
                    os.getpriority(os.PRIO_PROCESS, 0) + nice,
                )
            except (AttributeError, OSError):  # not Linux, or not permitted: as it is
                pass
        items: list[Events] = []
        n = 0
        try:
            for c in chunks:
                if not len(c):
                    continue
                items.append(c)
                n += len(c)
                if len(items) >= batch:
                    if not put(items, n):
                        return
                    items, n = [], 0
            if items and not put(items, n):
                return
            if meter is not None:
                meter.decode_cpu_s = time.thread_time()
            put(end)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the consumer
            if not items or put(items, n):
                put(exc)

    th = threading.Thread(target=work, name="ezsr-decode", daemon=True)
    th.start()
    try:
        while True:
            with cv:
                while not q:  # the thread always ends with `end` or an error
                    cv.wait()
                item, n = q.popleft()
                held -= n
                cv.notify_all()
            if item is end:
                return
            if isinstance(item, BaseException):
                raise item
            yield from cast("list[Events]", item)
    finally:
        stop.set()


class EventsReplay(FileReplay):
    """Replay in-memory Events (e.g. simulated ones) like FileReplay replays a file."""

    def __init__(
        self, events: Events, chunk_us: int = 1000, realtime: bool = False, speed: float = 1.0
    ) -> None:
        super().__init__(None, chunk_us=chunk_us, realtime=realtime, speed=speed)
        self.events = events
        self.width, self.height = events.width, events.height  # the warm-up's sensor

    def __iter__(self) -> Iterator[Events]:
        # chunk_us is the int given to __init__ (no chunk_events here)
        yield from paced(
            self.events.time_windows(cast(int, self.chunk_us)), self.realtime, self.speed
        )


def paced(chunks: Iterable[Events], realtime: bool, speed: float = 1.0) -> Iterator[Events]:
    """Skip empty chunks; with realtime, sleep until each chunk's last event is due."""
    start_wall: float | None = None
    t0 = 0  # the first chunk's first timestamp (us), set with start_wall
    for chunk in chunks:
        if not len(chunk):
            continue
        if realtime:
            if start_wall is None:
                start_wall, t0 = time.perf_counter(), int(chunk.t[0])
            delay = start_wall + (int(chunk.t[-1]) - t0) / 1e6 / speed - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        yield chunk


class PushSource:
    """Chunks pushed by a producer thread (a camera SDK callback), consumed by iteration.

    push(chunk) accepts ezsr.Events, a dict x/y/t/p or an (x, y, t, p) tuple and never
    blocks: with max_chunks already waiting, the oldest is discarded and its events are
    counted in dropped_events. close() ends the iteration once the queue is drained.
    """

    def __init__(
        self, max_chunks: int = 256, width: int | None = None, height: int | None = None
    ) -> None:
        self.max_chunks = max_chunks
        self.width, self.height = width, height
        self._q: deque[Events] = deque()
        self._cv = threading.Condition()
        self._closed = False
        self.dropped_events = 0
        self.pushed_events = 0

    def push(self, chunk: Chunk) -> None:
        ev = as_events(chunk)
        if self.width and self.height and (ev.width, ev.height) != (self.width, self.height):
            ev = Events.wrap(ev.x, ev.y, ev.t, ev.p, self.width, self.height)
        with self._cv:
            if self._closed:
                raise RuntimeError("PushSource.push: the source is closed")
            if len(self._q) >= self.max_chunks:
                self.dropped_events += len(self._q.popleft())
            self._q.append(ev)
            self.pushed_events += len(ev)
            self._cv.notify()

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()

    def __iter__(self) -> Iterator[Events]:
        while True:
            with self._cv:
                while not self._q and not self._closed:
                    self._cv.wait()
                if not self._q:
                    return
                chunk = self._q.popleft()
            yield chunk
