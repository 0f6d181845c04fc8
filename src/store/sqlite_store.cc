#include "store/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <utility>

#include "common/log.h"
#include "common/mutex.h"

namespace privcast::store {
namespace {

// Schema migrations, oldest first. Version N is applied in one transaction that also sets
// PRAGMA user_version = N, so a crash mid-migration leaves the previous version intact.
// To change the schema, append {N + 1, "..."}; never edit an applied migration.
struct Migration {
  int version;
  const char* sql;
};

constexpr Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE kv(
  key             TEXT PRIMARY KEY NOT NULL,
  value           BLOB NOT NULL,
  create_revision INTEGER NOT NULL,
  mod_revision    INTEGER NOT NULL,
  version         INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE events(
  revision        INTEGER NOT NULL,
  seq             INTEGER NOT NULL,
  type            INTEGER NOT NULL,  -- 0 put, 1 delete
  key             TEXT NOT NULL,
  value           BLOB NOT NULL,
  create_revision INTEGER NOT NULL,
  mod_revision    INTEGER NOT NULL,
  version         INTEGER NOT NULL,
  PRIMARY KEY (revision, seq)
) WITHOUT ROWID;
CREATE TABLE meta(
  id               INTEGER PRIMARY KEY CHECK (id = 0),
  revision         INTEGER NOT NULL,
  compact_revision INTEGER NOT NULL
);
INSERT INTO meta(id, revision, compact_revision) VALUES (0, 0, 0);
)sql"},
};

constexpr auto kPollInterval = std::chrono::milliseconds(50);

// The smallest key greater than every key starting with prefix; nullopt = no upper bound.
std::optional<std::string> PrefixEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (end.empty()) return std::nullopt;
  end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

bool HasPrefix(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

// A prepared statement, reset on every use.
class Stmt {
 public:
  Stmt() = default;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() { sqlite3_finalize(s_); }

  Status Prepare(sqlite3* db, const char* sql) {
    db_ = db;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s_, nullptr) != SQLITE_OK)
      return Internal(std::string("sqlite prepare: ") + sqlite3_errmsg(db) + " in: " + sql);
    return Status::Ok();
  }
  sqlite3_stmt* Begin() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
    return s_;
  }
  void Text(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void Blob(int i, const std::string& v) {
    sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void Int(int i, int64_t v) { sqlite3_bind_int64(s_, i, v); }
  // SQLITE_ROW → true, SQLITE_DONE → false, else an error Status.
  Result<bool> Step() {
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    Status st = Unavailable(std::string("sqlite: ") + sqlite3_errmsg(db_));
    sqlite3_reset(s_);
    return st;
  }
  Status Exec() {
    PC_ASSIGN_OR_RETURN(bool row, Step());
    (void)row;
    sqlite3_reset(s_);
    return Status::Ok();
  }
  std::string ColText(int i) const {
    const auto* p = sqlite3_column_text(s_, i);
    int n = sqlite3_column_bytes(s_, i);
    return p ? std::string(reinterpret_cast<const char*>(p), n) : std::string();
  }
  std::string ColBlob(int i) const {
    const void* p = sqlite3_column_blob(s_, i);
    int n = sqlite3_column_bytes(s_, i);
    return p ? std::string(static_cast<const char*>(p), n) : std::string();
  }
  int64_t ColInt(int i) const { return sqlite3_column_int64(s_, i); }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* s_ = nullptr;
};

Status ExecSql(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string m = err ? err : sqlite3_errmsg(db);
    sqlite3_free(err);
    return Unavailable("sqlite: " + m + " (in: " + sql.substr(0, 60) + ")");
  }
  return Status::Ok();
}

Result<int64_t> QueryInt(sqlite3* db, const char* sql) {
  Stmt s;
  PC_RETURN_IF_ERROR(s.Prepare(db, sql));
  s.Begin();
  PC_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return Internal(std::string("sqlite: no row for ") + sql);
  return s.ColInt(0);
}

class SqliteStoreImpl final : public SqliteStore {
 public:
  explicit SqliteStoreImpl(sqlite3* db) : db_(db) {}
  ~SqliteStoreImpl() override {
    // Statements must be finalized before the connection closes.
    stmts_.reset();
    sqlite3_close_v2(db_);
  }

