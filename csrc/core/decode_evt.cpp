// Prophesee EVT 2.0, EVT 2.1 and EVT 3.0 decoders (layouts: Prophesee's public "EVT 2.0",
// "EVT 2.1" and "EVT 3.0" format pages, docs.prophesee.ai). Events before the first
// TIME_HIGH word have no known time and are dropped, as Prophesee's own decoders do.
#include <algorithm>
#include <climits>

#include "decode_internal.h"

namespace ezsr {

namespace {

// Out-of-sensor test; width/height <= 0 switch it off.
inline bool outside(int64_t x, int64_t y, int64_t width, int64_t height) {
  return width > 0 && (x >= width || y >= height);
}

inline DecodeResult fail(DecodeResult r, int64_t offset, int32_t error) {
  r.error = error;
  r.error_offset = offset;
  r.consumed = offset;
  return r;
}

// TIME_HIGH of EVT 2.0 / 2.1: a value below the last one is a counter wrap (+2^34 µs).
inline void set_time_high(DecodeState& s, int64_t high, bool seen) {
  if (seen && high < s.time_high) s.epoch += int64_t(1) << 34;
  s.time_high = high;
}

// End of an EVT 2.0 / 2.1 block at byte i with k events: the state's flags, the counts,
// and the error when there is one.
inline DecodeResult stop(DecodeResult r, DecodeState& s, bool seen, int64_t i, int64_t k,
                         bool unsorted, int32_t error = 0) {
  s.flags = seen;
  r.n_events = k;
  if (error) return fail(r, i, error);
  r.consumed = i;
  r.unsorted = unsorted;
  return r;
}

}  // namespace

// EVT 2.0: 32-bit words, type = w >> 28.
//   0 CD_OFF / 1 CD_ON: t_low = (w >> 22) & 0x3F, x = (w >> 11) & 0x7FF, y = w & 0x7FF
//   8 TIME_HIGH: t_high = w & 0x0FFFFFFF, time = t_high << 6 | t_low (34 bits; wraps add 2^34)
//   0xA EXT_TRIGGER, 0xE OTHERS, 0xF CONTINUED: skipped.
DecodeResult decode_evt2(const uint8_t* d, int64_t n, DecodeState& s, const DecodeOutput& o,
                         int64_t width, int64_t height) {
  DecodeResult r;
  int64_t k = 0;
  int64_t th = s.time_high + s.epoch;  // t_high << 6 plus wraps
  bool seen = s.flags & 1;
  bool unsorted = false;
  int64_t last_t = INT64_MIN;
  // Bounds for the run loop below, as int32 (x, y < 2^11; no check -> 2^12 never hit; a
  // non-positive height with a width fails every event, as outside() does).
  const int32_t bw = width > 0 ? int32_t(std::min<int64_t>(width, 4096)) : 4096;
  const int32_t bh = width > 0 ? int32_t(std::clamp<int64_t>(height, -1, 4096)) : 4096;
  int64_t slow_until = 0;  // after a run that failed a check: word-by-word up to here
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const uint32_t w = load_le32(d + i);
    const uint32_t type = w >> 28;
    // Fast path: a run of CD words (all events of one TIME_HIGH period, typically) is
    // measured first, then decoded by a loop without branches that the compiler
    // vectorises; bounds and time order are OR-ed over the run and checked once. A run
    // that fails is redone by the per-word code below, which reports the exact word.
    if (type <= 1 && seen && i >= slow_until) {
      const int64_t lim = std::min((n - i) >> 2, o.capacity - k);
      int64_t m = 0;
      for (; m + 8 <= lim; m += 8) {  // 8 words at a time: one branch per 8
        uint32_t any_type = 0;
        for (int u = 0; u < 8; ++u) any_type |= load_le32(d + i + 4 * (m + u));
        if (any_type >> 29) break;
      }
      while (m < lim && (load_le32(d + i + 4 * m) >> 29) == 0) ++m;
      if (m >= 4) {
        const uint8_t* q = d + i;
        // restrict: the columns never alias each other or the input (lets it vectorise)
        int16_t* __restrict ox = o.x + k;
        int16_t* __restrict oy = o.y + k;
        int64_t* __restrict ot = o.t + k;
        uint8_t* __restrict op = o.p + k;
        int32_t bad = 0, down = 0;
        for (int64_t j = 0; j < m; ++j) {
          const uint32_t v = load_le32(q + 4 * j);
          const int32_t x = int32_t((v >> 11) & 0x7FF), y = int32_t(v & 0x7FF);
          ox[j] = int16_t(x);
          oy[j] = int16_t(y);
          ot[j] = th | int64_t((v >> 22) & 0x3F);
          op[j] = uint8_t(v >> 28);
          bad |= int32_t(x >= bw) | int32_t(y >= bh);
        }
        for (int64_t j = 1; j < m; ++j)  // t_low steps back inside the run
          down |= int32_t(((load_le32(q + 4 * j) >> 22) & 0x3F) <
                          ((load_le32(q + 4 * j - 4) >> 22) & 0x3F));
        if (!bad) {
          unsorted |= down | (o.t[k] < last_t);
          last_t = o.t[k + m - 1];
          k += m;
          i += 4 * (m - 1);  // the loop adds the last 4
          continue;
        }
        slow_until = i + 4 * m;
      }
    }
    if (type <= 1) {
      if (!seen) continue;
      if (k >= o.capacity) break;
      const int64_t x = (w >> 11) & 0x7FF, y = w & 0x7FF;
      if (outside(x, y, width, height)) return stop(r, s, seen, i, k, unsorted, kOutOfSensor);
      const int64_t t = th | ((w >> 22) & 0x3F);
      o.x[k] = int16_t(x);
      o.y[k] = int16_t(y);
      o.t[k] = t;
      o.p[k] = uint8_t(type);
      unsorted |= t < last_t;  // order check folded in: no second pass over t
      last_t = t;
      ++k;
    } else if (type == 0x8) {
      set_time_high(s, int64_t(w & 0x0FFFFFFF) << 6, seen);
      th = s.time_high + s.epoch;
      seen = true;
    } else if (type != 0xA && type != 0xE && type != 0xF) {
      return stop(r, s, seen, i, k, unsorted, kBadWordType);
    }
  }
  return stop(r, s, seen, i, k, unsorted);
}

