// DataDir: privcastd's state directory and the exclusive lock that keeps a second daemon
// off it. Layout:
//   <dir>/lock                 flock(LOCK_EX) held for the daemon's lifetime; holds the pid
//   <dir>/host-id              this host's id, written after the first start (evidence of state)
//   <dir>/store.db             the SQLite store (+ -wal, -shm), mode 0600
//   <dir>/machines/<id>/       per-machine state (supervisor runtime record, log, files)
//   <dir>/apps/<app>/events.log proxy and lifecycle events shown by `privcast logs`
//   <dir>/run/netns/<id>       bind-mounted machine network namespaces
//   <dir>/tls/ca.crt, ca.key   the local CA of `tls` ports (daemon/tls_certs.h), made on first need
// The directory is 0700 (tightened when found looser) and the store files 0600: the store
// holds app [env] values and the CA key lives here.
// Not thread-safe; created once by main.
#pragma once

#include <string>

#include "common/fd.h"
#include "common/result.h"

namespace privcast::daemon {

class DataDir {
 public:
  // Creates the directory tree and takes the lock; kFailedPrecondition naming the other
  // daemon's pid when the lock is held.
  static Result<DataDir> Open(const std::string& path);

  const std::string& path() const { return path_; }
  std::string store_path() const { return path_ + "/store.db"; }
  std::string machines_dir() const { return path_ + "/machines"; }
  std::string apps_dir() const { return path_ + "/apps"; }
  std::string run_dir() const { return path_ + "/run"; }
  std::string netns_dir() const { return run_dir() + "/netns"; }
  std::string tls_dir() const { return path_ + "/tls"; }
  std::string host_id_path() const { return path_ + "/host-id"; }

  // Creates store.db 0600 when missing and sets 0600 on store.db, -wal and -shm (SQLite gives
  // the journal files the database file's mode).
  [[nodiscard]] Status SecureStoreFiles() const;
  // What in the directory shows that a daemon has run here before: "" when nothing does, else
  // e.g. "host-id 5f3a2b10, 3 machine directories, a TLS CA". A store without a host record
  // next to such evidence is a lost store, not a first start.
  std::string PriorState() const;
  [[nodiscard]] Status RecordHostId(uint32_t host_id) const;

 private:
  std::string path_;
  UniqueFd lock_;
};

}  // namespace privcast::daemon
