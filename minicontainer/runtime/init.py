"""The container's side of the start: from the clone to the exec.

This code runs in the child that ``launcher`` cloned into the new namespaces.
It waits for the launcher's "go", builds the root filesystem, sets the
hostname, terminal, user and working directory, then execs the command.  It
never returns: any failure is sent to the launcher as one error message and
the child exits, so the command never runs half-confined.

Everything this code needs is imported at the top: after pivot_root the
host's Python library is out of reach, so a lazy import would fail.
"""

import _signal
import os
import struct
import time

from ..errors import (CommandNotExecutable, CommandNotFound, MiniContainerError,
                      SetupError)
from ..linux import constants as C
from ..linux import syscalls as sc
from .. import namespaces
from ..rootfs.apply import apply_steps, remember_own_cgroups
from ..rootfs.plan import INIT_PATH
from ..spec import DEFAULT_PATH
from .users import User, resolve_user

_FORWARDED_SIGNALS = range(1, 65)


def child_main(spec, steps, chan, stdio, explain, foreground, net_fd=None, start_wait=None,
               join_fds=(), cgroup_files=()):
    """Entry point of the cloned child; never returns.

    ``start_wait`` (the OCI create) is (fifo fd, host /proc fd) from
    ``startfifo.make_fifo``: the init then reports "ready" and blocks on the
    FIFO just before its execve instead of exec'ing at once.  ``join_fds``
    are (kind, fd) of namespaces to join (OCI linux.namespaces[].path), entered
    right after "go", before any mount.  ``cgroup_files``: the cgroups this
    process joins by itself before anything else (then it says "joined").
    """
    code = 125
    try:
        if explain:
            sc.set_recorder(lambda *rec: chan.send("explain", rec + (_now(),)))
        # Until the exec this process is the host's Python inside the container's
        # namespaces: not dumpable, so nothing there can open /proc/1/exe or
        # ptrace it (CVE-2019-5736).  execve makes the command dumpable again.
        sc.prctl(C.PR_SET_DUMPABLE, 0, why="keep the container away from the runtime's own "
                 "process (/proc/<pid>/exe, ptrace) until the exec")
        _reset_signals()
        for path, controllers in cgroup_files:
            sc.write_file(path, "0", why=f"move itself into the container's {controllers} "
                          "cgroup (a thread moving itself skips the kernel's global lock "
                          "and its RCU wait)")
        if cgroup_files:
            chan.send("joined")
        from .. import security
        # Pure preparation (read the profile or the compiled filter, load
        # libseccomp), done while the launcher attaches the cgroup and network,
        # and before pivot_root, while the host's files are reachable.
        confinement = security.prepare(spec.security)
        message, _ = chan.recv()
        if not message or message[0] != "go":
            os._exit(125)  # the launcher went away before releasing us
        if net_fd is not None:
            sc.setns(net_fd, C.CLONE_NEWNET, why="join the other container's network namespace "
                     "(--network container:...)")
            os.close(net_fd)
        for kind, fd in join_fds:
            sc.setns(fd, namespaces.FLAGS[kind], why=f"join the {kind} namespace the config "
                     "names by path")
            os.close(fd)
        _setup_and_exec(spec, steps, chan, stdio, message[1], foreground, confinement,
                        start_wait)
    except MiniContainerError as exc:
        code = exc.exit_code
        _report(chan, exc.to_dict())
    except OSError as exc:
        _report(chan, SetupError(exc.strerror or str(exc), op="container setup",
                                 path=exc.filename, errno=exc.errno).to_dict())
    except BaseException as exc:  # a bug: still never exec, and say what happened
        _report(chan, MiniContainerError(f"container init failed: {exc!r}").to_dict())
    os._exit(code)


def _now():
    return time.monotonic()


def _report(chan, error):
    try:
        chan.send("error", error)
    except OSError:  # after "ready" (OCI create) the launcher is gone: say it on stderr
        try:
            os.write(2, f"minicontainer: {error.get('message', error)}\n".encode())
        except OSError:
            pass


