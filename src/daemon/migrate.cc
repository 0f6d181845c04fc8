#include "daemon/migrate.h"

#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "daemon/data_dir.h"
#include "daemon/options.h"
#include "daemon/store_open.h"
#include "store/etcd/etcd_endpoints.h"
#include "store/etcd/etcd_store.h"

namespace privcast::daemon {
namespace {

constexpr size_t kBatch = 100;  // etcd refuses Txns of more than 128 ops by default

Status Migrate(const std::string& from, const DaemonOptions& to) {
  PC_ASSIGN_OR_RETURN(store::StoreUrl src_url, store::ParseStoreUrl(from));
  if (src_url.kind != store::StoreUrl::Kind::kSqlite) return InvalidArgument("--from must be sqlite:PATH");
  PC_ASSIGN_OR_RETURN(store::StoreUrl dst_url, store::ParseStoreUrl(to.store));
  if (dst_url.kind != store::StoreUrl::Kind::kEtcd) return InvalidArgument("--to must be etcd://host:port,...");
  struct stat sb {};
  if (stat(src_url.sqlite_path.c_str(), &sb) != 0) return NotFound("no SQLite store at " + src_url.sqlite_path);
  // The daemon must not run meanwhile: take its data dir's lock.
  PC_ASSIGN_OR_RETURN(DataDir dir, DataDir::Open(to.data_dir));
  auto src = store::OpenSqliteStore({src_url.sqlite_path});
  if (!src.ok())
    return Status(src.status().code(), "cannot open " + src_url.sqlite_path + ": " + src.status().message());
  PC_ASSIGN_OR_RETURN(OpenedStore dst, OpenDaemonStore(to, dir.path(), ""));
  PC_ASSIGN_OR_RETURN(store::RangeResult all, (*src)->Range(""));
  PC_ASSIGN_OR_RETURN(store::RangeResult there, dst.store->Range(""));
  if (!there.kvs.empty())
    return FailedPrecondition(dst.description + " already holds " + std::to_string(there.kvs.size()) +
                              " keys (first: " + there.kvs.front().key + "); migrate into an empty cluster");
  int64_t rev = 0;
  for (size_t i = 0; i < all.kvs.size(); i += kBatch) {
    store::TxnRequest t;
    for (size_t j = i; j < std::min(all.kvs.size(), i + kBatch); ++j) {
      t.compares.push_back({store::Compare::Kind::kNotExists, all.kvs[j].key, 0, {}});
      t.success.push_back(store::Op::Put(all.kvs[j].key, all.kvs[j].value));
    }
    PC_ASSIGN_OR_RETURN(store::TxnResponse r, dst.store->Txn(t));
    if (!r.succeeded)
      return Conflict("a key of batch " + std::to_string(i / kBatch + 1) + " appeared in etcd meanwhile; " +
                      std::to_string(i) + " keys were copied before it");
    rev = r.revision;
  }
  std::printf("migrated %zu keys from %s (revision %lld) to %s (revision %lld)\n", all.kvs.size(),
              src_url.sqlite_path.c_str(), static_cast<long long>(all.revision), dst.description.c_str(),
              static_cast<long long>(rev));
  std::printf("start privcastd with: --data-dir %s --store %s\n", dir.path().c_str(), to.store.c_str());
  return Status();
}

}  // namespace

int RunMigrate(int argc, char** argv) {
  CLI::App app{"privcastd migrate: copy a single host's SQLite state into an empty etcd cluster"};
  app.name("privcastd migrate");
  std::string from;
  DaemonOptions to;
  app.add_option("--from", from, "source: sqlite:PATH (the host's store.db)")->required();
  app.add_option("--to", to.store, "target: etcd://h1:2379,h2:2379")->required();
  app.add_option("--data-dir", to.data_dir, "the host's data dir (its lock is taken; holds etcd-local-id)")
      ->capture_default_str();
  app.add_option("--etcd-cacert", to.etcd_cacert, "etcd: CA certificate (PEM)");
  app.add_option("--etcd-cert", to.etcd_cert, "etcd: client certificate (PEM)");
  app.add_option("--etcd-key", to.etcd_key, "etcd: client key (PEM)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  Status st = Migrate(from, to);
  if (!st.ok()) {
    std::fprintf(stderr, "Error: %s\n", st.message().c_str());
    return 1;
  }
  return 0;
}

}  // namespace privcast::daemon
