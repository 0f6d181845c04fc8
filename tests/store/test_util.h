// Helpers shared by the store tests: temp dirs, opening stores, dumping a store's contents.
#pragma once

#include <memory>
#include <string>

#include "store/sqlite_store.h"
#include "store/store.h"

namespace privcast::store::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::unique_ptr<SqliteStore> OpenOrDie(const std::string& path);
inline std::unique_ptr<SqliteStore> OpenMemory() { return OpenOrDie(":memory:"); }

// Every key with its value and revisions, plus the store revision: two dumps are equal exactly
// when the stores hold the same state.
std::string Dump(Store* s);

// One Put/Delete as a Txn without compares.
int64_t MustPut(Store* s, const std::string& key, const std::string& value);
int64_t MustDelete(Store* s, const std::string& key);

}  // namespace privcast::store::testing
