"""int8 ONNX models for CPU deployment, through ONNX Runtime's quantisation tools
(onnxruntime.quantization; https://onnxruntime.ai/docs/performance/model-optimizations/quantization.html).

    quantize_onnx(fp32.onnx, int8.onnx, mode="dynamic")                  # weights int8,
        activations quantised per call (DynamicQuantizeLinear + MatMulInteger/ConvInteger)
    quantize_onnx(fp32.onnx, int8.onnx, mode="static", calibration=xs)   # QDQ: int8
        activations with ranges calibrated on xs (a list of input feeds)

The zero-shot head (the graph's last MatMul: unit features @ classifier, times the logit
scale of 100) stays float32 in both modes: it costs D x K multiply-adds, and an int8 range
over unit-norm features would be amplified 100 times in the logits. Dynamic mode also keeps
the first Conv (patch embedding / stem) and the attention output projections float32
(_sensitive_nodes): few multiply-adds, much of the int8 error.
The graph's inputs and logits stay float32 and its ezsr.* metadata is kept, with
ezsr.precision "int8" and ezsr.int8_mode naming the mode. Dynamic suits the transformer
encoders (their time is in MatMuls); static QDQ suits convolutional ones (the offline
EfficientNet-Lite0), and needs representative inputs: real event windows (calibration_feeds).
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

MODES = ("dynamic", "static")


def quantize_onnx(
    src,
    dst,
    mode: str = "dynamic",
    calibration: Sequence[dict] | None = None,
    per_channel: bool = True,
    reduce_range: bool = False,
) -> Path:
    """Write an int8 copy of the fp32 ONNX model `src` to `dst`; return dst.

    mode "dynamic": int8 weights (per output channel with per_channel), activations
    quantised at run time; no data needed. reduce_range: 7-bit weights, for x86 CPUs
    without VNNI (AVX2 only), which multiply u8 x s8 with vpmaddubsw, whose 16-bit pair
    sums can saturate with full-range weights (ONNX Runtime's quantisation docs); CPUs with
    VNNI (AVX512-VNNI, AVX-VNNI) or AMX do not saturate, and there the 8th bit halves the
    weight error (ViT-B/16: mean |logit error| 0.137 with 7 bits, 0.068 with 8). The first Conv (patch embedding / stem) and the
    attention output projections stay float32 with the head (_sensitive_nodes).
    mode "static": QDQ format, int8 activations
    whose ranges come from running `calibration` (input-name -> array feeds, a few dozen
    real inputs; MinMax calibration) through the fp32 model.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    if mode not in MODES:
        raise ValueError(f"int8: mode must be one of {MODES}, got {mode!r}")
    src, dst = Path(src), Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    quiet = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)  # ORT's "consider pre-processing" notice
    try:
        head = _last_matmul(src)  # the zero-shot head stays float (see below)
        if mode == "dynamic":
            # the first Conv and the attention output projections stay float
            # (_sensitive_nodes)
            import onnx

            keep = _sensitive_nodes(onnx.load(str(src), load_external_data=False))
            quantize_dynamic(
                str(src),
                str(dst),
                weight_type=QuantType.QInt8,
                per_channel=per_channel,
                reduce_range=reduce_range,
                nodes_to_exclude=([head] if head else []) + keep,
            )
        else:
            feeds = list(calibration or [])
            if not feeds:
                raise ValueError(
                    "int8 static quantisation needs calibration inputs (e.g. "
                    "windows of a real recording: --calibration FILE)"
                )

            class _Reader(CalibrationDataReader):
                def __init__(self):
                    self._it = iter(feeds)

                def get_next(self):
                    return next(self._it, None)

            with tempfile.TemporaryDirectory() as tmp:  # ORT writes its augmented model here
                cwd = os.getcwd()
                os.chdir(tmp)
                try:
                    # the weighted ops only: attention's activation x activation MatMuls
                    # stay float (per-tensor int8 ranges there cost most of the accuracy)
                    quantize_static(
                        str(src.resolve()),
                        str(dst.resolve()),
                        _Reader(),
                        quant_format=QuantFormat.QDQ,
                        per_channel=per_channel,
                        activation_type=QuantType.QInt8,
                        weight_type=QuantType.QInt8,
                        op_types_to_quantize=["Conv", "MatMul", "Gemm"],
                        nodes_to_exclude=[head] if head else [],
                        extra_options={"QuantizeBias": False},
                    )
                finally:
                    os.chdir(cwd)
    finally:
        logging.getLogger().setLevel(quiet)
    _set_metadata(dst, {"ezsr.precision": "int8", "ezsr.int8_mode": mode})
    return dst


def _last_matmul(path) -> str | None:
    """Name of the graph's last MatMul (the zero-shot head: features @ classifier)."""
    import onnx

    names = [n.name for n in onnx.load(str(path)).graph.node if n.op_type == "MatMul"]
    return names[-1] if names else None


_PASS_THROUGH = {"Transpose", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Cast"}


def _sensitive_nodes(model) -> list[str]:
    """Nodes that dynamic int8 keeps float32 besides the head: the first Conv (the patch
    embedding or stem, which sees the raw input picture) and, in every attention block,
    the projection right after the attention-weighted sum (the first weighted MatMul/Gemm
    reached from an activation x activation MatMul through reshapes and transposes: the
    attention output projection). These hold a small share of the multiply-adds (one
    768 x 768 of the four weighted products of a ViT-B block) and most of the int8 error:
    on ViT-B/16 the mean |logit error| 0.080 -> 0.068, top-1 flips against fp32 6 -> 1
    of 110 real windows (benchmarks/bench_int8.py; docs/benchmarks.md)."""
    graph = model.graph
    consts = {i.name for i in graph.initializer}
    consts |= {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    users: dict[str, list] = {}
    for n in graph.node:
        for i in n.input:
            users.setdefault(i, []).append(n)
    out = [n.name for n in graph.node if n.op_type == "Conv"][:1]
    for n in graph.node:
        if n.op_type != "MatMul" or any(i in consts for i in n.input):
            continue  # not an activation x activation product
        todo, seen = list(n.output), set()
        while todo:
            for u in users.get(todo.pop(), []):
                if u.name in seen:
                    continue
                seen.add(u.name)
                if u.op_type in ("MatMul", "Gemm") and any(i in consts for i in u.input):
                    if u.name not in out:
                        out.append(u.name)
                elif u.op_type in _PASS_THROUGH:
                    todo += list(u.output)
    return out


def _set_metadata(path: Path, values: dict) -> None:
    import onnx

    model = onnx.load(str(path))
    props = {p.key: p for p in model.metadata_props}
    for k, v in values.items():
        if k in props:
            props[k].value = v
        else:
            model.metadata_props.add(key=k, value=v)
    onnx.save(model, str(path))


def calibration_feeds(
    windows: Iterable, kind: str = "image", out_size: int = 224, mode: str = "crop", limit: int = 32
) -> list[dict]:
    """Input feeds of the graph for up to `limit` event windows (ezsr.Events): the EZSR
    image [1, 3, S, S] for kind "image", padded events for kind "events"."""
    from ezsr.ops import ezsr_preprocess
    from ezsr.zeroshot.graph import pad_events

    out = []
    for w in windows:
        if len(out) >= limit:
            break
        if kind == "events":
            out.append(pad_events([w]))
        else:
            x = ezsr_preprocess(w.to("cpu"), out_size=out_size, mode=mode)
            out.append({"image": x.numpy().astype(np.float32)})
    return out
