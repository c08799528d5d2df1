// Schema and CPU registration of ezsr::ezsr_frame (fused EZSR preprocessing, steps 3-7
// before the CLIP normalisation). Other devices compose histogram + torch ops instead
// (ezsr/ops/ezsr_preprocess.py).
#include <torch/library.h>

#include <vector>

#include "checks.h"
#include "ezsr/ezsr_frame.h"
#include "large_alloc.h"

TORCH_LIBRARY_FRAGMENT(ezsr, m) {
  // frame [B, len(mean), rows, cols] float32 ((gray - mean[c]) / std[c]), dropped [B] int64.
  m.def(
      "ezsr_frame(Tensor x, Tensor y, Tensor p, Tensor offsets, int width, int height, "
      "int hist_width, int hist_height, Tensor rows, Tensor cols, float[] mean, float[] std) "
      "-> (Tensor, Tensor)");
}

namespace ezsr_torch {
namespace {

void check_index(const at::Tensor& idx, const char* name, int64_t limit) {
  check_1d(idx, name);
  check_dtype(idx, name, at::kLong);
  TORCH_CHECK(idx.device().is_cpu(), "ezsr.ezsr_frame: '", name, "' must be on the CPU");
  if (idx.numel()) {
    const auto mn = idx.min().item<int64_t>(), mx = idx.max().item<int64_t>();
    TORCH_CHECK(mn >= 0 && mx < limit, "ezsr.ezsr_frame: '", name, "' must lie in [0, ", limit,
                "), got [", mn, ", ", mx, "]");
  }
}

template <typename Coord>
void call(const at::Tensor& x, const at::Tensor& y, const at::Tensor& p, const at::Tensor& offsets,
          int64_t width, int64_t height, int64_t hist_width, int64_t hist_height,
          const at::Tensor& rows, const at::Tensor& cols, const std::vector<float>& mean,
          const std::vector<float>& std, at::Tensor& out, at::Tensor& dropped) {
  ezsr::EzsrFrameArgs<Coord> a{x.data_ptr<Coord>(),
                               y.data_ptr<Coord>(),
                               p.data_ptr<uint8_t>(),
                               offsets.data_ptr<int64_t>(),
                               offsets.numel() - 1,
                               width,
                               height,
                               hist_width,
                               hist_height,
                               rows.data_ptr<int64_t>(),
                               rows.numel(),
                               cols.data_ptr<int64_t>(),
                               cols.numel(),
                               mean.data(),
                               std.data(),
                               static_cast<int64_t>(mean.size()),
                               out.data_ptr<float>(),
                               dropped.data_ptr<int64_t>()};
  ezsr::ezsr_frame_cpu(a);
}

std::tuple<at::Tensor, at::Tensor> ezsr_frame_cpu(const at::Tensor& x, const at::Tensor& y,
                                                  const at::Tensor& p, const at::Tensor& offsets,
                                                  int64_t width, int64_t height, int64_t hist_width,
                                                  int64_t hist_height, const at::Tensor& rows,
                                                  const at::Tensor& cols, at::ArrayRef<double> mean,
                                                  at::ArrayRef<double> std) {
  const int64_t batch = check_event_batch(x, y, p, offsets);
  TORCH_CHECK(width > 0 && height > 0 && hist_width > 0 && hist_height > 0,
              "ezsr.ezsr_frame: sensor and histogram sizes must be > 0, got ", width, "x", height,
              " and ", hist_width, "x", hist_height);
  check_offsets_host(offsets, x.numel());
  check_index(rows, "rows", hist_height);
  check_index(cols, "cols", hist_width);
  TORCH_CHECK(!mean.empty() && mean.size() == std.size(),
              "ezsr.ezsr_frame: 'mean' and 'std' must have the same length >= 1, got ", mean.size(),
              " and ", std.size());
  const std::vector<float> m(mean.begin(), mean.end()), s(std.begin(), std.end());
  // written once into fresh pages ([256, 3, 224, 224]: 154 MB): on huge pages (large_alloc.h)
  auto out = empty_large({batch, static_cast<int64_t>(m.size()), rows.numel(), cols.numel()},
                         x.options().dtype(at::kFloat));
  auto dropped = at::zeros({batch}, x.options().dtype(at::kLong));
  if (x.scalar_type() == at::kShort)
    call<int16_t>(x, y, p, offsets, width, height, hist_width, hist_height, rows, cols, m, s, out,
                  dropped);
  else
    call<int32_t>(x, y, p, offsets, width, height, hist_width, hist_height, rows, cols, m, s, out,
                  dropped);
  return {out, dropped};
}

}  // namespace
}  // namespace ezsr_torch

TORCH_LIBRARY_IMPL(ezsr, CPU, m) { m.impl("ezsr_frame", &ezsr_torch::ezsr_frame_cpu); }
