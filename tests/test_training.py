"""The trainer: losses against hand-computed values, config parsing, one step
lowering the loss, exact resume, NaN stop, teacher cache, and DDP (2 gloo ranks) == 1 rank."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # train_standins

import train_standins as sti  # noqa: E402
from conftest import torchrun_training

from ezsr.training import losses  # noqa: E402
from ezsr.training.config import TrainConfig, make_config, parse_overrides  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- losses
def test_cosine_loss_hand_computed():
    s = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    t = torch.tensor([[3.0, 0.0], [1.0, 1.0]])
    # cos = 1 and 1/sqrt(2): mean(1 - cos) = (0 + 1 - 0.70710678) / 2
    assert losses.cosine_loss(s, t).item() == pytest.approx(0.14644661, abs=1e-7)


def test_scalar_loss_hand_computed():
    s, t = torch.tensor([[3.0, 4.0]]), torch.tensor([[4.0, 3.0]])
    # s_n = (.6, .8), t_n = (.8, .6): per-dimension difference +-0.2
    assert losses.scalar_loss(s, t, "l1", scale=1.0).item() == pytest.approx(0.2, abs=1e-7)
    assert losses.scalar_loss(s, t, "l2", scale=1.0).item() == pytest.approx(0.04, abs=1e-7)
    # default scale sqrt(D) = sqrt(2)
    assert losses.scalar_loss(s, t, "l1").item() == pytest.approx(0.2 * math.sqrt(2), abs=1e-6)
    assert losses.scalar_loss(s, t, "l2").item() == pytest.approx(0.08, abs=1e-7)


def test_infonce_hand_computed_and_offset():
    eye = torch.eye(2)
    # logits [[1,0],[0,1]] at tau=1: CE = log(1 + e^-1)
    want = math.log(1 + math.exp(-1))
    assert losses.infonce_loss(eye, eye, temperature=1.0).item() == pytest.approx(want, abs=1e-6)
    # one rank holding row 1 of the global batch: same value
    got = losses.infonce_loss(eye[1:], eye, offset=1, temperature=1.0).item()
    assert got == pytest.approx(want, abs=1e-6)


def test_text_loss_ignores_unlabelled_rows():
    s = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    w = torch.eye(2)  # [D, K]
    # row 0, label 1, logit_scale 1: logits (1, 0) -> CE = log(1 + e) - 0
    got = losses.text_loss(s, w, torch.tensor([1, -1]), logit_scale=1.0).item()
    assert got == pytest.approx(math.log(1 + math.e), abs=1e-6)
    assert losses.text_loss(s, w, torch.tensor([-1, -1])).item() == 0.0


def test_distillation_loss_combines_weighted_terms():
    s, t = torch.tensor([[3.0, 4.0]]), torch.tensor([[4.0, 3.0]])
    fn = losses.DistillationLoss("cosine", 2.0, "l2", 0.5, scalar_scale=1.0)
    total, terms = fn(s, t)
    cos = 0.6 * 0.8 * 2  # 0.96
    assert terms["global"].item() == pytest.approx(1 - cos, abs=1e-6)
    assert total.item() == pytest.approx(2.0 * (1 - cos) + 0.5 * 0.04, abs=1e-6)
    plain = losses.DistillationLoss("cosine", 1.0, "l1", 0.0)  # ablation: global term only
    total, terms = plain(s, t)
    assert "scalar" not in terms and total.item() == pytest.approx(1 - cos, abs=1e-6)
    with pytest.raises(ValueError, match="embed_dim"):
        plain(s, torch.zeros(1, 3))


# ----------------------------------------------------------------------------- config
def test_config_files_and_overrides(tmp_path):
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"optim": {"lr": 0.1, "batch_size": 8}, "run": {"steps": 3}}))
    y = tmp_path / "c.yaml"
    y.write_text("loss:\n  scalar_weight: 0.25\nsim:\n  sensor: [32, 48]\n")
    cfg = make_config(
        [str(f), str(y)], ["optim.lr=3e-4", "run.progress=false", "data.scale=0.5,1.0"]
    )
    assert cfg.optim.lr == 3e-4 and cfg.optim.batch_size == 8 and cfg.run.steps == 3
    assert cfg.loss.scalar_weight == 0.25 and cfg.sim.sensor == (32, 48)
    assert cfg.run.progress is False and cfg.data.scale == (0.5, 1.0)
    assert parse_overrides(["a.b=1"]) == {"a": {"b": 1}}
    with pytest.raises(ValueError, match="unknown key 'optim.lrr'"):
        make_config([], ["optim.lrr=1"])
    with pytest.raises(ValueError, match="optim.batch_size expects a int"):
        make_config([], ["optim.batch_size=abc"])
    with pytest.raises(ValueError, match="loss.global_kind"):
        make_config([], ["loss.global_kind=dot"])
    with pytest.raises(ValueError, match="teacher_cache needs data.fixed_crops"):
        make_config([], ["model.teacher_cache=/tmp/x"])
    with pytest.raises(ValueError, match="run.threads must be >= 0"):
        make_config([], ["run.threads=-1"])


# ----------------------------------------------------------------------------- trainer
# image_root: tests/conftest.py


def tiny_cfg(root, out, *extra) -> TrainConfig:
    return make_config(
        [],
        [
            f"data.root={root}",
            "data.image_size=16",
            "data.workers=0",
            "data.repeats=2",
            "sim.out_size=16",
            f"run.out_dir={out}",
            "optim.batch_size=4",
            "optim.warmup_steps=2",
            "optim.lr=1e-2",
            "run.progress=false",
            "run.tensorboard=false",
            "run.eval_samples=8",
            "run.log_every=1",
            *extra,
        ],
    )


def make_trainer(cfg, transform=sti.seeded_transform, teacher=None, resume=None):
    from ezsr.training.trainer import Trainer

    return Trainer(
        cfg,
        student=sti.TinyStudent(),
        teacher=teacher or sti.TinyTeacher(),
        transform=transform,
        resume=resume,
    )


def test_one_step_changes_parameters_and_lowers_loss(image_root, tmp_path):
    tr = make_trainer(tiny_cfg(image_root, tmp_path, "optim.warmup_steps=0", "optim.lr=3e-2"))
    batch = next(iter(tr.loader))

    def loss_on_batch():
        tr.student.eval()
        with torch.no_grad():
            x = tr.transform(batch[0], 5)
            return tr.loss_fn(tr.student(x), tr.teacher_embed(batch[0], batch[2]))[0].item()

    before_params = [p.detach().clone() for p in tr.student.parameters()]
    before = loss_on_batch()
    tr.train_step([batch])
    assert tr.step == 1
    assert all(not torch.equal(a, b) for a, b in zip(before_params, tr.student.parameters()))
    assert loss_on_batch() < before


def test_resume_is_bit_identical(image_root, tmp_path):
    # 16 samples a epoch, micro-batch 2: the step-3 checkpoint sits mid-epoch (6 of 8 batches)
    extra = ("run.steps=6", "run.ckpt_every=3", "optim.accum_steps=2")
    full = make_trainer(tiny_cfg(image_root, tmp_path / "full", *extra))
    full.fit()
    # "killed" after step 5: steps 4-5 are lost, the last checkpoint is step 3
    part = make_trainer(tiny_cfg(image_root, tmp_path / "part", *extra))
    part.fit(stop_after=5)
    assert sorted(p.name for p in (tmp_path / "part").glob("step_*.pt"))[-1] == "step_00000003.pt"
    del part
    torch.manual_seed(999)  # a fresh process would start from other RNG states
    res = make_trainer(
        tiny_cfg(image_root, tmp_path / "part", *extra), resume=str(tmp_path / "part" / "last.pt")
    )
    assert res.step == 3
    res.fit()
    a, b = full.student.state_dict(), res.student.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    oa, ob = full.optimizer.state_dict()["state"], res.optimizer.state_dict()["state"]
    assert all(torch.equal(oa[i]["exp_avg_sq"], ob[i]["exp_avg_sq"]) for i in oa)
    rows = (tmp_path / "part" / "log.csv").read_text().splitlines()
    assert rows[0].startswith("step,") and [r.split(",")[0] for r in rows[1:9]] == list("12345456")


def test_nan_loss_stops_naming_step_and_checkpoint(image_root, tmp_path):
    from ezsr.training.trainer import TrainingDiverged

    cfg = tiny_cfg(image_root, tmp_path, "run.steps=5", "run.ckpt_every=2")
    tr = make_trainer(cfg, teacher=sti.TinyTeacher(nan_after=2))  # 3rd teacher call is NaN
    with pytest.raises(TrainingDiverged, match=r"at step 3;.*last.pt"):
        tr.fit()
    assert tr.step == 2 and (tmp_path / "last.pt").exists()


def test_eval_reports_zero_shot_top1(image_root, tmp_path):
    cfg = tiny_cfg(image_root, tmp_path, "run.steps=2", "data.val_fraction=0.5")
    tr = make_trainer(cfg)
    assert tr.classnames == ["blue thing", "red thing"] and len(tr.eval_set.files) == 4
    m = tr.fit()
    assert 0.0 <= m["eval_top1"] <= 1.0 and m["eval_chance"] == 0.5
    assert m["eval_teacher_top1"] >= 0.0 and -1.0 <= m["eval_cos"] <= 1.0


def test_teacher_cache_matches_teacher_and_rejects_mismatch(image_root, tmp_path):
    from ezsr.training import teacher_cache
    from ezsr.training.data import build_datasets

    cfg = tiny_cfg(
        image_root, tmp_path, "data.fixed_crops=true", f"model.teacher_cache={tmp_path / 'cache'}"
    )
    ds, _ = build_datasets(cfg.data, 0)
    teacher = sti.TinyTeacher()
    emb = teacher_cache.build_or_load(cfg, teacher, ds, "cpu", batch_size=3, log=lambda m: None)
    assert isinstance(emb, np.memmap) and emb.shape == (8, sti.DIM)
    imgs = torch.stack([ds[i][0] for i in range(8)]).float() / 255
    want = teacher.encode_image(imgs).numpy()
    np.testing.assert_allclose(np.asarray(emb, np.float32), want, atol=2e-3)
    cfg.data.image_size = 20
    with pytest.raises(ValueError, match="another teacher, crop size or file list"):
        teacher_cache.build_or_load(cfg, teacher, ds, "cpu")


def test_sampler_shards_and_skips():
    from ezsr.training.data import ResumableSampler

    ds = list(range(10))
    a = ResumableSampler(ds, 2, 0, seed=3)
    b = ResumableSampler(ds, 2, 1, seed=3)
    one = ResumableSampler(ds, 1, 0, seed=3)
    full = [i for i, _ in one]
    assert [i for i, _ in a] == full[0::2] and [i for i, _ in b] == full[1::2]
    a.skip = 3
    assert [i for i, _ in a] == full[0::2][3:] and len(a) == 2


def test_cli_print_config_and_ezsr_train_help(capsys):
    from ezsr.cli import main as ezsr_main
    from ezsr.training.cli import main

    assert main(["--print-config", "optim.lr=0.5"]) == 0
    assert json.loads(capsys.readouterr().out)["optim"]["lr"] == 0.5
    with pytest.raises(SystemExit):
        ezsr_main(["train", "--help"])
    assert "key=value" in capsys.readouterr().out
    assert main(["optim.nope=1"]) == 1
    assert "unknown key 'optim.nope'" in capsys.readouterr().err


# ----------------------------------------------------------------------------- DDP
def test_ddp_two_gloo_ranks_equal_one_process(image_root, tmp_path):
    args = [
        f"data.root={image_root}",
        "data.image_size=16",
        "data.workers=0",
        "data.repeats=2",
        "sim.out_size=16",
        "optim.batch_size=4",
        "optim.warmup_steps=0",
        "optim.lr=1e-2",
        "run.steps=3",
        "run.progress=false",
        "run.tensorboard=false",
        "run.device=cpu",
        "model.student=train_standins:student",
        "model.teacher=train_standins:teacher",
        "sim.path=train_standins:plain",
        "run.eval_samples=4",
    ]
    torchrun_training([*args, f"run.out_dir={tmp_path / 'ddp'}"], timeout=240)
    from ezsr.training.trainer import Trainer

    single = Trainer(make_config([], [*args, f"run.out_dir={tmp_path / 'one'}"]))
    single.fit()
    ddp = torch.load(tmp_path / "ddp" / "last.pt", weights_only=False)
    assert ddp["world_size"] == 2 and ddp["step"] == 3
    one = single.student.state_dict()
    changed = False
    for k, v in ddp["model"].items():
        torch.testing.assert_close(v, one[k], rtol=1e-5, atol=1e-6)
        changed |= not torch.equal(v, sti.TinyStudent().state_dict()[k])
    assert changed


# ----------------------------------------------------------------------------- real wiring
def test_event_synthesis_calls_the_simulator_and_representation(monkeypatch):
    """EventSynthesis (window=sweep) hands the simulator float images in [0,1] with the
    configured motion, sensor, duration and seed, and feeds its histogram to
    histogram_to_ezsr_input."""
    import types

    import ezsr
    import ezsr.ops
    from ezsr.training.transform import EventSynthesis

    seen = {}

    def fake_hist(images, motion, sensor, duration_us, seed, **kw):
        seen.update(
            dtype=images.dtype,
            max=float(images.max()),
            motion=motion,
            sensor=sensor,
            duration_us=duration_us,
            seed=seed,
            **kw,
        )
        return torch.full((images.shape[0], 2, *sensor), 3.0)

    def fake_repr(hist, out_size, mode):
        seen.update(hist=float(hist.mean()), out_size=out_size, mode=mode)
        return torch.zeros(hist.shape[0], 3, out_size, out_size)

    fake = types.SimpleNamespace(images_to_histogram=fake_hist)
    monkeypatch.setitem(sys.modules, "ezsr.simulate", fake)
    monkeypatch.setattr(ezsr, "simulate", fake, raising=False)
    monkeypatch.setattr(ezsr.ops, "histogram_to_ezsr_input", fake_repr, raising=False)
    tf = EventSynthesis(
        "fused", "affine", (12, 20), 5000, 32, "squash", max_frames=9, window="sweep"
    )
    x = tf(torch.full((2, 3, 8, 8), 255, dtype=torch.uint8), seed=11)
    assert x.shape == (2, 3, 32, 32)
    assert seen == dict(
        dtype=torch.float32,
        max=1.0,
        motion="affine",
        sensor=(12, 20),
        duration_us=5000,
        seed=11,
        max_frames=9,
        hist=3.0,
        out_size=32,
        mode="squash",
    )


def test_tiny_cpu_config_trains_with_the_real_components(tmp_path):
    """Two steps of the shipped tiny_cpu config with the real simulator, representation,
    student and offline teacher (skips until those parts are installed)."""
    from conftest import needs_offline_extra

    needs_offline_extra()
    for mod, name in (
        ("ezsr.simulate", "images_to_histogram"),
        ("ezsr.models", "create_teacher"),
        ("ezsr.models", "create_event_encoder"),
        ("ezsr.ops", "histogram_to_ezsr_input"),
    ):
        m = pytest.importorskip(mod)
        if not hasattr(m, name):
            pytest.skip(f"{mod}.{name} not available yet")
    from ezsr.training.trainer import Trainer

    cfg = make_config(
        ["tiny_cpu"],
        [
            "run.steps=2",
            "optim.batch_size=4",
            "data.workers=0",
            "run.eval_samples=4",
            "run.progress=false",
            f"run.out_dir={tmp_path}",
            "optim.warmup_steps=0",
        ],
    )
    tr = Trainer(cfg)
    before = [p.detach().clone() for p in tr.student.parameters()]
    m = tr.fit()
    assert math.isfinite(m["loss"]) and 0.0 <= m["eval_top1"] <= 1.0
    assert any(not torch.equal(a, b) for a, b in zip(before, tr.student.parameters()))
    assert (tmp_path / "last.pt").exists()
    # student.pt: the student alone, rebuilt by name from a weights-only file
    from ezsr.models import load_student

    student, meta = load_student(tmp_path / "student.pt")
    assert meta["student"] == "test-tiny" and meta["step"] == 2 and meta["embed_dim"] == 384
    assert meta["input"] == {"size": 32, "mode": "crop"}
    assert meta["teacher"] == {"name": "offline", "pretrained": ""}
    x = torch.randn(3, 3, 32, 32)
    tr.student.eval()
    with torch.no_grad():
        assert torch.equal(student(x), tr.student(x))
    with pytest.raises(ValueError, match="not a student file"):
        load_student(tmp_path / "last.pt")


def test_real_recording_eval_uses_the_ezsr_window_and_preprocessing(tmp_path):
    """run.eval_real: each file's default 15000-event window, ezsr_preprocess'ed, is what the
    student sees; the top-1/top-5 come from the text classifier columns."""
    from conftest import shared_file

    from ezsr import io, ops
    from ezsr.events import EventBatch
    from ezsr.training import real_eval

    src = shared_file("n_imagenet/ezsr_test_event.npz")
    for c in ("cat", "dog"):
        (tmp_path / c).mkdir()
    (tmp_path / "cat" / "a.npz").symlink_to(src)
    files, labels, names = real_eval.scan(tmp_path)
    assert names == ["cat", "dog"] and labels == [0]
    seen = []

    class Probe(torch.nn.Module):
        def forward(self, x):
            seen.append(x)
            return torch.tensor([[0.0, 1.0]])  # points at class column 1 ("dog")

    clf = torch.eye(2)
    m = real_eval.evaluate_real(Probe(), clf, files, labels, "cpu")
    assert m == {"real_top1": 0.0, "real_top5": 1.0, "real_n": 1}
    ev = io.read(src)
    want = ops.ezsr_preprocess(
        EventBatch.from_windows(ev, [ops.default_window_start(len(ev), 15000)], 15000),
        out_size=224,
        mode="crop",
    )
    torch.testing.assert_close(seen[0], want, rtol=0, atol=0)


def test_new_run_refuses_an_earlier_runs_out_dir(image_root, tmp_path):
    """Without --resume, a run into an out_dir holding another run's checkpoints stops
    (it would overwrite last.pt and leave stale step files); run.overwrite=true replaces them."""
    extra = ("run.steps=2", "run.ckpt_every=1", "run.keep_ckpts=5")
    make_trainer(tiny_cfg(image_root, tmp_path, *extra)).fit()
    assert len(list(tmp_path.glob("step_*.pt"))) == 2
    with pytest.raises(ValueError, match="already holds a run.*--resume"):
        make_trainer(tiny_cfg(image_root, tmp_path, *extra))
    (tmp_path / "tb").mkdir(exist_ok=True)  # TensorBoard events of the earlier run
    (tmp_path / "notes.txt").write_text("the user's own file")
    tr = make_trainer(tiny_cfg(image_root, tmp_path, "run.steps=1", "run.overwrite=true"))
    assert not list(tmp_path.glob("step_*.pt")) and not (tmp_path / "last.pt").exists()
    assert not (tmp_path / "tb").exists() and (tmp_path / "notes.txt").exists()
    tr.fit()
    assert [p.name for p in tmp_path.glob("step_*.pt")] == ["step_00000001.pt"]
    resumed = make_trainer(
        tiny_cfg(image_root, tmp_path, "run.steps=1"), resume=str(tmp_path / "last.pt")
    )
    assert resumed.step == 1


def test_print_config_needs_no_config(capsys):
    from ezsr.training.cli import main as train_main

    assert train_main(["--print-config"]) == 0
    assert '"run"' in capsys.readouterr().out
    assert train_main([]) == 1
    assert "give a CONFIG" in capsys.readouterr().err


def test_bad_config_file_and_run_device_are_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [1,\n")
    with pytest.raises(ValueError, match="bad.yaml: not valid YAML"):
        make_config([str(bad)], [])
    if not torch.cuda.is_available():
        from ezsr.training.trainer import Trainer

        with pytest.raises(ValueError, match="run.device=cuda: CUDA is not available"):
            Trainer(make_config(["tiny_cpu"], ["run.device=cuda", f"run.out_dir={tmp_path}"]))


def test_device_index_under_torchrun_is_refused(monkeypatch, tmp_path):
    """Under torchrun every rank takes the GPU of its LOCAL_RANK: a fixed cuda:N would put
    all ranks on one GPU (NCCL then fails), so it is refused before any process group."""
    from ezsr.training.trainer import Trainer

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(ValueError, match="run.device=cuda:1: under torchrun"):
        Trainer(make_config(["tiny_cpu"], ["run.device=cuda:1", f"run.out_dir={tmp_path}"]))


def test_resume_of_a_finished_run_changes_nothing(image_root, tmp_path):
    """--resume when the checkpoint is already at run.steps: no step, no file rewritten, no
    log row; --resume with run.overwrite=true is a contradiction."""
    cfg = tiny_cfg(image_root, tmp_path, "run.steps=2")
    make_trainer(cfg).fit()
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    log = (tmp_path / "log.csv").read_text()
    tr = make_trainer(
        tiny_cfg(image_root, tmp_path, "run.steps=2"), resume=str(tmp_path / "last.pt")
    )
    assert tr.step == 2 and tr.fit() == {}
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before
    assert (tmp_path / "log.csv").read_text() == log
    with pytest.raises(ValueError, match="contradict"):
        make_trainer(
            tiny_cfg(image_root, tmp_path, "run.steps=3", "run.overwrite=true"),
            resume=str(tmp_path / "last.pt"),
        )
