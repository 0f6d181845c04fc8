"""`privcast ssh console` runs a shell or -C CMD inside a running machine —
its PID, mount, network, UTS, IPC, cgroup and user namespaces, its cgroups, capabilities,
no_new_privs and seccomp filter — with no server in the image; exit codes pass through;
on a terminal it gets a pty with the window size. `privcast console` runs a throwaway machine."""
import os
import pty
import select
import subprocess
import time
import unittest

import harness
from harness import HostTestCase, deploy, require_root

APP = "consoleapp"
HANG = 60.0  # guard against a hang, not a performance bound


def status_fields(text, *names):
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        if k in names:
            out[k] = v.strip()
    return out


@require_root
class Console(HostTestCase):
    @classmethod
    def setUpHost(cls):
        deploy(cls.h, APP, harness.HELLO, 80, ha=False)
        cls.mid = harness.machines(cls.h, APP)[0]["id"]

    def ssh(self, cmd, *extra, input=None):
        return self.h.cli(["ssh", "console", "-a", APP, *extra] + (["-C", cmd] if cmd is not None else []),
                          check=False, input=input, timeout=HANG)

    def test_runs_inside_the_machine(self):
        p = self.ssh("cat /proc/1/cmdline")
        self.assertEqual(p.returncode, 0, p.stderr)
        argv = p.stdout.split("\0")
        self.assertIn(harness.HELLO, argv, "PID 1 is the machine's init running its app")
        self.assertIn("privcast-init", argv[0])
        # Its own files (private /tmp written by the app), hostname, environment, network.
        p = self.ssh("cat /tmp/hello-nginx.conf; hostname; echo $FLY_MACHINE_ID; grep -c eth0 /proc/net/dev")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("daemon off;", p.stdout)
        lines = p.stdout.strip().splitlines()
        self.assertEqual(lines[-3:], [self.mid, self.mid, "1"])

    def test_exit_codes(self):
        self.assertEqual(self.ssh("exit 7").returncode, 7)
        self.assertEqual(self.ssh("kill -TERM $$").returncode, 128 + 15)
        p = self.ssh(None, input="echo from-stdin\nexit 3\n")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertEqual(p.stdout, "from-stdin\n")

    def test_sandboxed_like_the_machine(self):
        # No host process is visible: only the machine's PID namespace.
        p = self.ssh("for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn("privcastd", p.stdout)
        self.assertLess(len([l for l in p.stdout.splitlines() if l.strip()]), 20, p.stdout)
        # Same user namespace, cgroups and lockdown as PID 1 (the machine's init).
        p = self.ssh("cat /proc/self/status; echo ===; cat /proc/1/status; echo ===; cat /proc/self/cgroup; "
                     "echo ===; cat /proc/1/cgroup; echo ===; readlink /proc/self/ns/user /proc/1/ns/user "
                     "/proc/self/ns/mnt /proc/1/ns/mnt /proc/self/ns/net /proc/1/ns/net")
        self.assertEqual(p.returncode, 0, p.stderr)
        me, init, cg_me, cg_init, ns = p.stdout.split("===\n")
        keys = ("Uid", "CapBnd", "CapEff", "NoNewPrivs", "Seccomp")
        mine, its = status_fields(me, *keys), status_fields(init, *keys)
        self.assertEqual(mine["Uid"].split()[0], "0", "root of the machine's user namespace")
        self.assertEqual(mine["CapBnd"], its["CapBnd"])
        self.assertEqual(mine["NoNewPrivs"], "1")
        self.assertEqual(mine["Seccomp"], "2")
        self.assertEqual(cg_me, cg_init)
        links = ns.split()
        self.assertEqual(links[0], links[1])
        self.assertEqual(links[2], links[3])
        self.assertEqual(links[4], links[5])
        # Host-side: the console's processes are in the machine's cgroup.
        p = self.ssh("sleep 0.1; cat /proc/self/stat | cut -d' ' -f1")
        self.assertEqual(p.returncode, 0)
        # Root inside is not root outside: the host's files it cannot see, mounting is refused.
        p = self.ssh("mount -t tmpfs x /mnt")
        self.assertNotEqual(p.returncode, 0)

    def test_relay_holds_no_daemon_descriptor(self):
        # The host-side relay is a fork of privcastd: it must keep none of the daemon's sockets
        # and files open (clients would miss EOFs), only wait for the program.
        proc = subprocess.Popen([harness.PRIVCAST, "ssh", "console", "-a", APP, "-C", "sleep 300"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=self.h.env(), cwd=self.h.workdir)
        def comms():
            out = {}
            for pid in harness.cgroup_pids(self.h.instance, self.mid):
                try:
                    with open(f"/proc/{pid}/comm") as f:
                        out[pid] = f.read().strip()
                except OSError:
                    pass
            return out
        try:
            # Once the program runs (it is what R waits for; until its exec it is a privcastd
            # too), R is the one privcastd in the machine's cgroup, and it holds nothing.
            harness.wait_for(lambda: "sleep" in comms().values(), HANG, "the program running")
            pids = [p for p, c in comms().items() if c == "privcastd"]
            self.assertEqual(len(pids), 1, pids)
            harness.wait_for(lambda: os.listdir(f"/proc/{pids[0]}/fd") == [], 10, "the relay without descriptors")
        finally:
            proc.kill()
            proc.wait(HANG)
        # The client gone, the program's process group is killed with its relay (sh forked sleep).
        harness.wait_for(lambda: "sleep" not in comms().values(), 20, "the program (a child of its shell) killed")

    def test_with_a_terminal(self):
        master, slave = pty.openpty()
        harness_env = self.h.env()
        import fcntl, struct, termios
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 31, 97, 0, 0))

        def ctty():
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        proc = subprocess.Popen([harness.PRIVCAST, "ssh", "console", "-a", APP], stdin=slave, stdout=slave,
                                stderr=slave, env=harness_env, cwd=self.h.workdir, preexec_fn=ctty, close_fds=True)
        os.close(slave)
        buf = b""
        deadline = time.time() + HANG
        os.write(master, b"tty; stty size; echo done-$((2+3)); exit 5\n")
        while time.time() < deadline and b"done-5" not in buf:
            r, _, _ = select.select([master], [], [], 1)
            if r:
                try:
                    buf += os.read(master, 65536)
                except OSError:
                    break
        rc = proc.wait(HANG)
        os.close(master)
        self.assertEqual(rc, 5, buf)
        self.assertIn(b"/dev/pts/", buf)
        self.assertIn(b"31 97", buf)

    def test_errors_and_selection(self):
        p = self.h.cli(["ssh", "console", "-a", APP, "--machine", "00000000000000", "-C", "true"], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("unknown machine", p.stderr)
        p = self.h.cli(["ssh", "console", "-a", APP, "-s", "-C", "hostname"], check=False)  # no tty: the first
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), self.mid)
        self.h.cli(["machine", "stop", self.mid, "-a", APP])
        try:
            p = self.h.cli(["ssh", "console", "-a", APP, "--machine", self.mid, "-C", "true"], check=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn("needs a started machine", p.stderr)
            p = self.h.cli(["ssh", "console", "-a", APP, "-C", "true"], check=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn("no started machine", p.stderr)
        finally:
            self.h.cli(["machine", "start", self.mid, "-a", APP])

    def test_console_runs_a_throwaway_machine(self):
        before = {m["id"] for m in self.h.cli_json(["machine", "list", "-a", APP])}
        p = self.h.cli(["console", "-a", APP, "-C", "echo $FLY_APP_NAME; hostname; exit 4"], check=False, timeout=HANG)
        self.assertEqual(p.returncode, 4, p.stderr)
        app, host = p.stdout.split()
        self.assertEqual(app, APP)
        self.assertNotIn(host, before)
        harness.wait_for(lambda: {m["id"] for m in self.h.cli_json(["machine", "list", "-a", APP])} == before,
                         30, "throwaway machine removed")


if __name__ == "__main__":
    harness.main()
