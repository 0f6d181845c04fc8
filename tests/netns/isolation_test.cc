// Host plumbing + firewall + machines, with real traffic: who can reach whom.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <thread>

#include "common/addr.h"
#include "common/ids.h"
#include "netns/firewall.h"
#include "netns/host_network.h"
#include "netns/machine_network.h"
#include "netns/netns.h"
#include "test_env.h"

namespace privcast::netns {
namespace {

using testing::AcceptOne;
using testing::ConnectTcp;
using testing::ListenTcp;
using testing::TestHost;

struct M {
  MachineNetSpec spec;
  UniqueFd fd;
  std::string path;
  IpAddr six() const { return IpAddr::V6(addr::SixPnAddress(spec.net32, spec.host32, spec.machine32)); }
  IpAddr gw() const { return IpAddr::V6(addr::SixPnGateway(spec.net32, spec.host32, spec.machine32)); }
  IpAddr v4() const { return IpAddr::V4(addr::LinkV4Machine(spec.slot)); }
  IpAddr v4host() const { return IpAddr::V4(addr::LinkV4Host(spec.slot)); }
};

class IsolationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(host_.ok());
    empty_ = host_.Snapshot();
    auto ops = KernelNetOps::CreateFor(host_.nsfd());
    ASSERT_TRUE(ops.ok());
    ops_ = std::move(ops).value();
    hostnet_ = std::make_unique<HostNetwork>(*ops_);
    ASSERT_TRUE(hostnet_->Setup().ok());
    ASSERT_TRUE(hostnet_->Setup().ok());  // idempotent (daemon restart)
    auto fw = Firewall::CreateFor(host_.nsfd());
    ASSERT_TRUE(fw.ok());
    fw_ = std::move(fw).value();
    net_ = std::make_unique<MachineNetwork>(*ops_, host_.ns_dir());
    a_ = Add(1, 0x101, 1);
    b_ = Add(1, 0x102, 2);
    c_ = Add(2, 0x201, 3);
    ASSERT_TRUE(Apply().ok());
  }
  M Add(uint32_t net, uint32_t machine, uint32_t slot) {
    M m;
    m.spec = MachineNetSpec{ids::NewMachineId(), net, 2, machine, slot};
    Status st = net_->Setup(m.spec);
    EXPECT_TRUE(st.ok()) << st.ToString();
    m.path = net_->NetnsPath(m.spec.machine_id);
    auto fd = Open(m.path);
    if (fd.ok()) m.fd = std::move(fd).value();
    state_.networks.insert(net);
    state_.machine_ifs[MachineNetwork::HostIfName(slot)] = net;
    return m;
  }
  Status Apply() { return fw_->Apply(state_); }
  uint64_t Counter(const std::string& name) {
    auto v = fw_->CounterPackets(name);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? *v : 0;
  }

  TestHost host_;
  std::string empty_;
  std::unique_ptr<KernelNetOps> ops_;
  std::unique_ptr<HostNetwork> hostnet_;
  std::unique_ptr<Firewall> fw_;
  std::unique_ptr<MachineNetwork> net_;
  FirewallState state_;
  M a_, b_, c_;
};

TEST_F(IsolationTest, SameNetworkMachinesReachEachOther) {
  // Right after Setup (no settling time: addresses are NODAD, the host side has fe80::1).
  auto p1 = host_.In("ping -6 -c1 -W2 " + b_.six().ToString(), a_.path);
  EXPECT_EQ(p1.rc, 0) << p1.out;
  EXPECT_EQ(host_.In("ping -6 -c1 -W2 " + a_.six().ToString(), b_.path).rc, 0);

  // TCP both ways, bytes through.
  uint16_t port = 0;
  auto l = ListenTcp(a_.fd.get(), IpAddr::V6(Ip6{}), &port);
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  auto c = ConnectTcp(b_.fd.get(), a_.six(), port, 5000);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto s = AcceptOne(l->get(), 5000);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(::write(c->get(), "ping", 4), 4);
  char buf[8] = {};
  ASSERT_EQ(::read(s->get(), buf, sizeof buf), 4);
  EXPECT_EQ(std::string(buf, 4), "ping");

  // curl from B to an HTTP responder in A.
  std::thread server([&] {
    auto conn = AcceptOne(l->get(), 10000);
    if (!conn.ok()) return;
    char req[1024];
    (void)::read(conn->get(), req, sizeof req);
    const char resp[] = "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    (void)::write(conn->get(), resp, sizeof resp - 1);
  });
  auto r = host_.In("curl -s -m 5 http://[" + a_.six().ToString() + "]:" + std::to_string(port) + "/", b_.path);
  server.join();
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.out, "hello");
}

