// EtcdStore beyond the shared contract (store_conformance_test.cc): per-host "/local/" keys on a
// shared keyspace, clear errors while etcd is down and recovery after, host leases, and
// conflict-free allocation by several hosts (each its own EtcdStore + Registry) at once.
#include <gtest/gtest.h>

#include <barrier>
#include <chrono>
#include <set>
#include <thread>

#include "common/clock.h"
#include "etcd_fixture.h"
#include "store/etcd/host_registration.h"
#include "store/registry.h"
#include "test_util.h"

namespace privcast::store {
namespace {

using testing::EtcdServer;
using testing::MustPut;

class EtcdStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    srv_ = EtcdServer::Get(&why);
    if (!srv_) GTEST_SKIP() << why;
    prefix_ = EtcdServer::NextPrefix();
  }
  EtcdServer* srv_ = nullptr;
  std::string prefix_;
};

TEST_F(EtcdStoreTest, LocalKeysBelongToOneHostOnASharedKeyspace) {
  auto a = srv_->Open(prefix_, "hosta");
  auto b = srv_->Open(prefix_, "hostb");
  MustPut(a.get(), "/local/host", "0000000a");
  MustPut(b.get(), "/local/host", "0000000b");
  MustPut(a.get(), "/apps/web", "{}");
  EXPECT_EQ((*a->Get("/local/host"))->value, "0000000a");
  EXPECT_EQ((*b->Get("/local/host"))->value, "0000000b");
  auto all = a->Range("");
  ASSERT_TRUE(all.ok());
  std::vector<std::string> seen;
  for (const KeyValue& kv : all->kvs) seen.push_back(kv.key + "=" + kv.value);
  EXPECT_EQ(seen, (std::vector<std::string>{"/apps/web={}", "/local/host=0000000a"}));
  // b's view of the shared key, and its own local key only.
  EXPECT_EQ(b->Range("/local/")->kvs.size(), 1u);
  EXPECT_EQ(b->Range("/apps/")->kvs.size(), 1u);
}

TEST(EtcdStoreTls, ClientCertificateIsUsedAndRequired) {
  std::string why;
  auto srv = EtcdServer::NewTls(&why);
  if (!srv) GTEST_SKIP() << why;
  auto s = srv->Open(EtcdServer::NextPrefix());
  ASSERT_TRUE(s);
  MustPut(s.get(), "/k", "over tls");
  EXPECT_EQ((*s->Get("/k"))->value, "over tls");
  // Without the client certificate the server refuses the handshake.
  EtcdOptions no_cert = srv->Options();
  no_cert.cert_file.clear();
  no_cert.key_file.clear();
  no_cert.timeout = std::chrono::milliseconds(1000);
  auto refused = OpenEtcdStore(no_cert);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kUnavailable);
  // Plaintext to a TLS port fails too.
  EtcdOptions plain;
  plain.endpoints = no_cert.endpoints;
  plain.timeout = std::chrono::milliseconds(1000);
  EXPECT_FALSE(OpenEtcdStore(plain).ok());
  // A missing file is a clear error before any connection.
  EtcdOptions missing = srv->Options();
  missing.cacert_file = srv->dir() + "/nope.crt";
  auto m = OpenEtcdStore(missing);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("nope.crt"), std::string::npos);
}

TEST_F(EtcdStoreTest, WritesFailClearlyWhileEtcdIsDownAndWorkAfter) {
  auto s = srv_->Open(prefix_);
  int64_t rev = MustPut(s.get(), "/k", "1");
  srv_->Stop();
  TxnRequest t;
  t.success = {Op::Put("/k", "2")};
  auto r = s->Txn(t);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("etcd unavailable (" + srv_->endpoint() + ")"), std::string::npos)
      << r.status().message();
  // Waiting for changes does not fail: it reports the last revision it knows.
  auto w = s->WaitForRevision(rev, std::chrono::milliseconds(10));
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(*w, rev);
  ASSERT_TRUE(srv_->Start());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  Result<TxnResponse> again = Unavailable("not tried");
  while (std::chrono::steady_clock::now() < deadline) {
    again = s->Txn(t);
    if (again.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  // The background watcher resumed too: a write by another client wakes waiters.
  auto other = srv_->Open(prefix_);
  int64_t now = MustPut(other.get(), "/k2", "x");
  auto woke = s->WaitForRevision(now - 1, std::chrono::seconds(30));
  ASSERT_TRUE(woke.ok());
  EXPECT_GE(*woke, now);
}

TEST_F(EtcdStoreTest, ALeaseThatIsNoLongerKeptAliveTakesTheHostDown) {
  auto watcher = srv_->Open(prefix_);
  {
    // What HostRegistration does, then a crash: the store (and its keep-alive) goes away
    // without revoking the lease.
    auto a = srv_->Open(prefix_);
    LiveHost me{0x1234, "ams", "fd00:77::11", "a"};
    auto lease = a->GrantLease(1);
    ASSERT_TRUE(lease.ok()) << lease.status().ToString();
    ASSERT_TRUE(a->PutWithLease(LiveKey(me.id), EncodeLiveHost(me), *lease).ok());
    a->KeepAlive(*lease, 1, nullptr);
    auto live = LiveHosts(watcher.get());
    ASSERT_TRUE(live.ok());
    ASSERT_EQ(live->size(), 1u);
    EXPECT_EQ((*live)[0].id, 0x1234u);
    EXPECT_EQ((*live)[0].region, "ams");
    EXPECT_EQ((*live)[0].underlay, "fd00:77::11");
  }
  auto start = std::chrono::steady_clock::now();
  auto deadline = start + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline && !LiveHosts(watcher.get())->empty())
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_TRUE(LiveHosts(watcher.get())->empty());
  RecordProperty(
      "host_down_ms",
      std::to_string(
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count()));
}

