// EnsureCgroupMounts: make the host's cgroup hierarchies visible under /sys/fs/cgroup.
//
// `ip netns exec` (how operators and tests usually start privcastd inside a network
// namespace) gives the process a private mount namespace and a fresh sysfs, which hides the
// cgroup mounts. The hierarchies themselves are global, so mounting them again in our mount
// namespace shows the very same cgroups (the harness and other tools still see machines'
// cgroups from the root mount namespace). Which hierarchies exist is read from
// /proc/self/cgroup: v1 controllers (plus a hybrid unified mount), or a pure v2 host.
// Idempotent: a hierarchy that is already visible is left alone. Call before creating the
// supervisor. Not thread-safe (startup only).
#pragma once

#include "common/result.h"

namespace privcast::daemon {

Status EnsureCgroupMounts(const std::string& root = "/sys/fs/cgroup");

}  // namespace privcast::daemon
