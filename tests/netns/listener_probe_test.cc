// ListenerProbe: sees exactly the listeners of its netns, classifies reachability.
#include "netns/listener_probe.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "netns/netns.h"
#include "test_env.h"

namespace privcast::netns {
namespace {

using testing::ListenTcp;
using testing::TestHost;

// The listeners of List() on `port`.
std::vector<Listener> OnPort(ListenerProbe& probe, uint16_t port) {
  auto all = probe.List();
  EXPECT_TRUE(all.ok());
  std::vector<Listener> out;
  if (all.ok())
    for (const Listener& l : *all)
      if (l.port == port) out.push_back(l);
  return out;
}

TEST(ListenerProbeTest, ListsListenersOfItsNetnsOnly) {
  TestHost host;
  ASSERT_TRUE(host.ok());
  ASSERT_TRUE(Create(host.ns_dir(), "m", [] { return WriteSysctl("net/ipv6/conf/all/disable_ipv6", "0"); }).ok());
  auto m = Open(host.ns_dir() + "/m");
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(host.In("ip link set lo up", host.ns_dir() + "/m").rc, 0);

  auto probe = ListenerProbe::Open(m->get());
  ASSERT_TRUE(probe.ok()) << probe.status().ToString();
  auto empty = probe->List();
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());

  uint16_t p4 = 0, p6 = 0, p6only = 0, pspecific = 0;
  auto l1 = ListenTcp(m->get(), IpAddr::V4(0), &p4);
  auto l2 = ListenTcp(m->get(), IpAddr::V6(Ip6{}), &p6);
  auto l3 = ListenTcp(m->get(), IpAddr::V6(Ip6{}), &p6only, /*v6only=*/true);
  auto l4 = ListenTcp(m->get(), *IpAddr::Parse("::1"), &pspecific);
  ASSERT_TRUE(l1.ok() && l2.ok() && l3.ok() && l4.ok());
  // A listener in another netns (the test host) must not show up.
  uint16_t other = 0;
  auto lh = ListenTcp(host.nsfd(), IpAddr::V4(0), &other);
  ASSERT_TRUE(lh.ok());

  auto all = probe->List();
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->size(), 4u);
  const IpAddr link = *IpAddr::Parse("172.19.0.3");
  auto one = [&](uint16_t port) {
    auto f = OnPort(*probe, port);
    EXPECT_EQ(f.size(), 1u) << port;
    return f.empty() ? Listener{} : f.front();
  };
  Listener a = one(p4), b = one(p6), c = one(p6only), d = one(pspecific);
  EXPECT_EQ(a.addr.ToString(), "0.0.0.0");
  EXPECT_EQ(a.port, p4);
  EXPECT_TRUE(a.ReachableOverV4(link));
  EXPECT_EQ(b.addr.ToString(), "::");
  EXPECT_FALSE(b.v6only);
  EXPECT_TRUE(b.ReachableOverV4(link));
  EXPECT_TRUE(c.v6only);
  EXPECT_FALSE(c.ReachableOverV4(link));
  EXPECT_EQ(d.addr.ToString(), "::1");
  EXPECT_FALSE(d.ReachableOverV4(link));
  EXPECT_TRUE(OnPort(*probe, other).empty());

  // Exact lookups: what would accept a connection to <address>:<port>.
  const IpAddr any6 = IpAddr::V6(Ip6{});
  auto acc = probe->Accepts(link, p4);  // 0.0.0.0 listener takes the link address
  ASSERT_TRUE(acc.ok()) << acc.status().ToString();
  ASSERT_TRUE(acc->has_value());
  EXPECT_EQ((*acc)->addr.ToString(), "0.0.0.0");
  EXPECT_EQ((*acc)->port, p4);
  acc = probe->Accepts(link, p6);  // dual-stack [::] takes IPv4 too
  ASSERT_TRUE(acc.ok());
  ASSERT_TRUE(acc->has_value());
  EXPECT_EQ((*acc)->addr.ToString(), "::");
  EXPECT_EQ((*acc)->port, p6);
  acc = probe->Accepts(link, p6only);  // v6only: not over the IPv4 link
  ASSERT_TRUE(acc.ok());
  EXPECT_FALSE(acc->has_value());
  acc = probe->Accepts(*IpAddr::Parse("fdaa:0:1:0:2:0:1:2"), p6only);
  ASSERT_TRUE(acc.ok());
  EXPECT_TRUE(acc->has_value());
  acc = probe->Accepts(link, pspecific);  // bound to ::1 only
  ASSERT_TRUE(acc.ok());
  EXPECT_FALSE(acc->has_value());
  acc = probe->Accepts(link, other);  // the host's listener is not in this netns
  ASSERT_TRUE(acc.ok());
  EXPECT_FALSE(acc->has_value());
  (void)any6;

  // Cost (printed, not asserted: no timing thresholds in tests).
  auto per = [](int n, auto fn) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) fn();
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / n;
  };
  double accepts_us = per(5000, [&] { ASSERT_TRUE(probe->Accepts(link, p4).ok()); });
  double list_us = per(500, [&] { ASSERT_TRUE(probe->List().ok()); });
  std::printf("ListenerProbe: Accepts %.2f us, List %.1f us per call\n", accepts_us, list_us);
  RecordProperty("accepts_us", std::to_string(accepts_us));
  RecordProperty("list_us", std::to_string(list_us));

  l1->reset();
  EXPECT_TRUE(OnPort(*probe, p4).empty());
  acc = probe->Accepts(link, p4);
  ASSERT_TRUE(acc.ok());
  EXPECT_FALSE(acc->has_value());
  ASSERT_TRUE(Delete(host.ns_dir() + "/m").ok());
}

}  // namespace
}  // namespace privcast::netns
