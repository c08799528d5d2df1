// Fixed-size record decoders: Prophesee .dat (CD), jAER AEDAT 2.0 (DVS128 and DAVIS
// addresses) and the N-MNIST / N-Caltech101 40-bit .bin. Every record is one event (or a
// skipped non-event record); the timestamp counter's wrap adds its range, a real step back
// is an error.
#include <algorithm>

#include "decode_internal.h"

namespace ezsr {

namespace {

struct Record {
  int64_t x, y, raw_t;
  uint8_t p;
  bool is_event;
};

// .dat CD: u32 t, u32 w: x = w & 0x3FFF, y = (w >> 14) & 0x3FFF, p = (w >> 28) & 0xF
// (Prophesee "DAT file format" page; N-Cars / Gen1 files).
inline Record dat_record(const uint8_t* r) {
  const uint32_t w = load_le32(r + 4);
  return {w & 0x3FFF, (w >> 14) & 0x3FFF, load_le32(r), uint8_t(((w >> 28) & 0xF) != 0), true};
}

// jAER AEDAT 2.0 DVS128 as jAER's own extractor reads it (DVS128.Extractor.extractPacket in
// src/ch/unizh/ini/jaer/chip/retina/DVS128.java): big-endian address then timestamp; an
// address with bit 15 (the sync bit, CypressFX2DVS128HardwareInterface.SYNC_EVENT_BITMASK)
// or bit 31 (BasicEvent.SPECIAL_EVENT_BIT_MASK) set is a special event, not a pixel
// (skipped); else raw bit 0 = 1 is OFF (p = 1 - (a & 1)), x is mirrored
// (x = 127 - ((a >> 1) & 0x7F)) and y = (a >> 8) & 0x7F.
inline Record dvs128_record(const uint8_t* r) {
  const uint32_t a = load_be32(r);
  const bool pixel = (a & 0x80008000u) == 0;
  return {127 - int64_t((a >> 1) & 0x7F), (a >> 8) & 0x7F, load_be32(r + 4), uint8_t((a & 1) ^ 1),
          pixel};
}

// jAER AEDAT 2.0 DAVIS (DavisChip.java address fields, DavisBaseCamera.DavisEventExtractor):
// bit 31 set = APS sample or IMU, bit 10 set = external-input / special event (all skipped);
// otherwise a DVS event with y = (a >> 22) & 0x1FF, raw x = (a >> 12) & 0x3FF,
// p = (a >> 11) & 1 (1 = ON). jAER mirrors x with the chip's width (sizeX - 1 - raw x);
// the width comes from the file header, so ezsr.io.aedat applies that mirror.
inline Record davis_record(const uint8_t* r) {
  const uint32_t a = load_be32(r);
  const bool dvs = !(a >> 31) && !((a >> 10) & 1);
  return {(a >> 12) & 0x3FF, (a >> 22) & 0x1FF, load_be32(r + 4), uint8_t((a >> 11) & 1), dvs};
}

// N-MNIST 40-bit: b0 = x, b1 = y, b2 bit 7 = p, t = (b2 & 0x7F) << 16 | b3 << 8 | b4
// (Orchard et al. 2015, the dataset's README).
inline Record nmnist_record(const uint8_t* r) {
  return {r[0], r[1], (int64_t(r[2] & 0x7F) << 16) | (int64_t(r[3]) << 8) | r[4],
          uint8_t(r[2] >> 7), true};
}

template <int kSize, Record (*Parse)(const uint8_t*)>
DecodeResult decode_fixed(const uint8_t* d, int64_t n, DecodeState& s, const DecodeOutput& o,
                          int64_t width, int64_t height, int64_t counter_range) {
  DecodeResult r;
  int64_t k = 0, i = 0;
  int64_t last_t = s.last_t, epoch = s.epoch;
  const bool started = s.flags & 1;
  bool any = started;
  int64_t slow_until = 0;  // after a chunk that failed a check: record by record up to here
  for (; i + kSize <= n; i += kSize) {
    if (kSize == 8 && Parse == dat_record && i >= slow_until) {
      // .dat fast path: a chunk decoded by a branch-free, vectorisable loop; time order and
      // bounds are OR-ed over it and checked once. A chunk that fails (a counter wrap, a
      // step back, a bad pixel) is redone record by record below, which says where.
      const int64_t m = std::min<int64_t>({(n - i) / 8, o.capacity - k, 4096});
      if (m >= 8) {
        const uint8_t* q = d + i;
        int16_t* __restrict ox = o.x + k;
        int16_t* __restrict oy = o.y + k;
        int64_t* __restrict ot = o.t + k;
        uint8_t* __restrict op = o.p + k;
        const int32_t bw = width > 0 ? int32_t(std::min<int64_t>(width, 1 << 15)) : 1 << 15;
        const int32_t bh = width > 0 ? int32_t(std::clamp<int64_t>(height, -1, 1 << 15)) : 1 << 15;
        int32_t bad = 0;
        for (int64_t j = 0; j < m; ++j) {
          const uint32_t v = load_le32(q + 8 * j + 4);
          const int32_t x = int32_t(v & 0x3FFF), y = int32_t((v >> 14) & 0x3FFF);
          ox[j] = int16_t(x);
          oy[j] = int16_t(y);
          ot[j] = int64_t(load_le32(q + 8 * j)) + epoch;
          op[j] = uint8_t(((v >> 28) & 0xF) != 0);
          bad |= int32_t(x >= bw) | int32_t(y >= bh);
        }
        for (int64_t j = 1; j < m; ++j)  // raw counter steps back (a wrap or an error)
          bad |= int32_t(load_le32(q + 8 * j) < load_le32(q + 8 * j - 8));
        if (!bad && !(any && ot[0] < last_t)) {
          last_t = ot[m - 1];
          any = true;
          k += m;
          i += 8 * (m - 1);  // the loop adds the last 8
          continue;
        }
        slow_until = i + 8 * m;
      }
    }
    const Record e = Parse(d + i);
    if (!e.is_event) continue;
    if (k >= o.capacity) break;
    int64_t t = e.raw_t + epoch, wrap = 0;
    if (any && t < last_t) {
      if (last_t - t > counter_range / 2) {  // counter wrapped
        wrap = counter_range;
        t += counter_range;
      } else {
        r.error = kTimeBackwards;
        break;
      }
    }
    if (width > 0 && (e.x >= width || e.y >= height)) {
      r.error = kOutOfSensor;  // the state stays that of the records before (not consumed),
      break;                   // as in the reference: no wrap counted for this record
    }
    epoch += wrap;
    o.x[k] = int16_t(e.x);
    o.y[k] = int16_t(e.y);
    o.t[k] = t;
    o.p[k] = e.p;
    ++k;
    last_t = t;
    any = true;
  }
  if (r.error != kOk) r.error_offset = i;
  s.last_t = last_t;
  s.epoch = epoch;
  s.flags = any ? 1 : 0;
  r.consumed = i;
  r.n_events = k;
  return r;
}

}  // namespace

DecodeResult decode_records(DecodeKind kind, const uint8_t* d, int64_t n, DecodeState& s,
                            const DecodeOutput& o, int64_t width, int64_t height) {
  const int64_t u32 = int64_t(1) << 32;
  switch (kind) {
    case DecodeKind::DAT: return decode_fixed<8, dat_record>(d, n, s, o, width, height, u32);
    case DecodeKind::AEDAT2_DVS128:
      return decode_fixed<8, dvs128_record>(d, n, s, o, width, height, u32);
    case DecodeKind::AEDAT2_DAVIS:
      return decode_fixed<8, davis_record>(d, n, s, o, width, height, u32);
    case DecodeKind::NMNIST:
      return decode_fixed<5, nmnist_record>(d, n, s, o, width, height, int64_t(1) << 23);
    default: break;
  }
  DecodeResult r;
  r.error = kBadKind;
  r.error_offset = 0;
  return r;
}

}  // namespace ezsr
