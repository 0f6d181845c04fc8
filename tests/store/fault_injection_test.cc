// "Nothing half written": every Registry mutation, failed at every internal step k (and, in a
// forked child, killed at every step k), leaves the store exactly as it was.
#include "store/fault_injection_store.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <functional>

#include "common/strings.h"
#include "store/keys.h"
#include "store/registry.h"
#include "test_util.h"

namespace privcast::store {
namespace {

using testing::Dump;
using testing::OpenMemory;
using testing::OpenOrDie;
using testing::TempDir;
using S = MachineState;

constexpr auto kCooldown = std::chrono::seconds(60);

// Ids of the records the scenarios act on.
struct Base {
  std::string stopped;     // web machine, stopped
  std::string started;     // web machine, started
  std::string destroying;  // web machine, destroying
  std::string web_ip;      // web's address on its own network
};

void Check(const Status& st) {
  if (!st.ok()) ADD_FAILURE() << st.ToString();
}
template <typename T>
T Must(Result<T> r) {
  if (!r.ok()) {
    ADD_FAILURE() << r.status().ToString();
    std::abort();
  }
  return std::move(r).value();
}

// A store with a bit of everything: orgs, networks, apps with releases, machines in several
// states, live addresses, and a released address whose cooldown is over.
Base BuildBase(Store* s, FakeClock* clock) {
  Registry r(s, clock, RegistryOptions{kCooldown});
  Base b;
  Must(r.Bootstrap("ams", "box"));
  Must(r.CreateOrg("acme"));
  Must(r.CreateNetwork("personal", "blue"));
  Must(r.CreateApp("web", std::nullopt, std::nullopt));
  Must(r.CreateRelease("web", R"({"v":1})", "app = 'web'"));
  MachineSpec spec;
  spec.app = "web";
  spec.initial_state = S::kStopped;
  b.stopped = Must(r.CreateMachine(spec)).id;
  spec.initial_state = S::kStarting;
  b.started = Must(r.CreateMachine(spec)).id;
  Must(r.TransitionMachine(b.started, {}, S::kStarted, "up"));
  b.destroying = Must(r.CreateMachine(spec)).id;
  Must(r.TransitionMachine(b.destroying, {}, S::kDestroying, "bye"));
  b.web_ip = Must(r.AllocateFlycast("web", std::nullopt, std::nullopt)).address;
  std::string acme_ip = Must(r.AllocateFlycast("web", std::string("acme"), std::nullopt)).address;
  Check(r.ReleaseIp("web", acme_ip));
  // db: an app ready to be destroyed (a stopped machine, a destroyed one, an address, releases).
  Must(r.CreateApp("db", std::string("acme"), std::nullopt));
  Must(r.CreateRelease("db", "{}", ""));
  spec.app = "db";
  spec.initial_state = S::kStopped;
  Must(r.CreateMachine(spec));
  spec.initial_state = S::kCreated;
  std::string gone = Must(r.CreateMachine(spec)).id;
  Must(r.TransitionMachine(gone, {}, S::kDestroying, ""));
  Must(r.TransitionMachine(gone, {}, S::kDestroyed, ""));
  Must(r.AllocateFlycast("db", std::nullopt, std::nullopt));
  clock->Advance(kCooldown + std::chrono::seconds(1));
  return b;
}

struct Scenario {
  const char* name;
  std::function<Status(Registry&, const Base&)> op;
};

std::vector<Scenario> Scenarios() {
  return {
      {"Bootstrap(new region)", [](Registry& r, const Base&) { return r.Bootstrap("fra", "box2").status(); }},
      {"CreateOrg", [](Registry& r, const Base&) { return r.CreateOrg("newco").status(); }},
      {"CreateNetwork", [](Registry& r, const Base&) { return r.CreateNetwork("acme", "red").status(); }},
      {"CreateApp",
       [](Registry& r, const Base&) { return r.CreateApp("api", std::string("acme"), std::nullopt).status(); }},
      {"DestroyApp", [](Registry& r, const Base&) { return r.DestroyApp("db"); }},
      {"CreateRelease", [](Registry& r, const Base&) { return r.CreateRelease("web", R"({"v":2})", "x").status(); }},
      {"CreateMachine",
       [](Registry& r, const Base&) {
         MachineSpec spec;
         spec.app = "web";
         spec.network = "blue";
         spec.release_version = 1;
         return r.CreateMachine(spec).status();
       }},
      {"TransitionMachine(started->stopping)",
       [](Registry& r, const Base& b) {
         return r.TransitionMachine(b.started, {S::kStarted}, S::kStopping, "stop").status();
       }},
      {"TransitionMachine(destroying->destroyed)",
       [](Registry& r, const Base& b) {
         return r.TransitionMachine(b.destroying, {}, S::kDestroyed, "gone").status();
       }},
      {"UpdateMachineRelease",
       [](Registry& r, const Base& b) { return r.UpdateMachineRelease(b.stopped, 1).status(); }},
      {"DeleteMachine", [](Registry& r, const Base& b) { return r.DeleteMachine(b.stopped); }},
      {"AllocateFlycast(reuse cooled address)",
       [](Registry& r, const Base&) { return r.AllocateFlycast("web", std::string("acme"), std::nullopt).status(); }},
      {"AllocateFlycast(fresh counter)",
       [](Registry& r, const Base&) { return r.AllocateFlycast("web", std::nullopt, std::string("blue")).status(); }},
      {"ReleaseIp", [](Registry& r, const Base& b) { return r.ReleaseIp("web", b.web_ip); }},
  };
}

TEST(FaultInjection, EveryMutationAtEveryStepIsAllOrNothing) {
  for (const Scenario& sc : Scenarios()) {
    SCOPED_TRACE(sc.name);
    auto raw = OpenMemory();
    FakeClock clock;
    Base base = BuildBase(raw.get(), &clock);
    FaultInjectionStore fi(raw.get());
    Registry reg(&fi, &clock, RegistryOptions{kCooldown});
    const std::string before = Dump(raw.get());
    const size_t events_before = raw->Changes(0, 0)->size();
    int k = 1;
    for (;; ++k) {
      SCOPED_TRACE("step " + std::to_string(k));
      ASSERT_TRUE(fi.FailStep(k));
      Status st = sc.op(reg, base);
      if (!fi.fired()) {
        ASSERT_TRUE(st.ok()) << st.ToString();
        break;
      }
      EXPECT_FALSE(st.ok());
      EXPECT_EQ(st.code(), Code::kUnavailable) << st.ToString();
      ASSERT_EQ(Dump(raw.get()), before);
      ASSERT_EQ(raw->Changes(0, 0)->size(), events_before);
    }
    // At least begin, one op, the revision and the commit were each failed once.
    EXPECT_GE(k, 5);
    EXPECT_NE(Dump(raw.get()), before);
    auto was = ParseDecimal<int64_t>(before.substr(9, before.find('\n') - 9));  // "revision N\n..."
    ASSERT_TRUE(was) << before;
    EXPECT_EQ(*raw->Revision(), *was + 1) << "one Txn, one revision";
  }
}

TEST(FaultInjection, EveryMutationIsExactlyOneTxn) {
  for (const Scenario& sc : Scenarios()) {
    SCOPED_TRACE(sc.name);
    auto raw = OpenMemory();
    FakeClock clock;
    Base base = BuildBase(raw.get(), &clock);
    FaultInjectionStore fi(raw.get());
    Registry reg(&fi, &clock, RegistryOptions{kCooldown});
    const std::string before = Dump(raw.get());
    fi.FailMutation(1);
    Status st = sc.op(reg, base);
    EXPECT_TRUE(fi.fired());
    EXPECT_EQ(st.code(), Code::kUnavailable);
    EXPECT_EQ(Dump(raw.get()), before);
    fi.FailMutation(2);
    ASSERT_TRUE(sc.op(reg, base).ok());
    EXPECT_FALSE(fi.fired());
    EXPECT_EQ(fi.mutations(), 1);
  }
}

// A process killed at step k of a mutation: the child _exits inside the SQLite transaction
// (no rollback, no close); the parent reopens the file and finds the state from before.
TEST(FaultInjection, ACrashAtEveryStepOfEveryMutationLeavesNothingHalfWritten) {
  TempDir dir;
  const std::string base_path = dir.File("base.db");
  const std::string work_path = dir.File("work.db");
  Base base;
  std::string before;
  FakeClock clock;
  {
    auto s = OpenOrDie(base_path);
    base = BuildBase(s.get(), &clock);
    before = Dump(s.get());
  }  // closing the last connection checkpoints the WAL into base.db
  for (const Scenario& sc : Scenarios()) {
    SCOPED_TRACE(sc.name);
    int k = 1;
    for (;; ++k) {
      SCOPED_TRACE("crash at step " + std::to_string(k));
      for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(work_path + suffix);
      std::filesystem::copy_file(base_path, work_path);
      pid_t pid = fork();
      ASSERT_GE(pid, 0);
      if (pid == 0) {
        auto s = OpenSqliteStoreConcrete({work_path, false});
        if (!s.ok()) _exit(3);
        int n = 0;
        (*s)->SetStepHook([&](std::string_view, int) -> Status {
          if (++n == k) _exit(7);
          return Status::Ok();
        });
        Registry reg(s->get(), &clock, RegistryOptions{kCooldown});
        _exit(sc.op(reg, base).ok() ? 0 : 5);
      }
      int status = 0;
      ASSERT_EQ(waitpid(pid, &status, 0), pid);
      ASSERT_TRUE(WIFEXITED(status));
      auto s = OpenOrDie(work_path);
      if (WEXITSTATUS(status) == 7) {
        ASSERT_EQ(Dump(s.get()), before);
        continue;
      }
      ASSERT_EQ(WEXITSTATUS(status), 0);
      EXPECT_NE(Dump(s.get()), before);  // it ran to the end and committed
      break;
    }
    EXPECT_GE(k, 5);
  }
}

TEST(FaultInjection, LostAcknowledgementsAreSafeToRetry) {
  auto raw = OpenMemory();
  FakeClock clock;
  FaultInjectionStore fi(raw.get());
  Registry reg(&fi, &clock);
  ASSERT_TRUE(reg.Bootstrap("ams", "box").ok());
  fi.FailMutation(1, FaultInjectionStore::Mode::kAfterApply);
  EXPECT_EQ(reg.CreateApp("web", std::nullopt, std::nullopt).status().code(), Code::kUnavailable);
  EXPECT_TRUE(fi.fired());
  // The write happened; the retry says so instead of writing twice.
  EXPECT_EQ(reg.CreateApp("web", std::nullopt, std::nullopt).status().code(), Code::kAlreadyExists);
  fi.FailMutation(1, FaultInjectionStore::Mode::kAfterApply);
  EXPECT_FALSE(reg.AllocateFlycast("web", std::nullopt, std::nullopt).ok());
  int64_t rev = *raw->Revision();
  auto ip = reg.AllocateFlycast("web", std::nullopt, std::nullopt);  // deploy --flycast again
  ASSERT_TRUE(ip.ok());
  EXPECT_EQ(*raw->Revision(), rev);
  EXPECT_EQ(reg.ListIps(std::string("web"))->size(), 1u);
}

TEST(FaultInjectionStore, FailsTheKthMutationOnce) {
  auto raw = OpenMemory();
  FaultInjectionStore fi(raw.get());
  TxnRequest put;
  put.success = {Op::Put("/a", "1")};
  fi.FailMutation(2);
  EXPECT_TRUE(fi.Txn(put).ok());
  EXPECT_FALSE(fi.fired());
  EXPECT_EQ(fi.Txn(put).status().code(), Code::kUnavailable);
  EXPECT_TRUE(fi.fired());
  EXPECT_EQ(*fi.Revision(), 1);  // refused before applying
  EXPECT_TRUE(fi.Txn(put).ok());
  EXPECT_EQ(fi.mutations(), 3);
  fi.FailMutation(1);
  EXPECT_EQ(fi.Compact(1).code(), Code::kUnavailable);
  EXPECT_EQ(*raw->CompactRevision(), 0);
  fi.FailMutation(1, FaultInjectionStore::Mode::kAfterApply);
  EXPECT_EQ(fi.Compact(1).code(), Code::kUnavailable);
  EXPECT_EQ(*raw->CompactRevision(), 1);  // applied, acknowledgement lost
  // Reads pass through untouched.
  EXPECT_EQ((*fi.Get("/a"))->value, "1");
  EXPECT_EQ(fi.Range("")->kvs.size(), 1u);
  EXPECT_EQ(*fi.WaitForRevision(0, std::chrono::seconds(1)), 2);
  EXPECT_EQ(fi.Changes(1, 0)->size(), 1u);
}

TEST(FaultInjectionStore, StepFaultsInsideCompactRollBack) {
  auto raw = OpenMemory();
  FaultInjectionStore fi(raw.get());
  for (int i = 0; i < 3; ++i) testing::MustPut(&fi, "/k" + std::to_string(i), "v");
  ASSERT_TRUE(fi.FailStep(2));  // after deleting the events, before the horizon moves
  EXPECT_EQ(fi.Compact(2).code(), Code::kUnavailable);
  EXPECT_EQ(*raw->CompactRevision(), 0);
  EXPECT_EQ(raw->Changes(0, 0)->size(), 3u);
  fi.Reset();
  EXPECT_TRUE(fi.Compact(2).ok());
}

TEST(FaultInjectionStore, StepFaultsNeedASqliteStore) {
  auto raw = OpenMemory();
  FaultInjectionStore inner(raw.get());
  FaultInjectionStore outer(&inner);
  EXPECT_FALSE(outer.FailStep(1));
  EXPECT_TRUE(inner.FailStep(1));
}

}  // namespace
}  // namespace privcast::store
