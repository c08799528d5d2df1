// Event simulation (ESIM rule) from log-intensity frames.
// Reference: ezsr/simulate/kernels.py::simulate_reference, the ESIM rule (Rebecq et al., CoRL 2018;
// docs/simulate.md).
//
// Layout: B streams, each T frames of P = H*W pixels. logf [B, T, P] float32 log
// intensity; ts [B, T] int64 µs, strictly increasing per stream. Per-pixel state
// ref [B, P] float32 (level of the last crossing) and last_t [B, P] int64 (time of the
// last emitted event, kNever if none) is read and, by the emitting/histogram passes,
// written back, so a long sequence can be fed in chunks that share their boundary frame.
#pragma once
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "ezsr/common.h"

namespace ezsr {

constexpr int64_t kNever = INT64_MIN;  // last_t of a pixel that has not fired yet

struct SimulateArgs {
  const float* logf;     // [B, T, P]
  const int64_t* ts;     // [B, T]
  const float* thr_pos;  // [B, P] ON threshold per pixel (> 0)
  const float* thr_neg;  // [B, P] OFF threshold per pixel (> 0)
  float* ref;            // [B, P] in/out
  int64_t* last_t;       // [B, P] in/out
  int64_t batch, frames, pixels;
  int64_t refractory;  // µs, >= 0
};

// The next crossing level: cur + step in float32 (the level is ACCUMULATED, as rpg_esim and
// esim_py do; ref + k * step is not the same float and can lose a crossing), without any
// contraction, so CPU, CUDA and torch agree bit for bit.
EZSR_HD inline float next_level(float cur, float step) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(cur, step);
#else
  return cur + step;
#endif
}

// Timestamp of a crossing at level cur between (t0, L0) and (t1, L1):
// t0 + floor((cur - L0) * (t1 - t0) / (L1 - L0)), the products in float64.
EZSR_HD inline int64_t crossing_time(float cur, float L0, float L1, int64_t t0, int64_t t1) {
#if defined(__CUDA_ARCH__)
  const double num =
      __dmul_rn(static_cast<double>(__fsub_rn(cur, L0)), static_cast<double>(t1 - t0));
  return t0 + static_cast<int64_t>(floor(__ddiv_rn(num, static_cast<double>(__fsub_rn(L1, L0)))));
#else
  // cur lies strictly between L0 and L1, so the quotient is >= 0 and floor is the
  // truncating conversion (std::floor is a library call without SSE4.1)
  const double num = static_cast<double>(cur - L0) * static_cast<double>(t1 - t0);
  return t0 + static_cast<int64_t>(num / static_cast<double>(L1 - L0));
#endif
}

// One pixel over one frame interval (t0, L0) -> (t1, L1): the ESIM rule. Starting from
// cur = ref, the accumulated level cur = cur + pol*C (float32) is a crossing while it lies
// in (L0, L1] (or [L1, L0));
// each crossing gets a linearly interpolated time and is emitted (emit(t, on)) only if
// t - last >= refractory; ref advances to the last crossing even when it was dropped.
// kTimes = false: the caller needs no event times (counting, histogram). With refractory
// == 0 and last <= t0 (kNever included) every crossing is then an event (t >= t0 >= last),
// emit gets t0, and only the last crossing's time is computed (for last), so last ends
// exactly as with kTimes = true. A last later than t0 (state passed in by the caller) takes
// the exact path, which drops the crossings before it.
template <bool kTimes = true, typename Emit>
EZSR_HD inline void step_pixel(float L0, float L1, int64_t t0, int64_t t1, float cp, float cn,
                               float& ref, int64_t& last, int64_t refractory, Emit&& emit) {
  if (!(L1 != L0)) return;
  const bool on = L1 > L0;
  const float step = on ? cp : -cn;
  float r = ref;
  if (!kTimes && refractory == 0 && last <= t0) {
    bool any = false;
    for (;;) {
      const float cur = next_level(r, step);
      if (on ? !(cur > L0 && cur <= L1) : !(cur < L0 && cur >= L1)) break;
      emit(t0, on);
      r = cur;
      any = true;
    }
    if (any)
      last = crossing_time(r, L0, L1, t0, t1);  // t grows with each crossing: the last is the max
    ref = r;
    return;
  }
  for (;;) {
    const float cur = next_level(r, step);
    if (on ? !(cur > L0 && cur <= L1) : !(cur < L0 && cur >= L1)) break;
    const int64_t t = crossing_time(cur, L0, L1, t0, t1);
    if (last == kNever || t - last >= refractory) {
      emit(t, on);
      last = t;
    }
    r = cur;
  }
  ref = r;
}