// EVT 2.1: 64-bit words, type = w >> 60.
//   0 EVT_NEG / 1 EVT_POS: t_low = (w >> 54) & 0x3F, x = (w >> 43) & 0x7FF (a multiple of 32),
//     y = (w >> 32) & 0x7FF, bits 0..31: one event at x + i for every set bit i
//   8 TIME_HIGH: t_high = (w >> 32) & 0x0FFFFFFF, time = t_high << 6 | t_low
//   0xA, 0xE, 0xF: skipped.
// legacy: the word is stored as its high 32-bit half, then its low half (IMX636 order).
DecodeResult decode_evt21(const uint8_t* d, int64_t n, DecodeState& s, const DecodeOutput& o,
                          int64_t width, int64_t height, bool legacy) {
  DecodeResult r;
  int64_t k = 0;
  bool seen = s.flags & 1;
  bool unsorted = false;
  int64_t last_t = INT64_MIN;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint64_t w = legacy ? load_evt21_legacy(d + i) : load_le64(d + i);
    const uint32_t type = uint32_t(w >> 60);
    if (type <= 1) {
      if (!seen) continue;
      uint32_t mask = uint32_t(w);
      if (k + popcount32(mask) > o.capacity) break;
      const int64_t x0 = (w >> 43) & 0x7FF, y = (w >> 32) & 0x7FF;
      const int64_t t = s.time_high + s.epoch + int64_t((w >> 54) & 0x3F);
      unsorted |= t < last_t;
      last_t = t;
      const int64_t k0 = k;  // a word with an event outside the sensor gives none of its
      while (mask) {         // events (it is not consumed), as in the reference
        const int b = __builtin_ctz(mask);
        mask &= mask - 1;
        const int64_t x = x0 + b;
        if (outside(x, y, width, height)) return stop(r, s, seen, i, k0, unsorted, kOutOfSensor);
        o.x[k] = int16_t(x);
        o.y[k] = int16_t(y);
        o.t[k] = t;
        o.p[k] = uint8_t(type);
        ++k;
      }
    } else if (type == 0x8) {
      set_time_high(s, int64_t((w >> 32) & 0x0FFFFFFF) << 6, seen);
      seen = true;
    } else if (type != 0xA && type != 0xE && type != 0xF) {
      return stop(r, s, seen, i, k, unsorted, kBadWordType);
    }
  }
  return stop(r, s, seen, i, k, unsorted);
}

