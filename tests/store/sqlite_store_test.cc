// SqliteStore's own properties: revision 0 when empty, waits across connections, the exact
// compaction horizon, files, schema migrations, and rollback of a failure or crash at any step.
// The Store contract itself (revisions, compares, ranges, the change feed) is checked against
// SQLite and etcd alike in store_conformance_test.cc.
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
