// MachineNetwork: what Setup builds, Teardown removes, and rollback at every step.
#include "netns/machine_network.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "common/addr.h"
#include "common/ids.h"
#include "netns/host_network.h"
#include "netns/netns.h"
#include "test_env.h"

namespace privcast::netns {
namespace {

using testing::TestHost;

class MachineNetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(host_.ok());
    auto ops = KernelNetOps::CreateFor(host_.nsfd());
    ASSERT_TRUE(ops.ok()) << ops.status().ToString();
    ops_ = std::move(ops).value();
    net_ = std::make_unique<MachineNetwork>(*ops_, host_.ns_dir());
  }
  MachineNetSpec Spec(uint32_t net32, uint32_t machine32, uint32_t slot) {
    return MachineNetSpec{ids::NewMachineId(), net32, 2, machine32, slot};
  }

  TestHost host_;
  std::unique_ptr<KernelNetOps> ops_;
  std::unique_ptr<MachineNetwork> net_;
};

TEST_F(MachineNetworkTest, SetupBuildsThePlanAndTeardownLeavesNothing) {
  const std::string before = host_.Snapshot();
  MachineNetSpec s = Spec(0x10, 0xabc, 7);
  ASSERT_TRUE(net_->Setup(s).ok());
  const std::string ns = net_->NetnsPath(s.machine_id);
  EXPECT_TRUE(Exists(ns));

  std::string six = addr::SixPnAddress(0x10, 2, 0xabc).ToString();
  std::string gw = addr::SixPnGateway(0x10, 2, 0xabc).ToString();
  EXPECT_EQ(six, "fdaa:0:10:0:2:0:abc:2");
  std::string inside = host_.In("ip -o addr show dev eth0", ns).out;
  EXPECT_NE(inside.find("inet6 " + six + "/112"), std::string::npos) << inside;
  EXPECT_NE(inside.find("inet 172.19.0.15/31"), std::string::npos) << inside;
  EXPECT_EQ(inside.find("tentative"), std::string::npos) << inside;
  EXPECT_NE(host_.In("ip -6 route show default", ns).out.find("via " + gw + " dev eth0"), std::string::npos);
  EXPECT_NE(host_.In("ip -4 route show default", ns).out.find("via 172.19.0.14 dev eth0"), std::string::npos);
  EXPECT_NE(host_.In("ip -o link show lo", ns).out.find(",UP"), std::string::npos);

  std::string hs = host_.In("ip -o addr show dev pcv7").out;
  EXPECT_NE(hs.find("inet6 " + gw + "/112"), std::string::npos) << hs;
  EXPECT_NE(hs.find("inet 172.19.0.14/31"), std::string::npos) << hs;
  EXPECT_NE(host_.In("ip -6 route show dev pcv7").out.find("fdaa:0:10:0:2:0:abc:0/112"), std::string::npos);

  // Traffic, host <-> machine, both families (no firewall in this test).
  EXPECT_EQ(host_.In("ping -6 -c1 -W2 " + six).rc, 0);
  EXPECT_EQ(host_.In("ping -4 -c1 -W2 172.19.0.15").rc, 0);
  EXPECT_EQ(host_.In("ping -6 -c1 -W2 " + gw, ns).rc, 0);

  // Setup again for the same machine id: refused, nothing disturbed.
  EXPECT_EQ(net_->Setup(s).code(), Code::kAlreadyExists);
  EXPECT_EQ(host_.In("ping -6 -c1 -W2 " + six).rc, 0);

  ASSERT_TRUE(net_->Teardown(s.machine_id, s.slot).ok());
  EXPECT_EQ(host_.Snapshot(), before);
  EXPECT_TRUE(net_->Teardown(s.machine_id, s.slot).ok());  // idempotent
}

