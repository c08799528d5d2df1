// Dispatch, word sizes and output bounds shared by the event file decoders.
#include "decode_internal.h"

namespace ezsr {

int64_t decode_word_size(DecodeKind kind) {
  switch (kind) {
    case DecodeKind::EVT2: return 4;
    case DecodeKind::EVT21:
    case DecodeKind::EVT21_LEGACY: return 8;
    case DecodeKind::EVT3: return 2;
    case DecodeKind::DAT: return 8;
    case DecodeKind::AEDAT2_DVS128:
    case DecodeKind::AEDAT2_DAVIS: return 8;
    case DecodeKind::NMNIST: return 5;
    case DecodeKind::ES_DVS:
    case DecodeKind::ES_ATIS: return 1;
  }
  return 0;
}

int64_t decode_guess_events(DecodeKind kind, int64_t n) {
  if (n <= 0) return 0;
  const int64_t ws = decode_word_size(kind);
  if (kind == DecodeKind::ES_DVS || kind == DecodeKind::ES_ATIS) return n / 5;  // 5 B/event
  return (kind == DecodeKind::EVT21 || kind == DecodeKind::EVT21_LEGACY)
             ? -1
             : n / ws;  // EVT3: exact unless vectors carry > 1/word
}

int64_t decode_max_events(DecodeKind kind, const uint8_t* data, int64_t n) {
  if (n <= 0) return 0;
  switch (kind) {
    case DecodeKind::EVT21:
    case DecodeKind::EVT21_LEGACY: {  // every event word carries a 32-bit validity mask
      int64_t total = 0;
      for (int64_t i = 0; i + 8 <= n; i += 8) {
        const uint64_t w =
            kind == DecodeKind::EVT21 ? load_le64(data + i) : load_evt21_legacy(data + i);
        if ((w >> 61) == 0) total += popcount32(uint32_t(w));  // types 0 and 1 only
      }
      return total;
    }
    case DecodeKind::EVT3: {  // ADDR_X: 1 event, VECT_12 / VECT_8: the mask's set bits
      int64_t total = 0;
      for (int64_t i = 0; i + 2 <= n; i += 2) {
        const uint32_t w = load_le16(data + i);
        const uint32_t type = w >> 12;
        total += type == 0x2   ? 1
                 : type == 0x4 ? popcount32(w & 0xFFF)
                 : type == 0x5 ? popcount32(w & 0xFF)
                               : 0;
      }
      return total;
    }
    case DecodeKind::ES_DVS:
    case DecodeKind::ES_ATIS: return n / 5;  // an event takes 5 bytes
    default: {
      const int64_t ws = decode_word_size(kind);
      return ws ? n / ws : 0;
    }
  }
}

DecodeResult decode_events(DecodeKind kind, const uint8_t* data, int64_t n, DecodeState& state,
                           const DecodeOutput& out, int64_t width, int64_t height) {
  if (n < 0) n = 0;
  switch (kind) {
    case DecodeKind::EVT2: return decode_evt2(data, n, state, out, width, height);
    case DecodeKind::EVT21: return decode_evt21(data, n, state, out, width, height, false);
    case DecodeKind::EVT21_LEGACY: return decode_evt21(data, n, state, out, width, height, true);
    case DecodeKind::EVT3: return decode_evt3(data, n, state, out, width, height);
    case DecodeKind::DAT:
    case DecodeKind::AEDAT2_DVS128:
    case DecodeKind::AEDAT2_DAVIS:
    case DecodeKind::NMNIST: return decode_records(kind, data, n, state, out, width, height);
    case DecodeKind::ES_DVS:
    case DecodeKind::ES_ATIS: return decode_es(kind, data, n, state, out, width, height);
  }
  DecodeResult r;
  r.error = kBadKind;
  r.error_offset = 0;
  return r;
}

const char* decode_error_message(int32_t error) {
  switch (error) {
    case kOk: return "ok";
    case kBadWordType: return "a word type the format does not define";
    case kOutOfSensor: return "an event outside the sensor size given in the header";
    case kTimeBackwards: return "a timestamp earlier than the previous event's";
    case kBadKind: return "an unknown decoder kind";
  }
  return "an unknown error";
}

}  // namespace ezsr
