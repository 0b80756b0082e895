"""Talking to the per-host supervisor, started on demand.

One message each way over ``<state_root>/supervisor.sock``: a dict of plain
values, framed and encoded as the launcher's sync channel does (marshal,
length-prefixed), because a foreground ``run`` asks the supervisor to wire
its network and cannot pay for importing ``socket`` and ``json``.
"""

import _socket
import os
import sys
import time

from .errors import MiniContainerError
from .runtime.sync import Channel
from .state import StateStore

SOCKET_NAME = "supervisor.sock"


class SupervisorUnavailable(MiniContainerError):
    """No supervisor answers and none could be started."""


def request(message, state_root=None, timeout=120):
    """Send one request to the supervisor (starting it if needed); its reply."""
    return _answer(_send(message, state_root, timeout))


def _send(message, state_root, timeout=120):
    """Connect (starting the supervisor if needed) and send; the open channel."""
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
            raise SupervisorUnavailable("the supervisor did not start (see "
                                     f"{os.path.join(store.root, 'supervisor.log')})")
    channel = Channel(sock)
    try:
        sock.settimeout(timeout)
        channel.send(message)
    except BaseException:
        channel.close()
        raise
    return channel


def _answer(channel):
    """The supervisor's reply on ``channel`` (closed afterwards); raises its error."""
    try:
        reply, _ = channel.recv()
    finally:
        channel.close()
    if not reply:
        raise SupervisorUnavailable("the supervisor closed the connection without an answer")
    answer = reply[0]
    if not answer.get("ok"):
        raise MiniContainerError.from_dict(answer["error"])
    return answer


def _connect(path):
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
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


# -- networking through the warm supervisor ------------------------------------------
# pyroute2 takes 150-200 ms to import, more than a whole container start, so a
# foreground run asks the supervisor (which has it loaded) to wire its network.
# Without a supervisor the work is done here, just slower; in the supervisor
# itself (IN_SUPERVISOR) it is done here too, since it cannot ask itself.
IN_SUPERVISOR = False


def _local():
    return IN_SUPERVISOR or os.environ.get("MINICONTAINER_NO_SUPERVISOR") == "1"

def network_attach(state_root, data_root, container_id, pid, network_name, options, **extra):
    """Wire ``pid``'s network namespace to a network; the record for state.json."""
    return network_attach_finish(network_attach_begin(
        state_root, data_root, container_id, pid, network_name, options, **extra))


def network_attach_begin(state_root, data_root, container_id, pid, network_name, options,
                         **extra):
    """Ask the supervisor to wire the network and return at once (a pending attach).

    The launcher meanwhile moves the process into its cgroups, which on v1
    waits for an RCU grace period (5-20 ms): the two overlap instead of adding up.
    """
    args = (data_root, container_id, pid, network_name, options, extra)
    if not _local():
        try:
            return ("sent", _send({"op": "attach", "data_root": data_root, "id": container_id,
                                   "pid": pid, "network": network_name,
                                   "options": options.as_dict(), **extra}, state_root), args)
        except SupervisorUnavailable:
            pass
    return ("local", None, args)


def network_attach_finish(pending):
    """The record of a pending attach (waiting for the supervisor, or doing it here)."""
    how, channel, (data_root, container_id, pid, network_name, options, extra) = pending
    if how == "sent":
        try:
            return _answer(channel)["record"]
        except SupervisorUnavailable:
            pass  # it went away before answering: wire it here instead
    from . import network
    from .spec import NetworkOptions
    return network.attach(data_root, container_id, pid, network_name,
                          NetworkOptions(**options.as_dict()), **extra)


def network_detach(state_root, data_root, container_id, record):
    try:
        if _local():
            raise SupervisorUnavailable("local")
        request({"op": "detach", "data_root": data_root, "id": container_id, "record": record},
                state_root)
    except SupervisorUnavailable:
        from . import network
        network.detach(data_root, container_id, record)
