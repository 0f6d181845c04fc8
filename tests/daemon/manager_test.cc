// MachineManager against a FakeRuntime and a real (in-memory SQLite) Registry: the
// reconcile, wake, stop, deploy and failure paths, synchronised on the control loop.
#include "daemon/machine_manager.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <deque>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <set>

#include "fake_runtime.h"
#include "memory_registry.h"
#include "store/keys.h"
#include "store/registry.h"
#include "store/store.h"

namespace privcast::daemon {
namespace {

using store::MachineState;

// Runs posted closures when the test drains it (the "worker" side of a wake).
class QueuePoster final : public proxy::Poster {
 public:
  void Post(std::function<void()> fn) override {
    if (on_post) on_post();
    std::lock_guard<std::mutex> l(mu_);
    q_.push_back(std::move(fn));
  }
  int Drain() {
    std::deque<std::function<void()>> q;
    {
      std::lock_guard<std::mutex> l(mu_);
      q.swap(q_);
    }
    for (auto& f : q) f();
    return static_cast<int>(q.size());
  }

  std::function<void()> on_post;  // runs on the posting thread, before the answer is queued

 private:
  std::mutex mu_;
  std::deque<std::function<void()>> q_;
};

AppPlan TestPlan(bool services = true) {
  AppPlan p;
  AppPlan::Group g;
  g.name = "app";
  g.command = "sleep 1000";
  g.has_services = services;
  if (services) g.internal_ports = {8080};
  p.groups.push_back(g);
  ServiceSpec s;
  s.internal_port = 8080;
  s.auto_start = true;
  if (services) p.info.services.push_back(s);
  p.info.kill_signal = KillSignal::Terminate();
  return p;
}

class ManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MemoryRegistry r = OpenMemoryRegistry(&clock_);
    store_ = std::move(r.store);
    registry_ = std::move(r.registry);
    host_ = r.host;
    ManagerOptions mo;
    mo.host_id = host_.id;
    mo.region = "ams";
    mo.wake_timeout = std::chrono::seconds(5);
    mo.deploy_wait = std::chrono::milliseconds(500);
    mo.probe_interval = std::chrono::microseconds(100);
    mo_ = mo;
    loop_.Start();
    NewManager();
  }
  // A manager on the fixture's store and runtime, started (as privcastd does at start).
  void NewManager() {
    manager_ = std::make_unique<MachineManager>(
        registry_.get(), &rt_, &loop_, nullptr, &clock_, mo_,
        [this](const store::Release&) -> Result<AppPlan> { return plan_; },
        [this](SnapshotPtr s) {
          std::lock_guard<std::mutex> l(mu_);
          last_ = s;
          ++publishes_;
        });
    Status s;
    loop_.RunSync([&] { s = manager_->Start(); });
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  // privcastd stops (machines keep running unless `gone` says they died meanwhile) and a new
  // one starts on the same store.
  void RestartDaemon(const std::set<std::string>& gone = {}) {
    loop_.RunSync([&] {
      manager_->Shutdown();
      manager_.reset();  // on the loop: its delayed closures then find it gone
    });
    rt_.adoptable = rt_.running;
    for (const auto& id : gone) {
      rt_.adoptable.erase(id);
      rt_.running.erase(id);
    }
    NewManager();
  }
  void TearDown() override {
    loop_.RunSync([&] { manager_->Shutdown(); });
    loop_.Stop();
  }

  store::App MakeApp(const std::string& name) {
    auto a = registry_->CreateApp(name, std::nullopt, std::nullopt);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    return a.value();
  }
  store::Release Release(const std::string& app) {
    auto r = registry_->CreateRelease(app, "{}", "app = \"" + app + "\"\n");
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.value();
  }
  // An app with one deployed machine (Deploy with ha=false); its id, or "" on failure.
  std::string DeployOne(const std::string& name) {
    auto app = MakeApp(name);
    auto out = manager_->Deploy(app, Release(name), false);
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    return out.ok() && !out->machines.empty() ? out->machines[0].id : std::string();
  }
  store::Machine Get(const std::string& id) {
    auto m = registry_->GetMachine(id);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? m.value() : store::Machine{};
  }
  // Waits on the control loop until pred holds (bounded; each round is one loop turn).
  bool Until(const std::function<bool()>& pred) {
    for (int i = 0; i < 20000; ++i) {
      bool ok = false;
      loop_.RunSync([&] { ok = pred(); });
      if (ok) return true;
    }
    return false;
  }
  void Sync() {
    loop_.RunSync([] {});
  }
  // A deploy whose machines never listen waits deploy_wait on the manager's clock (this fake
  // one): the test moves it, a deploy_wait at a time, until the deploy returns.
  Result<DeployOutcome> DeployMovingTheClock(const store::App& app, const store::Release& release, bool ha = false) {
    auto deploy = std::async(std::launch::async, [&] { return manager_->Deploy(app, release, ha); });
    for (int i = 0; i < 1000 && deploy.wait_for(std::chrono::milliseconds(10)) != std::future_status::ready; ++i)
      clock_.Advance(mo_.deploy_wait);
    return deploy.get();
  }

  FakeClock clock_;
  QueuePoster poster_;  // outlives TearDown: Shutdown answers pending waiters through it
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<store::Registry> registry_;
  store::Host host_;
  FakeRuntime rt_;
  ControlLoop loop_;
  ManagerOptions mo_;
  AppPlan plan_ = TestPlan();
  std::unique_ptr<MachineManager> manager_;
  std::mutex mu_;
  SnapshotPtr last_;
  int publishes_ = 0;

  // A cluster of this host (ams) and a live syd host; the manager restarted to see it. Its id.
  uint32_t WithSydHost();
};

TEST_F(ManagerTest, DeployCreatesTwoMachinesPerServiceGroupAndStartsThem) {
  auto app = MakeApp("web");
  auto out = manager_->Deploy(app, Release("web"), /*ha=*/true);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->machines.size(), 2u);
  EXPECT_TRUE(out->warnings.empty()) << out->warnings[0];
  for (const auto& m : out->machines) {
    EXPECT_EQ(Get(m.id).state, MachineState::kStarted);
    EXPECT_EQ(rt_.launches[m.id], 1);
    EXPECT_EQ(m.process_group, "app");
  }
  EXPECT_EQ(rt_.last_plan.argv, (std::vector<std::string>{"sleep", "1000"}));  // exec, not sh -c
  EXPECT_TRUE(rt_.last_plan.shell_command.empty());
}