TEST_F(MachineNetworkTest, TeardownToleratesPartialState) {
  const std::string before = host_.Snapshot();
  MachineNetSpec s = Spec(0x11, 1, 3);
  ASSERT_TRUE(net_->Setup(s).ok());
  // Someone removed the veth already: Teardown still removes the netns.
  ASSERT_EQ(host_.In("ip link del pcv3").rc, 0);
  EXPECT_TRUE(net_->Teardown(s.machine_id, s.slot).ok());
  EXPECT_EQ(host_.Snapshot(), before);
  // And the netns only: link still removed.
  ASSERT_TRUE(net_->Setup(s).ok());
  ASSERT_TRUE(Delete(net_->NetnsPath(s.machine_id)).ok());
  EXPECT_TRUE(net_->Teardown(s.machine_id, s.slot).ok());
  EXPECT_EQ(host_.Snapshot(), before);
}

TEST_F(MachineNetworkTest, FaultAtEveryStepRollsBackEverything) {
  MachineNetSpec s = Spec(0x12, 5, 9);
  // Count the primitives of one Setup.
  FaultInjectingNetOps counter(*ops_, 0);
  ASSERT_TRUE(net_->SetupWith(counter, s).ok());
  ASSERT_TRUE(net_->Teardown(s.machine_id, s.slot).ok());
  const int steps = counter.calls();
  ASSERT_GE(steps, 11);

  const std::string before = host_.Snapshot();
  for (int k = 1; k <= steps; ++k) {
    SCOPED_TRACE("fault at step " + std::to_string(k));
    FaultInjectingNetOps faulty(*ops_, k);
    Status st = net_->SetupWith(faulty, s);
    EXPECT_FALSE(st.ok());
    EXPECT_TRUE(faulty.injected());
    EXPECT_NE(st.message().find("injected fault at step " + std::to_string(k)), std::string::npos) << st.message();
    EXPECT_EQ(host_.Snapshot(), before);  // checked by listing: links, addrs, routes, netns, mounts
  }
  // After all that, a clean Setup still works.
  ASSERT_TRUE(net_->Setup(s).ok());
  EXPECT_EQ(host_.In("ping -6 -c1 -W2 " + addr::SixPnAddress(0x12, 2, 5).ToString()).rc, 0);
  ASSERT_TRUE(net_->Teardown(s.machine_id, s.slot).ok());
  EXPECT_EQ(host_.Snapshot(), before);
}

TEST_F(MachineNetworkTest, ConcurrentCallersShareOneKernelNetOps) {
  const std::string before = host_.Snapshot();
  HostNetwork hostnet(*ops_);  // shares ops_ with net_, as in the daemon
  ASSERT_TRUE(hostnet.Setup().ok());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 4; ++i) {
        MachineNetSpec s = Spec(0x20 + t, 100 + i, 10 * (t + 1) + i);
        if (!net_->Setup(s).ok() || !net_->Teardown(s.machine_id, s.slot).ok()) ++failures;
      }
    });
  }
  threads.emplace_back([&] {
    for (uint32_t n = 1; n <= 20; ++n) {
      Ip6 fc = addr::FlycastAddress(0x20, n);
      if (!hostnet.AddFlycastAddress(fc).ok() || !hostnet.RemoveFlycastAddress(fc).ok()) ++failures;
    }
  });
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_TRUE(hostnet.Teardown().ok());
  EXPECT_EQ(host_.Snapshot(), before);
}

TEST_F(MachineNetworkTest, RejectsBadSpecs) {
  EXPECT_EQ(net_->Setup(MachineNetSpec{"a/b", 1, 2, 1, 1}).code(), Code::kInvalidArgument);
  EXPECT_EQ(net_->Setup(MachineNetSpec{"x", 0, 2, 1, 1}).code(), Code::kInvalidArgument);
  EXPECT_EQ(net_->Setup(MachineNetSpec{"x", 1, 1, 1, 1}).code(), Code::kInvalidArgument);
  EXPECT_EQ(net_->Setup(MachineNetSpec{"x", 1, 2, 1, addr::kMaxLinkSlots}).code(), Code::kInvalidArgument);
  EXPECT_EQ(host_.NetnsFiles(), std::vector<std::string>{"host"});
}

}  // namespace
}  // namespace privcast::netns
