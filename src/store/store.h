// Store: privcast's replicated-state seam, shaped so that etcd can implement it honestly.
//
// A flat, ordered key space of string keys → opaque byte values. Every successful mutation
// bumps one global revision; each key remembers the revision that created it and the one
// that last modified it. Mutations happen only through Txn (etcd's If/Then/Else): all
// compares hold → every success op is applied atomically, else every failure op. A crash at
// any point leaves either the whole Txn or nothing.
//
// Change feed: every applied op is recorded as an Event at its revision; Changes(after)
// returns events with revision > after, in order, so consumers (the routing-snapshot
// builder, the reconciler, DNS) can catch up and then WaitForRevision to block for more.
// Events older than the compaction horizon are gone: Changes then returns kFailedPrecondition
// and the consumer re-reads everything with Range (exactly what an etcd watcher does).
//
// Thread-safety: every method may be called from any thread concurrently.
// Ownership: the caller owns returned values; the Store owns its backing files.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace privcast::store {

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;  // number of puts since creation (1 after create)
};

struct Compare {
  enum class Kind {
    kExists,         // key exists
    kNotExists,      // key absent
    kModRevisionEq,  // key's mod_revision == revision (0 means "absent")
    kValueEq,        // key exists and value == value
    // Every key starting with `key` has mod_revision <= revision (true for an empty range).
    // etcd: Compare{MOD, LESS, revision + 1, key, range_end = prefix end}. Lets a Txn that
    // read a whole prefix at revision R prove nothing was added or changed under it since.
    kPrefixModRevisionLe,
  };
  Kind kind = Kind::kExists;
  std::string key;
  int64_t revision = 0;
  std::string value;
};

struct Op {
  enum class Kind { kPut, kDelete, kDeletePrefix };
  Kind kind = Kind::kPut;
  std::string key;
  std::string value;

  static Op Put(std::string k, std::string v) { return {Kind::kPut, std::move(k), std::move(v)}; }
  static Op Delete(std::string k) { return {Kind::kDelete, std::move(k), {}}; }
  static Op DeletePrefix(std::string p) { return {Kind::kDeletePrefix, std::move(p), {}}; }
};

struct TxnRequest {
  std::vector<Compare> compares;
  std::vector<Op> success;
  std::vector<Op> failure;
};

struct TxnResponse {
  bool succeeded = false;
  int64_t revision = 0;  // store revision after the Txn
};

struct Event {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  KeyValue kv;  // for kDelete: key and mod_revision (the deleting revision) only
};

struct RangeResult {
  std::vector<KeyValue> kvs;  // ordered by key
  int64_t revision = 0;       // the store revision the range was read at
};

class Store {
 public:
  virtual ~Store() = default;

  virtual Result<std::optional<KeyValue>> Get(const std::string& key) = 0;
  // All keys starting with prefix ("" = everything), ordered by key.
  virtual Result<RangeResult> Range(const std::string& prefix) = 0;
  virtual Result<TxnResponse> Txn(const TxnRequest& txn) = 0;
  virtual Result<int64_t> Revision() = 0;
  // Events with revision > after_revision, oldest first, at most `limit` (0 = no limit) except
  // that a revision is never split: the last revision returned is always complete.
  virtual Result<std::vector<Event>> Changes(int64_t after_revision, size_t limit) = 0;
  // Blocks until Revision() > after_revision or timeout; returns the current revision.
  virtual Result<int64_t> WaitForRevision(int64_t after_revision, Duration timeout) = 0;
  // Forget events at or below `revision` (the feed keeps at least the newest ones).
  virtual Status Compact(int64_t revision) = 0;
};

struct SqliteOptions {
  std::string path;               // database file; ":memory:" for tests
  bool synchronous_full = false;  // WAL + synchronous=NORMAL by default
};

// Opens (creating and migrating as needed) a SQLite-backed store. WAL mode, schema version
// in PRAGMA user_version, migrations applied in one transaction each.
Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& opts);

}  // namespace privcast::store
