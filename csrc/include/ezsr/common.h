// Shared definitions of the torch-free ezsr core.
//
// Conventions for every kernel in csrc/core:
//   * a batch of event streams is concatenated columns x, y, t, p plus an
//     offsets array of B+1 int64 (CSR style): stream b is [offsets[b], offsets[b+1]);
//   * x is the column, y the row; t is int64 microseconds; p is uint8 with 1 = ON;
//   * outputs are dense float32 tensors [B, C, H, W] in row-major (NCHW) order;
//   * CUDA entry points take a cudaStream_t (as void* so this header needs no CUDA).
#pragma once
#include <cstdint>

// Functions usable from both host and device code.
#if defined(__CUDACC__)
#define EZSR_HD __host__ __device__
#else
#define EZSR_HD
#endif

namespace ezsr {

// Map a sensor coordinate to an output coordinate by exact integer floor:
// out = floor(v * out_size / in_size). Returns -1 when v is outside [0, in_size).
// Used by the histogram's optional resize-by-squash (EZSR's N-ImageNet path).
EZSR_HD inline int64_t scale_coord(int64_t v, int64_t in_size, int64_t out_size) {
  if (v < 0 || v >= in_size) return -1;
  return out_size == in_size ? v : (v * out_size) / in_size;
}

// Number of OpenMP threads the CPU kernels will use (1 without OpenMP).
int cpu_threads();

}  // namespace ezsr
