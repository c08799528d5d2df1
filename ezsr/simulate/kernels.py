"""The simulation ops: torch.ops.ezsr.simulate_events / simulate_histogram and their
pure-torch reference.

Both ops take log-intensity frames of B streams and a per-pixel state that they update
in place, so a long sequence can be fed in chunks that share their boundary frame:

  logf     [B, T, P] float32  log intensity (P = H*W pixels, row-major)
  ts       [B, T]    int64    frame times in µs, strictly increasing per stream
  thr_pos  [B, P]    float32  ON threshold per pixel (> 0)
  thr_neg  [B, P]    float32  OFF threshold per pixel (> 0)
  ref      [B, P]    float32  level of the last crossing (start: the first frame), updated
  last_t   [B, P]    int64    time of the last emitted event (NEVER: none yet), updated

The rule (ESIM, as rpg_esim and esim_py implement it): between frames (t0, L0) -> (t1, L1)
the level is accumulated from cur = ref by cur = cur + pol*C (float32); each cur that lies
in (L0, L1] (or [L1, L0)) is a crossing, timestamped
t0 + floor((cur - L0) * (t1 - t0) / (L1 - L0)) (cur - L0 and L1 - L0 in float32, the
product and quotient in float64); an event is emitted when t - last_t >= refractory_us; ref
moves to the last crossing even when the event was dropped. (ref + k*pol*C is not the same
float as the accumulated level and, with the strict test against L0, can lose a crossing.)
The C++, CUDA and this reference agree bit for bit.
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch import Tensor

from ezsr import _ext

NEVER = -(2**63)  # last_t of a pixel that has not fired yet (INT64_MIN, as in the kernels)


def new_state(logf0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Initial (ref, last_t) from the first frame logf0 [B, P]: ref = L of frame 0."""
    ref = logf0.to(torch.float32).clone().contiguous()
    last_t = torch.full_like(ref, NEVER, dtype=torch.int64)
    return ref, last_t


def _crossings(
    logf: Tensor,
    ts: Tensor,
    thr_pos: Tensor,
    thr_neg: Tensor,
    ref: Tensor,
    last_t: Tensor,
    refractory_us: int,
) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
    """Yield (fire [B,P] bool, t [B,P] int64, on [B,P] bool) per crossing step; updates state."""
    for f in range(logf.shape[1] - 1):
        L0, L1 = logf[:, f], logf[:, f + 1]
        t0, t1 = ts[:, f : f + 1], ts[:, f + 1 : f + 2]
        on = L1 > L0
        step = torch.where(on, thr_pos, -thr_neg)
        dl = (L1 - L0).double()
        dt = (t1 - t0).double()
        cur = ref.clone()
        active = L1 != L0
        while bool(active.any()):
            cur = cur + step  # accumulated in float32, as esim_py: not ref + k*step
            inside = active & torch.where(on, (cur > L0) & (cur <= L1), (cur < L0) & (cur >= L1))
            if not bool(inside.any()):
                break
            t = t0 + torch.floor((cur - L0).double() * dt / dl).long()
            fire = inside & ((last_t == NEVER) | (t - last_t >= refractory_us))
            last_t.copy_(torch.where(fire, t, last_t))
            ref.copy_(torch.where(inside, cur, ref))
            yield fire, t, on
            active = inside


