"""End to end: machines are real process trees in their own namespaces on their
org's network, isolated from other networks, adopted across a daemon restart, and destroy
leaves nothing behind."""
import glob
import os
import signal
import unittest

import harness
from harness import Host, cgroup_pids, deploy, machines, require_root, shell


@require_root
class Machines(harness.HostTestCase):
    @classmethod
    def setUpHost(cls):
        deploy(cls.h, "svc", harness.HELLO, 80)

    def test_deploy_runs_two_started_machines_with_6pn_addresses(self):
        ms = machines(self.h, "svc")
        self.assertEqual(len(ms), 2)
        for m in ms:
            self.assertEqual(m["state"], "started", m)
            self.assertRegex(m["id"], r"^[0-9a-f]{14}$")
        out = self.h.cli(["ips", "private", "-a", "svc"]).stdout
        for m in ms:
            self.assertIn(m["id"], out)
        self.assertRegex(out, r"fdaa:[0-9a-f:]+:2\b")

    def test_inside_a_machine(self):
        p = shell(self.h, "svc", "cat /etc/resolv.conf; echo ---; cat /etc/hosts; echo ---; hostname; echo ---; "
                                 "env | grep -E '^(FLY_|PRIMARY_REGION)' | sort; echo ---; ls -A /tmp | wc -l; ip -6 addr show eth0")
        self.assertEqual(p.returncode, 0, p.stderr)
        resolv, hosts, hostname, env, rest = p.stdout.split("---\n")
        self.assertEqual(resolv.strip(), "nameserver fdaa::3")
        hostname = hostname.strip()
        self.assertRegex(hostname, r"^[0-9a-f]{14}$")
        self.assertRegex(hosts, r"fdaa:[0-9a-f:]+\s+fly-local-6pn")
        self.assertIn(hostname, hosts)
        envs = dict(l.split("=", 1) for l in env.strip().splitlines())
        self.assertEqual(envs["FLY_APP_NAME"], "svc")
        self.assertEqual(envs["FLY_MACHINE_ID"], hostname)
        self.assertEqual(envs["FLY_REGION"], "ams")
        self.assertEqual(envs["PRIMARY_REGION"], "ams")
        self.assertIn("FLY_PROCESS_GROUP", envs)
        self.assertIn(envs["FLY_PRIVATE_IP"], rest)  # eth0 carries the 6PN address
        self.assertTrue(rest.startswith("0\n"), "private /tmp is empty")

    def test_same_network_reaches_6pn_other_network_does_not(self):
        target = machines(self.h, "svc")[0]
        six = target["private_ip"]
        p = shell(self.h, "svc", f"curl -sS --max-time 10 http://[{six}]:80/ | head -c 300")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("Server name:", p.stdout)
        self.h.cli(["orgs", "create", "stranger"], check=False)
        p = shell(self.h, "svc", f"curl -sS --max-time 3 http://[{six}]:80/ && echo REACHED", org="stranger")
        self.assertNotIn("REACHED", p.stdout)

    def test_lifecycle_commands(self):
        m = machines(self.h, "svc")[1]
        self.h.cli(["machine", "stop", m["id"], "-a", "svc"])
        harness.wait_for(lambda: self.h.cli_json(["machine", "status", m["id"], "-a", "svc"])["state"] == "stopped", 30,
                         "machine stopped")
        self.h.cli(["machine", "start", m["id"], "-a", "svc"])
        harness.wait_for(lambda: self.h.cli_json(["machine", "status", m["id"], "-a", "svc"])["state"] == "started", 30,
                         "machine started")
        self.h.cli(["machine", "suspend", m["id"], "-a", "svc"])
        harness.wait_for(lambda: self.h.cli_json(["machine", "status", m["id"], "-a", "svc"])["state"] == "suspended",
                         30, "machine suspended")
        self.h.cli(["machine", "start", m["id"], "-a", "svc"])
        harness.wait_for(lambda: self.h.cli_json(["machine", "status", m["id"], "-a", "svc"])["state"] == "started", 30,
                         "machine resumed")

    def test_shell_exit_code_propagates(self):
        p = shell(self.h, "svc", "exit 7")
        self.assertEqual(p.returncode, 7, p.stderr)

    def test_z_daemon_sigkill_and_restart_adopts_machines(self):
        before = {m["id"]: cgroup_pids(self.h.instance, m["id"]) for m in machines(self.h, "svc")
                  if m["state"] == "started"}
        self.assertTrue(before and all(before.values()), before)
        self.h.stop_daemon(signal.SIGKILL)
        self.h.start_daemon()
        after = {m["id"]: cgroup_pids(self.h.instance, m["id"]) for m in machines(self.h, "svc")
                 if m["state"] == "started"}
        states = {m["id"]: (m["state"], m.get("last_event")) for m in machines(self.h, "svc")}
        for mid, pids in before.items():
            self.assertEqual(after.get(mid), pids, f"machine {mid} was not adopted with the same pids: {states}")
        p = shell(self.h, "svc", "curl -sS --max-time 20 http://svc.flycast/")
        self.assertIn("Server name:", p.stdout, p.stderr)


@require_root
class Destroy(unittest.TestCase):
    def test_destroy_leaves_nothing_behind(self):
        with Host() as h:
            deploy(h, "tmpapp", harness.HELLO, 80, ha=False)
            m = machines(h, "tmpapp")[0]
            netns_file = os.path.join(h.data_dir, "run", "netns", m["id"])
            self.assertTrue(os.path.exists(netns_file))
            self.assertTrue(cgroup_pids(h.instance, m["id"]))
            links = h.nsexec(["ip", "-o", "link"]).stdout
            self.assertIn("pcv", links)
            h.cli(["machine", "destroy", m["id"], "-a", "tmpapp", "--force"])
            harness.wait_for(lambda: not any(x["id"] == m["id"] for x in machines(h, "tmpapp")), 30, "machine gone")
            self.assertFalse(os.path.exists(netns_file))
            self.assertEqual(glob.glob(f"/sys/fs/cgroup/*/privcast-{h.instance}/{m['id']}"), [])
            self.assertNotIn("pcv", h.nsexec(["ip", "-o", "link"]).stdout)
            self.assertNotIn(m["private_ip"].rsplit(":", 1)[0], h.nsexec(["ip", "-6", "route"]).stdout)


if __name__ == "__main__":
    harness.main()
