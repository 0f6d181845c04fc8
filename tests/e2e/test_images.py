#!/usr/bin/env python3
"""OCI images end to end (docs/images.md): a test image built offline (oci_image.py, busybox),
served by Debian's docker-registry that this test starts on loopback inside its own netns,
pulled by privcastd through skopeo from the registry and from oci:, oci-archive: and
docker-archive:, and run as machines whose Entrypoint/Cmd/Env/WorkingDir/User come from the
image, on a root that is fresh on every start, over layers every machine shares.

The image is built once per test run; the registry is killed by pid on every path."""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import oci_image  # noqa: E402
from harness import HostTestCase, require_root, run, shell, wait_for  # noqa: E402

SKIP = None
for tool in ("skopeo", "docker-registry", oci_image.BUSYBOX):
    if not shutil.which(tool) and not os.path.exists(tool):
        SKIP = f"needs {tool} (scripts/install-deps)"


def machine_ip(h, app, mid):
    for m in h.cli_json(["machine", "list", "-a", app]):
        if m["id"] == mid:
            return m["private_ip"]
    raise AssertionError(f"no machine {mid}")


def run_machine(h, app, args):
    p = h.cli(["machine", "run", "-a", app] + args, timeout=120)
    for word in p.stdout.split():
        if len(word) == 14 and all(c in "0123456789abcdef" for c in word):
            return word
    raise AssertionError(p.stdout)


def fetch(h, app, url):
    return shell(h, app, f"curl -s --max-time 5 {url}", timeout=60).stdout