def _reset_signals():
    # Exec keeps ignored signals ignored and the signal mask as it is: Python
    # ignores SIGPIPE and SIGXFSZ, our caller may ignore more, and the launcher
    # blocked the forwarded ones around the clone.  A container starts clean.
    for sig in range(1, _signal.NSIG):
        if sig not in (9, 19, 32, 33):  # KILL and STOP can't change; 32/33 are glibc's
            try:
                _signal.signal(sig, _signal.SIG_DFL)
            except (OSError, ValueError):
                pass
    _signal.pthread_sigmask(_signal.SIG_SETMASK, [])


def _setup_and_exec(spec, steps, chan, stdio, winsize, foreground, confinement,
                    start_wait=None):
    from .. import security
    if spec.has("user"):
        sc.set_user(0, 0, [], why="become root of the new user namespace (maps are written)")
    if spec.mount_plan == "oci":  # a "cgroup" mount may bind our own cgroups
        remember_own_cgroups()
    if spec.has("cgroup"):
        sc.unshare(C.CLONE_NEWCGROUP, why="new cgroup namespace: the container sees its own "
                   "cgroup (where the launcher just put it) as /")
    if spec.has("uts"):
        if spec.hostname is not None:
            sc.sethostname(spec.hostname, why="set the hostname inside the new UTS namespace")
        if spec.domainname:
            sc.setdomainname(spec.domainname, why="set the NIS domain name")
    apply_steps(steps)
    security.apply_masks(confinement)
    if spec.has("net"):
        sc.set_link_up("lo", why="bring up the loopback device of the new network namespace")
    user = process_user(spec)
    env = container_env(spec, user)
    setup_stdio(spec, chan, stdio, winsize)
    if spec.tty and spec.mount_plan == "oci":
        _bind_console()
    close_inherited(chan, keep=start_wait or ())
    enter_workdir(spec.cwd, user)
    sc.close_range(3, why="let no descriptor but stdin/stdout/stderr reach the command")
    argv = list(spec.args)
    path = find_executable(argv[0], env)
    if spec.init:  # tini runs the command as its child: argv[0] is still checked above
        argv = [INIT_PATH, "--"] + argv
        path = INIT_PATH
    if spec.umask is not None:
        os.umask(spec.umask)
    before_exec = None if start_wait is None else (lambda: _ready_then_wait(chan, start_wait))
    confine_and_exec(confinement, user, path, argv, env, foreground,
                     why="replace the init with the container's command",
                     before_exec=before_exec)


def _bind_console():
    """OCI: with a terminal, /dev/console is the container's pty (bound over it)."""
    if not os.path.isdir("/dev"):
        return
    slave = os.ttyname(0)
    if not os.path.exists("/dev/console"):
        sc.create_file("/dev/console", 0o600, why="create /dev/console as a mount point")
    sc.mount(slave, "/dev/console", None, C.MS_BIND, None,
             why=f"bind the container's terminal ({slave}) at /dev/console")


def _ready_then_wait(chan, start_wait):
    """OCI create: tell the launcher all is set up, then wait for ``start``."""
    sc.note("exec_fifo_wait", (), "wait on the exec fifo until `start` opens it (OCI create)")
    chan.send("ready")
    # The launcher returns on "ready" and may exit: nothing more goes to it.
    sc.set_recorder(None)
    chan.close()
    from .startfifo import wait_for_start  # already loaded by the launcher before the clone
    wait_for_start(start_wait)


def confine_and_exec(confinement, user, path, argv, env, die_with_parent, why,
                     before_exec=None):
    """The last steps, shared with ``exec``: confinement, user, then execve.

    ``before_exec`` runs once everything but a no_new_privs seccomp filter is
    applied (the OCI create's wait on its exec fifo, where runc waits too)."""
    from .. import security
    # In the order the kernel requires (see security/__init__.py): the filter,
    # if loaded before setuid, must allow everything that follows.
    security.apply_before_user(confinement)
    sc.set_user(user.uid, user.gid, user.groups,
                why=f"run as uid {user.uid}, gid {user.gid}, groups {user.groups}")
    security.apply_after_user(confinement, user.uid, before_filter=before_exec)
    if die_with_parent:
        # If the launcher dies nothing is left to wait for us: go too.  (Set
        # after setuid, which clears it.)
        sc.prctl(C.PR_SET_PDEATHSIG, 9, why="die with the launcher (foreground run)")
    try:
        sc.execve(path, argv, env, why=why)
    except OSError as exc:
        raise _exec_error(argv[0], exc) from None


