// Polarity histogram: counts per pixel and polarity.
#pragma once
#include <cstdint>

#include "ezsr/common.h"

namespace ezsr {

// Arguments shared by the CPU and CUDA histogram kernels.
//   x, y     [N] int16 or int32 sensor coordinates (x = column, y = row)
//   p        [N] uint8, 1 = ON (channel 0), anything else OFF (channel 1)
//   offsets  [B+1] int64, non-decreasing, offsets[0] = 0, offsets[B] = N
//   out      [B, 2, out_h, out_w] float32, zeroed by the caller
//   dropped  [B] int64, zeroed by the caller: events outside width x height
// Coordinates are mapped to the output grid with scale_coord (identity when
// out_w == width and out_h == height). When cap > 0 every count is clamped to cap.
template <typename Coord>
struct HistogramArgs {
  const Coord* x;
  const Coord* y;
  const uint8_t* p;
  const int64_t* offsets;
  int64_t batch;
  int64_t n_events;       // offsets[batch], known on the host
  int64_t width, height;  // sensor size
  int64_t out_w, out_h;   // output grid
  float cap;              // <= 0: no cap
  float* out;
  int64_t* dropped;
};

template <typename Coord>
void histogram_cpu(const HistogramArgs<Coord>& a);

// CUDA version; every pointer is device memory. Defined only in CUDA builds.
template <typename Coord>
void histogram_cuda(const HistogramArgs<Coord>& a, void* stream);

}  // namespace ezsr
