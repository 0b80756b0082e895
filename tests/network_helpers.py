"""Stand-ins for containers and for "another host", built from real namespaces.

* ``FakeContainer``: a ``sleep`` started by ``unshare --net --mount`` — a
  process in its own network (and mount) namespace, which is all ``attach``
  needs.  Its /etc/hosts is bind-mounted from the file attach maintains and
  its /etc/resolv.conf points at its own loopback, so a name lookup that
  misses /etc/hosts never leaves the namespace.
* ``Outside``: another network namespace joined to the host by a veth pair
  (``mctestoh`` on the host, 198.18.77.1/30 ↔ .2 outside, RFC 2544 test
  addresses that exist only on these two interfaces).

Tests use ``unshare``/``nsenter``/``ip`` here; the product code does not.
"""

import os
import subprocess
import sys
import time

OUTSIDE_HOST_IP, OUTSIDE_IP = "198.18.77.1", "198.18.77.2"

SERVER = r"""
import socket, sys, time
port, proto, word = int(sys.argv[1]), sys.argv[2], sys.argv[3]
kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
s = socket.socket(socket.AF_INET, kind)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", port))
if proto == "tcp":
    s.listen(16)
s.settimeout(1.0)
print("ready", flush=True)
deadline = time.monotonic() + 120  # bounded: never outlives a test run by much
while time.monotonic() < deadline:
    try:
        if proto == "tcp":
            conn, peer = s.accept()
            conn.sendall(f"{word} {peer[0]}\n".encode())
            conn.close()
        else:
            data, peer = s.recvfrom(512)
            s.sendto(f"{word} {peer[0]}\n".encode(), peer)
    except socket.timeout:
        pass
"""

CLIENT = r"""
import socket, sys
host, port, proto = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if proto == "tcp":
    with socket.create_connection((host, port), timeout=3) as s:
        print(s.recv(512).decode().strip())
else:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(b"hi", (host, port))
        print(s.recv(512).decode().strip())
"""


def _wait_new_netns(pid):
    mine = os.readlink("/proc/self/ns/net")
    for _ in range(500):
        try:
            if os.readlink(f"/proc/{pid}/ns/net") != mine:
                return
        except FileNotFoundError:
            pass
        time.sleep(0.01)
    raise RuntimeError(f"process {pid} never entered a new network namespace")


class FakeContainer:
    def __init__(self, directory, name):
        self.name = name
        self.hosts_file = os.path.join(directory, f"{name}.hosts")
        resolv = os.path.join(directory, f"{name}.resolv")
        with open(self.hosts_file, "w") as f:
            f.write("127.0.0.1\tlocalhost\n")
        with open(resolv, "w") as f:
            f.write("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
        self.proc = subprocess.Popen(["unshare", "--net", "--mount", "sleep", "600"])
        self.pid = self.proc.pid
        self.servers = []
        _wait_new_netns(self.pid)
        for source, target in ((self.hosts_file, "/etc/hosts"), (resolv, "/etc/resolv.conf")):
            subprocess.run(["nsenter", "-t", str(self.pid), "-m", "mount", "--bind", source,
                            target], check=True)

    def run(self, *argv, check=False, timeout=30):
        return subprocess.run(["nsenter", "-t", str(self.pid), "-n", "-m", *argv],
                              capture_output=True, text=True, check=check, timeout=timeout)

    def serve(self, port, proto="tcp", word=None):
        proc = subprocess.Popen(["nsenter", "-t", str(self.pid), "-n", sys.executable, "-c",
                                 SERVER, str(port), proto, word or self.name],
                                stdout=subprocess.PIPE, text=True)
        self.servers.append(proc)
        assert proc.stdout.readline().strip() == "ready"
        return proc

    def connect(self, host, port, proto="tcp"):
        """What a client in this container hears from host:port (None: nothing)."""
        done = self.run(sys.executable, "-c", CLIENT, host, str(port), proto)
        return done.stdout.strip() if done.returncode == 0 else None

    def ping(self, address):
        return self.run("ping", "-c", "1", "-W", "1", address).returncode == 0

    def resolve(self, name):
        code = ("import socket, sys\ntry: print(socket.gethostbyname(sys.argv[1]))\n"
                "except OSError: print('unresolved')")
        return self.run(sys.executable, "-c", code, name).stdout.strip()

    def stop(self):
        for proc in self.servers + [self.proc]:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def connect_from_host(host, port, proto="tcp"):
    done = subprocess.run([sys.executable, "-c", CLIENT, host, str(port), proto],
                          capture_output=True, text=True, timeout=30)
    return done.stdout.strip() if done.returncode == 0 else None


class Outside:
    """Another "host": a netns reached from ours through the veth mctestoh."""

    def __init__(self, routes=()):
        self.proc = subprocess.Popen(["unshare", "--net", "sleep", "600"])
        self.pid = self.proc.pid
        _wait_new_netns(self.pid)
        ip = ["ip"]
        subprocess.run(ip + ["link", "add", "mctestoh", "type", "veth", "peer", "name", "eth0",
                             "netns", str(self.pid)], check=True)
        subprocess.run(ip + ["addr", "add", f"{OUTSIDE_HOST_IP}/30", "dev", "mctestoh"],
                       check=True)
        subprocess.run(ip + ["link", "set", "mctestoh", "up"], check=True)
        inside = ["nsenter", "-t", str(self.pid), "-n", "ip"]
        subprocess.run(inside + ["addr", "add", f"{OUTSIDE_IP}/30", "dev", "eth0"], check=True)
        subprocess.run(inside + ["link", "set", "eth0", "up"], check=True)
        subprocess.run(inside + ["link", "set", "lo", "up"], check=True)
        for route in routes:  # only ever routes to subnets that exist on this machine
            subprocess.run(inside + ["route", "add", route, "via", OUTSIDE_HOST_IP], check=True)

    def connect(self, host, port, proto="tcp"):
        done = subprocess.run(["nsenter", "-t", str(self.pid), "-n", sys.executable, "-c",
                               CLIENT, host, str(port), proto],
                              capture_output=True, text=True, timeout=30)
        return done.stdout.strip() if done.returncode == 0 else None

    def stop(self):
        subprocess.run(["ip", "link", "del", "mctestoh"], capture_output=True)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
