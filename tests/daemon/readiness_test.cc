// Readiness (daemon/readiness.h) on the fake clock: probe rounds are direct Tick() calls, time
// moves only by FakeClock::Advance, nothing sleeps.
#include "daemon/readiness.h"

#include <gtest/gtest.h>

#include <future>
#include <map>
#include <set>

namespace privcast::daemon {
namespace {

// Runs posted replies at once (the proxy worker's Poster in the daemon).
class InlinePoster : public proxy::Poster {
 public:
  void Post(std::function<void()> fn) override { fn(); }
};

struct Fixture {
  FakeClock clock;
  ReadinessSignal signal{&clock};
  std::map<std::string, Readiness::Target> targets;      // machines started/starting
  std::set<std::pair<std::string, uint16_t>> listening;  // (id, port) that accepts
  std::vector<Listener> listeners;                       // what Listeners() reports
  std::map<std::string, int> probes;                     // accepts() calls per machine
  std::vector<std::string> notes;
  InlinePoster poster;
  Readiness r{&clock, std::chrono::seconds(30), &signal, Hooks()};

  Readiness::Hooks Hooks() {
    Readiness::Hooks h;
    h.target = [this](const std::string& id) -> std::optional<Readiness::Target> {
      auto it = targets.find(id);
      if (it == targets.end()) return std::nullopt;
      return it->second;
    };
    h.accepts = [this](const std::string& id, uint16_t port) -> Result<bool> {
      ++probes[id];
      return listening.count({id, port}) > 0;
    };
    h.listeners = [this](const std::string&) -> Result<std::vector<Listener>> { return listeners; };
    h.note = [this](const std::string&, const std::string&, const std::string& text) { notes.push_back(text); };
    return h;
  }
  // A waiter whose outcome lands in *out.
  WakeWaiter Waiter(uint16_t port, std::optional<Status>* out, Duration timeout = std::chrono::seconds(5)) {
    return WakeWaiter{port, &poster, [out](Status st) { *out = st; }, clock.Now() + timeout};
  }
  std::optional<ReadinessOutcome> Outcome(const std::string& id) {
    auto m = signal.WaitAll({id}, Duration::zero());
    if (!m.count(id)) return std::nullopt;
    return m[id];
  }
};

TEST(Readiness, MachineWithoutPortsOrWaitersIsReadyAtOnce) {
  Fixture f;
  f.targets["m1"] = {"app", {}};
  EXPECT_FALSE(f.r.Start("m1", {}));
  auto o = f.Outcome("m1");
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->kind, ReadinessOutcome::Kind::kReady);
  EXPECT_FALSE(f.r.Probing("m1"));
}

TEST(Readiness, WaiterIsAnsweredWhenThePortAccepts) {
  Fixture f;
  f.targets["m1"] = {"app", {8080}};
  std::optional<Status> got;
  f.r.AddWaiter("m1", f.Waiter(8080, &got));
  ASSERT_TRUE(f.r.Start("m1", {8080}));
  auto t = f.r.Tick(1);
  EXPECT_FALSE(t.changed);
  EXPECT_EQ(t.next, 1u);  // someone waits: every interval
  EXPECT_FALSE(got.has_value());
  f.listening.insert({"m1", 8080});
  t = f.r.Tick(1);
  EXPECT_TRUE(t.changed);
  EXPECT_EQ(t.next, 0u);
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(got->ok());
  EXPECT_TRUE(f.r.ReadyOn("m1", 8080));
  EXPECT_FALSE(f.r.HasWaiters("m1"));
  EXPECT_EQ(f.Outcome("m1")->kind, ReadinessOutcome::Kind::kReady);
}

TEST(Readiness, NobodyWaitingBacksOffToTheMaximumGap) {
  Fixture f;
  f.targets["m1"] = {"app", {8080}};
  ASSERT_TRUE(f.r.Start("m1", {8080}));
  std::vector<uint64_t> gaps;
  uint64_t step = 1;
  for (int i = 0; i < 10; ++i) {
    auto t = f.r.Tick(step);
    gaps.push_back(t.next);
    step = t.next;
  }
  EXPECT_EQ(gaps, (std::vector<uint64_t>{1, 2, 4, 8, 16, 32, 64, 80, 80, 80}));
  EXPECT_EQ(f.probes["m1"], 10);
  // A tick before the machine's next idle probe is due does not probe it.
  auto t = f.r.Tick(1);
  EXPECT_EQ(f.probes["m1"], 10);
  EXPECT_EQ(t.next, 79u);
}

TEST(Readiness, ExpiredWaiterFailsAndIsCounted) {
  Fixture f;
  f.targets["m1"] = {"app", {8080}};
  std::optional<Status> got;
  f.r.AddWaiter("m1", f.Waiter(8080, &got, std::chrono::seconds(1)));
  ASSERT_TRUE(f.r.Start("m1", {8080}));
  (void)f.r.Tick(1);
  EXPECT_FALSE(got.has_value());
  f.clock.Advance(std::chrono::seconds(1));
  (void)f.r.Tick(1);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->code(), Code::kUnavailable);
  EXPECT_EQ(f.r.failures(), 1u);
  EXPECT_TRUE(f.r.Probing("m1"));  // still probing until its own deadline
}

