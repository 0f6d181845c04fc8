// SetupMachine: the OS steps that bring one machine up (internal to privcast_supervisor; the
// Supervisor runs it for every start and restart, docs/supervisor.md#launch).
//
// The steps are SetupStep's, in order; the fault seam (SupervisorOptions::fault) is consulted
// before each, and each one that has something to undo adds it to an UndoList: when a later
// step fails, everything done so far is undone, latest first, and the error is returned.
//
// Ownership: borrows everything it is given. On success the caller owns the main process
// (pid + pidfd) and its runtime record. The machine's user namespace (`userns`) is created
// here when missing or of another id range, and the caller keeps it across restarts (also
// after a failed setup). Leaves the state dir, cgroups and log file in place on success.
// Thread-safety: none of its own; the Supervisor runs it under its lock.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/result.h"
#include "supervisor/cgroup.h"
#include "supervisor/launch.h"
#include "supervisor/sandbox.h"
#include "supervisor/supervisor.h"

namespace privcast::supervisor {

// The mount point of a sandboxed machine's root in its state dir (only ever mounted in the
// machine's own mount namespace).
inline constexpr const char* kRootfsDir = "rootfs";

// Removes the files a setup writes into the state dir (not the image's writable layer).
void RemoveStateFiles(const std::string& dir);

int PidfdSignal(int pidfd, int sig);

// What a failed setup undoes: actions added as steps succeed, run latest first.
class UndoList {
 public:
  UndoList() = default;
  UndoList(const UndoList&) = delete;
  UndoList& operator=(const UndoList&) = delete;

  void Add(std::function<void()> undo) { undo_.push_back(std::move(undo)); }
  // Undoes everything added, latest first; returns `cause` (the failure that made it needed).
  [[nodiscard]] Status Rollback(Status cause);

 private:
  std::vector<std::function<void()>> undo_;
};

// What the setup needs of the Supervisor.
struct SetupEnv {
  const SupervisorOptions* opt = nullptr;  // fault seam, kernel_wait, init_path, exec_wait
  const HostEtc* host_etc = nullptr;       // what sandboxed machines' /etc is generated from
  const SeccompProgram* seccomp = nullptr;
};

// A machine's user namespace: kept across restarts (its ids are the machine's).
struct MachineUserns {
  UniqueFd fd;
  IdRange ids;
};

// Runs every step for `spec` with the state dir `dir` and cgroup `cg`; returns the running
// main process (its program exec'd), or the error after undoing every step done.
Result<Spawned> SetupMachine(const SetupEnv& env, const LaunchSpec& spec, const MachineCgroup& cg,
                             const std::string& dir, MachineUserns* userns);

}  // namespace privcast::supervisor
