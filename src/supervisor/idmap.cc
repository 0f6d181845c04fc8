#include "supervisor/idmap.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace privcast::supervisor {

Result<UniqueFd> IdmappedTree(const std::string& dir, int userns_fd, uint64_t attrs) {
  UniqueFd fd(static_cast<int>(::syscall(SYS_open_tree, AT_FDCWD, dir.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)));
  if (!fd) return ErrnoStatus("open_tree " + dir, errno);
  struct mount_attr a = {};
  a.attr_set = MOUNT_ATTR_IDMAP | attrs;
  a.userns_fd = static_cast<uint64_t>(userns_fd);
  if (::syscall(SYS_mount_setattr, fd.get(), "", AT_EMPTY_PATH, &a, sizeof a) != 0)
    return ErrnoStatus("idmapped mount of " + dir, errno);
  return fd;
}

}  // namespace privcast::supervisor
