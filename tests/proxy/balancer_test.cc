// Unit tests of the pure machine choice (proxy/balancer.h).
#include "proxy/balancer.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace privcast::proxy {
namespace {

struct Fixture {
  Snapshot snap;
  ServiceSpec svc;
  std::map<uint32_t, MachineStatus> st;

  Fixture() {
    snap.local_region = "ams";
    AppView app;
    app.name = "web";
    snap.apps.push_back(app);
    svc.soft_limit = 2;
    svc.hard_limit = 4;
  }
  uint32_t Add(const std::string& id, const std::string& region, bool started, int32_t load = 0, bool healthy = true,
               const std::string& group = "app") {
    MachineView m;
    m.id = id;
    m.region = region;
    m.process_group = group;
    m.state = started ? MachineRunState::kStarted : MachineRunState::kStopped;
    uint32_t idx = static_cast<uint32_t>(snap.machines.size());
    snap.machines.push_back(m);
    snap.apps[0].machines.push_back(idx);
    st[idx] = MachineStatus{started, !started, healthy, load};
    return idx;
  }
  Choice Choose(RoutingHints h = {}, uint64_t rnd = 42) {
    snap.Index();
    return ChooseMachine(
        snap, snap.apps[0], svc, [&](uint32_t i) { return st.at(i); }, h, rnd);
  }
};

TEST(Balancer, LocalRegionFirst) {
  Fixture f;
  f.Add("far", "ord", true, 0);
  uint32_t near = f.Add("near", "ams", true, 1);
  Choice c = f.Choose();
  EXPECT_EQ(c.kind, Choice::kRoute);
  EXPECT_EQ(c.machine, near);
}

TEST(Balancer, NearestOtherRegionFirstInACluster) {
  // distance_km (BuildSnapshot fills it with several hosts): fra before syd, though fra is
  // busier; on one host (distance 0 everywhere) the least loaded would win.
  Fixture f;
  uint32_t syd = f.Add("syd", "syd", true, 0);
  uint32_t fra = f.Add("fra", "fra", true, 1);
  f.snap.machines[syd].distance_km = 16600;
  f.snap.machines[fra].distance_km = 360;
  EXPECT_EQ(f.Choose().machine, fra);
  f.snap.machines[fra].distance_km = 0;
  f.snap.machines[syd].distance_km = 0;
  EXPECT_EQ(f.Choose().machine, syd);
}

TEST(Balancer, BelowSoftLimitBeforeLeastLoadedOverIt) {
  Fixture f;
  f.Add("a", "ams", true, 2);  // at soft limit
  uint32_t b = f.Add("b", "ams", true, 1);
  EXPECT_EQ(f.Choose().machine, b);
}

TEST(Balancer, LeastLoadedWithinRegion) {
  Fixture f;
  f.Add("a", "ams", true, 1);
  uint32_t b = f.Add("b", "ams", true, 0);
  EXPECT_EQ(f.Choose().machine, b);
}

TEST(Balancer, GoesToOtherRegionWhenLocalAtSoftLimit) {
  Fixture f;
  f.Add("local", "ams", true, 3);  // over soft, under hard
  uint32_t far = f.Add("far", "ord", true, 0);
  // Nearest region first: the local machine still takes it (it is below hard_limit).
  Choice c = f.Choose();
  EXPECT_EQ(c.kind, Choice::kRoute);
  EXPECT_NE(c.machine, far);
}

TEST(Balancer, TiesAreRandom) {
  Fixture f;
  f.Add("a", "ams", true, 0);
  f.Add("b", "ams", true, 0);
  f.Add("c", "ams", true, 0);
  std::set<uint32_t> seen;
  for (uint64_t r = 1; r < 200; ++r) seen.insert(f.Choose({}, r * 0x9E3779B97F4A7C15ull).machine);
  EXPECT_EQ(seen.size(), 3u);
}

TEST(Balancer, NeverPastHardLimitQueues) {
  Fixture f;
  f.Add("a", "ams", true, 4);
  f.Add("b", "ord", true, 4);
  EXPECT_EQ(f.Choose().kind, Choice::kQueue);
}

TEST(Balancer, UnhealthySkipped) {
  Fixture f;
  f.Add("sick", "ams", true, 0, false);
  uint32_t ok = f.Add("ok", "ord", true, 3);
  EXPECT_EQ(f.Choose().machine, ok);
}

TEST(Balancer, WakesNearestStoppedWhenNothingStarted) {
  Fixture f;
  f.Add("far", "ord", false);
  uint32_t near = f.Add("near", "ams", false);
  Choice c = f.Choose();
  EXPECT_EQ(c.kind, Choice::kWake);
  EXPECT_EQ(c.machine, near);
}

TEST(Balancer, NoAutoStartRejects) {
  Fixture f;
  f.svc.auto_start = false;
  f.Add("a", "ams", false);
  EXPECT_EQ(f.Choose().kind, Choice::kReject);
}

TEST(Balancer, WakeJoinsAMachineThatIsAlreadyStarting) {
  Fixture f;
  f.Add("stopped-a", "ams", false);
  uint32_t starting = f.Add("starting-b", "ams", false);
  f.Add("stopped-c", "ams", false);
  f.st[starting].starting = true;  // e.g. pre-warmed by a DNS lookup a moment ago
  Choice c = f.Choose();
  EXPECT_EQ(c.kind, Choice::kWake);
  EXPECT_EQ(c.machine, starting);
  // A nearer stopped machine still beats a farther starting one.
  Fixture g;
  uint32_t near = g.Add("near", "ams", false);
  uint32_t far = g.Add("far", "ord", false);
  g.st[far].starting = true;
  EXPECT_EQ(g.Choose().machine, near);
}

TEST(Balancer, AllOverSoftWakesInBackground) {
  Fixture f;
  uint32_t a = f.Add("a", "ams", true, 3);
  uint32_t b = f.Add("b", "ams", false);
  Choice c = f.Choose();
  EXPECT_EQ(c.kind, Choice::kRoute);
  EXPECT_EQ(c.machine, a);
  EXPECT_EQ(c.also_wake, static_cast<int64_t>(b));
}

TEST(Balancer, AllAtHardWithStoppedWakes) {
  Fixture f;
  f.Add("a", "ams", true, 4);
  uint32_t b = f.Add("b", "ord", false);
  Choice c = f.Choose();
  EXPECT_EQ(c.kind, Choice::kWake);
  EXPECT_EQ(c.machine, b);
}

TEST(Balancer, ProcessGroupsFilter) {
  Fixture f;
  f.svc.processes = {"web"};
  f.Add("worker", "ams", true, 0, true, "worker");
  uint32_t web = f.Add("web", "ord", true, 0, true, "web");
  EXPECT_EQ(f.Choose().machine, web);
}

TEST(Balancer, PreferRegionAndInstance) {
  Fixture f;
  f.Add("a", "ams", true, 0);
  uint32_t b = f.Add("b", "ord", true, 1);
  uint32_t c = f.Add("c", "ord", true, 0);
  RoutingHints h;
  h.prefer_region = "ord";
  EXPECT_EQ(f.Choose(h).machine, c);
  RoutingHints i;
  i.prefer_instance = "b";
  Choice ch = f.Choose(i);
  EXPECT_EQ(ch.machine, b);
  EXPECT_FALSE(ch.preference_unavailable);
}

TEST(Balancer, PreferenceUnavailableFlag) {
  Fixture f;
  f.Add("a", "ams", true, 0);
  f.Add("b", "ord", true, 4);  // at hard limit
  RoutingHints h;
  h.prefer_instance = "b";
  Choice c = f.Choose(h);
  EXPECT_EQ(c.kind, Choice::kRoute);
  EXPECT_TRUE(c.preference_unavailable);
}

TEST(Balancer, ForceInstanceNeverFallsBack) {
  Fixture f;
  f.Add("a", "ams", true, 0);
  f.Add("b", "ord", true, 4);
  RoutingHints h;
  h.force_instance = "b";
  EXPECT_EQ(f.Choose(h).kind, Choice::kQueue);
  h.force_instance = "nope";
  EXPECT_EQ(f.Choose(h).kind, Choice::kReject);
}

TEST(Balancer, ForceRegion) {
  Fixture f;
  f.Add("a", "ams", true, 0);
  uint32_t b = f.Add("b", "ord", true, 3);
  RoutingHints h;
  h.force_region = "ord";
  EXPECT_EQ(f.Choose(h).machine, b);
}

TEST(Balancer, ExcludeTried) {
  Fixture f;
  uint32_t a = f.Add("a", "ams", true, 0);
  uint32_t b = f.Add("b", "ams", true, 1);
  f.snap.Index();
  Choice c = ChooseMachine(
      f.snap, f.snap.apps[0], f.svc, [&](uint32_t i) { return f.st.at(i); }, {}, 1, std::vector<uint32_t>{a});
  EXPECT_EQ(c.machine, b);
}

// A machine that does not carry the app's services (machine run) is a
// member of the app, not of its service pool: never routed to, never woken for it.
TEST(Balancer, MachinesWithoutTheServicesTakeNoTraffic) {
  Fixture f;
  uint32_t adhoc = f.Add("sleeper", "ams", true, 0);
  f.snap.machines[adhoc].carries_services = false;
  EXPECT_FALSE(ServesService(f.snap.machines[adhoc], f.svc));
  EXPECT_EQ(f.Choose().kind, Choice::kReject);
  uint32_t stopped = f.Add("stopped-adhoc", "ams", false);
  f.snap.machines[stopped].carries_services = false;
  EXPECT_EQ(f.Choose().kind, Choice::kReject) << "woke a machine without the services";
  uint32_t web = f.Add("web", "ams", true, 1);
  for (uint64_t rnd = 0; rnd < 16; ++rnd) {
    Choice c = f.Choose({}, rnd);
    EXPECT_EQ(c.kind, Choice::kRoute);
    EXPECT_EQ(c.machine, web);
  }
}

}  // namespace
}  // namespace privcast::proxy
