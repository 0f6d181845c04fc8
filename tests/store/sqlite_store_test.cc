#include "store/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <thread>

#include "test_util.h"

namespace privcast::store {
namespace {

using testing::Dump;
using testing::MustDelete;
using testing::MustPut;
using testing::OpenMemory;
using testing::OpenOrDie;
using testing::TempDir;

Compare Cmp(Compare::Kind k, std::string key, int64_t rev = 0, std::string value = {}) {
  return Compare{k, std::move(key), rev, std::move(value)};
}

TEST(SqliteStore, EmptyStoreIsAtRevisionZero) {
  auto s = OpenMemory();
  EXPECT_EQ(*s->Revision(), 0);
  auto g = s->Get("/nope");
  ASSERT_TRUE(g.ok());
  EXPECT_FALSE(g->has_value());
  auto r = s->Range("");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->kvs.empty());
  EXPECT_EQ(r->revision, 0);
}

TEST(SqliteStore, PutTracksCreateModRevisionAndVersion) {
  auto s = OpenMemory();
  EXPECT_EQ(MustPut(s.get(), "/a", "1"), 1);
  EXPECT_EQ(MustPut(s.get(), "/b", "x"), 2);
  EXPECT_EQ(MustPut(s.get(), "/a", "2"), 3);
  auto a = s->Get("/a");
  ASSERT_TRUE(a.ok() && a->has_value());
  EXPECT_EQ((*a)->value, "2");
  EXPECT_EQ((*a)->create_revision, 1);
  EXPECT_EQ((*a)->mod_revision, 3);
  EXPECT_EQ((*a)->version, 2);
  // Delete then re-create starts a new life: version 1, new create_revision.
  EXPECT_EQ(MustDelete(s.get(), "/a"), 4);
  EXPECT_EQ(MustPut(s.get(), "/a", "3"), 5);
  a = s->Get("/a");
  EXPECT_EQ((*a)->create_revision, 5);
  EXPECT_EQ((*a)->version, 1);
}

TEST(SqliteStore, AllOpsOfATxnShareOneRevision) {
  auto s = OpenMemory();
  MustPut(s.get(), "/gone", "x");
  TxnRequest t;
  t.success = {Op::Put("/x", "1"), Op::Put("/y", "2"), Op::Delete("/gone")};
  auto r = s->Txn(t);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->succeeded);
  EXPECT_EQ(r->revision, 2);
  EXPECT_EQ((*s->Get("/x"))->mod_revision, 2);
  EXPECT_EQ((*s->Get("/y"))->mod_revision, 2);
  auto ev = s->Changes(1, 0);
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->size(), 3u);
  for (const Event& e : *ev) EXPECT_EQ(e.kv.mod_revision, 2);
  EXPECT_EQ((*ev)[2].type, Event::Type::kDelete);
  EXPECT_EQ((*ev)[2].kv.key, "/gone");
}

TEST(SqliteStore, ComparesChooseTheBranch) {
  auto s = OpenMemory();
  int64_t rev = MustPut(s.get(), "/k", "v");
  struct Case {
    Compare c;
    bool holds;
  } cases[] = {
      {Cmp(Compare::Kind::kExists, "/k"), true},
      {Cmp(Compare::Kind::kExists, "/absent"), false},
      {Cmp(Compare::Kind::kNotExists, "/absent"), true},
      {Cmp(Compare::Kind::kNotExists, "/k"), false},
      {Cmp(Compare::Kind::kModRevisionEq, "/k", rev), true},
      {Cmp(Compare::Kind::kModRevisionEq, "/k", rev + 1), false},
      {Cmp(Compare::Kind::kModRevisionEq, "/absent", 0), true},  // 0 means absent
      {Cmp(Compare::Kind::kModRevisionEq, "/k", 0), false},
      {Cmp(Compare::Kind::kValueEq, "/k", 0, "v"), true},
      {Cmp(Compare::Kind::kValueEq, "/k", 0, "w"), false},
      {Cmp(Compare::Kind::kValueEq, "/absent", 0, ""), false},
      {Cmp(Compare::Kind::kPrefixModRevisionLe, "/k", rev), true},
      {Cmp(Compare::Kind::kPrefixModRevisionLe, "/k", rev - 1), false},
      {Cmp(Compare::Kind::kPrefixModRevisionLe, "/empty/", 0), true},
  };
  int i = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(i++);
    TxnRequest t;
    t.compares = {c.c};
    t.success = {Op::Put("/branch", "success")};
    t.failure = {Op::Put("/branch", "failure")};
    auto r = s->Txn(t);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->succeeded, c.holds);
    EXPECT_EQ((*s->Get("/branch"))->value, c.holds ? "success" : "failure");
  }
}