@require_root
class ImagesTest(HostTestCase):
    @classmethod
    def setUpHost(cls):
        if SKIP:
            raise __import__("unittest").SkipTest(SKIP)
        h = cls.h
        cls.dir = tempfile.mkdtemp(prefix="privcast-img-", dir=h.tmp)
        cls.layout = os.path.join(cls.dir, "layout")
        oci_image.build_hello(cls.layout)
        cls.other = os.path.join(cls.dir, "other")
        oci_image.build_hello(cls.other, extra_layer_bytes=4096, port=9090)
        cls.oci_archive = os.path.join(cls.dir, "hello-oci.tar")
        cls.docker_archive = os.path.join(cls.dir, "hello-docker.tar")
        run(["skopeo", "--insecure-policy", "copy", "-q", f"oci:{cls.layout}:v1", f"oci-archive:{cls.oci_archive}"])
        run(["skopeo", "--insecure-policy", "copy", "-q", f"oci:{cls.layout}:v1",
             f"docker-archive:{cls.docker_archive}:test/hello:v1"])
        # The registry: loopback of the test's netns, a port nothing else there uses.
        cls.port = random.randint(20000, 60000)
        conf = os.path.join(cls.dir, "registry.yml")
        with open(conf, "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {cls.dir}/registry\n"
                    f"http:\n  addr: 127.0.0.1:{cls.port}\n")
        cls.reg_log = open(os.path.join(cls.dir, "registry.log"), "wb")
        cls.registry = subprocess.Popen(["ip", "netns", "exec", h.name, "docker-registry", "serve", conf],
                                        stdout=cls.reg_log, stderr=cls.reg_log, stdin=subprocess.DEVNULL)
        cls.addClassCleanup(cls.stop_registry)
        cls.ref = f"127.0.0.1:{cls.port}/test/hello:v1"
        wait_for(lambda: h.nsexec(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                   f"http://127.0.0.1:{cls.port}/v2/"], check=False).stdout == "200",
                 20, "docker-registry")
        t0 = time.monotonic()
        h.nsexec(["skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false", f"oci:{cls.layout}:v1",
                  f"docker://{cls.ref}"], timeout=120)
        cls.push_s = time.monotonic() - t0
        h.cli(["apps", "create", "img"])

    @classmethod
    def stop_registry(cls):
        if cls.registry.poll() is None:
            cls.registry.kill()  # by pid: the `ip netns exec` process became docker-registry
            cls.registry.wait()
        cls.reg_log.close()

    def images(self):
        return self.h.cli_json(["images", "list"])

    def test_1_pull_from_every_source(self):
        h = self.h
        t0 = time.monotonic()
        h.cli(["images", "pull", self.ref], timeout=120)
        print(f"  pull from the local registry: {1000 * (time.monotonic() - t0):.0f} ms", file=sys.stderr)
        h.cli(["images", "pull", f"oci:{self.layout}:v1"], timeout=120)
        h.cli(["images", "pull", f"oci-archive:{self.oci_archive}"], timeout=120)
        # Relative paths are the CLI's: made absolute before they reach the daemon.
        h.cli(["images", "pull", f"docker-archive:{os.path.relpath(self.docker_archive, h.workdir)}"], timeout=120)
        refs = {r: i["id"] for i in self.images() for r in i["refs"]}
        for want in (self.ref, f"oci:{self.layout}:v1", f"oci-archive:{self.oci_archive}",
                     f"docker-archive:{self.docker_archive}"):
            self.assertIn(want, refs, refs)
        # Registry, layout and OCI archive hold the very same image: one record, one set of layers.
        self.assertEqual(refs[self.ref], refs[f"oci:{self.layout}:v1"])
        self.assertEqual(refs[self.ref], refs[f"oci-archive:{self.oci_archive}"])
        table = h.cli(["images", "list"]).stdout
        self.assertIn("REFERENCES", table)
        self.assertIn(self.ref, table)

    def test_2_image_config_drives_the_machine(self):
        h = self.h
        # Entrypoint (/bin/entry, exec "$@") stays; -- CMD replaces Cmd; Env, WorkingDir, User.
        p = h.cli(["machine", "run", "--shell", "-a", "img", self.ref, "--", "sh", "-c",
                   "id -u; id -g; pwd; echo $GREETING; cat /etc/resolv.conf; grep -c fly-local-6pn /etc/hosts; "
                   "test \"$(hostname)\" = \"$FLY_MACHINE_ID\" && echo hostname-ok; "
                   "test -e /etc/motd && echo motd || echo no-motd; stat -c %u:%g /bin/busybox /www/index.html; "
                   "test -e /usr/bin/curl && echo host-usr || echo no-host-usr; exit 7"], check=False, timeout=120)
        self.assertEqual(p.returncode, 7, p.stderr)
        self.assertEqual(p.stdout, "33\n33\n/www\nhello-from-image\nnameserver fdaa::3\n1\nhostname-ok\n"
                                   "no-motd\n0:0\n33:33\nno-host-usr\n")

    def test_3_machine_serves_and_starts_fresh(self):
        h = self.h
        script = ("test -e /www/mark && echo kept > /www/state || echo fresh > /www/state; touch /www/mark; "
                  "exec httpd -f -p 8080 -h /www")
        mid = run_machine(h, "img", [self.ref, "--", "sh", "-c", script])
        rec = [m for m in h.cli_json(["machine", "list", "-a", "img"]) if m["id"] == mid][0]
        self.assertEqual(rec["image"], self.ref)  # canonical form, as asked
        self.assertEqual(rec["image_id"], [i for i in self.images() if self.ref in i["refs"]][0]["id"])
        ip = machine_ip(h, "img", mid)
        url = f"http://[{ip}]:8080"
        self.assertEqual(wait_for(lambda: fetch(h, "img", url + "/index.html"), 30, "the image's httpd"),
                         oci_image.INDEX)
        self.assertEqual(fetch(h, "img", url + "/state"), "fresh\n")
        h.cli(["machine", "stop", "-a", "img", mid], timeout=60)
        h.cli(["machine", "start", "-a", "img", mid], timeout=60)
        self.assertEqual(wait_for(lambda: fetch(h, "img", url + "/state"), 30, "restarted httpd"), "fresh\n",
                         "the root must be fresh from the image after a restart")
        # The image's default command: Entrypoint + Cmd (httpd on 8080 as www).
        mid2 = run_machine(h, "img", [self.ref])
        url2 = f"http://[{machine_ip(h, 'img', mid2)}]:8080"
        self.assertEqual(wait_for(lambda: fetch(h, "img", url2 + "/index.html"), 30, "default command"),
                         oci_image.INDEX)
        # Both machines read the same layer files: same inode as the store's unpacked layer.
        inodes = set()
        for m in (mid, mid2):
            pids = harness.cgroup_pids(h.instance, m)
            self.assertTrue(pids)
            for pid in pids:
                try:
                    inodes.add(os.stat(f"/proc/{pid}/root/bin/busybox").st_ino)
                    break
                except OSError:
                    continue
        store = [os.stat(os.path.join(d, "bin/busybox")).st_ino
                 for d in (os.path.join(h.data_dir, "images", "layers", x)
                           for x in os.listdir(os.path.join(h.data_dir, "images", "layers")))
                 if os.path.exists(os.path.join(d, "bin/busybox"))]
        self.assertEqual(len(inodes), 1, inodes)
        self.assertIn(inodes.pop(), store)
        # Suspend (cgroup freezer) and resume keep the image machine as it was.
        h.cli(["machine", "suspend", "-a", "img", mid2], timeout=60)
        wait_for(lambda: {m["id"]: m["state"] for m in h.cli_json(["machine", "list", "-a", "img"])}.get(mid2)
                 == "suspended", 20, "suspended")
        h.cli(["machine", "start", "-a", "img", mid2], timeout=60)
        self.assertEqual(fetch(h, "img", url2 + "/index.html"), oci_image.INDEX)
        # Adoption: a restarted daemon finds the image machines running.
        h.stop_daemon()
        h.start_daemon()
        states = {m["id"]: m["state"] for m in h.cli_json(["machine", "list", "-a", "img"])}
        self.assertEqual(states.get(mid2), "started")
        self.assertEqual(fetch(h, "img", url2 + "/index.html"), oci_image.INDEX)
        for m in (mid, mid2):
            h.cli(["machine", "destroy", "-a", "img", "--force", m], timeout=60)

    def test_4_prune_keeps_images_in_use(self):
        h = self.h
        h.cli(["images", "pull", f"oci:{self.other}:v1"], timeout=120)
        mid = run_machine(h, "img", [self.ref, "--", "sleep", "600"])
        gone = h.cli_json(["images", "prune"])
        gone_refs = [r for i in gone for r in i["refs"]]
        self.assertIn(f"oci:{self.other}:v1", gone_refs)
        self.assertIn(self.ref, [r for i in self.images() for r in i["refs"]])
        p = h.cli(["images", "rm", "sha256:" + [i for i in self.images() if self.ref in i["refs"]][0]["id"][7:]],
                  check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("used by a machine", p.stderr)
        h.cli(["machine", "destroy", "-a", "img", "--force", mid], timeout=60)

    def test_6_deploy_an_image_through_flycast_with_persist_rootfs(self):
        h = self.h
        d = os.path.join(h.workdir, "img-app")
        os.makedirs(d)
        # launch --image writes [build] image (relative oci: paths are made absolute).
        p = h.cli(["launch", "--name", "imgweb", "--image", self.ref, "--flycast", "--internal-port", "8080",
                   "--no-deploy"], cwd=d)
        with open(os.path.join(d, "fly.toml")) as f:
            toml = f.read()
        self.assertIn(f'[build]\n  image = "{self.ref}"', toml)
        # [processes] replaces Cmd (the Entrypoint stays); persist_rootfs keeps the root.
        toml = toml.replace("[http_service]",
                            "[processes]\n  app = \"sh -c 'test -e /www/mark && echo kept > /www/state || "
                            "echo fresh > /www/state; touch /www/mark; exec httpd -f -p 8080 -h /www'\"\n\n"
                            "[http_service]").replace("[[vm]]\n", "[[vm]]\n  persist_rootfs = true\n")
        with open(os.path.join(d, "fly.toml"), "w") as f:
            f.write(toml)
        h.cli(["deploy", "--flycast", "--ha=false"], cwd=d, timeout=180)
        self.assertEqual(wait_for(lambda: fetch(h, "imgweb", "http://imgweb.flycast/index.html"), 30,
                                  "the image app through flycast"), oci_image.INDEX)
        self.assertEqual(fetch(h, "imgweb", "http://imgweb.flycast/state"), "fresh\n")
        mid = harness.machines(h, "imgweb")[0]["id"]
        h.cli(["machine", "stop", "-a", "imgweb", mid], timeout=60)
        h.cli(["machine", "start", "-a", "imgweb", mid], timeout=60)
        self.assertEqual(wait_for(lambda: fetch(h, "imgweb", "http://imgweb.flycast/state"), 30, "restart"),
                         "kept\n", "persist_rootfs keeps the writable layer")
        # The release's image counts as in use.
        gone = [r for i in h.cli_json(["images", "prune"]) for r in i["refs"]]
        self.assertNotIn(self.ref, gone)
        h.cli(["apps", "destroy", "imgweb"], check=False, timeout=60)

    def test_7_launch_takes_the_internal_port_from_exposed_ports(self):
        h = self.h
        d = os.path.join(h.workdir, "img-port")
        os.makedirs(d)
        p = h.cli(["launch", "--name", "imgport", "--image", f"oci:{self.other}:v1", "--flycast", "--no-deploy"],
                  cwd=d, timeout=120)
        self.assertIn("Using internal port 9090", p.stdout)
        with open(os.path.join(d, "fly.toml")) as f:
            self.assertIn("internal_port = 9090", f.read())
        bad = os.path.join(h.workdir, "img-bad")
        os.makedirs(bad)
        p = h.cli(["launch", "--name", "imgbad", "--image", "Not A Ref", "--no-deploy"], cwd=bad, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("invalid image reference", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(bad, "fly.toml")))
        self.assertNotIn("imgbad", h.app_names(), "a bad image creates nothing")
        h.cli(["apps", "destroy", "imgport"], check=False, timeout=60)

    def test_8_deploy_follows_a_moved_tag_and_pins_its_release(self):
        h = self.h
        ref = f"127.0.0.1:{self.port}/test/moving:v1"
        versions = {}
        for n in (1, 2, 3):
            layout = os.path.join(self.dir, f"moving{n}")
            versions[n] = oci_image.build_hello(layout, index=f"version {n}\n")

        def push(n):
            h.nsexec(["skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false",
                      f"oci:{os.path.join(self.dir, f'moving{n}')}:v1", f"docker://{ref}"], timeout=120)

        def page():
            return fetch(h, "imgmove", "http://imgmove.flycast/index.html")

        push(1)
        d = harness.write_fly_toml(os.path.join(h.workdir, "imgmove"), "imgmove", "httpd -f -p 8080 -h /www", 8080,
                                   extra=f'\n[build]\n  image = "{ref}"\n')
        d = os.path.dirname(d)
        h.cli(["apps", "create", "imgmove"])
        h.cli(["deploy", "--flycast", "--ha=false"], cwd=d, timeout=180)
        self.assertEqual(wait_for(page, 30, "v1 through flycast"), "version 1\n")
        # Someone pushes another image under the same tag: the next deploy resolves the tag in
        # the registry (as Fly's does) and its machines run the new image.
        push(2)
        h.cli(["deploy", "--flycast", "--ha=false"], cwd=d, timeout=180)
        self.assertEqual(wait_for(lambda: page() == "version 2\n" and page(), 30, "v2 after the redeploy"),
                         "version 2\n")
        # The release is pinned to the manifest it deployed: the tag moving again (pulled into
        # the store) changes nothing for its machines until the next deploy.
        push(3)
        h.cli(["images", "pull", ref], timeout=120)
        mid = harness.machines(h, "imgmove")[0]["id"]
        h.cli(["machine", "stop", "-a", "imgmove", mid], timeout=60)
        h.cli(["machine", "start", "-a", "imgmove", mid], timeout=60)
        self.assertEqual(wait_for(page, 30, "the pinned image after a restart"), "version 2\n")
        # The pinned image counts as in use though no tag names it any more.
        ids = {i["id"] for i in self.images()}
        h.cli_json(["images", "prune"])
        self.assertIn(versions[2], {i["id"] for i in self.images()}, ids)
        # machine run IMAGE is docker's --pull=missing: the store's copy (now version 3).
        p = h.cli(["machine", "run", "-a", "img", ref, "--shell", "--", "cat", "/www/index.html"], timeout=120)
        self.assertIn("version 3", p.stdout)
        h.cli(["apps", "destroy", "imgmove"], check=False, timeout=60)

    def test_5_bad_references_say_so_in_one_line(self):
        h = self.h
        for ref, words in (("Not/A Ref", "invalid image reference"),
                           (f"127.0.0.1:{self.port}/test/missing:v1", "pull 127.0.0.1"),
                           ("oci:/nonexistent/layout:v1", "pull oci:/nonexistent")):
            p = h.cli(["machine", "run", "-a", "img", ref], check=False, timeout=120)
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertEqual(p.stderr.count("\n"), 1, p.stderr)
            self.assertTrue(p.stderr.startswith("Error: "), p.stderr)
            self.assertIn(words, p.stderr)


if __name__ == "__main__":
    harness.main()
