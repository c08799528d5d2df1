// CPU polarity histogram. Reference: ezsr/ops/histogram.py::histogram_reference.
#include "ezsr/histogram.h"

#include <algorithm>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

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

void apply_cap(float* plane, int64_t n, float cap) {
  if (cap <= 0.f) return;
  for (int64_t i = 0; i < n; ++i) plane[i] = std::min(plane[i], cap);
}

}  // namespace

template <typename Coord>
void histogram_cpu(const HistogramArgs<Coord>& a) {
  const int64_t plane_size = 2 * a.out_h * a.out_w;
  const int threads = cpu_threads();
  if (a.batch >= threads || threads == 1) {
    // Many streams: one stream per task, each writes only its own output slice.
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t b = 0; b < a.batch; ++b) {
      float* plane = a.out + b * plane_size;
      a.dropped[b] = count_range(a, a.offsets[b], a.offsets[b + 1], plane);
      apply_cap(plane, plane_size, a.cap);
    }
    return;
  }
  // Few long streams: split each stream's events across threads. Thread 0 counts
  // straight into the output, the others into private planes that are then added
  // in (a parallel pass over pixels), so no atomics are needed on the hot path.
  std::vector<std::vector<float>> priv(threads - 1);
  std::vector<int64_t> drops(threads);
  for (int64_t b = 0; b < a.batch; ++b) {
    float* plane = a.out + b * plane_size;
    const int64_t begin = a.offsets[b], n = a.offsets[b + 1] - begin;
#pragma omp parallel num_threads(threads)
    {
#ifdef _OPENMP
      const int tid = omp_get_thread_num();
#else
      const int tid = 0;
#endif
      float* dst = plane;
      if (tid > 0) {
        priv[tid - 1].assign(plane_size, 0.f);
        dst = priv[tid - 1].data();
      }
      const int64_t lo = begin + n * tid / threads, hi = begin + n * (tid + 1) / threads;
      drops[tid] = count_range(a, lo, hi, dst);
#pragma omp barrier
#pragma omp for schedule(static)
      for (int64_t i = 0; i < plane_size; ++i) {
        float s = plane[i];
        for (int t = 1; t < threads; ++t) s += priv[t - 1][i];
        plane[i] = a.cap > 0.f ? std::min(s, a.cap) : s;
      }
    }
    int64_t d = 0;
    for (int64_t v : drops) d += v;
    a.dropped[b] = d;
  }
}

template void histogram_cpu<int16_t>(const HistogramArgs<int16_t>&);
template void histogram_cpu<int32_t>(const HistogramArgs<int32_t>&);

}  // namespace ezsr
