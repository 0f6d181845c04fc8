"""Issue 4 end to end: flycast admission, routing to real machines, scale to zero and back,
Fly headers, raw TCP to PostgreSQL, hard-limit queueing."""
import concurrent.futures
import os
import re

import harness
from harness import deploy, flycast_ip, machines, require_root, shell


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
        p = shell(self.h, "web", "dig +short AAAA web.flycast; curl -sS --max-time 30 http://web.flycast/", org="partner")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(other, p.stdout)
        self.assertIn("Server name:", p.stdout)
        # The personal network cannot use the partner's address, and vice versa.
        p = shell(self.h, "web", f"curl -sS --max-time 3 http://[{other}]/ && echo REACHED")
        self.assertNotIn("REACHED", p.stdout)
        p = shell(self.h, "web", f"curl -sS --max-time 3 http://[{self.ip}]/ && echo REACHED", org="partner")
        self.assertNotIn("REACHED", p.stdout)

    def test_stopped_app_serves_50_concurrent_requests_without_errors(self):
        harness.wait_for(lambda: all(m["state"] == "stopped" for m in machines(self.h, "web")), 60,
                         "autostop of every machine")
        script = ("for i in $(seq 50); do (curl -s -o /dev/null -w '%{http_code}\\n' --max-time 60 "
                  "http://web.flycast/ >> /tmp/codes) & done; wait; sort /tmp/codes | uniq -c")
        p = shell(self.h, "web", script, timeout=180)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout.strip(), r"^50 200$")
        logs = self.h.cli(["logs", "-a", "web"]).stdout
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


if __name__ == "__main__":
    harness.main()
