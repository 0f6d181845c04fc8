// Head rewriters: turn a parsed client request into the head sent to the app, and a parsed
// app response into the head sent to the client, in one pass into a caller-owned buffer.
//
// Request (client -> app): the original request line, then every field except hop-by-hop
// ones (Connection and the fields it names, Keep-Alive, Proxy-Connection, TE, Upgrade) and
// except the fields privcast owns (Fly-Client-IP, Fly-Forwarded-Port, Fly-Region,
// Fly-Request-Id, X-Forwarded-Proto, X-Forwarded-Port, X-Forwarded-SSL, X-Request-Start: a
// client cannot spoof them). List fields are extended, not replaced: X-Forwarded-For gets
// ", <client ip>" appended to its last line (or a new line), Via gets ", 1.1 privcast".
// Then the proxy's fields, in this order:
//   Fly-Client-IP: <client ip>
//   X-Forwarded-For: <client ip>            (only when the client sent none)
//   X-Forwarded-Proto: http|https
//   X-Forwarded-Port: <port>
//   X-Forwarded-SSL: on|off
//   Fly-Forwarded-Port: <port>
//   Fly-Region: <region>
//   Fly-Request-Id: <id>
//   Via: 1.1 privcast                       (only when the client sent none)
//   X-Request-Start: t=<microseconds since the Unix epoch>
//   Connection: upgrade + Upgrade kept       (WebSocket / upgrade requests)
//   Connection: keep-alive                   (HTTP/1.0 requests, so the app keeps the
//                                             upstream connection for reuse)
// Transfer-Encoding and Content-Length are forwarded unchanged: the body is forwarded as
// received. Via uses "1.1 privcast" (protocol version of the hop + pseudonym, RFC 9110
// §7.6.3); Fly writes "2 fly.io" because its edge speaks HTTP/2 — ours speaks HTTP/1.1.
//
// Response (app -> client): status line and fields minus hop-by-hop ones; unless pristine
// adds Fly-Request-Id, Via (appended) and Server: privcast (replacing the app's Server);
// applies configured overrides (set or remove by name, case-insensitive), then Connection:
// close / keep-alive as the client connection requires.
//
// Output: returns the number of bytes written, or 0 when `out` is too small (nothing
// useful was written; size it with the Max*Size() bound, which is never exceeded).
// Thread-safety: pure functions. No allocation, no exceptions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "proxy/codec/http1.h"

namespace privcast::codec {

inline constexpr std::string_view kViaToken = "1.1 privcast";
inline constexpr std::string_view kServerName = "privcast";

// Per-connection / per-request facts the proxy knows and the client cannot forge.
struct RequestFacts {
  std::string_view client_ip;    // textual, no brackets: "fdaa:0:1::5" or "10.0.0.1"
  uint16_t forwarded_port = 0;   // the port the client connected to (service external port)
  bool tls = false;              // client connection was TLS: proto https, ssl on
  std::string_view region;       // this host's region code, e.g. "ams"
  std::string_view request_id;   // Fly-Request-Id value
  int64_t request_start_us = 0;  // wall clock at the first byte of the request, µs since epoch
};

// Upper bound of RewriteRequest's output for this head and these facts.
size_t MaxRewrittenRequestSize(const RequestHead& head, const RequestFacts& facts);
size_t RewriteRequest(const RequestHead& head, const RequestFacts& facts, std::span<char> out);

struct HeaderOverride {
  std::string_view name;
  std::string_view value;
  bool remove = false;  // drop every field with this name instead of setting it
};

struct ResponseFacts {
  std::string_view request_id;
  bool pristine = false;                      // http_options.response.pristine
  std::span<const HeaderOverride> overrides;  // http_options.response.headers
  bool client_keep_alive = true;              // false: write "Connection: close" (proxy closes after)
  bool client_http10 = false;                 // client spoke HTTP/1.0: keep-alive must be explicit
  // Preformatted "Name: value\r\n" lines the proxy adds itself, written verbatim after the
  // overrides, e.g. "Fly-Preferred-Instance-Unavailable: 1\r\n". Trusted: never client input.
  std::string_view extra_fields;
};

size_t MaxRewrittenResponseSize(const ResponseHead& head, const ResponseFacts& facts);
// Set facts.client_keep_alive = false when the response is close-delimited or a tunnel
// refusal, or when the client asked for close: the proxy closes after the body.
size_t RewriteResponse(const ResponseHead& head, const ResponseFacts& facts, std::span<char> out);

// Complete responses the proxy answers itself (empty body, "Server: privcast"): 400, 403,
// 404, 408, 413, 417, 421, 431, 500, 501, 502, 503 (with "Retry-After: 1"), 504, 505; any
// other code gives the 500 response. close=true adds "Connection: close" (use it for every
// parse error: the stream cannot be resynchronised). Static storage, never freed.
std::string_view ErrorResponse(uint16_t status, bool close = true);
// Interim response for "Expect: 100-continue" when the proxy answers it itself.
inline constexpr std::string_view kContinueResponse = "HTTP/1.1 100 Continue\r\n\r\n";

}  // namespace privcast::codec