TEST_F(ManagerTest, DeployWithoutHaCreatesOne) {
  auto app = MakeApp("solo");
  auto out = manager_->Deploy(app, Release("solo"), /*ha=*/false);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->machines.size(), 1u);
}

TEST_F(ManagerTest, DeployWarnsWhenAppListensOnlyOn6pn) {
  rt_.listen_on_launch = false;
  auto app = MakeApp("sixpn");
  // Make every launched machine listen on its 6PN address only.
  loop_.RunSync([&] {});
  auto rel = Release("sixpn");
  std::thread t([&] {
    // The fake gets its listener once the machine exists (as a real app would bind later).
    for (int i = 0; i < 2000; ++i) {
      bool done = false;
      loop_.RunSync([&] {
        for (auto& [id, n] : rt_.launches) {
          (void)n;
          rt_.listeners[id] = {{"fdaa:1:2:0:3:4:5:2", 8080, false}};
          done = true;
        }
      });
      if (done) return;
      std::this_thread::yield();
    }
  });
  auto out = manager_->Deploy(app, rel, false);
  t.join();
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->warnings.size(), 1u);
  EXPECT_NE(out->warnings[0].find("listens on [fdaa:1:2:0:3:4:5:2]:8080 only"), std::string::npos) << out->warnings[0];
  EXPECT_NE(out->warnings[0].find("0.0.0.0:8080"), std::string::npos);
}

TEST_F(ManagerTest, ProbingBacksOffWhenNobodyWaits) {
  // A machine that never listens and that no connection waits for: deploy waits
  // deploy_wait (500 ms) for it. Probing every interval (100 µs) would make ~5000 probes;
  // the back-off (1, 2, 4 … 80 intervals) makes at most 7 + 5000/80 ≈ 70. A manager of its
  // own on a control loop of the fake clock: the test moves time an interval at a time.
  ControlLoop loop(&clock_);
  loop.Start();
  FakeRuntime rt;
  rt.listen_on_launch = false;
  MachineManager manager(
      registry_.get(), &rt, &loop, nullptr, &clock_, mo_,
      [this](const store::Release&) -> Result<AppPlan> { return plan_; }, nullptr);
  Status started;
  loop.RunSync([&] { started = manager.Start(); });
  EXPECT_TRUE(started.ok()) << started.ToString();
  auto app = MakeApp("deaf");
  auto release = Release("deaf");
  auto deploy = std::async(std::launch::async, [&] { return manager.Deploy(app, release, false); });
  bool launched = false;  // then the deploy waits, from about now
  for (int i = 0; i < 20000 && !launched; ++i) loop.RunSync([&] { launched = !rt.launches.empty(); });
  EXPECT_TRUE(launched);
  for (int i = 0; i < 20000 && deploy.wait_for(std::chrono::seconds(0)) != std::future_status::ready; ++i) {
    clock_.Advance(mo_.probe_interval);
    loop.RunSync([] {});  // the probe round that became due
  }
  auto out = deploy.get();
  int probes = 0;
  loop.RunSync([&] {
    probes = rt.probes;
    manager.Shutdown();
  });
  loop.Stop();
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->warnings.size(), 1u);
  EXPECT_NE(out->warnings[0].find("is not listening yet"), std::string::npos) << out->warnings[0];
  EXPECT_GT(probes, 10);  // it kept probing while the deploy waited
  EXPECT_LT(probes, 200);
}

TEST_F(ManagerTest, OwnWritesDoNotTriggerAReconcileOtherWritesDo) {
  std::string id = DeployOne("own");
  ASSERT_FALSE(id.empty());
  auto rev = store_->Revision();  // the test's own writes above: seen once
  ASSERT_TRUE(rev.ok());
  manager_->NotifyStoreChanged(*rev);
  loop_.RunSync([] {});
  manager_->Stop(id, /*suspend=*/true, "idle");  // the manager's own transitions
  ASSERT_TRUE(Until([&] { return Get(id).state == MachineState::kSuspended; }));
  auto publishes = [&] {
    std::lock_guard<std::mutex> l(mu_);
    return publishes_;
  };
  int before = publishes();
  rev = store_->Revision();
  ASSERT_TRUE(rev.ok());
  manager_->NotifyStoreChanged(*rev);
  loop_.RunSync([] {});
  EXPECT_EQ(publishes(), before) << "a burst of the manager's own writes reloaded and republished";
  // A write the manager did not make (an API call) is reconciled.
  ASSERT_TRUE(registry_->CreateApp("other", std::nullopt, std::nullopt).ok());
  rev = store_->Revision();
  ASSERT_TRUE(rev.ok());
  manager_->NotifyStoreChanged(*rev);
  loop_.RunSync([] {});
  EXPECT_GT(publishes(), before);
}

