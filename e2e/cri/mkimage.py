#!/usr/bin/env python3
"""Packs a static pause binary as an OCI image archive (oci-layout,
index.json, blobs/sha256/...), the format `ctr images import` reads.
Nothing can be pulled on the test machines, so the CRI's sandbox image is
made here. The archive is reproducible: fixed mtimes, owners and order.

usage: mkimage.py PAUSE_BINARY OUT.tar IMAGE_NAME
"""
import hashlib
import io
import json
import platform
import sys
import tarfile

# Go's GOARCH names, which containerd matches against the host.
GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
          "s390x": "s390x", "riscv64": "riscv64"}


def tar_bytes(entries):
    """A tar of (name, mode, data) entries, owned by root, mtime 0."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, mode, data in entries:
            info = tarfile.TarInfo(name)
            info.mode, info.size, info.mtime = mode, len(data), 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def blob(data, media_type):
    """(descriptor, file entry) of a content-addressed blob."""
    digest = hashlib.sha256(data).hexdigest()
    desc = {"mediaType": media_type, "digest": "sha256:" + digest, "size": len(data)}
    return desc, ("blobs/sha256/" + digest, 0o644, data)


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def image(pause, name):
    arch = GOARCH.get(platform.machine(), platform.machine())
    layer = tar_bytes([("pause", 0o755, pause)])
    layer_desc, layer_file = blob(layer, "application/vnd.oci.image.layer.v1.tar")
    config = {
        "architecture": arch,
        "os": "linux",
        "config": {"Entrypoint": ["/pause"], "Env": ["PATH=/"], "User": "0"},
        "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]},
        "history": [{"created_by": "e2e/cri/mkimage.py: static pause (e2e/cri/pause.c)"}],
    }
    config_desc, config_file = blob(canonical(config), "application/vnd.oci.image.config.v1+json")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config_desc, "layers": [layer_desc]}
    manifest_desc, manifest_file = blob(canonical(manifest), manifest["mediaType"])
    manifest_desc["annotations"] = {
        "io.containerd.image.name": name,
        "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1],
    }
    manifest_desc["platform"] = {"architecture": arch, "os": "linux"}
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [manifest_desc]}
    return [("oci-layout", 0o644, canonical({"imageLayoutVersion": "1.0.0"})),
            ("index.json", 0o644, canonical(index)),
            config_file, layer_file, manifest_file]


def main(argv):
    if len(argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    with open(argv[1], "rb") as f:
        pause = f.read()
    if not pause.startswith(b"\x7fELF"):
        sys.stderr.write("mkimage: %s is not an ELF binary\n" % argv[1])
        return 1
    with open(argv[2], "wb") as out:
        out.write(tar_bytes(image(pause, argv[3])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
