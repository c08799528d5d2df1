// Schemas and CPU registrations of ezsr::voxel_grid and ezsr::time_surface; the kernels
// are the torch-free core in csrc/core/temporal.cpp.
#include <torch/library.h>

#include "temporal_common.h"

TORCH_LIBRARY_FRAGMENT(ezsr, m) {
  // grid [B, bins, height, width] float32 and dropped [B] int64.
  m.def(
      "voxel_grid(Tensor x, Tensor y, Tensor t, Tensor p, Tensor offsets, int width, "
      "int height, int bins) -> (Tensor, Tensor)");
  // surface [B, 2, height, width] float32 (channel 0 = ON) and dropped [B] int64.
  m.def(
      "time_surface(Tensor x, Tensor y, Tensor t, Tensor p, Tensor offsets, int width, "
      "int height) -> (Tensor, Tensor)");
}

namespace ezsr_torch {
namespace {

std::tuple<at::Tensor, at::Tensor> voxel_grid_cpu(const at::Tensor& x, const at::Tensor& y,
                                                  const at::Tensor& t, const at::Tensor& p,
                                                  const at::Tensor& offsets, int64_t width,
                                                  int64_t height, int64_t bins) {
  TORCH_CHECK(bins >= 1, "ezsr.voxel_grid: 'bins' must be >= 1, got ", bins);
  auto [out, dropped] = temporal_outputs("voxel_grid", x, y, t, p, offsets, width, height, bins);
  check_offsets_host(offsets, x.numel());
  if (x.scalar_type() == at::kShort)
    ezsr::voxel_grid_cpu(
        temporal_args<int16_t>(x, y, t, p, offsets, width, height, bins, out, dropped));
  else
    ezsr::voxel_grid_cpu(
        temporal_args<int32_t>(x, y, t, p, offsets, width, height, bins, out, dropped));
  return {out, dropped};
}

std::tuple<at::Tensor, at::Tensor> time_surface_cpu(const at::Tensor& x, const at::Tensor& y,
                                                    const at::Tensor& t, const at::Tensor& p,
                                                    const at::Tensor& offsets, int64_t width,
                                                    int64_t height) {
  auto [out, dropped] = temporal_outputs("time_surface", x, y, t, p, offsets, width, height, 2);
  check_offsets_host(offsets, x.numel());
  if (x.scalar_type() == at::kShort)
    ezsr::time_surface_cpu(
        temporal_args<int16_t>(x, y, t, p, offsets, width, height, 2, out, dropped));
  else
    ezsr::time_surface_cpu(
        temporal_args<int32_t>(x, y, t, p, offsets, width, height, 2, out, dropped));
  return {out, dropped};
}

}  // namespace
}  // namespace ezsr_torch

TORCH_LIBRARY_IMPL(ezsr, CPU, m) {
  m.impl("voxel_grid", &ezsr_torch::voxel_grid_cpu);
  m.impl("time_surface", &ezsr_torch::time_surface_cpu);
}
