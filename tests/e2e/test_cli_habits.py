"""End to end: a flyctl user's everyday habits, through the real CLI and
the real daemon — logs (follows by default; -n, -i, -r, --json; machine lines with time,
machine and region, in time order with the daemon's events), launch (--copy-config, --yes,
--no-public-ips, primary_region), deploy (unknown app, --strategy rolling waiting for health
checks, --wait-timeout, immediate), machine run IMAGE CMD (-e, --name, -p, --restart), -y and
durations, machine list -q, flyctl's JSON shapes, usage errors exiting 1, ips list times, and
proxy to <app>.internal."""
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import oci_image  # noqa: E402
from harness import deploy, machines, require_root, wait_for  # noqa: E402

APP = harness.app_path("health_app.py")
CHECKS = ('\n[[http_service.checks]]\ninterval = "300ms"\ntimeout = "1s"\ngrace_period = "0s"\n'
          'method = "GET"\npath = "/healthz"\n')
ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"


def read_until(p, pattern, timeout):
    """What a running process prints (unbuffered reads of its stdout) until `pattern` matches
    or timeout passes; returns all of it."""
    got, deadline = "", time.time() + timeout
    while not re.search(pattern, got) and time.time() < deadline:
        r, _, _ = select.select([p.stdout], [], [], max(0.0, deadline - time.time()))
        if not r:
            break
        chunk = os.read(p.stdout.fileno(), 65536)
        if not chunk:
            break
        got += chunk.decode(errors="replace")
    return got


