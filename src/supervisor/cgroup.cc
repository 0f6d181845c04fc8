#include "supervisor/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <sstream>

#include "common/fd.h"
#include "common/file.h"
#include "common/log.h"
#include "supervisor/kernel_wait.h"

namespace privcast::supervisor {
namespace {

constexpr const char* kComp = "supervisor";

bool Exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

Result<std::vector<pid_t>> ReadPids(const std::string& file) {
  PC_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
  std::vector<pid_t> out;
  std::istringstream in(text);
  long v;
  while (in >> v) out.push_back(static_cast<pid_t>(v));
  return out;
}

// The calling process's cgroup path in the hierarchy holding `controller` ("" = v2).
Result<std::string> OwnCgroup(const std::string& controller) {
  PC_ASSIGN_OR_RETURN(std::string text, ReadFile("/proc/self/cgroup"));
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto a = line.find(':');
    auto b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string ctrls = line.substr(a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    if (controller.empty()) {
      if (line.compare(0, a, "0") == 0 && ctrls.empty()) return path;
      continue;
    }
    std::istringstream cs(ctrls);
    std::string c;
    while (std::getline(cs, c, ',')) {
      if (c == controller) return path;
    }
  }
  return NotFound("no cgroup for controller '" + controller + "' in /proc/self/cgroup");
}

// A zombie may still be listed as a member; it cannot be killed further.
bool IsZombie(pid_t pid) {
  auto text = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!text.ok()) return true;  // gone
  size_t close = text->rfind(')');
  return close != std::string::npos && close + 2 < text->size() &&
         ((*text)[close + 2] == 'Z' || (*text)[close + 2] == 'X');
}

std::string Join(const std::string& a, const std::string& b) {
  if (b.empty() || b == "/") return a;
  if (!a.empty() && a.back() == '/') return a + (b.front() == '/' ? b.substr(1) : b);
  return b.front() == '/' ? a + b : a + "/" + b;
}

Status Mkdir(const std::string& p) {
  if (::mkdir(p.c_str(), 0755) == 0 || errno == EEXIST) return Status::Ok();
  return ErrnoStatus("mkdir " + p, errno);
}

}  // namespace

// ---- MachineCgroup ----

Status MachineCgroup::Create() const {
  for (const auto& d : dirs_) PC_RETURN_IF_ERROR(Mkdir(d));
  return Status::Ok();
}

Status MachineCgroup::ApplyLimits(const CgroupLimits& l) const {
  auto warn_or = [](const std::string& file, Status st) {
    // A controller the kernel (or the v2 parent) does not give us: the limit cannot be
    // enforced, which is logged, not fatal (docs/supervisor.md).
    if (!st.ok() && !Exists(file)) {
      log::Warn(kComp, "cgroup limit not available", {{"file", file}});
      return Status::Ok();
    }
    return st;
  };
  const int64_t period = 100000;
  if (version_ == CgroupVersion::kV2) {
    const std::string& d = dirs_.front();
    std::string mem = l.memory_mb > 0 ? std::to_string(l.memory_mb * 1024 * 1024) : "max";
    PC_RETURN_IF_ERROR(warn_or(d + "/memory.max", WriteFile(d + "/memory.max", mem)));
    std::string cpu = l.cpus > 0 ? std::to_string(std::llround(l.cpus * period)) + " " + std::to_string(period)
                                 : "max " + std::to_string(period);
    PC_RETURN_IF_ERROR(warn_or(d + "/cpu.max", WriteFile(d + "/cpu.max", cpu)));
    // Weight in proportion to the CPUs asked for (100 = one CPU, the kernel's default).
    std::string weight = std::to_string(l.cpus > 0 ? std::clamp<long long>(std::llround(l.cpus * 100), 1, 10000) : 100);
    PC_RETURN_IF_ERROR(warn_or(d + "/cpu.weight", WriteFile(d + "/cpu.weight", weight)));
    std::string pids = l.pids_max > 0 ? std::to_string(l.pids_max) : "max";
    PC_RETURN_IF_ERROR(warn_or(d + "/pids.max", WriteFile(d + "/pids.max", pids)));
    return Status::Ok();
  }
  for (size_t i = 0; i < dirs_.size() && i < controllers_.size(); ++i) {
    const std::string& d = dirs_[i];
    const std::string& c = controllers_[i];
    if (c == "memory") {
      std::string mem = l.memory_mb > 0 ? std::to_string(l.memory_mb * 1024 * 1024) : "-1";
      PC_RETURN_IF_ERROR(warn_or(d + "/memory.limit_in_bytes", WriteFile(d + "/memory.limit_in_bytes", mem)));
    } else if (c == "cpu") {
      PC_RETURN_IF_ERROR(
          warn_or(d + "/cpu.cfs_period_us", WriteFile(d + "/cpu.cfs_period_us", std::to_string(period))));
      std::string quota = l.cpus > 0 ? std::to_string(std::llround(l.cpus * period)) : "-1";
      PC_RETURN_IF_ERROR(warn_or(d + "/cpu.cfs_quota_us", WriteFile(d + "/cpu.cfs_quota_us", quota)));
      std::string shares = std::to_string(l.cpus > 0 ? std::max<long long>(2, std::llround(l.cpus * 1024)) : 1024);
      PC_RETURN_IF_ERROR(warn_or(d + "/cpu.shares", WriteFile(d + "/cpu.shares", shares)));
    } else if (c == "pids") {
      std::string pids = l.pids_max > 0 ? std::to_string(l.pids_max) : "max";
      PC_RETURN_IF_ERROR(warn_or(d + "/pids.max", WriteFile(d + "/pids.max", pids)));
    }
  }
  return Status::Ok();
}

