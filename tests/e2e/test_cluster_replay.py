"""Fly-Replay and failover across hosts (docs/cluster.md, docs/proxy.md "Fly-Replay", ADR 0017):
3 etcd members and 3 hosts ams/fra/syd (tests/e2e/cluster_harness.py).

App rp (tests/e2e/apps/replay_app.py) has one machine per host; rp2 (same org) one on syd;
evil (org orgb) has none. From ams: `fly-replay: region=syd` is replayed on the syd host over
the underlay (HTTP/1.1 with a body, and HTTP/2), instance= reaches the fra machine,
elsewhere=true the nearest other one (fra), app=rp2 the syd host's rp2, app=evil is refused like
an unknown app; fly-force-region / fly-prefer-region pick other hosts' machines; a suspended
machine on syd is resumed by a request on ams. Then fra dies while a client on ams sends it a
request every 50 ms (fly-prefer-region: fra): connects to the dead host time out in 500 ms and
are retried on the next candidate, so no request is lost. Bounded: about a minute."""
import time

import harness
import replay_client
from cluster import Poller
from cluster_harness import TTL, ClusterCase
from harness import wait_for


def region_of(body):
    """The region word of replay_app's answer: `<app> <region> <machine id> ...`."""
    words = body.split(" ")
    return words[1] if len(words) > 1 else body


class ClusterReplayTest(ClusterCase):
    @classmethod
    def setUpCluster(cls):
        t0 = time.monotonic()
        app = replay_client.install()
        ams, syd = cls.hosts["ams"], cls.hosts["syd"]
        harness.deploy(ams, "rp", app, internal_port=8080, ha=False)  # one machine, on ams
        for region in ("fra", "syd"):
            ams.cli(["machine", "run", "-a", "rp", "--services", "--region", region, "--", app])
        harness.deploy(syd, "rp2", app, internal_port=8080, ha=False)
        # evil: an app of another org, with no service (a replay there, were it allowed, would
        # fail differently: "app has no http service").
        syd.cli(["orgs", "create", "orgb"])
        syd.cli(["apps", "create", "evil", "--org", "orgb"])

        def started():
            ms = [m for m in ams.cli_json(["machine", "list", "-a", "rp"]) if m.get("services")]
            ok = len(ms) == 3 and all(m["state"] == "started" for m in ms)
            return ok and {m["region"]: m["id"] for m in ms}
        cls.ids = wait_for(started, 60, "rp's machines on the three hosts started")
        wait_for(lambda: cls.get([["-H", "fly-force-region: syd"]])[0].region == "syd", 30, "syd reachable from ams")
        print(f"\napps deployed on the cluster in {time.monotonic() - t0:.1f} s")

    @classmethod
    def get(cls, reqs, region="ams"):
        return replay_client.requests(cls.hosts[region], "rp", "http://rp.flycast/", reqs)

    def test_a_replays_across_hosts(self):
        r = self.get([
            [],
            ["-H", "x-replay: region=syd;state=w1", "--data-binary", "payload"],
            ["--http2-prior-knowledge", "-H", "x-replay: region=syd"],
            ["-H", f"x-replay: instance={self.ids['fra']}"],
            ["-H", "x-replay: elsewhere=true"],
            ["-H", "x-replay: app=rp2"],
            ["-H", "x-replay: app=evil"],
            ["-H", "fly-force-region: syd"],
            ["-H", "fly-prefer-region: fra"],
        ])
        local, syd, h2, inst, elsewhere, app2, evil, force, prefer = r
        self.assertEqual((local.status, local.region), (200, "ams"), local)  # the nearest: its own host
        self.assertEqual((syd.status, syd.region, syd.machine, syd.req_body), (200, "syd", self.ids["syd"], "payload"), syd)
        self.assertEqual(syd.src.get("instance"), self.ids["ams"])  # who asked, from where
        self.assertEqual((syd.src.get("region"), syd.src.get("state")), ("ams", "w1"))
        self.assertNotIn("fly-replay", syd.headers)
        self.assertEqual((h2.status, h2.region), (200, "syd"), h2)
        self.assertEqual((inst.status, inst.machine), (200, self.ids["fra"]), inst)
        self.assertEqual((elsewhere.status, elsewhere.region), (200, "fra"), elsewhere)  # nearest but ams
        self.assertEqual((app2.status, app2.app, app2.region), (200, "rp2", "syd"), app2)
        self.assertEqual((evil.status, evil.headers.get("privcast-replay-error")), (502, "unknown app"), evil)
        # fly-force-region / fly-prefer-region pick machines of other hosts (issue 15).
        self.assertEqual((force.status, force.region), (200, "syd"), force)
        self.assertEqual((prefer.status, prefer.region), (200, "fra"), prefer)

    def test_b_a_suspended_machine_on_syd_is_resumed_from_ams(self):
        ams = self.hosts["ams"]
        ams.cli(["machine", "suspend", "-a", "rp", self.ids["syd"]])
        state = lambda: next(m["state"] for m in ams.cli_json(["machine", "list", "-a", "rp"]) if m["id"] == self.ids["syd"])
        wait_for(lambda: state() == "suspended", 30, "the syd machine suspended")
        t0 = time.monotonic()
        r = self.get([["-H", "fly-force-region: syd"]])[0]
        print(f"\nrequest on ams that resumed the suspended syd machine: {time.monotonic() - t0:.2f} s "
              f"(with the client machine's start)")
        self.assertEqual((r.status, r.region), (200, "syd"), r)
        wait_for(lambda: state() == "started", 10, "the syd machine recorded as started")

    def test_c_no_request_is_lost_when_a_host_dies(self):
        poller = Poller(self.cluster, "ams", "rp", "http://rp.flycast/", parse=region_of,
                        header="fly-prefer-region: fra")
        wait_for(lambda: poller.first_after(0, "fra"), 30, "the poller served by fra")
        self.cluster.kill_host("fra")
        t_kill = time.time()
        wait_for(lambda: "fra" not in [h["region"] for h in self.live()], TTL + 10, "fra's lease to expire")
        t_expired = time.time()
        # Every request sent up to a second after the expiry has had its answer, or its FAIL
        # once its curl timed out (-m 1).
        poller.settled(t_expired + 1)
        # From the moment fra is cut off (its link down: a request sent before may have reached
        # it, and is lost with it) to a second after the lease ended.
        after = [(t, r) for t, r in poller.lines() if t_kill < t < t_expired + 1]
        lost = [t for t, r in after if r == "FAIL"]
        served = {r for t, r in after if r != "FAIL"}
        print(f"\nlease expired {t_expired - t_kill:.2f} s after the kill; {len(after)} requests sent from "
              f"the kill to 1 s after the expiry, {len(lost)} lost, served by {sorted(served)}")
        self.assertEqual(lost, [])
        self.assertIn("ams", served)  # the next candidate after the preferred region: the local one
        poller.stop()


if __name__ == "__main__":
    harness.main()
