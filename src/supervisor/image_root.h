// The root of a machine that runs an OCI image (docs/supervisor.md#image-root, ADR 0009):
// an overlay of the image's unpacked layers (shared, read-only) and a writable layer of the
// machine's own, prepared by the parent as a detached mount the child moves onto its root.
//
//   - Each layer is seen through an idmapped mount (open_tree + mount_setattr(MOUNT_ATTR_IDMAP)
//     with the machine's user namespace, read-only, nodev): a file the image gives uid 0
//     appears owned by the machine's root (host uid ids.base), while the layer directory on
//     disk stays the image's and is shared by every machine of every image that has it.
//   - The writable layer is <dir>/image/{upper,work}, not idmapped (overlayfs does its
//     work-dir housekeeping as the mounter, host root, which an idmapped upper cannot map):
//     what the machine writes is stored with its host ids (ids.base + n). It is emptied on
//     every start unless `persist` ([[vm]] persist_rootfs).
//   - The generated /etc/hostname, /etc/hosts and /etc/resolv.conf are written into the
//     writable layer, so they cover the image's; the mount points /proc, /sys, /dev and
//     privcast-init's /.privcast-init are created there too (an image need not have them),
//     and the WorkingDir when no layer has it (docker creates it too).
//   - overlayfs is assembled with the new mount API (fsopen/fsconfig "lowerdir+" by fd,
//     kernel >= 6.8) and fsmount'ed nodev: the result is an fd, attached to no mount tree.
//
// Runs as host root on the supervisor's thread that starts the machine; no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/result.h"
#include "supervisor/sandbox.h"

namespace privcast::supervisor {

// What LaunchSpec::image asks for.
struct ImageRootfs {
  std::vector<std::string> layers;  // unpacked layer directories, lowest first
  bool persist = false;             // keep the writable layer across starts
  uint32_t uid = 0, gid = 0;        // the image's User, resolved in its /etc/passwd
};

struct ImageRootInputs {
  const ImageRootfs* image = nullptr;
  std::string dir;  // the machine's state dir (holds image/upper, image/work)
  IdRange ids;
  int userns_fd = -1;  // the machine's user namespace (the layers' idmap)
  std::string hostname, hosts, resolv_conf;
  std::string working_dir = "/";
};

// Prepares the writable layer and returns the overlay as a detached mount.
Result<UniqueFd> PrepareImageRoot(const ImageRootInputs& in);

// Removes a machine's writable layer (destroy).
void RemoveImageRoot(const std::string& dir);

}  // namespace privcast::supervisor
