// Event Stream 2.x (.es) DVS and ATIS event bytes (the format of neuromorphic-paris/
// event_stream, read by the `event_stream` package; byte layouts from its README, state
// machines as in its sepia.hpp handle_byte<type::dvs/atis>). Events are variable-length
// byte runs, so the "word" is one byte: the decoder stops before an event whose bytes run
// past the data (need_more) and the caller carries those bytes to the next block.
//
// DVS: 0xFF = overflow (t += 127), 0xFE = reset (skipped), else byte 0 = t_delta << 1 |
//      is_increase, then x (u16 LE), y (u16 LE). p = is_increase.
// ATIS: a byte with its top 6 bits set is an overflow (t += 63 * (b & 3); b & 3 == 0 is a
//      reset), else byte 0 = t_delta << 2 | polarity << 1 | is_tc, then x, y (u16 LE).
//      p out = polarity | is_tc << 1 (ezsr.io.es splits change detections, is_tc = 0, from
//      exposure threshold crossings, is_tc = 1).
// The state's last_t holds the running time (the sum of all deltas and overflows).
#include "decode_internal.h"

namespace ezsr {

DecodeResult decode_es(DecodeKind kind, const uint8_t* d, int64_t n, DecodeState& s,
                       const DecodeOutput& o, int64_t width, int64_t height) {
  DecodeResult r;
  const bool atis = kind == DecodeKind::ES_ATIS;
  int64_t t = s.last_t, i = 0, k = 0;
  while (i < n) {
    const uint32_t b = d[i];
    if (atis ? (b & 0xFC) == 0xFC : b >= 0xFE) {  // overflow or reset: one byte
      t += atis ? 63 * int64_t(b & 3) : (b == 0xFF ? 127 : 0);
      ++i;
      continue;
    }
    if (n - i < 5) {  // an event cut by the end of the data
      r.need_more = true;
      break;
    }
    if (k >= o.capacity) break;
    const int64_t x = load_le16(d + i + 1), y = load_le16(d + i + 3);
    if (width > 0 && (x >= width || y >= height)) {
      r.error = kOutOfSensor;
      r.error_offset = i;
      break;
    }
    t += atis ? (b >> 2) : (b >> 1);
    o.x[k] = int16_t(x);  // callers pass the header's sensor (<= 32767 wide) to bound x, y
    o.y[k] = int16_t(y);
    o.t[k] = t;
    o.p[k] = atis ? uint8_t(((b >> 1) & 1) | ((b & 1) << 1)) : uint8_t(b & 1);
    ++k;
    i += 5;
  }
  s.last_t = t;
  s.flags = (s.flags | (k > 0 ? 1 : 0));
  r.consumed = i;
  r.n_events = k;
  return r;
}

}  // namespace ezsr
