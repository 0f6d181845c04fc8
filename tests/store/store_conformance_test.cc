// The Store contract (store.h, docs/store.md) run against every backend: the embedded SQLite
// store and EtcdStore on a real etcd (tests/store/etcd_fixture.h). Revisions are checked
// relative to the revision a test starts at, because etcd's revision is cluster-global and an
// empty etcd is at 1. SQLite-only properties (files, schema, crash safety) stay in
// sqlite_store_test.cc.
#include <gtest/gtest.h>

#include <future>

#include "etcd_fixture.h"
#include "test_util.h"

namespace privcast::store {
namespace {

using testing::MustDelete;
using testing::MustPut;

Compare Cmp(Compare::Kind k, std::string key, int64_t rev = 0, std::string value = {}) {
  return Compare{k, std::move(key), rev, std::move(value)};
}

class StoreConformance : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "sqlite") {
      store_ = testing::OpenMemory();
    } else {
      std::string why;
      testing::EtcdServer* srv = testing::EtcdServer::Get(&why);
      if (!srv) GTEST_SKIP() << why;
      store_ = srv->Open(testing::EtcdServer::NextPrefix());
      ASSERT_TRUE(store_);
    }
    base_ = *store_->Revision();
  }
  Store* s() { return store_.get(); }
  int64_t R(int64_t n) const { return base_ + n; }  // the n-th revision of this test

  std::unique_ptr<Store> store_;
  int64_t base_ = 0;
};

TEST_P(StoreConformance, EmptyNamespaceReadsEmpty) {
  auto g = s()->Get("/nope");
  ASSERT_TRUE(g.ok());
  EXPECT_FALSE(g->has_value());
  auto r = s()->Range("");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->kvs.empty());
  EXPECT_EQ(r->revision, base_);
}

TEST_P(StoreConformance, PutTracksCreateModRevisionAndVersion) {
  EXPECT_EQ(MustPut(s(), "/a", "1"), R(1));
  EXPECT_EQ(MustPut(s(), "/b", "x"), R(2));
  EXPECT_EQ(MustPut(s(), "/a", "2"), R(3));
  auto a = s()->Get("/a");
  ASSERT_TRUE(a.ok() && a->has_value());
  EXPECT_EQ((*a)->value, "2");
  EXPECT_EQ((*a)->key, "/a");
  EXPECT_EQ((*a)->create_revision, R(1));
  EXPECT_EQ((*a)->mod_revision, R(3));
  EXPECT_EQ((*a)->version, 2);
  EXPECT_EQ(MustDelete(s(), "/a"), R(4));
  EXPECT_EQ(MustPut(s(), "/a", "3"), R(5));
  a = s()->Get("/a");
  EXPECT_EQ((*a)->create_revision, R(5));
  EXPECT_EQ((*a)->version, 1);
}

TEST_P(StoreConformance, AllOpsOfATxnShareOneRevision) {
  MustPut(s(), "/gone", "x");
  TxnRequest t;
  t.success = {Op::Put("/x", "1"), Op::Put("/y", "2"), Op::Delete("/gone")};
  auto r = s()->Txn(t);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->succeeded);
  EXPECT_EQ(r->revision, R(2));
  EXPECT_EQ((*s()->Get("/x"))->mod_revision, R(2));
  EXPECT_EQ((*s()->Get("/y"))->mod_revision, R(2));
  auto ev = s()->Changes(R(1), 0);
  ASSERT_TRUE(ev.ok()) << ev.status().ToString();
  ASSERT_EQ(ev->size(), 3u);
  for (const Event& e : *ev) EXPECT_EQ(e.kv.mod_revision, R(2));
  EXPECT_EQ((*ev)[2].type, Event::Type::kDelete);
  EXPECT_EQ((*ev)[2].kv.key, "/gone");
}

