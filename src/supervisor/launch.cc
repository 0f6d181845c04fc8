#include "supervisor/launch.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/ids.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

namespace privcast::supervisor {
namespace {

// Steps the child reports on failure; names index kStepNames.
enum ChildStep : int32_t {
  kStepSignals, kStepSetsid, kStepCgroup, kStepSetns, kStepUnshare, kStepRslave, kStepTmp,
  kStepRun, kStepResolv, kStepHosts, kStepHostname, kStepStdio, kStepChdir, kStepCloexec,
  kStepExec,
};
const char* const kStepNames[] = {
    "reset signals", "setsid", "join cgroup", "setns(netns)", "unshare(mount|uts)",
    "make / rslave", "mount tmpfs /tmp", "mount tmpfs /run", "bind /etc/resolv.conf",
    "bind /etc/hosts", "sethostname", "stdio", "chdir", "close fds", "execve",
};

struct ChildError {
  int32_t step;
  int32_t err;
};

[[noreturn]] void ChildFail(int pipe_fd, ChildStep step) {
  ChildError e{step, errno};
  (void)!::write(pipe_fd, &e, sizeof e);
  ::_exit(127);
}

// Runs in the cloned child: raw system calls only, everything prepared by the parent.
[[noreturn]] void ChildMain(const SpawnPlan& p, int err_fd, char* const* argv, char* const* envp,
                            const char* resolv_src, const char* hosts_src) {
  sigset_t none;
  sigemptyset(&none);
  if (sigprocmask(SIG_SETMASK, &none, nullptr) != 0) ChildFail(err_fd, kStepSignals);
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; ++s) (void)sigaction(s, &dfl, nullptr);  // SIG_IGN survives exec
  if (::setsid() < 0) ChildFail(err_fd, kStepSetsid);
  for (int fd : p.cgroup_procs_fds) {
    if (::write(fd, "0", 1) != 1) ChildFail(err_fd, kStepCgroup);
  }
  if (p.netns_fd >= 0 && ::setns(p.netns_fd, CLONE_NEWNET) != 0) ChildFail(err_fd, kStepSetns);
  if (p.new_mount_ns) {
    if (::unshare(CLONE_NEWNS | CLONE_NEWUTS) != 0) ChildFail(err_fd, kStepUnshare);
    // Before any mount of ours: nothing we mount may propagate back to the host.
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) ChildFail(err_fd, kStepRslave);
    // Bind the generated files first: their source (the state dir) may be under /tmp, which
    // the tmpfs below hides. Bind mounts hold the file itself, so they stay valid.
    if (resolv_src && ::mount(resolv_src, "/etc/resolv.conf", nullptr, MS_BIND, nullptr) != 0) ChildFail(err_fd, kStepResolv);
    if (hosts_src && ::mount(hosts_src, "/etc/hosts", nullptr, MS_BIND, nullptr) != 0) ChildFail(err_fd, kStepHosts);
    if (::mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0) ChildFail(err_fd, kStepTmp);
    if (::mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755") != 0) ChildFail(err_fd, kStepRun);
    if (!p.hostname.empty() && ::sethostname(p.hostname.data(), p.hostname.size()) != 0) ChildFail(err_fd, kStepHostname);
  }
  // The parent gave us private duplicates >= 3, so these dup2 never clobber each other.
  if (p.stdin_fd >= 0 && ::dup2(p.stdin_fd, 0) < 0) ChildFail(err_fd, kStepStdio);
  if (p.stdout_fd >= 0 && ::dup2(p.stdout_fd, 1) < 0) ChildFail(err_fd, kStepStdio);
  if (p.stderr_fd >= 0 && ::dup2(p.stderr_fd, 2) < 0) ChildFail(err_fd, kStepStdio);
  if (::chdir(p.working_dir.c_str()) != 0) ChildFail(err_fd, kStepChdir);
  if (::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) ChildFail(err_fd, kStepCloexec);
  ::execve(p.exec_path.c_str(), argv, envp);
  ChildFail(err_fd, kStepExec);
}

}  // namespace

Status ValidateSpec(const LaunchSpec& s) {
  if (!ids::IsMachineId(s.machine_id) &&
      (s.machine_id.empty() || s.machine_id.size() > 64 ||
       s.machine_id.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos)) {
    return InvalidArgument("bad machine id '" + s.machine_id + "'");
  }
  if (s.argv.empty() && s.shell_command.empty()) return InvalidArgument("machine has no command");
  if (s.log_path.empty() && !s.stdio) return InvalidArgument("machine has no log path");
  if (s.kill_signal <= 0 || s.kill_signal >= NSIG) return InvalidArgument("bad kill_signal");
  if (s.kill_timeout < Duration::zero() || s.kill_timeout > std::chrono::seconds(300)) {
    return InvalidArgument("kill_timeout must be within 0..300 s");
  }
  if (s.working_dir.empty() || s.working_dir.front() != '/') return InvalidArgument("working dir must be absolute");
  return Status::Ok();
}

