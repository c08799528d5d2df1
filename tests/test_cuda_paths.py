"""The CUDA paths beyond the single kernels (those are compared with their references in
test_histogram, test_temporal and test_simulate through the `device` fixture): the whole
image -> events -> EZSR input chain on the GPU against the CPU, and the streaming runner's
fp16 / CUDA-graph modes. Small sizes: benchmarks/gpu_session.sh also runs this file under
compute-sanitizer (memcheck, racecheck). The CPU-only checks at the end run everywhere."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import ezsr.simulate as S
from ezsr import Events
from ezsr.ops import ezsr_preprocess, histogram_to_ezsr_input, polarity_histogram
from ezsr.streaming.runners import TorchRunner
from ezsr.zeroshot.graph import ImageClassifier, ZeroShotHead
from tests.conftest import needs_cuda, needs_kernels, random_batch


def _textures(b=3, h=30, w=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(b, 1, h // 5 + 2, w // 5 + 2, generator=g)
    big = nn.functional.interpolate(small, scale_factor=5, mode="bilinear")[:, :, :h, :w]
    return (0.05 + 0.9 * big).expand(b, 3, h, w).contiguous()


@needs_kernels
@needs_cuda
@pytest.mark.parametrize("motion", ["saccade", "trajectory"])
def test_image_chain_on_cuda_equals_cpu(motion):
    """images -> events and the fused images -> histogram give the CPU's results bit for bit
    (the kernels round explicitly, csrc/include/ezsr/simulate.h), and the fused histogram
    is the histogram of the events."""
    imgs = _textures()
    kw = dict(motion=motion, sensor=(24, 32), seed=3, sigma=0.02, max_frames=40)
    cpu_ev = S.images_to_events(imgs, **kw)
    gpu_ev = S.images_to_events(imgs.cuda(), **kw)
    assert len(cpu_ev.x) > 1000
    for c in ("x", "y", "t", "p", "offsets"):
        assert torch.equal(getattr(cpu_ev, c), getattr(gpu_ev, c).cpu()), c
    gpu_hist = S.images_to_histogram(imgs.cuda(), **kw)
    assert torch.equal(gpu_hist.cpu(), S.images_to_histogram(imgs, **kw))
    assert torch.equal(gpu_hist, polarity_histogram(gpu_ev))
    assert torch.equal(
        histogram_to_ezsr_input(gpu_hist, out_size=24).cpu(),
        histogram_to_ezsr_input(gpu_hist.cpu(), out_size=24),
    )


@needs_kernels
@needs_cuda
@pytest.mark.parametrize("mode", ["crop", "squash"])
def test_ezsr_preprocess_on_cuda_equals_the_cpu_kernel(mode):
    b = random_batch([0, 1, 900, 15_000, 4_000], width=640, height=480, seed=2)
    b.x[::97], b.y[::97] = 100, 200  # a hot pixel: the quantile clip matters
    cpu = ezsr_preprocess(b, out_size=224, mode=mode)
    gpu = ezsr_preprocess(b.to("cuda"), out_size=224, mode=mode)
    assert gpu.is_cuda and gpu.shape == (5, 3, 224, 224)
    torch.testing.assert_close(gpu.cpu(), cpu, atol=2e-6, rtol=0)


def _tiny_classifier(k=7, seed=0):
    torch.manual_seed(seed)
    enc = nn.Sequential(nn.Conv2d(3, 8, 16, 16), nn.GELU(), nn.Flatten(), nn.Linear(8 * 14 * 14, 16))
    cls = nn.functional.normalize(torch.randn(16, k), dim=0)
    return ImageClassifier(enc, ZeroShotHead(cls, 100.0)), [f"c{i}" for i in range(k)]


def _window(n=15_000, seed=0):
    g = np.random.default_rng(seed)
    return Events(
        g.integers(0, 640, n).astype(np.int16),
        g.integers(0, 480, n).astype(np.int16),
        np.sort(g.integers(0, 50_000, n)),
        g.integers(0, 2, n).astype(np.uint8),
        640,
        480,
    )


@needs_kernels
@needs_cuda
def test_runner_fp16_and_cuda_graph_follow_fp32():
    model, names = _tiny_classifier()
    fp32 = TorchRunner(model, names, device="cuda")
    eager16 = TorchRunner(_tiny_classifier()[0], names, device="cuda", precision="fp16")
    graph16 = TorchRunner(
        _tiny_classifier()[0], names, device="cuda", precision="fp16", cuda_graph=True
    )
    assert graph16.name == "torch-cudagraph-fp16"
    head = [m for m in eager16.model.modules() if isinstance(m, ZeroShotHead)][0]
    assert head.classifier.dtype == torch.float32  # the head stays fp32
    for seed in range(4):  # the graph is captured once and replayed on new inputs
        w = [_window(seed=seed)]
        want = fp32.infer(fp32.preprocess(w))
        x16 = eager16.preprocess(w)
        assert x16.dtype == torch.float16
        e16 = eager16.infer(x16)
        g16 = graph16.infer(graph16.preprocess(w))
        assert e16.dtype == np.float32 and e16.shape == (1, len(names))
        np.testing.assert_allclose(g16, e16, rtol=0, atol=1e-5)  # same kernels, replayed
        np.testing.assert_allclose(e16, want, rtol=0, atol=0.05 * np.abs(want).max())


def test_runner_half_precision_needs_cuda():
    model, names = _tiny_classifier()
    with pytest.raises(ValueError, match="precision='fp16' needs a CUDA device"):
        TorchRunner(model, names, device="cpu", precision="fp16")
    with pytest.raises(ValueError, match="precision must be one of"):
        TorchRunner(model, names, device="cpu", precision="int4")
    with pytest.raises(ValueError, match="cuda_graph=True needs a CUDA device"):
        TorchRunner(model, names, device="cpu", cuda_graph=True)


@pytest.mark.parametrize(
    "extra, flag",
    [(["--precision", "fp16"], "--precision"), (["--cuda-graph"], "--cuda-graph")],
)
def test_stream_gpu_options_are_refused_on_the_cpu(tmp_path, capsys, extra, flag):
    from ezsr import io
    from ezsr.cli import main

    path = tmp_path / "w.npz"
    io.write(path, _window(2000))
    rc = main(["stream", str(path), "--device", "cpu", *extra])
    err = capsys.readouterr().err
    assert rc != 0
    assert f"{flag} apply to --backend torch on a CUDA device" in err

