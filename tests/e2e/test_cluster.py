"""Several hosts on one etcd cluster: a 3-member etcd and 3 privcastd hosts in regions
ams, fra and syd on an underlay "fabric" netns with a bridge (tests/e2e/cluster.py).

Proves: every host registers under a lease (id, region, underlay); allocation from all hosts at
once is conflict-free (apps, flycast addresses); `machine run --region syd` on the ams host
places the machine on the syd host, whose daemon starts it, and `machine list` shows host and
region; a killed host is down for everyone within TTL + 1 s and back when it returns; losing one
etcd member of three changes nothing. Bounded: about a minute.

Not here yet (docs/cluster.md, "Not done"): the cross-host data path, nearest-region routing,
failover, Fly-Replay."""
import concurrent.futures
import json
import os
import re
import signal
import time
import unittest

import harness
from cluster import ETCD, ClusterHost, EtcdMember, Fabric, etcd_url
from harness import require_root, run, wait_for

REGIONS = {"ams": "fd00:77::a1", "fra": "fd00:77::a2", "syd": "fd00:77::a3"}
TTL = 2


def etcdctl(fab, member, *args):
    return run(["ip", "netns", "exec", fab.name, "etcdctl", "--endpoints", member.client_url,
                "--command-timeout=3s"] + list(args), env={**os.environ, "ETCDCTL_API": "3"}, check=False)


@require_root
@unittest.skipUnless(os.access(ETCD, os.X_OK), "needs etcd-server (scripts/install-deps)")
class ClusterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fab = Fabric().__enter__()
        cls.addClassCleanup(cls.fab.cleanup)
        members = {f"e{i}": f"fd00:77::e{i}" for i in (1, 2, 3)}
        cls.etcd = [EtcdMember(cls.fab, n, a, members) for n, a in members.items()]
        for m in cls.etcd:
            cls.addClassCleanup(m.cleanup)
            m.start()
        for m in cls.etcd:
            wait_for(m.healthy, 60, f"etcd {m.name} healthy")
        cls.url = etcd_url(cls.etcd)
        cls.hosts = {}
        for region, addr in REGIONS.items():
            h = ClusterHost(cls.fab, addr, region=region,
                            extra_args=["--store", cls.url, "--host-ttl", str(TTL), "--underlay", addr])
            h.__enter__()
            cls.addClassCleanup(h.cleanup)
            cls.hosts[region] = h

    def host_id(self, region):
        with open(os.path.join(self.hosts[region].data_dir, "host-id")) as f:
            return f.read().strip()

    def live(self):
        out = etcdctl(self.fab, self.etcd[1], "get", "--prefix", "/live/", "--print-value-only").stdout
        return [json.loads(line) for line in out.splitlines() if line.strip().startswith("{")]

    def test_a_every_host_registers_under_a_lease(self):
        live = {h["region"]: h for h in self.live()}
        self.assertEqual(sorted(live), ["ams", "fra", "syd"])
        for region, addr in REGIONS.items():
            self.assertEqual(live[region]["underlay"], addr)
            self.assertEqual("%08x" % live[region]["id"], self.host_id(region))

    def test_b_concurrent_allocation_from_all_hosts_is_conflict_free(self):
        def work(region):
            h = self.hosts[region]
            won, ips = [], []
            for i in range(4):
                name = f"shared{i}" if i % 2 else f"{region}app{i}"
                if h.cli(["apps", "create", name], check=False).returncode == 0:
                    won.append(name)
                p = h.cli(["ips", "allocate-v6", "--private", "-a", name], check=False)
                self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            return won

        with concurrent.futures.ThreadPoolExecutor(3) as ex:
            results = list(ex.map(work, REGIONS))
        winners = [n for won in results for n in won]
        self.assertEqual(sorted(winners), sorted(set(winners)))  # one winner per contended name
        self.assertEqual(len(winners), 3 * 2 + 2)
        addrs = []
        for app in winners:
            addrs += [ip.get("ip") or ip.get("address") for ip in self.hosts["fra"].cli_json(["ips", "list", "-a", app])]
        self.assertEqual(len(addrs), len(winners), addrs)  # one per app, though all three hosts asked
        self.assertEqual(len(addrs), len(set(addrs)), addrs)

    def test_c_machine_run_region_places_on_that_regions_host(self):
        ams = self.hosts["ams"]
        ams.cli(["apps", "create", "geo"])
        out = ams.cli(["machine", "run", "-a", "geo", "--region", "syd", "--", "sleep", "600"]).stdout
        mid = re.search(r"\b([0-9a-f]{14})\b", out).group(1)

        def started_on_syd():
            for m in self.hosts["fra"].cli_json(["machine", "list", "-a", "geo"]):
                if m["id"] == mid:
                    return m["state"] == "started" and "%08x" % m["host_id"] == self.host_id("syd") and m["region"] == "syd"
            return False
        wait_for(started_on_syd, 30, "the machine started by the syd host")
        table = ams.cli(["machine", "list", "-a", "geo"]).stdout
        self.assertIn("HOST", table)
        self.assertIn(self.host_id("syd"), table)
        # The syd daemon runs it: its process is in syd's cgroups, not ams's.
        self.assertTrue(harness.cgroup_pids(self.hosts["syd"].instance, mid))
        self.assertFalse(harness.cgroup_pids(ams.instance, mid))
        # DNS on the ams host answers for the syd machine (the Snapshot holds every host's
        # machines): by region and as the nearest instance.
        six_pn = next(m["private_ip"] for m in ams.cli_json(["machine", "list", "-a", "geo"]) if m["id"] == mid)
        p = harness.shell(ams, "geo", "dig +short AAAA syd.geo.internal; dig +short AAAA top1.nearest.of.geo.internal")
        self.assertEqual(p.stdout.split(), [six_pn, six_pn], p.stdout + p.stderr)
        p = ams.cli(["machine", "run", "-a", "geo", "--region", "nrt", "--", "true"], check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("no live host in region nrt", p.stdout + p.stderr)

    def test_d_a_killed_host_is_down_within_ttl_plus_one_second_and_comes_back(self):
        syd = self.hosts["syd"]
        syd.proc.send_signal(signal.SIGKILL)
        syd.proc.wait()
        t0 = time.monotonic()
        wait_for(lambda: "syd" not in [h["region"] for h in self.live()], TTL + 10, "syd's lease to expire")
        down_after = time.monotonic() - t0
        print(f"\nhost down after {down_after:.2f} s (TTL {TTL} s)")
        # The bar is TTL + 1 s (measured 1.75-2.14 s here, docs/benchmarks.md); the assertion
        # leaves a second more for a loaded CI machine (etcd checks expiry every 500 ms).
        self.assertLessEqual(down_after, TTL + 2)
        syd.stop_daemon()
        syd.start_daemon()
        wait_for(lambda: "syd" in [h["region"] for h in self.live()], 20, "syd registered again")

    def test_e_losing_one_etcd_member_of_three_changes_nothing(self):
        self.etcd[0].stop()
        try:
            for region, h in self.hosts.items():
                p = h.cli(["apps", "create", f"after-{region}"], check=False, timeout=60)
                self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertEqual(sorted(h["region"] for h in self.live()), ["ams", "fra", "syd"])
        finally:
            self.etcd[0].start()


if __name__ == "__main__":
    harness.main()
