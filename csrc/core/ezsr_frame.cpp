// Fused CPU EZSR preprocessing. Reference (and the CUDA/any-device path):
// ezsr/ops/ezsr_preprocess.py::histogram_to_ezsr_input on polarity_histogram.
//
// The trick: a window of 15,000 events touches at most 15,000 of the 614,400 histogram
// entries, so nothing dense is ever scanned. With a downsampling (one-to-one) output
// sampling the entries come from radix-sorted keys (frame_sparse: no plane at all);
// otherwise each thread owns one zeroed scratch plane and records, while counting, the
// entries that become non-zero (the "touched" list). The quantile (from a frequency table
// of the integer counts), the channel maxima and the clearing afterwards walk the entries
// only, and the output is a constant fill plus the non-zero pixels that the resize samples.
// Cost is O(events + output pixels) per window instead of O(sensor pixels).
#include "ezsr/ezsr_frame.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace ezsr {

float quantile_linear(float* v, int64_t n, double q) {
  const double pos = q * static_cast<double>(n - 1);
  const int64_t lo = static_cast<int64_t>(std::floor(pos));
  const int64_t hi = std::min(lo + 1, n - 1);
  std::nth_element(v, v + lo, v + n);
  const float a = v[lo];
  const float b = hi > lo ? *std::min_element(v + lo + 1, v + n) : a;  // next order statistic
  const float f = static_cast<float>(pos - static_cast<double>(lo));
  const float d = b - a;
  return f >= 0.5f ? b - d * (1.f - f) : a + d * f;
}

float quantile_of_counts(const int64_t* freq, int64_t freq_size, int64_t n, double q) {
  const double pos = q * static_cast<double>(n - 1);
  const int64_t lo = static_cast<int64_t>(std::floor(pos));
  const int64_t hi = std::min(lo + 1, n - 1);
  int64_t a = -1, b = -1, seen = 0;  // the lo-th and hi-th smallest values (0-based)
  for (int64_t v = 0; v < freq_size && b < 0; ++v) {
    seen += freq[v];
    if (a < 0 && seen > lo) a = v;
    if (seen > hi) b = v;
  }
  const float fa = static_cast<float>(a), fb = static_cast<float>(b);
  const float f = static_cast<float>(pos - static_cast<double>(lo));
  const float d = fb - fa;
  return f >= 0.5f ? fb - d * (1.f - f) : fa + d * f;
}

