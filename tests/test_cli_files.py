"""`ezsr info`, `ezsr show` and `ezsr simulate` on bad arguments and odd files: errors come
before any work and name the option or the file (in-process, through ezsr.cli.main)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from ezsr import io
from ezsr.cli import main
from ezsr.commands.show import gif_windows
from ezsr.events import Events
from ezsr.streaming.demo import synthetic_events


def _events(n=3000, w=64, h=48, span=100_000):
    rng = np.random.default_rng(0)
    return Events(
        rng.integers(0, w, n).astype(np.int16),
        rng.integers(0, h, n).astype(np.int16),
        np.sort(rng.integers(0, span, n)),
        rng.integers(0, 2, n).astype(np.uint8),
        w,
        h,
    )


@pytest.fixture
def small(tmp_path):
    path = tmp_path / "small.npz"
    io.write(path, synthetic_events(height=48, width=64, frames=8, threshold=0.02))
    return path


def _usage_error(argv, capsys) -> str:
    """argparse rejects argv with exit code 2; returns its message."""
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    return capsys.readouterr().err


def _error(argv, capsys) -> str:
    assert main(argv) == 1
    return capsys.readouterr().err


# ------------------------------------------------------------------ show
@pytest.mark.parametrize(
    "opts,option",
    [
        (["--gif", "--window", "0"], "--window"),
        (["--gif", "--window", "-3"], "--window"),
        (["--gif", "--fps", "0"], "--fps"),
        (["--gif", "--fps", "-1"], "--fps"),
        (["--gif", "--frames", "0"], "--frames"),
        (["--t0", "0", "--dt", "-100"], "--dt"),
        (["--start", "-1"], "--start"),
        (["--format", "nope"], "--format"),
    ],
)
def test_show_rejects_bad_numbers(tmp_path, small, capsys, opts, option):
    out = tmp_path / ("x.gif" if "--gif" in opts else "x.png")
    assert f"argument {option}" in _usage_error(["show", str(small), "-o", str(out), *opts], capsys)
    assert not out.exists()


def test_show_output_paths(tmp_path, small, capsys):
    err = _error(["show", str(small), "-o", str(tmp_path / "x")], capsys)
    assert "no file extension" in err and ".png" in err
    assert "is a folder" in _error(["show", str(small), "-o", str(tmp_path)], capsys)
    out = tmp_path / "new" / "dir" / "x.png"
    assert main(["show", str(small), "-o", str(out)]) == 0 and out.exists()


def test_show_gif_starts_at_start_and_t0(tmp_path, small, capsys):
    ev = io.read(small)
    args = SimpleNamespace(file=str(small), frames=4, window=100, start=250, t0=None, dt=None)
    batch, what = gif_windows(ev, args)
    assert len(batch) == 4 and "consecutive from event 250" in what
    assert torch.equal(batch[0].t, ev.window(250, 100).t)
    assert torch.equal(batch[3].t, ev.window(550, 100).t)
    t0 = ev.t_first + 3000
    args = SimpleNamespace(file=str(small), frames=3, window=100, start=None, t0=t0, dt=1000)
    batch, _ = gif_windows(ev, args)
    assert torch.equal(batch[0].t, ev.time_window(t0, 1000).t)
    assert torch.equal(batch[2].t, ev.time_window(t0 + 2000, 1000).t)
    # without --start: whole windows spread from the first to the last event
    args = SimpleNamespace(file=str(small), frames=3, window=100, start=None, t0=None, dt=None)
    batch, what = gif_windows(ev, args)
    assert "spread" in what and torch.equal(batch[2].t, ev.t[-100:])
    gif = tmp_path / "a.gif"
    assert (
        main(
            [
                "show",
                str(small),
                "-o",
                str(gif),
                "--gif",
                "--start",
                "250",
                "--window",
                "100",
                "--frames",
                "4",
            ]
        )
        == 0
    )
    assert Image.open(gif).n_frames == 4


def test_show_empty_file_names_it(tmp_path, capsys):
    empty = tmp_path / "empty.raw"
    empty.write_bytes(b"")
    err = _error(["show", str(empty), "-o", str(tmp_path / "x.png")], capsys)
    assert "empty.raw" in err and "empty (0 bytes)" in err


# ------------------------------------------------------------------ info / ezsr.io
def test_info_empty_and_header_only(tmp_path, capsys):
    empty = tmp_path / "empty.raw"
    empty.write_bytes(b"")
    assert "empty.raw: the file is empty (0 bytes)" in _error(["info", str(empty)], capsys)
    head = tmp_path / "head.raw"
    head.write_bytes(b"% evt 2.0\n% geometry 640x480\n% end\n")
    assert main(["info", str(head), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 0
    (tmp_path / "e.bin").write_bytes(b"")  # .bin has no header: 0 records is 0 bytes
    assert len(io.read(tmp_path / "e.bin")) == 0


def test_info_unknown_format_names_the_option(tmp_path, capsys):
    (tmp_path / "t.txt").write_text("hello\n")
    assert "--format" in _error(["info", str(tmp_path / "t.txt")], capsys)


@pytest.mark.parametrize(
    "name,words", [("t.npz", "not an .npz (zip) archive"), ("t.npy", "not an .npy file")]
)
def test_text_named_npz_npy(tmp_path, capsys, name, words):
    (tmp_path / name).write_text("hello\n")
    err = _error(["info", str(tmp_path / name)], capsys)
    assert words in err and "allow_pickle" not in err


def test_info_evt_override(tmp_path, capsys, caplog):
    ev = _events()
    path = tmp_path / "rec.raw"
    io.write(path, ev, format="evt2")
    assert main(["info", str(path), "--format", "evt3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["format"] == "evt2"  # the header wins...
    assert "EVT 2.0" in caplog.text and "evt3" in caplog.text  # ...with a warning
    # a header without a version line: the override decides
    io.write(path, ev, format="evt3")
    data = path.read_bytes()
    cut = data.index(b"% evt 3.0\n")
    path.write_bytes(data[:cut] + data[cut + len(b"% evt 3.0\n") :])
    back, used = io.read(path, format="evt3", return_format=True)
    assert used == "evt3" and torch.equal(back.t, ev.t)


# ------------------------------------------------------------------ simulate
@pytest.fixture
def imgs(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray((rng.random((24, 32, 3)) * 255).astype(np.uint8)).save(folder / f"i{i}.png")
    return folder


def test_simulate_missing_timestamps_file(tmp_path, imgs, capsys):
    out = tmp_path / "fr9.h5"
    err = _error(
        ["simulate", str(imgs), "-o", str(out), "--timestamps", str(tmp_path / "missing.txt")],
        capsys,
    )
    assert "--timestamps" in err and "no such file" in err and not out.exists()


def test_simulate_folder_output_checks(tmp_path, imgs, capsys):
    (tmp_path / "a.h5").write_bytes(b"x")
    err = _error(["simulate", str(imgs), "-o", str(tmp_path / "a.h5")], capsys)
    assert "a folder of images needs -o to be a folder" in err
    assert "needs -o to be a folder" in _error(
        ["simulate", str(imgs), "-o", str(tmp_path / "b.h5")], capsys
    )
    assert not (tmp_path / "b.h5").exists()
    assert "argument --ext" in _usage_error(
        ["simulate", str(imgs), "-o", str(tmp_path / "out"), "--ext", "xyz"], capsys
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "opts,option",
    [
        (["--duration-us", "0"], "--duration-us"),
        (["--contrast", "0"], "--contrast"),
        (["--sigma", "-1"], "--sigma"),
        (["--refractory-us", "-5"], "--refractory-us"),
        (["--sensor", "0x5"], "--sensor"),
        (["--sensor", "big"], "--sensor"),
    ],
)
def test_simulate_rejects_bad_numbers(tmp_path, imgs, capsys, opts, option):
    err = _usage_error(
        ["simulate", str(imgs / "i0.png"), "-o", str(tmp_path / "a.h5"), *opts], capsys
    )
    assert f"argument {option}" in err


def test_simulate_output_without_extension_is_h5(tmp_path, imgs, capsys):
    assert (
        main(
            [
                "simulate",
                str(imgs / "i0.png"),
                "-o",
                str(tmp_path / "sub" / "a"),
                "--sensor",
                "24x32",
                "--motion",
                "affine",
            ]
        )
        == 0
    )
    assert "a.h5" in capsys.readouterr().err
    assert len(io.read(tmp_path / "sub" / "a.h5")) > 0
    err = _error(["simulate", str(imgs / "i0.png"), "-o", str(tmp_path / "a.xyz")], capsys)
    assert "'.xyz'" in err and ".h5" in err
    assert "is a folder" in _error(["simulate", str(imgs / "i0.png"), "-o", str(imgs)], capsys)


def test_simulate_timestamps_order_names_the_file(tmp_path, imgs, capsys):
    (imgs / "timestamps.txt").write_text("0\n10\n10\n")
    err = _error(["simulate", str(imgs), "-o", str(tmp_path / "v.h5")], capsys)
    assert "timestamps.txt:3" in err and "strictly increasing" in err
    (imgs / "timestamps.txt").write_text("i0.png 0\ni7.png 10\n")
    err = _error(["simulate", str(imgs), "-o", str(tmp_path / "v.h5")], capsys)
    assert "timestamps.txt:2" in err and "i7.png" in err
