"""Reading CLIP-family checkpoints and converting them to ezsr's internal layout.

Formats (detected from the file and its keys):
* ``openai``    OpenAI CLIP `.pt`: a plain state dict, or a TorchScript archive whose tensors
  are read from the zip with a restricted unpickler (the archive's code is never run).
* ``openclip``  OpenCLIP state dicts: same names as OpenAI (possibly under `state_dict`,
  with a `module.` prefix).
* ``eva``       EVA-CLIP state dicts: `visual.patch_embed...`, `visual.blocks...` and the text
  tower under `text.`.
* ``hf``        Hugging Face `CLIPModel` folders (config.json + model.safetensors or
  pytorch_model.bin) or a single .safetensors file with HF names.
* ``ezsr``      EZSR checkpoints: image tower only (`visual.*`), loaded over an
  initialisation like the original's `load_state_dict(strict=False)`, with every missing
  and unexpected key reported.

Every torch.load here uses weights_only=True.
"""

from __future__ import annotations

import io
import json
import logging
import pickle
import re
import warnings
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import torch

log = logging.getLogger(__name__)


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read or does not fit the model."""


# ------------------------------------------------------------------ TorchScript archive
class _ScriptObject:
    """Stand-in for a TorchScript module object: keeps its attribute dict, runs nothing."""

    def __init__(self, *args: Any) -> None:
        self.state: dict[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        self.state = state if isinstance(state, dict) else {"_state": state}


def _rebuild_tensor(
    storage: torch.Tensor, offset: int, size: tuple[int, ...], stride: tuple[int, ...], *rest: Any
) -> torch.Tensor:
    # `storage` is the flat 1-D tensor returned by persistent_load
    return storage.as_strided(tuple(size), tuple(stride), offset)


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler for a TorchScript `data.pkl`: allows only tensor rebuilding, storage
    types and plain containers; every `__torch__.*` class becomes a _ScriptObject."""

    def __init__(self, data: bytes, zf: zipfile.ZipFile, prefix: str, path: Path):
        super().__init__(io.BytesIO(data))
        self.zf, self.prefix, self.path = zf, prefix, path

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("__torch__"):
            return type(name, (_ScriptObject,), {})
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return lambda data, requires_grad, hooks: data
        if module == "torch" and name.endswith("Storage"):
            return getattr(torch, name)
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        raise CheckpointError(
            f"{self.path}: refusing to load {module}.{name} from a "
            "TorchScript archive (only tensors are read)"
        )

    def persistent_load(self, pid: Any) -> torch.Tensor:
        # ('storage', storage_type, key, location, numel)
        _, stype, key, _, numel = pid
        with warnings.catch_warnings():  # legacy typed-storage classes warn on access
            warnings.simplefilter("ignore")
            dtype = stype.dtype
        raw = self.zf.read(f"{self.prefix}/data/{key}")
        return (
            torch.frombuffer(bytearray(raw), dtype=dtype)[:numel]
            if numel
            else torch.empty(0, dtype=dtype)
        )


def _walk(obj: object, prefix: str, out: dict[str, torch.Tensor]) -> None:
    if isinstance(obj, torch.Tensor):
        out[prefix[:-1]] = obj
    elif isinstance(obj, _ScriptObject):
        for k, v in obj.state.items():
            if k != "training":
                _walk(v, prefix + k + ".", out)


