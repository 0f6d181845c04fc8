// Volumes in a machine (docs/volumes.md, ADR 0010): a host directory that holds a volume's
// files with canonical ids (uid 0 on disk = root in whichever machine mounts it), mounted
// read-write at a path of the machine's root through an idmapped mount onto the machine's
// user namespace (idmap.h), nosuid and nodev.
//
//   - The parent prepares the mount detached (PrepareVolumeMount); the child creates the
//     mount point inside the machine's root (resolving the path with openat2
//     RESOLVE_IN_ROOT: a symlink in the image or in a persisted writable layer can never
//     lead outside the root) and moves the mount there (RootfsOp::kVolume), after the
//     root's own mounts (/tmp, /run, /var of a host-/usr machine), so any path but the
//     kernel's file systems works.
//   - Nothing of it is left on the host's mount tree: the mount lives in the machine's mount
//     namespace and goes with it; a daemon restart or adoption needs nothing.
//
// Runs as host root; no shared state.
#pragma once

#include <string>

#include "common/fd.h"
#include "common/result.h"

namespace privcast::supervisor {

struct VolumeMount {
  std::string source;       // host directory (the volume's root), owned by host root
  std::string destination;  // absolute path inside the machine (config::CheckMountDestination)
  bool operator==(const VolumeMount&) const = default;
};

// The detached, idmapped, read-write (nosuid, nodev) mount of `v.source` for a machine whose
// user namespace is `userns_fd`. `v.source` must be a directory (not a symlink).
Result<UniqueFd> PrepareVolumeMount(const VolumeMount& v, int userns_fd);

}  // namespace privcast::supervisor
