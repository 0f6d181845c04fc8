#include "daemon/snapshot_builder.h"

#include <gtest/gtest.h>

#include <tuple>

namespace privcast::daemon {
namespace {

TEST(SnapshotBuilderTest, IndexesAppsMachinesAndFlycast) {
  store::StateView st;
  st.revision = 7;
  st.networks.push_back({"personal", "default", 0x11, true, 0});
  st.networks.push_back({"other", "default", 0x22, true, 0});
  st.apps.push_back({"web", "personal", "default", 0, 1});
  store::Machine m;
  m.id = "0123456789abcd";
  m.app = "web";
  m.net32 = 0x11;
  m.host_id = 5;
  m.machine32 = 9;
  m.link_slot = 3;
  m.region = "ams";
  m.state = store::MachineState::kStarted;
  st.machines.push_back(m);
  store::IpAssignment a;
  a.address = addr::FlycastAddress(0x22, 1).ToString();
  a.app = "web";
  a.net32 = 0x22;
  st.ips.push_back(a);
  st.current_releases.push_back({"web", 1, "{}", "", 0});
  Snapshot s = BuildSnapshot(st, 5, "ams", [](const store::Release&) -> Result<ReleaseInfo> {
    ReleaseInfo i;
    i.services.push_back(ServiceSpec{});
    i.kill_signal = KillSignal::Terminate();
    return i;
  });
  EXPECT_EQ(s.revision, 7);
  const AppView* app = s.FindApp("web");
  ASSERT_NE(app, nullptr);
  EXPECT_EQ(app->net32, 0x11u);
  EXPECT_EQ(app->services.size(), 1u);
  ASSERT_EQ(app->machines.size(), 1u);
  const MachineView& mv = s.machines[app->machines[0]];
  EXPECT_EQ(mv.six_pn, addr::SixPnAddress(0x11, 5, 9));
  EXPECT_EQ(mv.link_v4, addr::LinkV4Machine(3));
  EXPECT_EQ(mv.kill_signal.number(), 15);
  EXPECT_EQ(mv.state, MachineRunState::kStarted);
  const FlycastEntry* f = s.FindFlycast(addr::FlycastAddress(0x22, 1));
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->net32, 0x22u);  // admitted from the network it was allocated on
  EXPECT_EQ(s.apps[f->app_index].name, "web");
}

TEST(SnapshotBuilderTest, MachinesOfLivePeersAreRemoteBackendsOthersOnlyListed) {
  store::StateView st;
  st.networks.push_back({"personal", "default", 0x11, true, 0});
  st.apps.push_back({"web", "personal", "default", 0, 1});
  for (auto [id, host, region] : {std::tuple{"aaaaaaaaaaaaaa", 5u, "ams"}, std::tuple{"bbbbbbbbbbbbbb", 7u, "syd"},
                                  std::tuple{"cccccccccccccc", 9u, "fra"}}) {
    store::Machine m;
    m.id = id;
    m.app = "web";
    m.net32 = 0x11;
    m.host_id = host;
    m.machine32 = 1;
    m.region = region;
    m.carries_services = true;
    m.state = store::MachineState::kStarted;
    st.machines.push_back(m);
  }
  auto decode = [](const store::Release&) -> Result<ReleaseInfo> { return ReleaseInfo{}; };
  Snapshot one = BuildSnapshot(st, 5, "ams", decode);  // no live peer: local machines only
  EXPECT_TRUE(one.machines[0].carries_services);
  EXPECT_FALSE(one.machines[1].carries_services);
  EXPECT_FALSE(one.machines[2].carries_services);
  EXPECT_EQ(one.machines[1].distance_km, 0u);
  Snapshot s = BuildSnapshot(st, 5, "ams", decode, {7});  // host 7 live, host 9 down
  EXPECT_FALSE(s.machines[0].remote);
  EXPECT_TRUE(s.machines[1].remote);
  EXPECT_TRUE(s.machines[1].carries_services);
  EXPECT_FALSE(s.machines[2].carries_services);
  EXPECT_EQ(s.machines[0].distance_km, 0u);
  EXPECT_GT(s.machines[1].distance_km, 16000u);  // ams → syd
  EXPECT_LT(s.machines[2].distance_km, 500u);    // ams → fra
  EXPECT_EQ(s.regions, RegionTable::Default());
  // The cluster's own table (StateView::regions, ADR 0018) orders the tiers instead.
  st.regions = std::make_shared<const RegionTable>(std::vector<Region>{{"ams", "", 52.31, 4.76},
                                                                       {"fra", "", 50.03, 8.57},
                                                                       {"syd", "", -33.94, 151.18}},
                                                   std::vector<RegionDistance>{{"syd", "ams", 100}});
  Snapshot custom = BuildSnapshot(st, 5, "ams", decode, {7, 9});
  EXPECT_EQ(custom.regions, st.regions);
  EXPECT_EQ(custom.machines[1].distance_km, 100u);  // ams → syd, explicit
  EXPECT_GT(custom.machines[2].distance_km, 300u);  // ams → fra, great circle
}

TEST(SnapshotBuilderTest, BadReleaseKeepsAddressesButNoServices) {
  store::StateView st;
  st.networks.push_back({"personal", "default", 0x11, true, 0});
  st.apps.push_back({"web", "personal", "default", 0, 1});
  store::IpAssignment a;
  a.address = addr::FlycastAddress(0x11, 1).ToString();
  a.app = "web";
  a.net32 = 0x11;
  st.ips.push_back(a);
  st.current_releases.push_back({"web", 1, "garbage", "", 0});
  Snapshot s = BuildSnapshot(st, 5, "ams",
                             [](const store::Release&) -> Result<ReleaseInfo> { return InvalidArgument("bad"); });
  ASSERT_NE(s.FindApp("web"), nullptr);
  EXPECT_TRUE(s.FindApp("web")->services.empty());
  EXPECT_NE(s.FindFlycast(addr::FlycastAddress(0x11, 1)), nullptr);
}

}  // namespace
}  // namespace privcast::daemon