def read_torchscript_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Parameters and buffers of a TorchScript archive as a flat state dict, read from
    `<archive>/data.pkl` and `<archive>/data/*` without executing any TorchScript code."""
    path = Path(path)
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl")]
        if not pkl:
            raise CheckpointError(f"{path}: zip archive without data.pkl")
        prefix = pkl[0][: -len("/data.pkl")]
        root = _RestrictedUnpickler(zf.read(pkl[0]), zf, prefix, path).load()
    out: dict[str, torch.Tensor] = {}
    _walk(root, "", out)
    # Fresh tensors: storages set_ from read-only buffers are copied once here.
    return {k: v.clone() for k, v in out.items()}


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(n.endswith("/constants.pkl") or "/code/" in n for n in zf.namelist())


# ------------------------------------------------------------------ unreadable files
TRAIN_FORMAT = (
    "ezsr-train-1"  # the "format" of `ezsr train` checkpoints (ezsr.training.checkpoint writes it)
)
STATE_DICT = (
    "a CLIP or EZSR state dict (.pt/.pth/.bin/.safetensors), an OpenAI TorchScript "
    ".pt or a Hugging Face CLIP folder"
)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class _Stub:
    """Stand-in for every class or function a peeked pickle names: nothing is run."""

    def __new__(cls, *args: Any, **kwargs: Any) -> "_Stub":
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass


class _PeekUnpickler(pickle.Unpickler):
    """Reads the containers of a torch.save'd pickle; every global is a _Stub and every
    tensor storage None, so only plain dicts, lists, strings and numbers come out."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        return type(name, (_Stub,), {})

    def persistent_load(self, pid: Any) -> None:
        return None


def peek_pickle(path: Path) -> Any:
    """The top-level object of a torch.save zip file with tensors and classes stubbed out
    (never executes anything); None when it cannot be read that way."""
    try:
        if not zipfile.is_zipfile(path):
            return None
        with zipfile.ZipFile(path) as zf:
            pkl = [n for n in zf.namelist() if n.endswith("/data.pkl")]
            if not pkl or zf.getinfo(pkl[0]).file_size > 64 << 20:
                return None
            return _PeekUnpickler(io.BytesIO(zf.read(pkl[0]))).load()
    except Exception:
        return None


def _training_checkpoint_error(
    path: str | Path, obj: object, option: str | None
) -> "CheckpointError | None":
    if not (isinstance(obj, dict) and obj.get("format") == TRAIN_FORMAT):
        return None
    student = obj.get("student")
    student = f"student {student}; " if isinstance(student, str) else ""
    beside = Path(path).parent / "student.pt"
    where = f"{option} {path}" if option else str(path)
    use = (
        f"{option} takes a [D, K] text classifier; the student.pt beside it ({beside}) "
        "goes to --checkpoint"
        if option == "--classifier"
        else f"use the student.pt beside it ({beside})"
    )
    return CheckpointError(
        f"{where} is a training checkpoint of `ezsr train` ({student}it holds "
        f"optimiser and RNG state); {use}"
    )


def short_reason(exc: BaseException) -> str:
    """One line of why torch.load (or another reader) failed: no ANSI codes and none of
    torch's advice to load with weights_only=False."""
    msg = _ANSI.sub("", str(exc))
    if "WeightsUnpickler error:" in msg:
        msg = msg.split("WeightsUnpickler error:", 1)[1]
        m = re.search(r"Unsupported global: GLOBAL (\S+)", msg)
        if m:
            return f"it pickles {m.group(1)}, which only a trusted, unsafe load would run"
    line = next((ln.strip() for ln in msg.splitlines() if ln.strip()), "")
    if isinstance(exc, EOFError):
        line = line or "the file is empty or cut short"
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


def not_readable(
    path: str | Path,
    expected: str,
    exc: BaseException | None = None,
    found: str = "",
    option: str | None = None,
) -> CheckpointError:
    """The error for a file that is not what `expected` says (a training checkpoint of
    `ezsr train` is named as such)."""
    train = _training_checkpoint_error(path, peek_pickle(Path(path)), option)
    if train is not None:
        return train
    why = f"torch.load said: {short_reason(exc)}" if exc is not None else found
    where = f"{option} {path}" if option else str(path)
    return CheckpointError(f"{where}: not a checkpoint ezsr can read (expected {expected}; {why})")


