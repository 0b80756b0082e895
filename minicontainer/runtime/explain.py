"""``--explain``: each kernel step printed as it happens, in plain words.

A record is ``(op, args, result, seconds, why[, when])`` from the syscall seam.
Each becomes two lines: the call as the kernel saw it, with its result and
duration, and the reason in words a learner can follow::

    +  4.10 ms  [container] mount("proc", ".../proc", "proc", MS_NOSUID|MS_NODEV|MS_NOEXEC) = 0  (0.03 ms)
                 mount a /proc that shows only this PID namespace's processes
"""

import os
import sys
import time

from ..linux import constants as C

_FLAG_ARGS = {  # op -> (index of a flags argument, name table)
    "mount": (3, C.MOUNT_FLAGS), "clone": (0, C.CLONE_FLAGS),
    "unshare": (0, C.CLONE_FLAGS), "setns": (1, C.CLONE_FLAGS),
}


def format_call(op, args, result):
    shown = []
    flag_index, table = _FLAG_ARGS.get(op, (None, None))
    for i, arg in enumerate(args):
        if i == flag_index and isinstance(arg, int):
            shown.append(C.flag_names(arg, table))
        elif op == "umount2" and i == 1:
            shown.append("MNT_DETACH" if arg == C.MNT_DETACH else str(arg))
        elif op in ("mkdir", "chmod", "mknod") and i == 1 and isinstance(arg, int):
            shown.append(oct(arg))
        elif isinstance(arg, str) and op == "write" and i == 1:
            shown.append(repr(arg.strip()))
        else:
            shown.append(repr(arg) if isinstance(arg, str) else str(arg))
    text = f"{op}({', '.join(shown)})"
    if result is None:
        return text
    if isinstance(result, str) and result.startswith("error "):
        return f"{text} failed: {result[6:]}"
    return f"{text} = {result}"


class ExplainPrinter:
    """Prints records to ``stream`` (stderr by default) as they arrive."""

    def __init__(self, stream=None, start=None):
        self.stream = stream or sys.stderr
        self.start = time.monotonic() if start is None else start

    def __call__(self, op, args, result, seconds, why, when=None, side="runtime"):
        at = (when if when is not None else time.monotonic()) - self.start
        line = (f"+{at * 1000:8.2f} ms  [{side}] {format_call(op, args, result)}"
                f"  ({seconds * 1000:.2f} ms)")
        self.stream.write(line + "\n")
        if why:
            self.stream.write(" " * 14 + why + "\n")
        self.stream.flush()

    def child(self, record):
        """A record streamed from the container's init."""
        op, args, result, seconds, why, when = record
        self(op, args, result, seconds, why, when, side="container")

    def say(self, text):
        at = time.monotonic() - self.start
        self.stream.write(f"+{at * 1000:8.2f} ms  {text}\n")
        self.stream.flush()


def env_says_explain():
    return os.environ.get("MINICONTAINER_EXPLAIN") == "1"
