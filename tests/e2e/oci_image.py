"""Builds small OCI images offline, for the image tests (no registry, no network).

build_hello(dest_dir) writes an OCI image layout at dest_dir (tag "v1") with two layers:
  base: busybox-static (/bin/busybox and its applet links), /etc/passwd with user www (33),
        /etc/group, /etc/motd, /tmp, /www owned by www, and /bin/entry (exec "$@")
  app:  /www/index.html and a whiteout of /etc/motd
and a config: Entrypoint ["/bin/entry"], Cmd ["httpd", "-f", "-p", "8080", "-h", "/www"],
Env PATH and GREETING, WorkingDir /www, User www, ExposedPorts 8080/tcp.
Layers are deterministic (fixed mtimes, sorted entries), so the digests are stable.
"""
import gzip
import hashlib
import io
import json
import os
import tarfile

BUSYBOX = "/bin/busybox"
APPLETS = ["sh", "httpd", "id", "pwd", "echo", "cat", "ls", "env", "stat", "sleep", "test", "touch",
           "rm", "wget", "mkdir", "true", "false", "hostname", "grep"]
INDEX = "hello from the image\n"


def _tar_layer(entries):
    """entries: (name, kind, data/target, mode, uid, gid) → gzip bytes of a tar."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, data, mode, uid, gid in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            ti.mode = mode
            ti.uid, ti.gid = uid, gid
            if kind == "dir":
                ti.type = tarfile.DIRTYPE
                t.addfile(ti)
            elif kind == "sym":
                ti.type = tarfile.SYMTYPE
                ti.linkname = data
                t.addfile(ti)
            else:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
    tar = raw.getvalue()
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0) as g:
        g.write(tar)
    return tar, gz.getvalue()


def _blob(layout, data):
    d = hashlib.sha256(data).hexdigest()
    path = os.path.join(layout, "blobs", "sha256", d)
    with open(path, "wb") as f:
        f.write(data)
    return "sha256:" + d, len(data)


def build_hello(layout, tag="v1", extra_layer_bytes=0, port=8080, index=INDEX):
    """Writes the layout; extra_layer_bytes > 0 adds a third layer of that much incompressible
    data (/data/blob) to make an image of a given size (benchmarks); `port` is where its httpd
    listens (Cmd) and what it exposes; `index` is /www/index.html (another text, another image)."""
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    with open(BUSYBOX, "rb") as f:
        busybox = f.read()
    base = [("bin", "dir", None, 0o755, 0, 0), ("bin/busybox", "file", busybox, 0o755, 0, 0)]
    base += [(f"bin/{a}", "sym", "busybox", 0o777, 0, 0) for a in APPLETS]
    base += [
        ("bin/entry", "file", b'#!/bin/sh\nexec "$@"\n', 0o755, 0, 0),
        ("etc", "dir", None, 0o755, 0, 0),
        ("etc/passwd", "file", b"root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/www:/bin/sh\n", 0o644, 0, 0),
        ("etc/group", "file", b"root:x:0:\nwww:x:33:\n", 0o644, 0, 0),
        ("etc/motd", "file", b"from the base layer\n", 0o644, 0, 0),
        ("root", "dir", None, 0o700, 0, 0),
        ("tmp", "dir", None, 0o1777, 0, 0),
        ("www", "dir", None, 0o755, 33, 33),
    ]
    app = [("etc", "dir", None, 0o755, 0, 0), ("etc/.wh.motd", "file", b"", 0o644, 0, 0),
           ("www", "dir", None, 0o755, 33, 33), ("www/index.html", "file", index.encode(), 0o644, 33, 33)]
    layers = [_tar_layer(sorted(base)), _tar_layer(app)]
    if extra_layer_bytes:
        layers.append(_tar_layer([("data", "dir", None, 0o755, 0, 0),
                                  ("data/blob", "file", os.urandom(extra_layer_bytes), 0o644, 0, 0)]))
    manifest_layers, diff_ids = [], []
    for tar, gz in layers:
        digest, size = _blob(layout, gz)
        manifest_layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                "digest": digest, "size": size})
        diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
    config = {
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": ["/bin/entry"], "Cmd": ["httpd", "-f", "-p", str(port), "-h", "/www"],
                   "Env": ["PATH=/bin", "GREETING=hello-from-image"], "WorkingDir": "/www", "User": "www",
                   "ExposedPorts": {f"{port}/tcp": {}}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    cdigest, csize = _blob(layout, json.dumps(config, sort_keys=True).encode())
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdigest, "size": csize},
                "layers": manifest_layers}
    mdigest, msize = _blob(layout, json.dumps(manifest, sort_keys=True).encode())
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdigest, "size": msize,
             "annotations": {"org.opencontainers.image.ref.name": tag}}]}, f)
    return cdigest
