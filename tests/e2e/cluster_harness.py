"""The cluster suites' common setup (tests/e2e/cluster.py has the pieces): a 3-member etcd on an
underlay "fabric" netns and 3 privcastd hosts in regions ams, fra and syd on it, shared by
every test of a class and cleaned up on every path. test_cluster.py and
test_cluster_replay.py use it."""
import json
import os
import shutil
import signal
import tempfile
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
class ClusterCase(unittest.TestCase):
    """cls.fab, cls.etcd (3 members), cls.hosts {region: ClusterHost}, cls.url (--store)."""

    @classmethod
    def setUpClass(cls):
        t0 = time.monotonic()
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
        cls.fab_tmp = tempfile.mkdtemp(prefix="privcast-cluster-")
        cls.addClassCleanup(shutil.rmtree, cls.fab_tmp, True)
        cls.hosts = {}
        for region, addr in REGIONS.items():
            h = ClusterHost(cls.fab, addr, region=region,
                            extra_args=["--store", cls.url, "--host-ttl", str(TTL), "--underlay", addr])
            h.__enter__()
            cls.addClassCleanup(h.cleanup)
            cls.hosts[region] = h
        # Runs before the hosts' own cleanups: with every daemon stopped first, none of them
        # tries to destroy the cluster's apps one by one (a machine on a host a test killed
        # would hold each `apps destroy` for its whole timeout); cgroups and netns go anyway.
        cls.addClassCleanup(lambda: [h.stop_daemon(signal.SIGTERM, timeout=10) for h in cls.hosts.values()])
        print(f"\ncluster up in {time.monotonic() - t0:.1f} s")
        cls.setUpCluster()

    @classmethod
    def setUpCluster(cls):
        pass

    @classmethod
    def script(cls, name, text):
        src = os.path.join(cls.fab_tmp, name)
        with open(src, "w") as f:
            f.write(text)
        return harness.install_app(name, src)

    def live(self):
        out = etcdctl(self.fab, self.etcd[1], "get", "--prefix", "/live/", "--print-value-only").stdout
        return [json.loads(line) for line in out.splitlines() if line.strip().startswith("{")]
