"""Runners: window(s) of events -> logits, split into preprocess and infer so the stream
can time each stage. All share: class_names, device, preprocess(windows) -> inputs,
infer(inputs) -> np.ndarray float32 [B, K] logits.

* TorchRunner: a torch module image [B, 3, 224, 224] (CLIP-normalised) -> logits; eager,
  or with a captured CUDA graph on a GPU (cuda_graph=True, batch 1).
* OnnxRuntimeRunner: an ONNX file from `ezsr export` (image or events graph), CPU or
  CUDA execution provider.
* TensorRTRunner: a serialised engine of an image graph (ezsr.export.tensorrt).
Preprocessing runs on the runner's device: ezsr.ops.ezsr_preprocess (the CPU/CUDA kernels).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol, Sequence, cast

import numpy as np
import torch

from ezsr.events import EventBatch, Events

log = logging.getLogger(__name__)


class Runner(Protocol):
    """What ezsr.streaming.StreamRecognizer needs of a runner (the classes below)."""

    name: str
    class_names: list[str]
    device: torch.device

    def preprocess(self, windows: Sequence[Events]) -> Any:
        """Windows -> the model's input (a tensor or a dict of feeds) on `device`."""

    def infer(self, inputs: Any) -> np.ndarray:
        """The model's input -> logits [B, K] float32."""


def preprocess_windows(
    windows: Sequence[Events],
    device: torch.device | str,
    out_size: int = 224,
    mode: str = "crop",
    pin: bool = True,
) -> torch.Tensor:
    """EZSR encoder input [B, 3, S, S] float32 (CLIP-normalised) on `device`.

    Windows are concatenated on the host (pinned when the device is CUDA, so the copy is
    async) and preprocessed on the device.
    """
    device = torch.device(device)
    windows = list(windows)
    from ezsr.ops import ezsr_preprocess

    if (
        len(windows) == 1 and device.type == "cpu" and windows[0].device.type == "cpu"
    ):  # the stream's case: no concatenation, no copy
        return ezsr_preprocess(windows[0], out_size=out_size, mode=mode)
    batch = EventBatch.from_streams(windows)
    if device.type == "cuda":
        if pin and batch.x.device.type == "cpu":  # windows already on the GPU need no pinning
            x, y, t, p, offsets = (
                v.pin_memory() for v in (batch.x, batch.y, batch.t, batch.p, batch.offsets)
            )
            batch = EventBatch(x, y, t, p, offsets, batch.width, batch.height)
        batch = batch.to(device, non_blocking=True)
    return ezsr_preprocess(batch, out_size=out_size, mode=mode)


class TorchRunner:
    """model: nn.Module image [B, 3, S, S] -> logits [B, K] (e.g. ezsr.zeroshot.graph.ImageClassifier)."""

    name = "torch"

    def __init__(
        self,
        model: torch.nn.Module,
        class_names: Sequence[str],
        device: torch.device | str = "cpu",
        cuda_graph: bool = False,
        out_size: int = 224,
        mode: str = "crop",
    ) -> None:
        self.device = torch.device(device)
        self.model = model.eval().to(self.device)
        self.class_names = list(class_names)
        self.out_size, self.mode = out_size, mode
        self.cuda_graph = bool(cuda_graph)
        if self.cuda_graph and self.device.type != "cuda":
            raise ValueError("TorchRunner: cuda_graph=True needs a CUDA device")
        self._graph: torch.cuda.CUDAGraph | None = None
        if self.cuda_graph:
            self.name = "torch-cudagraph"

    def preprocess(self, windows: Sequence[Events]) -> torch.Tensor:
        return preprocess_windows(windows, self.device, self.out_size, self.mode)

    def _capture(self, x: torch.Tensor) -> None:
        """Record one forward at this input shape into a CUDA graph (after warm-up runs on
        a side stream, as torch.cuda.graphs requires)."""
        self._static_in = x.clone()
        s = torch.cuda.Stream(self.device)
        s.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(s), torch.no_grad():
            for _ in range(3):
                self.model(self._static_in)
        torch.cuda.current_stream(self.device).wait_stream(s)
        self._graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self._graph), torch.no_grad():
            self._static_out = self.model(self._static_in)

    @torch.no_grad()
    def infer(self, x: torch.Tensor) -> np.ndarray:
        if self.cuda_graph:
            if self._graph is None or self._static_in.shape != x.shape:
                self._capture(x)
            self._static_in.copy_(x)
            cast(torch.cuda.CUDAGraph, self._graph).replay()  # set by _capture
            return self._static_out.float().cpu().numpy()
        return self.model(x).float().cpu().numpy()


class OnnxRuntimeRunner:
    """An exported classifier (`ezsr export`) under ONNX Runtime; class names from its
    metadata unless given."""

    name = "onnxruntime"

    def __init__(
        self,
        path: str | Path,
        class_names: Sequence[str] | None = None,
        device: str = "cpu",
        threads: int | None = None,
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
            self.session = ort_session(path, providers, threads)
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
            from ezsr.zeroshot.graph import pad_events

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
