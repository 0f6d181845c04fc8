// Idmapped mounts (mount_setattr(2) MOUNT_ATTR_IDMAP): a directory tree seen through a
// machine's user namespace, so files stored with canonical ids (uid 0 on disk) belong to the
// machine's root (host uid ids.base) without chown-ing anything. Used for the image's
// read-only layers (image_root.h, ADR 0009) and for volumes (volume.h, ADR 0010).
//
// Runs as host root; no shared state.
#pragma once

#include <cstdint>
#include <string>

#include "common/fd.h"
#include "common/result.h"

namespace privcast::supervisor {

// A detached clone of the tree at `dir` (open_tree(OPEN_TREE_CLONE)), idmapped onto
// `userns_fd` with the extra MOUNT_ATTR_* `attrs` (e.g. RDONLY | NODEV). The mount exists as
// long as the fd (or a mount tree it is moved into) does.
Result<UniqueFd> IdmappedTree(const std::string& dir, int userns_fd, uint64_t attrs);

}  // namespace privcast::supervisor
