#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>
#include <random>
#include <string>

#include "proxy/codec/ip_text.h"

namespace privcast::codec {
namespace {

std::string Ours6(const uint8_t* a) {
  char buf[kMaxIpTextLen];
  return std::string(buf, FormatIp6(a, buf));
}
std::string Libc6(const uint8_t* a) {
  char buf[INET6_ADDRSTRLEN];
  return inet_ntop(AF_INET6, a, buf, sizeof(buf));
}

TEST(IpText, MatchesInetNtopOnSpecialAddresses) {
  const char* samples[] = {"::",
                           "::1",
                           "1::",
                           "fdaa::3",
                           "fdaa:0:1:a7b:5::2",
                           "fdaa:0:1:0:1::3",
                           "::ffff:10.0.0.1",
                           "::1.2.3.4",
                           "1:0:0:2:0:0:0:3",
                           "1:0:0:2:0:0:3:4",
                           "0:0:1::",
                           "1:0:1:0:1:0:1:0",
                           "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                           "::ffff:0:0",
                           "::ffff:0.0.0.0",
                           "0:0:0:0:0:1:0:0",
                           "2001:db8::ff00:42:8329",
                           "::0.0.0.2",
                           "1:2:3:4:5:6:7:0"};
  for (const char* s : samples) {
    in6_addr a;
    ASSERT_EQ(inet_pton(AF_INET6, s, &a), 1) << s;
    EXPECT_EQ(Ours6(a.s6_addr), Libc6(a.s6_addr)) << s;
  }
}

TEST(IpText, MatchesInetNtopOnRandomAddresses) {
  std::mt19937 rng(3);
  for (int i = 0; i < 20000; ++i) {
    uint8_t a[16];
    // Sparse groups so that zero runs of every length and position occur.
    for (int g = 0; g < 8; ++g) {
      unsigned v = (rng() % 3 == 0) ? 0 : (rng() % 2 ? rng() & 0xffff : rng() & 0xf);
      a[2 * g] = static_cast<uint8_t>(v >> 8);
      a[2 * g + 1] = static_cast<uint8_t>(v);
    }
    if (i % 50 == 0) {  // v4-mapped and v4-compatible shapes
      std::memset(a, 0, 10);
      a[10] = a[11] = (i % 100 == 0) ? 0xff : 0;
    }
    ASSERT_EQ(Ours6(a), Libc6(a));
    char ours[16], libc[INET_ADDRSTRLEN];
    std::string o(ours, FormatIp4(a, ours));
    ASSERT_EQ(o, inet_ntop(AF_INET, a, libc, sizeof(libc)));
  }
}

TEST(IpText, FormatIpSockaddr) {
  sockaddr_storage ss{};
  auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
  s6->sin6_family = AF_INET6;
  inet_pton(AF_INET6, "fdaa:0:1:a7b:5::2", &s6->sin6_addr);
  char buf[kMaxIpTextLen];
  EXPECT_EQ(std::string(buf, FormatIp(ss, buf)), "fdaa:0:1:a7b:5::2");
  sockaddr_storage v4{};
  auto* s4 = reinterpret_cast<sockaddr_in*>(&v4);
  s4->sin_family = AF_INET;
  inet_pton(AF_INET, "172.19.0.1", &s4->sin_addr);
  EXPECT_EQ(std::string(buf, FormatIp(v4, buf)), "172.19.0.1");
  sockaddr_storage un{};
  un.ss_family = AF_UNIX;
  EXPECT_EQ(FormatIp(un, buf), 0u);
  char small[8];
  EXPECT_EQ(FormatIp(v4, small), 0u);
}

}  // namespace
}  // namespace privcast::codec
