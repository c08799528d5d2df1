// Simulation core: hand-computed crossings with refractory, count == emitted, the time
// sort (stream-major, ties by pixel) and the fused histogram against the emitted events.
#include <algorithm>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <vector>

#include "check.h"
#include "ezsr/simulate.h"

namespace {

struct Case {
  std::vector<float> logf, tp, tn, ref;
  std::vector<int64_t> ts, last;
  int64_t B, T, P;
  ezsr::SimulateArgs args(int64_t refractory) {
    return {logf.data(), ts.data(), tp.data(), tn.data(), ref.data(),
            last.data(), B,         T,         P,         refractory};
  }
};

Case make(int64_t B, int64_t T, int64_t P, std::vector<float> logf, std::vector<int64_t> ts,
          float c) {
  Case k{logf, std::vector<float>(B * P, c), std::vector<float>(B * P, c), {}, ts, {}, B, T, P};
  for (int64_t b = 0; b < B; ++b)
    for (int64_t p = 0; p < P; ++p) k.ref.push_back(logf[b * T * P + p]);
  k.last.assign(B * P, ezsr::kNever);
  return k;
}

// Full pipeline on the CPU: emit into per-block buffers, then the per-interval gather.
void simulate(Case& k, int64_t width, int64_t refr, std::vector<int16_t>& x,
              std::vector<int16_t>& y, std::vector<int64_t>& t, std::vector<uint8_t>& p,
              std::vector<int64_t>& stream_off) {
  auto a = k.args(refr);
  const ezsr::SimulateBlocks blocks = ezsr::simulate_emit_blocks_cpu(a);
  stream_off = blocks.stream_offsets;
  const int64_t n = stream_off.back();
  x.resize(n);
  y.resize(n);
  t.resize(n);
  p.resize(n);
  ezsr::simulate_gather_cpu<int16_t>(a, blocks, width, x.data(), y.data(), t.data(), p.data());
}

}  // namespace

int main() {
  std::vector<int16_t> x, y;
  std::vector<int64_t> t, so;
  std::vector<uint8_t> p;
  // one pixel, C = 0.25, levels 0 -> 1 -> 0 -> 0.3, refractory 300 µs (see the Python test)
  {
    Case k = make(1, 4, 1, {0.f, 1.f, 0.f, 0.3f}, {0, 1000, 2000, 3000}, 0.25f);
    simulate(k, 1, 300, x, y, t, p, so);
    CHECK((t == std::vector<int64_t>{250, 750, 1250, 1750, 2833}));
    CHECK((p == std::vector<uint8_t>{1, 1, 0, 0, 1}));
    CHECK(k.ref[0] == 0.25f && k.last[0] == 2833);
  }
  // two streams, 3x4 pixels, random levels: sorted by (stream, t, pixel), histogram agrees
  {
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> u(-2.f, 0.f);
    const int64_t B = 2, T = 6, W = 4, P = 12;
    std::vector<float> logf(B * T * P);
    for (float& v : logf) v = u(rng);
    std::vector<int64_t> ts = {0, 10, 20, 30, 40, 50, 100, 101, 300, 301, 302, 900};
    Case k = make(B, T, P, logf, ts, 0.1f);
    Case k2 = k;
    simulate(k, W, 0, x, y, t, p, so);
    CHECK(so.size() == 3 && so[2] == (int64_t)t.size() && t.size() > 50);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = so[b] + 1; i < so[b + 1]; ++i)
        CHECK(t[i] > t[i - 1] || (t[i] == t[i - 1] && y[i] * W + x[i] >= y[i - 1] * W + x[i - 1]));
    std::vector<float> hist(B * 2 * P, 0.f), want(B * 2 * P, 0.f);
    ezsr::simulate_histogram_cpu(k2.args(0), hist.data());
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = so[b]; i < so[b + 1]; ++i)
        want[(b * 2 + (p[i] ? 0 : 1)) * P + y[i] * W + x[i]] += 1.f;
    CHECK(hist == want);
    CHECK(k.ref == k2.ref && k.last == k2.last);  // both passes leave the same state
  }
  // no change: no events
  {
    Case k = make(1, 3, 2, {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f}, {0, 1, 2}, 0.2f);
    simulate(k, 2, 0, x, y, t, p, so);
    CHECK(t.empty() && so.back() == 0);
  }
  // a sequence fed to SimulateEmitter in chunks of 3 frames (sharing boundary frames, tiny
  // intervals so events tie at the joints) gives the same columns and state as one call
  {
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> u(-1.5f, 0.f);
    const int64_t B = 2, T = 8, W = 5, P = 20, C = 3;
    std::vector<float> logf(B * T * P);
    for (float& v : logf) v = u(rng);
    std::vector<int64_t> ts;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t f = 0; f < T; ++f) ts.push_back(b * 7 + f * 2);
    Case whole = make(B, T, P, logf, ts, 0.1f);
    simulate(whole, W, 1, x, y, t, p, so);
    // two emitters fed interleaved (each owns its buffers), the second one's blocks
    // gathered after the first's are gone
    Case chunked[2] = {make(B, T, P, logf, ts, 0.1f), make(B, T, P, logf, ts, 0.1f)};
    ezsr::SimulateEmitter emitters[2] = {ezsr::SimulateEmitter(B, P, T),
                                         ezsr::SimulateEmitter(B, P, T)};
    std::vector<std::vector<float>> lfs;
    std::vector<std::vector<int64_t>> tcs;
    for (int64_t s = 0; s + 1 < T; s += C - 1) {
      const int64_t e = std::min(T, s + C), n = e - s;
      std::vector<float> lf(B * n * P);
      std::vector<int64_t> tc(B * n);
      for (int64_t b = 0; b < B; ++b) {
        std::copy_n(&logf[(b * T + s) * P], n * P, &lf[b * n * P]);
        std::copy_n(&ts[b * T + s], n, &tc[b * n]);
      }
      for (int r = 0; r < 2; ++r) {
        ezsr::SimulateArgs a{lf.data(),
                             tc.data(),
                             chunked[r].tp.data(),
                             chunked[r].tn.data(),
                             chunked[r].ref.data(),
                             chunked[r].last.data(),
                             B,
                             n,
                             P,
                             1};
        emitters[r].add(a, s);
      }
    }
    for (int r = 1; r >= 0; --r) {
      ezsr::SimulateBlocks blocks = emitters[r].finish();
      CHECK(blocks.stream_offsets == so && so.back() > 40);
      const int64_t n = so.back();
      std::vector<int16_t> x2(n), y2(n);
      std::vector<int64_t> t2(n);
      std::vector<uint8_t> p2(n);
      ezsr::simulate_gather_cpu<int16_t>(chunked[r].args(1), blocks, W, x2.data(), y2.data(),
                                         t2.data(), p2.data());
      CHECK(x2 == x && y2 == y && t2 == t && p2 == p);
      CHECK(chunked[r].ref == whole.ref && chunked[r].last == whole.last);
    }
    // misuse is an exception, not a wild write
    bool threw = false;
    try {
      emitters[0].finish();
    } catch (const std::invalid_argument&) {
      threw = true;
    }
    CHECK(threw);
    ezsr::SimulateEmitter e3(B, P, T);
    threw = false;
    try {
      e3.add(whole.args(1), 1);  // T frames starting at frame 1: past the end
    } catch (const std::invalid_argument&) {
      threw = true;
    }
    CHECK(threw);
  }
  return TEST_EXIT("test_simulate");
}
