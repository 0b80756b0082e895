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
    # The import system asks for submodule names here first: answer those
    # without importing importlib (it is on every start path).
    if name not in __all__:
        raise AttributeError(f"module 'minicontainer' has no attribute {name!r}")
    import importlib
    home = _HOMES.get(name, "errors")
    return getattr(importlib.import_module(f".{home}", __name__), name)