// Pixel q = b*P + p of a over every frame interval, with state (ref, last): one CUDA thread
// per pixel (csrc/core/simulate_cuda.cu) and simulate_*_pixel_major_cpu, its CPU twin.
template <bool kTimes = true, typename Emit>
EZSR_HD inline void simulate_pixel(const SimulateArgs& a, int64_t q, float& ref, int64_t& last,
                                   Emit&& emit) {
  const int64_t b = q / a.pixels, p = q % a.pixels;
  const float* L = a.logf + b * a.frames * a.pixels + p;
  const int64_t* ts = a.ts + b * a.frames;
  float L0 = L[0];
  for (int64_t f = 0; f + 1 < a.frames; ++f) {
    const float L1 = L[(f + 1) * a.pixels];
    if (L0 != L1)
      step_pixel<kTimes>(L0, L1, ts[f], ts[f + 1], a.thr_pos[q], a.thr_neg[q], ref, last,
                         a.refractory, emit);
    L0 = L1;
  }
}

// The two pixel-major passes for pixel q (a CUDA thread each; a loop in the CPU twins).
// Count: its number of events, state untouched. Emit: its events at offsets[q], in time
// order (t, code = 2 * p + on), and the state updated.
EZSR_HD inline int64_t count_pixel_events(const SimulateArgs& a, int64_t q) {
  float ref = a.ref[q];  // private copies: counting leaves the state untouched
  int64_t last = a.last_t[q], n = 0;
  simulate_pixel<false>(a, q, ref, last, [&](int64_t, bool) { ++n; });
  return n;
}

EZSR_HD inline void emit_pixel_events(const SimulateArgs& a, int64_t q, const int64_t* offsets,
                                      int64_t* t, int32_t* code) {
  const int32_t p2 = static_cast<int32_t>((q % a.pixels) * 2);
  int64_t i = offsets[q];
  simulate_pixel(a, q, a.ref[q], a.last_t[q], [&](int64_t tt, bool on) {
    t[i] = tt;
    code[i] = p2 + (on ? 1 : 0);
    ++i;
  });
}

// Rendering of translated, axis-aligned scaled images (saccades): bilinear sampling is
// separable, so frame (b, t) at pixel (v, u) is
//   lerp(lerp(I[y0, x0], I[y1, x0], wy), lerp(I[y0, x1], I[y1, x1], wy), wx)
// with taps x0/x1/wx [B, T, W] (per column) and y0/y1/wy [B, T, H] (per row) computed by
// the caller, and lerp(a, c, w) = a + w * (c - a) in float32 without FMA, as the torch
// reference (ezsr/simulate/images.py::render_translate_reference) computes it.
struct RenderArgs {
  const float* img;                  // [B, h, w]
  const int64_t *x0, *x1, *y0, *y1;  // [B, T, W], [B, T, W], [B, T, H], [B, T, H]
  const float *wx, *wy;              // [B, T, W], [B, T, H]
  float* out;                        // [B, T, H, W]
  int64_t batch, h, w, frames, height, width;
};

EZSR_HD inline float lerp_exact(float a, float c, float w) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, __fmul_rn(w, __fsub_rn(c, a)));
#else
  return a + w * (c - a);
#endif
}

void render_translate_cpu(const RenderArgs& r);
void render_translate_cuda(const RenderArgs& r, void* stream);  // CUDA builds only

// ---- Fused render + log + ESIM histogram of translated images (saccades), all frames in
// one pass: one pixel walks every frame with its state in registers, so no frame, log frame
// or event touches device memory (the chain it replaces: render_translate, log(I + eps),
// simulate_histogram from a fresh state, ezsr/simulate/images.py::_simulate). Reference:
// ezsr/simulate/kernels.py::render_simulate_histogram_reference.
// The bilinear taps are computed per frame from the frame's offsets, in float64 with
// every operation rounded on its own, as ezsr/simulate/images.py::_taps computes them:
//   g = scale * i + off;  x = clamp(((g + 1) * n_in - 1) / 2, 0, n_in - 1)
//   i0 = floor(x);  i1 = min(i0 + 1, n_in - 1);  w = float(x - i0)
struct RenderSimArgs {
  const float* img;                // [B, h, w] linear intensity
  const double *off_x, *off_y;     // [B, T] normalised image coordinate of pixel 0
  double scale_x, scale_y;         // its step per sensor pixel
  const int64_t* ts;               // [B, T] µs, strictly increasing
  const float *thr_pos, *thr_neg;  // [B, P], P = height * width
  float log_eps;                   // L = log(I + log_eps), float32 as torch computes it
  int64_t refractory;              // µs, >= 0
  float* out;                      // [B, 2, P] (ON, OFF), overwritten
  int64_t batch, h, w, frames, height, width;
};

