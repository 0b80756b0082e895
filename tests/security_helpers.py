"""Fork a child, apply security steps in it, exec a probe, and read what it saw.

No container runtime is involved: the child is a plain fork of the test
process.  Whatever it changes (filters, capabilities, limits, mounts in a
private mount namespace) dies with it.
"""

import json
import os
import sys
import traceback

import pytest

@pytest.fixture(autouse=True)
def private_data_root(tmp_path, monkeypatch):
    """Compiled seccomp filters go to a temporary data root, never /var/lib.

    Autouse in every module that imports it; forked children inherit it.
    """
    root = tmp_path / "mctest-data"
    monkeypatch.setenv("MINICONTAINER_DATA_ROOT", str(root))
    return root


# The probe runs after exec, under whatever the child applied. Every syscall it
# tries is harmless even if nothing filtered it (bad magic numbers, paths that
# do not exist, NULL arguments), so a broken filter cannot hurt the host.
PROBE = r'''
import ctypes, errno, json, os, resource, socket, sys, threading
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

def call(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    return "ok" if r >= 0 else errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))

def sock(family, kind):
    try:
        socket.socket(family, kind).close()
        return "ok"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))

status = {}
for line in open("/proc/self/status"):
    key, _, value = line.partition(":")
    status[key] = value.strip()

out = {"status": status, "rlimit_nofile": list(resource.getrlimit(resource.RLIMIT_NOFILE))}
if "syscalls" in sys.argv[1:]:
    def thread_works():
        box = []
        t = threading.Thread(target=box.append, args=(1,))
        t.start(); t.join()
        return box == [1]
    out["calls"] = {
        "unshare_uts": call(272, 0x04000000),
        "keyctl": call(250, 0, -3, 0),
        "add_key": call(248, None, None, None, 0, 0),
        "clone3": call(435, None, 0),
        "reboot_bad_magic": call(169, 0, 0, 0, None),
        "mount_nowhere": call(165, b"none", b"/nonexistent-mctest", b"mctestfs", 0, None),
        "bpf": call(321, 5, None, 0),
        "perf_event_open": call(298, None, 0, -1, -1, 0),
        "personality_query": call(135, 0xFFFFFFFF),
        "personality_bad": call(135, 0x0400000),
        "socket_vsock": sock(40, socket.SOCK_STREAM),
        "socket_alg": sock(38, socket.SOCK_SEQPACKET),
        "socket_unix": sock(socket.AF_UNIX, socket.SOCK_STREAM),
        "init_module_null": call(175, None, 0, b""),
        "thread": thread_works(),
        "fork": os.waitpid(os.fork() or os._exit(0), 0)[1] == 0,
    }
print(json.dumps(out))
'''


# The probe may run as an unprivileged user, who cannot enter /root where a
# pyenv interpreter often lives: prefer the system's Python.
PROBE_PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable


def run_in_child(setup, probe_args=("syscalls",), exec_probe=True):
    """Fork; in the child run ``setup()`` then exec the probe.

    Returns ("ok", probe_output_dict) or ("error", "Type: message") when
    setup raised.  ``setup`` may return a dict, which is reported instead of
    exec'ing the probe when ``exec_probe`` is False.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            os.close(read_fd)
            result = setup()
            if not exec_probe:
                os.write(write_fd, json.dumps(["ok", result]).encode())
                os._exit(0)
            os.dup2(write_fd, 1)
            os.execv(PROBE_PYTHON, [PROBE_PYTHON, "-S", "-c", PROBE, *probe_args])
        except BaseException as exc:  # report anything, then leave without cleanup
            message = f"{type(exc).__name__}: {exc}"
            try:
                os.write(write_fd, json.dumps(["error", message,
                                               traceback.format_exc()]).encode())
            except BaseException:
                pass
            code = 1
        os._exit(code)
    os.close(write_fd)
    chunks = []
    while True:
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    text = b"".join(chunks).decode()
    data = json.loads(text) if text else ["error", f"child died: wait status {status}"]
    if isinstance(data, dict):
        return "ok", data
    return data[0], data[1]


def mask(status_value):
    return int(status_value, 16)
