// h2_head: an HTTP/2 request's fields → the HTTP/1.1 head text the codec takes, an HTTP/1 head of
// ours → HTTP/2 fields, HTTP2-Settings' base64url (RFC 9113 §8.2.3, §8.3.1; RFC 7540 §3.2.1).
#include "proxy/h2_head.h"

#include <gtest/gtest.h>

#include "proxy/codec/http1.h"

namespace privcast::proxy {
namespace {

H2RequestFields Request(std::initializer_list<std::pair<const char*, const char*>> fields, size_t max = 16384) {
  H2RequestFields r;
  for (auto& [n, v] : fields) r.Add(n, v, max);
  return r;
}

TEST(H2Head, RequestBecomesAnHttp11HeadTheParserAccepts) {
  auto r = Request({{":method", "GET"},
                    {":scheme", "http"},
                    {":authority", "web.flycast"},
                    {":path", "/a?b"},
                    {"cookie", "a=1"},
                    {"accept", "*/*"},
                    {"cookie", "b=2"},
                    {"te", "trailers"}});
  bool chunked = true;
  std::string h = r.ToHttp1(true, true, &chunked);
  EXPECT_FALSE(chunked);
  EXPECT_EQ(h, "GET /a?b HTTP/1.1\r\nhost: web.flycast\r\naccept: */*\r\ncookie: a=1; b=2\r\n\r\n");
  EXPECT_TRUE(r.te_trailers);
  codec::RequestParser p;
  codec::RequestHead head;
  EXPECT_TRUE(p.Parse(h, &head).done());
  EXPECT_EQ(head.host, "web.flycast");
}

TEST(H2Head, BodyFramingForTheHttp11App) {
  auto post = Request({{":method", "POST"}, {":authority", "a"}, {":path", "/"}});
  bool chunked = false;
  EXPECT_NE(post.ToHttp1(false, true, &chunked).find("transfer-encoding: chunked\r\n"), std::string::npos);
  EXPECT_TRUE(chunked);
  EXPECT_EQ(post.ToHttp1(false, false, &chunked).find("transfer-encoding"), std::string::npos);  // h2 app
  EXPECT_FALSE(chunked);
  EXPECT_NE(post.ToHttp1(true, true, &chunked).find("content-length: 0\r\n"), std::string::npos);
  auto sized = Request({{":method", "PUT"}, {":authority", "a"}, {":path", "/"}, {"content-length", "5"}});
  std::string h = sized.ToHttp1(false, true, &chunked);
  EXPECT_FALSE(chunked);
  EXPECT_NE(h.find("content-length: 5\r\n"), std::string::npos);
  EXPECT_EQ(h.find("chunked"), std::string::npos);
}

TEST(H2Head, AuthorityWinsOverHostAndHostAloneIsUsed) {
  bool c;
  EXPECT_NE(Request({{":method", "GET"}, {":authority", "a"}, {":path", "/"}, {"host", "b"}})
                .ToHttp1(true, true, &c)
                .find("host: a\r\n"),
            std::string::npos);
  std::string h = Request({{":method", "GET"}, {":path", "/"}, {"host", "b"}}).ToHttp1(true, true, &c);
  EXPECT_NE(h.find("host: b\r\n"), std::string::npos);
  EXPECT_EQ(h.find("host: b\r\nhost"), std::string::npos);
}

TEST(H2Head, HeaderListOverTheLimitIsMarkedTooLarge) {
  std::string big(400, 'v');
  auto r = Request({{":method", "GET"}, {":path", "/"}, {"x-a", big.c_str()}, {"x-b", big.c_str()}}, 700);
  EXPECT_TRUE(r.too_large);  // 32 + name + value per field (RFC 9113 §6.5.2)
  EXPECT_FALSE(Request({{":method", "GET"}, {":path", "/"}, {"x-a", big.c_str()}}, 700).too_large);
}

TEST(H2Head, HeadFieldsLowercaseAndDropConnectionSpecificOnes) {
  H2Fields f = HeadFields(
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n"
      "Keep-Alive: timeout=5\r\nX-Thing:  v  \r\nUpgrade: h2c\r\n\r\n");
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0], (std::pair<std::string, std::string>{"content-type", "text/plain"}));
  EXPECT_EQ(f[1], (std::pair<std::string, std::string>{"x-thing", "v"}));
}

