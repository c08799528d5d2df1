"""Bounded buffers of the streaming runtime: the event ring, the windower and the queue of
ready windows (where stale windows are dropped under overload).

Memory is bounded by construction: the ring holds at most `capacity` events, the queue at
most `max_pending` windows, and one window is in flight in the runner.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
import torch

from ezsr.events import Events
from ezsr.ops.ezsr_preprocess import EZSR_WINDOW  # EZSR's 15,000 events per window


@dataclass
class Window:
    """A window of events ready for recognition.

    events: contiguous copy (CPU); t_end_us: timestamp of its last event (µs);
    arrival: time.perf_counter() when its last event was ingested; index: sequence
    number (0, 1, ... over the stream, dropped windows included); closed_by: "count",
    "time" or "end".
    """

    events: Events
    t_end_us: int
    arrival: float
    index: int
    closed_by: str


class EventRing:
    """Fixed-capacity ring of events (numpy columns x, y int16 or int32 as the chunks
    bring them, t int64, p uint8).

    push() writes at the head and, when full, overwrites the oldest events (counted in
    `overwritten`); take() returns the held events oldest first and empties the ring.
    """

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError(f"EventRing: capacity must be > 0, got {capacity}")
        self.capacity = int(capacity)
        self.x = np.empty(capacity, np.int32)
        self.y = np.empty(capacity, np.int32)
        self.t = np.empty(capacity, np.int64)
        self.p = np.empty(capacity, np.uint8)
        self.start = 0  # index of the oldest event
        self.size = 0
        self.overwritten = 0

    def __len__(self) -> int:
        return self.size

    def push(self, x: np.ndarray, y: np.ndarray, t: np.ndarray, p: np.ndarray) -> None:
        if x.dtype != self.x.dtype and x.dtype.kind == "i":
            self._fit(x.dtype)
        n = len(t)
        if n > self.capacity:  # only the newest `capacity` events can stay
            self.overwritten += n - self.capacity
            x, y, t, p = (
                x[-self.capacity :],
                y[-self.capacity :],
                t[-self.capacity :],
                p[-self.capacity :],
            )
            n = self.capacity
        over = max(0, self.size + n - self.capacity)
        if over:
            self.overwritten += over
            self.start = (self.start + over) % self.capacity
            self.size -= over
        head = (self.start + self.size) % self.capacity
        first = min(n, self.capacity - head)  # up to the end of the arrays, then wrap
        for dst, src in ((self.x, x), (self.y, y), (self.t, t), (self.p, p)):
            dst[head : head + first] = src[:first]
            dst[: n - first] = src[first:]
        self.size += n

    def _fit(self, dtype: np.dtype) -> None:
        """Pixel columns in the chunks' integer type (a decoder's int16 stays int16, no
        conversion per event): narrowed while empty, widened (keeping the events) when a
        wider type arrives."""
        if dtype.itemsize > self.x.dtype.itemsize:
            self.x, self.y = self.x.astype(dtype), self.y.astype(dtype)
        elif not self.size:
            self.x, self.y = np.empty(self.capacity, dtype), np.empty(self.capacity, dtype)

    def first_t(self) -> int:
        return int(self.t[self.start])

    def take(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The held events (new arrays, oldest first); the ring is empty afterwards."""
        a, n = self.start, self.size
        first = min(n, self.capacity - a)  # up to the end of the arrays, then from 0
        cols: list[np.ndarray] = [self.x, self.y, self.t, self.p]
        if first == n:
            x, y, t, p = (c[a : a + n].copy() for c in cols)
        else:
            x, y, t, p = (np.concatenate((c[a:], c[: n - first])) for c in cols)
        self.start, self.size = 0, 0
        return x, y, t, p