def load_file(path: str | Path, expected: str, option: str | None = None) -> Any:
    """torch.load(path, weights_only=True) of a file that should hold `expected` (e.g.
    "a [D, K] text classifier tensor"): a missing file is FileNotFoundError, anything
    unreadable (and a training checkpoint) a CheckpointError naming the file, `option`
    and what was expected, without torch's advice to load unsafely."""
    path = Path(path)
    where = f"{option} {path}" if option else str(path)
    if not path.exists():
        raise FileNotFoundError(f"{where}: no such file")
    if path.is_dir():
        raise CheckpointError(f"{where}: is a folder; expected {expected}")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise not_readable(path, expected, exc, option=option) from None
    train = _training_checkpoint_error(path, obj, option)
    if train is not None:
        raise train
    return obj


# ------------------------------------------------------------------ shapes without data
class _ShapeUnpickler(_RestrictedUnpickler):
    """Reads a torch.save / TorchScript `data.pkl` with every storage on the meta device:
    the tensors come out with their dtypes and shapes, and no data is read."""

    def __init__(self, data: bytes, path: Path):
        pickle.Unpickler.__init__(self, io.BytesIO(data))
        self.path = path

    def persistent_load(self, pid: Any) -> torch.Tensor:
        _, stype, _, _, numel = pid
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dtype = stype.dtype
        return torch.empty(int(numel), dtype=dtype, device="meta")


def peek_shapes(path: str | Path) -> dict[str, torch.Tensor] | None:
    """The state dict of a checkpoint file as meta tensors (names, shapes, dtypes; no data
    read), unwrapped like read_state_dict; None when the file cannot be read that way (a
    Hugging Face folder without safetensors, a pickle holding other classes): then only the
    real load can check it."""
    path = Path(path)
    try:
        if path.is_dir():
            path = path / "model.safetensors"
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                return _unwrap(
                    {k: torch.empty(f.get_slice(k).get_shape(), device="meta") for k in f.keys()}
                )
        if not zipfile.is_zipfile(path):
            return None
        with zipfile.ZipFile(path) as zf:
            pkl = [n for n in zf.namelist() if n.endswith("/data.pkl")]
            if not pkl:
                return None
            root = _ShapeUnpickler(zf.read(pkl[0]), path).load()
    except Exception:  # unreadable here; the load reports it
        return None
    if isinstance(root, _ScriptObject):
        flat: dict = {}
        _walk(root, "", flat)
        root = flat
    return _unwrap(root) if isinstance(root, dict) else None


