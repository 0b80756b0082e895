"""run -v NAME:/path, anonymous volumes and the image's VOLUMEs, through the real CLI."""

import os

import pytest

from test_image_cli import Roots, rootfs_tarball  # noqa: F401 (the roots fixture's class)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="machine lacks root")


@pytest.fixture
def roots():
    made = Roots()
    yield made
    made.cleanup()


def test_named_volume_outlives_its_containers_and_is_seeded(roots):
    tarball = rootfs_tarball(os.path.join(roots.base, "root.tgz"), "seed",
                             {"srv/app/conf": "setting=1\n"})
    roots.cli("import", "-c", "VOLUME /var/cache", tarball, "mctest/vols:1")
    none = ("--rm", "--network", "none")
    assert roots.run(*none, "-v", "mctest-app:/srv/app", "mctest/vols:1", "sh", "-c",
                     "cat /srv/app/conf; echo written > /srv/app/new").stdout == "setting=1\n"
    assert roots.run(*none, "--mount", "type=volume,src=mctest-app,dst=/elsewhere,readonly",
                     "mctest/vols:1", "cat", "/elsewhere/new").stdout == "written\n"
    ro = roots.run(*none, "-v", "mctest-app:/srv/app:ro", "mctest/vols:1", "sh", "-c",
                   "echo x > /srv/app/other", check=False)
    assert ro.returncode != 0 and "Read-only" in ro.stderr
    # --rm removes the anonymous volumes (-v /path and the image's VOLUME), not named ones
    roots.run(*none, "-v", "/scratch", "mctest/vols:1", "sh", "-c", "echo a > /scratch/a")
    assert roots.cli("volume", "ls", "-q").stdout.split() == ["mctest-app"]
    # a kept container keeps its anonymous volume in use
    roots.run("--name", "mctest-keep", "--network", "none", "mctest/vols:1", "sh", "-c",
              "echo kept > /var/cache/k")
    names = roots.cli("volume", "ls", "-q").stdout.split()
    assert len(names) == 2 and "mctest-app" in names
    assert "Deleted" not in roots.cli("volume", "prune", "-f").stdout
    refused = roots.cli("volume", "rm", *[n for n in names if n != "mctest-app"], check=False)
    assert refused.returncode == 1 and "in use" in refused.stderr
