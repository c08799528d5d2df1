// The CPU threading plan shared by the scatter-style kernels (histogram, voxel grid,
// time surface): every stream b of a CSR batch owns one output plane out + b*plane_size.
//
//   * B >= threads: one OpenMP task per stream; each writes only its own plane.
//   * fewer, longer streams: a stream's events are split across the threads of the team;
//     thread 0 writes the output plane, the others private planes that are merged in a
//     parallel pass over pixels. No atomics on the hot path. The split uses the size of
//     the team OpenMP actually started (omp_get_num_threads() inside the region), which
//     can be smaller than requested (OMP_THREAD_LIMIT, OMP_DYNAMIC, a nested region).
//
// range(begin, end, lo, hi, plane) accumulates events [lo, hi) of the stream [begin, end)
// into plane and returns how many it dropped; merge(a, b) combines two partial planes
// (sum or max); finish(v) maps each final value (e.g. the histogram's cap) and is only
// applied when has_finish is true (saves a pass over the planes otherwise).
#pragma once
#include <cstdint>
#include <vector>

#include "ezsr/common.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ezsr {
namespace detail {

template <typename Range, typename Merge, typename Finish>
void for_each_stream_plane(int64_t batch, const int64_t* offsets, int64_t plane_size, float* out,
                           int64_t* dropped, Range range, Merge merge, bool has_finish,
                           Finish finish) {
  const int threads = cpu_threads();
  if (batch >= threads || threads == 1) {
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t lo = offsets[b], hi = offsets[b + 1];
      float* plane = out + b * plane_size;
      dropped[b] = hi > lo ? range(lo, hi, lo, hi, plane) : 0;
      if (has_finish)
        for (int64_t i = 0; i < plane_size; ++i) plane[i] = finish(plane[i]);
    }
    return;
  }
  std::vector<std::vector<float>> priv(threads - 1);  // the team is at most `threads`
  std::vector<int64_t> drops(threads);
  for (int64_t b = 0; b < batch; ++b) {
    float* plane = out + b * plane_size;
    const int64_t begin = offsets[b], end = offsets[b + 1], n = end - begin;
    if (n == 0) {
      dropped[b] = 0;
      if (has_finish)
        for (int64_t i = 0; i < plane_size; ++i) plane[i] = finish(plane[i]);
      continue;
    }
    int team_size = 1;
#pragma omp parallel num_threads(threads)
    {
#ifdef _OPENMP
      const int tid = omp_get_thread_num(), team = omp_get_num_threads();
#else
      const int tid = 0, team = 1;
#endif
      if (tid == 0) team_size = team;
      float* dst = plane;
      if (tid > 0) {
        priv[tid - 1].assign(plane_size, 0.f);
        dst = priv[tid - 1].data();
      }
      drops[tid] = range(begin, end, begin + n * tid / team, begin + n * (tid + 1) / team, dst);
#pragma omp barrier
#pragma omp for schedule(static)
      for (int64_t i = 0; i < plane_size; ++i) {
        float s = plane[i];
        for (int k = 1; k < team; ++k) s = merge(s, priv[k - 1][i]);
        plane[i] = finish(s);
      }
    }
    int64_t d = 0;
    for (int k = 0; k < team_size; ++k) d += drops[k];
    dropped[b] = d;
  }
}

}  // namespace detail
}  // namespace ezsr
