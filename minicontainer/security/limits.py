"""--ulimit: Docker's ``name=soft[:hard]`` syntax and setrlimit(2) in the child.

Values are plain integers (-1 or "unlimited" mean no limit); a missing hard
limit equals the soft one.  Without CAP_SYS_RESOURCE a hard limit can only be
lowered, so asking for more than the runtime has fails with a clear message.
"""

import errno

from ..errors import SetupError, SpecError

# Linux RLIMIT_* numbers (generic, x86_64 and aarch64 alike).
RESOURCES = {
    "cpu": 0, "fsize": 1, "data": 2, "stack": 3, "core": 4, "rss": 5, "nproc": 6,
    "nofile": 7, "memlock": 8, "as": 9, "locks": 10, "sigpending": 11,
    "msgqueue": 12, "nice": 13, "rtprio": 14, "rttime": 15,
}
RLIM_INFINITY = 2 ** 64 - 1


def _value(text, spec):
    text = text.strip()
    if text.lower() in ("unlimited", "-1"):
        return RLIM_INFINITY
    try:
        value = int(text, 10)
    except ValueError:
        raise SpecError(f"ulimit {spec!r}: {text!r} is not a number", op="ulimit") from None
    if value < 0:
        raise SpecError(f"ulimit {spec!r}: negative value {value}", op="ulimit")
    if value >= RLIM_INFINITY:
        raise SpecError(f"ulimit {spec!r}: {value} is too large", op="ulimit")
    return value


def parse_ulimit(spec):
    """'nofile=1024:2048' → ('nofile', 1024, 2048); 'core=0' → ('core', 0, 0)."""
    name, sep, values = str(spec).partition("=")
    name = name.strip().lower()
    if not sep or not values.strip():
        raise SpecError(f"ulimit {spec!r}: expected name=soft[:hard]", op="ulimit")
    if name not in RESOURCES:
        raise SpecError(f"ulimit {spec!r}: unknown limit {name!r} "
                        f"(known: {', '.join(sorted(RESOURCES))})", op="ulimit")
    parts = values.split(":")
    if len(parts) > 2:
        raise SpecError(f"ulimit {spec!r}: too many ':' (expected soft[:hard])", op="ulimit")
    soft = _value(parts[0], spec)
    hard = _value(parts[1], spec) if len(parts) == 2 else soft
    if soft > hard:
        raise SpecError(f"ulimit {spec!r}: soft limit {soft} is above hard limit {hard}",
                        op="ulimit")
    return (name, soft, hard)


def parse_ulimits(specs):
    """Several --ulimit flags → a tuple of (name, soft, hard); a later flag wins."""
    by_name = {}
    for spec in specs:
        name, soft, hard = parse_ulimit(spec)
        by_name[name] = (name, soft, hard)
    return tuple(by_name.values())


def _show(value):
    return "unlimited" if value == RLIM_INFINITY else str(value)


def apply_ulimits(ulimits):
    """setrlimit for each (name, soft, hard); raising above what we have fails clearly."""
    import resource

    from ..linux import syscalls

    def native(value):  # Python spells "unlimited" as resource.RLIM_INFINITY (-1)
        return resource.RLIM_INFINITY if value == RLIM_INFINITY else value

    for name, soft, hard in ulimits:
        number = RESOURCES[name]
        try:
            syscalls.setrlimit(number, native(soft), native(hard),
                               why=f"--ulimit {name}={_show(soft)}:{_show(hard)}")
        except (OSError, ValueError) as exc:
            # CPython reports EPERM and EINVAL from setrlimit as ValueError.
            current = resource.getrlimit(number)[1]
            current = RLIM_INFINITY if current == resource.RLIM_INFINITY else current
            if hard > current:
                message = (f"cannot set {name} hard limit to {_show(hard)}: above this "
                           f"runtime's own hard limit {_show(current)}, and raising it "
                           "needs CAP_SYS_RESOURCE")
                raise SetupError(message, op="setrlimit", errno=errno.EPERM) from None
            if name == "nofile":
                raise SetupError(f"cannot set nofile to {_show(soft)}:{_show(hard)}: more than "
                                 "/proc/sys/fs/nr_open allows", op="setrlimit",
                                 errno=errno.EPERM) from None
            raise SetupError(f"setrlimit {name} to {_show(soft)}:{_show(hard)} failed: {exc}",
                             op="setrlimit") from None
