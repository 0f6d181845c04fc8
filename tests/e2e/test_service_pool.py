"""Only machines that carry the app's services take their traffic, and
`status` shows real health-check results.

`machine run -a web2 -- sleep 600` in an app with an [http_service] got the next request (30 s,
then `machine did not start listening in time`); `status` said "passing" for every started
machine, checks or not, crash-looping or not."""
import time

import harness
from harness import deploy, machines, require_root, shell

CHECKS = '\n[[http_service.checks]]\ninterval = "1s"\ntimeout = "1s"\ngrace_period = "0s"\nmethod = "GET"\npath = "/"\n'


def status_checks(host, app):
    """machine id → the CHECKS text of `status --json`."""
    s = host.cli_json(["status", "-a", app])
    return {m["id"]: m.get("checks", "") for m in s["machines"]}


@require_root
class ServicePool(harness.HostTestCase):
    @classmethod
    def setUpHost(cls):
        deploy(cls.h, "web2", harness.HELLO, 80, ha=False, auto_stop="off")
        cls.web = machines(cls.h, "web2")[0]["id"]
        out = cls.h.cli(["machine", "run", "-a", "web2", "--", "sleep", "600"]).stdout
        cls.sleeper = [m["id"] for m in machines(cls.h, "web2") if m["id"] != cls.web][0]
        assert cls.sleeper in out, out

    def curl_names(self, n, max_time=20):
        p = shell(self.h, "web2", f"for i in $(seq {n}); do curl -sS --max-time {max_time} http://web2.flycast "
                                  "| grep -o 'Server name: [0-9a-f]*' || echo FAILED; done", timeout=60 + n * max_time)
        return p.stdout.split("\n")

    def test_machine_run_machine_takes_no_service_traffic(self):
        names = [l for l in self.curl_names(10) if l]
        self.assertEqual(names, [f"Server name: {self.web}"] * 10)
        # With the service's machine stopped, a request wakes it: never the sleeping one.
        self.h.cli(["machine", "stop", "-a", "web2", self.web])
        t0 = time.monotonic()
        names = [l for l in self.curl_names(1) if l]
        self.assertEqual(names, [f"Server name: {self.web}"], f"after {time.monotonic() - t0:.1f}s")
        self.assertLess(time.monotonic() - t0, 15)
        by_id = {m["id"]: m for m in machines(self.h, "web2")}
        self.assertEqual(by_id[self.sleeper]["state"], "started")
        self.assertFalse(by_id[self.sleeper].get("services"), by_id[self.sleeper])
        self.assertTrue(by_id[self.web].get("services"), by_id[self.web])

    def test_status_says_no_checks_without_checks(self):
        checks = status_checks(self.h, "web2")
        self.assertEqual(checks[self.sleeper], "no checks")
        self.assertEqual(checks[self.web], "no checks")
        table = self.h.cli(["status", "-a", "web2"]).stdout
        self.assertNotIn("passing", table)

    def test_status_shows_real_check_results(self):
        deploy(self.h, "chk", harness.HELLO, 80, ha=False, auto_stop="off", extra=CHECKS)
        web = machines(self.h, "chk")[0]["id"]
        self.h.cli(["machine", "run", "-a", "chk", "--", "sleep", "600"])
        adhoc = [m["id"] for m in machines(self.h, "chk") if m["id"] != web][0]
        harness.wait_for(lambda: status_checks(self.h, "chk")[web] == "1 total, 1 passing", 30, "check passing")
        s = self.h.cli_json(["status", "-a", "chk"])
        by_id = {m["id"]: m for m in s["machines"]}
        self.assertEqual(by_id[web]["check_results"], [{"name": "servicecheck-00-http-80", "status": "passing"}])
        self.assertEqual(by_id[adhoc]["checks"], "no checks")
        self.assertEqual(by_id[adhoc]["check_results"], [])

    def test_a_crash_looping_machine_is_never_passing(self):
        # Exits 1 right away, restarted with back-off (on-failure): never listening.
        for app, extra in (("crashy", CHECKS), ("crashy2", "")):
            deploy(self.h, app, "sh -c 'sleep 0.2; exit 1'", 80, ha=False, auto_stop="off", extra=extra)
        deadline = time.monotonic() + 4
        seen = set()
        while time.monotonic() < deadline:
            for app in ("crashy", "crashy2"):
                for mid, c in status_checks(self.h, app).items():
                    seen.add((app, c))
                    self.assertNotIn("passing", c, f"{app} machine {mid}: {c}")
            time.sleep(0.2)
        self.assertIn(("crashy2", "no checks"), seen)
        self.assertTrue(any(a == "crashy" and c.startswith("1 total, ") for a, c in seen), seen)


if __name__ == "__main__":
    harness.main()
