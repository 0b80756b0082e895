"""minicontainer: a container runtime that shows what Docker does underneath.

Public API (imported lazily, so ``import minicontainer`` costs nothing)::

    from minicontainer import Container, ContainerSpec
    result = Container(ContainerSpec(rootfs="busybox", args=("hostname",))).run(capture_output=True)
"""

__all__ = ["Container", "ContainerSpec", "Mount", "IdMap", "Resources", "RunResult",
           "MiniContainerError", "SpecError", "SetupError", "NotFound", "Conflict",
           "CommandNotFound", "CommandNotExecutable"]

_HOMES = {
    "Container": "container", "RunResult": "container",
    "ContainerSpec": "spec", "Mount": "spec", "IdMap": "spec", "Resources": "spec",
}


def __getattr__(name):
    import importlib
    if name in _HOMES:
        return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    if name in __all__:
        return getattr(importlib.import_module(".errors", __name__), name)
    raise AttributeError(f"module 'minicontainer' has no attribute {name!r}")
