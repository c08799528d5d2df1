// Helpers private to the decoders in csrc/core/decode_*.cpp.
#pragma once
#include <cstdint>
#include <cstring>

#include "ezsr/decode.h"

namespace ezsr {

// Unaligned loads by memcpy (no aliasing or alignment UB); byte order made explicit.
inline uint32_t load_le16(const uint8_t* p) { return uint32_t(p[0]) | (uint32_t(p[1]) << 8); }
inline uint32_t load_le32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap32(v);
#endif
  return v;
}
inline uint64_t load_le64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}
// EVT 2.1 "legacy" order: two little-endian 32-bit halves, the high half first.
inline uint64_t load_evt21_legacy(const uint8_t* p) {
  return (uint64_t(load_le32(p)) << 32) | load_le32(p + 4);
}
inline uint32_t load_be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}
inline int popcount32(uint32_t v) { return __builtin_popcount(v); }

DecodeResult decode_evt2(const uint8_t* d, int64_t n, DecodeState& s, const DecodeOutput& o,
                         int64_t width, int64_t height);
DecodeResult decode_evt21(const uint8_t* d, int64_t n, DecodeState& s, const DecodeOutput& o,
                          int64_t width, int64_t height, bool legacy);
DecodeResult decode_evt3(const uint8_t* d, int64_t n, DecodeState& s, const DecodeOutput& o,
                         int64_t width, int64_t height);
DecodeResult decode_es(DecodeKind kind, const uint8_t* d, int64_t n, DecodeState& s,
                       const DecodeOutput& o, int64_t width, int64_t height);
DecodeResult decode_records(DecodeKind kind, const uint8_t* d, int64_t n, DecodeState& s,
                            const DecodeOutput& o, int64_t width, int64_t height);

}  // namespace ezsr
