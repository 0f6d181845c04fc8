// Unit tests of the autostop rule (proxy/autostop.h), driven with FakeClock-style durations.
#include "proxy/autostop.h"

#include <gtest/gtest.h>

#include <map>
#include <mutex>

#include "proxy/proxy.h"

namespace privcast::proxy {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

struct Fixture {
  Snapshot snap;
  std::map<uint32_t, AutostopMachine> st;
  Fixture(AutoStop mode = AutoStop::kStop, uint32_t min_running = 0) {
    snap.local_region = "ams";
    AppView app;
    app.name = "web";
    app.primary_region = "ams";
    ServiceSpec svc;
    svc.soft_limit = 2;
    svc.auto_stop = mode;
    svc.min_machines_running = min_running;
    app.services.push_back(svc);
    snap.apps.push_back(app);
  }
  uint32_t Add(const std::string& id, const std::string& region, int32_t load, Duration idle, bool started = true) {
    MachineView m;
    m.id = id;
    m.region = region;
    m.state = started ? MachineRunState::kStarted : MachineRunState::kStopped;
    uint32_t i = static_cast<uint32_t>(snap.machines.size());
    snap.machines.push_back(m);
    snap.apps[0].machines.push_back(i);
    st[i] = AutostopMachine{started, load, load, load ? Duration(0) : idle, false};
    return i;
  }
  std::vector<AutostopDecision> Plan(Duration idle = minutes(5)) {
    snap.Index();
    return PlanAutostop(
        snap, [&](uint32_t i) { return st.at(i); }, idle);
  }
};

TEST(Autostop, LoneIdleMachineStops) {
  Fixture f;
  uint32_t a = f.Add("a", "ams", 0, minutes(6));
  auto p = f.Plan();
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].machine, a);
  EXPECT_FALSE(p[0].suspend);
}

TEST(Autostop, NotBeforeIdleWindow) {
  Fixture f;
  f.Add("a", "ams", 0, minutes(4));
  EXPECT_TRUE(f.Plan().empty());
  EXPECT_EQ(f.Plan(minutes(4)).size(), 1u);
}

TEST(Autostop, LoneLoadedMachineStays) {
  Fixture f;
  f.Add("a", "ams", 1, minutes(10));
  EXPECT_TRUE(f.Plan().empty());
}

TEST(Autostop, ExcessCapacityRule) {
  // N=3, one at soft limit: 3 - (1 + 1) = 1 >= 1 → stop one idle machine.
  Fixture f;
  f.Add("busy", "ams", 2, minutes(0));
  uint32_t idle1 = f.Add("idle1", "ams", 0, minutes(9));
  f.Add("idle2", "ams", 0, minutes(7));
  auto p = f.Plan();
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].machine, idle1);  // idle the longest
}

TEST(Autostop, NoExcessNoStop) {
  // N=2, both at soft limit: 2 - (2 + 1) < 1.
  Fixture f;
  f.Add("a", "ams", 2, minutes(0));
  f.Add("b", "ams", 3, minutes(0));
  EXPECT_TRUE(f.Plan().empty());
  // N=2, one at soft limit, the other idle: 2 - (1+1) = 0 → keep the spare.
  Fixture g;
  g.Add("a", "ams", 2, minutes(0));
  g.Add("b", "ams", 0, minutes(10));
  EXPECT_TRUE(g.Plan().empty());
}

TEST(Autostop, PerRegion) {
  Fixture f;
  f.Add("ams1", "ams", 0, minutes(10));
  f.Add("ams2", "ams", 0, minutes(10));
  f.Add("ord1", "ord", 0, minutes(10));
  EXPECT_EQ(f.Plan().size(), 2u);  // one per region per pass
}

TEST(Autostop, MinMachinesRunningInPrimaryRegionOnly) {
  Fixture f(AutoStop::kStop, 1);
  f.Add("ams1", "ams", 0, minutes(10));
  uint32_t ord = f.Add("ord1", "ord", 0, minutes(10));
  auto p = f.Plan();
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].machine, ord);
}

TEST(Autostop, OffNeverStops) {
  Fixture f(AutoStop::kOff);
  f.Add("a", "ams", 0, minutes(100));
  EXPECT_TRUE(f.Plan().empty());
}

TEST(Autostop, SuspendMode) {
  Fixture f(AutoStop::kSuspend);
  f.Add("a", "ams", 0, minutes(100));
  auto p = f.Plan();
  ASSERT_EQ(p.size(), 1u);
  EXPECT_TRUE(p[0].suspend);
}

