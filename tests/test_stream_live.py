"""Live sources of `ezsr stream`: an AEDAT4 network stream served by dv-processing's own
NetworkWriter gives the same windows and labels as the recording read from the file; a closed
connection and Ctrl-C end the stream with its summary; missing SDKs and absent cameras are
named errors. The Prophesee source needs the Metavision SDK (not on PyPI): skipped without it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import free_port, shared_file

from ezsr.cli import main

HERE = Path(__file__).resolve().parent
RECORDING = "aedat4/dvxplorer_sample.aedat4"  # 111,954 events, 320x240


class Server:
    """tests/_dv_server.py in a subprocess (the writer must not share the client's process:
    its destructor waits on its I/O thread)."""

    def __init__(self, path, hold=False, port=None):
        pytest.importorskip("dv_processing")
        self.port = port or free_port()
        cmd = [sys.executable, str(HERE / "_dv_server.py"), str(path), str(self.port)]
        self.proc = subprocess.Popen(
            cmd + (["--hold"] if hold else []), stdout=subprocess.PIPE, text=True
        )
        line = self.proc.stdout.readline()
        assert line.strip() == "listening", f"server did not start: {line!r}"

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    from _tiny_vit import TinyViT

    from ezsr.export.onnx_export import export_onnx

    enc = TinyViT(out_dim=16)
    cls = F.normalize(torch.randn(16, 4, generator=torch.Generator().manual_seed(1)), dim=0)
    return str(
        export_onnx(
            enc,
            cls,
            tmp_path_factory.mktemp("live") / "tiny.onnx",
            class_names=["cat", "dog", "car", "cup"],
        )
    )


def _stream(src, onnx, js, *extra):
    return [
        "stream",
        str(src),
        "--onnx",
        onnx,
        "--window",
        "10000",
        "--top-k",
        "4",
        "--quiet",
        "--summary-json",
        str(js),
        *extra,
    ]


def test_tcp_stream_gives_the_windows_and_labels_of_the_file(tiny_onnx, tmp_path, capsys):
    path = shared_file(RECORDING)
    assert main(_stream(path, tiny_onnx, tmp_path / "file.json")) == 0
    server = Server(path)
    try:
        # room for every window: this compares what arrives, not the overload policy
        assert (
            main(
                _stream(
                    f"tcp://127.0.0.1:{server.port}",
                    tiny_onnx,
                    tmp_path / "tcp.json",
                    "--max-pending",
                    "64",
                    "--max-age-ms",
                    "600000",
                )
            )
            == 0
        )
    finally:
        server.close()
    assert server.proc.returncode == 0  # it sent everything and closed the connection
    out = capsys.readouterr().out
    f, n = (json.loads((tmp_path / k).read_text()) for k in ("file.json", "tcp.json"))
    # 111,954 events: 11 windows of 10,000 (the last 1,954 < 5,000 are not a window)
    assert f["windows"] == n["windows"] == 11 and f["events"] == n["events"] == 111954
    assert n["dropped"] == 0 and n["dropped_events"] == 0
    assert n["end"] == "disconnected" and f["end"] == "end of stream"
    assert "stopped: source disconnected" in out  # the closed connection ends the stream
    assert "warm-up: 2 untimed call(s)" in out
    assert len(f["decisions"]) == len(n["decisions"]) == 11
    for a, b in zip(f["decisions"], n["decisions"]):
        assert (a["index"], a["t_end_us"], a["t_rel_us"], a["n_events"]) == (
            b["index"],
            b["t_end_us"],
            b["t_rel_us"],
            b["n_events"],
        )
        assert a["labels"] == b["labels"] and len(a["labels"]) == 4
        np.testing.assert_allclose(a["scores"], b["scores"], atol=1e-6)
    # times since the recording's start: the first window ends at its 10,000th event
    from ezsr import io

    ev = io.read(path)
    assert f["t_first_us"] == int(ev.t[0])
    assert f["decisions"][0]["t_rel_us"] == int(ev.t[9999] - ev.t[0])
    assert f["decisions"][3]["t_end_us"] == int(ev.t[39999])


def test_ctrl_c_ends_a_live_stream_with_its_summary(tiny_onnx, tmp_path):
    """SIGINT (what Ctrl-C sends) while the camera is idle: the stream stops, closes the
    source and returns the summary; the idle connection does not keep it running."""
    from ezsr import streaming
    from ezsr.export.runners import OnnxRuntimeRunner
    from ezsr.streaming.live import open_live

    path = shared_file(RECORDING)
    server = Server(path, hold=True)
    try:
        src = open_live(f"tcp://127.0.0.1:{server.port}").connect()
        assert (src.width, src.height) == (320, 240)
        rec = streaming.StreamRecognizer(OnnxRuntimeRunner(tiny_onnx), n_events=10000, warmup=1)
        seen = []

        def on_decision(d):
            seen.append(d)
            if len(seen) == 11:  # every window is in: Ctrl-C while the stream waits
                threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()

        s = rec.run(src, live=True, on_decision=on_decision)
    finally:
        server.close()
    assert s["stopped"] == "interrupted" and s["windows"] == 11 and s["end"] == "closed"
    assert s["events"] == 111954 and s["latency_ms"]["inference"]["n"] == 11


def test_reconnect_continues_on_a_new_connection_in_time_order():
    """--reconnect: after the first server closes, a second one on the same port is picked
    up; it restarts the recording, so its events older than the last one delivered are
    dropped and counted, and the stream ends when no server comes back in time."""
    from ezsr.streaming.live import open_live

    path = shared_file(RECORDING)
    first = Server(path)
    src = open_live(f"tcp://127.0.0.1:{first.port}", reconnect_s=3.0).connect()
    got, second = [], None
    try:
        for chunk in src:
            got.append(chunk)
            if sum(len(c) for c in got) == 111954 and second is None:
                first.proc.wait(30)  # closed: start the next server on the same port
                second = Server(path, port=first.port)
    finally:
        first.close()
        if second is not None:
            second.close()
    assert second is not None and src.connects == 2 and src.end_reason == "disconnected"
    from ezsr import io

    ev = io.read(path)
    k = int((ev.t >= ev.t[-1]).sum())  # the restart's events not older than the last one
    assert sum(len(c) for c in got) == 111954 + k and src.dropped_events == 111954 - k
    t = torch.cat([c.t for c in got])
    assert bool((t[1:] >= t[:-1]).all())


def test_live_source_errors_are_named(monkeypatch):
    pytest.importorskip("dv_processing")
    from ezsr.streaming.live import is_live, open_live

    assert is_live("camera") and is_live("camera:DXA00093") and is_live("tcp://h:1")
    assert not is_live("camera.aedat4") and not is_live("rec.npz")
    with pytest.raises(ValueError, match="tcp://HOST:PORT"):
        open_live("tcp://localhost")
    with pytest.raises(ConnectionError, match=r"tcp://127.0.0.1:\d+: cannot connect to it"):
        open_live(f"tcp://127.0.0.1:{free_port()}").connect()
    import dv_processing as dv

    if not dv.io.camera.discover():
        with pytest.raises(ConnectionError, match="camera: no iniVation camera found"):
            open_live("camera").connect()
    monkeypatch.setitem(sys.modules, "dv_processing", None)
    with pytest.raises(ImportError, match=r"pip install 'ezsr\[live\]'"):
        open_live("camera")


def test_stream_cli_names_an_unreachable_server(tiny_onnx, capsys):
    pytest.importorskip("dv_processing")
    port = free_port()
    assert main(["stream", f"tcp://127.0.0.1:{port}", "--onnx", tiny_onnx]) != 0
    assert f"tcp://127.0.0.1:{port}: cannot connect to it" in capsys.readouterr().err


def test_prophesee_source_without_the_sdk_is_a_named_error():
    try:
        import metavision_core  # noqa: F401
    except ImportError:
        from ezsr.streaming.live import open_live

        with pytest.raises(ImportError, match="Metavision SDK"):
            open_live("prophesee")
    else:
        pytest.skip("the Metavision SDK is installed: covered by the test below")


def test_prophesee_source_reads_a_raw_file_like_ezsr_io():
    """With the Metavision SDK installed (not on PyPI; absent where ezsr is developed): its
    EventsIterator on the EVT 2.0 sample gives the events ezsr.io decodes."""
    pytest.importorskip(
        "metavision_core",
        reason="the Metavision SDK is not installed (Prophesee's own packages, not PyPI)",
    )
    from ezsr import io
    from ezsr.streaming.live import MetavisionSource

    path = shared_file("prophesee/gen3_evt2_sample.raw")
    chunks = list(MetavisionSource(str(path)))
    ref = io.read(path)
    got = torch.cat([c.t for c in chunks])
    assert torch.equal(got, ref.t)
    assert torch.equal(torch.cat([c.x.long() for c in chunks]), ref.x.long())
    assert torch.equal(torch.cat([c.p for c in chunks]), ref.p)
