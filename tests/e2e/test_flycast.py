"""End to end: flycast admission, routing to real machines, scale to zero and back,
Fly headers, raw TCP to PostgreSQL, hard-limit queueing."""
import concurrent.futures
import os
import re

import harness
from harness import deploy, flycast_ip, machines, require_root, shell

POSTGRES = harness.app_path("postgres-machine")


@require_root
class Flycast(harness.HostTestCase):
    HOST_ARGS = ["--autostop-interval", "500ms", "--autostop-idle", "3s"]

    @classmethod
    def setUpHost(cls):
        deploy(cls.h, "web", harness.HELLO, 80)
        cls.ip = flycast_ip(cls.h, "web")

    def test_curl_through_flycast_reaches_a_machine_with_fly_headers(self):
        p = shell(self.h, "web", "curl -sS -D /dev/stderr --max-time 30 http://web.flycast/hello")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("Server name:", p.stdout)
        ids = {m["id"] for m in machines(self.h, "web")}
        self.assertTrue(any(i in p.stdout for i in ids), (p.stdout, ids))
        headers = p.stderr.lower()
        self.assertIn("fly-request-id:", headers)
        self.assertIn("via:", headers)
        # The app saw the proxy's Via header in the request (hello-nginx echoes it).
        self.assertRegex(p.stdout, r"via \S+")

    def test_other_org_is_refused_and_cannot_resolve(self):
        self.h.cli(["orgs", "create", "intruder"], check=False)
        p = shell(self.h, "web", f"dig +short AAAA web.flycast; curl -sS --max-time 3 http://[{self.ip}]/ && echo REACHED",
                  org="intruder")
        self.assertNotIn("REACHED", p.stdout)
        self.assertNotIn(self.ip, p.stdout)
        metrics = self.h.cli(["status", "-a", "web"], check=False)
        self.assertEqual(metrics.returncode, 0)

    def test_cross_org_grant_admits_exactly_that_network(self):
        self.h.cli(["orgs", "create", "partner"], check=False)
        out = self.h.cli(["ips", "allocate-v6", "--private", "--org", "partner", "-a", "web"]).stdout
        other = re.search(r"fdaa:[0-9a-f:]+", out).group(0)
        self.assert_admits_exactly(other, org="partner")

    def assert_admits_exactly(self, other, **where):
        """`other` (a second flycast address of web) resolves and serves from machines run with
        `where` (org= or network=); the default network cannot use it, and vice versa."""
        p = shell(self.h, "web", "dig +short AAAA web.flycast; curl -sS --max-time 30 http://web.flycast/", **where)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(other, p.stdout)
        self.assertIn("Server name:", p.stdout)
        p = shell(self.h, "web", f"curl -sS --max-time 3 http://[{other}]/ && echo REACHED")
        self.assertNotIn("REACHED", p.stdout)
        p = shell(self.h, "web", f"curl -sS --max-time 3 http://[{self.ip}]/ && echo REACHED", **where)
        self.assertNotIn("REACHED", p.stdout)

    def test_custom_network_address_admits_exactly_that_network(self):
        # A custom network of the app's own org: its flycast address there is a separate
        # admission domain from the org's default network.
        self.h.cli(["networks", "create", "backend", "--org", "personal"], check=False)
        out = self.h.cli(["ips", "allocate-v6", "--private", "--network", "backend", "-a", "web"]).stdout
        other = re.search(r"fdaa:[0-9a-f:]+", out).group(0)
        rows = [r for r in self.h.cli_json(["ips", "list", "-a", "web"]) if (r.get("ip") or r.get("address")) == other]
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual(rows[0].get("network"), "backend", rows)
        self.assert_admits_exactly(other, network="backend")

    def test_stopped_app_serves_50_concurrent_requests_without_errors(self):
        harness.wait_for(lambda: all(m["state"] == "stopped" for m in machines(self.h, "web")), 60,
                         "autostop of every machine")
        script = ("for i in $(seq 50); do (curl -s -o /dev/null -w '%{http_code}\\n' --max-time 60 "
                  "http://web.flycast/ >> /tmp/codes) & done; wait; sort /tmp/codes | uniq -c")
        p = shell(self.h, "web", script, timeout=180)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout.strip(), r"^50 200$")
        logs = self.h.cli(["logs", "-a", "web", "--no-tail"]).stdout
        self.assertIn("Starting machine", logs)
        self.assertIn("started in", logs)

    def test_autostop_never_stops_a_machine_with_an_open_connection(self):
        # Hold a connection open well past the idle window; the serving machine must stay up.
        script = ("python3 - <<'PY'\nimport socket,time\ns=socket.create_connection(('web.flycast',80))\n"
                  "time.sleep(8)\ns.sendall(b'GET / HTTP/1.1\\r\\nHost: web\\r\\n\\r\\n')\n"
                  "print(s.recv(100).split(b'\\r\\n')[0].decode())\nPY\n")
        p = shell(self.h, "web", script, timeout=60)
        self.assertIn("HTTP/1.1 200", p.stdout, p.stderr)

    def test_proxy_command_forwards_a_host_port_and_wakes(self):
        # `privcast proxy` runs where privcastd's network is (here: its namespace).
        import subprocess
        import time
        cmd = ["ip", "netns", "exec", self.h.name, harness.PRIVCAST, "proxy", "0:80", "-a", "web"]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.h.env())
        try:
            line = p.stdout.readline()
            m = re.search(r":(\d+) to \[", line)
            self.assertTrue(m, line + p.stderr.read() if p.poll() is not None else line)
            port = m.group(1)
            out = self.h.nsexec(["curl", "-sS", "--max-time", "30", f"http://127.0.0.1:{port}/"], check=False)
            self.assertIn("Server name:", out.stdout, out.stderr)
        finally:
            p.terminate()
            p.wait(10)