  Status Init(bool sync_full, const std::string& path) {
    MutexLock l(&mu_);  // no other thread has the store yet: for the analysis
    sqlite3_busy_timeout(db_, 5000);
    {
      Stmt s;
      PC_RETURN_IF_ERROR(s.Prepare(db_, "PRAGMA journal_mode=WAL"));
      s.Begin();
      PC_ASSIGN_OR_RETURN(bool row, s.Step());
      std::string mode = row ? s.ColText(0) : "";
      if (mode != "wal" && mode != "memory")
        return Unavailable("sqlite: cannot enable WAL on " + path + " (journal_mode=" + mode + ")");
    }
    PC_RETURN_IF_ERROR(ExecSql(db_, sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"));
    PC_RETURN_IF_ERROR(Migrate(path));
    stmts_ = std::make_unique<Stmts>();
    PC_RETURN_IF_ERROR(stmts_->Prepare(db_));
    PC_ASSIGN_OR_RETURN(int64_t rev, QueryInt(db_, "SELECT revision FROM meta WHERE id = 0"));
    MutexLock w(&wait_mu_);
    last_rev_ = rev;
    return Status::Ok();
  }

  void SetStepHook(StepHook hook) override {
    MutexLock l(&mu_);
    hook_ = std::move(hook);
  }

  Result<int> SchemaVersion() override {
    MutexLock l(&mu_);
    PC_ASSIGN_OR_RETURN(int64_t v, QueryInt(db_, "PRAGMA user_version"));
    return static_cast<int>(v);
  }

  Result<int64_t> CompactRevision() override {
    MutexLock l(&mu_);
    return ReadCompactRevision();
  }

  Result<std::optional<KeyValue>> Get(const std::string& key) override {
    MutexLock l(&mu_);
    return GetLocked(key);
  }

  Result<RangeResult> Range(const std::string& prefix) override {
    MutexLock l(&mu_);
    // A read transaction so the rows and the revision come from one snapshot even if
    // another process writes.
    PC_RETURN_IF_ERROR(ExecSql(db_, "BEGIN"));
    Result<RangeResult> r = RangeLocked(prefix);
    (void)ExecSql(db_, r.ok() ? "COMMIT" : "ROLLBACK");
    return r;
  }

  Result<TxnResponse> Txn(const TxnRequest& txn) override {
    Result<TxnResponse> r = TxnImpl(txn);
    if (r.ok()) Publish(r->revision);
    return r;
  }

  Result<int64_t> Revision() override {
    int64_t rev;
    {
      MutexLock l(&mu_);
      PC_ASSIGN_OR_RETURN(rev, ReadRevision());
    }
    Publish(rev);
    return rev;
  }

  Result<std::vector<Event>> Changes(int64_t after_revision, size_t limit) override {
    MutexLock l(&mu_);
    PC_RETURN_IF_ERROR(ExecSql(db_, "BEGIN"));
    Result<std::vector<Event>> r = ChangesLocked(after_revision, limit);
    (void)ExecSql(db_, r.ok() ? "COMMIT" : "ROLLBACK");
    return r;
  }

  Result<int64_t> WaitForRevision(int64_t after_revision, Duration timeout) override {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      {
        MutexLock l(&wait_mu_);
        auto now = std::chrono::steady_clock::now();
        if (last_rev_ > after_revision || now >= deadline) return last_rev_;
        auto slice_end = now + std::min<std::chrono::steady_clock::duration>(deadline - now, kPollInterval);
        while (last_rev_ <= after_revision && cv_.WaitUntil(&wait_mu_, slice_end)) {
        }
        if (last_rev_ > after_revision) return last_rev_;
      }
      // Another process may have written: look at the file.
      PC_ASSIGN_OR_RETURN(int64_t rev, Revision());
      if (rev > after_revision) return rev;
    }
  }

  Status Compact(int64_t revision) override {
    MutexLock l(&mu_);
    PC_RETURN_IF_ERROR(ExecSql(db_, "BEGIN IMMEDIATE"));
    Status st = CompactLocked(revision);
    if (st.ok()) st = Hook("commit", 0);
    if (st.ok()) st = ExecSql(db_, "COMMIT");
    if (!st.ok()) (void)ExecSql(db_, "ROLLBACK");
    return st;
  }

 private:
  struct Stmts {
    Stmt get, range_from, range_between, put, del, max_mod_from, max_mod_between, keys_from, keys_between, event,
        revision, set_revision, compact_revision, changes, changes_rest, delete_events, set_compact;
    Status Prepare(sqlite3* db) {
      const std::pair<Stmt*, const char*> all[] = {
          {&get, "SELECT value, create_revision, mod_revision, version FROM kv WHERE key = ?1"},
          {&range_from,
           "SELECT key, value, create_revision, mod_revision, version FROM kv WHERE key >= ?1 "
           "ORDER BY key"},
          {&range_between,
           "SELECT key, value, create_revision, mod_revision, version FROM kv WHERE key >= ?1 "
           "AND key < ?2 ORDER BY key"},
          {&put,
           "INSERT OR REPLACE INTO kv(key, value, create_revision, mod_revision, version) "
           "VALUES (?1, ?2, ?3, ?4, ?5)"},
          {&del, "DELETE FROM kv WHERE key = ?1"},
          {&max_mod_from, "SELECT COALESCE(MAX(mod_revision), 0) FROM kv WHERE key >= ?1"},
          {&max_mod_between, "SELECT COALESCE(MAX(mod_revision), 0) FROM kv WHERE key >= ?1 AND key < ?2"},
          {&keys_from, "SELECT key FROM kv WHERE key >= ?1 ORDER BY key"},
          {&keys_between, "SELECT key FROM kv WHERE key >= ?1 AND key < ?2 ORDER BY key"},
          {&event,
           "INSERT INTO events(revision, seq, type, key, value, create_revision, mod_revision, "
           "version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"},
          {&revision, "SELECT revision FROM meta WHERE id = 0"},
          {&set_revision, "UPDATE meta SET revision = ?1 WHERE id = 0"},
          {&compact_revision, "SELECT compact_revision FROM meta WHERE id = 0"},
          {&changes,
           "SELECT revision, seq, type, key, value, create_revision, mod_revision, version "
           "FROM events WHERE revision > ?1 ORDER BY revision, seq LIMIT ?2"},
          {&changes_rest,
           "SELECT revision, seq, type, key, value, create_revision, mod_revision, version "
           "FROM events WHERE revision = ?1 AND seq > ?2 ORDER BY seq"},
          {&delete_events, "DELETE FROM events WHERE revision <= ?1"},
          {&set_compact, "UPDATE meta SET compact_revision = ?1 WHERE id = 0"},
      };
      for (auto& [s, sql] : all) PC_RETURN_IF_ERROR(s->Prepare(db, sql));
      return Status::Ok();
    }
  };

  Status Migrate(const std::string& path) {
    PC_ASSIGN_OR_RETURN(int64_t have, QueryInt(db_, "PRAGMA user_version"));
    int latest = LatestSchemaVersion();
    if (have > latest)
      return FailedPrecondition(path + ": schema version " + std::to_string(have) +
                                " is newer than this privcast understands (" + std::to_string(latest) +
                                "); upgrade privcast");
    for (const Migration& m : kMigrations) {
      if (m.version <= have) continue;
      PC_RETURN_IF_ERROR(ExecSql(db_, "BEGIN IMMEDIATE"));
      Status st = ExecSql(db_, m.sql);
      if (st.ok()) st = ExecSql(db_, "PRAGMA user_version = " + std::to_string(m.version));
      if (st.ok()) st = ExecSql(db_, "COMMIT");
      if (!st.ok()) {
        (void)ExecSql(db_, "ROLLBACK");
        return Status(st.code(),
                      path + ": migration to schema v" + std::to_string(m.version) + " failed: " + st.message());
      }
      log::Info("store", "schema migrated", {{"path", path}, {"version", m.version}});
    }
    return Status::Ok();
  }

  Status Hook(std::string_view step, int index) REQUIRES(mu_) {
    if (!hook_) return Status::Ok();
    return hook_(step, index);
  }

  void Publish(int64_t rev) {
    {
      MutexLock l(&wait_mu_);
      if (rev <= last_rev_) return;
      last_rev_ = rev;
    }
    cv_.NotifyAll();
  }

  Result<int64_t> ReadRevision() REQUIRES(mu_) {
    Stmt& s = stmts_->revision;
    s.Begin();
    PC_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return Internal("sqlite: meta row missing");
    int64_t v = s.ColInt(0);
    s.Begin();
    return v;
  }

  Result<int64_t> ReadCompactRevision() REQUIRES(mu_) {
    Stmt& s = stmts_->compact_revision;
    s.Begin();
    PC_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return Internal("sqlite: meta row missing");
    int64_t v = s.ColInt(0);
    s.Begin();
    return v;
  }

  Result<std::optional<KeyValue>> GetLocked(const std::string& key) REQUIRES(mu_) {
    Stmt& s = stmts_->get;
    s.Begin();
    s.Text(1, key);
    PC_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return std::optional<KeyValue>();
    KeyValue kv{key, s.ColBlob(0), s.ColInt(1), s.ColInt(2), s.ColInt(3)};
    s.Begin();
    return std::optional<KeyValue>(std::move(kv));
  }

  Result<RangeResult> RangeLocked(const std::string& prefix) REQUIRES(mu_) {
    RangeResult out;
    PC_ASSIGN_OR_RETURN(out.revision, ReadRevision());
    std::optional<std::string> end = PrefixEnd(prefix);
    Stmt& s = end ? stmts_->range_between : stmts_->range_from;
    s.Begin();
    s.Text(1, prefix);
    if (end) s.Text(2, *end);
    for (;;) {
      PC_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      out.kvs.push_back({s.ColText(0), s.ColBlob(1), s.ColInt(2), s.ColInt(3), s.ColInt(4)});
    }
    s.Begin();
    return out;
  }

  Result<int64_t> MaxModRevision(const std::string& prefix) REQUIRES(mu_) {
    std::optional<std::string> end = PrefixEnd(prefix);
    Stmt& s = end ? stmts_->max_mod_between : stmts_->max_mod_from;
    s.Begin();
    s.Text(1, prefix);
    if (end) s.Text(2, *end);
    PC_ASSIGN_OR_RETURN(bool row, s.Step());
    int64_t v = row ? s.ColInt(0) : 0;
    s.Begin();
    return v;
  }

  Result<std::vector<std::string>> KeysWithPrefix(const std::string& prefix) REQUIRES(mu_) {
    std::optional<std::string> end = PrefixEnd(prefix);
    Stmt& s = end ? stmts_->keys_between : stmts_->keys_from;
    s.Begin();
    s.Text(1, prefix);
    if (end) s.Text(2, *end);
    std::vector<std::string> keys;
    for (;;) {
      PC_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      keys.push_back(s.ColText(0));
    }
    s.Begin();
    return keys;
  }

  Result<bool> Evaluate(const Compare& c) REQUIRES(mu_) {
    if (c.kind == Compare::Kind::kPrefixModRevisionLe) {
      PC_ASSIGN_OR_RETURN(int64_t max, MaxModRevision(c.key));
      return max <= c.revision;
    }
    PC_ASSIGN_OR_RETURN(std::optional<KeyValue> kv, GetLocked(c.key));
    switch (c.kind) {
      case Compare::Kind::kExists:
        return kv.has_value();
      case Compare::Kind::kNotExists:
        return !kv.has_value();
      case Compare::Kind::kModRevisionEq:
        return (kv ? kv->mod_revision : 0) == c.revision;
      case Compare::Kind::kValueEq:
        return kv.has_value() && kv->value == c.value;
      case Compare::Kind::kPrefixModRevisionLe:
        break;
    }
    return InvalidArgument("unknown compare kind");
  }

  // etcd refuses a Txn branch that writes one key twice or puts a key it also deletes.
  static Status ValidateOps(const std::vector<Op>& ops) {
    std::set<std::string> puts;
    for (const Op& op : ops) {
      if (op.kind == Op::Kind::kPut && !puts.insert(op.key).second)
        return InvalidArgument("txn puts key \"" + op.key + "\" twice");
    }
    for (const Op& op : ops) {
      if (op.kind == Op::Kind::kDelete && puts.count(op.key))
        return InvalidArgument("txn puts and deletes key \"" + op.key + "\"");
      if (op.kind == Op::Kind::kDeletePrefix) {
        for (auto it = puts.lower_bound(op.key); it != puts.end() && HasPrefix(*it, op.key); ++it)
          return InvalidArgument("txn puts key \"" + *it + "\" inside deleted prefix \"" + op.key + "\"");
      }
    }
    return Status::Ok();
  }

  Status AddEvent(int64_t rev, int seq, Event::Type type, const KeyValue& kv) REQUIRES(mu_) {
    Stmt& s = stmts_->event;
    s.Begin();
    s.Int(1, rev);
    s.Int(2, seq);
    s.Int(3, type == Event::Type::kPut ? 0 : 1);
    s.Text(4, kv.key);
    s.Blob(5, kv.value);
    s.Int(6, kv.create_revision);
    s.Int(7, kv.mod_revision);
    s.Int(8, kv.version);
    return s.Exec();
  }

  // Deletes one existing key at revision rev, recording the event. false = key was absent.
  Result<bool> DeleteKey(const std::string& key, int64_t rev, int* seq) REQUIRES(mu_) {
    Stmt& s = stmts_->del;
    s.Begin();
    s.Text(1, key);
    PC_RETURN_IF_ERROR(s.Exec());
    if (sqlite3_changes(db_) == 0) return false;
    KeyValue kv;
    kv.key = key;
    kv.mod_revision = rev;
    PC_RETURN_IF_ERROR(AddEvent(rev, (*seq)++, Event::Type::kDelete, kv));
    return true;
  }

  // Inside BEGIN IMMEDIATE. Returns whether anything changed.
  Result<bool> Apply(const std::vector<Op>& ops, int64_t rev) REQUIRES(mu_) {
    int seq = 0;
    bool changed = false;
    int index = 0;
    for (const Op& op : ops) {
      switch (op.kind) {
        case Op::Kind::kPut: {
          PC_ASSIGN_OR_RETURN(std::optional<KeyValue> old, GetLocked(op.key));
          KeyValue kv{op.key, op.value, old ? old->create_revision : rev, rev, old ? old->version + 1 : 1};
          Stmt& s = stmts_->put;
          s.Begin();
          s.Text(1, kv.key);
          s.Blob(2, kv.value);
          s.Int(3, kv.create_revision);
          s.Int(4, kv.mod_revision);
          s.Int(5, kv.version);
          PC_RETURN_IF_ERROR(s.Exec());
          PC_RETURN_IF_ERROR(AddEvent(rev, seq++, Event::Type::kPut, kv));
          changed = true;
          break;
        }
        case Op::Kind::kDelete: {
          PC_ASSIGN_OR_RETURN(bool deleted, DeleteKey(op.key, rev, &seq));
          changed |= deleted;
          break;
        }
        case Op::Kind::kDeletePrefix: {
          PC_ASSIGN_OR_RETURN(std::vector<std::string> keys, KeysWithPrefix(op.key));
          for (const std::string& k : keys) {
            PC_ASSIGN_OR_RETURN(bool deleted, DeleteKey(k, rev, &seq));
            changed |= deleted;
          }
          break;
        }
      }
      PC_RETURN_IF_ERROR(Hook("op", index++));
    }
    return changed;
  }

  Result<TxnResponse> TxnImpl(const TxnRequest& txn) {
    PC_RETURN_IF_ERROR(ValidateOps(txn.success));
    PC_RETURN_IF_ERROR(ValidateOps(txn.failure));
    MutexLock l(&mu_);
    PC_RETURN_IF_ERROR(ExecSql(db_, "BEGIN IMMEDIATE"));
    Result<TxnResponse> r = TxnLocked(txn);
    Status st = r.status();
    if (st.ok()) st = Hook("commit", 0);
    if (st.ok()) st = ExecSql(db_, "COMMIT");
    if (!st.ok()) {
      (void)ExecSql(db_, "ROLLBACK");
      return st;
    }
    return r;
  }

  Result<TxnResponse> TxnLocked(const TxnRequest& txn) REQUIRES(mu_) {
    PC_RETURN_IF_ERROR(Hook("begin", 0));
    PC_ASSIGN_OR_RETURN(int64_t rev, ReadRevision());
    bool ok = true;
    int index = 0;
    for (const Compare& c : txn.compares) {
      PC_ASSIGN_OR_RETURN(bool holds, Evaluate(c));
      PC_RETURN_IF_ERROR(Hook("compare", index++));
      if (!holds) {
        ok = false;
        break;
      }
    }
    PC_ASSIGN_OR_RETURN(bool changed, Apply(ok ? txn.success : txn.failure, rev + 1));
    if (changed) {
      Stmt& s = stmts_->set_revision;
      s.Begin();
      s.Int(1, rev + 1);
      PC_RETURN_IF_ERROR(s.Exec());
      PC_RETURN_IF_ERROR(Hook("revision", 0));
      ++rev;
    }
    return TxnResponse{ok, rev};
  }

  Result<std::vector<Event>> ChangesLocked(int64_t after, size_t limit) REQUIRES(mu_) {
    PC_ASSIGN_OR_RETURN(int64_t compacted, ReadCompactRevision());
    if (after < compacted)
      return FailedPrecondition("change feed compacted: revision " + std::to_string(after) +
                                " is older than the compaction horizon " + std::to_string(compacted) +
                                "; re-read with Range");
    std::vector<Event> out;
    int64_t last_rev = 0, last_seq = 0;
    auto read = [&](Stmt& s) -> Status {
      for (;;) {
        PC_ASSIGN_OR_RETURN(bool row, s.Step());
        if (!row) break;
        Event e;
        e.type = s.ColInt(2) == 0 ? Event::Type::kPut : Event::Type::kDelete;
        e.kv = {s.ColText(3), s.ColBlob(4), s.ColInt(5), s.ColInt(6), s.ColInt(7)};
        out.push_back(std::move(e));
        last_rev = s.ColInt(0);
        last_seq = s.ColInt(1);
      }
      s.Begin();
      return Status::Ok();
    };
    Stmt& s = stmts_->changes;
    s.Begin();
    s.Int(1, after);
    s.Int(2, limit == 0 ? -1 : static_cast<int64_t>(limit));
    PC_RETURN_IF_ERROR(read(s));
    // Never split a revision: a consumer resumes after the last revision it saw.
    if (limit != 0 && out.size() == limit) {
      Stmt& rest = stmts_->changes_rest;
      rest.Begin();
      rest.Int(1, last_rev);
      rest.Int(2, last_seq);
      PC_RETURN_IF_ERROR(read(rest));
    }
    return out;
  }

  Status CompactLocked(int64_t revision) REQUIRES(mu_) {
    PC_RETURN_IF_ERROR(Hook("begin", 0));
    PC_ASSIGN_OR_RETURN(int64_t current, ReadRevision());
    PC_ASSIGN_OR_RETURN(int64_t compacted, ReadCompactRevision());
    if (revision > current)
      return InvalidArgument("cannot compact at revision " + std::to_string(revision) + ": the store is at revision " +
                             std::to_string(current));
    if (revision <= compacted)
      return FailedPrecondition("revision " + std::to_string(revision) + " is already compacted (horizon " +
                                std::to_string(compacted) + ")");
    Stmt& d = stmts_->delete_events;
    d.Begin();
    d.Int(1, revision);
    PC_RETURN_IF_ERROR(d.Exec());
    PC_RETURN_IF_ERROR(Hook("delete", 0));
    Stmt& c = stmts_->set_compact;
    c.Begin();
    c.Int(1, revision);
    return c.Exec();
  }

  sqlite3* db_;
  Mutex mu_;  // guards the connection too (sqlite3 calls on db_)
  std::unique_ptr<Stmts> stmts_ GUARDED_BY(mu_);
  StepHook hook_ GUARDED_BY(mu_);

  Mutex wait_mu_;
  CondVar cv_;
  int64_t last_rev_ GUARDED_BY(wait_mu_) = 0;
};

}  // namespace

int LatestSchemaVersion() { return kMigrations[std::size(kMigrations) - 1].version; }

Result<std::unique_ptr<SqliteStore>> OpenSqliteStoreConcrete(const SqliteOptions& opts) {
  if (opts.path.empty()) return InvalidArgument("store path is empty");
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(opts.path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string m = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return Unavailable("cannot open store " + opts.path + ": " + m);
  }
  auto store = std::make_unique<SqliteStoreImpl>(db);
  Status st = store->Init(opts.synchronous_full, opts.path);
  if (!st.ok()) return st;
  return std::unique_ptr<SqliteStore>(std::move(store));
}

Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& opts) {
  PC_ASSIGN_OR_RETURN(std::unique_ptr<SqliteStore> s, OpenSqliteStoreConcrete(opts));
  return std::unique_ptr<Store>(std::move(s));
}

}  // namespace privcast::store
