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
  // Frames [B, T, H, W] float32 of images [B, h, w] under translation (separable bilinear
  // taps; see ezsr/simulate/images.py::render_translate_reference).
  m.def(
      "render_translate(Tensor img, Tensor x0, Tensor x1, Tensor wx, Tensor y0, Tensor y1, "
      "Tensor wy) -> Tensor");
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
  // one emitting pass into per-block buffers, then a per-frame-interval gather (no global sort)
  const ezsr::SimulateBlocks blocks = ezsr::simulate_emit_blocks_cpu(a);
  const int64_t n = blocks.stream_offsets.back();
  auto stream_offsets = at::tensor(blocks.stream_offsets, opts);
  const auto cdt = coord_dtype(width, a.pixels);
  auto x = at::empty({n}, opts.dtype(cdt)), y = at::empty({n}, opts.dtype(cdt));
  auto t = at::empty({n}, opts);
  auto p = at::empty({n}, opts.dtype(at::kByte));
  if (cdt == at::kShort)
    ezsr::simulate_gather_cpu<int16_t>(a, blocks, width, x.data_ptr<int16_t>(),
                                       y.data_ptr<int16_t>(), t.data_ptr<int64_t>(),
                                       p.data_ptr<uint8_t>());
  else
    ezsr::simulate_gather_cpu<int32_t>(a, blocks, width, x.data_ptr<int32_t>(),
                                       y.data_ptr<int32_t>(), t.data_ptr<int64_t>(),
                                       p.data_ptr<uint8_t>());
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

at::Tensor render_translate_cpu(const at::Tensor& img, const at::Tensor& x0, const at::Tensor& x1,
                                const at::Tensor& wx, const at::Tensor& y0, const at::Tensor& y1,
                                const at::Tensor& wy) {
  at::Tensor out;
  ezsr::render_translate_cpu(render_args(img, x0, x1, wx, y0, y1, wy, out));
  return out;
}

}  // namespace
}  // namespace ezsr_torch

TORCH_LIBRARY_IMPL(ezsr, CPU, m) {
  m.impl("simulate_events", &ezsr_torch::simulate_events_cpu);
  m.impl("simulate_histogram", &ezsr_torch::simulate_histogram_cpu);
  m.impl("render_translate", &ezsr_torch::render_translate_cpu);
}
