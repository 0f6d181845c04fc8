#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "proxy/codec/chunked.h"
#include "proxy/codec/http1.h"

namespace privcast::codec {
namespace {

struct Outcome {
  ChunkedFramer::Status status;
  size_t consumed;  // total body bytes
  size_t data;      // total payload bytes
};

// Feeds `s` in the given slice sizes (cycled) and returns the overall outcome.
Outcome FeedSplit(std::string_view s, const std::vector<size_t>& sizes, ChunkedLimits lim = {}) {
  ChunkedFramer f(lim);
  Outcome o{ChunkedFramer::Status::kMore, 0, 0};
  size_t pos = 0, k = 0;
  while (pos < s.size()) {
    size_t n = std::min(sizes[k++ % sizes.size()], s.size() - pos);
    ChunkedFramer::Result r = f.Feed(s.substr(pos, n));
    o.data += r.data_bytes;
    if (r.status == ChunkedFramer::Status::kError) return {r.status, o.consumed, o.data};
    o.consumed += r.consumed;
    pos += n;
    if (r.status == ChunkedFramer::Status::kDone) {
      EXPECT_TRUE(f.done());
      return {r.status, o.consumed, o.data};
    }
    EXPECT_EQ(r.consumed, n);
  }
  return o;
}

Outcome FeedOnce(std::string_view s, ChunkedLimits lim = {}) { return FeedSplit(s, {s.size() + 1}, lim); }

TEST(Chunked, SimpleBody) {
  const std::string body = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
  Outcome o = FeedOnce(body + "GET /next HTTP/1.1\r\n");
  EXPECT_EQ(o.status, ChunkedFramer::Status::kDone);
  EXPECT_EQ(o.consumed, body.size());
  EXPECT_EQ(o.data, 11u);
}

TEST(Chunked, ExtensionsTrailersAndHex) {
  const std::string body =
      "A;name=value;x=\"q s\"\r\n0123456789\r\n"
      "1f  ;ext\r\n" +
      std::string(31, 'z') +
      "\r\n"
      "0\r\nX-Checksum: abc\r\nX-Other: d\r\n\r\n";
  Outcome o = FeedOnce(body);
  EXPECT_EQ(o.status, ChunkedFramer::Status::kDone);
  EXPECT_EQ(o.consumed, body.size());
  EXPECT_EQ(o.data, 41u);
}

TEST(Chunked, RandomSplitsAgreeWithOneShot) {
  std::mt19937 rng(7);
  for (int iter = 0; iter < 300; ++iter) {
    std::string body;
    size_t payload = 0;
    int chunks = static_cast<int>(rng() % 6);
    for (int c = 0; c < chunks; ++c) {
      size_t n = 1 + rng() % 300;
      char hex[32];
      std::snprintf(hex, sizeof(hex), (rng() & 1) ? "%zx" : "%zX", n);
      body += hex;
      if (rng() % 3 == 0) body += ";e=1";
      body += "\r\n" + std::string(n, static_cast<char>('a' + c)) + "\r\n";
      payload += n;
    }
    body += "0\r\n";
    if (rng() & 1) body += "Trailer-A: 1\r\n";
    body += "\r\n";
    const std::string buf = body + "NEXT";
    Outcome one = FeedOnce(buf);
    ASSERT_EQ(one.status, ChunkedFramer::Status::kDone);
    ASSERT_EQ(one.consumed, body.size());
    ASSERT_EQ(one.data, payload);
    std::vector<size_t> sizes;
    for (int i = 0; i < 8; ++i) sizes.push_back(1 + rng() % 20);
    Outcome split = FeedSplit(buf, sizes);
    EXPECT_EQ(split.status, one.status);
    EXPECT_EQ(split.consumed, one.consumed);
    EXPECT_EQ(split.data, one.data);
    Outcome bytewise = FeedSplit(buf, {1});
    EXPECT_EQ(bytewise.consumed, one.consumed);
    EXPECT_EQ(bytewise.data, one.data);
  }
}

TEST(Chunked, IncompleteIsMore) {
  ChunkedFramer f;
  auto r = f.Feed("5\r\nhel");
  EXPECT_EQ(r.status, ChunkedFramer::Status::kMore);
  EXPECT_EQ(r.consumed, 6u);
  EXPECT_EQ(r.data_bytes, 3u);
  EXPECT_EQ(f.remaining_in_chunk(), 2u);
  r = f.Feed("lo\r\n0\r\n");
  EXPECT_EQ(r.status, ChunkedFramer::Status::kMore);
  r = f.Feed("\r\n");
  EXPECT_EQ(r.status, ChunkedFramer::Status::kDone);
  EXPECT_EQ(r.consumed, 2u);
  // Once done it stays done and consumes nothing.
  r = f.Feed("more");
  EXPECT_EQ(r.status, ChunkedFramer::Status::kDone);
  EXPECT_EQ(r.consumed, 0u);
  f.Reset();
  EXPECT_FALSE(f.done());
}

TEST(Chunked, HugeChunkCountsInBulk) {
  ChunkedFramer f;
  auto r = f.Feed("ffffffff\r\n");
  EXPECT_EQ(f.remaining_in_chunk(), 0xffffffffu);
  std::string block(1 << 16, 'x');
  r = f.Feed(block);
  EXPECT_EQ(r.data_bytes, block.size());
  EXPECT_EQ(f.remaining_in_chunk(), 0xffffffffu - block.size());
}

TEST(Chunked, Errors) {
  const char* bad[] = {
      "\r\n",                       // no size
      "g\r\n",                      // not hex
      "-1\r\n",                     // sign
      "0x5\r\nhello\r\n0\r\n\r\n",  // 0x prefix
      "5\nhello\r\n0\r\n\r\n",      // bare LF
      "5\rhello\r\n0\r\n\r\n",      // bare CR
      "5\r\nhelloX\r\n0\r\n\r\n",   // data longer than size
      "5\r\nhello\n0\r\n\r\n",      // missing CR after data
      "5 x\r\nhello\r\n",           // junk after size
      "5;\x01\r\n",                 // control char in extension
      "0\r\nX: a\rb\r\n\r\n",       // bare CR in trailer
      "0\r\n folded\r\n\r\n",       // obs-fold in trailer
      "0\r\n\r\r",                  // bad final line
      "10000000000000000\r\n",      // 17 hex digits
  };
  for (const char* s : bad) {
    Outcome o = FeedOnce(s);
    EXPECT_EQ(o.status, ChunkedFramer::Status::kError) << s;
    Outcome b = FeedSplit(s, {1});
    EXPECT_EQ(b.status, ChunkedFramer::Status::kError) << s;
  }
  // 16 hex digits is the maximum and is fine.
  EXPECT_EQ(FeedOnce("ffffffffffffffff\r\n").status, ChunkedFramer::Status::kMore);
  EXPECT_EQ(FeedOnce("000000000000000a\r\n").status, ChunkedFramer::Status::kMore);
}

TEST(Chunked, LimitsBoundLinesAndTrailers) {
  ChunkedLimits lim;
  lim.max_line = 16;
  lim.max_trailer = 32;
  EXPECT_EQ(FeedOnce("5;" + std::string(20, 'e') + "\r\n", lim).status, ChunkedFramer::Status::kError);
  EXPECT_EQ(FeedOnce("5;eeee\r\nhello\r\n", lim).status, ChunkedFramer::Status::kMore);
  EXPECT_EQ(FeedOnce("0\r\nX: " + std::string(40, 't') + "\r\n\r\n", lim).status, ChunkedFramer::Status::kError);
  EXPECT_EQ(FeedOnce("0\r\nX: ttt\r\n\r\n", lim).status, ChunkedFramer::Status::kDone);
  // An endless stream of leading zeros or extension bytes cannot grow without bound.
  EXPECT_EQ(FeedSplit(std::string(100000, '0'), {4096}).status, ChunkedFramer::Status::kError);
  EXPECT_EQ(FeedSplit("1;" + std::string(100000, 'x'), {4096}).status, ChunkedFramer::Status::kError);
}

}  // namespace
}  // namespace privcast::codec