TEST(Readiness, GivesUpAtTheDeadlineWithAWarning) {
  Fixture f;
  f.targets["m1"] = {"web", {8080}};
  ASSERT_TRUE(f.r.Start("m1", {8080}));
  (void)f.r.Tick(1);
  f.clock.Advance(std::chrono::seconds(30));
  auto t = f.r.Tick(1);
  EXPECT_EQ(t.next, 0u);
  EXPECT_FALSE(f.r.Probing("m1"));
  EXPECT_TRUE(f.r.GaveUp("m1"));
  auto o = f.Outcome("m1");
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->kind, ReadinessOutcome::Kind::kWarning);
  EXPECT_EQ(o->warning, "app web machine m1 is not listening on port 8080");
  ASSERT_EQ(f.notes.size(), 1u);
  // A new process probes afresh.
  f.r.Launched("m1");
  EXPECT_FALSE(f.r.GaveUp("m1"));
}

TEST(Readiness, NamesAnAppListeningOnlyOnIts6pnAddress) {
  Fixture f;
  f.targets["m1"] = {"web", {8080}};
  f.listeners = {Listener{"fdaa:0:1::2", 8080, false}};
  ASSERT_TRUE(f.r.Start("m1", {8080}));
  (void)f.r.Tick(1);
  auto o = f.Outcome("m1");
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->kind, ReadinessOutcome::Kind::kWarning);
  EXPECT_NE(o->warning.find("listens on [fdaa:0:1::2]:8080 only"), std::string::npos) << o->warning;
}

TEST(Readiness, MachineNoLongerStartedStopsProbing) {
  Fixture f;
  f.targets["m1"] = {"app", {8080}};
  ASSERT_TRUE(f.r.Start("m1", {8080}));
  f.targets.clear();
  auto t = f.r.Tick(1);
  EXPECT_EQ(t.next, 0u);
  EXPECT_FALSE(f.r.Probing("m1"));
  EXPECT_EQ(f.probes["m1"], 0);
}

TEST(Readiness, FailAndAnswerReleaseEveryWaiterOnce) {
  Fixture f;
  std::optional<Status> a, b, c;
  f.r.AddWaiter("m1", f.Waiter(8080, &a));
  f.r.AddWaiter("m1", f.Waiter(9090, &b));
  f.r.AddWaiter("m2", f.Waiter(8080, &c));
  // m1 has no ports of its own: any waiter is released by Answer.
  f.r.Answer("m1", {});
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(a->ok() && b->ok());
  f.r.Fail("m2", NotFound("gone"));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->code(), Code::kNotFound);
  EXPECT_EQ(f.r.failures(), 1u);
}

TEST(ReadinessSignal, WaitAllReturnsWhatIsKnownAtTheTimeout) {
  FakeClock clock;
  ReadinessSignal s(&clock);
  s.Ready("a");
  s.Warn("b", "slow");
  auto m = s.WaitAll({"a", "b", "c"}, Duration::zero());
  EXPECT_EQ(m.size(), 2u);
  EXPECT_EQ(m["b"].warning, "slow");
  s.Forget({"a"});
  EXPECT_EQ(s.WaitAll({"a"}, Duration::zero()).size(), 0u);
}

// A deploy's wait for its machines' listeners is on the Clock: on a FakeClock it ends when the
// clock passes the timeout (here an hour, which a real-time wait would sit through).
TEST(ReadinessSignal, WaitAllEndsWhenTheClockPassesTheTimeout) {
  FakeClock clock;
  ReadinessSignal s(&clock);
  s.Ready("a");
  auto waiting = std::async(std::launch::async, [&] { return s.WaitAll({"a", "b"}, std::chrono::hours(1)); });
  // The wait reads its deadline when it begins, whenever that is: move the clock until it ends.
  for (int i = 0; i < 1000 && waiting.wait_for(std::chrono::milliseconds(10)) != std::future_status::ready; ++i)
    clock.Advance(std::chrono::hours(1));
  const bool ended = waiting.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  if (!ended) s.Ready("b");  // a wait that ignores the clock: end it so the test can report
  auto m = waiting.get();
  EXPECT_TRUE(ended) << "the wait did not end when the clock passed its timeout";
  EXPECT_EQ(m.size(), 1u);
  EXPECT_EQ(m.count("a"), 1u);
}

TEST(ReadinessSignal, WaitAllEndsWhenTheLastOutcomeArrives) {
  FakeClock clock;  // never moves: only the outcomes end this wait
  ReadinessSignal s(&clock);
  auto waiting = std::async(std::launch::async, [&] { return s.WaitAll({"a", "b"}, std::chrono::hours(1)); });
  s.Ready("a");
  s.Failed("b");
  auto m = waiting.get();
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m["b"].kind, ReadinessOutcome::Kind::kFailed);
}

}  // namespace
}  // namespace privcast::daemon
