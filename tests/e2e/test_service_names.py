"""End to end: per-service flycast names (`<service>.svc.<app>.flycast`, ADR 0013).

App `shop` has two process groups, `web` and `api`, both running hello-nginx, one [[services]]
on port 80 that serves both groups, and a named service `metrics` (port 9100) that serves `api`
only. `deploy --flycast` gives shop.flycast plus web.svc / api.svc addresses; `ips allocate-v6
--service metrics` adds the named one. Checked: the names per network and refused from another
org, routing only to the named service's machines (and ports), wake and autostop per service.
"""
import re

import harness
from harness import flycast_ip, machines, require_root, shell

FLY_TOML = f'''app = "shop"
primary_region = "ams"

[processes]
web = "{harness.HELLO}"
api = "{harness.HELLO}"

[[services]]
internal_port = 80
auto_stop_machines = "stop"
auto_start_machines = true
min_machines_running = 0
  [[services.ports]]
  port = 80
  handlers = ["http"]

[[services]]
name = "metrics"
internal_port = 80
auto_stop_machines = "stop"
auto_start_machines = true
processes = ["api"]
  [[services.ports]]
  port = 9100
  handlers = ["http"]
'''


@require_root
class ServiceNames(harness.HostTestCase):
    HOST_ARGS = ["--autostop-interval", "300ms", "--autostop-idle", "2s"]

    @classmethod
    def setUpHost(cls):
        import os
        d = os.path.join(cls.h.workdir, "shop")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "fly.toml"), "w") as f:
            f.write(FLY_TOML)
        cls.h.cli(["apps", "create", "shop"])
        cls.deploy_out = cls.h.cli(["deploy", "--flycast", "--ha=false"], cwd=d, timeout=120).stdout
        cls.h.cli(["ips", "allocate-v6", "--private", "--service", "metrics", "-a", "shop"])
        cls.ip = {s: flycast_ip(cls.h, "shop", service=s) for s in ("", "web", "api", "metrics")}
        cls.h.cli(["orgs", "create", "intruder"])
        cls.h.cli(["apps", "create", "snoop", "--org", "intruder"])

    def group_of(self):
        """6PN address and machine id → process group, for shop's service machines."""
        out = {}
        for m in machines(self.h, "shop"):
            out[m["id"]] = m["process_group"]
            if m.get("private_ip"):
                out[m["private_ip"]] = m["process_group"]
        return out

    def served_by(self, text):
        """The process groups of the machines named in hello-nginx pages in `text`."""
        groups = self.group_of()
        found = re.findall(r"Server name: ([^<\s]+)", text) + re.findall(r"Server address: ([0-9a-f:]+)", text)
        return {groups[k] for k in found if k in groups}

    def test_a_addresses_listed_per_service(self):
        self.assertIn("web.svc.shop.flycast", self.deploy_out)
        self.assertIn("api.svc.shop.flycast", self.deploy_out)
        for s, ip in self.ip.items():
            self.assertTrue(ip and ip.startswith("fdaa:"), (s, self.ip))
        self.assertEqual(len(set(self.ip.values())), 4, self.ip)
        out = self.h.cli(["ips", "list", "-a", "shop"]).stdout
        self.assertIn("SERVICE", out.splitlines()[0])
        rows = {l.split()[1]: l.split()[-1] for l in out.splitlines()[1:] if l.strip()}
        self.assertEqual(rows[self.ip["api"]], "api")
        self.assertEqual(rows[self.ip["metrics"]], "metrics")
        self.assertEqual(rows[self.ip[""]], "-")
        # A service the app does not have is refused with the list of its services.
        p = self.h.cli(["ips", "allocate-v6", "--private", "--service", "nope", "-a", "shop"], check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("api, metrics, web", p.stderr + p.stdout)

    def test_b_names_resolve_per_network_and_not_from_another_org(self):
        script = ("for n in api.svc.shop.flycast web.svc.shop.flycast metrics.svc.shop.flycast shop.flycast; do "
                  "echo \"$n=$(dig +short AAAA $n)\"; done; "
                  "echo \"txt=$(dig +short TXT _services.shop.internal)\"; "
                  "echo \"nx=$(dig AAAA nope.svc.shop.flycast | grep -o 'status: [A-Z]*')\"")
        p = shell(self.h, "shop", script)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(f"api.svc.shop.flycast={self.ip['api']}", p.stdout)
        self.assertIn(f"web.svc.shop.flycast={self.ip['web']}", p.stdout)
        self.assertIn(f"metrics.svc.shop.flycast={self.ip['metrics']}", p.stdout)
        self.assertIn(f"shop.flycast={self.ip['']}", p.stdout)
        self.assertIn('txt="api,metrics,web"', p.stdout)
        self.assertIn("nx=status: NXDOMAIN", p.stdout)
        # Another org: the same NXDOMAIN as for a name that does not exist, and no way in.
        script = ("echo \"st=$(dig AAAA api.svc.shop.flycast | grep -o 'status: [A-Z]*')\"; "
                  "echo \"txt=$(dig +short TXT _services.shop.internal)\"; "
                  f"curl -sS --max-time 3 http://[{self.ip['api']}]/ && echo REACHED; "
                  f"curl -sS --max-time 3 http://[{self.ip['metrics']}]:9100/ && echo REACHED")
        p = shell(self.h, "snoop", script)
        self.assertIn("st=status: NXDOMAIN", p.stdout)
        self.assertIn("txt=\n", p.stdout + "\n")
        self.assertNotIn("REACHED", p.stdout)
        for ip in self.ip.values():
            self.assertNotIn(ip, p.stdout)

    def test_c_routing_only_to_the_named_service(self):
        script = ("for i in 1 2 3 4 5 6; do curl -sS --max-time 30 http://api.svc.shop.flycast/; done; echo; "
                  "echo ==web; for i in 1 2 3 4 5 6; do curl -sS --max-time 30 http://web.svc.shop.flycast/; done; echo; "
                  "echo ==metrics; curl -sS --max-time 30 http://metrics.svc.shop.flycast:9100/; echo; "
                  "echo ==app; for i in $(seq 12); do curl -sS --max-time 30 http://shop.flycast/; done; echo; "
                  # Ports outside the service: web.svc does not admit the metrics port (metrics serves
                  # api only; api.svc does, as the api group is served by both), metrics.svc not 80.
                  "echo ==refused; curl -sS --max-time 3 http://web.svc.shop.flycast:9100/ && echo REACHED-9100; "
                  "curl -sS --max-time 3 http://metrics.svc.shop.flycast/ && echo REACHED-80; echo ==end")
        p = shell(self.h, "shop", script, timeout=240)
        self.assertEqual(p.returncode, 0, p.stderr)
        api, rest = p.stdout.split("==web", 1)
        web, rest = rest.split("==metrics", 1)
        metrics, rest = rest.split("==app", 1)
        app, refused = rest.split("==refused", 1)
        self.assertEqual(api.count("Server name:"), 6, api)
        self.assertEqual(self.served_by(api), {"api"})
        self.assertEqual(web.count("Server name:"), 6, web)
        self.assertEqual(self.served_by(web), {"web"})
        self.assertEqual(self.served_by(metrics), {"api"})
        self.assertEqual(self.served_by(refused.split("REACHED")[0]), set(), refused)
        self.assertEqual(app.count("Server name:"), 12, app)
        self.assertNotIn("REACHED", refused)
        m = self.h.cli(["status", "-a", "shop"], check=False)
        self.assertEqual(m.returncode, 0)

    def test_d_wake_and_autostop_per_service(self):
        harness.wait_for(lambda: all(m["state"] == "stopped" for m in machines(self.h, "shop")), 60,
                         "autostop of every shop machine")
        p = shell(self.h, "shop", "curl -sS --max-time 60 http://api.svc.shop.flycast/")
        self.assertIn("Server name:", p.stdout, p.stderr)
        self.assertEqual(self.served_by(p.stdout), {"api"})
        states = {m["process_group"]: m["state"] for m in machines(self.h, "shop")}
        self.assertEqual(states["api"], "started", states)
        self.assertEqual(states["web"], "stopped", states)  # the other service's machine slept on
        api_id = [m["id"] for m in machines(self.h, "shop") if m["process_group"] == "api"][0]
        harness.wait_for(lambda: all(m["state"] == "stopped" for m in machines(self.h, "shop")), 60,
                         "autostop of the woken api machine")
        logs = self.h.cli(["logs", "-a", "shop", "--no-tail"]).stdout
        self.assertIn(f"Starting machine {api_id}", logs)
        self.assertIn(f"stopping {api_id} (idle", logs)
        metrics = self.h.nsexec(["curl", "-sS", "--max-time", "10", "--unix-socket", self.h.sock, "http://x/metrics"],
                                check=False).stdout
        self.assertRegex(metrics, r'privcast_proxy_service_connections_total\{app="shop",service="api"\} [1-9]')
        # (the DNS lookup may pre-warm the api machine before the proxy needs to: 0 or more)
        self.assertRegex(metrics, r'privcast_proxy_service_cold_starts_total\{app="shop",service="api"\} \d+')
        self.assertRegex(metrics, r'privcast_proxy_service_cold_starts_total\{app="shop",service="web"\} 0')


if __name__ == "__main__":
    harness.main()
