// A small, strict HTTP/1.1 codec for privcast's control plane (the API on a Unix socket and
// its client, the CLI). Not the data-path parser: that one belongs to the proxy.
//
// Strictness: request line "METHOD SP origin-form SP HTTP/1.x", header names are tokens,
// no obs-fold, at most one Content-Length, request bodies by Content-Length only (chunked
// request bodies are refused with 501), bounded header and body sizes. Responses may be
// Content-Length, chunked or close-delimited.
//
// Everything here is a pure function or a value type; thread-safe as values are.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace privcast::api::http {

using Headers = std::vector<std::pair<std::string, std::string>>;  // names lower-cased

struct Request {
  std::string method;
  std::string target;                                      // as sent
  std::string path;                                        // target before '?', not decoded
  std::vector<std::pair<std::string, std::string>> query;  // decoded
  Headers headers;
  std::string body;
  bool keep_alive = true;

  const std::string* Header(std::string_view lower_name) const;
  const std::string* Query(std::string_view name) const;
};

struct ParseLimits {
  size_t max_header_bytes = 16 * 1024;
  size_t max_body_bytes = 1024 * 1024;
};

struct ParseResult {
  enum class Kind { kIncomplete, kOk, kError };
  Kind kind = Kind::kIncomplete;
  size_t consumed = 0;  // kOk: bytes of buf that made up the request
  int status = 0;       // kError: the HTTP status to answer (400, 413, 431, 501, 505)
  std::string error;    // kError: what was wrong
};

// Parses one request from the front of `buf`. kIncomplete: read more and call again with
// the grown buffer. kError: answer `status` and close the connection.
ParseResult ParseRequest(std::string_view buf, const ParseLimits& limits, Request* out);

// "%2F" etc. decoding; '+' stays '+' (paths) unless plus_is_space (queries). nullopt on a
// malformed escape.
std::optional<std::string> PercentDecode(std::string_view s, bool plus_is_space);
std::string PercentEncode(std::string_view s);  // everything but unreserved characters
// "/v1/apps/web/machines" → {"v1","apps","web","machines"} (decoded); nullopt when malformed.
std::optional<std::vector<std::string>> SplitPath(std::string_view path);

const char* ReasonPhrase(int status);

// A complete response with Content-Length.
std::string SerializeResponse(int status, std::string_view content_type, std::string_view body, bool keep_alive,
                              const Headers& extra = {});
// The head of a chunked response; then EncodeChunk(...) per piece and EncodeChunk("") last.
std::string SerializeChunkedHead(int status, std::string_view content_type);
std::string EncodeChunk(std::string_view data);

// ---- client side ----

struct ResponseHead {
  int status = 0;
  Headers headers;
  bool chunked = false;
  std::optional<size_t> content_length;
  bool keep_alive = true;
  const std::string* Header(std::string_view lower_name) const;
};

// Parses a response head from the front of buf: kOk sets consumed to the head's length.
ParseResult ParseResponseHead(std::string_view buf, size_t max_header_bytes, ResponseHead* out);

// Incremental chunked-body decoder. Feed() appends decoded data to *out and returns false on
// malformed input; done() once the last chunk (and trailers) have been read.
class ChunkedDecoder {
 public:
  bool Feed(std::string_view in, std::string* out);
  bool done() const { return state_ == State::kDone; }

 private:
  enum class State { kSize, kData, kDataCrlf, kTrailer, kDone };
  State state_ = State::kSize;
  std::string line_;
  uint64_t remaining_ = 0;
};

}  // namespace privcast::api::http
