"""Run a Dockerfile's stages in order, step by step, and store the resulting image.

Progress looks like the classic ``docker build``::

    Step 2/4 : RUN echo hi
     ---> Running in 3f1c2a9b7d10
    hi
    Removing intermediate container 3f1c2a9b7d10
     ---> 8d2e61f0a4c3
    Successfully built 8d2e61f0a4c3
    Successfully tagged demo:latest

Stages are built in file order up to ``--target`` (or the last one), as the
classic builder does.  Intermediate states live in memory and in the build
cache; only the final image gets an entry in the store's index, so a failed
build leaves no image behind.
"""

import os
import shutil
import time

from ..errors import NotFound, SpecError
from . import args as argmod
from .cache import BuildCache, BuildState, step_key
from .dockerfile import error, stages


def _now():
    """RFC 3339 with nanoseconds, as Docker writes ``created``."""
    now = time.time_ns()
    seconds, nanos = divmod(now, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"


class Stage:
    __slots__ = ("index", "name", "state", "args", "cmd_set")

    def __init__(self, index, name, state):
        self.index, self.name, self.state = index, name, state
        self.args = {}          # ARGs declared in this stage: name -> value or None
        self.cmd_set = False

    def variables(self):
        """What ``$NAME`` means here: declared ARGs, overridden by the image's ENV."""
        result = {k: v for k, v in self.args.items() if v is not None}
        for item in self.state.section.get("Env") or ():
            key, _, value = item.partition("=")
            result[key] = value
        return result

    def declared_args(self):
        """[(name, value)] of ARGs with a value, for RUN's environment and cache key."""
        return sorted((k, v) for k, v in self.args.items() if v is not None)


class Builder:
    def __init__(self, context, dockerfile, store, data_root, state_root, build_args, target,
                 no_cache, network, out, pull_policy):
        self.context, self.dockerfile, self.store = context, dockerfile, store
        self.data_root, self.state_root = data_root, state_root
        self.escape = dockerfile.escape
        from ..image.builtin import host_arch
        arch = host_arch()
        platform = {"TARGETPLATFORM": f"linux/{arch}", "TARGETOS": "linux",
                    "TARGETARCH": arch, "TARGETVARIANT": "", "BUILDPLATFORM": f"linux/{arch}",
                    "BUILDOS": "linux", "BUILDARCH": arch, "BUILDVARIANT": ""}
        self.build_args = argmod.BuildArgs(build_args, platform)
        self.target, self.no_cache, self.network = target, no_cache, network
        self.out, self.pull_policy = out, pull_policy
        self.cache = BuildCache(store)
        self.explain = None     # an ExplainPrinter with --explain
        self.stages = []        # finished and current Stage objects
        self.step_number, self.total_steps = 0, 0
        self._scratch = []

    # -- output --------------------------------------------------------------------

    def write(self, text):
        self.out.write(text)
        self.out.flush()

    def say(self, line):
        self.write(line + "\n")

    def say_step_done(self, stage):
        self.say(f" ---> {stage.state.id.partition(':')[2][:12]}")

    # -- the whole build -------------------------------------------------------------

    def build(self):
        meta, stage_list = stages(self.dockerfile)
        for instr in meta:
            for name, default in argmod.parse_arg_words(instr.rest, self.escape):
                try:
                    self.build_args.declare_meta(name, default, self.escape)
                except argmod.SubstitutionError as exc:
                    raise error(self.dockerfile.name, instr.line, exc.message) from None
        last = self._target_index(stage_list)
        chosen = stage_list[:last + 1]
        self.total_steps = sum(1 + len(body) for _from, body in chosen)
        try:
            for index, (from_instr, body) in enumerate(chosen):
                stage = self._from(index, from_instr)
                self.stages.append(stage)
                for instr in body:
                    self._step(stage, instr)
        finally:
            for path in self._scratch:
                shutil.rmtree(path, ignore_errors=True)
        unused = self.build_args.unused()
        if unused:
            self.say(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed")
        return self.stages[-1].state

    def _target_index(self, stage_list):
        if not self.target:
            return len(stage_list) - 1
        for index, (from_instr, _body) in enumerate(stage_list):
            if _stage_name(from_instr) == self.target.lower():
                return index
        raise SpecError(f"target stage {self.target!r} could not be found", op="build")

    def _step(self, stage, instr):
        from .steps import handle
        self.step_number += 1
        self.say(f"Step {self.step_number}/{self.total_steps} : {instr.original}")
        handle(self, stage, instr)

    # -- FROM ----------------------------------------------------------------------

    def _from(self, index, instr):
        self.step_number += 1
        self.say(f"Step {self.step_number}/{self.total_steps} : {instr.original}")
        words = instr.rest.split()
        name = None
        if len(words) == 3 and words[1].lower() == "as":
            name = words[2].lower()
        elif len(words) != 1:
            raise error(self.dockerfile.name, instr.line,
                        "FROM requires either one or three arguments (FROM IMAGE [AS NAME])")
        platform = instr.flags.get("platform")
        try:
            ref = argmod.process_word(words[0], self.build_args.meta, self.escape)
            if platform:
                platform = argmod.process_word(platform, self.build_args.meta, self.escape)
        except argmod.SubstitutionError as exc:
            raise error(self.dockerfile.name, instr.line, exc.message) from None
        if platform and platform != self.build_args.meta["TARGETPLATFORM"]:
            raise error(self.dockerfile.name, instr.line,
                        f"FROM --platform={platform}: only this machine's platform "
                        f"({self.build_args.meta['TARGETPLATFORM']}) can run RUN steps")
        if not ref:
            raise error(self.dockerfile.name, instr.line, "FROM names no image "
                                                          "(an empty variable?)")
        previous = self._stage_by_name(ref)
        if previous is not None:
            state = previous.state.copy()
        else:
            state = self.image_state(ref, instr)
        triggers = state.section.pop("OnBuild", None) or ()  # a child does not inherit them
        stage = Stage(index, name, state)
        self.say_step_done(stage)
        for trigger in triggers:
            self._run_trigger(stage, trigger, instr)
        return stage

    def _run_trigger(self, stage, trigger, from_instr):
        from .dockerfile import _instruction
        from .steps import handle
        self.say(f"# Executing 1 build trigger: {trigger}")
        handle(self, stage, _instruction(trigger, from_instr.line, self.dockerfile.name))

    def _stage_by_name(self, ref):
        lowered = ref.lower()
        for stage in self.stages:
            if stage.name == lowered:
                return stage
        return None

    def image_state(self, ref, instr=None):
        """The BuildState of image ``ref`` (``scratch``: nothing), pulled per the policy."""
        if ref == "scratch":
            from ..image.builtin import host_arch
            from ..spec import DEFAULT_PATH
            return BuildState({"architecture": host_arch(), "os": "linux",
                               "config": {"Env": [f"PATH={DEFAULT_PATH}"]},
                               "rootfs": {"type": "layers", "diff_ids": []}, "history": []}, [])
        from ..image import ensure_image, find_image
        try:
            ensure_image(self.data_root, ref, self.pull_policy)
            _name, image = find_image(self.data_root, ref)
        except NotFound as exc:
            if instr is None:
                raise
            raise error(self.dockerfile.name, instr.line,
                        f"base image {ref!r} is not in the store and may not be pulled "
                        f"({exc.message})") from None
        import copy
        return BuildState(copy.deepcopy(image.config), image.layers)

    def source_state(self, ref, instr):
        """COPY --from=REF: a finished stage (by name or number) or an image."""
        stage = self._stage_by_name(ref)
        if stage is None and ref.isdigit():
            number = int(ref)
            if number < len(self.stages) - 1:
                stage = self.stages[number]
            else:
                raise error(self.dockerfile.name, instr.line,
                            f"COPY --from={ref}: stage {ref} is not built before this one")
        if stage is not None:
            if stage is self.stages[-1]:
                raise error(self.dockerfile.name, instr.line,
                            f"COPY --from={ref}: a stage cannot copy from itself")
            return stage.state
        return self.image_state(ref, instr)

    # -- one step ------------------------------------------------------------------

    def _lookup(self, key):
        if self.no_cache:
            return None
        return self.cache.get(key)

    def _history(self, config, created, created_by, empty):
        entry = {"created": created, "created_by": created_by}
        if empty:
            entry["empty_layer"] = True
        config["history"] = list(config.get("history") or []) + [entry]
        config["created"] = created

    def config_step(self, stage, created_by, change, config_change=None, key=None):
        """A step that only changes the config (ENV, CMD, LABEL ...); ``key`` tells
        apart what ``created_by`` may not (``A="x B=y"`` and ``A=x B=y``)."""
        key = step_key(stage.state, "config", created_by, key or "")
        hit = self._lookup(key)
        if hit is not None:
            stage.state = hit
            self.say(" ---> Using cache")
        else:
            state = stage.state.copy()
            if change is not None:
                change(state.section)
            if config_change is not None:
                config_change(state.config)
            self._history(state.config, _now(), created_by, True)
            self.cache.put(key, state)
            stage.state = state
        self.say_step_done(stage)

    def layer_step(self, stage, created_by, key_parts, make, change=None):
        """A step that may add a layer: ``make(state)`` -> (descriptor, diff id) or None."""
        key = step_key(stage.state, "layer", created_by, *key_parts,
                       *(f"{k}={v}" for k, v in stage.declared_args()))
        hit = self._lookup(key)
        if hit is not None:
            stage.state = hit
            self.say(" ---> Using cache")
            self.say_step_done(stage)
            return
        state = stage.state.copy()
        if change is not None:
            change(state.section)
        made = make(state)
        if made is not None:
            descriptor, diff_id = made
            state.layers.append(descriptor)
            rootfs = state.config.setdefault("rootfs", {"type": "layers", "diff_ids": []})
            rootfs["diff_ids"] = list(rootfs.get("diff_ids") or []) + [diff_id]
        self._history(state.config, _now(), created_by, made is None)
        self.cache.put(key, state)
        stage.state = state
        self.say_step_done(stage)

    # -- scratch space ---------------------------------------------------------------

    def scratch_dir(self):
        import tempfile
        base = os.path.join(self.data_root, "build")
        os.makedirs(base, mode=0o700, exist_ok=True)
        return tempfile.mkdtemp(prefix="tmp-", dir=base)

    def download(self, url):
        """ADD <url>: fetched once per build into scratch space (mode 0600)."""
        import urllib.parse
        import urllib.request
        directory = self.scratch_dir()
        self._scratch.append(directory)
        name = os.path.basename(urllib.parse.urlparse(url).path) or "download"
        path = os.path.join(directory, name)
        try:
            with urllib.request.urlopen(url, timeout=60) as response, \
                    open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
                shutil.copyfileobj(response, out)
        except OSError as exc:
            raise NotFound(f"ADD failed: cannot fetch {url}: {exc}", op="build") from None
        os.chmod(path, 0o600)
        return path


def _stage_name(from_instr):
    words = from_instr.rest.split()
    return words[2].lower() if len(words) == 3 and words[1].lower() == "as" else None
