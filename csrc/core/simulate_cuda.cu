// CUDA event simulation (ESIM rule), the same two-pass design as simulate.cpp:
// one thread per pixel walks all frames (reads of a frame are coalesced across the warp);
// pass 1 counts, the host-side prefix sum gives offsets, pass 2 emits pixel-major.
// step_pixel (ezsr/simulate.h) is shared with the CPU, with FMA-free arithmetic so the
// results match the CPU and the torch reference bit for bit.
// Reference: ezsr/simulate/kernels.py::simulate_reference.
#include "ezsr/cuda_utils.cuh"
#include "ezsr/simulate.h"

namespace ezsr {
namespace {

constexpr int kThreads = 256;

__global__ void count_kernel(SimulateArgs a, int64_t* counts) {
  grid_stride(a.batch * a.pixels, [&](int64_t q) { counts[q] = count_pixel_events(a, q); });
}

__global__ void emit_kernel(SimulateArgs a, const int64_t* offsets, int64_t* t, int32_t* code) {
  grid_stride(a.batch * a.pixels, [&](int64_t q) { emit_pixel_events(a, q, offsets, t, code); });
}

__global__ void histogram_kernel(SimulateArgs a, float* out) {
  grid_stride(a.batch * a.pixels, [&](int64_t q) {
    float n_on = 0.f, n_off = 0.f;
    simulate_pixel<false>(a, q, a.ref[q], a.last_t[q],
                          [&](int64_t, bool on) { (on ? n_on : n_off) += 1.f; });
    const int64_t b = q / a.pixels, p = q % a.pixels;
    out[(b * 2) * a.pixels + p] += n_on;  // one thread per pixel: no atomics needed
    out[(b * 2 + 1) * a.pixels + p] += n_off;
  });
}

// One thread per output pixel; the row taps are shared by a row, the column taps by a frame.
__global__ void render_kernel(RenderArgs r) {
  const int64_t n = r.batch * r.frames * r.height * r.width;
  grid_stride(n, [&](int64_t i) {
    const int64_t row = i / r.width, u = i % r.width, bt = row / r.height, b = bt / r.frames;
    const float* ia = r.img + (b * r.h + r.y0[row]) * r.w;
    const float* ic = r.img + (b * r.h + r.y1[row]) * r.w;
    const int64_t c0 = r.x0[bt * r.width + u], c1 = r.x1[bt * r.width + u];
    const float a = lerp_exact(ia[c0], ic[c0], r.wy[row]);
    const float c = lerp_exact(ia[c1], ic[c1], r.wy[row]);
    r.out[i] = lerp_exact(a, c, r.wx[bt * r.width + u]);
  });
}

// One thread per sensor pixel, every frame: consecutive threads are consecutive columns of
// one row, so the image reads of a warp fall in two rows of the (cached) image.
__global__ void render_simulate_kernel(RenderSimArgs a) {
  const int64_t P = a.height * a.width;
  grid_stride(a.batch * P, [&](int64_t q) {
    float n_on, n_off;
    render_simulate_pixel(a, q, n_on, n_off);
    const int64_t b = q / P;
    a.out[q + b * P] = n_on;  // [B, 2, P]: (b, 0, p) is at b * 2P + p = q + b * P
    a.out[q + b * P + P] = n_off;
  });
}

// Interval counts: the lanes of a warp walk the same frames in step (every lane calls back
// for every interval), so each interval's counts are summed over the lanes of one stream
// (a warp may straddle two) and added by one lane: one atomic per warp, stream and interval
// with events, not one per pixel.
__global__ void interval_counts_kernel(RenderSimArgs a, int64_t* counts, int64_t* tails) {
  const int64_t P = a.height * a.width, F = a.frames - 1;
  grid_stride(a.batch * P, [&](int64_t q) {
    const int64_t b = q / P;
    auto add = [](int64_t* at, unsigned v) {
      atomicAdd(reinterpret_cast<unsigned long long*>(at), static_cast<unsigned long long>(v));
    };
#if __CUDA_ARCH__ >= 800
    const unsigned lanes = __activemask();
    const unsigned same = __match_any_sync(lanes, static_cast<unsigned long long>(b));
    const bool leader = (threadIdx.x % 32) == static_cast<unsigned>(__ffs(same) - 1);
    render_simulate_pixel_intervals(a, q, [&](int64_t f, int k, int tail) {
      const unsigned nk = __reduce_add_sync(same, static_cast<unsigned>(k));
      const unsigned nt = __reduce_add_sync(same, static_cast<unsigned>(tail));
      if (leader && nk) {
        add(counts + b * F + f, nk);
        if (nt) add(tails + b * F + f, nt);
      }
    });
#else  // no warp reductions before sm_80: one atomic per pixel and interval with events
    render_simulate_pixel_intervals(a, q, [&](int64_t f, int k, int tail) {
      if (k) add(counts + b * F + f, static_cast<unsigned>(k));
      if (tail) add(tails + b * F + f, 1u);
    });
#endif
  });
}

__global__ void window_count_kernel(RenderSimArgs a, const int64_t* t_lo, const int64_t* t_hi,
                                    int64_t* counts) {
  grid_stride(a.batch * a.height * a.width,
              [&](int64_t q) { counts[q] = count_window_events(a, q, t_lo, t_hi); });
}

__global__ void window_emit_kernel(RenderSimArgs a, const int64_t* t_lo, const int64_t* t_hi,
                                   const int64_t* offsets, int64_t* t, int32_t* code) {
  grid_stride(a.batch * a.height * a.width,
              [&](int64_t q) { emit_window_events(a, q, t_lo, t_hi, offsets, t, code); });
}

}  // namespace

void simulate_count_cuda(const SimulateArgs& a, int64_t* counts, void* stream) {
  const int64_t n = a.batch * a.pixels;
  if (n == 0) return;
  count_kernel<<<blocks_for(n, kThreads), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(a,
                                                                                            counts);
  check_cuda(cudaGetLastError(), "simulate count_kernel");
}

void simulate_emit_cuda(const SimulateArgs& a, const int64_t* offsets, int64_t* t, int32_t* code,
                        void* stream) {
  const int64_t n = a.batch * a.pixels;
  if (n == 0) return;
  emit_kernel<<<blocks_for(n, kThreads), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      a, offsets, t, code);
  check_cuda(cudaGetLastError(), "simulate emit_kernel");
}