EZSR_HD inline void bilinear_tap(double scale, double off, int64_t i, int64_t n_in, int64_t& i0,
                                 int64_t& i1, float& w) {
#if defined(__CUDA_ARCH__)
  const double g = __dadd_rn(__dmul_rn(scale, static_cast<double>(i)), off);
  double x = __dmul_rn(__dsub_rn(__dmul_rn(__dadd_rn(g, 1.0), static_cast<double>(n_in)), 1.0),
                       0.5);  // / 2, exactly
#else
  const double g = scale * static_cast<double>(i) + off;  // -ffp-contract=off: no FMA
  double x = ((g + 1.0) * static_cast<double>(n_in) - 1.0) * 0.5;
#endif
  const double hi = static_cast<double>(n_in - 1);
  x = x < 0.0 ? 0.0 : (x > hi ? hi : x);
  const double f = floor(x);
  i0 = static_cast<int64_t>(f);
  i1 = i0 + 1 < n_in ? i0 + 1 : n_in - 1;
  w = static_cast<float>(x - f);  // exact: x and f are within one unit
}

// Log intensity of frame t at sensor pixel (v, u) of stream b.
EZSR_HD inline float render_log(const RenderSimArgs& a, int64_t b, int64_t t, int64_t v,
                                int64_t u) {
  int64_t x0, x1, y0, y1;
  float wx, wy;
  bilinear_tap(a.scale_x, a.off_x[b * a.frames + t], u, a.w, x0, x1, wx);
  bilinear_tap(a.scale_y, a.off_y[b * a.frames + t], v, a.h, y0, y1, wy);
  const float* ia = a.img + (b * a.h + y0) * a.w;
  const float* ic = a.img + (b * a.h + y1) * a.w;
  const float c0 = lerp_exact(ia[x0], ic[x0], wy);
  const float c1 = lerp_exact(ia[x1], ic[x1], wy);
  const float I = lerp_exact(c0, c1, wx);
#if defined(__CUDA_ARCH__)
  return logf(__fadd_rn(I, a.log_eps));  // torch's CUDA log of a float is logf
#else
  return std::log(I + a.log_eps);
#endif
}

// The walk of pixel q = (b * height + v) * width + u over the frames from a fresh state
// (ref = its level in frame 0, never fired): interval(f, L0, L1, t0, t1, state) for every
// frame interval f whose start time t0 = ts[f] satisfies go(t0).
struct WalkState {
  float cp, cn;  // the pixel's ON / OFF thresholds
  float ref;     // level of the last crossing
  int64_t last;  // time of the last event (kNever: none)
};

template <typename Go, typename Interval>
EZSR_HD inline void fused_walk(const RenderSimArgs& a, int64_t q, Go&& go, Interval&& interval) {
  const int64_t P = a.height * a.width;
  const int64_t b = q / P, p = q % P, v = p / a.width, u = p % a.width;
  const int64_t* ts = a.ts + b * a.frames;
  float L0 = render_log(a, b, 0, v, u);
  WalkState st{a.thr_pos[q], a.thr_neg[q], L0, kNever};
  for (int64_t f = 0; f + 1 < a.frames && go(ts[f]); ++f) {
    const float L1 = render_log(a, b, f + 1, v, u);
    interval(f, L0, L1, ts[f], ts[f + 1], st);
    L0 = L1;
  }
}

// Pixel q's ON and OFF counts over every frame.
EZSR_HD inline void render_simulate_pixel(const RenderSimArgs& a, int64_t q, float& n_on,
                                          float& n_off) {
  n_on = n_off = 0.f;
  fused_walk(
      a, q, [](int64_t) { return true; },
      [&](int64_t, float L0, float L1, int64_t t0, int64_t t1, WalkState& st) {
        if (L0 != L1)
          step_pixel<false>(L0, L1, t0, t1, st.cp, st.cn, st.ref, st.last, a.refractory,
                            [&](int64_t, bool on) { (on ? n_on : n_off) += 1.f; });
      });
}

// CPU twin (OpenMP over pixels; std::log, which may differ from torch's CPU log in the last
// bit, so it is compared with the reference by counts) and the CUDA kernel.
void render_simulate_histogram_cpu(const RenderSimArgs& a);
void render_simulate_histogram_cuda(const RenderSimArgs& a, void* stream);  // CUDA builds only