TEST_P(StoreConformance, ComparesChooseTheBranch) {
  int64_t rev = MustPut(s(), "/k", "v");
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
      {Cmp(Compare::Kind::kModRevisionEq, "/absent", 0), true},
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
    auto r = s()->Txn(t);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->succeeded, c.holds);
    EXPECT_EQ((*s()->Get("/branch"))->value, c.holds ? "success" : "failure");
  }
}

TEST_P(StoreConformance, OneFailingCompareFailsTheWholeTxn) {
  MustPut(s(), "/a", "1");
  TxnRequest t;
  t.compares = {Cmp(Compare::Kind::kExists, "/a"), Cmp(Compare::Kind::kExists, "/b")};
  t.success = {Op::Put("/c", "1")};
  auto r = s()->Txn(t);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->succeeded);
  EXPECT_EQ(r->revision, R(1));
  EXPECT_FALSE(s()->Get("/c")->has_value());
}

TEST_P(StoreConformance, TxnWithoutChangesKeepsTheRevision) {
  MustPut(s(), "/a", "1");
  EXPECT_EQ(MustDelete(s(), "/absent"), R(1));
  TxnRequest t;
  t.success = {Op::DeletePrefix("/nothing/")};
  EXPECT_EQ(s()->Txn(t)->revision, R(1));
  EXPECT_EQ(s()->Changes(R(1), 0)->size(), 0u);
}

TEST_P(StoreConformance, DeletePrefixDeletesExactlyTheRange) {
  for (std::string k : {"/a/1", "/a/2", "/a/3/x", "/ab", "/b", "/a"}) MustPut(s(), k, "v");
  TxnRequest t;
  t.success = {Op::DeletePrefix("/a/")};
  auto r = s()->Txn(t);
  ASSERT_TRUE(r.ok());
  auto all = s()->Range("");
  std::vector<std::string> left;
  for (auto& kv : all->kvs) left.push_back(kv.key);
  EXPECT_EQ(left, (std::vector<std::string>{"/a", "/ab", "/b"}));
  auto ev = s()->Changes(r->revision - 1, 0);
  ASSERT_EQ(ev->size(), 3u);
  EXPECT_EQ((*ev)[0].kv.key, "/a/1");
  EXPECT_EQ((*ev)[2].kv.key, "/a/3/x");
}

TEST_P(StoreConformance, RangeIsOrderedAndPrefixBounded) {
  const std::string hi = std::string("/p\xff", 3);
  for (std::string k : {"/p/b", "/p/a", "/q", "/p", "/o"}) MustPut(s(), k, "v");
  MustPut(s(), hi + "z", "v");
  auto r = s()->Range("/p/");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->kvs.size(), 2u);
  EXPECT_EQ(r->kvs[0].key, "/p/a");
  EXPECT_EQ(r->kvs[1].key, "/p/b");
  EXPECT_EQ(r->revision, R(6));
  auto h = s()->Range(hi);
  ASSERT_EQ(h->kvs.size(), 1u);
  EXPECT_EQ(h->kvs[0].key, hi + "z");
  EXPECT_EQ(s()->Range("")->kvs.size(), 6u);
}

