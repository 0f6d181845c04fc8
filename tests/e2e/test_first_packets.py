"""A machine's first packets are not dropped. Its source address must be
admitted by the firewall (`machine_src`) before its process starts; when the element was added
after, the machine's first DNS query counted in `spoof_drop` and timed out (glibc retries after
5 s). 200 throwaway machines each send one DNS query as their very first action, with a single
try: every one must be answered, and `spoof_drop` must not move."""
import concurrent.futures
import re
import time

import harness
from harness import require_root, shell

MACHINES = 200
PARALLEL = 4  # CLI calls in flight (CI has 2 cores)


@require_root
class FirstPackets(harness.HostTestCase):
    @classmethod
    def setUpHost(cls):
        cls.h.cli(["apps", "create", "firstpkt"])

    def spoof_drops(self):
        p = self.h.nsexec(["nft", "list", "counter", "inet", "privcast", "spoof_drop"])
        m = re.search(r"packets (\d+)", p.stdout)
        self.assertIsNotNone(m, p.stdout)
        return int(m.group(1))

    def test_first_dns_query_of_every_new_machine_is_answered(self):
        before = self.spoof_drops()
        # One try, no retry: a dropped query is a failure here, not a 5 s delay. Stop at the
        # first failure so that a regression fails fast.
        script = "dig +tries=1 +time=5 +short TXT _apps.internal"
        failures = []
        t0 = time.monotonic()

        def one(i):
            if failures:
                return None
            p = shell(self.h, "firstpkt", script, timeout=60)
            ok = p.returncode == 0 and "firstpkt" in p.stdout
            if not ok:
                failures.append(f"machine {i}: exit {p.returncode}, stdout {p.stdout!r}, stderr {p.stderr!r}")
            return ok

        with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
            results = list(pool.map(one, range(MACHINES)))
        took = time.monotonic() - t0
        answered = sum(1 for r in results if r)
        print(f"{answered}/{MACHINES} first queries answered on the first try in {took:.1f}s")
        self.assertEqual(failures, [])
        self.assertEqual(answered, MACHINES)
        self.assertEqual(self.spoof_drops(), before, "packets of new machines were dropped as spoofed")


if __name__ == "__main__":
    harness.main()
