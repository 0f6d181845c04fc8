"""privcastd on etcd: `--store etcd://[fd00:77::e1]:2379` on a one-member etcd in a
fabric netns; the data path keeps serving while etcd is down and writes fail with a clear
error; `privcastd migrate` moves a SQLite host's state to etcd and the host comes back with its
apps. Bounded: about a minute."""
import os
import re
import unittest

import harness
from cluster import ETCD, ClusterHost, EtcdMember, Fabric, etcd_url
from harness import HELLO, deploy, flycast_ip, require_root, run, shell, wait_for


@require_root
@unittest.skipUnless(os.access(ETCD, os.X_OK), "needs etcd-server (scripts/install-deps)")
class EtcdStoreTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fab = Fabric().__enter__()
        cls.addClassCleanup(cls.fab.cleanup)
        cls.etcd = EtcdMember(cls.fab, "e1", "fd00:77::e1", {"e1": "fd00:77::e1"}).start()
        cls.addClassCleanup(cls.etcd.cleanup)
        wait_for(cls.etcd.healthy, 30, "etcd healthy")

    def test_daemon_on_etcd_serves_and_survives_an_etcd_outage(self):
        url = etcd_url([self.etcd])
        with ClusterHost(self.fab, "fd00:77::11", extra_args=["--store", url, "--host-ttl", "2",
                                                               "--underlay", "fd00:77::11"]) as h:
            self.assertIn("etcd [fd00:77::e1]:2379", h.daemon_log())
            deploy(h, "web", HELLO, 80, ha=False)
            ip = flycast_ip(h, "web")
            p = shell(h, "web", f"curl -sS --max-time 20 http://[{ip}]/")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("Server name:", p.stdout)
            # The host registered itself under a lease.
            live = run(["ip", "netns", "exec", self.fab.name, "etcdctl", "--endpoints", self.etcd.client_url,
                        "get", "--prefix", "/live/"], env={**os.environ, "ETCDCTL_API": "3"}).stdout
            self.assertIn('"underlay":"fd00:77::11"', live)
            self.assertIn('"region":"ams"', live)
            # A client machine curls the flycast address in a loop: the data path must keep
            # answering from the last snapshot while etcd is down.
            loop = (f"while true; do curl -s -o /dev/null -w 'code=%{{http_code}}\\n' --max-time 2 http://[{ip}]/; "
                    "sleep 0.1; done")
            out = h.cli(["machine", "run", "-a", "web", "--", "sh", "-c", loop]).stdout
            mid = re.search(r"\b([0-9a-f]{14})\b", out).group(1)
            log = os.path.join(h.data_dir, "logs", mid + ".log")
            wait_for(lambda: os.path.exists(log) and "code=200" in open(log).read(), 30, "the client's first answer")
            self.etcd.stop()
            try:
                p = h.cli(["apps", "create", "later"], check=False, timeout=60)
                self.assertNotEqual(p.returncode, 0)
                self.assertIn("etcd unavailable", p.stdout + p.stderr)
                seen = open(log).read().count("code=200")
                wait_for(lambda: open(log).read().count("code=200") >= seen + 10, 30,
                         "flycast answers while etcd is down")
                self.assertNotIn("code=000", open(log).read())
            finally:
                self.etcd.start()
                wait_for(self.etcd.healthy, 30, "etcd back")
            last = []

            def create_works():
                p = h.cli(["apps", "create", "later"], check=False)
                last[:] = [p.stdout + p.stderr]
                return p.returncode == 0
            try:
                wait_for(create_works, 30, "writes succeed again once etcd is back")
            except AssertionError:
                raise AssertionError(f"last attempt: {last}\n{h.daemon_log()[-3000:]}")

    def test_migrate_moves_a_sqlite_host_to_etcd(self):
        with ClusterHost(self.fab, "fd00:77::12") as h:
            h.cli(["apps", "create", "kept"])
            h.cli(["ips", "allocate-v6", "--private", "-a", "kept"])
            before = flycast_ip(h, "kept")
            h.stop_daemon()
            # The other test may have left keys in this etcd: migrate must refuse a non-empty
            # target; then empty it and migrate for real.
            url = etcd_url([self.etcd])
            p = h.nsexec([harness.PRIVCASTD, "migrate", "--from", "sqlite:" + os.path.join(h.data_dir, "store.db"),
                     "--to", url, "--data-dir", h.data_dir], check=False)
            etcd_empty = "already holds" not in p.stderr
            if not etcd_empty:
                self.assertEqual(p.returncode, 1)
                run(["ip", "netns", "exec", self.fab.name, "etcdctl", "--endpoints", self.etcd.client_url,
                     "del", "", "--from-key"], env={**os.environ, "ETCDCTL_API": "3"})
                p = h.nsexec([harness.PRIVCASTD, "migrate", "--from", "sqlite:" + os.path.join(h.data_dir, "store.db"),
                         "--to", url, "--data-dir", h.data_dir], check=False)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("migrated", p.stdout)
            h.extra_args += ["--store", url]
            h.start_daemon()
            self.assertEqual(flycast_ip(h, "kept"), before)
            self.assertIn("kept", h.app_names())


if __name__ == "__main__":
    harness.main()
