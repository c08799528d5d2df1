// torch.ops.ezsr.decode_events: the event file decoders of csrc/core/decode_*.cpp on a
// uint8 byte tensor (CPU only). Functional: the decoder state goes in and comes out as an
// int64[8] tensor, so Python can stream a file block by block.
#include <torch/library.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "checks.h"
#include "ezsr/decode.h"
#include "large_alloc.h"

namespace ezsr_torch {

namespace {

// Output columns. Large ones live on transparent huge pages (large_alloc.h): decoding is
// bound by first-touch page faults on fresh output memory, and 2 MiB pages cut them 512x.
struct Columns {
  at::Tensor x, y, t, p;
  int64_t cap = 0;
  Columns(int64_t n, const at::TensorOptions& o) : cap(n) {
    x = empty_large({n}, o.dtype(at::kShort));
    y = empty_large({n}, o.dtype(at::kShort));
    t = empty_large({n}, o.dtype(at::kLong));
    p = empty_large({n}, o.dtype(at::kByte));
  }
  // Reallocate to `cap` entries keeping the first `keep`.
  void grow(int64_t new_cap, int64_t keep) {
    Columns g(new_cap, x.options());
    for (auto [dst, src] : {std::pair{&g.x, &x}, {&g.y, &y}, {&g.t, &t}, {&g.p, &p}})
      dst->narrow(0, 0, keep).copy_(src->narrow(0, 0, keep));
    *this = g;
  }
  ezsr::DecodeOutput out(int64_t from) {
    return {x.data_ptr<int16_t>() + from, y.data_ptr<int16_t>() + from,
            t.data_ptr<int64_t>() + from, p.data_ptr<uint8_t>() + from, cap - from};
  }
};

// Returns x, y [n] int16, t [n] int64, p [n] uint8, the new state int64[8] and
// info int64[4] = (bytes consumed, events, error byte offset or -1, error code).
// max_events > 0: stop before exceeding it (the caller calls again with the rest);
// otherwise decode everything, growing the output if the first size guess was short.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>
decode_events_cpu(const at::Tensor& data, int64_t kind, const at::Tensor& state, int64_t width,
                  int64_t height, int64_t max_events) {
  check_1d(data, "data");
  check_dtype(data, "data", at::kByte);
  check_1d(state, "state");
  check_dtype(state, "state", at::kLong);
  TORCH_CHECK(state.numel() == 8, "ezsr: argument 'state' must have 8 entries, got ",
              state.numel());
  TORCH_CHECK(kind >= 0 && kind <= 9, "ezsr: argument 'kind' must be in [0, 9], got ", kind);
  TORCH_CHECK(data.device().is_cpu() && state.device().is_cpu(),
              "ezsr: decode_events runs on the CPU only");
  const auto k = static_cast<ezsr::DecodeKind>(kind);
  const uint8_t* bytes = data.data_ptr<uint8_t>();
  const int64_t n = data.numel();
  const int64_t ws = ezsr::decode_word_size(k);
  int64_t cap = ezsr::decode_guess_events(k, n);
  if (cap < 0) cap = ezsr::decode_max_events(k, bytes, n);
  // capped calls: room for at least one word's worth (an EVT 2.1 vector is 32 events)
  if (max_events > 0) cap = std::min(std::max<int64_t>(cap, 32), max_events);

  ezsr::DecodeState st;
  std::copy_n(state.data_ptr<int64_t>(), 8, reinterpret_cast<int64_t*>(&st));
  const auto opts = data.options();
  Columns cols(cap, opts);
  ezsr::DecodeResult r = ezsr::decode_events(k, bytes, n, st, cols.out(0), width, height);
  // the guess was short (EVT3 vectors): size the rest exactly, copy, continue
  while (max_events <= 0 && r.error == ezsr::kOk && n - r.consumed >= ws) {
    const int64_t more = ezsr::decode_max_events(k, bytes + r.consumed, n - r.consumed);
    if (more == 0) break;
    Columns grown(r.n_events + more, opts);
    for (auto [dst, src] : {std::pair{&grown.x, &cols.x},
                            {&grown.y, &cols.y},
                            {&grown.t, &cols.t},
                            {&grown.p, &cols.p}})
      dst->narrow(0, 0, r.n_events).copy_(src->narrow(0, 0, r.n_events));
    cols = grown;
    const auto r2 = ezsr::decode_events(k, bytes + r.consumed, n - r.consumed, st,
                                        cols.out(r.n_events), width, height);
    r.n_events += r2.n_events;
    r.error = r2.error;
    r.error_offset = r2.error_offset < 0 ? -1 : r.consumed + r2.error_offset;
    r.consumed += r2.consumed;
    if (r2.consumed == 0) break;
  }

  auto new_state = at::empty({8}, state.options());
  std::copy_n(reinterpret_cast<const int64_t*>(&st), 8, new_state.data_ptr<int64_t>());
  auto info = at::empty({4}, state.options());
  int64_t* inf = info.data_ptr<int64_t>();
  inf[0] = r.consumed;
  inf[1] = r.n_events;
  inf[2] = r.error_offset;
  inf[3] = r.error;
  // views of the first n events: the untouched tail of the allocation was never faulted in
  return {cols.x.narrow(0, 0, r.n_events),
          cols.y.narrow(0, 0, r.n_events),
          cols.t.narrow(0, 0, r.n_events),
          cols.p.narrow(0, 0, r.n_events),
          new_state,
          info};
}

// Whole-file decode for ezsr.io.read: the file is read in 1 MiB blocks into one reused
// buffer (cache-hot, no page faults on a file-sized copy), decoded straight into the output
// columns, which are sized at one event per word and doubled when a block needs more (EVT3
// and EVT2.1 vectors). Returns x, y, t, p and info int64[6] = (bytes decoded, events,
// error byte offset in the file or -1, error code, index of the first event whose time is
// earlier than its predecessor's or -1, trailing bytes that do not make a whole word).
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> decode_file_cpu(
    c10::string_view path, int64_t offset, int64_t kind, int64_t width, int64_t height) {
  TORCH_CHECK(kind >= 0 && kind <= 9, "ezsr: argument 'kind' must be in [0, 9], got ", kind);
  TORCH_CHECK(offset >= 0, "ezsr: argument 'offset' must be >= 0, got ", offset);
  const std::string name(path.data(), path.size());
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(name.c_str(), "rb"), &std::fclose);
  TORCH_CHECK(f, "ezsr: cannot open ", name);
  std::fseek(f.get(), 0, SEEK_END);
  const int64_t size = std::ftell(f.get());
  TORCH_CHECK(offset <= size, "ezsr: offset ", offset, " is past the end of ", name);
  std::fseek(f.get(), offset, SEEK_SET);
  const auto k = static_cast<ezsr::DecodeKind>(kind);
  const int64_t ws = ezsr::decode_word_size(k);
  const auto opts = at::TensorOptions().device(at::kCPU);
  const int64_t guess = ezsr::decode_guess_events(k, size - offset);
  Columns cols(std::max<int64_t>(guess > 0 ? guess : (size - offset) / ws, 1), opts);

