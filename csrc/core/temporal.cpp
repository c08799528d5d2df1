// CPU voxel grid and time surface. Reference: ezsr/ops/temporal.py
// (voxel_grid_reference, time_surface_reference).
//
// Both ops follow the histogram's threading plan (docs/kernels.md): with B >= threads one
// OpenMP task per stream writes its own output slice; with fewer, longer streams the
// events of a stream are split across threads, thread 0 writes the output and the others
// private planes that are merged in a parallel pass over pixels (sum for the voxel grid,
// max for the time surface). No atomics on the hot path.
#include "ezsr/temporal.h"

#include <algorithm>

#include "stream_planes.h"

namespace ezsr {
namespace {

inline bool inside(int64_t x, int64_t y, int64_t w, int64_t h) {
  // one unsigned compare per axis rejects negatives and values past the edge
  return static_cast<uint64_t>(x) < static_cast<uint64_t>(w) &&
         static_cast<uint64_t>(y) < static_cast<uint64_t>(h);
}

// Calls deposit(i, pixel, tau) for the in-sensor events [lo, hi) of the stream [begin, end)
// (pixel = y * W + x, tau = the event's time normalised to the stream's span); returns how
// many events were outside the sensor.
template <typename Coord, typename Deposit>
int64_t for_inside_events(const TemporalArgs<Coord>& a, int64_t begin, int64_t end, int64_t lo,
                          int64_t hi, Deposit&& deposit) {
  const int64_t t0 = a.t[begin], t1 = a.t[end - 1];
  int64_t dropped = 0;
  for (int64_t i = lo; i < hi; ++i) {
    const int64_t x = a.x[i], y = a.y[i];
    if (!inside(x, y, a.width, a.height)) {
      ++dropped;
      continue;
    }
    deposit(i, y * a.width + x, normalised_time(a.t[i], t0, t1));
  }
  return dropped;
}

// Events [lo, hi) of the stream [begin, end) into plane (bins x H x W).
template <typename Coord>
int64_t voxel_range(const TemporalArgs<Coord>& a, int64_t begin, int64_t end, int64_t lo,
                    int64_t hi, float* plane) {
  const int64_t hw = a.height * a.width;
  return for_inside_events(a, begin, end, lo, hi, [&](int64_t i, int64_t pixel, double tau) {
    const VoxelSplit s = voxel_split(tau, a.bins);
    const float pol = a.p[i] == 1 ? 1.f : -1.f;
    float* px = plane + s.b0 * hw + pixel;
    px[0] += pol * s.w0;
    if (s.b0 + 1 < a.bins) px[hw] += pol * s.w1;
  });
}

template <typename Coord>
int64_t surface_range(const TemporalArgs<Coord>& a, int64_t begin, int64_t end, int64_t lo,
                      int64_t hi, float* plane) {
  const int64_t hw = a.height * a.width;
  return for_inside_events(a, begin, end, lo, hi, [&](int64_t i, int64_t pixel, double tau) {
    float& v = plane[static_cast<int64_t>(a.p[i] != 1) * hw + pixel];
    v = std::max(v, static_cast<float>(tau));  // amax: order-free, unsorted input is fine
  });
}

// Shared driver over the threading plan of stream_planes.h; merge_max picks the reduction
// of the private planes (max for the time surface, sum for the voxel grid).
template <typename Coord, typename Range>
void run(const TemporalArgs<Coord>& a, int64_t channels, bool merge_max, Range range) {
  detail::for_each_stream_plane(
      a.batch, a.offsets, channels * a.height * a.width, a.out, a.dropped,
      [&](int64_t begin, int64_t end, int64_t lo, int64_t hi, float* plane) {
        return range(a, begin, end, lo, hi, plane);
      },
      [merge_max](float u, float v) { return merge_max ? std::max(u, v) : u + v; }, false,
      [](float v) { return v; });
}

}  // namespace

template <typename Coord>
void voxel_grid_cpu(const TemporalArgs<Coord>& a) {
  run(a, a.bins, false, voxel_range<Coord>);
}

template <typename Coord>
void time_surface_cpu(const TemporalArgs<Coord>& a) {
  run(a, 2, true, surface_range<Coord>);
}

template void voxel_grid_cpu<int16_t>(const TemporalArgs<int16_t>&);
template void voxel_grid_cpu<int32_t>(const TemporalArgs<int32_t>&);
template void time_surface_cpu<int16_t>(const TemporalArgs<int16_t>&);
template void time_surface_cpu<int32_t>(const TemporalArgs<int32_t>&);

}  // namespace ezsr
