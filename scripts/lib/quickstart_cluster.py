#!/usr/bin/env python3
"""The seeds' multi-region story, for real, on this machine (scripts/quickstart --cluster):
a token service replicated across regions; "if a region falls over, you'll get routed to the
closest backup".

  1. three etcd members and three privcastd hosts, ams, fra and syd, in network namespaces
     joined by a bridge (scripts/lib/privcast_cluster.py; docs/cluster.md "Try it");
  2. the app `tokens` (mints a token, says which region served it) on the fra and syd hosts,
     one flycast address, tokens.flycast, answering on every host;
  3. a caller on the ams host: served by fra, the nearest region (≈ 360 km; syd ≈ 16 600 km);
  4. the fra host dies (daemon killed, its underlay link down): when its lease ends, requests
     go to syd, the closest backup;
  5. fra comes back: requests are served by fra again (fail-back).
Prints what happens with times; exits 0 when every step behaved, 1 naming the step that did
not. Cleans up on every path (etcd, daemons, machines, namespaces, cgroups).

  quickstart_cluster.py [--ttl SECONDS]     (PRIVCASTD / PRIVCAST: the binaries)
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from privcast_cluster import Cluster, Poller  # noqa: E402
from harness import wait_for  # noqa: E402

TOKENS = """#!/bin/sh
# The token service: GET / -> {"token": ..., "region": ..., "machine": ...} (dual-stack :8080).
exec python3 -c '
import http.server, json, os, secrets, socket
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"token": secrets.token_hex(8), "region": os.environ.get("FLY_REGION"),
                           "machine": os.environ.get("FLY_MACHINE_ID")}).encode() + b"\\n"
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
class S(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
S(("::", 8080), H).serve_forever()
'
"""

STEP = ["setup"]


def say(text):
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def cli(host, args, **kw):
    print(f"[{host.region}] $ privcast {' '.join(args)}", flush=True)
    p = host.cli(args, **kw)
    if p.stdout.strip():
        print(p.stdout.rstrip(), flush=True)
    return p


def region_of(body):
    try:
        return json.loads(body).get("region") or "?"
    except ValueError:
        return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ttl", type=int, default=2, help="host lease TTL in seconds (privcastd --host-ttl)")
    a = ap.parse_args()
    t_start = time.monotonic()
    say("Three etcd members and three hosts (ams, fra, syd) in namespaces on a fabric bridge")
    with Cluster(["ams", "fra", "syd"], ttl=a.ttl) as c:
        for m in c.etcd:
            print(f"etcd {m.name} on {m.client_url}")
        for r, h in c.hosts.items():
            print(f"[{r}] privcastd --region {r} --underlay {h.addr} --host-ttl {a.ttl} --store '{c.url}'")
        print("live hosts (etcd /live/):", ", ".join(c.live_regions()))
        ams, fra = c.hosts["ams"], c.hosts["fra"]

        STEP[0] = "deploy"
        say("The token service on fra (deploy) and syd (machine run --region syd)")
        prog = c.script("tokens.sh", TOKENS)
        d = os.path.join(fra.workdir, "tokens")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "fly.toml"), "w") as f:
            f.write(f'app = "tokens"\nprimary_region = "fra"\n\n[processes]\napp = "{prog}"\n\n'
                    '[http_service]\ninternal_port = 8080\nforce_https = false\n'
                    'auto_stop_machines = "off"\nmin_machines_running = 1\n')
        cli(fra, ["apps", "create", "tokens"])
        cli(fra, ["deploy", "--flycast", "--ha=false", "--strategy", "immediate"], cwd=d, timeout=120)
        cli(ams, ["machine", "run", "-a", "tokens", "--services", "--region", "syd", "--", prog])

        def both_started():
            ms = [m for m in ams.cli_json(["machine", "list", "-a", "tokens"]) if m.get("services")]
            return len(ms) == 2 and all(m["state"] == "started" for m in ms)
        wait_for(both_started, 60, "the fra and syd machines started")
        cli(ams, ["machine", "list", "-a", "tokens"])

        STEP[0] = "nearest"
        say("A request on ams goes to the nearest region")
        def ask():
            p = ams.cli(["machine", "run", "--shell", "-a", "tokens", "--", "curl", "-s", "-m", "5", "http://tokens.flycast/"],
                        check=False, timeout=60)
            return p.stdout.strip() if p.returncode == 0 else None
        print("[ams] $ privcast machine run --shell -a tokens -- curl -s http://tokens.flycast/")
        body = wait_for(lambda: (lambda b: b if b and region_of(b) != "?" else None)(ask()), 30, "an answer on ams")
        print(body)
        if region_of(body) != "fra":
            raise AssertionError(f"served by {region_of(body)}, expected fra (nearest to ams)")
        print("served by fra: nearest to ams (≈ 360 km; syd ≈ 16 600 km)")

        STEP[0] = "failover"
        say(f"A caller on ams asks every 50 ms; then the fra host dies (lease TTL {a.ttl} s)")
        poller = Poller(c, "ams", "tokens", "http://tokens.flycast/", parse=region_of)
        wait_for(lambda: any(r == "fra" for _, r in poller.lines()), 30, "the caller served by fra")
        print("the caller is served by fra")
        t_kill = time.time()
        c.kill_host("fra")
        print(f"{time.strftime('%H:%M:%S')} fra killed (privcastd SIGKILL, underlay link down)")
        wait_for(lambda: "fra" not in c.live_regions(), a.ttl + 10, "fra's lease to expire")
        t_expired = time.time()
        first_syd = wait_for(lambda: poller.first_after(t_kill, "syd"), 15, "requests served by syd")
        lost = [t for t, r in poller.lines() if r == "FAIL" and t_kill < t < first_syd]
        print(f"fra's lease ended {t_expired - t_kill:.2f} s after the kill (etcd checks every 500 ms)")
        print(f"first request served by syd was sent {first_syd - t_expired:+.2f} s after that "
              f"(the closest backup); {len(lost)} requests failed in between (sent to fra before its lease ended)")
        if first_syd - t_expired > 1.0:
            raise AssertionError("failover took longer than 1 s after the lease ended")

        STEP[0] = "fail-back"
        say("fra comes back")
        t_back = time.time()
        c.revive_host("fra")
        print(f"{time.strftime('%H:%M:%S')} fra's link up, privcastd restarted (its machine kept running)")
        wait_for(lambda: "fra" in c.live_regions(), 30, "fra registered again")
        first_fra = wait_for(lambda: poller.first_after(t_back, "fra"), 30, "requests served by fra again")
        print(f"served by fra again {first_fra - t_back:.2f} s after the restart began")
        poller.stop()
        cli(ams, ["machine", "list", "-a", "tokens"])
        say(f"Done in {time.monotonic() - t_start:.0f} s: nearest first, failover to syd, fail-back to fra")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (AssertionError, OSError, ValueError) as e:
        print(f"\n\033[31mquickstart --cluster FAILED at step \"{STEP[0]}\": {e}\033[0m", file=sys.stderr)
        sys.exit(1)
