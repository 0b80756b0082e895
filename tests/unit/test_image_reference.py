import pytest

from minicontainer.errors import SpecError
from minicontainer.image import reference


@pytest.mark.parametrize("text, full", [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest"),
    ("index.docker.io/library/busybox:x", "docker.io/library/busybox:x"),
    ("user/app", "docker.io/user/app:latest"),
    ("quay.io/org/app:v1.2", "quay.io/org/app:v1.2"),
    ("localhost/app", "localhost/app:latest"),
    ("localhost:5000/app", "localhost:5000/app:latest"),
    ("127.0.0.1:5000/a/b/c:t", "127.0.0.1:5000/a/b/c:t"),
    ("[::1]:5000/app", "[::1]:5000/app:latest"),
    ("a__b.c-d---e", "docker.io/library/a__b.c-d---e:latest"),
])
def test_names_are_normalised_like_docker(text, full):
    assert str(reference.parse(text)) == full


def test_digest_reference_has_no_default_tag():
    digest = "sha256:" + "a" * 64
    ref = reference.parse(f"busybox@{digest}")
    assert ref.tag is None and ref.digest == digest
    assert str(ref) == f"docker.io/library/busybox@{digest}"
    both = reference.parse(f"localhost:5000/app:v1@{digest}")
    assert (both.domain, both.path, both.tag, both.digest) == ("localhost:5000", "app", "v1", digest)


def test_familiar_form():
    assert reference.parse("busybox").familiar() == "busybox:latest"
    assert reference.parse("user/app:1").familiar() == "user/app:1"
    assert reference.parse("localhost:5000/app").familiar() == "localhost:5000/app:latest"
    assert reference.parse("docker.io/library/a/b").familiar_repository == "library/a/b"


def test_port_colon_is_not_a_tag():
    ref = reference.parse("localhost:5000/app")
    assert (ref.domain, ref.path, ref.tag) == ("localhost:5000", "app", "latest")


@pytest.mark.parametrize("bad, words", [
    ("", "empty"),
    ("Busybox", "lowercase"),
    ("busybox:", "bad tag"),
    ("busybox:-x", "bad tag"),
    ("busybox:" + "x" * 129, "bad tag"),
    ("busybox@sha256:abc", "sha256"),
    ("busybox@md5:" + "a" * 32, "unsupported"),
    ("a//b", "component"),
    ("-a", "component"),
    ("a_", "component"),
    ("bad_host:5000x/app", "bad registry"),
    ("x" * 256, "longer"),
    (":tag", "no repository"),
])
def test_bad_references_raise_one_line_spec_errors(bad, words):
    with pytest.raises(SpecError) as info:
        reference.parse(bad)
    message = str(info.value)
    assert words in message and "\n" not in message


def test_image_id_detection():
    assert reference.is_image_id("a" * 64)
    assert reference.is_image_id("sha256:" + "b" * 64)
    assert not reference.is_image_id("busybox")
    assert not reference.is_image_id("a" * 12)
