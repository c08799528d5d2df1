"""ONNX export of an event encoder with the zero-shot head baked in, and ONNX Runtime parity.

Two graphs (both opset >= 17, LayerNorm as one LayerNormalization node, dynamic batch):
  kind="image":  image [B, 3, S, S] float32 (CLIP-normalised EZSR input) -> logits [B, K]
  kind="events": x, y [B, N] int32, p [B, N] int32 (1 = ON), valid [B, N] bool
                 -> logits [B, K]; the EZSR histogram and steps 4-7 run inside the graph
Precision "fp32", "fp16" (encoder fp16, LayerNorm/softmax/preprocessing/head fp32; inputs
and logits stay fp32) or "int8" (the fp32 graph through ONNX Runtime's quantisation,
ezsr.export.quantize: dynamic, or static QDQ calibrated on real event windows). The class
names and settings go into the model's metadata_props.

Uses the TorchScript-based exporter (torch.onnx.export(dynamo=False)), which needs no
extra package; tracing is done with a batch of 2 so no size is folded to 1.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from ezsr.export.graph import HalfEncoder
from ezsr.zeroshot.graph import (
    EZSR_SENSOR,
    EventClassifier,
    EZSRPreprocess,
    ImageClassifier,
    ZeroShotHead,
)

DEFAULT_OPSET = 17
MIN_OPSET = 17  # LayerNormalization as one node
EVENT_INPUTS = ("x", "y", "p", "valid")


def max_opset() -> int:
    """The highest opset the installed torch's TorchScript-based ONNX exporter writes."""
    try:
        from torch.onnx import _constants as c

        return int(getattr(c, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", c.ONNX_MAX_OPSET))
    except (ImportError, AttributeError):  # a torch without these constants: 17 is safe
        return DEFAULT_OPSET


def build_classifier_module(
    encoder: nn.Module,
    classifier: torch.Tensor,
    kind: str = "image",
    precision: str = "fp32",
    scale: float = 100.0,
    sensor: tuple[int, int] = EZSR_SENSOR,
    out_size: int = 224,
    mode: str = "crop",
) -> nn.Module:
    """The torch module that export_onnx traces (eval mode, on the CPU).

    encoder: nn.Module [B, 3, S, S] -> [B, D]; classifier: [D, K]; kind "image"|"events".
    """
    if kind not in ("image", "events"):
        raise ValueError(f"export: kind must be 'image' or 'events', got {kind!r}")
    if precision not in ("fp32", "fp16"):
        raise ValueError(f"export: precision must be 'fp32' or 'fp16', got {precision!r}")
    enc = encoder.eval().float().cpu()
    if precision == "fp16":
        enc = HalfEncoder(enc)
    head = ZeroShotHead(classifier, scale)
    if kind == "image":
        return ImageClassifier(enc, head).eval()
    return EventClassifier(EZSRPreprocess(sensor, out_size, mode), enc, head).eval()


def example_inputs(
    kind: str,
    batch: int = 2,
    n_events: int = 2048,
    out_size: int = 224,
    sensor: tuple[int, int] = EZSR_SENSOR,
    seed: int = 0,
) -> tuple:
    """Random inputs of the graph's signature (what the exporter traces with)."""
    g = torch.Generator().manual_seed(seed)
    if kind == "image":
        return (torch.randn(batch, 3, out_size, out_size, generator=g),)
    h, w = sensor
    x = torch.randint(0, w, (batch, n_events), generator=g, dtype=torch.int32)
    y = torch.randint(0, h, (batch, n_events), generator=g, dtype=torch.int32)
    p = torch.randint(0, 2, (batch, n_events), generator=g, dtype=torch.int32)
    valid = torch.ones(batch, n_events, dtype=torch.bool)
    valid[-1, n_events // 2 :] = False  # padding is part of the traced signature
    return x, y, p, valid


def export_onnx(
    encoder: nn.Module,
    classifier: torch.Tensor,
    path,
    kind: str = "image",
    precision: str = "fp32",
    scale: float = 100.0,
    class_names: Sequence[str] = (),
    sensor: tuple[int, int] = EZSR_SENSOR,
    out_size: int = 224,
    mode: str = "crop",
    opset: int = DEFAULT_OPSET,
    check: bool = True,
    int8_mode: str = "dynamic",
    calibration: Sequence | None = None,
    int8_reduce_range: bool = False,
) -> Path:
    """Write an ONNX classifier (see the module docstring) to `path`; return the path.

    check: run onnx.checker and assert LayerNormalization is one node when the encoder
    has LayerNorms.
    precision "int8": the fp32 graph quantised by ezsr.export.quantize.quantize_onnx with
    int8_mode "dynamic" or "static"; static needs `calibration`, event windows
    (ezsr.Events) whose inputs calibrate the activation ranges; int8_reduce_range: 7-bit
    weights (quantize_onnx's reduce_range).
    """
    import onnx

    if precision == "int8":
        import tempfile

        from ezsr.export.quantize import calibration_feeds, quantize_onnx

        feeds = calibration_feeds(calibration, kind, out_size, mode) if calibration else None
        with tempfile.TemporaryDirectory() as tmp:
            fp32 = export_onnx(
                encoder,
                classifier,
                Path(tmp) / "fp32.onnx",
                kind,
                "fp32",
                scale,
                class_names,
                sensor,
                out_size,
                mode,
                opset,
                check,
            )
            return quantize_onnx(fp32, path, int8_mode, feeds, reduce_range=int8_reduce_range)

    if not MIN_OPSET <= opset <= max_opset():
        raise ValueError(
            f"export: opset must be in {MIN_OPSET}..{max_opset()} ({MIN_OPSET} for "
            f"LayerNormalization, {max_opset()} the highest torch {torch.__version__}"
            f" exports), got {opset}"
        )
    if class_names and len(class_names) != classifier.shape[1]:
        raise ValueError(
            f"export: {len(class_names)} class names for a classifier with "
            f"{classifier.shape[1]} columns"
        )
    module = build_classifier_module(
        encoder, classifier, kind, precision, scale, sensor, out_size, mode
    )
    args = example_inputs(kind, out_size=out_size, sensor=sensor)
    if kind == "image":
        names, dyn = ["image"], {"image": {0: "batch"}}
    else:
        names = list(EVENT_INPUTS)
        dyn = {n: {0: "batch", 1: "n_events"} for n in names}
    dyn["logits"] = {0: "batch"}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # legacy-exporter deprecation and tracer notes
        with torch.no_grad():
            torch.onnx.export(
                module,
                args,
                str(path),
                input_names=names,
                output_names=["logits"],
                dynamic_axes=dyn,
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
    model = onnx.load(str(path))
    meta = {
        "ezsr.kind": kind,
        "ezsr.precision": precision,
        "ezsr.scale": str(scale),
        "ezsr.class_names": json.dumps(list(class_names)),
        "ezsr.sensor": json.dumps(list(sensor)),
        "ezsr.out_size": str(out_size),
        "ezsr.mode": mode,
    }
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    onnx.save(model, str(path))
    if check:
        onnx.checker.check_model(str(path))
        has_ln = any(isinstance(m, nn.LayerNorm) for m in encoder.modules())
        ops = {n.op_type for n in model.graph.node}
        if has_ln and "LayerNormalization" not in ops:
            raise RuntimeError(
                f"export: {path} has no LayerNormalization node although the "
                "encoder has LayerNorms (it was decomposed)"
            )
    return path


def read_metadata(path) -> dict:
    """The ezsr.* metadata of an exported model, decoded (class_names a list, ...)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    raw = {p.key: p.value for p in model.metadata_props if p.key.startswith("ezsr.")}
    out = {k[5:]: v for k, v in raw.items()}
    for k in ("class_names", "sensor"):
        if k in out:
            out[k] = json.loads(out[k])
    for k in ("scale",):
        if k in out:
            out[k] = float(out[k])
    if "out_size" in out:
        out["out_size"] = int(out["out_size"])
    return out


# ----------------------------------------------------------------- ONNX Runtime
def ort_session(
    path, providers: Sequence[str] | None = None, threads: int | None = None, spin: bool = True
):
    """An onnxruntime.InferenceSession (CPU by default; CUDA EP first when asked).

    spin=False stops ORT's worker threads from busy-waiting between runs (they would
    otherwise take CPU from other work in the same process, e.g. torch in a benchmark).
    """
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        so.intra_op_num_threads = threads
    if not spin:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    available = ort.get_available_providers()
    providers = list(providers or ["CPUExecutionProvider"])
    # a provider is a name or (name, options)
    missing = [p for p in providers if (p if isinstance(p, str) else p[0]) not in available]
    if missing:
        raise ValueError(f"onnxruntime: provider(s) {missing} not available (have {available})")
    return ort.InferenceSession(str(path), sess_options=so, providers=providers)


def parity(
    module: nn.Module, path, inputs: Sequence[torch.Tensor], providers: Sequence[str] | None = None
) -> dict:
    """Compare ONNX Runtime logits with the torch module's on the same inputs.

    Returns {"max_abs_diff", "top1_agreement" (fraction in [0, 1]), "max_abs_logit"}.
    """
    sess = ort_session(path, providers)
    names = [i.name for i in sess.get_inputs()]
    feeds = {k: v.numpy() for k, v in zip(names, inputs)}
    got = sess.run(["logits"], feeds)[0]
    with torch.no_grad():
        ref = module(*inputs).float().numpy()
    return {
        "max_abs_diff": float(np.abs(got - ref).max()),
        "top1_agreement": float((got.argmax(1) == ref.argmax(1)).mean()),
        "max_abs_logit": float(np.abs(ref).max()),
    }


def model_size_mb(path) -> float:
    return os.path.getsize(path) / 2**20
