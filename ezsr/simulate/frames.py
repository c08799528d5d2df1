"""Frames -> events: ezsr.simulate.frames_to_events and the pieces it shares with the
image paths (luma, log mapping, per-pixel thresholds, noise events).

Time is int64 microseconds throughout; intensities are linear in [0, 1].
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

from ezsr import _ext
from ezsr.events import Events
from ezsr.simulate.kernels import new_state, simulate_events_raw

LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights for R, G, B
LOG_MODES = ("log", "linlog")
LINLOG_DN = 20.0  # v2e: linear below 20 DN (of 255), log above


def to_luma(frames: torch.Tensor, channel_dim: int) -> torch.Tensor:
    """RGB -> luma with weights (0.299, 0.587, 0.114) along channel_dim (size 3)."""
    w = torch.tensor(LUMA, dtype=frames.dtype, device=frames.device)
    shape = [1] * frames.dim()
    shape[channel_dim] = 3
    return (frames * w.view(shape)).sum(channel_dim)


def log_intensity(
    frames: torch.Tensor,
    log_eps: float = 1e-3,
    log_mode: str = "log",
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Linear intensity in [0, 1] -> the simulator's log level (float32).

    log_mode "log": L = log(log_eps + I) (ESIM).
    log_mode "linlog": v2e's lin-log mapping on DN = 255*I: L = DN * log(20)/20 for
    DN < 20 (linear, so dark noise is not amplified), log(DN) above; continuous at 20 DN.
    """
    frames = frames.to(torch.float32)
    if log_mode == "log":  # one buffer, reused when `out` (same shape, float32) is given
        return (
            torch.add(frames, log_eps, out=out).log_()
            if out is not None
            else torch.add(frames, log_eps).log_()
        )
    if log_mode == "linlog":
        dn = frames * 255.0
        return torch.where(
            dn < LINLOG_DN,
            dn * (math.log(LINLOG_DN) / LINLOG_DN),
            torch.log(dn.clamp(min=LINLOG_DN)),
        )
    raise ValueError(f"argument 'log_mode' must be one of {LOG_MODES}, got {log_mode!r}")


def check_contrast(
    contrast_pos: float, contrast_neg: float, sigma: float, refractory_us: int, log_eps: float
) -> None:
    """ValueError naming the first bad simulation parameter."""
    for name, v in (("contrast_pos", contrast_pos), ("contrast_neg", contrast_neg)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise ValueError(f"argument '{name}' must be a threshold > 0, got {v!r}")
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"argument 'sigma' must be >= 0, got {sigma!r}")
    if int(refractory_us) != refractory_us or refractory_us < 0:
        raise ValueError(
            f"argument 'refractory_us' must be an integer >= 0 µs, got {refractory_us!r}"
        )
    if not (math.isfinite(log_eps) and log_eps > 0):
        raise ValueError(f"argument 'log_eps' must be > 0, got {log_eps!r}")


#: Frames as frames_to_events takes them: a tensor or array [T, H, W(, 3)] / [T, 3, H, W],
#: or a list of equally shaped frames.
FramesLike = Union[Tensor, np.ndarray, Sequence[Union[Tensor, np.ndarray]]]
#: The columns and offsets of simulated streams: x, y, t, p, offsets [B+1].
SimColumns = tuple[Tensor, Tensor, Tensor, Tensor, Tensor]


