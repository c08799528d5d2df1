// CUDA registrations of ezsr::voxel_grid and ezsr::time_surface (CUDA builds only).
// Offsets are not validated here (it would synchronise); the kernels skip events that
// invalid offsets put in no stream and clamp the span lookups (temporal_cuda.cu: locate), and the
// Python wrappers validate unless told not to.
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "../temporal_common.h"

namespace ezsr_torch {
namespace {

std::tuple<at::Tensor, at::Tensor> voxel_grid_cuda(const at::Tensor& x, const at::Tensor& y,
                                                   const at::Tensor& t, const at::Tensor& p,
                                                   const at::Tensor& offsets, int64_t width,
                                                   int64_t height, int64_t bins) {
  TORCH_CHECK(bins >= 1, "ezsr.voxel_grid: 'bins' must be >= 1, got ", bins);
  check_cuda_arg(x, "voxel_grid", "x");
  const c10::cuda::CUDAGuard guard(x.device());
  auto [out, dropped] = temporal_outputs("voxel_grid", x, y, t, p, offsets, width, height, bins);
  void* stream = c10::cuda::getCurrentCUDAStream().stream();
  if (x.scalar_type() == at::kShort)
    ezsr::voxel_grid_cuda(
        temporal_args<int16_t>(x, y, t, p, offsets, width, height, bins, out, dropped), stream);
  else
    ezsr::voxel_grid_cuda(
        temporal_args<int32_t>(x, y, t, p, offsets, width, height, bins, out, dropped), stream);
  return {out, dropped};
}

std::tuple<at::Tensor, at::Tensor> time_surface_cuda(const at::Tensor& x, const at::Tensor& y,
                                                     const at::Tensor& t, const at::Tensor& p,
                                                     const at::Tensor& offsets, int64_t width,
                                                     int64_t height) {
  check_cuda_arg(x, "time_surface", "x");
  const c10::cuda::CUDAGuard guard(x.device());
  auto [out, dropped] = temporal_outputs("time_surface", x, y, t, p, offsets, width, height, 2);
  void* stream = c10::cuda::getCurrentCUDAStream().stream();
  if (x.scalar_type() == at::kShort)
    ezsr::time_surface_cuda(
        temporal_args<int16_t>(x, y, t, p, offsets, width, height, 2, out, dropped), stream);
  else
    ezsr::time_surface_cuda(
        temporal_args<int32_t>(x, y, t, p, offsets, width, height, 2, out, dropped), stream);
  return {out, dropped};
}

}  // namespace
}  // namespace ezsr_torch

TORCH_LIBRARY_IMPL(ezsr, CUDA, m) {
  m.impl("voxel_grid", &ezsr_torch::voxel_grid_cuda);
  m.impl("time_surface", &ezsr_torch::time_surface_cuda);
}
