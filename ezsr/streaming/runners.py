"""Runners: window(s) of events -> logits, split into preprocess and infer so the stream
can time each stage. All share: class_names, device, preprocess(windows) -> inputs,
infer(inputs) -> np.ndarray float32 [B, K] logits (the Runner protocol below).

* TorchRunner (here): a torch module image [B, 3, 224, 224] (CLIP-normalised) -> logits;
  eager, or with captured CUDA graphs on a GPU (cuda_graph=True, one per batch size); fp32, or the
  encoder in fp16/bf16 on a GPU (precision=), the zero-shot head staying fp32.
* OnnxRuntimeRunner and TensorRTRunner run what `ezsr export` writes; they live with the
  exporter (ezsr.export.runners), which the stream runtime does not import.
Preprocessing runs on the runner's device: ezsr.zeroshot.graph.preprocess_windows (the
CPU/CUDA kernels of ezsr.ops.ezsr_preprocess).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol, Sequence

import numpy as np
import torch

from ezsr.events import Events
from ezsr.zeroshot.graph import ZeroShotHead, preprocess_windows

log = logging.getLogger(__name__)


class Runner(Protocol):
    """What ezsr.streaming.StreamRecognizer needs of a runner (TorchRunner; ezsr.export.runners'
    OnnxRuntimeRunner and TensorRTRunner)."""

    name: str
    class_names: list[str]
    device: torch.device

    def preprocess(self, windows: Sequence[Events]) -> Any:
        """Windows -> the model's input (a tensor or a dict of feeds) on `device`."""

    def infer(self, inputs: Any) -> np.ndarray:
        """The model's input -> logits [B, K] float32."""


PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class TorchRunner:
    """model: nn.Module image [B, 3, S, S] -> logits [B, K] (e.g. ezsr.zeroshot.graph.ImageClassifier).

    precision: "fp32", or "fp16"/"bf16" (CUDA only): the model's weights and the input are
    cast to that type, except any ZeroShotHead inside, which keeps its fp32 classifier
    (it casts the features to fp32 itself). cuda_graph: replay one captured CUDA graph per
    input shape instead of launching the model's kernels one by one (CUDA only).
    preprocess_on: where a CUDA runner preprocesses windows that are in host memory.
    "auto": up to SMALL_BATCH windows on the CPU (the fused ezsr_frame kernel, then one
    pinned copy of the input), more on the device; "cpu" or "device" always. On an H200
    one 15,000-event window took 2.2-2.6 ms through the device's composed ops (a dozen
    small kernels and a host sync), the CPU kernel a fraction of that
    (benchmarks/results/gpu/).
    """

    SMALL_BATCH = 8

    name = "torch"

    def __init__(
        self,
        model: torch.nn.Module,
        class_names: Sequence[str],
        device: torch.device | str = "cpu",
        cuda_graph: bool = False,
        out_size: int = 224,
        mode: str = "crop",
        precision: str = "fp32",
        preprocess_on: str = "auto",
    ) -> None:
        self.device = torch.device(device)
        if preprocess_on not in ("auto", "cpu", "device"):
            raise ValueError(
                "TorchRunner: preprocess_on must be 'auto', 'cpu' or 'device', "
                f"got {preprocess_on!r}"
            )
        self.preprocess_on = preprocess_on
        if precision not in PRECISIONS:
            raise ValueError(
                f"TorchRunner: precision must be one of {sorted(PRECISIONS)}, got {precision!r}"
            )
        if precision != "fp32" and self.device.type != "cuda":
            raise ValueError(f"TorchRunner: precision={precision!r} needs a CUDA device")
        self.precision, self.dtype = precision, PRECISIONS[precision]
        self.model = model.eval().to(self.device, self.dtype)
        for m in self.model.modules():
            if isinstance(m, ZeroShotHead):
                m.float()
        self.class_names = list(class_names)
        self.out_size, self.mode = out_size, mode
        self.cuda_graph = bool(cuda_graph)
        if self.cuda_graph and self.device.type != "cuda":
            raise ValueError("TorchRunner: cuda_graph=True needs a CUDA device")
        self._graphs: dict[tuple[int, ...], tuple[Any, torch.Tensor, torch.Tensor]] = {}
        if self.cuda_graph:
            self.name = "torch-cudagraph"
        if precision != "fp32":
            self.name += f"-{precision}"

    def _on_cpu(self, windows: Sequence[Events]) -> bool:
        if self.device.type == "cpu" or self.preprocess_on == "device":
            return False
        host = all(w.device.type == "cpu" for w in windows)
        return host and (self.preprocess_on == "cpu" or len(windows) <= self.SMALL_BATCH)

    def preprocess(self, windows: Sequence[Events]) -> torch.Tensor:
        if self._on_cpu(windows):
            x = preprocess_windows(windows, "cpu", self.out_size, self.mode)
            x = x.pin_memory().to(self.device, non_blocking=True)
        else:
            x = preprocess_windows(windows, self.device, self.out_size, self.mode)
        return x if self.dtype == torch.float32 else x.to(self.dtype)

    def _capture(self, x: torch.Tensor) -> tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]:
        """Record one forward at this input shape into a CUDA graph (after warm-up runs on
        a side stream, as torch.cuda.graphs requires): (graph, static input, static output)."""
        static_in = x.clone()
        s = torch.cuda.Stream(self.device)
        s.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(s), torch.no_grad():
            for _ in range(3):
                self.model(static_in)
        torch.cuda.current_stream(self.device).wait_stream(s)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph), torch.no_grad():
            static_out = self.model(static_in)
        return graph, static_in, static_out

    @torch.no_grad()
    def infer(self, x: torch.Tensor) -> np.ndarray:
        if self.cuda_graph:
            key = tuple(x.shape)
            if key not in self._graphs:  # one graph per batch size seen (a stream with
                self._graphs[key] = self._capture(x)  # max_batch N sees at most N shapes)
            graph, static_in, static_out = self._graphs[key]
            static_in.copy_(x)
            graph.replay()
            return static_out.float().cpu().numpy()
        return self.model(x).float().cpu().numpy()


__all__ = ["Runner", "TorchRunner", "preprocess_windows"]
