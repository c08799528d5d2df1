"""`ezsr show` and `ezsr demo` end to end (in-process, through ezsr.cli.main)."""

import numpy as np
from conftest import needs_offline_extra, shared_file
from PIL import Image

from ezsr import io
from ezsr.cli import main
from ezsr.ops import ezsr_visualize
from ezsr.streaming.demo import synthetic_events


def test_show_reproduces_the_reference_picture(tmp_path):
    src = shared_file("n_imagenet/ezsr_test_event.npz")
    ref = np.array(Image.open(shared_file("n_imagenet/ezsr_event_reference.png")))
    out = tmp_path / "out.png"
    assert (
        main(
            [
                "show",
                str(src),
                "-o",
                str(out),
                "--representation",
                "ezsr",
                "--start",
                "26502",
                "--window",
                "15000",
            ]
        )
        == 0
    )
    assert np.array_equal(np.array(Image.open(out)), ref)


def _small_file(tmp_path):
    ev = synthetic_events(height=48, width=64, frames=8, threshold=0.02)
    path = tmp_path / "small.npz"
    io.write(path, ev)
    return path, io.read(path)


def test_show_windows_and_representations(tmp_path, capsys):
    path, ev = _small_file(tmp_path)
    out = tmp_path / "a.png"
    assert main(["show", str(path), "-o", str(out), "--start", "10", "--window", "500"]) == 0
    assert np.array_equal(np.array(Image.open(out)), ezsr_visualize(ev.window(10, 500)))
    assert (
        main(
            [
                "show",
                str(path),
                "-o",
                str(out),
                "--representation",
                "voxel_grid",
                "--t0",
                str(ev.t_first),
                "--dt",
                "2000",
            ]
        )
        == 0
    )
    assert Image.open(out).size == (5 * ev.width, ev.height)  # five bins side by side
    gif = tmp_path / "a.gif"
    assert main(["show", str(path), "-o", str(gif), "--gif", "--window", "300"]) == 0
    im = Image.open(gif)
    assert im.format == "GIF" and im.n_frames > 1


def test_show_errors_are_clear(tmp_path, capsys):
    path, ev = _small_file(tmp_path)
    assert main(["show", str(path), "-o", str(tmp_path / "x.png"), "--start", str(len(ev))]) == 1
    assert "--start" in capsys.readouterr().err
    assert main(["show", str(path), "-o", str(tmp_path / "x.png"), "--gif"]) == 1
    assert ".gif" in capsys.readouterr().err
    assert main(["show", str(tmp_path / "missing.npz"), "-o", str(tmp_path / "x.png")]) == 1


def test_synthetic_events_are_valid_and_deterministic():
    a, b = (synthetic_events(frames=4) for _ in range(2))
    assert len(a) > 100 and a.on > 0 and a.off > 0
    a.validate()  # sorted t, in bounds
    assert all(np.array_equal(u, v) for u, v in zip(a.numpy().values(), b.numpy().values()))


def test_demo_writes_the_picture(tmp_path, capsys):
    """`ezsr demo` (the streaming recognition demo) on the fast synthetic
    source: labels per window, a latency table, and the visualisation PNG with -o."""
    import json

    needs_offline_extra()  # the demo's model is the offline teacher

    out, js = tmp_path / "demo.png", tmp_path / "demo.json"
    assert (
        main(
            [
                "demo",
                "--source",
                "synthetic",
                "--max-windows",
                "2",
                "-o",
                str(out),
                "--summary-json",
                str(js),
            ]
        )
        == 0
    )
    pic = np.array(Image.open(out))
    assert pic.shape == (480, 640) and pic.dtype == np.uint8 and (pic > 0).sum() > 1000
    text = capsys.readouterr().out
    assert "EZSR visualisation of events" in text and "p50 ms" in text
    s = json.loads(js.read_text())
    assert s["windows"] == 2 and s["backend"] == "torch"
    assert set(s["classes"]) >= {"cat", "dog"}
