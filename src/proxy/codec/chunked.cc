// Chunked body framer: a byte-level state machine for the framing, and a bulk skip over
// chunk data so large chunks cost O(1) per Feed regardless of their size.
#include "proxy/codec/chunked.h"

namespace privcast::codec {
namespace {

inline int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Bytes allowed inside chunk extensions and trailer field lines: HTAB, SP, VCHAR, obs-text.
inline bool IsLineChar(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7f);
}

}  // namespace

ChunkedFramer::Result ChunkedFramer::Fail(Result r, const char* why) {
  state_ = State::kError;
  r.status = Status::kError;
  r.reason = why;
  return r;
}

// One byte-at-a-time state machine on the per-byte hot path: kept whole, read top to bottom.
// NOLINTNEXTLINE(readability-function-size): one state machine, read top to bottom
ChunkedFramer::Result ChunkedFramer::Feed(std::string_view in) {
  Result r;
  if (state_ == State::kDone) {
    r.status = Status::kDone;
    return r;
  }
  if (state_ == State::kError) return Fail(r, "framer already failed");
  const char* p = in.data();
  const char* const e = p + in.size();
  while (p < e) {
    if (state_ == State::kData) {
      uint64_t avail = static_cast<uint64_t>(e - p);
      uint64_t take = remaining_ < avail ? remaining_ : avail;
      p += take;
      r.data_bytes += take;
      remaining_ -= take;
      if (remaining_ == 0) state_ = State::kDataCr;
      continue;
    }
    const char c = *p++;
    switch (state_) {
      case State::kSize: {
        if (++line_len_ > limits_.max_line) return Fail(r, "chunk-size line too long");
        int v = HexValue(c);
        if (v >= 0) {
          if (digits_ == 16 || (digits_ > 0 && remaining_ > (UINT64_MAX >> 4))) return Fail(r, "chunk size too large");
          remaining_ = (remaining_ << 4) | static_cast<uint64_t>(v);
          ++digits_;
          break;
        }
        if (digits_ == 0) return Fail(r, "chunk size is not hex");
        if (c == ';') {
          state_ = State::kExt;
        } else if (c == ' ' || c == '\t') {
          state_ = State::kSizeWs;
        } else if (c == '\r') {
          state_ = State::kSizeLf;
        } else {
          return Fail(r, "invalid character after chunk size");
        }
        break;
      }
      case State::kSizeWs:
        if (++line_len_ > limits_.max_line) return Fail(r, "chunk-size line too long");
        if (c == ';') {
          state_ = State::kExt;
        } else if (c == '\r') {
          state_ = State::kSizeLf;
        } else if (c != ' ' && c != '\t') {
          return Fail(r, "invalid character after chunk size");
        }
        break;
      case State::kExt:
        if (++line_len_ > limits_.max_line) return Fail(r, "chunk-size line too long");
        if (c == '\r') {
          state_ = State::kSizeLf;
        } else if (!IsLineChar(c)) {
          return Fail(r, "invalid character in chunk extension");
        }
        break;
      case State::kSizeLf:
        if (c != '\n') return Fail(r, "bare CR in chunk-size line");
        line_len_ = 0;
        digits_ = 0;
        state_ = remaining_ == 0 ? State::kTrailerStart : State::kData;
        break;
      case State::kDataCr:
        if (c != '\r') return Fail(r, "missing CRLF after chunk data");
        state_ = State::kDataLf;
        break;
      case State::kDataLf:
        if (c != '\n') return Fail(r, "missing CRLF after chunk data");
        state_ = State::kSize;
        break;
      case State::kTrailerStart:
        if (++trailer_len_ > limits_.max_trailer) return Fail(r, "trailer section too large");
        if (c == '\r') {
          state_ = State::kFinalLf;
        } else if (c == ' ' || c == '\t') {
          return Fail(r, "obs-fold in trailer section");
        } else if (!IsLineChar(c)) {
          return Fail(r, "invalid character in trailer section");
        } else {
          state_ = State::kTrailerLine;
        }
        break;
      case State::kTrailerLine:
        if (++trailer_len_ > limits_.max_trailer) return Fail(r, "trailer section too large");
        if (c == '\r') {
          state_ = State::kTrailerLf;
        } else if (!IsLineChar(c)) {
          return Fail(r, "invalid character in trailer section");
        }
        break;
      case State::kTrailerLf:
        if (++trailer_len_ > limits_.max_trailer) return Fail(r, "trailer section too large");
        if (c != '\n') return Fail(r, "bare CR in trailer section");
        state_ = State::kTrailerStart;
        break;
      case State::kFinalLf:
        if (c != '\n') return Fail(r, "bare CR at end of chunked body");
        state_ = State::kDone;
        r.status = Status::kDone;
        r.consumed = static_cast<size_t>(p - in.data());
        return r;
      case State::kData:
      case State::kDone:
      case State::kError:
        break;  // handled above
    }
  }
  r.consumed = in.size();
  return r;
}

}  // namespace privcast::codec
