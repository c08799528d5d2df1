// Checks and argument packing shared by the CPU and CUDA registrations of
// ezsr::histogram.
#pragma once
#include <tuple>

#include "checks.h"
#include "ezsr/histogram.h"

namespace ezsr_torch {

// Shared by the CPU and CUDA registrations: checks and output allocation.
inline std::tuple<at::Tensor, at::Tensor> histogram_outputs(
    const at::Tensor& x, const at::Tensor& y, const at::Tensor& p, const at::Tensor& offsets,
    int64_t width, int64_t height, int64_t out_width, int64_t out_height) {
  const int64_t batch = check_event_batch(x, y, p, offsets);
  TORCH_CHECK(width > 0 && height > 0, "ezsr.histogram: sensor width and height must be > 0, got ",
              width, "x", height);
  TORCH_CHECK(out_width > 0 && out_height > 0,
              "ezsr.histogram: output width and height must be > 0, got ", out_width, "x",
              out_height);
  auto out = at::zeros({batch, 2, out_height, out_width}, x.options().dtype(at::kFloat));
  auto dropped = at::zeros({batch}, x.options().dtype(at::kLong));
  return {out, dropped};
}

template <typename Coord>
ezsr::HistogramArgs<Coord> histogram_args(const at::Tensor& x, const at::Tensor& y,
                                          const at::Tensor& p, const at::Tensor& offsets,
                                          int64_t n_events, int64_t width, int64_t height,
                                          int64_t out_width, int64_t out_height, double cap,
                                          at::Tensor& out, at::Tensor& dropped) {
  return {x.data_ptr<Coord>(),
          y.data_ptr<Coord>(),
          p.data_ptr<uint8_t>(),
          offsets.data_ptr<int64_t>(),
          offsets.numel() - 1,
          n_events,
          width,
          height,
          out_width,
          out_height,
          static_cast<float>(cap),
          out.data_ptr<float>(),
          dropped.data_ptr<int64_t>()};
}

}  // namespace ezsr_torch
