"""Docker's json-file log: one JSON object per line of output.

    {"log":"hello\\n","stream":"stdout","time":"2026-11-23T19:40:01.123456789Z"}

Written by the supervisor as a detached container prints; read by ``logs``.
"""

import json
import os
import time


def log_path(container_dir, container_id):
    return os.path.join(container_dir, f"{container_id}-json.log")


def _timestamp():
    now = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now // 10**9)) + f".{now % 10**9:09d}Z"


def append(container_dir, container_id, stream, chunks):
    """Append output lines (bytes, each normally ending in a newline)."""
    stamp = _timestamp()
    text = "".join(json.dumps({"log": chunk.decode(errors="replace"), "stream": stream,
                               "time": stamp}) + "\n" for chunk in chunks)
    with open(log_path(container_dir, container_id), "a") as f:
        f.write(text)


def read(container_dir, container_id, tail=None, since=None):
    """The recorded entries (dicts), the last ``tail`` only, newer than ``since``."""
    try:
        with open(log_path(container_dir, container_id)) as f:
            entries = [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        entries = []
    if since is not None:
        entries = [e for e in entries if e["time"] >= since]
    if tail is not None:
        entries = entries[-tail:] if tail > 0 else []
    return entries


def follow(container_dir, container_id, still_running, poll=0.1):
    """Yield entries as they are written, until the container has stopped."""
    path = log_path(container_dir, container_id)
    position = os.path.getsize(path) if os.path.exists(path) else 0
    pending = ""
    while True:
        running = still_running()
        if os.path.exists(path):
            with open(path) as f:
                f.seek(position)
                pending += f.read()
                position = f.tell()
            *lines, pending = pending.split("\n")
            for line in lines:
                if line.strip():
                    yield json.loads(line)
        if not running:
            return
        time.sleep(poll)


def parse_since(value):
    """Docker's --since: an RFC 3339 time, or a duration like 10m / 1h30m / 45s."""
    if value is None:
        return None
    units = {"s": 1, "m": 60, "h": 3600}
    total, number = 0.0, ""
    for char in value:
        if char.isdigit() or char == ".":
            number += char
        elif char in units and number:
            total += float(number) * units[char]
            number = ""
        else:
            return value  # an absolute time: compared as text (same format)
    if number:
        return value
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - total))
