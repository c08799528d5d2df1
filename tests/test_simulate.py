"""ezsr.simulate: kernels vs the pure-torch reference, hand-computed cases, physical
sanity, determinism, input validation, image paths and the `ezsr simulate` command."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import ezsr.simulate as S
from ezsr import _ext
from ezsr.ops import polarity_histogram
from ezsr.simulate import kernels as K
from tests.conftest import needs_kernels


def _random_case(B=2, T=7, H=9, W=11, seed=0, sigma=0.05):
    g = torch.Generator().manual_seed(seed)
    logf = torch.log(1e-3 + torch.rand(B, T, H * W, generator=g))
    logf[:, 3] = logf[:, 2]  # an interval without change
    logf[0, :, 5] = logf[0, 0, 5]  # a pixel that never changes
    ts = torch.cumsum(torch.randint(1, 400, (B, T), generator=g), 1)
    tp = (0.2 + sigma * torch.randn(B, H * W, generator=g)).clamp(min=0.01)
    tn = (0.15 + sigma * torch.randn(B, H * W, generator=g)).clamp(min=0.01)
    return logf, ts, tp, tn, W


def _run(fn, logf, ts, tp, tn, W, refr, device, hist=False):
    args = [v.to(device).contiguous() for v in (logf, ts, tp, tn)]
    ref, last = K.new_state(args[0][:, 0])
    if hist:
        out = fn(*args, ref, last, refr)
    else:
        out = fn(*args, ref, last, W, refr)
    return out, ref, last


@needs_kernels
@pytest.mark.parametrize("refr", [0, 37, 10_000])
@pytest.mark.parametrize("seed", [0, 1])
def test_kernel_matches_reference(device, refr, seed):
    case = _random_case(seed=seed)
    want, wref, wlast = _run(K.simulate_reference, *case, refr, "cpu")
    got, gref, glast = _run(torch.ops.ezsr.simulate_events, *case, refr, device)
    assert len(want[2]) > 100
    for a, b in zip(want, got):
        assert a.dtype == b.dtype and torch.equal(a, b.cpu())
    assert torch.equal(wref, gref.cpu()) and torch.equal(wlast, glast.cpu())
    hw, *_ = _run(K.simulate_histogram_reference, *case, refr, "cpu", hist=True)
    hg, *_ = _run(torch.ops.ezsr.simulate_histogram, *case, refr, device, hist=True)
    assert torch.equal(hw, hg.cpu())


@needs_kernels
def test_kernel_edge_cases(device):
    # one frame (no interval), a single pixel, and an empty result
    logf = torch.zeros(1, 1, 1)
    ts = torch.zeros(1, 1, dtype=torch.int64)
    thr = torch.full((1, 1), 0.2)
    out, *_ = _run(torch.ops.ezsr.simulate_events, logf, ts, thr, thr, 1, 0, device)
    assert out[2].numel() == 0 and out[4].tolist() == [0, 0]
    # a stream with no events beside one with many; a threshold at the 0.01 floor
    logf = torch.zeros(2, 2, 4)
    logf[1, 1] = torch.tensor([3.0, -3.0, 0.005, 0.0])
    ts = torch.tensor([[0, 10], [5, 1005]])
    thr = torch.full((2, 4), 0.01)
    want, *_ = _run(K.simulate_reference, logf, ts, thr, thr, 2, 0, "cpu")
    got, *_ = _run(torch.ops.ezsr.simulate_events, logf, ts, thr, thr, 2, 0, device)
    for a, b in zip(want, got):
        assert torch.equal(a, b.cpu())
    assert got[4].tolist() == [0, 0, len(want[2])]
    assert abs(len(want[2]) - 600) <= 2


def _late_state(case):
    """(ref, last_t) with last_t at the third frame: state passed in that is later than the
    first frames (a resumed or rewound stream), so refractory 0 still drops crossings."""
    logf, ts = case[0], case[1]
    ref, _ = K.new_state(logf[:, 0])
    return ref, ts[:, 2:3].expand_as(ref).contiguous()


@needs_kernels
@pytest.mark.parametrize("refr", [0, 37])
@pytest.mark.parametrize("late", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_cuda_algorithm_on_cpu_matches_reference(refr, late, seed):
    """_simulate_events_pixel_major runs the CUDA op's algorithm on the CPU: the kernels'
    pixel-major count and emit passes, then the host logic of the CUDA op (prefix sum, the
    stable sort on a packed (stream, t) key). It must equal the reference, state included;
    so must the fused histogram when last_t starts later than the first frames."""
    case = _random_case(seed=seed)
    logf, ts, tp, tn, W = case
    state = _late_state(case) if late else K.new_state(logf[:, 0])
    outs = {}
    for name, fn in (
        ("reference", K.simulate_reference),
        ("pixel_major", torch.ops.ezsr._simulate_events_pixel_major),
        ("cpu", torch.ops.ezsr.simulate_events),
    ):
        ref, last = (s.clone() for s in state)
        outs[name] = fn(logf, ts, tp, tn, ref, last, W, refr), ref, last
    (want, wref, wlast) = outs["reference"]
    assert len(want[2]) > 100
    for name in ("pixel_major", "cpu"):
        got, gref, glast = outs[name]
        for a, b in zip(want, got):
            assert a.dtype == b.dtype and torch.equal(a, b), name
        assert torch.equal(wref, gref) and torch.equal(wlast, glast), name
    hists = []
    for fn in (K.simulate_histogram_reference, torch.ops.ezsr.simulate_histogram):
        ref, last = (s.clone() for s in state)
        hists.append((fn(logf, ts, tp, tn, ref, last, refr), ref, last))
    assert torch.equal(hists[0][0], hists[1][0]) and int(hists[0][0].sum()) == len(want[2])
    assert torch.equal(hists[0][2], hists[1][2])


@needs_kernels
@pytest.mark.parametrize("op", ["simulate_events", "_simulate_events_pixel_major"])
def test_kernel_empty_batch_and_pixels(op, device):
    if op.startswith("_") and device != "cpu":
        pytest.skip("the CPU twin of the CUDA algorithm")
    fn = getattr(torch.ops.ezsr, op)
    for B, P in ((0, 6), (2, 0)):
        logf = torch.zeros(B, 3, P, device=device)
        ts = torch.arange(3, device=device).repeat(B, 1)
        thr = torch.full((B, P), 0.2, device=device)
        ref, last = K.new_state(logf[:, 0])
        x, y, t, p, off = fn(logf, ts, thr, thr, ref, last, 3 if P else 1, 0)
        assert t.numel() == 0 and off.tolist() == [0] * (B + 1), (B, P)
    with pytest.raises(RuntimeError, match="increase strictly"):
        logf = torch.zeros(1, 3, 4, device=device)
        ts = torch.tensor([[0, 5, 5]], device=device)
        thr = torch.full((1, 4), 0.2, device=device)
        fn(logf, ts, thr, thr, *K.new_state(logf[:, 0]), 2, 0)


@pytest.mark.parametrize("impl", ["kernel", "reference"])
def test_hand_computed_refractory(impl):
    """C = 0.25 on levels 0 -> 1 -> 0 -> 0.3 (exact in binary), refractory 300 µs."""
    if impl == "kernel" and _ext._C is None:
        pytest.skip("extension not built")
    fn = torch.ops.ezsr.simulate_events if impl == "kernel" else K.simulate_reference
    logf = torch.tensor([0.0, 1.0, 0.0, 0.3]).view(1, 4, 1)
    ts = torch.tensor([[0, 1000, 2000, 3000]])
    thr = torch.full((1, 1), 0.25)
    (x, y, t, p, off), ref, last = _run(fn, logf, ts, thr, thr, 1, 300, "cpu")
    # crossings at 250 500 750 1000 (ON), 1250 1500 1750 2000 (OFF), 2833 (ON, 0.25/0.3*1000)
    assert t.tolist() == [250, 750, 1250, 1750, 2833]
    assert p.tolist() == [1, 1, 0, 0, 1]
    assert float(ref[0, 0]) == 0.25 and int(last[0, 0]) == 2833
    (x, y, t, p, off), *_ = _run(fn, logf, ts, thr, thr, 1, 0, "cpu")
    assert t.tolist() == [250, 500, 750, 1000, 1250, 1500, 1750, 2000, 2833]


def _ramp_frames(T=20, H=6, W=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    start = 0.05 + 0.9 * torch.rand(H, W, generator=g)
    end = 0.05 + 0.9 * torch.rand(H, W, generator=g)
    s = torch.linspace(0, 1, T)[:, None, None]
    return start + (end - start) * s, start, end


def test_counts_follow_log_change_and_polarity():
    frames, start, end = _ramp_frames()
    ts = torch.arange(20) * 1000
    ev = S.frames_to_events(frames, ts, 0.1, 0.1)
    pix = ev.y.long() * 8 + ev.x.long()
    counts = torch.bincount(pix, minlength=48)
    dl = torch.log(1e-3 + end) - torch.log(1e-3 + start)
    # monotonic pixels: count = floor(|ΔL| / C) (up to rounding at an exact multiple)
    assert (counts - torch.floor(dl.abs() / 0.1).long().flatten()).abs().max() <= 1
    on = torch.zeros(48, dtype=torch.long).index_add_(0, pix, ev.p.long())
    up = dl.flatten() > 0
    assert torch.equal(on[up], counts[up]) and int(on[~up].sum()) == 0
    assert int(ev.t.min()) >= 0 and int(ev.t.max()) <= 19_000
    # sorted by t, ties by pixel index
    key = ev.t * 48 + pix
    assert bool((key[1:] > key[:-1]).all())


def test_timestamps_within_the_changing_interval_and_refractory():
    frames = torch.full((5, 4, 4), 0.2)
    frames[3:] = 0.9  # only interval 2 -> 3 changes
    ts = torch.tensor([0, 100, 250, 1250, 2000])
    ev = S.frames_to_events(frames, ts, 0.2, 0.2)
    assert len(ev) == 16 * math.floor(math.log((0.9 + 1e-3) / (0.2 + 1e-3)) / 0.2)
    assert bool((ev.t >= 250).all() and (ev.t <= 1250).all()) and ev.off == 0
    ev = S.frames_to_events(frames, ts, 0.2, 0.2, refractory_us=300)
    pix = ev.y.long() * 4 + ev.x.long()
    for q in range(16):
        tq = ev.t[pix == q]
        assert len(tq) == 3 and bool((tq[1:] - tq[:-1] >= 300).all())


def test_brightening_gives_on_only_and_first_frame_none():
    frames = torch.linspace(0.1, 0.8, 10)[:, None, None].expand(10, 3, 5)
    ev = S.frames_to_events(frames, torch.arange(10) * 10)
    assert len(ev) == 15 * math.floor(math.log(0.801 / 0.101) / 0.2) and ev.off == 0
    assert S.frames_to_events(frames.flip(0), torch.arange(10) * 10).on == 0


def test_chunks_carry_state_and_rgb_luma():
    frames, *_ = _ramp_frames(T=30)
    frames = frames + 0.04 * torch.sin(torch.arange(30.0))[:, None, None]  # not monotonic
    ts = torch.arange(30) * 500
    whole = S.frames_to_events(frames, ts, refractory_us=700, sigma=0.03, seed=3)
    parts = S.frames_to_events(frames, ts, refractory_us=700, sigma=0.03, seed=3, chunk_frames=4)
    assert len(whole) > 50
    for c in "xytp":
        assert torch.equal(getattr(whole, c), getattr(parts, c))
    rgb = frames[..., None].expand(30, 6, 8, 3).numpy()  # grey RGB: luma = the grey value
    ev_rgb = S.frames_to_events(rgb, ts.numpy(), refractory_us=700, sigma=0.03, seed=3)
    assert abs(len(ev_rgb) - len(whole)) <= 2


def test_seed_determinism_and_mismatch():
    frames, *_ = _ramp_frames(T=12, H=16, W=16)
    ts = np.arange(12) * 1000
    a = S.frames_to_events(frames, ts, sigma=0.05, seed=1)
    b = S.frames_to_events(frames, ts, sigma=0.05, seed=1)
    c = S.frames_to_events(frames, ts, sigma=0.05, seed=2)
    assert torch.equal(a.t, b.t) and torch.equal(a.x, b.x)
    assert len(a) != len(c) or not torch.equal(a.t, c.t)


def test_linlog_and_noise():
    dn = torch.tensor([0.0, 10.0, 19.99, 20.0, 100.0]) / 255
    L = S.log_intensity(dn, log_mode="linlog")
    assert torch.allclose(
        L,
        torch.tensor(
            [0.0, 10 * math.log(20) / 20, 19.99 * math.log(20) / 20, math.log(20), math.log(100)]
        ),
        atol=1e-4,
    )
    frames = torch.full((3, 20, 20), 0.5)
    ts = [0, 500_000, 1_000_000]
    ev = S.frames_to_events(frames, ts, leak_rate_hz=2.0, seed=4)
    assert ev.off == 0 and 500 < len(ev) < 1100  # Poisson mean 2 Hz * 1 s * 400 pixels = 800
    again = S.frames_to_events(frames, ts, leak_rate_hz=2.0, seed=4)
    assert torch.equal(ev.t, again.t)
    shot = S.frames_to_events(frames, ts, shot_noise_rate_hz=1.0, seed=4)
    assert shot.on > 100 and shot.off > 100 and bool((shot.t[1:] >= shot.t[:-1]).all())


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(frames=[np.zeros((4, 4)), np.zeros((4, 5))]), "frames"),
        (dict(timestamps_us=[0, 10, 10]), "timestamps_us"),
        (dict(timestamps_us=[0, 10]), "timestamps_us"),
        (dict(frames=np.full((3, 4, 4), np.nan)), "frames"),
        (dict(frames=-np.ones((3, 4, 4))), "frames"),
        (dict(contrast_pos=0.0), "contrast_pos"),
        (dict(contrast_neg=-0.1), "contrast_neg"),
        (dict(sigma=-1.0), "sigma"),
        (dict(refractory_us=-5), "refractory_us"),
    ],
)
def test_bad_input(bad, match):
    args = dict(frames=np.zeros((3, 4, 4)), timestamps_us=[0, 10, 20])
    args.update(bad)
    with pytest.raises(ValueError, match=match):
        S.frames_to_events(**args)


def _texture(h=48, w=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(3, h // 3, w // 3, generator=g)
    return torch.nn.functional.interpolate(small[None], size=(h, w), mode="bilinear")[0]


@pytest.mark.parametrize("motion", S.MOTIONS)
def test_uniform_image_gives_no_events_and_texture_some(motion):
    ev = S.image_to_events(torch.full((3, 30, 40), 0.37), motion=motion, sensor=(48, 64))
    assert len(ev) == 0
    ev = S.image_to_events(_texture(), motion=motion, sensor=(48, 64), seed=2)
    assert len(ev) > 200 and ev.on > 0 and ev.off > 0 and ev.width == 64 and ev.height == 48
    assert int(ev.t.max()) <= (300_000 if motion == "saccade" else 100_000)


def test_batched_paths_agree_with_single_and_reference(monkeypatch):
    imgs = torch.stack([_texture(seed=s) for s in range(3)])
    kw = dict(motion="trajectory", sensor=(40, 52), seed=5, sigma=0.02, refractory_us=50)
    batch = S.images_to_events(imgs, **kw)
    hist = S.images_to_histogram(imgs, **kw)
    assert hist.shape == (3, 2, 40, 52)
    assert torch.equal(polarity_histogram(batch), hist)
    # the same chain on the pure-torch reference gives the same events
    monkeypatch.setattr(_ext, "use_kernel", lambda op, dev: False)
    ref = S.images_to_events(imgs, **kw)
    for c in ("x", "y", "t", "p", "offsets"):
        assert torch.equal(getattr(batch, c), getattr(ref, c))
    assert torch.equal(S.images_to_histogram(imgs, **kw), hist)


def test_image_inputs_and_unreadable_file(tmp_path):
    from PIL import Image

    arr = (_texture(24, 32).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    path = tmp_path / "img.png"
    Image.fromarray(arr).save(path)
    kw = dict(sensor=(24, 32), motion="affine", seed=1)
    a = S.image_to_events(str(path), **kw)
    b = S.image_to_events(Image.fromarray(arr), **kw)
    c = S.image_to_events(arr, **kw)
    d = S.image_to_events(torch.from_numpy(arr).permute(2, 0, 1), **kw)
    assert len(a) > 0
    for o in (b, c, d):
        assert torch.equal(a.t, o.t) and torch.equal(a.x, o.x)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(ValueError, match="broken.png"):
        S.image_to_events(str(bad))


def _png_16bit(arr: np.ndarray, colour_type: int) -> bytes:
    """A 16-bit PNG written by hand (Pillow cannot write 16-bit colour): arr uint16 [h, w] or
    [h, w, 3], filter 0 on every row."""
    import struct
    import zlib

    h, w = arr.shape[:2]
    rows = b"".join(b"\x00" + arr[r].astype(">u2").tobytes() for r in range(h))

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("spng", [False, True])
def test_open_image_png_kinds_match_pillow(tmp_path, monkeypatch, spng):
    """open_image gives Pillow's RGB pixels for every 8-bit-or-less PNG kind, with or without
    libspng; 16-bit PNG keeps the high byte (grey too: Pillow alone would clip it at 255)."""
    from PIL import Image

    from ezsr.simulate import images

    if spng:
        pytest.importorskip("pyspng")
    else:
        monkeypatch.setattr(images, "pyspng", None)
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (13, 17, 4), dtype=np.uint8)
    kinds = {
        "RGB": Image.fromarray(base[..., :3]),
        "RGBA": Image.fromarray(base),
        "L": Image.fromarray(base[..., 0]),
        "LA": Image.fromarray(base).convert("LA"),
        "P": Image.fromarray(base[..., :3]).convert("P"),
        # mode "1" from an 8-bit picture: Pillow 13 no longer takes bool arrays
        "1": Image.fromarray(base[..., 0]).point(lambda v: 255 * (v > 128)).convert("1"),
    }
    for mode, im in kinds.items():
        path = tmp_path / f"{mode}.png"
        im.save(path)
        with Image.open(path) as ref:
            want = np.asarray(ref.convert("RGB"))
        got = images.open_image(path)
        assert got.mode == "RGB" and np.array_equal(np.asarray(got), want), mode
    v = np.array([[0, 255, 256, 1000, 40000, 65535]], np.uint16)
    for colour_type, arr in ((0, v), (2, np.stack([v, v[:, ::-1], v], -1))):
        path = tmp_path / f"deep{colour_type}.png"
        path.write_bytes(_png_16bit(arr, colour_type))
        got = np.asarray(images.open_image(path))
        want = (arr >> 8).astype(np.uint8)
        want = np.stack([want] * 3, -1) if arr.ndim == 2 else want
        assert np.array_equal(got, want), colour_type
    trunc = tmp_path / "cut.png"
    trunc.write_bytes((tmp_path / "RGB.png").read_bytes()[:60])
    with pytest.raises(ValueError, match="cut.png"):
        images.open_image(trunc)


def test_cli(tmp_path, capsys):
    from PIL import Image

    from ezsr import io
    from ezsr.cli import main

    arr = (_texture(24, 32).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(np.roll(arr, 3 * i, axis=1)).save(folder / f"im{i}.png")
    out = tmp_path / "one.npz"
    assert (
        main(
            [
                "simulate",
                str(folder / "im0.png"),
                "-o",
                str(out),
                "--sensor",
                "24x32",
                "--motion",
                "affine",
            ]
        )
        == 0
    )
    ev = io.read(out)
    want = S.image_to_events(str(folder / "im0.png"), motion="affine", sensor=(24, 32))
    assert len(ev) == len(want) and torch.equal(ev.t, want.t)
    assert (
        main(
            [
                "simulate",
                str(folder),
                "-o",
                str(tmp_path / "outdir"),
                "--sensor",
                "24x32",
                "--ext",
                "npz",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in (tmp_path / "outdir").iterdir()) == ["im0.npz", "im1.npz"]
    # default output format of folders: HDF5 (.h5), read back equal
    assert main(["simulate", str(folder), "-o", str(tmp_path / "h5dir"), "--sensor", "24x32"]) == 0
    ev_h5 = io.read(tmp_path / "h5dir" / "im0.h5")
    want0 = S.image_to_events(str(folder / "im0.png"), sensor=(24, 32))
    assert torch.equal(ev_h5.t, want0.t) and torch.equal(ev_h5.x.long(), want0.x.long())
    # frames + timestamps file
    (folder / "timestamps.txt").write_text("# frames\nim0.png 0\nim1.png 5000\n")
    assert main(["simulate", str(folder), "-o", str(tmp_path / "video.npz")]) == 0
    ev = io.read(tmp_path / "video.npz")
    assert len(ev) > 0 and int(ev.t.max()) <= 5000
    (folder / "timestamps.txt").write_text("0\n0\n")
    assert main(["simulate", str(folder), "-o", str(tmp_path / "v2.npz")]) == 1
    assert "strictly increasing" in capsys.readouterr().err
    (folder / "timestamps.txt").unlink()
    (folder / "zz.png").write_bytes(b"garbage")
    assert main(["simulate", str(folder), "-o", str(tmp_path / "o2"), "--ext", "npz"]) == 1
    assert "zz.png" in capsys.readouterr().err


@needs_kernels
def test_histogram_op_has_fake_kernel():
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        logf = torch.empty(3, 5, 12)
        ts = torch.empty(3, 5, dtype=torch.int64)
        thr = torch.empty(3, 12)
        last = torch.empty(3, 12, dtype=torch.int64)
        out = torch.ops.ezsr.simulate_histogram(logf, ts, thr, thr, thr.clone(), last, 0)
    assert out.shape == (3, 2, 12) and out.dtype == torch.float32


def test_image_paths_deterministic_under_seed():
    imgs = torch.stack([_texture(seed=s) for s in range(2)])
    kw = dict(motion="affine", sensor=(40, 52), sigma=0.03)
    a = S.images_to_events(imgs, seed=11, **kw)
    b = S.images_to_events(imgs, seed=11, **kw)
    c = S.images_to_events(imgs, seed=12, **kw)
    assert len(a.t) > 100 and torch.equal(a.t, b.t) and torch.equal(a.x, b.x)
    assert torch.equal(a.offsets, b.offsets)
    assert len(a.t) != len(c.t) or not torch.equal(a.t, c.t)


@needs_kernels
def test_kernel_matches_reference_large_parallel_sort():
    """> 65536 events: the CPU radix sort runs on several threads."""
    g = torch.Generator().manual_seed(7)
    logf = torch.log(1e-3 + torch.rand(1, 3, 200 * 300, generator=g))
    ts = torch.tensor([[0, 700, 1500]])
    thr = torch.full((1, 200 * 300), 0.3)
    want, *_ = _run(K.simulate_reference, logf, ts, thr, thr, 300, 0, "cpu")
    got, *_ = _run(torch.ops.ezsr.simulate_events, logf, ts, thr, thr, 300, 0, "cpu")
    assert len(want[2]) > 70_000
    for a, b in zip(want, got):
        assert torch.equal(a, b)


@needs_kernels
@pytest.mark.parametrize("impl", ["kernel", "reference"])
def test_ties_at_frame_joints_and_long_intervals(impl):
    """Events of interval f lie in [t_f, t_{f+1}]: a crossing exactly at L1 gets t_{f+1} and
    ties with events of the next interval; the output stays ordered by (t, pixel).
    Hand-computed, C = 0.25, ts = 0, 1, 2 µs: pixel 1 rises 0 -> 0.5 in interval 0 (levels
    0.25 at t = 0 + floor(0.5) = 0 and 0.5 at t = 0 + floor(1.0) = 1); pixel 0 rises
    0 -> 0.3 in interval 1 (0.25 at t = 1 + floor(0.25 / 0.3) = 1)."""
    fn = torch.ops.ezsr.simulate_events if impl == "kernel" else K.simulate_reference
    logf = torch.tensor([[[0.0, 0.0], [0.0, 0.5], [0.3, 0.5]]])
    ts = torch.tensor([[0, 1, 2]])
    thr = torch.full((1, 2), 0.25)
    (x, y, t, p, off), *_ = _run(fn, logf, ts, thr, thr, 2, 0, "cpu")
    assert t.tolist() == [0, 1, 1] and x.tolist() == [1, 0, 1] and p.tolist() == [1, 1, 1]
    assert off.tolist() == [0, 3]
    # long frame intervals (s apart) with few events, and many chunks of tiny intervals
    for dt_max in (10_000_000, 3):
        case = list(_random_case(seed=3))
        g = torch.Generator().manual_seed(dt_max)
        case[1] = torch.cumsum(torch.randint(1, dt_max, (2, 7), generator=g), 1)
        want, *_ = _run(K.simulate_reference, *case, 0, "cpu")
        got, *_ = _run(fn, *case, 0, "cpu")
        for a, b in zip(want, got):
            assert torch.equal(a, b)


def test_render_translate_kernel_reference_and_grid_sample():
    """Saccade frames: the separable render equals its torch reference bit for bit, and
    grid_sample (per-pixel float32 grid) up to float32 coordinate rounding."""
    import torch.nn.functional as F

    from ezsr.simulate import images as I
    from ezsr.simulate.motion import Motion

    g = torch.Generator().manual_seed(0)
    lum = torch.rand(2, 1, 30, 45, generator=g)
    sensor = (48, 64)  # scaled up by 1.42 and centred, with border padding at the sides
    M = Motion("saccade", 2, sensor, 300_000, 3)(torch.linspace(0, 300_000, 9).double())
    frames = I.render(lum, M, sensor)
    s, ox, oy = I.fit_transform(30, 45, sensor)
    to_norm = torch.tensor(
        [
            [2 / (45 * s), 0, (2 * (-ox / s) + 1) / 45 - 1],
            [0, 2 / (30 * s), (2 * (-oy / s) + 1) / 30 - 1],
            [0, 0, 1],
        ],
        dtype=torch.float64,
    )
    A = to_norm @ M
    ys, xs = torch.meshgrid(
        torch.arange(48.0, dtype=torch.float64),
        torch.arange(64.0, dtype=torch.float64),
        indexing="ij",
    )
    grid = torch.stack(
        [
            A[..., 0, 0, None, None] * xs + A[..., 0, 2, None, None],
            A[..., 1, 1, None, None] * ys + A[..., 1, 2, None, None],
        ],
        -1,
    )
    want = F.grid_sample(
        lum,
        grid.float().view(2, -1, 64, 2),
        mode="bilinear",
        padding_mode="border",
        align_corners=False,
    ).view(2, 9, 48, 64)
    assert frames.shape == (2, 9, 48, 64)
    assert (frames - want).abs().max() < 1e-4
    taps = [
        *I._taps(float(A[0, 0, 0, 0]), A[..., 0, 2], 64, 45, "cpu"),
        *I._taps(float(A[0, 0, 1, 1]), A[..., 1, 2], 48, 30, "cpu"),
    ]
    ref = I.render_translate_reference(lum[:, 0].contiguous(), *taps)
    if _ext.has_kernel("render_translate", "cpu"):
        assert torch.equal(torch.ops.ezsr.render_translate(lum[:, 0].contiguous(), *taps), ref)
        bad = taps[0].clone()
        bad[0, 0, 0] = 45
        with pytest.raises(RuntimeError, match="'x0' must hold indices in"):
            torch.ops.ezsr.render_translate(lum[:, 0].contiguous(), bad, *taps[1:])
    assert torch.equal(frames, ref)


def test_capped_schedule_logged_once_at_info(monkeypatch, caplog):
    """The trainer caps every batch (sim.max_frames): one INFO line, then DEBUG only."""
    import logging

    from ezsr.simulate import images as I

    monkeypatch.setattr(I, "_CAPPED_SEEN", set())
    imgs = torch.stack([_texture(seed=s) for s in range(2)])
    with caplog.at_level(logging.DEBUG, logger="ezsr"):
        for seed in range(3):
            S.images_to_histogram(imgs, sensor=(24, 32), max_frames=3, seed=seed)
    capped = [r for r in caplog.records if "capped at max_frames=3" in r.getMessage()]
    assert [r.levelno for r in capped] == [logging.INFO, logging.DEBUG, logging.DEBUG]


@pytest.mark.parametrize("motion", S.MOTIONS)
def test_adaptive_schedule_bounds_motion_between_frames(motion):
    """No sensor corner/centre moves more than the budget (max_crossings * C / G px) between
    two frames. Regression: the schedule used to step by budget / speed(t) with the speed of
    the next two probe cells only, so a saccade (zero speed at t = 0) jumped from 0 to the
    end: 2 frames, no events."""
    from ezsr.simulate.motion import DEFAULT_DURATION_US, Motion, adaptive_times

    sensor, D = (24, 32), DEFAULT_DURATION_US[motion]
    m = Motion(motion, 2, sensor, D, 0)
    times, capped = adaptive_times(
        m, sensor, grad_max=2.0, threshold=0.2, max_crossings=1.0, max_frames=2000
    )
    budget = 1.0 * 0.2 / 2.0  # px
    assert not capped and times[0] == 0 and times[-1] == D and times.numel() > 10
    pts = torch.tensor(
        [[0, 0, 1], [31, 0, 1], [0, 23, 1], [31, 23, 1], [15.5, 11.5, 1]], dtype=torch.float64
    ).T
    fine = torch.linspace(0, D, 6001, dtype=torch.float64)
    q = m(fine) @ pts
    pos = q[..., :2, :] / q[..., 2:, :]  # [B, F, 2, 5]
    k = torch.searchsorted(times.double(), fine, right=True).clamp(max=times.numel() - 1) - 1
    start = m(times.double()) @ pts
    start = (start[..., :2, :] / start[..., 2:, :])[:, k]  # position at the frame before
    assert float((pos - start).norm(dim=2).max()) <= budget * 1.06


@needs_kernels
@pytest.mark.parametrize("chunk", [2, 3, 5, 64])
@pytest.mark.parametrize("dt_max", [3, 400])
def test_events_from_intensity_matches_chunked_reference(chunk, dt_max):
    """The CPU op that takes the log chunk by chunk and gathers once equals the reference
    (log_intensity per chunk, simulate_reference, then one stable sort of all events by
    (stream, t, pixel)), ties at chunk joints (dt_max = 3 µs) and the state left behind
    included; so does merge_chunks, which sorts only the tie runs at the joints."""
    from ezsr.simulate.frames import log_intensity, merge_chunks, sort_events

    g = torch.Generator().manual_seed(chunk * 1000 + dt_max)
    B, T, H, W = 2, 9, 7, 10
    frames = torch.rand(B, T, H * W, generator=g) * 0.9 + 0.05
    frames[:, 4] = frames[:, 3]  # an interval without change
    ts = torch.cumsum(torch.randint(1, dt_max, (B, T), generator=g), 1)
    tp = (0.1 + 0.03 * torch.randn(B, H * W, generator=g)).clamp(min=0.01)
    tn = (0.12 + 0.03 * torch.randn(B, H * W, generator=g)).clamp(min=0.01)
    ref, last = torch.empty(B, H * W), torch.empty(B, H * W, dtype=torch.int64)
    got = torch.ops.ezsr.simulate_events_from_intensity(
        frames, ts, tp, tn, ref, last, W, 2, 1e-3, chunk, True
    )  # init_state
    wref, wlast = K.new_state(log_intensity(frames[:, : min(T, chunk)])[:, 0])
    parts = []
    for s in range(0, T - 1, chunk - 1):
        e = min(T, s + chunk)
        parts.append(
            K.simulate_reference(
                log_intensity(frames[:, s:e]).contiguous(),
                ts[:, s:e].contiguous(),
                tp,
                tn,
                wref,
                wlast,
                W,
                2,
            )
        )
        if e == T:
            break
    x, y, t, p = (torch.cat([prt[i] for prt in parts]) for i in range(4))
    b = torch.cat(
        [torch.repeat_interleave(torch.arange(B), prt[4][1:] - prt[4][:-1]) for prt in parts]
    )
    order = sort_events(b, y.long() * W + x.long(), t, p)
    off = torch.zeros(B + 1, dtype=torch.int64)
    off[1:] = torch.cumsum(torch.bincount(b, minlength=B), 0)
    want = (x[order], y[order], t[order], p[order], off)
    assert len(want[2]) > 200
    for a, c, m in zip(want, got, merge_chunks(parts, B, W)):
        assert a.dtype == c.dtype and torch.equal(a, c) and torch.equal(a, m)
    assert torch.equal(ref, wref) and torch.equal(last, wlast)


@needs_kernels
def test_events_from_intensity_bad_arguments():
    frames = torch.rand(1, 4, 6)
    ts = torch.arange(4).view(1, 4)
    thr = torch.full((1, 6), 0.2)
    ref, last = K.new_state(frames[:, 0].log())
    with pytest.raises(RuntimeError, match="chunk_frames"):
        torch.ops.ezsr.simulate_events_from_intensity(
            frames, ts, thr, thr, ref, last, 3, 0, 1e-3, 1
        )
    with pytest.raises(RuntimeError, match="'frames'"):
        torch.ops.ezsr.simulate_events_from_intensity(
            frames.double(), ts, thr, thr, ref, last, 3, 0, 1e-3, 4
        )
    with pytest.raises(RuntimeError, match="'width'"):
        torch.ops.ezsr.simulate_events_from_intensity(
            frames, ts, thr, thr, ref, last, 4, 0, 1e-3, 4
        )
    bad_ts = torch.tensor([[0, 5, 5, 9]])  # not strictly increasing: rejected, not gathered
    for op, args in (
        (torch.ops.ezsr.simulate_events_from_intensity, (3, 0, 1e-3, 4)),
        (torch.ops.ezsr.simulate_events, (3, 0)),
    ):
        with pytest.raises(RuntimeError, match="'ts' must increase strictly"):
            op(frames if len(args) == 4 else frames.log(), bad_ts, thr, thr, ref, last, *args)


def test_order_tie_runs_equals_a_full_sort():
    """Events ordered by (stream, t) with runs of equal (stream, t) shuffled: sorting only
    those runs (stably by pixel) gives the full stable sort by (stream, t, pixel)."""
    from ezsr.simulate.frames import order_tie_runs, sort_events

    g = torch.Generator().manual_seed(0)
    b = torch.sort(torch.randint(0, 3, (3000,), generator=g)).values
    t = torch.randint(0, 40, (3000,), generator=g)
    t = t[torch.argsort(b * 100 + t, stable=True)]  # sorted by (b, t), pixels in any order
    pix = torch.randint(0, 50, (3000,), generator=g)
    want = sort_events(b, pix, t, None)
    perm = order_tie_runs(b, pix, t)
    assert perm is not None and torch.equal(perm, want)
    assert order_tie_runs(b[want], pix[want], t[want]) is None


def test_open_image_refuses_a_png_decompression_bomb(tmp_path, monkeypatch):
    """libspng has no pixel limit: open_image applies Pillow's (MAX_IMAGE_PIXELS x 2) first."""
    from PIL import Image

    from ezsr.simulate import images

    path = tmp_path / "big.png"
    Image.new("L", (64, 64)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 4096 pixels > 2 x 1000
    for spng in (images.pyspng, None):
        monkeypatch.setattr(images, "pyspng", spng)
        with pytest.raises(ValueError, match="big.png.*exceeds"):
            images.open_image(path)
