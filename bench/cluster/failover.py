#!/usr/bin/env python3
"""Bar: failover after a host dies — the first successful request served by the next region
<= 1 s after the dead host's lease expires; requests lost reported (issue 15;
docs/benchmarks.md "Several hosts on etcd").

Three hosts (ams, fra, syd; --host-ttl, default 2) on a 3-member etcd
(scripts/lib/privcast_cluster.py); an app with a machine on fra and one on syd; a client machine
on ams asking its flycast address every 50 ms, each request on its own with a 1 s timeout
(served by fra, the nearest). Each round: the fra host dies (daemon SIGKILL, underlay link down);
the bench polls etcd for fra's /live/ key (etcdctl, ~0.1 s resolution) and reads the client's
log: the lease's end after the kill, the first request served by syd relative to it, the
requests that failed (all sent while fra was dead but still in routing); then fra returns and
the bench waits for fra to serve again (fail-back).

  sudo bench/cluster/failover.py --build-dir build [--rounds 3] [--ttl 2]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "lib"))
from privcast_cluster import Cluster, Poller  # noqa: E402
import harness  # noqa: E402  (tests/e2e, on the path privcast_cluster sets)
from harness import wait_for  # noqa: E402

REGION_APP = """#!/bin/sh
mkdir -p /tmp/w && echo "$FLY_REGION" > /tmp/w/index.html && cd /tmp/w && exec python3 -m http.server --bind :: 8080
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ttl", type=int, default=2)
    a = ap.parse_args()
    harness.use_build_dir(a.build_dir)
    with Cluster(["ams", "fra", "syd"], ttl=a.ttl) as c:
        ams, fra = c.hosts["ams"], c.hosts["fra"]
        app = c.script("region_app.sh", REGION_APP)
        harness.deploy(fra, "geo", app, internal_port=8080, ha=False, auto_stop="off")
        ams.cli(["machine", "run", "-a", "geo", "--services", "--region", "syd", "--", app])
        wait_for(lambda: sum(m["state"] == "started" for m in harness.machines(ams, "geo") if m.get("services")) == 2,
                 60, "the fra and syd machines started")
        poller = Poller(c, "ams", "geo", "http://geo.flycast/")
        rows = []
        for i in range(a.rounds):
            wait_for(lambda: any(r == "fra" for t, r in poller.lines() if t > time.time() - 1), 60, "served by fra")
            t_kill = time.time()
            c.kill_host("fra")
            wait_for(lambda: "fra" not in c.live_regions(), a.ttl + 10, "fra's lease to expire")
            t_exp = time.time()
            first = wait_for(lambda: poller.first_after(t_kill, "syd"), 15, "served by syd")
            poller.settled(time.time())  # requests in flight at the switch end (1 s timeout) before counting
            lines = [(t, r) for t, r in poller.lines() if t > t_kill - 0.001]
            lost = sum(1 for t, r in lines if r == "FAIL" and t < first)
            lost_after = sum(1 for t, r in lines if r == "FAIL" and t >= first)
            t_back = time.time()
            c.revive_host("fra")
            back = wait_for(lambda: poller.first_after(t_back, "fra"), 60, "served by fra again")
            rows.append((t_exp - t_kill, first - t_exp, lost, lost_after, back - t_back))
            print(f"round {i + 1}: lease ended {t_exp - t_kill:.2f} s after the kill; first request served by syd sent "
                  f"{first - t_exp:+.2f} s after that; {lost} requests failed before it, {lost_after} after; "
                  f"fail-back {back - t_back:.2f} s after fra's restart began", flush=True)
        poller.stop()
        worst = max(r[1] for r in rows)
        print(f"{a.rounds} rounds, --host-ttl {a.ttl}: first syd answer at most {worst:+.2f} s after the lease ended "
              f"(bar <= 1 s); requests lost per failover: {', '.join(str(r[2] + r[3]) for r in rows)}")


if __name__ == "__main__":
    main()
