// Histogram core vs a direct loop, plus edge cases: empty streams, out-of-range
// coordinates, all events on one pixel, the squash resize and the count cap.
#include <cstdint>
#include <random>
#include <vector>

#include "check.h"
#include "ezsr/histogram.h"

namespace {

// Straight loop definition of the histogram for one stream layout.
std::vector<float> naive(const std::vector<int32_t>& x, const std::vector<int32_t>& y,
                         const std::vector<uint8_t>& p, const std::vector<int64_t>& off, int W,
                         int H, int OW, int OH, float cap, std::vector<int64_t>& dropped) {
  const int64_t B = off.size() - 1;
  std::vector<float> out(B * 2 * OH * OW, 0.f);
  dropped.assign(B, 0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = off[b]; i < off[b + 1]; ++i) {
      if (x[i] < 0 || x[i] >= W || y[i] < 0 || y[i] >= H) {
        ++dropped[b];
        continue;
      }
      const int64_t ox = int64_t(x[i]) * OW / W, oy = int64_t(y[i]) * OH / H;
      out[((b * 2 + (p[i] == 1 ? 0 : 1)) * OH + oy) * OW + ox] += 1.f;
    }
  if (cap > 0)
    for (float& v : out) v = v < cap ? v : cap;
  return out;
}

void run_case(const std::vector<int32_t>& x, const std::vector<int32_t>& y,
              const std::vector<uint8_t>& p, const std::vector<int64_t>& off, int W, int H, int OW,
              int OH, float cap) {
  std::vector<int64_t> want_drop;
  const auto want = naive(x, y, p, off, W, H, OW, OH, cap, want_drop);
  const int64_t B = off.size() - 1;
  std::vector<float> out(B * 2 * OH * OW, 0.f);
  std::vector<int64_t> drop(B, 0);
  ezsr::HistogramArgs<int32_t> a{x.data(),   y.data(),   p.data(),   off.data(), B,
                                 off.back(), W,          H,          OW,         OH,
                                 cap,        out.data(), drop.data()};
  ezsr::histogram_cpu(a);
  CHECK(out == want);
  CHECK(drop == want_drop);
}

}  // namespace

int main() {
  std::mt19937 rng(0);
  // random batch with an empty stream in the middle and out-of-range events
  {
    const int W = 64, H = 48;
    std::vector<int32_t> x, y;
    std::vector<uint8_t> p;
    std::uniform_int_distribution<int> ux(-3, W + 2), uy(-3, H + 2), up(0, 1);
    for (int i = 0; i < 5000; ++i) {
      x.push_back(ux(rng));
      y.push_back(uy(rng));
      p.push_back(uint8_t(up(rng)));
    }
    run_case(x, y, p, {0, 1000, 1000, 4000, 5000}, W, H, W, H, 0.f);    // identity
    run_case(x, y, p, {0, 1000, 1000, 4000, 5000}, W, H, 24, 24, 0.f);  // squash resize
    run_case(x, y, p, {0, 5000}, W, H, W, H, 2.f);                      // one stream, cap
  }
  // empty input
  run_case({}, {}, {}, {0}, 8, 8, 8, 8, 0.f);
  run_case({}, {}, {}, {0, 0, 0}, 8, 8, 8, 8, 0.f);
  // every event on one border pixel
  {
    std::vector<int32_t> x(1000, 7), y(1000, 7);
    std::vector<uint8_t> p(1000, 1);
    run_case(x, y, p, {0, 1000}, 8, 8, 8, 8, 0.f);
  }
  return TEST_EXIT("test_histogram");
}