void simulate_histogram_cuda(const SimulateArgs& a, float* out, void* stream) {
  const int64_t n = a.batch * a.pixels;
  if (n == 0) return;
  histogram_kernel<<<blocks_for(n, kThreads), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      a, out);
  check_cuda(cudaGetLastError(), "simulate histogram_kernel");
}

void render_translate_cuda(const RenderArgs& r, void* stream) {
  const int64_t n = r.batch * r.frames * r.height * r.width;
  if (n == 0) return;
  render_kernel<<<blocks_for(n, kThreads), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(r);
  check_cuda(cudaGetLastError(), "simulate render_kernel");
}

void render_simulate_histogram_cuda(const RenderSimArgs& a, void* stream) {
  const int64_t n = a.batch * a.height * a.width;
  if (n == 0) return;
  render_simulate_kernel<<<blocks_for(n, kThreads), kThreads, 0,
                           static_cast<cudaStream_t>(stream)>>>(a);
  check_cuda(cudaGetLastError(), "render_simulate_kernel");
}

void render_simulate_interval_counts_cuda(const RenderSimArgs& a, int64_t* counts, int64_t* tails,
                                          void* stream) {
  const int64_t n = a.batch * a.height * a.width;
  if (n == 0 || a.frames < 2) return;
  interval_counts_kernel<<<blocks_for(n, kThreads), kThreads, 0,
                           static_cast<cudaStream_t>(stream)>>>(a, counts, tails);
  check_cuda(cudaGetLastError(), "interval_counts_kernel");
}

void render_simulate_window_count_cuda(const RenderSimArgs& a, const int64_t* t_lo,
                                       const int64_t* t_hi, int64_t* counts, void* stream) {
  const int64_t n = a.batch * a.height * a.width;
  if (n == 0) return;
  window_count_kernel<<<blocks_for(n, kThreads), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      a, t_lo, t_hi, counts);
  check_cuda(cudaGetLastError(), "window_count_kernel");
}

void render_simulate_window_emit_cuda(const RenderSimArgs& a, const int64_t* t_lo,
                                      const int64_t* t_hi, const int64_t* offsets, int64_t* t,
                                      int32_t* code, void* stream) {
  const int64_t n = a.batch * a.height * a.width;
  if (n == 0) return;
  window_emit_kernel<<<blocks_for(n, kThreads), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      a, t_lo, t_hi, offsets, t, code);
  check_cuda(cudaGetLastError(), "window_emit_kernel");
}

}  // namespace ezsr
