// Pure parts of the sandbox: id ranges, the /etc filters, the root plan's shape, the
// seccomp program (docs/supervisor.md#sandbox). No privileges needed.
#include "supervisor/sandbox.h"

#include <gtest/gtest.h>
#include <sys/mount.h>

#include <algorithm>

namespace privcast::supervisor {
namespace {

TEST(IdRange, PerMachineRangesNeverOverlap) {
  EXPECT_EQ(MachineIdRange(kDefaultIdBase, 0), (IdRange{524288, 65536}));
  EXPECT_EQ(MachineIdRange(kDefaultIdBase, 3), (IdRange{524288 + 3 * 65536, 65536}));
  IdRange last = MachineIdRange(kDefaultIdBase, (1u << 15) - 1);
  EXPECT_LT(static_cast<uint64_t>(last.base) + last.count, 0xFFFFFFFFull) << "(uid_t)-1 is never mapped";
}

TEST(HostEtc, KeepsSystemUsersWithoutHashes) {
  std::string passwd =
      "root:$6$secret:0:0:root:/root:/bin/bash\n"
      "postgres:x:104:110:PostgreSQL administrator:/var/lib/postgresql:/bin/bash\n"
      "alice:x:1000:1000:Alice:/home/alice:/bin/bash\n"
      "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
      "broken line\n";
  EXPECT_EQ(FilterPasswd(passwd),
            "root:x:0:0:root:/root:/bin/bash\n"
            "postgres:x:104:110:PostgreSQL administrator:/var/lib/postgresql:/bin/bash\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
  EXPECT_EQ(FilterGroup("root:x:0:\ntty:x:5:\nalice:x:1000:\nnogroup:x:65534:\n"),
            "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n");
}

TEST(RootfsPlan, BuildsTheRootAsTheIssueSays) {
  HostEtc etc;
  etc.passwd = "root:x:0:0:root:/root:/bin/sh\n";
  etc.group = "root:x:0:\n";
  etc.ro_dirs = {"ssl/certs"};
  RootfsInputs in;
  in.root = "/r";
  in.ids = {600000, 65536};
  in.hostname = "m1";
  in.hosts = "127.0.0.1\tlocalhost\n";
  in.resolv_conf = "nameserver fdaa::3\n";
  in.etc = &etc;
  RootfsPlan p = BuildRootfsPlan(in);
  ASSERT_FALSE(p.ops.empty());
  // The root is a tmpfs owned by the machine's root, mounted first.
  EXPECT_EQ(p.ops[0].kind, RootfsOp::kMount);
  EXPECT_EQ(p.ops[0].path, "/r");
  EXPECT_NE(p.ops[0].data.find("uid=600000,gid=600000"), std::string::npos);
  auto find = [&](RootfsOp::Kind k, const std::string& path) {
    return std::find_if(p.ops.begin(), p.ops.end(), [&](const RootfsOp& o) { return o.kind == k && o.path == path; });
  };
  auto usr = find(RootfsOp::kBind, "/r/usr");
  ASSERT_NE(usr, p.ops.end());
  EXPECT_TRUE(usr->ro);
  EXPECT_NE(find(RootfsOp::kBind, "/r/etc/ssl/certs"), p.ops.end());
  auto resolv = find(RootfsOp::kFile, "/r/etc/resolv.conf");
  ASSERT_NE(resolv, p.ops.end());
  EXPECT_EQ(resolv->data, "nameserver fdaa::3\n");
  EXPECT_EQ(find(RootfsOp::kFile, "/r/etc/hostname")->data, "m1\n");
  EXPECT_NE(find(RootfsOp::kMount, "/r/proc"), p.ops.end());
  auto sys = find(RootfsOp::kMount, "/r/sys");
  ASSERT_NE(sys, p.ops.end());
  EXPECT_TRUE(sys->flags & MS_RDONLY);
  EXPECT_NE(find(RootfsOp::kMask, "/r/proc/kcore"), p.ops.end());
  EXPECT_NE(find(RootfsOp::kReadOnly, "/r/proc/sys"), p.ops.end());
  for (const char* d : {"/r/tmp", "/r/run", "/r/var", "/r/dev", "/r/dev/pts", "/r/dev/shm"}) {
    EXPECT_NE(find(RootfsOp::kMount, d), p.ops.end()) << d;
  }
  auto pts = find(RootfsOp::kMount, "/r/dev/pts");
  EXPECT_NE(pts->data.find("gid=600005"), std::string::npos) << "tty group of the machine";
  // Nothing of the host's /root, /home, /var or the rest of /etc is bound in.
  for (const auto& o : p.ops) {
    if (o.kind != RootfsOp::kBind) continue;
    EXPECT_TRUE(o.target == "/usr" || o.target.rfind("/dev/", 0) == 0 || o.target == "/etc/ssl/certs" ||
                o.target.rfind("/lib", 0) == 0 || o.target == "/bin" || o.target == "/sbin")
        << o.target;
  }
}

TEST(Seccomp, DefaultProgramBuilds) {
  // (What it allows and refuses is tested inside real machines: supervisor_root_test and
  // tests/e2e/test_escape.py.)
  auto p = DefaultSeccomp();
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_GT((*p)->insns.size(), 100u);
}

}  // namespace
}  // namespace privcast::supervisor