def thresholds(
    batch: int,
    pixels: int,
    contrast_pos: float,
    contrast_neg: float,
    sigma: float,
    seed: int,
    device: torch.device | str | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel thresholds [batch, pixels] float32: C + N(0, sigma), floored at 0.01.

    Drawn on the CPU from torch.Generator(seed) (ON first, then OFF), so every device gets
    the same values for a seed. sigma = 0 gives exactly C everywhere.
    """
    if sigma <= 0:
        return (
            torch.full((batch, pixels), float(contrast_pos), device=device),
            torch.full((batch, pixels), float(contrast_neg), device=device),
        )
    g = torch.Generator().manual_seed(int(seed))
    pos = (contrast_pos + sigma * torch.randn(batch, pixels, generator=g)).clamp_(min=0.01)
    neg = (contrast_neg + sigma * torch.randn(batch, pixels, generator=g)).clamp_(min=0.01)
    return pos.to(device), neg.to(device)


def noise_events(
    height: int,
    width: int,
    t0: int,
    t1: int,
    leak_rate_hz: float,
    shot_noise_rate_hz: float,
    seed: int,
) -> Optional[tuple[Tensor, Tensor, Tensor]]:
    """Leak (ON only) and shot-noise (random polarity) events as homogeneous Poisson
    processes per pixel at the given rates (Hz) over [t0, t1) µs, from Generator(seed + 1).
    Returns (pixel [M] int64, t [M] int64, on [M] bool), unsorted. They are added after
    the ESIM stream and do not move its reference levels (v2e couples leak to ref)."""
    g = torch.Generator().manual_seed(int(seed) + 1)
    pix: list[Tensor] = []
    tt: list[Tensor] = []
    on: list[Tensor] = []
    dur_s = (t1 - t0) * 1e-6
    for rate, leak in ((leak_rate_hz, True), (shot_noise_rate_hz, False)):
        if rate <= 0 or dur_s <= 0:
            continue
        lam = torch.tensor([rate * dur_s * height * width], dtype=torch.float64)
        m = int(torch.poisson(lam, generator=g)[0])
        pix.append(torch.randint(0, height * width, (m,), generator=g))
        tt.append(t0 + (torch.rand(m, generator=g, dtype=torch.float64) * (t1 - t0)).long())
        on.append(torch.ones(m, dtype=torch.bool) if leak else torch.rand(m, generator=g) < 0.5)
    if not pix:
        return None
    return torch.cat(pix), torch.cat(tt), torch.cat(on)


def _frames_tensor(frames: FramesLike) -> torch.Tensor:
    """frames as a float tensor [T, H, W] of linear intensity (RGB converted to luma)."""
    if isinstance(frames, (list, tuple)):
        if not frames:
            raise ValueError("argument 'frames' is empty")
        items = [
            f if isinstance(f, torch.Tensor) else torch.from_numpy(np.asarray(f)) for f in frames
        ]
        for i, f in enumerate(items):
            if f.shape != items[0].shape:
                raise ValueError(
                    f"argument 'frames': frame {i} has shape {tuple(f.shape)}, "
                    f"frame 0 has {tuple(items[0].shape)}"
                )
        frames = torch.stack(items)
    elif not isinstance(frames, torch.Tensor):
        frames = torch.from_numpy(np.ascontiguousarray(np.asarray(frames)))
    if frames.dtype == torch.uint8:
        frames = frames.float() / 255.0
    elif not frames.dtype.is_floating_point:
        raise ValueError(
            f"argument 'frames' must be float intensity in [0, 1] or uint8, got {frames.dtype}"
        )
    if frames.dim() == 4 and frames.shape[-1] == 3:
        frames = to_luma(frames.float(), 3)
    elif frames.dim() == 4 and frames.shape[1] == 3:
        frames = to_luma(frames.float(), 1)
    if frames.dim() != 3:
        raise ValueError(
            "argument 'frames' must be [T, H, W], [T, H, W, 3] or [T, 3, H, W], "
            f"got shape {tuple(frames.shape)}"
        )
    if frames.numel() == 0:
        raise ValueError(f"argument 'frames' is empty (shape {tuple(frames.shape)})")
    lo, hi = torch.aminmax(frames)  # one pass; NaN propagates into both
    if bool(torch.isnan(lo)) or bool(torch.isinf(hi)):
        raise ValueError("argument 'frames' contains NaN or infinite intensities")
    if float(lo) < 0:
        raise ValueError(
            "argument 'frames' contains negative intensities (expected linear intensity in [0, 1])"
        )
    return frames


def _timestamps(timestamps_us: Tensor | np.ndarray | Sequence[int], n_frames: int) -> torch.Tensor:
    ts = torch.as_tensor(
        np.asarray(
            timestamps_us.cpu() if isinstance(timestamps_us, torch.Tensor) else timestamps_us
        )
    )
    if ts.dtype.is_floating_point:
        if not bool((ts == ts.round()).all()):
            raise ValueError("argument 'timestamps_us' must hold integer microseconds")
    ts = ts.to(torch.int64)
    if ts.dim() != 1 or ts.numel() != n_frames:
        raise ValueError(
            f"argument 'timestamps_us' must be [T] with T = {n_frames} frames, got "
            f"shape {tuple(ts.shape)}"
        )
    bad = torch.nonzero(ts[1:] <= ts[:-1])
    if bad.numel():
        i = int(bad[0, 0]) + 1
        raise ValueError(
            f"argument 'timestamps_us' must be strictly increasing: "
            f"timestamps_us[{i - 1}] = {int(ts[i - 1])} >= "
            f"timestamps_us[{i}] = {int(ts[i])}"
        )
    return ts


def sort_events(b: Tensor, pix: Tensor, t: Tensor, on: Tensor) -> Tensor:
    """Order of events by (stream b, t, pixel), stable."""
    order = torch.argsort(pix, stable=True)
    order = order[torch.argsort(t[order], stable=True)]
    return order[torch.argsort(b[order], stable=True)]


def order_tie_runs(b: Tensor, pix: Tensor, t: Tensor) -> Optional[Tensor]:
    """Permutation that sorts events already ordered by (stream b, t) by pixel inside every
    run of equal (b, t) that is out of pixel order (stably, so equal pixels keep their
    order), or None when none is. Cheap when such runs are short, as at chunk joints."""
    n = t.numel()
    if n < 2:
        return None
    same = (b[1:] == b[:-1]) & (t[1:] == t[:-1])
    bad = same & (pix[1:] < pix[:-1])
    if not bool(bad.any()):
        return None
    run = torch.cumsum(torch.cat([same.new_ones(1), ~same]).long(), 0)  # run id per event
    sel = torch.isin(run, torch.unique(run[1:][bad])).nonzero().squeeze(1)
    order = torch.argsort(pix[sel], stable=True)
    order = order[torch.argsort(run[sel][order], stable=True)]
    perm = torch.arange(n, device=t.device)
    perm[sel] = sel[order]  # each bad run reordered within its own positions
    return perm


def merge_chunks(parts: Sequence[SimColumns], batch: int, width: int) -> SimColumns:
    """Join the (x, y, t, p, offsets) outputs of consecutive frame chunks of B streams into
    one (x, y, t, p, offsets), stream-major and, within a stream, in chunk order. Each part is
    sorted by (stream, t, pixel) and the chunks of a stream follow each other in time, so the
    result is ordered by (stream, t); only runs of one t at a chunk joint (the end time of
    one chunk is the start of the next) can be out of pixel order, and only those are
    sorted (order_tie_runs)."""
    if len(parts) == 1:
        return parts[0]
    if batch == 1:  # one stream: concatenate
        x, y, t, p = (torch.cat([prt[i] for prt in parts]) for i in range(4))
        n = t.numel()
        off = torch.tensor([0, n], dtype=torch.int64, device=t.device)
        b_of = torch.zeros(1, dtype=torch.int64, device=t.device).expand(n)
    else:
        dev = parts[0][0].device
        lengths = torch.stack([o[1:] - o[:-1] for *_, o in parts], 1)  # [B, C]
        off = torch.zeros(batch + 1, dtype=torch.int64, device=dev)
        off[1:] = torch.cumsum(lengths.sum(1), 0)
        cols = [torch.cat([prt[i] for prt in parts]) for i in range(4)]
        # source index of every output row: rows of (stream b, chunk c) in b-major, c-minor order
        chunk_start = torch.cumsum(
            torch.tensor([0] + [len(prt[2]) for prt in parts[:-1]], device=dev), 0
        )  # [C]
        src_start = (chunk_start[None, :] + torch.stack([o[:-1] for *_, o in parts], 1)).reshape(-1)
        lens = lengths.reshape(-1)
        n = int(lens.sum())
        seg = torch.repeat_interleave(torch.arange(lens.numel(), device=dev), lens, output_size=n)
        dst_start = torch.cumsum(lens, 0) - lens
        idx = src_start[seg] + torch.arange(n, device=dev) - dst_start[seg]
        x, y, t, p = (c[idx] for c in cols)
        b_of = torch.repeat_interleave(
            torch.arange(batch, device=dev), off[1:] - off[:-1], output_size=n
        )
    pix = y.long() * width + x.long()
    perm: Optional[Tensor]
    if n > 1 and bool(((b_of[1:] == b_of[:-1]) & (t[1:] < t[:-1])).any()):
        perm = sort_events(b_of, pix, t, p)  # chunks not in time order: a full sort
    else:
        perm = order_tie_runs(b_of, pix, t)
    if perm is not None:
        x, y, t, p = x[perm], y[perm], t[perm], p[perm]
    return x, y, t, p, off


def add_noise(
    ev: Events, t0: int, t1: int, leak_rate_hz: float, shot_noise_rate_hz: float, seed: int
) -> Events:
    """ev plus leak/shot-noise events (see noise_events), re-sorted by (t, pixel)."""
    noise = noise_events(ev.height, ev.width, t0, t1, leak_rate_hz, shot_noise_rate_hz, seed)
    if noise is None:
        return ev
    npix, nt, non = (v.to(ev.device) for v in noise)
    pix = torch.cat([ev.y.long() * ev.width + ev.x.long(), npix])
    t = torch.cat([ev.t, nt])
    on = torch.cat([ev.p.bool(), non])
    order = sort_events(torch.zeros_like(pix), pix, t, on)
    pix, t, on = pix[order], t[order], on[order]
    return Events(
        (pix % ev.width).to(ev.x.dtype),
        (pix // ev.width).to(ev.x.dtype),
        t,
        on.to(torch.uint8),
        ev.width,
        ev.height,
        "user",
        validate=False,
    )


def _frames_to_events_chunked(
    frames: Tensor,
    ts: Tensor,
    tp: Tensor,
    tn: Tensor,
    refractory_us: int,
    log_eps: float,
    log_mode: str,
    chunk_frames: int,
    dev: torch.device,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """frames_to_events' composed path (any device, any log_mode): log intensity and one
    simulate_events call per chunk of frames, the parts joined by merge_chunks."""
    T, H, W = frames.shape
    ref: Optional[Tensor] = None
    last: Optional[Tensor] = None
    parts: list[SimColumns] = []
    buf = torch.empty(min(T, chunk_frames), H, W, device=dev)  # reused: no page faults per chunk
    for s in range(0, max(T - 1, 1), chunk_frames - 1):
        e = min(T, s + chunk_frames)
        logf = log_intensity(frames[s:e].to(dev), log_eps, log_mode, out=buf[: e - s])
        logf = logf.reshape(1, e - s, H * W)
        if ref is None or last is None:  # the first chunk (both are set together)
            ref, last = new_state(logf[:, 0])
        parts.append(
            simulate_events_raw(
                logf, ts[s:e].view(1, -1).contiguous(), tp, tn, ref, last, W, int(refractory_us)
            )
        )
        if e == T:
            break
    x, y, t, p, _ = merge_chunks(parts, 1, W)
    return x, y, t, p


def frames_to_events(
    frames: FramesLike,
    timestamps_us: Tensor | np.ndarray | Sequence[int],
    contrast_pos: float = 0.2,
    contrast_neg: float = 0.2,
    refractory_us: int = 0,
    log_eps: float = 1e-3,
    sigma: float = 0.0,
    seed: int = 0,
    *,
    log_mode: str = "log",
    leak_rate_hz: float = 0.0,
    shot_noise_rate_hz: float = 0.0,
    chunk_frames: int = 32,
    device: torch.device | str | None = None,
) -> Events:
    """Events of a frame sequence by the ESIM rule (ESIM, Rebecq et al., CoRL 2018; see ezsr.simulate.kernels).

    frames: [T, H, W] linear intensity in [0, 1] (float; uint8 is divided by 255), or RGB
        as [T, H, W, 3] / [T, 3, H, W] (converted with luma weights 0.299, 0.587, 0.114);
        a numpy array, torch tensor or a list of equally shaped frames.
    timestamps_us: [T] int64 µs, strictly increasing.
    contrast_pos / contrast_neg: ON / OFF thresholds in log units (> 0).
    refractory_us: minimum time between two events of a pixel (µs); the reference level
        still advances on a dropped crossing.
    log_eps: L = log(log_eps + I) (log_mode "log"); log_mode "linlog" is v2e's lin-log.
    sigma: per-pixel threshold mismatch: C + N(0, sigma), floored at 0.01, from seed.
    leak_rate_hz / shot_noise_rate_hz: optional noise events per pixel (Hz), from seed.
    chunk_frames: frames per kernel call (state is carried between calls).
    device: where to simulate (default: the frames' device, CPU for numpy).
    Returns Events on that device, sorted by t, ties by pixel index y*W + x; the reference
    levels start at the first frame, so the first frame produces no events.
    """
    check_contrast(contrast_pos, contrast_neg, sigma, refractory_us, log_eps)
    if leak_rate_hz < 0 or shot_noise_rate_hz < 0:
        raise ValueError("arguments 'leak_rate_hz' and 'shot_noise_rate_hz' must be >= 0")
    if chunk_frames < 2:
        raise ValueError(f"argument 'chunk_frames' must be >= 2, got {chunk_frames}")
    frames = _frames_tensor(frames)
    dev = torch.device(device) if device is not None else frames.device
    T, H, W = frames.shape
    ts = _timestamps(timestamps_us, T).to(dev)
    tp, tn = thresholds(1, H * W, contrast_pos, contrast_neg, sigma, seed, dev)
    if log_mode == "log" and _ext.has_kernel("simulate_events_from_intensity", dev):
        # CPU: one call; it takes the log chunk by chunk and gathers the events once
        frames = frames.to(dev, torch.float32).reshape(1, T, H * W).contiguous()
        ref = torch.empty(1, H * W, device=dev)  # set by the op from its first log chunk
        last = torch.empty(1, H * W, dtype=torch.int64, device=dev)
        x, y, t, p, _ = torch.ops.ezsr.simulate_events_from_intensity(
            frames,
            ts.view(1, -1).contiguous(),
            tp,
            tn,
            ref,
            last,
            W,
            int(refractory_us),
            float(log_eps),
            int(chunk_frames),
            True,
        )
    else:
        x, y, t, p = _frames_to_events_chunked(
            frames, ts, tp, tn, refractory_us, log_eps, log_mode, chunk_frames, dev
        )
    ev = Events(x, y, t, p, W, H, "user", validate=False)
    if leak_rate_hz > 0 or shot_noise_rate_hz > 0:
        ev = add_noise(ev, int(ts[0]), int(ts[-1]), leak_rate_hz, shot_noise_rate_hz, seed)
    return ev