// EVT 3.0: 16-bit words, type = w >> 12.
//   0x0 ADDR_Y: y = w & 0x7FF              0x2 ADDR_X: x = w & 0x7FF, p = bit 11 -> one event
//   0x3 VECT_BASE_X: base x and p          0x4 VECT_12 / 0x5 VECT_8: events at base + i for
//                                           each set mask bit i, then base += 12 / 8
//   0x6 TIME_LOW: 12 bits                  0x8 TIME_HIGH: 12 bits
//   time = TIME_HIGH << 12 | TIME_LOW (24 bits); TIME_HIGH going down is a wrap: + 2^24.
//   0x7 CONTINUED_4, 0xA EXT_TRIGGER, 0xE OTHERS, 0xF CONTINUED_12: skipped.
DecodeResult decode_evt3(const uint8_t* d, int64_t n, DecodeState& s, const DecodeOutput& o,
                         int64_t width, int64_t height) {
  DecodeResult r;
  int64_t k = 0;
  bool seen = s.flags & 1;
  int64_t t = s.epoch + (s.time_high << 12) + s.time_low;
  int64_t y = s.y, base_x = s.base_x;
  uint8_t base_p = uint8_t(s.base_p);
  const bool check = width > 0;
  bool unsorted = false;
  int64_t last_t = INT64_MIN;
  int64_t i = 0;
  auto save = [&]() {
    s.y = y;
    s.base_x = base_x;
    s.base_p = base_p;
    s.flags = seen;
  };
  for (; i + 2 <= n; i += 2) {
    const uint32_t w = load_le16(d + i);
    const uint32_t type = w >> 12;
    // Fast path for the three common words (ADDR_Y, ADDR_X, TIME_LOW), without branches
    // between them: the event is written speculatively at slot k and only counted for an
    // ADDR_X. Needs room for that write and, when bounds are checked, a valid pixel.
    if ((type == 0x0 || type == 0x2 || type == 0x6) && k < o.capacity &&
        (!check || type != 0x2 || ((w & 0x7FF) < width && y < height))) {
      const int64_t v = w & 0x7FF;
      o.x[k] = int16_t(v);
      o.y[k] = int16_t(y);
      o.t[k] = t;
      o.p[k] = uint8_t((w >> 11) & 1);
      const bool emit = (type == 0x2) & seen;
      k += emit;
      unsorted |= emit & (t < last_t);  // order check folded in
      last_t = emit ? t : last_t;
      y = type == 0x0 ? v : y;
      if (type == 0x6) {
        s.time_low = w & 0xFFF;
        t = s.epoch + (s.time_high << 12) + s.time_low;
      }
      continue;
    }
    switch (type) {
      case 0x0: y = w & 0x7FF; break;
      case 0x2: {
        if (!seen) break;
        if (k >= o.capacity) goto done;
        const int64_t x = w & 0x7FF;
        if (check && (x >= width || y >= height)) {
          save();
          r.n_events = k;
          return fail(r, i, kOutOfSensor);
        }
        o.x[k] = int16_t(x);
        o.y[k] = int16_t(y);
        o.t[k] = t;
        o.p[k] = uint8_t((w >> 11) & 1);
        unsorted |= t < last_t;
        last_t = t;
        ++k;
        break;
      }
      case 0x3:
        base_x = w & 0x7FF;
        base_p = uint8_t((w >> 11) & 1);
        break;
      case 0x4:
      case 0x5: {
        const bool v12 = (w >> 12) == 0x4;
        uint32_t mask = w & (v12 ? 0xFFF : 0xFF);
        if (seen) {
          if (k + popcount32(mask) > o.capacity) goto done;
          // the vector's last pixel decides the bounds check for all of it
          if (check && mask && (base_x + 31 - __builtin_clz(mask) >= width || y >= height)) {
            save();
            r.n_events = k;
            return fail(r, i, kOutOfSensor);
          }
          if (mask) {
            unsorted |= t < last_t;
            last_t = t;
          }
          while (mask) {
            const int b = __builtin_ctz(mask);
            mask &= mask - 1;
            o.x[k] = int16_t(base_x + b);
            o.y[k] = int16_t(y);
            o.t[k] = t;
            o.p[k] = base_p;
            ++k;
          }
        }
        base_x += v12 ? 12 : 8;
        if (base_x > 0x7FFF - 32) base_x = 0x7FFF - 32;  // garbage input: keep x in int16
        break;
      }
      case 0x6:
        s.time_low = w & 0xFFF;
        t = s.epoch + (s.time_high << 12) + s.time_low;
        break;
      case 0x8: {
        const int64_t high = w & 0xFFF;
        if (seen && high < s.time_high) s.epoch += int64_t(1) << 24;  // 24-bit counter wrap
        s.time_high = high;
        seen = true;
        t = s.epoch + (s.time_high << 12) + s.time_low;
        break;
      }
      case 0x7:
      case 0xA:
      case 0xE:
      case 0xF: break;
      default:
        save();
        r.n_events = k;
        return fail(r, i, kBadWordType);
    }
  }
done:
  save();
  r.consumed = i;
  r.n_events = k;
  r.unsorted = unsorted;
  return r;
}

}  // namespace ezsr