TEST(SqliteStore, OneFailingCompareFailsTheWholeTxn) {
  auto s = OpenMemory();
  MustPut(s.get(), "/a", "1");
  TxnRequest t;
  t.compares = {Cmp(Compare::Kind::kExists, "/a"), Cmp(Compare::Kind::kExists, "/b")};
  t.success = {Op::Put("/c", "1")};
  auto r = s->Txn(t);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->succeeded);
  EXPECT_EQ(r->revision, 1);  // nothing changed: no new revision
  EXPECT_FALSE(s->Get("/c")->has_value());
}

TEST(SqliteStore, TxnWithoutChangesKeepsTheRevision) {
  auto s = OpenMemory();
  MustPut(s.get(), "/a", "1");
  EXPECT_EQ(MustDelete(s.get(), "/absent"), 1);
  TxnRequest t;
  t.success = {Op::DeletePrefix("/nothing/")};
  EXPECT_EQ(s->Txn(t)->revision, 1);
  EXPECT_EQ(s->Changes(1, 0)->size(), 0u);
}

TEST(SqliteStore, DeletePrefixDeletesExactlyTheRange) {
  auto s = OpenMemory();
  for (std::string k : {"/a/1", "/a/2", "/a/3/x", "/ab", "/b", "/a"}) MustPut(s.get(), k, "v");
  TxnRequest t;
  t.success = {Op::DeletePrefix("/a/")};
  auto r = s->Txn(t);
  ASSERT_TRUE(r.ok());
  auto all = s->Range("");
  std::vector<std::string> left;
  for (auto& kv : all->kvs) left.push_back(kv.key);
  EXPECT_EQ(left, (std::vector<std::string>{"/a", "/ab", "/b"}));
  auto ev = s->Changes(r->revision - 1, 0);
  ASSERT_EQ(ev->size(), 3u);
  EXPECT_EQ((*ev)[0].kv.key, "/a/1");
  EXPECT_EQ((*ev)[2].kv.key, "/a/3/x");
}

TEST(SqliteStore, RangeIsOrderedAndPrefixBounded) {
  auto s = OpenMemory();
  const std::string hi = std::string("/p\xff", 3);
  for (std::string k : {"/p/b", "/p/a", "/q", "/p", "/o"}) MustPut(s.get(), k, "v");
  MustPut(s.get(), hi + "z", "v");
  auto r = s->Range("/p/");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->kvs.size(), 2u);
  EXPECT_EQ(r->kvs[0].key, "/p/a");
  EXPECT_EQ(r->kvs[1].key, "/p/b");
  EXPECT_EQ(r->revision, 6);
  // A prefix ending in 0xff has an upper bound one byte shorter.
  auto h = s->Range(hi);
  ASSERT_EQ(h->kvs.size(), 1u);
  EXPECT_EQ(h->kvs[0].key, hi + "z");
  EXPECT_EQ(s->Range("")->kvs.size(), 6u);
}

TEST(SqliteStore, RejectsTxnsEtcdWouldReject) {
  auto s = OpenMemory();
  TxnRequest twice;
  twice.success = {Op::Put("/a", "1"), Op::Put("/a", "2")};
  EXPECT_EQ(s->Txn(twice).status().code(), Code::kInvalidArgument);
  TxnRequest inside;
  inside.success = {Op::DeletePrefix("/a/"), Op::Put("/a/x", "1")};
  EXPECT_EQ(s->Txn(inside).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(*s->Revision(), 0);
}

TEST(SqliteStore, ChangesFeedReplaysEverythingInOrder) {
  auto s = OpenMemory();
  MustPut(s.get(), "/a", "1");  // 1
  MustPut(s.get(), "/b", "2");  // 2
  MustPut(s.get(), "/a", "3");  // 3
  MustDelete(s.get(), "/b");    // 4
  auto ev = s->Changes(0, 0);
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->size(), 4u);
  EXPECT_EQ((*ev)[0].type, Event::Type::kPut);
  EXPECT_EQ((*ev)[0].kv.key, "/a");
  EXPECT_EQ((*ev)[0].kv.value, "1");
  EXPECT_EQ((*ev)[2].kv.value, "3");
  EXPECT_EQ((*ev)[2].kv.create_revision, 1);
  EXPECT_EQ((*ev)[2].kv.version, 2);
  EXPECT_EQ((*ev)[3].type, Event::Type::kDelete);
  EXPECT_EQ((*ev)[3].kv.key, "/b");
  EXPECT_EQ((*ev)[3].kv.mod_revision, 4);
  auto tail = s->Changes(2, 0);
  ASSERT_EQ(tail->size(), 2u);
  EXPECT_EQ((*tail)[0].kv.mod_revision, 3);
  EXPECT_TRUE(s->Changes(4, 10)->empty());
}

