"""int8 ONNX models for CPU deployment, through ONNX Runtime's quantisation tools
(onnxruntime.quantization; https://onnxruntime.ai/docs/performance/model-optimizations/quantization.html).

    quantize_onnx(fp32.onnx, int8.onnx, mode="dynamic")                  # weights int8,
        activations quantised per call (DynamicQuantizeLinear + MatMulInteger/ConvInteger)
    quantize_onnx(fp32.onnx, int8.onnx, mode="static", calibration=xs)   # QDQ: int8
        activations with ranges calibrated on xs (a list of input feeds)

The zero-shot head (the graph's last MatMul: unit features @ classifier, times the logit
scale of 100) stays float32 in both modes: it costs D x K multiply-adds, and an int8 range
over unit-norm features would be amplified 100 times in the logits.
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


def quantize_onnx(src, dst, mode: str = "dynamic", calibration: Sequence[dict] | None = None,
                  per_channel: bool = True) -> Path:
    """Write an int8 copy of the fp32 ONNX model `src` to `dst`; return dst.

    mode "dynamic": int8 weights (per output channel with per_channel; 7-bit range against
    the u8 x s8 saturation of x86 CPUs without VNNI), activations quantised at run time; no
    data needed. mode "static": QDQ format, int8 activations
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
            # reduce_range: 7-bit weights. x86 CPUs without VNNI (AVX2, AVX-512F) multiply
            # u8 x s8 with vpmaddubsw, whose 16-bit sums saturate on full-range weights
            # (ONNX Runtime's quantisation docs); measured on ViT-B/16 here: top-1 agreement
            # with fp32 47/48 with it, 46/48 without, same speed
            quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8,
                             per_channel=per_channel, reduce_range=True,
                             nodes_to_exclude=[head] if head else [])
        else:
            feeds = list(calibration or [])
            if not feeds:
                raise ValueError("int8 static quantisation needs calibration inputs (e.g. "
                                 "windows of a real recording: --calibration FILE)")

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
                    quantize_static(str(src.resolve()), str(dst.resolve()), _Reader(),
                                    quant_format=QuantFormat.QDQ, per_channel=per_channel,
                                    activation_type=QuantType.QInt8,
                                    weight_type=QuantType.QInt8,
                                    op_types_to_quantize=["Conv", "MatMul", "Gemm"],
                                    nodes_to_exclude=[head] if head else [],
                                    extra_options={"QuantizeBias": False})
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


def calibration_feeds(windows: Iterable, kind: str = "image", out_size: int = 224,
                      mode: str = "crop", limit: int = 32) -> list[dict]:
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
