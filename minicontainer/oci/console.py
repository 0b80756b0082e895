"""--console-socket: hand the container's pty master to whoever asked for it.

runc's protocol (docs/terminals.md): connect to the AF_UNIX socket and send
one message whose data is the terminal's name and whose SCM_RIGHTS carries the
master's descriptor.  containerd's shim and conmon then own the terminal; the
runtime keeps no copy.
"""

import _socket

from ..errors import SetupError

_SOL_SOCKET = 1
_SCM_RIGHTS = 1


def send_master(socket_path, master_fd, name="/dev/ptmx"):
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(socket_path)
        sock.sendmsg([name.encode()],
                     [(_SOL_SOCKET, _SCM_RIGHTS, master_fd.to_bytes(4, "little"))])
    except OSError as exc:
        raise SetupError(exc.strerror or str(exc), op="send the terminal to the console socket",
                         path=socket_path, errno=exc.errno) from None
    finally:
        sock.close()


def receive_master(listener):
    """(name, fd) from one connection on ``listener`` (a bound, listening socket); for tests."""
    conn, _ = listener.accept()
    try:
        data, ancillary, _flags, _addr = conn.recvmsg(4096, 64)
    finally:
        conn.close()
    for level, kind, raw in ancillary:
        if level == _SOL_SOCKET and kind == _SCM_RIGHTS:
            return data.decode(errors="replace"), int.from_bytes(raw[:4], "little")
    raise SetupError("no descriptor arrived on the console socket", op="console socket")