TEST_P(StoreConformance, RejectsTxnsEtcdWouldReject) {
  TxnRequest twice;
  twice.success = {Op::Put("/a", "1"), Op::Put("/a", "2")};
  EXPECT_EQ(s()->Txn(twice).status().code(), Code::kInvalidArgument);
  TxnRequest inside;
  inside.success = {Op::DeletePrefix("/a/"), Op::Put("/a/x", "1")};
  EXPECT_EQ(s()->Txn(inside).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(*s()->Revision(), base_);
}

TEST_P(StoreConformance, BinaryValuesSurvive) {
  MustPut(s(), "/b", std::string("bin\0ary\xff", 8));
  EXPECT_EQ((*s()->Get("/b"))->value, std::string("bin\0ary\xff", 8));
}

TEST_P(StoreConformance, ChangesFeedReplaysEverythingInOrder) {
  MustPut(s(), "/a", "1");
  MustPut(s(), "/b", "2");
  MustPut(s(), "/a", "3");
  MustDelete(s(), "/b");
  auto ev = s()->Changes(base_, 0);
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->size(), 4u);
  EXPECT_EQ((*ev)[0].type, Event::Type::kPut);
  EXPECT_EQ((*ev)[0].kv.key, "/a");
  EXPECT_EQ((*ev)[0].kv.value, "1");
  EXPECT_EQ((*ev)[2].kv.value, "3");
  EXPECT_EQ((*ev)[2].kv.create_revision, R(1));
  EXPECT_EQ((*ev)[2].kv.version, 2);
  EXPECT_EQ((*ev)[3].type, Event::Type::kDelete);
  EXPECT_EQ((*ev)[3].kv.key, "/b");
  EXPECT_EQ((*ev)[3].kv.mod_revision, R(4));
  auto tail = s()->Changes(R(2), 0);
  ASSERT_EQ(tail->size(), 2u);
  EXPECT_EQ((*tail)[0].kv.mod_revision, R(3));
  EXPECT_TRUE(s()->Changes(R(4), 10)->empty());
}

TEST_P(StoreConformance, ChangesLimitNeverSplitsARevision) {
  TxnRequest t;
  t.success = {Op::Put("/a", "1"), Op::Put("/b", "1"), Op::Put("/c", "1")};
  ASSERT_TRUE(s()->Txn(t).ok());
  MustPut(s(), "/d", "1");
  auto ev = s()->Changes(base_, 2);
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(ev->size(), 3u);
  auto next = s()->Changes(R(1), 2);
  ASSERT_EQ(next->size(), 1u);
  EXPECT_EQ((*next)[0].kv.key, "/d");
}

TEST_P(StoreConformance, WaitForRevisionWakesOnACommit) {
  auto waiter = std::async(std::launch::async, [&] { return s()->WaitForRevision(base_, std::chrono::seconds(30)); });
  MustPut(s(), "/x", "1");
  auto got = waiter.get();
  ASSERT_TRUE(got.ok());
  EXPECT_GE(*got, R(1));
}

TEST_P(StoreConformance, WaitForRevisionReturnsAtOnceWhenAlreadyPast) {
  MustPut(s(), "/x", "1");
  auto got = s()->WaitForRevision(base_, std::chrono::hours(1));
  ASSERT_TRUE(got.ok());
  EXPECT_GE(*got, R(1));
}

TEST_P(StoreConformance, CompactionForgetsOldEvents) {
  for (int i = 0; i < 5; ++i) MustPut(s(), "/k" + std::to_string(i), "v");
  ASSERT_TRUE(s()->Compact(R(3)).ok());
  // Events below the horizon are gone. (etcd keeps the event at the compaction revision
  // itself, SQLite does not: the contract is "at least the newer ones", so ask below it.)
  auto old = s()->Changes(R(1), 0);
  EXPECT_EQ(old.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(old.status().message().find("compacted"), std::string::npos);
  auto fresh = s()->Changes(R(3), 0);
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  ASSERT_EQ(fresh->size(), 2u);
  EXPECT_EQ((*fresh)[0].kv.mod_revision, R(4));
  EXPECT_EQ(s()->Range("")->kvs.size(), 5u);
  EXPECT_EQ(s()->Compact(R(99)).code(), Code::kInvalidArgument);
  EXPECT_EQ(s()->Compact(R(3)).code(), Code::kFailedPrecondition);
  EXPECT_EQ(s()->Compact(R(2)).code(), Code::kFailedPrecondition);
  EXPECT_TRUE(s()->Compact(R(5)).ok());
  EXPECT_TRUE(s()->Changes(R(5), 0)->empty());
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreConformance, ::testing::Values("sqlite", "etcd"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace privcast::store
