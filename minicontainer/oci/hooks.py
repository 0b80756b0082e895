"""The config's hooks: programs run at points of the lifecycle, given the state on stdin.

  prestart, createRuntime   in the runtime's namespaces, once the container's
                            init exists (create)
  createContainer           in the container's namespaces, the program found
                            on the host (create)
  startContainer            in the container's namespaces, the program found
                            in the container (start, before the user's process)
  poststart                 in the runtime's namespaces, after start
  poststop                  in the runtime's namespaces, at delete

Where runc runs createContainer before pivot_root (inside its init), we run it
just after create's setup, in every namespace of the init: the mount
namespace already shows the container's root, so the host program is opened
before the namespaces are joined and executed through its descriptor.

Each hook has ``path``, ``args`` (argv, args[0] included), ``env`` and
``timeout`` (seconds).  A hook that exits non-zero, is killed, cannot be run
or outlives its timeout is a HookError.
"""

import os
import time

from ..errors import MiniContainerError

CREATE_HOOKS = ("prestart", "createRuntime", "createContainer")
IN_CONTAINER = ("createContainer", "startContainer")


class HookError(MiniContainerError):
    """A hook failed (its name, program and why)."""


def run_all(kind, hooks, state_document, pid=None):
    """Run every ``kind`` hook in order; the first failure raises HookError."""
    for index, hook in enumerate(hooks.get(kind) or ()):
        run_one(kind, index, hook, state_document, pid if kind in IN_CONTAINER else None)


def run_one(kind, index, hook, state_document, pid=None):
    from ..linux.fs import dumps_json
    path = hook.get("path")
    args = list(hook.get("args") or [path])
    env = list(hook.get("env") or [])
    timeout = hook.get("timeout")
    what = f"{kind} hook #{index} ({path})"
    payload = dumps_json(state_document).encode()
    program_fd = None
    if pid is not None and kind == "createContainer":
        # The path names a host file: open it before entering the container.
        try:
            program_fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise HookError(f"{what}: {exc.strerror}") from None
    ns_fds = _namespace_fds(pid) if pid is not None else []
    read_end, write_end = os.pipe()
    try:
        child = os.fork()
        if child == 0:  # never returns
            _child(read_end, write_end, ns_fds, program_fd, path, args, env)
    finally:
        os.close(read_end)
        for _kind, fd in ns_fds:
            os.close(fd)
        if program_fd is not None:
            os.close(program_fd)
    try:
        _feed(write_end, payload)
    finally:
        os.close(write_end)
    status = _wait(child, timeout)
    if status is None:
        raise HookError(f"{what} did not finish within its timeout of {timeout}s (killed)")
    code = os.waitstatus_to_exitcode(status)
    if code == 127 + 128:
        raise HookError(f"{what} could not be started (or exited with status 255)")
    if code != 0:
        how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
        raise HookError(f"{what} {how}")


def _feed(fd, payload):
    # A hook that ignores its stdin may exit before reading it all.
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view):]
    except BrokenPipeError:
        pass


def _wait(pid, timeout):
    """The hook's wait status, or None once it was killed for its timeout."""
    if not timeout:
        return os.waitpid(pid, 0)[1]
    deadline = time.monotonic() + float(timeout)
    delay = 0.001
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() >= deadline:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
            return None
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _namespace_fds(pid):
    """Descriptors of the init's namespaces that differ from ours, in joining order."""
    from .. import namespaces
    fds = []
    for kind in namespaces.JOIN_ORDER:
        name = namespaces.PROC_NAMES[kind]
        theirs = f"/proc/{pid}/ns/{name}"
        try:
            if os.stat(theirs).st_ino == os.stat(f"/proc/self/ns/{name}").st_ino:
                continue
            fds.append((kind, os.open(theirs, os.O_RDONLY | os.O_CLOEXEC)))
        except FileNotFoundError:
            continue
    return fds


def _child(read_end, write_end, ns_fds, program_fd, path, args, env):
    code = 127 + 128
    try:
        os.close(write_end)
        os.dup2(read_end, 0)
        import _signal
        # The launcher blocks the signals it forwards around the clone; a
        # hook starts with none blocked.
        _signal.pthread_sigmask(_signal.SIG_SETMASK, [])
        if ns_fds:
            from .. import namespaces
            from ..linux import syscalls as sc
            for kind, fd in ns_fds:
                sc.setns(fd, namespaces.FLAGS[kind], why=None)
            if any(kind == "pid" for kind, _ in ns_fds):
                # Joining a PID namespace only places our children in it.
                grandchild = os.fork()
                if grandchild:
                    code = os.waitstatus_to_exitcode(os.waitpid(grandchild, 0)[1])
                    os._exit(code if code >= 0 else 128 - code)
                from ..linux import constants as C
                sc.prctl(C.PR_SET_PDEATHSIG, 9, why=None)
        if program_fd is not None:
            # /proc/self/fd/N keeps a host script runnable once in the container
            # (its interpreter opens that path: the descriptor must survive exec).
            os.set_inheritable(program_fd, True)
            target = f"/proc/self/fd/{program_fd}"
            os.execve(target if os.path.exists(target) else program_fd, args, _env(env))
        os.execve(path, args, _env(env))
    except BaseException:  # noqa: BLE001 - the parent reports "could not be started"
        pass
    os._exit(code)


def _env(items):
    env = {}
    for item in items:
        key, _, value = item.partition("=")
        env[key] = value
    return env
