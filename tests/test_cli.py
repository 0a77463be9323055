"""rulec/cli.py: the parser built for the one command given is the full parser's, for it."""

from __future__ import annotations

import argparse

import pytest

from rulec.cli import COMMANDS, build_parser


def _sub(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sub


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_parser_of_one_command_is_the_full_parsers(name):
    full, only = _sub(build_parser()).choices, _sub(build_parser(name)).choices
    assert list(only) == list(full)  # every command is still listed (--help, a mistyped name)
    assert only[name].format_help() == full[name].format_help()
    assert [a.option_strings for a in only[name]._actions] == [a.option_strings for a in full[name]._actions]
    others = [n for n in full if n != name and len(full[n]._actions) > 1]
    assert others and all(len(only[n]._actions) == 1 for n in others)  # only -h: not built


def test_a_command_line_parses_the_same_either_way():
    argv = ["run", "-j", "2", "--keep-going", "--force", "fit", "-q", "Rulefile", "all"]
    assert vars(build_parser("run").parse_args(argv)) == vars(build_parser().parse_args(argv))
