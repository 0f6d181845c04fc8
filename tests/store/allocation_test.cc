// Flycast address allocation: uniqueness at scale, cooldown of released addresses (with a
// FakeClock), oldest-first reuse, exhaustion.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <unordered_set>

#include "common/addr.h"
#include "store/keys.h"
#include "store/registry.h"
#include "test_util.h"

namespace privcast::store {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::OpenMemory;

uint32_t NOf(const std::string& address) {
  auto a = Ip6::Parse(address);
  EXPECT_TRUE(a.has_value()) << address;
  return static_cast<uint32_t>(a->Group(6)) << 16 | a->Group(7);
}

TEST(FlycastAllocation, HundredThousandAddressesNeverCollide) {
  auto store = OpenMemory();
  FakeClock clock;
  Registry reg(store.get(), &clock);
  ASSERT_TRUE(reg.Bootstrap("ams", "box").ok());
  constexpr int kNetworks = 100, kApps = 1000;
  std::vector<std::string> nets = {"default"};
  std::map<std::string, uint32_t> net32;
  for (int i = 1; i < kNetworks; ++i) {
    nets.push_back("n" + std::to_string(i));
    ASSERT_TRUE(reg.CreateNetwork("personal", nets.back()).ok());
  }
  for (const auto& n : nets) net32[n] = reg.GetNetwork("personal", n)->net32;
  ASSERT_EQ(std::set<uint32_t>([&] {
              std::set<uint32_t> s;
              for (auto& [k, v] : net32) s.insert(v);
              return s;
            }())
                .size(),
            static_cast<size_t>(kNetworks));
  for (int a = 0; a < kApps; ++a)
    ASSERT_TRUE(reg.CreateApp("app" + std::to_string(a), std::nullopt, std::nullopt).ok());

  std::unordered_set<std::string> seen;
  seen.reserve(kNetworks * kApps);
  std::map<uint32_t, std::set<uint32_t>> ns;  // net32 → n values handed out
  for (int a = 0; a < kApps; ++a) {
    for (const std::string& n : nets) {
      auto ip = reg.AllocateFlycast("app" + std::to_string(a), std::nullopt, n);
      ASSERT_TRUE(ip.ok()) << ip.status().ToString();
      ASSERT_TRUE(seen.insert(ip->address).second) << "collision: " << ip->address;
      auto parsed = Ip6::Parse(ip->address);
      ASSERT_TRUE(parsed && addr::IsFlycast(*parsed)) << ip->address;
      ASSERT_EQ(addr::NetworkOf(*parsed), net32[n]);
      ASSERT_EQ(ip->net32, net32[n]);
      ns[ip->net32].insert(NOf(ip->address));
    }
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kNetworks * kApps));
  // Each network handed out exactly 1..kApps, densely.
  for (auto& [net, set] : ns) {
    ASSERT_EQ(set.size(), static_cast<size_t>(kApps));
    EXPECT_EQ(*set.begin(), 1u);
    EXPECT_EQ(*set.rbegin(), static_cast<uint32_t>(kApps));
  }
  auto all = reg.ListIps(std::nullopt);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), static_cast<size_t>(kNetworks * kApps));
}

class CooldownTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenMemory();
    reg_ = std::make_unique<Registry>(store_.get(), &clock_, RegistryOptions{seconds(60)});
    ASSERT_TRUE(reg_->Bootstrap("ams", "box").ok());
    for (std::string a : {"a", "b", "c", "d", "e", "f", "g"})
      ASSERT_TRUE(reg_->CreateApp(a, std::nullopt, std::nullopt).ok());
  }
  uint32_t Alloc(const std::string& app) {
    auto ip = reg_->AllocateFlycast(app, std::nullopt, std::nullopt);
    EXPECT_TRUE(ip.ok()) << ip.status().ToString();
    return ip.ok() ? NOf(ip->address) : 0;
  }
  void Release(const std::string& app) {
    auto ips = reg_->ListIps(app);
    ASSERT_EQ(ips->size(), 1u);
    ASSERT_TRUE(reg_->ReleaseIp(app, (*ips)[0].address).ok());
  }
  FakeClock clock_;
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<Registry> reg_;
};

TEST_F(CooldownTest, ReleasedAddressesWaitOutTheCooldown) {
  EXPECT_EQ(Alloc("a"), 1u);
  EXPECT_EQ(Alloc("b"), 2u);
  Release("a");  // t = 0
  clock_.Advance(seconds(10));
  Release("b");  // t = 10 s
  clock_.Advance(seconds(50) - milliseconds(1));
  EXPECT_EQ(Alloc("c"), 3u);  // n = 1 has cooled for 59.999 s: not yet
  clock_.Advance(milliseconds(1));
  EXPECT_EQ(Alloc("d"), 1u);  // exactly the cooldown: reused
  EXPECT_EQ(Alloc("e"), 4u);  // n = 2 still cooling
  clock_.Advance(seconds(10));
  EXPECT_EQ(Alloc("f"), 2u);
  EXPECT_EQ(Alloc("g"), 5u);
  EXPECT_TRUE(store_->Range(keys::ReleasedPrefix())->kvs.empty());
}

