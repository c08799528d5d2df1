"""Camera-motion models for static images and the adaptive frame schedule.

A motion maps time to a 3x3 homography M(t) [B, T, 3, 3] that takes a sensor pixel
(x, y, 1) (pixel centres at integers) to a point of the canvas: the image fitted into the
sensor and centred. M(0) is the identity for every model. Lengths are in sensor pixels and
scale with the sensor's shorter side, so a 224x224 sensor sees the same relative motion as
640x480.

Models (each with a duration and a seed):
  saccade     N-MNIST / N-Caltech101 (Orchard et al., "Converting static image datasets to
              spiking neuromorphic datasets using saccades", Front. Neurosci. 2015): the
              sensor made three ~100 ms saccades around a triangle. Here: three straight
              moves along an equilateral triangle (side 5 % of the shorter sensor side,
              orientation from the seed), each duration/3 long with a smoothstep speed
              profile (zero velocity at the corners), ending where it started.
  trajectory  N-ImageNet-style (Kim et al., ICCV 2021, which moved a monitor image along a
              trajectory): a smooth random path, the sum of three sinusoids per axis
              (0.5-2 cycles per duration, total amplitude ~5 % of the shorter side) plus a
              small rotation (up to ~2 degrees), shifted to start at the identity.
  affine      a random homography path: smoothstep interpolation from the identity to a
              random target (rotation +-5 deg, scale +-5 %, shear +-0.03, translation +-5 %,
              perspective terms of a few 1e-5/px), about the sensor centre.
"""

from __future__ import annotations

import math

import torch

MOTIONS = ("saccade", "trajectory", "affine")
DEFAULT_DURATION_US = {"saccade": 300_000, "trajectory": 100_000, "affine": 100_000}
AMPLITUDE = 0.05  # motion amplitude as a fraction of the shorter sensor side


def _smoothstep(s: torch.Tensor) -> torch.Tensor:
    s = s.clamp(0, 1)
    return s * s * (3 - 2 * s)


