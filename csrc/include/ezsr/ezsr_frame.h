// EZSR's preprocessing steps 3-6 plus the step-7 gather, fused per window (CPU):
// histogram, hot-pixel clip at the 0.75-quantile of the entries > 0.1, each channel
// divided by (its max + 1), mean of the two channels, sampled at the output grid.
#pragma once
#include <cstdint>

#include "ezsr/common.h"

namespace ezsr {

//   x, y, p, offsets   a batch of event windows (see common.h)
//   width, height      sensor size; events outside are dropped and counted
//   hist_w, hist_h     histogram grid (coordinates mapped with scale_coord: EZSR's squash
//                      path builds it at 224x224; the crop path at the sensor size)
//   rows [out_h], cols [out_w]  int64 source pixel (in the histogram grid) of every
//                      output pixel: the NEAREST resize + center crop of step 7
//   mean, std [channels] float32: out[b, c] = (gray - mean[c]) / std[c] (CLIP's
//                      normalisation, the same gray in every channel)
//   out  [B, channels, out_h, out_w] float32; dropped [B] int64
template <typename Coord>
struct EzsrFrameArgs {
  const Coord* x;
  const Coord* y;
  const uint8_t* p;
  const int64_t* offsets;
  int64_t batch;
  int64_t width, height;
  int64_t hist_w, hist_h;
  const int64_t* rows;
  int64_t out_h;
  const int64_t* cols;
  int64_t out_w;
  const float* mean;
  const float* std;
  int64_t channels;
  float* out;
  int64_t* dropped;
};

template <typename Coord>
void ezsr_frame_cpu(const EzsrFrameArgs<Coord>& a);

// numpy/torch linear quantile (virtual index q * (n - 1); a + (b - a) * f, or
// b - (b - a) * (1 - f) when f >= 0.5) of v[0..n), which it reorders; n > 0.
float quantile_linear(float* v, int64_t n, double q);

// The same quantile of n positive integer counts given as a frequency table:
// freq[v] = how many of the counts equal v, for v in [0, freq_size). O(freq_size).
float quantile_of_counts(const int64_t* freq, int64_t freq_size, int64_t n, double q);

}  // namespace ezsr
