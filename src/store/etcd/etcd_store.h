// EtcdStore: the Store (store.h) on an etcd v3 cluster over gRPC (ADR 0014, docs/store.md).
//
// Every Store operation maps one to one onto etcd: Get/Range = KV.Range (linearizable), Txn =
// KV.Txn (compares/ops translated, etcd's own revisions), Compact = KV.Compact, Changes = a
// one-shot Watch from after+1 (ErrCompacted → kFailedPrecondition, as with SQLite). A
// background watcher on the whole namespace keeps the newest revision for WaitForRevision;
// when its stream breaks it reconnects (next endpoint, back-off) and resumes from the last
// revision it saw; when that revision was compacted meanwhile it re-reads the revision and
// watches on from there (consumers re-list through LoadState on every wake anyway).
//
// Key mapping: `key_prefix` is prepended to every key (tests share one etcd; production uses
// ""). Keys under "/local/" are this host's own (docs/store.md): they live under
// "/local/<local_id>/" in etcd, and other hosts' local keys are invisible to Range and
// Changes, so the Registry runs unchanged on a shared keyspace.
//
// Endpoints: one gRPC channel per endpoint; a call that fails with UNAVAILABLE moves to the
// next endpoint and tries once more per endpoint; when all fail the Status is kUnavailable and
// names the endpoints ("etcd unavailable (h1:2379, h2:2379): ..."). Every call has a deadline
// (`timeout`).
//
// Leases (host registration, docs/cluster.md): GrantLease + PutWithLease + a keep-alive
// thread per KeepAlive; the lease ends when the process dies or Revoke is called.
//
// Thread-safety: every method may be called from any thread concurrently.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "store/etcd/etcd_endpoints.h"
#include "store/store.h"

namespace privcast::store {

struct EtcdOptions {
  std::vector<EtcdEndpoint> endpoints;
  // TLS: all three empty = plaintext; cacert alone = server-authenticated TLS; cert+key add a
  // client certificate. Files are PEM.
  std::string cacert_file, cert_file, key_file;
  std::string key_prefix;                      // prepended to every key ("" in production)
  std::string local_id;                        // this host's "/local/" namespace; empty = "/local/" is shared
  Duration timeout = std::chrono::seconds(5);  // per call
};

class EtcdStore : public Store {
 public:
  ~EtcdStore() override = default;
  // A lease of `ttl` seconds (etcd rounds up to its minimum); returns its id.
  [[nodiscard]] virtual Result<int64_t> GrantLease(int64_t ttl_seconds) = 0;
  // Put key=value attached to lease (the key disappears when the lease ends).
  [[nodiscard]] virtual Result<int64_t> PutWithLease(const std::string& key, const std::string& value,
                                                     int64_t lease) = 0;
  // Keeps `lease` alive from a background thread (every ttl/3) until Revoke or destruction;
  // if the lease is lost (expired during an outage) `on_lost` runs on that thread once.
  virtual void KeepAlive(int64_t lease, int64_t ttl_seconds, std::function<void()> on_lost) = 0;
  [[nodiscard]] virtual Status RevokeLease(int64_t lease) = 0;
  // The endpoints, for messages.
  virtual std::string Describe() const = 0;
};

[[nodiscard]] Result<std::unique_ptr<EtcdStore>> OpenEtcdStore(const EtcdOptions& opts);

// Smallest key greater than every key starting with `prefix` (etcd's range_end); "\0" for "".
std::string PrefixEnd(const std::string& prefix);

}  // namespace privcast::store