TEST_F(ManagerTest, ThrowawayMachinesAreNotProbedForServicePorts) {
  // machine run --shell in an app with services: a client, never a backend, so nothing
  // waits for it to listen on the service's internal port.
  auto app = MakeApp("svc");
  ASSERT_TRUE(manager_->Deploy(app, Release("svc"), false).ok());
  int before = 0;
  loop_.RunSync([&] { before = rt_.probes; });
  store::MachineSpec spec;
  spec.app = "svc";
  spec.process_group = "app";
  spec.cmd = {"/bin/true"};
  spec.auto_destroy = true;
  rt_.listen_on_launch = false;
  auto m = manager_->RunMachine(spec);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  int after = 0;
  loop_.RunSync([&] { after = rt_.probes; });
  EXPECT_EQ(after, before);
}

TEST_F(ManagerTest, MachineRunMachinesCarryNoServicesUnlessAsked) {
  // `machine run -- sleep 600` in an app with an [http_service] got its
  // traffic (and a 30 s wait for it to listen). Only machines that carry the services do.
  auto app = MakeApp("pool");
  auto out = manager_->Deploy(app, Release("pool"), /*ha=*/false);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->machines.size(), 1u);
  EXPECT_TRUE(out->machines[0].carries_services);
  int before = 0;
  loop_.RunSync([&] { before = rt_.probes; });
  rt_.listen_on_launch = false;  // like `sleep 600`
  store::MachineSpec spec;
  spec.app = "pool";
  spec.cmd = {"/bin/sleep", "600"};
  auto sleeper = manager_->RunMachine(spec);
  ASSERT_TRUE(sleeper.ok()) << sleeper.status().ToString();
  spec.carries_services = true;  // machine run --services
  auto member = manager_->RunMachine(spec);
  ASSERT_TRUE(member.ok()) << member.status().ToString();
  ASSERT_TRUE(Until([&] { return rt_.probes > before; })) << "the --services machine is probed for its port";
  manager_->NotifyStoreChanged();  // what the store watcher does after an API write
  SnapshotPtr s;
  ASSERT_TRUE(Until([&] {
    s = manager_->snapshot();
    return s->machine_by_id.count(sleeper->id) && s->machine_by_id.count(member->id);
  }));
  auto view = [&](const std::string& id) { return s->machines.at(s->machine_by_id.at(id)); };
  EXPECT_TRUE(view(out->machines[0].id).carries_services);
  EXPECT_FALSE(view(sleeper->id).carries_services);
  EXPECT_EQ(view(sleeper->id).state, MachineRunState::kStarted) << "ready at once: nothing to listen on";
  EXPECT_TRUE(view(member->id).carries_services);
  EXPECT_EQ(view(member->id).state, MachineRunState::kStarting) << "waits for its service port";
  // A redeploy manages only its own machines: the machine run ones are left alone.
  auto again = DeployMovingTheClock(app, Release("pool"));  // it replaces (stops) the running one
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->machines.size(), 1u);
  EXPECT_EQ(again->machines[0].id, out->machines[0].id);
  EXPECT_EQ(Get(sleeper->id).state, MachineState::kStarted);
}

TEST_F(ManagerTest, EveryMachineIsAdmittedByTheFirewallBeforeItsProcessStarts) {
  // Its first packet (a DNS query) would otherwise be dropped as spoofed.
  auto app = MakeApp("adm");
  auto out = manager_->Deploy(app, Release("adm"), /*ha=*/true);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  store::MachineSpec spec;
  spec.app = "adm";
  spec.cmd = {"/bin/true"};
  auto adhoc = manager_->RunMachine(spec);
  ASSERT_TRUE(adhoc.ok()) << adhoc.status().ToString();
  spec.auto_destroy = true;
  auto throwaway = manager_->RunMachine(spec);
  ASSERT_TRUE(throwaway.ok()) << throwaway.status().ToString();
  loop_.RunSync([&] {
    EXPECT_EQ(rt_.launches.size(), 4u);
    EXPECT_TRUE(rt_.launched_unadmitted.empty()) << *rt_.launched_unadmitted.begin() << " ran before it was admitted";
  });
}

TEST_F(ManagerTest, MachineRunRefusesACommandTheMachineCannotSee) {
  // Refused before any machine exists, saying why.
  MakeApp("run");
  store::MachineSpec spec;
  spec.app = "run";
  spec.cmd = {"/tmp/privcast-checkout/scripts/demo/hello-nginx"};
  auto m = manager_->RunMachine(spec);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Code::kInvalidArgument);
  EXPECT_NE(m.status().message().find("does not exist inside the machine: a machine sees only the host's /usr"),
            std::string::npos)
      << m.status().message();
  auto code = manager_->RunAttached(
      spec, -1, -1, -1, false, [] { return false; }, [](const store::Machine&) {});
  ASSERT_FALSE(code.ok());
  EXPECT_EQ(code.status().message(), m.status().message());
  auto all = registry_->ListMachines("run");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty());
  EXPECT_TRUE(rt_.launches.empty());
}

TEST_F(ManagerTest, WakeStartsStoppedMachineAndCoalescesConcurrentWakes) {
  auto app = MakeApp("wake");
  auto out = manager_->Deploy(app, Release("wake"), false);
  ASSERT_TRUE(out.ok());
  std::string id = out->machines[0].id;
  // Stop it for real first (autostop path).
  manager_->Stop(id, false, "idle 300s");
  ASSERT_TRUE(Until([&] { return !rt_.stops.empty(); }));
  EXPECT_EQ(rt_.last_stop_signal, 15);  // kill_signal from the release
  rt_.Exit(id, 0);
  ASSERT_TRUE(Until([&] { return Get(id).state == MachineState::kStopped; }));

  rt_.listen_on_launch = false;  // the app needs a moment to listen
  QueuePoster& poster = poster_;
  int ok = 0, failed = 0;
  for (int i = 0; i < 5; ++i) manager_->Wake(id, 8080, &poster, [&](Status st) { st.ok() ? ++ok : ++failed; });
  ASSERT_TRUE(Until([&] { return rt_.running.count(id) > 0; }));
  Sync();
  poster.Drain();
  EXPECT_EQ(ok, 0) << "answered before the app listened";
  EXPECT_EQ(rt_.launches[id], 2);  // one deploy launch + exactly one wake launch
  loop_.RunSync([&] { rt_.listeners[id] = {{"0.0.0.0", 8080, true}}; });
  ASSERT_TRUE(Until([&] { return poster.Drain() > 0 || ok > 0; }));
  poster.Drain();
  EXPECT_EQ(ok, 5);
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(Get(id).state, MachineState::kStarted);
  EXPECT_EQ(rt_.launches[id], 2);
}

