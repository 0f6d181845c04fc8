// SqliteStore: the embedded Store (store.h) on one SQLite database file.
//
// Schema (versioned with PRAGMA user_version; migrations in sqlite_store.cc, one transaction
// each):
//   kv(key, value, create_revision, mod_revision, version)   the current key space
//   events(revision, seq, type, key, value, ...)              the change feed, one row per op
//   meta(id = 0, revision, compact_revision)                  the store revision
//
// A Txn is one SQLite transaction (BEGIN IMMEDIATE): compares, then ops, then the revision
// bump, then COMMIT. Any failure in between (including an injected one, see StepHook) rolls
// back, so the file holds the whole Txn or none of it; a process crash mid-Txn leaves an
// uncommitted WAL tail that SQLite discards on the next open.
//
// Thread-safety: one connection guarded by a mutex; every method may be called from any
// thread. WaitForRevision waits on a condition variable without holding the connection, and
// also re-reads the revision from the file every 50 ms so that a write by another process
// (not expected: the daemon is the only writer) is seen too.
#pragma once

#include <functional>
#include <memory>
#include <string_view>

#include "store/store.h"

namespace privcast::store {

// Called at every internal step of a mutation: "begin", "compare", "op", "revision",
// "commit" (Txn) and "begin", "delete", "commit" (Compact). `index` counts steps of that name
// within the call. Returning a non-ok Status aborts the mutation there: the transaction is
// rolled back and the Status is returned to the caller. Tests use it to inject failures (and,
// in a forked child, to _exit mid-transaction as a crash would).
using StepHook = std::function<Status(std::string_view step, int index)>;

class SqliteStore : public Store {
 public:
  ~SqliteStore() override = default;
  // Installs (or, with nullptr, removes) the step hook. The hook runs with the connection
  // lock held: it must not call back into the store.
  virtual void SetStepHook(StepHook hook) = 0;
  // The schema version of the open database (PRAGMA user_version).
  virtual Result<int> SchemaVersion() = 0;
  // The revision at or below which the change feed was compacted (0 = never).
  virtual Result<int64_t> CompactRevision() = 0;
};

// Like OpenSqliteStore, with the concrete type (for tests and tools that need the hook).
Result<std::unique_ptr<SqliteStore>> OpenSqliteStoreConcrete(const SqliteOptions& opts);

// The newest schema version this build knows.
int LatestSchemaVersion();

}  // namespace privcast::store