namespace {

// Event i's histogram cell (x, y) in the hist_w x hist_h grid: its own pixel when the grid is
// the sensor (identity), else its scaled coordinates. False for an event outside the sensor.
template <typename Coord>
inline bool event_cell(const EzsrFrameArgs<Coord>& a, int64_t i, bool identity, int64_t& x,
                       int64_t& y) {
  x = a.x[i];
  y = a.y[i];
  if (identity) {
    return static_cast<uint64_t>(x) < static_cast<uint64_t>(a.width) &&
           static_cast<uint64_t>(y) < static_cast<uint64_t>(a.height);
  }
  x = scale_coord(x, a.width, a.hist_w);
  y = scale_coord(y, a.height, a.hist_h);
  return x >= 0 && y >= 0;
}

// One window with a one-to-one (downsampling) output sampling, without any H x W plane:
// each kept event becomes the key 2 * pixel + (p != 1) (ON then OFF of a pixel side by
// side), the keys are radix-sorted (11-bit digits; a 15,000-event window's 120 KB of keys
// stay in cache, where a 2 x 1280 x 720 plane took a cache miss per event), and each run of
// equal keys is one non-zero histogram entry with its count. Counts, maxima, the quantile
// and the output values are those of the plane path, operation for operation.
// Returns the number of events outside the sensor.
template <typename Coord>
int64_t frame_sparse(const EzsrFrameArgs<Coord>& a, int64_t b, int64_t hw, bool identity,
                     const std::vector<int64_t>& row_inv, const std::vector<int64_t>& col_inv,
                     const std::vector<float>& zero, std::vector<int64_t>& keys,
                     std::vector<int64_t>& sorted, std::vector<int64_t>& freq) {
  keys.clear();
  int64_t dropped = 0;
  for (int64_t i = a.offsets[b]; i < a.offsets[b + 1]; ++i) {
    int64_t x, y;
    if (!event_cell(a, i, identity, x, y)) {
      ++dropped;
      continue;
    }
    keys.push_back(2 * (y * a.hist_w + x) + static_cast<int64_t>(a.p[i] != 1));
  }
  const int64_t n = static_cast<int64_t>(keys.size());
  sorted.resize(n);
  constexpr int kBits = 11, kBuckets = 1 << kBits;
  int64_t count[kBuckets];
  for (int shift = 0; (int64_t{1} << shift) < 2 * hw; shift += kBits) {  // LSD radix sort
    std::fill(count, count + kBuckets, 0);
    for (int64_t k : keys) ++count[(k >> shift) & (kBuckets - 1)];
    int64_t sum = 0;
    for (int d = 0; d < kBuckets; ++d) {
      const int64_t c = count[d];
      count[d] = sum;
      sum += c;
    }
    for (int64_t k : keys) sorted[count[(k >> shift) & (kBuckets - 1)]++] = k;
    keys.swap(sorted);
  }
  // runs of equal keys (keys holds the sorted order now): the non-zero entries, as
  // (key, count) pairs in `sorted`
  sorted.resize(2 * n);
  int64_t entries = 0;
  float cmax[2] = {0.f, 0.f};
  for (int64_t i = 0; i < n;) {
    int64_t j = i + 1;
    while (j < n && keys[j] == keys[i]) ++j;
    const float c = static_cast<float>(j - i);
    float& m = cmax[keys[i] & 1];
    m = std::max(m, c);
    sorted[2 * entries] = keys[i];
    sorted[2 * entries + 1] = j - i;
    ++entries;
    i = j;
  }
  const int64_t top = static_cast<int64_t>(std::max(cmax[0], cmax[1]));
  freq.assign(top + 1, 0);
  for (int64_t e = 0; e < entries; ++e) ++freq[sorted[2 * e + 1]];
  const float q = entries == 0 ? std::numeric_limits<float>::infinity()
                               : quantile_of_counts(freq.data(), top + 1, entries, 0.75);
  const float div0 = std::min(cmax[0], q) + 1.f, div1 = std::min(cmax[1], q) + 1.f;
  const int64_t opix = a.out_h * a.out_w;
  float* out = a.out + b * a.channels * opix;
  for (int64_t k = 0; k < a.channels; ++k) std::fill(out + k * opix, out + (k + 1) * opix, zero[k]);
  for (int64_t e = 0; e < entries;) {  // one pixel: its ON entry and/or its OFF entry
    const int64_t pix = sorted[2 * e] >> 1;
    float v0 = 0.f, v1 = 0.f;
    for (; e < entries && (sorted[2 * e] >> 1) == pix; ++e)
      ((sorted[2 * e] & 1) ? v1 : v0) = static_cast<float>(sorted[2 * e + 1]);
    const int64_t i = row_inv[pix / a.hist_w], j = col_inv[pix % a.hist_w];
    if (i < 0 || j < 0) continue;
    for (int64_t k = 0; k < a.channels; ++k)
      out[k * opix + i * a.out_w + j] =
          ((std::min(v0, q) / div0 + std::min(v1, q) / div1) / 2.f - a.mean[k]) / a.std[k];
  }
  return dropped;
}

}  // namespace

template <typename Coord>
void ezsr_frame_cpu(const EzsrFrameArgs<Coord>& a) {
  const int64_t hw = a.hist_h * a.hist_w;
  const bool identity = a.hist_w == a.width && a.hist_h == a.height;
  // Inverse of the output sampling: which output row/column reads each histogram
  // row/column (-1: none). A downsampling NEAREST resize reads each source at most once
  // ("one to one"); an upsampling one repeats sources and takes the dense loop instead.
  std::vector<int64_t> row_inv(a.hist_h, -1), col_inv(a.hist_w, -1);
  bool one_to_one = true;
  for (int64_t i = 0; i < a.out_h; ++i) {
    one_to_one &= row_inv[a.rows[i]] < 0;
    row_inv[a.rows[i]] = i;
  }
  for (int64_t j = 0; j < a.out_w; ++j) {
    one_to_one &= col_inv[a.cols[j]] < 0;
    col_inv[a.cols[j]] = j;
  }
  std::vector<float> zero(a.channels);
  for (int64_t k = 0; k < a.channels; ++k) zero[k] = (0.f - a.mean[k]) / a.std[k];
  // No more threads than windows: one window (the streaming case) runs on the calling
  // thread alone, with no team to wake or wait for (a second busy thread on a loaded or
  // shared machine made the barrier, not the work, set the tail latency).
  const int team =
      static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(a.batch, cpu_threads())));
