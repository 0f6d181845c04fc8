// HTTP/1.1 message heads: a zero-copy, incremental, strict parser for requests (client side)
// and responses (app side) of the flycast `http` handler.
//
// Ownership: every string_view in a RequestHead / ResponseHead points into the caller's
// buffer. They are valid only after Parse() returned kDone and only while that buffer is
// neither moved nor modified. Between kIncomplete calls the caller may move or grow the
// buffer freely: the parser keeps offsets, never pointers.
//
// Incremental contract: call Parse(data) with ALL bytes received so far for this message
// (data[0] = first byte of the head, leading empty lines allowed). It scans only the bytes
// it has not seen before for the end of the head, so feeding n bytes one by one costs O(n)
// in total, then parses the complete head once. kDone reports `consumed` = head length;
// the body (if any) and pipelined requests follow at data[consumed]. Reset() before the
// next message (or construct a new parser: it is a few words).
//
// Strictness (request smuggling, RFC 9112): CRLF line ends only (bare LF or bare CR -> 400),
// obs-fold -> 400, whitespace between field name and colon -> 400, invalid token chars ->
// 400, control chars in values -> 400, Content-Length together with Transfer-Encoding ->
// 400, conflicting Content-Length values -> 400 (identical duplicates are accepted),
// Transfer-Encoding in HTTP/1.0 -> 400, chunked not last -> 400, other transfer codings ->
// 501, version other than HTTP/1.0 or HTTP/1.1 -> 505, missing or duplicate Host in 1.1 ->
// 400, head over the byte limit or too many fields -> 431. See docs/adr/0002-http1-parser.md.
//
// Responses: malformed heads and ambiguous framing are kError with status 502 (bad gateway);
// framing follows RFC 9112 §6.3 (HEAD, 1xx, 204, 304, CONNECT 2xx, 101, close-delimited).
//
// Memory: a parser is 40 bytes and can live in each connection; a RequestHead/ResponseHead
// holds the fixed header array (~4 KiB): keep one per worker and fill it when a head is
// complete (Parse writes `out` only once the whole head is there: never while kIncomplete),
// not one per idle connection. ChunkedFramer is 32 bytes.
//
// Typical use in a worker (one RequestHead per worker, one RequestParser per connection):
//   ParseResult r = conn.parser.Parse(conn.in.readable(), &worker.head);
//   if (r.incomplete()) wait for more bytes (408 after the header timeout);
//   if (r.error()) write ErrorResponse(r.error_status) (rewrite.h) and close;
//   else RewriteRequest(worker.head, facts, out) -> upstream; consume r.consumed bytes;
//        body per head.framing (content_length bytes, or ChunkedFramer until kDone);
//        conn.parser.Reset() before the next request (pipelined bytes may already be there).
//
// Thread-safety: a parser and its heads are plain values used by one worker thread.
// No exceptions, no allocation, no blocking.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace privcast::codec {

// Compile-time capacity of the header array; ParseLimits::max_headers may lower it.
inline constexpr size_t kMaxHeaders = 100;

// Fields the proxy cares about, recognised once during the parse (case-insensitive).
enum class HeaderKind : uint8_t {
  kOther = 0,
  kHost,
  kContentLength,
  kTransferEncoding,
  kConnection,
  kKeepAlive,
  kProxyConnection,
  kTe,
  kUpgrade,
  kExpect,
  kVia,
  kServer,
  kXForwardedFor,
  kXForwardedProto,
  kXForwardedPort,
  kXForwardedSsl,
  kXRequestStart,
  kFlyClientIp,
  kFlyForwardedPort,
  kFlyRegion,
  kFlyRequestId,
  kFlyPreferRegion,
  kFlyForceRegion,
  kFlyPreferInstanceId,
  kFlyForceInstanceId,
  kFlyReplaySrc,  // set by the proxy on a replayed request (proxy/replay.h): a client's copy is dropped
};

struct Header {
  std::string_view name;   // as received (case preserved), a valid token
  std::string_view value;  // leading/trailing SP/HTAB trimmed; may be empty
  HeaderKind kind = HeaderKind::kOther;
  // True when this field is hop-by-hop for this message: Connection, Keep-Alive,
  // Proxy-Connection, TE, Upgrade, and every field named by a Connection token.
  bool hop_by_hop = false;
};

// How the message body is delimited (RFC 9112 §6.3).
enum class Framing : uint8_t {
  kNone,            // no body
  kContentLength,   // exactly content_length bytes
  kChunked,         // chunked; feed the body to ChunkedFramer
  kCloseDelimited,  // responses only: body runs until the app closes the connection
  kTunnel,          // responses only: 101 Switching Protocols / 2xx to CONNECT; bytes flow both ways
};

