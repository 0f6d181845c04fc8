#include "test_util.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

namespace privcast::store::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/privcast-store-XXXXXX";
  char* p = mkdtemp(tmpl.data());
  if (!p) std::abort();
  path_ = p;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::unique_ptr<SqliteStore> OpenOrDie(const std::string& path) {
  auto r = OpenSqliteStoreConcrete({path, false});
  if (!r.ok()) {
    ADD_FAILURE() << "open " << path << ": " << r.status().ToString();
    std::abort();
  }
  return std::move(r).value();
}

std::string Dump(Store* s) {
  auto r = s->Range("");
  if (!r.ok()) return "error: " + r.status().ToString();
  std::string out = "revision " + std::to_string(r->revision) + "\n";
  for (const KeyValue& kv : r->kvs) {
    out += kv.key + " = " + kv.value + " [" + std::to_string(kv.create_revision) + "," +
           std::to_string(kv.mod_revision) + "," + std::to_string(kv.version) + "]\n";
  }
  return out;
}

int64_t MustPut(Store* s, const std::string& key, const std::string& value) {
  TxnRequest t;
  t.success.push_back(Op::Put(key, value));
  auto r = s->Txn(t);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r->revision : -1;
}

int64_t MustDelete(Store* s, const std::string& key) {
  TxnRequest t;
  t.success.push_back(Op::Delete(key));
  auto r = s->Txn(t);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r->revision : -1;
}

}  // namespace privcast::store::testing
