// Event simulation (ESIM rule) from log-intensity frames.
// Reference: ezsr/simulate/kernels.py::simulate_reference, shared/docs/reference.md §4.
//
// Layout: B streams, each T frames of P = H*W pixels. logf [B, T, P] float32 log
// intensity; ts [B, T] int64 µs, strictly increasing per stream. Per-pixel state
// ref [B, P] float32 (level of the last crossing) and last_t [B, P] int64 (time of the
// last emitted event, kNever if none) is read and, by the emitting/histogram passes,
// written back, so a long sequence can be fed in chunks that share their boundary frame.
#pragma once
#include <cmath>
#include <cstdint>

#include "ezsr/common.h"

namespace ezsr {

constexpr int64_t kNever = INT64_MIN;  // last_t of a pixel that has not fired yet

struct SimulateArgs {
  const float* logf;      // [B, T, P]
  const int64_t* ts;      // [B, T]
  const float* thr_pos;   // [B, P] ON threshold per pixel (> 0)
  const float* thr_neg;   // [B, P] OFF threshold per pixel (> 0)
  float* ref;             // [B, P] in/out
  int64_t* last_t;        // [B, P] in/out
  int64_t batch, frames, pixels;
  int64_t refractory;     // µs, >= 0
};

// ref + k * step without fused multiply-add, so CPU, CUDA and torch agree bit for bit.
EZSR_HD inline float level_at(float ref, int k, float step) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(ref, __fmul_rn(static_cast<float>(k), step));
#else
  return ref + static_cast<float>(k) * step;
#endif
}

// Timestamp of a crossing at level cur between (t0, L0) and (t1, L1):
// t0 + floor((cur - L0) * (t1 - t0) / (L1 - L0)), the products in float64.
EZSR_HD inline int64_t crossing_time(float cur, float L0, float L1, int64_t t0, int64_t t1) {
#if defined(__CUDA_ARCH__)
  const double num = __dmul_rn(static_cast<double>(__fsub_rn(cur, L0)), static_cast<double>(t1 - t0));
  return t0 + static_cast<int64_t>(floor(__ddiv_rn(num, static_cast<double>(__fsub_rn(L1, L0)))));
#else
  const double num = static_cast<double>(cur - L0) * static_cast<double>(t1 - t0);
  return t0 + static_cast<int64_t>(std::floor(num / static_cast<double>(L1 - L0)));
#endif
}

// One pixel over one frame interval (t0, L0) -> (t1, L1): the ESIM rule. For k = 1, 2, ...
// the level cur = ref + k*pol*C is a crossing while it lies in (L0, L1] (or [L1, L0));
// each crossing gets a linearly interpolated time and is emitted (emit(t, on)) only if
// t - last >= refractory; ref advances to the last crossing even when it was dropped.
// kCountOnly: the caller needs neither times nor last (a counting pass on private state);
// then with refractory == 0 every crossing is an event and its time is not computed.
template <bool kCountOnly = false, typename Emit>
EZSR_HD inline void step_pixel(float L0, float L1, int64_t t0, int64_t t1, float cp, float cn,
                               float& ref, int64_t& last, int64_t refractory, Emit&& emit) {
  if (!(L1 != L0)) return;
  const bool on = L1 > L0;
  const float step = on ? cp : -cn;
  float r = ref;
  for (int k = 1;; ++k) {
    const float cur = level_at(ref, k, step);
    if (on ? !(cur > L0 && cur <= L1) : !(cur < L0 && cur >= L1)) break;
    if (kCountOnly && refractory == 0) {
      emit(t0, on);
      r = cur;
      continue;
    }
    const int64_t t = crossing_time(cur, L0, L1, t0, t1);
    if (last == kNever || t - last >= refractory) {
      emit(t, on);
      last = t;
    }
    r = cur;
  }
  ref = r;
}

// ---- CPU (OpenMP). counts [B*P] int64: events per pixel; state is not modified.
void simulate_count_cpu(const SimulateArgs& a, int64_t* counts);

// Emit events pixel-major: pixel q = b*P + p writes at offsets[q] .. offsets[q+1] (the
// exclusive prefix sum of simulate_count_cpu's counts), t [N] and code [N] = p*2 + on.
// Updates the state.
void simulate_emit_cpu(const SimulateArgs& a, const int64_t* offsets, int64_t* t, int32_t* code);

// Stable sort of the pixel-major events by (stream, t) (LSD radix sort), written as final
// columns x, y (Coord), t, p. stream_offsets [B+1] (= offsets[b*P]). t_min [B]: first frame
// time of each stream; t_span: max over streams of last - first frame time.
template <typename Coord>
void simulate_sort_cpu(const int64_t* t_in, const int32_t* code_in, int64_t n,
                       const int64_t* stream_offsets, int64_t batch, const int64_t* t_min,
                       int64_t t_span, int64_t width, Coord* x, Coord* y, int64_t* t,
                       uint8_t* p);

// Fused histogram: out [B, 2, P] float32 (+= ON counts in channel 0, OFF in 1); updates state.
void simulate_histogram_cpu(const SimulateArgs& a, float* out);

// ---- CUDA (defined only in CUDA builds; every pointer is device memory).
void simulate_count_cuda(const SimulateArgs& a, int64_t* counts, void* stream);
void simulate_emit_cuda(const SimulateArgs& a, const int64_t* offsets, int64_t* t, int32_t* code,
                        void* stream);
void simulate_histogram_cuda(const SimulateArgs& a, float* out, void* stream);

}  // namespace ezsr
