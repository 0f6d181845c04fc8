"""Several hosts on one etcd cluster: a 3-member etcd and 3 privcastd hosts in regions
ams, fra and syd on an underlay "fabric" netns with a bridge (tests/e2e/cluster.py).

Proves: every host registers under a lease (id, region, underlay); allocation from all hosts at
once is conflict-free (apps, flycast addresses); `machine run --region syd` on the ams host
places the machine on the syd host, whose daemon starts it, and `machine list` shows host and
region; a killed host is down for everyone within TTL + 1 s and back when it returns; losing one
etcd member of three changes nothing. Bounded: about a minute.

Then the data path between hosts: flycast answers on every host (each host's proxy reaches the
other hosts' machines at their 6PN addresses over the underlay), nearest region first
(fra before syd from ams), fly-prefer-region across hosts, org isolation across hosts both ways,
and a dead host (daemon SIGKILLed, its underlay link down) leaving routing when its lease ends:
requests from ams fail over from fra to syd, and come back to fra when it returns.

A region table file (privcastd --regions, stored for every host) changes which region is nearest.

A request on ams wakes a stopped machine on syd (held until it listens).

Not here yet (docs/cluster.md, "Not done"): Fly-Replay."""
import concurrent.futures
import os
import re
import signal
import time
import unittest

import harness
from cluster import ETCD, Poller
from cluster_harness import REGIONS, TTL, ClusterCase
from harness import require_root, run, wait_for

# Serves its region: FLY_REGION as the body; dual-stack (the proxy of another host reaches the
# machine at its 6PN address, the local proxy at its IPv4 link address).
REGION_APP = """#!/bin/sh
mkdir -p /tmp/w && echo "$FLY_REGION" > /tmp/w/index.html && cd /tmp/w && exec python3 -m http.server --bind :: 8080
"""


