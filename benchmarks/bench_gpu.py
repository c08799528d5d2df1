"""The GPU benchmarks of the project, each with its baseline run in the same process.

    python benchmarks/bench_gpu.py SECTION [SECTION ...] --out DIR [--small] [--device cuda]

Sections (each writes DIR/gpu_SECTION.json as soon as it finishes, so a run stopped by a
time limit keeps what finished):

hist     polarity histogram of --events (1e8) random events into 2 x 480 x 640: the ezsr
         op vs torch index_put_(accumulate=True) including the flat-index build a user must
         write; both outputs must be equal. Gev/s, and the op's bytes moved (x, y int16,
         p uint8 read; the histogram written) over the device's HBM peak and over a
         device-to-device copy measured in the same process.
fused    images -> EZSR encoder input at 224 x 224, batch 256 (saccade motion): the fused
         path (ezsr.simulate.images_to_histogram -> ezsr.ops.histogram_to_ezsr_input, what
         the trainer's sim.path=fused runs) vs the same steps as separate ops
         (images_to_events -> polarity_histogram -> histogram_to_ezsr_input); both inputs
         must be equal. images/s and the ratio.
train    the imagenet_vitb16 config's training step on one device through ezsr.training's
         Trainer: ViT-B/16 student and teacher (random weights), batch 256, bf16, events
         synthesised on the device (--train-window sweep: the fused histogram of the whole
         saccade sweep; events: the config's default 13k-17k-event windows, from the
         interval counts and the window's events of the fused walk). samples/s, data-wait fraction (time blocked on the
         DataLoader / wall), and model FLOP utilisation (FLOPs counted by
         torch.utils.flop_counter on one sample: 3 x student forward + teacher forward,
         over the bf16 dense peak and over an 8192^3 bf16 matmul measured here).
latency  window -> label, ViT-B/16 zero-shot model (random weights, 1000 classes), batch
         1: preprocess (15,000 events from host memory -> input on the device) + encoder +
         head + copy of the logits back, p50/p99 over --windows windows, for torch eager
         fp32, eager fp16, a CUDA graph of the fp16 model (ezsr.streaming.TorchRunner
         cuda_graph=True; preprocessing on the CPU kernel, the runner's default for a
         window in host memory, and on the device's ops) and, with --compile,
         torch.compile (mode reduce-overhead) instead.
stream   `ezsr stream` (the command itself, in a subprocess) on a generated 1280 x 720
         EVT 3.0 recording (--stream-events events at 10 Mev/s) replayed with --realtime:
         sustained events/s and dropped windows, for fp32 eager, fp16 + CUDA graph, and the
         same deciding up to 8 waiting windows a call (--max-batch 8).

--small shrinks every size so that the script can be dry-run on a CPU (--device cpu).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # this checkout's ezsr first
sys.path.insert(0, str(HERE))

from ezsr import Events, _ext  # noqa: E402
from ezsr.ops import histogram_to_ezsr_input, polarity_histogram  # noqa: E402

H, W = 480, 640
# Published peaks of the H200 SXM (NVIDIA H200 datasheet): HBM3e 4.8 TB/s; dense BF16
# tensor-core 989 TFLOP/s (the datasheet's 1,979 is with 2:4 sparsity).
H200_HBM_BYTES_S = 4.8e12
H200_BF16_DENSE_FLOPS = 989e12


# --------------------------------------------------------------------------- timing
def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def timed(fn, dev: torch.device, reps: int, warmup: int = 2) -> list[float]:
    """Seconds of each of `reps` calls of fn after `warmup` calls (synchronised)."""
    for _ in range(warmup):
        fn()
    sync(dev)
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync(dev)
        out.append(time.perf_counter() - t0)
    return out


def pct(seconds: list[float]) -> dict:
    a = np.asarray(seconds) * 1e3
    return {
        "p50_ms": float(np.percentile(a, 50)),
        "p99_ms": float(np.percentile(a, 99)),
        "min_ms": float(a.min()),
        "n": int(a.size),
    }


def meta(dev: torch.device) -> dict:
    m = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.machine(),
        "kernel_backends": _ext.kernel_backends(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
    }
    if dev.type == "cuda":
        p = torch.cuda.get_device_properties(dev)
        m.update(sm_count=p.multi_processor_count, memory_gib=round(p.total_memory / 2**30, 1))
    return m


def write(out: Path, section: str, dev: torch.device, body: dict) -> None:
    body = {"section": section, "meta": meta(dev), **body}
    path = out / f"gpu_{section}.json"
    if section == "latency" and body.get("compile"):
        path = out / "gpu_latency_compile.json"
    if section == "train" and body.get("sim", {}).get("window") == "events":
        path = out / "gpu_train_events.json"
    path.write_text(json.dumps(body, indent=2, default=float))
    print(f"== {section}: wrote {path}", flush=True)
    print(json.dumps({k: v for k, v in body.items() if k != "meta"}, indent=1, default=float))


def copy_bandwidth(dev: torch.device, nbytes: int) -> float:
    """Bytes/s of a device-to-device copy (counting bytes read and written)."""
    a = torch.empty(nbytes // 4, dtype=torch.float32, device=dev)
    b = torch.empty_like(a)
    t = min(timed(lambda: b.copy_(a), dev, 5))
    return 2 * a.numel() * 4 / t


def random_events(n: int, dev: torch.device, seed: int = 0) -> Events:
    g = torch.Generator(device=dev).manual_seed(seed)
    x = torch.randint(0, W, (n,), device=dev, dtype=torch.int16, generator=g)
    y = torch.randint(0, H, (n,), device=dev, dtype=torch.int16, generator=g)
    p = torch.randint(0, 2, (n,), device=dev, dtype=torch.uint8, generator=g)
    t = torch.arange(n, device=dev, dtype=torch.int64)
    return Events(x, y, t, p, W, H, validate=False)


# ------------------------------------------------------------------------- sections
def section_hist(args, dev: torch.device) -> dict:
    n = int(args.events)
    ev = random_events(n, dev)
    x, y, p = ev.x, ev.y, ev.p
    out = torch.zeros(2 * H * W, device=dev)
    ones = torch.ones(n, device=dev)

    def ezsr_op():
        return polarity_histogram(ev, out_of_bounds="ignore", validate=False)

    def index_put():  # what a user writes: the flat index (channel 0 = ON), then accumulate
        idx = ((1 - p.long()) * H + y.long()) * W + x.long()
        return out.zero_().index_put_((idx,), ones, accumulate=True)

    t_k = timed(ezsr_op, dev, args.reps)
    t_i = timed(index_put, dev, args.reps)
    equal = bool(torch.equal(ezsr_op().reshape(-1), index_put()))
    best_k, best_i = min(t_k), min(t_i)
    moved = n * (2 + 2 + 1) + 2 * H * W * 4  # read x, y, p; write the histogram
    copy_bw = copy_bandwidth(dev, min(2 << 30, 8 * n))
    return {
        "events": n,
        "shape": [2, H, W],
        "outputs_equal": equal,
        "ezsr": {**pct(t_k), "gev_per_s": n / best_k / 1e9},
        "torch_index_put_incl_index": {**pct(t_i), "gev_per_s": n / best_i / 1e9},
        "ratio_vs_index_put": best_i / best_k,
        "bytes_moved": moved,
        "effective_bytes_per_s": moved / best_k,
        "fraction_of_hbm_peak": moved / best_k / H200_HBM_BYTES_S,
        "copy_bytes_per_s": copy_bw,
        "fraction_of_measured_copy": moved / best_k / copy_bw,
        "goal": "ratio_vs_index_put >= 5",
    }


def textures(b: int, size: int, dev: torch.device) -> torch.Tensor:
    """b smooth random RGB textures [b, 3, size, size] in [0.01, 1] (distinct per image)."""
    from bench_simulate import texture  # benchmarks/bench_simulate.py

    cell = 8
    imgs = torch.stack([texture(size, size, 0.8, seed=s, cell=cell) for s in range(min(b, 16))])
    imgs = imgs.repeat((b + 15) // 16, 1, 1)[:b]
    # every image different: roll each by its index
    imgs = torch.stack(
        [torch.roll(im, shifts=(i % 7, i // 7 % 11), dims=(0, 1)) for i, im in enumerate(imgs)]
    )
    return imgs.unsqueeze(1).expand(b, 3, size, size).contiguous().to(dev)


def section_fused(args, dev: torch.device) -> dict:
    import ezsr.simulate as S

    b, size = args.batch, args.size
    imgs = textures(b, size, dev)
    kw = dict(motion="saccade", sensor=(size, size), seed=0)

    def fused():
        return histogram_to_ezsr_input(S.images_to_histogram(imgs, **kw), out_size=size)

    def separate():
        events = S.images_to_events(imgs, **kw)
        hist = polarity_histogram(events, out_of_bounds="ignore", validate=False)
        return histogram_to_ezsr_input(hist, out_size=size)

    t_f = timed(fused, dev, args.reps, warmup=1)
    t_s = timed(separate, dev, max(2, args.reps // 2), warmup=1)
    a, c = fused(), separate()
    n_events = int(S.images_to_histogram(imgs, **kw).sum())
    return {
        "batch": b,
        "size": size,
        "events_per_image": n_events / b,
        "inputs_equal": bool(torch.equal(a, c)),
        "max_abs_diff": float((a - c).abs().max()),
        "fused": {**pct(t_f), "images_per_s": b / min(t_f)},
        "separate_ops": {**pct(t_s), "images_per_s": b / min(t_s)},
        "ratio_fused_vs_separate": min(t_s) / min(t_f),
        "goal": "fused images_per_s >= 50,000 on the H200",
    }


def matmul_peak(dev: torch.device, n: int) -> float:
    a = torch.randn(n, n, device=dev, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=dev, dtype=torch.bfloat16)
    t = np.median(timed(lambda: a @ b, dev, 10, warmup=3))
    return 2 * n**3 / t


def model_flops(module: torch.nn.Module, x: torch.Tensor) -> int:
    """Forward FLOPs of module(x) (torch.utils.flop_counter: matmuls, convs, attention)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        module(x)
    return int(counter.get_total_flops())


