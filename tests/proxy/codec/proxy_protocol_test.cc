#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>
#include <random>
#include <string>

#include "proxy/codec/proxy_protocol.h"

namespace privcast::codec {
namespace {

sockaddr_storage V4(const char* ip, uint16_t port) {
  sockaddr_storage ss{};
  auto* s = reinterpret_cast<sockaddr_in*>(&ss);
  s->sin_family = AF_INET;
  s->sin_port = htons(port);
  EXPECT_EQ(inet_pton(AF_INET, ip, &s->sin_addr), 1);
  return ss;
}
sockaddr_storage V6(const char* ip, uint16_t port) {
  sockaddr_storage ss{};
  auto* s = reinterpret_cast<sockaddr_in6*>(&ss);
  s->sin6_family = AF_INET6;
  s->sin6_port = htons(port);
  EXPECT_EQ(inet_pton(AF_INET6, ip, &s->sin6_addr), 1);
  return ss;
}

std::string W1(const sockaddr_storage& c, const sockaddr_storage& d) {
  char buf[kProxyV1MaxLen];
  size_t n = WriteProxyV1(c, d, buf);
  return std::string(buf, n);
}
std::string W2(const sockaddr_storage& c, const sockaddr_storage& d) {
  char buf[kProxyV2MaxWriteLen];
  size_t n = WriteProxyV2(c, d, buf);
  return std::string(buf, n);
}

bool SameAddr(const sockaddr_storage& a, const sockaddr_storage& b) {
  if (a.ss_family != b.ss_family) return false;
  if (a.ss_family == AF_INET) {
    auto& x = reinterpret_cast<const sockaddr_in&>(a);
    auto& y = reinterpret_cast<const sockaddr_in&>(b);
    return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
  }
  auto& x = reinterpret_cast<const sockaddr_in6&>(a);
  auto& y = reinterpret_cast<const sockaddr_in6&>(b);
  return x.sin6_port == y.sin6_port && std::memcmp(&x.sin6_addr, &y.sin6_addr, 16) == 0;
}

TEST(ProxyV1, ExactFormat) {
  EXPECT_EQ(W1(V4("192.168.0.1", 56324), V4("192.168.0.11", 443)), "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
  EXPECT_EQ(W1(V6("fdaa:0:1:a7b:5::2", 40000), V6("fdaa:0:1:0:1::3", 80)),
            "PROXY TCP6 fdaa:0:1:a7b:5::2 fdaa:0:1:0:1::3 40000 80\r\n");
  // Mixed families: the IPv4 side is v4-mapped, written in hex groups (v1 grammar).
  EXPECT_EQ(W1(V4("10.0.0.1", 1), V6("::1", 2)), "PROXY TCP6 ::ffff:a00:1 ::1 1 2\r\n");
  // Both v4-mapped (IPv4 client on a dual-stack socket): written as TCP4.
  EXPECT_EQ(W1(V6("::ffff:10.0.0.1", 1), V6("::ffff:10.0.0.2", 2)), "PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\n");
  EXPECT_EQ(W1(V4("10.0.0.1", 1), V6("::ffff:10.0.0.2", 2)), "PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\n");
  std::string mapped2 = W2(V6("::ffff:10.0.0.1", 1), V6("::ffff:10.0.0.2", 2));
  ASSERT_EQ(mapped2.size(), 28u);
  EXPECT_EQ(static_cast<unsigned char>(mapped2[13]), 0x11);
  sockaddr_storage unix_addr{};
  unix_addr.ss_family = AF_UNIX;
  EXPECT_EQ(W1(unix_addr, V4("1.2.3.4", 5)), "PROXY UNKNOWN\r\n");
  // Longest possible line fits the 107-byte bound.
  std::string longest = W1(V6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535),
                           V6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535));
  EXPECT_EQ(longest.size(), 104u);
  EXPECT_LE(longest.size(), kProxyV1MaxLen);
  char tiny[10];
  EXPECT_EQ(WriteProxyV1(V4("1.2.3.4", 1), V4("1.2.3.4", 2), tiny), 0u);
}

TEST(ProxyV2, ExactFormat) {
  std::string h = W2(V4("192.168.0.1", 56324), V4("192.168.0.11", 443));
  const unsigned char want[] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11,
                                0x00, 0x0c, 192,  168,  0,    1,    192,  168,  0,    11,   0xdc, 0x04, 0x01, 0xbb};
  ASSERT_EQ(h.size(), sizeof(want));
  EXPECT_EQ(std::memcmp(h.data(), want, sizeof(want)), 0);

  std::string h6 = W2(V6("fdaa::1", 1), V6("fdaa::2", 2));
  ASSERT_EQ(h6.size(), 52u);
  EXPECT_EQ(static_cast<unsigned char>(h6[12]), 0x21);
  EXPECT_EQ(static_cast<unsigned char>(h6[13]), 0x21);
  EXPECT_EQ(h6[14], 0);
  EXPECT_EQ(h6[15], 36);
  EXPECT_EQ(static_cast<unsigned char>(h6[16]), 0xfd);
  EXPECT_EQ(static_cast<unsigned char>(h6[31]), 0x01);
  EXPECT_EQ(static_cast<unsigned char>(h6[47]), 0x02);
  EXPECT_EQ(h6[49], 1);
  EXPECT_EQ(h6[51], 2);

  sockaddr_storage none{};
  std::string u = W2(none, none);
  ASSERT_EQ(u.size(), 16u);
  EXPECT_EQ(static_cast<unsigned char>(u[13]), 0x00);
  EXPECT_EQ(u[15], 0);
}

