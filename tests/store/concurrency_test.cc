// Concurrent Registry callers on one Store: compare-and-set really arbitrates.
#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <set>
#include <thread>

#include "store/registry.h"
#include "test_util.h"

namespace privcast::store {
namespace {

using testing::OpenMemory;
using testing::OpenOrDie;
using testing::TempDir;
using S = MachineState;

constexpr int kThreads = 4;

// Every round the machine is stopped and all threads race to start it: exactly one wins, the
// others get kConflict naming the state the winner wrote. regs[t] is thread t's Registry.
void RaceRounds(const std::vector<Registry*>& regs, const std::string& id) {
  constexpr int kRounds = 100;
  const int threads_n = static_cast<int>(regs.size());
  std::atomic<int> wins{0}, conflicts{0}, other{0};
  std::vector<std::atomic<int>> wins_per_round(kRounds);
  auto reset = [&]() noexcept {
    // Runs on one thread between rounds: starting → started → stopping → stopped.
    for (S s : {S::kStarted, S::kStopping, S::kStopped})
      if (!regs[0]->TransitionMachine(id, {}, s, "reset").ok()) other++;
  };
  std::barrier start(threads_n);
  std::barrier done(threads_n, reset);
  std::vector<std::thread> threads;
  for (int t = 0; t < threads_n; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < kRounds; ++round) {
        start.arrive_and_wait();
        auto r = regs[t]->TransitionMachine(id, {S::kStopped}, S::kStarting, "started by " + std::to_string(t));
        if (r.ok()) {
          wins++;
          wins_per_round[round]++;
        } else if (r.status().code() == Code::kConflict &&
                   r.status().message() == "machine " + id + " is starting, not stopped") {
          conflicts++;
        } else {
          ADD_FAILURE() << r.status().ToString();
          other++;
        }
        done.arrive_and_wait();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(wins.load(), kRounds);
  EXPECT_EQ(conflicts.load(), kRounds * (threads_n - 1));
  for (int round = 0; round < kRounds; ++round) EXPECT_EQ(wins_per_round[round].load(), 1) << "round " << round;
  EXPECT_EQ(regs[0]->GetMachine(id)->state, S::kStopped);
}

std::string StoppedMachine(Registry& reg) {
  EXPECT_TRUE(reg.Bootstrap("ams", "box").ok());
  EXPECT_TRUE(reg.CreateApp("web", std::nullopt, std::nullopt).ok());
  MachineSpec spec;
  spec.app = "web";
  spec.initial_state = S::kStopped;
  return reg.CreateMachine(spec)->id;
}

TEST(RegistryConcurrency, ExactlyOneThreadWinsEachTransition) {
  TempDir dir;
  auto store = OpenOrDie(dir.File("db"));
  FakeClock clock;
  Registry reg(store.get(), &clock);
  const std::string id = StoppedMachine(reg);
  RaceRounds(std::vector<Registry*>(kThreads, &reg), id);
}

// The same race with one SQLite connection per thread (as separate processes would have):
// BEGIN IMMEDIATE, the busy timeout and the compares arbitrate, not our mutex.
TEST(RegistryConcurrency, ExactlyOneConnectionWinsEachTransition) {
  TempDir dir;
  FakeClock clock;
  std::vector<std::unique_ptr<SqliteStore>> stores;
  std::vector<std::unique_ptr<Registry>> owned;
  std::vector<Registry*> regs;
  for (int t = 0; t < kThreads; ++t) {
    stores.push_back(OpenOrDie(dir.File("db")));
    owned.push_back(std::make_unique<Registry>(stores.back().get(), &clock));
    regs.push_back(owned.back().get());
  }
  const std::string id = StoppedMachine(*regs[0]);
  RaceRounds(regs, id);
}

TEST(RegistryConcurrency, OneAppNameOneWinner) {
  auto store = OpenMemory();
  FakeClock clock;
  Registry reg(store.get(), &clock);
  ASSERT_TRUE(reg.Bootstrap("ams", "box").ok());
  for (int round = 0; round < 20; ++round) {
    const std::string name = "app" + std::to_string(round);
    std::atomic<int> ok{0}, exists{0};
    std::barrier start(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        start.arrive_and_wait();
        auto r = reg.CreateApp(name, std::nullopt, std::nullopt);
        if (r.ok()) ok++;
        else if (r.status().code() == Code::kAlreadyExists) exists++;
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(ok.load(), 1);
    EXPECT_EQ(exists.load(), kThreads - 1);
  }
}

TEST(RegistryConcurrency, ParallelAllocationsAndMachinesStayUnique) {
  auto store = OpenMemory();
  FakeClock clock;
  RegistryOptions opts;
  opts.max_cas_retries = 10'000;  // correctness under heavy contention, not fairness
  Registry reg(store.get(), &clock, opts);
  ASSERT_TRUE(reg.Bootstrap("ams", "box").ok());
  constexpr int kPerThread = 50;
  for (int i = 0; i < kThreads * kPerThread; ++i)
    ASSERT_TRUE(reg.CreateApp("a" + std::to_string(i), std::nullopt, std::nullopt).ok());
  std::vector<std::vector<std::string>> addrs(kThreads);
  std::vector<std::vector<Machine>> machines(kThreads);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string app = "a" + std::to_string(t * kPerThread + i);
        auto ip = reg.AllocateFlycast(app, std::nullopt, std::nullopt);
        MachineSpec spec;
        spec.app = app;
        auto m = reg.CreateMachine(spec);
        if (!ip.ok() || !m.ok()) {
          failures++;
          continue;
        }
        addrs[t].push_back(ip->address);
        machines[t].push_back(*m);
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0);
  std::set<std::string> all_addrs, ids;
  std::set<uint32_t> m32, slots;
  for (int t = 0; t < kThreads; ++t) {
    all_addrs.insert(addrs[t].begin(), addrs[t].end());
    for (const Machine& m : machines[t]) {
      ids.insert(m.id);
      m32.insert(m.machine32);
      slots.insert(m.link_slot);
    }
  }
  const size_t n = kThreads * kPerThread;
  EXPECT_EQ(all_addrs.size(), n);
  EXPECT_EQ(ids.size(), n);
  EXPECT_EQ(m32.size(), n);
  EXPECT_EQ(slots.size(), n);
  EXPECT_EQ(*slots.rbegin(), n - 1);  // lowest free: dense 0..n-1
}

}  // namespace
}  // namespace privcast::store