namespace privcast::daemon {
namespace {

// A per-service address (ADR 0013) carries its service's scope: the app's services that serve
// the group, narrowed to it; a service the release does not have reaches nothing.
TEST(SnapshotBuilderTest, ServiceAddressesCarryTheirScope) {
  store::StateView st;
  st.networks.push_back({"personal", "default", 0x11, true, 0});
  st.apps.push_back({"shop", "personal", "default", 0, 1});
  auto ip = [&](uint32_t n, const std::string& service) {
    store::IpAssignment a;
    a.address = addr::FlycastAddress(0x11, n).ToString();
    a.app = "shop";
    a.net32 = 0x11;
    a.service = service;
    st.ips.push_back(a);
  };
  ip(1, "");
  ip(2, "api");
  ip(3, "gone");
  st.current_releases.push_back({"shop", 1, "{}", "", 0});
  Snapshot s = BuildSnapshot(st, 5, "ams", [](const store::Release&) -> Result<ReleaseInfo> {
    ReleaseInfo i;
    ServiceSpec all;
    all.ports.push_back(PortSpec{80, 80});
    i.services.push_back(all);
    i.process_groups = {"api", "web"};
    return i;
  });
  const FlycastEntry* app = s.FindFlycast(addr::FlycastAddress(0x11, 1));
  const FlycastEntry* api = s.FindFlycast(addr::FlycastAddress(0x11, 2));
  const FlycastEntry* gone = s.FindFlycast(addr::FlycastAddress(0x11, 3));
  ASSERT_TRUE(app && api && gone);
  const AppView& shop = *s.FindApp("shop");
  EXPECT_EQ(shop.process_groups, (std::vector<std::string>{"api", "web"}));
  EXPECT_EQ(&app->Services(shop), &shop.services);
  ASSERT_EQ(api->Services(shop).size(), 1u);
  EXPECT_EQ(api->service, "api");
  EXPECT_EQ(api->Services(shop)[0].processes, std::vector<std::string>{"api"});
  EXPECT_EQ(gone->service, "gone");
  EXPECT_TRUE(gone->Services(shop).empty());  // fail closed
}

}  // namespace
}  // namespace privcast::daemon