TEST_F(IsolationTest, OtherNetworkIsDroppedAndCounted) {
  const std::string c2 = Firewall::NetworkCounterName(2), c1 = Firewall::NetworkCounterName(1);
  EXPECT_EQ(c2, "xnet_00000002");
  uint64_t before2 = Counter(c2), before1 = Counter(c1);
  EXPECT_NE(host_.In("ping -6 -c1 -W1 " + a_.six().ToString(), c_.path).rc, 0);
  uint16_t port = 0;
  auto l = ListenTcp(a_.fd.get(), IpAddr::V6(Ip6{}), &port);
  ASSERT_TRUE(l.ok());
  auto conn = ConnectTcp(c_.fd.get(), a_.six(), port, 500);
  EXPECT_FALSE(conn.ok());
  EXPECT_GE(Counter(c2), before2 + 2);  // the echo request and the SYN
  // And the other direction.
  EXPECT_NE(host_.In("ping -6 -c1 -W1 " + c_.six().ToString(), a_.path).rc, 0);
  EXPECT_GE(Counter(c1), before1 + 1);
  // IPv4 between machines: dropped in forward.
  uint64_t v4 = Counter("fwd4_drop");
  EXPECT_NE(host_.In("ping -4 -c1 -W1 " + c_.v4().ToString(), a_.path).rc, 0);
  EXPECT_NE(host_.In("ping -4 -c1 -W1 " + b_.v4().ToString(), a_.path).rc, 0);
  EXPECT_GE(Counter("fwd4_drop"), v4 + 2);
  // A spoofed source (C pretending to be on network 1) is dropped too.
  uint64_t spoof = Counter("spoof_drop");
  ASSERT_EQ(host_.In("ip addr add fdaa:0:1:0:2:0:999:2/128 dev eth0 nodad", c_.path).rc, 0);
  EXPECT_NE(host_.In("ping -6 -c1 -W1 -I fdaa:0:1:0:2:0:999:2 " + a_.six().ToString(), c_.path).rc, 0);
  EXPECT_GE(Counter("spoof_drop"), spoof + 1);
}