std::vector<std::string> BuildMachineEnv(const MachineEnvInputs& in) {
  std::vector<std::pair<std::string, std::string>> kv;
  auto set = [&kv](const std::string& k, const std::string& v) {
    for (auto& e : kv) {
      if (e.first == k) {
        e.second = v;
        return;
      }
    }
    kv.emplace_back(k, v);
  };
  const std::pair<const char*, const std::string*> fly[] = {
      {"FLY_APP_NAME", &in.app},           {"FLY_MACHINE_ID", &in.machine_id},
      {"FLY_REGION", &in.region},          {"FLY_PRIVATE_IP", &in.private_ip},
      {"FLY_PROCESS_GROUP", &in.process_group}, {"PRIMARY_REGION", &in.primary_region},
  };
  set("PATH", kDefaultPath);
  set("HOME", "/root");
  for (const auto& [k, v] : fly) set(k, *v);
  for (const auto& [k, v] : in.extra) {
    if (k.empty() || k.find('=') != std::string::npos) continue;
    set(k, v);
  }
  for (const auto& [k, v] : fly) set(k, *v);
  std::vector<std::string> out;
  out.reserve(kv.size());
  for (const auto& [k, v] : kv) out.push_back(k + "=" + v);
  return out;
}

std::string RenderResolvConf() { return "nameserver fdaa::3\n"; }

std::string RenderHosts(const std::string& six_pn, const std::string& machine_id) {
  std::string h =
      "127.0.0.1\tlocalhost\n"
      "::1\tlocalhost ip6-localhost ip6-loopback\n";
  h += six_pn + "\tfly-local-6pn\n";
  h += six_pn + "\t" + machine_id + "\n";
  return h;
}

Result<std::string> ResolveProgram(const std::string& argv0, const std::vector<std::string>& env) {
  if (argv0.empty()) return InvalidArgument("empty program name");
  if (argv0.find('/') != std::string::npos) return argv0;
  std::string path = kDefaultPath;
  for (const auto& e : env) {
    if (e.rfind("PATH=", 0) == 0) path = e.substr(5);
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    if (dir.empty()) dir = ".";
    std::string cand = dir + "/" + argv0;
    struct stat st;
    if (::stat(cand.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(cand.c_str(), X_OK) == 0) {
      return cand;
    }
    start = end + 1;
  }
  return NotFound("program '" + argv0 + "' not found in PATH " + path);
}

Result<Spawned> Spawn(const SpawnPlan& p) {
  // Everything the child touches is built here, before clone.
  std::vector<char*> argv, envp;
  for (const auto& a : p.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : p.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const std::string& resolv_src = p.resolv_path;
  const std::string& hosts_src = p.hosts_path;

  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return ErrnoStatus("pipe2", errno);
  UniqueFd rd(pipefd[0]), wr(pipefd[1]);

  int pidfd = -1;
  struct clone_args args;
  std::memset(&args, 0, sizeof args);
  args.flags = CLONE_PIDFD;
  args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  if (p.cgroup_dir_fd >= 0) {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = static_cast<uint64_t>(p.cgroup_dir_fd);
  }
  long pid = ::syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0) return ErrnoStatus("clone3", errno);
  if (pid == 0) {
    rd.release();  // do not run destructors' close in the child beyond what exec does
    ChildMain(p, wr.get(), argv.data(), envp.data(), resolv_src.empty() ? nullptr : resolv_src.c_str(),
              hosts_src.empty() ? nullptr : hosts_src.c_str());
  }
  wr.reset();
  Spawned out;
  out.pid = static_cast<pid_t>(pid);
  out.pidfd.reset(pidfd);

  ChildError e{};
  ssize_t n;
  do {
    n = ::read(rd.get(), &e, sizeof e);
  } while (n < 0 && errno == EINTR);
  if (n == 0) return out;  // EOF: execve succeeded and closed the CLOEXEC write end
  // The child failed and exits 127: reap it so no zombie is left.
  siginfo_t si;
  ::waitid(P_PIDFD, static_cast<id_t>(out.pidfd.get()), &si, WEXITED);
  if (n != static_cast<ssize_t>(sizeof e) || e.step < 0 ||
      e.step > static_cast<int32_t>(std::size(kStepNames)) - 1) {
    return Internal("machine child failed before exec (unreadable report)");
  }
  return ErrnoStatus(std::string("machine setup: ") + kStepNames[e.step] +
                         (e.step == kStepExec ? " " + p.exec_path : std::string()),
                     e.err);
}

}  // namespace privcast::supervisor
