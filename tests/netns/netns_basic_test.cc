// Named namespaces, helper-thread semantics, rtnetlink error texts, sysctls per netns.
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "common/file.h"
#include "netns/firewall.h"
#include "netns/netns.h"
#include "netns/rtnl.h"
#include "test_env.h"

namespace privcast::netns {
namespace {

using testing::TestHost;

ino_t InodeOf(int fd) {
  struct stat st;
  fstat(fd, &st);
  return st.st_ino;
}

TEST(NetnsTest, CreateOpenDeleteNeverTouchesCallerThread) {
  TestHost host;
  ASSERT_TRUE(host.ok());
  auto before = OpenCurrent();
  ASSERT_TRUE(before.ok());
  ASSERT_TRUE(Create(host.ns_dir(), "a").ok());
  EXPECT_TRUE(Exists(host.ns_dir() + "/a"));
  EXPECT_EQ(Create(host.ns_dir(), "a").code(), Code::kAlreadyExists);
  auto a = Open(host.ns_dir() + "/a");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_NE(InodeOf(a->get()), InodeOf(before->get()));
  EXPECT_NE(InodeOf(a->get()), InodeOf(host.nsfd()));

  // RunIn runs inside, and the caller's thread stays where it was.
  ino_t inside = 0;
  ASSERT_TRUE(RunIn(a->get(), [&] {
                auto cur = OpenCurrent();
                if (!cur.ok()) return cur.status();
                inside = InodeOf(cur->get());
                return Status::Ok();
              }).ok());
  EXPECT_EQ(inside, InodeOf(a->get()));
  auto after = OpenCurrent();
  EXPECT_EQ(InodeOf(after->get()), InodeOf(before->get()));

  ASSERT_TRUE(Delete(host.ns_dir() + "/a").ok());
  EXPECT_FALSE(Exists(host.ns_dir() + "/a"));
  EXPECT_TRUE(Delete(host.ns_dir() + "/a").ok());  // idempotent
  EXPECT_EQ(Open(host.ns_dir() + "/a").status().code(), Code::kNotFound);
  EXPECT_EQ(host.MountsUnder(), std::vector<std::string>{host.host_path()});
}

TEST(NetnsTest, AdoptRebindsARunningProcessNetns) {
  TestHost host;
  ASSERT_TRUE(host.ok());
  // A process (sleep, started by us, killed by pid) inside the test host netns.
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (setns(host.nsfd(), CLONE_NEWNET) != 0) _exit(1);
    execlp("sleep", "sleep", "30", nullptr);
    _exit(1);
  }
  // Wait (bounded) until the child is in the netns.
  auto want = InodeOf(host.nsfd());
  bool in = false;
  for (int i = 0; i < 2000 && !in; ++i) {
    struct stat st;
    in = stat(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), &st) == 0 && st.st_ino == want;
    if (!in) usleep(1000);
  }
  EXPECT_TRUE(in);
  Status st = Adopt(host.ns_dir(), "adopted", pid);
  EXPECT_TRUE(st.ok()) << st.ToString();
  auto fd = Open(host.ns_dir() + "/adopted");
  ASSERT_TRUE(fd.ok());
  EXPECT_EQ(InodeOf(fd->get()), want);
  EXPECT_TRUE(Adopt(host.ns_dir(), "adopted", pid).ok());  // idempotent
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  EXPECT_TRUE(Delete(host.ns_dir() + "/adopted").ok());
}

TEST(NetnsTest, InitFailureRemovesTheNamespace) {
  TestHost host;
  ASSERT_TRUE(host.ok());
  Status st = Create(host.ns_dir(), "b", [] { return Internal("boom"); });
  EXPECT_EQ(st.code(), Code::kInternal);
  EXPECT_FALSE(Exists(host.ns_dir() + "/b"));
  EXPECT_EQ(host.NetnsFiles(), std::vector<std::string>{"host"});
}