TEST(SqliteStore, ChangesLimitNeverSplitsARevision) {
  auto s = OpenMemory();
  TxnRequest t;
  t.success = {Op::Put("/a", "1"), Op::Put("/b", "1"), Op::Put("/c", "1")};
  ASSERT_TRUE(s->Txn(t).ok());  // 3 events at revision 1
  MustPut(s.get(), "/d", "1");  // revision 2
  auto ev = s->Changes(0, 2);
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(ev->size(), 3u);  // the whole of revision 1, not 2 of its 3 events
  auto next = s->Changes(1, 2);
  ASSERT_EQ(next->size(), 1u);
  EXPECT_EQ((*next)[0].kv.key, "/d");
}

TEST(SqliteStore, WaitForRevisionWakesOnACommit) {
  auto s = OpenMemory();
  int64_t start = *s->Revision();
  auto waiter = std::async(std::launch::async, [&] { return s->WaitForRevision(start, std::chrono::seconds(30)); });
  // Whatever the interleaving, the waiter must return the new revision, not time out.
  MustPut(s.get(), "/x", "1");
  auto got = waiter.get();
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, start + 1);
}

TEST(SqliteStore, WaitForRevisionReturnsAtOnceWhenAlreadyPast) {
  auto s = OpenMemory();
  MustPut(s.get(), "/x", "1");
  auto got = s->WaitForRevision(0, std::chrono::hours(1));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, 1);
}

TEST(SqliteStore, WaitForRevisionTimesOutWithTheCurrentRevision) {
  auto s = OpenMemory();
  MustPut(s.get(), "/x", "1");
  auto got = s->WaitForRevision(1, std::chrono::milliseconds(1));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, 1);
}

TEST(SqliteStore, WaitForRevisionSeesAnotherConnectionsWrite) {
  TempDir dir;
  auto a = OpenOrDie(dir.File("db"));
  auto b = OpenOrDie(dir.File("db"));
  auto waiter = std::async(std::launch::async, [&] { return a->WaitForRevision(0, std::chrono::seconds(30)); });
  MustPut(b.get(), "/x", "1");  // a's condition variable never hears of this one
  auto got = waiter.get();
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, 1);
}

TEST(SqliteStore, CompactionForgetsOldEvents) {
  auto s = OpenMemory();
  for (int i = 0; i < 5; ++i) MustPut(s.get(), "/k" + std::to_string(i), "v");
  ASSERT_TRUE(s->Compact(3).ok());
  EXPECT_EQ(*s->CompactRevision(), 3);
  auto old = s->Changes(2, 0);
  EXPECT_EQ(old.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(old.status().message().find("compacted"), std::string::npos);
  auto fresh = s->Changes(3, 0);
  ASSERT_TRUE(fresh.ok());
  ASSERT_EQ(fresh->size(), 2u);
  EXPECT_EQ((*fresh)[0].kv.mod_revision, 4);
  // Keys are untouched by compaction.
  EXPECT_EQ(s->Range("")->kvs.size(), 5u);
  // Errors: the future, and what is already compacted.
  EXPECT_EQ(s->Compact(99).code(), Code::kInvalidArgument);
  EXPECT_EQ(s->Compact(3).code(), Code::kFailedPrecondition);
  EXPECT_EQ(s->Compact(2).code(), Code::kFailedPrecondition);
  EXPECT_TRUE(s->Compact(5).ok());
  EXPECT_TRUE(s->Changes(5, 0)->empty());
}

TEST(SqliteStore, ReopenKeepsEverything) {
  TempDir dir;
  std::string before;
  {
    auto s = OpenOrDie(dir.File("state.db"));
    MustPut(s.get(), "/a", "1");
    MustPut(s.get(), "/b", std::string("bin\0ary", 7));
    MustPut(s.get(), "/a", "2");
    ASSERT_TRUE(s->Compact(1).ok());
    before = Dump(s.get());
  }
  auto s = OpenOrDie(dir.File("state.db"));
  EXPECT_EQ(Dump(s.get()), before);
  EXPECT_EQ(*s->Revision(), 3);
  EXPECT_EQ(*s->CompactRevision(), 1);
  EXPECT_EQ((*s->Get("/b"))->value, std::string("bin\0ary", 7));
  EXPECT_EQ(s->Changes(1, 0)->size(), 2u);
  EXPECT_EQ(MustPut(s.get(), "/c", "x"), 4);
}

TEST(SqliteStore, MigratesAnEmptyFileAndUsesWal) {
  TempDir dir;
  const std::string path = dir.File("empty.db");
  { std::ofstream(path).flush(); }  // a zero-byte file, as a fresh data dir might hold
  auto s = OpenOrDie(path);
  EXPECT_EQ(*s->SchemaVersion(), LatestSchemaVersion());
  EXPECT_EQ(*s->Revision(), 0);
  MustPut(s.get(), "/x", "1");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "wal");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST(SqliteStore, RefusesASchemaFromTheFuture) {
  TempDir dir;
  const std::string path = dir.File("future.db");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto r = OpenSqliteStore({path, false});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("schema version 99"), std::string::npos) << r.status().message();
}