TEST(H2Head, HeadNvPointsIntoTheLowercasedTextAndSkipsOneName) {
  std::string head = "GET / HTTP/1.1\r\nHost: a\r\nX-Fly-Thing: 1\r\nConnection: close\r\nAccept:  */* \r\n\r\n";
  std::vector<nghttp2_nv> nv;
  HeadNv(std::span<char>(head.data(), head.size()), &nv, "host");
  ASSERT_EQ(nv.size(), 2u);
  auto str = [](const uint8_t* p, size_t n) { return std::string(reinterpret_cast<const char*>(p), n); };
  EXPECT_EQ(str(nv[0].name, nv[0].namelen), "x-fly-thing");
  EXPECT_EQ(str(nv[0].value, nv[0].valuelen), "1");
  EXPECT_EQ(str(nv[1].name, nv[1].namelen), "accept");
  EXPECT_EQ(str(nv[1].value, nv[1].valuelen), "*/*");
  EXPECT_EQ(reinterpret_cast<char*>(nv[1].name), head.data() + head.find("accept"));  // no copy
  EXPECT_EQ(head.substr(0, 16), "GET / HTTP/1.1\r\n");                                // start line as it was
}

// Names are lowercased eight bytes at a time: every length, the letters only (not '@' '[' '`'
// '{' next to them), bytes above 0x7F left alone.
TEST(H2Head, NamesOfEveryLengthAreLowercasedAsciiOnly) {
  const std::string name = "AZ@[`{az-Q0123456789-\xC3\x84Long-NAME";
  for (size_t len = 1; len <= name.size(); ++len) {
    std::string n = name.substr(0, len);
    std::string head = "HTTP/1.1 200 OK\r\n" + n + ": v\r\n\r\n";
    std::vector<nghttp2_nv> nv;
    HeadNv(std::span<char>(head.data(), head.size()), &nv);
    ASSERT_EQ(nv.size(), 1u) << n;
    std::string want = n;
    for (char& c : want)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(nv[0].name), nv[0].namelen), want);
  }
}

// Values new with every message would churn HPACK's dynamic table (an insert and an eviction per
// message, and the constant fields pushed out with them): they go as never-indexed literals.
TEST(H2Head, PerMessageValuesAreNeverIndexed) {
  std::string head = "HTTP/1.1 200 OK\r\nServer: Fly/1\r\nFly-Request-Id: 01abc-lhr\r\nX-Request-Start: t=123\r\n\r\n";
  std::vector<nghttp2_nv> nv;
  HeadNv(std::span<char>(head.data(), head.size()), &nv);
  ASSERT_EQ(nv.size(), 3u);
  EXPECT_EQ(nv[0].flags, NGHTTP2_NV_FLAG_NONE);      // server: indexed once, then one byte
  EXPECT_EQ(nv[1].flags, NGHTTP2_NV_FLAG_NO_INDEX);  // fly-request-id
  EXPECT_EQ(nv[2].flags, NGHTTP2_NV_FLAG_NO_INDEX);  // x-request-start
}

// A response head in a reused scratch: common names go as static copies nghttp2 need not copy
// (NO_COPY_NAME), the others and every value stay in the scratch, to be copied at submit.
TEST(H2Head, CommonNamesAreInternedOthersLeftToCopy) {
  std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-App: 1\r\n\r\n";
  std::vector<nghttp2_nv> nv;
  HeadNv(std::span<char>(head.data(), head.size()), &nv);
  InternNames(nv);
  ASSERT_EQ(nv.size(), 2u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(nv[0].name), nv[0].namelen), "content-type");
  EXPECT_TRUE(nv[0].flags & NGHTTP2_NV_FLAG_NO_COPY_NAME);
  EXPECT_FALSE(nv[0].flags & NGHTTP2_NV_FLAG_NO_COPY_VALUE);
  EXPECT_NE(reinterpret_cast<char*>(nv[0].name), head.data() + head.find("content-type"));  // the static copy
  EXPECT_EQ(nv[1].flags, NGHTTP2_NV_FLAG_NONE);
  EXPECT_EQ(reinterpret_cast<char*>(nv[1].name), head.data() + head.find("x-app"));
}

TEST(H2Head, Base64UrlOfHttp2Settings) {
  std::string out;
  ASSERT_TRUE(Base64UrlDecode("AAMAAABkAAQAoAAAAAIAAAAA", &out));  // curl's: 3=100, 4=10485760, 2=0
  ASSERT_EQ(out.size(), 18u);
  EXPECT_EQ(out[1], 3);
  EXPECT_EQ(static_cast<unsigned char>(out[5]), 100);
  ASSERT_TRUE(Base64UrlDecode("", &out));
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(Base64UrlDecode("-_8", &out));
  EXPECT_EQ(out, std::string("\xfb\xff", 2));
  EXPECT_FALSE(Base64UrlDecode("A", &out));      // impossible length
  EXPECT_FALSE(Base64UrlDecode("AA AA", &out));  // outside the alphabet
}

}  // namespace
}  // namespace privcast::proxy
