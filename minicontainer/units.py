"""Docker's resource flags, parsed and checked the way Docker does it.

``parse_resources`` turns the strings a user typed (``-m 512m``, ``--cpus
1.5``, ``--device-read-bps /dev/sda:1mb`` ...) into a ``spec.Resources`` with
plain numbers (bytes, microseconds, counts), or raises ``SpecError`` with one
line naming the flag and the value.  It does nothing to the system: the only
host facts it needs (how many CPUs, which memory nodes) are read on demand
and can be passed in, which is how the unit tests pin them.
"""

import os

from .errors import SpecError
from .spec import Resources

MIN_MEMORY = 6 * 1024 * 1024          # Docker's linuxMinMemory
MIN_CPU_SHARES, MAX_CPU_SHARES = 2, 262144
DEFAULT_CPU_PERIOD = 100000           # what the kernel uses and --cpus assumes
UNLIMITED = -1                        # "explicitly unlimited" (memory-swap, pids-limit)

_UNIT = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def _fail(flag, value, reason):
    raise SpecError(f"invalid value {value!r} for --{flag.replace('_', '-')}: {reason}",
                    op="parse limits")


def ram_in_bytes(text):
    """Docker's size syntax ('512m', '1g', '100k', '1.5GiB', '4096') → bytes.

    As go-units' RAMInBytes: a decimal number, an optional space, then an
    optional binary unit letter, an optional "i" and an optional "b", any case.
    (Parsed by hand: importing ``re`` would cost milliseconds on ``run``.)
    """
    value = text.strip()
    end = 0
    while end < len(value) and (value[end].isdigit() or value[end] == "."):
        end += 1
    number, rest = value[:end], value[end:].lower()
    rest = rest[1:] if rest.startswith(" ") else rest
    unit = rest[:1] if rest[:1] in "kmgtp" else ""
    rest = rest[len(unit):]
    rest = rest[1:] if rest.startswith("i") else rest
    rest = rest[1:] if rest.startswith("b") else rest
    parts = number.split(".")
    if rest or not number.isascii() or len(parts) > 2 or not all(p.isdigit() for p in parts):
        raise ValueError(f"invalid size: {text!r}")
    return int((float(number) if len(parts) == 2 else int(number)) * _UNIT[unit])


def _size(flag, value):
    try:
        return ram_in_bytes(value)
    except ValueError as exc:
        _fail(flag, value, str(exc))


def _int(flag, value):
    try:
        return int(value.strip(), 10)
    except ValueError:
        _fail(flag, value, "not an integer")


def parse_cpus(value):
    """'1.5' → 1500000000 nano-CPUs; Docker refuses more than 9 decimals."""
    whole, _, frac = value.strip().partition(".")
    if not (whole or frac) or not all(p.isdigit() and p.isascii() for p in (whole, frac) if p):
        _fail("cpus", value, "not a decimal number of CPUs")
    whole, frac = whole or "0", frac.rstrip("0")
    if len(frac) > 9:
        _fail("cpus", value, "value is too precise")
    return int(whole) * 10**9 + int((frac or "0").ljust(9, "0"))


def parse_list(text):
    """The kernel's list syntax '0-2,4' → sorted tuple of ints (ValueError if bad)."""
    numbers = set()
    for part in text.split(","):
        first, sep, last = part.partition("-")
        if not first.isdigit() or (sep and not last.isdigit()):
            raise ValueError(part)
        low, high = int(first), int(last) if sep else int(first)
        if high < low:
            raise ValueError(part)
        numbers.update(range(low, high + 1))
    return tuple(sorted(numbers))


def host_cpus():
    """The CPUs this process may run on (Docker counts these too)."""
    return tuple(sorted(os.sched_getaffinity(0)))


def host_mems():
    """Online NUMA memory nodes (node 0 where the kernel has no NUMA)."""
    try:
        with open("/sys/devices/system/node/online") as f:
            return parse_list(f.read().strip())
    except (OSError, ValueError):
        return (0,)


def _cpuset(flag, value, available, what):
    text = value.strip()
    try:
        wanted = parse_list(text)
    except ValueError:
        _fail(flag, value, f"invalid value {text} for cpuset {what}")
    missing = [n for n in wanted if n not in available]
    if missing:
        have = ",".join(map(str, available))
        _fail(flag, value, f"requested {what} are not available - requested {text}, "
                           f"available: {have}")
    return text


def parse_device_rate(flag, value):
    """Docker's 'PATH:RATE' (e.g. '/dev/sda:1mb') → (path, bytes per second)."""
    path, sep, rate = value.rpartition(":")
    if not sep or not path or ":" in path:
        _fail(flag, value, "bad format, expected <device-path>:<rate>")
    if not path.startswith("/dev/"):
        _fail(flag, value, f"bad format for device path: {path}")
    try:
        number = ram_in_bytes(rate)
    except ValueError:
        _fail(flag, value, "invalid rate for device; the format is <device-path>:<number>"
                           "[<unit>], unit is optional and can be kb, mb or gb")
    return (path, number)


