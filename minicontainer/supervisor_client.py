"""Talking to the per-host supervisor: one JSON line each way, started on demand."""

import json
import os
import socket
import sys
import time

from .errors import MiniContainerError
from .state import StateStore

SOCKET_NAME = "supervisor.sock"


def request(message, state_root=None, timeout=120):
    """Send one request to the supervisor (starting it if needed); its reply."""
    store = StateStore(state_root)
    path = os.path.join(store.root, SOCKET_NAME)
    sock = _connect(path)
    if sock is None:
        _spawn(store.root)
        deadline = time.monotonic() + 10
        while sock is None and time.monotonic() < deadline:
            time.sleep(0.02)
            sock = _connect(path)
        if sock is None:
            raise MiniContainerError("the supervisor did not start (see "
                                     f"{os.path.join(store.root, 'supervisor.log')})")
    with sock:
        sock.settimeout(timeout)
        sock.sendall(json.dumps(message).encode() + b"\n")
        reply = sock.makefile("rb").readline()
    if not reply:
        raise MiniContainerError("the supervisor closed the connection without an answer")
    answer = json.loads(reply)
    if not answer.get("ok"):
        raise MiniContainerError.from_dict(answer["error"])
    return answer


def _connect(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
        return sock
    except OSError:
        sock.close()
        return None


def _spawn(root):
    import subprocess
    os.makedirs(root, 0o711, exist_ok=True)
    log = open(os.path.join(root, "supervisor.log"), "ab")
    with log:
        subprocess.Popen([sys.executable, "-m", "minicontainer.supervisor", root],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                         start_new_session=True, close_fds=True)
