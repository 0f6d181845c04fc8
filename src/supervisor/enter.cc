#include "supervisor/enter.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/fd.h"

namespace privcast::supervisor {
namespace {

enum Step : int32_t {
  kSignals,
  kCgroup,
  kRlimit,
  kSetnsNet,
  kSetnsUts,
  kSetnsIpc,
  kSetnsCgroup,
  kSetnsPid,
  kSetnsMnt,
  kSetnsUser,
  kIds,
  kFork,
  kPdeathsig,
  kSetsid,
  kStdio,
  kCtty,
  kChdir,
  kCloexec,
  kCaps,
  kNoNewPrivs,
  kSeccomp,
  kExec,
};
constexpr const char* kStepNames[] = {
    "reset signals",
    "join cgroup",
    "set RLIMIT_NOFILE",
    "join network namespace",
    "join UTS namespace",
    "join IPC namespace",
    "join cgroup namespace",
    "join PID namespace",
    "join mount namespace",
    "join user namespace",
    "become the machine's root",
    "fork",
    "set parent-death signal",
    "setsid",
    "stdio",
    "set controlling terminal",
    "chdir",
    "mark fds close-on-exec",
    "drop capabilities",
    "set no_new_privs",
    "install seccomp filter",
    "execve",
};

struct Report {
  int32_t step;  // kStarted: `err` is P's pid (R's view: the host's PID namespace)
  int32_t err;
};
constexpr int32_t kStarted = -1;

// The namespaces, in the order they are joined: the user namespace last (the others belong
// to the host's user namespace, whose root we still are until then).
constexpr struct {
  const char* file;
  int type;
  Step step;
} kNamespaces[] = {
    {"net", CLONE_NEWNET, kSetnsNet},          {"uts", CLONE_NEWUTS, kSetnsUts}, {"ipc", CLONE_NEWIPC, kSetnsIpc},
    {"cgroup", CLONE_NEWCGROUP, kSetnsCgroup}, {"pid", CLONE_NEWPID, kSetnsPid}, {"mnt", CLONE_NEWNS, kSetnsMnt},
    {"user", CLONE_NEWUSER, kSetnsUser},
};
constexpr size_t kNs = std::size(kNamespaces);

struct Prepared {
  const EnterPlan* plan;
  int ns_fds[kNs];
  int report_fd;
  struct rlimit nofile;
  char* const* argv;
  char* const* envp;
};

[[noreturn]] void Fail(const Prepared& p, Step step) {
  Report r{step, errno};
  (void)!::write(p.report_fd, &r, sizeof r);
  ::_exit(127);
}

// P: in the machine's PID namespace already; lock down like the sandbox, then exec.
[[noreturn]] void Program(const Prepared& p) {
  const EnterPlan& e = *p.plan;
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) Fail(p, kPdeathsig);
  if (e.controlling_tty) {
    if (::setsid() < 0) Fail(p, kSetsid);
  } else if (::setpgid(0, 0) != 0) {
    Fail(p, kSetsid);
  }
  if ((e.stdin_fd >= 0 && ::dup2(e.stdin_fd, 0) < 0) || (e.stdout_fd >= 0 && ::dup2(e.stdout_fd, 1) < 0) ||
      (e.stderr_fd >= 0 && ::dup2(e.stderr_fd, 2) < 0))
    Fail(p, kStdio);
  if (e.controlling_tty && ::ioctl(0, TIOCSCTTY, 0) != 0) Fail(p, kCtty);
  if (::chdir(e.working_dir.c_str()) != 0) Fail(p, kChdir);
  if (::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) Fail(p, kCloexec);
  for (int cap = 0; cap < 64; ++cap) {
    if (e.capability_bounding & (1ULL << cap)) continue;
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) Fail(p, kCaps);
  }
  (void)::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  ::umask(022);
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) Fail(p, kNoNewPrivs);
  if (e.seccomp) {
    sock_fprog prog = e.seccomp->prog();
    if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) Fail(p, kSeccomp);
  }
  ::execve(p.argv[0], p.argv, p.envp);
  Fail(p, kExec);
}

