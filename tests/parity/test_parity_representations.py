"""ezsr's representations against tonic's transforms (tonic.transforms, PyPI `tonic`) on
the first 20,000 events of every recording of ../shared/data/events:

- ToFrame(event_count=N) (one frame of all N events) equals polarity_histogram; tonic's
  channel 0 is OFF (p = 0), ezsr's channel 0 is ON.
- ToFrame(time_window=dt) equals polarity_histogram of Events.time_windows(dt) (windows
  from the first event), for every window tonic keeps (it drops the last, incomplete one).
- ToFrame(n_time_bins=1) misses the events at the last timestamp (its one time bin is
  half-open): it equals the histogram of the events with t < t_last.
- ToVoxelGrid(n_time_bins=B - 1) equals voxel_grid(bins=B)'s first B - 1 bins. ezsr places an
  event at tau * (B - 1) as rpg_e2vid does; tonic's adaptation places it at
  tau * n_time_bins and drops what lands at or past its last bin (the upper neighbour of
  its last bin and the events at t_last), so only those bins are comparable.
"""

from __future__ import annotations

import numpy as np
import pytest

from ezsr import io
from ezsr.ops.histogram import polarity_histogram
from ezsr.ops.temporal import voxel_grid
from tests.conftest import shared_file
from tests.parity._peers import RECORDINGS, cols

N = 20_000


def _tonic_input(rel):
    T = pytest.importorskip("tonic.transforms")
    ev = io.read(shared_file(rel))
    ev = ev[:N] if len(ev) > N else ev
    c = cols(ev)
    arr = np.zeros(
        len(ev), np.dtype([("x", np.int64), ("y", np.int64), ("t", np.int64), ("p", np.int64)])
    )
    for k in "xytp":
        arr[k] = c[k]
    return T, ev, arr, (ev.width, ev.height, 2)


def _on_off(frame):
    """tonic's [OFF, ON] channels in ezsr's order [ON, OFF]."""
    return frame[..., ::-1, :, :]


@pytest.mark.parametrize("rel", RECORDINGS)
def test_to_frame_vs_polarity_histogram(rel):
    T, ev, arr, size = _tonic_input(rel)
    hist = polarity_histogram(ev).numpy()[0]
    frame = T.ToFrame(sensor_size=size, event_count=len(arr))(arr.copy())
    np.testing.assert_array_equal(_on_off(frame[0]), hist)
    dt = max(1, (ev.t_last - ev.t_first) // 7)
    frames = T.ToFrame(sensor_size=size, time_window=dt)(arr.copy())
    windows = list(ev.time_windows(dt))
    assert len(frames) == len(windows) - 1
    for f, w in zip(frames, windows):
        want = polarity_histogram(w).numpy()[0] if len(w) else np.zeros_like(hist)
        np.testing.assert_array_equal(_on_off(f), want)
    one = T.ToFrame(sensor_size=size, n_time_bins=1)(arr.copy())
    before_last = ev[: int((ev.t < ev.t_last).sum())]
    np.testing.assert_array_equal(_on_off(one[0]), polarity_histogram(before_last).numpy()[0])


@pytest.mark.parametrize("rel", RECORDINGS)
def test_voxel_grid(rel):
    T, ev, arr, size = _tonic_input(rel)
    bins = 5
    theirs = T.ToVoxelGrid(sensor_size=size, n_time_bins=bins - 1)(arr.copy())[:, 0]
    ours = voxel_grid(ev, bins=bins).numpy()[0, : bins - 1]
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-4)