TEST(Autostop, NeverWithOpenConnection) {
  Fixture f;
  uint32_t a = f.Add("a", "ams", 0, minutes(100));
  f.st[a].open_conns = 1;
  EXPECT_TRUE(f.Plan().empty());
}

TEST(Autostop, StoppedMachinesIgnoredAndPendingNotRepeated) {
  Fixture f;
  f.Add("a", "ams", 0, minutes(100), false);
  uint32_t b = f.Add("b", "ams", 0, minutes(100));
  f.st[b].stop_pending = true;
  EXPECT_TRUE(f.Plan().empty());
}

TEST(Autostop, MachinesWithoutTheServicesAreNotTheirsToStop) {
  Fixture f;
  uint32_t a = f.Add("adhoc", "ams", 0, minutes(100));
  f.snap.machines[a].carries_services = false;
  EXPECT_TRUE(f.Plan().empty());
}

// The idle clock restarts when a machine starts (or resumes): a machine pre-warmed by a DNS
// lookup right after it was stopped is not stopped again before its request arrives.
// Driven through Proxy::Publish / RunAutostopPass on a FakeClock; no sockets.
struct RecordingStopper final : MachineStopper {
  std::mutex mu;
  std::vector<std::string> stops;
  void Stop(const std::string& id, bool, const std::string& reason) override {
    std::lock_guard<std::mutex> l(mu);
    stops.push_back(id + " " + reason);
  }
};

SnapshotPtr OneMachine(int64_t revision, MachineRunState state) {
  Fixture f;
  f.Add("m1", "ams", 0, Duration(0), state == MachineRunState::kStarted);
  f.snap.machines[0].state = state;
  f.snap.revision = revision;
  f.snap.Index();
  return std::make_shared<const Snapshot>(f.snap);
}

// No autostop thread, no health checks: the test runs every pass by hand.
ProxyOptions ManualAutostop(Duration idle) {
  ProxyOptions o;
  o.workers = 1;
  o.autostop_thread = false;
  o.health_checks = false;
  o.autostop_idle = idle;
  return o;
}

TEST(Autostop, IdleClockStartsWhenTheMachineStartsAgain) {
  FakeClock clock;
  RecordingStopper stopper;
  Proxy p(ManualAutostop(seconds(5)), nullptr, &stopper, &clock);
  p.Publish(OneMachine(1, MachineRunState::kStarted));
  clock.Advance(seconds(6));
  ASSERT_EQ(p.RunAutostopPass(), 1);  // idle 6 s ≥ 5 s: stopped
  p.Publish(OneMachine(2, MachineRunState::kStopping));
  p.Publish(OneMachine(3, MachineRunState::kStopped));
  clock.Advance(seconds(11));
  // Pre-warmed by a DNS lookup: starting, then started (8 ms later on the real host).
  p.Publish(OneMachine(4, MachineRunState::kStarting));
  clock.Advance(std::chrono::milliseconds(8));
  p.Publish(OneMachine(5, MachineRunState::kStarted));
  clock.Advance(std::chrono::milliseconds(53));
  EXPECT_EQ(p.RunAutostopPass(), 0) << "stopped 53 ms after it started";
  clock.Advance(seconds(4));
  EXPECT_EQ(p.RunAutostopPass(), 0);  // still inside the idle window
  clock.Advance(seconds(1));
  EXPECT_EQ(p.RunAutostopPass(), 1);  // idle window over: stopped again
  std::lock_guard<std::mutex> l(stopper.mu);
  ASSERT_EQ(stopper.stops.size(), 2u);
  EXPECT_EQ(stopper.stops[1], "m1 idle 5s");
}

TEST(Autostop, ResumeRestartsTheIdleClock) {
  FakeClock clock;
  RecordingStopper stopper;
  Proxy p(ManualAutostop(seconds(5)), nullptr, &stopper, &clock);
  p.Publish(OneMachine(1, MachineRunState::kStarted));
  clock.Advance(seconds(6));
  p.Publish(OneMachine(2, MachineRunState::kSuspended));
  clock.Advance(minutes(1));
  p.Publish(OneMachine(3, MachineRunState::kStarted));  // resumed
  EXPECT_EQ(p.RunAutostopPass(), 0);
  clock.Advance(seconds(5));
  EXPECT_EQ(p.RunAutostopPass(), 1);
}

}  // namespace
}  // namespace privcast::proxy
