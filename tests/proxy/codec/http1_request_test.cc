#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "proxy/codec/http1.h"

namespace privcast::codec {
namespace {

struct Parsed {
  ParseResult r;
  std::unique_ptr<RequestHead> head = std::make_unique<RequestHead>();
};

Parsed ParseOnce(std::string_view s, ParseLimits limits = {}) {
  Parsed p;
  RequestParser parser(limits);
  p.r = parser.Parse(s, p.head.get());
  return p;
}

// Feeds a growing prefix one byte at a time (buffer reallocated at each step to prove that
// the parser keeps no pointers between calls).
Parsed ParseByteByByte(std::string_view s, ParseLimits limits = {}) {
  Parsed p;
  RequestParser parser(limits);
  for (size_t n = 1; n <= s.size(); ++n) {
    auto copy = std::make_unique<std::string>(s.substr(0, n));
    p.r = parser.Parse(*copy, p.head.get());
    if (!p.r.incomplete()) {
      if (p.r.done()) {
        // Re-parse in the original buffer so the views point into live memory.
        RequestParser again(limits);
        p.r = again.Parse(s, p.head.get());
      }
      return p;
    }
  }
  return p;
}

uint16_t Status(std::string_view s) {
  Parsed p = ParseOnce(s);
  EXPECT_TRUE(p.r.error()) << s;
  return p.r.error_status;
}

TEST(Http1Request, ParsesCurlRequest) {
  const std::string req =
      "GET /index.html?x=1 HTTP/1.1\r\n"
      "Host: app.flycast\r\n"
      "User-Agent: curl/7.88.1\r\n"
      "Accept: */*\r\n"
      "\r\n";
  Parsed p = ParseOnce(req);
  ASSERT_TRUE(p.r.done()) << p.r.reason;
  EXPECT_EQ(p.r.consumed, req.size());
  const RequestHead& h = *p.head;
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.method_id, Method::kGet);
  EXPECT_EQ(h.target, "/index.html?x=1");
  EXPECT_EQ(h.request_line, "GET /index.html?x=1 HTTP/1.1");
  EXPECT_EQ(h.version_minor, 1);
  ASSERT_EQ(h.header_count, 3);
  EXPECT_EQ(h.headers[0].name, "Host");
  EXPECT_EQ(h.headers[0].value, "app.flycast");
  EXPECT_EQ(h.headers[0].kind, HeaderKind::kHost);
  EXPECT_EQ(h.headers[1].name, "User-Agent");
  EXPECT_EQ(h.headers[1].value, "curl/7.88.1");
  EXPECT_EQ(h.headers[2].kind, HeaderKind::kOther);
  EXPECT_EQ(h.host, "app.flycast");
  EXPECT_EQ(h.framing, Framing::kNone);
  EXPECT_TRUE(h.keep_alive);
  EXPECT_FALSE(h.expect_continue);
  EXPECT_FALSE(h.upgrade);
  // Views point into the caller's buffer: zero copy.
  EXPECT_GE(h.target.data(), req.data());
  EXPECT_LT(h.target.data(), req.data() + req.size());
  ASSERT_NE(h.Find("user-agent"), nullptr);
  EXPECT_EQ(h.Find("USER-AGENT")->value, "curl/7.88.1");
  EXPECT_EQ(h.Find("x-missing"), nullptr);
}

TEST(Http1Request, IncompleteUntilBlankLine) {
  RequestParser parser;
  RequestHead h;
  EXPECT_TRUE(parser.Parse("GET / HTTP/1.1\r\nHost: a\r\n", &h).incomplete());
  EXPECT_TRUE(parser.Parse("GET / HTTP/1.1\r\nHost: a\r\n\r", &h).incomplete());
  ParseResult r = parser.Parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n", &h);
  ASSERT_TRUE(r.done());
  EXPECT_EQ(r.consumed, 27u);
}

TEST(Http1Request, TrimsOwsAndAllowsEmptyValues) {
  Parsed p = ParseOnce("GET / HTTP/1.1\r\nHost:a\r\nX-A: \t v  w \t\r\nX-Empty:\r\nX-E2:   \r\n\r\n");
  ASSERT_TRUE(p.r.done()) << p.r.reason;
  EXPECT_EQ(p.head->headers[0].value, "a");
  EXPECT_EQ(p.head->headers[1].value, "v  w");
  EXPECT_EQ(p.head->headers[2].value, "");
  EXPECT_EQ(p.head->headers[3].value, "");
}

TEST(Http1Request, ObsTextAllowedInValues) {
  Parsed p = ParseOnce("GET / HTTP/1.1\r\nHost: a\r\nX-Utf8: caf\xc3\xa9 \x80\xff\r\n\r\n");
  ASSERT_TRUE(p.r.done()) << p.r.reason;
  EXPECT_EQ(p.head->headers[1].value, "caf\xc3\xa9 \x80\xff");
}

TEST(Http1Request, SkipsLeadingEmptyLines) {
  const std::string req = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
  Parsed p = ParseOnce(req);
  ASSERT_TRUE(p.r.done()) << p.r.reason;
  EXPECT_EQ(p.r.consumed, req.size());
  EXPECT_EQ(p.head->head_start, 4u);
  EXPECT_EQ(p.head->method, "GET");
  Parsed q = ParseByteByByte(req);
  ASSERT_TRUE(q.r.done());
  EXPECT_EQ(q.r.consumed, req.size());
}

TEST(Http1Request, PipelinedRequestsInOneBuffer) {
  const std::string a = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string b = "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
  const std::string c = "GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  const std::string buf = a + b + c;
  std::string_view rest = buf;
  RequestHead h;
  RequestParser parser;

  ParseResult r = parser.Parse(rest, &h);
  ASSERT_TRUE(r.done());
  EXPECT_EQ(h.target, "/a");
  EXPECT_EQ(r.consumed, a.size());
  rest.remove_prefix(r.consumed);

  parser.Reset();
  r = parser.Parse(rest, &h);
  ASSERT_TRUE(r.done());
  EXPECT_EQ(h.target, "/b");
  EXPECT_EQ(h.framing, Framing::kContentLength);
  EXPECT_EQ(h.content_length, 5u);
  rest.remove_prefix(r.consumed);
  EXPECT_EQ(rest.substr(0, 5), "hello");
  rest.remove_prefix(h.content_length);

  parser.Reset();
  r = parser.Parse(rest, &h);
  ASSERT_TRUE(r.done());
  EXPECT_EQ(h.target, "/c");
  EXPECT_FALSE(h.keep_alive);
  EXPECT_EQ(r.consumed, rest.size());
}

// A representative set of valid and invalid requests: byte-by-byte == one shot.
const char* const kSamples[] = {
    "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET / HTTP/1.0\r\n\r\n",
    "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n z\r\n\r\n",
    "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
    "GET / HTTP/2.0\r\nHost: a\r\n\r\n",
    "GET / HTTP/1.1\nHost: a\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n",
    "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
};

TEST(Http1Request, ByteByByteEqualsOneShot) {
  for (const char* s : kSamples) {
    std::string req(s);
    Parsed one = ParseOnce(req);
    Parsed inc = ParseByteByByte(req);
    EXPECT_EQ(one.r.status, inc.r.status) << req;
    EXPECT_EQ(one.r.error_status, inc.r.error_status) << req;
    EXPECT_EQ(one.r.consumed, inc.r.consumed) << req;
    if (one.r.done()) {
      EXPECT_EQ(one.head->header_count, inc.head->header_count);
      EXPECT_EQ(one.head->framing, inc.head->framing);
      EXPECT_EQ(one.head->keep_alive, inc.head->keep_alive);
    }
  }
}

TEST(Http1Request, RandomSplitsEqualOneShot) {
  const std::string req =
      "PUT /upload HTTP/1.1\r\nHost: app.flycast:8080\r\nContent-Length: 10\r\n"
      "Expect: 100-continue\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n0123456789";
  Parsed one = ParseOnce(req);
  ASSERT_TRUE(one.r.done());
  std::mt19937 rng(42);
  for (int iter = 0; iter < 200; ++iter) {
    RequestParser parser;
    RequestHead h;
    size_t n = 0;
    ParseResult r;
    while (true) {
      n = std::min(req.size(), n + 1 + rng() % 17);
      std::string copy = req.substr(0, n);
      r = parser.Parse(copy, &h);
      if (!r.incomplete() || n == req.size()) break;
    }
    ASSERT_TRUE(r.done());
    EXPECT_EQ(r.consumed, one.r.consumed);
  }
}

TEST(Http1Request, KeepAliveRules) {
  EXPECT_TRUE(ParseOnce("GET / HTTP/1.1\r\nHost: a\r\n\r\n").head->keep_alive);
  EXPECT_FALSE(ParseOnce("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").head->keep_alive);
  EXPECT_FALSE(ParseOnce("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, CLOSE\r\n\r\n").head->keep_alive);
  EXPECT_FALSE(ParseOnce("GET / HTTP/1.0\r\n\r\n").head->keep_alive);
  EXPECT_TRUE(ParseOnce("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").head->keep_alive);
  EXPECT_FALSE(ParseOnce("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n").head->keep_alive);
  Parsed p = ParseOnce("GET / HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(p.r.done());
  EXPECT_EQ(p.head->version_minor, 0);
  EXPECT_EQ(p.head->host, "");
}

TEST(Http1Request, ConnectionTokensMarkHopByHop) {
  Parsed p = ParseOnce(
      "GET / HTTP/1.1\r\nHost: a\r\nConnection: x-secret, keep-alive, content-length\r\n"
      "X-Secret: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\n"
      "X-Other: 2\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(p.r.done()) << p.r.reason;
  const RequestHead& h = *p.head;
  EXPECT_TRUE(h.Find("Connection")->hop_by_hop);
  EXPECT_TRUE(h.Find("X-Secret")->hop_by_hop);
  EXPECT_TRUE(h.Find("Keep-Alive")->hop_by_hop);
  EXPECT_TRUE(h.Find("TE")->hop_by_hop);
  EXPECT_TRUE(h.Find("Proxy-Connection")->hop_by_hop);
  EXPECT_FALSE(h.Find("X-Other")->hop_by_hop);
  // Framing fields are never stripped by a Connection token.
  EXPECT_FALSE(h.Find("Content-Length")->hop_by_hop);
  EXPECT_FALSE(h.Find("Host")->hop_by_hop);
}

TEST(Http1Request, Framing) {
  Parsed p = ParseOnce("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n");
  ASSERT_TRUE(p.r.done());
  EXPECT_EQ(p.head->framing, Framing::kContentLength);
  EXPECT_EQ(p.head->content_length, 42u);

  p = ParseOnce("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\ncontent-length: 42\r\n\r\n");
  ASSERT_TRUE(p.r.done()) << "identical duplicates are accepted";
  EXPECT_EQ(p.head->content_length, 42u);
  p = ParseOnce("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7, 7\r\n\r\n");
  ASSERT_TRUE(p.r.done());
  EXPECT_EQ(p.head->content_length, 7u);

  p = ParseOnce("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
  ASSERT_TRUE(p.r.done());
  EXPECT_EQ(p.head->framing, Framing::kChunked);
  p = ParseOnce("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \t CHUNKED \r\n\r\n");
  ASSERT_TRUE(p.r.done());
  EXPECT_EQ(p.head->framing, Framing::kChunked);
  p = ParseOnce("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(p.r.done());
  EXPECT_EQ(p.head->framing, Framing::kContentLength);
  EXPECT_EQ(p.head->content_length, 0u);
}

TEST(Http1Request, SmugglingRejected) {
  // CL + TE (CL.TE / TE.CL desync).
  EXPECT_EQ(Status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
  EXPECT_EQ(Status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"), 400);
  // Conflicting Content-Length.
  EXPECT_EQ(Status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), 400);
  EXPECT_EQ(Status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n"), 400);
  EXPECT_EQ(Status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n"), 400);
  EXPECT_EQ(Status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n"), 400);
  EXPECT_EQ(Status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n"), 400);
  EXPECT_EQ(Status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n"), 400);
  EXPECT_EQ(Status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n"), 400);
  // obs-fold.
  EXPECT_EQ(Status("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n"), 400);
  EXPECT_EQ(Status("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n"), 400);
  EXPECT_EQ(Status("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), 400);
  // Whitespace before colon.
  EXPECT_EQ(Status("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n"), 400);
  EXPECT_EQ(Status("GET / HTTP/1.1\r\nHost: a\r\nContent-Length\t: 1\r\n\r\n"), 400);
  // Bare CR / bare LF.
  EXPECT_EQ(Status("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n"), 400);
  EXPECT_EQ(Status("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\nX-B: c\r\n\r\n"), 400);
  EXPECT_EQ(Status("GET / HTTP/1.1\rHost: a\r\n\r\n"), 400);
  EXPECT_EQ(Status("GET / HTTP/1.1\r\nHost: a\r\n\n"), 400);
  // Invalid token characters.
  EXPECT_EQ(Status("GET / HTTP/1.1\r\nHost: a\r\nX(A): b\r\n\r\n"), 400);
  EXPECT_EQ(Status("GET / HTTP/1.1\r\nHost: a\r\nX\x01: b\r\n\r\n"), 400);
  EXPECT_EQ(Status("GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n"), 400);
  EXPECT_EQ(Status("G@T / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  static const char kNul[] = "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\0c\r\n\r\n";
  EXPECT_EQ(Status(std::string(kNul, sizeof(kNul) - 1)), 400);
  EXPECT_EQ(Status("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x7f\r\n\r\n"), 400);
  // Request line shape.
  EXPECT_EQ(Status("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(Status("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(Status("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(Status("GET / http/1.1\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(Status("GET /\r\n\r\n"), 400);
  EXPECT_EQ(Status("GET / HTTP/1.1\r\n\r\n"), 400) << "HTTP/1.1 requires Host";
  EXPECT_EQ(Status("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
  EXPECT_EQ(Status("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400);
  EXPECT_EQ(Status("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n"), 400);
  // Transfer-Encoding rules.
  EXPECT_EQ(Status("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
  EXPECT_EQ(Status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), 400);
  EXPECT_EQ(Status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
            400);
  EXPECT_EQ(Status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n"), 400);
  EXPECT_EQ(Status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n"), 400);
  EXPECT_EQ(Status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n"), 400);
}

TEST(Http1Request, UnsupportedCodingIs501) {
  EXPECT_EQ(Status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 501);
  EXPECT_EQ(Status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"), 501);
}

TEST(Http1Request, VersionIs505) {
  EXPECT_EQ(Status("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
  EXPECT_EQ(Status("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), 505);
  EXPECT_EQ(Status("GET / HTTP/0.9\r\nHost: a\r\n\r\n"), 505);
  EXPECT_EQ(Status("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 505);
}

TEST(Http1Request, EarlyErrorsBeforeHeadEnds) {
  RequestParser parser;
  RequestHead h;
  // A TLS ClientHello on the HTTP port fails at once, not after 16 KiB.
  ParseResult r = parser.Parse("\x16\x03\x01\x02\x00", &h);
  ASSERT_TRUE(r.error());
  EXPECT_EQ(r.error_status, 400);
  // A bad request line fails as soon as it ends.
  parser.Reset();
  r = parser.Parse("GET / HTTP/3.0\r\nHost: a\r\n", &h);
  ASSERT_TRUE(r.error());
  EXPECT_EQ(r.error_status, 505);
  parser.Reset();
  r = parser.Parse("GET / HTTP/1.1\nHo", &h);
  ASSERT_TRUE(r.error());
  EXPECT_EQ(r.error_status, 400);
}

TEST(Http1Request, LimitsGive431) {
  ParseLimits small;
  small.max_head_bytes = 64;
  std::string big = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: " + std::string(100, 'x') + "\r\n\r\n";
  Parsed p = ParseOnce(big, small);
  ASSERT_TRUE(p.r.error());
  EXPECT_EQ(p.r.error_status, 431);
  // Incomplete but already over the limit: 431 without waiting for the end.
  p = ParseOnce(big.substr(0, 80), small);
  ASSERT_TRUE(p.r.error());
  EXPECT_EQ(p.r.error_status, 431);
  // Exactly at the limit is fine.
  std::string exact = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  small.max_head_bytes = exact.size();
  EXPECT_TRUE(ParseOnce(exact, small).r.done());
  small.max_head_bytes = exact.size() - 1;
  EXPECT_EQ(ParseOnce(exact, small).r.error_status, 431);

  // Default limit 16 KiB.
  std::string huge = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: " + std::string(17000, 'x') + "\r\n\r\n";
  EXPECT_EQ(ParseOnce(huge).r.error_status, 431);

  // Too many fields.
  std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 100; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  many += "\r\n";
  EXPECT_EQ(ParseOnce(many).r.error_status, 431);
  ParseLimits few;
  few.max_headers = 3;
  EXPECT_EQ(ParseOnce("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", few).r.error_status, 431);
  EXPECT_TRUE(ParseOnce("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n", few).r.done());
}

TEST(Http1Request, ExactlyMaxHeadersAccepted) {
  std::string req = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (size_t i = 1; i < kMaxHeaders; ++i) req += "X-" + std::to_string(i) + ": v\r\n";
  req += "\r\n";
  Parsed p = ParseOnce(req);
  ASSERT_TRUE(p.r.done()) << p.r.reason;
  EXPECT_EQ(p.head->header_count, kMaxHeaders);
}

TEST(Http1Request, ExpectContinue) {
  EXPECT_TRUE(ParseOnce("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n")
                  .head->expect_continue);
  EXPECT_FALSE(ParseOnce("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n").head->expect_continue);
  EXPECT_FALSE(ParseOnce("PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").head->expect_continue);
}

TEST(Http1Request, WebSocketUpgrade) {
  Parsed p = ParseOnce(
      "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  ASSERT_TRUE(p.r.done()) << p.r.reason;
  EXPECT_TRUE(p.head->upgrade);
  EXPECT_TRUE(p.head->websocket);
  // Upgrade without Connection: upgrade is not an upgrade request.
  p = ParseOnce("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n");
  EXPECT_FALSE(p.head->upgrade);
  EXPECT_TRUE(p.head->Find("upgrade")->hop_by_hop);
  // Other protocols are upgrades but not websocket.
  p = ParseOnce(
      "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n"
      "HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n");
  EXPECT_TRUE(p.head->upgrade);
  EXPECT_FALSE(p.head->websocket);
  EXPECT_TRUE(p.head->Find("HTTP2-Settings")->hop_by_hop);
  // HTTP/1.0 cannot upgrade.
  p = ParseOnce("GET / HTTP/1.0\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n");
  EXPECT_FALSE(p.head->upgrade);
}

TEST(Http1Request, RoutingHeadersAndMethods) {
  Parsed p = ParseOnce(
      "HEAD / HTTP/1.1\r\nHost: a\r\nfly-prefer-region: ams\r\nFly-Force-Region: fra\r\n"
      "Fly-Prefer-Instance-Id: 3d8d9e1a2b3c4d\r\nfly-force-instance-id: 123\r\n\r\n");
  ASSERT_TRUE(p.r.done());
  EXPECT_EQ(p.head->method_id, Method::kHead);
  EXPECT_EQ(p.head->fly_prefer_region, "ams");
  EXPECT_EQ(p.head->fly_force_region, "fra");
  EXPECT_EQ(p.head->fly_prefer_instance_id, "3d8d9e1a2b3c4d");
  EXPECT_EQ(p.head->fly_force_instance_id, "123");
  EXPECT_EQ(ParseOnce("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n").head->method_id, Method::kConnect);
  EXPECT_EQ(ParseOnce("PROPFIND / HTTP/1.1\r\nHost: a\r\n\r\n").head->method_id, Method::kOther);
  EXPECT_EQ(ParseOnce("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").head->target, "*");
  EXPECT_EQ(ParseOnce("GET http://a/b HTTP/1.1\r\nHost: a\r\n\r\n").head->target, "http://a/b");
  EXPECT_EQ(ParseOnce("GET / HTTP/1.1\r\nHost: [fdaa::1]:8080\r\n\r\n").head->host, "[fdaa::1]:8080");
}

TEST(Http1Request, ListContainsToken) {
  EXPECT_TRUE(ListContainsToken("a, b ,C", "c"));
  EXPECT_TRUE(ListContainsToken(",,close", "close"));
  EXPECT_FALSE(ListContainsToken("closed", "close"));
  EXPECT_FALSE(ListContainsToken("", "close"));
}

}  // namespace
}  // namespace privcast::codec
