#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "proxy/codec/http1.h"
#include "proxy/codec/rewrite.h"

namespace privcast::codec {
namespace {

RequestFacts Facts() {
  RequestFacts f;
  f.client_ip = "fdaa:0:1:a7b::2";
  f.forwarded_port = 80;
  f.tls = false;
  f.region = "ams";
  f.request_id = "01JDQ5ZK3M2P8V4XW6Y7Z9ABCD-ams";
  f.request_start_us = 1763780000123456;
  return f;
}

std::string Rewrite(const std::string& req, const RequestFacts& facts) {
  auto head = std::make_unique<RequestHead>();
  RequestParser p;
  ParseResult r = p.Parse(req, head.get());
  EXPECT_TRUE(r.done()) << r.reason;
  if (!r.done()) return "";
  std::vector<char> out(MaxRewrittenRequestSize(*head, facts));
  size_t n = RewriteRequest(*head, facts, out);
  EXPECT_GT(n, 0u);
  // Output is itself a valid request with the same framing.
  std::string s(out.data(), n);
  auto again = std::make_unique<RequestHead>();
  RequestParser p2;
  ParseResult r2 = p2.Parse(s, again.get());
  EXPECT_TRUE(r2.done()) << r2.reason << "\n" << s;
  EXPECT_EQ(r2.consumed, s.size());
  if (r2.done()) {
    EXPECT_EQ(again->framing, head->framing);
    EXPECT_EQ(again->content_length, head->content_length);
  }
  return s;
}

TEST(RewriteRequest, CurlRequestExact) {
  std::string out =
      Rewrite("GET /hello HTTP/1.1\r\nHost: app.flycast\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n", Facts());
  EXPECT_EQ(out,
            "GET /hello HTTP/1.1\r\n"
            "Host: app.flycast\r\n"
            "User-Agent: curl/7.88.1\r\n"
            "Accept: */*\r\n"
            "Fly-Client-IP: fdaa:0:1:a7b::2\r\n"
            "X-Forwarded-For: fdaa:0:1:a7b::2\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Port: 80\r\n"
            "X-Forwarded-SSL: off\r\n"
            "Fly-Forwarded-Port: 80\r\n"
            "Fly-Region: ams\r\n"
            "Fly-Request-Id: 01JDQ5ZK3M2P8V4XW6Y7Z9ABCD-ams\r\n"
            "Via: 1.1 privcast\r\n"
            "X-Request-Start: t=1763780000123456\r\n"
            "\r\n");
}

TEST(RewriteRequest, StripsHopByHopAndSpoofedFieldsAppendsLists) {
  RequestFacts f = Facts();
  f.tls = true;
  f.forwarded_port = 443;
  std::string out = Rewrite(
      "POST /api HTTP/1.1\r\n"
      "Host: app.flycast\r\n"
      "Connection: keep-alive, X-Hop\r\n"
      "X-Hop: secret\r\n"
      "Keep-Alive: timeout=5\r\n"
      "Proxy-Connection: keep-alive\r\n"
      "TE: trailers\r\n"
      "Fly-Client-IP: 6.6.6.6\r\n"
      "fly-region: evil\r\n"
      "X-Forwarded-Proto: https\r\n"
      "X-Forwarded-Port: 1\r\n"
      "X-Forwarded-SSL: on\r\n"
      "Fly-Forwarded-Port: 2\r\n"
      "Fly-Request-Id: forged\r\n"
      "X-Request-Start: t=1\r\n"
      "X-Forwarded-For: 10.0.0.1\r\n"
      "x-forwarded-for: 10.0.0.2\r\n"
      "Via: 1.0 squid\r\n"
      "Trailer: X-Sum\r\n"
      "Fly-Prefer-Region: fra\r\n"
      "Transfer-Encoding: chunked\r\n"
      "\r\n",
      f);
  EXPECT_EQ(out,
            "POST /api HTTP/1.1\r\n"
            "Host: app.flycast\r\n"
            "X-Forwarded-For: 10.0.0.1\r\n"
            "x-forwarded-for: 10.0.0.2, fdaa:0:1:a7b::2\r\n"
            "Via: 1.0 squid, 1.1 privcast\r\n"
            "Trailer: X-Sum\r\n"
            "Fly-Prefer-Region: fra\r\n"
            "Transfer-Encoding: chunked\r\n"
            "Fly-Client-IP: fdaa:0:1:a7b::2\r\n"
            "X-Forwarded-Proto: https\r\n"
            "X-Forwarded-Port: 443\r\n"
            "X-Forwarded-SSL: on\r\n"
            "Fly-Forwarded-Port: 443\r\n"
            "Fly-Region: ams\r\n"
            "Fly-Request-Id: 01JDQ5ZK3M2P8V4XW6Y7Z9ABCD-ams\r\n"
            "X-Request-Start: t=1763780000123456\r\n"
            "\r\n");
}

TEST(RewriteRequest, WebSocketKeepsUpgrade) {
  std::string out = Rewrite(
      "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      Facts());
  EXPECT_NE(out.find("\r\nUpgrade: websocket\r\n"), std::string::npos);
  EXPECT_NE(out.find("\r\nConnection: upgrade\r\n\r\n"), std::string::npos);
  EXPECT_EQ(out.find("Connection: Upgrade"), std::string::npos);
  EXPECT_NE(out.find("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"), std::string::npos);
}

TEST(RewriteRequest, Http10AsksForKeepAlive) {
  std::string out = Rewrite("GET / HTTP/1.0\r\nUser-Agent: ab\r\n\r\n", Facts());
  EXPECT_EQ(out.rfind("GET / HTTP/1.0\r\n", 0), 0u);
  EXPECT_NE(out.find("\r\nConnection: keep-alive\r\n\r\n"), std::string::npos);
}

TEST(RewriteRequest, DropsLeadingEmptyLinesAndNormalisesSpacing) {
  std::string out = Rewrite("\r\nGET / HTTP/1.1\r\nHost:a\r\nX-A:  b  \r\n\r\n", Facts());
  EXPECT_EQ(out.rfind("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n", 0), 0u);
}

TEST(RewriteRequest, EmptyXffValueGetsClientOnly) {
  std::string out = Rewrite("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For:\r\n\r\n", Facts());
  EXPECT_NE(out.find("\r\nX-Forwarded-For: fdaa:0:1:a7b::2\r\n"), std::string::npos);
  EXPECT_EQ(out.find("X-Forwarded-For: ,"), std::string::npos);
}

TEST(RewriteRequest, TooSmallBufferReturnsZeroAndNeverOverflows) {
  const std::string req = "GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n";
  RequestHead head;
  RequestParser p;
  ASSERT_TRUE(p.Parse(req, &head).done());
  RequestFacts f = Facts();
  size_t bound = MaxRewrittenRequestSize(head, f);
  std::vector<char> out(bound + 16, '#');
  size_t full = RewriteRequest(head, f, std::span<char>(out.data(), bound));
  ASSERT_GT(full, 0u);
  ASSERT_LE(full, bound);
  for (size_t cap = 0; cap < full; ++cap) {
    std::vector<char> small(cap + 8, '#');
    EXPECT_EQ(RewriteRequest(head, f, std::span<char>(small.data(), cap)), 0u) << cap;
    for (size_t i = cap; i < small.size(); ++i) ASSERT_EQ(small[i], '#');
  }
  EXPECT_EQ(RewriteRequest(head, f, std::span<char>(out.data(), full)), full);
}

TEST(RewriteRequest, BoundHoldsForCompactInput) {
  // "a:b" fields grow by one space each when rewritten.
  std::string req = "GET / HTTP/1.1\r\nHost:a\r\n";
  for (int i = 0; i < 99; ++i) req += "X:b\r\n";
  req += "\r\n";
  auto head = std::make_unique<RequestHead>();
  RequestParser p;
  ASSERT_TRUE(p.Parse(req, head.get()).done());
  RequestFacts f = Facts();
  std::vector<char> out(MaxRewrittenRequestSize(*head, f));
  EXPECT_GT(RewriteRequest(*head, f, out), 0u);
}

std::string RewriteResp(const std::string& resp, const ResponseFacts& facts, Method m = Method::kGet) {
  auto head = std::make_unique<ResponseHead>();
  ResponseParser p;
  ResponseContext ctx;
  ctx.request_method = m;
  ParseResult r = p.Parse(resp, ctx, head.get());
  EXPECT_TRUE(r.done()) << r.reason;
  if (!r.done()) return "";
  std::vector<char> out(MaxRewrittenResponseSize(*head, facts));
  size_t n = RewriteResponse(*head, facts, out);
  EXPECT_GT(n, 0u);
  return std::string(out.data(), n);
}

TEST(RewriteResponse, DecoratesExact) {
  ResponseFacts f;
  f.request_id = "01JDQ5ZK3M2P8V4XW6Y7Z9ABCD-ams";
  std::string out = RewriteResp(
      "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Length: 100\r\nConnection: keep-alive\r\n"
      "Keep-Alive: timeout=60\r\nContent-Type: text/plain\r\n\r\n",
      f);
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\n"
            "Content-Length: 100\r\n"
            "Content-Type: text/plain\r\n"
            "Fly-Request-Id: 01JDQ5ZK3M2P8V4XW6Y7Z9ABCD-ams\r\n"
            "Via: 1.1 privcast\r\n"
            "Server: privcast\r\n"
            "\r\n");
}

TEST(RewriteResponse, PristineOverridesAndConnection) {
  ResponseFacts f;
  f.request_id = "rid";
  f.pristine = true;
  HeaderOverride ov[] = {{"X-Frame-Options", "DENY", false}, {"x-powered-by", "", true}};
  f.overrides = ov;
  f.client_keep_alive = false;
  std::string out = RewriteResp(
      "HTTP/1.1 200 OK\r\nServer: app\r\nX-Powered-By: PHP\r\nx-frame-options: SAMEORIGIN\r\n"
      "Via: 1.1 other\r\nContent-Length: 0\r\n\r\n",
      f);
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\n"
            "Server: app\r\n"
            "Via: 1.1 other\r\n"
            "Content-Length: 0\r\n"
            "X-Frame-Options: DENY\r\n"
            "Connection: close\r\n"
            "\r\n");
  f.pristine = false;
  f.client_keep_alive = true;
  f.client_http10 = true;
  out = RewriteResp("HTTP/1.1 204 No Content\r\nVia: 1.1 other\r\n\r\n", f);
  EXPECT_EQ(out,
            "HTTP/1.1 204 No Content\r\n"
            "Via: 1.1 other, 1.1 privcast\r\n"
            "Fly-Request-Id: rid\r\n"
            "Server: privcast\r\n"
            "X-Frame-Options: DENY\r\n"
            "Connection: keep-alive\r\n"
            "\r\n");
}

TEST(RewriteResponse, ExtraFieldsAppendedVerbatim) {
  ResponseFacts f;
  f.request_id = "rid";
  f.extra_fields = "Fly-Preferred-Instance-Unavailable: 1\r\n";
  std::string out = RewriteResp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", f);
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\n"
            "Content-Length: 0\r\n"
            "Fly-Request-Id: rid\r\n"
            "Via: 1.1 privcast\r\n"
            "Server: privcast\r\n"
            "Fly-Preferred-Instance-Unavailable: 1\r\n"
            "\r\n");
}