def process_user(spec):
    """Who the command runs as: Docker's -u resolved in /etc/passwd, or (OCI)
    exactly the config's uid, gid and additionalGids."""
    if spec.exact_process:
        uid, _, gid = (spec.user or "0:0").partition(":")
        groups = [int(g) for g in spec.security.group_add]
        home = resolve_user(uid).home  # for HOME only; never fails for a numeric uid
        return User(int(uid), int(gid or 0), groups, home, None)
    return resolve_user(spec.user, spec.security.group_add)


def container_env(spec, user):
    """Docker's environment: PATH, HOSTNAME, HOME (and TERM with -t), then -e.

    An OCI process (``exact_process``) gets its config's env, plus HOME from
    /etc/passwd (or /) when the config sets none, as runc does."""
    if spec.exact_process:
        env = dict(item.partition("=")[::2] for item in spec.env)
        env.setdefault("HOME", user.home or "/")
        return env
    env = {"PATH": DEFAULT_PATH, "HOSTNAME": spec.hostname or ""}
    if spec.tty:
        env["TERM"] = "xterm"
    for item in spec.env:
        key, _, value = item.partition("=")
        env[key] = value
    env.setdefault("HOME", user.home or "/")
    return env


def close_inherited(chan, keep=()):
    """Close every descriptor but stdio and the sync channel, before any path is
    resolved: a host directory left open would make ``-w /proc/self/fd/N`` a
    way out of the root (CVE-2024-21626)."""
    keep = {0, 1, 2, chan.fileno(), *keep}
    try:
        names = os.listdir("/proc/self/fd")
    except FileNotFoundError:  # an OCI root with no /proc: close the gaps between ours
        low = 0
        for fd in sorted(keep) + [os.sysconf("SC_OPEN_MAX")]:
            if fd > low:
                os.closerange(low, fd)
            low = fd + 1
        return
    for name in names:
        fd = int(name)
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass  # the listing's own descriptor, already gone


def enter_workdir(cwd, user):
    if not os.path.isdir(cwd):
        # Docker creates a missing working directory, owned by the user.
        os.makedirs(cwd, 0o755, exist_ok=True)
        os.chown(cwd, user.uid, user.gid)
    sc.chdir(cwd, why="enter the working directory")
    try:
        os.getcwd()  # fails (ENOENT) when the directory is outside our root
    except FileNotFoundError:
        raise SetupError("the working directory is outside the container's root",
                         op="enter the working directory", path=cwd) from None


def setup_stdio(spec, chan, stdio, winsize):
    if spec.tty:
        master, slave = os.openpty()
        if winsize:
            sc.ioctl(slave, C.TIOCSWINSZ, struct.pack("HHHH", winsize[0], winsize[1], 0, 0))
        chan.send("pty", fd=master)
        os.close(master)
        sc.setsid(why="start a new session: the container cannot reach the host's terminal")
        sc.ioctl(slave, C.TIOCSCTTY, 0, why="make the new pty the session's controlling terminal")
        for target in (0, 1, 2):
            sc.dup2(slave, target)
        if slave > 2:
            os.close(slave)
        return
    sc.setsid(why="start a new session: the container cannot reach the host's terminal")
    if not spec.interactive:
        null = os.open("/dev/null", os.O_RDONLY)
        sc.dup2(null, 0, why="stdin is /dev/null without -i")
        os.close(null)
    elif stdio[0] != 0:
        sc.dup2(stdio[0], 0)
    for target in (1, 2):
        if stdio[target] != target:
            sc.dup2(stdio[target], target)


def find_executable(name, env):
    """The path execve will run, with Docker's errors when there is none."""
    if "/" in name:
        if not os.path.exists(name):
            raise CommandNotFound(f'exec: "{name}": stat {name}: no such file or directory')
        return name
    for directory in env.get("PATH", DEFAULT_PATH).split(":"):
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise CommandNotFound(f'exec: "{name}": executable file not found in $PATH')


def _exec_error(name, exc):
    reason = (exc.strerror or str(exc)).lower()
    if exc.errno == 2:
        return CommandNotFound(f'exec: "{name}": {reason}')
    return CommandNotExecutable(f'exec: "{name}": {reason}')
