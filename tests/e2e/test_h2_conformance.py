"""h2spec-style HTTP/2 conformance cases written from RFC 9113 (and the 2019–2023
floods), raw frames from a machine of the org's network against a real privcastd's `http` port
(tests/e2e/apps/h2_conformance.py builds the frames; this file pins the expected answers).
Connection errors must be GOAWAY with the RFC's code, stream errors RST_STREAM, and the port must
keep serving afterwards."""
import os

import harness
from harness import deploy, require_root, shell

SRC = os.path.join(harness.REPO, "tests", "e2e", "apps")
APP = harness.install_app("h1_echo.py", os.path.join(SRC, "h1_echo.py"))
CASES = harness.install_app("h2_conformance.py", os.path.join(SRC, "h2_conformance.py"))

PROTOCOL_ERROR, FLOW_CONTROL_ERROR, FRAME_SIZE_ERROR, REFUSED_STREAM, ENHANCE_YOUR_CALM = 1, 3, 6, 7, 11

EXPECTED = {
    "bad_preface": {"closed"},
    "settings_bad_length": {f"goaway {FRAME_SIZE_ERROR}"},
    "settings_window_too_big": {f"goaway {FLOW_CONTROL_ERROR}"},
    "settings_enable_push_2": {f"goaway {PROTOCOL_ERROR}"},
    "settings_on_stream": {f"goaway {PROTOCOL_ERROR}"},
    "ping_bad_length": {f"goaway {FRAME_SIZE_ERROR}"},
    "goaway_on_stream": {f"goaway {PROTOCOL_ERROR}"},
    "headers_even_stream": {f"goaway {PROTOCOL_ERROR}"},
    "data_idle_stream": {f"goaway {PROTOCOL_ERROR}"},
    "window_update_zero": {f"goaway {PROTOCOL_ERROR}"},
    "window_overflow": {f"goaway {FLOW_CONTROL_ERROR}"},
    "continuation_alone": {f"goaway {PROTOCOL_ERROR}"},
    "headers_interrupted": {f"goaway {PROTOCOL_ERROR}"},
    "connection_header": {f"rst {PROTOCOL_ERROR}"},
    "uppercase_name": {f"rst {PROTOCOL_ERROR}"},
    "missing_path": {f"rst {PROTOCOL_ERROR}"},
    "pseudo_after_regular": {f"rst {PROTOCOL_ERROR}"},
    "content_length_mismatch": {f"rst {PROTOCOL_ERROR}"},
    "header_list_too_large": {"status 431"},
    "valid_request": {"status 200"},
    "ping": {"ping-ack True"},
    # nghttp2's rapid-reset limit (1000 burst, 33/s) sends GOAWAY INTERNAL_ERROR (its choice).
    "rapid_reset": {"goaway 2", f"goaway {ENHANCE_YOUR_CALM}"},
    "settings_flood": {f"goaway {ENHANCE_YOUR_CALM}"},
    "ping_flood_other_client": {"status 200"},
    "max_concurrent_streams": {f"rst {REFUSED_STREAM}", f"goaway {PROTOCOL_ERROR}", f"rst {PROTOCOL_ERROR}"},
}


@require_root
class H2Conformance(harness.HostTestCase):
    @classmethod
    def setUpHost(cls):
        deploy(cls.h, "web", f"python3 {APP} 8080", 8080, ha=False, min_running=1)

    def test_frames_get_the_rfc_9113_answers_and_the_port_keeps_serving(self):
        p = shell(self.h, "web", f"/usr/bin/python3 {CASES} web.flycast 80 && "
                                 "curl -sS --max-time 30 --http2-prior-knowledge http://web.flycast/after",
                  timeout=240)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        got = dict(l.split(" ", 1) for l in p.stdout.splitlines() if " " in l and not l.startswith("ok "))
        for name, want in EXPECTED.items():
            with self.subTest(case=name):
                self.assertIn(got.get(name), want, p.stdout)
        self.assertTrue(got.get("ping_flood_bounded", "").startswith("True"), p.stdout)
        self.assertTrue(p.stdout.rstrip().endswith("ok /after"), p.stdout)
        if os.environ.get("H2_CONFORMANCE_SHOW"):
            print(p.stdout)


if __name__ == "__main__":
    harness.main()
