// CUDA registrations of ezsr::simulate_events and ezsr::simulate_histogram (CUDA builds
// only), and of ezsr::render_translate and ezsr::render_simulate_histogram. The core
// (csrc/core/simulate_cuda.cu) counts and emits pixel-major; events_pixel_major (simulate_common.h)
// does the rest, and the CPU runs that same host logic over the kernels' CPU twins in tests
// (ezsr::_simulate_events_pixel_major).
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "../simulate_common.h"

namespace ezsr_torch {
namespace {

EventColumns simulate_events_cuda(const at::Tensor& logf, const at::Tensor& ts,
                                  const at::Tensor& thr_pos, const at::Tensor& thr_neg,
                                  at::Tensor& ref, at::Tensor& last_t, int64_t width,
                                  int64_t refractory) {
  check_cuda_arg(logf, "simulate_events", "logf");
  const c10::cuda::CUDAGuard guard(logf.device());
  const auto a = events_args(logf, ts, thr_pos, thr_neg, ref, last_t, width, refractory);
  void* stream = c10::cuda::getCurrentCUDAStream().stream();
  return events_pixel_major(
      ts, a, width, [&](int64_t* counts) { ezsr::simulate_count_cuda(a, counts, stream); },
      [&](const int64_t* offsets, int64_t* t, int32_t* code) {
        ezsr::simulate_emit_cuda(a, offsets, t, code, stream);
      });
}

at::Tensor simulate_histogram_cuda(const at::Tensor& logf, const at::Tensor& ts,
                                   const at::Tensor& thr_pos, const at::Tensor& thr_neg,
                                   at::Tensor& ref, at::Tensor& last_t, int64_t refractory) {
  check_cuda_arg(logf, "simulate_histogram", "logf");
  const c10::cuda::CUDAGuard guard(logf.device());
  const auto a = simulate_args(logf, ts, thr_pos, thr_neg, ref, last_t, refractory);
  auto out = at::zeros({a.batch, 2, a.pixels}, logf.options());
  ezsr::simulate_histogram_cuda(a, out.data_ptr<float>(),
                                c10::cuda::getCurrentCUDAStream().stream());
  return out;
}

at::Tensor render_translate_cuda(const at::Tensor& img, const at::Tensor& x0, const at::Tensor& x1,
                                 const at::Tensor& wx, const at::Tensor& y0, const at::Tensor& y1,
                                 const at::Tensor& wy) {
  check_cuda_arg(img, "render_translate", "img");
  const c10::cuda::CUDAGuard guard(img.device());
  at::Tensor out;
  const auto r = render_args(img, x0, x1, wx, y0, y1, wy, out);
  ezsr::render_translate_cuda(r, c10::cuda::getCurrentCUDAStream().stream());
  return out;
}

at::Tensor render_simulate_histogram_cuda(const at::Tensor& img, const at::Tensor& off_x,
                                          const at::Tensor& off_y, double scale_x, double scale_y,
                                          const at::Tensor& ts, const at::Tensor& thr_pos,
                                          const at::Tensor& thr_neg, double log_eps,
                                          int64_t refractory, int64_t height, int64_t width) {
  check_cuda_arg(img, "render_simulate_histogram", "img");
  const c10::cuda::CUDAGuard guard(img.device());
  at::Tensor out;
  const auto a = render_sim_args(img, off_x, off_y, scale_x, scale_y, ts, thr_pos, thr_neg, log_eps,
                                 refractory, height, width, out);
  ezsr::render_simulate_histogram_cuda(a, c10::cuda::getCurrentCUDAStream().stream());
  return out;
}

}  // namespace
}  // namespace ezsr_torch

TORCH_LIBRARY_IMPL(ezsr, CUDA, m) {
  m.impl("simulate_events", &ezsr_torch::simulate_events_cuda);
  m.impl("simulate_histogram", &ezsr_torch::simulate_histogram_cuda);
  m.impl("render_translate", &ezsr_torch::render_translate_cuda);
  m.impl("render_simulate_histogram", &ezsr_torch::render_simulate_histogram_cuda);
}
