#include "common/addr.h"

#include <gtest/gtest.h>

namespace privcast {
namespace {

TEST(AddrTest, NetworkAndFlycastLayout) {
  EXPECT_EQ(addr::NetworkCidr(0x00011234), "fdaa:1:1234::/48");
  EXPECT_EQ(addr::FlycastAddress(0x00011234, 7).ToString(), "fdaa:1:1234:0:1::7");
  EXPECT_EQ(addr::FlycastAddress(0x00011234, 0x10002).ToString(), "fdaa:1:1234:0:1:0:1:2");
  EXPECT_TRUE(addr::IsFlycast(addr::FlycastAddress(5, 1)));
  EXPECT_EQ(addr::NetworkOf(addr::FlycastAddress(5, 1)), 5u);
}

TEST(AddrTest, SixPnLayout) {
  Ip6 a = addr::SixPnAddress(0xabcd0001, 0x00000a7b, 0x12345678);
  EXPECT_EQ(a.ToString(), "fdaa:abcd:1:0:a7b:1234:5678:2");
  EXPECT_EQ(addr::SixPnGateway(0xabcd0001, 0xa7b, 0x12345678).ToString(), "fdaa:abcd:1:0:a7b:1234:5678:1");
  EXPECT_EQ(addr::NetworkOf(a), 0xabcd0001u);
  EXPECT_EQ(addr::HostOf(a), 0xa7bu);
  EXPECT_FALSE(addr::IsFlycast(a));
}

TEST(AddrTest, ReservedRanges) {
  EXPECT_EQ(addr::DnsAddress().ToString(), "fdaa::3");
  EXPECT_FALSE(addr::NetworkOf(addr::DnsAddress()).has_value());
  EXPECT_FALSE(addr::NetworkOf(*Ip6::Parse("fd00::1")).has_value());
  // host ids 0 and 1 are never 6PN hosts, so the flycast /80 never overlaps a machine /112.
  EXPECT_FALSE(addr::HostOf(addr::FlycastAddress(9, 3)).has_value());
}

TEST(AddrTest, ParseRejectsGarbage) {
  EXPECT_FALSE(Ip6::Parse("not-an-ip").has_value());
  EXPECT_FALSE(Ip6::Parse("").has_value());
  EXPECT_FALSE(Ip6::Parse(std::string(100, 'f')).has_value());
  EXPECT_FALSE(addr::ParseV4("300.1.1.1").has_value());
}

TEST(AddrTest, LinkV4Slots) {
  EXPECT_EQ(addr::V4ToString(addr::LinkV4Host(0)), "172.19.0.0");
  EXPECT_EQ(addr::V4ToString(addr::LinkV4Machine(0)), "172.19.0.1");
  EXPECT_EQ(addr::V4ToString(addr::LinkV4Machine(200)), "172.19.1.145");
  EXPECT_EQ(addr::ParseV4("172.19.1.145"), addr::LinkV4Machine(200));
}

}  // namespace
}  // namespace privcast
