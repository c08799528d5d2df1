// CPU polarity histogram. Reference: ezsr/ops/histogram.py::histogram_reference.
#include "ezsr/histogram.h"

#include <algorithm>
#include <climits>

#include "stream_planes.h"

namespace ezsr {
namespace {

// Count events [begin, end) into plane (2 x out_h x out_w); returns how many were dropped.
template <typename Coord>
int64_t count_range(const HistogramArgs<Coord>& a, int64_t begin, int64_t end, float* plane) {
  const int64_t hw = a.out_h * a.out_w;
  int64_t dropped = 0;
  if (a.out_w == a.width && a.out_h == a.height && 2 * hw < INT32_MAX) {
    // Fast path without the integer division of the resize, in two phases per block:
    // (1) flat indices of a block of events, a branch-free loop the compiler vectorises
    // (out-of-sensor events get index -1); (2) the increments, a tight scatter loop
    // whose independent loads/stores overlap in the memory system.
    constexpr int64_t kBlock = 512;
    int32_t idx[kBlock];
    const Coord* __restrict xs = a.x;
    const Coord* __restrict ys = a.y;
    const uint8_t* __restrict ps = a.p;
    const uint32_t w = static_cast<uint32_t>(a.width), h = static_cast<uint32_t>(a.height);
    const int32_t hw32 = static_cast<int32_t>(hw), w32 = static_cast<int32_t>(a.out_w);
    for (int64_t b0 = begin; b0 < end; b0 += kBlock) {
      const int64_t m = std::min(kBlock, end - b0);
      for (int64_t k = 0; k < m; ++k) {
        const int32_t x = xs[b0 + k], y = ys[b0 + k];
        // one unsigned compare per axis rejects negatives and values past the edge
        const bool in = (static_cast<uint32_t>(x) < w) & (static_cast<uint32_t>(y) < h);
        const int32_t flat = (ps[b0 + k] != 1) * hw32 + y * w32 + x;
        idx[k] = in ? flat : -1;
      }
      for (int64_t k = 0; k < m; ++k) {
        if (idx[k] >= 0)
          plane[idx[k]] += 1.0f;
        else
          ++dropped;
      }
    }
  } else {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t x = scale_coord(a.x[i], a.width, a.out_w);
      const int64_t y = scale_coord(a.y[i], a.height, a.out_h);
      if (x < 0 || y < 0) {
        ++dropped;
        continue;
      }
      plane[static_cast<int64_t>(a.p[i] != 1) * hw + y * a.out_w + x] += 1.0f;
    }
  }
  return dropped;
}

}  // namespace

template <typename Coord>
void histogram_cpu(const HistogramArgs<Coord>& a) {
  // The identity-size path skips the integer division of the resize (count_range).
  const float cap = a.cap;
  detail::for_each_stream_plane(
      a.batch, a.offsets, 2 * a.out_h * a.out_w, a.out, a.dropped,
      [&](int64_t, int64_t, int64_t lo, int64_t hi, float* plane) {
        return count_range(a, lo, hi, plane);
      },
      [](float u, float v) { return u + v; }, cap > 0.f,
      [cap](float v) { return cap > 0.f ? std::min(v, cap) : v; });
}

template void histogram_cpu<int16_t>(const HistogramArgs<int16_t>&);
template void histogram_cpu<int32_t>(const HistogramArgs<int32_t>&);

}  // namespace ezsr
