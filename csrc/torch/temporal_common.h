// Checks and argument packing shared by the CPU and CUDA registrations of
// ezsr::voxel_grid and ezsr::time_surface.
#pragma once
#include <tuple>

#include "checks.h"
#include "ezsr/temporal.h"

namespace ezsr_torch {

// Checks the columns and allocates (out [B, channels, H, W] float32, dropped [B] int64).
inline std::tuple<at::Tensor, at::Tensor> temporal_outputs(const char* op, const at::Tensor& x,
                                                           const at::Tensor& y, const at::Tensor& t,
                                                           const at::Tensor& p,
                                                           const at::Tensor& offsets, int64_t width,
                                                           int64_t height, int64_t channels) {
  const int64_t batch = check_event_batch(x, y, p, offsets);
  check_column(t, x, "t", at::kLong);
  TORCH_CHECK(width > 0 && height > 0, "ezsr.", op, ": sensor width and height must be > 0, got ",
              width, "x", height);
  auto out = at::zeros({batch, channels, height, width}, x.options().dtype(at::kFloat));
  auto dropped = at::zeros({batch}, x.options().dtype(at::kLong));
  return {out, dropped};
}

template <typename Coord>
ezsr::TemporalArgs<Coord> temporal_args(const at::Tensor& x, const at::Tensor& y,
                                        const at::Tensor& t, const at::Tensor& p,
                                        const at::Tensor& offsets, int64_t width, int64_t height,
                                        int64_t bins, at::Tensor& out, at::Tensor& dropped) {
  return {x.data_ptr<Coord>(),
          y.data_ptr<Coord>(),
          t.data_ptr<int64_t>(),
          p.data_ptr<uint8_t>(),
          offsets.data_ptr<int64_t>(),
          offsets.numel() - 1,
          x.numel(),
          width,
          height,
          bins,
          out.data_ptr<float>(),
          dropped.data_ptr<int64_t>()};
}

}  // namespace ezsr_torch
