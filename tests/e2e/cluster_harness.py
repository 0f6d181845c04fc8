"""The cluster suites' common setup: tests/e2e/cluster.py's Cluster (a 3-member etcd on an
underlay "fabric" netns and privcastd hosts in regions ams, fra and syd on it, the same setup
scripts/quickstart --cluster and bench/cluster/* use), shared by every test of a class and torn
down on every path. test_cluster.py and test_cluster_replay.py use it."""
import os
import time
import unittest

from cluster import ETCD, HOST_ADDRS, Cluster
from harness import require_root

REGIONS = {r: HOST_ADDRS[r] for r in ("ams", "fra", "syd")}
TTL = 2


@require_root
@unittest.skipUnless(os.access(ETCD, os.X_OK), "needs etcd-server (scripts/install-deps)")
class ClusterCase(unittest.TestCase):
    """cls.cluster; cls.fab, cls.etcd (3 members), cls.hosts {region: ClusterHost}, cls.url
    (--store) and cls.fab_tmp (a temp dir) are its parts."""

    @classmethod
    def setUpClass(cls):
        t0 = time.monotonic()
        cls.cluster = Cluster(REGIONS, ttl=TTL).__enter__()
        cls.addClassCleanup(cls.cluster.close)
        c = cls.cluster
        cls.fab, cls.etcd, cls.hosts, cls.url, cls.fab_tmp = c.fab, c.etcd, c.hosts, c.url, c.tmp
        print(f"\ncluster up in {time.monotonic() - t0:.1f} s")
        cls.setUpCluster()

    @classmethod
    def setUpCluster(cls):
        pass

    @classmethod
    def script(cls, name, text):
        return cls.cluster.script(name, text)

    def live(self, member=None):
        return self.cluster.live(member)
