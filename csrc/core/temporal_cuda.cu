// CUDA voxel grid and time surface. Reference: ezsr/ops/temporal.py. Mirrors
// temporal.cpp: one thread per event (grid-stride), stream found by binary search in
// offsets, t_first/t_last read from the stream's first and last event.
#include "ezsr/cuda_utils.cuh"
#include "ezsr/temporal.h"

namespace ezsr {
namespace {

constexpr int kThreads = 256;

// Event i's stream b, pixel y * W + x and time normalised to its stream's span; false
// (and counted in dropped[b]) when it lies off the sensor.
template <typename Coord>
__device__ bool locate(const TemporalArgs<Coord>& a, int64_t i, int64_t& b, int64_t& pixel,
                       double& tau) {
  b = stream_of(a.offsets, a.batch, i);
  if (b < 0) return false;  // invalid offsets: i is in no stream
  const int64_t x = a.x[i], y = a.y[i];
  if (!on_sensor_or_drop(x, y, a.width, a.height, a.dropped + b)) return false;
  pixel = y * a.width + x;
  // offsets[b] <= i < offsets[b+1] here; the clamps keep invalid offsets in [0, n)
  const int64_t first = a.offsets[b] > 0 ? a.offsets[b] : 0;
  const int64_t last = (a.offsets[b + 1] < a.n_events ? a.offsets[b + 1] : a.n_events) - 1;
  tau = normalised_time(a.t[i], a.t[first], a.t[last]);
  return true;
}

template <typename Coord>
__global__ void voxel_grid_kernel(TemporalArgs<Coord> a) {
  const int64_t hw = a.height * a.width;
  grid_stride(a.n_events, [&](int64_t i) {
    int64_t b, pixel;
    double tau;
    if (!locate(a, i, b, pixel, tau)) return;
    const VoxelSplit s = voxel_split(tau, a.bins);
    const float pol = a.p[i] == 1 ? 1.f : -1.f;
    float* px = a.out + (b * a.bins + s.b0) * hw + pixel;
    atomicAdd(px, pol * s.w0);
    if (s.b0 + 1 < a.bins) atomicAdd(px + hw, pol * s.w1);
  });
}

// The trick: for non-negative floats the IEEE bit patterns order like the values, so a
// float amax is an integer atomicMax on the bits (tau is clamped to [0, 1]).
template <typename Coord>
__global__ void time_surface_kernel(TemporalArgs<Coord> a) {
  const int64_t hw = a.height * a.width;
  grid_stride(a.n_events, [&](int64_t i) {
    int64_t b, pixel;
    double tau;
    if (!locate(a, i, b, pixel, tau)) return;
    float* px = a.out + (b * 2 + (a.p[i] == 1 ? 0 : 1)) * hw + pixel;
    atomicMax(reinterpret_cast<int*>(px), __float_as_int(static_cast<float>(tau)));
  });
}

}  // namespace

template <typename Coord>
void voxel_grid_cuda(const TemporalArgs<Coord>& a, void* stream) {
  if (a.n_events == 0) return;
  voxel_grid_kernel<Coord>
      <<<blocks_for(a.n_events, kThreads), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(a);
  check_cuda(cudaGetLastError(), "voxel_grid_kernel");
}

template <typename Coord>
void time_surface_cuda(const TemporalArgs<Coord>& a, void* stream) {
  if (a.n_events == 0) return;
  time_surface_kernel<Coord>
      <<<blocks_for(a.n_events, kThreads), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(a);
  check_cuda(cudaGetLastError(), "time_surface_kernel");
}

template void voxel_grid_cuda<int16_t>(const TemporalArgs<int16_t>&, void*);
template void voxel_grid_cuda<int32_t>(const TemporalArgs<int32_t>&, void*);
template void time_surface_cuda<int16_t>(const TemporalArgs<int16_t>&, void*);
template void time_surface_cuda<int32_t>(const TemporalArgs<int32_t>&, void*);

}  // namespace ezsr
