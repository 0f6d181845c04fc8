// Spawn without namespaces or cgroups (no privileges needed): a plan with controlling_tty
// gives the process a session of its own whose controlling terminal is the pty slave on
// its stdin (so Ctrl-C on the pty is SIGINT to it); without the flag it has neither.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

#include "supervisor/launch.h"

namespace privcast::supervisor {
namespace {

struct Pty {
  UniqueFd master, slave;
  std::string name;
};

Pty OpenPty() {
  Pty p;
  p.master.reset(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  EXPECT_TRUE(p.master.valid());
  EXPECT_EQ(::grantpt(p.master.get()), 0);
  EXPECT_EQ(::unlockpt(p.master.get()), 0);
  p.name = ::ptsname(p.master.get());
  p.slave.reset(::open(p.name.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC));
  EXPECT_TRUE(p.slave.valid());
  return p;
}

// Fields 5..8 of /proc/<pid>/stat.
struct Stat {
  long pgrp = 0, session = 0, tty_nr = 0, tpgid = 0;
};

Stat ReadStat(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream rest(text.substr(text.rfind(')') + 2));
  std::string state;
  long ppid;
  Stat s;
  rest >> state >> ppid >> s.pgrp >> s.session >> s.tty_nr >> s.tpgid;
  return s;
}

// The kernel's encoding of a tty's device number in /proc/<pid>/stat (new_encode_dev).
long TtyNr(int fd) {
  struct stat st;
  EXPECT_EQ(::fstat(fd, &st), 0);
  unsigned maj = major(st.st_rdev), min = minor(st.st_rdev);
  return static_cast<long>((min & 0xff) | (maj << 8) | ((min & ~0xffu) << 12));
}

// Reads the master until `needle` shows up (bounded: a hang guard, not a timing check).
std::string ReadUntil(int fd, const std::string& needle) {
  std::string got;
  char buf[512];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (got.find(needle) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    struct pollfd p {
      fd, POLLIN, 0
    };
    if (::poll(&p, 1, 100) <= 0) continue;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

Result<Spawned> SpawnOnPty(const std::string& script, int slave, bool ctty) {
  SpawnPlan p;
  p.exec_path = "/bin/sh";
  p.argv = {"sh", "-c", script};
  p.env = {std::string("PATH=") + kDefaultPath};
  p.new_mount_ns = false;
  p.stdin_fd = p.stdout_fd = p.stderr_fd = slave;
  p.controlling_tty = ctty;
  return Spawn(p);
}

// Waits for the child's exit; one that is still there after the hang guard is killed and
// reported (its si_status then is SIGKILL, which no test expects).
siginfo_t Reap(const Spawned& s) {
  struct pollfd p {
    s.pidfd.get(), POLLIN, 0
  };
  if (::poll(&p, 1, 30000) != 1) {
    ADD_FAILURE() << "pid " << s.pid << " did not exit";
    ::kill(s.pid, SIGKILL);
  }
  siginfo_t si{};
  EXPECT_EQ(::waitid(P_PIDFD, static_cast<id_t>(s.pidfd.get()), &si, WEXITED), 0);
  return si;
}

TEST(Spawn, ControllingTtyGivesASessionWithThePtyAndCtrlCIsSigint) {
  Pty pty = OpenPty();
  auto s = SpawnOnPty("tty; exec sleep 100", pty.slave.get(), /*ctty=*/true);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  std::string out = ReadUntil(pty.master.get(), "\n");
  EXPECT_EQ(out.substr(0, out.find_first_of("\r\n")), pty.name);
  Stat st = ReadStat(s->pid);
  EXPECT_EQ(st.session, s->pid) << "not a session leader";
  EXPECT_EQ(st.pgrp, s->pid);
  EXPECT_EQ(st.tty_nr, TtyNr(pty.slave.get())) << "the pty is not its controlling terminal";
  EXPECT_EQ(st.tpgid, s->pid) << "not the pty's foreground process group";
  ASSERT_EQ(::write(pty.master.get(), "\x03", 1), 1);  // the line discipline's VINTR
  siginfo_t si = Reap(*s);
  EXPECT_EQ(si.si_code, CLD_KILLED);
  EXPECT_EQ(si.si_status, SIGINT);
}

TEST(Spawn, WithoutTheFlagNoSessionAndNoControllingTty) {
  Pty pty = OpenPty();
  auto s = SpawnOnPty("read x; exit 3", pty.slave.get(), /*ctty=*/false);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  Stat st = ReadStat(s->pid);
  EXPECT_EQ(st.pgrp, s->pid) << "own process group (setpgid)";
  EXPECT_NE(st.session, s->pid);
  EXPECT_NE(st.tty_nr, TtyNr(pty.slave.get()));
  // Ctrl-C on a pty that is nobody's controlling terminal signals nobody.
  ASSERT_EQ(::write(pty.master.get(), "\x03", 1), 1);
  ASSERT_EQ(::write(pty.master.get(), "x\n", 2), 2);
  siginfo_t si = Reap(*s);
  EXPECT_EQ(si.si_code, CLD_EXITED);
  EXPECT_EQ(si.si_status, 3);
}

TEST(Spawn, TheProgramGetsTheSpawnersCpuMaskNotThePinUsedForTheClone) {
  // Spawn runs the child on the spawner's CPU until exec; the program must not stay pinned.
  cpu_set_t mine;
  ASSERT_EQ(::sched_getaffinity(0, sizeof mine, &mine), 0);
  if (CPU_COUNT(&mine) < 2) GTEST_SKIP() << "one CPU: nothing is pinned";
  Pty pty = OpenPty();
  auto s = SpawnOnPty("exec sleep 100", pty.slave.get(), /*ctty=*/false);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  cpu_set_t child;
  EXPECT_EQ(::sched_getaffinity(s->pid, sizeof child, &child), 0);
  EXPECT_TRUE(CPU_EQUAL(&child, &mine)) << "child has " << CPU_COUNT(&child) << " CPUs, spawner " << CPU_COUNT(&mine);
  cpu_set_t after;
  ASSERT_EQ(::sched_getaffinity(0, sizeof after, &after), 0);
  EXPECT_TRUE(CPU_EQUAL(&after, &mine)) << "the spawner stayed pinned";
  ::kill(s->pid, SIGKILL);
  Reap(*s);
}

TEST(Spawn, ControllingTtyNeedsAFreshTerminal) {
  // A slave that already is another session's controlling terminal is refused (TIOCSCTTY
  // with arg 0 never steals): the first child holds it, the second fails at that step.
  Pty pty = OpenPty();
  auto first = SpawnOnPty("exec sleep 100", pty.slave.get(), true);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = SpawnOnPty("exit 0", pty.slave.get(), true);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("TIOCSCTTY"), std::string::npos) << second.status().ToString();
  ASSERT_EQ(::kill(first->pid, SIGKILL), 0);
  Reap(*first);
}

}  // namespace
}  // namespace privcast::supervisor
