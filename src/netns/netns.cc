#include "netns/netns.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <set>
#include <thread>

#include "common/file.h"
#include "common/mutex.h"

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

namespace privcast::netns {
namespace {

Status MkdirP(const std::string& dir) {
  std::string cur;
  size_t pos = 0;
  while (pos <= dir.size()) {
    size_t next = dir.find('/', pos);
    if (next == std::string::npos) next = dir.size();
    cur = dir.substr(0, next);
    pos = next + 1;
    if (cur.empty()) continue;
    if (::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoStatus("mkdir " + cur, errno);
  }
  return Status::Ok();
}

Mutex g_dirs_mu;
std::set<std::string> g_prepared_dirs GUARDED_BY(g_dirs_mu);

}  // namespace

Status PrepareDir(const std::string& dir) {
  MutexLock lock(&g_dirs_mu);
  if (g_prepared_dirs.count(dir)) return Status::Ok();
  PC_RETURN_IF_ERROR(MkdirP(dir));
  // Like iproute2: make the directory a shared mount point so umounts propagate.
  if (::mount("", dir.c_str(), "none", MS_SHARED | MS_REC, nullptr) != 0) {
    if (errno != EINVAL) return ErrnoStatus("mount --make-rshared " + dir, errno);
    if (::mount(dir.c_str(), dir.c_str(), "none", MS_BIND | MS_REC, nullptr) != 0)
      return ErrnoStatus("mount --rbind " + dir, errno);
    if (::mount("", dir.c_str(), "none", MS_SHARED | MS_REC, nullptr) != 0)
      return ErrnoStatus("mount --make-rshared " + dir, errno);
  }
  g_prepared_dirs.insert(dir);
  return Status::Ok();
}

Status ReleaseDir(const std::string& dir) {
  MutexLock lock(&g_dirs_mu);
  g_prepared_dirs.erase(dir);
  if (::umount2(dir.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
    return ErrnoStatus("umount " + dir, errno);
  return Status::Ok();
}

Status Create(const std::string& dir, const std::string& name, const std::function<Status()>& init) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
    return InvalidArgument("bad netns name '" + name + "'");
  PC_RETURN_IF_ERROR(PrepareDir(dir));
  std::string path = dir + "/" + name;
  int fd = ::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) {
    if (errno == EEXIST) return AlreadyExists("netns " + path + " already exists");
    return ErrnoStatus("create " + path, errno);
  }
  ::close(fd);
  Status st;
  std::thread t([&] {
    if (::unshare(CLONE_NEWNET) != 0) {
      st = ErrnoStatus("unshare(CLONE_NEWNET)", errno);
      return;
    }
    if (::mount("/proc/thread-self/ns/net", path.c_str(), "none", MS_BIND, nullptr) != 0) {
      st = ErrnoStatus("bind-mount netns on " + path, errno);
      return;
    }
    if (init) st = init();
  });
  t.join();
  if (!st.ok()) {
    (void)Delete(path);
    return st;
  }
  return Status::Ok();
}

Status Adopt(const std::string& dir, const std::string& name, int pid) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
    return InvalidArgument("bad netns name '" + name + "'");
  PC_RETURN_IF_ERROR(PrepareDir(dir));
  std::string path = dir + "/" + name;
  if (Exists(path)) return Status::Ok();
  int fd = ::open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus("create " + path, errno);
  ::close(fd);
  std::string src = "/proc/" + std::to_string(pid) + "/ns/net";
  if (::mount(src.c_str(), path.c_str(), "none", MS_BIND, nullptr) != 0) {
    int e = errno;
    ::unlink(path.c_str());
    return ErrnoStatus("bind-mount " + src + " on " + path, e);
  }
  return Status::Ok();
}

Status Delete(const std::string& path) {
  if (::umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
    return ErrnoStatus("umount " + path, errno);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoStatus("unlink " + path, errno);
  return Status::Ok();
}

bool Exists(const std::string& path) {
  struct statfs sfs;
  if (::statfs(path.c_str(), &sfs) != 0) return false;
  return static_cast<unsigned long>(sfs.f_type) == NSFS_MAGIC;
}

Result<UniqueFd> Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFound("netns " + path + " does not exist");
    return ErrnoStatus("open netns " + path, errno);
  }
  UniqueFd u(fd);
  struct statfs sfs;
  if (::fstatfs(fd, &sfs) != 0 || static_cast<unsigned long>(sfs.f_type) != NSFS_MAGIC)
    return NotFound(path + " is not a network namespace (not mounted)");
  return u;
}

Result<UniqueFd> OpenCurrent() {
  int fd = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open /proc/thread-self/ns/net", errno);
  return UniqueFd(fd);
}

Status RunIn(int nsfd, const std::function<Status()>& fn) {
  Status st;
  std::thread t([&] {
    if (::setns(nsfd, CLONE_NEWNET) != 0) {
      st = ErrnoStatus("setns(CLONE_NEWNET)", errno);
      return;
    }
    st = fn();
  });
  t.join();
  return st;
}

Result<UniqueFd> SocketIn(int nsfd, int domain, int type, int protocol) {
  UniqueFd out;
  Status st = RunIn(nsfd, [&]() -> Status {
    int s = ::socket(domain, type | SOCK_CLOEXEC, protocol);
    if (s < 0) return ErrnoStatus("socket", errno);
    out.reset(s);
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return out;
}

Status WriteSysctl(const std::string& key, const std::string& value) { return WriteFile("/proc/sys/" + key, value); }

}  // namespace privcast::netns
