// CUDA registration of ezsr::histogram (compiled only in CUDA builds). Offsets are
// not validated here (that would synchronise); the kernel skips events that invalid
// offsets put in no stream (cuda_utils.cuh: stream_of), and the Python wrapper validates
// them unless told not to.
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "../histogram_common.h"

namespace ezsr_torch {
namespace {

std::tuple<at::Tensor, at::Tensor> histogram_cuda(const at::Tensor& x, const at::Tensor& y,
                                                  const at::Tensor& p, const at::Tensor& offsets,
                                                  int64_t width, int64_t height, int64_t out_width,
                                                  int64_t out_height, double cap) {
  check_cuda_arg(x, "histogram", "x");
  const c10::cuda::CUDAGuard guard(x.device());
  auto [out, dropped] = histogram_outputs(x, y, p, offsets, width, height, out_width, out_height);
  void* stream = c10::cuda::getCurrentCUDAStream().stream();
  if (x.scalar_type() == at::kShort)
    ezsr::histogram_cuda(histogram_args<int16_t>(x, y, p, offsets, x.numel(), width, height,
                                                 out_width, out_height, cap, out, dropped),
                         stream);
  else
    ezsr::histogram_cuda(histogram_args<int32_t>(x, y, p, offsets, x.numel(), width, height,
                                                 out_width, out_height, cap, out, dropped),
                         stream);
  return {out, dropped};
}

}  // namespace
}  // namespace ezsr_torch

TORCH_LIBRARY_IMPL(ezsr, CUDA, m) { m.impl("histogram", &ezsr_torch::histogram_cuda); }
