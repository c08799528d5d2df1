// Schemas and CPU registrations of the simulation ops. Calls the torch-free core
// (csrc/core/simulate.cpp). Reference: ezsr/simulate/kernels.py.
#include <torch/library.h>

#include "large_alloc.h"
#include "simulate_common.h"

TORCH_LIBRARY_FRAGMENT(ezsr, m) {
  // Events of B streams, sorted by (stream, t, pixel): x, y (int16, or int32 for sensors
  // wider/taller than 32767), t int64 µs, p uint8, offsets [B+1] int64. Updates ref, last_t.
  m.def(
      "simulate_events(Tensor logf, Tensor ts, Tensor thr_pos, Tensor thr_neg, Tensor(a!) ref, "
      "Tensor(b!) last_t, int width, int refractory_us) "
      "-> (Tensor x, Tensor y, Tensor t, Tensor p, Tensor offsets)");
  // The same from linear intensity frames [B, T, P] float32: log(frames + log_eps) is taken
  // chunk_frames frames at a time (torch's log, as ezsr.simulate.frames.log_intensity), so
  // a long sequence needs no full log buffer, and the events are gathered once at the end.
  // init_state: start ref from the first frame's log (from the same buffer) and last_t at
  // "never", instead of reading them.
  m.def(
      "simulate_events_from_intensity(Tensor frames, Tensor ts, Tensor thr_pos, "
      "Tensor thr_neg, Tensor(a!) ref, Tensor(b!) last_t, int width, int refractory_us, "
      "float log_eps, int chunk_frames, bool init_state=False) "
      "-> (Tensor x, Tensor y, Tensor t, Tensor p, Tensor offsets)");
  // simulate_events computed the way the CUDA op does (pixel-major passes, then a sort), on
  // the CPU: tests the CUDA op's host logic without a GPU. Not for use.
  m.def(
      "_simulate_events_pixel_major(Tensor logf, Tensor ts, Tensor thr_pos, Tensor thr_neg, "
      "Tensor(a!) ref, Tensor(b!) last_t, int width, int refractory_us) "
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
  // Counts [B, 2, H*W] float32 (ON, OFF) of translated images [B, h, w] from a fresh state:
  // render_translate + log(I + log_eps) + simulate_histogram over all T frames in one pass
  // (ezsr/simulate/kernels.py::render_simulate_histogram_reference). Frame t samples image
  // coordinate g = scale * i + off[b, t] at sensor column/row i (see RenderSimArgs).
  m.def(
      "render_simulate_histogram(Tensor img, Tensor off_x, Tensor off_y, float scale_x, "
      "float scale_y, Tensor ts, Tensor thr_pos, Tensor thr_neg, float log_eps, "
      "int refractory_us, int height, int width) -> Tensor");
  // Events per frame interval of the same walk: counts, tails [B, T-1] int64 (tails: those
  // at the interval's end time, which sort among the next interval's first events).
  m.def(
      "render_simulate_interval_counts(Tensor img, Tensor off_x, Tensor off_y, float scale_x, "
      "float scale_y, Tensor ts, Tensor thr_pos, Tensor thr_neg, float log_eps, "
      "int refractory_us, int height, int width) -> (Tensor counts, Tensor tails)");
  // The walk's events with t_lo[b] <= t < t_hi[b], as simulate_events lays them out.
  m.def(
      "render_simulate_events(Tensor img, Tensor off_x, Tensor off_y, float scale_x, "
      "float scale_y, Tensor ts, Tensor thr_pos, Tensor thr_neg, float log_eps, "
      "int refractory_us, int height, int width, Tensor t_lo, Tensor t_hi) "
      "-> (Tensor x, Tensor y, Tensor t, Tensor p, Tensor offsets)");
}

namespace ezsr_torch {
namespace {

// x, y, t, p, offsets of the emitted blocks; `whole` describes the whole sequence (its ts).
EventColumns gather_events(const ezsr::SimulateArgs& whole, const ezsr::SimulateBlocks& blocks,
                           int64_t width, const at::TensorOptions& opts) {
  const int64_t n = blocks.stream_offsets.back();
  auto stream_offsets = at::tensor(blocks.stream_offsets, opts);
  const auto cdt = coord_dtype(width, whole.pixels);
  auto x = empty_large({n}, opts.dtype(cdt)), y = empty_large({n}, opts.dtype(cdt));
  auto t = empty_large({n}, opts);
  auto p = empty_large({n}, opts.dtype(at::kByte));
  if (cdt == at::kShort)
    ezsr::simulate_gather_cpu<int16_t>(whole, blocks, width, x.data_ptr<int16_t>(),
                                       y.data_ptr<int16_t>(), t.data_ptr<int64_t>(),
                                       p.data_ptr<uint8_t>());
  else
    ezsr::simulate_gather_cpu<int32_t>(whole, blocks, width, x.data_ptr<int32_t>(),
                                       y.data_ptr<int32_t>(), t.data_ptr<int64_t>(),
                                       p.data_ptr<uint8_t>());
  return {x, y, t, p, stream_offsets};
}

EventColumns simulate_events_cpu(const at::Tensor& logf, const at::Tensor& ts,
                                 const at::Tensor& thr_pos, const at::Tensor& thr_neg,
                                 at::Tensor& ref, at::Tensor& last_t, int64_t width,
                                 int64_t refractory) {
  const auto a = events_args(logf, ts, thr_pos, thr_neg, ref, last_t, width, refractory);
  return gather_events(a, ezsr::simulate_emit_blocks_cpu(a), width,
                       logf.options().dtype(at::kLong));
}

EventColumns simulate_events_pixel_major_cpu(const at::Tensor& logf, const at::Tensor& ts,
                                             const at::Tensor& thr_pos, const at::Tensor& thr_neg,
                                             at::Tensor& ref, at::Tensor& last_t, int64_t width,
                                             int64_t refractory) {
  const auto a = events_args(logf, ts, thr_pos, thr_neg, ref, last_t, width, refractory);
  return events_pixel_major(
      ts, a, width, [&](int64_t* counts) { ezsr::simulate_count_pixel_major_cpu(a, counts); },
      [&](const int64_t* offsets, int64_t* t, int32_t* code) {
        ezsr::simulate_emit_pixel_major_cpu(a, offsets, t, code);
      });
}

EventColumns simulate_events_from_intensity_cpu(const at::Tensor& frames, const at::Tensor& ts,
                                                const at::Tensor& thr_pos,
                                                const at::Tensor& thr_neg, at::Tensor& ref,
                                                at::Tensor& last_t, int64_t width,
                                                int64_t refractory, double log_eps,
                                                int64_t chunk_frames, bool init_state) {
  TORCH_CHECK(frames.dim() == 3, "ezsr.simulate: argument 'frames' must be [B, T, P], got ",
              frames.sizes());
  check_dtype(frames, "frames", at::kFloat);
  TORCH_CHECK(chunk_frames >= 2, "ezsr.simulate: argument 'chunk_frames' must be >= 2, got ",
              chunk_frames);
  TORCH_CHECK(log_eps > 0, "ezsr.simulate: argument 'log_eps' must be > 0, got ", log_eps);
  const int64_t B = frames.size(0), T = frames.size(1), P = frames.size(2);
  // the whole sequence, checked as if it were logf (same shapes); logf itself is not read
  const auto whole = simulate_args(frames, ts, thr_pos, thr_neg, ref, last_t, refractory);
  check_width(width, P);
  check_increasing(ts);
  ezsr::SimulateEmitter emitter(B, P, T);
  at::Tensor buf = empty_large({B * std::min(T, chunk_frames) * P}, frames.options());
  for (int64_t s = 0;; s += chunk_frames - 1) {
    const int64_t e = std::min(T, s + chunk_frames);
    at::Tensor logf = buf.narrow(0, 0, B * (e - s) * P).view({B, e - s, P});
    at::add_out(logf, frames.narrow(1, s, e - s), at::scalar_tensor(log_eps, at::kDouble)).log_();
    if (s == 0 && init_state) {
      ref.copy_(logf.select(1, 0));
      last_t.fill_(ezsr::kNever);
    }
    const at::Tensor ts_chunk = ts.narrow(1, s, e - s).contiguous();
    emitter.add(simulate_args(logf, ts_chunk, thr_pos, thr_neg, ref, last_t, refractory), s);
    if (e == T) break;
  }
  return gather_events(whole, emitter.finish(), width, frames.options().dtype(at::kLong));
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

at::Tensor render_simulate_histogram_cpu(const at::Tensor& img, const at::Tensor& off_x,
                                         const at::Tensor& off_y, double scale_x, double scale_y,
                                         const at::Tensor& ts, const at::Tensor& thr_pos,
                                         const at::Tensor& thr_neg, double log_eps,
                                         int64_t refractory, int64_t height, int64_t width) {
  at::Tensor out;
  ezsr::render_simulate_histogram_cpu(render_sim_args(img, off_x, off_y, scale_x, scale_y, ts,
                                                      thr_pos, thr_neg, log_eps, refractory, height,
                                                      width, &out));
  return out;
}

std::tuple<at::Tensor, at::Tensor> render_simulate_interval_counts_cpu(
    const at::Tensor& img, const at::Tensor& off_x, const at::Tensor& off_y, double scale_x,
    double scale_y, const at::Tensor& ts, const at::Tensor& thr_pos, const at::Tensor& thr_neg,
    double log_eps, int64_t refractory, int64_t height, int64_t width) {
  const auto a = render_sim_args(img, off_x, off_y, scale_x, scale_y, ts, thr_pos, thr_neg, log_eps,
                                 refractory, height, width, nullptr);
  auto counts = at::zeros({a.batch, std::max<int64_t>(a.frames - 1, 0)}, ts.options());
  auto tails = at::zeros_like(counts);
  ezsr::render_simulate_interval_counts_cpu(a, counts.data_ptr<int64_t>(),
                                            tails.data_ptr<int64_t>());
  return {counts, tails};
}

EventColumns render_simulate_events_cpu(const at::Tensor& img, const at::Tensor& off_x,
                                        const at::Tensor& off_y, double scale_x, double scale_y,
                                        const at::Tensor& ts, const at::Tensor& thr_pos,
                                        const at::Tensor& thr_neg, double log_eps,
                                        int64_t refractory, int64_t height, int64_t width,
                                        const at::Tensor& t_lo, const at::Tensor& t_hi) {
  const auto a = render_sim_args(img, off_x, off_y, scale_x, scale_y, ts, thr_pos, thr_neg, log_eps,
                                 refractory, height, width, nullptr);
  check_window_bounds(t_lo, t_hi, a, img);
  const int64_t *lo = t_lo.data_ptr<int64_t>(), *hi = t_hi.data_ptr<int64_t>();
  return events_pixel_major(
      ts, sizes_only(a), width,
      [&](int64_t* counts) { ezsr::render_simulate_window_count_cpu(a, lo, hi, counts); },
      [&](const int64_t* offsets, int64_t* t, int32_t* code) {
        ezsr::render_simulate_window_emit_cpu(a, lo, hi, offsets, t, code);
      });
}

}  // namespace
}  // namespace ezsr_torch

TORCH_LIBRARY_IMPL(ezsr, CPU, m) {
  m.impl("simulate_events", &ezsr_torch::simulate_events_cpu);
  m.impl("simulate_events_from_intensity", &ezsr_torch::simulate_events_from_intensity_cpu);
  m.impl("_simulate_events_pixel_major", &ezsr_torch::simulate_events_pixel_major_cpu);
  m.impl("simulate_histogram", &ezsr_torch::simulate_histogram_cpu);
  m.impl("render_translate", &ezsr_torch::render_translate_cpu);
  m.impl("render_simulate_histogram", &ezsr_torch::render_simulate_histogram_cpu);
  m.impl("render_simulate_interval_counts", &ezsr_torch::render_simulate_interval_counts_cpu);
  m.impl("render_simulate_events", &ezsr_torch::render_simulate_events_cpu);
}
