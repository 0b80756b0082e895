"""Recording for network steps that are not syscalls of ours (netlink, nft).

Netlink requests go through pyroute2 and nftables through the ``nft``
command, so they cannot be functions in ``syscalls.py``; they still belong in
``--explain``.  These helpers forward to the recorder that ``syscalls``
holds, read at call time so ``syscalls.set_recorder`` keeps working.
"""

import time

from . import syscalls


def record(op, args, result, seconds, why):
    """Report one finished step to the installed recorder, if any."""
    recorder = syscalls._recorder
    if recorder is not None:
        recorder(op, args, result, seconds, why)


def step(op, args, why, fn, *fn_args, **fn_kwargs):
    """Run ``fn(*fn_args, **fn_kwargs)``, time it and record it (failures too, then re-raise)."""
    if syscalls._recorder is None:
        return fn(*fn_args, **fn_kwargs)
    start = time.perf_counter()
    try:
        result = fn(*fn_args, **fn_kwargs)
    except Exception as exc:
        # OSError has errno; pyroute2's NetlinkError carries it as ``code``.
        number = getattr(exc, "errno", None) or getattr(exc, "code", None)
        text = _errname(number) if number else type(exc).__name__
        record(op, args, "error " + text, time.perf_counter() - start, why)
        raise
    record(op, args, _plain(result), time.perf_counter() - start, why)
    return result


def _plain(result):
    # Records must stay marshal-able plain values; netlink replies are not.
    if result is None or isinstance(result, (int, float, str, bool)):
        return result
    return None


def _errname(number):
    import errno
    return errno.errorcode.get(number, str(number))
