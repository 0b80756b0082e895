"""Pure parts of the registry client: challenges, platforms, credentials, progress."""

import io
import json
import os

import pytest

from minicontainer.errors import NotFound, SpecError
from minicontainer.image import auth
from minicontainer.image.pull import Progress, choose_manifest, parse_platform
from minicontainer.image.registry import default_insecure


def test_parse_challenge():
    scheme, params = auth.parse_challenge(
        'Bearer realm="https://auth.example/token",service="registry.example",'
        'scope="repository:a/b:pull,push"')
    assert scheme == "bearer"
    assert params == {"realm": "https://auth.example/token", "service": "registry.example",
                      "scope": "repository:a/b:pull,push"}
    assert auth.parse_challenge('Basic realm="x"') == ("basic", {"realm": "x"})
    assert auth.parse_challenge("") == ("", {})


def test_parse_platform():
    assert parse_platform("linux/arm64/v8") == {"os": "linux", "architecture": "arm64",
                                               "variant": "v8"}
    assert parse_platform("x86_64") == {"os": "linux", "architecture": "amd64", "variant": None}
    assert parse_platform(None)["os"] == "linux"
    with pytest.raises(SpecError):
        parse_platform("linux//x")


INDEX = {"manifests": [
    {"digest": "sha256:" + "1" * 64, "platform": {"os": "linux", "architecture": "amd64"}},
    {"digest": "sha256:" + "2" * 64, "platform": {"os": "linux", "architecture": "arm",
                                                  "variant": "v6"}},
    {"digest": "sha256:" + "3" * 64, "platform": {"os": "linux", "architecture": "arm",
                                                  "variant": "v7"}},
    {"digest": "sha256:" + "4" * 64, "platform": {"os": "linux", "architecture": "arm64",
                                                  "variant": "v8"}},
    {"digest": "sha256:" + "5" * 64, "platform": {"os": "unknown", "architecture": "unknown"}},
]}


@pytest.mark.parametrize("platform, digit", [
    ("linux/amd64", "1"), ("linux/arm/v6", "2"), ("linux/arm", "3"), ("linux/arm64", "4"),
    ("linux/arm64/v8", "4"),
])
def test_choose_manifest(platform, digit):
    assert choose_manifest(INDEX, parse_platform(platform))["digest"] == "sha256:" + digit * 64


def test_choose_manifest_none_matches():
    with pytest.raises(NotFound, match="linux/riscv64"):
        choose_manifest(INDEX, parse_platform("linux/riscv64"))


def test_insecure_defaults(monkeypatch):
    assert default_insecure("localhost:5000") and default_insecure("127.0.0.1:40000")
    assert default_insecure("[::1]:5000")
    assert not default_insecure("registry.example:5000")
    monkeypatch.setenv("MINICONTAINER_INSECURE_REGISTRIES", "registry.example:5000, other")
    assert default_insecure("registry.example:5000") and default_insecure("other")


def test_credentials_round_trip(tmp_path):
    directory = str(tmp_path / "cfg")
    assert auth.load_credentials("docker.io", directory) is None
    auth.store_credentials("docker.io", "me", "p:w", directory)
    auth.store_credentials("127.0.0.1:5000", "u", "x", directory)
    data = json.load(open(os.path.join(directory, "config.json")))
    assert set(data["auths"]) == {"https://index.docker.io/v1/", "127.0.0.1:5000"}
    assert auth.load_credentials("docker.io", directory) == ("me", "p:w")
    assert auth.remove_credentials("docker.io", directory)
    assert not auth.remove_credentials("docker.io", directory)
    assert auth.load_credentials("127.0.0.1:5000", directory) == ("u", "x")


def test_progress_prints_state_changes_without_a_tty():
    out = io.StringIO()
    progress = Progress(out=out)
    digest = "sha256:" + "ab" * 32
    progress.update(digest, "Downloading", 1, 100)
    progress.update(digest, "Downloading", 50, 100)
    progress.update(digest, "Pull complete")
    assert out.getvalue().splitlines() == ["abababababab: Downloading 1B/100B",
                                           "abababababab: Pull complete"]
