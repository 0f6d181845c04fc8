"""--region placement on deploy, scale count and launch (issue 15).

One host (region ams): `deploy --region ams`, `scale count N --region ams` and `launch --region
ams` place in the host's region; any other region is a clear error (exit 1, nothing changed), as
is a code that is not one.

A cluster (one etcd member, hosts in ams and syd on the fabric of tests/e2e/cluster.py): from the
ams host, `deploy --region ams,syd --ha=false` puts one machine in each region, the syd one
started by the syd host's daemon; `scale count 2 --region syd` makes two in syd and leaves ams
alone; `status` and `machine list` show HOST and REGION; `scale count 0 --region syd` has the syd
host destroy its machines; a region without a live host is an error naming the live hosts.
Bounded: well under a minute."""
import os
import shutil
import tempfile
import unittest

import harness
from cluster import ETCD, ClusterHost, EtcdMember, Fabric, etcd_url
from harness import require_root, wait_for

SLEEPER = "sleep 600"


def deploy_args(region, ha=False):
    return ["deploy", "--strategy", "immediate", "--region", region] + ([] if ha else ["--ha=false"])


@require_root
class SingleHostPlacementTest(harness.HostTestCase):
    def app_dir(self, app):
        d = os.path.join(self.h.workdir, app)
        harness.write_fly_toml(d, app, SLEEPER, http_service=False)
        self.h.cli(["apps", "create", app])
        return d

    def test_the_hosts_region_places_here(self):
        d = self.app_dir("here")
        self.h.cli(deploy_args("ams"), cwd=d, timeout=120)
        self.h.cli(["scale", "count", "2", "-a", "here", "--region", "ams"])
        ms = harness.machines(self.h, "here")
        self.assertEqual(sorted(m["region"] for m in ms), ["ams", "ams"])

    def test_another_region_is_a_clear_error_and_changes_nothing(self):
        d = self.app_dir("elsewhere")
        p = self.h.cli(deploy_args("syd"), cwd=d, check=False, timeout=120)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("no host in region syd: this privcastd is a single host in region ams", p.stderr)
        self.h.cli(deploy_args("ams"), cwd=d, timeout=120)
        p = self.h.cli(["scale", "count", "3", "-a", "elsewhere", "--region", "ams,syd"], check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("no host in region syd", p.stderr)
        self.assertEqual(len(harness.machines(self.h, "elsewhere")), 1)  # nothing changed
        p = self.h.cli(["scale", "count", "1", "-a", "elsewhere", "--region", "AMS"], check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("'AMS' is not a region code", p.stderr)

    def test_launch_region_places_its_first_machines(self):
        d = os.path.join(self.h.workdir, "launched")
        os.makedirs(d)
        self.h.cli(["launch", "--name", "launched", "--region", "ams", "--command", SLEEPER, "--ha=false", "-y"],
                   cwd=d, timeout=120)
        self.assertEqual([m["region"] for m in harness.machines(self.h, "launched")], ["ams"])


@require_root
@unittest.skipUnless(os.access(ETCD, os.X_OK), "needs etcd-server (scripts/install-deps)")
class ClusterPlacementTest(unittest.TestCase):
    REGIONS = {"ams": "fd00:77::a1", "syd": "fd00:77::a3"}

    @classmethod
    def setUpClass(cls):
        cls.fab = Fabric().__enter__()
        cls.addClassCleanup(cls.fab.cleanup)
        member = EtcdMember(cls.fab, "e1", "fd00:77::e1", {"e1": "fd00:77::e1"})
        cls.addClassCleanup(member.cleanup)
        member.start()
        wait_for(member.healthy, 60, "etcd healthy")
        url = etcd_url([member])
        cls.hosts = {}
        for region, addr in cls.REGIONS.items():
            h = ClusterHost(cls.fab, addr, region=region, extra_args=["--store", url, "--host-ttl", "2", "--underlay", addr])
            h.__enter__()
            cls.addClassCleanup(h.cleanup)
            cls.hosts[region] = h
        cls.tmp = tempfile.mkdtemp(prefix="privcast-placement-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)

    def host_id(self, region):
        with open(os.path.join(self.hosts[region].data_dir, "host-id")) as f:
            return f.read().strip()

    def by_region(self, app):
        out = {}
        for m in harness.machines(self.hosts["ams"], app):
            out.setdefault(m["region"], []).append(m)
        return out

    def test_deploy_and_scale_place_per_region(self):
        ams = self.hosts["ams"]
        d = os.path.join(self.tmp, "geo")
        harness.write_fly_toml(d, "geo", SLEEPER, http_service=False)
        ams.cli(["apps", "create", "geo"])
        ams.cli(deploy_args("ams,syd"), cwd=d, timeout=120)

        def one_each_started():
            r = self.by_region("geo")
            ok = sorted(r) == ["ams", "syd"] and all(len(v) == 1 and v[0]["state"] == "started" for v in r.values())
            return ok and r
        r = wait_for(one_each_started, 30, "one started machine in ams and one in syd")
        self.assertEqual("%08x" % r["syd"][0]["host_id"], self.host_id("syd"))
        self.assertEqual("%08x" % r["ams"][0]["host_id"], self.host_id("ams"))
        # The syd daemon runs it: its process is in syd's cgroups.
        self.assertTrue(harness.cgroup_pids(self.hosts["syd"].instance, r["syd"][0]["id"]))

        ams.cli(["scale", "count", "2", "-a", "geo", "--region", "syd"])
        r = wait_for(lambda: (lambda r: r if len(r.get("syd", [])) == 2 and
                              all(m["state"] == "started" for m in r["syd"]) else None)(self.by_region("geo")),
                     30, "two started machines in syd")
        self.assertEqual(len(r["ams"]), 1)  # not listed: untouched
        for table in (ams.cli(["status", "-a", "geo"]).stdout, ams.cli(["machine", "list", "-a", "geo"]).stdout):
            self.assertIn("HOST", table)
            self.assertIn("REGION", table)
            self.assertIn(self.host_id("syd"), table)

        p = ams.cli(["scale", "count", "1", "-a", "geo", "--region", "nrt"], check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("no live host in region nrt", p.stderr)

        ams.cli(["scale", "count", "0", "-a", "geo", "--region", "syd"])
        wait_for(lambda: "syd" not in self.by_region("geo"), 30, "the syd host destroyed its machines")
        self.assertEqual(len(self.by_region("geo")["ams"]), 1)


if __name__ == "__main__":
    harness.main()
