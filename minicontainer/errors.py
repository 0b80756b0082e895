"""The error tree of minicontainer.

Every error carries what was being done (``op``), to what (``path``) and the
errno when the kernel said no, and renders as one line for the CLI.  Errors
cross the fork between the container's init and the launcher as plain dicts
(``to_dict``/``from_dict``) so that no pickle import is paid on the hot path;
they also pickle normally.
"""

import os


class MiniContainerError(Exception):
    """Base of all minicontainer errors; exit_code is what the CLI returns."""

    exit_code = 125

    def __init__(self, message, *, op=None, path=None, errno=None):
        super().__init__(message)
        self.message = message
        self.op = op
        self.path = path
        self.errno = errno

    def __str__(self):
        text = self.message
        if self.op and not text.startswith(self.op):
            text = f"{self.op}: {text}"
        if self.path and self.path not in text:
            text = f"{text} ({self.path})"
        if self.errno and os.strerror(self.errno) not in text:
            text = f"{text}: {os.strerror(self.errno)}"
        return text

    def __reduce__(self):
        return (_rebuild, (self.to_dict(),))

    def to_dict(self):
        return {"kind": type(self).__name__, "message": self.message,
                "op": self.op, "path": self.path, "errno": self.errno}

    @staticmethod
    def from_dict(data):
        return _rebuild(data)


class SpecError(MiniContainerError):
    """The request itself is wrong: a bad flag, limit, path or name."""


class SetupError(MiniContainerError):
    """A step that prepares the container failed (a mount, a namespace, ...)."""


class NotFound(MiniContainerError):
    """No container, image or file by that name."""


class Conflict(MiniContainerError):
    """The name, port or resource is already in use, or the state forbids it."""


class CommandNotFound(MiniContainerError):
    """The container's command does not exist (Docker's 127)."""

    exit_code = 127


class CommandNotExecutable(MiniContainerError):
    """The container's command exists but cannot be run (Docker's 126)."""

    exit_code = 126


_KINDS = {cls.__name__: cls for cls in (
    MiniContainerError, SpecError, SetupError, NotFound, Conflict,
    CommandNotFound, CommandNotExecutable)}


def _rebuild(data):
    cls = _KINDS.get(data.get("kind"), MiniContainerError)
    return cls(data["message"], op=data.get("op"), path=data.get("path"),
               errno=data.get("errno"))


def from_oserror(exc, op, path=None):
    """Wrap an OSError raised while doing ``op`` into a SetupError."""
    return SetupError(exc.strerror or str(exc), op=op,
                      path=path or exc.filename, errno=exc.errno)
