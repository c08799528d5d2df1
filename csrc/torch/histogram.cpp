// CPU registration of ezsr::histogram. Checks arguments, allocates outputs and calls
// the torch-free core (csrc/core/histogram.cpp).
#include <torch/library.h>

#include "histogram_common.h"

namespace ezsr_torch {

namespace {

// Offsets must be a valid CSR index over N events; checked on the host.
void check_offsets_cpu(const at::Tensor& offsets, int64_t n) {
  const int64_t* o = offsets.data_ptr<int64_t>();
  const int64_t b = offsets.numel() - 1;
  TORCH_CHECK(o[0] == 0, "ezsr: 'offsets' must start at 0, got ", o[0]);
  TORCH_CHECK(o[b] == n, "ezsr: 'offsets' must end at the number of events ", n, ", got ", o[b]);
  for (int64_t i = 0; i < b; ++i)
    TORCH_CHECK(o[i] <= o[i + 1], "ezsr: 'offsets' must be non-decreasing, but offsets[", i,
                "] = ", o[i], " > offsets[", i + 1, "] = ", o[i + 1]);
}

std::tuple<at::Tensor, at::Tensor> histogram_cpu(const at::Tensor& x, const at::Tensor& y,
                                                 const at::Tensor& p, const at::Tensor& offsets,
                                                 int64_t width, int64_t height, int64_t out_width,
                                                 int64_t out_height, double cap) {
  auto [out, dropped] = histogram_outputs(x, y, p, offsets, width, height, out_width, out_height);
  check_offsets_cpu(offsets, x.numel());
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
