"""The distillation loop: student(events(image)) pulled onto teacher(image).

One optimiser step = `accum_steps` micro-batches on each of `world` ranks:
    DataLoader (workers decode + augment) -> uint8 [b,3,S,S] --non_blocking--> device
    EventSynthesis (simulate + represent, batched)  -> x [b,3,out,out]
    teacher.encode_image(images in [0,1]) or the memory-mapped cache -> t [b,D]   (no grad)
    student(x) under autocast -> s [b,D];  DistillationLoss(s, t) / accum_steps -> backward
    (DDP all-reduces on the last micro-step), clip, optimiser + LR schedule step
Global batch = optim.batch_size = b * accum_steps * world.

Components come from the config (ezsr.models.create_event_encoder / create_teacher,
ezsr.training.transform.EventSynthesis), or are passed in (tests, notebooks). A name with a ':' in
model.student / model.teacher / sim.path is imported as 'module:callable' and called with
the config section.
"""

from __future__ import annotations

import logging
import math
import os
import random
import shutil
import time
from contextlib import nullcontext
from datetime import timedelta
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from ezsr.models.student import ProjectedEncoder, save_student
from ezsr.models.teachers import logit_scale
from ezsr.training import checkpoint as ckpt
from ezsr.training.config import TrainConfig
from ezsr.training.data import ImageDataset, ResumableSampler, build_datasets
from ezsr.training.losses import DistillationLoss, normalize
from ezsr.training.transform import EventSynthesis, import_object

