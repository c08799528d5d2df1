// Schemas and CPU registrations of the simulation ops. Calls the torch-free core
// (csrc/core/simulate.cpp). Reference: ezsr/simulate/kernels.py.
#include <torch/library.h>

#include "simulate_common.h"

TORCH_LIBRARY_FRAGMENT(ezsr, m) {
  // Events of B streams, sorted by (stream, t, pixel): x, y (int16, or int32 for sensors
  // wider/taller than 32767), t int64 µs, p uint8, offsets [B+1] int64. Updates ref, last_t.
  m.def(
      "simulate_events(Tensor logf, Tensor ts, Tensor thr_pos, Tensor thr_neg, Tensor(a!) ref, "
      "Tensor(b!) last_t, int width, int refractory_us) "
      "-> (Tensor x, Tensor y, Tensor t, Tensor p, Tensor offsets)");
  // Counts per pixel and polarity [B, 2, P] float32 (ON, OFF) without materialising events.
  m.def(
      "simulate_histogram(Tensor logf, Tensor ts, Tensor thr_pos, Tensor thr_neg, "
      "Tensor(a!) ref, Tensor(b!) last_t, int refractory_us) -> Tensor");
}

namespace ezsr_torch {
namespace {

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> simulate_events_cpu(
    const at::Tensor& logf, const at::Tensor& ts, const at::Tensor& thr_pos,
    const at::Tensor& thr_neg, at::Tensor& ref, at::Tensor& last_t, int64_t width,
    int64_t refractory) {
  const auto a = simulate_args(logf, ts, thr_pos, thr_neg, ref, last_t, refractory);
  TORCH_CHECK(width > 0 && a.pixels % width == 0, "ezsr.simulate: argument 'width' (", width,
              ") must divide the number of pixels ", a.pixels);
  auto opts = logf.options().dtype(at::kLong);
  // pass 1: count per pixel; exclusive prefix sum gives every pixel's output offset
  auto counts = at::empty({a.batch * a.pixels}, opts);
  ezsr::simulate_count_cpu(a, counts.data_ptr<int64_t>());
  auto offsets = at::zeros({a.batch * a.pixels + 1}, opts);
  auto tail = offsets.narrow(0, 1, a.batch * a.pixels);
  at::cumsum_out(tail, counts, 0);
  const int64_t n = offsets[-1].item<int64_t>();
  // pass 2: emit pixel-major
  auto t_raw = at::empty({n}, opts);
  auto code = at::empty({n}, opts.dtype(at::kInt));
  ezsr::simulate_emit_cpu(a, offsets.data_ptr<int64_t>(), t_raw.data_ptr<int64_t>(),
                          code.data_ptr<int32_t>());
  // stable sort by (stream, t) into the final columns
  auto stream_offsets = offsets.slice(0, 0, a.batch * a.pixels + 1, a.pixels).contiguous();
  auto t_min = ts.select(1, 0).contiguous();
  const int64_t span = (ts.select(1, a.frames - 1) - ts.select(1, 0)).max().item<int64_t>();
  const auto cdt = coord_dtype(width, a.pixels);
  auto x = at::empty({n}, opts.dtype(cdt)), y = at::empty({n}, opts.dtype(cdt));
  auto t = at::empty({n}, opts);
  auto p = at::empty({n}, opts.dtype(at::kByte));
  if (cdt == at::kShort)
    ezsr::simulate_sort_cpu<int16_t>(t_raw.data_ptr<int64_t>(), code.data_ptr<int32_t>(), n,
                                     stream_offsets.data_ptr<int64_t>(), a.batch,
                                     t_min.data_ptr<int64_t>(), span, width,
                                     x.data_ptr<int16_t>(), y.data_ptr<int16_t>(),
                                     t.data_ptr<int64_t>(), p.data_ptr<uint8_t>());
  else
    ezsr::simulate_sort_cpu<int32_t>(t_raw.data_ptr<int64_t>(), code.data_ptr<int32_t>(), n,
                                     stream_offsets.data_ptr<int64_t>(), a.batch,
                                     t_min.data_ptr<int64_t>(), span, width,
                                     x.data_ptr<int32_t>(), y.data_ptr<int32_t>(),
                                     t.data_ptr<int64_t>(), p.data_ptr<uint8_t>());
  return {x, y, t, p, stream_offsets};
}

at::Tensor simulate_histogram_cpu(const at::Tensor& logf, const at::Tensor& ts,
                                  const at::Tensor& thr_pos, const at::Tensor& thr_neg,
                                  at::Tensor& ref, at::Tensor& last_t, int64_t refractory) {
  const auto a = simulate_args(logf, ts, thr_pos, thr_neg, ref, last_t, refractory);
  auto out = at::zeros({a.batch, 2, a.pixels}, logf.options());
  ezsr::simulate_histogram_cpu(a, out.data_ptr<float>());
  return out;
}

}  // namespace
}  // namespace ezsr_torch

TORCH_LIBRARY_IMPL(ezsr, CPU, m) {
  m.impl("simulate_events", &ezsr_torch::simulate_events_cpu);
  m.impl("simulate_histogram", &ezsr_torch::simulate_histogram_cpu);
}
