"""The channel between the launcher (parent) and the container's init (child).

A unix socketpair carrying length-prefixed ``marshal`` messages, each a tuple
whose first item names it:

  child -> parent  ("explain", record)  a kernel step, for --explain
                   ("error", dict)      setup failed; the init exits next
                   ("pty",) + fd        the pty master, over SCM_RIGHTS (-t)
  parent -> child  ("go",)              namespaces are wired; carry on

The child's end is close-on-exec, so a successful exec shows up in the parent
as end-of-file.  ``_socket`` and ``marshal`` are used instead of ``socket``
and ``pickle`` because they import in microseconds rather than milliseconds.
"""

import _socket
import marshal
import os

_HEADER = 4
_SCM_RIGHTS = 1
_SOL_SOCKET = 1


def channel_pair():
    """(parent_end, child_end) Channels; both close-on-exec."""
    a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
    return Channel(a), Channel(b)


class Channel:
    __slots__ = ("sock",)

    def __init__(self, sock):
        self.sock = sock

    def fileno(self):
        return self.sock.fileno()

    def close(self):
        self.sock.close()

    def send(self, *message, fd=None):
        payload = marshal.dumps(message)
        data = len(payload).to_bytes(_HEADER, "little") + payload
        if fd is None:
            self.sock.sendall(data)
        else:
            ancillary = [(_SOL_SOCKET, _SCM_RIGHTS, fd.to_bytes(4, "little"))]
            sent = self.sock.sendmsg([data], ancillary)
            if sent < len(data):
                self.sock.sendall(data[sent:])

    def recv(self):
        """The next message as (tuple, fd or None); (None, None) at end-of-file."""
        fd = None
        header, fd = self._read(_HEADER, want_fd=True)
        if not header:
            return None, None
        size = int.from_bytes(header, "little")
        payload, _ = self._read(size)
        return marshal.loads(payload), fd

    def _read(self, size, want_fd=False):
        chunks, got, fd = [], 0, None
        while got < size:
            if want_fd and fd is None:
                data, ancillary, _flags, _addr = self.sock.recvmsg(size - got, 64)
                for level, kind, raw in ancillary:
                    if level == _SOL_SOCKET and kind == _SCM_RIGHTS:
                        fd = int.from_bytes(raw[:4], "little")
                        os.set_inheritable(fd, False)
            else:
                data = self.sock.recv(size - got)
            if not data:
                if got:
                    raise EOFError("the sync channel closed in the middle of a message")
                return b"", fd
            chunks.append(data)
            got += len(data)
        return b"".join(chunks), fd
