// ChunkedFramer: finds where a chunked message body (RFC 9112 §7.1) ends, without
// de-chunking it. The proxy forwards the body bytes exactly as received; it only needs to
// know when the message (last chunk and trailer section) is complete so the connection can
// carry the next message.
//
// Feed() takes any slice of the body (one byte, a partial chunk, several chunks, or the body
// followed by the next pipelined request) and reports how many bytes of the slice belong to
// the body, how many of those are chunk data, and whether the body has ended. After kDone,
// bytes past `consumed` belong to the next message.
//
// Bounded and strict: chunk-size is 1..16 hex digits without overflow; the whole chunk-size
// line (extensions included) is at most max_line bytes; the trailer section at most
// max_trailer bytes; lines end in CRLF (bare CR or bare LF -> error); the CRLF after chunk
// data is mandatory. Errors are final: a request gets 400 and the connection is closed.
//
// Thread-safety: a plain value owned by one connection. A few words of state, no allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace privcast::codec {

struct ChunkedLimits {
  uint32_t max_line = 4096;      // chunk-size line incl. extensions and CRLF
  uint32_t max_trailer = 16384;  // trailer section incl. the final CRLF
};

class ChunkedFramer {
 public:
  enum class Status : uint8_t { kMore, kDone, kError };
  struct Result {
    Status status = Status::kMore;
    size_t consumed = 0;      // bytes of the slice that belong to the body (all of it on kMore)
    size_t data_bytes = 0;    // of those, chunk payload bytes (the rest is framing)
    const char* reason = "";  // kError: static text for logs
  };

  explicit ChunkedFramer(const ChunkedLimits& limits = {}) : limits_(limits) {}

  Result Feed(std::string_view slice);
  bool done() const { return state_ == State::kDone; }
  bool failed() const { return state_ == State::kError; }
  // Payload bytes still expected in the current chunk (0 between chunks). Lets the engine
  // splice/forward data in bulk without feeding it byte by byte.
  uint64_t remaining_in_chunk() const { return state_ == State::kData ? remaining_ : 0; }
  void Reset() { *this = ChunkedFramer(limits_); }

 private:
  enum class State : uint8_t {
    kSize,          // reading hex digits (at least one seen when digits_ > 0)
    kSizeWs,        // BWS after the digits, before ';' or CR
    kExt,           // inside chunk extensions, until CR
    kSizeLf,        // saw CR after the size line, expect LF
    kData,          // remaining_ payload bytes to go
    kDataCr,        // expect CR after the data
    kDataLf,        // expect LF after the data
    kTrailerStart,  // start of a trailer line (or the final CRLF)
    kTrailerLine,   // inside a trailer field line
    kTrailerLf,     // saw CR inside the trailer section, expect LF
    kFinalLf,       // saw CR of the final empty line, expect LF
    kDone,
    kError,
  };
  Result Fail(Result r, const char* why);

  ChunkedLimits limits_;
  State state_ = State::kSize;
  uint8_t digits_ = 0;
  uint32_t line_len_ = 0;     // bytes of the current size line so far
  uint32_t trailer_len_ = 0;  // bytes of the trailer section so far
  uint64_t remaining_ = 0;
};

}  // namespace privcast::codec
