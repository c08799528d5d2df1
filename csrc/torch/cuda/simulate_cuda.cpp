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
                                 refractory, height, width, &out);
  ezsr::render_simulate_histogram_cuda(a, c10::cuda::getCurrentCUDAStream().stream());
  return out;
}

std::tuple<at::Tensor, at::Tensor> render_simulate_interval_counts_cuda(
    const at::Tensor& img, const at::Tensor& off_x, const at::Tensor& off_y, double scale_x,
    double scale_y, const at::Tensor& ts, const at::Tensor& thr_pos, const at::Tensor& thr_neg,
    double log_eps, int64_t refractory, int64_t height, int64_t width) {
  check_cuda_arg(img, "render_simulate_interval_counts", "img");
  const c10::cuda::CUDAGuard guard(img.device());
  const auto a = render_sim_args(img, off_x, off_y, scale_x, scale_y, ts, thr_pos, thr_neg, log_eps,
                                 refractory, height, width, nullptr);
  auto counts = at::zeros({a.batch, std::max<int64_t>(a.frames - 1, 0)}, ts.options());
  auto tails = at::zeros_like(counts);
  ezsr::render_simulate_interval_counts_cuda(a, counts.data_ptr<int64_t>(),
                                             tails.data_ptr<int64_t>(),
                                             c10::cuda::getCurrentCUDAStream().stream());
  return {counts, tails};
}

EventColumns render_simulate_events_cuda(const at::Tensor& img, const at::Tensor& off_x,
                                         const at::Tensor& off_y, double scale_x, double scale_y,
                                         const at::Tensor& ts, const at::Tensor& thr_pos,
                                         const at::Tensor& thr_neg, double log_eps,
                                         int64_t refractory, int64_t height, int64_t width,
                                         const at::Tensor& t_lo, const at::Tensor& t_hi) {
  check_cuda_arg(img, "render_simulate_events", "img");
  const c10::cuda::CUDAGuard guard(img.device());
  const auto a = render_sim_args(img, off_x, off_y, scale_x, scale_y, ts, thr_pos, thr_neg, log_eps,
                                 refractory, height, width, nullptr);
  check_window_bounds(t_lo, t_hi, a, img);
  const int64_t *lo = t_lo.data_ptr<int64_t>(), *hi = t_hi.data_ptr<int64_t>();
  void* stream = c10::cuda::getCurrentCUDAStream().stream();
  return events_pixel_major(
      ts, sizes_only(a), width,
      [&](int64_t* counts) { ezsr::render_simulate_window_count_cuda(a, lo, hi, counts, stream); },
      [&](const int64_t* offsets, int64_t* t, int32_t* code) {
        ezsr::render_simulate_window_emit_cuda(a, lo, hi, offsets, t, code, stream);
      });
}

}  // namespace
}  // namespace ezsr_torch

TORCH_LIBRARY_IMPL(ezsr, CUDA, m) {
  m.impl("simulate_events", &ezsr_torch::simulate_events_cuda);
  m.impl("simulate_histogram", &ezsr_torch::simulate_histogram_cuda);
  m.impl("render_translate", &ezsr_torch::render_translate_cuda);
  m.impl("render_simulate_histogram", &ezsr_torch::render_simulate_histogram_cuda);
  m.impl("render_simulate_interval_counts", &ezsr_torch::render_simulate_interval_counts_cuda);
  m.impl("render_simulate_events", &ezsr_torch::render_simulate_events_cuda);
}
