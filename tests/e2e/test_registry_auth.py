#!/usr/bin/env python3
"""Private registries (docs/images.md#references): Debian's docker-registry with Docker Hub's
bearer-token auth (`auth: token:`, a token server of this test signing JWTs with a key made by
openssl: token_server.py), in the test's netns. Without credentials a pull is refused in one
line; with `privcastd --registry-auth-file` (docker's config.json shape) it works, and a machine
runs the image. Plain HTTP: the same registry reached on a non-loopback address is refused
(HTTPS is required) until the operator lists it with `--insecure-registry HOST:PORT`.

Registry and token server are killed by pid on every path."""
import base64
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import oci_image  # noqa: E402
from harness import HostTestCase, require_root, run, wait_for  # noqa: E402

SKIP = None
for tool in ("skopeo", "docker-registry", "openssl", oci_image.BUSYBOX):
    if not shutil.which(tool) and not os.path.exists(tool):
        SKIP = f"needs {tool} (scripts/install-deps)"

USER, PASSWORD = "team", "s3cret-pw"
OTHER_ADDR = "10.254.0.1"  # on the netns's lo: not loopback by address, so HTTPS by default


@require_root
class RegistryAuthTest(HostTestCase):
    @classmethod
    def setUpHost(cls):
        if SKIP:
            raise unittest.SkipTest(SKIP)
        h = cls.h
        cls.dir = tempfile.mkdtemp(prefix="privcast-regauth-", dir=h.tmp)
        d = cls.dir
        layout = os.path.join(d, "layout")
        oci_image.build_hello(layout, index="private hello\n")
        key, cert = os.path.join(d, "token.key"), os.path.join(d, "token.crt")
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
             "-subj", "/CN=privcast test token issuer", "-addext", "keyUsage=digitalSignature,keyCertSign"])
        h.nsexec(["ip", "addr", "add", OTHER_ADDR + "/32", "dev", "lo"])
        cls.port, tport = random.sample(range(20000, 60000), 2)
        conf = os.path.join(d, "registry.yml")
        with open(conf, "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {d}/registry\n"
                    f"http:\n  addr: 0.0.0.0:{cls.port}\n"
                    f"auth:\n  token:\n    realm: http://127.0.0.1:{tport}/token\n    service: privcast-test\n"
                    f"    issuer: privcast-test-issuer\n    rootcertbundle: {cert}\n")
        cls.procs = []
        cls.addClassCleanup(cls.stop_servers)
        cls.log = open(os.path.join(d, "servers.log"), "wb")
        for argv in ([sys.executable, os.path.join(os.path.dirname(__file__), "token_server.py"), str(tport), key,
                      cert, "privcast-test-issuer", "privcast-test", USER, PASSWORD],
                     ["docker-registry", "serve", conf]):
            cls.procs.append(subprocess.Popen(["ip", "netns", "exec", h.name] + argv, stdout=cls.log,
                                              stderr=cls.log, stdin=subprocess.DEVNULL))
        for url in (f"http://127.0.0.1:{tport}/token?service=privcast-test",
                    f"http://127.0.0.1:{cls.port}/v2/"):
            wait_for(lambda: h.nsexec(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url],
                                      check=False).stdout in ("200", "401"), 20, url)
        # The registry asks for a token: anonymous /v2/ is 401 with a Bearer challenge.
        hdrs = h.nsexec(["curl", "-s", "-D", "-", "-o", "/dev/null", f"http://127.0.0.1:{cls.port}/v2/"]).stdout
        assert "Bearer realm=" in hdrs, hdrs
        cls.ref = f"127.0.0.1:{cls.port}/private/hello:v1"
        h.nsexec(["skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false",
                  "--dest-creds", f"{USER}:{PASSWORD}", f"oci:{layout}:v1", f"docker://{cls.ref}"], timeout=120)
        cls.auth = os.path.join(d, "auth.json")
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        with open(cls.auth, "w") as f:
            json.dump({"auths": {f"127.0.0.1:{cls.port}": {"auth": token},
                                 f"{OTHER_ADDR}:{cls.port}": {"auth": token}}}, f)
        os.chmod(cls.auth, 0o600)
        h.cli(["apps", "create", "priv"])

    @classmethod
    def stop_servers(cls):
        for p in cls.procs:
            if p.poll() is None:
                p.kill()  # by pid: `ip netns exec` became the server
                p.wait()
        cls.log.close()

    def pull_fails(self, ref, words):
        p = self.h.cli(["images", "pull", ref], check=False, timeout=120)
        print("  " + p.stderr.strip(), file=sys.stderr)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertTrue(p.stderr.startswith("Error: pull "), p.stderr)
        self.assertEqual(p.stderr.count("\n"), 1, p.stderr)
        self.assertTrue(any(w in p.stderr for w in words), p.stderr)

    def test_1_without_credentials_a_private_image_is_refused(self):
        self.pull_fails(self.ref, ("authentication required", "unauthorized", "denied"))
        self.assertEqual(self.h.cli_json(["images", "list"]), [])

    def test_2_plain_http_only_for_loopback_unless_listed(self):
        # Same registry, a non-loopback address: skopeo speaks HTTPS to it and fails.
        self.pull_fails(f"{OTHER_ADDR}:{self.port}/private/hello:v1", ("HTTPS", "https", "tls", "TLS"))

    def test_3_operator_credentials_and_insecure_registry(self):
        h = self.h
        h.stop_daemon()
        h.extra_args = ["--registry-auth-file", self.auth, "--insecure-registry", f"{OTHER_ADDR}:{self.port}"]
        h.start_daemon()
        h.cli(["images", "pull", self.ref], timeout=120)
        other = f"{OTHER_ADDR}:{self.port}/private/hello:v1"
        h.cli(["images", "pull", other], timeout=120)
        imgs = h.cli_json(["images", "list"])
        self.assertEqual(len(imgs), 1, imgs)  # one image under both names
        self.assertEqual(sorted(imgs[0]["refs"]), sorted([self.ref, other]))
        p = h.cli(["machine", "run", "-a", "priv", other, "--shell", "--", "cat", "/www/index.html"], timeout=120)
        self.assertEqual(p.stdout, "private hello\n")

    def test_4_a_missing_auth_file_stops_the_daemon_at_start(self):
        p = subprocess.run([harness.PRIVCASTD, "--data-dir", os.path.join(self.dir, "unused"),
                            "--registry-auth-file", os.path.join(self.dir, "nope.json")],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--registry-auth-file", p.stderr)


if __name__ == "__main__":
    harness.main()
