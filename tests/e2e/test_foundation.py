"""End to end: a real privcastd (in its own netns) driven by the real CLI.

Covers the daemon lifecycle (first start, lock, SIGTERM), orgs, networks, apps, launch,
deploy (and a refused broken fly.toml that changes nothing), ips, usage errors and --json.
"""
import json
import os
import re
import signal
import subprocess
import unittest

import harness
from harness import Host, require_root, run


@require_root
class DaemonLifecycle(unittest.TestCase):
    def test_first_start_creates_personal_org_and_network(self):
        with Host() as h:
            orgs = h.cli_json(["orgs", "list"])
            self.assertIn("personal", [o["slug"] for o in orgs])
            nets = h.cli_json(["networks", "list"])
            personal = [n for n in nets if n["org"] == "personal"]
            self.assertEqual(len(personal), 1, nets)
            self.assertTrue(personal[0].get("default"), personal)

    def test_second_daemon_on_same_data_dir_refuses(self):
        with Host() as h:
            p = h.nsexec([harness.PRIVCASTD, "--data-dir", h.data_dir, "--region", "ams",
                          "--api", "unix:" + h.sock + "2", "--instance", h.instance + "b"], check=False,
                         timeout=30)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("another privcastd", p.stderr)
            self.assertIn(h.data_dir, p.stderr)

    def test_sigterm_drains_and_exits_zero_and_state_survives_restart(self):
        with Host() as h:
            h.cli(["orgs", "create", "acme"])
            self.assertEqual(h.stop_daemon(signal.SIGTERM), 0, h.daemon_log())
            h.start_daemon()
            self.assertIn("acme", [o["slug"] for o in h.cli_json(["orgs", "list"])])

    def test_structured_log_lines(self):
        with Host() as h:
            h.cli(["orgs", "list"])
            lines = [l for l in h.daemon_log().splitlines() if l.strip()]
            self.assertTrue(lines)
            for l in lines[:5]:
                self.assertRegex(l, r"^ts=\S+ level=\w+ comp=\S+ msg=")


