"""User namespace id maps: checked (pure) and written by the launcher.

Only a process outside the new user namespace with CAP_SETUID/CAP_SETGID may
write maps that point at arbitrary host ids, so the launcher writes them into
/proc/<pid>/{uid,gid}_map while the child waits.
"""

from .errors import SpecError
from .linux import syscalls as sc
from .spec import IdMap

DEFAULT_REMAP = (100000, 65536)


def remap(host_start=DEFAULT_REMAP[0], size=DEFAULT_REMAP[1]):
    """Container ids 0..size-1 -> host ids host_start.. (``--userns remap``)."""
    if host_start < 1:
        raise SpecError("--userns remap: the host range must not include host root (uid 0)")
    if size < 1:
        raise SpecError("--userns remap: the range size must be at least 1")
    mapping = (IdMap(container_id=0, host_id=host_start, size=size),)
    return mapping, mapping


def parse_userns(value):
    """``host`` | ``remap`` | ``remap:HOST_START[:SIZE]`` -> (uid_map, gid_map) or None."""
    if value in (None, "", "host"):
        return None
    kind, _, rest = value.partition(":")
    if kind != "remap":
        raise SpecError(f"invalid --userns {value!r}: use host, remap or remap:HOST_START[:SIZE]")
    parts = rest.split(":") if rest else []
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        raise SpecError(f"invalid --userns {value!r}: the range must be numbers") from None
    return remap(*numbers) if numbers else remap()


def write_maps(pid, uid_map, gid_map):
    sc.write_file(f"/proc/{pid}/uid_map", "".join(m.line() for m in uid_map),
                  why="map the container's user ids to unprivileged host ids")
    sc.write_file(f"/proc/{pid}/gid_map", "".join(m.line() for m in gid_map),
                  why="map the container's group ids to unprivileged host ids")