class Windower:
    """Cuts a stream of chunks into windows of n_events events and/or dt_us microseconds,
    whichever is reached first (EZSR default: 15,000 events, no time limit).

    Windows do not overlap unless stride < n_events (sliding count windows: a new window
    every `stride` events, each holding the last n_events); a time window spans [t of its
    first event, + dt_us) and is never shared. With
    only dt_us, a burst larger than `capacity` keeps the newest `capacity` events (the
    rest are counted in dropped_events). At the end of the stream, flush() returns the
    partial window if it holds >= min_events events (or any event when no window was
    emitted yet, so short recordings still get one decision).
    """

    def __init__(
        self,
        n_events: int | None = EZSR_WINDOW,
        dt_us: int | None = None,
        capacity: int | None = None,
        min_events: int | None = None,
        stride: int | None = None,
    ) -> None:
        if n_events is None and dt_us is None:
            raise ValueError("Windower: give n_events and/or dt_us")
        if n_events is not None and n_events <= 0:
            raise ValueError(f"Windower: n_events must be > 0, got {n_events}")
        if dt_us is not None and dt_us <= 0:
            raise ValueError(f"Windower: dt_us must be > 0 µs, got {dt_us}")
        if stride is not None and (n_events is None or not 0 < stride <= n_events):
            raise ValueError(
                f"Windower: stride must be in (0, n_events] with count windows, "
                f"got stride={stride}, n_events={n_events}"
            )
        self.n_events, self.dt_us = n_events, dt_us
        self.stride = stride if stride is not None else n_events
        self.ring = EventRing(capacity or n_events or 1_000_000)
        self.min_events = min_events if min_events is not None else (n_events or 2) // 2
        self.width = self.height = 0
        self.emitted = 0
        self._t0 = 0
        # Count windows without overlap (EZSR's case) skip the ring: the chunks' slices are
        # held as views until the window is full and then copied once, by one concatenate
        # per column (the ring copies every event twice, in and out, in four column
        # assignments per push); the views pin at most the chunks of one window.
        self._direct = (
            n_events is not None
            and dt_us is None
            and self.stride == n_events
            and self.ring.capacity >= n_events
        )
        self._parts: list[tuple[np.ndarray, ...]] = []
        self._held = 0

    @property
    def dropped_events(self) -> int:
        return self.ring.overwritten

    def _emit(self, arrival: float, closed_by: str) -> Window:
        x, y, t, p = self.ring.take()
        ev = Events.wrap(x, y, t, p, self.width, self.height)  # columns of checked chunks
        keep = len(t) - self.stride if (closed_by == "count" and self.stride) else 0
        if keep > 0:  # sliding count windows: the newest n - stride events start the next
            self.ring.push(x[-keep:], y[-keep:], t[-keep:], p[-keep:])
            self._t0 = int(t[-keep])
        w = Window(ev, int(t[-1]), arrival, self.emitted, closed_by)
        self.emitted += 1
        return w

    def push(self, chunk: Events, arrival: float | None = None) -> list[Window]:
        """Add a chunk (t non-decreasing, continuing the stream); return the windows it
        completes, oldest first. The windows own their arrays; count windows may hold views
        of the chunk's columns until they are full (do not refill a chunk's buffers while
        its events wait for a window)."""
        arrival = time.perf_counter() if arrival is None else arrival
        self.width, self.height = max(self.width, chunk.width), max(self.height, chunk.height)
        chunk = cpu_events(chunk)  # the ring lives in host memory
        x, y = chunk.x.numpy(), chunk.y.numpy()
        t, p = chunk.t.numpy(), chunk.p.numpy()
        if self._direct:
            return self._push_direct(x, y, t, p, arrival)
        out, i, n = [], 0, len(t)
        while i < n:
            if not len(self.ring):
                self._t0 = int(t[i])
            end, by_time = n, False
            if self.n_events:
                end = min(end, i + self.n_events - len(self.ring))
            if self.dt_us:
                j = i + int(np.searchsorted(t[i:end], self._t0 + self.dt_us, side="left"))
                if j < end:
                    end, by_time = j, True
            if end > i:
                self.ring.push(x[i:end], y[i:end], t[i:end], p[i:end])
            i = end
            if by_time and len(self.ring):
                out.append(self._emit(arrival, "time"))
            elif self.n_events and len(self.ring) >= self.n_events:
                out.append(self._emit(arrival, "count"))
        return out

    def _push_direct(
        self, x: np.ndarray, y: np.ndarray, t: np.ndarray, p: np.ndarray, arrival: float
    ) -> list[Window]:
        """push() for count windows without overlap (see __init__)."""
        out, i, n, size = [], 0, len(t), int(self.n_events or 0)
        while i < n:
            end = min(n, i + size - self._held)
            self._parts.append((x[i:end], y[i:end], t[i:end], p[i:end]))
            self._held += end - i
            i = end
            if self._held >= size:
                out.append(self._emit_parts(arrival, "count"))
        return out

    def _emit_parts(self, arrival: float, closed_by: str) -> Window:
        parts, self._parts, self._held = self._parts, [], 0
        if len(parts) == 1:
            x, y, t, p = (c.copy() for c in parts[0])
        else:
            x, y, t, p = (np.concatenate([part[k] for part in parts]) for k in range(4))
        ev = Events.wrap(x, y, t, p, self.width, self.height)  # columns of checked chunks
        w = Window(ev, int(t[-1]), arrival, self.emitted, closed_by)
        self.emitted += 1
        return w

    def flush(self, arrival: float | None = None) -> Window | None:
        n = self._held if self._direct else len(self.ring)
        if n and (n >= self.min_events or self.emitted == 0):
            arrival = time.perf_counter() if arrival is None else arrival
            return (self._emit_parts if self._direct else self._emit)(arrival, "end")
        self.ring.take()
        self._parts, self._held = [], 0
        return None


