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
  return s;
}

TEST(FirewallRender, WholeTableHasEveryElement) {
  std::string t = Firewall::Render(Base());
  EXPECT_EQ(t.rfind("table inet privcast {}\ndelete table inet privcast\n", 0), 0u) << t;
  EXPECT_NE(t.find("\"pcv1\" . fdaa:0:1::/48, \"pcv2\" . fdaa:0:1::/48, \"pcv3\" . fdaa:0:2::/48"), std::string::npos) << t;
  EXPECT_NE(t.find("counter xnet_00000002 {}"), std::string::npos) << t;
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
  EXPECT_EQ(Firewall::RenderDelta(Base(), to),
            "delete element inet privcast machine_src { \"pcv2\" . fdaa:0:1::/48 }\n"
            "delete element inet privcast machine_src { \"pcv3\" . fdaa:0:2::/48 }\n"
            "delete element inet privcast flycast { " + addr::FlycastAddress(1, 5).ToString() + " }\n"
            "add element inet privcast machine_src { \"pcv3\" . fdaa:0:1::/48 }\n"
            "add element inet privcast machine_src { \"pcv4\" . fdaa:0:2::/48 }\n"
            "add element inet privcast flycast { " + addr::FlycastAddress(2, 6).ToString() + " }\n");
}

}  // namespace
}  // namespace privcast::netns
