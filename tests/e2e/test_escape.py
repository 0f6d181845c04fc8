"""The escape suite: every attack the issue lists, run from a machine of org B
against org A's running machine, the daemon and the host, as root inside the machine. Each
must fail, and the host must show it did (A's files, state and cgroup untouched). Then what
a machine user needs still works inside the sandbox (ping, a low port as root, DNS, the
shell's exit code, nginx dropping to its own user).

The attacker is `machine run --shell` in org B's app (a throwaway machine, like a user's
shell); every probe prints ESCAPED-<what> only if the attack worked, so each assertion is
on the absence of that word and on the host-side state."""
import glob
import os
import unittest

import harness
from harness import cgroup_pids, deploy, flycast_ip, machines, require_root, shell


def read(path):
    with open(path) as f:
        return f.read()


def id_base(pid):
    """The host uid that root inside the process's user namespace maps to."""
    fields = read(f"/proc/{pid}/uid_map").split()
    return int(fields[1]), int(fields[2])


@require_root
class Escape(harness.HostTestCase):
    @classmethod
    def setUpHost(cls):
        h = cls.h
        deploy(h, "alpha", harness.HELLO, 80, ha=False)  # org A: personal
        h.cli(["orgs", "create", "borg"])
        h.cli(["apps", "create", "beta", "--org", "borg"])
        d = os.path.join(h.workdir, "beta")
        harness.write_fly_toml(d, "beta", harness.HELLO, 80)
        h.cli(["deploy", "--flycast", "--ha=false"], cwd=d, timeout=120)
        a = [m for m in machines(h, "alpha") if m["state"] == "started"]
        assert a, machines(h, "alpha")
        cls.a_id = a[0]["id"]
        harness.wait_for(lambda: cgroup_pids(h.instance, cls.a_id), 20, "alpha's processes")
        # A's main process (privcast-init, PID 1 of the machine) and a worker of its nginx.
        pids = sorted(cgroup_pids(h.instance, cls.a_id))
        cls.a_pid = pids[0]
        cls.a_pids = pids
        cls.ca_key = (glob.glob(os.path.join(h.data_dir, "**", "ca.key"), recursive=True) or
                      [os.path.join(h.data_dir, "tls", "ca.key")])[0]
        cls.store = os.path.join(h.data_dir, "store.db")
        cls.a_cgroups = [os.path.dirname(p) for p in
                         glob.glob(f"/sys/fs/cgroup/**/privcast-{h.instance}/{cls.a_id}/cgroup.procs", recursive=True)]

    # Some probes (kill -9 -1, core_pattern) would hurt the whole host if they succeeded, so
    # no probe runs unless the machine is in a sandbox: its PID 1 is privcast-init. Run
    # against an unsandboxed build, every attack test fails here, harmlessly.
    GUARD = ("[ \"$(cat /proc/1/comm 2>/dev/null)\" = privcast-init ] || "
             "{ echo 'NOT-SANDBOXED: refusing to run the attack'; exit 99; }\n")

    def attack(self, script):
        p = shell(self.h, "beta", self.GUARD + script, org="borg")
        out = p.stdout + p.stderr
        self.assertNotEqual(p.returncode, 99, out)
        self.assertNotIn("ESCAPED", out, out)
        return p

    # -- processes of others ----------------------------------------------------------------
    def test_cannot_see_trace_or_signal_another_machine(self):
        pid = self.a_pid
        p = self.attack(
            f"ls /proc | grep -cE '^[0-9]+$'; "
            f"kill -0 {pid} 2>/dev/null && echo ESCAPED-signal; "
            f"strace -p {pid} -e trace=none -o /dev/null & s=$!; sleep 0.3; "
            f"kill -0 $s 2>/dev/null && echo ESCAPED-strace; wait $s 2>/dev/null; "
            f"python3 -c 'import ctypes,sys; l=ctypes.CDLL(None,use_errno=True); "
            f"sys.exit(0 if l.ptrace(16,{pid},0,0)==0 else 1)' && echo ESCAPED-ptrace; true")
        # Only the shell's own few processes are visible, never A's or the host's.
        self.assertLess(int(p.stdout.split()[0]), 10, p.stdout)
        for a in self.a_pids:
            self.assertTrue(os.path.exists(f"/proc/{a}"), "A's machine must still run")
        self.assertIn("TracerPid:\t0\n", read(f"/proc/{pid}/status"))

    def test_cannot_write_or_read_through_proc_pid(self):
        pid = self.a_pid
        self.attack(
            f"echo planted > /proc/{pid}/root/tmp/planted.txt 2>/dev/null && echo ESCAPED-root; "
            f"cat /proc/{pid}/environ 2>/dev/null | grep -q FLY_APP_NAME=alpha && echo ESCAPED-environ; "
            f"echo appended >> /proc/{pid}/fd/1 2>/dev/null && echo ESCAPED-fd; true")
        self.assertFalse(os.path.exists(f"/proc/{pid}/root/tmp/planted.txt"))
        log = read(os.path.join(self.h.data_dir, "logs", self.a_id + ".log"))
        self.assertNotIn("appended", log)

    def test_cannot_kill_the_daemon(self):
        pid = self.h.proc.pid  # `ip netns exec` execs privcastd: this is the daemon itself
        self.attack(f"kill -9 {pid} 2>/dev/null && echo ESCAPED-kill; "
                    f"kill -9 -1 2>/dev/null; true")  # -1: everything it may signal
        self.assertIsNone(self.h.proc.poll(), "privcastd must survive")
        self.assertTrue(self.h.api_ready())
        for a in self.a_pids:
            self.assertTrue(os.path.exists(f"/proc/{a}"), "kill -1 reached A")

    # -- the host --------------------------------------------------------------------------
    def test_cannot_set_host_sysctls(self):
        before = read("/proc/sys/kernel/core_pattern")
        self.attack("echo '|/tmp/x' > /proc/sys/kernel/core_pattern 2>/dev/null && echo ESCAPED-core_pattern; "
                    "echo h > /proc/sysrq-trigger 2>/dev/null && echo ESCAPED-sysrq; "
                    "sysctl -w kernel.hostname=pwned >/dev/null 2>&1 && echo ESCAPED-sysctl; true")
        self.assertEqual(read("/proc/sys/kernel/core_pattern"), before)

    def test_cannot_read_host_secrets_the_store_or_the_ca_key(self):
        self.assertTrue(os.path.exists(self.store) and os.path.exists(self.ca_key), (self.store, self.ca_key))
        p = self.attack(
            "cat /etc/shadow 2>/dev/null && echo ESCAPED-shadow; "
            "ls -A /root /home | grep -v ':$' | grep . && echo ESCAPED-root-home; "
            f"cat {self.store} >/dev/null 2>&1 && echo ESCAPED-store; "
            f"cat {self.ca_key} 2>/dev/null | grep -q PRIVATE && echo ESCAPED-ca-key; "
            f"ls {self.h.data_dir} >/dev/null 2>&1 && echo ESCAPED-data-dir; "
            "grep -c . /etc/passwd; grep -q ':\\$' /etc/passwd && echo ESCAPED-hash; "
            "mount -t proc proc /mnt 2>/dev/null && echo ESCAPED-mount; "
            "unshare -Urm true 2>/dev/null && echo ESCAPED-userns; "
            "python3 -c 'import ctypes; l=ctypes.CDLL(None); "
            "print(\"ESCAPED-io_uring\" if l.syscall(425, 1, ctypes.create_string_buffer(120)) >= 0 else \"\")'; "
            "nsenter -t 1 -m true 2>/dev/null; true")
        self.assertGreater(int(p.stdout.split()[-1] if p.stdout.split() else 0), 3, p.stdout)

    # -- cgroups ---------------------------------------------------------------------------
    def test_cannot_freeze_another_machine_or_touch_cgroups(self):
        cg = "/".join(self.a_cgroups[0].split("/")[4:]) if self.a_cgroups else "x"
        self.attack(
            f"for f in /sys/fs/cgroup/freezer/{cg}/freezer.state /sys/fs/cgroup/unified/{cg}/cgroup.freeze; do "
            f"  echo FROZEN > $f 2>/dev/null && echo ESCAPED-freeze-$f; echo 1 > $f 2>/dev/null && echo ESCAPED-freeze; done; "
            "mkdir -p /tmp/cg && mount -t cgroup -o freezer none /tmp/cg 2>/dev/null && echo ESCAPED-cgroupfs; "
            "mount -t cgroup2 none /tmp/cg 2>/dev/null && echo ESCAPED-cgroup2; "
            f"find /sys/fs/cgroup -name {self.a_id} | grep . && echo ESCAPED-cgroup-visible; "
            "for f in $(find /sys/fs/cgroup -name freezer.state -o -name cgroup.freeze); do "
            "  echo FROZEN > $f 2>/dev/null && echo ESCAPED-own-freeze; echo 1 > $f 2>/dev/null && echo ESCAPED-own-freeze; done; "
            "grep -v ':/$' /proc/self/cgroup && echo ESCAPED-cgroup-path; true")
        for d in self.a_cgroups:
            if os.path.exists(d + "/freezer.state"):
                self.assertEqual(read(d + "/freezer.state").strip(), "THAWED")

    def test_cannot_raise_its_limits_or_leave_its_cgroup(self):
        self.attack(
            "for f in /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max "
            "/sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max; do "
            "  echo -1 > $f 2>/dev/null && echo ESCAPED-limit-$f; echo max > $f 2>/dev/null && echo ESCAPED-limit; done; "
            "for f in /sys/fs/cgroup/cgroup.procs /sys/fs/cgroup/pids/cgroup.procs /sys/fs/cgroup/pids/tasks; do "
            "  echo $$ > $f 2>/dev/null && echo ESCAPED-move-$f; done; "
            "prlimit --pid $$ --nofile=2000000:2000000 2>/dev/null && echo ESCAPED-nofile; true")

    def test_cannot_fork_past_its_pids_limit(self):
        # pids.max is 1024 tasks per machine, threads included: starting 1100 must fail
        # before that (threads, not processes, so the machine's memory limit is not what
        # stops it).
        p = self.attack(
            "python3 - <<'PY'\n"
            "import threading\n"
            "stop = threading.Event(); n = 0\n"
            "try:\n"
            "    for _ in range(1100):\n"
            "        threading.Thread(target=stop.wait, daemon=True).start(); n += 1\n"
            "except RuntimeError as e:\n"
            "    print('refused after', n, e)\n"
            "else:\n"
            "    print('ESCAPED-pids', n)\n"
            "stop.set()\n"
            "PY")
        self.assertIn("refused after", p.stdout, p.stdout + p.stderr)
        self.assertLess(int(p.stdout.split()[2]), 1024, p.stdout)

    def test_id_ranges_are_unprivileged_and_never_shared(self):
        a_base, a_count = id_base(self.a_pid)
        p = shell(self.h, "beta", "cat /proc/self/uid_map; sleep 0", org="borg")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.split()[0], "0", p.stdout)
        self.assertGreaterEqual(a_base, 65536)
        self.assertEqual(a_count, 65536)
        beta = [m for m in machines(self.h, "beta") if m["state"] == "started"]
        self.assertTrue(beta)
        b_pid = sorted(cgroup_pids(self.h.instance, beta[0]["id"]))[0]
        b_base, _ = id_base(b_pid)
        self.assertTrue(b_base + 65536 <= a_base or a_base + 65536 <= b_base, (a_base, b_base))
        # nginx workers dropped root (to the machine's nobody/www-data), inside A's range.
        uids = set()
        for pid in self.a_pids:
            for line in read(f"/proc/{pid}/status").splitlines():
                if line.startswith("Uid:"):
                    uids.add(int(line.split()[1]))
        self.assertIn(a_base, uids)
        self.assertTrue(any(a_base < u < a_base + 65536 for u in uids), (a_base, uids))

    # -- what users need keeps working -------------------------------------------------------
    def test_usability_inside_the_sandbox(self):
        ip = flycast_ip(self.h, "beta")
        p = shell(self.h, "beta",
                  "ping -c1 -W2 127.0.0.1 >/dev/null && echo PING4-OK; "
                  "ping -c1 -W2 $FLY_PRIVATE_IP >/dev/null && echo PING6-OK; "
                  "python3 -c 'import socket; s=socket.socket(); s.bind((\"0.0.0.0\", 80)); print(\"BIND80-OK\")'; "
                  "echo DIG=$(dig +short AAAA beta.flycast); "
                  "curl -sS --max-time 30 -o /dev/null -w 'CURL=%{http_code}\\n' http://beta.flycast/; "
                  "test -s /etc/ssl/certs/ca-certificates.crt && echo CA-OK; "
                  "echo STDOUT-OK > /dev/stdout; "
                  "id -un; exit 7", org="borg")
        self.assertEqual(p.returncode, 7, p.stderr)
        for want in ("PING4-OK", "PING6-OK", "BIND80-OK", f"DIG={ip}", "CURL=200", "CA-OK", "STDOUT-OK", "root"):
            self.assertIn(want, p.stdout, p.stdout + p.stderr)


if __name__ == "__main__":
    harness.main()