@require_root
class Postgres(harness.HostTestCase):
    """psql through flycast to a real PostgreSQL machine behind a raw TCP service (no handlers)."""

    @classmethod
    def setUpHost(cls):
        extra = ('\n[[services]]\nprotocol = "tcp"\ninternal_port = 5432\nauto_stop_machines = "off"\n'
                 'auto_start_machines = true\nprocesses = ["app"]\n'
                 '[[services.ports]]\nport = 5432\n'
                 '[services.concurrency]\ntype = "connections"\nsoft_limit = 50\nhard_limit = 100\n')
        deploy(cls.h, "pg", POSTGRES, 5432, ha=False, http_service=False, extra=extra)

    def psql(self, sql):
        return shell(self.h, "pg", f"PGCONNECT_TIMEOUT=60 psql -h pg.flycast -p 5432 -U postgres -Atc \"{sql}\"",
                     timeout=180)

    def test_psql_reaches_postgres_through_flycast_and_wakes_it(self):
        p = self.psql("create table t(x int); insert into t values (40), (2); select sum(x) from t")
        self.assertEqual(p.returncode, 0, (p.stdout, p.stderr, self.h.daemon_log()[-3000:]))
        self.assertEqual(p.stdout.strip().splitlines()[-1], "42", p.stdout)
        # Stopped: the raw TCP connection is held until PostgreSQL listens again (a fresh,
        # empty cluster: the machine's /tmp is private and gone with the old process).
        mid = machines(self.h, "pg")[0]["id"]
        self.h.cli(["machine", "stop", mid, "-a", "pg"])
        harness.wait_for(lambda: machines(self.h, "pg")[0]["state"] == "stopped", 60, "stopped")
        # PostgreSQL listens a moment before it takes queries ("the database system is starting
        # up"): the proxy's promise ends at the listen, so a client retries that answer, as
        # with any PostgreSQL that is starting.
        p = shell(self.h, "pg", "for i in $(seq 50); do PGCONNECT_TIMEOUT=60 psql -h pg.flycast -U postgres -Atc "
                  "\"select count(*) from pg_tables where tablename = 't'\" 2>/tmp/err && exit 0; "
                  "grep -q 'starting up' /tmp/err || break; sleep 0.2; done; cat /tmp/err; exit 1", timeout=180)
        self.assertEqual(p.returncode, 0, (p.stdout, p.stderr))
        self.assertEqual(p.stdout.strip().splitlines()[-1], "0", p.stdout)
        self.assertEqual(machines(self.h, "pg")[0]["state"], "started")


if __name__ == "__main__":
    harness.main()
