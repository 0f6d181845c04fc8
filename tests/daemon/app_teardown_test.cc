// DaemonBackend::DestroyApp (daemon/app_teardown.cc): the app's machines are marked
// destroying and waited for (here a fake supervisor plays the reconciler), then the app goes;
// a teardown that cannot finish leaves the app and says to try again.
#include <gtest/gtest.h>

#include <future>

#include "../api/fake_backend.h"
#include "daemon/backend.h"

namespace privcast {
namespace {

// A client that has already left: waits end at once.
struct GoneClient : api::ClientWatch {
  bool Gone() const override { return true; }
  int fd() const override { return -1; }
};
struct PresentClient : api::ClientWatch {
  bool Gone() const override { return false; }
  int fd() const override { return -1; }
};

class AppTeardownTest : public ::testing::Test {
 protected:
  AppTeardownTest()
      : h_(/*with_supervisor=*/false),
        backend_(
            h_.reg.get(), nullptr, nullptr, [] { return std::string(); },
            [](const store::App&) { return std::map<std::string, api::MachineLive>(); }) {}

  store::App AppWithMachines(int n) {
    auto a = h_.reg->CreateApp("web", std::nullopt, std::nullopt);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    for (int i = 0; i < n; ++i) {
      store::MachineSpec spec;
      spec.app = "web";
      auto m = h_.reg->CreateMachine(spec);
      EXPECT_TRUE(m.ok()) << m.status().ToString();
    }
    return *a;
  }

  testing::ApiHarness h_;
  daemon::DaemonBackend backend_;
};

TEST_F(AppTeardownTest, MachinesFirstThenTheApp) {
  store::App app = AppWithMachines(2);
  testing::FakeSupervisor sup(h_.reg.get());  // deletes a destroying machine's record
  PresentClient client;
  Status st = backend_.DestroyApp(app, client);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(h_.reg->GetApp("web").status().code(), Code::kNotFound);
  auto left = h_.reg->ListMachines(std::nullopt);
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->empty());
}

TEST_F(AppTeardownTest, UnfinishedTeardownKeepsTheAppAndSaysTryAgain) {
  store::App app = AppWithMachines(1);
  GoneClient client;  // nobody tears the machine down, and the caller is gone: no 60 s wait
  Status st = backend_.DestroyApp(app, client);
  EXPECT_EQ(st.code(), Code::kUnavailable);
  EXPECT_NE(st.message().find("is still being destroyed"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("try again"), std::string::npos) << st.message();
  EXPECT_TRUE(h_.reg->GetApp("web").ok()) << "the app stays until its machines are gone";
  auto ms = h_.reg->ListMachines("web");
  ASSERT_TRUE(ms.ok());
  ASSERT_EQ(ms->size(), 1u);
  EXPECT_EQ((*ms)[0].state, store::MachineState::kDestroying) << "the intent is recorded";
}

// The teardown's wait (60 s) is on the backend's clock: a FakeClock past it ends the wait at
// once with "try again" (the store write after each move wakes the wait to read the clock).
TEST_F(AppTeardownTest, TeardownWaitIsOnTheClock) {
  store::App app = AppWithMachines(1);
  FakeClock clock;
  backend_.SetClock(&clock);
  PresentClient client;  // nobody tears the machine down; the caller stays
  auto teardown = std::async(std::launch::async, [&] { return backend_.DestroyApp(app, client); });
  for (int i = 0; i < 100 && teardown.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready; ++i) {
    clock.Advance(daemon::DaemonBackend::kAppTeardownWait + std::chrono::seconds(1));
    ASSERT_TRUE(h_.reg->CreateApp("poke" + std::to_string(i), std::nullopt, std::nullopt).ok());
  }
  const bool ended = teardown.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  if (!ended) {
    // A wait in real time: let it finish (its machine record gone) so the test can report.
    auto ms = h_.reg->ListMachines("web");
    if (ms.ok())
      for (const auto& m : *ms) (void)h_.reg->DeleteMachine(m.id);
  }
  Status st = teardown.get();
  EXPECT_TRUE(ended) << "the teardown did not end when the clock passed its deadline";
  EXPECT_EQ(st.code(), Code::kUnavailable) << st.ToString();
  EXPECT_NE(st.message().find("try again"), std::string::npos) << st.message();
  EXPECT_TRUE(h_.reg->GetApp("web").ok());
}

}  // namespace
}  // namespace privcast
