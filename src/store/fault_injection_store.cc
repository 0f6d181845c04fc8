#include "store/fault_injection_store.h"

#include <string>

namespace privcast::store {

FaultInjectionStore::FaultInjectionStore(Store* base) : base_(base), sqlite_(dynamic_cast<SqliteStore*>(base)) {
  InstallHook();
}

FaultInjectionStore::~FaultInjectionStore() {
  if (sqlite_) sqlite_->SetStepHook(nullptr);
}

void FaultInjectionStore::InstallHook() {
  if (!sqlite_) return;
  sqlite_->SetStepHook([this](std::string_view step, int index) -> Status {
    int n = ++steps_;
    int at = fail_step_at_.load();
    if (at > 0 && n == at) {
      fired_ = true;
      fail_step_at_ = 0;
      return Unavailable("injected fault at step " + std::to_string(n) + " (" + std::string(step) + " " +
                         std::to_string(index) + ")");
    }
    return Status::Ok();
  });
}

void FaultInjectionStore::FailMutation(int k, Mode mode) {
  mode_ = mode;
  mutations_ = 0;
  fired_ = false;
  fail_mutation_at_ = k > 0 ? k : 0;
}

bool FaultInjectionStore::FailStep(int k) {
  if (!sqlite_) return false;
  steps_ = 0;
  fired_ = false;
  fail_step_at_ = k > 0 ? k : 0;
  return true;
}

void FaultInjectionStore::Reset() {
  fail_mutation_at_ = 0;
  fail_step_at_ = 0;
  mutations_ = 0;
  steps_ = 0;
  fired_ = false;
}

bool FaultInjectionStore::CountMutation() {
  int n = ++mutations_;
  int at = fail_mutation_at_.load();
  if (at > 0 && n == at) {
    fail_mutation_at_ = 0;
    fired_ = true;
    return true;
  }
  return false;
}

Result<std::optional<KeyValue>> FaultInjectionStore::Get(const std::string& key) { return base_->Get(key); }
Result<RangeResult> FaultInjectionStore::Range(const std::string& prefix) { return base_->Range(prefix); }
Result<int64_t> FaultInjectionStore::Revision() { return base_->Revision(); }
Result<std::vector<Event>> FaultInjectionStore::Changes(int64_t after, size_t limit) {
  return base_->Changes(after, limit);
}
Result<int64_t> FaultInjectionStore::WaitForRevision(int64_t after, Duration timeout) {
  return base_->WaitForRevision(after, timeout);
}

Result<TxnResponse> FaultInjectionStore::Txn(const TxnRequest& txn) {
  if (!CountMutation()) return base_->Txn(txn);
  if (mode_.load() == Mode::kAfterApply) {
    Result<TxnResponse> r = base_->Txn(txn);
    (void)r;
    return Unavailable("injected fault: txn applied, acknowledgement lost");
  }
  return Unavailable("injected fault: txn refused");
}

Status FaultInjectionStore::Compact(int64_t revision) {
  if (!CountMutation()) return base_->Compact(revision);
  if (mode_.load() == Mode::kAfterApply) {
    (void)base_->Compact(revision);
    return Unavailable("injected fault: compact applied, acknowledgement lost");
  }
  return Unavailable("injected fault: compact refused");
}

}  // namespace privcast::store
