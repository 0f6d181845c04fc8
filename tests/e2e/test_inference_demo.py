"""The scoped internal inference endpoint (scripts/demo-inference, docs/inference.md)
runs as an e2e test, so the page can never rot. It reuses this build and a short idle window,
and must pass every step: the model wakes for the front end, answers, is stopped after the
idle window, `privcast logs` shows both, and another org can neither resolve nor reach it."""
import os
import subprocess
import unittest

import harness
from harness import require_root


@require_root
class InferenceDemo(unittest.TestCase):
    def test_demo_inference_passes_every_step(self):
        build_dir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(harness.PRIVCASTD))))
        script = os.path.join(harness.REPO, "scripts", "demo-inference")
        p = subprocess.Popen([script, "--build-dir", build_dir, "--idle", "3s"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            out, _ = p.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            # SIGTERM first: the script's EXIT trap stops its daemon, machines and namespace
            # (a SIGKILL would leave them behind).
            p.terminate()
            try:
                out, _ = p.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                out, _ = p.communicate()
            self.fail("demo-inference did not finish within 300 s:\n" + out[-6000:])
        self.assertEqual(p.returncode, 0, out[-6000:])
        for step in ("== 1. start privcastd", "== 4. the model sleeps while idle",
                     "== 5. the front end asks; the model wakes and answers",
                     "== 6. stopped again after the idle window", "== 7. another org cannot reach the model",
                     "All steps passed"):
            self.assertIn(step, out)
        self.assertIn('"completion"', out)
        self.assertIn("started in", out)
        self.assertRegex(out, r"stopping [0-9a-f]+ \(idle 3s\)")
        self.assertIn("refused, as it should be", out)


if __name__ == "__main__":
    harness.main()
