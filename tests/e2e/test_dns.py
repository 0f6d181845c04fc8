"""End to end: the internal DNS at fdaa::3 answers per client network, from inside
real machines, with dig and kdig."""
import re

import harness
from harness import deploy, flycast_ip, machines, require_root, shell


@require_root
class Dns(harness.HostTestCase):
    @classmethod
    def setUpHost(cls):
        deploy(cls.h, "api", harness.HELLO, 80)
        cls.ip = flycast_ip(cls.h, "api")
        cls.ms = machines(cls.h, "api")
        cls.h.cli(["orgs", "create", "orgb"])

    def dig(self, name, qtype="AAAA", org=None, extra=""):
        # +timeout=10: sanitizer builds are slow; dig's own ';;' retry notices are not answers.
        p = shell(self.h, "api", f"dig +short +timeout=10 {extra} {qtype} {name}", org=org)
        self.assertEqual(p.returncode, 0, p.stderr)
        return [t for l in p.stdout.splitlines() if not l.startswith(";;") for t in l.split()]

    def test_flycast_name(self):
        self.assertEqual(self.dig("api.flycast"), [self.ip])
        self.assertEqual(self.dig("API.FLYCAST"), [self.ip])  # case-insensitive

    def test_internal_names(self):
        six = sorted(m["private_ip"] for m in self.ms)
        self.assertEqual(sorted(self.dig("api.internal")), six)
        self.assertEqual(sorted(self.dig("global.api.internal")), six)
        self.assertEqual(sorted(self.dig("ams.api.internal")), six)
        self.assertEqual(len(self.dig("top1.nearest.of.api.internal")), 1)
        m = self.ms[0]
        self.assertEqual(self.dig(f"{m['id']}.vm.api.internal"), [m["private_ip"]])
        self.assertEqual(sorted(self.dig("app.process.api.internal")), six)

    def test_txt_records(self):
        apps = " ".join(self.dig("_apps.internal", "TXT"))
        self.assertIn("api", apps)
        self.assertIn("ams", " ".join(self.dig("regions.api.internal", "TXT")))
        vms = " ".join(self.dig("vms.api.internal", "TXT"))
        for m in self.ms:
            self.assertIn(m["id"], vms)
        inst = " ".join(self.dig("_instances.internal", "TXT"))
        self.assertIn("app=api", inst)

    def test_other_org_sees_nothing(self):
        self.assertEqual(self.dig("api.flycast", org="orgb"), [])
        self.assertEqual(self.dig("api.internal", org="orgb"), [])
        self.assertNotIn("api", " ".join(self.dig("_apps.internal", "TXT", org="orgb")))
        p = shell(self.h, "api", "dig AAAA api.flycast | grep -E 'status: (NXDOMAIN|NOERROR)'", org="orgb")
        self.assertRegex(p.stdout, r"status: (NXDOMAIN|NOERROR)")

    def test_nxdomain_has_soa_and_tcp_works(self):
        p = shell(self.h, "api", "dig AAAA nosuchapp.flycast")
        self.assertIn("status: NXDOMAIN", p.stdout)
        self.assertRegex(p.stdout, r"(?s)AUTHORITY SECTION:.*SOA")
        p = shell(self.h, "api", "kdig +tcp +short AAAA api.flycast")
        self.assertEqual(p.stdout.split(), [self.ip], p.stderr)

    def test_answers_follow_machine_state(self):
        m = self.ms[0]
        self.h.cli(["machine", "stop", m["id"], "-a", "api"])
        harness.wait_for(lambda: m["private_ip"] not in self.dig("api.internal"), 30, "stopped machine leaves api.internal")
        self.assertEqual(self.dig("api.flycast"), [self.ip])  # flycast answered regardless
        self.h.cli(["machine", "start", m["id"], "-a", "api"])
        harness.wait_for(lambda: m["private_ip"] in self.dig("api.internal"), 30, "started machine back in api.internal")


if __name__ == "__main__":
    harness.main()
