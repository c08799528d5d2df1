// CPU event simulation (ESIM rule). Reference: ezsr/simulate/kernels.py::simulate_reference.
//
// Pixels are processed in blocks of kBlock; inside a block the frame loop is outside the
// pixel loop, so every frame is read contiguously and the block's state stays in cache.
// Events are produced in two passes (count, then emit at prefix-sum offsets), so the
// output is allocated once; a stable LSD radix sort then orders them by (stream, t),
// which keeps pixel order for equal times.
#include "ezsr/simulate.h"

#include <algorithm>
#include <memory>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ezsr {
namespace {

constexpr int64_t kBlock = 1024;

// Run the rule over every frame interval for pixels [p0, p1) of stream b, with state
// arrays ref/last (indexed by pixel - p0) and emit(pixel, t, on).
template <bool kCountOnly = false, typename Emit>
void run_block(const SimulateArgs& a, int64_t b, int64_t p0, int64_t p1, float* ref,
               int64_t* last, Emit&& emit) {
  const int64_t P = a.pixels;
  const float* cp = a.thr_pos + b * P;
  const float* cn = a.thr_neg + b * P;
  for (int64_t f = 0; f + 1 < a.frames; ++f) {
    const float* L0 = a.logf + (b * a.frames + f) * P;
    const float* L1 = L0 + P;
    const int64_t t0 = a.ts[b * a.frames + f], t1 = a.ts[b * a.frames + f + 1];
    // Vectorisable pre-pass: does the first level ref +- C lie in the interval? This is
    // exactly the k = 1 test of step_pixel, so pixels without a crossing (the common
    // case) are skipped without running the scalar loop.
    uint8_t any[kBlock];
    for (int64_t p = p0; p < p1; ++p) {
      const float l0 = L0[p], l1 = L1[p], r = ref[p - p0];
      const float up = r + cp[p], dn = r + (-cn[p]);
      any[p - p0] = ((l1 > l0) & (up > l0) & (up <= l1)) | ((l1 < l0) & (dn < l0) & (dn >= l1));
    }
    for (int64_t p = p0; p < p1; ++p) {
      if (!any[p - p0]) continue;
      step_pixel<kCountOnly>(L0[p], L1[p], t0, t1, cp[p], cn[p], ref[p - p0], last[p - p0],
                             a.refractory, [&](int64_t t, bool on) { emit(p, t, on); });
    }
  }
}

template <typename Body>
void for_blocks(const SimulateArgs& a, Body&& body) {
  const int64_t nb = (a.pixels + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(dynamic, 4)
  for (int64_t j = 0; j < a.batch * nb; ++j) {
    const int64_t b = j / nb, p0 = (j % nb) * kBlock, p1 = std::min(a.pixels, p0 + kBlock);
    body(b, p0, p1);
  }
}

}  // namespace

void simulate_count_cpu(const SimulateArgs& a, int64_t* counts) {
  for_blocks(a, [&](int64_t b, int64_t p0, int64_t p1) {
    // private copies: counting must not change the state the emit pass starts from
    float ref[kBlock];
    int64_t last[kBlock];
    std::copy(a.ref + b * a.pixels + p0, a.ref + b * a.pixels + p1, ref);
    std::copy(a.last_t + b * a.pixels + p0, a.last_t + b * a.pixels + p1, last);
    int64_t* c = counts + b * a.pixels;
    std::fill(c + p0, c + p1, 0);
    run_block<true>(a, b, p0, p1, ref, last, [&](int64_t p, int64_t, bool) { ++c[p]; });
  });
}

void simulate_emit_cpu(const SimulateArgs& a, const int64_t* offsets, int64_t* t, int32_t* code) {
  for_blocks(a, [&](int64_t b, int64_t p0, int64_t p1) {
    int64_t cursor[kBlock];
    std::copy(offsets + b * a.pixels + p0, offsets + b * a.pixels + p1, cursor);
    run_block(a, b, p0, p1, a.ref + b * a.pixels + p0, a.last_t + b * a.pixels + p0,
              [&](int64_t p, int64_t tt, bool on) {
                const int64_t i = cursor[p - p0]++;
                t[i] = tt;
                code[i] = static_cast<int32_t>(p * 2 + (on ? 1 : 0));
              });
  });
}

void simulate_histogram_cpu(const SimulateArgs& a, float* out) {
  for_blocks(a, [&](int64_t b, int64_t p0, int64_t p1) {
    float* on_plane = out + b * 2 * a.pixels;
    float* off_plane = on_plane + a.pixels;
    run_block(a, b, p0, p1, a.ref + b * a.pixels + p0, a.last_t + b * a.pixels + p0,
              [&](int64_t p, int64_t, bool on) { (on ? on_plane : off_plane)[p] += 1.f; });
  });
}

namespace {

int bit_width(uint64_t v) {
  int n = 0;
  while (v) { ++n; v >>= 1; }
  return n;
}

// One stable counting-sort pass on digit (key >> shift) & mask, parallel: every thread
// histograms its contiguous slice, the slices' bucket starts are laid out bucket-major,
// thread-minor, so equal digits keep their input order.
// put(j, i) stores element i of this pass at output position j.
template <typename Key, typename Put>
void radix_pass(const Key* key, int64_t n, int shift, uint64_t mask, int threads, Put&& put) {
  const int64_t buckets = static_cast<int64_t>(mask) + 1;
  std::vector<int64_t> hist(buckets * threads, 0);
#pragma omp parallel num_threads(threads)
  {
#ifdef _OPENMP
    const int tid = omp_get_thread_num(), nt = omp_get_num_threads();  // nt < threads if nested
#else
    const int tid = 0, nt = 1;
#endif
    const int64_t lo = n * tid / nt, hi = n * (tid + 1) / nt;
    int64_t* h = hist.data() + tid * buckets;
    for (int64_t i = lo; i < hi; ++i) ++h[(key[i] >> shift) & mask];
#pragma omp barrier
#pragma omp single
    {
      int64_t sum = 0;
      for (int64_t d = 0; d < buckets; ++d)
        for (int th = 0; th < nt; ++th) {
          const int64_t c = hist[th * buckets + d];
          hist[th * buckets + d] = sum;
          sum += c;
        }
    }
    for (int64_t i = lo; i < hi; ++i) {
      put(h[(key[i] >> shift) & mask]++, i);
    }
  }
}


template <typename Key, typename Idx, typename Coord>
void sort_and_gather(const int64_t* t_in, const int32_t* code_in, int64_t n,
                     const int64_t* stream_offsets, int64_t batch, const int64_t* t_min, int tbits,
                     int bits, int64_t width, Coord* x, Coord* y, int64_t* t, uint8_t* p) {
  // uninitialised buffers (no zeroing pass); each pass swaps source and destination
  std::unique_ptr<Key[]> key(new Key[n]), key2(new Key[n]);
  std::unique_ptr<Idx[]> idx(new Idx[n]), idx2(new Idx[n]);
  // parallel over events (one stream is the common case); the stream of a slice's first
  // event is found by binary search, then advanced as the slice crosses offsets
#pragma omp parallel
  {
#ifdef _OPENMP
    const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
#else
    const int tid = 0, nt = 1;
#endif
    const int64_t lo = n * tid / nt, hi = n * (tid + 1) / nt;
    int64_t b = std::upper_bound(stream_offsets, stream_offsets + batch + 1, lo) - stream_offsets - 1;
    for (int64_t i = lo; i < hi; ++i) {
      while (i >= stream_offsets[b + 1]) ++b;
      key[i] = static_cast<Key>((static_cast<uint64_t>(b) << tbits) |
                                static_cast<uint64_t>(t_in[i] - t_min[b]));
    }
  }
  const int passes = std::max(1, (bits + 15) / 16);
  const int digit = (bits + passes - 1) / passes;
  const int threads = n < (1 << 16) ? 1 : cpu_threads();
  bool first = true;  // before the first pass the element order is the identity
  for (int s = 0; s < passes; ++s) {
    const uint64_t mask = (uint64_t(1) << digit) - 1;
    if (s + 1 < passes) {
      radix_pass(key.get(), n, s * digit, mask, threads, [&](int64_t j, int64_t i) {
        key2[j] = key[i];
        idx2[j] = first ? static_cast<Idx>(i) : idx[i];
      });
      key.swap(key2);
      idx.swap(idx2);
      first = false;
    } else {
      // the last pass scatters one packed 16-byte record per event (one random write
      // stream instead of four), then a sequential pass unpacks it into the columns
      struct Rec {
        int64_t t;
        int64_t code;
      };
      std::unique_ptr<Rec[]> rec(new Rec[n]);
      radix_pass(key.get(), n, s * digit, mask, threads, [&](int64_t j, int64_t i) {
        const int64_t src = first ? i : static_cast<int64_t>(idx[i]);
        rec[j] = {t_in[src], code_in[src]};
      });
#pragma omp parallel for schedule(static)
      for (int64_t j = 0; j < n; ++j) {
        const int64_t pix = rec[j].code >> 1;
        x[j] = static_cast<Coord>(pix % width);
        y[j] = static_cast<Coord>(pix / width);
        t[j] = rec[j].t;
        p[j] = static_cast<uint8_t>(rec[j].code & 1);
      }
    }
  }
}

}  // namespace

template <typename Coord>
void simulate_sort_cpu(const int64_t* t_in, const int32_t* code_in, int64_t n,
                       const int64_t* stream_offsets, int64_t batch, const int64_t* t_min,
                       int64_t t_span, int64_t width, Coord* x, Coord* y, int64_t* t,
                       uint8_t* p) {
  if (n == 0) return;
  // key = stream << tbits | (t - t_min[stream]); sorting it stably sorts each stream by t
  // and keeps the pixel-major input order (= pixel index order) among equal times.
  const int tbits = bit_width(static_cast<uint64_t>(std::max<int64_t>(t_span, 1)));
  const int bits = tbits + bit_width(static_cast<uint64_t>(batch - 1));
  if (bits <= 32 && n < (int64_t(1) << 31))  // the common case: half the memory traffic
    sort_and_gather<uint32_t, uint32_t>(t_in, code_in, n, stream_offsets, batch, t_min, tbits,
                                        bits, width, x, y, t, p);
  else
    sort_and_gather<uint64_t, int64_t>(t_in, code_in, n, stream_offsets, batch, t_min, tbits,
                                       bits, width, x, y, t, p);
}

template void simulate_sort_cpu<int16_t>(const int64_t*, const int32_t*, int64_t, const int64_t*,
                                         int64_t, const int64_t*, int64_t, int64_t, int16_t*,
                                         int16_t*, int64_t*, uint8_t*);
template void simulate_sort_cpu<int32_t>(const int64_t*, const int32_t*, int64_t, const int64_t*,
                                         int64_t, const int64_t*, int64_t, int64_t, int32_t*,
                                         int32_t*, int64_t*, uint8_t*);

}  // namespace ezsr