// The same walk for the count windows of the trainer (a window of N events at a start drawn
// over the stream's events, ezsr.training.transform.event_windows), without materialising
// the stream: a counting pass gives each frame interval's events, the window's index range
// then maps to a time range [t_lo, t_hi), and an emitting pass keeps only the events in it.
// Events are ordered by (t, pixel); interval f holds the events with t in [ts[f], ts[f+1]],
// and only its last crossing can lie exactly on ts[f+1] (its "tail", which sorts among the
// next interval's first events by pixel).
template <typename OnInterval>
EZSR_HD inline void render_simulate_pixel_intervals(const RenderSimArgs& a, int64_t q,
                                                    OnInterval&& on_interval) {
  fused_walk(
      a, q, [](int64_t) { return true; },
      [&](int64_t f, float L0, float L1, int64_t t0, int64_t t1, WalkState& st) {
        int n = 0;
        if (L0 != L1)
          step_pixel<false>(L0, L1, t0, t1, st.cp, st.cn, st.ref, st.last, a.refractory,
                            [&](int64_t, bool) { ++n; });
        on_interval(f, n, n > 0 && st.last == t1 ? 1 : 0);  // every interval (CUDA: in step)
      });
}

// Pixel q's events with t_lo <= t < t_hi, in time order: intervals that end before t_lo only
// advance the state, the walk stops at the first interval starting at or after t_hi.
template <typename Emit>
EZSR_HD inline void render_simulate_pixel_events(const RenderSimArgs& a, int64_t q, int64_t t_lo,
                                                 int64_t t_hi, Emit&& emit) {
  fused_walk(
      a, q, [&](int64_t t0) { return t0 < t_hi; },
      [&](int64_t, float L0, float L1, int64_t t0, int64_t t1, WalkState& st) {
        if (L0 == L1) return;
        if (t1 < t_lo)
          step_pixel<false>(L0, L1, t0, t1, st.cp, st.cn, st.ref, st.last, a.refractory,
                            [](int64_t, bool) {});
        else
          step_pixel<true>(L0, L1, t0, t1, st.cp, st.cn, st.ref, st.last, a.refractory,
                           [&](int64_t t, bool on) {
                             if (t >= t_lo && t < t_hi) emit(t, on);
                           });
      });
}

// The two pixel-major passes over pixel q of the window's events (a CUDA thread each; a
// loop in the CPU twins): its count, then its events at offsets[q] as (t, 2 * p + on).
EZSR_HD inline int64_t count_window_events(const RenderSimArgs& a, int64_t q, const int64_t* t_lo,
                                           const int64_t* t_hi) {
  const int64_t b = q / (a.height * a.width);
  int64_t n = 0;
  render_simulate_pixel_events(a, q, t_lo[b], t_hi[b], [&](int64_t, bool) { ++n; });
  return n;
}

EZSR_HD inline void emit_window_events(const RenderSimArgs& a, int64_t q, const int64_t* t_lo,
                                       const int64_t* t_hi, const int64_t* offsets, int64_t* t,
                                       int32_t* code) {
  const int64_t P = a.height * a.width, b = q / P;
  const int32_t p2 = static_cast<int32_t>((q % P) * 2);
  int64_t i = offsets[q];
  render_simulate_pixel_events(a, q, t_lo[b], t_hi[b], [&](int64_t tt, bool on) {
    t[i] = tt;
    code[i] = p2 + (on ? 1 : 0);
    ++i;
  });
}

// counts, tails [B, T-1] int64, zeroed by the caller: interval f of stream b holds
// counts[b, f] events, tails[b, f] of them at t == ts[f+1].
void render_simulate_interval_counts_cpu(const RenderSimArgs& a, int64_t* counts, int64_t* tails);
void render_simulate_interval_counts_cuda(const RenderSimArgs& a, int64_t* counts, int64_t* tails,
                                          void* stream);
// The two pixel-major passes of the window's events (t_lo, t_hi [B]): per-pixel counts [B*P],
// then (t, code = 2 * p + on) at the prefix-sum offsets (as simulate_count/emit).
void render_simulate_window_count_cpu(const RenderSimArgs& a, const int64_t* t_lo,
                                      const int64_t* t_hi, int64_t* counts);
void render_simulate_window_emit_cpu(const RenderSimArgs& a, const int64_t* t_lo,
                                     const int64_t* t_hi, const int64_t* offsets, int64_t* t,
                                     int32_t* code);
void render_simulate_window_count_cuda(const RenderSimArgs& a, const int64_t* t_lo,
                                       const int64_t* t_hi, int64_t* counts, void* stream);
void render_simulate_window_emit_cuda(const RenderSimArgs& a, const int64_t* t_lo,
                                      const int64_t* t_hi, const int64_t* offsets, int64_t* t,
                                      int32_t* code, void* stream);