TEST(ProxyProtocol, RoundTrip) {
  std::mt19937 rng(1);
  for (int i = 0; i < 500; ++i) {
    sockaddr_storage c{}, d{};
    bool six = rng() & 1;
    for (sockaddr_storage* s : {&c, &d}) {
      if (six) {
        auto* a = reinterpret_cast<sockaddr_in6*>(s);
        a->sin6_family = AF_INET6;
        for (auto& b : a->sin6_addr.s6_addr) b = static_cast<uint8_t>(rng());
        a->sin6_port = static_cast<uint16_t>(rng());
      } else {
        auto* a = reinterpret_cast<sockaddr_in*>(s);
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = static_cast<uint32_t>(rng());
        a->sin_port = static_cast<uint16_t>(rng());
      }
    }
    for (int v = 1; v <= 2; ++v) {
      std::string h = v == 1 ? W1(c, d) : W2(c, d);
      std::string buf = h + "GET / HTTP/1.1\r\n";
      ProxyHeader ph;
      ProxyParseResult r = ParseProxyHeader(buf, &ph);
      ASSERT_TRUE(r.done()) << r.reason << " " << h;
      EXPECT_EQ(ph.version, v);
      EXPECT_EQ(ph.length, h.size());
      EXPECT_FALSE(ph.local);
      EXPECT_EQ(ph.family, six ? AF_INET6 : AF_INET);
      EXPECT_TRUE(SameAddr(ph.client, c));
      EXPECT_TRUE(SameAddr(ph.dest, d));
      // Every strict prefix is incomplete, never an error.
      for (size_t n = 0; n < h.size(); ++n) {
        ProxyHeader tmp;
        EXPECT_EQ(ParseProxyHeader(h.substr(0, n), &tmp).status, ParseStatus::kIncomplete) << n;
      }
    }
  }
}

TEST(ProxyProtocol, ParsesUnknownAndLocal) {
  ProxyHeader h;
  ASSERT_TRUE(ParseProxyHeader("PROXY UNKNOWN\r\nrest", &h).done());
  EXPECT_TRUE(h.local);
  EXPECT_EQ(h.family, AF_UNSPEC);
  EXPECT_EQ(h.length, 15u);
  ASSERT_TRUE(ParseProxyHeader("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", &h).done());
  EXPECT_TRUE(h.local);
  std::string local(kProxyV2Signature);
  local += std::string("\x20\x00\x00\x00", 4);
  ASSERT_TRUE(ParseProxyHeader(local, &h).done());
  EXPECT_TRUE(h.local);
  EXPECT_EQ(h.version, 2);
  // v2 with TLVs after the addresses: skipped.
  std::string tlv(kProxyV2Signature);
  tlv += std::string("\x21\x11\x00\x11", 4);
  tlv += std::string("\x01\x02\x03\x04\x05\x06\x07\x08\x00\x50\x01\xbb", 12);
  tlv += std::string("\x04\x00\x02\xab\xcd", 5);  // PP2_TYPE_NOOP
  ASSERT_TRUE(ParseProxyHeader(tlv + "payload", &h).done());
  EXPECT_EQ(h.length, tlv.size());
  EXPECT_EQ(h.family, AF_INET);
}

TEST(ProxyProtocol, RejectsMalformed) {
  const char* bad_v1[] = {
      "GET / HTTP/1.1\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
      "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
      "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
      "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
      "PROXY TCP4 ::1 ::1 1 2\r\n",
      "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
      "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
      "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
      "PROXY UNKNOWNX\r\n",
      "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
  };
  for (const char* s : bad_v1) {
    ProxyHeader h;
    EXPECT_EQ(ParseProxyHeader(s, &h).status, ParseStatus::kError) << s;
  }
  ProxyHeader h;
  // Over 107 bytes without CRLF.
  EXPECT_EQ(ParseProxyHeader("PROXY UNKNOWN " + std::string(100, 'a'), &h).status, ParseStatus::kError);
  EXPECT_EQ(ParseProxyHeader("PROXY UNKNOWN " + std::string(80, 'a'), &h).status, ParseStatus::kIncomplete);

  auto v2 = [](std::string_view rest) { return std::string(kProxyV2Signature) + std::string(rest); };
  EXPECT_EQ(ParseProxyHeader(v2(std::string("\x11\x11\x00\x00", 4)), &h).status, ParseStatus::kError);  // v1 in v2
  EXPECT_EQ(ParseProxyHeader(v2(std::string("\x22\x11\x00\x0c", 4) + std::string(12, 'a')), &h).status,
            ParseStatus::kError);  // command 2
  EXPECT_EQ(ParseProxyHeader(v2(std::string("\x21\x41\x00\x0c", 4) + std::string(12, 'a')), &h).status,
            ParseStatus::kError);  // family 4
  EXPECT_EQ(ParseProxyHeader(v2(std::string("\x21\x11\x00\x08", 4) + std::string(8, 'a')), &h).status,
            ParseStatus::kError);  // address block too short
  EXPECT_EQ(ParseProxyHeader(v2(std::string("\x21\x21\x00\x0c", 4) + std::string(12, 'a')), &h).status,
            ParseStatus::kError);                                                                       // IPv6 needs 36
  EXPECT_EQ(ParseProxyHeader(v2(std::string("\x21\x11\xff\xff", 4)), &h).status, ParseStatus::kError);  // too long
  EXPECT_EQ(ParseProxyHeader(std::string("\r\n\r\n\0\r\nQUIX\n", 12), &h).status, ParseStatus::kError);
  EXPECT_EQ(ParseProxyHeader(std::string("\r\n\r\n\0\r\n", 7), &h).status, ParseStatus::kIncomplete);
}

}  // namespace
}  // namespace privcast::codec