TEST_F(ManagerTest, WakeOfReadyMachineAnswersAtOnce) {
  auto app = MakeApp("ready");
  auto out = manager_->Deploy(app, Release("ready"), false);
  ASSERT_TRUE(out.ok());
  QueuePoster& poster = poster_;
  int ok = 0;
  manager_->Wake(out->machines[0].id, 8080, &poster, [&](Status st) { ok += st.ok(); });
  Sync();
  poster.Drain();
  EXPECT_EQ(ok, 1);
}

TEST_F(ManagerTest, FailedLaunchFailsWaitersAndLeavesMachineFailed) {
  std::string id = DeployOne("broken");
  ASSERT_FALSE(id.empty());
  manager_->Stop(id, false, "idle");
  ASSERT_TRUE(Until([&] { return !rt_.stops.empty(); }));
  rt_.Exit(id, 0);
  ASSERT_TRUE(Until([&] { return Get(id).state == MachineState::kStopped; }));
  rt_.fail_launch = true;
  QueuePoster& poster = poster_;
  Status got;
  bool called = false;
  manager_->Wake(id, 8080, &poster, [&](Status st) {
    got = st;
    called = true;
  });
  ASSERT_TRUE(Until([&] { return poster.Drain() > 0 || called; }));
  EXPECT_FALSE(got.ok());
  EXPECT_NE(got.message().find("injected launch failure"), std::string::npos);
  EXPECT_EQ(Get(id).state, MachineState::kFailed);
  EXPECT_EQ(Get(id).last_event, "failed to start: injected launch failure");
  // The proxy never wakes a failed machine again by itself: it is not wakeable.
  SnapshotPtr s = manager_->snapshot();
  EXPECT_EQ(s->machines.at(s->machine_by_id.at(id)).state, MachineRunState::kOther);
}

TEST_F(ManagerTest, DeployWhoseMachinesCannotStartFailsNamingEachReasonOnce) {
  // `Release v1 ... deployed: 2 machines` with none started.
  rt_.fail_launch = true;
  auto app = MakeApp("nostart");
  auto out = manager_->Deploy(app, Release("nostart"), /*ha=*/true);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->machines.size(), 2u);
  EXPECT_EQ(out->failed, 2);
  ASSERT_EQ(out->errors.size(), 1u) << "one distinct reason";
  const std::string& e = out->errors[0];
  EXPECT_EQ(e.find("injected launch failure (machines "), 0u) << e;
  for (const auto& m : out->machines) {
    EXPECT_EQ(m.state, MachineState::kFailed);
    EXPECT_NE(e.find(m.id), std::string::npos) << e;
  }
  EXPECT_TRUE(out->warnings.empty()) << "the reason is an error, not also a warning: " << out->warnings[0];
  // A deploy that can start them (the config fixed) starts the failed machines again.
  rt_.fail_launch = false;
  auto again = manager_->Deploy(app, Release("nostart"), /*ha=*/true);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->failed, 0);
  EXPECT_TRUE(again->errors.empty());
  ASSERT_EQ(again->machines.size(), 2u);
  for (const auto& m : again->machines) EXPECT_EQ(m.state, MachineState::kStarted);
}

TEST_F(ManagerTest, DeployOfAGroupWithoutServicesFailsToo) {
  // Nothing to listen on is "ready at once" only for a machine that started.
  plan_ = TestPlan(/*services=*/false);
  rt_.fail_launch = true;
  auto app = MakeApp("worker");
  auto out = manager_->Deploy(app, Release("worker"), /*ha=*/true);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->machines.size(), 1u);
  EXPECT_EQ(out->failed, 1);
  ASSERT_EQ(out->errors.size(), 1u);
  EXPECT_EQ(out->errors[0], "injected launch failure (machine " + out->machines[0].id + ")");
}

TEST_F(ManagerTest, WakeTimesOutWhenAppNeverListens) {
  auto app = MakeApp("deaf");
  rt_.listen_on_launch = false;
  auto out = DeployMovingTheClock(app, Release("deaf"));
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->warnings.size(), 1u);  // deploy says it is not listening
  QueuePoster& poster = poster_;
  Status got;
  bool called = false;
  manager_->Wake(out->machines[0].id, 8080, &poster, [&](Status st) {
    got = st;
    called = true;
  });
  Sync();
  clock_.Advance(std::chrono::seconds(6));  // past wake_timeout
  ASSERT_TRUE(Until([&] { return poster.Drain() > 0 || called; }));
  EXPECT_EQ(got.code(), Code::kUnavailable);
}

TEST_F(ManagerTest, WakeWhileStoppingStartsAgainAfterExit) {
  std::string id = DeployOne("race");
  ASSERT_FALSE(id.empty());
  manager_->Stop(id, false, "idle");
  ASSERT_TRUE(Until([&] { return Get(id).state == MachineState::kStopping; }));
  QueuePoster& poster = poster_;
  int ok = 0;
  manager_->Wake(id, 8080, &poster, [&](Status st) { ok += st.ok(); });
  Sync();
  rt_.Exit(id, 0);
  ASSERT_TRUE(Until([&] { return poster.Drain() > 0 || ok > 0; }));
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(Get(id).state, MachineState::kStarted);
}