def _many(value):
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def parse_resources(options, *, update=False, cpus_available=None, mems_available=None):
    """Docker flags (names without dashes, values as typed) → ``Resources``.

    ``update=True`` is for ``update`` of a running container: unset flags stay
    None so they do not change, and --memory alone does not imply a swap limit.
    """
    known = {name for name, _ in Resources.FIELDS}
    unknown = sorted(k for k, v in options.items() if k not in known and v is not None)
    if unknown:
        raise SpecError(f"unknown resource option(s): {', '.join(unknown)}", op="parse limits")

    def given(name):
        value = options.get(name)
        return None if value is None or (isinstance(value, str) and value == "") else value

    out = {}
    raw = {k: given(k) for k in known}

    if raw["memory"] is not None:
        memory = _size("memory", raw["memory"])
        if 0 < memory < MIN_MEMORY:
            _fail("memory", raw["memory"], "Minimum memory limit allowed is 6MB")
        out["memory"] = memory or None
    if raw["memory_swap"] is not None:
        text = raw["memory_swap"].strip()
        swap = UNLIMITED if text == "-1" else _size("memory_swap", text)
        out["memory_swap"] = swap or None
    if raw["memory_reservation"] is not None:
        reservation = _size("memory_reservation", raw["memory_reservation"])
        if 0 < reservation < MIN_MEMORY:
            _fail("memory_reservation", raw["memory_reservation"],
                  "Minimum memory reservation allowed is 6MB")
        out["memory_reservation"] = reservation or None

    memory, swap = out.get("memory"), out.get("memory_swap")
    if swap and swap > 0:
        if memory is None and not update:
            _fail("memory_swap", raw["memory_swap"],
                  "you should always set the memory limit (--memory) when using --memory-swap")
        if memory is not None and swap < memory:
            _fail("memory_swap", raw["memory_swap"],
                  "Minimum memoryswap limit should be larger than memory limit")
    reservation = out.get("memory_reservation")
    if memory and reservation and memory < reservation:
        _fail("memory_reservation", raw["memory_reservation"],
              "Minimum memory limit can not be less than memory reservation limit")
    if memory and swap is None and not update:
        # Docker's default: as much swap as memory (memory+swap = twice the memory).
        out["memory_swap"] = memory * 2

    if raw["cpus"] is not None:
        nano = parse_cpus(raw["cpus"])
        count = len(cpus_available if cpus_available is not None else host_cpus())
        if nano > count * 10**9:
            _fail("cpus", raw["cpus"], f"range of CPUs is from 0.01 to {count}.00, "
                                       f"as there are only {count} CPUs available")
        if nano:
            for other in ("cpu_quota", "cpu_period"):
                if raw[other] is not None and raw[other].strip() not in ("0",):
                    _fail("cpus", raw["cpus"], f"conflicting options: --cpus and "
                                               f"--{other.replace('_', '-')} cannot both be set")
            out["cpus"] = nano / 10**9
    if raw["cpu_shares"] is not None:
        shares = _int("cpu_shares", raw["cpu_shares"])
        if shares < 0:
            _fail("cpu_shares", raw["cpu_shares"], "value must be a positive integer")
        # The kernel clamps to 2..262144 as well; Docker warns and does the same.
        out["cpu_shares"] = min(max(shares, MIN_CPU_SHARES), MAX_CPU_SHARES) if shares else None
    if raw["cpu_period"] is not None:
        period = _int("cpu_period", raw["cpu_period"])
        if period and not 1000 <= period <= 1000000:
            _fail("cpu_period", raw["cpu_period"],
                  "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s "
                  "(i.e. 1000000)")
        out["cpu_period"] = period or None
    if raw["cpu_quota"] is not None:
        quota = _int("cpu_quota", raw["cpu_quota"])
        if quota < -1:
            _fail("cpu_quota", raw["cpu_quota"], "must be -1 (unlimited) or at least 1000")
        if 0 < quota < 1000:
            _fail("cpu_quota", raw["cpu_quota"], "CPU cfs quota can not be less than 1ms "
                                                 "(i.e. 1000)")
        out["cpu_quota"] = quota or None

    if raw["cpuset_cpus"] is not None:
        available = cpus_available if cpus_available is not None else host_cpus()
        out["cpuset_cpus"] = _cpuset("cpuset_cpus", raw["cpuset_cpus"], available, "CPUs")
    if raw["cpuset_mems"] is not None:
        available = mems_available if mems_available is not None else host_mems()
        out["cpuset_mems"] = _cpuset("cpuset_mems", raw["cpuset_mems"], available,
                                     "memory nodes")

    if raw["pids_limit"] is not None:
        limit = _int("pids_limit", raw["pids_limit"])
        out["pids_limit"] = UNLIMITED if limit <= 0 else limit
    if raw["blkio_weight"] is not None:
        weight = _int("blkio_weight", raw["blkio_weight"])
        if weight and not 10 <= weight <= 1000:
            _fail("blkio_weight", raw["blkio_weight"], "range of blkio weight is from 10 to 1000")
        out["blkio_weight"] = weight or None
    for flag in ("device_read_bps", "device_write_bps"):
        rates = tuple(parse_device_rate(flag, v) for v in _many(options.get(flag)))
        if rates:
            out[flag] = rates
    return Resources(**out)


def merge_resources(current, changes):
    """``current`` with every field that ``changes`` sets (for ``update``)."""
    values = current.as_dict()
    for name, default in Resources.FIELDS:
        value = getattr(changes, name)
        if value != default:
            values[name] = value
    merged = Resources(**values)
    memory, swap = merged.memory, merged.memory_swap
    if memory and swap and swap > 0 and swap < memory:
        raise SpecError(f"--memory {memory} is above the memory+swap limit {swap}; "
                        "update --memory-swap at the same time", op="update limits")
    return merged


def human_bytes(number):
    """1073741824 → '1 GiB', 536870912 → '512 MiB' (for --explain)."""
    for unit, size in (("PiB", 1 << 50), ("TiB", 1 << 40), ("GiB", 1 << 30),
                       ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if number >= size:
            value = number / size
            return f"{value:g} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{number} bytes"
