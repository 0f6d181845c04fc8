// Opening the daemon's Store from its options: the SQLite file in the data dir (the
// default, unchanged) or an etcd cluster (`--store etcd://...`, TLS from --etcd-*), and, with
// etcd, registering this host under a lease (store/etcd/host_registration.h).
//
// With etcd, the host-local keys ("/local/...", e.g. the host id) live under a namespace named
// by `<data dir>/etcd-local-id` (random, made on first use), so a data dir keeps its host id
// across restarts exactly as store.db does on one host. Not thread-safe; called once.
#pragma once

#include <memory>
#include <string>

#include "common/result.h"
#include "daemon/options.h"
#include "store/store.h"

namespace privcast::store {
class EtcdStore;
}

namespace privcast::daemon {

struct OpenedStore {
  std::unique_ptr<store::Store> store;
  store::EtcdStore* etcd = nullptr;  // == store.get() when the store is etcd, else nullptr
  std::string description;           // "sqlite /var/lib/privcast/store.db" or "etcd h1:2379, ..."
};

// `sqlite_default` is the data dir's store.db, used when opts.store is empty.
[[nodiscard]] Result<OpenedStore> OpenDaemonStore(const DaemonOptions& opts, const std::string& data_dir,
                                                  const std::string& sqlite_default);

// The data dir's etcd namespace id, created (random, 0600) when missing.
[[nodiscard]] Result<std::string> EtcdLocalId(const std::string& data_dir);

}  // namespace privcast::daemon
