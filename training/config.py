"""Training configuration: nested dataclasses, loaded from YAML/JSON, overridden by `key=value`.

A run is described by one `TrainConfig`. Files hold any subset of its fields (nested by
section); CLI overrides use dotted keys, e.g. `loss.scalar_weight=0.5 optim.lr=3e-4
data.root=/data/imagenet/train`. Values are parsed as YAML scalars/lists when PyYAML is
installed, otherwise as JSON, and coerced to the field's declared type; an unknown key or a
value of the wrong type raises ValueError naming the key.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


@dataclass
class DataConfig:
    root: str = "builtin"  # image folder (ImageNet layout or flat), or "builtin":
    #                                the photos shipped with scikit-image / scikit-learn
    val_root: str = ""  # held-out image folder for zero-shot eval ("" = split of root)
    val_fraction: float = 0.0  # flat split of root used for held-out eval when no val_root
    image_size: int = 224  # side of the square crop fed to simulator and teacher (px)
    scale: tuple = (0.35, 1.0)  # RandomResizedCrop area range
    ratio: tuple = (0.75, 1.3333)  # RandomResizedCrop aspect range
    hflip: float = 0.5  # probability of a horizontal flip
    color_jitter: float = 0.2  # max relative brightness/contrast change (0 = off)
    fixed_crops: bool = False  # center crop, no augmentation (needed by the teacher cache)
    workers: int = 2  # DataLoader worker processes (0 = decode in the main process)
    repeats: int = 1  # an epoch visits every image this many times (tiny sets)
    classnames: str = ""  # file with one class name per line, in label order ("" =
    #                                folder names with '_' -> ' ')


@dataclass
class SimConfig:
    path: str = "fused"  # "fused": images_to_histogram; "events": images_to_events +
    #                                polarity_histogram (materialises the events)
    motion: str = "saccade"  # camera motion of the simulator ("saccade"|"trajectory"|"affine")
    window: str = "events"  # "events": one window of N events (N ~ window_events) cut
    #                                from each image's synthetic stream at a random start, as
    #                                `ezsr eval` cuts recordings; "sweep": the whole simulated
    #                                sweep in one histogram (cheaper; the earlier default)
    window_events: tuple = (13000, 17000)  # N ~ uniform integers in [lo, hi] (EZSR's
    #                                N-ImageNet evaluation); [N, N] = always N
    sensor: tuple = (480, 640)  # (height, width) of the simulated sensor (px); the image is
    #                                fitted inside and centred, as a monitor filmed by a
    #                                640x480 camera (N-ImageNet's recording)
    duration_us: int = 0  # simulated time per image (µs); 0 = the simulator's default
    #                                for the motion (300 ms saccade, 100 ms trajectory/affine)
    max_frames: int = 0  # cap on rendered frames per image (0 = simulator default);
    #                                the main cost knob of the simulator on a CPU
    max_crossings: float = 0.0  # thresholds a pixel may cross per frame (0 = default)
    contrast: float = 0.0  # ON/OFF contrast threshold (0 = simulator default, 0.2)
    out_size: int = 224  # side of the encoder input (histogram_to_ezsr_input)
    mode: str = "squash"  # EZSR preprocessing mode ("crop" | "squash"); squash is what
    #                                `ezsr eval` uses on N-ImageNet


@dataclass
class ModelConfig:
    student: str = "ViT-B-16"  # ezsr.models.create_event_encoder name (ezsr.models.list_models())
    student_init: str = "teacher"  # "teacher": the teacher's image tower when the student has the
    #                                teacher's architecture (else random, with a warning); "none":
    #                                random; or a CLIP checkpoint PATH whose image tower fits
    student_pretrained: str = ""  # an EZSR image-tower checkpoint loaded over the init
    #                                (strict=False, as EZSR's own loader; "" = none)
    teacher: str = "offline"  # ezsr.models.create_teacher name ("offline" or a CLIP name)
    teacher_pretrained: str = ""  # teacher checkpoint path ("" = the teacher's default)
    teacher_cache: str = ""  # directory of the memory-mapped teacher-embedding cache
    #                                ("" = embed on the fly); needs data.fixed_crops
    compile: bool = False  # torch.compile the student


@dataclass
class LossConfig:
    global_kind: str = "cosine"  # "cosine": 1 - cos(s, t); "infonce": event->image InfoNCE
    global_weight: float = 1.0
    scalar_kind: str = "l1"  # "l1" | "l2" | "none": per-dimension penalty |s_n - t_n|
    scalar_weight: float = 1.0  # weight of the scalar-wise term (0 = plain global ablation)
    scalar_scale: float = 0.0  # multiply normalised embeddings by this before the penalty
    #                                (0 = sqrt(D), so a dimension's typical size is ~1)
    temperature: float = 0.07  # InfoNCE temperature
    text_weight: float = 0.0  # text-anchored cross-entropy with labels (0 = off)
    text_templates: str = "simple"  # "simple" ("a photo of a {}.") or "imagenet" (the 80 prompts)


@dataclass
class OptimConfig:
    lr: float = 5e-4
    weight_decay: float = 0.05
    betas: tuple = (0.9, 0.98)
    warmup_steps: int = 100
    schedule: str = "cosine"  # "cosine" | "constant" (after warmup)
    min_lr_ratio: float = 0.01  # cosine floor as a fraction of lr
    grad_clip: float = 1.0  # max global grad norm (0 = off)
    batch_size: int = 256  # global batch per optimiser step (all ranks, all micro-steps)
    accum_steps: int = 1  # micro-batches per optimiser step on each rank


@dataclass
class RunConfig:
    out_dir: str = "runs/ezsr"
    overwrite: bool = False  # a new run may replace the checkpoints and log of an
    #                                earlier run in out_dir (else it refuses; --resume continues)
    steps: int = 1000  # optimiser steps
    seed: int = 0
    strategy: str = "ddp"  # several ranks: "ddp" (a full replica per rank) | "fsdp"
    #                                (torch FSDP2 fully_shard per transformer block: parameters,
    #                                gradients and optimiser state sharded across ranks)
    activation_checkpointing: bool = False  # recompute each transformer block's activations in
    #                                the backward pass (memory for compute; any strategy)
    device: str = "auto"  # "auto" (cuda if available) | "cpu" | "cuda" | "cuda:1"
    precision: str = "auto"  # "auto" (bf16 on CUDA, fp32 on CPU) | "fp32" | "bf16" | "fp16"
    ckpt_every: int = 500  # steps between checkpoints (0 = only at the end)
    keep_ckpts: int = 2  # step checkpoints kept besides last.pt
    log_every: int = 10  # steps between CSV/TensorBoard rows
    eval_every: int = 0  # steps between zero-shot evaluations (0 = only at the end)
    eval_samples: int = 256  # held-out samples per evaluation
    progress: bool = True  # tqdm progress bar
    tensorboard: bool = True  # write TensorBoard events when tensorboard is installed
    nan_check_every: int = 1  # steps between finite-loss checks (a device sync each)
    threads: int = 0  # torch intra-op threads of the training process on a CPU
    #                                device (0 = torch's default); with DataLoader workers
    #                                decoding on a small CPU, cores - workers avoids oversubscription
    eval_real: str = ""  # folder of real event recordings, <class>/<file> (N-ImageNet
    #                                layout), evaluated zero-shot with the synthetic set ("" = off)
    eval_real_max: int = 200  # at most this many files of eval_real per evaluation
    eval_real_classnames: str = ""  # names file for eval_real's sorted class folders
    eval_real_mode: str = "crop"  # ezsr_preprocess mode: "crop" | "squash" (EZSR's N-ImageNet path)


@dataclass
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    sim: SimConfig = field(default_factory=SimConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def validate(self) -> "TrainConfig":
        """Raise ValueError naming the first inconsistent field."""
        c = self
        if ":" not in c.sim.path:  # 'module:callable' names a custom transform
            _choice("sim.path", c.sim.path, ("fused", "events"))
        _choice("sim.mode", c.sim.mode, ("crop", "squash"))
        _choice("sim.window", c.sim.window, ("events", "sweep"))
        w = c.sim.window_events
        if (
            len(w) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in w)
            or not 1 <= w[0] <= w[1]
        ):
            raise ValueError(
                f"config: sim.window_events must be [lo, hi] integers with "
                f"1 <= lo <= hi, got {list(w)}"
            )
        _check_model_names(c.model)
        if c.run.threads < 0:
            raise ValueError(
                f"config: run.threads must be >= 0 (0 = torch's default), got {c.run.threads}"
            )
        _choice("loss.global_kind", c.loss.global_kind, ("cosine", "infonce"))
        _choice("loss.scalar_kind", c.loss.scalar_kind, ("l1", "l2", "none"))
        _choice("loss.text_templates", c.loss.text_templates, ("simple", "imagenet"))
        _choice("optim.schedule", c.optim.schedule, ("cosine", "constant"))
        _choice("run.precision", c.run.precision, ("auto", "fp32", "bf16", "fp16"))
        _choice("run.strategy", c.run.strategy, ("ddp", "fsdp"))
        _choice("run.eval_real_mode", c.run.eval_real_mode, ("crop", "squash"))
        for key, v in (
            ("optim.batch_size", c.optim.batch_size),
            ("optim.accum_steps", c.optim.accum_steps),
            ("run.steps", c.run.steps),
            ("data.image_size", c.data.image_size),
            ("sim.out_size", c.sim.out_size),
            ("data.repeats", c.data.repeats),
        ):
            if v < 1:
                raise ValueError(f"config: {key} must be >= 1, got {v}")
        if len(c.sim.sensor) != 2:
            raise ValueError(f"config: sim.sensor must be [height, width], got {c.sim.sensor}")
        if c.model.teacher_cache and not c.data.fixed_crops:
            raise ValueError(
                "config: model.teacher_cache needs data.fixed_crops=true (cached "
                "embeddings are only valid for the same fixed crop of every image)"
            )
        if c.loss.temperature <= 0:
            raise ValueError(f"config: loss.temperature must be > 0, got {c.loss.temperature}")
        return self


def _check_model_names(m: "ModelConfig") -> None:
    """model.student / model.teacher must be registered names (or 'module:callable')."""
    from ezsr.models import list_models

    known = list_models()
    canon = {k.replace("/", "-") for k in known}
    for key, v, extra in (
        ("model.student", m.student, ()),
        ("model.teacher", m.teacher, ("offline",)),
    ):
        if ":" in v or v in extra or v.replace("/", "-") in canon:
            continue
        raise ValueError(
            f"config: {key}={v!r} is not a registered model; expected one of "
            f"{', '.join([*extra, *known])} (or 'module:callable')"
        )
    if not m.student_init:
        raise ValueError(
            "config: model.student_init must be 'teacher', 'none' or a checkpoint path, got ''"
        )


def _choice(key: str, v: str, allowed: tuple) -> None:
    if v not in allowed:
        raise ValueError(f"config: {key} must be one of {allowed}, got {v!r}")


# ------------------------------------------------------------------------------ loading
def _parse_scalar(text: str) -> Any:
    try:
        import yaml

        return yaml.safe_load(text)
    except ImportError:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text


def _coerce(key: str, value: Any, typ: Any) -> Any:
    """value converted to the dataclass field type (annotations are strings here)."""
    name = typ if isinstance(typ, str) else getattr(typ, "__name__", str(typ))
    try:
        if name == "bool":
            if isinstance(value, str):
                if value.lower() in ("true", "1", "yes", "on"):
                    return True
                if value.lower() in ("false", "0", "no", "off"):
                    return False
                raise ValueError
            if isinstance(value, (bool, int)):
                return bool(value)
            raise ValueError
        if name == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            if isinstance(value, bool):
                raise ValueError
            return int(value)
        if name == "float":
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if name == "str":
            return "" if value is None else str(value)
        if name == "tuple":
            if isinstance(value, str):
                value = [_parse_scalar(v) for v in value.strip("()[] ").split(",")]
            if not isinstance(value, (list, tuple)):
                raise ValueError
            return tuple(value)
    except (TypeError, ValueError):
        raise ValueError(f"config: {key} expects a {name}, got {value!r}") from None
    return value


def _apply(obj: Any, data: dict, prefix: str = "") -> None:
    fields = {f.name: f for f in dataclasses.fields(obj)}
    for k, v in data.items():
        key = f"{prefix}{k}"
        if k not in fields:
            raise ValueError(
                f"config: unknown key {key!r} (known: {', '.join(prefix + n for n in fields)})"
            )
        cur = getattr(obj, k)
        if dataclasses.is_dataclass(cur):
            if not isinstance(v, dict):
                raise ValueError(f"config: {key} is a section; give its fields as a mapping")
            _apply(cur, v, key + ".")
        else:
            setattr(obj, k, _coerce(key, v, fields[k].type))


def load_file(path: str | Path) -> dict:
    """Contents of a YAML (.yaml/.yml) or JSON (.json) config file as a dict.

    A bare name like "tiny_cpu" is looked up in training/configs/.
    """
    p = Path(path)
    if not p.exists() and not p.suffix:
        for ext in (".yaml", ".json"):
            if (CONFIG_DIR / (p.name + ext)).exists():
                p = CONFIG_DIR / (p.name + ext)
                break
    if not p.exists():
        known = sorted(x.stem for x in CONFIG_DIR.glob("*.*"))
        raise FileNotFoundError(f"config file {path} not found (built-in configs: {known})")
    text = p.read_text()
    if p.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as exc:
            raise ValueError(
                f"config file {p}: reading YAML needs PyYAML (pip install pyyaml), "
                "or write the config as JSON"
            ) from exc
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"config file {p}: not valid YAML ({exc})") from None
    elif p.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"config file {p}: not valid JSON ({exc})") from None
    else:
        raise ValueError(f"config file {p}: expected a .yaml, .yml or .json file")
    if not isinstance(data, dict):
        raise ValueError(f"config file {p}: the top level must be a mapping of sections")
    return data


def parse_overrides(items: typing.Sequence[str]) -> dict:
    """["a.b=1", "c=x"] -> {"a": {"b": 1}, "c": "x"}."""
    out: dict = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"config override {item!r}: expected key=value, e.g. optim.lr=3e-4")
        key, text = item.split("=", 1)
        parts = key.strip().split(".")
        d = out
        for p in parts[:-1]:
            d = d.setdefault(p, {})
        d[parts[-1]] = _parse_scalar(text)
    return out


def _apply_file(cfg: TrainConfig, f: str | Path, seen: tuple = ()) -> None:
    """Apply a config file; its optional top-level `base: NAME_OR_PATH` first (a path
    relative to the file's folder, or a built-in name)."""
    data = load_file(f)
    base = data.pop("base", None)
    if base is not None:
        if not isinstance(base, str) or not base:
            raise ValueError(f"config file {f}: base must name another config file, got {base!r}")
        near = Path(f).parent / base
        ref = str(near) if near.suffix and near.exists() else base
        if ref in seen:
            raise ValueError(f"config file {f}: base {base!r} includes itself")
        _apply_file(cfg, ref, (*seen, ref))
    _apply(cfg, data)


def make_config(
    files: typing.Sequence[str] = (),
    overrides: typing.Sequence[str] = (),
    base: Optional[TrainConfig] = None,
) -> TrainConfig:
    """Defaults, then each file in order (each after its `base:` file), then the key=value
    overrides; validated."""
    cfg = base or TrainConfig()
    for f in files:
        _apply_file(cfg, f)
    _apply(cfg, parse_overrides(overrides))
    return cfg.validate()


def from_dict(data: dict) -> TrainConfig:
    cfg = TrainConfig()
    _apply(cfg, data)
    return cfg.validate()
