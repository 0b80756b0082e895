"""One light process per host that parents detached containers.

``run -d`` and ``start`` ask it (over ``<state_root>/supervisor.sock``, one
JSON line each way) to start a container; it becomes the container's parent,
turns its stdout/stderr into Docker's json-file log, records the exit code and
finish time, and applies the restart policy.  It is started on demand by the
first request and needs no setup.

If it is killed the containers keep running: their output goes through named
pipes that the containers themselves hold open for reading as well as
writing, so a write never fails for want of a reader (it waits, at most a
pipe's worth).  A new supervisor adopts them: it reopens their pipes and
watches them through pidfds.  It cannot learn an adopted container's exit
status (only a parent can), so that exit is recorded without a code.
"""

import os
import selectors
import signal
import socket
import sys
import time

from . import lifecycle
from .errors import MiniContainerError
from .state import StateStore
from .runtime.sync import Channel
from .supervisor_client import SOCKET_NAME

BACKOFF_START, BACKOFF_MAX = 0.1, 60.0


# -- the supervisor ------------------------------------------------------------------

class Supervised:
    """A container this supervisor parents (or adopted): its logs and policy."""

    def __init__(self, container, pid):
        self.container, self.pid = container, pid
        self.started = time.monotonic()
        self.streams = {}  # fd -> [stream name, pending bytes]


