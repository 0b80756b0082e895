"""``minicontainer build``: images from a Dockerfile, layer by layer, with a cache.

    from minicontainer.build import build_image
    image_id = build_image("ctx", tags=("demo:1",), build_args={"V": "2"})

Modules: ``dockerfile`` (parser), ``args`` (substitution and ARG scoping),
``context`` (context dir, .dockerignore, COPY sources), ``cache`` (step
cache), ``fsops`` (mounted views, layers, copying), ``runstep`` (RUN in a
container), ``copystep`` (COPY/ADD), ``steps`` (one handler per
instruction), ``executor`` (stages, progress, the result).

Nothing is imported until ``build_image`` is called.
"""

import sys


def build_image(context_dir, dockerfile=None, tags=(), build_args=None, target=None,
                no_cache=False, network="none", out=None, data_root=None, state_root=None,
                pull=None, labels=None, explain=False):
    """Build the Dockerfile in ``context_dir``; returns the image id ("sha256:...").

    ``dockerfile``: its path (default ``<context>/Dockerfile``; relative: from the
    current directory if it is there, else from the context; "-": stdin); ``tags``: names
    to give the result; ``build_args``: {name: value} (``--build-arg``);
    ``target``: the stage to stop at; ``network``: none, host or bridge for RUN;
    ``out``: a text stream for the progress (default stdout); ``pull``: the
    pull policy for base images (default $MINICONTAINER_PULL or "missing");
    ``labels``: {name: value} added to the image (``--label``, compose's labels);
    ``explain``: narrate every kernel step (view mounts, each RUN container) to ``out``.
    Raises MiniContainerError (a failed RUN: ``runstep.BuildStepFailed``, exit
    code 1; a malformed Dockerfile: ``dockerfile.DockerfileError``).
    """
    import os
    from ..errors import NotFound, SpecError
    from ..image import reference as refs
    from ..image.store import Store
    from ..state import data_root as default_data_root
    from ..state import state_root as default_state_root
    from .context import Context
    from .dockerfile import parse
    from .executor import Builder
    out = out if out is not None else sys.stdout
    data_root = os.path.abspath(default_data_root(data_root))
    state_root = default_state_root(state_root)
    network = network or "none"
    if network not in ("none", "host", "bridge", "default"):
        raise SpecError(f"invalid --network {network!r}: use none, host or bridge")
    network = "none" if network == "default" else network
    names = [str(refs.parse(tag)) for tag in tags or ()]
    path = _dockerfile_path(context_dir, dockerfile)
    context = Context(context_dir, None if path == "-" else path)
    if path == "-":
        text, shown = sys.stdin.read(), "Dockerfile"
    else:
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except (FileNotFoundError, IsADirectoryError):
            raise NotFound(f"unable to prepare context: cannot read Dockerfile {path}",
                           op="build") from None
        shown = os.path.basename(path)
    parsed = parse(text, shown)
    store = Store(data_root).ensure()
    from .fsops import release_stale_views
    release_stale_views(data_root)
    builder = Builder(context, parsed, store, data_root, state_root, build_args or {}, target,
                      no_cache, network, out,
                      pull or os.environ.get("MINICONTAINER_PULL") or "missing")
    if explain:
        from ..linux import syscalls
        from ..runtime.explain import ExplainPrinter
        builder.explain = ExplainPrinter(stream=out)
        syscalls.set_recorder(builder.explain)
    try:
        with _env_roots(data_root, state_root):
            state = builder.build()
    finally:
        if explain:
            syscalls.set_recorder(None)
    if labels:
        section = state.config.setdefault("config", {})
        section["Labels"] = {**(section.get("Labels") or {}), **labels}
    image_id = _store_result(store, state, names)
    builder.say(f"Successfully built {image_id.partition(':')[2][:12]}")
    for name in names:
        builder.say(f"Successfully tagged {refs.parse(name).familiar()}")
    return image_id


def _dockerfile_path(context_dir, dockerfile):
    """``-f``: "-" is stdin; a relative path is taken from the current directory, as
    the docker CLI does, or else from the context (as compose files give it)."""
    import os
    if not dockerfile:
        return os.path.join(context_dir, "Dockerfile")
    if dockerfile == "-" or os.path.isabs(dockerfile) or os.path.exists(dockerfile):
        return dockerfile
    return os.path.join(context_dir, dockerfile)


def _store_result(store, state, names):
    """Put the final config and manifest in the store under every name; the image id."""
    desc = store.add_image(state.config, state.layers, name=names[0] if names else None)
    for name in names[1:]:
        store.set_name(name, desc)
    if names:
        store.remove_untagged(desc["digest"])
    image = store.image(desc["digest"])
    if not names:
        store.write_names_cache()
    return image.id


class _env_roots:
    """RUN containers find the roots in the environment (container.py reads it)."""

    def __init__(self, data_root, state_root):
        self.values = {"MINICONTAINER_DATA_ROOT": data_root,
                       "MINICONTAINER_STATE_ROOT": state_root}

    def __enter__(self):
        import os
        self.saved = {k: os.environ.get(k) for k in self.values}
        os.environ.update(self.values)

    def __exit__(self, *exc):
        import os
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        return False


__all__ = ["build_image"]