@require_root
class CliHabits(harness.HostTestCase):
    @classmethod
    def setUpHost(cls):
        # Prints a line, then listens a second later: the line is in the log well before the
        # deploy's "release v1 deployed" event.
        cmd = f"sh -c 'echo boot $FLY_MACHINE_ID; sleep 1; exec python3 {APP} 8080'"
        cls.dir = deploy(cls.h, "habits", cmd, 8080, auto_stop="off", extra=CHECKS)

    # ---- item 2: logs ----
    def test_logs_lines_carry_time_machine_region_in_time_order(self):
        out = self.h.cli(["logs", "-a", "habits", "--no-tail"]).stdout
        lines = out.splitlines()
        ids = [m["id"] for m in machines(self.h, "habits")]
        boots = {}
        for i, l in enumerate(lines):
            m = re.match(rf"^({ISO}) app\[([0-9a-f]{{14}})\] ams \[info\] boot ([0-9a-f]{{14}})$", l)
            if m:
                self.assertEqual(m.group(3), m.group(4), l)
                boots.setdefault(m.group(3), i)  # the first boot (another test restarts one)
        self.assertEqual(set(boots), set(ids), out)
        deployed = [i for i, l in enumerate(lines) if re.match(rf"^{ISO} deploy release v1 deployed$", l)]
        self.assertTrue(deployed, out)
        for mid, i in boots.items():
            self.assertLess(i, deployed[0], f"machine {mid}'s boot line is older than the deploy's end:\n{out}")
        stamps = [re.match(ISO, l).group(0) for l in lines if re.match(ISO, l)]
        self.assertEqual(len(stamps), len(lines), out)
        self.assertEqual(stamps, sorted(stamps), out)

    def test_logs_filters_and_json(self):
        mid = machines(self.h, "habits")[0]["id"]
        one = self.h.cli(["logs", "-a", "habits", "-n", "-i", mid]).stdout.splitlines()
        self.assertTrue(one)
        self.assertTrue(all(f"app[{mid}]" in l for l in one), one)
        ams = self.h.cli(["logs", "-a", "habits", "-n", "-r", "ams"]).stdout.splitlines()
        self.assertTrue(ams and all(" app[" in l for l in ams), ams)
        self.assertEqual(self.h.cli(["logs", "-a", "habits", "-n", "--region", "syd"]).stdout, "")
        entries = [json.loads(l) for l in self.h.cli(["logs", "-a", "habits", "-n", "--json"]).stdout.splitlines()]
        boot = [e for e in entries if e["message"].startswith("boot ")]
        self.assertTrue(boot, entries)
        for e in boot:
            self.assertRegex(e["timestamp"], ISO)
            self.assertEqual(e["region"], "ams")
            self.assertEqual(e["level"], "info")
            self.assertEqual(e["message"], "boot " + e["instance"])
            self.assertEqual(e["meta"]["instance"], e["instance"])
        self.assertTrue(any(e["source"] == "deploy" for e in entries), entries)

    def test_logs_follows_by_default(self):
        mid = machines(self.h, "habits")[0]["id"]
        p = subprocess.Popen([harness.PRIVCAST, "logs", "-a", "habits", "--lines", "1", "-i", mid],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.h.env())
        try:
            # The one line of history says the stream is up: what comes next is followed.
            self.assertIn("\n", read_until(p, r"\n", 30), p.stderr.read() if p.poll() is not None else "")
            self.assertIsNone(p.poll(), p.stderr.read() if p.poll() is not None else "")
            self.h.cli(["machine", "stop", mid, "-a", "habits", "-w", "30s"])
            self.h.cli(["machine", "start", mid, "-a", "habits", "--wait-timeout", "1m"])
            want = rf"{ISO} app\[{mid}\] ams \[info\] boot {mid}"
            self.assertRegex(read_until(p, want, 30), want)
            self.assertIsNone(p.poll(), "logs without -n keeps following")
        finally:
            p.terminate()
            p.wait(10)
        wait_for(lambda: self.h.cli_json(["machine", "status", mid, "-a", "habits"])["state"] == "started", 30)

    # ---- item 3: launch, deploy of an unknown app ----
    def test_launch_copy_config_yes_no_public_ips(self):
        d = tempfile.mkdtemp(dir=self.h.workdir)
        harness.write_fly_toml(d, "old-name", f"python3 {APP} 8080", 8080)
        p = self.h.cli(["launch", "--no-deploy"], cwd=d, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("--copy-config", p.stderr)
        p = self.h.cli(["launch", "--copy-config", "--name", "copied", "--region", "ams", "--no-deploy", "-y",
                        "--no-public-ips"], cwd=d)
        self.assertEqual(p.stdout.count("--no-public-ips"), 1, p.stdout)
        self.assertIn("copied", [a["name"] for a in self.h.cli_json(["apps", "list"])])
        text = open(os.path.join(d, "fly.toml")).read()
        self.assertRegex(text, r'(?m)^app = "copied"$')
        self.assertRegex(text, r'(?m)^primary_region = "ams"$')
        self.assertIn("[http_service]", text, "the rest of the file is kept")
        d2 = tempfile.mkdtemp(dir=self.h.workdir)
        self.h.cli(["launch", "--name", "fresh", "--region", "ams", "--no-deploy", "--yes"], cwd=d2)
        self.assertRegex(open(os.path.join(d2, "fly.toml")).read(), r'(?m)^primary_region = "ams"$')
        d3 = tempfile.mkdtemp(dir=self.h.workdir)
        self.h.cli(["launch", "--name", "plain", "--no-deploy"], cwd=d3)
        self.assertRegex(open(os.path.join(d3, "fly.toml")).read(), r'(?m)^primary_region = "ams"$',
                         "without --region, the one region the host reports (flyctl always writes one)")

    def test_deploy_of_an_unknown_app_says_how_to_create_it(self):
        p = self.h.cli(["deploy", "-a", "nosuchapp"], cwd=self.dir, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("privcast apps create nosuchapp", p.stderr)
        self.assertIn("privcast launch", p.stderr)

    # ---- item 5: deploy strategies ----
    def test_rolling_deploy_waits_for_health_and_fails_when_unhealthy(self):
        # The first deploy creates the machines and waits for their checks.
        good = os.path.join(self.h.workdir, "roll")
        harness.write_fly_toml(good, "roll", f"python3 {APP} 8080", 8080, auto_stop="off", extra=CHECKS)
        self.h.cli(["apps", "create", "roll"])
        p = self.h.cli(["deploy", "--wait-timeout", "30s"], cwd=good, timeout=120, check=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr + self.h.cli(["logs", "-n", "-a", "roll"]).stdout)
        self.assertEqual(len(re.findall(r"Machine [0-9a-f]{14} is healthy \(1 total, 1 passing\)", p.stdout)), 2,
                         p.stdout)
        # A redeploy replaces them (stop, start on the new release) and waits again.
        p = self.h.cli(["deploy", "--wait-timeout", "30s"], cwd=good, timeout=120, check=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr + self.h.cli(["logs", "-n", "-a", "roll"]).stdout)
        harness.write_fly_toml(good, "roll", f"python3 {APP} 8080 failing", 8080, auto_stop="off", extra=CHECKS)
        t0 = time.time()
        p = self.h.cli(["deploy", "--wait-timeout", "3s"], cwd=good, check=False, timeout=120)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("did not become healthy within 3s", p.stderr)
        self.assertRegex(p.stderr, r"[0-9a-f]{14} \(\w+, checks: ")
        p = self.h.cli(["deploy", "--strategy", "immediate"], cwd=good, timeout=120)
        self.assertNotIn("healthy", p.stdout)
        p = self.h.cli(["deploy", "--strategy", "bluegreen"], cwd=good, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("rolling", p.stderr)
        self.assertLess(time.time() - t0, 100)

    # ---- item 4: machine run IMAGE CMD ----
    def test_machine_run_flags(self):
        p = self.h.cli(["machine", "run", "-a", "habits", "--shell", "-e", "GREETING=hi", "-e", "X=1=2",
                        "--", "sh", "-c", "echo $GREETING $X"])
        self.assertEqual(p.stdout.strip(), "hi 1=2")
        p = self.h.cli(["machine", "run", "-a", "habits", "--restart", "always", "--", "true"], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("--restart", p.stderr)
        p = self.h.cli(["machine", "run", "-a", "habits", "--name", "worker", "--rm", "--", "sleep", "1"])
        self.assertIn("Note: --name", p.stdout)

    @unittest.skipUnless(os.path.exists(oci_image.BUSYBOX) and shutil.which("skopeo"), "needs busybox and skopeo")
    def test_machine_run_image_first_then_command(self):
        layout = os.path.join(tempfile.mkdtemp(dir=self.h.tmp), "layout")
        oci_image.build_hello(layout)
        p = self.h.cli(["machine", "run", f"oci:{layout}:v1", "echo", "from", "$HOME", "-a", "habits", "--shell",
                        "-e", "K=V"], timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), "from $HOME")

    # ---- item 6: -y, durations, -q ----
    def test_yes_durations_and_quiet_list(self):
        ids = self.h.cli(["machine", "list", "-a", "habits", "-q"]).stdout.split()
        self.assertEqual(sorted(ids), sorted(m["id"] for m in self.h.cli_json(["machine", "list", "-a", "habits"])))
        p = self.h.cli(["machine", "stop", ids[0], "-a", "habits", "-w", "1m30s"])
        self.assertIn("is stopped", p.stdout)
        self.h.cli(["machine", "start", ids[0], "-a", "habits", "-w", "60"])
        p = self.h.cli(["machine", "stop", ids[0], "-a", "habits", "-w", "ten"], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("10s", p.stderr)
        self.h.cli(["scale", "count", "2", "-a", "habits", "-y"], timeout=120)
        p = self.h.cli(["ips", "release", "-y", "-a", "habits", "fdaa::1"], check=False)
        self.assertNotIn("-y", p.stderr, "-y is accepted (the address is not the app's)")
        p = self.h.cli(["machine", "run", "-a", "habits", "--", "sleep", "300"])
        mid = re.search(r"Machine ([0-9a-f]{14}) created", p.stdout).group(1)
        self.h.cli(["machine", "destroy", mid, "-a", "habits", "-f", "-y", "--wait-timeout", "30s"])

    # ---- items 7, 9: JSON shapes, ips list ----
    def test_json_shapes_are_flyctls_plus_privcasts(self):
        ips = self.h.cli_json(["ips", "list", "-a", "habits"])
        self.assertTrue(ips)
        for ip in ips:
            self.assertEqual(ip["Address"], ip["ip"])
            self.assertEqual(ip["Type"], "private_v6")
            self.assertEqual(ip["Network"]["Name"], "default")
            self.assertEqual(ip["Network"]["Organization"]["Slug"], "personal")
            self.assertRegex(ip["CreatedAt"], ISO)
        for m in self.h.cli_json(["machine", "list", "-a", "habits"]):
            self.assertEqual(m["config"]["metadata"]["fly_process_group"], "app")
            self.assertEqual(m["process_group"], "app", "privcast's own fields stay")
            self.assertRegex(m["private_ip"], r"^fdaa:")
            for k in ("id", "name", "state", "region", "instance_id", "image_ref", "created_at", "updated_at"):
                self.assertIn(k, m)
        st = self.h.cli_json(["status", "-a", "habits"])
        self.assertEqual(st["Name"], "habits")
        self.assertEqual(st["Organization"]["Slug"], "personal")
        self.assertTrue(st["Deployed"])
        self.assertEqual({m["id"] for m in st["Machines"]}, {m["id"] for m in st["machines"]})
        apps = {a["Name"]: a for a in self.h.cli_json(["apps", "list"])}
        self.assertEqual(apps["habits"]["name"], "habits")
        table = self.h.cli(["ips", "list", "-a", "habits"]).stdout
        self.assertRegex(table, r"private\s+default\s+personal\s+global\s+\d+[smhd]\S* ago")

    # ---- item 8: usage errors ----
    def test_usage_errors_exit_1(self):
        for args in (["apps", "create"], ["ips", "allocate-v6", "--bogus"], ["logs", "--lines", "x"]):
            p = self.h.cli(args, check=False)
            self.assertEqual(p.returncode, 1, args)
            self.assertTrue(p.stderr.startswith("Error: "), p.stderr)

    # ---- item 10: proxy to .internal ----
    def test_proxy_to_internal_reaches_a_started_machine(self):
        ids = {m["id"] for m in machines(self.h, "habits")}
        cmd = ["ip", "netns", "exec", self.h.name, harness.PRIVCAST, "proxy", "0:8080", "habits.internal"]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.h.env())
        try:
            line = read_until(p, r"\n", 30)
            m = re.search(r":(\d+) to \[(fdaa:[0-9a-f:]+)\]:8080 \(habits.internal\)", line)
            self.assertTrue(m, line + (p.stderr.read() if p.poll() is not None else ""))
            # The machine may still be starting its app (another test restarted one): retry.
            url = f"http://127.0.0.1:{m.group(1)}/"
            got = []
            wait_for(lambda: got.append(self.h.nsexec(["curl", "-sS", "--max-time", "5", url], check=False)) or
                     got[-1].returncode == 0, 30, "an answer through the forwarder")
            self.assertIn(got[-1].stdout.strip(), ids, line + got[-1].stderr)
        finally:
            p.terminate()
            p.wait(10)
        p = self.h.cli(["proxy", "0:8080", "nosuch.internal"], check=False)
        self.assertEqual(p.returncode, 1)


if __name__ == "__main__":
    harness.main()
