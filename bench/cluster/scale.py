#!/usr/bin/env python3
"""Bar: 3 hosts x 1 000 machines — snapshot rebuild, etcd write rate and daemon RSS reported
(issue 15; docs/benchmarks.md "Several hosts on etcd").

Three hosts (ams, fra, syd) on a 3-member etcd (scripts/lib/privcast_cluster.py). Each host's
API is asked, from 4 client threads per host at once, to run N `sleep` machines in its own
region (POST /v1/apps/many/machines, the API `machine run` uses), until 3 N machines are
started. Reported: the wall time and the etcd write rate during it (store revisions, one per
Txn, over the time), each daemon's VmRSS before and after, the etcd members' VmRSS; then the
propagation rounds of bench/cluster/propagation.py at this size (each change re-read and
rebuilt into a Snapshot by every host: the rebuild at 3 N machines is inside that figure).

  sudo bench/cluster/scale.py --build-dir build [-n 1000] [--rounds 20]
"""
import argparse
import concurrent.futures
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "lib"))
from privcast_cluster import Api, Cluster, deploy_idle_app, rss_kib  # noqa: E402
import harness  # noqa: E402  (tests/e2e, on the path privcast_cluster sets)
from harness import wait_for  # noqa: E402
from propagation import measure  # noqa: E402


def etcd_revision(c):
    out = c.etcdctl("endpoint", "status", "-w", "json").stdout
    return json.loads(out)[0]["Status"]["header"]["revision"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("-n", type=int, default=1000, help="machines per host")
    ap.add_argument("--rounds", type=int, default=20)
    a = ap.parse_args()
    harness.use_build_dir(a.build_dir)
    with Cluster(["ams", "fra", "syd"], ttl=5) as c:
        mid = deploy_idle_app(c.hosts["fra"], "many")
        rss0 = {r: rss_kib(h.proc.pid) for r, h in c.hosts.items()}
        rev0, t0 = etcd_revision(c), time.monotonic()

        def create(region, count):
            api = Api(c.hosts[region])
            for _ in range(count):
                st, text = api.call("POST", "/v1/apps/many/machines", {"region": region, "cmd": ["sleep", "100000"]})
                if st != 201:
                    raise SystemExit(f"{region}: {st} {text[:200]}")
        jobs = []
        for region in c.hosts:
            n = a.n - (1 if region == "fra" else 0)
            jobs += [(region, n // 4 + (1 if k < n % 4 else 0)) for k in range(4)]
        with concurrent.futures.ThreadPoolExecutor(len(jobs)) as ex:
            list(ex.map(lambda j: create(*j), jobs))
        t_created = time.monotonic() - t0
        ams = Api(c.hosts["ams"])

        def started():
            for r, h in c.hosts.items():
                if h.proc.poll() is not None:
                    raise SystemExit(f"privcastd {r} exited {h.proc.returncode}:\n{h.daemon_log()[-4000:]}")
            _, text = ams.call("GET", "/v1/apps/many/machines")
            return sum(m["state"] == "started" for m in json.loads(text))
        wait_for(lambda: started() >= 3 * a.n, 3600, f"{3 * a.n} machines started")
        t_all = time.monotonic() - t0
        rev1 = etcd_revision(c)
        time.sleep(2)  # let the last reloads finish before reading RSS
        rss1 = {r: rss_kib(h.proc.pid) for r, h in c.hosts.items()}
        etcd_rss = [rss_kib(m.proc.pid) for m in c.etcd]
        print(f"3 hosts x {a.n} machines: created through the API in {t_created:.1f} s, all started after {t_all:.1f} s")
        print(f"etcd: {rev1 - rev0} revisions (Txns) in {t_all:.1f} s = {(rev1 - rev0) / t_all:.0f} writes/s "
              f"({(rev1 - rev0) / (3 * a.n):.1f} per machine); members' VmRSS "
              + ", ".join(f"{k / 1024:.0f} MiB" for k in etcd_rss))
        for r in c.hosts:
            print(f"privcastd {r}: VmRSS {rss0[r] / 1024:.1f} MiB -> {rss1[r] / 1024:.1f} MiB "
                  f"({(rss1[r] - rss0[r]) / a.n:.1f} KiB per local machine, {3 * a.n} in its Snapshot)")
        measure(c, "many", mid, a.rounds, f"{3 * a.n} machines in every Snapshot")


if __name__ == "__main__":
    main()