enum class ParseStatus : uint8_t { kDone, kIncomplete, kError };

struct ParseResult {
  ParseStatus status = ParseStatus::kIncomplete;
  uint16_t error_status = 0;  // kError: 400, 431, 501, 505 (requests) or 502 (responses)
  size_t consumed = 0;        // kDone: bytes of the head, including leading empty lines
  const char* reason = "";    // kError: short static text for logs ("bare CR in header")

  bool done() const { return status == ParseStatus::kDone; }
  bool incomplete() const { return status == ParseStatus::kIncomplete; }
  bool error() const { return status == ParseStatus::kError; }
};

struct ParseLimits {
  size_t max_head_bytes = 16 * 1024;  // whole head incl. CRLFCRLF; over it -> 431 (502 responses)
  size_t max_headers = kMaxHeaders;   // clamped to kMaxHeaders; over it -> 431
};

enum class Method : uint8_t { kOther, kGet, kHead, kPost, kPut, kDelete, kOptions, kPatch, kConnect, kTrace };

struct RequestHead {
  std::string_view method;  // token, case-sensitive as received
  Method method_id = Method::kOther;
  std::string_view target;        // request-target as received (origin/absolute/authority/*)
  std::string_view request_line;  // "GET / HTTP/1.1" without CRLF
  uint8_t version_minor = 1;      // HTTP/1.<minor>, 0 or 1
  uint16_t header_count = 0;
  std::array<Header, kMaxHeaders> headers;
  size_t head_len = 0;    // same as ParseResult::consumed
  size_t head_start = 0;  // offset of the request line (after leading empty lines)

  Framing framing = Framing::kNone;  // kNone, kContentLength or kChunked
  uint64_t content_length = 0;       // when framing == kContentLength
  bool keep_alive = true;            // client wants the connection kept after this exchange
  bool expect_continue = false;      // Expect: 100-continue
  bool upgrade = false;              // Upgrade field present and Connection lists "upgrade"
  bool websocket = false;            // upgrade and the Upgrade list names "websocket"
  std::string_view host;             // Host field value (empty if absent, e.g. HTTP/1.0)
  // Routing headers (empty if absent); the rewriter forwards them unchanged.
  std::string_view fly_prefer_region, fly_force_region, fly_prefer_instance_id, fly_force_instance_id;

  // First field with this name (case-insensitive), or nullptr.
  const Header* Find(std::string_view name) const;
};

struct ResponseHead {
  std::string_view status_line;  // "HTTP/1.1 200 OK" without CRLF
  uint16_t status = 0;           // 100..999
  std::string_view reason;
  uint8_t version_minor = 1;
  uint16_t header_count = 0;
  std::array<Header, kMaxHeaders> headers;
  size_t head_len = 0;

  Framing framing = Framing::kNone;
  uint64_t content_length = 0;
  bool keep_alive = true;  // the app keeps the connection after this response
  bool informational() const { return status >= 100 && status < 200 && status != 101; }

  const Header* Find(std::string_view name) const;
};

// Offsets a parser remembers between kIncomplete calls (never pointers).
struct HeadScanState {
  size_t scanned = 0;      // bytes already searched for the end of the head
  size_t start = 0;        // first byte after leading empty lines
  bool seen_line = false;  // the start line has been terminated (and checked)
};

class RequestParser {
 public:
  explicit RequestParser(const ParseLimits& limits = {});
  // data: all bytes of this message received so far (see the contract above).
  ParseResult Parse(std::string_view data, RequestHead* out);
  void Reset() { scan_ = {}; }

 private:
  ParseLimits limits_;
  HeadScanState scan_;
};

// What the response framing depends on besides the response itself.
struct ResponseContext {
  Method request_method = Method::kGet;  // kHead -> no body; kConnect + 2xx -> tunnel
};

class ResponseParser {
 public:
  explicit ResponseParser(const ParseLimits& limits = {});
  // Same contract as RequestParser::Parse. A 1xx (other than 101) is kDone with
  // informational() true and framing kNone: forward it and parse the next head.
  ParseResult Parse(std::string_view data, const ResponseContext& ctx, ResponseHead* out);
  void Reset() { scan_ = {}; }

 private:
  ParseLimits limits_;
  HeadScanState scan_;
};

// Case-insensitive ASCII comparison; exposed for the engine and tests.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);
// True if the comma-separated list `value` contains `token` (case-insensitive, OWS-trimmed).
bool ListContainsToken(std::string_view value, std::string_view token);

}  // namespace privcast::codec
