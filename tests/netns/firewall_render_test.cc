// The nft scripts the firewall runs: a whole rebuild and the element-only update (no root).
#include <gtest/gtest.h>

#include "common/addr.h"
#include "netns/firewall.h"

namespace privcast::netns {
namespace {

FirewallState Base() {
  FirewallState s;
  s.networks = {1, 2};
  s.machine_ifs = {{"pcv1", 1}, {"pcv2", 1}, {"pcv3", 2}};
  s.flycast = {addr::FlycastAddress(1, 5)};
  s.flycast_tcp = {{addr::FlycastAddress(1, 5), 80, 80}, {addr::FlycastAddress(1, 5), 8000, 8010}};
  return s;
}

TEST(FirewallRender, WholeTableHasEveryElement) {
  std::string t = Firewall::Render(Base());
  EXPECT_EQ(t.rfind("table inet privcast {}\ndelete table inet privcast\n", 0), 0u) << t;
  EXPECT_NE(t.find("\"pcv1\" . fdaa:0:1::/48, \"pcv2\" . fdaa:0:1::/48, \"pcv3\" . fdaa:0:2::/48"), std::string::npos)
      << t;
  EXPECT_NE(t.find("counter xnet_00000002 {}"), std::string::npos) << t;
  std::string fc = addr::FlycastAddress(1, 5).ToString();
  EXPECT_NE(t.find("elements = { " + fc + " . 80, " + fc + " . 8000-8010 }"), std::string::npos) << t;
  // Only the services' ports; the rest of the address is dropped and counted.
  EXPECT_NE(t.find("ip6 daddr . tcp dport @flycast_tcp accept\n"
                   "    ip6 daddr @flycast icmpv6 type echo-request accept\n"
                   "    ip6 daddr @flycast counter name \"flycast_port_drop\" drop\n"),
            std::string::npos)
      << t;
  EXPECT_EQ(t.find("meta l4proto tcp accept"), std::string::npos) << t;
}

TEST(FirewallRender, ClusterPeersAddCrossHostRulesOnlyWhenPresent) {
  std::string one = Firewall::Render(Base());
  EXPECT_EQ(one.find("ct state established,related accept\n    ip6 saddr fdaa:0:1::/48"), std::string::npos) << one;
  FirewallState s = Base();
  s.peers = {*Ip6::Parse("fd00:77::a2"), *Ip6::Parse("fd00:77::a3")};
  std::string t = Firewall::Render(s);
  EXPECT_NE(t.find("  chain to_machine {\n"
                   "    meta nfproto ipv4 counter name \"fwd4_drop\" drop\n"
                   "    ct state established,related accept\n"
                   "    ip6 saddr { fd00:77::a2, fd00:77::a3 } meta l4proto tcp accept\n"
                   "    ip6 saddr fdaa:0:1::/48 ip6 daddr fdaa:0:1::/48 accept\n"
                   "    ip6 saddr fdaa:0:2::/48 ip6 daddr fdaa:0:2::/48 accept\n"
                   "    counter name \"fwd_drop\" drop\n"),
            std::string::npos)
      << t;
  // The single-host table is exactly what it was without peers.
  s.peers.clear();
  EXPECT_EQ(Firewall::Render(s), one);
}

TEST(FirewallRender, DeltaIsEmptyWhenNothingChanged) { EXPECT_EQ(Firewall::RenderDelta(Base(), Base()), ""); }

TEST(FirewallRender, DeltaDeletesBeforeAddingAndTouchesOnlyChangedElements) {
  FirewallState to = Base();
  to.machine_ifs.erase("pcv2");
  to.machine_ifs["pcv3"] = 1;  // slot reused by a machine of another network
  to.machine_ifs["pcv4"] = 2;
  to.flycast = {addr::FlycastAddress(2, 6)};
  to.flycast_tcp = {{addr::FlycastAddress(2, 6), 80, 80}};
  EXPECT_EQ(Firewall::RenderDelta(Base(), to),
            "delete element inet privcast machine_src { \"pcv2\" . fdaa:0:1::/48 }\n"
            "delete element inet privcast machine_src { \"pcv3\" . fdaa:0:2::/48 }\n"
            "delete element inet privcast flycast { " +
                addr::FlycastAddress(1, 5).ToString() +
                " }\n"
                "delete element inet privcast flycast_tcp { " +
                addr::FlycastAddress(1, 5).ToString() +
                " . 80 }\n"
                "delete element inet privcast flycast_tcp { " +
                addr::FlycastAddress(1, 5).ToString() +
                " . 8000-8010 }\n"
                "add element inet privcast machine_src { \"pcv3\" . fdaa:0:1::/48 }\n"
                "add element inet privcast machine_src { \"pcv4\" . fdaa:0:2::/48 }\n"
                "add element inet privcast flycast { " +
                addr::FlycastAddress(2, 6).ToString() +
                " }\n"
                "add element inet privcast flycast_tcp { " +
                addr::FlycastAddress(2, 6).ToString() + " . 80 }\n");
}

}  // namespace
}  // namespace privcast::netns