@require_root
@unittest.skipUnless(os.access(ETCD, os.X_OK), "needs etcd-server (scripts/install-deps)")
class ClusterTest(ClusterCase):
    """The cluster of cluster_harness.ClusterCase: 3 etcd members, hosts ams, fra and syd."""

    def curl(self, region, url, headers=(), org=None):
        hdr = " ".join(f"-H '{h}'" for h in headers)
        p = harness.shell(self.hosts[region], "xweb", f"curl -sS -m 5 {hdr} {url}", org=org)
        return p.returncode, p.stdout.strip(), p.stderr

    def host_id(self, region):
        with open(os.path.join(self.hosts[region].data_dir, "host-id")) as f:
            return f.read().strip()

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

    def test_f_flycast_answers_on_every_host_nearest_region_first_orgs_apart(self):
        fra, ams = self.hosts["fra"], self.hosts["ams"]
        app = self.script("region_app.sh", REGION_APP)
        harness.deploy(fra, "xweb", app, internal_port=8080, ha=False)  # one machine, on fra
        ams.cli(["machine", "run", "-a", "xweb", "--services", "--region", "syd", "--", app])

        def both_started():
            ms = [m for m in ams.cli_json(["machine", "list", "-a", "xweb"]) if m.get("services")]
            return len(ms) == 2 and all(m["state"] == "started" for m in ms) and ms
        ms = wait_for(both_started, 60, "the fra and syd machines started")
        six_pn = {m["region"]: m["private_ip"] for m in ms}
        # Every host answers the flycast address; each host's nearest machine serves: its own
        # region on fra and syd, fra (360 km) before syd (16 600 km) on ams, which has none.
        for region, want in (("ams", "fra"), ("fra", "fra"), ("syd", "syd")):
            got = wait_for(lambda: (lambda r: r[1] if r[0] == 0 and r[1] else None)(self.curl(region, "http://xweb.flycast/")),
                           30, f"flycast on {region}")
            self.assertEqual(got, want, f"served on {region}")
        # fly-prefer-region across hosts.
        self.assertEqual(self.curl("ams", "http://xweb.flycast/", ["fly-prefer-region: syd"])[:2], (0, "syd"))
        self.assertEqual(self.curl("fra", "http://xweb.flycast/", ["fly-force-region: syd"])[:2], (0, "syd"))
        # 6PN between hosts: a machine of the app's org on ams reaches the syd machine; one of
        # another org on ams does not, and neither does one on syd reach the fra machine.
        self.assertEqual(self.curl("ams", f"http://[{six_pn['syd']}]:8080/")[:2], (0, "syd"))
        self.assertEqual(self.curl("syd", f"http://[{six_pn['fra']}]:8080/")[:2], (0, "fra"))
        self.assertNotEqual(self.curl("ams", f"http://[{six_pn['syd']}]:8080/", org="orgb")[0], 0)
        self.assertNotEqual(self.curl("syd", f"http://[{six_pn['fra']}]:8080/", org="orgb")[0], 0)
        # Nor through the flycast address: orgb has no xweb.flycast (the proxy admits by network).
        self.assertNotEqual(self.curl("ams", "http://xweb.flycast/", org="orgb")[0], 0)

    def test_fb_a_region_table_file_changes_nearest_routing_on_every_host(self):
        """privcastd --regions FILE (ADR 0018): a bad file is refused with file:line:col before
        anything starts; a good one is stored for every host. With ams-syd at 100 km, ams's
        nearest machine is syd's, not fra's; the fra and syd hosts (started without the flag)
        show the same table. Deleting the stored table brings Fly's built-in one back everywhere."""
        ams = self.hosts["ams"]
        bad = os.path.join(self.fab_tmp, "bad-regions.toml")
        with open(bad, "w") as f:
            f.write('base = "fly"\n[[distances]]\nbetween = ["ams", "xyz"]\nkm = 100\n')
        p = run([harness.PRIVCASTD, "--regions", bad, "--data-dir", os.path.join(self.fab_tmp, "never")], check=False, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(f'{bad}:3:19: distances[0].between: unknown region "xyz"', p.stdout + p.stderr)
        good = os.path.join(self.fab_tmp, "regions.toml")
        with open(good, "w") as f:
            f.write('base = "fly"\n[[distances]]\nbetween = ["ams", "syd"]\nkm = 100\n')
        served = lambda region: (lambda r: r[1] if r[0] == 0 and r[1] else None)(self.curl(region, "http://xweb.flycast/"))
        ams.stop_daemon()
        ams.extra_args += ["--regions", good]
        try:
            ams.start_daemon()
            wait_for(lambda: served("ams") == "syd", 30, "ams served by syd under the file's table")
            for region in ("fra", "syd"):
                t = self.hosts[region].cli_json(["platform", "regions", "--from", "ams"])
                self.assertEqual(t["source"], "store")
                self.assertEqual([r["code"] for r in t["regions"][:2]], ["ams", "syd"], region)
                self.assertEqual(t["distances"], [{"from": "ams", "to": "syd", "km": 100.0}])
            self.assertEqual(served("fra"), "fra")  # its own region first, whatever the table
            table = self.hosts["syd"].cli(["platform", "regions", "--from", "ams"]).stdout
            self.assertIn("KM FROM ams", table)
        finally:
            ams.extra_args = [a for a in ams.extra_args if a not in ("--regions", good)]
            self.cluster.etcdctl("del", "/config/regions", member=self.etcd[1])
        wait_for(lambda: served("ams") == "fra", 30, "ams served by fra again under the built-in table")
        self.assertEqual(self.hosts["syd"].cli_json(["platform", "regions"])["source"], "built-in")

    def test_g_a_dead_host_leaves_routing_at_lease_end_requests_fail_over_and_back(self):
        # A client on ams asking xweb 20 times a second, one line per request (cluster.Poller).
        poller = Poller(self.cluster, "ams", "xweb", "http://xweb.flycast/")
        wait_for(lambda: poller.first_after(0, "fra"), 30, "the poller served by fra")
        # The fra host dies: its daemon, and its link to the underlay (its machines with it).
        self.cluster.kill_host("fra")
        t_kill = time.time()
        wait_for(lambda: "fra" not in [h["region"] for h in self.live()], TTL + 10, "fra's lease to expire")
        t_expired = time.time()
        first_syd = wait_for(lambda: poller.first_after(t_kill, "syd"), 10, "requests served by syd")
        lost = sum(1 for t, r in poller.lines() if r == "FAIL" and t_kill < t < first_syd)
        print(f"\nlease expired {t_expired - t_kill:.2f} s after the kill; the first request served by syd was "
              f"sent {first_syd - t_expired:+.2f} s after expiry; {lost} requests failed before it")
        self.assertLessEqual(first_syd - t_expired, 1.0)
        # Fail-back: fra returns (its machine never stopped; the daemon adopts it).
        self.cluster.revive_host("fra")
        t_back = time.time()
        wait_for(lambda: poller.first_after(t_back, "fra"), 30, "served by fra again")
        poller.stop()  # no more load for test_h

    def test_h_a_request_on_ams_wakes_a_stopped_machine_on_syd(self):
        ams = self.hosts["ams"]
        syd_id = next(m["id"] for m in ams.cli_json(["machine", "list", "-a", "xweb"])
                      if m.get("services") and m["region"] == "syd")
        ams.cli(["machine", "stop", "-a", "xweb", syd_id])
        wait_for(lambda: next(m["state"] for m in ams.cli_json(["machine", "list", "-a", "xweb"]) if m["id"] == syd_id) == "stopped",
                 30, "the syd machine stopped")
        t0 = time.monotonic()
        code, out, err = self.curl("ams", "http://xweb.flycast/", ["fly-force-region: syd"])
        print(f"\nrequest on ams that woke the syd machine: {time.monotonic() - t0:.2f} s (with the client machine's start)")
        self.assertEqual((code, out), (0, "syd"), err)


    def test_i_one_etcd_member_down_deploy_and_requests_keep_working(self):
        """Not only writes: a deploy on one host and requests across hosts while e2 is down."""
        self.etcd[1].stop()
        try:
            app = self.script("region_app.sh", REGION_APP)
            harness.deploy(self.hosts["syd"], "late", app, internal_port=8080, ha=False)
            got = wait_for(lambda: (lambda r: r[1] if r[0] == 0 and r[1] else None)(self.curl("ams", "http://late.flycast/")),
                           30, "late.flycast from ams")
            self.assertEqual(got, "syd")
            self.assertEqual(sorted(h["region"] for h in self.live(self.etcd[2])), ["ams", "fra", "syd"])
        finally:
            self.etcd[1].start()
        wait_for(self.etcd[1].healthy, 30, "e2 back")

    def test_j_all_etcd_members_down_data_path_serves_writes_fail_clearly_then_recover(self):
        poller = Poller(self.cluster, "ams", "xweb", "http://xweb.flycast/")

        def answers(after):
            return [r for t, r in poller.lines() if t > after]
        wait_for(lambda: [r for r in answers(0) if r != "FAIL"], 30, "the poller answered")
        for m in self.etcd:
            m.stop()
        t_down = time.time()
        try:
            # Control-plane writes fail at once, naming the cause, on every host.
            for args in (["scale", "count", "3", "-a", "xweb", "--yes"], ["machine", "run", "-a", "xweb", "--", "true"]):
                p = self.hosts["fra"].cli(args, check=False, timeout=60)
                self.assertNotEqual(p.returncode, 0, args)
                self.assertIn("etcd unavailable", p.stdout + p.stderr, args)
            # The data path keeps serving from the last Snapshot (ams → a machine on another host).
            wait_for(lambda: len([r for r in answers(t_down) if r != "FAIL"]) >= 20, 30, "answers while etcd is down")
            self.assertEqual([r for r in answers(t_down) if r == "FAIL"], [])
        finally:
            for m in self.etcd:
                m.start()
        for m in self.etcd:
            wait_for(m.healthy, 60, f"etcd {m.name} back")
        # Writes work again, and every host is still (or again) registered.
        last = []

        def create_works():
            p = self.hosts["fra"].cli(["apps", "create", "after-outage"], check=False)
            last[:] = [p.stdout + p.stderr]
            return p.returncode == 0 or "already exists" in last[0]  # an earlier try's reply was lost
        try:
            t_back = time.monotonic()
            # Measured 46.6 s here (docs/cluster.md "Not done yet": the etcd client's connection
            # attempts to members that restart together hang for gRPC's 20 s connect timeout).
            wait_for(create_works, 90, "writes succeed once etcd is back")
            print(f"\nwrites succeed {time.monotonic() - t_back:.1f} s after every member is healthy again")
        except AssertionError:
            raise AssertionError(f"last attempt: {last}\n{self.hosts['fra'].daemon_log()[-3000:]}")
        wait_for(lambda: sorted(h["region"] for h in self.live()) == ["ams", "fra", "syd"], 30, "every host registered")
        poller.stop()

if __name__ == "__main__":
    harness.main()