TEST_F(IsolationTest, MachineChangesUpdateSetElementsOnlyAndKeepCounters) {
  // A leaves: only its set element goes (counters survive: no rebuild), so its traffic is now
  // spoofed-source traffic; B is untouched.
  uint64_t spoof = Counter("spoof_drop");
  ASSERT_GE(Counter(Firewall::NetworkCounterName(2)), 0u);
  EXPECT_NE(host_.In("ping -6 -c1 -W1 " + a_.six().ToString(), c_.path).rc, 0);
  uint64_t xnet2 = Counter(Firewall::NetworkCounterName(2));
  ASSERT_GE(xnet2, 1u);
  std::string a_if = MachineNetwork::HostIfName(a_.spec.slot);
  state_.machine_ifs.erase(a_if);
  ASSERT_TRUE(Apply().ok());
  EXPECT_EQ(Counter(Firewall::NetworkCounterName(2)), xnet2) << "an element change rebuilt the table";
  EXPECT_NE(host_.In("ping -6 -c1 -W1 " + b_.six().ToString(), a_.path).rc, 0);
  EXPECT_GE(Counter("spoof_drop"), spoof + 1);
  EXPECT_NE(host_.In("ping -6 -c1 -W1 " + a_.six().ToString(), b_.path).rc, 0);  // A's echo reply is dropped

  // A comes back: reachable again at once.
  state_.machine_ifs[a_if] = 1;
  ASSERT_TRUE(Apply().ok());
  EXPECT_EQ(host_.In("ping -6 -c1 -W2 " + b_.six().ToString(), a_.path).rc, 0);

  // Someone deletes the table behind our back: the next change cannot be applied as elements,
  // so Apply rebuilds the whole table, and isolation holds again.
  ASSERT_EQ(host_.In("nft delete table inet privcast").rc, 0);
  state_.flycast.insert(addr::FlycastAddress(1, 9));
  ASSERT_TRUE(Apply().ok());
  EXPECT_EQ(Counter(Firewall::NetworkCounterName(2)), 0u);  // rebuilt: counters from 0
  EXPECT_NE(host_.In("ping -6 -c1 -W1 " + a_.six().ToString(), c_.path).rc, 0);
  EXPECT_GE(Counter(Firewall::NetworkCounterName(2)), 1u);
  EXPECT_EQ(host_.In("ping -6 -c1 -W2 " + b_.six().ToString(), a_.path).rc, 0);
}

TEST_F(IsolationTest, MachineReachesDnsAddressButNotOtherHostAddresses) {
  uint16_t port = 53;
  auto l = ListenTcp(host_.nsfd(), IpAddr::V6(Ip6{}), &port);  // [::]:53, dual-stack
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  auto ok = ConnectTcp(a_.fd.get(), IpAddr::V6(addr::DnsAddress()), 53, 5000);
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(host_.In("ping -6 -c1 -W2 fdaa::3", a_.path).rc, 0);

  uint64_t drops = Counter("input_drop");
  EXPECT_FALSE(ConnectTcp(a_.fd.get(), a_.gw(), 53, 300).ok());
  EXPECT_FALSE(ConnectTcp(a_.fd.get(), b_.gw(), 53, 300).ok());
  EXPECT_FALSE(ConnectTcp(a_.fd.get(), a_.v4host(), 53, 300).ok());
  EXPECT_NE(host_.In("ping -6 -c1 -W1 " + a_.gw().ToString(), a_.path).rc, 0);
  EXPECT_GE(Counter("input_drop"), drops + 4);

  // The proxy's path is not filtered: host -> machine over the IPv4 link.
  uint16_t mport = 0;
  auto ml = ListenTcp(a_.fd.get(), IpAddr::V4(0), &mport);
  ASSERT_TRUE(ml.ok());
  auto pc = ConnectTcp(host_.nsfd(), a_.v4(), mport, 5000);
  EXPECT_TRUE(pc.ok()) << pc.status().ToString();
}

