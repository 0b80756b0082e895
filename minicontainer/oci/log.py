"""Where ``minicontainer-oci`` reports: stderr, and the ``--log`` file as runc writes it.

With ``--log-format json`` each record is one JSON line ``{"level", "msg",
"time"}`` (containerd's shim reads the last error from that file when a
command fails); the text format is logrus' ``time="..." level=... msg="..."``.
"""

import os
import sys
import time


def _timestamp():
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e9):09d}Z"


class Log:
    def __init__(self, path=None, fmt="text", debug=False):
        self.path, self.fmt, self.debugging = path, fmt, debug

    def _record(self, level, msg):
        if not self.path:
            return
        if self.fmt == "json":
            from ..linux.fs import dumps_json
            line = dumps_json({"level": level, "msg": msg, "time": _timestamp()}) + "\n"
        else:
            escaped = msg.replace("\\", "\\\\").replace('"', '\\"')
            line = f'time="{_timestamp()}" level={level} msg="{escaped}"\n'
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError:
            return
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def error(self, msg):
        self._record("error", msg)
        sys.stderr.write(f"minicontainer-oci: {msg}\n")
        sys.stderr.flush()

    def warning(self, msg):
        self._record("warning", msg)
        sys.stderr.write(f"minicontainer-oci: warning: {msg}\n")
        sys.stderr.flush()

    def debug(self, msg):
        if self.debugging:
            self._record("debug", msg)
            if not self.path:
                sys.stderr.write(f"minicontainer-oci: debug: {msg}\n")

