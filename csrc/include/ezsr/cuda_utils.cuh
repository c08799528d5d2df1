// Small helpers shared by the CUDA kernels of the core (nvcc only).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace ezsr {

inline void check_cuda(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("ezsr CUDA error in ") + what + ": " +
                             cudaGetErrorString(err));
}

// Index of the stream that event i belongs to: the largest b with offsets[b] <= i, for
// offsets of batch+1 >= 2 entries, non-decreasing (empty streams allowed). Returns -1 when
// i lies outside [offsets[b], offsets[b+1]), which only invalid offsets allow (the CUDA ops
// do not check offsets, as that would synchronise; the Python wrappers do unless told not
// to): the caller skips the event, so any offsets stay memory-safe.
__device__ inline int64_t stream_of(const int64_t* offsets, int64_t batch, int64_t i) {
  int64_t lo = 0, hi = batch;  // answer in [lo, hi)
  while (hi - lo > 1) {
    const int64_t mid = (lo + hi) / 2;
    if (offsets[mid] <= i)
      lo = mid;
    else
      hi = mid;
  }
  return offsets[lo] <= i && i < offsets[lo + 1] ? lo : -1;
}

// True when (x, y) lies on the width x height sensor; otherwise counts one dropped event
// for its stream (dropped_b = dropped + b) and returns false.
__device__ inline bool on_sensor_or_drop(int64_t x, int64_t y, int64_t width, int64_t height,
                                         int64_t* dropped_b) {
  if (x >= 0 && x < width && y >= 0 && y < height) return true;
  atomicAdd(reinterpret_cast<unsigned long long*>(dropped_b), 1ull);
  return false;
}

// Calls body(i) for every i in [0, n) across the whole launch (grid-stride loop), so any
// grid size covers any n.
template <typename Body>
__device__ inline void grid_stride(int64_t n, Body&& body) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x)
    body(i);
}

inline unsigned blocks_for(int64_t n, int threads) {
  const int64_t b = (n + threads - 1) / threads;
  return static_cast<unsigned>(b < 65535 * 64 ? (b > 0 ? b : 1) : 65535 * 64);
}

}  // namespace ezsr
