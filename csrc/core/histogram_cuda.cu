// CUDA polarity histogram. Reference: ezsr/ops/histogram.py::histogram_reference.
#include "ezsr/cuda_utils.cuh"
#include "ezsr/histogram.h"

namespace ezsr {
namespace {

constexpr int kThreads = 256;

// One thread per event (grid-stride); the stream index comes from a binary search
// in offsets, so any batch layout works in a single launch.
template <typename Coord>
__global__ void histogram_kernel(HistogramArgs<Coord> a) {
  const int64_t hw = a.out_h * a.out_w;
  grid_stride(a.n_events, [&](int64_t i) {
    const int64_t b = stream_of(a.offsets, a.batch, i);
    if (b < 0) return;  // invalid offsets: i is in no stream
    const int64_t x = scale_coord(a.x[i], a.width, a.out_w);
    const int64_t y = scale_coord(a.y[i], a.height, a.out_h);
    if (x < 0 || y < 0) {
      atomicAdd(reinterpret_cast<unsigned long long*>(a.dropped + b), 1ull);
      return;
    }
    atomicAdd(a.out + (b * 2 + (a.p[i] == 1 ? 0 : 1)) * hw + y * a.out_w + x, 1.0f);
  });
}

__global__ void cap_kernel(float* out, int64_t n, float cap) {
  grid_stride(n, [&](int64_t i) { out[i] = fminf(out[i], cap); });
}

}  // namespace

template <typename Coord>
void histogram_cuda(const HistogramArgs<Coord>& a, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  if (a.n_events > 0) {
    histogram_kernel<Coord><<<blocks_for(a.n_events, kThreads), kThreads, 0, s>>>(a);
    check_cuda(cudaGetLastError(), "histogram_kernel");
  }
  const int64_t total = a.batch * 2 * a.out_h * a.out_w;
  if (a.cap > 0.f && total > 0) {
    cap_kernel<<<blocks_for(total, kThreads), kThreads, 0, s>>>(a.out, total, a.cap);
    check_cuda(cudaGetLastError(), "cap_kernel");
  }
}

template void histogram_cuda<int16_t>(const HistogramArgs<int16_t>&, void*);
template void histogram_cuda<int32_t>(const HistogramArgs<int32_t>&, void*);

}  // namespace ezsr
