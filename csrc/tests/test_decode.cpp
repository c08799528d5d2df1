// Event file decoders on hand-built words with known events: EVT 3.0 (vectors, the
// 24-bit wrap, state carried across a split), EVT 2.0 / 2.1, the fixed records, capacity
// stops, error codes with offsets, and random bytes (no crash, bounded output).
#include <cstdint>
#include <random>
#include <vector>

#include "check.h"
#include "ezsr/decode.h"

namespace {

using ezsr::DecodeKind;

struct Cols {
  std::vector<int16_t> x, y;
  std::vector<int64_t> t;
  std::vector<uint8_t> p;
  explicit Cols(int64_t n) : x(n), y(n), t(n), p(n) {}
  ezsr::DecodeOutput out() { return {x.data(), y.data(), t.data(), p.data(), int64_t(x.size())}; }
};

std::vector<uint8_t> le16(const std::vector<uint32_t>& w) {
  std::vector<uint8_t> b;
  for (uint32_t v : w) b.push_back(v & 0xFF), b.push_back((v >> 8) & 0xFF);
  return b;
}

std::vector<uint8_t> le32(const std::vector<uint32_t>& w) {
  std::vector<uint8_t> b;
  for (uint32_t v : w)
    for (int i = 0; i < 4; ++i) b.push_back((v >> (8 * i)) & 0xFF);
  return b;
}

ezsr::DecodeResult run(DecodeKind k, const std::vector<uint8_t>& b, ezsr::DecodeState& s, Cols& c,
                       int64_t w = 0, int64_t h = 0) {
  return ezsr::decode_events(k, b.data(), int64_t(b.size()), s, c.out(), w, h);
}

void evt3() {
  // ADDR_X before any TIME_HIGH: dropped. Then TH=1, TL=5, y=7, x=10 ON, vector base 20 OFF
  // with mask 0b101 (x 20, 22), VECT_8 mask 1 (x 32), TH=0 (wrap: +2^24), TL=2, x=3 OFF.
  const auto b = le16({0x2000 | 99, 0x8001, 0x6005, 0x0007, 0x2800 | 10, 0x3000 | 20, 0x4005,
                       0x5001, 0x8000, 0x6002, 0x2003});
  const int64_t t1 = (1 << 12) | 5, t2 = (int64_t(1) << 24) | 2;
  const int64_t n = ezsr::decode_max_events(DecodeKind::EVT3, b.data(), b.size());
  CHECK(n == 6);  // 3 ADDR_X + 2 + 1 vector bits
  Cols c(n);
  ezsr::DecodeState s;
  auto r = run(DecodeKind::EVT3, b, s, c);
  CHECK(r.error == ezsr::kOk && r.consumed == int64_t(b.size()) && r.n_events == 5);
  const int16_t xs[] = {10, 20, 22, 32, 3};
  const int64_t ts[] = {t1, t1, t1, t1, t2};
  const uint8_t ps[] = {1, 0, 0, 0, 0};
  for (int i = 0; i < 5; ++i)
    CHECK(c.x[i] == xs[i] && c.y[i] == 7 && c.t[i] == ts[i] && c.p[i] == ps[i]);

  // the same words split at every position give the same events
  for (size_t cut = 0; cut <= b.size(); cut += 2) {
    ezsr::DecodeState s2;
    Cols c2(n);
    std::vector<uint8_t> a(b.begin(), b.begin() + cut), z(b.begin() + cut, b.end());
    auto r1 = run(DecodeKind::EVT3, a, s2, c2);
    ezsr::DecodeOutput o = c2.out();
    o.x += r1.n_events, o.y += r1.n_events, o.t += r1.n_events, o.p += r1.n_events;
    o.capacity -= r1.n_events;
    auto r2 = ezsr::decode_events(DecodeKind::EVT3, z.data(), z.size(), s2, o, 0, 0);
    CHECK(r1.n_events + r2.n_events == 5);
    for (int i = 0; i < 5; ++i) CHECK(c2.x[i] == xs[i] && c2.t[i] == ts[i]);
  }
  // capacity 2: stops before the vector word that would overflow, consumed = its offset
  Cols small(2);
  ezsr::DecodeState s3;
  auto r3 = run(DecodeKind::EVT3, b, s3, small);
  CHECK(r3.n_events == 1 && r3.consumed == 12 && r3.error == ezsr::kOk);
  // undefined word type 0x9 at word 3; out-of-sensor x at word 4 with width 8
  ezsr::DecodeState s4;
  Cols c4(8);
  auto r4 = run(DecodeKind::EVT3, le16({0x8001, 0x6005, 0x0007, 0x9000}), s4, c4);
  CHECK(r4.error == ezsr::kBadWordType && r4.error_offset == 6);
  ezsr::DecodeState s5;
  auto r5 = run(DecodeKind::EVT3, le16({0x8001, 0x6005, 0x0007, 0x2000 | 9}), s5, c4, 8, 8);
  CHECK(r5.error == ezsr::kOutOfSensor && r5.error_offset == 6 && r5.n_events == 0);
}

void evt2() {
  // TIME_HIGH 3 (t = 3 << 6), ON at (5, 6) t_low 7, trigger (skipped), OFF at (1, 2) t_low 9
  const auto b = le32({0x80000003, 0x10000000u | (7u << 22) | (5u << 11) | 6, 0xA0000000,
                       (9u << 22) | (1u << 11) | 2});
  Cols c(4);
  ezsr::DecodeState s;
  auto r = run(DecodeKind::EVT2, b, s, c);
  CHECK(r.n_events == 2 && r.consumed == 16 && r.error == ezsr::kOk);
  CHECK(c.x[0] == 5 && c.y[0] == 6 && c.t[0] == (3 << 6 | 7) && c.p[0] == 1);
  CHECK(c.x[1] == 1 && c.y[1] == 2 && c.t[1] == (3 << 6 | 9) && c.p[1] == 0);
  // trailing partial word is left unconsumed
  auto b2 = b;
  b2.push_back(0xFF);
  ezsr::DecodeState s2;
  CHECK(run(DecodeKind::EVT2, b2, s2, c).consumed == 16);

  // EVT 2.1: TIME_HIGH 1 then a POS vector at x 32, y 4, t_low 2, mask bits 0 and 31
  std::vector<uint8_t> w;
  auto push64 = [&](uint64_t v) {
    for (int i = 0; i < 8; ++i) w.push_back((v >> (8 * i)) & 0xFF);
  };
  push64((uint64_t(8) << 60) | (uint64_t(1) << 32));
  push64((uint64_t(1) << 60) | (uint64_t(2) << 54) | (uint64_t(32) << 43) | (uint64_t(4) << 32) |
         0x80000001u);
  CHECK(ezsr::decode_max_events(DecodeKind::EVT21, w.data(), w.size()) == 2);
  ezsr::DecodeState s3;
  Cols c3(2);
  auto r3 = run(DecodeKind::EVT21, w, s3, c3);
  CHECK(r3.n_events == 2 && c3.x[0] == 32 && c3.x[1] == 63 && c3.y[1] == 4);
  CHECK(c3.t[0] == (1 << 6 | 2) && c3.p[0] == 1);
  // the same two words in the legacy order (high 32-bit half first) decode the same
  std::vector<uint8_t> legacy;
  for (size_t i = 0; i < w.size(); i += 8) {
    legacy.insert(legacy.end(), w.begin() + i + 4, w.begin() + i + 8);
    legacy.insert(legacy.end(), w.begin() + i, w.begin() + i + 4);
  }
  ezsr::DecodeState s4;
  Cols c4(2);
  auto r4 = run(DecodeKind::EVT21_LEGACY, legacy, s4, c4);
  CHECK(r4.n_events == 2 && c4.x == c3.x && c4.y == c3.y && c4.t == c3.t && c4.p == c3.p);
}

void records() {
  // N-MNIST: (x 3, y 4, ON, t 0x010203), then t going back by 1: an error at byte 5
  std::vector<uint8_t> b = {3, 4, 0x81, 0x02, 0x03, 1, 1, 0x01, 0x02, 0x02};
  Cols c(2);
  ezsr::DecodeState s;
  auto r = run(DecodeKind::NMNIST, b, s, c);
  CHECK(r.n_events == 1 && c.x[0] == 3 && c.y[0] == 4 && c.p[0] == 1 && c.t[0] == 0x010203);
  CHECK(r.error == ezsr::kTimeBackwards && r.error_offset == 5);
  // AEDAT 2.0 DVS128, big-endian: address (y 5, raw x 9, raw bit 0 = 1: OFF), t =
  // 0xFFFFFFF0, a sync event (bit 15) that is skipped, then t = 0x10: a wrap of the 32-bit
  // counter, not an error. jAER's DVS128 extractor: x = 127 - raw x, ON = 1 - bit 0.
  const uint32_t a = (5u << 8) | (9u << 1) | 1;
  std::vector<uint8_t> d;
  auto be = [&](uint32_t v) {
    for (int i = 3; i >= 0; --i) d.push_back((v >> (8 * i)) & 0xFF);
  };
  be(a), be(0xFFFFFFF0u), be(0x8000u | a), be(0x8), be(a & ~1u), be(0x10);
  ezsr::DecodeState s2;
  auto r2 = run(DecodeKind::AEDAT2_DVS128, d, s2, c);
  CHECK(r2.error == ezsr::kOk && r2.n_events == 2 && c.x[0] == 118 && c.y[0] == 5);
  CHECK(c.p[0] == 0 && c.p[1] == 1 && c.t[1] == (int64_t(1) << 32) + 0x10);
}

void event_stream() {
  // Event Stream DVS (spec: neuromorphic-paris/event_stream README): 2 overflows (254 us), a
  // reset, an ON event with delta 3 at (300, 2), an OFF event with delta 0 at (1, 513), then
  // the first byte of a third event: stops before it (need_more), carrying the time
  std::vector<uint8_t> d = {0xFF, 0xFF, 0xFE, (3 << 1) | 1, 44, 1, 2, 0, 0, 1, 0, 1, 2, 0x10};
  Cols c(4);
  ezsr::DecodeState s;
  auto r = run(DecodeKind::ES_DVS, d, s, c);
  CHECK(r.error == ezsr::kOk && r.n_events == 2 && r.need_more && r.consumed == 13);
  CHECK(c.t[0] == 257 && c.t[1] == 257 && c.x[0] == 300 && c.y[0] == 2 && c.p[0] == 1);
  CHECK(c.x[1] == 1 && c.y[1] == 513 && c.p[1] == 0 && s.last_t == 257);
  // ATIS: overflow 0xFD (63 us), 0xFF (189 us), reset 0xFC, then a threshold crossing
  // (is_tc 1, second) with delta 5 at (7, 8): p = 1 | 1 << 1; an x past a 10-wide sensor
  // is an error at its event's first byte
  std::vector<uint8_t> a = {0xFD, 0xFF, 0xFC, (5 << 2) | 3, 7, 0, 8, 0, 0, 12, 0, 0, 0};
  ezsr::DecodeState s2;
  auto r2 = run(DecodeKind::ES_ATIS, a, s2, c, 10, 10);
  CHECK(r2.n_events == 1 && c.t[0] == 63 + 189 + 5 && c.p[0] == 3 && c.x[0] == 7);
  CHECK(r2.error == ezsr::kOutOfSensor && r2.error_offset == 8);
}

void random_bytes() {
  // any bytes, every kind, a few capacities: no crash, output within capacity, consumed
  // within the input, and an error offset inside it
  std::mt19937 rng(1);
  for (int iter = 0; iter < 3000; ++iter) {
    std::vector<uint8_t> b(rng() % 200);
    for (auto& v : b) v = uint8_t(rng());
    const auto kind = DecodeKind(rng() % 10);
    const int64_t cap =
        rng() % 3 == 0 ? int64_t(rng() % 40) : ezsr::decode_max_events(kind, b.data(), b.size());
    Cols c(cap);
    ezsr::DecodeState s;
    const int64_t w = rng() % 2 ? 64 : 0;
    auto r = run(kind, b, s, c, w, w);
    CHECK(r.n_events >= 0 && r.n_events <= cap);
    CHECK(r.consumed >= 0 && r.consumed <= int64_t(b.size()));
    CHECK(r.error == ezsr::kOk ? r.error_offset == -1
                               : (r.error_offset >= 0 && r.error_offset < int64_t(b.size())));
  }
  ezsr::DecodeState s;
  Cols c(1);
  CHECK(ezsr::decode_events(DecodeKind(42), nullptr, 0, s, c.out(), 0, 0).error == ezsr::kBadKind);
}

}  // namespace

int main() {
  evt3();
  evt2();
  records();
  event_stream();
  random_bytes();
  return TEST_EXIT("test_decode");
}
