// CPU polarity histogram. Reference: ezsr/ops/histogram.py::histogram_reference.
#include "ezsr/histogram.h"

#include <algorithm>

#include "stream_planes.h"

namespace ezsr {
namespace {

// Count events [begin, end) into plane (2 x out_h x out_w); returns how many were dropped.
template <typename Coord>
int64_t count_range(const HistogramArgs<Coord>& a, int64_t begin, int64_t end, float* plane) {
  const int64_t hw = a.out_h * a.out_w;
  int64_t dropped = 0;
  if (a.out_w == a.width && a.out_h == a.height) {
    // Fast path without the integer division of the resize.
    for (int64_t i = begin; i < end; ++i) {
      const int64_t x = a.x[i], y = a.y[i];
      // One unsigned compare per axis rejects negatives and values past the edge.
      if (static_cast<uint64_t>(x) >= static_cast<uint64_t>(a.width) ||
          static_cast<uint64_t>(y) >= static_cast<uint64_t>(a.height)) {
        ++dropped;
        continue;
      }
      plane[static_cast<int64_t>(a.p[i] != 1) * hw + y * a.out_w + x] += 1.0f;
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
