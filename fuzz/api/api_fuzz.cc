// Fuzzes the API's untrusted-input decoding: the control plane's HTTP/1 request parser, the
// response-head parser and chunked decoder the CLI uses, and every JSON request decoder.
// Byte 0 picks the JSON decoder; the rest is the body / the wire bytes. Must never crash,
// throw or trip a sanitizer; parse results must be self-consistent.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "api/codec.h"
#include "api/http.h"

using namespace privcast::api;

static void Check(bool cond) {
  if (!cond) std::abort();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string_view body = in.substr(1);

  // HTTP request parsing with tight limits (so 413/431 paths are reached too).
  http::Request req;
  http::ParseLimits limits{512, 256};
  auto p = http::ParseRequest(in, limits, &req);
  if (p.kind == http::ParseResult::Kind::kOk) {
    Check(p.consumed <= in.size());
    Check(req.body.size() <= limits.max_body_bytes);
    (void)http::SplitPath(req.path);
  } else if (p.kind == http::ParseResult::Kind::kError) {
    Check(p.status >= 400 && p.status < 600);
  }

  // Client side: response head + chunked body.
  http::ResponseHead head;
  auto rp = http::ParseResponseHead(in, 1024, &head);
  if (rp.kind == http::ParseResult::Kind::kOk) {
    Check(rp.consumed <= in.size());
    http::ChunkedDecoder dec;
    std::string out;
    (void)dec.Feed(in.substr(rp.consumed), &out);
  }
  http::ChunkedDecoder raw;
  std::string out;
  (void)raw.Feed(in, &out);
  (void)http::PercentDecode(in, true);

  // JSON decoders: every failure must be an InvalidArgument with a message.
  auto expect = [](const auto& r) {
    if (!r.ok()) {
      Check(r.status().code() == privcast::Code::kInvalidArgument);
      Check(!r.status().message().empty());
    }
  };
  switch (data[0] % 9) {
    case 0:
      expect(DecodeCreateOrg(body));
      break;
    case 1:
      expect(DecodeCreateNetwork(body));
      break;
    case 2:
      expect(DecodeCreateApp(body));
      break;
    case 3:
      expect(DecodeRelease(body));
      break;
    case 4:
      expect(DecodeMachine(body, false));
      break;
    case 5:
      expect(DecodeMachine(body, true));
      break;
    case 6:
      expect(DecodeScale(body));
      break;
    case 7:
      expect(DecodeIp(body));
      break;
    default:
      (void)ErrorBody(body);
      break;
  }
  return 0;
}
