#!/usr/bin/env python3
"""Bar: a change (machine start/stop, deploy) visible in every host's routing, p50 <= 50 ms,
p99 <= 200 ms (issue 15; docs/benchmarks.md "Several hosts on etcd").

Three hosts (ams, fra, syd) on a 3-member etcd (scripts/lib/privcast_cluster.py). An app's
machine runs on fra (bench/cluster/scale.py runs the same rounds with 1 000 per host). Each
round the bench calls the API of ams (one keep-alive request over its unix socket, no CLI exec)
to stop, then start, the fra machine, and polls every host's /metrics (each host its own
thread, ~1 ms apart) until `privcast_snapshot_revision` passes the revision it had before
the call; the host's `privcast_snapshot_published_unix_us` is when that Snapshot was
handed to its proxy and DNS. Reported per host and for the slowest host of each round: the
time from the API call's start, and from its return, to the publish. (Wall clock; same machine.)

  sudo bench/cluster/propagation.py --build-dir build [--rounds 50]
"""
import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "lib"))
from privcast_cluster import Api, Cluster, deploy_idle_app, percentiles  # noqa: E402
import harness  # noqa: E402  (tests/e2e, on the path privcast_cluster sets)
from harness import wait_for  # noqa: E402

REV, PUB = "privcast_snapshot_revision", "privcast_snapshot_published_unix_us"


def measure(c, app, mid, rounds, what):
    """Stops and starts machine `mid` (on fra) through ams's API `rounds` times; prints when every
    host's Snapshot had each change."""
    apis = {r: Api(h) for r, h in c.hosts.items()}
    caller = Api(c.hosts["ams"])
    per_host = {r: [] for r in c.hosts}
    slowest_start, slowest_ret = [], []
    for i in range(rounds):
        action = "stop" if i % 2 == 0 else "start"
        want = "stopped" if action == "stop" else "started"
        # Quiescent: no host's Snapshot moved for 150 ms. (A host's own writes do not move
        # its Snapshot's revision, so the hosts' revisions need not be equal.)
        def settled():
            before = {r: apis[r].metrics().get(REV, 0) for r in c.hosts}
            time.sleep(0.15)
            return before if before == {r: apis[r].metrics().get(REV, 0) for r in c.hosts} else None
        base = wait_for(settled, 30, "every host's Snapshot settled")
        seen = {}

        def watch(region):
            api = Api(c.hosts[region])
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                m = api.metrics()
                if m.get(REV, 0) > base[region]:
                    seen[region] = m[PUB] / 1e6
                    return
                time.sleep(0.001)
        threads = [threading.Thread(target=watch, args=(r,)) for r in c.hosts]
        for t in threads:
            t.start()
        t0 = time.time()
        status, text = caller.call("POST", f"/v1/apps/{app}/machines/{mid}/{action}")
        t1 = time.time()
        for t in threads:
            t.join()
        if status != 200 or len(seen) != len(c.hosts):
            raise SystemExit(f"round {i}: {action} -> {status} {text[:200]}; seen on {sorted(seen)}")
        for r, ts in seen.items():
            per_host[r].append((ts - t0) * 1000)
        slowest_start.append((max(seen.values()) - t0) * 1000)
        slowest_ret.append((max(seen.values()) - t1) * 1000)
        caller.call("GET", f"/v1/apps/{app}/machines/{mid}/wait?state={want}&timeout=30")
    print(f"{rounds} rounds (stop/start of a fra machine through ams's API), {what}")
    for r, v in per_host.items():
        p50, p99 = percentiles(v)
        print(f"  {r}: API call start -> its Snapshot published: p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  max {max(v):6.1f} ms")
    p50, p99 = percentiles(slowest_start)
    print(f"  slowest host, from the call's start:  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  max {max(slowest_start):6.1f} ms")
    p50, p99 = percentiles(slowest_ret)
    print(f"  slowest host, from the call's return: p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  max {max(slowest_ret):6.1f} ms")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--rounds", type=int, default=50)
    a = ap.parse_args()
    harness.use_build_dir(a.build_dir)
    with Cluster(["ams", "fra", "syd"], ttl=2) as c:
        mid = deploy_idle_app(c.hosts["fra"], "prop")
        measure(c, "prop", mid, a.rounds, "one machine (bench/cluster/scale.py: with 3 x 1 000)")

if __name__ == "__main__":
    main()
