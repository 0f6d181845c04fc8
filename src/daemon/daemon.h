// Daemon: privcastd's composition root — the only place where modules meet.
//
// Start order: data dir + lock → store → registry bootstrap (host, org "personal") →
// runtime (host network, supervisor) → control loop + machine manager (adopts running
// machines, first reconcile, first Snapshot) → proxy workers → DNS → API socket → store
// watcher. Stop order is the reverse; with drain (SIGTERM) the proxy stops accepting and
// open connections get `drain_timeout` to finish. Machines are never stopped by a daemon
// stop: the next privcastd adopts them.
//
// Thread-safety: Start/Stop from the main thread only.
#pragma once

#include <atomic>
#include <memory>
#include <thread>

#include "common/result.h"
#include "daemon/options.h"

namespace privcast::daemon {

class Daemon {
 public:
  static Result<std::unique_ptr<Daemon>> Create(const DaemonOptions& opts);
  ~Daemon();
  Status Start();
  void Stop(bool drain);

  struct Impl;

 private:
  explicit Daemon(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace privcast::daemon
