"""End to end: isolation never depends on the daemon running, and a
flycast address admits only the ports of its app's services.

A machine of org B probes a machine of org A over A's 6PN address every 200 ms and writes one
line per try to its log. The daemon is stopped (SIGTERM, then SIGKILL after a restart): the
machines keep running, the probes keep being refused, the nftables table stays. Only
`privcastd --uninstall` removes the table, and it refuses while machines run.
"""
import os
import re
import signal
import subprocess

import harness
from harness import deploy, machines, require_root, shell

PROBE = ("while :; do if curl -s -m 1 -o /dev/null http://[{ip}]:80/; then echo REACHED; "
         "else echo blocked; fi; sleep 0.2; done")


@require_root
class FailClosed(harness.HostTestCase):
    @classmethod
    def setUpHost(cls):
        deploy(cls.h, "web", harness.HELLO, 80, auto_stop="off", ha=False)
        cls.h.cli(["orgs", "create", "attacker"])
        cls.h.cli(["apps", "create", "probe", "--org", "attacker"])

    def log_lines(self, machine_id):
        try:
            with open(os.path.join(self.h.data_dir, "logs", machine_id + ".log")) as f:
                return f.read().split()
        except FileNotFoundError:
            return []

    def nft_table(self):
        return self.h.nsexec(["nft", "list", "table", "inet", "privcast"], check=False)

    def test_a_isolation_holds_while_the_daemon_is_down(self):
        target = machines(self.h, "web")[0]["private_ip"]
        out = self.h.cli(["machine", "run", "-a", "probe", "--", "sh", "-c", PROBE.format(ip=target)]).stdout
        probe = re.search(r"\b([0-9a-f]{14})\b", out).group(1)
        harness.wait_for(lambda: len(self.log_lines(probe)) >= 3, timeout=30, what="the probe's first tries")
        for sig in (signal.SIGTERM, signal.SIGKILL):
            self.h.stop_daemon(sig)
            self.assertEqual(self.nft_table().returncode, 0, f"the table went with the daemon ({sig.name})")
            seen = len(self.log_lines(probe))
            harness.wait_for(lambda: len(self.log_lines(probe)) >= seen + 8, timeout=30,
                             what=f"probes while the daemon is down ({sig.name})")
            self.h.start_daemon()
        lines = self.log_lines(probe)
        self.assertNotIn("REACHED", lines)
        self.assertGreaterEqual(lines.count("blocked"), 19)
        # The restarted daemon took the rules over: A is still served through flycast.
        p = shell(self.h, "web", "curl -sS --max-time 20 http://web.flycast/")
        self.assertIn("Server name:", p.stdout, p.stderr)

    def test_b_flycast_address_admits_only_service_ports(self):
        # A host service on another port of the daemon's namespace (think: an admin socket).
        host = subprocess.Popen(["ip", "netns", "exec", self.h.name, "socat", "TCP6-LISTEN:9999,fork,reuseaddr",
                                 "SYSTEM:echo HOSTSERVICE"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            harness.wait_for(lambda: ":9999 " in self.h.nsexec(["ss", "-ltnH"]).stdout, timeout=10, what="socat")
            self.h.cli(["ips", "allocate-v6", "--private", "--org", "attacker", "-a", "web"])
            for org in (None, "attacker"):
                p = shell(self.h, "web", "curl -s -m 3 http://web.flycast/ | grep -c 'Server name'; "
                          "nc -w 2 web.flycast 9999 </dev/null; echo rc=$?", org=org)
                self.assertIn("1\n", p.stdout, p.stderr)  # port 80 of the service answers
                self.assertNotIn("HOSTSERVICE", p.stdout)
            drops = self.h.nsexec(["nft", "list", "counter", "inet", "privcast", "flycast_port_drop"]).stdout
            self.assertRegex(drops, r"packets [1-9]")
        finally:
            host.terminate()
            host.wait(10)

    def test_c_uninstall_refuses_while_machines_run_then_removes_the_table(self):
        self.h.stop_daemon(signal.SIGTERM)
        cmd = [harness.PRIVCASTD, "--uninstall", "--data-dir", self.h.data_dir]
        p = self.h.nsexec(cmd, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("still run", p.stderr)
        self.assertEqual(self.nft_table().returncode, 0)
        self.h.start_daemon()
        for app in ("web", "probe"):
            self.h.cli(["apps", "destroy", app, "--yes"])
        self.h.stop_daemon(signal.SIGTERM)
        p = self.h.nsexec(cmd, check=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotEqual(self.nft_table().returncode, 0, "the table is still there after --uninstall")
        link = self.h.nsexec(["ip", "link", "show", "privcast0"], check=False)
        self.assertNotEqual(link.returncode, 0, "privcast0 is still there after --uninstall")
        self.h.start_daemon()  # teardown talks to it


if __name__ == "__main__":
    harness.main()
