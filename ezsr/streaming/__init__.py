"""Live recognition of event streams: sources -> bounded ring/windows -> runner -> labels,
with per-stage latency (see docs/streaming.md).

    from ezsr.streaming import FileReplay, StreamRecognizer, TorchRunner
    rec = StreamRecognizer(TorchRunner(module, class_names), n_events=15000)
    summary = rec.run(FileReplay("rec.npz", realtime=True), live=True, on_decision=print)
"""

from ezsr.streaming.buffer import EZSR_WINDOW, EventRing, Window, Windower, WindowQueue
from ezsr.streaming.recognizer import Decision, LatencyStats, StreamRecognizer
from ezsr.streaming.runners import Runner, TorchRunner, preprocess_windows
from ezsr.streaming.sources import EventsReplay, FileReplay, PushSource

__all__ = [
    "EZSR_WINDOW",
    "EventRing",
    "Window",
    "WindowQueue",
    "Windower",
    "Decision",
    "LatencyStats",
    "StreamRecognizer",
    "Runner",
    "TorchRunner",
    "preprocess_windows",
    "EventsReplay",
    "FileReplay",
    "PushSource",
]