TEST(RewriteResponse, SwitchingProtocolsKeepsUpgrade) {
  ResponseFacts f;
  f.request_id = "rid";
  std::string out = RewriteResp(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
      f);
  EXPECT_EQ(out,
            "HTTP/1.1 101 Switching Protocols\r\n"
            "Upgrade: websocket\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            "Fly-Request-Id: rid\r\n"
            "Via: 1.1 privcast\r\n"
            "Server: privcast\r\n"
            "Connection: upgrade\r\n"
            "\r\n");
}

TEST(RewriteResponse, InformationalPassesThroughUndecorated) {
  ResponseFacts f;
  f.request_id = "rid";
  EXPECT_EQ(RewriteResp("HTTP/1.1 100 Continue\r\n\r\n", f), "HTTP/1.1 100 Continue\r\n\r\n");
}

}  // namespace
}  // namespace privcast::codec

namespace privcast::codec {
namespace {

TEST(ErrorResponse, CannedResponsesParse) {
  for (uint16_t code : {400, 403, 404, 408, 413, 417, 421, 431, 500, 501, 502, 503, 504, 505, 599}) {
    for (bool close : {true, false}) {
      std::string_view s = ErrorResponse(code, close);
      ResponseHead h;
      ResponseParser p;
      ParseResult r = p.Parse(s, ResponseContext{}, &h);
      ASSERT_TRUE(r.done()) << s;
      EXPECT_EQ(r.consumed, s.size());
      EXPECT_EQ(h.status, code == 599 ? 500 : code);
      EXPECT_EQ(h.framing, Framing::kContentLength);
      EXPECT_EQ(h.keep_alive, !close);
      EXPECT_EQ(h.Find("Retry-After") != nullptr, code == 503);
    }
  }
  EXPECT_EQ(ErrorResponse(431),
            "HTTP/1.1 431 Request Header Fields Too Large\r\nServer: privcast\r\n"
            "Content-Length: 0\r\nConnection: close\r\n\r\n");
}

TEST(RewriteResponse, Http10ResponseToKeepAliveClientSaysKeepAlive) {
  ResponseHead h;
  ResponseParser p;
  const std::string s = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n";
  ASSERT_TRUE(p.Parse(s, ResponseContext{}, &h).done());
  ResponseFacts f;
  f.request_id = "r";
  f.pristine = true;
  char out[256];
  size_t n = RewriteResponse(h, f, out);
  EXPECT_EQ(std::string(out, n), "HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n");
}

}  // namespace
}  // namespace privcast::codec
