"""Event Stream against the `event_stream` package on every recording of
../shared/data/events: ezsr's writer -> event_stream.Decoder, and event_stream.Encoder ->
ezsr's reader, column for column (DVS type; Event Stream time starts at 0 us, so the
recordings' camera-clock offsets become overflow bytes, which both sides must sum alike; the
AEDAT 4 recordings' Unix-epoch times, about 1.6e15 us, would take some 10^13 overflow bytes,
so those are rebased to their first event, which ezsr's writer asks for)."""

from __future__ import annotations

import numpy as np
import pytest

from ezsr import io
from ezsr.events import Events
from tests.conftest import shared_file
from tests.parity._peers import RECORDINGS, assert_columns, cols


@pytest.mark.parametrize("rel", RECORDINGS)
def test_event_stream_both_directions(tmp_path, rel):
    event_stream = pytest.importorskip("event_stream")
    ev = io.read(shared_file(rel))
    if ev.t_first > 10**12:
        ev = Events(ev.x, ev.y, ev.t - ev.t_first, ev.p, ev.width, ev.height)
    c = cols(ev)
    ours = tmp_path / "ezsr.es"
    io.write(ours, ev)
    dec = event_stream.Decoder(str(ours))
    ref = np.concatenate(list(dec))
    assert (dec.type, dec.width, dec.height) == ("dvs", ev.width, ev.height)
    assert_columns(ev, ref["x"], ref["y"], ref["t"], ref["on"])
    theirs = tmp_path / "event_stream.es"
    rec = np.zeros(len(ev), event_stream.dvs_dtype)
    rec["t"], rec["x"], rec["y"], rec["on"] = c["t"], c["x"], c["y"], c["p"] == 1
    with event_stream.Encoder(str(theirs), "dvs", ev.width, ev.height) as enc:
        enc.write(rec)
    back = io.read(theirs)
    assert_columns(back, c["x"], c["y"], c["t"], c["p"])
    assert io.summarize(theirs)["count"] == len(ev)