TEST_F(IsolationTest, FlycastAddressLocalThenGone) {
  Ip6 fc = addr::FlycastAddress(1, 5);
  ASSERT_TRUE(hostnet_->AddFlycastAddress(fc).ok());
  ASSERT_TRUE(hostnet_->AddFlycastAddress(fc).ok());  // idempotent
  uint16_t port = 0;
  auto l = ListenTcp(host_.nsfd(), IpAddr::V6(Ip6{}), &port);
  ASSERT_TRUE(l.ok());
  // A host service on another [::] port (the daemon's API, a socat…) is not
  // reachable through a flycast address: only the ports of its app's services are.
  uint16_t other = 0;
  auto ol = ListenTcp(host_.nsfd(), IpAddr::V6(Ip6{}), &other);
  ASSERT_TRUE(ol.ok());
  state_.flycast.insert(fc);
  state_.flycast_tcp.insert({fc, port, port});
  ASSERT_TRUE(Apply().ok());
  uint64_t port_drops = Counter("flycast_port_drop");
  EXPECT_FALSE(ConnectTcp(a_.fd.get(), IpAddr::V6(fc), other, 300).ok());
  EXPECT_FALSE(ConnectTcp(c_.fd.get(), IpAddr::V6(fc), other, 300).ok());
  EXPECT_GE(Counter("flycast_port_drop"), port_drops + 2);
  // A range admits each of its ports (element-only update).
  state_.flycast_tcp.insert({fc, static_cast<uint16_t>(other - 1), other});
  ASSERT_TRUE(Apply().ok());
  EXPECT_TRUE(ConnectTcp(a_.fd.get(), IpAddr::V6(fc), other, 5000).ok());
  EXPECT_TRUE(AcceptOne(ol->get(), 5000).ok());
  state_.flycast_tcp.erase({fc, static_cast<uint16_t>(other - 1), other});
  ASSERT_TRUE(Apply().ok());
  EXPECT_FALSE(ConnectTcp(a_.fd.get(), IpAddr::V6(fc), other, 300).ok());
  auto conn = ConnectTcp(a_.fd.get(), IpAddr::V6(fc), port, 5000);
  EXPECT_TRUE(conn.ok()) << conn.status().ToString();
  EXPECT_TRUE(AcceptOne(l->get(), 5000).ok());
  EXPECT_EQ(host_.In("ping -6 -c1 -W2 " + fc.ToString(), a_.path).rc, 0);
  // From another network it also reaches the host: admission is the proxy's job.
  EXPECT_TRUE(ConnectTcp(c_.fd.get(), IpAddr::V6(fc), port, 5000).ok());

  ASSERT_TRUE(hostnet_->RemoveFlycastAddress(fc).ok());
  ASSERT_TRUE(hostnet_->RemoveFlycastAddress(fc).ok());  // idempotent
  // Still in the firewall set: the removal alone stops new connections, at once (an error,
  // not a timeout: the unreachable route answers).
  auto gone = ConnectTcp(a_.fd.get(), IpAddr::V6(fc), port, 5000);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().message().find("timed out"), std::string::npos) << gone.status().ToString();
  EXPECT_EQ(gone.status().code(), Code::kIo) << gone.status().ToString();
}

TEST_F(IsolationTest, StoppedMachineAddressesAreUnreachableNotRoutedOut) {
  // B torn down: its 6PN and link addresses hit the unreachable routes at once.
  ASSERT_TRUE(net_->Teardown(b_.spec.machine_id, b_.spec.slot).ok());
  EXPECT_NE(host_.In("ip -6 route show fdaa::/16").out.find("unreachable fdaa::/16"), std::string::npos);
  EXPECT_NE(host_.In("ip -4 route show 172.19.0.0/16").out.find("unreachable 172.19.0.0/16"), std::string::npos);
  auto r6 = host_.In("ip -6 route get " + b_.six().ToString());
  EXPECT_NE(r6.rc, 0);
  EXPECT_NE(r6.out.find("No route to host"), std::string::npos) << r6.out;
  auto r4 = host_.In("ip -4 route get " + b_.v4().ToString());
  EXPECT_NE(r4.rc, 0);
  EXPECT_NE(r4.out.find("No route to host"), std::string::npos) << r4.out;
  auto conn = ConnectTcp(a_.fd.get(), b_.six(), 80, 5000);
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.status().message().find("timed out"), std::string::npos) << conn.status().ToString();
}