// A rolling deploy's health wait found it: a redeploy stops a machine to restart it
// on the new release. When a reconcile runs after its process ended but before the exit event
// is handled, Act(stopping) records `stopped` itself; the exit event must still restart it.
TEST_F(ManagerTest, RedeployRestartsAMachineWhoseExitAReconcileSawFirst) {
  auto app = MakeApp("redeploy");
  auto first = manager_->Deploy(app, Release("redeploy"), false);
  ASSERT_TRUE(first.ok() && !first->machines.empty());
  std::string id = first->machines[0].id;
  ASSERT_TRUE(Until([&] { return Get(id).state == MachineState::kStarted; }));
  ASSERT_TRUE(DeployMovingTheClock(app, Release("redeploy")).ok());  // stops it to restart it
  ASSERT_TRUE(Until([&] { return Get(id).state == MachineState::kStopping; }));
  loop_.RunSync([&] { rt_.running.erase(id); });  // the process is gone; its exit not handled yet
  ASSERT_TRUE(registry_->CreateApp("poke", std::nullopt, std::nullopt).ok());  // a reconcile
  auto rev = store_->Revision();
  ASSERT_TRUE(rev.ok());
  manager_->NotifyStoreChanged(*rev);
  ASSERT_TRUE(Until([&] { return Get(id).state == MachineState::kStopped; }));
  rt_.Exit(id, 130);
  EXPECT_TRUE(Until([&] { return Get(id).state == MachineState::kStarted; })) << store::MachineStateName(Get(id).state);
}

TEST_F(ManagerTest, AutostopNeverStopsAMachineSomeoneWaitsFor) {
  auto app = MakeApp("busy");
  rt_.listen_on_launch = false;
  auto out = DeployMovingTheClock(app, Release("busy"));
  ASSERT_TRUE(out.ok());
  std::string id = out->machines[0].id;
  QueuePoster& poster = poster_;
  manager_->Wake(id, 8080, &poster, [](Status) {});
  Sync();
  manager_->Stop(id, false, "idle");
  Sync();
  EXPECT_TRUE(rt_.stops.empty());
  EXPECT_EQ(Get(id).state, MachineState::kStarted);
}

TEST_F(ManagerTest, SuspendAndResumeThroughWake) {
  std::string id = DeployOne("susp");
  ASSERT_FALSE(id.empty());
  manager_->Stop(id, /*suspend=*/true, "idle");
  ASSERT_TRUE(Until([&] { return Get(id).state == MachineState::kSuspended; }));
  EXPECT_TRUE(rt_.IsSuspended(id));
  QueuePoster& poster = poster_;
  // The held connection is released as soon as the machine thaws, before any store write.
  MachineState recorded_at_answer = MachineState::kDestroyed;
  poster.on_post = [&] { recorded_at_answer = Get(id).state; };
  int ok = 0;
  manager_->Wake(id, 8080, &poster, [&](Status st) { ok += st.ok(); });
  ASSERT_TRUE(Until([&] { return poster.Drain() > 0 || ok > 0; }));
  poster.on_post = nullptr;
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(rt_.resumes, 1);
  EXPECT_EQ(recorded_at_answer, MachineState::kSuspended);
  EXPECT_EQ(Get(id).state, MachineState::kStarted);
}

TEST_F(ManagerTest, PrewarmStartsOneStoppedMachine) {
  auto app = MakeApp("warm");
  auto out = manager_->Deploy(app, Release("warm"), true);
  ASSERT_TRUE(out.ok());
  for (const auto& m : out->machines) {
    manager_->Stop(m.id, false, "idle");
    ASSERT_TRUE(Until([&] { return Get(m.id).state == MachineState::kStopping; }));
    rt_.Exit(m.id, 0);
    ASSERT_TRUE(Until([&] { return Get(m.id).state == MachineState::kStopped; }));
  }
  manager_->Prewarm("warm");
  ASSERT_TRUE(Until([&] {
    int started = 0;
    for (const auto& m : out->machines) started += Get(m.id).state == MachineState::kStarted;
    return started == 1;
  }));
  manager_->Prewarm("warm");  // something runs now: no second start
  Sync();
  int started = 0;
  for (const auto& m : out->machines) started += Get(m.id).state == MachineState::kStarted;
  EXPECT_EQ(started, 1);
}