class Supervisor:
    def __init__(self, root):
        self.store = StateStore(root)
        self.selector = selectors.DefaultSelector()
        self.children = {}   # pid -> Supervised
        self.adopted = {}    # pidfd -> container id
        self.timers = []     # (when, "restart" | "kill", container id)
        self.stopping = set()  # ids being stopped: never restarted
        self.after_reply = None  # work to do once the current request is answered
        from .health import HealthMonitor
        self.health = HealthMonitor(self.store, self._add_timer)
        self.backoff = {}    # container id -> seconds

    def serve(self):
        import fcntl

        from . import supervisor_client
        supervisor_client.IN_SUPERVISOR = True  # our own network work is done in-process
        # Whoever started us may have had signals blocked (a launcher blocks
        # the forwarded ones around its clone, and the mask is inherited).
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        os.makedirs(self.store.root, 0o711, exist_ok=True)
        lock = os.open(os.path.join(self.store.root, "supervisor.lock"), os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return 0  # another supervisor already serves this state root
        path = os.path.join(self.store.root, SOCKET_NAME)
        if os.path.exists(path):
            os.unlink(path)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path)
        os.chmod(path, 0o600)
        server.listen(64)
        self.selector.register(server, selectors.EVENT_READ, "accept")
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        self.selector.register(wake_r, selectors.EVENT_READ, "signal")
        self.adopt()
        while True:
            try:
                self._turn()
            except KeyboardInterrupt:
                return 0  # SIGTERM: leave; the containers keep running
            except Exception as exc:  # a bug must not orphan every container: log, go on
                import traceback
                traceback.print_exc()
                print(f"supervisor: {exc!r}", file=sys.stderr, flush=True)

    def _turn(self):
        timeout = None
        if self.timers:
            timeout = max(0.0, min(t[0] for t in self.timers) - time.monotonic())
        for key, _ in self.selector.select(timeout):
            kind = key.data
            if kind == "accept":
                self._answer(key.fileobj.accept()[0])
            elif kind == "signal":
                os.read(key.fd, 512)
                self._reap()
            elif kind == "pidfd":
                self._adopted_exit(key.fd)
            else:
                self._read_log(key.fd, kind)
        self._run_timers()

    # -- requests -------------------------------------------------------------------

    def _answer(self, conn):
        channel = Channel(conn)
        with conn:
            conn.settimeout(10)
            try:
                received, _ = channel.recv()
                reply = {"ok": True, **self._handle(received[0] if received else {})}
            except MiniContainerError as exc:
                reply = {"ok": False, "error": exc.to_dict()}
            except Exception as exc:  # a bug: answer, log, keep serving the others
                print(f"supervisor: {exc!r}", file=sys.stderr, flush=True)
                reply = {"ok": False, "error": MiniContainerError(repr(exc)).to_dict()}
            try:
                channel.send(reply)
            except OSError:
                pass
        work, self.after_reply = self.after_reply, None
        if work is not None:
            try:
                work()
            except Exception as exc:
                print(f"supervisor: {exc!r}", file=sys.stderr, flush=True)

    def _handle(self, message):
        from .container import Container
        from .spec import ContainerSpec
        op = message.get("op")
        if op == "ping":
            return {"pid": os.getpid()}
        if op == "attach":  # a foreground run's network, with pyroute2 already loaded
            from . import network
            from .spec import NetworkOptions
            options = {k: tuple(v) if isinstance(v, list) else v
                       for k, v in message["options"].items()}
            record = network.attach(message["data_root"], message["id"], message["pid"],
                                    message["network"], NetworkOptions(**options),
                                    name=message.get("name"), hostname=message.get("hostname"),
                                    hosts_file=message.get("hosts_file"))
            return {"record": record}
        if op == "detach":
            # Answered at once, done right after: the caller's container is gone
            # and it need not wait for the kernel to delete a veth (~20 ms).
            from . import network
            self.after_reply = lambda: network.detach(message["data_root"], message["id"],
                                                      message["record"])
            return {}
        if op == "run":
            container = Container(ContainerSpec.from_json_dict(message["spec"]), self.store.root)
            container.create()
            try:
                self.start(container)
            except BaseException as exc:
                removed = not os.path.isdir(self.store.container_dir(container.id))
                container._remove()
                if removed and isinstance(exc, (OSError, MiniContainerError)):
                    from .errors import Conflict
                    raise Conflict(f"container {container.id[:12]} was removed while it was "
                                   "starting") from None
                raise
            return {"id": container.id}
        if op == "stop":
            return self._stop(message["id"], message.get("signal", 15), message.get("timeout", 10))
        if op == "start":
            container = Container.load(message["id"], self.store.root)
            self.stopping.discard(container.id)
            self.backoff.pop(container.id, None)
            lifecycle._mark(self.store, container.id, stop_requested=False)
            self.start(container)
            return {"id": container.id}
        raise MiniContainerError(f"unknown supervisor request {op!r}")

    # -- starting and logging -----------------------------------------------------------

    def start(self, container):
        directory = self.store.container_dir(container.id)
        pipes = {}
        for stream in ("stdout", "stderr"):
            path = os.path.join(directory, f"{stream}.pipe")
            if not os.path.exists(path):
                os.mkfifo(path, 0o600)
            pipes[stream] = path
        # Our reading ends first: a pipe's contents vanish when its last
        # descriptor closes, and a quick container may be gone before we look.
        readers = {s: os.open(pipes[s], os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
                   for s in ("stdout", "stderr")}
        # The container's ends are opened read-write: it is then a reader of
        # its own pipe, so its writes never fail when no supervisor reads.
        ends = [os.open(pipes[s], os.O_RDWR | os.O_CLOEXEC) for s in ("stdout", "stderr")]
        null = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
        try:
            proc = container.start((null, ends[0], ends[1]), foreground=False)
        except BaseException:
            for fd in readers.values():
                os.close(fd)
            raise
        finally:
            for fd in ends + [null]:
                os.close(fd)
        entry = Supervised(container, proc.pid)
        self.children[proc.pid] = entry
        if proc.pty is not None:  # -t: the terminal is the output; no pipe is written
            os.close(readers.pop("stdout"))
            readers["stdout"] = proc.pty
        self._watch(entry, readers)
        lifecycle._mark(self.store, container.id, supervised=True)
        self.health.container_started(container.id, container.spec)
        return entry

    def _watch(self, entry, sources):
        for stream, fd in sources.items():
            entry.streams[fd] = [stream, b""]
            self.selector.register(fd, selectors.EVENT_READ, (entry.container.id, entry))

    def _read_log(self, fd, owner):
        container_id, entry = owner
        stream = entry.streams.get(fd)
        if stream is None:
            return  # closed by an earlier event of the same round (the exit was reaped)
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""  # EIO: the pty's last holder is gone
        if data:
            stream[1] += data
            lines = stream[1].split(b"\n")
            stream[1] = lines.pop()
            self._append_log(container_id, stream[0], [line + b"\n" for line in lines])
        else:
            if stream[1]:
                self._append_log(container_id, stream[0], [stream[1]])
            self._unwatch(fd, entry)

    def _unwatch(self, fd, entry):
        self.selector.unregister(fd)
        entry.streams.pop(fd, None)
        os.close(fd)

    def _append_log(self, container_id, stream, chunks):
        from .logs import append
        append(self.store.container_dir(container_id), container_id, stream, chunks)

    # -- exits, restarts, adoption ------------------------------------------------------

    def _reap(self):
        from .runtime.launcher import exit_code
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.health.finished(pid, exit_code(status)):
                continue
            entry = self.children.pop(pid, None)
            if entry is not None:
                self._drain_logs(entry)
                self._finished(entry, exit_code(status))

    def _drain_logs(self, entry):
        for fd in list(entry.streams):
            while fd in entry.streams:
                self._read_log(fd, (entry.container.id, entry))
                if fd in entry.streams:
                    break  # nothing more right now (another process still writes)

    def _finished(self, entry, code):
        container = entry.container
        for fd in list(entry.streams):
            self._unwatch(fd, entry)
        state = self.store.load(container.id)
        code = container.finish(code)
        if container.spec.auto_remove:
            return
        if container.id in self.stopping:
            self.stopping.discard(container.id)
            self.timers = [t for t in self.timers if t[2] != container.id]
            return
        if self._should_restart(container.spec.restart, code, state):
            ran = time.monotonic() - entry.started
            delay = BACKOFF_START if ran > 10 else min(
                self.backoff.get(container.id, BACKOFF_START / 2) * 2, BACKOFF_MAX)
            self.backoff[container.id] = delay
            lifecycle._mark(self.store, container.id, status="restarting")
            self.timers.append((time.monotonic() + delay, "restart", container.id))

    @staticmethod
    def _should_restart(policy, code, state):
        name, _, limit = (policy or "no").partition(":")
        if state.get("stop_requested") or name == "no":
            return False
        if name in ("always", "unless-stopped"):
            return True
        if name == "on-failure" and code != 0:
            return not limit or state.get("restart_count", 0) < int(limit)
        return False

    def _stop(self, container_id, signal_number, timeout):
        """Docker's stop, without blocking the supervisor: signal now, SIGKILL later."""
        self.stopping.add(container_id)
        pending = [t for t in self.timers if t[2] == container_id and t[1] == "restart"]
        self.timers = [t for t in self.timers if t not in pending]
        lifecycle._mark(self.store, container_id, stop_requested=True)
        entry = self._entry(container_id)
        if entry is None:
            self.stopping.discard(container_id)
            if pending:  # it was waiting to be restarted: now it simply stays exited
                lifecycle._mark(self.store, container_id, status="exited")
            return {"stopped": False}
        try:
            os.kill(entry.pid, signal_number)
        except ProcessLookupError:
            pass
        self.timers.append((time.monotonic() + max(0, timeout), "kill", container_id))
        return {"stopped": True}

    def _add_timer(self, seconds, action, container_id):
        self.timers.append((time.monotonic() + seconds, action, container_id))

    def _entry(self, container_id):
        for entry in list(self.children.values()) + list(self.adopted.values()):
            if entry.container.id == container_id:
                return entry
        return None

    def _run_timers(self):
        from .container import Container
        now = time.monotonic()
        due = [t for t in self.timers if t[0] <= now]
        self.timers = [t for t in self.timers if t[0] > now]
        for _, action, container_id in due:
            try:
                if action == "health":
                    self.health.run_probe(container_id)
                    continue
                if action == "health-timeout":
                    self.health.timed_out(container_id, self.health.timeout_of(container_id))
                    continue
            except MiniContainerError:
                continue  # the container went away meanwhile
            if action == "kill":
                entry = self._entry(container_id)
                if entry is not None:
                    try:
                        os.kill(entry.pid, 9)
                    except ProcessLookupError:
                        pass
                continue
            try:
                if container_id in self.stopping:
                    continue
                state = self.store.load(container_id)
                lifecycle._mark(self.store, container_id,
                                restart_count=state.get("restart_count", 0) + 1)
                self.start(Container.load(container_id, self.store.root))
            except MiniContainerError as exc:
                print(f"supervisor: restart of {container_id[:12]} failed: {exc}",
                      file=sys.stderr, flush=True)

    def adopt(self):
        """Take over detached containers whose supervisor is gone."""
        from .container import Container
        from .linux import syscalls
        for state in lifecycle.list_containers(self.store.root):
            if not state.get("supervised") or state["status"] not in ("running", "paused"):
                continue
            try:
                pidfd = syscalls.pidfd_open(state["pid"])
            except OSError:
                continue
            container = Container.load(state["id"], self.store.root)
            entry = Supervised(container, state["pid"])
            directory = self.store.container_dir(state["id"])
            self._watch(entry, {s: os.open(os.path.join(directory, f"{s}.pipe"),
                                           os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
                                for s in ("stdout", "stderr")})
            self.adopted[pidfd] = entry
            self.selector.register(pidfd, selectors.EVENT_READ, "pidfd")

    def _adopted_exit(self, pidfd):
        entry = self.adopted.pop(pidfd)
        self.stopping.discard(entry.container.id)
        self.selector.unregister(pidfd)
        os.close(pidfd)
        self._drain_logs(entry)
        for fd in list(entry.streams):
            self._unwatch(fd, entry)
        state = self.store.load(entry.container.id)
        lifecycle.release_runtime(entry.container.id, state.get("network"), state.get("cgroup"))
        if entry.container.spec.auto_remove:
            lifecycle.release(self.store, entry.container.id, state)
            return
        state.update(status="exited", pid=None, exit_code=None, cgroup=None, network=None,
                     finished_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     error="exit status unknown: the container's supervisor was restarted")
        self.store.save(entry.container.id, state)


def main(argv):
    root = argv[1] if len(argv) > 1 else None
    return Supervisor(StateStore(root).root).serve()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
