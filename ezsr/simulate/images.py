"""Static images -> events under simulated camera motion.

Pipeline (one chain of batched ops, on the images' device):
  1. luma of every image [B, 1, h, w];
  2. a frame schedule shared by the batch (motion.adaptive_times: no pixel crosses more
     than max_crossings thresholds between two rendered frames);
  3. frames rendered in chunks by bilinear warping (torch grid_sample) of each image,
     fitted into the sensor and centred, under its motion M(t); padding repeats the border
     pixels, so a uniform image stays uniform under any motion;
  4. log intensity, then one kernel call per chunk over all B x H x W pixels, the
     per-pixel state carried from chunk to chunk: torch.ops.ezsr.simulate_events (events)
     or torch.ops.ezsr.simulate_histogram (counts only, the trainer's path).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Optional, Union, cast, overload

import numpy as np
import torch
import torch.nn.functional as F

from ezsr import _ext
from ezsr.events import EventBatch, Events
from ezsr.simulate.frames import (
    SimColumns,
    add_noise,
    check_contrast,
    log_intensity,
    merge_chunks,
    thresholds,
    to_luma,
)
from ezsr.simulate.kernels import new_state, simulate_events_raw, simulate_histogram_raw
from ezsr.simulate.motion import DEFAULT_DURATION_US, MOTIONS, Motion, adaptive_times

if TYPE_CHECKING:
    from PIL import Image as PILImage

try:  # optional: libspng, a faster PNG decoder than Pillow's (open_image)
    import pyspng
except ImportError:
    pyspng = None

log = logging.getLogger("ezsr")

CHUNK_ELEMENTS = {"cpu": 1 << 23, "cuda": 1 << 26}  # pixel-frames rendered per kernel call
# devices whose images_to_histogram runs saccades through the fused render + log + count
# kernel (torch.ops.ezsr.render_simulate_histogram); the CPU keeps the chunked chain
FUSED_DEVICES = ("cuda",)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def open_image(path: Union[str, "os.PathLike[str]"], min_side: int = 0) -> PILImage.Image:
    """Decode an image file to an RGB PIL image (uint8).

    - PNG goes through libspng (the optional `pyspng` package, in the `train` extra) when it is
      installed: the same pixels as Pillow for every colour type and bit depth <= 8 (tested),
      1.6-2.7x faster on the built-in RGB photos (docs/training.md), under Pillow's
      decompression-bomb limit. Other files, and PNG without pyspng, use Pillow.
    - min_side > 0: JPEG only, the decoder downscales by 2, 4 or 8 (DCT scaling) while both
      sides stay >= min_side pixels; other formats ignore it.
    - 16-bit grey (Pillow's modes I;16 and I) keeps its high byte, as Pillow and libspng do for
      16-bit colour; Pillow's own conversion clips at 255, which turns such photos white.
    Raises ValueError naming the file when it cannot be read.
    """
    from PIL import Image

    name = os.fspath(path)
    try:
        if pyspng is not None:
            with open(name, "rb") as f:
                data = f.read() if f.read(8) == PNG_SIGNATURE else b""
            if len(data) > 18:  # the rest of the file, from IHDR's length field
                width = int.from_bytes(data[8:12], "big")
                height = int.from_bytes(data[12:16], "big")
                if Image.MAX_IMAGE_PIXELS and width * height > 2 * Image.MAX_IMAGE_PIXELS:
                    # Pillow's decompression-bomb limit, which libspng does not apply
                    raise Image.DecompressionBombError(
                        f"{width}x{height} pixels exceeds the limit of "
                        f"{2 * Image.MAX_IMAGE_PIXELS} (PIL.Image.MAX_IMAGE_PIXELS x 2)"
                    )
                bit_depth, colour_type = data[16], data[17]
                grey8 = colour_type == 0 and bit_depth <= 8  # libspng's "L" takes only this
                png = PNG_SIGNATURE + data
                return Image.fromarray(pyspng.load(png, "L" if grey8 else "RGB")).convert("RGB")
        with Image.open(name) as im:
            if min_side > 0:
                im.draft("RGB", (min_side, min_side))
            if im.mode in ("I", "I;16", "I;16B", "I;16L"):
                a = (np.asarray(im).astype(np.int64).clip(0, 65535) >> 8).astype(np.uint8)
                return Image.fromarray(a).convert("RGB")
            return im.convert("RGB")
    except (OSError, ValueError, RuntimeError, Image.DecompressionBombError) as exc:
        raise ValueError(f"{name}: cannot read image ({exc})") from exc


def load_image(
    image: Union[str, "os.PathLike[str]", PILImage.Image, np.ndarray, torch.Tensor],
) -> torch.Tensor:
    """An image as float32 [3, h, w] (or [1, h, w] for grey) in [0, 1] on its device.

    image: a file path (anything PIL reads), a PIL image, a numpy array [h, w] or
    [h, w, 3|4] (uint8 divided by 255, float taken as [0, 1]), or a torch tensor
    [h, w] / [1|3, h, w]. Raises ValueError naming the file when it cannot be read.
    """
    if isinstance(image, (str, os.PathLike)):
        image = np.asarray(open_image(image))
    elif type(image).__module__.startswith("PIL."):
        image = np.asarray(cast("PILImage.Image", image).convert("RGB"))
    if isinstance(image, np.ndarray):
        a = image
        if a.ndim == 3 and a.shape[2] in (3, 4):
            a = a[..., :3].transpose(2, 0, 1)
        elif a.ndim == 2:
            a = a[None]
        else:
            raise ValueError(
                f"argument 'image': expected an array [h, w] or [h, w, 3], got shape {a.shape}"
            )
        t = torch.from_numpy(np.ascontiguousarray(a))
    elif isinstance(image, torch.Tensor):
        t = image[None] if image.dim() == 2 else image
        if t.dim() != 3 or t.shape[0] not in (1, 3):
            raise ValueError(
                f"argument 'image': expected a tensor [h, w] or [3, h, w], got "
                f"shape {tuple(image.shape)}"
            )
    else:
        raise ValueError(
            f"argument 'image': expected a path, PIL image, numpy array or torch "
            f"tensor, got {type(image).__name__}"
        )
    if t.dtype == torch.uint8:
        t = t.float() / 255.0
    return t.float()


def _check_images(images: torch.Tensor) -> torch.Tensor:
    """[B, 3, h, w] or [B, h, w] float in [0, 1] -> luma [B, 1, h, w] float32."""
    if not isinstance(images, torch.Tensor):
        raise ValueError(
            f"argument 'images' must be a torch tensor [B, 3, H, W] or [B, H, W], "
            f"got {type(images).__name__}"
        )
    if images.dtype == torch.uint8:
        images = images.float() / 255.0
    if images.dim() == 4 and images.shape[1] == 3:
        lum = to_luma(images.float(), 1)[:, None]
    elif images.dim() == 4 and images.shape[1] == 1:
        lum = images.float()
    elif images.dim() == 3:
        lum = images.float()[:, None]
    else:
        raise ValueError(
            f"argument 'images' must be [B, 3, H, W] or [B, H, W], got shape {tuple(images.shape)}"
        )
    if lum.numel() == 0:
        raise ValueError(f"argument 'images' is empty (shape {tuple(images.shape)})")
    if not bool(torch.isfinite(lum).all()) or bool((lum < 0).any()):
        raise ValueError("argument 'images' contains NaN, infinite or negative intensities")
    return lum.contiguous()


def fit_transform(h: int, w: int, sensor: tuple[int, int]) -> tuple[float, float, float]:
    """(scale, ox, oy): canvas point (u, v) is image pixel ((u - ox)/scale, (v - oy)/scale);
    the image is scaled to fit inside the sensor and centred."""
    H, W = sensor
    s = min(W / w, H / h)
    return s, (W - s * w) / 2 - 0.5 + 0.5 * s, (H - s * h) / 2 - 0.5 + 0.5 * s


def _taps(
    scale: float, off: torch.Tensor, n_out: int, n_in: int, device: torch.device | str | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bilinear taps along one axis for output pixels 0..n_out-1 at normalised image
    coordinate g = scale * i + off[b, t] (grid_sample's convention, align_corners=False,
    border padding: the coordinate is clamped to [0, n_in - 1]). Returns (i0, i1) int64 and
    the weight of i1, float32, each [B, T, n_out], computed in float64."""
    g = scale * torch.arange(n_out, dtype=torch.float64) + off.to(torch.float64)[..., None]
    x = (((g + 1) * n_in - 1) / 2).clamp(0, n_in - 1)
    i0 = x.floor()
    i1 = (i0 + 1).clamp(max=n_in - 1)
    return (i0.long().to(device), i1.long().to(device), (x - i0).to(torch.float32).to(device))


def render_translate_reference(
    img: torch.Tensor,
    x0: torch.Tensor,
    x1: torch.Tensor,
    wx: torch.Tensor,
    y0: torch.Tensor,
    y1: torch.Tensor,
    wy: torch.Tensor,
) -> torch.Tensor:
    """Pure-torch torch.ops.ezsr.render_translate: frames [B, T, H, W] float32 of img
    [B, h, w] from separable taps x0/x1/wx [B, T, W] and y0/y1/wy [B, T, H]:
    rows lerped first, then columns, lerp(a, c, w) = a + w * (c - a) (float32; the kernels
    compute exactly this, without FMA)."""
    B, T, W = x0.shape
    H = y0.shape[2]
    bi = torch.arange(B, device=img.device)[:, None, None]
    ra, rc = img[bi, y0], img[bi, y1]  # [B, T, H, w]
    rows = ra + wy[..., None] * (rc - ra)
    idx = lambda x: x[:, :, None, :].expand(B, T, H, W)  # noqa: E731
    a, c = torch.gather(rows, 3, idx(x0)), torch.gather(rows, 3, idx(x1))
    return a + wx[:, :, None, :] * (c - a)


def _to_image(h: int, w: int, sensor: tuple[int, int], M: torch.Tensor) -> torch.Tensor:
    """A [B, T, 3, 3] float64: sensor pixel -> grid_sample's normalised image coordinates
    (align_corners=False) of an h x w image fitted in the sensor, under M (sensor -> canvas)."""
    s, ox, oy = fit_transform(h, w, sensor)
    to_norm = torch.tensor(
        [
            [2 / (w * s), 0, (2 * (-ox / s) + 1) / w - 1],
            [0, 2 / (h * s), (2 * (-oy / s) + 1) / h - 1],
            [0, 0, 1],
        ],
        dtype=torch.float64,
    )
    return to_norm @ M


def _separable(
    M: torch.Tensor, A: torch.Tensor
) -> tuple[float, torch.Tensor, float, torch.Tensor] | None:
    """(scale_x, off_x [B, T], scale_y, off_y [B, T]) float64 when every frame of A is one
    axis-aligned scaling plus a translation (saccades): image x = scale_x * column +
    off_x[b, t], y likewise; None otherwise."""
    lin = A[..., :2, :2]
    if (
        bool((M[..., 2, :2] == 0).all())
        and bool((lin == lin[:1, :1]).all())
        and float(lin[0, 0, 0, 1]) == 0
        and float(lin[0, 0, 1, 0]) == 0
    ):
        return float(lin[0, 0, 0, 0]), A[..., 0, 2], float(lin[0, 0, 1, 1]), A[..., 1, 2]
    return None


def render_simulate_histogram_reference(
    img: torch.Tensor,
    off_x: torch.Tensor,
    off_y: torch.Tensor,
    scale_x: float,
    scale_y: float,
    ts: torch.Tensor,
    thr_pos: torch.Tensor,
    thr_neg: torch.Tensor,
    log_eps: float,
    refractory_us: int,
    height: int,
    width: int,
) -> torch.Tensor:
    """Pure-torch torch.ops.ezsr.render_simulate_histogram: counts [B, 2, H*W] float32 of
    images img [B, h, w] translated frame by frame (offsets off_x/off_y [B, T] float64),
    from a fresh state: the chain render_translate_reference -> log(I + log_eps) ->
    simulate_histogram_reference, a few frames at a time (frames share their boundary)."""
    from ezsr.simulate.kernels import simulate_histogram_reference

    B, h, w = img.shape
    T, P, dev = ts.shape[1], height * width, img.device
    out = torch.zeros(B, 2, P, dtype=torch.float32, device=dev)
    ref = last = None
    step = 8
    for s0 in range(0, max(T - 1, 1), step - 1):
        e = min(T, s0 + step)
        x0, x1, wx = _taps(scale_x, off_x[:, s0:e], width, w, dev)
        y0, y1, wy = _taps(scale_y, off_y[:, s0:e], height, h, dev)
        frames = render_translate_reference(img, x0, x1, wx, y0, y1, wy)
        logf = log_intensity(frames, log_eps).reshape(B, e - s0, P).contiguous()
        if ref is None or last is None:
            ref, last = new_state(logf[:, 0])
        out += simulate_histogram_reference(
            logf, ts[:, s0:e].contiguous(), thr_pos, thr_neg, ref, last, refractory_us
        )
        if e == T:
            break
    return out


def render(lum: torch.Tensor, M: torch.Tensor, sensor: tuple[int, int]) -> torch.Tensor:
    """Frames [B, T, H, W] of images lum [B, 1, h, w] under M [B, T, 3, 3] (sensor -> canvas)."""
    B, _, h, w = lum.shape
    H, W = sensor
    T = M.shape[1]
    A = _to_image(h, w, sensor, M)  # [B, T, 3, 3]: sensor pixel -> normalised image coordinates
    sep = _separable(M, A)
    if sep is not None:
        # translations (saccades) of an axis-aligned scaling: bilinear sampling is separable
        # (x depends only on frame and column, y on frame and row), so the taps are [B, T, W]
        # and [B, T, H] and no per-pixel grid is built (see render_translate_reference)
        sx, off_x, sy, off_y = sep
        x0, x1, wx = _taps(sx, off_x, W, w, lum.device)
        y0, y1, wy = _taps(sy, off_y, H, h, lum.device)
        img = lum[:, 0].contiguous()
        if _ext.use_kernel("render_translate", lum.device):
            return torch.ops.ezsr.render_translate(img, x0, x1, wx, y0, y1, wy)
        return render_translate_reference(img, x0, x1, wx, y0, y1, wy)
    if bool((M[..., 2, :2] == 0).all()) and bool((M[..., 2, 2] == 1).all()):
        # affine: let affine_grid build the grid (theta acts on normalised sensor coords)
        from_norm = torch.tensor(
            [[W / 2, 0, (W - 1) / 2], [0, H / 2, (H - 1) / 2], [0, 0, 1]], dtype=torch.float64
        )
        theta = (A @ from_norm)[..., :2, :].reshape(B * T, 2, 3).to(torch.float32)
        grid = F.affine_grid(theta.to(lum.device), [B * T, 1, H, W], align_corners=False)
        grid = grid.view(B, T * H, W, 2)
    else:  # homography: project every pixel and divide
        A = A.to(torch.float32).to(lum.device)
        ys, xs = torch.meshgrid(
            torch.arange(H, device=lum.device, dtype=torch.float32),
            torch.arange(W, device=lum.device, dtype=torch.float32),
            indexing="ij",
        )
        q = torch.stack([xs, ys, torch.ones_like(xs)], -1)  # [H, W, 3]
        g = torch.einsum("btij,hwj->bthwi", A, q)
        grid = (g[..., :2] / g[..., 2:]).reshape(B, T * H, W, 2)
    out = F.grid_sample(lum, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.view(B, T, H, W)


_CAPPED_SEEN: set = set()


def _log_capped(max_frames: int) -> None:
    """'schedule capped' at INFO the first time per max_frames value, then at DEBUG: the
    trainer caps every batch on purpose (sim.max_frames), and one line per batch would
    flood its progress bar."""
    level = logging.DEBUG if max_frames in _CAPPED_SEEN else logging.INFO
    _CAPPED_SEEN.add(max_frames)
    log.log(
        level,
        "ezsr.simulate: frame schedule capped at max_frames=%d (raise it for fewer "
        "crossings per frame; further capped schedules are logged at DEBUG)",
        max_frames,
    )


@dataclass(frozen=True)
class _Settings:
    """The simulation arguments every images_to_* function takes (see _DOC_ARGS)."""

    motion: str = "saccade"
    sensor: tuple[int, int] = (480, 640)
    duration_us: Optional[int] = None
    seed: int = 0
    contrast_pos: float = 0.2
    contrast_neg: float = 0.2
    refractory_us: int = 0
    log_eps: float = 1e-3
    sigma: float = 0.0
    log_mode: str = "log"
    max_crossings: float = 1.0
    max_frames: int = 2000


def _schedule(
    images: torch.Tensor, s: _Settings
) -> tuple[torch.Tensor, Motion, torch.Tensor, torch.Tensor, torch.Tensor, int, int]:
    """Checked arguments -> (lum [B, 1, h, w], motion, frame times [T] int64 µs (CPU),
    thresholds thr_pos/thr_neg [B, H*W] on the images' device, H, W)."""
    check_contrast(s.contrast_pos, s.contrast_neg, s.sigma, s.refractory_us, s.log_eps)
    motion = s.motion
    if motion not in MOTIONS:
        raise ValueError(f"argument 'motion' must be one of {MOTIONS}, got {motion!r}")
    H, W = (int(v) for v in s.sensor)
    if H <= 0 or W <= 0:
        raise ValueError(f"argument 'sensor' must be (height, width) > 0, got {s.sensor}")
    duration_us = DEFAULT_DURATION_US[motion] if s.duration_us is None else int(s.duration_us)
    if duration_us <= 0:
        raise ValueError(f"argument 'duration_us' must be > 0, got {duration_us}")
    if s.max_crossings <= 0 or s.max_frames < 2:
        raise ValueError("arguments 'max_crossings' must be > 0 and 'max_frames' >= 2")
    lum = _check_images(images)
    B, dev = lum.shape[0], lum.device
    mot = Motion(motion, B, (H, W), duration_us, s.seed)
    # |grad L| bound of the fitted images, in log units per sensor pixel
    L0 = log_intensity(render(lum, mot(torch.zeros(1)), (H, W))[:, 0], s.log_eps, s.log_mode)
    gx = (L0[:, :, 1:] - L0[:, :, :-1]).abs().amax() if W > 1 else L0.new_zeros(())
    gy = (L0[:, 1:] - L0[:, :-1]).abs().amax() if H > 1 else L0.new_zeros(())
    grad = float(torch.sqrt(gx * gx + gy * gy))
    times, capped = adaptive_times(
        mot, (H, W), grad, min(s.contrast_pos, s.contrast_neg), s.max_crossings, s.max_frames
    )
    if capped:
        _log_capped(s.max_frames)
    tp, tn = thresholds(B, H * W, s.contrast_pos, s.contrast_neg, s.sigma, s.seed, dev)
    return lum, mot, times, tp, tn, H, W


def _fused_args(
    lum: torch.Tensor,
    mot: Motion,
    times: torch.Tensor,
    tp: torch.Tensor,
    tn: torch.Tensor,
    H: int,
    W: int,
    s: _Settings,
) -> tuple[Any, ...] | None:
    """The leading arguments of the fused render + simulate ops
    (torch.ops.ezsr.render_simulate_*) when every frame is a translation of one axis-aligned
    scaling (saccades), else None."""
    B, dev = lum.shape[0], lum.device
    M_all = mot(times.double())
    sep = _separable(M_all, _to_image(lum.shape[2], lum.shape[3], (H, W), M_all))
    if sep is None:
        return None
    sx, off_x, sy, off_y = sep
    return (
        lum[:, 0].contiguous(),
        off_x.to(dev).contiguous(),
        off_y.to(dev).contiguous(),
        sx,
        sy,
        times.to(dev).expand(B, -1).contiguous(),
        tp,
        tn,
        float(s.log_eps),
        int(s.refractory_us),
        H,
        W,
    )


@overload
def _simulate(images: torch.Tensor, s: _Settings, histogram: Literal[True]) -> torch.Tensor: ...
@overload
def _simulate(
    images: torch.Tensor, s: _Settings, histogram: Literal[False]
) -> tuple[EventBatch, int]: ...


def _simulate(
    images: torch.Tensor, s: _Settings, histogram: bool
) -> torch.Tensor | tuple[EventBatch, int]:
    lum, mot, times, tp, tn, H, W = _schedule(images, s)
    B, dev = lum.shape[0], lum.device
    T, P = times.numel(), H * W
    ts_all = times.to(dev)
    if histogram and s.log_mode == "log" and dev.type in FUSED_DEVICES:
        # on a GPU, saccades go through one fused pass (render + log + ESIM counts in
        # registers, no frame in memory); the CPU keeps the chunked chain, whose log is
        # torch's (bit for bit what the reference computes)
        fused = _fused_args(lum, mot, times, tp, tn, H, W, s)
        if fused is not None and _ext.use_kernel("render_simulate_histogram", dev):
            return torch.ops.ezsr.render_simulate_histogram(*fused).view(B, 2, H, W)
    ref: Optional[torch.Tensor] = None
    last: Optional[torch.Tensor] = None
    parts: list[SimColumns] = []
    hist: Optional[torch.Tensor] = None
    chunk = max(2, CHUNK_ELEMENTS.get(dev.type, 1 << 23) // max(B * P, 1))
    for c in range(0, max(T - 1, 1), chunk - 1):
        e = min(T, c + chunk)
        frames = render(lum, mot(times[c:e].double()), (H, W))
        # in place: the rendered frames are a fresh float32 buffer used only here
        logf = log_intensity(
            frames, s.log_eps, s.log_mode, out=frames if s.log_mode == "log" else None
        )
        logf = logf.reshape(B, e - c, P).contiguous()
        if ref is None or last is None:  # the first chunk (both are set together)
            ref, last = new_state(logf[:, 0])
        ts = ts_all[c:e].expand(B, -1).contiguous()
        if histogram:
            h = simulate_histogram_raw(logf, ts, tp, tn, ref, last, int(s.refractory_us))
            hist = h if hist is None else hist.add_(h)
        else:
            parts.append(simulate_events_raw(logf, ts, tp, tn, ref, last, W, int(s.refractory_us)))
        if e == T:
            break
    if histogram:
        assert hist is not None  # the loop runs at least once
        return hist.view(B, 2, H, W)
    x, y, t, p, offsets = merge_chunks(parts, B, W)
    return EventBatch(x, y, t, p, offsets, W, H), int(times[-1])


_DOC_ARGS = """
    motion: "saccade" (three saccades, N-MNIST/N-Caltech101), "trajectory" (smooth random
        path, N-ImageNet) or "affine" (random homography path); see ezsr.simulate.motion.
    sensor: (height, width) of the simulated sensor; the image is fitted inside and centred.
    duration_us: length of the motion (default: 300 ms saccade, 100 ms trajectory/affine).
    seed: motion parameters and threshold mismatch (image b of a batch gets draw b).
    contrast_pos, contrast_neg, refractory_us, log_eps, sigma, log_mode: as frames_to_events.
    max_crossings: most thresholds a pixel may cross between two rendered frames (adaptive
        frame step dt = max_crossings * C / max|dL/dt|); max_frames caps the frame count.
"""


def images_to_events(
    images: torch.Tensor,
    motion: str = "saccade",
    sensor: tuple[int, int] = (480, 640),
    duration_us: int | None = None,
    seed: int = 0,
    *,
    contrast_pos: float = 0.2,
    contrast_neg: float = 0.2,
    refractory_us: int = 0,
    log_eps: float = 1e-3,
    sigma: float = 0.0,
    log_mode: str = "log",
    max_crossings: float = 1.0,
    max_frames: int = 2000,
) -> EventBatch:
    """Events of B images [B, 3, h, w] or [B, h, w] float in [0, 1] (any device) under
    simulated camera motion, as an EventBatch (stream b sorted by t, ties by pixel)."""
    return _simulate(
        images,
        _Settings(
            motion,
            sensor,
            duration_us,
            seed,
            contrast_pos,
            contrast_neg,
            refractory_us,
            log_eps,
            sigma,
            log_mode,
            max_crossings,
            max_frames,
        ),
        False,
    )[0]


def images_to_histogram(
    images: torch.Tensor,
    motion: str = "saccade",
    sensor: tuple[int, int] = (224, 224),
    duration_us: int | None = None,
    seed: int = 0,
    *,
    contrast_pos: float = 0.2,
    contrast_neg: float = 0.2,
    refractory_us: int = 0,
    log_eps: float = 1e-3,
    sigma: float = 0.0,
    log_mode: str = "log",
    max_crossings: float = 1.0,
    max_frames: int = 2000,
) -> torch.Tensor:
    """Counts [B, 2, H, W] float32 (channel 0 ON, 1 OFF) of the events images_to_events
    would produce with the same arguments, without materialising them (the trainer's path).
    Default sensor 224x224: the EZSR input size (feed to histogram_to_ezsr_input)."""
    return _simulate(
        images,
        _Settings(
            motion,
            sensor,
            duration_us,
            seed,
            contrast_pos,
            contrast_neg,
            refractory_us,
            log_eps,
            sigma,
            log_mode,
            max_crossings,
            max_frames,
        ),
        True,
    )


def window_draws(n: torch.Tensor, lo: int, hi: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One count window per stream of n [B] events: (start [B], keep [B]) int64 on the CPU,
    stream b keeping events [start_b, start_b + keep_b). N_b ~ U{lo..hi}, keep_b = min(N_b,
    n_b), start_b uniform in [0, n_b - keep_b] (EZSR's N-ImageNet evaluation window), drawn
    from torch.Generator().manual_seed(seed) on the CPU, so every device gets the same
    windows."""
    n = n.cpu().to(torch.int64)
    B = n.numel()
    g = torch.Generator().manual_seed(int(seed))
    want = torch.randint(int(lo), int(hi) + 1, (B,), generator=g)
    u = torch.rand(B, generator=g, dtype=torch.float64)
    keep = torch.minimum(want, n)
    start = (u * (n - keep + 1).double()).floor().long().clamp(max=(n - keep).clamp(min=0))
    return start, keep


def cut_windows(batch: EventBatch, start: torch.Tensor, keep: torch.Tensor) -> EventBatch:
    """Events [start_b, start_b + keep_b) of every stream b of batch (start, keep [B] int64,
    within each stream), as an EventBatch on the batch's device: one gather, no per-stream
    Python."""
    B = keep.numel()
    start, keep = start.cpu(), keep.cpu()
    new_off = torch.zeros(B + 1, dtype=torch.int64)
    new_off[1:] = torch.cumsum(keep, 0)
    total = int(new_off[-1])
    dev = batch.offsets.device
    base = batch.offsets[:-1].cpu() + start - new_off[:-1]  # source = base[b] + destination
    idx = (torch.repeat_interleave(base, keep, output_size=total) + torch.arange(total)).to(dev)
    return EventBatch(
        batch.x[idx],
        batch.y[idx],
        batch.t[idx],
        batch.p[idx],
        new_off.to(dev),
        batch.width,
        batch.height,
    )


def images_to_event_windows(
    images: torch.Tensor,
    lo: int,
    hi: int,
    window_seed: int,
    motion: str = "saccade",
    sensor: tuple[int, int] = (480, 640),
    duration_us: int | None = None,
    seed: int = 0,
    *,
    contrast_pos: float = 0.2,
    contrast_neg: float = 0.2,
    refractory_us: int = 0,
    log_eps: float = 1e-3,
    sigma: float = 0.0,
    log_mode: str = "log",
    max_crossings: float = 1.0,
    max_frames: int = 2000,
) -> EventBatch:
    """One count window per image: the events [start_b, start_b + keep_b) (window_draws(n,
    lo, hi, window_seed), n_b the image's event count) of what images_to_events would give
    with the same arguments, as an EventBatch (the trainer's sim.window=events).

    Where the fused kernels run (FUSED_DEVICES; saccades, log mode) the stream is never
    materialised: a counting pass gives every frame interval's events, the window's index
    range maps to a time range, and a second pass emits only the events in it. Elsewhere
    images_to_events runs and the windows are cut from its events."""
    s = _Settings(
        motion,
        sensor,
        duration_us,
        seed,
        contrast_pos,
        contrast_neg,
        refractory_us,
        log_eps,
        sigma,
        log_mode,
        max_crossings,
        max_frames,
    )
    dev = images.device
    fused = None
    if log_mode == "log" and dev.type in FUSED_DEVICES:
        if _ext.use_kernel("render_simulate_events", dev):
            lum, mot, times, tp, tn, H, W = _schedule(images, s)
            fused = _fused_args(lum, mot, times, tp, tn, H, W, s)
    if fused is None:
        batch, _ = _simulate(images, s, False)
        start, keep = window_draws(batch.offsets[1:] - batch.offsets[:-1], lo, hi, window_seed)
        return cut_windows(batch, start, keep)
    counts, tails = torch.ops.ezsr.render_simulate_interval_counts(*fused)
    counts, tails = counts.cpu(), tails.cpu()
    B, F = counts.shape
    # A[b, g] = events of stream b with t < ts[g] (g = 0..T-1), then A[b, T] = n_b: interval
    # f's events have t in [ts[f], ts[f+1]], its tail exactly at ts[f+1]
    cum = torch.cumsum(counts, 1)
    n = cum[:, -1] if F else torch.zeros(B, dtype=torch.int64)
    A = torch.cat([torch.zeros(B, 1, dtype=torch.int64), cum - tails, n[:, None]], 1)
    start, keep = window_draws(n, lo, hi, window_seed)
    T = F + 1
    g0 = (torch.searchsorted(A[:, :T].contiguous(), start[:, None], right=True) - 1).squeeze(1)
    g1 = torch.searchsorted(A, (start + keep)[:, None]).squeeze(1).clamp(min=g0 + 1)
    ts = times.to(torch.int64)
    never = torch.iinfo(torch.int64).max
    t_lo = ts[g0]
    t_hi = torch.where(g1 < T, ts[g1.clamp(max=T - 1)], torch.full_like(g0, never))
    t_hi = torch.where(keep > 0, t_hi, t_lo)  # an empty window: nothing to emit
    x, y, t, p, off = torch.ops.ezsr.render_simulate_events(
        *fused, t_lo.to(dev).contiguous(), t_hi.to(dev).contiguous()
    )
    part = EventBatch(x, y, t, p, off, W, H)
    rows = torch.arange(B)
    before = A[rows, g0]  # events of the stream before the emitted range
    got = (off[1:] - off[:-1]).cpu()
    want = torch.where(keep > 0, A[rows, g1] - before, 0)
    if not torch.equal(got, want):  # the two passes walk the same frames: a bug if not
        raise RuntimeError(
            "images_to_event_windows: the emitting pass found other event counts than the "
            f"counting pass ({got.tolist()} vs {want.tolist()})"
        )
    return cut_windows(part, start - before, keep)


def image_to_events(
    image: Union[str, "os.PathLike[str]", PILImage.Image, np.ndarray, torch.Tensor],
    motion: str = "saccade",
    sensor: tuple[int, int] = (480, 640),
    duration_us: int | None = None,
    seed: int = 0,
    *,
    leak_rate_hz: float = 0.0,
    shot_noise_rate_hz: float = 0.0,
    **kw: Any,
) -> Events:
    """Events of one image (path, PIL image, numpy [h, w(, 3)] or torch [(3,) h, w]) under
    simulated camera motion; keyword arguments as images_to_events, plus optional leak and
    shot noise (Hz per pixel, as frames_to_events)."""
    img = load_image(image)
    names = set(_Settings.__dataclass_fields__) - {"motion", "sensor", "duration_us", "seed"}
    unknown = sorted(set(kw) - names)
    if unknown:
        raise TypeError(f"image_to_events: unexpected arguments {unknown}")
    batch, t_end = _simulate(img[None], _Settings(motion, sensor, duration_us, seed, **kw), False)
    ev = batch[0]
    if leak_rate_hz < 0 or shot_noise_rate_hz < 0:
        raise ValueError("arguments 'leak_rate_hz' and 'shot_noise_rate_hz' must be >= 0")
    if leak_rate_hz > 0 or shot_noise_rate_hz > 0:
        ev = add_noise(ev, 0, t_end, leak_rate_hz, shot_noise_rate_hz, seed)
    return ev


for _f in (images_to_events, images_to_histogram):
    _f.__doc__ = (_f.__doc__ or "") + _DOC_ARGS
