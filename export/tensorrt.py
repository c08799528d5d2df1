"""TensorRT: an op-support check for ONNX graphs, an engine builder and a runner.

TensorRT is imported lazily (import ezsr.export.tensorrt works without it); build_engine and
TensorRTRunner raise a clear ImportError where it is missing. build_engine writes the ONNX
graph's metadata (class names, input size, ...) to a sidecar ENGINE.json, which
engine_class_names reads back for the engine's runner. Written against the
TensorRT 10.x / 11.x Python API: strongly typed networks (the ONNX graph's own dtypes
decide the precision, which is why the fp16 export carries explicit Casts), named I/O
tensors (set_input_shape / set_tensor_address / execute_async_v3), optimisation profiles,
a timing cache and serialised engines. None of it has run here (no GPU, no TensorRT on
the development machines); docs/export.md says exactly what was exercised.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

# ONNX ops the TensorRT 10.x ONNX parser imports. Source: onnx/onnx-tensorrt
# docs/operators.md (the TensorRT 8.5 table) plus the additions of 8.6-10.x named in the
# TensorRT release notes (LayerNormalization, GroupNormalization, IsInf, Gelu, ...).
# Ops marked N in that table (Unique, Sequence*, Optional*, String*, ConvInteger, ...) are
# absent on purpose.
TRT_SUPPORTED_OPS = frozenset(
    """
Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh AveragePool BatchNormalization
Cast CastLike Ceil Celu Clip Concat Constant ConstantOfShape Conv ConvTranspose Cos Cosh
CumSum DepthToSpace DequantizeLinear Div Dropout Einsum Elu Equal Erf Exp Expand EyeLike
Flatten Floor Gather GatherElements GatherND Gelu Gemm GlobalAveragePool GlobalLpPool
GlobalMaxPool Greater GreaterOrEqual GridSample GroupNormalization GRU HardSigmoid HardSwish
Identity If ImageScaler InstanceNormalization IsInf IsNaN LayerNormalization LeakyRelu Less
LessOrEqual Log LogSoftmax Loop LRN LSTM LpNormalization LpPool MatMul Max MaxPool Mean
MeanVarianceNormalization Min Mish Mod Mul Neg NonMaxSuppression NonZero Not OneHot Or Pad
ParametricSoftplus Pow PRelu QuantizeLinear RandomNormal RandomNormalLike RandomUniform
RandomUniformLike Range Reciprocal ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax
ReduceMean ReduceMin ReduceProd ReduceSum ReduceSumSquare Relu Reshape Resize
ReverseSequence RNN RoiAlign Round ScaledTanh Scan Scatter ScatterElements ScatterND Selu
Shape Shrink Sigmoid Sign Sin Sinh Size Slice Softmax Softplus Softsign SpaceToDepth Split
Sqrt Squeeze Sub Sum Tan Tanh ThresholdedRelu Tile TopK Transpose Trilu Unsqueeze Upsample
Where Xor
""".split()
)

TOPK_MAX_K = 3840  # TensorRT's ITopKLayer limit on K


def check_tensorrt_support(model_or_path) -> list[dict]:
    """Walk an ONNX graph (subgraphs too) and list what TensorRT would reject or mishandle.

    Returns [{"node", "op", "problem"}], empty when every node is importable. Flags:
    ops outside TRT_SUPPORTED_OPS; ScatterElements/ScatterND with reduction != none
    (TensorRT's IScatterLayer has no reduction: NVIDIA/TensorRT#2396; 8.6 accepted the
    attribute and computed wrong results, #3750); TopK with K not a constant or > 3840;
    non-constant axes of CumSum.
    """
    import onnx
    from onnx import numpy_helper

    model = (
        onnx.load(str(model_or_path)) if isinstance(model_or_path, (str, Path)) else model_or_path
    )
    problems: list[dict] = []

    def walk(graph):
        consts = {i.name for i in graph.initializer}
        consts |= {o for n in graph.node if n.op_type == "Constant" for o in n.output}
        values = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        for n in graph.node:
            if n.op_type == "Constant":
                for a in n.attribute:
                    if a.name == "value":
                        values[n.output[0]] = numpy_helper.to_array(a.t)
        for n in graph.node:
            name = n.name or n.output[0]
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
            if n.domain not in ("", "ai.onnx"):
                problems.append(
                    {
                        "node": name,
                        "op": f"{n.domain}::{n.op_type}",
                        "problem": "custom-domain op (needs a TensorRT plugin)",
                    }
                )
            elif n.op_type not in TRT_SUPPORTED_OPS:
                problems.append(
                    {
                        "node": name,
                        "op": n.op_type,
                        "problem": "not supported by the TensorRT ONNX parser",
                    }
                )
            elif n.op_type in ("ScatterElements", "ScatterND") and attrs.get(
                "reduction", b"none"
            ) not in (b"none", "none"):
                red = attrs["reduction"]
                red = red.decode() if isinstance(red, bytes) else red
                problems.append(
                    {
                        "node": name,
                        "op": n.op_type,
                        "problem": f"reduction='{red}' is not supported by TensorRT's "
                        "scatter layer; TensorRT >= 10 may import it as "
                        "the ScatterElements plugin of libnvinfer_plugin "
                        "(int64 indices; not verified here)",
                    }
                )
            elif n.op_type == "TopK":
                k = values.get(n.input[1]) if len(n.input) > 1 else None
                if k is None:
                    problems.append({"node": name, "op": "TopK", "problem": "K must be a constant"})
                elif int(k.reshape(-1)[0]) > TOPK_MAX_K:
                    problems.append(
                        {
                            "node": name,
                            "op": "TopK",
                            "problem": f"K={int(k.reshape(-1)[0])} > {TOPK_MAX_K}",
                        }
                    )
            elif n.op_type == "CumSum" and n.input[1] not in consts:
                problems.append(
                    {"node": name, "op": "CumSum", "problem": "axis must be a constant"}
                )
            for a in n.attribute:  # If / Loop / Scan bodies
                if a.type == onnx.AttributeProto.GRAPH:
                    walk(a.g)
                for g in a.graphs:
                    walk(g)

    walk(model.graph)
    return problems


# ------------------------------------------------------------------------ builder
def _trt():
    try:
        import tensorrt as trt  # noqa: PLC0415
    except ImportError as exc:
        raise ImportError(
            "TensorRT is not installed: `pip install tensorrt` on a machine with "
            "an NVIDIA GPU and driver (ezsr.export.tensorrt needs TensorRT >= 10)"
        ) from exc
    major = int(trt.__version__.split(".")[0])
    if major < 10:
        raise ImportError(
            f"ezsr.export.tensorrt needs TensorRT >= 10 (strongly typed networks, "
            f"execute_async_v3); found {trt.__version__}"
        )
    return trt


def require_tensorrt() -> None:
    """Raise the ImportError build_engine would raise when TensorRT (>= 10) is missing;
    lets a caller fail before any export work."""
    _trt()


def build_engine(
    onnx_path,
    engine_path,
    batch_sizes: Sequence[int] = (1, 8),
    max_events: int = 15000,
    workspace_gb: float = 4.0,
    timing_cache: str | None = None,
    verbose: bool = False,
) -> Path:
    """Build and serialise a TensorRT engine from an exported ONNX classifier.

    Two optimisation profiles: profile 0 pins batch 1 (the streaming case, so its kernels
    are tuned for it); profile 1 spans batch 1..max(batch_sizes) with the optimum at the
    largest. Event inputs ([B, N]) get N in 1..max_events, optimum max_events.
    The network is strongly typed: precision follows the ONNX graph (export an fp16 graph
    for fp16 kernels). timing_cache: a file read when present and written after the
    build, which makes rebuilds on the same GPU fast. Returns engine_path.
    """
    trt = _trt()
    logger = trt.Logger(trt.Logger.VERBOSE if verbose else trt.Logger.WARNING)
    trt.init_libnvinfer_plugins(logger, "")  # plugin layers, e.g. ScatterElements with reduction
    builder = trt.Builder(logger)
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errs = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: {errs}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * 2**30))
    cache = None
    if timing_cache:
        blob = Path(timing_cache).read_bytes() if Path(timing_cache).exists() else b""
        cache = config.create_timing_cache(blob)
        config.set_timing_cache(cache, ignore_mismatch=False)
    bmax = max(batch_sizes)
    for lo, opt, hi in ((1, 1, 1), (1, bmax, bmax)):
        profile = builder.create_optimization_profile()
        for i in range(network.num_inputs):
            t = network.get_input(i)
            shape = list(t.shape)
            if len(shape) == 2:  # events [B, N]
                profile.set_shape(t.name, (lo, 1), (opt, max_events), (hi, max_events))
            else:  # image [B, 3, S, S]
                rest = shape[1:]
                profile.set_shape(t.name, (lo, *rest), (opt, *rest), (hi, *rest))
        config.add_optimization_profile(profile)
    blob = builder.build_serialized_network(network, config)
    if blob is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path}")
    Path(engine_path).write_bytes(bytes(blob))
    if cache is not None:
        Path(timing_cache).write_bytes(bytes(cache.serialize()))
    write_engine_metadata(engine_path, onnx_path)
    return Path(engine_path)


# ------------------------------------------------------------------ engine metadata
def metadata_path(engine_path) -> Path:
    """The sidecar JSON of an engine: ENGINE + ".json" (enc.engine -> enc.engine.json)."""
    return Path(str(engine_path) + ".json")


def _sha256(path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def write_engine_metadata(engine_path, onnx_path) -> Path:
    """Write the ONNX graph's ezsr metadata (class_names, kind, out_size, mode, sensor,
    scale, precision) beside the engine, with the engine's size and SHA-256 so that a
    sidecar left beside another engine is recognised. TensorRT engines carry no metadata
    of their own. Returns the sidecar's path."""
    import json

    from ezsr.export.onnx_export import read_metadata

    meta = read_metadata(onnx_path)
    meta.update(
        engine=Path(engine_path).name,
        engine_bytes=Path(engine_path).stat().st_size,
        engine_sha256=_sha256(engine_path),
        onnx=str(onnx_path),
    )
    out = metadata_path(engine_path)
    out.write_text(json.dumps(meta, indent=2))
    return out


