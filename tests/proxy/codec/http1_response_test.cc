#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "proxy/codec/http1.h"

namespace privcast::codec {
namespace {

struct Parsed {
  ParseResult r;
  std::unique_ptr<ResponseHead> head = std::make_unique<ResponseHead>();
};

Parsed Parse(std::string_view s, Method m = Method::kGet) {
  Parsed p;
  ResponseParser parser;
  ResponseContext ctx;
  ctx.request_method = m;
  p.r = parser.Parse(s, ctx, p.head.get());
  return p;
}

TEST(Http1Response, ParsesNginxResponse) {
  const std::string resp =
      "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 22 Nov 2026 03:00:00 GMT\r\n"
      "Content-Type: text/plain\r\nContent-Length: 100\r\nConnection: keep-alive\r\n\r\n";
  Parsed p = Parse(resp);
  ASSERT_TRUE(p.r.done()) << p.r.reason;
  EXPECT_EQ(p.r.consumed, resp.size());
  EXPECT_EQ(p.head->status, 200);
  EXPECT_EQ(p.head->reason, "OK");
  EXPECT_EQ(p.head->status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(p.head->header_count, 5);
  EXPECT_EQ(p.head->framing, Framing::kContentLength);
  EXPECT_EQ(p.head->content_length, 100u);
  EXPECT_TRUE(p.head->keep_alive);
  EXPECT_TRUE(p.head->Find("connection")->hop_by_hop);
  EXPECT_EQ(p.head->Find("server")->kind, HeaderKind::kServer);
}

TEST(Http1Response, FramingPerRfc9112) {
  // HEAD: no body whatever the fields say.
  Parsed p = Parse("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", Method::kHead);
  ASSERT_TRUE(p.r.done());
  EXPECT_EQ(p.head->framing, Framing::kNone);
  EXPECT_TRUE(p.head->keep_alive);
  p = Parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", Method::kHead);
  ASSERT_TRUE(p.r.done());
  EXPECT_EQ(p.head->framing, Framing::kNone);
  // 1xx, 204, 304.
  p = Parse("HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(p.r.done());
  EXPECT_TRUE(p.head->informational());
  EXPECT_EQ(p.head->framing, Framing::kNone);
  p = Parse("HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n");
  ASSERT_TRUE(p.r.done());
  EXPECT_TRUE(p.head->informational());
  p = Parse("HTTP/1.1 204 No Content\r\n\r\n");
  EXPECT_EQ(p.head->framing, Framing::kNone);
  EXPECT_TRUE(p.head->keep_alive);
  p = Parse("HTTP/1.1 304 Not Modified\r\nContent-Length: 500\r\n\r\n");
  ASSERT_TRUE(p.r.done());
  EXPECT_EQ(p.head->framing, Framing::kNone);
  // 101 and CONNECT 2xx are tunnels.
  p = Parse("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
  ASSERT_TRUE(p.r.done());
  EXPECT_EQ(p.head->framing, Framing::kTunnel);
  EXPECT_FALSE(p.head->informational());
  p = Parse("HTTP/1.1 200 Connection established\r\n\r\n", Method::kConnect);
  EXPECT_EQ(p.head->framing, Framing::kTunnel);
  // Chunked, content-length, close-delimited.
  p = Parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(p.head->framing, Framing::kChunked);
  EXPECT_TRUE(p.head->keep_alive);
  p = Parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
  EXPECT_EQ(p.head->framing, Framing::kChunked);
  p = Parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
  EXPECT_EQ(p.head->framing, Framing::kCloseDelimited);
  EXPECT_FALSE(p.head->keep_alive);
  p = Parse("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n");
  EXPECT_EQ(p.head->framing, Framing::kCloseDelimited);
  EXPECT_FALSE(p.head->keep_alive);
  p = Parse("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n");
  EXPECT_EQ(p.head->framing, Framing::kContentLength);
  EXPECT_FALSE(p.head->keep_alive);
  p = Parse("HTTP/1.0 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_TRUE(p.head->keep_alive);
  p = Parse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\n");
  EXPECT_FALSE(p.head->keep_alive);
}

TEST(Http1Response, StatusLineVariants) {
  Parsed p = Parse("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(p.r.done()) << p.r.reason;
  EXPECT_EQ(p.head->reason, "");
  p = Parse("HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(p.r.done()) << p.r.reason;
  p = Parse("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(p.head->reason, "Internal Server Error");
}

TEST(Http1Response, BadResponsesAre502) {
  const char* bad[] = {
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
      "HTTP/1.1 20 OK\r\n\r\n",
      "HTTP/1.1 2000 OK\r\n\r\n",
      "HTTP/2 200\r\n\r\n",
      "HTTP/1.1 099 Nope\r\n\r\n",
      "ICY 200 OK\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX : a\r\n\r\n",
      "HTTP/1.1 200 OK\nX: a\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
      "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
  };
  for (const char* s : bad) {
    Parsed p = Parse(s);
    EXPECT_TRUE(p.r.error()) << s;
    EXPECT_EQ(p.r.error_status, 502) << s;
  }
}

TEST(Http1Response, ByteByByteEqualsOneShot) {
  const std::string resp = "\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: b\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
  Parsed one = Parse(resp);
  ASSERT_TRUE(one.r.done());
  ResponseParser parser;
  ResponseHead h;
  ParseResult r;
  for (size_t n = 1; n <= resp.size(); ++n) {
    std::string copy = resp.substr(0, n);
    r = parser.Parse(copy, ResponseContext{}, &h);
    if (!r.incomplete()) break;
  }
  ASSERT_TRUE(r.done());
  EXPECT_EQ(r.consumed, one.r.consumed);
}

TEST(Http1Response, HeadTooLarge) {
  ParseLimits lim;
  lim.max_head_bytes = 32;
  ResponseParser parser(lim);
  ResponseHead h;
  ParseResult r = parser.Parse("HTTP/1.1 200 OK\r\nX-Pad: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n\r\n", {}, &h);
  ASSERT_TRUE(r.error());
  EXPECT_EQ(r.error_status, 502);
}

}  // namespace
}  // namespace privcast::codec
