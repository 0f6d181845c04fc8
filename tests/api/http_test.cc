// The control plane's HTTP/1 codec and the JSON request decoders, as pure functions.
#include <gtest/gtest.h>

#include "api/codec.h"
#include "api/http.h"
#include "api/routes.h"

namespace privcast::api {
namespace {

using http::ParseResult;

TEST(HttpParse, CompleteRequestWithBodyAndQuery) {
  http::Request r;
  std::string raw =
      "POST /v1/apps/web%2Dx/machines?force=true&x=a+b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}rest";
  auto p = http::ParseRequest(raw, {}, &r);
  ASSERT_EQ(p.kind, ParseResult::Kind::kOk);
  EXPECT_EQ(p.consumed, raw.size() - 4);
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.body, "{}");
  EXPECT_EQ(*r.Query("force"), "true");
  EXPECT_EQ(*r.Query("x"), "a b");
  EXPECT_EQ(*r.Header("host"), "h");
  EXPECT_TRUE(r.keep_alive);
  auto parts = http::SplitPath(r.path);
  ASSERT_TRUE(parts);
  EXPECT_EQ((*parts)[2], "web-x");
}

TEST(HttpParse, IncompleteThenComplete) {
  http::Request r;
  std::string raw = "GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\nab";
  EXPECT_EQ(http::ParseRequest(raw.substr(0, 10), {}, &r).kind, ParseResult::Kind::kIncomplete);
  EXPECT_EQ(http::ParseRequest(raw, {}, &r).kind, ParseResult::Kind::kIncomplete);
  EXPECT_EQ(http::ParseRequest(raw + "c", {}, &r).kind, ParseResult::Kind::kOk);
}

TEST(HttpParse, Errors) {
  http::Request r;
  auto status = [&](const std::string& raw) { return http::ParseRequest(raw, {}, &r).status; };
  EXPECT_EQ(status("GET\r\n\r\n"), 400);
  EXPECT_EQ(status("GET nopath HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(status("GET / HTTP/1.1\r\n bad fold\r\n\r\n"), 400);
  EXPECT_EQ(status("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"), 400);
  EXPECT_EQ(status("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx"), 400);
  EXPECT_EQ(status("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400);
  EXPECT_EQ(status("GET / HTTP/3\r\n\r\n"), 505);
  EXPECT_EQ(status("GET /?a=%G0 HTTP/1.1\r\n\r\n"), 400);
  http::ParseLimits small{64, 4};
  EXPECT_EQ(http::ParseRequest("GET / HTTP/1.1\r\nX: " + std::string(100, 'a'), small, &r).status, 431);
  EXPECT_EQ(http::ParseRequest("GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", small, &r).status, 413);
}

TEST(HttpParse, ConnectionSemantics) {
  http::Request r;
  ASSERT_EQ(http::ParseRequest("GET / HTTP/1.0\r\n\r\n", {}, &r).kind, ParseResult::Kind::kOk);
  EXPECT_FALSE(r.keep_alive);
  ASSERT_EQ(http::ParseRequest("GET / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n", {}, &r).kind,
            ParseResult::Kind::kOk);
  EXPECT_FALSE(r.keep_alive);
}

TEST(HttpResponse, RoundTripChunked) {
  std::string wire = http::SerializeChunkedHead(200, "text/plain") + http::EncodeChunk("hello ") +
                     http::EncodeChunk("world") + http::EncodeChunk("");
  http::ResponseHead h;
  auto p = http::ParseResponseHead(wire, 4096, &h);
  ASSERT_EQ(p.kind, ParseResult::Kind::kOk);
  EXPECT_EQ(h.status, 200);
  EXPECT_TRUE(h.chunked);
  http::ChunkedDecoder d;
  std::string out;
  // Byte by byte: the decoder is incremental.
  for (size_t i = p.consumed; i < wire.size(); ++i) ASSERT_TRUE(d.Feed(wire.substr(i, 1), &out));
  EXPECT_TRUE(d.done());
  EXPECT_EQ(out, "hello world");
  http::ChunkedDecoder bad;
  EXPECT_FALSE(bad.Feed("zz\r\n", &out));
}

TEST(HttpResponse, ContentLength) {
  std::string wire = http::SerializeResponse(404, "application/json", "{}", false);
  http::ResponseHead h;
  auto p = http::ParseResponseHead(wire, 4096, &h);
  ASSERT_EQ(p.kind, ParseResult::Kind::kOk);
  EXPECT_EQ(h.status, 404);
  EXPECT_EQ(*h.content_length, 2u);
  EXPECT_FALSE(h.keep_alive);
}

TEST(Codec, StatusMappingInOnePlace) {
  EXPECT_EQ(HttpStatusFor(Code::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(Code::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(Code::kAlreadyExists), 409);
  EXPECT_EQ(HttpStatusFor(Code::kConflict), 409);
  EXPECT_EQ(HttpStatusFor(Code::kFailedPrecondition), 409);
  EXPECT_EQ(HttpStatusFor(Code::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFor(Code::kInternal), 500);
}

TEST(Codec, DecodersNameTheField) {
  EXPECT_EQ(DecodeCreateApp(R"({"app_name": 1})").status().message(), "field 'app_name' must be a string");
  EXPECT_EQ(DecodeCreateApp(R"({"name": "web", "org_slug": "acme"})")->org.value(), "acme");
  EXPECT_EQ(DecodeMachine(R"({"rows": 70000})", true).status().message(), "field 'rows' must be between 0 and 65535");
  EXPECT_EQ(DecodeMachine(R"({"shell": true})", false).status().message(), "unknown field 'shell'");
  EXPECT_EQ(DecodeMachine(R"({"env": {"A": 1}})", false).status().message(), "field 'env.A' must be a string");
  EXPECT_EQ(DecodeScale(R"({"count": 1.5})").status().message(), "field 'count' must be an integer");
  EXPECT_EQ(DecodeScale(R"({"count": 18446744073709551615})").status().message(), "field 'count' is out of range");
  EXPECT_EQ(DecodeRelease("").status().message(), "field 'source' is required");
  EXPECT_TRUE(DecodeIp("").ok());
  auto bad = DecodeCreateOrg("{\"slug\": \"\xff\"}");
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ErrorBody("bad \xff byte").find("{\"error\":"), 0u);  // never throws on bad UTF-8
}

// --region placement: region codes, each once; a bad one is a 400 where it enters.
TEST(Codec, ScaleAndReleaseRegions) {
  auto ok = DecodeScale(R"({"count": 2, "regions": ["ams", "syd"]})");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->regions, (std::vector<std::string>{"ams", "syd"}));
  EXPECT_TRUE(DecodeScale(R"({"count": 2})")->regions.empty());
  EXPECT_EQ(DecodeScale(R"({"count": 1, "regions": ["AMS"]})").status().message(),
            "field 'regions': 'AMS' is not a region code (3 lowercase letters, e.g. ams)");
  EXPECT_EQ(DecodeScale(R"({"count": 1, "regions": ["ams", "ams"]})").status().message(),
            "field 'regions': ams is listed twice");
  auto rel = DecodeRelease(R"({"source": "app = 'x'", "regions": ["syd"]})");
  ASSERT_TRUE(rel.ok()) << rel.status().message();
  EXPECT_EQ(rel->regions, (std::vector<std::string>{"syd"}));
  EXPECT_EQ(DecodeRelease(R"({"source": "", "regions": "syd"})").status().code(), Code::kInvalidArgument);
}

TEST(Codec, FormatTime) {
  EXPECT_EQ(FormatTime(1700000000000), "2023-11-14T22:13:20Z");
  EXPECT_EQ(FormatTime(0), "");
}

}  // namespace
}  // namespace privcast::api