def read_engine_metadata(engine_path) -> dict:
    """The sidecar metadata of an engine ({} when there is none). ValueError, naming the
    sidecar, when it is unreadable or describes another engine (size or SHA-256)."""
    import json

    side = metadata_path(engine_path)
    if not side.is_file():
        return {}
    try:
        meta = json.loads(side.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"{side}: not the JSON metadata `ezsr export --engine` writes "
            f"({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(meta, dict) or not isinstance(meta.get("class_names", []), list):
        raise ValueError(f"{side}: expected a JSON object with a 'class_names' list")
    if "engine_bytes" in meta and (
        meta["engine_bytes"] != Path(engine_path).stat().st_size
        or meta.get("engine_sha256") != _sha256(engine_path)
    ):
        raise ValueError(
            f"{side} describes another engine than {engine_path} (size or SHA-256 "
            "differ); rebuild with `ezsr export ... --engine` or remove it"
        )
    return meta


def engine_class_names(engine_path, class_names: Sequence[str] | None = None) -> list[str]:
    """The class names of an engine's logits: those in its sidecar (written by
    build_engine). Names given as well must equal them, in order (ValueError otherwise);
    without a sidecar the given names are used, and none at all is a ValueError."""
    stored = read_engine_metadata(engine_path).get("class_names") or []
    given = list(class_names) if class_names else []
    if stored and given and given != stored:
        diff = next(
            (i for i, (a, b) in enumerate(zip(given, stored)) if a != b),
            min(len(given), len(stored)),
        )
        raise ValueError(
            f"{engine_path}: the engine was exported for {len(stored)} classes "
            f"({', '.join(stored[:5])}{', ...' if len(stored) > 5 else ''}; "
            f"{metadata_path(engine_path)}); the {len(given)} given differ at "
            f"position {diff}; give the same names in the same order, or none"
        )
    if not stored and not given:
        raise ValueError(
            f"{engine_path}: no class names: {metadata_path(engine_path)} is "
            "missing (engines built by `ezsr export --engine` have it); give "
            "--classes in the order of export"
        )
    return stored or given


class TensorRTRunner:
    """Runs a serialised engine: pinned host buffers, device buffers, one CUDA stream.

    run(feeds: dict name -> np.ndarray) -> np.ndarray logits [B, K]. Device memory comes
    from torch (CUDA) so no pycuda/cuda-python is needed; the copies are async on the
    runner's stream and execute_async_v3 enqueues on the same stream.
    profile: 0 for batch 1 (streaming), 1 for batched inputs.
    """

    def __init__(self, engine_path, profile: int | None = None, device: str = "cuda"):
        import torch

        trt = _trt()
        if not torch.cuda.is_available():
            raise RuntimeError(
                "TensorRTRunner needs a CUDA device (torch.cuda.is_available() is False)"
            )
        self.torch, self.trt = torch, trt
        self.device = torch.device(device)
        if self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())
        self.logger = trt.Logger(trt.Logger.WARNING)
        trt.init_libnvinfer_plugins(self.logger, "")  # engines may hold plugin layers
        self.runtime = trt.Runtime(self.logger)
        with torch.cuda.device(self.device):  # TensorRT sets up on the current device
            self.engine = self.runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
            if self.engine is None:
                raise RuntimeError(f"{engine_path}: not a TensorRT engine for this version/GPU")
            self.context = self.engine.create_execution_context()
        self.stream = torch.cuda.Stream(device=self.device)
        self.profile = profile
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if n not in self.inputs]
        self._buffers: dict = {}

    def _dtype(self, name):
        import numpy as np

        return np.dtype(self.trt.nptype(self.engine.get_tensor_dtype(name)))

    def _buffer(self, name, shape, dtype):
        """(pinned host, device) torch tensors for `name`, reallocated when the shape grows."""
        torch = self.torch
        key = (name, tuple(shape))
        if key not in self._buffers:
            tdtype = torch.from_numpy(__import__("numpy").zeros(0, dtype)).dtype
            host = torch.empty(shape, dtype=tdtype).pin_memory()
            dev = torch.empty(shape, dtype=tdtype, device=self.device)
            self._buffers[key] = (host, dev)
        return self._buffers[key]

    def run(self, feeds: dict):
        """feeds: name -> np.ndarray (copied through pinned host memory) or a CUDA
        torch.Tensor of the engine's dtype (used in place, no copy)."""
        with self.torch.cuda.device(self.device):
            return self._run(feeds)

    def _run(self, feeds: dict):
        torch = self.torch
        batch = next(iter(feeds.values())).shape[0]
        profile = self.profile if self.profile is not None else (0 if batch == 1 else 1)
        stream = self.stream
        self.context.set_optimization_profile_async(profile, stream.cuda_stream)
        keep = []  # device inputs stay referenced until the stream is done with them
        for name in self.inputs:
            a = feeds[name]
            if isinstance(a, torch.Tensor) and a.is_cuda:
                dev = a.contiguous()
                keep.append(dev)
            else:
                a = a.astype(self._dtype(name), copy=False)
                host, dev = self._buffer(name, a.shape, a.dtype)
                host.numpy()[...] = a
                with torch.cuda.stream(stream):
                    dev.copy_(host, non_blocking=True)
            if not self.context.set_input_shape(name, tuple(dev.shape)):
                raise ValueError(
                    f"TensorRT: input '{name}' of shape {tuple(dev.shape)} is "
                    f"outside optimisation profile {profile} of the engine"
                )
            self.context.set_tensor_address(name, dev.data_ptr())
        # after the input loop: inputs (and contiguous() copies) are made on the current stream
        stream.wait_stream(torch.cuda.current_stream(self.device))
        outs = []
        for name in self.outputs:
            shape = tuple(self.context.get_tensor_shape(name))
            host, dev = self._buffer(name, shape, self._dtype(name))
            self.context.set_tensor_address(name, dev.data_ptr())
            outs.append((host, dev))
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execute_async_v3 failed")
        with torch.cuda.stream(stream):
            for host, dev in outs:
                host.copy_(dev, non_blocking=True)
        stream.synchronize()
        del keep
        return outs[0][0].numpy().copy()