def simulate_reference(
    logf: Tensor,
    ts: Tensor,
    thr_pos: Tensor,
    thr_neg: Tensor,
    ref: Tensor,
    last_t: Tensor,
    width: int,
    refractory_us: int,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Pure-torch simulate_events. Returns x, y, t, p, offsets [B+1]; events of each stream
    sorted by (t, pixel index y*W + x). x, y int16 (int32 for sides > 32767), p uint8."""
    B, _, P = logf.shape
    bs, ps, tt, on_list = [], [], [], []
    pix = torch.arange(P, device=logf.device).expand(B, P)
    bix = torch.arange(B, device=logf.device)[:, None].expand(B, P)
    for fire, t, on in _crossings(logf, ts, thr_pos, thr_neg, ref, last_t, refractory_us):
        bs.append(bix[fire])
        ps.append(pix[fire])
        tt.append(t[fire])
        on_list.append(on[fire])
    dev = logf.device
    b = torch.cat(bs) if bs else torch.zeros(0, dtype=torch.int64, device=dev)
    p_ = torch.cat(ps) if ps else torch.zeros(0, dtype=torch.int64, device=dev)
    t = torch.cat(tt) if tt else torch.zeros(0, dtype=torch.int64, device=dev)
    on = torch.cat(on_list) if on_list else torch.zeros(0, dtype=torch.bool, device=dev)
    # lexicographic (stream, t, pixel) by stable sorts from the last key to the first
    order = torch.argsort(p_, stable=True)
    order = order[torch.argsort(t[order], stable=True)]
    order = order[torch.argsort(b[order], stable=True)]
    b, p_, t, on = b[order], p_[order], t[order], on[order]
    cdt = torch.int16 if width < 32768 and P // width < 32768 else torch.int32
    offsets = torch.zeros(B + 1, dtype=torch.int64, device=dev)
    offsets[1:] = torch.cumsum(torch.bincount(b, minlength=B), 0)
    return ((p_ % width).to(cdt), (p_ // width).to(cdt), t, on.to(torch.uint8), offsets)


def simulate_histogram_reference(
    logf: Tensor,
    ts: Tensor,
    thr_pos: Tensor,
    thr_neg: Tensor,
    ref: Tensor,
    last_t: Tensor,
    refractory_us: int,
) -> Tensor:
    """Pure-torch simulate_histogram: counts [B, 2, P] float32 (channel 0 ON, 1 OFF)."""
    B, _, P = logf.shape
    out = torch.zeros(B, 2, P, dtype=torch.float32, device=logf.device)
    for fire, _, on in _crossings(logf, ts, thr_pos, thr_neg, ref, last_t, refractory_us):
        out[:, 0] += (fire & on).float()
        out[:, 1] += (fire & ~on).float()
    return out


def simulate_events_raw(
    logf: Tensor,
    ts: Tensor,
    thr_pos: Tensor,
    thr_neg: Tensor,
    ref: Tensor,
    last_t: Tensor,
    width: int,
    refractory_us: int,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """torch.ops.ezsr.simulate_events where a kernel exists for the device, else the reference."""
    if _ext.use_kernel("simulate_events", logf.device):
        return torch.ops.ezsr.simulate_events(
            logf, ts, thr_pos, thr_neg, ref, last_t, width, refractory_us
        )
    return simulate_reference(logf, ts, thr_pos, thr_neg, ref, last_t, width, refractory_us)


def simulate_histogram_raw(
    logf: Tensor,
    ts: Tensor,
    thr_pos: Tensor,
    thr_neg: Tensor,
    ref: Tensor,
    last_t: Tensor,
    refractory_us: int,
) -> Tensor:
    """torch.ops.ezsr.simulate_histogram where a kernel exists, else the reference."""
    if _ext.use_kernel("simulate_histogram", logf.device):
        return torch.ops.ezsr.simulate_histogram(
            logf, ts, thr_pos, thr_neg, ref, last_t, refractory_us
        )
    return simulate_histogram_reference(logf, ts, thr_pos, thr_neg, ref, last_t, refractory_us)


if _ext._C is not None and hasattr(torch.ops.ezsr, "simulate_histogram"):

    @torch.library.register_fake("ezsr::simulate_histogram")
    def _simulate_histogram_fake(
        logf: Tensor,
        ts: Tensor,
        thr_pos: Tensor,
        thr_neg: Tensor,
        ref: Tensor,
        last_t: Tensor,
        refractory_us: int,
    ) -> Tensor:
        return logf.new_empty((logf.shape[0], 2, logf.shape[2]), dtype=torch.float32)
