#include "supervisor/volume.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "supervisor/idmap.h"

namespace privcast::supervisor {

Result<UniqueFd> PrepareVolumeMount(const VolumeMount& v, int userns_fd) {
  if (v.destination.size() < 2 || v.destination[0] != '/')
    return InvalidArgument("volume destination must be an absolute path other than /, got '" + v.destination + "'");
  struct stat st;
  if (::lstat(v.source.c_str(), &st) != 0) return ErrnoStatus("volume storage " + v.source, errno);
  if (!S_ISDIR(st.st_mode)) return FailedPrecondition("volume storage " + v.source + " is not a directory");
  return IdmappedTree(v.source, userns_fd, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
}

}  // namespace privcast::supervisor