namespace privcast::codec {
namespace {

// The engine's loop: head, body framed by the head's framing, next head — all in one buffer.
TEST(ChunkedWithParser, PipelinedChunkedRequestThenGet) {
  const std::string buf =
      "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\nX-T: 1\r\n\r\n"
      "GET /next HTTP/1.1\r\nHost: a\r\n\r\n";
  std::string_view rest = buf;
  RequestHead h;
  RequestParser p;
  ParseResult r = p.Parse(rest, &h);
  ASSERT_TRUE(r.done());
  ASSERT_EQ(h.framing, Framing::kChunked);
  rest.remove_prefix(r.consumed);
  ChunkedFramer f;
  ChunkedFramer::Result c = f.Feed(rest);
  ASSERT_EQ(c.status, ChunkedFramer::Status::kDone);
  EXPECT_EQ(c.data_bytes, 9u);
  rest.remove_prefix(c.consumed);
  p.Reset();
  r = p.Parse(rest, &h);
  ASSERT_TRUE(r.done());
  EXPECT_EQ(h.target, "/next");
  EXPECT_EQ(r.consumed, rest.size());
}

TEST(ChunkedWithParser, ContinueThenChunkedResponseThenNext) {
  const std::string buf =
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
      "HTTP/1.1 204 No Content\r\n\r\n";
  std::string_view rest = buf;
  ResponseHead h;
  ResponseParser p;
  ParseResult r = p.Parse(rest, {}, &h);
  ASSERT_TRUE(r.done());
  EXPECT_TRUE(h.informational());
  rest.remove_prefix(r.consumed);
  p.Reset();
  r = p.Parse(rest, {}, &h);
  ASSERT_TRUE(r.done());
  ASSERT_EQ(h.framing, Framing::kChunked);
  rest.remove_prefix(r.consumed);
  ChunkedFramer f;
  ChunkedFramer::Result c = f.Feed(rest);
  ASSERT_EQ(c.status, ChunkedFramer::Status::kDone);
  rest.remove_prefix(c.consumed);
  p.Reset();
  r = p.Parse(rest, {}, &h);
  ASSERT_TRUE(r.done());
  EXPECT_EQ(h.status, 204);
  EXPECT_EQ(h.framing, Framing::kNone);
}

}  // namespace
}  // namespace privcast::codec
