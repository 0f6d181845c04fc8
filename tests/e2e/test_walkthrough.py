"""The README's main job (scripts/quickstart) runs as an e2e test, so the README can
never rot. It reuses this build (--no-install --no-build) and must exit 0 with every step.
Its app is the demo OCI image, built offline into <build>/demo once (mmdebstrap)."""
import os
import subprocess
import unittest

import harness
from harness import require_root


@require_root
class Walkthrough(unittest.TestCase):
    def test_quickstart_passes_every_step(self):
        build_dir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(harness.PRIVCASTD))))
        script = os.path.join(harness.REPO, "scripts", "quickstart")
        p = subprocess.run([script, "--no-install", "--no-build", "--build-dir", build_dir],
                           capture_output=True, text=True, timeout=600)
        out = p.stdout + p.stderr
        self.assertEqual(p.returncode, 0, out[-6000:])
        for step in ("== 1. start privcastd", "== 2. launch and deploy", "== 3. ips list",
                     "== 4. reach it from a machine in the same org", "== 5. scale to zero and wake",
                     "== 6. another org", "All steps passed"):
            self.assertIn(step, out)
        # The demo runs from its OCI image (built offline, pushed to the local registry).
        self.assertIn("launch --image 127.0.0.1:5000/demo/hello-nginx:v1", out)
        self.assertIn('image = "127.0.0.1:5000/demo/hello-nginx:v1"', out)
        self.assertIn("Hello from flycast-demo", out)
        self.assertIn("Server name:", out)
        self.assertIn("cold request", out)
        self.assertIn("Starting machine", out)


if __name__ == "__main__":
    harness.main()