TEST_F(EtcdStoreTest, ACleanStopRevokesTheLeaseAtOnce) {
  auto watcher = srv_->Open(prefix_);
  auto a = srv_->Open(prefix_);
  {
    auto reg = HostRegistration::Start(a.get(), LiveHost{0x99, "fra", "", "a"}, 60);
    ASSERT_TRUE(reg.ok());
    EXPECT_EQ(LiveHosts(watcher.get())->size(), 1u);
  }
  EXPECT_TRUE(LiveHosts(watcher.get())->empty());
}

// Three hosts, each its own store (own "/local/" namespace) and Registry, allocate at once:
// hosts, orgs, networks (net32), apps, flycast addresses and machines never collide, and of
// several hosts creating the same app exactly one wins.
TEST_F(EtcdStoreTest, ConcurrentAllocationFromSeveralHostsNeverCollides) {
  constexpr int kHosts = 3, kApps = 6;
  std::vector<std::unique_ptr<EtcdStore>> stores;
  std::vector<std::unique_ptr<Registry>> regs;
  for (int h = 0; h < kHosts; ++h) {
    stores.push_back(srv_->Open(prefix_, "host" + std::to_string(h)));
    regs.push_back(std::make_unique<Registry>(stores.back().get(), RealClock::Get()));
  }
  std::vector<uint32_t> host_ids(kHosts);
  std::vector<std::vector<std::string>> flycast(kHosts), machine_ids(kHosts), won(kHosts);
  std::vector<std::string> errors;
  std::mutex mu;
  std::barrier go(kHosts);
  std::vector<std::thread> threads;
  for (int h = 0; h < kHosts; ++h) {
    threads.emplace_back([&, h] {
      auto fail = [&](const std::string& what, const Status& s) {
        std::lock_guard<std::mutex> l(mu);
        errors.push_back("host " + std::to_string(h) + " " + what + ": " + s.ToString());
      };
      go.arrive_and_wait();
      auto host = regs[h]->Bootstrap("ams", "h" + std::to_string(h));
      if (!host.ok()) return fail("bootstrap", host.status());
      host_ids[h] = host->id;
      go.arrive_and_wait();
      auto org = regs[h]->CreateOrg("org" + std::to_string(h));
      if (!org.ok()) fail("org", org.status());
      for (int i = 0; i < kApps; ++i) {
        // Half the names are contended by every host, half are this host's own.
        std::string name = i % 2 ? "shared" + std::to_string(i) : "h" + std::to_string(h) + "app" + std::to_string(i);
        auto app = regs[h]->CreateApp(name, std::nullopt, std::nullopt);
        if (app.ok()) {
          won[h].push_back(name);
        } else if (app.status().code() != Code::kAlreadyExists) {
          fail("app " + name, app.status());
          continue;
        }
        auto ip = regs[h]->AllocateFlycast(name, "org" + std::to_string(h), std::nullopt);
        if (!ip.ok()) fail("flycast " + name, ip.status());
        else flycast[h].push_back(ip->address);
        MachineSpec spec;
        spec.app = name;
        auto m = regs[h]->CreateMachine(spec);
        if (!m.ok()) fail("machine " + name, m.status());
        else machine_ids[h].push_back(m->id);
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(errors.empty()) << ::testing::PrintToString(errors);
  EXPECT_EQ(std::set<uint32_t>(host_ids.begin(), host_ids.end()).size(), size_t{kHosts});
  // Each contended name has exactly one winner.
  std::map<std::string, int> winners;
  for (auto& w : won)
    for (auto& n : w) winners[n]++;
  for (auto& [name, n] : winners) EXPECT_EQ(n, 1) << name;
  EXPECT_EQ(winners.size(), size_t{kHosts * kApps / 2 + kApps / 2});
  // One address per (app, network): every host allocated on its own org's default network.
  std::set<std::string> all_ips;
  size_t n_ips = 0;
  for (auto& v : flycast) {
    all_ips.insert(v.begin(), v.end());
    n_ips += v.size();
  }
  EXPECT_EQ(all_ips.size(), n_ips);
  // Machines: unique ids, and (host, machine32) unique; the store agrees with what was returned.
  auto state = regs[0]->LoadState();
  ASSERT_TRUE(state.ok());
  std::set<std::string> ids;
  std::set<std::pair<uint32_t, uint32_t>> m32;
  for (const Machine& m : state->machines) {
    ids.insert(m.id);
    m32.insert({m.host_id, m.machine32});
  }
  size_t made = 0;
  for (auto& v : machine_ids) made += v.size();
  EXPECT_EQ(state->machines.size(), made);
  EXPECT_EQ(ids.size(), made);
  EXPECT_EQ(m32.size(), made);
  std::set<uint32_t> net32s;
  for (const Network& n : state->networks) net32s.insert(n.net32);
  EXPECT_EQ(net32s.size(), state->networks.size());
  EXPECT_EQ(state->orgs.size(), size_t{kHosts + 1});  // personal, created once, + one per host
}

}  // namespace
}  // namespace privcast::store