TEST_F(CooldownTest, ReuseIsOldestReleaseFirstNotLowestAddress) {
  EXPECT_EQ(Alloc("a"), 1u);
  EXPECT_EQ(Alloc("b"), 2u);
  EXPECT_EQ(Alloc("c"), 3u);
  Release("c");
  clock_.Advance(seconds(1));
  Release("a");
  clock_.Advance(seconds(1));
  Release("b");
  clock_.Advance(seconds(120));
  EXPECT_EQ(Alloc("d"), 3u);
  EXPECT_EQ(Alloc("e"), 1u);
  EXPECT_EQ(Alloc("f"), 2u);
  EXPECT_EQ(Alloc("g"), 4u);
}

TEST_F(CooldownTest, DestroyedAppsAddressesCoolDownToo) {
  EXPECT_EQ(Alloc("a"), 1u);
  ASSERT_TRUE(reg_->DestroyApp("a").ok());
  EXPECT_EQ(Alloc("b"), 2u);
  clock_.Advance(seconds(60));
  EXPECT_EQ(Alloc("c"), 1u);
}

TEST_F(CooldownTest, CooldownSurvivesARestartBecauseItIsWallTime) {
  EXPECT_EQ(Alloc("a"), 1u);
  Release("a");
  // A new Registry (a restarted daemon) on the same store and clock: still cooling.
  Registry again(store_.get(), &clock_, RegistryOptions{seconds(60)});
  EXPECT_EQ(NOf(again.AllocateFlycast("b", std::nullopt, std::nullopt)->address), 2u);
}

TEST_F(CooldownTest, ExhaustedNetworkSaysSo) {
  uint32_t net32 = reg_->GetNetwork("personal", "default")->net32;
  testing::MustPut(store_.get(), keys::FlycastSeq(net32), "4294967295");
  EXPECT_EQ(Alloc("a"), 0xffffffffu);
  auto r = reg_->AllocateFlycast("b", std::nullopt, std::nullopt);
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(
      r.status().message(),
      "network \"default\" of org \"personal\" has no flycast addresses left; release some and wait for their cooldown");
  Release("a");
  clock_.Advance(seconds(60));
  EXPECT_EQ(Alloc("b"), 0xffffffffu);
}

// Random allocate/release churn with the two invariants checked on every step: no two live
// assignments share an address, and no address comes back before its cooldown is over.
TEST_F(CooldownTest, ChurnKeepsAddressesUniqueAndCooled) {
  ASSERT_TRUE(reg_->CreateNetwork("personal", "blue").ok());
  ASSERT_TRUE(reg_->CreateOrg("acme").ok());
  std::vector<std::string> apps;
  for (int i = 0; i < 40; ++i) {
    apps.push_back("churn" + std::to_string(i));
    ASSERT_TRUE(reg_->CreateApp(apps.back(), std::nullopt, std::nullopt).ok());
  }
  struct Target {
    std::optional<std::string> org, network;
  };
  const Target targets[] = {{std::nullopt, std::nullopt}, {std::nullopt, "blue"}, {"acme", std::nullopt}};
  std::mt19937 rng(42);
  std::map<std::string, std::string> live;                  // address → app
  std::map<std::pair<std::string, int>, std::string> held;  // (app, target) → address
  std::map<std::string, MonoTime> released_at;
  int allocations = 0, reuses = 0;
  for (int step = 0; step < 6000; ++step) {
    const std::string& app = apps[rng() % apps.size()];
    int t = static_cast<int>(rng() % 3);
    auto key = std::make_pair(app, t);
    if (held.count(key)) {
      ASSERT_TRUE(reg_->ReleaseIp(app, held[key]).ok());
      live.erase(held[key]);
      released_at[held[key]] = clock_.Now();
      held.erase(key);
    } else {
      auto ip = reg_->AllocateFlycast(app, targets[t].org, targets[t].network);
      ASSERT_TRUE(ip.ok()) << ip.status().ToString();
      ASSERT_FALSE(live.count(ip->address)) << "collision: " << ip->address;
      if (auto it = released_at.find(ip->address); it != released_at.end()) {
        ASSERT_GE(clock_.Now() - it->second, seconds(60)) << ip->address << " reused during its cooldown";
        ++reuses;
      }
      live[ip->address] = app;
      held[key] = ip->address;
      ++allocations;
    }
    clock_.Advance(milliseconds(rng() % 2000));
  }
  EXPECT_GT(allocations, 3000);
  EXPECT_GT(reuses, 100);  // the cooldown list is really exercised
  EXPECT_EQ(reg_->ListIps(std::nullopt)->size(), live.size());
}

}  // namespace
}  // namespace privcast::store
