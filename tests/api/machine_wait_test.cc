// WaitForMachineState (api/machine_wait.h): the state reached, the record gone, and the
// timeout, which is measured on the caller's Clock (a FakeClock here: no real waiting).
#include "api/machine_wait.h"

#include <gtest/gtest.h>

#include <future>

#include "fake_backend.h"

namespace privcast {
namespace {

struct PresentClient : api::ClientWatch {
  bool Gone() const override { return false; }
  int fd() const override { return -1; }
};

class MachineWaitTest : public ::testing::Test {
 protected:
  MachineWaitTest() : h_(/*with_supervisor=*/false) {
    auto a = h_.reg->CreateApp("web", std::nullopt, std::nullopt);
    PC_CHECK_MSG(a.ok(), a.status().ToString());
    store::MachineSpec spec;
    spec.app = "web";
    auto m = h_.reg->CreateMachine(spec);
    PC_CHECK_MSG(m.ok(), m.status().ToString());
    id_ = m->id;
  }
  // Waits for `id_` to be started, for an hour of `clock_`, on another thread.
  std::future<Result<store::Machine>> WaitStarted() {
    return std::async(std::launch::async, [this] {
      return api::WaitForMachineState(h_.reg.get(), id_, {store::MachineState::kStarted}, std::chrono::hours(1),
                                      client_, clock_);
    });
  }

  testing::ApiHarness h_;
  FakeClock clock_;
  PresentClient client_;
  std::string id_;
};

TEST_F(MachineWaitTest, ReturnsTheMachineOnceItIsInTheState) {
  auto w = WaitStarted();
  ASSERT_TRUE(h_.reg->TransitionMachine(id_, {}, store::MachineState::kStarting, "test").ok());
  ASSERT_TRUE(h_.reg->TransitionMachine(id_, {}, store::MachineState::kStarted, "test").ok());
  auto m = w.get();
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->state, store::MachineState::kStarted);
}

// The timeout is the clock's: moved past it, the wait ends at its next look (a store change
// wakes it at once), though no real hour passed.
TEST_F(MachineWaitTest, TimesOutWhenTheClockPassesTheTimeout) {
  auto w = WaitStarted();
  for (int i = 0; i < 100 && w.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready; ++i) {
    clock_.Advance(std::chrono::hours(2));
    ASSERT_TRUE(h_.reg->CreateApp("poke" + std::to_string(i), std::nullopt, std::nullopt).ok());
  }
  const bool ended = w.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  if (!ended) (void)h_.reg->DeleteMachine(id_);  // a real-time wait: end it so the test can report
  auto m = w.get();
  EXPECT_TRUE(ended) << "the wait did not end when the clock passed its timeout";
  EXPECT_EQ(m.status().code(), Code::kUnavailable) << m.status().ToString();
  EXPECT_NE(m.status().message().find("timed out waiting for machine " + id_ + " (it is created)"), std::string::npos)
      << m.status().message();
}

}  // namespace
}  // namespace privcast