TEST(SqliteStore, OpenFailsCleanlyOnABadPath) {
  auto r = OpenSqliteStore({"/nonexistent-dir-privcast/x/y.db", false});
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(OpenSqliteStore({"", false}).ok());
  auto full = OpenSqliteStore({":memory:", true});
  EXPECT_TRUE(full.ok());
}

TxnRequest ThreeOpTxn() {
  TxnRequest t;
  t.compares = {Cmp(Compare::Kind::kExists, "/a"), Cmp(Compare::Kind::kNotExists, "/new")};
  t.success = {Op::Put("/new", "n"), Op::Put("/a", "changed"), Op::DeletePrefix("/p/")};
  return t;
}

void Seed(Store* s) {
  MustPut(s, "/a", "1");
  MustPut(s, "/p/1", "x");
  MustPut(s, "/p/2", "y");
}

TEST(SqliteStore, AFailureAtAnyStepRollsBackTheWholeTxn) {
  auto s = OpenMemory();
  Seed(s.get());
  const std::string before = Dump(s.get());
  const auto events_before = s->Changes(0, 0)->size();
  int steps = 0;
  for (int k = 1;; ++k) {
    int n = 0;
    bool fired = false;
    s->SetStepHook([&](std::string_view, int) -> Status {
      if (++n == k) {
        fired = true;
        return Unavailable("boom");
      }
      return Status::Ok();
    });
    auto r = s->Txn(ThreeOpTxn());
    s->SetStepHook(nullptr);
    if (!fired) {
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_TRUE(r->succeeded);
      steps = k - 1;
      break;
    }
    SCOPED_TRACE("k=" + std::to_string(k));
    EXPECT_EQ(r.status().code(), Code::kUnavailable);
    EXPECT_EQ(Dump(s.get()), before);
    EXPECT_EQ(s->Changes(0, 0)->size(), events_before);
    EXPECT_EQ(*s->Revision(), 3);
  }
  // begin, 2 compares, 3 ops, revision, commit.
  EXPECT_EQ(steps, 8);
  EXPECT_NE(Dump(s.get()), before);
}

// A real crash: a child process dies (_exit, no rollback, no close) at step k of a Txn on a
// file; the parent reopens the file and must find the state from before the Txn.
TEST(SqliteStore, ACrashAtAnyStepLeavesTheTxnOutEntirely) {
  TempDir dir;
  const std::string path = dir.File("crash.db");
  std::string before;
  {
    auto s = OpenOrDie(path);
    Seed(s.get());
    before = Dump(s.get());
  }
  for (int k = 1; k <= 9; ++k) {
    SCOPED_TRACE("k=" + std::to_string(k));
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto r = OpenSqliteStoreConcrete({path, false});
      if (!r.ok()) _exit(3);
      auto& s = *r;
      int n = 0;
      s->SetStepHook([&](std::string_view, int) -> Status {
        if (++n == k) _exit(7);
        return Status::Ok();
      });
      auto t = s->Txn(ThreeOpTxn());
      _exit(t.ok() && t->succeeded ? 0 : 4);  // committed, then died without closing
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    auto s = OpenOrDie(path);
    if (WEXITSTATUS(status) == 7) {
      EXPECT_EQ(Dump(s.get()), before);
    } else {
      ASSERT_EQ(WEXITSTATUS(status), 0);
      EXPECT_EQ(k, 9);
      EXPECT_EQ((*s->Get("/a"))->value, "changed");
      EXPECT_EQ(*s->Revision(), 4);
      EXPECT_TRUE(s->Range("/p/")->kvs.empty());
    }
  }
}

}  // namespace
}  // namespace privcast::store
