"""The image commands' pure helpers: sizes, ages, templates, --change, registry names."""

import pytest

from minicontainer.cli_format import (human_duration, human_size, parse_changes, parse_time,
                                      render_template, table)
from minicontainer.errors import SpecError


@pytest.mark.parametrize("count, text", [(0, "0B"), (912, "912B"), (1234, "1.23kB"),
                                         (4_261_888, "4.26MB"), (999_600, "1MB"),
                                         (3 * 10 ** 9, "3GB")])
def test_human_size(count, text):
    assert human_size(count) == text


def test_parse_time_reads_go_nanoseconds_and_offsets():
    assert parse_time("1970-01-01T00:01:00Z") == 60
    assert parse_time("1970-01-01T00:01:00.123456789Z") == pytest.approx(60.123456)
    assert parse_time("1970-01-01T01:01:00+01:00") == 60
    assert parse_time("") is None and parse_time("yesterday") is None


@pytest.mark.parametrize("age, text", [(0.5, "Less than a second ago"), (1, "1 second ago"),
                                       (30, "30 seconds ago"), (90, "About a minute ago"),
                                       (600, "10 minutes ago"), (3700, "About an hour ago"),
                                       (5 * 3600, "5 hours ago"), (3 * 86400, "3 days ago"),
                                       (21 * 86400, "3 weeks ago"),
                                       (100 * 86400, "3 months ago"),
                                       (800 * 86400, "2 years ago")])
def test_human_duration(age, text):
    assert human_duration("1970-01-01T00:00:00Z", now=age) == text


def test_human_duration_unknown():
    assert human_duration(None) == "N/A"


def test_render_template():
    data = {"Id": "sha256:ab", "Config": {"Env": ["A=1", "B=2"], "Labels": {"k": "v"}},
            "RootFS": {"type": "layers"}, "Nothing": None}
    assert render_template("{{.Id}}\\t{{ .Config.Env }}", data) == "sha256:ab\t[A=1 B=2]"
    assert render_template("{{json .RootFS}} {{.Config.Labels}} {{.Nothing}}", data) == \
        '{"type": "layers"} map[k:v] <no value>'
    with pytest.raises(SpecError, match=".Missing"):
        render_template("{{.Missing}}", data)


def test_parse_changes_import_and_commit():
    section = parse_changes(['CMD ["cat", "/etc/x"]', "ENTRYPOINT echo hi",
                             'ENV A=1 B="two words"', "ENV C 3", "WORKDIR /srv",
                             "USER 1000:1000", "EXPOSE 80 53/udp",
                             "VOLUME /data", "LABEL team=mctest", "STOPSIGNAL SIGINT"])
    assert section == {
        "Cmd": ["cat", "/etc/x"], "Entrypoint": ["/bin/sh", "-c", "echo hi"],
        "Env": ["A=1", "B=two words", "C=3"], "WorkingDir": "/srv", "User": "1000:1000",
        "ExposedPorts": {"80/tcp": {}, "53/udp": {}}, "Volumes": {"/data": {}},
        "Labels": {"team": "mctest"}, "StopSignal": "SIGINT"}
    base = {"Env": ["PATH=/bin", "A=0"], "Labels": {"old": "1"}, "Volumes": {"/v": {}}}
    changed = parse_changes(["ENV A=1", "LABEL new=2", "VOLUME [\"/w\"]"], base)
    assert changed == {"Env": ["PATH=/bin", "A=1"], "Labels": {"old": "1", "new": "2"},
                       "Volumes": {"/v": {}, "/w": {}}}
    for bad in ("RUN true", "CMD", "ENV =x", "CMD [1, 2]", "CMD [oops"):
        with pytest.raises(SpecError):
            parse_changes([bad])


def test_table_columns_fit_their_widest_cell():
    lines = table(["A", "LONGER HEADER", "LAST"], [["x" * 12, "y", "z"]])
    assert lines == ["A" + " " * 14 + "LONGER HEADER   LAST",
                     "x" * 12 + "   y" + " " * 15 + "z"]


def test_registry_host():
    from minicontainer.cli_registry import registry_host
    assert registry_host("http://127.0.0.1:5000/") == "127.0.0.1:5000"
    assert registry_host("https://index.docker.io/v1/") == "docker.io"
    assert registry_host("registry.example:443") == "registry.example:443"
    with pytest.raises(SpecError):
        registry_host("https://")


def test_volume_names_in_mounts(tmp_path):
    from minicontainer.spec import Mount
    from minicontainer.volumes import volume_names_in, volumes_dir
    data = str(tmp_path)
    mounts = [Mount(target="/a", source=f"{volumes_dir(data)}/one/_data", type="bind"),
              {"target": "/b", "source": "two", "type": "volume"},
              Mount(target="/c", source="/elsewhere/_data", type="bind"),
              Mount(target="/d", source="tmpfs", type="tmpfs")]
    assert volume_names_in(data, mounts) == {"one", "two"}