class WindowQueue:
    """Bounded hand-over of windows from the ingest thread to the runner.

    policy "drop_oldest" (live): put() never blocks; when max_pending windows wait, the
    oldest is discarded and counted in `dropped`, so the runner always gets the freshest
    window; with max_age (seconds), get() also discards waiting windows whose last event
    arrived more than max_age ago, as long as a newer one waits (stale by age; max_pending
    is then the memory bound, sized to ride out a scheduling hiccup of the runner).
    policy "block" (offline replay): put() waits for room, nothing is dropped.
    """

    def __init__(
        self, max_pending: int = 1, policy: str = "drop_oldest", max_age: float | None = None
    ) -> None:
        if policy not in ("drop_oldest", "block"):
            raise ValueError(
                f"WindowQueue: policy must be 'drop_oldest' or 'block', got {policy!r}"
            )
        if max_pending < 1:
            raise ValueError(f"WindowQueue: max_pending must be >= 1, got {max_pending}")
        self.max_pending, self.policy, self.max_age = max_pending, policy, max_age
        self._q: deque[Window] = deque()
        self._cv = threading.Condition()
        self._closed = False
        self.dropped = 0
        self.high_water = 0  # most windows ever waiting (stays <= max_pending)

    def put(self, w: Window) -> None:
        with self._cv:
            if self.policy == "block":
                while len(self._q) >= self.max_pending and not self._closed:
                    self._cv.wait()
            elif len(self._q) >= self.max_pending:
                self._q.popleft()
                self.dropped += 1
            self._q.append(w)
            self.high_water = max(self.high_water, len(self._q))
            self._cv.notify_all()

    def get(self, timeout: float | None = None) -> Window | None:
        """The next window; None once closed and empty (or on timeout)."""
        got = self.get_many(1, timeout)
        return got[0] if got else None

    def get_many(self, max_n: int, timeout: float | None = None) -> list[Window]:
        """Up to max_n waiting windows, oldest first, after the stale ones are dropped (at
        least one once any waits); [] once closed and empty (or on timeout)."""
        if max_n < 1:
            raise ValueError(f"WindowQueue.get_many: max_n must be >= 1, got {max_n}")
        with self._cv:
            while not self._q and not self._closed:
                if not self._cv.wait(timeout):
                    return []
            if not self._q:
                return []
            if self.max_age is not None and self.policy == "drop_oldest":
                limit = time.perf_counter() - self.max_age
                while len(self._q) > 1 and self._q[0].arrival < limit:
                    self._q.popleft()
                    self.dropped += 1
            got = [self._q.popleft() for _ in range(min(max_n, len(self._q)))]
            self._cv.notify_all()
            return got

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()

    def __len__(self) -> int:
        return len(self._q)


#: A chunk as sources and push() take it: Events, a dict with x, y, t, p (+ width, height)
#: or an (x, y, t, p) tuple (or list) of arrays.
Chunk = Union[Events, dict[str, Any], tuple[Any, Any, Any, Any], list[Any]]


def as_events(chunk: Chunk) -> Events:
    """Events from an Events, a dict with x, y, t, p (+ width, height) or an (x, y, t, p) tuple."""
    if isinstance(chunk, Events):
        return chunk
    if isinstance(chunk, dict):
        return Events(
            chunk["x"], chunk["y"], chunk["t"], chunk["p"], chunk.get("width"), chunk.get("height")
        )
    if isinstance(chunk, (tuple, list)) and len(chunk) == 4:
        return Events(*chunk)
    raise TypeError(
        f"event chunk must be ezsr.Events, a dict x/y/t/p or a tuple (x, y, t, p); "
        f"got {type(chunk).__name__}"
    )


def cpu_events(ev: Events) -> Events:
    return ev if ev.device.type == "cpu" else ev.to(torch.device("cpu"))
