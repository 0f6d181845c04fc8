// http1_response_fuzz: the response head parser never crashes, incremental == one-shot,
// and a parsed head rewrites (decorated, pristine, with overrides) to a head that parses
// again with the same framing.
//
// Input: byte 0 picks the request method context and limits, byte 1 seeds slice sizes.
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "proxy/codec/http1.h"
#include "proxy/codec/rewrite.h"

using namespace privcast::codec;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  ResponseContext ctx;
  switch (data[0] & 3) {
    case 0:
      ctx.request_method = Method::kGet;
      break;
    case 1:
      ctx.request_method = Method::kHead;
      break;
    case 2:
      ctx.request_method = Method::kConnect;
      break;
    default:
      ctx.request_method = Method::kPost;
      break;
  }
  ParseLimits limits;
  if (data[0] & 4) limits.max_head_bytes = 64 + data[0] * 2;
  uint32_t seed = data[1] * 2654435761u + 7;
  std::string_view in(reinterpret_cast<const char*>(data + 2), size - 2);

  auto one = std::make_unique<ResponseHead>();
  ResponseParser p1(limits);
  ParseResult r1 = p1.Parse(in, ctx, one.get());

  auto inc = std::make_unique<ResponseHead>();
  ResponseParser p2(limits);
  ParseResult r2;
  size_t n = 0;
  do {
    seed = seed * 1103515245u + 12345u;
    n = std::min(in.size(), n + 1 + (seed >> 16) % 64);
    std::unique_ptr<char[]> copy(new char[n + 1]);
    std::memcpy(copy.get(), in.data(), n);
    r2 = p2.Parse(std::string_view(copy.get(), n), ctx, inc.get());
    if (r2.done()) {
      ResponseParser p3(limits);
      r2 = p3.Parse(in.substr(0, n), ctx, inc.get());
      FUZZ_CHECK(r2.done());
    }
  } while (r2.incomplete() && n < in.size());

  FUZZ_CHECK(r1.status == r2.status);
  FUZZ_CHECK(r1.error_status == r2.error_status);
  if (!r1.done()) return 0;
  FUZZ_CHECK(r1.consumed == r2.consumed);
  FUZZ_CHECK(one->status == inc->status && one->framing == inc->framing);
  FUZZ_CHECK(one->header_count == inc->header_count);
  FUZZ_CHECK(one->keep_alive == inc->keep_alive);
  FUZZ_CHECK(one->status >= 100 && one->status <= 999);
  if (one->framing == Framing::kCloseDelimited) FUZZ_CHECK(!one->keep_alive);

  HeaderOverride ov[] = {{"X-Frame-Options", "DENY", false}, {"content-type", "", true}};
  for (int variant = 0; variant < 2; ++variant) {
    ResponseFacts f;
    f.request_id = "01JDQ5ZK3M2P8V4XW6Y7Z9ABCD-ams";
    f.pristine = variant == 1;
    f.overrides = ov;
    f.client_keep_alive = one->keep_alive;
    size_t bound = MaxRewrittenResponseSize(*one, f);
    std::vector<char> out(bound);
    size_t w = RewriteResponse(*one, f, out);
    FUZZ_CHECK(w > 0 && w <= bound);
    auto again = std::make_unique<ResponseHead>();
    ParseLimits big;
    big.max_head_bytes = bound + 1;
    ResponseParser p4(big);
    ParseResult r4 = p4.Parse(std::string_view(out.data(), w), ctx, again.get());
    if (r4.error() && std::strcmp(r4.reason, "too many header fields") == 0) continue;
    FUZZ_CHECK(r4.done());
    FUZZ_CHECK(r4.consumed == w);
    FUZZ_CHECK(again->status == one->status);
    FUZZ_CHECK(again->framing == one->framing);
    FUZZ_CHECK(again->content_length == one->content_length);
  }
  return 0;
}