TEST_F(IsolationTest, TeardownOfEverythingLeavesNothing) {
  Ip6 fc = addr::FlycastAddress(2, 9);
  ASSERT_TRUE(hostnet_->AddFlycastAddress(fc).ok());
  EXPECT_NE(host_.In("nft list table inet privcast").out.find("xnet_00000001"), std::string::npos);
  for (M* m : {&a_, &b_, &c_}) {
    m->fd.reset();
    ASSERT_TRUE(net_->Teardown(m->spec.machine_id, m->spec.slot).ok());
  }
  ASSERT_TRUE(fw_->Remove().ok());
  ASSERT_TRUE(fw_->Remove().ok());  // idempotent
  ASSERT_TRUE(hostnet_->Teardown().ok());
  ASSERT_TRUE(hostnet_->Teardown().ok());  // idempotent
  EXPECT_EQ(host_.Snapshot(), empty_);
  EXPECT_EQ(host_.In("nft list ruleset").out, "");
  EXPECT_EQ(host_.In("ip -o link show").out.find("pcv"), std::string::npos);
  EXPECT_EQ(host_.In("ip -6 route show").out, "");
  EXPECT_EQ(host_.NetnsFiles(), std::vector<std::string>{"host"});
  EXPECT_EQ(host_.MountsUnder(), std::vector<std::string>{host_.host_path()});
  EXPECT_EQ(fw_->CounterPackets("input_drop").status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace privcast::netns

namespace privcast::netns {
namespace {

// A daemon with ~1000 machines holds ~1000 pidfds: libnftables' select() would abort on an fd
// number >= FD_SETSIZE. Apply must still work (it switches to the nft binary then).
// Used once while fds are low, the Firewall keeps its libnftables socket at a low number and
// goes on working (in process) after the daemon's fd table has grown past FD_SETSIZE.
TEST(FirewallManyFds, KeepsWorkingAfterLowFdsAreExhausted) {
  testing::TestHost host;
  ASSERT_TRUE(host.ok());
  auto fw = Firewall::CreateFor(host.nsfd());
  ASSERT_TRUE(fw.ok()) << fw.status().ToString();
  FirewallState st;
  st.networks = {0x1234};
  st.machine_ifs = {{"pcv7", 0x1234}};
  ASSERT_TRUE((*fw)->Apply(st).ok());
  std::vector<UniqueFd> hold;
  for (int i = 0; i < 1100; ++i) {
    int fd = ::fcntl(0, F_DUPFD_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    hold.emplace_back(fd);
  }
  for (uint32_t n = 1; n <= 3; ++n) {  // element updates, then a whole rebuild
    st.flycast.insert(addr::FlycastAddress(0x1234, n));
    if (n == 3) st.networks.insert(0x99);
    Status s = (*fw)->Apply(st);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  EXPECT_TRUE((*fw)->in_process());
  // A rejected transaction is an error, not an abort, and the next Apply still works.
  EXPECT_FALSE((*fw)->CounterPackets("no_such_counter").ok());
  st.flycast.insert(addr::FlycastAddress(0x1234, 4));
  ASSERT_TRUE((*fw)->Apply(st).ok());
  auto listed = host.In("nft list table inet privcast");
  EXPECT_NE(listed.out.find("fdaa:0:1234:0:1::4"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("xnet_00000099"), std::string::npos) << listed.out;
  ASSERT_TRUE((*fw)->Remove().ok());
  hold.clear();
}

TEST(FirewallManyFds, AppliesWhenLowFdsAreExhausted) {
  testing::TestHost host;
  ASSERT_TRUE(host.ok());
  std::vector<UniqueFd> hold;
  for (int i = 0; i < 1100; ++i) {
    int fd = ::fcntl(0, F_DUPFD_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    hold.emplace_back(fd);
  }
  auto fw = Firewall::CreateFor(host.nsfd());
  ASSERT_TRUE(fw.ok()) << fw.status().ToString();
  FirewallState st;
  st.networks = {0x1234};
  st.machine_ifs = {{"pcv7", 0x1234}};
  st.flycast = {addr::FlycastAddress(0x1234, 1)};
  Status s = (*fw)->Apply(st);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_FALSE((*fw)->in_process());  // the nft binary did it
  auto listed = host.In("nft list table inet privcast");
  EXPECT_EQ(listed.rc, 0);
  EXPECT_NE(listed.out.find("fdaa:0:1234:0:1::1"), std::string::npos) << listed.out;
  ASSERT_TRUE((*fw)->Remove().ok());
  hold.clear();
}

}  // namespace
}  // namespace privcast::netns
