"""AEDAT 2.0 addresses read as jAER's own extractors read them (github.com/SensorsINI/jaer):
DVS128.Extractor (src/ch/unizh/ini/jaer/chip/retina/DVS128.java) and
DavisBaseCamera.DavisEventExtractor with the DavisChip.java address fields. Hand-built files:
the expected values are those rules applied by hand, not ezsr output."""

from __future__ import annotations

import numpy as np
import pytest

from ezsr import io
from ezsr.events import Events
from ezsr.io import _decode

HEAD = b"#!AER-DAT2.0\r\n# Data format is int32 address, int32 timestamp (8 bytes total)\r\n"


def aedat2(tmp_path, chip: str, records, name="r.aedat"):
    path = tmp_path / name
    body = np.array(records, dtype=">u4").reshape(-1, 2).tobytes() if records else b""
    path.write_bytes(HEAD + f"# AEChip: {chip}\r\n".encode() + body)
    return path


@pytest.mark.parametrize("kernel", [True, False])
def test_dvs128_polarity_mirror_and_sync(tmp_path, monkeypatch, kernel):
    """Raw bit 0 = 1 is OFF, x = 127 - raw x, y as stored; bit 15 (sync) and bit 31
    (special) addresses are not pixels."""
    if not kernel:
        monkeypatch.setattr(_decode, "has_kernel", lambda: False)
    recs = [
        ((5 << 8) | (9 << 1) | 1, 10),  # raw x 9, y 5, bit 0 set: OFF at x 118
        (0x8000 | (1 << 8), 11),  # sync event (bit 15): skipped
        ((127 << 8) | (0 << 1) | 0, 12),  # raw x 0, y 127, bit 0 clear: ON at x 127
        (0x80000000 | (3 << 1), 13),  # special (bit 31): skipped
        ((0 << 8) | (127 << 1) | 0, 14),
    ]  # raw x 127: x 0, ON
    path = aedat2(tmp_path, "ch.unizh.ini.jaer.chip.retina.DVS128", recs)
    for ev in (io.read(path), Events.concat(list(io.iter_chunks(path, n_events=2)))):
        assert ev.x.tolist() == [118, 127, 0] and ev.y.tolist() == [5, 127, 0]
        assert ev.p.tolist() == [0, 1, 1] and ev.t.tolist() == [10, 12, 14]
        assert (ev.width, ev.height) == (128, 128)


@pytest.mark.parametrize(
    "chip,width",
    [
        ("eu.seebetter.ini.chips.davis.Davis346red", 346),
        ("eu.seebetter.ini.chips.davis.DAVIS240C", 240),
        ("eu.seebetter.ini.chips.davis.Davis208PixelParade", 208),
    ],
)
def test_davis_mirror_polarity_and_skipped_types(tmp_path, chip, width):
    """DVS: p = bit 11 (1 = ON), x = sizeX - 1 - raw x, y = bits 22..30; bit 31 (APS, IMU)
    and bit 10 (external input) records are skipped."""

    def dvs(x, y, p):
        return (y << 22) | (x << 12) | (p << 11)

    recs = [
        (dvs(0, 7, 1), 5),
        (0x80000000 | dvs(3, 3, 0) | 0x400, 6),  # APS sample, reset read
        (0x80000C00 | (1 << 28), 6),  # IMU sample word
        (dvs(2, 1, 0) | (1 << 10) | 3, 7),  # external input (rising edge)
        (dvs(width - 1, 100, 0), 8),
    ]
    ev = io.read(aedat2(tmp_path, chip, recs))
    assert ev.x.tolist() == [width - 1, 0] and ev.y.tolist() == [7, 100]
    assert ev.p.tolist() == [1, 0] and ev.t.tolist() == [5, 8] and ev.width == width


def test_davis_unknown_chip_and_raw_x_outside(tmp_path):
    e = pytest.raises(
        io.EventFileError,
        io.read,
        aedat2(tmp_path, "eu.seebetter.ini.chips.davis.DavisFuture", [(0, 1)]),
    )
    assert "width" in str(e.value) and "DavisFuture" in str(e.value)
    path = aedat2(tmp_path, "eu.seebetter.ini.chips.davis.DAVIS240C", [(300 << 12, 1)], "o.aedat")
    e = pytest.raises(io.EventFileError, io.read, path)
    assert "raw x 300" in str(e.value) and "240" in str(e.value)


def test_writer_follows_jaer_layout(tmp_path):
    """The writer stores jAER's layout: a DVS128 ON event at x 0 has raw x 127 and bit 0
    clear; a DAVIS346 event at x 0 has raw x 345."""
    ev = Events(
        np.array([0], np.int16),
        np.array([3], np.int16),
        np.array([9], np.int64),
        np.array([1], np.uint8),
        128,
        128,
    )
    io.write(tmp_path / "d.aedat", ev)
    raw = (tmp_path / "d.aedat").read_bytes()
    assert b"AEChip: ch.unizh.ini.jaer.chip.retina.DVS128" in raw
    assert np.frombuffer(raw[-8:], ">u4").tolist() == [(3 << 8) | (127 << 1), 9]
    ev346 = Events(ev.x, ev.y, ev.t, ev.p, 346, 260)
    io.write(tmp_path / "e.aedat", ev346)
    raw = (tmp_path / "e.aedat").read_bytes()
    assert np.frombuffer(raw[-8:], ">u4").tolist() == [(3 << 22) | (345 << 12) | (1 << 11), 9]
    with pytest.raises(ValueError, match="jAER DAVIS sensor"):
        io.write(tmp_path / "f.aedat", Events(ev.x, ev.y, ev.t, ev.p, 300, 200))