  constexpr int64_t kBlock = int64_t(1) << 20;
  std::vector<uint8_t> buf(kBlock + 64);
  int64_t have = 0;           // bytes in buf (a carried partial word plus the new read)
  int64_t file_pos = offset;  // file offset of buf[0]
  int64_t n = 0, unsorted = -1, error_at = -1;
  int32_t error = ezsr::kOk;
  ezsr::DecodeState st;
  while (error == ezsr::kOk) {
    const int64_t got = int64_t(std::fread(buf.data() + have, 1, kBlock, f.get()));
    have += got;
    int64_t pos = 0;
    while (have - pos >= ws) {
      const int64_t before = n;
      int64_t step = 0;  // bytes decoded in this pass
      const ezsr::DecodeResult r =
          ezsr::decode_events(k, buf.data() + pos, have - pos, st, cols.out(n), width, height);
      n += r.n_events;
      step = r.consumed;
      const int64_t* t = cols.t.data_ptr<int64_t>();
      // time order: the decoders check within a call (records reject a step back), so only
      // the seam between calls is compared here, and the index searched for when needed
      if (unsorted < 0 && n > before && (r.unsorted || (before > 0 && t[before] < t[before - 1])))
        for (int64_t i = std::max<int64_t>(before, 1); i < n; ++i)
          if (t[i] < t[i - 1]) {
            unsorted = i;
            break;
          }
      pos += step;
      if (r.error != ezsr::kOk) {
        error = r.error;
        error_at = file_pos + (pos - step) + r.error_offset;
        break;
      }
      if (r.need_more) break;  // an event cut by the block's end: read on
      if (have - pos >= ws) {  // stopped for room: grow the columns
        cols.grow(std::max(cols.cap * 2, n + 32), n);
      }
    }
    // carry the partial word to the front
    std::memmove(buf.data(), buf.data() + pos, size_t(have - pos));
    file_pos += pos;
    have -= pos;
    if (got == 0) break;
  }
  auto info = at::empty({6}, at::kLong);
  int64_t* inf = info.data_ptr<int64_t>();
  inf[0] = file_pos - offset;
  inf[1] = n;
  inf[2] = error_at;
  inf[3] = error;
  inf[4] = unsorted;
  inf[5] = error == ezsr::kOk ? have : 0;
  return {cols.x.narrow(0, 0, n), cols.y.narrow(0, 0, n), cols.t.narrow(0, 0, n),
          cols.p.narrow(0, 0, n), info};
}

}  // namespace
}  // namespace ezsr_torch

TORCH_LIBRARY_FRAGMENT(ezsr, m) {
  m.def(
      "decode_events(Tensor data, int kind, Tensor state, int width, int height, "
      "int max_events) -> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)");
  m.def(
      "decode_file(str path, int offset, int kind, int width, int height) -> "
      "(Tensor, Tensor, Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(ezsr, CPU, m) { m.impl("decode_events", &ezsr_torch::decode_events_cpu); }

// decode_file takes no tensor: registered for every backend (CompositeExplicitAutograd).
TORCH_LIBRARY_IMPL(ezsr, CompositeExplicitAutograd, m) {
  m.impl("decode_file", &ezsr_torch::decode_file_cpu);
}
