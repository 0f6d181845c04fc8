// privcast-init: PID 1 of every sandboxed machine (docs/supervisor.md#sandbox).
//
//   privcast-init [-t] [-u UID:GID] -- PROGRAM [ARGS...]
//
// The supervisor execs this (statically linked, by file descriptor: it is not inside the
// machine's root) as the last step of a machine's setup, with the machine's environment,
// stdio, namespaces, seccomp filter and capabilities already in place. It
//   1. installs a no-op handler for every catchable signal and blocks them all: the kernel
//      drops a signal with the default action aimed at a PID namespace's init, so without
//      handlers kill_signal (SIGINT by default) would never arrive;
//   2. vforks the program (PATH lookup with the machine's PATH): with -t it gets a session of
//      its own with stdin (a pty slave) as controlling terminal, so Ctrl-C is SIGINT to its
//      foreground job; without it it stays in init's process group; with -u it runs as that
//      user and group (an image's User; its capabilities go with the uid change);
//   3. reports on fd 3 to the supervisor: "ok" once the program has exec'd, or "E<errno>" if
//      execvp failed (then exits 127); fd 3 is closed afterwards;
//   4. forwards every signal it receives to the program (SIGCHLD excepted), reaps every
//      child (orphans are re-parented to it), and exits with the program's status when the
//      program ends: its exit code, or 128 + signal. The kernel then kills whatever else is
//      left in the PID namespace.
// Only libc system-call wrappers are used: no allocation after start, no C++ runtime.
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <charconv>
#include <unistd.h>

namespace {

constexpr int kReportFd = 3;

void Noop(int) {}

void Report(const char* msg) {
  (void)!write(kReportFd, msg, strlen(msg));
  close(kReportFd);
}

// The command line: [-t] [-u UID:GID] [--] PROGRAM ARGS...
struct InitArgs {
  bool tty = false;
  bool as_user = false;
  unsigned long uid = 0, gid = 0;
  char** prog = nullptr;
};

// False (and E22 reported) on a malformed command line.
bool ParseArgs(int argc, char** argv, InitArgs* out) {
  int i = 1;
  for (; i < argc; ++i) {
    if (strcmp(argv[i], "-t") == 0) {
      out->tty = true;
    } else if (strcmp(argv[i], "-u") == 0 && i + 1 < argc) {
      // UID:GID, both decimal, nothing else (std::from_chars: no locale, no allocation).
      const char* s = argv[++i];
      const char* end = s + strlen(s);
      unsigned long u = 0, g = 0;
      auto [colon, e1] = std::from_chars(s, end, u);
      if (e1 != std::errc() || colon == s || colon == end || *colon != ':') {
        Report("E22");
        return false;
      }
      auto [last, e2] = std::from_chars(colon + 1, end, g);
      if (e2 != std::errc() || last == colon + 1 || last != end) {
        Report("E22");
        return false;
      }
      out->uid = u;
      out->gid = g;
      out->as_user = true;
    } else if (strcmp(argv[i], "--") == 0) {
      ++i;
      break;
    }
  }
  if (i >= argc) {
    Report("E22");
    return false;
  }
  out->prog = argv + i;
  return true;
}

// As init: forwards every signal but SIGCHLD to `child`, reaps every orphan, and returns the
// exit code for `child`'s end (128 + signal when killed).
int ForwardSignalsAndReap(pid_t child, const sigset_t& all) {
  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&all, &si);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      kill(child, sig);
      continue;
    }
    for (;;) {
      int status = 0;
      pid_t p = waitpid(-1, &status, WNOHANG);
      if (p <= 0) break;
      if (p != child) continue;
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  InitArgs args;
  if (!ParseArgs(argc, argv, &args)) return 127;
  // Read by the vfork child: volatile so the compiler keeps them in memory across vfork.
  volatile bool tty = args.tty;
  volatile bool as_user = args.as_user;
  volatile unsigned long uid = args.uid, gid = args.gid;
  char** prog = args.prog;
  // It is exec'd as /.privcast-init; show as what it is in ps and /proc/1/comm.
  (void)prctl(PR_SET_NAME, "privcast-init", 0, 0, 0);
  // The program must not inherit the report pipe: the supervisor waits for its EOF.
  (void)fcntl(kReportFd, F_SETFD, FD_CLOEXEC);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = Noop;
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  for (int s = 1; s < NSIG; ++s) {
    if (s == SIGKILL || s == SIGSTOP) continue;
    (void)sigaction(s, &sa, nullptr);
  }

  // Shared with the vfork child: it writes its execvp errno here before _exit.
  volatile int exec_errno = 0;
  pid_t child = vfork();
  if (child == 0) {
    if (tty) {
      if (setsid() < 0 || ioctl(0, TIOCSCTTY, 0) != 0) {
        exec_errno = errno;
        _exit(127);
      }
    }
    if (as_user) {
      gid_t g = static_cast<gid_t>(gid);
      if (setgroups(1, &g) != 0 || setresgid(g, g, g) != 0 ||
          setresuid(static_cast<uid_t>(uid), static_cast<uid_t>(uid), static_cast<uid_t>(uid)) != 0) {
        exec_errno = errno;
        _exit(127);
      }
    }
    // Handlers are reset to the default by exec; the mask is inherited, so clear it.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execvp(prog[0], prog);
    exec_errno = errno;
    _exit(127);
  }
  if (child < 0) {
    char msg[16];
    snprintf(msg, sizeof msg, "E%d", errno);
    Report(msg);
    return 127;
  }
  if (exec_errno != 0) {
    char msg[16];
    snprintf(msg, sizeof msg, "E%d", exec_errno);
    Report(msg);
    waitpid(child, nullptr, 0);
    return 127;
  }
  Report("ok");
  return ForwardSignalsAndReap(child, all);
}
