"""Stream runners of what `ezsr export` writes, for ezsr.streaming.StreamRecognizer (they
follow its Runner protocol: preprocess(windows) -> inputs, infer(inputs) -> logits [B, K]).

* OnnxRuntimeRunner: an ONNX file (image or events graph), CPU or CUDA execution provider.
* TensorRTRunner: a serialised engine of an image graph (ezsr.export.tensorrt).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ezsr.events import Events
from ezsr.zeroshot.graph import pad_events, preprocess_windows

log = logging.getLogger(__name__)


class OnnxRuntimeRunner:
    """An exported classifier (`ezsr export`) under ONNX Runtime; class names from its
    metadata unless given.

    threads: ONNX Runtime's intra-op threads (None: its default, one per core). spin:
    whether those threads busy-wait between runs (ONNX Runtime's default). Off here: in a
    stream a spinning pool holds a core that the ingest and decoding threads need; the
    tiny test model's 10 Mev/s realtime replay on 2 cores had in-stream preprocess p99
    2.8-4.5 ms spinning, 0.9-1.4 ms not (with threads=1: inference p50 0.29 ms against
    0.48-0.52 ms for two threads that sleep between runs).
    """

    name = "onnxruntime"

    def __init__(
        self,
        path: str | Path,
        class_names: Sequence[str] | None = None,
        device: str = "cpu",
        threads: int | None = None,
        spin: bool = False,
    ) -> None:
        from ezsr.export.onnx_export import ort_session, read_metadata

        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such ONNX file")
        try:
            meta = read_metadata(path)
        except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and the like
            raise ValueError(f"{path}: not an ONNX model ({type(exc).__name__}: {exc})") from None
        self.kind = meta.get("kind", "image")
        self.out_size, self.mode = meta.get("out_size", 224), meta.get("mode", "crop")
        self.sensor = tuple(meta.get("sensor", ()))  # (height, width) of an events graph
        self.path = path
        self.class_names = list(class_names or meta.get("class_names") or [])
        if not self.class_names:
            raise ValueError(f"{path}: no class names in the model's metadata; pass them")
        import onnxruntime as ort

        dev = torch.device(device)
        cuda = dev.type == "cuda"
        if cuda and "CUDAExecutionProvider" not in ort.get_available_providers():
            log.warning(
                "%s: this onnxruntime has no CUDA provider (it has %s): running on "
                "the CPU (pip install onnxruntime-gpu for the GPU)",
                path,
                ort.get_available_providers(),
            )
            cuda = False
        providers = (
            [("CUDAExecutionProvider", {"device_id": dev.index or 0}), "CPUExecutionProvider"]
            if cuda
            else ["CPUExecutionProvider"]
        )
        self.device = torch.device("cpu")  # inputs are handed over as host arrays
        try:
            self.session = ort_session(path, providers, threads, spin=spin)
        except ValueError:
            raise
        except Exception as exc:  # noqa: BLE001 - onnxruntime's InvalidGraph, Fail, ...
            raise ValueError(f"{path}: ONNX Runtime cannot load it ({exc})") from None
        if cuda and self.session.get_providers()[0] != "CUDAExecutionProvider":
            # the provider failed to load (e.g. onnxruntime-gpu built for another CUDA) and
            # ONNX Runtime fell back to the CPU silently: say so, name the runner truthfully
            log.warning(
                "%s: ONNX Runtime's CUDA provider is not available (providers %s): "
                "running on the CPU",
                path,
                self.session.get_providers(),
            )
            cuda = False
        self.name = f"onnxruntime-{'cuda' if cuda else 'cpu'}"
        outs = {o.name: o.shape for o in self.session.get_outputs()}
        k = (outs.get("logits") or [None])[-1]
        if isinstance(k, int) and k != len(self.class_names):
            raise ValueError(
                f"{path}: the model gives K={k} logits, {len(self.class_names)} "
                f"class name(s) were given; give {k} names (in the order of "
                "export), or none to use the names stored in the model"
            )

    def preprocess(self, windows: Sequence[Events]) -> dict:
        if self.kind == "events":
            w = windows[0]
            if self.sensor and (w.height, w.width) != self.sensor:
                raise ValueError(
                    f"{self.path}: the events graph was exported for a "
                    f"{self.sensor[1]}x{self.sensor[0]} sensor, the stream is "
                    f"{w.width}x{w.height} (re-export with --sensor "
                    f"{w.height}x{w.width}, or use an image graph)"
                )
            return pad_events(windows)
        x = preprocess_windows(windows, "cpu", self.out_size, self.mode)
        return {"image": x.numpy()}

    def infer(self, feeds: dict) -> np.ndarray:
        return self.session.run(["logits"], feeds)[0]


class TensorRTRunner:
    """A TensorRT engine of an image graph; preprocessing on the GPU, the engine reads the
    device tensor directly."""

    name = "tensorrt"

    def __init__(
        self,
        engine_path: str | Path,
        class_names: Sequence[str],
        device: str = "cuda",
        out_size: int = 224,
        mode: str = "crop",
    ) -> None:
        from ezsr.export.tensorrt import TensorRTRunner as _Engine

        self.engine = _Engine(engine_path, device=device)
        self.class_names = list(class_names)
        try:  # the logits' last dimension, when the engine states it
            shape = self.engine.engine.get_tensor_shape(self.engine.outputs[0])
            k = int(shape[len(shape) - 1])
        except Exception:  # noqa: BLE001 - no shape: no check
            k = -1
        if k > 0 and k != len(self.class_names):
            raise ValueError(
                f"{engine_path}: the engine gives K={k} logits, "
                f"{len(self.class_names)} class name(s) were given; give {k} names "
                "(in the order of export)"
            )
        self.device = torch.device(device)
        self.out_size, self.mode = out_size, mode

    def preprocess(self, windows: Sequence[Events]) -> dict:
        x = preprocess_windows(windows, self.device, self.out_size, self.mode)
        return {"image": x.contiguous()}

    def infer(self, feeds: dict) -> np.ndarray:
        return self.engine.run(feeds)
