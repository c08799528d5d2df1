// Checks and argument packing shared by the CPU and CUDA registrations of the
// simulation ops (ezsr::simulate_events, ezsr::simulate_histogram).
#pragma once
#include "checks.h"
#include "ezsr/simulate.h"

namespace ezsr_torch {

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
    TORCH_CHECK(tensor->is_contiguous(), "ezsr.simulate: argument '", name,
                "' must be contiguous");
    TORCH_CHECK(tensor->device() == logf.device(), "ezsr.simulate: argument '", name,
                "' is on ", tensor->device(), ", 'logf' on ", logf.device());
  }
  TORCH_CHECK(logf.is_contiguous() && ts.is_contiguous(),
              "ezsr.simulate: 'logf' and 'ts' must be contiguous");
  TORCH_CHECK(ts.device() == logf.device(), "ezsr.simulate: 'ts' is on another device than 'logf'");
  TORCH_CHECK(refractory >= 0, "ezsr.simulate: argument 'refractory_us' must be >= 0, got ",
              refractory);
  return {logf.data_ptr<float>(), ts.data_ptr<int64_t>(), thr_pos.data_ptr<float>(),
          thr_neg.data_ptr<float>(), ref.data_ptr<float>(), last_t.data_ptr<int64_t>(),
          B, T, P, refractory};
}

inline at::ScalarType coord_dtype(int64_t width, int64_t pixels) {
  return (width < 32768 && pixels / std::max<int64_t>(width, 1) < 32768) ? at::kShort : at::kInt;
}

}  // namespace ezsr_torch
