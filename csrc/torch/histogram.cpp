// CPU registration of ezsr::histogram. Checks arguments, allocates outputs and calls
// the torch-free core (csrc/core/histogram.cpp).
#include <torch/library.h>

#include "histogram_common.h"

namespace ezsr_torch {

namespace {

std::tuple<at::Tensor, at::Tensor> histogram_cpu(const at::Tensor& x, const at::Tensor& y,
                                                 const at::Tensor& p, const at::Tensor& offsets,
                                                 int64_t width, int64_t height, int64_t out_width,
                                                 int64_t out_height, double cap) {
  auto [out, dropped] = histogram_outputs(x, y, p, offsets, width, height, out_width, out_height);
  check_offsets_host(offsets, x.numel());
  if (x.scalar_type() == at::kShort)
    ezsr::histogram_cpu(histogram_args<int16_t>(x, y, p, offsets, x.numel(), width, height,
                                                out_width, out_height, cap, out, dropped));
  else
    ezsr::histogram_cpu(histogram_args<int32_t>(x, y, p, offsets, x.numel(), width, height,
                                                out_width, out_height, cap, out, dropped));
  return {out, dropped};
}

}  // namespace
}  // namespace ezsr_torch

TORCH_LIBRARY_IMPL(ezsr, CPU, m) { m.impl("histogram", &ezsr_torch::histogram_cpu); }