// ---- CPU (OpenMP). Events in one emitting pass plus a gather, no global sort:
//  1. SimulateEmitter runs the rule on blocks of pixels (updating the state); every block
//     appends its events, in (frame interval, pixel) order, to its thread's buffer. A
//     sequence may be fed in chunks of frames that share their boundary frame.
//  2. simulate_gather_cpu writes the final columns once. Events of interval f have
//     t in [t_f, t_{f+1}], so output slice g (t in [t_g, t_{g+1}), the last one closed) holds
//     interval g's events with t < t_{g+1} and interval g-1's with t == t_g; each slice is
//     ordered by (t, pixel) on its own (counting sort on t - t_g, which keeps pixel order),
//     in parallel over slices.
struct SimEvent {
  int64_t t;
  int32_t pixel;  // p in [0, P)
  int32_t on;
};

// Event buffers of one emitting pass, one per thread of its OpenMP team. They come from a
// process-wide pool and return to it when the last holder lets go (see simulate.cpp).
using SimEventBuffers = std::shared_ptr<std::vector<std::vector<SimEvent>>>;

struct SimulateBlocks {
  int64_t nb = 0, intervals = 0;  // blocks per stream, frames - 1
  // [B*nb*F]: interval f of block j is [begin[j*F+f], end[j*F+f]) in `buffers` (kept alive
  // here), and tail[j*F+f] of those events have t == t_{f+1}
  SimEventBuffers buffers;
  std::vector<const SimEvent*> begin, end;
  std::vector<int64_t> tail;
  std::vector<int64_t> slice_start;     // [B*F+1]: output position of slice (b, g)
  std::vector<int64_t> stream_offsets;  // [B+1]
};

// The emitting pass over a sequence of `frames` frames of B streams, fed as one or more
// chunks: add(chunk, first) runs frames [first, first + chunk.frames) (chunk.logf and
// chunk.ts hold just those; the next chunk starts at its last frame) and updates the state
// in chunk.ref / chunk.last_t; finish() returns the blocks for simulate_gather_cpu, which
// takes SimulateArgs of the whole sequence (its ts [B, frames]; logf is not read). The
// emitter owns its buffers, so emitters may run concurrently or interleaved. Misuse (a
// chunk outside the sequence, another shape, add after finish) throws std::invalid_argument.
class SimulateEmitter {
 public:
  SimulateEmitter(int64_t batch, int64_t pixels, int64_t frames);
  void add(const SimulateArgs& chunk, int64_t first);
  SimulateBlocks finish();

 private:
  int64_t batch_, pixels_, frames_, nb_;
  bool finished_ = false;
  SimEventBuffers buffers_;
  std::vector<int32_t> owner_;                // [B*nb*F] buffer holding interval f of block j
  std::vector<int64_t> first_, last_, tail_;  // [B*nb*F] index range in it, tail count
};

// One call: the whole sequence in a.
SimulateBlocks simulate_emit_blocks_cpu(const SimulateArgs& a);

// x, y (Coord), t, p: [stream_offsets[B]] each; stream b sorted by (t, pixel).
template <typename Coord>
void simulate_gather_cpu(const SimulateArgs& a, const SimulateBlocks& s, int64_t width, Coord* x,
                         Coord* y, int64_t* t, uint8_t* p);

// Fused histogram: out [B, 2, P] float32 (+= ON counts in channel 0, OFF in 1); updates state.
void simulate_histogram_cpu(const SimulateArgs& a, float* out);

// ---- CUDA (defined only in CUDA builds; every pointer is device memory). Two passes over
// pixels q = b*P + p: count gives counts [B*P] (state untouched); after an exclusive prefix
// sum offsets [B*P+1], emit writes pixel q's events at [offsets[q], offsets[q+1]) in time
// order, t int64 and code = 2 * p + on (int32), and updates the state.
void simulate_count_cuda(const SimulateArgs& a, int64_t* counts, void* stream);
void simulate_emit_cuda(const SimulateArgs& a, const int64_t* offsets, int64_t* t, int32_t* code,
                        void* stream);
// The same two passes on the CPU (host memory; OpenMP over pixels): what the CUDA kernels
// compute, so the CUDA op's host-side logic (prefix sum, sort) is tested without a GPU
// (ezsr::_simulate_events_pixel_major).
void simulate_count_pixel_major_cpu(const SimulateArgs& a, int64_t* counts);
void simulate_emit_pixel_major_cpu(const SimulateArgs& a, const int64_t* offsets, int64_t* t,
                                   int32_t* code);
void simulate_histogram_cuda(const SimulateArgs& a, float* out, void* stream);

}  // namespace ezsr
