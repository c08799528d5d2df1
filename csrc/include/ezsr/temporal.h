// Time-aware representations: voxel grid (bilinear in normalised time, signed by
// polarity) and time surface (per pixel and polarity, the latest normalised time).
#pragma once
#include <cmath>
#include <cstdint>

#include "ezsr/common.h"

namespace ezsr {

// Arguments shared by the CPU and CUDA kernels of both ops.
//   x, y     [N] int16 or int32 sensor coordinates (x = column, y = row)
//   t        [N] int64 microseconds, non-decreasing inside each stream
//   p        [N] uint8, 1 = ON, anything else OFF
//   offsets  [B+1] int64 CSR offsets
//   out      voxel grid: [B, bins, height, width]; time surface: [B, 2, height, width];
//            float32, zeroed by the caller
//   dropped  [B] int64, zeroed by the caller: events outside width x height
template <typename Coord>
struct TemporalArgs {
  const Coord* x;
  const Coord* y;
  const int64_t* t;
  const uint8_t* p;
  const int64_t* offsets;
  int64_t batch;
  int64_t n_events;
  int64_t width, height;
  int64_t bins;  // voxel grid only (time surface: 2 polarity channels)
  float* out;
  int64_t* dropped;
};

// Normalised time of one event inside its stream, tau = (t - t_first) / (t_last - t_first),
// in double precision and clamped to [0, 1] (which keeps unsorted input memory-safe);
// a stream whose events share one timestamp has tau = 0. The differences are taken in
// double: for |t| < 2^53 us that is the exact difference rounded once (as an int64
// difference converted would be), and it cannot overflow for spans beyond int64 (the
// int64 difference did, giving tau = 1 to the wrong events; found by tests/test_fuzz_ops.py).
EZSR_HD inline double normalised_time(int64_t t, int64_t t_first, int64_t t_last) {
  const double first = static_cast<double>(t_first);
  const double span = static_cast<double>(t_last) - first;
  if (!(span > 0.0)) return 0.0;
  const double tau = (static_cast<double>(t) - first) / span;
  return tau < 0.0 ? 0.0 : (tau > 1.0 ? 1.0 : tau);
}

// Voxel-grid split of one event: position tau * (bins - 1) falls between bin b0 and
// b0 + 1; the signed polarity goes (1 - frac) to b0 and frac to b0 + 1.
struct VoxelSplit {
  int64_t b0;
  float w0, w1;  // w1 belongs to b0 + 1 (0 when b0 is the last bin)
};

EZSR_HD inline VoxelSplit voxel_split(double tau, int64_t bins) {
#if defined(__CUDA_ARCH__)
  // __dmul_rn: the product is rounded on its own (no FMA with the subtraction below), as
  // on the CPU (-ffp-contract=off), so both give the same weights bit for bit
  const double pos = __dmul_rn(tau, static_cast<double>(bins - 1));
#else
  const double pos = tau * static_cast<double>(bins - 1);
#endif
  // pos >= 0 (tau is clamped), so truncation is floor without a libm call
  int64_t b0 = static_cast<int64_t>(pos);
  if (b0 > bins - 1) b0 = bins - 1;
  const double frac = pos - static_cast<double>(b0);
  return {b0, static_cast<float>(1.0 - frac), static_cast<float>(frac)};
}

template <typename Coord>
void voxel_grid_cpu(const TemporalArgs<Coord>& a);
template <typename Coord>
void time_surface_cpu(const TemporalArgs<Coord>& a);

// CUDA versions; every pointer is device memory. Defined only in CUDA builds.
template <typename Coord>
void voxel_grid_cuda(const TemporalArgs<Coord>& a, void* stream);
template <typename Coord>
void time_surface_cuda(const TemporalArgs<Coord>& a, void* stream);

}  // namespace ezsr
