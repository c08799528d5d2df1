"""ezsr's readers against the published readers installed from PyPI, on every recording of
../shared/data/events each one reads (skipped where the peer or the folder is missing):

- expelliarmus (Prophesee EVT 2.0 / EVT 3.0 .raw, .dat): every column equal, except EVT 3.0
  timestamps, where expelliarmus adds 4096 us at each TIME_LOW wrap (its own bug; ezsr gives
  the TIME_HIGH << 12 | TIME_LOW of the format and the README's time range): x, y, p equal,
  and its t exceeds ezsr's by a non-decreasing multiple of 4096 us.
- dv-processing (iniVation's own AEDAT 4 reader): every column and the sensor size equal.
- tonic (N-MNIST / N-Caltech101 .bin; AEDAT 4 through the `aedat` package): equal.

AEDAT 2.0 has no installable peer that reads it as jAER does (tonic 1.7's
io.read_dvs_128 fails to unpack its header reader's three return values, and its address
rule swaps x and y and keeps the raw polarity bit); tests/test_io_aedat2.py checks jAER's
extractor rules instead.
"""

from __future__ import annotations

import numpy as np
import pytest

from ezsr import io
from tests.conftest import shared_file
from tests.parity._peers import assert_columns, cols

EXPELLIARMUS = [
    ("prophesee/gen3_evt2_sample.raw", "evt2"),
    ("n_cars/sample_ncars.dat", "dat"),
    ("n_cars/ncars_obj_004397.dat", "dat"),
]
AEDAT4 = [
    "aedat4/dvxplorer_sample.aedat4",
    "aedat4/davis346_small.aedat4",
    "aedat4/davis346_with_frames.aedat4",
]
BIN = ["n_mnist/sample_nmnist.bin", "n_caltech101/Faces_easy_0001.bin"]


@pytest.mark.parametrize("rel,encoding", EXPELLIARMUS, ids=[r for r, _ in EXPELLIARMUS])
def test_expelliarmus(rel, encoding):
    Wizard = pytest.importorskip("expelliarmus").Wizard
    path = shared_file(rel)
    ref = Wizard(encoding=encoding, fpath=str(path)).read()
    assert_columns(io.read(path), ref["x"], ref["y"], ref["t"], ref["p"])


def test_expelliarmus_evt3_timestamp_bug():
    Wizard = pytest.importorskip("expelliarmus").Wizard
    path = shared_file("prophesee/gen41_evt3_small.raw")
    ref = Wizard(encoding="evt3", fpath=str(path)).read()
    ev = io.read(path)
    assert_columns(ev, ref["x"], ref["y"], ref["t"], ref["p"], skip=("t",))
    extra = ref["t"].astype(np.int64) - cols(ev)["t"]
    assert (extra % 4096 == 0).all() and (np.diff(extra) >= 0).all() and extra[-1] > 0
    assert (ev.t_first, ev.t_last) == (5_840_504, 5_885_714)  # the recording's README


def _dv_events(path):
    dv = pytest.importorskip("dv_processing")
    rec = dv.io.MonoCameraRecording(str(path))
    parts = []
    while rec.isRunning():
        batch = rec.getNextEventBatch()
        if batch is not None and len(batch):
            parts.append(batch.numpy())
    return np.concatenate(parts), tuple(rec.getEventResolution())


@pytest.mark.parametrize("rel", AEDAT4)
def test_dv_processing(rel):
    ref, size = _dv_events(shared_file(rel))
    ev = io.read(shared_file(rel))
    assert_columns(ev, ref["x"], ref["y"], ref["timestamp"], ref["polarity"])
    assert (ev.width, ev.height) == size


@pytest.mark.parametrize("rel", BIN)
def test_tonic_bin(rel):
    tio = pytest.importorskip("tonic.io")
    dtype = np.dtype([("x", np.int64), ("y", np.int64), ("t", np.int64), ("p", np.int64)])
    ref = tio.read_mnist_file(str(shared_file(rel)), dtype=dtype)
    assert_columns(io.read(shared_file(rel)), ref["x"], ref["y"], ref["t"], ref["p"])


@pytest.mark.parametrize("rel", AEDAT4)
def test_tonic_aedat4(rel):
    tio = pytest.importorskip("tonic.io")
    pytest.importorskip("aedat")
    ref = tio.read_aedat4(str(shared_file(rel)))
    assert_columns(io.read(shared_file(rel)), ref["x"], ref["y"], ref["t"], ref["on"])
