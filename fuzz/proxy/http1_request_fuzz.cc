// http1_request_fuzz: the request head parser never crashes, an incremental parse (random
// slice sizes, buffer re-copied each time) gives the same verdict as a one-shot parse, and a
// parsed head rewrites to a head that parses again with the same framing.
//
// Input: byte 0 picks the limits, byte 1 seeds the slice sizes, the rest is the stream.
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "proxy/codec/chunked.h"
#include "proxy/codec/http1.h"
#include "proxy/codec/rewrite.h"

using namespace privcast::codec;

namespace {

void CheckSame(const RequestHead& a, const RequestHead& b) {
  FUZZ_CHECK(a.header_count == b.header_count);
  FUZZ_CHECK(a.method == b.method);
  FUZZ_CHECK(a.target == b.target);
  FUZZ_CHECK(a.framing == b.framing);
  FUZZ_CHECK(a.content_length == b.content_length);
  FUZZ_CHECK(a.keep_alive == b.keep_alive);
  FUZZ_CHECK(a.upgrade == b.upgrade);
  FUZZ_CHECK(a.websocket == b.websocket);
  FUZZ_CHECK(a.expect_continue == b.expect_continue);
  for (size_t i = 0; i < a.header_count; ++i) {
    FUZZ_CHECK(a.headers[i].name == b.headers[i].name);
    FUZZ_CHECK(a.headers[i].value == b.headers[i].value);
    FUZZ_CHECK(a.headers[i].hop_by_hop == b.headers[i].hop_by_hop);
  }
}

void CheckRewrite(const RequestHead& head) {
  RequestFacts f;
  f.client_ip = "fdaa:0:1:a7b:5::2";
  f.forwarded_port = 8080;
  f.region = "ams";
  f.request_id = "01JDQ5ZK3M2P8V4XW6Y7Z9ABCD-ams";
  f.request_start_us = 1763780000123456;
  size_t bound = MaxRewrittenRequestSize(head, f);
  std::vector<char> out(bound);
  size_t n = RewriteRequest(head, f, out);
  FUZZ_CHECK(n > 0 && n <= bound);
  std::string_view s(out.data(), n);
  auto again = std::make_unique<RequestHead>();
  ParseLimits big;
  big.max_head_bytes = bound + 1;
  RequestParser p(big);
  ParseResult r = p.Parse(s, again.get());
  // More fields than the array holds is the only way our own output can fail (we add ~10).
  if (r.error() && r.error_status == 431) return;
  FUZZ_CHECK(r.done());
  FUZZ_CHECK(r.consumed == n);
  FUZZ_CHECK(again->framing == head.framing);
  FUZZ_CHECK(again->content_length == head.content_length);
  FUZZ_CHECK(again->upgrade == head.upgrade);
  FUZZ_CHECK(again->method == head.method);
  FUZZ_CHECK(again->target == head.target);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  ParseLimits limits;
  if (data[0] & 1) limits.max_head_bytes = 64 + data[0] * 4;
  if (data[0] & 2) limits.max_headers = data[0] % 16;
  uint32_t seed = data[1] * 2654435761u + 1;
  std::string_view in(reinterpret_cast<const char*>(data + 2), size - 2);

  auto one = std::make_unique<RequestHead>();
  RequestParser p1(limits);
  ParseResult r1 = p1.Parse(in, one.get());

  // Incremental: growing prefixes, each a fresh heap copy (the parser must keep no pointers).
  auto inc = std::make_unique<RequestHead>();
  RequestParser p2(limits);
  ParseResult r2;
  size_t n = 0;
  do {
    seed = seed * 1103515245u + 12345u;
    n = std::min(in.size(), n + 1 + (seed >> 16) % 64);
    std::unique_ptr<char[]> copy(new char[n + 1]);
    std::memcpy(copy.get(), in.data(), n);
    r2 = p2.Parse(std::string_view(copy.get(), n), inc.get());
    if (r2.done()) {
      // Views into `copy` die with it: re-run on the stable buffer.
      RequestParser p3(limits);
      r2 = p3.Parse(in.substr(0, n), inc.get());
      FUZZ_CHECK(r2.done());
    }
  } while (r2.incomplete() && n < in.size());

  FUZZ_CHECK(r1.status == r2.status);
  FUZZ_CHECK(r1.error_status == r2.error_status);
  if (!r1.done()) return 0;
  FUZZ_CHECK(r1.consumed == r2.consumed);
  FUZZ_CHECK(r1.consumed <= in.size() && r1.consumed <= limits.max_head_bytes);
  FUZZ_CHECK(one->header_count <= limits.max_headers);
  CheckSame(*one, *inc);
  CheckRewrite(*one);

  // Whatever follows: a chunked body must be framed without trouble.
  if (one->framing == Framing::kChunked) {
    ChunkedFramer f;
    ChunkedFramer::Result cr = f.Feed(in.substr(r1.consumed));
    FUZZ_CHECK(cr.consumed <= in.size() - r1.consumed);
  }
  return 0;
}
