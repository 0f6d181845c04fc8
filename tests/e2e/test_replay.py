"""Fly-Replay on one host (docs/proxy.md "Fly-Replay", ADR 0017): an app answering with a
`fly-replay` header has its request replayed where the header says, with `fly-replay-src`, and
the client never sees the answer that asked for it.

Apps (tests/e2e/apps/replay_app.py, which answers `fly-replay: <x-replay>` when asked):
rp (2 machines), rp2 (same org, 1 machine), evil (org orgb, 1 machine). Proves instance=,
elsewhere=true, app= within the org (a body replayed with it), app= of another org refused like
an unknown app, state= in fly-replay-src, a replay loop ended, a body over 1 MiB refused,
HTTP/2 streams replayed, a client's own fly-replay-src dropped. Bounded: ~30 s."""
import unittest

import harness
import replay_client
from harness import require_root, wait_for


@require_root
class ReplayTest(harness.HostTestCase):
    @classmethod
    def setUpHost(cls):
        app = replay_client.install()
        h = cls.h
        harness.deploy(h, "rp", app, internal_port=8080)                # 2 machines
        harness.deploy(h, "rp2", app, internal_port=8080, ha=False)
        h.cli(["orgs", "create", "orgb"])
        h.cli(["apps", "create", "evil", "--org", "orgb"])
        harness.deploy(h, "evil", app, internal_port=8080, ha=False)
        cls.rp = [m["id"] for m in harness.machines(h, "rp")]
        assert len(cls.rp) == 2, cls.rp
        wait_for(lambda: cls.get([[]])[0].status == 200, 30, "rp.flycast answers")

    @classmethod
    def get(cls, reqs, url="http://rp.flycast/"):
        return replay_client.requests(cls.h, "rp", url, reqs)

    def test_replays(self):
        r = self.get([
            ["-H", f"x-replay: instance={self.rp[1]}"],
            ["-H", "x-replay: elsewhere=true;state=s1"],
            ["-H", "x-replay: app=rp2", "--data-binary", "hello"],
            ["-H", "x-replay: app=evil"],
            ["-H", "x-replay: app=nosuch"],
            ["-H", "x-replay: region=ams", "-H", "x-replay-always: 1"],
            ["-H", "fly-replay-src: instance=spoof"],
            ["--http2-prior-knowledge", "-H", f"x-replay: instance={self.rp[0]}", "--data-binary", "h2body"],
            ["-H", "x-replay: garbage"],
            ["PIPE:head -c 1572864 /dev/zero", "-H", "x-replay: app=rp2", "--data-binary", "@-"],
        ])
        inst, elsewhere, app2, evil, nosuch, loop, spoof, h2, garbage, big_r = r
        # instance=: served by that machine, fly-replay-src names the one that asked.
        self.assertEqual((inst.status, inst.machine), (200, self.rp[1]), inst)
        self.assertIn(inst.src.get("instance"), self.rp)
        self.assertEqual(inst.src.get("region"), "ams")
        self.assertTrue(inst.src.get("t", "").isdigit(), inst)
        self.assertNotIn("fly-replay", inst.headers)
        self.assertNotIn("not replayed", inst.body)
        # elsewhere=true: another machine than the one that answered; state= echoed.
        self.assertEqual(elsewhere.status, 200, elsewhere)
        self.assertNotEqual(elsewhere.machine, elsewhere.src.get("instance"))
        self.assertEqual(elsewhere.src.get("state"), "s1")
        # app= of the same org, the body replayed with the request.
        self.assertEqual((app2.status, app2.app, app2.req_body), (200, "rp2", "hello"), app2)
        # app= of another org: refused exactly like an app that does not exist.
        self.assertEqual((evil.status, evil.headers.get("privcast-replay-error")), (502, "unknown app"), evil)
        self.assertEqual((nosuch.status, nosuch.headers.get("privcast-replay-error")), (502, "unknown app"), nosuch)
        self.assertNotIn("evil", evil.body)
        # A loop ends (kMaxReplays) with an error, never the app's fly-replay answer.
        self.assertEqual((loop.status, loop.headers.get("privcast-replay-error")), (502, "too many replays"), loop)
        # A client cannot pose as a replay.
        self.assertEqual((spoof.status, spoof.src), (200, {}), spoof)
        # HTTP/2 streams are replayed too (with their body).
        self.assertEqual((h2.status, h2.machine, h2.req_body), (200, self.rp[0], "h2body"), h2)
        self.assertIn(h2.src.get("instance"), self.rp)
        self.assertEqual((garbage.status, garbage.headers.get("privcast-replay-error")), (502, "malformed fly-replay"))
        self.assertEqual((big_r.status, big_r.headers.get("privcast-replay-error")),
                         (502, "request too large to replay"), big_r.status)


if __name__ == "__main__":
    harness.main()
