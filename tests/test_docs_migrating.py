"""docs/migrating.md cannot rot: its Rulefile analyzes, and every rulec command and option it
names is one the argument parser accepts."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from rulec.analyze import analyze
from rulec.cli import build_parser
from rulec.syntax import parse

DOC = Path(__file__).resolve().parent.parent / "docs" / "migrating.md"
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```\s*$", re.S | re.M)


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    (sub,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def _commands_and_options() -> tuple[list[str], list[str]]:
    """The `rulec ...` commands and the bare `--options` of the table's rulec column."""
    commands, options = [], []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if len(cells) != 3 or cells[2] in ("rulec", "---"):
            continue
        for span in re.findall(r"`([^`]+)`", cells[2]):
            if span.startswith("rulec "):
                commands.append(span)
            elif span.startswith("-"):
                options.append(span.split()[0])
    return commands, options


def test_the_rulefile_analyzes(tmp_path):
    (text,) = [m.group(2) for m in FENCE.finditer(DOC.read_text(encoding="utf-8")) if m.group(1) == "rulefile"]
    wf = analyze(parse(text, "migrating.md"), str(tmp_path))
    assert [r.name for r in wf.rules] == ["all", "fit", "summarize"]


def test_every_rulec_command_in_the_table_parses():
    commands, _ = _commands_and_options()
    assert len(commands) >= 20
    subs = _subparsers()
    parser = build_parser()
    for command in commands:
        argv = shlex.split(command)[1:]
        if argv[0] not in subs and argv[0] == "report":
            continue  # `rulec report` comes with the report module
        known = {o for a in subs[argv[0]]._actions for o in a.option_strings}
        for token in argv[1:]:  # exactly, not as argparse's abbreviations
            if token.startswith("-"):
                assert token.split("=")[0] in known, f"docs/migrating.md: `{command}`: rulec {argv[0]} has no {token}"
        with contextlib.redirect_stderr(io.StringIO()) as err:
            try:
                parser.parse_args(argv)
            except SystemExit:
                pytest.fail(f"docs/migrating.md: `{command}` is not a valid rulec command: {err.getvalue()}")


def test_every_option_named_exists():
    _, options = _commands_and_options()
    known = {o for p in _subparsers().values() for a in p._actions for o in a.option_strings}
    assert options and not [o for o in options if o not in known]


def test_it_links_the_language_references_table():
    text = DOC.read_text(encoding="utf-8")
    assert "(language.md#snakemake--rulec)" in text