@require_root
class Commands(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.host = Host().__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.host.cleanup()

    def err(self, args, code=1, **kw):
        p = self.host.cli(args, check=False, **kw)
        self.assertEqual(p.returncode, code, f"{args}: {p.stdout} {p.stderr}")
        if code == 1:
            self.assertRegex(p.stderr, r"^Error: .+\n?$")
        return p.stderr

    def test_orgs(self):
        h = self.host
        h.cli(["orgs", "create", "orgs-a"])
        self.assertIn("orgs-a", h.cli(["orgs", "list"]).stdout)
        e = self.err(["orgs", "create", "orgs-a"])
        self.assertIn("orgs-a", e)
        self.err(["orgs", "create", "Not_A_Label"])

    def test_networks(self):
        h = self.host
        h.cli(["orgs", "create", "netorg"])
        h.cli(["networks", "create", "backend", "--org", "netorg"])
        nets = h.cli_json(["networks", "list"])
        mine = [n for n in nets if n["org"] == "netorg" and n["name"] == "backend"]
        self.assertEqual(len(mine), 1, nets)
        e = self.err(["networks", "create", "x", "--org", "no-such-org"])
        self.assertIn("no-such-org", e)

    def test_apps_and_unknown_app_names_existing(self):
        h = self.host
        h.cli(["apps", "create", "apps-one"])
        h.cli(["apps", "create", "apps-two"])
        names = [a["name"] for a in h.cli_json(["apps", "list"])]
        self.assertIn("apps-one", names)
        self.err(["apps", "create", "apps-one"])
        e = self.err(["status", "-a", "no-such-app"])
        self.assertIn("no-such-app", e)
        self.assertIn("apps-one", e)  # says which apps exist
        h.cli(["apps", "destroy", "apps-two", "--yes"])
        self.assertNotIn("apps-two", [a["name"] for a in h.cli_json(["apps", "list"])])

    def test_usage_errors_exit_1_and_help_exits_0(self):
        # Usage errors exit 1 like flyctl's.
        h = self.host
        self.assertEqual(h.cli(["no-such-command"], check=False).returncode, 1)
        self.assertEqual(h.cli(["apps", "create"], check=False).returncode, 1)
        self.assertEqual(h.cli(["ips", "allocate-v6", "--bogus"], check=False).returncode, 1)
        for args in (["--help"], ["apps", "--help"], ["ips", "list", "--help"], ["machine", "run", "--help"]):
            self.assertEqual(h.cli(args, check=False).returncode, 0, args)

    def test_unreachable_daemon(self):
        p = run([harness.PRIVCAST, "--api", "unix:/nonexistent/privcast.sock", "apps", "list"], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertTrue(p.stderr.startswith("Error: "), p.stderr)

    def test_launch_writes_fly_toml_and_app_defaults_from_it(self):
        h = self.host
        d = os.path.join(h.workdir, "launch1")
        os.makedirs(d)
        h.cli(["launch", "--name", "launch-one", "--flycast", "--internal-port", "80", "--no-deploy",
               "--command", "sleep 1000"], cwd=d)
        text = open(os.path.join(d, "fly.toml")).read()
        self.assertRegex(text, r'(?m)^app\s*=\s*"launch-one"')
        self.assertRegex(text, r"(?m)^\s*force_https\s*=\s*false")
        self.assertRegex(text, r"(?m)^\s*internal_port\s*=\s*80")
        self.assertRegex(text, r'(?m)^\s*auto_stop_machines\s*=\s*"stop"')
        self.assertIn("launch-one", [a["name"] for a in h.cli_json(["apps", "list"])])
        # -a defaults from ./fly.toml
        p = h.cli(["ips", "list"], cwd=d)
        self.assertIn("VERSION", p.stdout)

    def test_broken_fly_toml_names_file_line_column_and_changes_nothing(self):
        h = self.host
        d = os.path.join(h.workdir, "broken")
        os.makedirs(d)
        h.cli(["apps", "create", "broken-app"])
        with open(os.path.join(d, "fly.toml"), "w") as f:
            f.write('app = "broken-app"\n\n[http_service]\n  internal_port = "eighty"\n')
        before = h.cli_json(["machine", "list", "-a", "broken-app"])
        e = self.err(["deploy"], cwd=d)
        self.assertRegex(e, r"fly\.toml:4:\d+")
        self.assertIn("internal_port", e)
        self.assertEqual(h.cli_json(["machine", "list", "-a", "broken-app"]), before)
        with open(os.path.join(d, "fly.toml"), "w") as f:
            f.write('app = "broken-app"\n[http_service\n')
        e = self.err(["deploy"], cwd=d)
        self.assertRegex(e, r"fly\.toml:2:\d+")

    def test_ips_allocate_list_release(self):
        h = self.host
        h.cli(["apps", "create", "ips-app"])
        p = h.cli(["ips", "allocate-v6", "--private", "-a", "ips-app"])
        m = re.search(r"fdaa:[0-9a-f:]+", p.stdout)
        self.assertTrue(m, p.stdout)
        addr = m.group(0)
        self.assertRegex(addr, r"^fdaa:[0-9a-f]{1,4}:[0-9a-f]{1,4}:0:1::[0-9a-f:]+$")
        out = h.cli(["ips", "list", "-a", "ips-app"]).stdout
        header = out.splitlines()[0].split()
        self.assertEqual(header, ["VERSION", "IP", "TYPE", "NETWORK", "ORG", "REGION", "CREATED", "AT"])
        row = [l for l in out.splitlines() if addr in l][0].split()
        self.assertEqual(row[0], "v6")
        self.assertEqual(row[2], "private")
        self.assertIn("global", row)
        ips = h.cli_json(["ips", "list", "-a", "ips-app"])
        self.assertEqual(len(ips), 1)
        # another org's default network
        h.cli(["orgs", "create", "ips-other"])
        p = h.cli(["ips", "allocate-v6", "--private", "--org", "ips-other", "-a", "ips-app"])
        other = re.search(r"fdaa:[0-9a-f:]+", p.stdout).group(0)
        self.assertNotEqual(other.split(":")[:3], addr.split(":")[:3])
        h.cli(["ips", "release", addr, "-a", "ips-app"])
        left = [i["address"] if "address" in i else i.get("ip") for i in h.cli_json(["ips", "list", "-a", "ips-app"])]
        self.assertNotIn(addr, left)
        self.err(["ips", "release", "fdaa:1:2:0:1::99", "-a", "ips-app"])


if __name__ == "__main__":
    harness.main()
