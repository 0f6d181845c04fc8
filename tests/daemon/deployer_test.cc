// Deployer (daemon/deployer.h) on its own: its rules against a real (in-memory SQLite)
// Registry and a fake Host that records what the deployer asks of the reconciler. Reconcile is
// called directly (the test thread plays the control thread); nothing runs a machine.
#include "daemon/deployer.h"

#include <gtest/gtest.h>

#include <map>

#include "memory_registry.h"

namespace privcast::daemon {
namespace {

using store::Machine;
using S = store::MachineState;

class FakeHost final : public Deployer::Host {
 public:
  explicit FakeHost(store::Registry* reg, uint32_t host_id) : reg_(reg), host_id_(host_id) {}

  Status ReloadState() override {
    PC_ASSIGN_OR_RETURN(view_, reg_->LoadState());
    return Status::Ok();
  }
  std::vector<Machine>& StoreMachines() override { return view_.machines; }
  const AppPlan* FreshPlan(const std::string&) override { return &plan; }
  Result<uint32_t> HostForRegion(const std::string& region) override {
    if (region.empty() || region == "ams") return host_id_;
    return FailedPrecondition("no host in region " + region);
  }
  Status GiveVolume(const store::App&, const AppPlan::Group&, const std::string&, store::MachineSpec*) override {
    return Status::Ok();
  }
  void Intend(const Machine& m, const std::vector<S>& from, S to, const std::string& why) override {
    intents.push_back(m.id + " " + store::MachineStateName(to) + " (" + why + ")");
    (void)reg_->TransitionMachine(m.id, from, to, why);  // the reconciler's write; acting is not tested here
  }
  void MovedToRelease(const Machine& m, bool restart) override {
    local_[m.id] = m;
    if (restart) restarts.push_back(m.id);
  }
  void LaunchCreated(const store::MachineSpec&, const Machine& m) override {
    local_[m.id] = m;
    launched.push_back(m.id);
  }
  const Machine* LocalMachine(const std::string& id) override {
    auto it = local_.find(id);
    return it == local_.end() ? nullptr : &it->second;
  }
  std::vector<uint16_t> PortsFor(const Machine&) override { return {8080}; }
  void Publish() override { ++publishes; }
  void NoteEvent(const std::string&, const std::string&, const std::string& text) override { notes.push_back(text); }

  AppPlan plan;
  std::vector<std::string> intents, restarts, launched, notes;
  int publishes = 0;

 private:
  store::Registry* reg_;
  uint32_t host_id_;
  store::StateView view_;
  std::map<std::string, Machine> local_;
};

class DeployerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MemoryRegistry r = OpenMemoryRegistry(&clock_);
    store_ = std::move(r.store);
    registry_ = std::move(r.registry);
    host_ = std::make_unique<FakeHost>(registry_.get(), r.host.id);
    AppPlan::Group g;
    g.name = "app";
    g.has_services = true;
    g.internal_ports = {8080};
    host_->plan.groups.push_back(g);
    deployer_ = std::make_unique<Deployer>(registry_.get(), &loop_, &signal_, host_.get(),
                                           Deployer::Options{r.host.id, "ams", std::chrono::seconds(1)});
    auto app = registry_->CreateApp("web", std::nullopt, std::nullopt);
    ASSERT_TRUE(app.ok()) << app.status().ToString();
    app_ = *app;
  }
  store::Release NewRelease() {
    auto r = registry_->CreateRelease("web", "{}", "app = \"web\"\n");
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : store::Release{};
  }
  // A deploy-managed machine of `release` created now (the clock then moves: creation order).
  Machine Existing(const store::Release& release, S state) {
    store::MachineSpec spec;
    spec.app = "web";
    spec.region = "ams";
    spec.process_group = "app";
    spec.release_version = release.version;
    spec.carries_services = true;
    auto m = registry_->CreateMachine(spec);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    if (state != S::kCreated) {
      EXPECT_TRUE(registry_->TransitionMachine(m->id, {}, S::kStarting, "test").ok());
      if (state == S::kStarted) {
        EXPECT_TRUE(registry_->TransitionMachine(m->id, {}, S::kStarted, "test").ok());
      }
    }
    clock_.Advance(std::chrono::seconds(1));
    return *m;
  }

  FakeClock clock_;
  ControlLoop loop_{&clock_};  // not started: Reconcile is called directly
  ReadinessSignal signal_{&clock_};
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<store::Registry> registry_;
  std::unique_ptr<FakeHost> host_;
  std::unique_ptr<Deployer> deployer_;
  store::App app_;
};

TEST_F(DeployerTest, HaDefaultCreatesTwoPerServiceGroupAndLaunchesThem) {
  auto out = deployer_->Reconcile(app_, NewRelease(), std::nullopt, {});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->machines.size(), 2u);
  EXPECT_EQ(host_->launched.size(), 2u);
  EXPECT_TRUE(host_->intents.empty());
  EXPECT_EQ(host_->publishes, 1);
}

TEST_F(DeployerTest, ScalingDownDestroysTheNewestAndKeepsTheOldest) {
  store::Release r = NewRelease();
  Machine oldest = Existing(r, S::kStarted);
  Machine newest = Existing(r, S::kStarted);
  auto out = deployer_->Reconcile(app_, r, 1, {});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(host_->intents, (std::vector<std::string>{newest.id + " destroying (scaled down)"}));
  ASSERT_EQ(out->machines.size(), 1u);
  EXPECT_EQ(out->machines[0].id, oldest.id);
  EXPECT_TRUE(host_->launched.empty());
}

TEST_F(DeployerTest, ANewReleaseReplacesARunningMachineAndStartsAStoppedOne) {
  store::Release v1 = NewRelease();
  Machine running = Existing(v1, S::kStarted);
  Machine idle = Existing(v1, S::kCreated);
  store::Release v2 = NewRelease();
  auto out = deployer_->Reconcile(app_, v2, 2, {});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(host_->restarts, (std::vector<std::string>{running.id}));  // a start owed after its stop
  EXPECT_EQ(host_->intents, (std::vector<std::string>{running.id + " stopping (" + kDeployReplacing + ")",
                                                      idle.id + " starting (deploy)"}));
  EXPECT_EQ(registry_->GetMachine(running.id)->release_version, v2.version);
  EXPECT_EQ(registry_->GetMachine(idle.id)->release_version, v2.version);
}

TEST_F(DeployerTest, ARegionWithoutAHostChangesNothing) {
  store::Release r = NewRelease();
  auto out = deployer_->Reconcile(app_, r, 1, {"ams", "syd"});
  EXPECT_EQ(out.status().code(), Code::kFailedPrecondition);
  EXPECT_TRUE(host_->launched.empty());
  EXPECT_TRUE(registry_->ListMachines("web")->empty());
}

TEST_F(DeployerTest, AGroupWithMountsKeepsOneMachineWithoutAnHaPair) {
  host_->plan.groups[0].mount = AppPlan::Mount{"data", "/data", 1};
  auto out = deployer_->Reconcile(app_, NewRelease(), std::nullopt, {});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(host_->launched.size(), 1u);
}

}  // namespace
}  // namespace privcast::daemon