// R: joins everything, forks P, relays its status.
[[noreturn]] void Relay(const Prepared& p) {
  const EnterPlan& e = *p.plan;
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; ++s) (void)::sigaction(s, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  if (::sigprocmask(SIG_SETMASK, &none, nullptr) != 0) Fail(p, kSignals);
  for (int fd : e.cgroup_attach_fds)
    if (::write(fd, "0", 1) != 1) Fail(p, kCgroup);
  // Raising the hard limit needs CAP_SYS_RESOURCE in the host's user namespace: now.
  if (::setrlimit(RLIMIT_NOFILE, &p.nofile) != 0) Fail(p, kRlimit);
  for (size_t i = 0; i < kNs; ++i)
    if (::setns(p.ns_fds[i], kNamespaces[i].type) != 0) Fail(p, kNamespaces[i].step);
  // Raw system calls: same reason as the sandbox (no libc per-thread broadcast).
  if (::syscall(SYS_setgroups, 0, nullptr) != 0 || ::syscall(SYS_setresgid, 0, 0, 0) != 0 ||
      ::syscall(SYS_setresuid, 0, 0, 0) != 0)
    Fail(p, kIds);
  pid_t child = ::fork();
  if (child < 0) Fail(p, kFork);
  if (child == 0) Program(p);
  Report started{kStarted, child};
  (void)!::write(p.report_fd, &started, sizeof started);
  // R keeps no descriptor at all: it is a copy of the daemon, whose sockets and files must
  // not stay open in it (clients would miss EOFs), and P's exec (or failure) alone must
  // close the report pipe.
  (void)::syscall(SYS_close_range, 0U, ~0U, 0U);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) ::_exit(WEXITSTATUS(status));
  ::_exit(WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 127);
}

std::vector<char*> CStrings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

Result<EnteredProcess> EnterMachine(const EnterPlan& plan) {
  if (plan.target <= 0) return InvalidArgument("enter machine: no process to enter");
  if (plan.argv.empty() || plan.argv[0].empty() || plan.argv[0][0] != '/')
    return InvalidArgument("enter machine: the program must be an absolute path");
  UniqueFd ns[kNs];
  Prepared p{};
  p.plan = &plan;
  for (size_t i = 0; i < kNs; ++i) {
    std::string path = "/proc/" + std::to_string(plan.target) + "/ns/" + kNamespaces[i].file;
    ns[i].reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns[i]) return ErrnoStatus("enter machine: open " + path, errno);
    p.ns_fds[i] = ns[i].get();
  }
  if (::prlimit(plan.target, RLIMIT_NOFILE, nullptr, &p.nofile) != 0)
    return ErrnoStatus("enter machine: read the machine's RLIMIT_NOFILE", errno);
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return ErrnoStatus("enter machine: pipe", errno);
  UniqueFd rd(pipefd[0]), wr(pipefd[1]);
  p.report_fd = wr.get();
  auto argv = CStrings(plan.argv);
  auto envp = CStrings(plan.env);
  p.argv = argv.data();
  p.envp = envp.data();
  pid_t pid = ::fork();
  if (pid < 0) return ErrnoStatus("enter machine: fork", errno);
  if (pid == 0) Relay(p);
  wr.reset();
  EnteredProcess out;
  out.relay = pid;
  out.relay_fd.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  // R reports P's pid once it forked it, then either P's failure or nothing (its exec closed
  // the pipe: EOF).
  Report r{};
  ssize_t n;
  for (;;) {
    while ((n = ::read(rd.get(), &r, sizeof r)) < 0 && errno == EINTR) {
    }
    if (n != static_cast<ssize_t>(sizeof r) || r.step != kStarted) break;
    out.program = r.err;
  }
  if (n == static_cast<ssize_t>(sizeof r)) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    const char* step = r.step >= 0 && static_cast<size_t>(r.step) < std::size(kStepNames) ? kStepNames[r.step] : "?";
    return ErrnoStatus(std::string("enter machine: ") + step, r.err);
  }
  if (!out.relay_fd || out.program <= 0) {
    int err = out.relay_fd ? ECHILD : errno;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return ErrnoStatus("enter machine: pidfd_open", err);
  }
  return out;
}

}  // namespace privcast::supervisor
