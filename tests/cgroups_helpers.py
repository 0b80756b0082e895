"""Real processes in real cgroups, for the v1 and v2 integration tests.

A *probe* is a small Python child that waits for a "go" byte on stdin, so the
test can move it into the cgroup first, and then does one thing: allocate
memory, fork until it cannot, spin on the CPU, or echo bytes back.
"""

import itertools
import os
import select
import subprocess
import sys

import pytest

from minicontainer.cgroups import create_manager

# Generous bound for a line from a probe: only reached when something hangs,
# and a software-emulated VM is slow.
PATIENCE = 300

PROBE = r"""
import os, signal, sys
mode, arg = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0
say = lambda text: os.write(1, text.encode() + b"\n")
os.read(0, 1)                                   # "go": we are in the cgroup now
if mode == "hog":
    data = b"x" * (arg << 20)                   # touches every page
    say("survived")
elif mode == "forks":
    made = 0
    for _ in range(arg):
        try:
            pid = os.fork()
        except OSError as exc:
            say(f"made {made} then errno {exc.errno}")
            break
        if pid == 0:
            signal.pause()
            os._exit(0)
        made += 1
    else:
        say(f"made {made}")
    signal.pause()
elif mode == "spin":
    say("spinning")
    while True:
        pass
elif mode == "echo":
    while True:
        byte = os.read(0, 1)
        if not byte:
            break
        os.write(1, byte)
"""


class Probe:
    def __init__(self, mode, arg=0):
        self.proc = subprocess.Popen([sys.executable, "-c", PROBE, mode, str(arg)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.pid = self.proc.pid

    def go(self):
        os.write(self.proc.stdin.fileno(), b"g")

    def send(self, data):
        os.write(self.proc.stdin.fileno(), data)

    def ready(self, seconds):
        return bool(select.select([self.proc.stdout], [], [], seconds)[0])

    def read(self, count=1):
        assert self.ready(PATIENCE), "the probe did not answer"
        return os.read(self.proc.stdout.fileno(), count)

    def line(self):
        assert self.ready(PATIENCE), "the probe did not answer"
        return self.proc.stdout.readline().decode().strip()

    def wait(self):
        return self.proc.wait(PATIENCE)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()


_names = itertools.count()


@pytest.fixture
def cgroup():
    """make(resources, parent=None) → a created manager; all removed afterwards."""
    made, probes = [], []

    def make(resources=None, parent=None):
        name = f"mctest-{os.getpid()}-{next(_names)}"
        manager = create_manager(name, resources, parent=parent)
        manager.create()
        made.append(manager)
        return manager

    def probe(manager, mode, arg=0):
        child = Probe(mode, arg)
        probes.append(child)
        manager.add_pid(child.pid)
        child.go()
        return child

    make.probe = probe
    yield make
    for child in probes:
        child.stop()
    for manager in made:
        manager.kill()
        manager.destroy()
        assert not manager.exists(), f"cgroup left behind: {manager.paths()}"


def read(path):
    with open(path) as f:
        return f.read().strip()


def leftovers(record):
    """What is left of a recorded cgroup, plus any mctest group of this test process
    beneath our own cgroups."""
    from minicontainer.cgroups import host_layout
    layout = host_layout()
    bases = set(layout.v1.values()) if layout.v1 else {layout.v2}
    found = [p for p in [*record["paths"].values(), *record["created"]] if os.path.exists(p)]
    for base in bases:
        found += [os.path.join(base, n) for n in os.listdir(base)
                  if n.startswith(f"mctest-{os.getpid()}-")]
    return found
