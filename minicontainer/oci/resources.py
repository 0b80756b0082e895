"""``update``'s new limits, from the config's ``linux.resources`` or runc's flags.

Both become Resources fields (minicontainer's units: bytes, microseconds),
merged over the container's current limits by ``units.merge_resources``.
"""

from ..errors import SpecError


def _int(value, what):
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SpecError(f"{what}: {value!r} is not an integer") from None


def from_oci(document):
    """Resources fields from a linux.resources object (fields left out stay)."""
    if not isinstance(document, dict):
        raise SpecError("--resources: expected a JSON object (the config's linux.resources)")
    changes = {}
    memory = document.get("memory") or {}
    for key, field in (("limit", "memory"), ("reservation", "memory_reservation"),
                       ("swap", "memory_swap")):
        if memory.get(key) is not None:
            changes[field] = _int(memory[key], f"memory.{key}")
    cpu = document.get("cpu") or {}
    for key, field in (("shares", "cpu_shares"), ("quota", "cpu_quota"),
                       ("period", "cpu_period")):
        if cpu.get(key) is not None:
            changes[field] = _int(cpu[key], f"cpu.{key}")
    for key, field in (("cpus", "cpuset_cpus"), ("mems", "cpuset_mems")):
        if cpu.get(key):
            changes[field] = str(cpu[key])
    pids = document.get("pids") or {}
    if pids.get("limit") is not None:
        changes["pids_limit"] = _int(pids["limit"], "pids.limit")
    block_io = document.get("blockIO") or {}
    if block_io.get("weight") is not None:
        changes["blkio_weight"] = _int(block_io["weight"], "blockIO.weight")
    return changes


FLAG_FIELDS = {"memory": "memory", "memory-reservation": "memory_reservation",
               "memory-swap": "memory_swap", "cpu-shares": "cpu_shares",
               "cpu-quota": "cpu_quota", "cpu-period": "cpu_period",
               "pids-limit": "pids_limit", "blkio-weight": "blkio_weight"}


def from_flags(options):
    """Resources fields from runc's ``update`` flags (sizes may carry k/m/g)."""
    changes = {}
    for flag, field in FLAG_FIELDS.items():
        if options.get(flag) is None:
            continue
        value = options[flag]
        if flag.startswith("memory") and value != "-1":
            from ..units import ram_in_bytes
            try:
                changes[field] = ram_in_bytes(value)
            except ValueError as exc:
                raise SpecError(f"--{flag}: {exc}") from None
        else:
            changes[field] = _int(value, f"--{flag}")
    for flag, field in (("cpuset-cpus", "cpuset_cpus"), ("cpuset-mems", "cpuset_mems")):
        if options.get(flag):
            changes[field] = options[flag]
    for flag in ("kernel-memory", "kernel-memory-tcp", "cpu-rt-period", "cpu-rt-runtime",
                 "l3-cache-schema", "mem-bw-schema"):
        if options.get(flag):
            raise SpecError(f"--{flag} is not supported by minicontainer-oci")
    return changes


def merge(current, changes):
    from ..spec import Resources
    from ..units import merge_resources
    return merge_resources(current, Resources(**changes))
