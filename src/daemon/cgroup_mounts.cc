#include "daemon/cgroup_mounts.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/log.h"

namespace privcast::daemon {
namespace {

bool Exists(const std::string& p) {
  struct stat sb;
  return ::stat(p.c_str(), &sb) == 0;
}

bool IsMountPoint(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string id, parent, devno, root, mnt;
    ls >> id >> parent >> devno >> root >> mnt;
    if (mnt == path) return true;
  }
  return false;
}

Status MountOne(const char* source, const std::string& target, const char* type, const std::string& data) {
  ::mkdir(target.c_str(), 0755);
  if (::mount(source, target.c_str(), type, MS_NOSUID | MS_NODEV | MS_NOEXEC, data.empty() ? nullptr : data.c_str()) !=
      0) {
    if (errno == EBUSY) return Status::Ok();
    return ErrnoStatus("mount " + std::string(type) + " (" + data + ") on " + target, errno);
  }
  log::Info("daemon", "mounted cgroup hierarchy", {{"target", target}, {"type", type}, {"options", data}});
  return Status::Ok();
}

}  // namespace

Status EnsureCgroupMounts(const std::string& root) {
  std::ifstream in("/proc/self/cgroup");
  if (!in) return ErrnoStatus("read /proc/self/cgroup", errno);
  std::vector<std::string> v1;  // controller lists, e.g. "freezer", "cpu,cpuacct"
  bool has_v2_line = false;
  std::string line;
  while (std::getline(in, line)) {
    auto a = line.find(':');
    auto b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string ctrls = line.substr(a + 1, b - a - 1);
    if (ctrls.empty()) has_v2_line = true;
    else if (ctrls.rfind("name=", 0) != 0) v1.push_back(ctrls);
  }
  if (v1.empty()) {
    // Pure cgroup v2 host.
    if (Exists(root + "/cgroup.controllers")) return Status::Ok();
    return MountOne("cgroup2", root, "cgroup2", "");
  }
  bool missing = false;
  for (const auto& c : v1)
    if (!Exists(root + "/" + c + "/cgroup.procs")) missing = true;
  if (!missing) return Status::Ok();
  if (!IsMountPoint(root)) {
    if (::mount("tmpfs", root.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755") != 0)
      return ErrnoStatus("mount tmpfs on " + root, errno);
  }
  for (const auto& c : v1) {
    std::string dir = root + "/" + c;
    if (Exists(dir + "/cgroup.procs")) continue;
    PC_RETURN_IF_ERROR(MountOne("cgroup", dir, "cgroup", c));
    // "cpu,cpuacct" is also reachable as "cpu" and "cpuacct", as systemd arranges it.
    if (c.find(',') != std::string::npos) {
      std::stringstream ss(c);
      std::string part;
      while (std::getline(ss, part, ','))
        if (!Exists(root + "/" + part)) (void)!::symlink(c.c_str(), (root + "/" + part).c_str());
    }
  }
  if (has_v2_line && !Exists(root + "/unified/cgroup.procs"))
    (void)MountOne("cgroup2", root + "/unified", "cgroup2", "");
  return Status::Ok();
}

}  // namespace privcast::daemon
