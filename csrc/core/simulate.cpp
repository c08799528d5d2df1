// CPU event simulation (ESIM rule). Reference: ezsr/simulate/kernels.py::simulate_reference.
//
// Pixels are processed in blocks of kBlock; inside a block the frame loop is outside the
// pixel loop, so every frame is read contiguously and the block's state stays in cache.
// Events: one emitting pass appends each block's events to its own buffer in (frame
// interval, pixel) order; a gather then orders every frame interval's slice by (t, pixel)
// with a small counting sort (see ezsr/simulate.h), in parallel over slices. No count pass,
// no global sort.
#include "ezsr/simulate.h"

#include <algorithm>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ezsr {
namespace {

constexpr int64_t kBlock = 1024;

// Run the rule over every frame interval for pixels [p0, p1) of stream b, with state
// arrays ref/last (indexed by pixel - p0) and emit(pixel, t, on); frame_start(f) is called
// before interval f.
template <bool kTimes = true, typename Emit, typename FrameStart>
void run_block(const SimulateArgs& a, int64_t b, int64_t p0, int64_t p1, float* ref,
               int64_t* last, Emit&& emit, FrameStart&& frame_start) {
  const int64_t P = a.pixels;
  const float* cp = a.thr_pos + b * P;
  const float* cn = a.thr_neg + b * P;
  for (int64_t f = 0; f + 1 < a.frames; ++f) {
    frame_start(f);
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
      step_pixel<kTimes>(L0[p], L1[p], t0, t1, cp[p], cn[p], ref[p - p0], last[p - p0],
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
    body(j, b, p0, p1);
  }
}

}  // namespace

SimulateBlocks simulate_emit_blocks_cpu(const SimulateArgs& a) {
  SimulateBlocks s;
  const int64_t B = a.batch, F = std::max<int64_t>(a.frames - 1, 0);
  s.nb = (a.pixels + kBlock - 1) / kBlock;
  s.intervals = F;
  s.events.resize(B * s.nb);
  s.seg.assign(B * s.nb * (F + 1), 0);
  s.tail.assign(B * s.nb * F, 0);
  for_blocks(a, [&](int64_t j, int64_t b, int64_t p0, int64_t p1) {
    std::vector<SimEvent>& ev = s.events[j];
    int64_t* seg = s.seg.data() + j * (F + 1);
    int64_t* tail = s.tail.data() + j * F;
    int64_t f_now = 0, t_end = 0;  // current interval and its end time t_{f+1}
    run_block(
        a, b, p0, p1, a.ref + b * a.pixels + p0, a.last_t + b * a.pixels + p0,
        [&](int64_t p, int64_t tt, bool on) {
          ev.push_back({tt, static_cast<int32_t>(p), on ? 1 : 0});
          tail[f_now] += tt == t_end;
        },
        [&](int64_t f) {
          seg[f] = static_cast<int64_t>(ev.size());
          f_now = f;
          t_end = a.ts[b * a.frames + f + 1];
        });
    seg[F] = static_cast<int64_t>(ev.size());
  });
  // slice (b, g): interval g's events minus its tail (t == t_{g+1}, moved to slice g+1)
  // plus interval g-1's tail; the last slice keeps its own tail
  s.slice_start.assign(B * F + 1, 0);
  s.stream_offsets.assign(B + 1, 0);
  for (int64_t b = 0; b < B; ++b) {
    int64_t prev_tail = 0;
    for (int64_t g = 0; g < F; ++g) {
      int64_t n = 0, tl = 0;
      for (int64_t j = b * s.nb; j < (b + 1) * s.nb; ++j) {
        n += s.seg[j * (F + 1) + g + 1] - s.seg[j * (F + 1) + g];
        tl += s.tail[j * F + g];
      }
      const int64_t size = n - (g + 1 < F ? tl : 0) + prev_tail;
      s.slice_start[b * F + g + 1] = s.slice_start[b * F + g] + size;
      prev_tail = tl;
    }
    s.stream_offsets[b + 1] = s.slice_start[(b + 1) * F];
  }
  return s;
}

template <typename Coord>
void simulate_gather_cpu(const SimulateArgs& a, const SimulateBlocks& s, int64_t width, Coord* x,
                         Coord* y, int64_t* t, uint8_t* p) {
  const int64_t F = s.intervals, nb = s.nb;
#pragma omp parallel
  {
    std::vector<SimEvent> tmp;   // the slice, sorted here (stays in cache), then unpacked
    std::vector<int64_t> hist;
#pragma omp for schedule(dynamic, 1)
    for (int64_t q = 0; q < a.batch * F; ++q) {
      const int64_t b = q / F, g = q % F;
      const int64_t n = s.slice_start[q + 1] - s.slice_start[q];
      if (n == 0) continue;
      const int64_t tg = a.ts[b * a.frames + g], tg1 = a.ts[b * a.frames + g + 1];
      const bool last_slice = g + 1 == F;
      // the slice's events in input order: interval g-1's tail (t == t_g) of every block,
      // then interval g's events (t < t_{g+1}, or all in the last slice); both runs are in
      // pixel order, and within a pixel in crossing order
      tmp.resize(n);
      int64_t m = 0;
      if (g > 0)
        for (int64_t j = b * nb; j < (b + 1) * nb; ++j) {
          const SimEvent* e = s.events[j].data();
          for (int64_t i = s.seg[j * (F + 1) + g - 1]; i < s.seg[j * (F + 1) + g]; ++i)
            if (e[i].t == tg) tmp[m++] = e[i];
        }
      const int64_t from_prev = m;
      for (int64_t j = b * nb; j < (b + 1) * nb; ++j) {
        const SimEvent* e = s.events[j].data();
        for (int64_t i = s.seg[j * (F + 1) + g]; i < s.seg[j * (F + 1) + g + 1]; ++i)
          if (last_slice || e[i].t < tg1) tmp[m++] = e[i];
      }
      const int64_t buckets = tg1 - tg + 1;
      SimEvent* out = nullptr;
      std::vector<SimEvent> sorted;
      if (buckets <= 4 * n + 4096) {
        // stable counting sort by t - t_g: keeps pixel order inside every t except t_g,
        // where the two runs are merged by pixel (interval g-1 first on equal pixels)
        hist.assign(buckets + 1, 0);
        for (int64_t i = 0; i < n; ++i) ++hist[tmp[i].t - tg + 1];
        for (int64_t k = 1; k <= buckets; ++k) hist[k] += hist[k - 1];
        const int64_t c0 = hist[1];
        sorted.resize(n);
        for (int64_t i = 0; i < n; ++i) sorted[hist[tmp[i].t - tg]++] = tmp[i];
        if (from_prev > 0 && c0 > from_prev)
          std::inplace_merge(sorted.begin(), sorted.begin() + from_prev, sorted.begin() + c0,
                             [](const SimEvent& u, const SimEvent& v) { return u.pixel < v.pixel; });
        out = sorted.data();
      } else {  // long frame interval and few events: a comparison sort is cheaper
        std::stable_sort(tmp.begin(), tmp.end(), [](const SimEvent& u, const SimEvent& v) {
          return u.t < v.t || (u.t == v.t && u.pixel < v.pixel);
        });
        out = tmp.data();
      }
      const int64_t o = s.slice_start[q];
      for (int64_t i = 0; i < n; ++i) {
        x[o + i] = static_cast<Coord>(out[i].pixel % width);
        y[o + i] = static_cast<Coord>(out[i].pixel / width);
        t[o + i] = out[i].t;
        p[o + i] = static_cast<uint8_t>(out[i].on);
      }
    }
  }
}

template void simulate_gather_cpu<int16_t>(const SimulateArgs&, const SimulateBlocks&, int64_t,
                                           int16_t*, int16_t*, int64_t*, uint8_t*);
template void simulate_gather_cpu<int32_t>(const SimulateArgs&, const SimulateBlocks&, int64_t,
                                           int32_t*, int32_t*, int64_t*, uint8_t*);

void simulate_histogram_cpu(const SimulateArgs& a, float* out) {
  for_blocks(a, [&](int64_t, int64_t b, int64_t p0, int64_t p1) {
    float* on_plane = out + b * 2 * a.pixels;
    float* off_plane = on_plane + a.pixels;
    run_block<false>(a, b, p0, p1, a.ref + b * a.pixels + p0, a.last_t + b * a.pixels + p0,
                     [&](int64_t p, int64_t, bool on) { (on ? on_plane : off_plane)[p] += 1.f; },
                     [](int64_t) {});
  });
}

void render_translate_cpu(const RenderArgs& r) {
#pragma omp parallel for schedule(static)
  for (int64_t row = 0; row < r.batch * r.frames * r.height; ++row) {  // (b, t, v)
    const int64_t bt = row / r.height, b = bt / r.frames;
    const float* ia = r.img + (b * r.h + r.y0[row]) * r.w;
    const float* ic = r.img + (b * r.h + r.y1[row]) * r.w;
    const float wy = r.wy[row];
    const int64_t* x0 = r.x0 + bt * r.width;
    const int64_t* x1 = r.x1 + bt * r.width;
    const float* wx = r.wx + bt * r.width;
    float* o = r.out + row * r.width;
    for (int64_t u = 0; u < r.width; ++u) {
      const float a = lerp_exact(ia[x0[u]], ic[x0[u]], wy);
      const float c = lerp_exact(ia[x1[u]], ic[x1[u]], wy);
      o[u] = lerp_exact(a, c, wx[u]);
    }
  }
}

}  // namespace ezsr
