"""ADR 0021 through the real daemon: a proxy worker that is busy with many client connections
switches its own thread to SCHED_BATCH, and goes back to SCHED_OTHER once the load stops.

privcastd with one proxy worker, an nginx app (bench/e2e/bench_nginx: `return 200`, so the proxy
is the busy part), h2load with 32 connections × 10 streams from a machine of the org's network;
the daemon's threads' policies are read from /proc/<pid>/task/<tid>/stat (field 41) while it
runs. Every request must succeed: the policy change loses nothing."""
import os
import threading
import time

import harness
from harness import deploy, require_root, shell, wait_for

NGINX = harness.install_app("bench_nginx", os.path.join(harness.REPO, "bench", "e2e", "bench_nginx"))
SCHED_OTHER, SCHED_BATCH = 0, 3


def policies(pid):
    """{tid: scheduling policy} of every thread of pid."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except FileNotFoundError:  # a thread that just ended
            continue
        out[tid] = int(stat.rsplit(")", 1)[1].split()[38])  # fields from 3 on; policy is 41
    return out


@require_root
class BatchWhenBusy(harness.HostTestCase):
    HOST_ARGS = ["--proxy-workers", "1"]

    @classmethod
    def setUpHost(cls):
        deploy(cls.h, "web", NGINX, 8080, ha=False, auto_stop="off", min_running=1, extra='\n[env]\nPORT = "8080"\n')

    def test_a_busy_worker_batches_and_an_idle_one_is_normal_again(self):
        pid = self.h.proc.pid  # `ip netns exec` execs privcastd: this is the daemon itself
        self.assertNotIn(SCHED_BATCH, policies(pid).values())
        result = {}

        def load():
            result["p"] = shell(self.h, "web", "h2load -c 32 -m 10 -D 8 http://web.flycast/", timeout=180)

        t = threading.Thread(target=load)
        t.start()
        seen = False
        while t.is_alive() and not seen:  # polled while h2load runs; the thread's end bounds it
            seen = SCHED_BATCH in policies(pid).values()
            time.sleep(0.02)
        t.join()
        p = result["p"]
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertRegex(p.stdout, r" 0 failed, 0 errored", p.stdout)
        self.assertNotRegex(p.stdout, r"requests: 0 total", p.stdout)
        self.assertTrue(seen, "no thread of privcastd was SCHED_BATCH under h2load -c32 -m10")
        # Idle: the worker's batch-mode timer brings it back without any traffic.
        wait_for(lambda: SCHED_BATCH not in policies(pid).values(), 10, "every thread SCHED_OTHER again")


if __name__ == "__main__":
    harness.main()
