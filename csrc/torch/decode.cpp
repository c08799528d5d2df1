// torch.ops.ezsr.decode_events: the event file decoders of csrc/core/decode_*.cpp on a
// uint8 byte tensor (CPU only). Functional: the decoder state goes in and comes out as an
// int64[8] tensor, so Python can stream a file block by block.
#include <torch/library.h>

#include <algorithm>

#include "checks.h"
#include "ezsr/decode.h"

namespace ezsr_torch {

namespace {

// Returns x, y [n] int16, t [n] int64, p [n] uint8, the new state int64[8] and
// info int64[4] = (bytes consumed, events, error byte offset or -1, error code).
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>
decode_events_cpu(const at::Tensor& data, int64_t kind, const at::Tensor& state, int64_t width,
                  int64_t height, int64_t max_events) {
  check_1d(data, "data");
  check_dtype(data, "data", at::kByte);
  check_1d(state, "state");
  check_dtype(state, "state", at::kLong);
  TORCH_CHECK(state.numel() == 8, "ezsr: argument 'state' must have 8 entries, got ",
              state.numel());
  TORCH_CHECK(kind >= 0 && kind <= 6, "ezsr: argument 'kind' must be in [0, 6], got ", kind);
  TORCH_CHECK(data.device().is_cpu() && state.device().is_cpu(),
              "ezsr: decode_events runs on the CPU only");
  const auto k = static_cast<ezsr::DecodeKind>(kind);
  const uint8_t* bytes = data.data_ptr<uint8_t>();
  const int64_t n = data.numel();
  int64_t cap = ezsr::decode_max_events(k, bytes, n);
  if (max_events > 0) cap = std::min(cap, max_events);

  ezsr::DecodeState st;
  std::copy_n(state.data_ptr<int64_t>(), 8, reinterpret_cast<int64_t*>(&st));
  auto x = at::empty({cap}, data.options().dtype(at::kShort));
  auto y = at::empty({cap}, data.options().dtype(at::kShort));
  auto t = at::empty({cap}, data.options().dtype(at::kLong));
  auto p = at::empty({cap}, data.options().dtype(at::kByte));
  ezsr::DecodeOutput out{x.data_ptr<int16_t>(), y.data_ptr<int16_t>(), t.data_ptr<int64_t>(),
                         p.data_ptr<uint8_t>(), cap};
  const ezsr::DecodeResult r = ezsr::decode_events(k, bytes, n, st, out, width, height);

  auto new_state = at::empty({8}, state.options());
  std::copy_n(reinterpret_cast<const int64_t*>(&st), 8, new_state.data_ptr<int64_t>());
  auto info = at::empty({4}, state.options());
  int64_t* inf = info.data_ptr<int64_t>();
  inf[0] = r.consumed;
  inf[1] = r.n_events;
  inf[2] = r.error_offset;
  inf[3] = r.error;
  if (r.n_events < cap) {  // trim: a copy when much was over-allocated, else a view
    const bool copy = r.n_events < cap / 2;
    auto trim = [&](const at::Tensor& c) {
      auto v = c.narrow(0, 0, r.n_events);
      return copy ? v.clone() : v;
    };
    x = trim(x), y = trim(y), t = trim(t), p = trim(p);
  }
  return {x, y, t, p, new_state, info};
}

}  // namespace
}  // namespace ezsr_torch

TORCH_LIBRARY_FRAGMENT(ezsr, m) {
  m.def(
      "decode_events(Tensor data, int kind, Tensor state, int width, int height, "
      "int max_events) -> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(ezsr, CPU, m) { m.impl("decode_events", &ezsr_torch::decode_events_cpu); }
