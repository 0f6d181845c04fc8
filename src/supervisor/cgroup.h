// Cgroups for machines, on cgroup v1 (one hierarchy per controller) and v2 (unified).
//
// Layout (docs/supervisor.md#cgroups):
//   v1: <mount>/<ctrl>/<parent>/<root_name>/<machine id>   for ctrl in memory, cpu, pids, freezer
//   v2: <mount>/<parent>/<root_name>/<machine id>
// <parent> is by default the calling process's own cgroup in that hierarchy (from
// /proc/self/cgroup), so machines stay inside the daemon's resource envelope; root_name is
// given by the daemon ("privcast-<instance>") so parallel daemons never share a directory.
//
// Only directories under <root_name> are ever created, written or removed.
// CgroupManager and MachineCgroup are immutable after creation; their methods only touch
// the kernel's files, so they are thread-safe as far as the kernel is (callers serialise
// operations on one machine). Blocking: Freeze, KillAll and Remove wait (bounded by the
// timeout given, in real time: supervisor/kernel_wait.h) for the kernel to finish;
// everything else is a few file writes.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace privcast::supervisor {

enum class CgroupVersion { kV1, kV2 };

struct CgroupOptions {
  std::string root_name;                 // one path component, e.g. "privcast-<instance>"
  std::string mount = "/sys/fs/cgroup";  // where the hierarchies are mounted
  std::optional<std::string> parent;     // e.g. "/" ; unset = own cgroup per hierarchy
  // Unset: v2 when <mount>/cgroup.controllers exists, else v1. Tests set kV2 with
  // mount=/sys/fs/cgroup/unified to exercise the v2 code on a hybrid host.
  std::optional<CgroupVersion> version;
};

struct CgroupLimits {
  int64_t memory_mb = 0;  // 0 = unlimited
  double cpus = 0;        // 0 = unlimited; 1.5 = one and a half CPUs of CFS quota, and a
                          // weight of 1.5 CPUs (v1 cpu.shares 1536, v2 cpu.weight 150)
  int64_t pids_max = 0;   // 0 = unlimited
};

// One machine's cgroup directories. A value: copying it copies paths.
class MachineCgroup {
 public:
  MachineCgroup() = default;
  // v1: controllers[i] names the controller of dirs[i]; v2: controllers is empty.
  MachineCgroup(CgroupVersion v, std::vector<std::string> dirs, std::vector<std::string> controllers)
      : version_(v),
        dirs_(std::move(dirs)),
        controllers_(std::move(controllers)),
        freezer_dir_(dirs_.empty() ? std::string() : dirs_.back()) {}

  CgroupVersion version() const { return version_; }
  // Absolute directories: v1 one per controller (freezer always included), v2 exactly one.
  const std::vector<std::string>& dirs() const { return dirs_; }
  // v1: the controller of each of dirs(); v2: empty.
  const std::vector<std::string>& controllers() const { return controllers_; }
  // The directory whose cgroup.procs a child writes itself into / the v2 dir for
  // CLONE_INTO_CGROUP.
  bool empty() const { return dirs_.empty(); }

  Status Create() const;  // mkdir every dir (EEXIST is fine)
  Status ApplyLimits(const CgroupLimits& l) const;
  Result<std::vector<pid_t>> Procs() const;  // members of the freezer (v1) / only (v2) dir
  bool Contains(pid_t pid) const;            // pid is in every dir
  // Freeze and wait until the kernel reports frozen (v1 freezer.state FROZEN,
  // v2 cgroup.events "frozen 1"). Thaw returns once the write is accepted.
  Status Freeze(Duration timeout) const;
  Status Thaw() const;
  Result<bool> Frozen() const;
  // SIGKILL every member until none is left (v2: cgroup.kill), thawing first.
  Status KillAll(Duration timeout) const;
  // rmdir every dir; missing dirs are fine. Retries EBUSY (dying tasks) until timeout.
  Status Remove(Duration timeout) const;

 private:
  CgroupVersion version_ = CgroupVersion::kV1;
  std::vector<std::string> dirs_;
  std::vector<std::string> controllers_;
  std::string freezer_dir_;
};

class CgroupManager {
 public:
  // Detects the version, resolves the parents and creates <root_name> in each hierarchy.
  static Result<CgroupManager> Open(const CgroupOptions& o);

  CgroupVersion version() const { return version_; }
  // The machine's cgroup paths (nothing is created).
  MachineCgroup For(const std::string& machine_id) const;
  // rmdir the <root_name> directories when no machine cgroup is left (clean shutdown /
  // tests); then the v1 freezer pin is thawed and removed too. Machines still there: Ok,
  // nothing is removed.
  Status RemoveRootIfEmpty() const;
  const std::vector<std::string>& root_dirs() const { return root_dirs_; }

 private:
  CgroupVersion version_ = CgroupVersion::kV1;
  std::vector<std::string> root_dirs_;    // v1: per controller, freezer last; v2: one
  std::vector<std::string> controllers_;  // v1: controller of root_dirs_[i]
};

// v1 only: an empty cgroup <freezer root>/.freezer-pin kept FROZEN while the manager's root
// exists. The v1 freezer flips a kernel static key (text patching on every CPU) whenever the
// number of frozen cgroups goes 0 <-> 1, which made each suspend and resume cost 10-20 ms;
// with one permanently frozen (empty) cgroup they cost tens of µs (docs/supervisor.md).
inline constexpr const char* kFreezerPin = ".freezer-pin";

// v1 controllers privcast uses, in the order of MachineCgroup::dirs(): freezer is last.
inline constexpr const char* kV1Controllers[] = {"memory", "cpu", "pids", "freezer"};

}  // namespace privcast::supervisor