def _translation(dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """[..., 3, 3] mapping sensor -> canvas for an image moved by (dx, dy) on the sensor."""
    m = torch.zeros(*dx.shape, 3, 3, dtype=torch.float64)
    m[..., 0, 0] = m[..., 1, 1] = m[..., 2, 2] = 1
    m[..., 0, 2] = -dx
    m[..., 1, 2] = -dy
    return m


def _about_centre(a: torch.Tensor, cx: float, cy: float) -> torch.Tensor:
    """Conjugate a [..., 3, 3] transform so it acts about (cx, cy)."""
    t = torch.eye(3, dtype=torch.float64)
    t[0, 2], t[1, 2] = cx, cy
    ti = torch.eye(3, dtype=torch.float64)
    ti[0, 2], ti[1, 2] = -cx, -cy
    return t @ a @ ti


class Motion:
    """B random motions of one model: __call__(times_us [T]) -> M [B, T, 3, 3] float64."""

    def __init__(
        self, motion: str, batch: int, sensor: tuple[int, int], duration_us: int, seed: int
    ):
        if motion not in MOTIONS:
            raise ValueError(f"argument 'motion' must be one of {MOTIONS}, got {motion!r}")
        self.motion, self.batch, self.duration_us = motion, batch, int(duration_us)
        H, W = sensor
        self.cx, self.cy = (W - 1) / 2, (H - 1) / 2
        amp = AMPLITUDE * min(H, W)
        g = torch.Generator().manual_seed(int(seed) + 7919)
        u = lambda *s: torch.rand(*s, generator=g, dtype=torch.float64)  # noqa: E731
        if motion == "saccade":
            phi = 2 * math.pi * u(batch)
            ang = phi[:, None] + torch.tensor([0.0, 0.0, math.pi / 3, 0.0], dtype=torch.float64)
            r = torch.tensor([0.0, 1.0, 1.0, 0.0], dtype=torch.float64) * amp
            self.vx, self.vy = r * torch.cos(ang), r * torch.sin(ang)  # corners [B, 4]
        elif motion == "trajectory":
            self.freq = 0.5 + 1.5 * u(batch, 3, 3)  # [B, (x, y, rot), 3] cycles per duration
            self.phase = 2 * math.pi * u(batch, 3, 3)
            self.sin_phase = torch.sin(self.phase)  # the offset that makes M(0) the identity
            self.amp = torch.tensor([amp / 3, amp / 3, math.radians(2) / 3], dtype=torch.float64)[
                None, :, None
            ] * (0.5 + 0.5 * u(batch, 3, 3))
        else:
            s = lambda lo: (2 * u(batch) - 1) * lo  # noqa: E731
            rot, scale, shear = s(math.radians(5)), 1 + s(0.05), s(0.03)
            tx, ty = s(AMPLITUDE * W), s(AMPLITUDE * H)
            px, py = s(3e-5 * 640 / W), s(3e-5 * 640 / H)
            a = torch.zeros(batch, 3, 3, dtype=torch.float64)
            c, sn = torch.cos(rot) * scale, torch.sin(rot) * scale
            a[:, 0, 0], a[:, 0, 1], a[:, 0, 2] = c, -sn + shear, tx
            a[:, 1, 0], a[:, 1, 1], a[:, 1, 2] = sn, c, ty
            a[:, 2, 0], a[:, 2, 1], a[:, 2, 2] = px, py, 1
            self.target = torch.linalg.inv(_about_centre(a, self.cx, self.cy))  # sensor->canvas

    def _shift(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Saccade displacement (dx, dy) [B, T] in sensor px at normalised times s [T]."""
        seg = torch.clamp((s * 3).floor().long(), max=2)  # which saccade
        w = _smoothstep(s * 3 - seg)
        x0, x1 = self.vx[:, seg], self.vx[:, seg + 1]
        y0, y1 = self.vy[:, seg], self.vy[:, seg + 1]
        return x0 + (x1 - x0) * w, y0 + (y1 - y0) * w

    def _s(self, times_us: torch.Tensor) -> torch.Tensor:
        return (times_us.to(torch.float64) / max(self.duration_us, 1)).clamp(0, 1)  # [T]

    def __call__(self, times_us: torch.Tensor) -> torch.Tensor:
        s = self._s(times_us)
        if self.motion == "saccade":
            return _translation(*self._shift(s))
        if self.motion == "trajectory":
            arg = (2 * math.pi) * self.freq[..., None] * s + self.phase[..., None]  # [B,3,3,T]
            v = (self.amp[..., None] * (torch.sin(arg) - self.sin_phase[..., None])).sum(2)
            dx, dy, th = v[:, 0], v[:, 1], v[:, 2]  # [B, T]
            # rotation by th about the centre after the move by (dx, dy), composed by hand
            # (the product R_c @ T(dx, dy) with R_c = [[c, s, ex], [-s, c, ey], [0, 0, 1]])
            c, sn = torch.cos(th), torch.sin(th)
            ex, ey = self.cx - c * self.cx - sn * self.cy, self.cy + sn * self.cx - c * self.cy
            m = torch.zeros(*dx.shape, 3, 3, dtype=torch.float64)
            m[..., 0, 0], m[..., 0, 1], m[..., 0, 2] = c, sn, ex - c * dx - sn * dy
            m[..., 1, 0], m[..., 1, 1], m[..., 1, 2] = -sn, c, ey + sn * dx - c * dy
            m[..., 2, 2] = 1
            return m
        w = _smoothstep(s)[None, :, None, None]  # [1, T, 1, 1]
        eye = torch.eye(3, dtype=torch.float64)
        return eye + w * (self.target[:, None] - eye)

    def max_speed(self, times_us: torch.Tensor, sensor: tuple[int, int]) -> torch.Tensor:
        """[T] largest speed (sensor px per µs) of a sensor corner or the centre in the canvas,
        over the batch, by central differences (h = 1 µs) at times_us.

        One motion evaluation at all 2T shifted times for the whole batch; a saccade is a pure
        translation, so every point moves alike and only (dx, dy) [B, 2T] is evaluated (no
        3x3 matrices); the other models map the 5 points with explicit multiply-adds
        (no batched 3x3 matmul) and divide by the projective coordinate."""
        H, W = sensor
        T, h = times_us.numel(), 1.0
        tt = torch.cat([times_us.to(torch.float64) + h, times_us.to(torch.float64) - h])
        if self.motion == "saccade":
            dx, dy = self._shift(self._s(tt))  # [B, 2T]
            v = torch.hypot(dx[:, :T] - dx[:, T:], dy[:, :T] - dy[:, T:]) / (2 * h)  # [B, T]
            return v.amax(dim=0)
        px = torch.tensor([0, W - 1, 0, W - 1, self.cx], dtype=torch.float64)
        py = torch.tensor([0, 0, H - 1, H - 1, self.cy], dtype=torch.float64)
        M = self(tt)[..., None]  # [B, 2T, 3, 3, 1]: row i, column j, then the 5 points
        q = M[..., 0, :] * px + M[..., 1, :] * py + M[..., 2, :]  # [B, 2T, 3, 5]
        u, v = q[:, :, 0] / q[:, :, 2], q[:, :, 1] / q[:, :, 2]  # [B, 2T, 5] canvas points
        sp = torch.hypot(u[:, :T] - u[:, T:], v[:, :T] - v[:, T:]) / (2 * h)  # [B, T, 5]
        return sp.amax(dim=(0, 2))


def adaptive_times(
    motion: Motion,
    sensor: tuple[int, int],
    grad_max: float,
    threshold: float,
    max_crossings: float,
    max_frames: int,
) -> tuple[torch.Tensor, bool]:
    """Frame times [T] int64 µs from 0 to the duration such that the image moves at most
    budget = max_crossings * threshold / grad_max sensor px between two rendered frames
    (grad_max: the largest |grad L|, log units per sensor px), so no pixel changes by more
    than max_crossings thresholds between frames. The path length is bounded per probe cell
    (2048 cells) by the larger of the probed speeds at its ends (+5 %); its running sum S(t)
    is inverted piecewise linearly at multiples of the budget (no Python loop). Returns
    (times, capped); capped: more than max_frames frames would be needed and a uniform
    schedule of max_frames frames is used instead.

    (Before the trainperf branch the step was dt = budget / (speed over the next two cells):
    a saccade starts at zero speed, so the first step jumped over most of the motion.)"""
    D = motion.duration_us
    n_probe = 2048
    probe = torch.linspace(0, D, n_probe + 1, dtype=torch.float64)
    v = motion.max_speed(probe, sensor)
    v = torch.maximum(v[:-1], v[1:]) * 1.05  # speed bound per probe cell, with a margin
    budget = max_crossings * threshold / max(grad_max, 1e-12)
    S = torch.cat([v.new_zeros(1), torch.cumsum(v * (D / n_probe), 0)])  # [n_probe + 1] px
    n = max(1, math.ceil(float(S[-1]) / budget))  # frame intervals
    if n + 1 > max_frames:
        return torch.linspace(0, D, max_frames).round().long().unique(), True
    level = torch.arange(1, n, dtype=torch.float64) * budget  # interior frames
    i = torch.searchsorted(S, level).clamp(1, n_probe)  # S[i-1] < level <= S[i]
    frac = (level - S[i - 1]) / (S[i] - S[i - 1]).clamp(min=1e-300)
    t = probe[i - 1] + frac * (D / n_probe)
    times = torch.cat([probe[:1], t, probe[-1:]])
    return times.round().long().unique(), False
