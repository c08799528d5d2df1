"""Few-shot adaptation of a frozen zero-shot model, as EventCLIP does it (Wu et al.,
"EventCLIP: Adapting CLIP for Event-based Object Recognition", arXiv 2306.06354;
https://github.com/Wuziyi616/EventCLIP, `models/adapter.py`, `models/clip_cls.py`,
`configs/fsclip/joint_adapter/*`).

Given K labelled recordings per class, two things are learned while the image encoder stays
frozen:

* text features T [K, D], initialised from the zero-shot classifier W [D, K] (T = W.T) and
  L2-normalised at use;
* a feature adapter across the views of one recording: a linear map D -> 256, a 2-layer
  pre-LN transformer encoder (4 heads, FFN 1024, ReLU, dropout 0.1) over the views, a linear
  map 256 -> D, blended with its input by a residual ratio r: out = r * f + (1 - r) * g(f)
  (r = 0.8 for N-Caltech101 and N-Cars, 0.95 for N-ImageNet).

    logits [B, K] = mean over the valid views v of  scale * normalize(out_v) @ normalize(T).T

Training (EventCLIP's joint-adapter configs): Adam, cosine decay to lr/100 after a linear
warm-up over 5 % of the steps, cross-entropy on the view-averaged logits, min(2, the
dataset's test views) random views of a recording per step (EventCLIP's max_imgs); at test
time a recording has the views of `ezsr eval`'s protocol.

The adapter's input is what `ezsr eval` computes for the protocol: CLIP's raw image features
under EventCLIP's protocol with a CLIP teacher (as EventCLIP), unit embeddings otherwise
(AdapterConfig.features). Departure (docs/fewshot.md): the frozen encoder's features of all
views (at most 10) of the K x classes recordings are computed once before training, and there
is no augmentation (EventCLIP re-renders, shifts, flips and RandAugments every step).

    split = draw_split(dataset.samples, shots, seed)      # or read_eventclip_split(...)
    feats = embed_recordings(teacher, split.samples, train_protocol(dataset, ...))
    head, _ = train_adapter(feats, labels, W, config, train)   # FewShotHead
    save_adapter(path, head, ...); load_adapter(path) -> (FewShotHead, meta)

An adapter file is a torch.save'd plain dict read with weights_only=True (no code runs):

    format       "ezsr-adapter-1"
    class_names  [K] names (as written into the prompts)
    folders      [K] class folder names of the dataset (may be empty)
    config       {"embed_dim", "residual", "width", "heads", "ffn", "layers", "dropout",
                  "scale", "features"}: the head's architecture, logit multiplier and input
    train        {"dataset", "shots", "seed", "protocol", "mode", "templates", "teacher",
                  "teacher_key", "lr", "epochs", "batch_size", "views", "split", "n_train",
                  "loss", "train_acc_zero_shot", "train_acc"}: how it was made
    state_dict   the head's tensors (text features and adapter weights)
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence, cast

import torch
import torch.nn.functional as F
from torch import nn

from ezsr.events import Events
from ezsr.models.teachers import Teacher
from ezsr.models.transformer import MultiheadSelfAttention

if TYPE_CHECKING:
    from ezsr.zeroshot.classifier import Prediction
    from ezsr.zeroshot.evaluate import EvalProtocol, Sample
    from ezsr.zeroshot.loader import ZeroShot

log = logging.getLogger(__name__)

FORMAT = "ezsr-adapter-1"
SHOTS = (1, 2, 4, 8, 16, 20)
# EventCLIP joint-adapter configs: residual ratio, learning rate, epochs, batch size
RESIDUAL = {"n-caltech101": 0.8, "n-cars": 0.8, "n-imagenet": 0.95, "mini-n-imagenet": 0.95}
TRAINING = {
    "n-caltech101": {"lr": 1e-4, "epochs": 100, "batch_size": 32},
    "n-cars": {"lr": 2e-4, "epochs": 50, "batch_size": 32},
    "n-imagenet": {"lr": 2e-5, "epochs": 100, "batch_size": 128},
    "mini-n-imagenet": {"lr": 2e-5, "epochs": 100, "batch_size": 32},
}
TRAIN_SPLIT_DIRS = {
    "n-imagenet": ("extracted_train", "train"),
    "mini-n-imagenet": ("extracted_train", "train"),
    "n-caltech101": ("training", "train"),
    "n-cars": ("train", "training"),
}
TRAIN_VIEWS = 2  # EventCLIP's max_imgs while training
TEST_VIEWS = 10  # EventCLIP's hard limit of views: the most frames embedded per recording


# ------------------------------------------------------------------------ modules
@dataclass
class AdapterConfig:
    """Architecture of a FewShotHead (EventCLIP's values by default)."""

    embed_dim: int
    residual: float = 0.8
    width: int = 256
    heads: int = 4
    ffn: int = 1024
    layers: int = 2
    dropout: float = 0.1
    scale: float = 100.0  # logit multiplier (CLIP's exp(logit_scale))
    features: str = "unit"  # the adapter's input: "unit" (L2-normalised) or "raw" features

    def __post_init__(self) -> None:
        if self.features not in ("unit", "raw"):
            raise ValueError(f"adapter features must be 'unit' or 'raw', got {self.features!r}")
        if not 0.0 <= float(self.residual) <= 1.0:
            raise ValueError(f"adapter residual ratio must be in [0, 1], got {self.residual}")
        if self.width % self.heads:
            raise ValueError(f"adapter width {self.width} is not divisible by heads {self.heads}")


class _Block(nn.Module):
    """Pre-LN transformer encoder layer: x + drop(attn(ln_1 x)); x + drop(W2 drop(relu(W1 ln_2 x)))."""

    def __init__(self, width: int, heads: int, ffn: int, dropout: float) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = MultiheadSelfAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        self.fc1, self.fc2 = nn.Linear(width, ffn), nn.Linear(ffn, width)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln_1(x), mask))
        return x + self.drop(self.fc2(self.drop(F.relu(self.fc1(self.ln_2(x))))))


