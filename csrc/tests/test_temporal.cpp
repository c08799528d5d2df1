// Voxel grid and time surface core vs direct loops, on a random batch (with an empty
// stream and out-of-range events), one long stream (the split-across-threads path),
// empty input, one pixel and a stream whose events share one timestamp.
#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "check.h"
#include "ezsr/temporal.h"

namespace {

struct Batch {
  std::vector<int32_t> x, y;
  std::vector<int64_t> t;
  std::vector<uint8_t> p;
  std::vector<int64_t> off;
};

// Direct definitions, event by event in order.
void naive(const Batch& e, int W, int H, int bins, std::vector<float>& vox,
           std::vector<float>& surf, std::vector<int64_t>& dropped) {
  const int64_t B = e.off.size() - 1, hw = int64_t(W) * H;
  vox.assign(B * bins * hw, 0.f);
  surf.assign(B * 2 * hw, 0.f);
  dropped.assign(B, 0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = e.off[b]; i < e.off[b + 1]; ++i) {
      if (e.x[i] < 0 || e.x[i] >= W || e.y[i] < 0 || e.y[i] >= H) {
        ++dropped[b];
        continue;
      }
      const int64_t t0 = e.t[e.off[b]], t1 = e.t[e.off[b + 1] - 1];
      const double tau = t1 > t0 ? double(e.t[i] - t0) / double(t1 - t0) : 0.0;
      const double pos = tau * (bins - 1);
      const int64_t b0 = std::min<int64_t>(int64_t(pos), bins - 1);
      const float pol = e.p[i] == 1 ? 1.f : -1.f;
      const int64_t px = int64_t(e.y[i]) * W + e.x[i];
      vox[(b * bins + b0) * hw + px] += pol * float(1.0 - (pos - b0));
      if (b0 + 1 < bins) vox[(b * bins + b0 + 1) * hw + px] += pol * float(pos - b0);
      float& s = surf[(b * 2 + (e.p[i] == 1 ? 0 : 1)) * hw + px];
      s = std::max(s, float(tau));
    }
}

void run_case(const Batch& e, int W, int H, int bins) {
  std::vector<float> want_vox, want_surf;
  std::vector<int64_t> want_drop;
  naive(e, W, H, bins, want_vox, want_surf, want_drop);
  const int64_t B = e.off.size() - 1;
  std::vector<float> vox(want_vox.size(), 0.f), surf(want_surf.size(), 0.f);
  std::vector<int64_t> d1(B, 0), d2(B, 0);
  ezsr::TemporalArgs<int32_t> a{e.x.data(), e.y.data(),   e.t.data(), e.p.data(), e.off.data(),
                                B,          e.off.back(), W,          H,          bins,
                                vox.data(), d1.data()};
  ezsr::voxel_grid_cpu(a);
  a.out = surf.data();
  a.dropped = d2.data();
  ezsr::time_surface_cpu(a);
  CHECK(surf == want_surf);
  CHECK(d1 == want_drop && d2 == want_drop);
  double worst = 0;
  for (size_t i = 0; i < vox.size(); ++i)
    worst = std::max(worst, double(std::fabs(vox[i] - want_vox[i])));
  CHECK(worst < 1e-3);
}

Batch random_batch(std::vector<int64_t> lengths, int W, int H, int oob, std::mt19937& rng) {
  Batch e;
  e.off = {0};
  std::uniform_int_distribution<int> ux(-oob, W - 1 + oob), uy(-oob, H - 1 + oob), up(0, 1),
      ut(0, 100000);
  for (int64_t n : lengths) {
    std::vector<int64_t> ts(n);
    for (auto& v : ts) v = ut(rng);
    std::sort(ts.begin(), ts.end());
    for (int64_t i = 0; i < n; ++i) {
      e.x.push_back(ux(rng));
      e.y.push_back(uy(rng));
      e.p.push_back(uint8_t(up(rng)));
      e.t.push_back(ts[i]);
    }
    e.off.push_back(e.off.back() + n);
  }
  return e;
}

}  // namespace

int main() {
  std::mt19937 rng(0);
  run_case(random_batch({1000, 0, 3000, 1}, 64, 48, 3, rng), 64, 48, 5);
  run_case(random_batch({1000, 0, 3000, 1}, 64, 48, 3, rng), 64, 48, 1);
  run_case(random_batch({300000}, 32, 24, 0, rng), 32, 24, 4);  // long stream: thread split
  run_case(random_batch({}, 8, 8, 0, rng), 8, 8, 3);            // B = 0
  run_case(random_batch({0, 0}, 8, 8, 0, rng), 8, 8, 3);        // empty streams
  {
    Batch e = random_batch({500}, 8, 8, 0, rng);
    std::fill(e.x.begin(), e.x.end(), 7);  // one border pixel
    std::fill(e.y.begin(), e.y.end(), 7);
    run_case(e, 8, 8, 3);
    std::fill(e.t.begin(), e.t.end(), 42);  // one timestamp: tau = 0 everywhere
    run_case(e, 8, 8, 3);
  }
  return TEST_EXIT("test_temporal");
}