// [mounts] on deploy: each machine of the group gets the app's unattached volume of that
// name, else a new one of initial_size; one machine (no HA pair); the machine starts with its
// volume's storage at the destination; the volume follows the machine across a redeploy and a
// daemon restart; the storage goes once the record does.
TEST_F(ManagerTest, DeployGivesEachMachineItsVolume) {
  char tmpl[] = "/tmp/pcs-mgr-vol-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string root = std::string(tmpl) + "/volumes";
  struct Rm {
    std::string d;
    ~Rm() {
      std::error_code ec;  // the daemon's deleting thread may be at it too
      for (int i = 0; i < 100 && std::filesystem::exists(d, ec); ++i) std::filesystem::remove_all(d, ec);
    }
  } rm{tmpl};
  mo_.volume_root = root;
  NewManager();
  plan_.groups[0].mount = AppPlan::Mount{"data", "/data", 3};

  // A volume created beforehand is the one used.
  auto app = MakeApp("notes");
  auto pre = registry_->CreateVolume("notes", "data", "", 1);
  ASSERT_TRUE(pre.ok());
  auto out = manager_->Deploy(app, Release("notes"), /*ha=*/true);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->machines.size(), 1u) << "a group with [mounts] gets one machine";
  std::string id = out->machines[0].id;
  EXPECT_EQ(registry_->GetVolume(pre->id)->attached_machine_id, id);
  EXPECT_EQ(registry_->ListVolumes(std::string("notes"))->size(), 1u);
  ASSERT_EQ(rt_.last_plan.volumes.size(), 1u);
  EXPECT_EQ(rt_.last_plan.volumes[0].dir, root + "/" + pre->id + "/data");
  EXPECT_EQ(rt_.last_plan.volumes[0].path, "/data");
  struct stat st;
  ASSERT_EQ(::stat(rt_.last_plan.volumes[0].dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
  ASSERT_EQ(::stat(root.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  // A redeploy keeps the machine and its volume; none is created.
  ASSERT_TRUE(DeployMovingTheClock(app, Release("notes"), true).ok());  // it replaces (stops) the machine
  EXPECT_EQ(registry_->ListVolumes(std::string("notes"))->size(), 1u);
  EXPECT_EQ(registry_->GetVolume(pre->id)->attached_machine_id, id);

  // No volume left: the deploy creates one of initial_size for a new machine.
  auto fresh = MakeApp("fresh");
  auto out2 = manager_->Deploy(fresh, Release("fresh"), true);
  ASSERT_TRUE(out2.ok()) << out2.status().ToString();
  auto vols = registry_->ListVolumes(std::string("fresh"));
  ASSERT_EQ(vols->size(), 1u);
  EXPECT_EQ((*vols)[0].size_gb, 3u);
  EXPECT_EQ((*vols)[0].attached_machine_id, out2->machines[0].id);

  // After a daemon restart the machine starts with its volume again.
  rt_.last_plan = LaunchPlan{};
  RestartDaemon({id});
  if (Get(id).state != MachineState::kStarted) {
    ASSERT_TRUE(registry_->TransitionMachine(id, {}, MachineState::kStarting, "test").ok());
    manager_->NotifyStoreChanged();
  }
  ASSERT_TRUE(Until([&] { return rt_.last_plan.machine.id == id && rt_.running.count(id) > 0; }));
  ASSERT_EQ(rt_.last_plan.volumes.size(), 1u);
  EXPECT_EQ(rt_.last_plan.volumes[0].dir, root + "/" + pre->id + "/data");

  // Destroyed machine: the volume is free; destroyed volume: its storage goes.
  ASSERT_TRUE(registry_->TransitionMachine(id, {}, MachineState::kDestroying, "test").ok());
  manager_->NotifyStoreChanged();
  ASSERT_TRUE(Until([&] { return !registry_->GetMachine(id).ok(); }));
  EXPECT_EQ(registry_->GetVolume(pre->id)->attached_machine_id, "");
  ASSERT_TRUE(registry_->DestroyVolume(pre->id).ok());
  manager_->NotifyStoreChanged();
  ASSERT_TRUE(Until([&] { return !std::filesystem::exists(root + "/" + pre->id); }));
}

TEST_F(ManagerTest, DestroyRemovesRuntimeAndRecord) {
  std::string id = DeployOne("gone");
  ASSERT_FALSE(id.empty());
  auto t = registry_->TransitionMachine(id, {}, MachineState::kDestroying, "test");
  ASSERT_TRUE(t.ok());
  manager_->NotifyStoreChanged();
  ASSERT_TRUE(Until([&] { return rt_.destroyed.count(id) > 0; }));
  EXPECT_FALSE(registry_->GetMachine(id).ok());
}

TEST_F(ManagerTest, UnexpectedExitMarksStoppedAndSnapshotFollows) {
  std::string id = DeployOne("crash");
  ASSERT_FALSE(id.empty());
  rt_.Exit(id, 3);
  ASSERT_TRUE(Until([&] { return Get(id).state == MachineState::kStopped; }));
  EXPECT_NE(Get(id).last_event.find("exited with code 3"), std::string::npos) << Get(id).last_event;
  SnapshotPtr snap = manager_->snapshot();
  ASSERT_TRUE(snap);
  auto it = snap->machine_by_id.find(id);
  ASSERT_NE(it, snap->machine_by_id.end());
  EXPECT_EQ(snap->machines[it->second].state, MachineRunState::kStopped);
}

TEST_F(ManagerTest, ThrowawayMachineThatExitsIsDestroyedWithoutAReconcile) {
  // machine run --rm / --shell: its exit alone removes it (no store notification follows the
  // manager's own writes, so nothing else would act on `destroying`).
  MakeApp("tmp");
  store::MachineSpec spec;
  spec.app = "tmp";
  spec.cmd = {"/bin/true"};
  spec.auto_destroy = true;
  auto m = manager_->RunMachine(spec);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  loop_.RunSync([&] { rt_.Exit(m->id, 0); });
  ASSERT_TRUE(Until([&] { return rt_.destroyed.count(m->id) > 0; }));
  EXPECT_FALSE(registry_->GetMachine(m->id).ok());
}

TEST_F(ManagerTest, FlycastAddressesFollowTheStore) {
  MakeApp("fly");
  auto ip = registry_->AllocateFlycast("fly", std::nullopt, std::nullopt);
  ASSERT_TRUE(ip.ok());
  manager_->NotifyStoreChanged();
  ASSERT_TRUE(Until([&] { return rt_.flycast.count(ip->address) > 0; }));
  ASSERT_TRUE(registry_->ReleaseIp("fly", ip->address).ok());
  manager_->NotifyStoreChanged();
  ASSERT_TRUE(Until([&] { return rt_.flycast.count(ip->address) == 0; }));
  EXPECT_GT(rt_.firewall_syncs, 0);
}

// The firewall admits only the TCP ports of the address's app's services.
TEST_F(ManagerTest, FirewallAdmitsOnlyTheServicePortsOfEachFlycastAddress) {
  PortSpec http;
  http.start_port = http.end_port = 80;
  PortSpec range;
  range.start_port = 8000;
  range.end_port = 8010;
  plan_.info.services[0].ports = {http, range};
  ServiceSpec udp;
  udp.protocol = "udp";
  PortSpec dns;
  dns.start_port = dns.end_port = 5353;
  udp.ports = {dns};
  plan_.info.services.push_back(udp);
  MakeApp("fly");
  Release("fly");
  MakeApp("bare");  // no release: its address admits no port at all
  auto ip = registry_->AllocateFlycast("fly", std::nullopt, std::nullopt);
  auto bare = registry_->AllocateFlycast("bare", std::nullopt, std::nullopt);
  ASSERT_TRUE(ip.ok() && bare.ok());
  manager_->NotifyStoreChanged();
  using Ranges = std::vector<std::pair<uint16_t, uint16_t>>;
  ASSERT_TRUE(Until([&] { return rt_.flycast_ports.count(ip->address) && rt_.flycast_ports.count(bare->address); }));
  EXPECT_EQ(rt_.flycast_ports[ip->address], (Ranges{{80, 80}, {8000, 8010}}));
  EXPECT_EQ(rt_.flycast_ports[bare->address], Ranges{});
}

// ADR 0013: a per-service address admits only its service's ports; an unknown service none.
TEST_F(ManagerTest, FirewallAdmitsOnlyTheServicesPortsOfAPerServiceAddress) {
  PortSpec http;
  http.start_port = http.end_port = 80;
  plan_.info.services[0].ports = {http};
  ServiceSpec admin = plan_.info.services[0];
  admin.name = "admin";
  admin.processes = {"app"};
  admin.ports[0].start_port = admin.ports[0].end_port = 9000;
  plan_.info.services.push_back(admin);
  plan_.info.process_groups = {"app"};
  MakeApp("fly");
  Release("fly");
  auto whole = registry_->AllocateFlycast("fly", std::nullopt, std::nullopt);
  auto named = registry_->AllocateFlycast("fly", std::nullopt, std::nullopt, "admin");
  auto group = registry_->AllocateFlycast("fly", std::nullopt, std::nullopt, "app");
  auto gone = registry_->AllocateFlycast("fly", std::nullopt, std::nullopt, "gone");
  ASSERT_TRUE(whole.ok() && named.ok() && group.ok() && gone.ok());
  EXPECT_EQ(named->service, "admin");
  manager_->NotifyStoreChanged();
  using Ranges = std::vector<std::pair<uint16_t, uint16_t>>;
  ASSERT_TRUE(Until([&] { return rt_.flycast_ports.count(gone->address) != 0; }));
  EXPECT_EQ(rt_.flycast_ports[whole->address], (Ranges{{80, 80}, {9000, 9000}}));
  EXPECT_EQ(rt_.flycast_ports[named->address], (Ranges{{9000, 9000}}));
  EXPECT_EQ(rt_.flycast_ports[group->address], (Ranges{{80, 80}, {9000, 9000}}));  // both serve group app
  EXPECT_EQ(rt_.flycast_ports[gone->address], Ranges{});
}

// A deploy that a daemon stop cut short is finished by the next daemon.
TEST_F(ManagerTest, AnInterruptedDeployResumesOnTheNextStart) {
  auto app = MakeApp("web");
  auto v1 = manager_->Deploy(app, Release("web"), /*ha=*/true);
  ASSERT_TRUE(v1.ok()) << v1.status().ToString();
  ASSERT_EQ(v1->machines.size(), 2u);
  const std::string a = v1->machines[0].id, b = v1->machines[1].id;
  // v2 is stored; the deploy had moved `a` to it and was stopping it when privcastd died.
  store::Release v2 = Release("web");
  ASSERT_TRUE(registry_->UpdateMachineRelease(a, v2.version).ok());
  ASSERT_TRUE(registry_->TransitionMachine(a, {}, MachineState::kStopping, "deploy: replacing config").ok());
  RestartDaemon({a});
  // `b` was still on v1: the resumed deploy stops it (the test delivers its exit) and starts it on v2.
  ASSERT_TRUE(Until([&] { return Get(b).state == MachineState::kStopping; })) << store::MachineStateName(Get(b).state);
  EXPECT_EQ(Get(b).release_version, v2.version);
  loop_.RunSync([&] { rt_.Exit(b, 0); });
  ASSERT_TRUE(Until([&] { return Get(a).state == MachineState::kStarted && Get(b).state == MachineState::kStarted; }))
      << store::MachineStateName(Get(a).state) << " " << Get(a).last_event << " / "
      << store::MachineStateName(Get(b).state);
  EXPECT_EQ(Get(a).release_version, v2.version);
  EXPECT_EQ(registry_->ListMachines("web")->size(), 2u);  // resumed, not re-created
}

// A --rm / --shell machine that ended while no daemon ran is not left listed.
TEST_F(ManagerTest, ThrowawayMachinesThatEndedWhileTheDaemonWasDownAreDestroyed) {
  MakeApp("tool");
  store::MachineSpec spec;
  spec.app = "tool";
  spec.cmd = {"sleep", "1000"};
  spec.auto_destroy = true;
  auto gone = manager_->RunMachine(spec);
  auto alive = manager_->RunMachine(spec);
  ASSERT_TRUE(gone.ok() && alive.ok());
  RestartDaemon({gone->id});
  ASSERT_TRUE(Until([&] { return rt_.destroyed.count(gone->id) > 0 && !registry_->GetMachine(gone->id).ok(); }));
  EXPECT_EQ(Get(alive->id).state, MachineState::kStarted);  // adopted, untouched
}

// ---- --region placement (deploy --region, scale count N --region ams,syd)

// Another host in `region` registered in the fixture's store (as its daemon would); its id.
uint32_t AddHost(store::Store* st, store::Registry* reg, const std::string& region) {
  auto local = st->Get(store::keys::kLocalHost);
  EXPECT_TRUE(local.ok() && local->has_value());
  store::TxnRequest drop;
  drop.success.push_back(store::Op::Delete(store::keys::kLocalHost));
  EXPECT_TRUE(st->Txn(drop).ok());
  auto other = reg->Bootstrap(region, "other");
  EXPECT_TRUE(other.ok()) << other.status().ToString();
  store::TxnRequest back;  // this host stays the local one
  back.success.push_back(store::Op::Put(store::keys::kLocalHost, (*local)->value));
  EXPECT_TRUE(st->Txn(back).ok());
  return other.ok() ? other->id : 0;
}

uint32_t ManagerTest::WithSydHost() {
  const uint32_t syd = AddHost(store_.get(), registry_.get(), "syd");
  mo_.live_hosts = [this, syd]() -> Result<std::vector<std::pair<uint32_t, std::string>>> {
    return std::vector<std::pair<uint32_t, std::string>>{{host_.id, "ams"}, {syd, "syd"}};
  };
  RestartDaemon();
  return syd;
}

TEST_F(ManagerTest, ScaleInThisHostsRegionWorksAnotherRegionIsAClearErrorOnOneHost) {
  auto app = MakeApp("oneregion");
  ASSERT_TRUE(manager_->Deploy(app, Release("oneregion"), false).ok());
  auto two = manager_->Scale(app, 2, {"ams"});
  ASSERT_TRUE(two.ok()) << two.status().ToString();
  EXPECT_EQ(two->size(), 2u);
  for (const auto& m : *two) EXPECT_EQ(m.region, "ams");
  auto syd = manager_->Scale(app, 1, {"ams", "syd"});
  ASSERT_FALSE(syd.ok());
  EXPECT_EQ(syd.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(syd.status().message().find("no host in region syd"), std::string::npos) << syd.status().message();
  EXPECT_NE(syd.status().message().find("single host in region ams"), std::string::npos) << syd.status().message();
  auto ms = registry_->ListMachines("oneregion");
  ASSERT_TRUE(ms.ok());
  EXPECT_EQ(ms->size(), 2u);  // nothing changed: the regions are checked first
}

TEST_F(ManagerTest, ScaleCountPerRegionPlacesOnThatRegionsHostAndLeavesOthersAlone) {
  const uint32_t syd_host = WithSydHost();
  auto app = MakeApp("geo");
  ASSERT_TRUE(manager_->Deploy(app, Release("geo"), false).ok());  // one machine, here (ams)
  auto r = manager_->Scale(app, 2, {"syd"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::map<std::string, std::vector<store::Machine>> by_region;
  for (const auto& m : *r) by_region[m.region].push_back(m);
  ASSERT_EQ(by_region["ams"].size(), 1u);  // not listed: untouched
  ASSERT_EQ(by_region["syd"].size(), 2u);
  for (const auto& m : by_region["syd"]) {
    EXPECT_EQ(m.host_id, syd_host);
    EXPECT_EQ(m.state, MachineState::kStarting);  // the syd host's daemon starts it
    EXPECT_EQ(rt_.launches.count(m.id), 0u);      // not this host
  }
  // Scale the syd region to 0: the intent is written for the syd host to act on.
  auto z = manager_->Scale(app, 0, {"syd"});
  ASSERT_TRUE(z.ok()) << z.status().ToString();
  for (const auto& m : by_region["syd"]) EXPECT_EQ(Get(m.id).state, MachineState::kDestroying);
  EXPECT_EQ(Get(by_region["ams"][0].id).state, MachineState::kStarted);
  auto nrt = manager_->Scale(app, 1, {"nrt"});
  ASSERT_FALSE(nrt.ok());
  EXPECT_NE(nrt.status().message().find("no live host in region nrt"), std::string::npos) << nrt.status().message();
}

TEST_F(ManagerTest, DeployWithRegionsPutsTheCountInEachRegion) {
  (void)WithSydHost();
  auto app = MakeApp("twin");
  auto out = manager_->Deploy(app, Release("twin"), false, {"ams", "syd"});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  std::multiset<std::string> regions;
  for (const auto& m : out->machines) regions.insert(m.region);
  EXPECT_EQ(regions, (std::multiset<std::string>{"ams", "syd"}));
  EXPECT_TRUE(out->warnings.empty()) << out->warnings[0];  // the syd machine is not waited for here
}

// A deploy on another host stops a machine of this host to replace its config: this host's
// daemon starts it again once it exited (the intent is in the record's last event).
TEST_F(ManagerTest, StopToReplaceWrittenByAnotherHostRestartsTheMachine) {
  std::string id = DeployOne("remote-deploy");
  ASSERT_TRUE(Until([&] { return Get(id).state == MachineState::kStarted; }));
  ASSERT_TRUE(registry_->TransitionMachine(id, {}, MachineState::kStopping, "deploy: replacing config").ok());
  auto rev = store_->Revision();
  ASSERT_TRUE(rev.ok());
  manager_->NotifyStoreChanged(*rev);
  ASSERT_TRUE(Until([&] { return !rt_.stops.empty(); }));
  rt_.Exit(id, 130);
  EXPECT_TRUE(Until([&] { return Get(id).state == MachineState::kStarted; })) << store::MachineStateName(Get(id).state);
}

}  // namespace
}  // namespace privcast::daemon
