"""The Dockerfile parser: continuations, comments, directives, forms, errors by line."""

import pytest

from minicontainer.build.dockerfile import DockerfileError, parse, stages


def test_continuations_comments_and_forms():
    text = ("# syntax=docker/dockerfile:1\n"
            "FROM busybox AS base\n"
            "\n"
            "# a comment\n"
            "RUN echo one \\\n"
            "    # dropped inside a continuation\n"
            "\n"
            "    && echo two\n"
            'CMD ["sh", "-c", "echo hi"]\n'
            "ENTRYPOINT [not json\n"
            "copy --from=base --chown=1:2 a b /dst/\n")
    parsed = parse(text)
    assert parsed.directives == {"syntax": "docker/dockerfile:1"}
    run, cmd, entry, copy = parsed.instructions[1:]
    assert run.cmd == "run" and run.line == 5
    assert run.rest == "echo one     && echo two"
    assert run.json is None
    assert cmd.json == ["sh", "-c", "echo hi"]
    assert entry.json is None and entry.rest == "[not json"  # falls back to the shell form
    assert copy.cmd == "copy" and copy.flags == {"from": "base", "chown": "1:2"}
    assert copy.rest == "a b /dst/" and copy.line == 11
    assert copy.original == "COPY --from=base --chown=1:2 a b /dst/"


def test_escape_directive_makes_the_backtick_the_continuation():
    parsed = parse("# escape=`\nFROM busybox\nRUN dir c:\\ `\n  && echo x\n")
    assert parsed.escape == "`"
    assert parsed.instructions[1].rest == "dir c:\\   && echo x"


def test_directives_count_only_at_the_top():
    parsed = parse("FROM busybox\n# escape=`\nRUN echo \\\n x\n")
    assert parsed.escape == "\\" and parsed.directives == {}
    assert parsed.instructions[1].rest == "echo  x"


@pytest.mark.parametrize("text, message", [
    ("FROM busybox\n\n# note\nRUNN echo hi\n", "Dockerfile:4: unknown instruction: RUNN"),
    ("RUN echo\n", "Dockerfile:1: no build stage in current context"),
    ("FROM busybox\nCOPY --bogus=1 a b\n", "Dockerfile:2: unknown flag: --bogus for COPY"),
    ("FROM busybox\nSHELL /bin/bash -c\n", "Dockerfile:2: SHELL requires the arguments to "
                                           "be in JSON form"),
    ("FROM busybox\nENV\n", "Dockerfile:2: ENV requires at least one argument"),
    ("# escape=x\nFROM busybox\n", "Dockerfile:1: invalid escape token"),
    ("\n# only comments\n", "Dockerfile:1: file with no instructions"),
])
def test_errors_name_the_file_and_line(text, message):
    with pytest.raises(DockerfileError) as caught:
        parse(text)
    assert str(caught.value).startswith(message)


def test_error_uses_the_given_file_name():
    with pytest.raises(DockerfileError, match=r"^Dockerfile\.dev:2: unknown instruction: FORM"):
        parse("FROM busybox\nFORM x\n", "Dockerfile.dev")


def test_stages_split_meta_args():
    meta, found = stages(parse("ARG V=1\nFROM busybox AS a\nRUN x\nFROM a\nCMD y\n"))
    assert [m.rest for m in meta] == ["V=1"]
    assert [(f.rest, [i.cmd for i in body]) for f, body in found] == \
        [("busybox AS a", ["run"]), ("a", ["cmd"])]
