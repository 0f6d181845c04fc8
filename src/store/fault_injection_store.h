// FaultInjectionStore: a Store wrapper that fails on purpose, in the spirit of LevelDB's
// db/fault_injection_test.cc, so every failure path above the Store seam (the Registry, the
// API, the reconciler) can be tested in microseconds.
//
// Two kinds of fault, armed independently and each firing once:
//   - FailMutation(k): the k-th mutating call (Txn or Compact) counted from arming fails with
//     kUnavailable. kBeforeApply never forwards it (a refused write); kAfterApply forwards it
//     and then reports failure (a lost acknowledgement, as an etcd client sees on a timeout).
//   - FailStep(k): when the wrapped store is a SqliteStore, the k-th internal step of a
//     mutation (sqlite_store.h: begin, compare, op, revision, commit) fails inside the SQLite
//     transaction, which rolls back: a crash in the middle of a Txn, minus the process exit.
// Reads (Get, Range, Revision, Changes, WaitForRevision) are forwarded untouched.
//
// Thread-safety: as thread-safe as the wrapped store; the counters are atomic. The wrapper
// does not own the wrapped store, which must outlive it. While a step fault is armed, the
// wrapper owns the SqliteStore's step hook.
#pragma once

#include <atomic>
#include <memory>

#include "store/sqlite_store.h"
#include "store/store.h"

namespace privcast::store {

class FaultInjectionStore final : public Store {
 public:
  enum class Mode { kBeforeApply, kAfterApply };

  explicit FaultInjectionStore(Store* base);
  ~FaultInjectionStore() override;

  // Arms a fault at the k-th (1-based) mutating call from now; k <= 0 disarms.
  void FailMutation(int k, Mode mode = Mode::kBeforeApply);
  // Arms a fault at the k-th (1-based) internal step from now; k <= 0 disarms. Returns false
  // when the wrapped store has no steps (not a SqliteStore).
  bool FailStep(int k);
  // Disarms everything.
  void Reset();

  // Whether an armed fault has fired since it was armed.
  bool fired() const { return fired_.load(); }
  // Mutating calls / internal steps seen since the last arming or Reset.
  int mutations() const { return mutations_.load(); }
  int steps() const { return steps_.load(); }

  Result<std::optional<KeyValue>> Get(const std::string& key) override;
  Result<RangeResult> Range(const std::string& prefix) override;
  Result<TxnResponse> Txn(const TxnRequest& txn) override;
  Result<int64_t> Revision() override;
  Result<std::vector<Event>> Changes(int64_t after_revision, size_t limit) override;
  Result<int64_t> WaitForRevision(int64_t after_revision, Duration timeout) override;
  Status Compact(int64_t revision) override;

 private:
  // True when this mutating call is the one that must fail.
  bool CountMutation();
  void InstallHook();

  Store* base_;
  SqliteStore* sqlite_;  // base_ when it is a SqliteStore, else nullptr
  std::atomic<int> fail_mutation_at_{0};
  std::atomic<Mode> mode_{Mode::kBeforeApply};
  std::atomic<int> fail_step_at_{0};
  std::atomic<int> mutations_{0};
  std::atomic<int> steps_{0};
  std::atomic<bool> fired_{false};
};

}  // namespace privcast::store
