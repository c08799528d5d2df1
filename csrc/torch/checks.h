// Argument checks shared by the torch layer: one message style for every op,
// naming the argument and what was expected.
#pragma once
#include <ATen/ATen.h>
#include <c10/util/Exception.h>

namespace ezsr_torch {

inline void check_1d(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.dim() == 1, "ezsr: argument '", name, "' must be 1-D, got shape ", t.sizes());
  TORCH_CHECK(t.is_contiguous(), "ezsr: argument '", name, "' must be contiguous");
}

inline void check_dtype(const at::Tensor& t, const char* name, at::ScalarType want) {
  TORCH_CHECK(t.scalar_type() == want, "ezsr: argument '", name, "' must have dtype ", want,
              ", got ", t.scalar_type());
}

// x, y (int16 or int32, same dtype), p (uint8) and offsets (int64, B+1) of a batch of
// event streams, all on one device. Returns the number of streams B.
inline int64_t check_event_batch(const at::Tensor& x, const at::Tensor& y, const at::Tensor& p,
                                 const at::Tensor& offsets) {
  check_1d(x, "x");
  check_1d(y, "y");
  check_1d(p, "p");
  check_1d(offsets, "offsets");
  TORCH_CHECK(x.scalar_type() == at::kShort || x.scalar_type() == at::kInt,
              "ezsr: argument 'x' must be int16 or int32, got ", x.scalar_type());
  check_dtype(y, "y", x.scalar_type());
  check_dtype(p, "p", at::kByte);
  check_dtype(offsets, "offsets", at::kLong);
  TORCH_CHECK(y.numel() == x.numel() && p.numel() == x.numel(),
              "ezsr: columns 'x', 'y', 'p' must have the same length, got ", x.numel(), ", ",
              y.numel(), ", ", p.numel());
  TORCH_CHECK(offsets.numel() >= 1, "ezsr: argument 'offsets' must have B+1 >= 1 entries");
  TORCH_CHECK(offsets.numel() >= 2 || x.numel() == 0,
              "ezsr: argument 'offsets' has 1 entry "
              "(no stream) but there are ",
              x.numel(), " events");
  TORCH_CHECK(
      y.device() == x.device() && p.device() == x.device() && offsets.device() == x.device(),
      "ezsr: 'x', 'y', 'p' and 'offsets' must be on one device");
  return offsets.numel() - 1;
}

// A CUDA op runs when any argument is on CUDA: its first tensor argument must be too (checked
// before the device guard that it picks), with a message naming it.
inline void check_cuda_arg(const at::Tensor& t, const char* op, const char* name) {
  TORCH_CHECK(t.is_cuda(), "ezsr.", op, ": argument '", name, "' is on ", t.device(),
              " while other arguments are on CUDA; put them all on one device");
}

inline void check_column(const at::Tensor& c, const at::Tensor& x, const char* name,
                         at::ScalarType want) {
  check_1d(c, name);
  check_dtype(c, name, want);
  TORCH_CHECK(c.numel() == x.numel(), "ezsr: column '", name, "' has ", c.numel(),
              " entries, expected ", x.numel());
  TORCH_CHECK(c.device() == x.device(), "ezsr: column '", name, "' is on another device");
}

}  // namespace ezsr_torch

namespace ezsr_torch {

// Offsets must be a valid CSR index over n events; checked on the host (CPU ops only).
inline void check_offsets_host(const at::Tensor& offsets, int64_t n) {
  const int64_t* o = offsets.data_ptr<int64_t>();
  const int64_t b = offsets.numel() - 1;
  TORCH_CHECK(o[0] == 0, "ezsr: 'offsets' must start at 0, got ", o[0]);
  TORCH_CHECK(o[b] == n, "ezsr: 'offsets' must end at the number of events ", n, ", got ", o[b]);
  for (int64_t i = 0; i < b; ++i)
    TORCH_CHECK(o[i] <= o[i + 1], "ezsr: 'offsets' must be non-decreasing, but offsets[", i,
                "] = ", o[i], " > offsets[", i + 1, "] = ", o[i + 1]);
}

}  // namespace ezsr_torch
