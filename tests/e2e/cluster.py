"""Cluster pieces for the e2e suites (docs/cluster.md): an underlay "fabric" netns with
a bridge, etcd members on it, and privcastd hosts attached to it.

  Fabric:      netns `pcfab-<pid>-<n>` with bridge `br0` (fd00:77::1/64, no DAD);
               attach(netns, addr) adds a veth pair: one end in `netns` with `addr`/64, the
               other enslaved to br0.
  EtcdMember:  Debian's etcd-server inside the fabric netns on its own address
               (fd00:77::e<k>), data in a temp dir; started and killed by pid.
  ClusterHost: a harness.Host whose netns is attached to the fabric before privcastd starts.
Everything is torn down on every path (the fabric netns deleted, processes killed by pid).
Traffic stays inside these namespaces.
"""
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile

import harness
from harness import run, wait_for

ETCD = os.environ.get("PRIVCAST_ETCD", shutil.which("etcd") or "/usr/bin/etcd")
_n = [0]


class Fabric:
    def __init__(self):
        _n[0] += 1
        self.name = f"pcfab-{os.getpid()}-{_n[0]}"
        self.links = 0

    def __enter__(self):
        try:
            run(["ip", "netns", "add", self.name])
            self.ns(["ip", "link", "set", "lo", "up"])
            self.ns(["ip", "link", "add", "br0", "type", "bridge"])
            self.ns(["ip", "link", "set", "br0", "up"])
            self.ns(["ip", "-6", "addr", "add", "fd00:77::1/64", "dev", "br0", "nodad"])
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc):
        self.cleanup()
        return False

    def cleanup(self):
        run(["ip", "netns", "del", self.name], check=False)

    def ns(self, cmd, check=True):
        return run(["ip", "netns", "exec", self.name] + cmd, check=check)

    def attach(self, netns, addr, ifname="fab0"):
        """A veth from `netns` (named ifname, with addr/64) to the bridge."""
        self.links += 1
        peer = f"fb{os.getpid() % 10000}x{self.links}"
        run(["ip", "link", "add", peer, "netns", self.name, "type", "veth", "peer", "name", ifname, "netns", netns])
        self.ns(["ip", "link", "set", peer, "master", "br0"])
        self.ns(["ip", "link", "set", peer, "up"])
        run(["ip", "netns", "exec", netns, "ip", "link", "set", ifname, "up"])
        run(["ip", "netns", "exec", netns, "ip", "-6", "addr", "add", f"{addr}/64", "dev", ifname, "nodad"])


class EtcdMember:
    """One etcd member in the fabric netns. cluster: {name: addr} of every member."""

    def __init__(self, fabric, name, addr, cluster):
        self.fabric, self.name, self.addr, self.cluster = fabric, name, addr, cluster
        self.tmp = tempfile.mkdtemp(prefix="privcast-etcd-")
        self.proc = None

    @property
    def client_url(self):
        return f"http://[{self.addr}]:2379"

    def start(self):
        self.fabric.ns(["ip", "-6", "addr", "add", f"{self.addr}/128", "dev", "br0", "nodad"], check=False)
        initial = ",".join(f"{n}=http://[{a}]:2380" for n, a in self.cluster.items())
        cmd = ["ip", "netns", "exec", self.fabric.name, ETCD, "--name", self.name,
               "--data-dir", os.path.join(self.tmp, "data"),
               "--listen-client-urls", self.client_url, "--advertise-client-urls", self.client_url,
               "--listen-peer-urls", f"http://[{self.addr}]:2380",
               "--initial-advertise-peer-urls", f"http://[{self.addr}]:2380",
               "--initial-cluster", initial, "--initial-cluster-state", "new",
               "--heartbeat-interval", "50", "--election-timeout", "500"]
        self.log = open(os.path.join(self.tmp, "etcd.log"), "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        return self

    def healthy(self):
        p = run(["ip", "netns", "exec", self.fabric.name, "etcdctl", "--endpoints", self.client_url,
                 "--command-timeout=1s", "endpoint", "health"], check=False, env={**os.environ, "ETCDCTL_API": "3"})
        return p.returncode == 0

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        with contextlib.suppress(Exception):
            self.log.close()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


class ClusterHost(harness.Host):
    """A Host on the fabric at `addr`; extra privcastd flags in extra_args."""

    def __init__(self, fabric, addr, region="ams", extra_args=()):
        super().__init__(region=region, extra_args=extra_args)
        self.fabric, self.addr = fabric, addr
        self._attached = False

    def start_daemon(self, wait=True):
        if not self._attached:
            self.fabric.attach(self.name, self.addr)
            self._attached = True
        super().start_daemon(wait)


def etcd_url(members):
    return "etcd://" + ",".join(f"[{m.addr}]:2379" for m in members)
