// Checks and argument packing shared by the CPU and CUDA registrations of the
// simulation ops (ezsr::simulate_events, ezsr::simulate_histogram).
#pragma once
#include <tuple>

#include "checks.h"
#include "ezsr/simulate.h"

namespace ezsr_torch {

// x, y, t, p, offsets of simulated events (see the simulate_events schema).
using EventColumns = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>;

// logf [B, T, P] float32, ts [B, T] int64, thr_pos/thr_neg/ref [B, P] float32,
// last_t [B, P] int64, all contiguous on one device.
inline ezsr::SimulateArgs simulate_args(const at::Tensor& logf, const at::Tensor& ts,
                                        const at::Tensor& thr_pos, const at::Tensor& thr_neg,
                                        at::Tensor& ref, at::Tensor& last_t, int64_t refractory) {
  TORCH_CHECK(logf.dim() == 3, "ezsr.simulate: argument 'logf' must be [B, T, P], got ",
              logf.sizes());
  const int64_t B = logf.size(0), T = logf.size(1), P = logf.size(2);
  TORCH_CHECK(T >= 1, "ezsr.simulate: argument 'logf' needs at least one frame");
  check_dtype(logf, "logf", at::kFloat);
  check_dtype(ts, "ts", at::kLong);
  TORCH_CHECK(ts.dim() == 2 && ts.size(0) == B && ts.size(1) == T,
              "ezsr.simulate: argument 'ts' must be [B, T] = [", B, ", ", T, "], got ", ts.sizes());
  const std::pair<const at::Tensor*, const char*> state[] = {
      {&thr_pos, "thr_pos"}, {&thr_neg, "thr_neg"}, {&ref, "ref"}, {&last_t, "last_t"}};
  for (const auto& [tensor, name] : state) {
    TORCH_CHECK(tensor->dim() == 2 && tensor->size(0) == B && tensor->size(1) == P,
                "ezsr.simulate: argument '", name, "' must be [B, P] = [", B, ", ", P, "], got ",
                tensor->sizes());
    check_dtype(*tensor, name, std::string(name) == "last_t" ? at::kLong : at::kFloat);
    TORCH_CHECK(tensor->is_contiguous(), "ezsr.simulate: argument '", name, "' must be contiguous");
    TORCH_CHECK(tensor->device() == logf.device(), "ezsr.simulate: argument '", name, "' is on ",
                tensor->device(), ", 'logf' on ", logf.device());
  }
  TORCH_CHECK(logf.is_contiguous() && ts.is_contiguous(),
              "ezsr.simulate: 'logf' and 'ts' must be contiguous");
  TORCH_CHECK(ts.device() == logf.device(), "ezsr.simulate: 'ts' is on another device than 'logf'");
  TORCH_CHECK(refractory >= 0, "ezsr.simulate: argument 'refractory_us' must be >= 0, got ",
              refractory);
  return {logf.data_ptr<float>(),
          ts.data_ptr<int64_t>(),
          thr_pos.data_ptr<float>(),
          thr_neg.data_ptr<float>(),
          ref.data_ptr<float>(),
          last_t.data_ptr<int64_t>(),
          B,
          T,
          P,
          refractory};
}

inline void check_width(int64_t width, int64_t pixels) {
  TORCH_CHECK(width > 0 && pixels % width == 0, "ezsr.simulate: argument 'width' (", width,
              ") must divide the number of pixels ", pixels);
}

// Events are ordered by t - t_first per stream: frame times must increase strictly (one
// host sync).
inline void check_increasing(const at::Tensor& ts) {
  if (ts.size(1) > 1)
    TORCH_CHECK(
        (ts.narrow(1, 1, ts.size(1) - 1) > ts.narrow(1, 0, ts.size(1) - 1)).all().item<bool>(),
        "ezsr.simulate: argument 'ts' must increase strictly along each stream");
}

// simulate_args plus the checks of the events ops (width divides P, ts increases strictly).
inline ezsr::SimulateArgs events_args(const at::Tensor& logf, const at::Tensor& ts,
                                      const at::Tensor& thr_pos, const at::Tensor& thr_neg,
                                      at::Tensor& ref, at::Tensor& last_t, int64_t width,
                                      int64_t refractory) {
  const auto a = simulate_args(logf, ts, thr_pos, thr_neg, ref, last_t, refractory);
  check_width(width, a.pixels);
  check_increasing(ts);
  return a;
}

inline at::ScalarType coord_dtype(int64_t width, int64_t pixels) {
  return (width < 32768 && pixels / std::max<int64_t>(width, 1) < 32768) ? at::kShort : at::kInt;
}

// The events of a (ts its frame times) from the two pixel-major passes (ezsr/simulate.h):
// count(counts) fills counts [B*P], emit(offsets, t, code) fills t and code at the
// exclusive prefix sum of the counts; the columns are then sorted stably by (stream, t), so
// ties keep pixel order, as simulate_events orders them. Tensors live on a's device.
template <typename Count, typename Emit>
EventColumns events_pixel_major(const at::Tensor& ts, const ezsr::SimulateArgs& a, int64_t width,
                                Count&& count, Emit&& emit) {
  auto opts = ts.options();
  const auto cdt = coord_dtype(width, a.pixels);
  if (a.batch * a.pixels == 0) {  // nothing to simulate (the slices below need P > 0)
    auto none = at::empty({0}, opts);
    return {none.to(cdt), none.to(cdt), none, none.to(at::kByte), at::zeros({a.batch + 1}, opts)};
  }
  auto counts = at::empty({a.batch * a.pixels}, opts);
  count(counts.data_ptr<int64_t>());
  auto offsets = at::zeros({a.batch * a.pixels + 1}, opts);
  auto tail = offsets.narrow(0, 1, a.batch * a.pixels);
  at::cumsum_out(tail, counts, 0);
  const int64_t n = offsets[-1].item<int64_t>();  // the one host sync: the output size
  auto t_raw = at::empty({n}, opts);
  auto code = at::empty({n}, opts.dtype(at::kInt));
  emit(offsets.data_ptr<int64_t>(), t_raw.data_ptr<int64_t>(), code.data_ptr<int32_t>());
  auto stream_offsets = offsets.slice(0, 0, a.batch * a.pixels + 1, a.pixels).contiguous();
  // stable sort by key = stream << tbits | (t - first frame time): ties keep pixel order
  auto lengths = stream_offsets.slice(0, 1) - stream_offsets.slice(0, 0, a.batch);
  auto b = at::repeat_interleave(at::arange(a.batch, opts), lengths, /*dim=*/0,
                                 /*output_size=*/n);
  const int64_t span = (ts.select(1, a.frames - 1) - ts.select(1, 0)).max().item<int64_t>();
  int tbits = 0;
  while ((int64_t(1) << tbits) <= span) ++tbits;
  auto key = b * (int64_t(1) << tbits) + (t_raw - ts.select(1, 0).index_select(0, b));
  auto perm = std::get<1>(at::sort(key, /*stable=*/true, /*dim=*/0, /*descending=*/false));
  auto code_sorted = code.index_select(0, perm).to(at::kLong);
  auto pix = at::floor_divide(code_sorted, 2);
  return {(pix % width).to(cdt), at::floor_divide(pix, width).to(cdt), t_raw.index_select(0, perm),
          at::remainder(code_sorted, 2).to(at::kByte), stream_offsets};
}

// img [B, h, w] float32; x0, x1 [B, T, W] int64 in [0, w); wx [B, T, W] float32;
// y0, y1 [B, T, H] int64 in [0, h); wy [B, T, H] float32; out [B, T, H, W] allocated here.
inline ezsr::RenderArgs render_args(const at::Tensor& img, const at::Tensor& x0,
                                    const at::Tensor& x1, const at::Tensor& wx,
                                    const at::Tensor& y0, const at::Tensor& y1,
                                    const at::Tensor& wy, at::Tensor& out) {
  TORCH_CHECK(img.dim() == 3, "ezsr.render_translate: argument 'img' must be [B, h, w], got ",
              img.sizes());
  check_dtype(img, "img", at::kFloat);
  const int64_t B = img.size(0), h = img.size(1), w = img.size(2);
  TORCH_CHECK(x0.dim() == 3 && x0.size(0) == B && y0.dim() == 3 &&
                  y0.sizes().slice(0, 2) == x0.sizes().slice(0, 2),
              "ezsr.render_translate: 'x0' must be [B, T, W] and 'y0' "
              "[B, T, H] with B = ",
              B, ", got ", x0.sizes(), " and ", y0.sizes());
  const std::pair<const at::Tensor*, const char*> xs[] = {{&x0, "x0"}, {&x1, "x1"}, {&wx, "wx"}};
  const std::pair<const at::Tensor*, const char*> ys[] = {{&y0, "y0"}, {&y1, "y1"}, {&wy, "wy"}};
  for (const auto& group : {xs, ys})
    for (int k = 0; k < 3; ++k) {
      const auto& [t, name] = group[k];
      TORCH_CHECK(t->sizes() == group[0].first->sizes() && t->is_contiguous() &&
                      t->device() == img.device(),
                  "ezsr.render_translate: argument '", name, "' must be contiguous, shaped ",
                  group[0].first->sizes(), " on ", img.device());
      check_dtype(*t, name, k == 2 ? at::kFloat : at::kLong);
    }
  for (const auto& [t, name, n] : {std::make_tuple(&x0, "x0", w), std::make_tuple(&x1, "x1", w),
                                   std::make_tuple(&y0, "y0", h), std::make_tuple(&y1, "y1", h)})
    if (t->numel()) {
      const auto [lo, hi] = at::aminmax(*t);
      TORCH_CHECK(lo.item<int64_t>() >= 0 && hi.item<int64_t>() < n,
                  "ezsr.render_translate: ", "argument '", name, "' must hold indices in [0, ", n,
                  ")");
    }
  TORCH_CHECK(img.is_contiguous(), "ezsr.render_translate: argument 'img' must be contiguous");
  const int64_t T = x0.size(1), W = x0.size(2), H = y0.size(2);
  out = at::empty({B, T, H, W}, img.options());
  return {img.data_ptr<float>(),
          x0.data_ptr<int64_t>(),
          x1.data_ptr<int64_t>(),
          y0.data_ptr<int64_t>(),
          y1.data_ptr<int64_t>(),
          wx.data_ptr<float>(),
          wy.data_ptr<float>(),
          out.data_ptr<float>(),
          B,
          h,
          w,
          T,
          H,
          W};
}

// Arguments of ezsr::render_simulate_histogram (schema in simulate.cpp): img [B, h, w]
// float32, off_x/off_y [B, T] float64 (finite), ts [B, T] int64 increasing, thr_pos/thr_neg
// [B, H*W] float32, all contiguous on img's device; *out (when given) becomes [B, 2, H*W]
// float32.
inline ezsr::RenderSimArgs render_sim_args(const at::Tensor& img, const at::Tensor& off_x,
                                           const at::Tensor& off_y, double scale_x, double scale_y,
                                           const at::Tensor& ts, const at::Tensor& thr_pos,
                                           const at::Tensor& thr_neg, double log_eps,
                                           int64_t refractory, int64_t height, int64_t width,
                                           at::Tensor* out) {
  const char* op = "ezsr.render_simulate_histogram";
  TORCH_CHECK(img.dim() == 3, op, ": argument 'img' must be [B, h, w], got ", img.sizes());
  check_dtype(img, "img", at::kFloat);
  const int64_t B = img.size(0), h = img.size(1), w = img.size(2);
  TORCH_CHECK(h > 0 && w > 0 && height > 0 && width > 0, op,
              ": the image and the sensor must not be empty, got image ", h, "x", w, " and sensor ",
              height, "x", width);
  TORCH_CHECK(ts.dim() == 2 && ts.size(0) == B && ts.size(1) >= 1, op,
              ": argument 'ts' must be [B, T] with B = ", B, " and T >= 1, got ", ts.sizes());
  check_dtype(ts, "ts", at::kLong);
  const int64_t T = ts.size(1), P = height * width;
  const std::tuple<const at::Tensor*, const char*, at::ScalarType, int64_t> cols[] = {
      {&off_x, "off_x", at::kDouble, T},
      {&off_y, "off_y", at::kDouble, T},
      {&ts, "ts", at::kLong, T},
      {&thr_pos, "thr_pos", at::kFloat, P},
      {&thr_neg, "thr_neg", at::kFloat, P}};
  for (const auto& [t, name, dtype, n] : cols) {
    TORCH_CHECK(t->dim() == 2 && t->size(0) == B && t->size(1) == n, op, ": argument '", name,
                "' must be [", B, ", ", n, "], got ", t->sizes());
    check_dtype(*t, name, dtype);
    TORCH_CHECK(t->is_contiguous() && t->device() == img.device(), op, ": argument '", name,
                "' must be contiguous on ", img.device());
  }
  TORCH_CHECK(img.is_contiguous(), op, ": argument 'img' must be contiguous");
  TORCH_CHECK(std::isfinite(scale_x) && std::isfinite(scale_y) && std::isfinite(log_eps), op,
              ": 'scale_x', 'scale_y' and 'log_eps' must be finite");
  TORCH_CHECK(refractory >= 0, op, ": argument 'refractory_us' must be >= 0, got ", refractory);
  TORCH_CHECK(at::isfinite(off_x).all().item<bool>() && at::isfinite(off_y).all().item<bool>(), op,
              ": arguments 'off_x' and 'off_y' must be finite");
  check_increasing(ts);
  if (out) *out = at::empty({B, 2, P}, img.options());
  ezsr::RenderSimArgs a{};
  a.img = img.data_ptr<float>();
  a.off_x = off_x.data_ptr<double>();
  a.off_y = off_y.data_ptr<double>();
  a.scale_x = scale_x;
  a.scale_y = scale_y;
  a.ts = ts.data_ptr<int64_t>();
  a.thr_pos = thr_pos.data_ptr<float>();
  a.thr_neg = thr_neg.data_ptr<float>();
  a.log_eps = static_cast<float>(log_eps);
  a.refractory = refractory;
  a.out = out ? out->data_ptr<float>() : nullptr;
  a.batch = B;
  a.h = h;
  a.w = w;
  a.frames = T;
  a.height = height;
  a.width = width;
  return a;
}

// t_lo, t_hi [B] int64 on the args' device: the time range of each stream's window.
inline void check_window_bounds(const at::Tensor& t_lo, const at::Tensor& t_hi,
                                const ezsr::RenderSimArgs& a, const at::Tensor& img) {
  for (const auto& [t, name] : {std::make_pair(&t_lo, "t_lo"), std::make_pair(&t_hi, "t_hi")}) {
    TORCH_CHECK(t->dim() == 1 && t->size(0) == a.batch, "ezsr.render_simulate_events: argument '",
                name, "' must be [", a.batch, "], got ", t->sizes());
    check_dtype(*t, name, at::kLong);
    TORCH_CHECK(t->is_contiguous() && t->device() == img.device(),
                "ezsr.render_simulate_events: argument '", name, "' must be contiguous on ",
                img.device());
  }
}

// The SimulateArgs that events_pixel_major reads (batch, pixels, frames) for a fused walk.
inline ezsr::SimulateArgs sizes_only(const ezsr::RenderSimArgs& a) {
  ezsr::SimulateArgs s{};
  s.batch = a.batch;
  s.frames = a.frames;
  s.pixels = a.height * a.width;
  return s;
}

}  // namespace ezsr_torch
