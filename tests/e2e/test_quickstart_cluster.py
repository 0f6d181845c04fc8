"""`./scripts/quickstart --cluster` (the seeds' multi-region story, docs/cluster.md) runs as an
e2e test so its walkthrough never rots: 3 etcd members + hosts ams, fra, syd; the token service
on fra and syd; nearest first, failover to syd when fra dies, fail-back when it returns. It
reuses this build (--no-install --no-build), must exit 0 within 90 s and leave nothing behind."""
import os
import re
import subprocess
import unittest

import harness
from cluster import ETCD
from harness import require_root


@require_root
@unittest.skipUnless(os.access(ETCD, os.X_OK), "needs etcd-server (scripts/install-deps)")
class QuickstartCluster(unittest.TestCase):
    def test_the_story_runs_and_cleans_up(self):
        build_dir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(harness.PRIVCASTD))))
        script = os.path.join(harness.REPO, "scripts", "quickstart")
        p = subprocess.Popen([script, "--cluster", "--no-install", "--no-build", "--build-dir", build_dir],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            out, _ = p.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            p.terminate()  # SIGTERM: the script's teardown runs (scripts/lib/privcast_cluster.py)
            out, _ = p.communicate(timeout=60)
            self.fail("quickstart --cluster took more than 90 s:\n" + out[-6000:])
        self.assertEqual(p.returncode, 0, out[-6000:])
        self.assertIn("served by fra: nearest to ams", out)
        self.assertRegex(out, r"first request served by syd was sent [-+]\d+\.\d\d s after that")
        self.assertIn("served by fra again", out)
        self.assertIn('"region": "fra"', out)
        # Its namespaces are named after its pid (bash execs python: one pid).
        names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
        left = [n for n in names if re.match(rf"pc(fab|e2e)-{p.pid}-", n)]
        self.assertEqual(left, [], "namespaces left behind")


if __name__ == "__main__":
    harness.main()
