"""Helpers for the image tests: crafted tarballs and a small busybox tree."""

import io
import os
import shutil
import tarfile

HOST_BUSYBOX = "/bin/busybox"


def entry(name, kind="file", data=b"", mode=None, linkname="", uid=0, gid=0,
          devmajor=0, devminor=0, xattrs=None, mtime=1_600_000_000):
    """One member description for make_tar."""
    return dict(name=name, kind=kind, data=data, mode=mode, linkname=linkname, uid=uid,
                gid=gid, devmajor=devmajor, devminor=devminor, xattrs=xattrs or {},
                mtime=mtime)


_TYPES = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
          "hardlink": tarfile.LNKTYPE, "chr": tarfile.CHRTYPE, "blk": tarfile.BLKTYPE,
          "fifo": tarfile.FIFOTYPE}


def make_tar(entries, compression=None):
    """Bytes of a tar (optionally gzip or zstd) holding ``entries`` in order."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for item in entries:
            info = tarfile.TarInfo(item["name"])
            info.type = _TYPES[item["kind"]]
            info.mode = item["mode"] if item["mode"] is not None else (
                0o755 if item["kind"] == "dir" else 0o644)
            info.uid, info.gid, info.mtime = item["uid"], item["gid"], item["mtime"]
            info.linkname = item["linkname"]
            info.devmajor, info.devminor = item["devmajor"], item["devminor"]
            info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in item["xattrs"].items()}
            data = item["data"]
            if item["kind"] == "file":
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    raw = buffer.getvalue()
    if compression == "gzip":
        import gzip
        return gzip.compress(raw, mtime=0)
    if compression == "zstd":
        import zstandard
        return zstandard.ZstdCompressor().compress(raw)
    return raw


def make_busybox_tree(path):
    """A minimal root: bin/busybox (the host's static one) and a few applet links."""
    os.makedirs(os.path.join(path, "bin"))
    shutil.copy2(HOST_BUSYBOX, os.path.join(path, "bin", "busybox"))
    for applet in ("sh", "ls", "cat", "echo", "id", "stat", "rm", "touch", "mkdir"):
        os.symlink("busybox", os.path.join(path, "bin", applet))
    for name in ("etc", "proc", "dev", "sys", "root", "var"):
        os.makedirs(os.path.join(path, name))
    os.makedirs(os.path.join(path, "tmp"), mode=0o1777)
    os.chmod(os.path.join(path, "tmp"), 0o1777)
    with open(os.path.join(path, "etc", "passwd"), "w") as handle:
        handle.write("root:x:0:0:root:/root:/bin/sh\n")
    return path


def tree_listing(root):
    """{relative path: (type char, mode, uid, gid, link or size)} for comparisons."""
    import stat
    result = {}
    for base, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(base, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, root)
            if stat.S_ISLNK(st.st_mode):
                extra = os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                extra = st.st_size
            else:
                extra = None
            result[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid,
                           st.st_gid, extra)
    return result


def add_tar_image(store, name, layer_blobs, config_section=None):
    """Put raw layer blobs (tar, gzip or zstd bytes) into ``store`` as image ``name``."""
    import hashlib
    from minicontainer.image.unpack import decompressed
    layers, diff_ids = [], []
    for blob in layer_blobs:
        digest = store.put_blob(blob)
        plain, kind = decompressed(io.BytesIO(blob))
        diff_ids.append("sha256:" + hashlib.sha256(plain.read()).hexdigest())
        media = {"gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
                 "zstd": "application/vnd.oci.image.layer.v1.tar+zstd"}.get(
                     kind, "application/vnd.oci.image.layer.v1.tar")
        layers.append({"mediaType": media, "digest": digest, "size": len(blob)})
    config = {"architecture": "amd64", "os": "linux",
              "config": config_section or {"Cmd": ["sh"]},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    return store.add_image(config, layers, name=name)


def disk_usage(path):
    """Bytes of regular files under ``path`` (hard links counted once)."""
    total, seen = 0, set()
    for base, dirs, files in os.walk(path):
        for name in files:
            st = os.lstat(os.path.join(base, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total
