"""A Fly user's everyday verbs, driven through the real CLI against a real
privcastd: unknown commands (cobra's wording, suggestions, exit 1), secrets (encrypted at
rest, given to machines as env, never printed or logged; --stage does not restart),
config show, releases, regions list, orgs show, scale show, machine restart, apps restart."""
import glob
import json
import os
import re
import unittest

import harness
from harness import HostTestCase, deploy, require_root

APP = "everyday"
VALUE = "s3cr3t-Value-7f1c9a"  # distinctive: grepped for in the store and the daemon log


def machine_env(h, machine_id):
    """The environment of the machine's app processes (host view of /proc)."""
    envs = []
    for pid in harness.cgroup_pids(h.instance, machine_id):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                envs.append(dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv))
        except OSError:
            pass
    return envs


@require_root
class Everyday(HostTestCase):
    @classmethod
    def setUpHost(cls):
        cls.dir = deploy(cls.h, APP, harness.HELLO, 80, ha=False)

    def cli(self, args, **kw):
        return self.h.cli(args, check=False, **kw)

    def the_machine(self):
        ms = harness.machines(self.h, APP)
        self.assertEqual(len(ms), 1, ms)
        return ms[0]

    def wait_started(self, mid):
        harness.wait_for(lambda: self.h.cli_json(["machine", "status", mid, "-a", APP]).get("state") == "started",
                         30, "machine started")

    # -- unknown commands ------------------------------------------------------------------
    def test_unknown_command(self):
        p = self.cli(["secrts"])
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertTrue(p.stderr.startswith('Error: unknown command "secrts" for "privcast"\n\nDid you mean this?\n\tsecrets\n'),
                        p.stderr)
        p = self.cli(["apps", "foo"])
        self.assertEqual(p.returncode, 1)
        self.assertTrue(p.stderr.startswith('Error: unknown command "foo" for "privcast apps"\n'), p.stderr)
        self.assertNotIn("Did you mean", p.stderr)
        p = self.cli(["machine", "restat", "x"])
        self.assertIn("Did you mean this?\n\trestart\n", p.stderr)
        p = self.cli(["--api", "unix:" + self.h.sock, "nope"])  # an option's value is not a command
        self.assertIn('unknown command "nope" for "privcast"', p.stderr)
        # Known verbs still work, and a leaf's arguments are not commands.
        self.assertEqual(self.cli(["orgs", "show", "personal"]).returncode, 0)

    # -- secrets ---------------------------------------------------------------------------
    def test_secrets(self):
        m = self.the_machine()
        before = m["updated_at"], set(harness.cgroup_pids(self.h.instance, m["id"]))
        p = self.cli(["secrets", "set", f"EV_SECRET={VALUE}", "-a", APP], timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn(VALUE, p.stdout + p.stderr)
        self.assertIn(f"Restarting machine {m['id']}", p.stdout)
        self.wait_started(m["id"])
        self.assertNotEqual(set(harness.cgroup_pids(self.h.instance, m["id"])), before[1], "machine was not restarted")
        envs = machine_env(self.h, m["id"])
        self.assertTrue(any(e.get(b"EV_SECRET") == VALUE.encode() for e in envs), envs)

        # list: names and digests, never values
        p = self.cli(["secrets", "list", "-a", APP])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn(VALUE, p.stdout)
        lines = p.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "DIGEST", "CREATED", "AT"])
        row = [l for l in lines if l.startswith("EV_SECRET")][0].split()
        self.assertRegex(row[1], r"^[0-9a-f]{16}$")
        js = self.h.cli_json(["secrets", "list", "-a", APP])
        self.assertEqual(js[0]["Name"], "EV_SECRET")
        self.assertEqual(js[0]["Digest"], row[1])
        self.assertIn("CreatedAt", js[0])

        # an ad-hoc machine of the app gets it too; [env] precedence and multi-line import
        p = self.cli(["secrets", "import", "-a", APP, "--stage"],
                     input='# comment\nEV_ML="""line one\nline two"""\n\nEV_EQ=a=b\n')
        self.assertEqual(p.returncode, 0, p.stderr)
        p = harness.shell(self.h, APP, 'printf "%s|%s|%s" "$EV_SECRET" "$EV_ML" "$EV_EQ"')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, f"{VALUE}|line one\nline two|a=b")

        # --stage: stored, machine untouched
        m = self.the_machine()
        pids = set(harness.cgroup_pids(self.h.instance, m["id"]))
        p = self.cli(["secrets", "set", "EV_STAGED=later", "--stage", "-a", APP])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("staged", p.stdout)
        self.assertNotIn("Restarting", p.stdout)
        self.assertEqual(self.the_machine()["updated_at"], m["updated_at"])
        self.assertEqual(set(harness.cgroup_pids(self.h.instance, m["id"])), pids)
        self.assertFalse(any(b"EV_STAGED" in e for e in machine_env(self.h, m["id"])))

        # at rest: neither the store (any file of the data dir) nor the daemon's log holds it
        for f in glob.glob(os.path.join(self.h.data_dir, "**"), recursive=True):
            if os.path.isfile(f) and not f.startswith(os.path.join(self.h.data_dir, "images")):
                with open(f, "rb") as fh:
                    self.assertNotIn(VALUE.encode(), fh.read(), f)
        self.assertNotIn(VALUE, self.h.daemon_log())
        key = os.path.join(self.h.data_dir, "secrets.key")
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
        self.assertEqual(os.path.getsize(key), 32)

        # unset: gone from the machine after its restart; an unknown name is an error
        p = self.cli(["secrets", "unset", "EV_SECRET", "EV_STAGED", "-a", APP], timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.wait_started(m["id"])
        envs = machine_env(self.h, m["id"])
        self.assertTrue(envs and not any(b"EV_SECRET" in e for e in envs), envs)
        p = self.cli(["secrets", "unset", "EV_SECRET", "-a", APP])
        self.assertEqual(p.returncode, 1)
        self.assertIn("has no secret", p.stderr)
        names = [s["Name"] for s in self.h.cli_json(["secrets", "list", "-a", APP])]
        self.assertEqual(names, ["EV_EQ", "EV_ML"])
        p = self.cli(["secrets", "set", "OK=1", VALUE, "-a", APP])  # a value without its name
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stderr, "Error: argument 2: expected NAME=VALUE\n")
        p = self.cli(["secrets", "import", "-a", APP], input=f"{VALUE}\n")
        self.assertEqual(p.returncode, 1)
        self.assertNotIn(VALUE, p.stderr)
        p = self.cli(["secrets", "set", "1BAD=x", "-a", APP])
        self.assertEqual(p.returncode, 1)
        self.assertIn("not an environment variable name", p.stderr)

    # -- config show, releases -------------------------------------------------------------
    def test_config_show(self):
        p = self.cli(["config", "show", "-a", APP])
        self.assertEqual(p.returncode, 0, p.stderr)
        cfg = json.loads(p.stdout)
        self.assertEqual(cfg["app"], APP)
        self.assertEqual(cfg["http_service"]["internal_port"], 80)
        self.assertEqual(cfg["primary_region"], "ams")
        p = self.cli(["config", "show"], cwd=self.dir)  # the app from ./fly.toml
        self.assertEqual(json.loads(p.stdout)["app"], APP)
        self.cli(["apps", "create", "undeployed"])
        p = self.cli(["config", "show", "-a", "undeployed"])
        self.assertEqual(p.returncode, 1)
        self.assertIn("no release yet", p.stderr)

    def test_releases(self):
        n0 = len(self.h.cli_json(["releases", "-a", APP]))
        self.h.cli(["deploy", "--ha=false"], cwd=self.dir, timeout=120)
        p = self.cli(["releases", "-a", APP])
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["VERSION", "STATUS", "DESCRIPTION", "USER", "DATE"])
        self.assertEqual(len(lines) - 1, n0 + 1)
        self.assertRegex(lines[1], rf"^v{n0 + 1}\s+complete\s+Deploy\s+root\s+\d{{4}}-\d\d-\d\dT")
        js = self.h.cli_json(["releases", "-a", APP])
        self.assertEqual(js[0]["Version"], n0 + 1)
        self.assertEqual(js[0]["Status"], "complete")
        self.assertEqual(js[0]["User"]["Email"], "root")
        self.assertEqual(self.cli(["releases", "-a", "nosuchapp"]).returncode, 1)

    # -- regions, orgs, scale --------------------------------------------------------------
    def test_regions_list(self):
        p = self.cli(["regions", "list"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.splitlines()[0].split(), ["CODE", "HOSTS", "MACHINES"])
        self.assertRegex(p.stdout.splitlines()[1], r"^ams\s")
        self.assertEqual([r["code"] for r in self.h.cli_json(["regions", "list"])], ["ams"])

    def test_orgs_show(self):
        p = self.cli(["orgs", "show", "personal"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"Slug\s+= personal")
        self.assertIn(APP, p.stdout)
        self.assertRegex(p.stdout, r"\ndefault\s+fdaa:")
        p = self.cli(["orgs", "show", "nosuchorg"])
        self.assertEqual(p.returncode, 1)
        self.assertIn("unknown org", p.stderr)

    def test_scale_show(self):
        p = self.cli(["scale", "show", "-a", APP])
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        hdr = lines.index("Groups") + 1
        self.assertEqual(lines[hdr].split(), ["PROCESS", "COUNT", "KIND", "CPUS", "MEMORY", "REGIONS"])
        self.assertEqual(lines[hdr + 1].split(), ["app", "1", "shared", "1", "256", "MB", "ams(1)"])
        js = self.h.cli_json(["scale", "show", "-a", APP])
        self.assertEqual(js, [{"Process": "app", "Count": 1, "CPUKind": "shared", "CPUs": 1, "Memory": 256,
                               "Regions": {"ams": 1}}])

    # -- restarts --------------------------------------------------------------------------
    def test_machine_and_apps_restart(self):
        m = self.the_machine()
        self.wait_started(m["id"])
        pids = set(harness.cgroup_pids(self.h.instance, m["id"]))
        p = self.cli(["machine", "restart", m["id"], "-a", APP], timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(f"Machine {m['id']} restarted", p.stdout)
        self.assertEqual(self.h.cli_json(["machine", "status", m["id"], "-a", APP])["state"], "started")
        pids2 = set(harness.cgroup_pids(self.h.instance, m["id"]))
        self.assertTrue(pids2 and not (pids2 & pids), (pids, pids2))
        p = self.cli(["apps", "restart", APP], timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(f"Machine {m['id']} restarted", p.stdout)
        self.assertFalse(set(harness.cgroup_pids(self.h.instance, m["id"])) & pids2)
        p = self.cli(["machine", "restart", "00000000000000", "-a", APP])
        self.assertEqual(p.returncode, 1)
        self.assertIn("unknown machine", p.stderr)


if __name__ == "__main__":
    harness.main()
