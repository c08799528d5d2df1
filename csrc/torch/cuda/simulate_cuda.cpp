// CUDA registrations of ezsr::simulate_events and ezsr::simulate_histogram (CUDA builds
// only), and of ezsr::render_translate. The core (csrc/core/simulate.cu) counts and emits
// pixel-major; the stable sort by (stream, t) is done here with torch's sort on a packed key.
// Compile-checked only.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "../simulate_common.h"

namespace ezsr_torch {
namespace {

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> simulate_events_cuda(
    const at::Tensor& logf, const at::Tensor& ts, const at::Tensor& thr_pos,
    const at::Tensor& thr_neg, at::Tensor& ref, at::Tensor& last_t, int64_t width,
    int64_t refractory) {
  const c10::cuda::CUDAGuard guard(logf.device());
  const auto a = simulate_args(logf, ts, thr_pos, thr_neg, ref, last_t, refractory);
  TORCH_CHECK(width > 0 && a.pixels % width == 0, "ezsr.simulate: argument 'width' (", width,
              ") must divide the number of pixels ", a.pixels);
  void* stream = at::cuda::getCurrentCUDAStream().stream();
  auto opts = logf.options().dtype(at::kLong);
  auto counts = at::empty({a.batch * a.pixels}, opts);
  ezsr::simulate_count_cuda(a, counts.data_ptr<int64_t>(), stream);
  auto offsets = at::zeros({a.batch * a.pixels + 1}, opts);
  auto tail = offsets.narrow(0, 1, a.batch * a.pixels);
  at::cumsum_out(tail, counts, 0);
  const int64_t n = offsets[-1].item<int64_t>();  // the one host sync: the output size
  auto t_raw = at::empty({n}, opts);
  auto code = at::empty({n}, opts.dtype(at::kInt));
  ezsr::simulate_emit_cuda(a, offsets.data_ptr<int64_t>(), t_raw.data_ptr<int64_t>(),
                           code.data_ptr<int32_t>(), stream);
  auto stream_offsets = offsets.slice(0, 0, a.batch * a.pixels + 1, a.pixels).contiguous();
  // stable sort by key = stream << tbits | (t - first frame time): ties keep pixel order
  auto lengths = stream_offsets.slice(0, 1) - stream_offsets.slice(0, 0, a.batch);
  auto b = at::repeat_interleave(at::arange(a.batch, opts), lengths, n);
  const int64_t span = (ts.select(1, a.frames - 1) - ts.select(1, 0)).max().item<int64_t>();
  int tbits = 0;
  while ((int64_t(1) << tbits) <= span) ++tbits;
  auto key = b * (int64_t(1) << tbits) + (t_raw - ts.select(1, 0).index_select(0, b));
  auto perm = std::get<1>(at::sort(key, /*stable=*/true, /*dim=*/0, /*descending=*/false));
  auto code_sorted = code.index_select(0, perm).to(at::kLong);
  auto pix = at::floor_divide(code_sorted, 2);
  const auto cdt = coord_dtype(width, a.pixels);
  return {(pix % width).to(cdt), at::floor_divide(pix, width).to(cdt), t_raw.index_select(0, perm),
          at::remainder(code_sorted, 2).to(at::kByte), stream_offsets};
}

at::Tensor simulate_histogram_cuda(const at::Tensor& logf, const at::Tensor& ts,
                                   const at::Tensor& thr_pos, const at::Tensor& thr_neg,
                                   at::Tensor& ref, at::Tensor& last_t, int64_t refractory) {
  const c10::cuda::CUDAGuard guard(logf.device());
  const auto a = simulate_args(logf, ts, thr_pos, thr_neg, ref, last_t, refractory);
  auto out = at::zeros({a.batch, 2, a.pixels}, logf.options());
  ezsr::simulate_histogram_cuda(a, out.data_ptr<float>(), at::cuda::getCurrentCUDAStream().stream());
  return out;
}

at::Tensor render_translate_cuda(const at::Tensor& img, const at::Tensor& x0,
                                 const at::Tensor& x1, const at::Tensor& wx, const at::Tensor& y0,
                                 const at::Tensor& y1, const at::Tensor& wy) {
  const c10::cuda::CUDAGuard guard(img.device());
  at::Tensor out;
  const auto r = render_args(img, x0, x1, wx, y0, y1, wy, out);
  ezsr::render_translate_cuda(r, at::cuda::getCurrentCUDAStream().stream());
  return out;
}

}  // namespace
}  // namespace ezsr_torch

TORCH_LIBRARY_IMPL(ezsr, CUDA, m) {
  m.impl("simulate_events", &ezsr_torch::simulate_events_cuda);
  m.impl("simulate_histogram", &ezsr_torch::simulate_histogram_cuda);
  m.impl("render_translate", &ezsr_torch::render_translate_cuda);
}
