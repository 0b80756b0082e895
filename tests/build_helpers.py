"""Helpers for the build tests: a private data root, the CLI, the test contexts.

Each test gets its own data root (so the build cache starts empty and what a
test builds is gone with it) and the ``mc`` fixture's private state root.
Contexts live in ``tests/build/<name>`` and are copied to a temporary
directory before use, so a test may change their files.
"""

import os
import shutil
import tempfile

BUILD_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "build")


class BuildEnv:
    """``mc`` with a data root of its own; ``context(name)`` copies a test context."""

    def __init__(self, mc):
        self.mc = mc
        self.base = tempfile.mkdtemp(prefix="mctest-build-")
        os.chmod(self.base, 0o711)
        self.data_root = os.path.join(self.base, "data")
        os.makedirs(self.data_root, mode=0o711)
        self.env = {"MINICONTAINER_DATA_ROOT": self.data_root, "MINICONTAINER_PULL": "never"}

    def __call__(self, *args, **kwargs):
        if args and args[0] == "run":  # no bridge: it would be shared with the suite's
            args = ("run", "--network", "none") + args[1:]
        env = dict(self.env, **kwargs.pop("env", {}))
        return self.mc(*args, env=env, **kwargs)

    def context(self, name):
        target = os.path.join(self.base, "ctx-" + name)
        shutil.copytree(os.path.join(BUILD_DIR, name), target, symlinks=True)
        return target

    def build(self, context, *args):
        """Build, failing the test with the output if it fails; (image id, stdout)."""
        result = self("build", "-q", *args, context)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout.strip()

    def mounts_left(self):
        with open("/proc/self/mountinfo") as handle:
            return [line.split()[4] for line in handle if self.base in line.split()[4]]

    def close(self):
        left = self.mounts_left()
        if not left:
            shutil.rmtree(self.base, ignore_errors=True)
        return left
