// Event file decoders: byte blocks of Prophesee EVT 2.0 / 2.1 / 3.0 .raw, Prophesee .dat,
// jAER AEDAT 2.0 and N-MNIST 40-bit .bin into columns x, y, t, p. Torch-free.
//
// Streaming contract (every decoder):
//   * the caller passes the bytes after the file header, block by block, and one
//     DecodeState that carries what a format remembers between words (EVT3 time/row/vector
//     base, EVT2 time high, wrap counters) from one block to the next;
//   * a decoder consumes whole words only and stops early, without writing past `capacity`,
//     when the next word could produce more events than fit; DecodeResult::consumed says
//     how far it got, so the caller keeps the rest (an incomplete word, or the words not yet
//     decoded) for the next call;
//   * any bytes are safe: reads are bounds-checked, every shift is on unsigned values, and a
//     word that the format does not allow stops the decoder with an error code and the
//     offset of that word within the block (never a crash, never silently wrong output).
#pragma once
#include <cstdint>

namespace ezsr {

enum class DecodeKind : int32_t {
  EVT2 = 0,           // Prophesee EVT 2.0: 32-bit LE words
  EVT21 = 1,          // Prophesee EVT 2.1: 64-bit LE words, 32-pixel vectors
  EVT3 = 2,           // Prophesee EVT 3.0: 16-bit LE words, 12/8-pixel vectors
  DAT = 3,            // Prophesee .dat CD: u32 t, u32 (x | y << 14 | p << 28), LE
  AEDAT2_DVS128 = 4,  // jAER AEDAT 2.0: BE i32 address, BE i32 t; DVS128 as jAER reads it
                      // (ON = 1 - bit 0, x = 127 - raw x, sync/special events skipped)
  AEDAT2_DAVIS = 5,   // jAER AEDAT 2.0 with DAVIS address bits (APS/IMU/external skipped;
                      // x raw: the caller mirrors it with the chip width from the header)
  NMNIST = 6,         // N-MNIST / N-Caltech101: 5-byte records
  EVT21_LEGACY = 7,   // EVT 2.1 as IMX636 sends it: the 64-bit word's high 32-bit half
                      // first (each half little-endian); `% format EVT21;endianness=legacy`
  ES_DVS = 8,         // Event Stream 2.x DVS bytes (variable length: word = 1 byte)
  ES_ATIS = 9,        // Event Stream 2.x ATIS bytes; p = polarity | is_tc << 1
};

enum DecodeError : int32_t {
  kOk = 0,
  kBadWordType = 1,    // a word type the format does not define
  kOutOfSensor = 2,    // x >= width or y >= height of the header's sensor
  kTimeBackwards = 3,  // a timestamp earlier than the previous one (not a counter wrap)
  kBadKind = 4,        // unknown DecodeKind
};

// What a decoder carries between blocks; zero-initialise for a new file.
struct DecodeState {
  int64_t time_high = 0;  // EVT2/2.1: t_high << 6; EVT3: TIME_HIGH value (12 bits)
  int64_t time_low = 0;   // EVT3: TIME_LOW (12 bits)
  int64_t epoch = 0;      // time added for counter wraps (EVT3: 2^24 us each, DAT: 2^32 ...)
  int64_t y = 0;          // EVT3: last ADDR_Y
  int64_t base_x = 0;     // EVT3: vector base x (advances by 12 / 8 per vector word)
  int64_t base_p = 0;     // EVT3: vector polarity
  int64_t flags = 0;      // bit 0: a TIME_HIGH was seen (events before it are dropped)
  int64_t last_t = 0;     // last emitted timestamp (monotonicity / wrap detection)
};
static_assert(sizeof(DecodeState) == 8 * sizeof(int64_t), "DecodeState is 8 int64");

struct DecodeOutput {
  int16_t* x;
  int16_t* y;
  int64_t* t;
  uint8_t* p;
  int64_t capacity;  // room in each column
};

struct DecodeResult {
  int64_t consumed = 0;       // bytes of the block decoded (whole words)
  int64_t n_events = 0;       // events written
  int64_t error_offset = -1;  // byte offset in the block of the word that failed, or -1
  int32_t error = kOk;
  bool unsorted = false;   // an event of this call is earlier than the one before it
  bool need_more = false;  // stopped before an event that runs past the data (Event
                           // Stream): the caller carries the rest to the next block
};

// Size in bytes of one word (the decoder consumes multiples of it).
int64_t decode_word_size(DecodeKind kind);

// Upper bound on the events `n` bytes can produce (exact for the vector formats' masks).
int64_t decode_max_events(DecodeKind kind, const uint8_t* data, int64_t n);

// A cheap first guess of the output size (one event per word) that needs no pass over the
// data: exact bound for EVT2, DAT, AEDAT2, N-MNIST; for EVT3 exceeded only when vector words
// carry more than one event per word on average; -1 (no guess) for EVT 2.1.
int64_t decode_guess_events(DecodeKind kind, int64_t n);

// Decode data[0, n). width/height > 0 enable the sensor bounds check (kOutOfSensor).
DecodeResult decode_events(DecodeKind kind, const uint8_t* data, int64_t n, DecodeState& state,
                           const DecodeOutput& out, int64_t width, int64_t height);

// Human-readable name of an error code.
const char* decode_error_message(int32_t error);

}  // namespace ezsr
