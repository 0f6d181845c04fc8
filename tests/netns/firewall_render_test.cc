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
  EXPECT_NE(t.find("\"pcv1\" . fdaa:0:1::/48, \"pcv2\" . fdaa:0:1::/48, \"pcv3\" . fdaa:0:2::/48"), std::string::npos) << t;
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

TEST(FirewallRender, DeltaIsEmptyWhenNothingChanged) {
  EXPECT_EQ(Firewall::RenderDelta(Base(), Base()), "");
}

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
            "delete element inet privcast flycast { " + addr::FlycastAddress(1, 5).ToString() + " }\n"
            "delete element inet privcast flycast_tcp { " + addr::FlycastAddress(1, 5).ToString() + " . 80 }\n"
            "delete element inet privcast flycast_tcp { " + addr::FlycastAddress(1, 5).ToString() + " . 8000-8010 }\n"
            "add element inet privcast machine_src { \"pcv3\" . fdaa:0:1::/48 }\n"
            "add element inet privcast machine_src { \"pcv4\" . fdaa:0:2::/48 }\n"
            "add element inet privcast flycast { " + addr::FlycastAddress(2, 6).ToString() + " }\n"
            "add element inet privcast flycast_tcp { " + addr::FlycastAddress(2, 6).ToString() + " . 80 }\n");
}

}  // namespace
}  // namespace privcast::netns
