#include "supervisor/image_root.h"

#include "supervisor/idmap.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

namespace privcast::supervisor {
namespace {

Status MkdirOwned(const std::string& p, mode_t mode, uint32_t owner) {
  if (::mkdir(p.c_str(), mode) != 0 && errno != EEXIST) return ErrnoStatus("mkdir " + p, errno);
  if (::chown(p.c_str(), owner, owner) != 0 || ::chmod(p.c_str(), mode) != 0) return ErrnoStatus("chown " + p, errno);
  return Status::Ok();
}

Status WriteOwned(const std::string& p, const std::string& data, mode_t mode, uint32_t owner) {
  ::unlink(p.c_str());
  UniqueFd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode));
  if (!fd) return ErrnoStatus("create " + p, errno);
  if (!data.empty() && ::write(fd.get(), data.data(), data.size()) != static_cast<ssize_t>(data.size()))
    return ErrnoStatus("write " + p, errno);
  if (::fchown(fd.get(), owner, owner) != 0 || ::fchmod(fd.get(), mode) != 0) return ErrnoStatus("chown " + p, errno);
  return Status::Ok();
}

// Is `rel` (no leading '/') a directory in any layer? (Whiteouts are not followed: good
// enough for "does the image have its WorkingDir".)
bool InSomeLayer(const std::vector<std::string>& layers, const std::string& rel) {
  for (const auto& l : layers) {
    struct stat st;
    if (::lstat((l + "/" + rel).c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return true;
  }
  return false;
}

Status FsConfigFd(int fs, const char* key, int fd) {
  if (::syscall(SYS_fsconfig, fs, FSCONFIG_SET_FD, key, nullptr, fd) != 0)
    return ErrnoStatus(std::string("overlay ") + key, errno);
  return Status::Ok();
}

}  // namespace

void RemoveImageRoot(const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir + "/image", ec);
}

Result<UniqueFd> PrepareImageRoot(const ImageRootInputs& in) {
  const ImageRootfs& img = *in.image;
  if (img.layers.empty()) return InvalidArgument("image has no layers");
  const std::string base = in.dir + "/image", upper = base + "/upper", work = base + "/work";
  const uint32_t root = in.ids.base;
  if (!img.persist) RemoveImageRoot(in.dir);
  if (::mkdir(base.c_str(), 0700) != 0 && errno != EEXIST) return ErrnoStatus("mkdir " + base, errno);
  // The upper dir's own attributes are what the machine sees for "/": its root's.
  PC_RETURN_IF_ERROR(MkdirOwned(upper, 0755, root));
  if (::mkdir(work.c_str(), 0700) != 0 && errno != EEXIST) return ErrnoStatus("mkdir " + work, errno);
  for (const char* d : {"/proc", "/sys", "/dev", "/etc"}) {
    struct stat st;
    if (::lstat((upper + d).c_str(), &st) == 0) continue;  // persisted
    PC_RETURN_IF_ERROR(MkdirOwned(upper + d, d[1] == 'p' || d[1] == 's' ? 0555 : 0755, root));
  }
  PC_RETURN_IF_ERROR(WriteOwned(upper + "/etc/hostname", in.hostname + "\n", 0644, root));
  PC_RETURN_IF_ERROR(WriteOwned(upper + "/etc/hosts", in.hosts, 0644, root));
  PC_RETURN_IF_ERROR(WriteOwned(upper + "/etc/resolv.conf", in.resolv_conf, 0644, root));
  PC_RETURN_IF_ERROR(WriteOwned(upper + kInitInRoot, "", 0755, root));
  if (in.working_dir.size() > 1) {
    std::string rel = in.working_dir.substr(1);
    if (!InSomeLayer(img.layers, rel)) {
      std::string cur = upper;
      size_t i = 0;
      while (i < rel.size()) {
        size_t j = rel.find('/', i);
        if (j == std::string::npos) j = rel.size();
        cur += "/" + rel.substr(i, j - i);
        if (::mkdir(cur.c_str(), 0755) == 0) (void)::chown(cur.c_str(), root + img.uid, root + img.gid);
        i = j + 1;
      }
    }
  }

  UniqueFd fs(static_cast<int>(::syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC)));
  if (!fs) return ErrnoStatus("fsopen(overlay)", errno);
  // "lowerdir+" stacks downwards: the first one given is the topmost layer. The detached
  // idmapped mounts must stay open until the overlay is created: closing the last fd of a
  // detached mount dissolves it, and overlayfs then cannot clone it.
  std::vector<UniqueFd> layers;
  for (auto it = img.layers.rbegin(); it != img.layers.rend(); ++it) {
    PC_ASSIGN_OR_RETURN(UniqueFd layer, IdmappedTree(*it, in.userns_fd, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV));
    PC_RETURN_IF_ERROR(FsConfigFd(fs.get(), "lowerdir+", layer.get()));
    layers.push_back(std::move(layer));
  }
  UniqueFd up(::open(upper.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  UniqueFd wk(::open(work.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!up || !wk) return ErrnoStatus("open " + base, errno);
  PC_RETURN_IF_ERROR(FsConfigFd(fs.get(), "upperdir", up.get()));
  PC_RETURN_IF_ERROR(FsConfigFd(fs.get(), "workdir", wk.get()));
  if (::syscall(SYS_fsconfig, fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0)
    return ErrnoStatus("create overlay", errno);
  UniqueFd mnt(static_cast<int>(::syscall(SYS_fsmount, fs.get(), FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV)));
  if (!mnt) return ErrnoStatus("fsmount(overlay)", errno);
  return mnt;
}

}  // namespace privcast::supervisor
