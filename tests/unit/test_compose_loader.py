"""Compose files: YAML with lines, YAML 1.2 scalars, finding files, merging -f files."""

import pytest

from minicontainer.compose.interpolate import InterpolationError, read_env_file, substitute
from minicontainer.compose.loader import ComposeError, find_files, load_files, load_text


def test_every_key_and_item_remembers_its_line():
    doc = load_text("services:\n  web:\n    image: busybox\n    ports:\n      - 80\n"
                    "      - '8080:80'\n", "/p/compose.yaml")
    web = doc["services"]["web"]
    assert web.where("image") == ("/p/compose.yaml", 3)
    assert web["ports"].where(1) == ("/p/compose.yaml", 6)


def test_yaml_12_scalars_keep_ports_and_words_as_text():
    doc = load_text("a: [22:22, 8080:80]\nb: no\nc: on\nd: true\ne: 1.5\nf: 7\n", "/x.yml")
    assert doc["a"] == ["22:22", "8080:80"]  # YAML 1.1 would read 1342 (base 60)
    assert (doc["b"], doc["c"], doc["d"], doc["e"], doc["f"]) == ("no", "on", True, 1.5, 7)


def test_yaml_syntax_error_names_file_and_line():
    with pytest.raises(ComposeError, match=r"^compose.yaml:4: YAML syntax error"):
        load_text("services:\n  a:\n    image: busybox\n   b: 1\n", "/d/compose.yaml")


def test_duplicate_key_is_an_error_with_both_lines():
    with pytest.raises(ComposeError, match=r"compose.yaml:3: mapping key 'a' already defined "
                                           r"at line 2"):
        load_text("services:\n  a: {image: x}\n  a: {image: y}\n", "/d/compose.yaml")


def test_top_level_must_be_a_mapping():
    with pytest.raises(ComposeError, match="top level must be a mapping"):
        load_text("- a\n- b\n", "/d/compose.yaml")


def test_files_are_found_as_docker_compose_finds_them(tmp_path):
    (tmp_path / "docker-compose.yml").write_text("services: {}\n")
    (tmp_path / "docker-compose.override.yml").write_text("services: {}\n")
    sub = tmp_path / "sub" / "deeper"
    sub.mkdir(parents=True)
    assert find_files(cwd=str(sub), environ={}) == [
        str(tmp_path / "docker-compose.yml"), str(tmp_path / "docker-compose.override.yml")]
    (tmp_path / "compose.yaml").write_text("services: {}\n")  # preferred name
    assert find_files(cwd=str(tmp_path), environ={}) == [str(tmp_path / "compose.yaml")]
    assert find_files(cwd=str(tmp_path), environ={"COMPOSE_FILE": "a.yml:b.yml"}) == [
        str(tmp_path / "a.yml"), str(tmp_path / "b.yml")]


def test_no_file_is_a_clear_error(tmp_path):
    with pytest.raises(ComposeError, match="no configuration file provided"):
        find_files(cwd=str(tmp_path), environ={})


def test_merge_overrides_scalars_appends_ports_and_merges_environment(tmp_path):
    (tmp_path / "a.yml").write_text(
        "services:\n  web:\n    image: one\n    ports: ['80']\n"
        "    environment: [A=1, B=2]\n    volumes: ['d:/data', '/x']\n")
    (tmp_path / "b.yml").write_text(
        "services:\n  web:\n    image: two\n    ports: ['81']\n"
        "    environment: {B: 3}\n    volumes: ['e:/data']\n")
    web = load_files([str(tmp_path / "a.yml"), str(tmp_path / "b.yml")])["services"]["web"]
    assert web["image"] == "two" and web["ports"] == ["80", "81"]
    assert dict(web["environment"]) == {"A": "1", "B": 3}
    assert web["volumes"] == ["/x", "e:/data"]
    assert web.where("image") == (str(tmp_path / "b.yml"), 3)
    assert web["environment"].where("A") == (str(tmp_path / "a.yml"), 5)


@pytest.mark.parametrize("text, expected", [
    ("${A}", "a"), ("$A-x", "a-x"), ("${UNSET:-d}", "d"), ("${EMPTY:-d}", "d"),
    ("${EMPTY-d}", ""), ("${UNSET-d}", "d"), ("${A:+yes}", "yes"), ("${UNSET:+yes}", ""),
    ("$$A", "$A"), ("${UNSET:-${A}b}", "ab"), ("x${UNSET}y", "xy"),
])
def test_substitutions(text, expected):
    values = {"A": "a", "EMPTY": ""}
    assert substitute(text, values.get) == expected


def test_required_variable_fails_with_its_message():
    with pytest.raises(InterpolationError, match="required variable DB is missing a value: "
                                                 "set DB"):
        substitute("${DB:?set DB}", {}.get)
    with pytest.raises(InterpolationError, match="missing"):
        substitute("${DB:?x}", {"DB": ""}.get)
    assert substitute("${DB?x}", {"DB": ""}.get) == ""


def test_unset_variable_warns():
    warnings = []
    assert substitute("a${NOPE}b", {}.get, warnings.append) == "ab"
    assert warnings == ['The "NOPE" variable is not set. Defaulting to a blank string.']


def test_malformed_substitution():
    with pytest.raises(InterpolationError, match="missing '}'"):
        substitute("${A", {}.get)
    with pytest.raises(InterpolationError, match="lone"):
        substitute("cost: $5", {}.get)


def test_env_file_syntax(tmp_path):
    path = tmp_path / ".env"
    path.write_text("# comment\nexport A=1\nB = two words # note\nC='x # y'\nD=\"l1\\nl2\"\n\n")
    assert read_env_file(str(path)) == {"A": "1", "B": "two words", "C": "x # y",
                                        "D": "l1\nl2"}
    assert read_env_file(str(tmp_path / "missing"), required=False) == {}
    with pytest.raises(ComposeError, match="env file not found"):
        read_env_file(str(tmp_path / "missing"))


def test_anchors_merge_keys_and_extension_fields(tmp_path):
    from minicontainer.compose.model import load_project
    (tmp_path / "compose.yaml").write_text(
        "x-common: &common\n  image: busybox\n  environment: {A: '1'}\n"
        "services:\n  a:\n    <<: *common\n    command: [echo, a]\n"
        "  b:\n    <<: *common\n    image: other\n")
    warnings = []
    project = load_project(cwd=str(tmp_path), project="p", environ={}, warn=warnings.append)
    assert project.services["a"]["image"] == "busybox"
    assert project.services["a"]["environment"] == {"A": "1"}
    assert project.services["b"]["image"] == "other"
    assert warnings == []
