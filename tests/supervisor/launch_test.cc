// Pure parts of launching: environment, generated files, runtime record, /proc parsing.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "supervisor/launch.h"
#include "supervisor/record.h"

namespace privcast::supervisor {
namespace {

TEST(MachineEnv, ExactListAndOverrides) {
  MachineEnvInputs in;
  in.app = "web";
  in.machine_id = "0123456789abcd";
  in.region = "ams";
  in.private_ip = "fdaa:1:2:3::2";
  in.process_group = "app";
  in.primary_region = "ams";
  in.extra = {{"FOO", "bar"}, {"PATH", "/opt/bin"}, {"FLY_MACHINE_ID", "spoofed"}, {"A=B", "x"}, {"", "y"}};
  std::vector<std::string> want = {
      "PATH=/opt/bin",
      "HOME=/root",
      "FLY_APP_NAME=web",
      "FLY_MACHINE_ID=0123456789abcd",
      "FLY_REGION=ams",
      "FLY_PRIVATE_IP=fdaa:1:2:3::2",
      "FLY_PROCESS_GROUP=app",
      "PRIMARY_REGION=ams",
      "FOO=bar",
  };
  EXPECT_EQ(BuildMachineEnv(in), want);
}

TEST(MachineFiles, ResolvAndHosts) {
  EXPECT_EQ(RenderResolvConf(), "nameserver fdaa::3\n");
  std::string h = RenderHosts("fdaa:1:2:3::2", "0123456789abcd");
  EXPECT_NE(h.find("127.0.0.1\tlocalhost\n"), std::string::npos);
  EXPECT_NE(h.find("fdaa:1:2:3::2\tfly-local-6pn\n"), std::string::npos);
  EXPECT_NE(h.find("fdaa:1:2:3::2\t0123456789abcd\n"), std::string::npos);
}

// A command under the host's /tmp (a checkout cloned there) does not exist
// inside a sandboxed machine, which sees only the host's /usr; it is refused up front, saying why.
TEST(ProgramInMachine, RefusesWhatTheMachineCannotSeeOrRun) {
  char dir[] = "/tmp/pc-prog-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  std::string prog = std::string(dir) + "/hello";
  std::ofstream(prog) << "#!/bin/sh\necho hi\n";
  ASSERT_EQ(::chmod(prog.c_str(), 0755), 0);

  EXPECT_TRUE(CheckProgramInMachine("/bin/sh", {}).ok());
  EXPECT_TRUE(CheckProgramInMachine("sh", {}).ok());      // kDefaultPath
  EXPECT_TRUE(CheckProgramInMachine("bin/sh", {}).ok());  // relative to the working directory "/"

  Status st = CheckProgramInMachine(prog, {});
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  const std::string not_visible =
      "does not exist inside the machine: a machine sees only the host's /usr (read-only; /bin, /sbin "
      "and /lib* as the host links them) and its own /etc, /tmp, /run and /var (docs/security.md); "
      "install the program under /usr/local, e.g. /usr/local/libexec/<app>/";
  EXPECT_EQ(st.message(), "command \"" + prog + "\" " + not_visible);
  // The host's /etc and /opt are not the machine's either.
  EXPECT_EQ(CheckProgramInMachine("/etc/passwd", {}).message(), "command \"/etc/passwd\" " + not_visible);
  st = CheckProgramInMachine("hello", {"PATH=" + std::string(dir) + ":/usr/bin"});
  EXPECT_NE(st.message().find("is found only at " + prog + ", which does not exist inside the machine"),
            std::string::npos)
      << st.message();
  st = CheckProgramInMachine("/usr/nonexistent/privcast-prog", {});
  EXPECT_EQ(st.message(),
            "command \"/usr/nonexistent/privcast-prog\" does not exist inside the machine (No such file or directory)");
  st = CheckProgramInMachine("/usr/include/stdio.h", {});
  EXPECT_EQ(st.message(), "command \"/usr/include/stdio.h\" is not an executable file");
  st = CheckProgramInMachine("privcast-no-such-program", {"PATH=/usr/bin:/bin"});
  EXPECT_EQ(st.message(), "command \"privcast-no-such-program\" is not found in the machine's PATH (/usr/bin:/bin)");
  EXPECT_FALSE(CheckProgramInMachine("", {}).ok());

  ::unlink(prog.c_str());
  ::rmdir(dir);
}

TEST(Spec, Validation) {
  LaunchSpec s;
  s.machine_id = "0123456789abcd";
  s.argv = {"true"};
  s.log_path = "/tmp/x.log";
  EXPECT_TRUE(ValidateSpec(s).ok());
  s.machine_id = "../etc";
  EXPECT_FALSE(ValidateSpec(s).ok());
  s.machine_id = "0123456789abcd";
  s.kill_timeout = std::chrono::seconds(301);
  EXPECT_FALSE(ValidateSpec(s).ok());
  s.kill_timeout = std::chrono::seconds(5);
  s.argv.clear();
  EXPECT_FALSE(ValidateSpec(s).ok());
}

TEST(ResolveProgram, UsesEnvPath) {
  auto r = ResolveProgram("sh", {"PATH=/nonexistent:/bin"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, "/bin/sh");
  EXPECT_EQ(*ResolveProgram("/x/y", {}), "/x/y");
  EXPECT_EQ(ResolveProgram("no-such-program-xyz", {}).status().code(), Code::kNotFound);
}

TEST(Record, RoundTrip) {
  RuntimeRecord r{1234, 987654321, {"/sys/fs/cgroup/memory/a/b", "/sys/fs/cgroup/freezer/a/b"}};
  auto p = ParseRecord(FormatRecord(r));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(*p, r);
  EXPECT_FALSE(ParseRecord("pid=x\nstart_time=1\n").ok());
  EXPECT_FALSE(ParseRecord("start_time=1\n").ok());
  EXPECT_FALSE(ParseRecord("pid=1\nstart_time=1\ncgroup=relative\n").ok());
  EXPECT_TRUE(ParseRecord("pid=1\nstart_time=1\nfuture=ok\n").ok());
}

TEST(ProcStat, ParsesOddComm) {
  // comm with spaces and parentheses; field 22 = 4242.
  std::string text = "77 (a) b (c) S 1 77 77 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 4242 1000 10";
  auto st = ParseProcStat(text);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->state, 'S');
  EXPECT_EQ(st->start_time, 4242u);
  EXPECT_FALSE(ParseProcStat("77 (a) S 1").ok());
  auto self = ReadProcStat(getpid());
  ASSERT_TRUE(self.ok());
  EXPECT_GT(self->start_time, 0u);
}

}  // namespace
}  // namespace privcast::supervisor
