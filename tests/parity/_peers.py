"""Shared helpers of the parity tests: the recordings of ../shared/data/events (README
there) and ezsr's columns as int64 numpy arrays."""

from __future__ import annotations

import numpy as np

# every recording with events (the header-only AEDAT 2.0 file has none)
RECORDINGS = [
    "n_imagenet/ezsr_test_event.npz",
    "n_mnist/sample_nmnist.bin",
    "n_caltech101/Faces_easy_0001.bin",
    "n_cars/sample_ncars.dat",
    "n_cars/ncars_obj_004397.dat",
    "prophesee/gen3_evt2_sample.raw",
    "prophesee/gen41_evt3_small.raw",
    "aedat4/dvxplorer_sample.aedat4",
    "aedat4/davis346_small.aedat4",
    "aedat4/davis346_with_frames.aedat4",
    "aedat2/dvs128_short.aedat",
]


def cols(ev) -> dict:
    """x, y, t, p of ezsr Events as int64 numpy arrays."""
    c = ev.numpy()
    return {k: c[k].astype(np.int64) for k in ("x", "y", "t", "p")}


def assert_columns(ev, x, y, t, p, skip=()):
    got = cols(ev)
    for name, ref in (("x", x), ("y", y), ("t", t), ("p", p)):
        if name not in skip:
            np.testing.assert_array_equal(
                got[name], np.asarray(ref).astype(np.int64), err_msg=f"column {name}"
            )
