"""Variable substitution and ARG scoping as Docker defines them."""

import pytest

from minicontainer.build.args import (BuildArgs, SubstitutionError, parse_arg_words, parse_pairs,
                                      process_word, process_words)

ENV = {"A": "alpha", "EMPTY": "", "P": "/opt"}


@pytest.mark.parametrize("text, expected", [
    ("$A", "alpha"), ("${A}", "alpha"), ("x${A}y", "xalphay"), ("$A-b", "alpha-b"),
    ("$UNSET", ""), ("${UNSET:-dflt}", "dflt"), ("${EMPTY:-dflt}", "dflt"),
    ("${EMPTY-dflt}", ""), ("${UNSET-dflt}", "dflt"), ("${A:+set}", "set"),
    ("${EMPTY:+set}", ""), ("${EMPTY+set}", "set"), ("${UNSET:+set}", ""),
    ("${UNSET:-$P/bin}", "/opt/bin"), ("\\$A", "$A"), ("'$A'", "$A"), ('"$A b"', "alpha b"),
    ('"\\$A"', "$A"), ("a\\ b", "a b"), ("$", "$"), ("cost $5", "cost "),
])
def test_process_word(text, expected):
    assert process_word(text, ENV) == expected


def test_backtick_escape():
    assert process_word("c:\\dir `$A", ENV, escape="`") == "c:\\dir $A"


def test_words_split_at_unquoted_blanks():
    assert process_words("a  'b c' \"$A d\" e\\ f", ENV) == ["a", "b c", "alpha d", "e f"]


def test_errors():
    with pytest.raises(SubstitutionError, match="UNSET: must be set"):
        process_word("${UNSET:?must be set}", ENV)
    with pytest.raises(SubstitutionError, match="missing '}'"):
        process_word("${A", ENV)
    with pytest.raises(SubstitutionError, match="unmatched"):
        process_word("'open", ENV)


def test_pairs_see_the_variables_from_before_the_instruction():
    assert parse_pairs('B=$A C="x y" D=${B:-none}', "\\", ENV, "ENV") == \
        [("B", "alpha"), ("C", "x y"), ("D", "none")]
    assert parse_pairs("KEY a value with spaces", "\\", ENV, "ENV") == \
        [("KEY", "a value with spaces")]


def test_arg_words():
    assert parse_arg_words('A B=1 C="x y"', "\\") == [("A", None), ("B", "1"), ("C", '"x y"')]


def test_build_arg_scoping():
    args = BuildArgs({"GIVEN": "cli", "http_proxy": "http://127.0.0.1:3128", "EXTRA": "x"},
                     {"TARGETARCH": "amd64"})
    args.declare_meta("BASE", "busybox", "\\")
    args.declare_meta("GIVEN", "default", "\\")
    assert args.meta["BASE"] == "busybox" and args.meta["GIVEN"] == "cli"
    # in a stage: redeclared without a value takes the meta value; --build-arg wins
    assert args.stage_value("BASE", None) == "busybox"
    assert args.stage_value("TARGETARCH", None) == "amd64"
    assert args.stage_value("GIVEN", "stage-default") == "cli"
    assert args.stage_value("NEW", "d") == "d"
    assert args.stage_value("NOVALUE", None) is None
    assert args.predefined() == {"http_proxy": "http://127.0.0.1:3128"}
    assert args.unused() == ["EXTRA"]