class ViewAdapter(nn.Module):
    """feats [B, V, D] float, valid [B, V] bool (None: all valid) -> [B, V, D]:
    r * feats + (1 - r) * out_proj(transformer(in_proj(feats))), attention across the views
    of each recording (padded views are never attended to)."""

    def __init__(self, cfg: AdapterConfig) -> None:
        super().__init__()
        self.residual = float(cfg.residual)
        self.in_proj = nn.Linear(cfg.embed_dim, cfg.width)
        self.blocks = nn.ModuleList(
            _Block(cfg.width, cfg.heads, cfg.ffn, cfg.dropout) for _ in range(cfg.layers)
        )
        self.out_proj = nn.Linear(cfg.width, cfg.embed_dim)

    def forward(self, feats: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        mask = None if valid is None else valid[:, None, None, :]  # [B, 1, 1, V]: keys to attend
        x = self.in_proj(feats)
        for blk in self.blocks:
            x = blk(x, mask)
        return self.residual * feats + (1.0 - self.residual) * self.out_proj(x)


class FewShotHead(nn.Module):
    """Image embeddings of the views of recordings -> class logits.

    forward(feats [B, V, D] float, valid [B, V] bool or None) -> logits [B, K]: each view's
    feature (L2-normalised first when cfg.features == "unit"; EventCLIP feeds CLIP's raw
    image features, "raw") is adapted across the views (ViewAdapter), normalised and
    compared with the normalised text features; logits are averaged over the valid views.
    text: [K, D] learnable text features.
    """

    def __init__(self, cfg: AdapterConfig, classifier: torch.Tensor) -> None:
        super().__init__()
        if classifier.dim() != 2 or classifier.shape[0] != cfg.embed_dim:
            raise ValueError(
                f"few-shot head: the zero-shot classifier must be [D={cfg.embed_dim}, "
                f"K], got {tuple(classifier.shape)}"
            )
        self.cfg = cfg
        self.adapter = ViewAdapter(cfg)
        self.text = nn.Parameter(classifier.detach().float().T.clone())  # [K, D]

    @property
    def num_classes(self) -> int:
        return self.text.shape[0]

    def classifier(self) -> torch.Tensor:
        """The adapted text classifier [D, K] (unit columns)."""
        return F.normalize(self.text, dim=-1).T

    def view_logits(self, feats: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """[B, V, D] -> per-view logits [B, V, K] (zeros at invalid views)."""
        f = feats.float()
        if self.cfg.features == "unit":
            f = F.normalize(f, dim=-1)
        f = self.adapter(f, valid)
        f = F.normalize(f, dim=-1)
        if valid is not None:
            f = f * valid.unsqueeze(-1).to(f.dtype)
        return self.cfg.scale * f @ self.classifier()

    def forward(self, feats: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        lg = self.view_logits(feats, valid)
        if valid is None:
            return lg.mean(1)
        return lg.sum(1) / valid.sum(1, keepdim=True).clamp_min(1).to(lg.dtype)


class AdaptedEncoder(nn.Module):
    """An encoder followed by the adapter, one view per input: image [B, 3, S, S] ->
    adapted embedding [B, D] (not normalised). With a zero-shot head on
    head.classifier() and head.cfg.scale this gives FewShotHead's logits for single-view
    recordings; that is how the adapter enters ONNX graphs and streaming classifiers."""

    def __init__(self, encoder: nn.Module, head: FewShotHead) -> None:
        super().__init__()
        self.encoder, self.adapter = encoder, head.adapter
        self.unit = head.cfg.features == "unit"
        self.image_size = getattr(encoder, "image_size", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.encoder(x).float()
        if self.unit:
            f = F.normalize(f, dim=-1)
        return self.adapter(f.unsqueeze(1))[:, 0]  # one view: [B, 1, D] -> [B, D]


def adapted_encoder(encoder: nn.Module, head: FewShotHead) -> tuple[nn.Module, torch.Tensor, float]:
    """(AdaptedEncoder, the adapted text classifier [D, K], the logit multiplier): drop-in
    replacements for a zero-shot (encoder, classifier, scale)."""
    return (
        AdaptedEncoder(encoder, head.eval()).eval(),
        head.classifier().detach().float().contiguous(),
        float(head.cfg.scale),
    )


# ------------------------------------------------------------------------- files
def save_adapter(
    path: str | Path,
    head: FewShotHead,
    class_names: Sequence[str],
    train: dict[str, Any] | None = None,
    folders: Sequence[str] = (),
) -> Path:
    """Write an adapter file (see module docstring) atomically."""
    if len(class_names) != head.num_classes:
        raise ValueError(f"{len(class_names)} class names for a head of {head.num_classes} classes")
    obj = {
        "format": FORMAT,
        "class_names": [str(c) for c in class_names],
        "folders": [str(f) for f in folders],
        "config": asdict(head.cfg),
        "train": dict(train or {}),
        "state_dict": {k: v.detach().cpu().clone() for k, v in head.state_dict().items()},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)
    return path


def load_adapter(
    path: str | Path, device: torch.device | str = "cpu"
) -> tuple[FewShotHead, dict[str, Any]]:
    """(FewShotHead in eval mode, the file's fields without state_dict). ValueError naming
    the file when it is not an adapter file of `ezsr adapt`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"adapter {path}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - not a torch.save file, or unsafe content
        raise ValueError(
            f"adapter {path}: not an adapter file of `ezsr adapt` ({type(exc).__name__})"
        ) from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        fmt = obj.get("format") if isinstance(obj, dict) else type(obj).__name__
        raise ValueError(
            f"adapter {path}: not an adapter file of `ezsr adapt` (format "
            f"{fmt!r}, expected {FORMAT!r})"
        )
    for key in ("class_names", "config", "state_dict"):
        if key not in obj:
            raise ValueError(f"adapter {path}: the field '{key}' is missing")
    try:
        cfg = AdapterConfig(**obj["config"])
        text = obj["state_dict"]["text"]
        head = FewShotHead(cfg, torch.zeros(cfg.embed_dim, text.shape[0]))
        head.load_state_dict(obj["state_dict"])
    except (TypeError, KeyError, RuntimeError, ValueError) as exc:
        raise ValueError(f"adapter {path}: config or weights do not fit ({exc})") from None
    if len(obj["class_names"]) != head.num_classes:
        raise ValueError(
            f"adapter {path}: {len(obj['class_names'])} class names for "
            f"{head.num_classes} text features"
        )
    return head.to(device).eval(), {k: v for k, v in obj.items() if k != "state_dict"}


def check_adapter(
    head: FewShotHead,
    meta: dict[str, Any],
    embed_dim: int,
    class_names: Sequence[str] | None = None,
    path: str | Path = "",
) -> None:
    """The adapter must fit the model (embedding width) and, when given, the class names."""
    if head.cfg.embed_dim != int(embed_dim):
        raise ValueError(
            f"adapter {path}: trained on {head.cfg.embed_dim}-dim embeddings "
            f"(teacher {meta.get('train', {}).get('teacher', '?')}), this model "
            f"gives {embed_dim}"
        )
    if class_names is not None and list(class_names) != list(meta["class_names"]):
        raise ValueError(
            f"adapter {path}: its {len(meta['class_names'])} classes "
            f"({', '.join(meta['class_names'][:3])}, ...) differ from the "
            f"{len(class_names)} given ({', '.join(list(class_names)[:3])}, ...)"
        )


# ------------------------------------------------------------------------ splits
@dataclass
class Split:
    """The labelled recordings of a few-shot split."""

    samples: list[Sample]  # ezsr.zeroshot.evaluate.Sample (path, label)
    source: str  # "seed S" or the split file


def train_dir(root: str | Path, dataset: str, split: str | None = None) -> Path:
    """The training folder of a dataset root (training/, train/, extracted_train/)."""
    root = Path(root)
    if split:
        d = root / split
        if not d.is_dir():
            raise FileNotFoundError(f"split {split}: {d} is not a folder")
        return d
    for s in TRAIN_SPLIT_DIRS[dataset]:
        if (root / s).is_dir():
            return root / s
    raise FileNotFoundError(
        f"root {root}: no training folder ({' or '.join(TRAIN_SPLIT_DIRS[dataset])}) for {dataset}"
    )


def draw_split(samples: Sequence[Sample], shots: int, seed: int) -> Split:
    """K recordings per class drawn without replacement by `seed` (all of a class's
    recordings when it has fewer, with a warning). samples: Sample(path, label)."""
    if shots < 1:
        raise ValueError(f"shots must be >= 1, got {shots}")
    by_class: dict[int, list[Sample]] = {}
    for s in sorted(samples, key=lambda s: (s.label, str(s.path))):
        by_class.setdefault(s.label, []).append(s)
    rng = random.Random(seed)
    out: list[Sample] = []
    short: list[int] = []
    for label in sorted(by_class):
        files = by_class[label]
        if len(files) < shots:
            short.append(label)
            out += files
        else:
            out += rng.sample(files, shots)
    if short:
        log.warning(
            "%d classes have fewer than %d recordings; all of theirs are used", len(short), shots
        )
    return Split(out, f"seed {seed}")


class _PlainUnpickler(pickle.Unpickler):
    """Plain containers, strings and numbers only: any class or function is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(
            f"it refers to {module}.{name}; only a dict of path -> label is read"
        )


def read_eventclip_split(path: str | Path, base: Path, folders: Sequence[str]) -> Split:
    """EventCLIP's few-shot split file (`datasets/files/<Dataset>/<K>shot-repeat=<b>.pkl`):
    a pickled dict {event file path: label}. Each path's last two parts (class folder, file
    name) are found under `base` (the training folder); the label is that folder's index in
    `folders`. Read without running any pickled code."""
    from ezsr.zeroshot.evaluate import Sample

    path = Path(path)
    try:
        with open(path, "rb") as f:
            d = _PlainUnpickler(f).load()
    except (OSError, pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise ValueError(f"shots_file {path}: not an EventCLIP split file ({exc})") from None
    if not isinstance(d, dict) or not d:
        raise ValueError(
            f"shots_file {path}: expected a non-empty dict of event file -> "
            f"label, found {type(d).__name__}"
        )
    index = {f: i for i, f in enumerate(folders)}
    samples: list[Sample] = []
    missing: list[str] = []
    for key in d:
        parts = Path(str(key)).parts
        if len(parts) < 2 or parts[-2] not in index:
            raise ValueError(
                f"shots_file {path}: {key!r} is not <class folder>/<file> of a known class"
            )
        p = base / parts[-2] / parts[-1]
        if not p.is_file():
            missing.append(str(p))
        samples.append(Sample(p, index[parts[-2]], f"{parts[-2]}/{parts[-1]}"))
    if missing:
        raise FileNotFoundError(
            f"shots_file {path}: {len(missing)} of its {len(d)} files are "
            f"not under {base}, e.g. {missing[0]}"
        )
    return Split(samples, str(path))


# ---------------------------------------------------------------------- features
def train_protocol(
    dataset: str,
    protocol: str = "eventclip",
    mode: str | None = None,
    out_size: int = 224,
    max_views: int = TEST_VIEWS,
) -> EvalProtocol:
    """The ezsr.zeroshot.evaluate.EvalProtocol that makes the views of a training recording:
    EZSR's fixed window, or all of EventCLIP's frames (at most max_views, picked at random
    by the seed when there are more); training then draws TRAIN_VIEWS of them per step."""
    from dataclasses import replace

    from ezsr.zeroshot.evaluate import make_protocol

    p = make_protocol(dataset, protocol, mode, out_size=out_size)
    if p.eventclip is not None:  # every frame, capped: views = max_views
        p = replace(
            p, eventclip=replace(p.eventclip, typical_events=p.eventclip.frame_events * max_views)
        )
    return p


@torch.no_grad()
def embed_recordings(
    teacher: Teacher,
    samples: Sequence[Sample],
    protocol: EvalProtocol,
    device: torch.device | str = "cpu",
    progress: bool = True,
    workers: int | None = 0,
) -> list[torch.Tensor]:
    """Frozen image features of every view of each recording: a list of [V_i, D] float32
    on the CPU. protocol: an ezsr.zeroshot.evaluate.EvalProtocol (train_protocol, or
    make_protocol for test views); features as `ezsr eval` computes them (encode_inputs:
    raw CLIP image features under EventCLIP's protocol, unit embeddings otherwise)."""
    from tqdm import tqdm

    from ezsr.zeroshot.evaluate import encode_inputs, iter_inputs

    out: list[torch.Tensor | None] = [None] * len(samples)
    for i, x in tqdm(
        iter_inputs(list(samples), protocol, workers),
        total=len(samples),
        desc="embedding views",
        unit="file",
        disable=not progress,
    ):
        out[i] = encode_inputs(teacher, x.to(device), protocol).float().cpu()
    return cast("list[torch.Tensor]", out)  # iter_inputs yields every index


def feature_kind(teacher: Teacher, protocol: EvalProtocol) -> str:
    """ "raw" when encode_inputs gives a CLIP teacher's unnormalised image features (EventCLIP's
    protocol), else "unit"."""
    from ezsr.zeroshot.evaluate import _raw_clip

    return (
        "raw"
        if (protocol.name == "eventclip" and protocol.features == "raw" and _raw_clip(teacher))
        else "unit"
    )


def pad_views(
    feats: Sequence[torch.Tensor],
    idx: Sequence[int],
    views: int | None,
    gen: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack recordings idx into ([B, V, D], valid [B, V] bool): at most `views` views each,
    a random subset when a recording has more (None: all of them)."""
    chosen = []
    for i in idx:
        f = feats[i]
        if views is not None and f.shape[0] > views:
            f = f[torch.randperm(f.shape[0], generator=gen)[:views]]
        chosen.append(f)
    v = max(f.shape[0] for f in chosen)
    d = chosen[0].shape[1]
    x = torch.zeros(len(chosen), v, d)
    valid = torch.zeros(len(chosen), v, dtype=torch.bool)
    for j, f in enumerate(chosen):
        x[j, : f.shape[0]] = f
        valid[j, : f.shape[0]] = True
    return x, valid


# ---------------------------------------------------------------------- training
@dataclass
class TrainConfig:
    """Optimisation settings (EventCLIP's per-dataset values: see TRAINING)."""

    lr: float = 1e-4
    epochs: int = 100
    batch_size: int = 32
    views: int = TRAIN_VIEWS
    warmup: float = 0.05
    seed: int = 0

    @classmethod
    def for_dataset(
        cls, dataset: str, shots: int | None = None, n_classes: int | None = None, **over: Any
    ) -> "TrainConfig":
        """EventCLIP's settings for a dataset; the batch is capped at shots * classes as
        EventCLIP's train.py does for N-Cars and mini N-ImageNet. Keys in `over` that are
        not None replace them."""
        base: dict[str, Any] = dict(TRAINING.get(dataset, TRAINING["n-caltech101"]))
        if shots and n_classes and dataset in ("n-cars", "mini-n-imagenet"):
            base["batch_size"] = min(base["batch_size"], shots * n_classes)
        base.update({k: v for k, v in over.items() if v is not None})
        return cls(**base)


def lr_at(step: int, total: int, lr: float, warmup: float) -> float:
    """Linear warm-up from 0 over warmup*total steps, then cosine decay from lr to lr/100."""
    w = warmup * total
    if step < w:
        return lr * (step + 1) / w
    t = (step - w) / max(total - w, 1)
    return lr / 100 + (lr - lr / 100) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


def train_adapter(
    feats: Sequence[torch.Tensor],
    labels: Sequence[int],
    classifier: torch.Tensor,
    cfg: AdapterConfig,
    train: TrainConfig,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> tuple[FewShotHead, dict[str, Any]]:
    """Fit a FewShotHead on frozen view embeddings.

    feats: per recording [V_i, D] float; labels: class index per recording; classifier:
    the zero-shot text classifier [D, K] the text features start from.
    Returns (head in eval mode on `device`, {"loss": last epoch's mean loss, "steps": n}).
    On the CPU the steps run on one thread (the head is too small to gain from more, and
    loses much to thread contention on a busy machine); the setting is restored after.
    """
    threads = torch.get_num_threads()
    if torch.device(device).type == "cpu":
        torch.set_num_threads(1)
    try:
        return _train(feats, labels, classifier, cfg, train, device, progress)
    finally:
        torch.set_num_threads(threads)


def _train(
    feats: Sequence[torch.Tensor],
    labels: Sequence[int],
    classifier: torch.Tensor,
    cfg: AdapterConfig,
    train: TrainConfig,
    device: torch.device | str,
    progress: bool,
) -> tuple[FewShotHead, dict[str, Any]]:
    from tqdm import tqdm

    if len(feats) != len(labels) or not feats:
        raise ValueError(f"{len(feats)} recordings and {len(labels)} labels: need as many, > 0")
    torch.manual_seed(train.seed)
    gen = torch.Generator().manual_seed(train.seed)
    head = FewShotHead(cfg, classifier).to(device)
    y_all = torch.as_tensor(list(labels), dtype=torch.long)
    if int(y_all.max()) >= head.num_classes or int(y_all.min()) < 0:
        raise ValueError(f"labels outside 0..{head.num_classes - 1}")
    opt = torch.optim.Adam(head.parameters(), lr=train.lr)
    n = len(feats)
    per_epoch = math.ceil(n / train.batch_size)
    total = train.epochs * per_epoch
    step, last = 0, float("nan")
    bar = tqdm(
        total=total,
        desc=f"adapting ({n} recordings, {head.num_classes} classes)",
        unit="step",
        disable=not progress,
    )
    with bar:
        for _ in range(train.epochs):
            head.train()
            order = torch.randperm(n, generator=gen).tolist()
            losses = []
            for b in range(per_epoch):
                idx = order[b * train.batch_size : (b + 1) * train.batch_size]
                x, valid = pad_views(feats, idx, train.views, gen)
                x, valid, y = x.to(device), valid.to(device), y_all[idx].to(device)
                for g in opt.param_groups:
                    g["lr"] = lr_at(step, total, train.lr, train.warmup)
                loss = F.cross_entropy(head(x, valid), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
                step += 1
                bar.update(1)
            last = sum(losses) / len(losses)
            bar.set_postfix(loss=f"{last:.3f}")
    return head.eval(), {"loss": last, "steps": step}


@torch.no_grad()
def predict(
    head: FewShotHead | None,
    feats: Sequence[torch.Tensor],
    classifier: torch.Tensor | None = None,
    scale: float = 100.0,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Logits [N, K] of recordings (all their views, [V_i, D] each): through the head, or
    zero-shot (head None: mean over views of scale * normalize(f) @ classifier)."""
    out = []
    for i in range(0, len(feats), batch_size):
        x, valid = pad_views(feats, range(i, min(i + batch_size, len(feats))), None)
        x, valid = x.to(device), valid.to(device)
        if head is not None:
            out.append(head.eval()(x, valid).cpu())
        else:
            assert classifier is not None, "predict: give a head or a classifier"
            lg = scale * F.normalize(x, dim=-1) @ classifier.to(device).float()
            lg = lg * valid.unsqueeze(-1)
            out.append((lg.sum(1) / valid.sum(1, keepdim=True)).cpu())
    return torch.cat(out)


# ------------------------------------------------------------------- whole recipe
def adapt(
    dataset: str,
    root: str | Path,
    shots: int,
    seed: int,
    teacher: Teacher,
    out: str | Path,
    *,
    protocol: str = "eventclip",
    split: str | None = None,
    shots_file: str | Path | None = None,
    names: str | None = None,
    templates: str | Sequence[str] | None = None,
    mode: str | None = None,
    residual: float | None = None,
    lr: float | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
    workers: int | None = None,
) -> tuple[Path, dict[str, Any]]:
    """`ezsr adapt`: draw (or read) a K-shot split of the dataset's training folder, embed
    its recordings with the frozen `teacher`, train a FewShotHead from the zero-shot
    classifier and write it to `out`. Returns (path, summary dict)."""
    from ezsr.models.teachers import logit_scale
    from ezsr.zeroshot.classifier import build_classifier
    from ezsr.zeroshot.evaluate import DATASETS, load_dataset

    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    if shots not in SHOTS and shots_file is None:
        log.warning("shots=%d: EventCLIP reports K in %s", shots, SHOTS)
    base = train_dir(root, dataset, split)
    ds = load_dataset(dataset, root, base.name, protocol, names)
    if shots_file is not None:
        sp = read_eventclip_split(shots_file, base, ds.folders)
    else:
        sp = draw_split(ds.samples, shots, seed)
    templates = templates or ("eventclip" if protocol == "eventclip" else "openai")
    proto = train_protocol(dataset, protocol, mode, int(getattr(teacher, "image_size", 224)))
    w = build_classifier(
        teacher, ds.classnames, templates, progress=None if progress else False
    ).float()
    feats = embed_recordings(
        teacher, sp.samples, proto, device=device, progress=progress, workers=workers
    )
    labels = [s.label for s in sp.samples]
    cfg = AdapterConfig(
        embed_dim=int(w.shape[0]),
        residual=RESIDUAL.get(dataset, 0.8) if residual is None else residual,
        scale=logit_scale(teacher),
        features=feature_kind(teacher, proto),
    )
    views = 1  # EZSR: one window; EventCLIP: max_imgs = min(its test views, 2) in training
    if proto.eventclip is not None:
        from ezsr.zeroshot.evaluate import EVENTCLIP_SETUPS

        views = min(TRAIN_VIEWS, EVENTCLIP_SETUPS[dataset].views)
    tc = TrainConfig.for_dataset(
        dataset,
        shots,
        len(set(labels)),
        lr=lr,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        views=views,
    )
    zs_acc = float(
        (predict(None, feats, w, cfg.scale).argmax(1) == torch.tensor(labels)).float().mean()
    )
    head, info = train_adapter(feats, labels, w, cfg, tc, device=device, progress=progress)
    fit_acc = float(
        (predict(head, feats, device=device).argmax(1) == torch.tensor(labels)).float().mean()
    )
    train = {
        "dataset": dataset,
        "shots": int(shots),
        "seed": int(seed),
        "protocol": protocol,
        "mode": proto.mode,
        "templates": templates if isinstance(templates, str) else "custom",
        "teacher": str(getattr(teacher, "name", "?")),
        "teacher_key": str(getattr(teacher, "cache_key", "") or ""),
        "lr": tc.lr,
        "epochs": tc.epochs,
        "batch_size": tc.batch_size,
        "views": tc.views,
        "split": sp.source,
        "n_train": len(sp.samples),
        "loss": info["loss"],
        "train_acc_zero_shot": zs_acc,
        "train_acc": fit_acc,
    }
    path = save_adapter(out, head.cpu(), ds.classnames, train, ds.folders)
    return path, train


# --------------------------------------------------------- using an adapter file
def resolve_classes(
    meta: dict[str, Any],
    given: Sequence[str] | None = None,
    path: str | Path = "",
    fix: str = "leave the class names out to use the adapter's",
) -> list[str]:
    """The class names of a run with an adapter: the adapter's, or the given ones when they
    are the same (ValueError naming the file and saying `fix` otherwise)."""
    names = list(meta["class_names"])
    if given:
        given = [str(g) for g in given]
        if given != names:
            raise ValueError(
                f"adapter {path}: trained on {len(names)} classes "
                f"({', '.join(names[:3])}{', ...' if len(names) > 3 else ''}); "
                f"the {len(given)} here ({', '.join(given[:3])}"
                f"{', ...' if len(given) > 3 else ''}) differ: {fix}"
            )
    return names


def warn_protocol(meta: dict[str, Any], protocol: str, path: str | Path = "") -> None:
    """Log a warning when the adapter was trained on other views than this run feeds it."""
    trained = meta.get("train", {}).get("protocol")
    if trained and trained != protocol:
        log.warning(
            "adapter %s was trained on %s views; this run feeds %s views", path, trained, protocol
        )


def apply_adapter(
    zs: ZeroShot, head: FewShotHead, meta: dict[str, Any], path: str | Path = ""
) -> ZeroShot:
    """A zero-shot classifier (ezsr.zeroshot.loader.ZeroShot) with the adapter: its encoder
    followed by the adapter (AdaptedEncoder, one view per input) under a zero-shot head on
    the adapted text classifier. The classifier's width must be the adapter's."""
    from dataclasses import replace

    from ezsr.zeroshot.graph import ImageClassifier, ZeroShotHead

    check_adapter(head, meta, int(zs.classifier.shape[0]), path=path)
    warn_protocol(meta, "ezsr", path)
    head = head.to("cpu").eval()
    module_enc = AdaptedEncoder(cast(nn.Module, zs.module.encoder), head)  # ImageClassifier's
    cls, scale = head.classifier().detach().float().contiguous(), float(head.cfg.scale)
    dev = zs.classifier.device
    module = ImageClassifier(module_enc, ZeroShotHead(cls, scale))
    try:
        module = module.to(next(zs.module.parameters()).device)
    except StopIteration:
        pass
    enc = AdaptedEncoder(zs.encoder, head).eval() if zs.encoder is not None else None
    return replace(
        zs,
        module=module.eval(),
        encoder=enc,
        classifier=cls.to(dev),
        scale=scale,
        class_names=list(meta["class_names"]),
    )


@torch.no_grad()
def classify_adapted(
    events: Events,
    teacher: Teacher,
    head: FewShotHead,
    meta: dict[str, Any],
    top: int = 5,
    window: int | None = None,
    start: int | None = None,
    mode: str = "crop",
    path: str | Path = "",
) -> Prediction:
    """`ezsr classify --adapter`: the EZSR window of one stream (as ezsr.zeroshot.classify)
    embedded by the teacher, through the adapter as a one-view recording; top-k class names
    of the adapter with softmax probabilities (ezsr.zeroshot.Prediction)."""
    from ezsr.ops import ezsr_preprocess
    from ezsr.zeroshot.classifier import Prediction, encode_frames, select_window

    check_adapter(head, meta, int(teacher.embed_dim), path=path)
    warn_protocol(meta, "ezsr", path)
    win = select_window(events, window, start) if window else select_window(events, start=start)
    x = ezsr_preprocess(win, out_size=int(getattr(teacher, "image_size", 224)), mode=mode)
    clip = getattr(teacher, "model", None)
    if head.cfg.features == "raw" and clip is not None and hasattr(clip, "encode_image"):
        # CLIP's raw features
        emb = clip.encode_image(x.to(next(clip.parameters()).device)).float()
    else:
        emb = encode_frames(teacher, x).float()
    dev = emb.device
    probs = head.to(dev).eval()(emb[:, None])[0].softmax(-1).cpu()
    names = list(meta["class_names"])
    p, i = probs.topk(min(top, len(names)))
    return Prediction([names[j] for j in i.tolist()], [float(v) for v in p])


def check_features(
    head: FewShotHead, teacher: Teacher, protocol: EvalProtocol, path: str | Path = ""
) -> None:
    """The features a run feeds the adapter must be the kind it was trained on (raw CLIP
    image features or unit embeddings; see feature_kind)."""
    kind = feature_kind(teacher, protocol)
    if kind != head.cfg.features:
        raise ValueError(
            f"adapter {path}: trained on {head.cfg.features} image features, "
            f"this run gives {kind} ones (use the protocol and features it was "
            "trained with)"
        )
