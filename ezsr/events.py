"""Event streams: ezsr.Events (one stream) and ezsr.EventBatch (B streams, CSR offsets).

Columns (torch tensors, one device):
  x  [N] int16 or int32   column on the sensor, 0 <= x < width
  y  [N] int16 or int32   row on the sensor, 0 <= y < height
  t  [N] int64            microseconds, non-decreasing
  p  [N] uint8            1 = ON (brightness up), 0 = OFF
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, Iterator, Sequence, Union

import numpy as np
import numpy.typing as npt
import torch

SIZE_SOURCES = ("header", "convention", "data", "user")
_INDEX_DTYPES = (torch.int8, torch.uint8, torch.int16, torch.int32, torch.int64)

#: A column as accepted by Events: a torch tensor, a numpy array or anything np.asarray takes.
Column = Union[torch.Tensor, npt.ArrayLike]
#: An index accepted by Events[...]: a slice, an integer, a boolean mask or integer index array.
EventIndex = Union[slice, int, np.integer, torch.Tensor, np.ndarray, Sequence[int], Sequence[bool]]


def _as_tensor(v: Column, name: str) -> torch.Tensor:
    if isinstance(v, torch.Tensor):
        return v
    a = np.asarray(v)
    if a.dtype == np.uint16:  # torch has no uint16 arithmetic on every version
        a = a.astype(np.int32)
    elif a.dtype == np.uint32 or a.dtype == np.uint64:
        a = a.astype(np.int64)
    try:
        return torch.from_numpy(np.ascontiguousarray(a))
    except TypeError as exc:
        raise ValueError(f"Events: column '{name}' has unsupported dtype {a.dtype}") from exc


def polarity_to_uint8(p: Column) -> torch.Tensor:
    """Polarity in any common encoding ({0,1}, {-1,+1}, bool, {False,True}) → uint8 {0,1}.

    ON is p > 0.5, which matches EZSR's rule (preprocessing step 1, docs/design.md): with p.min() >= -0.5
    every p <= 0.5 is OFF; with {-1,+1} every p <= 0 is OFF.
    """
    p = _as_tensor(p, "p")
    if p.dtype == torch.uint8:
        return (p > 0).to(torch.uint8) if p.numel() and int(p.max()) > 1 else p
    if p.dtype == torch.bool:
        return p.to(torch.uint8)
    return (p > 0.5).to(torch.uint8)


def _coord(v: Column, name: str) -> torch.Tensor:
    v = _as_tensor(v, name)
    if v.dtype in (torch.int16, torch.int32):
        return v
    if v.dtype.is_floating_point:
        raise ValueError(f"Events: column '{name}' must hold integers, got {v.dtype}")
    if v.numel() and (int(v.min()) < -(2**31) or int(v.max()) >= 2**31):
        raise ValueError(f"Events: column '{name}' has values outside int32")
    return v.to(torch.int32)


@dataclass(eq=False)
class Events:
    """One event stream. Build with Events(x, y, t, p, width, height).

    width/height default to max+1 of the data (size_source "data"); readers pass
    the header's or the dataset convention's size and say so in size_source.
    """

    x: torch.Tensor
    y: torch.Tensor
    t: torch.Tensor
    p: torch.Tensor
    width: int = 0
    height: int = 0
    size_source: str = "user"

    def __init__(
        self,
        x: Column,
        y: Column,
        t: Column,
        p: Column,
        width: int | None = None,
        height: int | None = None,
        size_source: str | None = None,
        validate: bool = True,
    ) -> None:
        self.x = _coord(x, "x")
        self.y = _coord(y, "y")
        t = _as_tensor(t, "t")
        if t.dtype.is_floating_point:
            raise ValueError(
                "Events: column 't' must be int64 microseconds, got "
                f"{t.dtype} (convert seconds with (t * 1e6).round().long())"
            )
        self.t = t.to(torch.int64)
        self.p = polarity_to_uint8(p)
        if width is None or height is None:
            n = self.x.numel()
            width = int(self.x.max()) + 1 if (width is None and n) else (width or 0)
            height = int(self.y.max()) + 1 if (height is None and n) else (height or 0)
            size_source = size_source or "data"
        self.width, self.height = int(width), int(height)
        self.size_source = size_source or "user"
        if validate:
            self.validate(check_bounds=False)

    @classmethod
    def wrap(
        cls,
        x: torch.Tensor | np.ndarray,
        y: torch.Tensor | np.ndarray,
        t: torch.Tensor | np.ndarray,
        p: torch.Tensor | np.ndarray,
        width: int,
        height: int,
        size_source: str = "user",
    ) -> "Events":
        """Events around columns already in Events' form, with no check and no copy.

        For hot paths whose columns come from checked Events or a checked decoder (1-D,
        one length and one device; x, y int16 or int32, t int64 µs non-decreasing, p uint8
        0/1; numpy arrays are shared with torch.from_numpy). About 4 µs against ~35 µs for
        Events(..., validate=False), which still converts and inspects every column. Any
        other input gives a wrong Events silently: build those with Events(...).
        """
        ev = object.__new__(cls)
        ev.x, ev.y, ev.t, ev.p = (
            c if isinstance(c, torch.Tensor) else torch.from_numpy(c) for c in (x, y, t, p)
        )
        ev.width, ev.height, ev.size_source = int(width), int(height), size_source
        return ev

    # ----------------------------------------------------------------- checks
    def validate(self, check_bounds: bool = True, check_sorted: bool = True) -> "Events":
        """Raise ValueError naming the first bad field; return self when all is well."""
        n = self.x.numel()
        for name in ("x", "y", "t", "p"):
            c = getattr(self, name)
            if c.dim() != 1:
                raise ValueError(f"Events: column '{name}' must be 1-D, got shape {tuple(c.shape)}")
            if c.numel() != n:
                raise ValueError(
                    f"Events: column '{name}' has {c.numel()} entries, column 'x' has {n}"
                )
            if c.device != self.x.device:
                raise ValueError(
                    f"Events: column '{name}' is on {c.device}, 'x' on {self.x.device}"
                )
        if self.y.dtype != self.x.dtype:
            raise ValueError(f"Events: column 'y' has dtype {self.y.dtype}, 'x' has {self.x.dtype}")
        if self.p.dtype != torch.uint8:
            raise ValueError(f"Events: column 'p' must be uint8, got {self.p.dtype}")
        if self.t.dtype != torch.int64:
            raise ValueError(f"Events: column 't' must be int64, got {self.t.dtype}")
        if self.size_source not in SIZE_SOURCES:
            raise ValueError(f"Events: size_source must be one of {SIZE_SOURCES}")
        if self.width < 0 or self.height < 0:
            raise ValueError(f"Events: width/height must be >= 0, got {self.width}x{self.height}")
        if n and check_sorted:
            bad = torch.nonzero(self.t[1:] < self.t[:-1])
            if bad.numel():
                i = int(bad[0, 0]) + 1
                raise ValueError(
                    f"Events: column 't' decreases at index {i} "
                    f"({int(self.t[i - 1])} -> {int(self.t[i])} us)"
                )
        if n and check_bounds:
            k = self.count_out_of_bounds()
            if k:
                raise ValueError(
                    f"Events: {k} events lie outside the {self.width}x{self.height} "
                    "sensor (columns 'x'/'y')"
                )
        return self

    def count_out_of_bounds(self) -> int:
        """Number of events with x outside [0, width) or y outside [0, height)."""
        bad = (self.x < 0) | (self.x >= self.width) | (self.y < 0) | (self.y >= self.height)
        return int(bad.sum())

    # ------------------------------------------------------------- properties
    def __len__(self) -> int:
        return self.x.numel()

    @property
    def device(self) -> torch.device:
        return self.x.device

    @property
    def t_first(self) -> int | None:
        return int(self.t[0]) if len(self) else None

    @property
    def t_last(self) -> int | None:
        return int(self.t[-1]) if len(self) else None

    @property
    def on(self) -> int:
        return int(self.p.sum())

    @property
    def off(self) -> int:
        return len(self) - self.on

    def __repr__(self) -> str:
        span = f", t={self.t_first}..{self.t_last} us" if len(self) else ""
        return (
            f"Events(n={len(self)}, {self.width}x{self.height} [{self.size_source}]{span}, "
            f"device={self.device})"
        )

    # ---------------------------------------------------------------- slicing
    def _take(self, idx: slice | torch.Tensor) -> "Events":
        return Events(
            self.x[idx],
            self.y[idx],
            self.t[idx],
            self.p[idx],
            self.width,
            self.height,
            self.size_source,
            validate=False,
        )

    def __getitem__(self, idx: EventIndex) -> "Events":
        """Index by slice, integer (Python, numpy or a 0-d integer tensor: one event),
        boolean mask [N] or 1-D integer index (tensor, numpy array or list); returns Events.
        Anything else (bool, float, tuple, None, a multi-dimensional index) is a TypeError."""
        return self._take(self._index(idx))

    def _index(self, idx: Any) -> slice | torch.Tensor:
        n = len(self)
        if isinstance(idx, slice):
            return idx
        if isinstance(idx, (list, np.ndarray, torch.Tensor)):
            if isinstance(idx, list) and not idx:
                idx = torch.zeros(0, dtype=torch.int64)
            idx = idx if isinstance(idx, torch.Tensor) else torch.as_tensor(np.asarray(idx))
            if (
                idx.dim() == 0
                and idx.dtype != torch.bool
                and not idx.dtype.is_floating_point
                and not idx.dtype.is_complex
            ):
                idx = int(idx)
            elif idx.dim() != 1 or not (idx.dtype == torch.bool or idx.dtype in _INDEX_DTYPES):
                raise TypeError(
                    "Events: an index tensor/array must be 1-D bool or integer, got "
                    f"{idx.dtype} of shape {tuple(idx.shape)}"
                )
            elif idx.dtype == torch.bool and idx.numel() != n:
                raise IndexError(f"Events: boolean mask of {idx.numel()} entries for {n} events")
            else:
                return idx.long() if idx.dtype != torch.bool else idx
        if isinstance(idx, (bool, np.bool_)) or not hasattr(idx, "__index__"):
            raise TypeError(
                "Events: index must be a slice, an integer, a boolean mask or an "
                f"integer index array, got {type(idx).__name__}"
            )
        i = operator.index(idx)
        if not -n <= i < n:
            raise IndexError(f"Events: index {i} out of range for {n} events")
        return slice(i, i + 1 if i != -1 else None)

    def window(self, start: int, n: int) -> "Events":
        """Events [start, start + n). Raises ValueError if start is past the end.

        A window that runs over the end is shortened to what exists.
        """
        if start < 0 or n < 0:
            raise ValueError(f"Events.window: start and n must be >= 0, got start={start}, n={n}")
        if start >= len(self) and not (start == 0 and len(self) == 0):
            raise ValueError(
                f"Events.window: start={start} is past the end (the stream has {len(self)} events)"
            )
        return self._take(slice(start, start + n))

    def time_window(self, t0: int, dt: int) -> "Events":
        """Events with t0 <= t < t0 + dt (microseconds). Needs t sorted."""
        if dt < 0:
            raise ValueError(f"Events.time_window: dt must be >= 0 us, got {dt}")
        lo, hi = self.index_of_time(t0), self.index_of_time(t0 + dt)
        return self._take(slice(lo, hi))

    def index_of_time(self, t_us: int) -> int:
        """First index with t >= t_us."""
        key = torch.tensor([t_us], dtype=torch.int64, device=self.t.device)
        return int(torch.searchsorted(self.t, key)[0])

    def count_windows(self, n: int, stride: int | None = None) -> Iterator["Events"]:
        """Consecutive windows of n events (stride defaults to n); the last may be shorter."""
        if n <= 0:
            raise ValueError(f"Events.count_windows: n must be > 0, got {n}")
        stride = stride or n
        for s in range(0, max(len(self), 1), stride):
            yield self._take(slice(s, s + n))

    def time_windows(self, dt: int) -> Iterator["Events"]:
        """Consecutive windows of dt microseconds from t_first."""
        if dt <= 0:
            raise ValueError(f"Events.time_windows: dt must be > 0 us, got {dt}")
        t, t_last = self.t_first, self.t_last
        if t is None or t_last is None:  # no events
            return
        while t <= t_last:
            yield self.time_window(t, dt)
            t += dt

    # ------------------------------------------------------------ conversion
    def to(self, device: torch.device | str) -> "Events":
        return Events(
            self.x.to(device),
            self.y.to(device),
            self.t.to(device),
            self.p.to(device),
            self.width,
            self.height,
            self.size_source,
            validate=False,
        )

    def numpy(self) -> dict[str, np.ndarray]:
        """Columns as numpy arrays (on the CPU)."""
        return {k: getattr(self, k).cpu().numpy() for k in ("x", "y", "t", "p")}

    @staticmethod
    def concat(streams: Sequence["Events"]) -> "Events":
        """One stream from several, in order; the sensor is the largest of them."""
        if not streams:
            raise ValueError("Events.concat: needs at least one stream")
        dtype = torch.int32 if any(s.x.dtype == torch.int32 for s in streams) else torch.int16
        return Events(
            torch.cat([s.x.to(dtype) for s in streams]),
            torch.cat([s.y.to(dtype) for s in streams]),
            torch.cat([s.t for s in streams]),
            torch.cat([s.p for s in streams]),
            max(s.width for s in streams),
            max(s.height for s in streams),
            streams[0].size_source,
            validate=False,
        )


@dataclass(eq=False)
class EventBatch:
    """B event streams as concatenated columns plus offsets [B+1] int64 (CSR).

    Stream b is rows offsets[b]:offsets[b+1]. All streams share one sensor size.
    """

    x: torch.Tensor
    y: torch.Tensor
    t: torch.Tensor
    p: torch.Tensor
    offsets: torch.Tensor
    width: int
    height: int

    @staticmethod
    def from_streams(
        streams: Sequence[Events], width: int | None = None, height: int | None = None
    ) -> "EventBatch":
        if not streams:
            raise ValueError("EventBatch.from_streams: needs at least one stream")
        cat = Events.concat(streams)
        lengths = torch.tensor([0] + [len(s) for s in streams], dtype=torch.int64)
        return EventBatch(
            cat.x,
            cat.y,
            cat.t,
            cat.p,
            torch.cumsum(lengths, 0).to(cat.device),
            width or cat.width,
            height or cat.height,
        )

    @staticmethod
    def from_windows(events: Events, starts: Sequence[int] | torch.Tensor, n: int) -> "EventBatch":
        """B windows [start, start + n) of one stream, gathered in one indexing op."""
        starts = torch.as_tensor(starts, dtype=torch.int64)
        if starts.numel() == 0:
            raise ValueError("EventBatch.from_windows: 'starts' is empty")
        if int(starts.min()) < 0 or int(starts.max()) >= max(len(events), 1):
            raise ValueError(
                f"EventBatch.from_windows: a start in 'starts' is outside [0, {len(events)})"
            )
        ends = torch.clamp(starts + n, max=len(events))
        lengths = ends - starts
        offsets = torch.zeros(starts.numel() + 1, dtype=torch.int64)
        offsets[1:] = torch.cumsum(lengths, 0)
        if bool((lengths == n).all()) and n > 0:
            # all windows full: an unfold view [N-n+1, n] of each column and one row gather
            # copies whole windows (no per-event index to build or read)
            rows = starts.to(events.device)
            x, y, t, p = (
                c.unfold(0, n, 1).index_select(0, rows).reshape(-1)
                for c in (events.x, events.y, events.t, events.p)
            )
            return EventBatch(x, y, t, p, offsets.to(events.device), events.width, events.height)
        # index of every gathered row: its position in the batch + (start - offset) of its
        # window, one repeat_interleave and one add; index_select gathers each column
        total = int(offsets[-1])
        shift = torch.repeat_interleave(starts - offsets[:-1], lengths, output_size=total)
        idx = shift.add_(torch.arange(total)).to(events.device)
        x, y, t, p = (c.index_select(0, idx) for c in (events.x, events.y, events.t, events.p))
        return EventBatch(x, y, t, p, offsets.to(events.device), events.width, events.height)

    def __len__(self) -> int:
        return self.offsets.numel() - 1

    @property
    def device(self) -> torch.device:
        return self.x.device

    def __getitem__(self, b: int) -> Events:
        lo, hi = int(self.offsets[b]), int(self.offsets[b + 1])
        return Events(
            self.x[lo:hi],
            self.y[lo:hi],
            self.t[lo:hi],
            self.p[lo:hi],
            self.width,
            self.height,
            validate=False,
        )

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "EventBatch":
        mv = lambda v: v.to(device, non_blocking=non_blocking)  # noqa: E731
        return EventBatch(
            mv(self.x),
            mv(self.y),
            mv(self.t),
            mv(self.p),
            mv(self.offsets),
            self.width,
            self.height,
        )

    def validate(self) -> "EventBatch":
        """Raise ValueError naming the first bad field."""
        n = self.x.numel()
        for name in ("y", "t", "p"):
            if getattr(self, name).numel() != n:
                raise ValueError(
                    f"EventBatch: column '{name}' has {getattr(self, name).numel()} "
                    f"entries, column 'x' has {n}"
                )
        o = self.offsets
        if o.dtype != torch.int64 or o.dim() != 1 or o.numel() < 1:
            raise ValueError("EventBatch: 'offsets' must be 1-D int64 with B+1 entries")
        check_offsets(o, n)
        return self


def check_offsets(offsets: torch.Tensor, n_events: int) -> None:
    """Raise ValueError unless offsets is 0 = o[0] <= o[1] <= ... <= o[B] = n_events."""
    o = offsets
    if int(o[0]) != 0:
        raise ValueError(f"argument 'offsets' must start at 0, got {int(o[0])}")
    if int(o[-1]) != n_events:
        raise ValueError(
            f"argument 'offsets' must end at the number of events {n_events}, got {int(o[-1])}"
        )
    bad = torch.nonzero(o[1:] < o[:-1])
    if bad.numel():
        i = int(bad[0, 0])
        raise ValueError(
            f"argument 'offsets' must be non-decreasing: offsets[{i}] = {int(o[i])} "
            f"> offsets[{i + 1}] = {int(o[i + 1])}"
        )