Result<std::vector<pid_t>> MachineCgroup::Procs() const { return ReadPids(freezer_dir_ + "/cgroup.procs"); }

bool MachineCgroup::Contains(pid_t pid) const {
  for (const auto& d : dirs_) {
    auto pids = ReadPids(d + "/cgroup.procs");
    if (!pids.ok()) return false;
    bool found = false;
    for (pid_t p : *pids) found = found || p == pid;
    if (!found) return false;
  }
  return !dirs_.empty();
}

Result<bool> MachineCgroup::Frozen() const {
  if (version_ == CgroupVersion::kV2) {
    PC_ASSIGN_OR_RETURN(std::string ev, ReadFile(freezer_dir_ + "/cgroup.events"));
    return ev.find("frozen 1") != std::string::npos;
  }
  PC_ASSIGN_OR_RETURN(std::string st, ReadFile(freezer_dir_ + "/freezer.state"));
  return st.rfind("FROZEN", 0) == 0;
}

Status MachineCgroup::Freeze(Duration timeout) const {
  if (version_ == CgroupVersion::kV2) {
    // cgroup.events raises POLLPRI when it changes: wait on that, not on a timer.
    std::string events = freezer_dir_ + "/cgroup.events";
    UniqueFd fd(::open(events.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return ErrnoStatus("open " + events, errno);
    PC_RETURN_IF_ERROR(WriteFile(freezer_dir_ + "/cgroup.freeze", "1"));
    KernelDeadline deadline(timeout);
    for (;;) {
      PC_ASSIGN_OR_RETURN(bool frozen, Frozen());
      if (frozen) return Status::Ok();
      std::optional<int> left = deadline.NextPollMs();
      if (!left) return Unavailable("cgroup did not freeze in time: " + freezer_dir_);
      char buf[256];
      ::lseek(fd.get(), 0, SEEK_SET);
      (void)!::read(fd.get(), buf, sizeof buf);  // re-arm the notification
      struct pollfd p = {fd.get(), POLLPRI, 0};
      ::poll(&p, 1, *left);
    }
  }
  PC_RETURN_IF_ERROR(WriteFile(freezer_dir_ + "/freezer.state", "FROZEN"));
  // v1 has no notification: FREEZING turns into FROZEN on its own, usually within µs.
  Backoff b(timeout);
  do {
    PC_ASSIGN_OR_RETURN(bool frozen, Frozen());
    if (frozen) return Status::Ok();
  } while (b.Next());
  return Unavailable("cgroup did not freeze in time: " + freezer_dir_);
}

Status MachineCgroup::Thaw() const {
  if (version_ == CgroupVersion::kV2) return WriteFile(freezer_dir_ + "/cgroup.freeze", "0");
  return WriteFile(freezer_dir_ + "/freezer.state", "THAWED");
}

Status MachineCgroup::KillAll(Duration timeout) const {
  if (!Exists(freezer_dir_)) return Status::Ok();
  if (version_ == CgroupVersion::kV2 && Exists(freezer_dir_ + "/cgroup.kill")) {
    std::string events = freezer_dir_ + "/cgroup.events";
    UniqueFd fd(::open(events.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return ErrnoStatus("open " + events, errno);
    {
      PC_ASSIGN_OR_RETURN(std::string ev, ReadFile(events));
      if (ev.find("populated 0") != std::string::npos) return Status::Ok();
    }
    PC_RETURN_IF_ERROR(WriteFile(freezer_dir_ + "/cgroup.kill", "1"));
    KernelDeadline deadline(timeout);
    for (;;) {
      PC_ASSIGN_OR_RETURN(std::string ev, ReadFile(events));
      if (ev.find("populated 0") != std::string::npos) return Status::Ok();
      std::optional<int> left = deadline.NextPollMs();
      if (!left) return Unavailable("cgroup not empty after kill: " + freezer_dir_);
      char buf[256];
      ::lseek(fd.get(), 0, SEEK_SET);
      (void)!::read(fd.get(), buf, sizeof buf);
      struct pollfd p = {fd.get(), POLLPRI, 0};
      ::poll(&p, 1, *left);
    }
  }
  // Frozen tasks do not die on v1 until thawed; thawing first also lets v2 tasks run their
  // exit path. Then SIGKILL whatever is listed until the list stays empty (a task may fork
  // between our read and our kill; the next round gets the child).
  (void)Thaw();
  Backoff b(timeout);
  do {
    PC_ASSIGN_OR_RETURN(std::vector<pid_t> pids, Procs());
    size_t alive = 0;
    for (pid_t p : pids) {
      if (IsZombie(p)) continue;  // dead, waiting for its parent to reap it
      ++alive;
      ::kill(p, SIGKILL);
    }
    if (alive == 0) return Status::Ok();
  } while (b.Next());
  return Unavailable("cgroup not empty after kill: " + freezer_dir_);
}

Status MachineCgroup::Remove(Duration timeout) const {
  Status first;
  for (const auto& d : dirs_) {
    Backoff b(timeout);
    for (;;) {
      if (::rmdir(d.c_str()) == 0 || errno == ENOENT) break;
      int err = errno;
      if (err == EBUSY && b.Next()) continue;
      if (first.ok()) first = ErrnoStatus("rmdir " + d, err);
      break;
    }
  }
  return first;
}

// ---- CgroupManager ----

Result<CgroupManager> CgroupManager::Open(const CgroupOptions& o) {
  if (o.root_name.empty() || o.root_name.find('/') != std::string::npos || o.root_name == "." || o.root_name == "..") {
    return InvalidArgument("cgroup root name must be one path component: '" + o.root_name + "'");
  }
  CgroupManager m;
  m.version_ = o.version.value_or(Exists(o.mount + "/cgroup.controllers") ? CgroupVersion::kV2 : CgroupVersion::kV1);
  if (m.version_ == CgroupVersion::kV2) {
    std::string parent;
    if (o.parent) {
      parent = *o.parent;
    } else {
      PC_ASSIGN_OR_RETURN(parent, OwnCgroup(""));
    }
    std::string pdir = Join(o.mount, parent);
    std::string root = Join(pdir, o.root_name);
    PC_RETURN_IF_ERROR(Mkdir(root));
    // Delegate the controllers we limit with to our subtree. The parent may refuse (it
    // holds processes, or lacks the controller): limits are then logged as unavailable.
    auto avail = ReadFile(pdir + "/cgroup.controllers");
    if (avail.ok()) {
      for (const char* c : {"memory", "cpu", "pids"}) {
        if (avail->find(c) == std::string::npos) continue;
        std::string add = std::string("+") + c;
        (void)WriteFile(pdir + "/cgroup.subtree_control", add);
        (void)WriteFile(root + "/cgroup.subtree_control", add);
      }
    }
    m.root_dirs_.push_back(root);
    return m;
  }
  for (const char* c : kV1Controllers) {
    std::string mount = o.mount + "/" + c;
    if (!Exists(mount + "/cgroup.procs")) {
      if (std::string(c) == "freezer") return FailedPrecondition("cgroup v1 freezer not mounted at " + mount);
      log::Warn(kComp, "cgroup v1 controller not mounted; its limit is not applied", {{"controller", c}});
      continue;
    }
    std::string parent;
    if (o.parent) {
      parent = *o.parent;
    } else {
      PC_ASSIGN_OR_RETURN(parent, OwnCgroup(c));
    }
    std::string root = Join(Join(mount, parent), o.root_name);
    PC_RETURN_IF_ERROR(Mkdir(root));
    m.root_dirs_.push_back(root);
    m.controllers_.push_back(c);
  }
  std::string pin = m.root_dirs_.back() + "/" + kFreezerPin;
  if (Status st = Mkdir(pin); st.ok()) {
    if (Status fz = WriteFile(pin + "/freezer.state", "FROZEN"); !fz.ok()) {
      log::Warn(kComp, "freezer pin not frozen; suspend/resume will be slow", {{"error", fz.ToString()}});
    }
  } else {
    log::Warn(kComp, "freezer pin not created; suspend/resume will be slow", {{"error", st.ToString()}});
  }
  return m;
}

MachineCgroup CgroupManager::For(const std::string& machine_id) const {
  std::vector<std::string> dirs;
  for (const auto& r : root_dirs_) dirs.push_back(r + "/" + machine_id);
  return MachineCgroup(version_, std::move(dirs), controllers_);
}

Status CgroupManager::RemoveRootIfEmpty() const {
  // Any machine cgroup left (in any hierarchy): keep everything, including the pin.
  for (const auto& r : root_dirs_) {
    DIR* d = ::opendir(r.c_str());
    if (!d) continue;
    bool busy = false;
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (e->d_type == DT_DIR && n != "." && n != ".." && n != kFreezerPin) busy = true;
    }
    ::closedir(d);
    if (busy) return Status::Ok();
  }
  if (version_ == CgroupVersion::kV1 && !root_dirs_.empty()) {
    std::string pin = root_dirs_.back() + "/" + kFreezerPin;
    if (Exists(pin)) {
      (void)WriteFile(pin + "/freezer.state", "THAWED");
      if (::rmdir(pin.c_str()) != 0 && errno != ENOENT) return ErrnoStatus("rmdir " + pin, errno);
    }
  }
  for (const auto& r : root_dirs_) {
    if (::rmdir(r.c_str()) != 0 && errno != ENOENT && errno != ENOTEMPTY && errno != EBUSY) {
      return ErrnoStatus("rmdir " + r, errno);
    }
  }
  return Status::Ok();
}

}  // namespace privcast::supervisor