# ------------------------------------------------------------------ reading files
def read_state_dict(path: str | Path) -> tuple[dict[str, torch.Tensor], str]:
    """Tensors of a checkpoint file or HF folder: (state_dict, container) with container
    in {"hf-folder", "safetensors", "torchscript", "pickle"}. Wrapping dicts
    (`state_dict`, `model`, `module`) and `module.` prefixes are removed."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if path.is_dir():
        for name in ("model.safetensors", "pytorch_model.bin"):
            if (path / name).exists():
                sd, _ = read_state_dict(path / name)
                return sd, "hf-folder"
        raise CheckpointError(f"{path}: folder without model.safetensors or pytorch_model.bin")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file as load_safetensors

            return _unwrap(load_safetensors(str(path))), "safetensors"
        if _is_torchscript(path):
            return _unwrap(read_torchscript_tensors(path)), "torchscript"
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except (CheckpointError, FileNotFoundError):
        raise
    except Exception as exc:  # truncated zip, wrong format, pickled classes
        raise not_readable(path, STATE_DICT, exc) from None
    train = _training_checkpoint_error(path, obj, None)
    if train is not None:
        raise train
    if not isinstance(obj, dict):
        raise not_readable(
            path, STATE_DICT, found=f"it holds a {type(obj).__name__}, not a dict of tensors"
        )
    sd = _unwrap(obj)
    if not sd:
        raise not_readable(path, STATE_DICT, found="its dict holds no tensors")
    return sd, "pickle"


def _unwrap(obj: dict) -> dict[str, torch.Tensor]:
    for key in ("state_dict", "model", "module", "model_state_dict"):
        if key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    out = {}
    for k, v in obj.items():
        if not isinstance(v, torch.Tensor):
            continue
        k = k[len("module.") :] if k.startswith("module.") else k
        out[k] = v
    # a bare image tower saved from model.visual: give it the `visual.` prefix
    if ("conv1.weight" in out or "patch_embed.proj.weight" in out) and not any(
        k.startswith("visual.") for k in out
    ):
        out = {"visual." + k: v for k, v in out.items()}
    return out


def detect_format(sd: dict[str, torch.Tensor]) -> str:
    """ "hf", "eva", "openai" (OpenAI/OpenCLIP names) or "ezsr" (image tower only)."""
    keys = sd.keys()
    if any(k.startswith("vision_model.") for k in keys):
        return "hf"
    has_visual = any(k.startswith("visual.") for k in keys)
    has_text = any(k.startswith(("text.", "transformer.", "token_embedding")) for k in keys)
    if has_visual and not has_text:
        return "ezsr"
    if "visual.patch_embed.proj.weight" in keys or any(k.startswith("text.") for k in keys):
        return "eva"
    if "visual.conv1.weight" in keys:
        return "openai"
    raise CheckpointError(
        "unrecognised layout: not an OpenAI/OpenCLIP, EVA-CLIP, Hugging Face "
        "or EZSR state dict; first keys: " + ", ".join(list(keys)[:5])
    )


# ------------------------------------------------------------------ conversions
def _hf_block(
    sd: dict[str, torch.Tensor], src: str, dst: str, out: dict[str, torch.Tensor]
) -> None:
    q, k, v = (sd[f"{src}.self_attn.{n}_proj.weight"] for n in "qkv")
    out[f"{dst}.attn.in_proj_weight"] = torch.cat([q, k, v])
    out[f"{dst}.attn.in_proj_bias"] = torch.cat(
        [sd[f"{src}.self_attn.{n}_proj.bias"] for n in "qkv"]
    )
    ren = {
        "self_attn.out_proj": "attn.out_proj",
        "layer_norm1": "ln_1",
        "layer_norm2": "ln_2",
        "mlp.fc1": "mlp.c_fc",
        "mlp.fc2": "mlp.c_proj",
    }
    for a, b in ren.items():
        for p in ("weight", "bias"):
            out[f"{dst}.{b}.{p}"] = sd[f"{src}.{a}.{p}"]


def hf_to_internal(sd: dict) -> dict:
    """Hugging Face CLIPModel names -> internal (OpenAI) names."""
    try:
        out = {"logit_scale": sd["logit_scale"]}
        v, t = "vision_model", "text_model"
        out["visual.conv1.weight"] = sd[f"{v}.embeddings.patch_embedding.weight"]
        out["visual.class_embedding"] = sd[f"{v}.embeddings.class_embedding"]
        out["visual.positional_embedding"] = sd[f"{v}.embeddings.position_embedding.weight"]
        for a, b in (("pre_layrnorm", "ln_pre"), ("post_layernorm", "ln_post")):
            for p in ("weight", "bias"):
                out[f"visual.{b}.{p}"] = sd[f"{v}.{a}.{p}"]
        out["visual.proj"] = sd["visual_projection.weight"].T.contiguous()
        out["token_embedding.weight"] = sd[f"{t}.embeddings.token_embedding.weight"]
        out["positional_embedding"] = sd[f"{t}.embeddings.position_embedding.weight"]
        for p in ("weight", "bias"):
            out[f"ln_final.{p}"] = sd[f"{t}.final_layer_norm.{p}"]
        out["text_projection"] = sd["text_projection.weight"].T.contiguous()
        for tower, dst in ((v, "visual.transformer"), (t, "transformer")):
            i = 0
            while f"{tower}.encoder.layers.{i}.layer_norm1.weight" in sd:
                _hf_block(sd, f"{tower}.encoder.layers.{i}", f"{dst}.resblocks.{i}", out)
                i += 1
    except KeyError as exc:
        raise CheckpointError(f"missing key {exc.args[0]} for a Hugging Face CLIPModel") from None
    return out


def internal_to_hf(sd: dict) -> dict:
    """Internal -> Hugging Face CLIPModel names (used by tests and for export)."""
    out = {"logit_scale": sd["logit_scale"]}
    v, t = "vision_model", "text_model"
    out[f"{v}.embeddings.patch_embedding.weight"] = sd["visual.conv1.weight"]
    out[f"{v}.embeddings.class_embedding"] = sd["visual.class_embedding"]
    out[f"{v}.embeddings.position_embedding.weight"] = sd["visual.positional_embedding"]
    for a, b in (("pre_layrnorm", "ln_pre"), ("post_layernorm", "ln_post")):
        for p in ("weight", "bias"):
            out[f"{v}.{a}.{p}"] = sd[f"visual.{b}.{p}"]
    out["visual_projection.weight"] = sd["visual.proj"].T.contiguous()
    out[f"{t}.embeddings.token_embedding.weight"] = sd["token_embedding.weight"]
    out[f"{t}.embeddings.position_embedding.weight"] = sd["positional_embedding"]
    for p in ("weight", "bias"):
        out[f"{t}.final_layer_norm.{p}"] = sd[f"ln_final.{p}"]
    out["text_projection.weight"] = sd["text_projection"].T.contiguous()
    ren = {
        "attn.out_proj": "self_attn.out_proj",
        "ln_1": "layer_norm1",
        "ln_2": "layer_norm2",
        "mlp.c_fc": "mlp.fc1",
        "mlp.c_proj": "mlp.fc2",
    }
    for tower, src in ((v, "visual.transformer"), (t, "transformer")):
        i = 0
        while f"{src}.resblocks.{i}.ln_1.weight" in sd:
            s, d = f"{src}.resblocks.{i}", f"{tower}.encoder.layers.{i}"
            for n, w, b in zip(
                "qkv",
                sd[f"{s}.attn.in_proj_weight"].chunk(3),
                sd[f"{s}.attn.in_proj_bias"].chunk(3),
            ):
                out[f"{d}.self_attn.{n}_proj.weight"], out[f"{d}.self_attn.{n}_proj.bias"] = w, b
            for a, b in ren.items():
                for p in ("weight", "bias"):
                    out[f"{d}.{b}.{p}"] = sd[f"{s}.{a}.{p}"]
            i += 1
    return out


def _is_rope_table(key: str) -> bool:
    """EVA-CLIP stores its rotary tables (visual.rope.freqs_cos, and per block
    visual.blocks.i.attn.rope.freqs_*); ezsr recomputes them."""
    return key.startswith("visual.") and (".rope." in key or key.endswith(("rope_cos", "rope_sin")))


def eva_to_internal(sd: dict) -> dict:
    """EVA-CLIP names -> internal: the text tower drops its `text.` prefix; the image tower
    keeps EVA names; rotary tables stored in the checkpoint are recomputed instead."""
    out = {}
    for k, v in sd.items():
        if _is_rope_table(k):
            continue
        out[k[len("text.") :] if k.startswith("text.") else k] = v
    return out


def to_internal(sd: dict, fmt: str) -> dict:
    if fmt == "hf":
        return hf_to_internal(sd)
    if fmt == "eva":
        return eva_to_internal(sd)
    if fmt == "ezsr":
        return {k: v for k, v in sd.items() if not _is_rope_table(k)}
    return dict(sd)


# ------------------------------------------------------------------ loading into a model
@dataclass
class LoadReport:
    """What a checkpoint load did: the source, the detected format and, for partial
    (image-tower) loads, every key the model kept from its initialisation (`missing`) and
    every checkpoint key it did not use (`unexpected`)."""

    path: str
    format: str
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.path} ({self.format}): {len(self.missing)} missing, "
            f"{len(self.unexpected)} unexpected keys"
        )


def load_into(
    model: torch.nn.Module, path: str | Path, strict: bool = True, prefix: str = ""
) -> LoadReport:
    """Load checkpoint `path` into `model` (converted to the internal layout).

    strict=True: every model key must be present with the right shape, else
    CheckpointError naming the file and the first missing or mismatched key.
    strict=False (EZSR semantics): matching keys are copied, the rest listed in the
    report; a shape mismatch is still an error (wrong architecture), and so is a file of
    which no key fits. `prefix` selects a sub-tree of the checkpoint (e.g. "visual.").
    """
    sd, container = read_state_dict(path)
    try:
        fmt = detect_format(sd)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    sd = to_internal(sd, fmt)
    if prefix:
        sd = {k[len(prefix) :]: v for k, v in sd.items() if k.startswith(prefix)}
    own = model.state_dict()
    for k, v in sd.items():
        if k in own and own[k].shape != v.shape:
            raise CheckpointError(
                f"{path}: key {prefix}{k} has shape {tuple(v.shape)} but the model "
                f"({getattr(model, 'name', type(model).__name__)}) expects {tuple(own[k].shape)}: "
                "wrong architecture for this checkpoint?"
            )
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    if strict and missing:
        hint = ""

        def kind(keys: Iterable[str]) -> str | None:
            return (
                "clip"
                if any(k.endswith("conv1.weight") for k in keys)
                else "eva"
                if any(k.endswith("patch_embed.proj.weight") for k in keys)
                else None
            )

        if kind(own) and kind(sd) and kind(own) != kind(sd):
            hint = " - wrong architecture: the file's image tower is not the model's type"
        raise CheckpointError(
            f"{path}: missing key {prefix}{missing[0]} "
            f"({len(missing)} missing; detected format {fmt}){hint}"
        )
    if len(missing) == len(own):
        raise CheckpointError(
            f"{path}: no key fits the model (first checkpoint key "
            f"{next(iter(sd), None)!r}; detected format {fmt})"
        )
    with torch.no_grad():
        for k, v in sd.items():
            if k in own:
                own[k].copy_(v)
    report = LoadReport(str(path), f"{fmt}/{container}", missing, unexpected)
    if missing or unexpected:
        log.info("%s", report.summary())
        for k in missing:
            log.debug("missing (kept initialisation): %s", k)
        for k in unexpected:
            log.debug("unexpected (ignored): %s", k)
    return report


def config_from_hf(folder: str | Path) -> dict[str, Any]:
    """ezsr model config from a Hugging Face CLIP config.json."""
    path = Path(folder) / "config.json"
    try:
        c = json.loads(path.read_text())
        v, t = c["vision_config"], c["text_config"]
        return {
            "embed_dim": c.get("projection_dim", 512),
            "vision": {
                "type": "clip",
                "image_size": v.get("image_size", 224),
                "layers": v.get("num_hidden_layers", 12),
                "width": v.get("hidden_size", 768),
                "heads": v.get("num_attention_heads", 12),
                "patch_size": v.get("patch_size", 32),
                "mlp_ratio": v.get("intermediate_size", 3072) / v.get("hidden_size", 768),
                "ln_eps": v.get("layer_norm_eps", 1e-5),
                "act": v.get("hidden_act", "quick_gelu"),
            },
            "text": {
                "context_length": t.get("max_position_embeddings", 77),
                "vocab_size": t.get("vocab_size", 49408),
                "width": t.get("hidden_size", 512),
                "heads": t.get("num_attention_heads", 8),
                "layers": t.get("num_hidden_layers", 12),
                "mlp_ratio": t.get("intermediate_size", 2048) / t.get("hidden_size", 512),
                "ln_eps": t.get("layer_norm_eps", 1e-5),
                "act": t.get("hidden_act", "quick_gelu"),
            },
        }
    except (OSError, KeyError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: not a Hugging Face CLIP config ({exc})") from exc
