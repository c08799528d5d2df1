"""Every recording in ../shared/data/events reads with the counts, time range, sensor size
and ON/OFF split of that folder's README (skipped where the folder is absent)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ezsr import io
from tests.conftest import shared_file

# file, format, (W, H) or None when the README gives only a bound, count, t_first, t_last
# (None: README gives only the span), span, ON, OFF, size bound (W, H)
README = [
    ("n_imagenet/ezsr_test_event.npz", "npz", (640, 480), 107037, 0, 50108, None, 66595, 40442),
    ("n_mnist/sample_nmnist.bin", "bin", (34, 34), 4325, 654, 311175, None, 2145, 2180),
    ("n_caltech101/Faces_easy_0001.bin", "bin", (240, 180), 67445, 6, 299364, None, 33770, 33675),
    ("n_cars/sample_ncars.dat", "dat", (120, 100), 2009, 0, 99952, None, 1350, 659),
    ("n_cars/ncars_obj_004397.dat", "dat", (120, 100), 4407, 0, 99937, None, 1671, 2736),
    (
        "prophesee/gen3_evt2_sample.raw",
        "evt2",
        (640, 480),
        539481,
        1317888,
        1367888,
        None,
        367855,
        171626,
    ),
    (
        "prophesee/gen41_evt3_small.raw",
        "evt3",
        (1280, 720),
        5000,
        5840504,
        5885714,
        None,
        2894,
        2106,
    ),
    (
        "aedat4/dvxplorer_sample.aedat4",
        "aedat4",
        (320, 240),
        111954,
        None,
        None,
        589917,
        55023,
        56931,
    ),
    ("aedat4/davis346_small.aedat4", "aedat4", (346, 260), 6676, None, None, 169941, 3563, 3113),
    (
        "aedat4/davis346_with_frames.aedat4",
        "aedat4",
        (346, 260),
        117667,
        None,
        None,
        129999,
        72363,
        45304,
    ),
    (
        "aedat2/dvs128_short.aedat",
        "aedat2",
        (128, 128),
        130114,
        113476330,
        119657829,
        None,
        74991,
        55123,
    ),
]
# the README gives "<= W x H" for these: the sensor comes from the data
BOUNDED = {
    "n_caltech101/Faces_easy_0001.bin",
    "n_cars/sample_ncars.dat",
    "n_cars/ncars_obj_004397.dat",
}


@pytest.mark.parametrize("row", README, ids=[r[0] for r in README])
def test_readme_table(row):
    rel, fmt, (w, h), count, t0, t1, span, on, off = row
    ev, used = io.read(shared_file(rel), return_format=True)
    assert used == fmt
    assert len(ev) == count
    assert (ev.on, ev.off) == (on, off)
    if t0 is not None:
        assert (ev.t_first, ev.t_last) == (t0, t1)
    else:
        assert ev.t_last - ev.t_first == span
    if rel in BOUNDED:
        assert ev.width <= w and ev.height <= h and ev.size_source == "data"
    else:
        assert (ev.width, ev.height) == (w, h)
        assert ev.size_source in ("header", "convention")
    ev.validate()  # sorted, in bounds


@pytest.mark.parametrize("row", README, ids=[r[0] for r in README])
def test_chunks_concatenate_to_whole(row):
    path = shared_file(row[0])
    whole = io.read(path)
    for kw in ({"n_events": 777}, {"dt_us": 5000}):
        parts = list(io.iter_chunks(path, **kw))
        if "n_events" in kw:
            assert all(len(c) == 777 for c in parts[:-1])
        else:
            for c in parts:
                if len(c):
                    assert c.t_last - c.t_first < 5000
        x = torch.cat([c.x.long() for c in parts])
        t = torch.cat([c.t for c in parts])
        p = torch.cat([c.p for c in parts])
        assert torch.equal(x, whole.x.long()) and torch.equal(t, whole.t)
        assert torch.equal(p, whole.p)


def test_dat_matches_reference_decode():
    ev = io.read(shared_file("n_cars/ncars_obj_004397.dat"))
    ref = np.load(shared_file("n_cars/ncars_obj_004397.reference.npy"))
    c = ev.numpy()
    for k in ("t", "x", "y", "p"):
        np.testing.assert_array_equal(c[k], ref[k])


def test_evt3_matches_reference_xyp_and_readme_times():
    ev = io.read(shared_file("prophesee/gen41_evt3_small.raw"))
    ref = np.load(shared_file("prophesee/gen41_evt3_small.reference_xyp_only.npy"))
    c = ev.numpy()
    for k in ("x", "y", "p"):  # the reference's timestamps are wrong (README): not compared
        np.testing.assert_array_equal(c[k], ref[k])
    # the reference decoder added 4096 us at each TIME_LOW wrap: ours must not agree with it
    assert (c["t"] <= ref["t"]).all() and c["t"][-1] == 5885714


def test_header_only_aedat2_is_an_empty_stream():
    ev, fmt = io.read(shared_file("aedat2/davis346red_header_only.aedat"), return_format=True)
    assert fmt == "aedat2" and len(ev) == 0
    assert (ev.width, ev.height, ev.size_source) == (346, 260, "convention")
    assert (
        list(io.iter_chunks(shared_file("aedat2/davis346red_header_only.aedat"), n_events=10)) == []
    )


def test_streaming_matches_with_tiny_blocks(monkeypatch):
    """Blocks of a few bytes split words and EVT3 vectors: the carried state must hold."""
    from ezsr.io import _stream

    path = shared_file("prophesee/gen41_evt3_small.raw")
    whole = io.read(path)
    monkeypatch.setattr(_stream, "BLOCK_BYTES", 14)
    monkeypatch.setattr(_stream, "MAX_EVENTS_PER_CALL", 40)
    parts = list(io.iter_chunks(path, n_events=1000))
    assert torch.equal(torch.cat([c.t for c in parts]), whole.t)
    assert torch.equal(torch.cat([c.x for c in parts]), whole.x)


@pytest.mark.parametrize(
    "rel",
    [
        "prophesee/gen3_evt2_sample.raw",
        "prophesee/gen41_evt3_small.raw",
        "n_cars/sample_ncars.dat",
        "aedat2/dvs128_short.aedat",
        "n_mnist/sample_nmnist.bin",
    ],
)
def test_numpy_fallback_matches_kernel(monkeypatch, rel):
    """Without the extension the numpy/Python references decode the same events."""
    from ezsr.io import _decode

    path = shared_file(rel)
    fast = io.read(path)
    monkeypatch.setattr(_decode, "has_kernel", lambda: False)
    slow = io.read(path)
    chunks = list(io.iter_chunks(path, n_events=50_000))
    for k in ("x", "y", "t", "p"):
        assert torch.equal(getattr(slow, k), getattr(fast, k))
        assert torch.equal(torch.cat([getattr(c, k) for c in chunks]), getattr(fast, k))