TEST(NetnsTest, SysctlIsPerNamespace) {
  TestHost host;
  ASSERT_TRUE(host.ok());
  ASSERT_TRUE(Create(host.ns_dir(), "c").ok());
  auto c = Open(host.ns_dir() + "/c");
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(RunIn(c->get(), [] { return WriteSysctl("net/ipv6/conf/all/forwarding", "1"); }).ok());
  std::string in_c, in_host;
  ASSERT_TRUE(RunIn(c->get(), [&] {
                auto v = ReadFile("/proc/sys/net/ipv6/conf/all/forwarding");
                if (v.ok()) in_c = *v;
                return v.status();
              }).ok());
  ASSERT_TRUE(RunIn(host.nsfd(), [&] {
                auto v = ReadFile("/proc/sys/net/ipv6/conf/all/forwarding");
                if (v.ok()) in_host = *v;
                return v.status();
              }).ok());
  EXPECT_EQ(in_c, "1\n");
  EXPECT_EQ(in_host, "0\n");
  EXPECT_EQ(host.In("sysctl -n net.ipv6.conf.all.forwarding", host.ns_dir() + "/c").out, "1\n");
  ASSERT_TRUE(Delete(host.ns_dir() + "/c").ok());
}

TEST(RtnlTest, ErrorsNameTheOperationAndTheKernelText) {
  TestHost host;
  ASSERT_TRUE(host.ok());
  auto r = Rtnl::OpenIn(host.nsfd());
  ASSERT_TRUE(r.ok());
  Status st = r->DeleteLink("nope0");
  EXPECT_EQ(st.code(), Code::kNotFound);
  EXPECT_NE(st.message().find("delete link nope0"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("No such device"), std::string::npos) << st.message();

  ASSERT_TRUE(r->CreateVeth("va0", -1, "vb0").ok());
  st = r->CreateVeth("va0", -1, "vb1");
  EXPECT_EQ(st.code(), Code::kAlreadyExists) << st.message();
  EXPECT_NE(st.message().find("File exists"), std::string::npos) << st.message();

  // A gateway that is not on-link is refused by the kernel: Status, with its reason.
  Route bad{Route::Kind::kUnicast, IpPrefix::V6(*Ip6::Parse("fdaa:9::"), 48), IpAddr::V6(*Ip6::Parse("fdaa:7::1")),
            "va0"};
  st = r->AddRoute(bad);
  EXPECT_FALSE(st.ok());
  std::printf("route error: %s\n", st.message().c_str());
  EXPECT_NE(st.message().find("add route fdaa:9::/48 via fdaa:7::1 dev va0"), std::string::npos) << st.message();

  // Rtnl acts in its own netns only: the link is in the test host, found there.
  EXPECT_TRUE(r->LinkIndex("va0").ok());
  EXPECT_NE(host.In("ip -o link show va0").out.find("va0"), std::string::npos);
  ASSERT_TRUE(r->DeleteLink("va0").ok());
  EXPECT_EQ(r->LinkIndex("vb0").status().code(), Code::kNotFound);  // its peer went with it
}

TEST(FirewallTest, EmptyStateBadInputAndRemove) {
  TestHost host;
  ASSERT_TRUE(host.ok());
  auto fw = Firewall::CreateFor(host.nsfd());
  ASSERT_TRUE(fw.ok());
  ASSERT_TRUE((*fw)->Apply(FirewallState{}).ok());  // no networks, no machines: still valid
  EXPECT_NE(host.In("nft list table inet privcast").out.find("chain machine_input"), std::string::npos);
  auto v = (*fw)->CounterPackets("input_drop");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(*v, 0u);
  EXPECT_EQ((*fw)->CounterPackets("no_such").status().code(), Code::kNotFound);
  EXPECT_EQ((*fw)->CounterPackets("x; flush ruleset").status().code(), Code::kInvalidArgument);

  FirewallState bad;
  bad.networks = {1};
  bad.machine_ifs["pcv1\" . ::/0 }"] = 1;
  EXPECT_EQ((*fw)->Apply(bad).code(), Code::kInvalidArgument);
  bad.machine_ifs.clear();
  bad.networks = {0};
  EXPECT_EQ((*fw)->Apply(bad).code(), Code::kInvalidArgument);
  // The table from the first Apply is still there, untouched.
  EXPECT_TRUE((*fw)->CounterPackets("input_drop").ok());

  ASSERT_TRUE((*fw)->Remove().ok());
  EXPECT_EQ(host.In("nft list ruleset").out, "");
}

}  // namespace
}  // namespace privcast::netns