def section_train(args, dev: torch.device) -> dict:
    from ezsr.training.config import make_config
    from ezsr.training.data import ImageDataset
    from ezsr.training.trainer import Trainer

    steps, log_every = (4, 2) if args.small else (args.train_steps, args.train_steps // 3)
    with tempfile.TemporaryDirectory() as tmp:
        over = [
            "data.root=builtin",
            "data.repeats=1000",
            f"data.workers={args.workers}",
            f"optim.batch_size={args.train_batch}",
            f"run.steps={steps}",
            f"run.log_every={log_every}",
            f"run.out_dir={tmp}",
            f"run.device={dev.type}",
            "run.progress=false",
            "run.tensorboard=false",
            "run.eval_every=0",
            "run.ckpt_every=0",
            f"sim.window={args.train_window}",
        ]
        if args.small:
            over += ["model.student=ViT-B-16", "data.image_size=224"]
        if not os.environ.get("EZSR_CLIP_VOCAB"):
            # the random-weight teacher's text tower needs a vocabulary only to exist here
            # (no class names are embedded in a throughput run): a two-merge stand-in
            import gzip

            with gzip.open(Path(tmp) / "bpe_simple_vocab_16e6.txt.gz", "wt") as f:
                f.write("#version: stand-in\nt h\nth e</w>\n")
            os.environ["EZSR_CLIP_VOCAB"] = str(Path(tmp) / "bpe_simple_vocab_16e6.txt.gz")
        cfg = make_config(["imagenet_vitb16"], over)
        decode = args.train_decode
        ImageDataset.KEEP_DECODED = 0 if decode else ImageDataset.KEEP_DECODED
        tr = Trainer(cfg)
        tr.eval_set = None  # throughput only
        t0 = time.perf_counter()
        m = tr.fit()
        wall = time.perf_counter() - t0
        size = cfg.sim.out_size
        x = torch.zeros(1, 3, size, size, device=tr.device)
        student = getattr(tr, "student", tr.model)
        f_student = model_flops(student, x)
        f_teacher = model_flops(tr.teacher.model.visual, x) if hasattr(tr.teacher, "model") else 0
    per_sample = 3 * f_student + f_teacher
    achieved = per_sample * m["samples_per_s"]
    peak = matmul_peak(dev, 2048 if args.small else 8192) if dev.type == "cuda" else float("nan")
    return {
        "config": "imagenet_vitb16",
        "batch": cfg.optim.batch_size,
        "precision": tr.precision,
        "student": cfg.model.student,
        "teacher": cfg.model.teacher,
        "sim": {"path": cfg.sim.path, "window": cfg.sim.window, "sensor": list(cfg.sim.sensor)},
        "workers": cfg.data.workers,
        "photos_decoded_per_sample": decode,
        "steps": steps,
        "measured_over_last_steps": log_every,
        "samples_per_s": m["samples_per_s"],
        "data_wait": m["data_wait"],
        "fit_wall_s": wall,
        "flops_per_sample": {
            "student_fwd": f_student,
            "teacher_fwd": f_teacher,
            "step": per_sample,
        },
        "achieved_flops_per_s": achieved,
        "mfu_vs_bf16_dense_peak": achieved / H200_BF16_DENSE_FLOPS,
        "measured_bf16_matmul_flops_per_s": peak,
        "mfu_vs_measured_matmul": achieved / peak,
        "goal": "data_wait < 0.10",
    }


def windows(n: int, k: int, seed: int = 0) -> list[Events]:
    g = np.random.default_rng(seed)
    out = []
    for _ in range(k):
        out.append(
            Events(
                g.integers(0, W, n).astype(np.int16),
                g.integers(0, H, n).astype(np.int16),
                np.sort(g.integers(0, 50_000, n)).astype(np.int64),
                g.integers(0, 2, n).astype(np.uint8),
                W,
                H,
            )
        )
    return out


def zero_shot_module(classes: int, dev: torch.device):
    from ezsr.zeroshot.loader import ModelSpec, load_zero_shot

    torch.manual_seed(0)
    cls = torch.nn.functional.normalize(torch.randn(512, classes), dim=0)
    names = [f"class{i}" for i in range(classes)]
    spec = ModelSpec(model="ViT-B-16", classifier=cls, device="cpu")
    return load_zero_shot(spec, names), cls, names


def section_latency(args, dev: torch.device) -> dict:
    from ezsr.streaming.runners import TorchRunner

    zs, _, names = zero_shot_module(1000, dev)
    wins = windows(15_000, args.windows)
    configs = {"eager_fp32": dict(precision="fp32")}
    if dev.type == "cuda" and args.compile:  # its own run (compilation takes a minute)
        configs["compile_fp16"] = dict(precision="fp16", compile=True)
    elif dev.type == "cuda":
        configs["eager_fp16"] = dict(precision="fp16")
        configs["cuda_graph_fp16"] = dict(precision="fp16", cuda_graph=True)
        # the same with the window preprocessed by the device's composed ops
        configs["cuda_graph_fp16_device_preprocess"] = dict(
            precision="fp16", cuda_graph=True, preprocess_on="device"
        )
    res, top1 = {}, {}
    for name, c in configs.items():
        import copy

        model = copy.deepcopy(zs.module)
        compile_ = c.pop("compile", False)
        runner = TorchRunner(model, names, device=dev, **c)
        t_build = 0.0
        if compile_:
            runner.model = torch.compile(runner.model, mode="reduce-overhead")
        t0 = time.perf_counter()
        for w in wins[:20]:  # warm-up: lazy init, graph capture, compilation
            runner.infer(runner.preprocess([w]))
        sync(dev)
        t_build = time.perf_counter() - t0
        total, pre, labels = [], [], []
        for w in wins:
            t0 = time.perf_counter()
            x = runner.preprocess([w])
            sync(dev)
            t1 = time.perf_counter()
            logits = runner.infer(x)  # returns host numpy: includes the copy back
            t2 = time.perf_counter()
            labels.append(int(np.argmax(logits[0])))
            total.append(t2 - t0)
            pre.append(t1 - t0)
        res[name] = {
            "window_to_label": pct(total),
            "preprocess": pct(pre),
            "warmup_s": t_build,
        }
        top1[name] = labels
        del runner, model
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    base = top1["eager_fp32"]
    for name in res:
        res[name]["top1_agreement_with_fp32"] = float(np.mean(np.equal(top1[name], base)))
    return {
        "compile": bool(args.compile),
        "model": "ViT-B-16 (random weights) + 1000-class head",
        "batch": 1,
        "events_per_window": 15_000,
        "windows": len(wins),
        "results": res,
        "goal": "window_to_label p50 <= 2 ms (fp16)",
    }


def section_stream(args, dev: torch.device) -> dict:
    from bench_stream import recording  # benchmarks/bench_stream.py

    rate = 10e6
    seconds = args.stream_events / rate
    cache = Path(tempfile.mkdtemp(prefix="ezsr_gpu_stream_"))
    t0 = time.perf_counter()
    path = recording(cache, seconds, rate)
    gen_s = time.perf_counter() - t0
    _, cls, names = zero_shot_module(100, dev)
    torch.save(cls[:, :100].contiguous(), cache / "cls.pt")
    (cache / "names.txt").write_text("\n".join(names[:100]) + "\n")
    runs = {"fp32_eager": []}
    if dev.type == "cuda":
        runs["fp16_cuda_graph"] = ["--precision", "fp16", "--cuda-graph"]
        runs["fp16_cuda_graph_batch8"] = ["--precision", "fp16", "--cuda-graph", "--max-batch", "8"]
    out = {
        "recording": {
            "format": "evt3",
            "sensor": [1280, 720],
            "events": int(args.stream_events),
            "rate_ev_per_s": rate,
            "seconds": seconds,
            "generated_in_s": gen_s,
            "bytes": path.stat().st_size,
        },
        "runs": {},
    }
    for name, extra in runs.items():
        summary = cache / f"{name}.json"
        cmd = [
            sys.executable,
            "-m",
            "ezsr.cli",
            "stream",
            str(path),
            "--model",
            "ViT-B-16",
            "--classifier",
            str(cache / "cls.pt"),
            "--classes",
            f"@{cache / 'names.txt'}",
            "--device",
            dev.type,
            "--realtime",
            "--quiet",
            "--summary-json",
            str(summary),
            *extra,
        ]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        row: dict = {"command": " ".join(["ezsr", *cmd[3:]]), "rc": proc.returncode, "wall_s": wall}
        if proc.returncode != 0 or not summary.exists():
            row["stderr_tail"] = proc.stderr[-3000:]
        else:
            s = json.loads(summary.read_text())
            s.pop("decisions", None)
            s.pop("windows_list", None)
            s = {k: v for k, v in s.items() if not isinstance(v, list)}
            row["summary"] = s
            ev, w = s.get("events", 0), s.get("wall_s") or 0
            row["sustained_ev_per_s"] = ev / w if w else None
            row["stdout_tail"] = proc.stdout[-1500:]
        out["runs"][name] = row
    out["goal"] = "sustain >= 10 Mev/s with 0 dropped windows"
    return out


SECTIONS = {
    "hist": section_hist,
    "fused": section_fused,
    "train": section_train,
    "latency": section_latency,
    "stream": section_stream,
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("sections", nargs="+", choices=sorted(SECTIONS))
    ap.add_argument("--out", default="gpu_out", help="folder for gpu_SECTION.json")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--small", action="store_true", help="tiny sizes, for a CPU dry run")
    ap.add_argument("--reps", type=int, default=10, help="timed calls per case")
    ap.add_argument("--events", type=float, default=1e8, help="hist: events (1e8)")
    ap.add_argument("--batch", type=int, default=256, help="fused: images per call (256)")
    ap.add_argument("--size", type=int, default=224, help="fused: sensor / input size (224)")
    ap.add_argument("--train-batch", type=int, default=256)
    ap.add_argument("--train-steps", type=int, default=30)
    ap.add_argument("--train-decode", action="store_true", help="train: decode every photo")
    ap.add_argument(
        "--train-window",
        choices=["sweep", "events"],
        default="sweep",
        help="train: sim.window (sweep: the fused histogram of the whole sweep; events: "
        "the config's 13k-17k-event windows)",
    )
    ap.add_argument("--workers", type=int, default=8, help="train: DataLoader workers")
    ap.add_argument("--windows", type=int, default=300, help="latency: timed windows")
    ap.add_argument("--compile", action="store_true", help="latency: also torch.compile")
    ap.add_argument("--stream-events", type=float, default=30e6, help="stream: recording size")
    args = ap.parse_args(argv)
    if args.small:
        args.events, args.batch, args.size = 1e6, 4, 64
        args.train_batch, args.workers, args.windows = 2, 0, 5
        args.stream_events, args.reps = 3e5, 2
    dev = torch.device(args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for s in args.sections:
        t0 = time.perf_counter()
        try:
            body = SECTIONS[s](args, dev)
            body["section_s"] = time.perf_counter() - t0
            write(out, s, dev, body)
        except Exception as exc:  # noqa: BLE001 - report, go on with the next section
            import traceback

            traceback.print_exc()
            print(f"== {s}: FAILED after {time.perf_counter() - t0:.1f} s: {exc!r}", flush=True)
            failed += 1
    return failed


if __name__ == "__main__":
    raise SystemExit(main())