log = logging.getLogger("training")
PROCESS_GROUP_TIMEOUT_H = 4  # collective timeout (see _init_distributed)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def _seed(*parts: int) -> int:
    """A 31-bit seed mixed from integers (same on every machine and run)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0] >> 1)


def _bare(model: torch.nn.Module) -> torch.nn.Module:
    """The student under DDP and torch.compile wrappers."""
    model = getattr(model, "module", model)
    return getattr(model, "_orig_mod", model)


def _log_report(source: str, missing, unexpected) -> None:
    """The student-init load report: counts, then every key (INFO)."""
    log.info(
        "student initialised from %s: %d missing keys (kept their random init), %d "
        "unexpected keys (ignored)",
        source,
        len(missing),
        len(unexpected),
    )
    for k in missing:
        log.info("  missing: %s", k)
    for k in unexpected:
        log.info("  unexpected: %s", k)


def _same_architecture(student: str, teacher) -> bool:
    from ezsr.models import get_config

    model = getattr(teacher, "model", None)
    cfg = getattr(model, "cfg", None)
    if cfg is None or ":" in student:
        return False
    return (
        get_config(student)["vision"] == cfg["vision"]
        and get_config(student)["embed_dim"] == cfg["embed_dim"]
    )


def build_student(cfg: TrainConfig, teacher_dim: int, teacher=None) -> torch.nn.Module:
    """The student of model.student, initialised by model.student_init ("teacher": the
    teacher's image tower when the architectures match; "none"; or a CLIP checkpoint path),
    then model.student_pretrained (EZSR image tower, strict=False) over it. Logs the load
    report (missing / unexpected keys)."""
    m = cfg.model
    if ":" in m.student:
        student = import_object(m.student)(cfg)
    else:
        from ezsr.models import create_event_encoder

        init = m.student_init
        from_teacher = (
            init == "teacher" and teacher is not None and _same_architecture(m.student, teacher)
        )
        student = create_event_encoder(
            m.student, in_chans=3, init=None if init in ("teacher", "none") else init
        )
        for rep in student.load_reports:
            _log_report(f"{rep.path} ({rep.format})", rep.missing, rep.unexpected)
        if from_teacher:
            sd = {k: v.detach().cpu() for k, v in teacher.model.visual.state_dict().items()}
            res = student.visual.load_state_dict(sd, strict=False)
            _log_report(
                f"the teacher's image tower ({m.teacher}"
                f"{', ' + m.teacher_pretrained if m.teacher_pretrained else ''})",
                res.missing_keys,
                res.unexpected_keys,
            )
        if m.student_pretrained:  # an EZSR checkpoint over the init, strict=False
            from ezsr.models.checkpoints import load_into

            rep = load_into(student.visual, m.student_pretrained, strict=False, prefix="visual.")
            _log_report(f"{rep.path} ({rep.format})", rep.missing, rep.unexpected)
        if init == "teacher" and not from_teacher:
            log.warning(
                "model.student_init=teacher: the teacher %s has no image tower of "
                "the student's architecture %s, so the student starts from random "
                "weights (model.student_init=none says so explicitly)",
                m.teacher,
                m.student,
            )
    with torch.no_grad():
        was = student.training
        student.eval()
        d = student(torch.zeros(1, 3, cfg.sim.out_size, cfg.sim.out_size)).shape[-1]
        student.train(was)
    if d != teacher_dim:
        log.info("student width %d != teacher width %d: adding a linear projection", d, teacher_dim)
        student = ProjectedEncoder(student, d, teacher_dim)
    return student


def preflight(cfg: TrainConfig, teacher: bool = True, student: bool = True) -> None:
    """Checks of the config's files before any data is read or model built: each failure is
    one line naming the config key and what was expected (the checkpoints' tensor shapes are
    read, not their data)."""
    from ezsr.models.factory import check_checkpoint

    m = cfg.model
    clip_teacher = ":" not in m.teacher and m.teacher != "offline"
    if not teacher:
        pass
    elif m.teacher_pretrained:
        if not clip_teacher:
            raise ValueError(
                f"config: model.teacher_pretrained is set but model.teacher="
                f"{m.teacher} takes no checkpoint (expected a CLIP model name)"
            )
        check_checkpoint(m.teacher_pretrained, m.teacher, "model.teacher_pretrained")
    elif clip_teacher:
        log.warning(
            "model.teacher=%s without model.teacher_pretrained: the teacher has RANDOM "
            "weights (give its CLIP checkpoint for a real run)",
            m.teacher,
        )
    if ":" in m.student or not student:
        return
    if m.student_init not in ("teacher", "none"):
        check_checkpoint(m.student_init, m.student, "model.student_init", part="visual")
    if m.student_pretrained:
        check_checkpoint(
            m.student_pretrained, m.student, "model.student_pretrained", part="visual", strict=False
        )


def build_teacher(cfg: TrainConfig):
    m = cfg.model
    if ":" in m.teacher:
        return import_object(m.teacher)(cfg)
    from ezsr.models import create_teacher

    device = cfg.run.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and "LOCAL_RANK" in os.environ:
        device = f"cuda:{os.environ['LOCAL_RANK']}"
    return create_teacher(m.teacher, pretrained=m.teacher_pretrained or None, device=device)


def build_classifier(teacher, classnames, templates: str) -> torch.Tensor:
    """[D, K] zero-shot text classifier of the teacher (ezsr.zeroshot.build_classifier):
    templates "simple" (`a photo of a {}.`) or "imagenet" (the 80 OpenAI ImageNet prompts)."""
    from ezsr import zeroshot

    tpl = "openai" if templates == "imagenet" else "simple"  # ezsr.zeroshot's set names
    return zeroshot.build_classifier(teacher, list(classnames), tpl).float()


def lr_factor(step: int, o, total_steps: int) -> float:
    """Linear warmup over optim.warmup_steps, then constant or cosine to min_lr_ratio."""
    if o.warmup_steps and step < o.warmup_steps:
        return (step + 1) / o.warmup_steps
    if o.schedule == "constant":
        return 1.0
    total = max(1, total_steps - o.warmup_steps)
    prog = min(1.0, (step - o.warmup_steps) / total)
    return o.min_lr_ratio + (1 - o.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * prog))


def _blocks(model: torch.nn.Module) -> list:
    """The transformer blocks of a student (ViT and EVA towers; none for custom modules)."""
    from ezsr.models.transformer import EVABlock, ResidualAttentionBlock

    return [m for m in model.modules() if isinstance(m, (ResidualAttentionBlock, EVABlock))]


def checkpoint_blocks(model: torch.nn.Module) -> int:
    """Activation checkpointing: each transformer block's forward runs under
    torch.utils.checkpoint (non-reentrant), so its activations are recomputed in the backward
    pass instead of kept. Parameter names are unchanged. Returns the number of blocks."""
    from torch.utils.checkpoint import checkpoint

    blocks = _blocks(model)
    for blk in blocks:
        inner = blk.forward

        def forward(*args, _inner=inner, **kw):
            if torch.is_grad_enabled():
                return checkpoint(_inner, *args, use_reentrant=False, **kw)
            return _inner(*args, **kw)

        blk.forward = forward
    return len(blocks)


def shard_fsdp(model: torch.nn.Module) -> None:
    """torch FSDP2: fully_shard every transformer block, then the whole student (the rest:
    patch embedding, norms, head). Parameters become DTensors sharded over the ranks;
    each block is all-gathered for its forward and backward only."""
    from torch.distributed.fsdp import fully_shard

    for blk in _blocks(model):
        fully_shard(blk)
    fully_shard(model)


def _state_options():
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, cpu_offload=True)


class Trainer:
    """Build with a TrainConfig (and optionally ready components); call fit()."""

    def __init__(
        self,
        cfg: TrainConfig,
        student=None,
        teacher=None,
        transform=None,
        train_set: Optional[ImageDataset] = None,
        eval_set: Optional[ImageDataset] = None,
        resume: Optional[str] = None,
    ):
        self.cfg = cfg.validate()
        r = cfg.run
        self._init_distributed(r)
        try:
            self._setup(cfg, student, teacher, transform, train_set, eval_set, resume)
        except BaseException:
            self.close()  # a failed setup leaves no process group behind
            raise

    def _setup(self, cfg, student, teacher, transform, train_set, eval_set, resume) -> None:
        """Everything after the process group: data, models, optimiser, resume."""
        r = cfg.run
        self.out = Path(r.out_dir)
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
        self._claim_out_dir(r, resume)
        self.precision = (
            r.precision
            if r.precision != "auto"
            else ("bf16" if self.device.type == "cuda" else "fp32")
        )
        if r.threads and self.device.type == "cpu":
            torch.set_num_threads(r.threads)
        torch.manual_seed(_seed(r.seed, self.rank))
        np.random.seed(_seed(r.seed, self.rank, 1))
        random.seed(_seed(r.seed, self.rank, 2))

        preflight(cfg, teacher=teacher is None, student=student is None)
        # data
        if train_set is None:
            train_set, built_eval = build_datasets(cfg.data, r.seed)
            eval_set = eval_set if eval_set is not None else built_eval
        self.train_set, self.eval_set = train_set, eval_set
        o = cfg.optim
        per_step = self.world * o.accum_steps
        if o.batch_size % per_step:
            raise ValueError(
                f"config: optim.batch_size={o.batch_size} must be divisible by "
                f"world size x accum_steps = {self.world} x {o.accum_steps}"
            )
        self.micro = o.batch_size // per_step
        self.sampler = ResumableSampler(train_set, self.world, self.rank, seed=r.seed)
        self.per_epoch = self.sampler.num_samples // self.micro
        if self.per_epoch < 1:
            raise ValueError(
                f"data: {len(train_set)} samples give no full micro-batch of "
                f"{self.micro} per rank (raise data.repeats or lower batch_size)"
            )
        w = cfg.data.workers
        self.loader = DataLoader(
            train_set,
            batch_size=self.micro,
            sampler=self.sampler,
            num_workers=w,
            drop_last=True,
            persistent_workers=w > 0,
            pin_memory=self.device.type == "cuda",
            prefetch_factor=4 if w > 0 else None,
            # its own generator: iter(loader) draws a base seed, which must
            # not shift the global RNG (dropout) when a resumed run starts
            # iterating mid-epoch
            generator=torch.Generator().manual_seed(r.seed),
        )

        # models
        self.teacher = teacher if teacher is not None else build_teacher(cfg)
        if isinstance(self.teacher, torch.nn.Module):
            self.teacher.eval().requires_grad_(False).to(self.device)
        elif hasattr(self.teacher, "to"):  # a teacher wrapper object that moves itself
            self.teacher = self.teacher.to(self.device) or self.teacher
        self.embed_dim = int(self.teacher.embed_dim)
        # student.pt (ezsr.models.student) only for students the config names
        self._writes_student_file = student is None and ":" not in cfg.model.student
        student = (
            student if student is not None else build_student(cfg, self.embed_dim, self.teacher)
        )
        self.student = student.to(self.device)
        self.transform = transform if transform is not None else EventSynthesis.from_config(cfg.sim)
        self.cache = None
        if cfg.model.teacher_cache:
            from ezsr.training import teacher_cache

            if self.is_main:
                self.cache = teacher_cache.build_or_load(cfg, self.teacher, train_set, self.device)
            self._barrier()
            if not self.is_main:
                self.cache = teacher_cache.build_or_load(cfg, self.teacher, train_set, self.device)

        self.classnames = list(getattr(train_set, "classnames", []) or [])
        classifier = None
        if self.classnames and (cfg.loss.text_weight > 0 or self.eval_set is not None):
            classifier = build_classifier(
                self.teacher, self.classnames, cfg.loss.text_templates
            ).to(self.device)
        self.classifier = classifier
        scale = logit_scale(self.teacher)  # the teacher's CLIP model's, 100 without one
        self.logit_scale = scale
        self.loss_fn = DistillationLoss.from_config(
            cfg.loss, classifier if cfg.loss.text_weight > 0 else None, scale
        ).to(self.device)

        self.strategy = r.strategy if self.world > 1 else "single"
        if r.strategy == "fsdp" and self.world == 1:
            log.info("run.strategy=fsdp in one process: nothing to shard, plain training")
        if r.activation_checkpointing:
            n = checkpoint_blocks(self.student)
            log.info(
                "activation checkpointing: %d transformer blocks recompute their "
                "activations in the backward pass",
                n,
            )
        if self.strategy == "fsdp":  # shard before the optimiser sees the parameters
            with torch.no_grad():  # rank 0's initialisation everywhere, as DDP does
                for t in [*self.student.parameters(), *self.student.buffers()]:
                    dist.broadcast(t.data, 0)
            shard_fsdp(self.student)
        params = [p for p in self.student.parameters() if p.requires_grad]
        decay = [p for p in params if p.ndim >= 2]
        no_decay = [p for p in params if p.ndim < 2]
        self.optimizer = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": o.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=o.lr,
            betas=tuple(o.betas),
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(s, o, r.steps)
        )
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")
        self.model = self.student
        if cfg.model.compile:
            self.model = torch.compile(self.model)
        if self.strategy == "ddp":
            from torch.nn.parallel import DistributedDataParallel as DDP

            self.model = DDP(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        self.step, self.last_ckpt = 0, None
        if resume:
            self.load(resume)

    # ------------------------------------------------------------------ setup
    def _init_distributed(self, r) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        want = r.device
        if want == "auto":
            want = "cuda" if torch.cuda.is_available() else "cpu"
        if want == "cuda":  # an index always: torch.cuda.set_device rejects a bare "cuda"
            want = f"cuda:{local}"
        elif want.startswith("cuda:") and self.world > 1:
            raise ValueError(
                f"run.device={r.device}: under torchrun each rank takes the GPU of "
                "its LOCAL_RANK; use run.device=cuda (or auto) and pick GPUs with "
                "CUDA_VISIBLE_DEVICES"
            )
        try:
            self.device = torch.device(want)
        except RuntimeError as exc:
            raise ValueError(f"run.device={r.device}: not a torch device ({exc})") from None
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"run.device={r.device}: CUDA is not available (torch "
                f"{torch.__version__}); use run.device=cpu"
            )
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        self._owns_process_group = self.world > 1 and not dist.is_initialized()
        if self._owns_process_group:
            # ranks > 0 wait in a barrier while rank 0 builds the teacher cache, which takes
            # far longer than the default 10 minutes on ImageNet-sized sets
            dist.init_process_group(
                "nccl" if self.device.type == "cuda" else "gloo",
                timeout=timedelta(hours=PROCESS_GROUP_TIMEOUT_H),
            )
        self.is_main = self.rank == 0

    def _claim_out_dir(self, r, resume) -> None:
        """A new run (no --resume) must not mix with an earlier run's checkpoints and log in
        run.out_dir: refuse, unless run.overwrite=true, which deletes them. Rank 0 decides
        for every rank (its file system is the one checkpoints go to)."""
        if resume and r.overwrite:
            raise ValueError(
                "run.overwrite=true and --resume contradict each other: --resume "
                "continues the run in run.out_dir, run.overwrite=true replaces it"
            )
        old = (
            []
            if resume or not self.is_main
            else sorted(
                [
                    *self.out.glob("step_*.pt"),
                    *self.out.glob("last.pt"),
                    *self.out.glob("log.csv"),
                    *self.out.glob("student.pt"),
                    *self.out.glob("tb"),
                ]
            )
        )
        found = torch.tensor([len(old)], device=self.device)
        if self.world > 1:
            dist.broadcast(found, 0)
        if not int(found):
            return
        if not r.overwrite:
            names = (
                ", ".join(p.name for p in old[:4]) + (", ..." if len(old) > 4 else "")
                if old
                else f"{int(found)} files"
            )
            raise ValueError(
                f"run.out_dir={self.out} already holds a run ({names}); continue "
                f"it with --resume, start a new one elsewhere with "
                f"run.out_dir=..., or replace it with run.overwrite=true"
            )
        for p in old:
            if p.is_dir():  # tb/: the earlier run's TensorBoard events
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
        log.warning(
            "run.overwrite=true: removed %d files of the earlier run in %s", len(old), self.out
        )

    def close(self) -> None:
        """Destroy the process group this trainer created (DDP runs). Without it, the
        communication threads can outlive the interpreter's shutdown and abort the process
        after a finished run."""
        if getattr(self, "_owns_process_group", False) and dist.is_initialized():
            dist.destroy_process_group()
            self._owns_process_group = False

    def _barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def _autocast(self):
        if self.precision in ("bf16", "fp16"):
            dt = torch.bfloat16 if self.precision == "bf16" else torch.float16
            return torch.autocast(self.device.type, dtype=dt)
        return nullcontext()

    # ------------------------------------------------------------- checkpoint
    def state(self) -> dict:
        """The checkpoint dict. Model and optimiser state are full (unsharded) and keyed by
        parameter name (torch.distributed.checkpoint.state_dict helpers), so a checkpoint
        resumes under either run.strategy and any number of ranks. Every rank must call it
        (collectives); the tensors are on rank 0's CPU only."""
        from torch.distributed.checkpoint.state_dict import (
            get_model_state_dict,
            get_optimizer_state_dict,
        )

        bare = _bare(self.model)
        model_sd = get_model_state_dict(bare, options=_state_options())
        optim_sd = get_optimizer_state_dict(bare, self.optimizer, options=_state_options())
        rng = ckpt.rng_state()
        rngs = [None] * self.world
        if self.world > 1:
            dist.all_gather_object(rngs, rng)
        else:
            rngs = [rng]
        consumed = self.step * self.cfg.optim.accum_steps
        return {
            "format": ckpt.FORMAT,
            "step": self.step,
            "epoch": consumed // self.per_epoch,
            "batch_in_epoch": consumed % self.per_epoch,
            "model": model_sd,
            "optimizer": optim_sd,
            "optimizer_keys": "names",
            "strategy": self.strategy,
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rngs,
            "config": self.cfg.to_dict(),
            "world_size": self.world,
            "student": self.cfg.model.student,
            "embed_dim": self.embed_dim,
        }

    def save(self) -> Optional[Path]:
        state = self.state()  # every rank joins the RNG gather
        path = None
        if self.is_main:
            path = ckpt.save_atomic(state, self.out / f"step_{self.step:08d}.pt")
            ckpt.link_atomic(path, self.out / "last.pt")
            if self._writes_student_file:  # what inference needs, readable without training/
                m, s = self.cfg.model, self.cfg.sim
                save_student(
                    self.out / "student.pt",
                    _bare(self.student),
                    student=m.student,
                    state_dict=state["model"],
                    embed_dim=self.embed_dim,
                    input_size=s.out_size,
                    input_mode=s.mode,
                    teacher=m.teacher,
                    teacher_pretrained=m.teacher_pretrained,
                    step=self.step,
                )
            ckpt.prune(self.out, self.cfg.run.keep_ckpts)
            self.last_ckpt = self.out / "last.pt"
        self._barrier()
        return path

    def load(self, path: str) -> None:
        from torch.distributed.checkpoint.state_dict import (
            set_model_state_dict,
            set_optimizer_state_dict,
        )

        ck = ckpt.load(path)
        bare = _bare(self.model)
        opts = _state_options()
        set_model_state_dict(bare, ck["model"], options=opts)
        if ck.get("optimizer_keys") == "names":
            set_optimizer_state_dict(bare, self.optimizer, ck["optimizer"], options=opts)
        else:  # an older checkpoint: torch's own optimizer.state_dict(), parameter indices
            self.optimizer.load_state_dict(ck["optimizer"])
        self.scheduler.load_state_dict(ck["scheduler"])
        self.scaler.load_state_dict(ck["scaler"])
        self.step = int(ck["step"])
        if ck["world_size"] == self.world:
            ckpt.set_rng_state(ck["rng"][self.rank])
        else:
            log.warning(
                "resuming a %d-rank checkpoint on %d ranks: RNG states are not restored",
                ck["world_size"],
                self.world,
            )
        self.last_ckpt = Path(path)
        if self.is_main:
            log.info("resumed from %s at step %d", path, self.step)
            if self.step >= self.cfg.run.steps:
                log.warning(
                    "the checkpoint is at step %d >= run.steps=%d: nothing to train "
                    "(raise run.steps to continue)",
                    self.step,
                    self.cfg.run.steps,
                )

    # ---------------------------------------------------------------- batches
    def _batches(self):
        """Micro-batches from the current data position on, across epochs."""
        consumed = self.step * self.cfg.optim.accum_steps
        epoch, within = divmod(consumed, self.per_epoch)
        while True:
            self.sampler.set_epoch(epoch)
            self.sampler.skip = within * self.micro
            for b in self.loader:
                yield b
            epoch, within = epoch + 1, 0

    def teacher_embed(self, images: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """[b, D] float32 L2-normalised teacher embeddings of uint8 images (or from the cache)."""
        if self.cache is not None:
            e = torch.from_numpy(np.asarray(self.cache[index.numpy()], dtype=np.float32))
            return e.to(self.device, non_blocking=True)
        with torch.no_grad(), self._autocast():
            return self.teacher.encode_image(images.float().div(255.0)).float()

    def _global_teacher(self, t: torch.Tensor):
        """(teacher rows of the global batch, this rank's first row) for InfoNCE under DDP."""
        if self.world == 1 or self.cfg.loss.global_kind != "infonce":
            return None, 0
        rows = [torch.empty_like(t) for _ in range(self.world)]
        dist.all_gather(rows, t.contiguous())
        return torch.cat(rows), self.rank * t.shape[0]

    # ------------------------------------------------------------------- loop
    def train_step(self, micro_batches: list) -> dict:
        """One optimiser step on `accum_steps` micro-batches (images, labels, index) from the
        DataLoader. Returns the step's mean loss terms (device scalars). Raises
        TrainingDiverged before the optimiser step when the loss is not finite."""
        r, o = self.cfg.run, self.cfg.optim
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        sums: dict = {}
        n = len(micro_batches)
        for micro, (images, labels, index) in enumerate(micro_batches):
            images = images.to(self.device, non_blocking=True)
            labels = labels.to(self.device, non_blocking=True)
            x = self.transform(images, _seed(r.seed, self.step, micro, self.rank))
            t = self.teacher_embed(images, index)
            t_all, offset = self._global_teacher(t)
            sync = self.world > 1 and micro < n - 1
            if self.strategy == "fsdp":  # reduce-scatter gradients on the last micro-step only
                self.model.set_requires_gradient_sync(micro == n - 1)
            with self.model.no_sync() if sync and self.strategy == "ddp" else nullcontext():
                with self._autocast():
                    s = self.model(x)
                loss, terms = self.loss_fn(s.float(), t, labels, t_all, offset)
                self.scaler.scale(loss / n).backward()
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v.detach() / n
            sums["loss"] = sums.get("loss", 0.0) + loss.detach() / n
        if r.nan_check_every and self.step % r.nan_check_every == 0:
            v = float(sums["loss"])
            if not math.isfinite(v):
                raise TrainingDiverged(
                    f"loss is {v} at step {self.step + 1}; stopped before the optimiser step. "
                    f"Last good checkpoint: {self.last_ckpt or 'none (no checkpoint written yet)'}"
                )
        self.scaler.unscale_(self.optimizer)
        if o.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.student.parameters(), o.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.step += 1
        return sums

    def fit(self, stop_after: Optional[int] = None) -> dict:
        """Train to run.steps (or stop after `stop_after` steps, like a killed run, writing
        nothing more). Returns the final metrics."""
        r, o = self.cfg.run, self.cfg.optim
        if self.step >= r.steps:  # a resumed run that is already done: touch nothing
            return {}
        from ezsr.training.logs import Logger

        logger = Logger(
            self.out,
            enabled=self.is_main,
            tensorboard=r.tensorboard,
            progress=r.progress,
            total=r.steps,
            start_step=self.step,
        )
        batches = self._batches()
        self.model.train()
        metrics: dict = {}
        t_last, wait, n_seen, done = time.perf_counter(), 0.0, 0, 0
        first_loss = None
        try:
            while self.step < r.steps:
                if stop_after is not None and done >= stop_after:
                    return metrics
                t0 = time.perf_counter()
                micro_batches = [next(batches) for _ in range(o.accum_steps)]
                wait += time.perf_counter() - t0
                sums = self.train_step(micro_batches)
                done += 1
                logger.tick()
                n_seen += o.batch_size
                if first_loss is None:
                    first_loss = float(sums["loss"])
                if self.step % r.log_every == 0 or self.step == r.steps:
                    row = {k: float(v) for k, v in sums.items()}  # waits for the device
                    now = time.perf_counter()
                    row.update(
                        lr=self.scheduler.get_last_lr()[0],
                        samples_per_s=n_seen / max(now - t_last, 1e-9),
                        data_wait=wait / max(now - t_last, 1e-9),
                    )
                    logger.log(self.step, row)
                    metrics.update(row)
                    t_last, wait, n_seen = now, 0.0, 0
                if r.ckpt_every and self.step % r.ckpt_every == 0 and self.step < r.steps:
                    self.save()
                if r.eval_every and self.step % r.eval_every == 0 and self.step < r.steps:
                    metrics.update(self._eval_logged(logger))
            self.save()
            metrics.update(self._eval_logged(logger))
            metrics["first_loss"] = first_loss
            return metrics
        finally:
            logger.close()

    def _eval_logged(self, logger) -> dict:
        # a sharded student runs its forward on every rank (collectives); rank 0 logs
        out = self.evaluate() if self.is_main or self.strategy == "fsdp" else {}
        if out and self.is_main:
            logger.log(self.step, out)
        self._barrier()
        self.model.train()
        return out

    # ------------------------------------------------------------- evaluation
    def _evaluate_real(self) -> dict:
        """Zero-shot top-1/top-5 on real recordings (run.eval_real), see training/real_eval.py."""
        from ezsr.training import real_eval

        r = self.cfg.run
        if not hasattr(self, "_real"):
            files, labels, names = real_eval.scan(
                r.eval_real, r.eval_real_max, r.eval_real_classnames
            )
            clf = build_classifier(self.teacher, names, self.cfg.loss.text_templates)
            self._real = (files, labels, clf.to(self.device))
        files, labels, clf = self._real
        return real_eval.evaluate_real(
            _bare(self.student),
            clf,
            files,
            labels,
            self.device,
            self.cfg.sim.out_size,
            r.eval_real_mode,
            autocast=self._autocast,
        )

    @torch.no_grad()
    def evaluate(self) -> dict:
        """Zero-shot top-1 on the held-out synthetic set: events synthesised (fixed seed) from
        held-out crops, classified by the teacher's text classifier. Also the teacher's own
        zero-shot top-1 on the RGB crops (the ceiling) and the mean student-teacher cosine."""
        out = self._evaluate_real() if self.cfg.run.eval_real else {}
        if self.eval_set is None or self.classifier is None:
            return out
        r = self.cfg.run
        if not hasattr(self, "_eval_data"):
            imgs, labels = self.eval_set.load_fixed(r.eval_samples, seed=_seed(r.seed, 777))
            with self._autocast():  # held-out crops are never in the cache: embed them live
                t = torch.cat(
                    [
                        self.teacher.encode_image(
                            imgs[i : i + 64].to(self.device).float() / 255
                        ).float()
                        for i in range(0, len(imgs), 64)
                    ]
                )
            self._eval_data = (imgs, labels.to(self.device), normalize(t))
        imgs, labels, t = self._eval_data
        student = _bare(self.student).eval()
        embs = []
        for k, i in enumerate(range(0, len(imgs), self.micro)):
            x = self.transform(imgs[i : i + self.micro].to(self.device), _seed(r.seed, 999, k))
            with self._autocast():
                embs.append(student(x).float())
        s = normalize(torch.cat(embs))
        pred = (s @ self.classifier).argmax(1)
        tpred = (t @ self.classifier).argmax(1)
        return {
            **out,
            "eval_top1": float((pred == labels).float().mean()),
            "eval_teacher_top1": float((tpred == labels).float().mean()),
            "eval_cos": float((s * t).sum(1).mean()),
            "eval_chance": 1.0 / self.classifier.shape[1],
        }
