// CPU event simulation (ESIM rule). Reference: ezsr/simulate/kernels.py::simulate_reference.
//
// Pixels are processed in blocks of kBlock; inside a block the frame loop is outside the
// pixel loop, so every frame is read contiguously and the block's state stays in cache.
// Events: one emitting pass appends each block's events, in (frame interval, pixel) order,
// to its thread's buffer (SimulateEmitter; a sequence may arrive in chunks of frames); a
// gather then orders every frame interval's slice by (t, pixel) with a counting sort in a
// cache-resident buffer and unpacks it into the output columns (see ezsr/simulate.h), in
// parallel over slices. No count pass, no global sort.
#include "ezsr/simulate.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ezsr {
namespace {

constexpr int64_t kBlock = 1024;
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "run_block reads 8 byte flags as one little-endian word");

// Run the rule over every frame interval for pixels [p0, p1) of stream b, with state
// arrays ref/last (indexed by pixel - p0) and emit(pixel, t, on); frame_start(f) is called
// before interval f.
template <bool kTimes = true, typename Emit, typename FrameStart>
void run_block(const SimulateArgs& a, int64_t b, int64_t p0, int64_t p1, float* ref, int64_t* last,
               Emit&& emit, FrameStart&& frame_start) {
  const int64_t P = a.pixels;
  const float* cp = a.thr_pos + b * P;
  const float* cn = a.thr_neg + b * P;
  for (int64_t f = 0; f + 1 < a.frames; ++f) {
    frame_start(f);
    const float* L0 = a.logf + (b * a.frames + f) * P;
    const float* L1 = L0 + P;
    const int64_t t0 = a.ts[b * a.frames + f], t1 = a.ts[b * a.frames + f + 1];
    // Vectorisable pre-pass: does the first level ref +- C lie in the interval? This is
    // exactly the k = 1 test of step_pixel, so pixels without a crossing (the common case)
    // are skipped. The flags are read 8 at a time and the set ones found with ctz, so the
    // skip is not a data-dependent branch per pixel.
    alignas(8) uint8_t any[kBlock + 8] = {};
    const int64_t n = p1 - p0;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t p = p0 + i;
      const float l0 = L0[p], l1 = L1[p], r = ref[i];
      const float up = r + cp[p], dn = r + (-cn[p]);
      any[i] = ((l1 > l0) & (up > l0) & (up <= l1)) | ((l1 < l0) & (dn < l0) & (dn >= l1));
    }
    for (int64_t i0 = 0; i0 < n; i0 += 8) {
      uint64_t w;
      std::memcpy(&w, any + i0, 8);  // byte k is 0 or 1: bit 8k (little-endian)
      for (; w; w &= w - 1) {
        const int64_t i = i0 + (__builtin_ctzll(w) >> 3), p = p0 + i;
        step_pixel<kTimes>(L0[p], L1[p], t0, t1, cp[p], cn[p], ref[i], last[i], a.refractory,
                           [&](int64_t t, bool on) { emit(p, t, on); });
      }
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

// Pool of event buffers. Buffers keep their capacity from one emitting pass to the next, so
// repeated calls (the trainer, chunked frames_to_events) neither regrow them nor fault in
// fresh pages (with per-call buffers that was a third of the emitting pass). A returned
// buffer is kept only while the pool holds at most kPoolBytes of capacity; larger ones are
// freed at once. Never destroyed (blocks may be released during static destruction).
constexpr size_t kPoolBytes = size_t(512) << 20;

struct BufferPool {
  std::mutex mutex;
  std::vector<std::vector<SimEvent>> free;
  size_t bytes = 0;
};

BufferPool& pool() {
  static BufferPool* p = new BufferPool;
  return *p;
}

SimEventBuffers acquire_buffers(int n) {
  auto* bufs = new std::vector<std::vector<SimEvent>>(n);
  {
    BufferPool& p = pool();
    std::lock_guard<std::mutex> lock(p.mutex);
    for (int i = 0; i < n && !p.free.empty(); ++i) {
      p.bytes -= p.free.back().capacity() * sizeof(SimEvent);
      (*bufs)[i] = std::move(p.free.back());
      p.free.pop_back();
    }
  }
  return SimEventBuffers(bufs, [](std::vector<std::vector<SimEvent>>* b) {
    BufferPool& p = pool();
    {
      std::lock_guard<std::mutex> lock(p.mutex);
      // in reverse, so that the next acquire hands buffer i to thread i again (a thread
      // reusing its own warm buffer; swapping them between threads measured 1.6x slower)
      for (auto it = b->rbegin(); it != b->rend(); ++it) {
        auto& v = *it;
        const size_t cap = v.capacity() * sizeof(SimEvent);
        if (cap == 0 || p.bytes + cap > kPoolBytes) continue;  // freed with *b below
        v.clear();
        p.bytes += cap;
        p.free.push_back(std::move(v));
      }
    }
    delete b;
  });
}

void require(bool ok, const char* what) {
  if (!ok) throw std::invalid_argument(std::string("ezsr::SimulateEmitter: ") + what);
}

// Visit the events of output slice (b, g) in input order: interval g-1's tail (t == t_g)
// of every block, then interval g's events (t < t_{g+1}, or all of them in the last slice).
// Both runs are in pixel order, and within a pixel in crossing order.
template <typename Fn>
void for_slice_events(const SimulateBlocks& s, const int64_t* ts, int64_t b, int64_t g, Fn&& fn) {
  const int64_t F = s.intervals, nb = s.nb;
  const int64_t tg = ts[b * (F + 1) + g], tg1 = ts[b * (F + 1) + g + 1];
  if (g > 0)
    for (int64_t j = b * nb; j < (b + 1) * nb; ++j) {
      const int64_t k = j * F + g - 1;
      if (s.tail[k] == 0) continue;  // tails are rare: skip blocks without one
      for (const SimEvent* e = s.begin[k]; e != s.end[k]; ++e)
        if (e->t == tg) fn(*e);
    }
  const bool last_slice = g + 1 == F;
  for (int64_t j = b * nb; j < (b + 1) * nb; ++j)
    for (const SimEvent* e = s.begin[j * F + g]; e != s.end[j * F + g]; ++e)
      if (last_slice || e->t < tg1) fn(*e);
}

}  // namespace

SimulateEmitter::SimulateEmitter(int64_t batch, int64_t pixels, int64_t frames)
    : batch_(batch),
      pixels_(pixels),
      frames_(frames),
      nb_((pixels + kBlock - 1) / kBlock),
      buffers_(acquire_buffers(cpu_threads())) {
  const int64_t n = batch * nb_ * std::max<int64_t>(frames - 1, 0);
  owner_.assign(n, 0);
  first_.assign(n, 0);
  last_.assign(n, 0);
  tail_.assign(n, 0);
}

void SimulateEmitter::add(const SimulateArgs& a, int64_t first) {
  require(!finished_, "add() after finish()");
  require(a.batch == batch_ && a.pixels == pixels_, "chunk of another batch or pixel count");
  require(first >= 0 && first + a.frames <= frames_, "chunk outside the sequence");
  const int64_t F = std::max<int64_t>(frames_ - 1, 0), nb = nb_;
  const int team = static_cast<int>(buffers_->size());
#pragma omp parallel num_threads(team)
  {
    int tid = 0;
#ifdef _OPENMP
    tid = omp_get_thread_num();  // < team: a smaller team (OMP_DYNAMIC) uses fewer buffers
#endif
    std::vector<SimEvent>& ev = (*buffers_)[tid];
#pragma omp for schedule(dynamic, 4)
    for (int64_t j = 0; j < batch_ * nb; ++j) {
      const int64_t b = j / nb, p0 = (j % nb) * kBlock, p1 = std::min(pixels_, p0 + kBlock);
      const int64_t k0 = j * F + first;  // interval `first` of block j
      int64_t k = k0, t_end = 0;         // current interval and its end time t_{f+1}
      run_block(
          a, b, p0, p1, a.ref + b * pixels_ + p0, a.last_t + b * pixels_ + p0,
          [&](int64_t p, int64_t tt, bool on) {
            ev.push_back({tt, static_cast<int32_t>(p), on ? 1 : 0});
            tail_[k] += tt == t_end;
          },
          [&](int64_t f) {
            if (f > 0) last_[k] = static_cast<int64_t>(ev.size());
            k = k0 + f;
            owner_[k] = tid;
            first_[k] = static_cast<int64_t>(ev.size());
            t_end = a.ts[b * a.frames + f + 1];
          });
      if (a.frames > 1) last_[k] = static_cast<int64_t>(ev.size());
    }
  }
}

SimulateBlocks SimulateEmitter::finish() {
  require(!finished_, "finish() called twice");
  finished_ = true;
  SimulateBlocks s;
  const int64_t B = batch_, F = std::max<int64_t>(frames_ - 1, 0), nb = nb_;
  s.nb = nb;
  s.intervals = F;
  s.begin.resize(owner_.size());
  s.end.resize(owner_.size());
  for (size_t k = 0; k < owner_.size(); ++k) {  // the buffers no longer move: pointers now
    const SimEvent* base = (*buffers_)[owner_[k]].data();
    s.begin[k] = base + first_[k];
    s.end[k] = base + last_[k];
  }
  s.tail = std::move(tail_);
  s.buffers = std::move(buffers_);
  // slice (b, g): interval g's events minus its tail (t == t_{g+1}, moved to slice g+1)
  // plus interval g-1's tail; the last slice keeps its own tail
  s.slice_start.assign(B * F + 1, 0);
  s.stream_offsets.assign(B + 1, 0);
  for (int64_t b = 0; b < B; ++b) {
    int64_t prev_tail = 0;
    for (int64_t g = 0; g < F; ++g) {
      int64_t n = 0, tl = 0;
      for (int64_t j = b * nb; j < (b + 1) * nb; ++j) {
        n += s.end[j * F + g] - s.begin[j * F + g];
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

SimulateBlocks simulate_emit_blocks_cpu(const SimulateArgs& a) {
  SimulateEmitter emitter(a.batch, a.pixels, a.frames);
  emitter.add(a, 0);
  return emitter.finish();
}

void simulate_count_pixel_major_cpu(const SimulateArgs& a, int64_t* counts) {
#pragma omp parallel for schedule(static)
  for (int64_t q = 0; q < a.batch * a.pixels; ++q) counts[q] = count_pixel_events(a, q);
}

void simulate_emit_pixel_major_cpu(const SimulateArgs& a, const int64_t* offsets, int64_t* t,
                                   int32_t* code) {
#pragma omp parallel for schedule(static)
  for (int64_t q = 0; q < a.batch * a.pixels; ++q) emit_pixel_events(a, q, offsets, t, code);
}

template <typename Coord>
void simulate_gather_cpu(const SimulateArgs& a, const SimulateBlocks& s, int64_t width, Coord* x,
                         Coord* y, int64_t* t, uint8_t* p) {
  const int64_t F = s.intervals;
  const auto by_pixel = [](const SimEvent& u, const SimEvent& v) { return u.pixel < v.pixel; };
#pragma omp parallel
  {
    std::vector<SimEvent> tmp;
    std::vector<int64_t> hist;
#pragma omp for schedule(dynamic, 1)
    for (int64_t q = 0; q < a.batch * F; ++q) {
      const int64_t b = q / F, g = q % F;
      const int64_t n = s.slice_start[q + 1] - s.slice_start[q];
      if (n == 0) continue;
      const int64_t tg = a.ts[b * a.frames + g], tg1 = a.ts[b * a.frames + g + 1];
      const int64_t o = s.slice_start[q];
      const auto put = [&](int64_t i, const SimEvent& e) {
        x[o + i] = static_cast<Coord>(e.pixel % width);
        y[o + i] = static_cast<Coord>(e.pixel / width);
        t[o + i] = e.t;
        p[o + i] = static_cast<uint8_t>(e.on);
      };
      const int64_t buckets = tg1 - tg + 1;
      if (buckets > 4 * n + 4096) {  // long frame interval and few events: comparison sort
        tmp.clear();
        for_slice_events(s, a.ts, b, g, [&](const SimEvent& e) { tmp.push_back(e); });
        std::stable_sort(tmp.begin(), tmp.end(), [](const SimEvent& u, const SimEvent& v) {
          return u.t < v.t || (u.t == v.t && u.pixel < v.pixel);
        });
        for (int64_t i = 0; i < n; ++i) put(i, tmp[i]);
        continue;
      }
      // stable counting sort by t - t_g into tmp (stays in cache; scattering straight into
      // the four output columns is slower), then unpacked in order. It keeps pixel order
      // inside every t except t_g, whose two runs (interval g-1's tail first, then interval
      // g's) are merged by pixel.
      hist.assign(buckets + 1, 0);
      for_slice_events(s, a.ts, b, g, [&](const SimEvent& e) { ++hist[e.t - tg + 1]; });
      int64_t from_prev = 0;  // events of interval g-1: all come first, all at t_g
      if (g > 0)
        for (int64_t j = b * s.nb; j < (b + 1) * s.nb; ++j) from_prev += s.tail[j * F + g - 1];
      const int64_t c0 = hist[1];
      for (int64_t k = 1; k <= buckets; ++k) hist[k] += hist[k - 1];
      tmp.resize(n);
      for_slice_events(s, a.ts, b, g, [&](const SimEvent& e) { tmp[hist[e.t - tg]++] = e; });
      if (from_prev > 0 && c0 > from_prev)
        std::inplace_merge(tmp.begin(), tmp.begin() + from_prev, tmp.begin() + c0, by_pixel);
      for (int64_t i = 0; i < n; ++i) put(i, tmp[i]);
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
    run_block<false>(
        a, b, p0, p1, a.ref + b * a.pixels + p0, a.last_t + b * a.pixels + p0,
        [&](int64_t p, int64_t, bool on) { (on ? on_plane : off_plane)[p] += 1.f; },
        [](int64_t) {});
  });
}

void render_simulate_histogram_cpu(const RenderSimArgs& a) {
  const int64_t P = a.height * a.width;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t row = 0; row < a.batch * a.height; ++row) {  // (b, v): one sensor row a task
    const int64_t b = row / a.height;
    float* on_plane = a.out + b * 2 * P;
    for (int64_t q = row * a.width; q < (row + 1) * a.width; ++q) {
      float n_on, n_off;
      render_simulate_pixel(a, q, n_on, n_off);
      on_plane[q - b * P] = n_on;
      on_plane[P + q - b * P] = n_off;
    }
  }
}

void render_simulate_interval_counts_cpu(const RenderSimArgs& a, int64_t* counts, int64_t* tails) {
  const int64_t F = a.frames - 1;
  if (F <= 0) return;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t row = 0; row < a.batch * a.height; ++row) {  // (b, v)
    const int64_t b = row / a.height;
    std::vector<int64_t> n(F, 0), tl(F, 0);  // this row's totals, added once
    for (int64_t q = row * a.width; q < (row + 1) * a.width; ++q)
      render_simulate_pixel_intervals(a, q, [&](int64_t f, int k, int tail) {
        n[f] += k;
        tl[f] += tail;
      });
    for (int64_t f = 0; f < F; ++f) {
      if (n[f] == 0) continue;
#pragma omp atomic
      counts[b * F + f] += n[f];
#pragma omp atomic
      tails[b * F + f] += tl[f];
    }
  }
}

void render_simulate_window_count_cpu(const RenderSimArgs& a, const int64_t* t_lo,
                                      const int64_t* t_hi, int64_t* counts) {
#pragma omp parallel for schedule(dynamic, 64)
  for (int64_t q = 0; q < a.batch * a.height * a.width; ++q)
    counts[q] = count_window_events(a, q, t_lo, t_hi);
}

void render_simulate_window_emit_cpu(const RenderSimArgs& a, const int64_t* t_lo,
                                     const int64_t* t_hi, const int64_t* offsets, int64_t* t,
                                     int32_t* code) {
#pragma omp parallel for schedule(dynamic, 64)
  for (int64_t q = 0; q < a.batch * a.height * a.width; ++q)
    emit_window_events(a, q, t_lo, t_hi, offsets, t, code);
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