#pragma omp parallel num_threads(team)
  {
    // Per-thread scratch that outlives the call. The plane (upsampling only) is zeroed once
    // per thread and size and stays zero between windows and calls (only the touched entries
    // are written, and they are cleared below); the key buffers of frame_sparse keep their
    // capacity. A call allocates nothing but its output.
    thread_local std::vector<float> plane;
    thread_local std::vector<int64_t> touched;
    thread_local std::vector<int64_t> freq;
    thread_local std::vector<int64_t> keys, sorted;
    if (!one_to_one && static_cast<int64_t>(plane.size()) != 2 * hw) plane.assign(2 * hw, 0.f);
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < a.batch; ++b) {
      if (one_to_one) {  // no H x W plane: sorted keys (see frame_sparse)
        a.dropped[b] = frame_sparse(a, b, hw, identity, row_inv, col_inv, zero, keys, sorted, freq);
        continue;
      }
      touched.clear();
      int64_t dropped = 0;
      // step 3: count, remembering every entry that becomes non-zero
      for (int64_t i = a.offsets[b]; i < a.offsets[b + 1]; ++i) {
        int64_t x, y;
        if (!event_cell(a, i, identity, x, y)) {
          ++dropped;
          continue;
        }
        const int64_t idx = static_cast<int64_t>(a.p[i] != 1) * hw + y * a.hist_w + x;
        if (plane[idx] == 0.f) touched.push_back(idx);
        plane[idx] += 1.f;
      }
      // step 4: every touched entry is an integer count >= 1 > 0.1, the untouched ones
      // are 0; the quantile comes from a frequency table of the counts (no sort)
      float cmax[2] = {0.f, 0.f};
      for (int64_t idx : touched) {
        float& m = cmax[idx >= hw];
        m = std::max(m, plane[idx]);
      }
      const int64_t top = static_cast<int64_t>(std::max(cmax[0], cmax[1]));
      freq.assign(top + 1, 0);
      for (int64_t idx : touched) ++freq[static_cast<int64_t>(plane[idx])];
      const float q = touched.empty()
                          ? std::numeric_limits<float>::infinity()
                          : quantile_of_counts(freq.data(), top + 1, touched.size(), 0.75);
      // step 5: the clipped channel's max is min(max, q)
      const float div0 = std::min(cmax[0], q) + 1.f, div1 = std::min(cmax[1], q) + 1.f;
      // steps 6-7: mean of the channels at the sampled pixels, then each output channel's
      // (gray - mean) / std. Most sampled pixels are empty and get the constant
      // (0 - mean) / std; with a one-to-one sampling only the touched pixels are computed.
      const int64_t opix = a.out_h * a.out_w;
      float* out = a.out + b * a.channels * opix;
      auto value = [&](int64_t pix, int64_t k) {
        const float v0 = plane[pix], v1 = plane[hw + pix];
        return ((std::min(v0, q) / div0 + std::min(v1, q) / div1) / 2.f - a.mean[k]) / a.std[k];
      };
      if (one_to_one) {
        for (int64_t k = 0; k < a.channels; ++k)
          std::fill(out + k * opix, out + (k + 1) * opix, zero[k]);
        for (int64_t idx : touched) {
          const int64_t pix = idx >= hw ? idx - hw : idx;
          const int64_t i = row_inv[pix / a.hist_w], j = col_inv[pix % a.hist_w];
          if (i < 0 || j < 0) continue;
          for (int64_t k = 0; k < a.channels; ++k) out[k * opix + i * a.out_w + j] = value(pix, k);
        }
      } else {
        for (int64_t i = 0; i < a.out_h; ++i)
          for (int64_t k = 0; k < a.channels; ++k)
            for (int64_t j = 0; j < a.out_w; ++j) {
              const int64_t pix = a.rows[i] * a.hist_w + a.cols[j];
              out[k * opix + i * a.out_w + j] =
                  (plane[pix] == 0.f && plane[hw + pix] == 0.f) ? zero[k] : value(pix, k);
            }
      }
      for (int64_t idx : touched) plane[idx] = 0.f;
      a.dropped[b] = dropped;
    }
  }
}

template void ezsr_frame_cpu<int16_t>(const EzsrFrameArgs<int16_t>&);
template void ezsr_frame_cpu<int32_t>(const EzsrFrameArgs<int32_t>&);

}  // namespace ezsr
