"""End to end: an app with health checks, through the real daemon.

Before the fix, the first routing update after checks started (a `machine run`, a deploy,
autostop) crashed privcastd in HealthChecker::Apply. Here one machine's check fails and
recovers while many routing updates are published (each throwaway shell machine is one, and so
is a second deploy): the daemon stays up, the failing machine leaves the rotation and comes back.
"""
import re

import harness
from harness import deploy, machines, require_root, shell

APP = harness.app_path("health_app.py")
CHECKS = ('\n[[http_service.checks]]\ninterval = "300ms"\ntimeout = "1s"\ngrace_period = "0s"\n'
          'method = "GET"\npath = "/healthz"\n')


@require_root
class HealthChecks(harness.HostTestCase):
    @classmethod
    def setUpHost(cls):
        cls.dir = deploy(cls.h, "hc", f"python3 {APP} 8080", 8080, auto_stop="off", min_running=2,
                         extra=CHECKS)

    def served_by(self, n=16):
        """Machine ids that answered n requests to hc.flycast (one shell machine: one routing update)."""
        script = "; ".join(["curl -sS --max-time 20 http://hc.flycast:80/"] * n)
        p = shell(self.h, "hc", script, timeout=180)
        self.assertTrue(self.h.proc.poll() is None, "privcastd died:\n" + self.h.daemon_log()[-3000:])
        return set(re.findall(r"^([0-9a-f]{14})$", p.stdout, re.M)), p

    def flip(self, machine, path):
        ip = machine["private_ip"]
        p = shell(self.h, "hc", f"curl -sS --max-time 10 http://[{ip}]:8080/{path}")
        self.assertIn("failing" if path == "fail" else "recovered", p.stdout, p.stderr)

    def test_failing_check_leaves_rotation_and_recovers_across_routing_updates(self):
        ms = machines(self.h, "hc")
        self.assertEqual(len(ms), 2, ms)
        ids = {m["id"] for m in ms}
        harness.wait_for(lambda: self.served_by()[0] == ids, timeout=60, what="both machines serving")
        bad, good = ms[0], ms[1]
        self.flip(bad, "fail")
        # Every poll is a new shell machine, i.e. another snapshot while the checks run.
        harness.wait_for(lambda: self.served_by()[0] == {good["id"]}, timeout=60,
                         what="the failing machine to leave the rotation")
        for _ in range(3):
            self.assertEqual(self.served_by()[0], {good["id"]})
        self.flip(bad, "recover")
        harness.wait_for(lambda: self.served_by()[0] == ids, timeout=60,
                         what="the recovered machine back in the rotation")
        log = self.h.cli(["logs", "-a", "hc", "--no-tail", "--lines", "100000"], check=False).stdout
        self.assertRegex(log, rf"health check {bad['id']}\S* failing", log)
        self.assertRegex(log, rf"health check {bad['id']}\S* passing", log)
        # A second deploy while checks run (it replaces the machines: checks dropped and
        # re-created in the same snapshots): the daemon stays up and the new machines serve.
        self.h.cli(["deploy"], cwd=self.dir, timeout=120)
        ids = {m["id"] for m in machines(self.h, "hc")}
        harness.wait_for(lambda: self.served_by()[0] == ids, timeout=60, what="both machines serving after deploy")
        self.assertTrue(self.h.proc.poll() is None, self.h.daemon_log()[-3000:])


if __name__ == "__main__":
    harness.main()
