"""Compiled seccomp filters kept on disk, so a container start skips libseccomp.

Turning Docker's profile into BPF (parse ~30 KB of JSON, pick ~380 rules,
let libseccomp generate ~1000 instructions) costs tens of milliseconds; the
result only depends on what goes into the key below, so it is kept in
``<data root>/cache/seccomp/<key>.bpf`` and a later start reads those bytes
instead.  The key is a sha256 over:

* the raw bytes of the profile file (Docker's default or the user's path),
* the container's capability set, sorted (rules depend on capabilities),
* the machine (``os.uname().machine``: arches and syscall numbers),
* the kernel's major.minor, only when the profile has a ``minKernel`` test,
* the code that turns a profile into rules and BPF (seccomp.py,
  libseccomp.py, bpf.py) and libseccomp's version.

A hit parses no JSON and opens libseccomp only to ask its version.  A miss
compiles, exports the BPF and stores it (atomically, best effort), and both
paths hand back a ``bpf.Program`` decoded from the same bytes.  A data root
that cannot be written just means every start compiles; a damaged file is
ignored and replaced.
"""

import os
import stat

from . import bpf, seccomp

DEFAULT_DATA_ROOT = "/var/lib/minicontainer"
_CODE = ("seccomp.py", "libseccomp.py", "bpf.py")


def data_root():
    return os.environ.get("MINICONTAINER_DATA_ROOT") or DEFAULT_DATA_ROOT


def cache_dir(root=None):
    return os.path.join(os.path.abspath(root or data_root()), "cache", "seccomp")


def code_digest():
    """Bytes standing for the code that builds filters: it changed → new keys."""
    here = os.path.dirname(os.path.abspath(__file__))
    digest = bpf.sha256()
    for name in _CODE:
        with open(os.path.join(here, name), "rb") as f:
            digest.update(f.read())
    return digest.digest()


def cache_key(raw, caps, machine, kernel, code, lib_version):
    """The hex sha256 naming the filter built from these inputs."""
    digest = bpf.sha256()
    for part in (bpf.MAGIC, raw, "\n".join(sorted(caps)), machine,
                 "" if kernel is None else "%d.%d" % tuple(kernel), code, lib_version):
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "little"))  # no two inputs run together
        digest.update(data)
    return digest.hexdigest()


def program_for(security, caps, root=None):
    """The seccomp filter for a Security record as a ``bpf.Program`` (None: no filter).

    --privileged and seccomp=unconfined both mean no filter, as in Docker.
    """
    if security.privileged or security.seccomp in (None, "unconfined"):
        return None
    from ..linux import syscalls
    from . import libseccomp

    setting = security.seccomp
    raw = seccomp.read_profile_bytes(setting)
    uname = os.uname()
    kernel = seccomp.kernel_version(uname.release) if b"minKernel" in raw else None
    key = cache_key(raw, caps, uname.machine, kernel, code_digest(), libseccomp.version())
    path = os.path.join(cache_dir(root), key + ".bpf")
    program = read_cached(path)
    if program is not None:
        syscalls.note("seccomp_cache", ("hit", path),
                      why="this profile and capability set were compiled before: "
                          "reuse the stored BPF, no libseccomp work")
        return program
    syscalls.note("seccomp_cache", ("miss", path),
                  why="compile the seccomp profile with libseccomp and keep the BPF "
                      "for the next container")
    filt = seccomp.build_filter(seccomp.parse_profile(raw, setting), caps,
                                uname.machine, uname.release)
    compiled = seccomp.compile_filter(filt, uname.machine)
    try:
        blob = bpf.encode(compiled.program())
    finally:
        compiled.release()
    store(path, blob)
    return bpf.decode(blob, origin="compiled")


def read_cached(path):
    """The Program stored at ``path``, or None (absent, not ours, damaged)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        # Only a regular file that no one but us could have written.
        if (not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid()
                or info.st_mode & 0o022):
            return None
        chunks = []
        while True:
            chunk = os.read(fd, max(info.st_size, 4096))
            if not chunk:
                break
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)
    return bpf.decode(b"".join(chunks))


def store(path, blob):
    """Write ``blob`` to ``path`` atomically; False when the cache is not writable."""
    from ..linux.fs import atomic_write

    directory = os.path.dirname(path)
    try:
        _make_dirs(directory)
        atomic_write(path, blob, mode=0o600)
        return True
    except OSError:
        try:
            os.unlink(f"{path}.tmp.{os.getpid()}")  # atomic_write's temporary name
        except OSError:
            pass
        return False


def _make_dirs(directory):
    """mkdir -p with mode 0700 for each directory made (existing ones are left)."""
    missing = []
    while not os.path.isdir(directory):
        missing.append(directory)
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    for path in reversed(missing):
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
