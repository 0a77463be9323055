"""The language reference cannot rot: every example in docs/language.md is checked.

- ```rulefile           parses and analyzes without an error;
- ```rulefile-fragment  parses (it needs files: a glob, an include);
- ```rulefile-broken    followed by a ```text block: ``rulec check`` prints exactly that text.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rulec import analyze
from rulec.errors import ErrorGroup, RulecError
from rulec.syntax import parse

DOC = Path(__file__).resolve().parent.parent / "docs" / "language.md"
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```\s*$", re.S | re.M)


def blocks(kind: str) -> list[tuple[int, str]]:
    text = DOC.read_text(encoding="utf-8")
    return [(text[: m.start()].count("\n") + 1, m.group(2)) for m in FENCE.finditer(text) if m.group(1) == kind]


def broken_examples() -> list[tuple[int, str, str]]:
    """(line, Rulefile text, expected error text) for each broken block and the text block after it."""
    text = DOC.read_text(encoding="utf-8")
    found = list(FENCE.finditer(text))
    out = []
    for m, nxt in zip(found, found[1:]):
        if m.group(1) == "rulefile-broken":
            assert nxt.group(1) == "text", "a ```rulefile-broken block must be followed by a ```text block of its errors"
            out.append((text[: m.start()].count("\n") + 1, m.group(2), nxt.group(2)))
    return out


def _ids(items):
    return [f"line {item[0]}" for item in items]


RULEFILES = blocks("rulefile")
FRAGMENTS = blocks("rulefile-fragment")
BROKEN = broken_examples()


def test_the_reference_has_examples():
    assert len(RULEFILES) >= 20
    assert FRAGMENTS and BROKEN


def _explain(err: RulecError) -> str:
    errors = err.errors if isinstance(err, ErrorGroup) else [err]
    return "\n".join(e.render() for e in errors)


@pytest.mark.parametrize("line,text", RULEFILES, ids=_ids(RULEFILES))
def test_rulefile_block_analyzes(line, text, tmp_path):
    try:
        wf = analyze.analyze(parse(text, f"language.md[block at line {line}]"), str(tmp_path))
    except RulecError as err:  # pragma: no cover - the failure message is the point
        pytest.fail(f"docs/language.md block at line {line} does not analyze:\n{_explain(err)}")
    assert wf.rules or wf.dimensions


@pytest.mark.parametrize("line,text", FRAGMENTS, ids=_ids(FRAGMENTS))
def test_fragment_block_parses(line, text):
    try:
        module = parse(text, f"language.md[block at line {line}]")
    except RulecError as err:  # pragma: no cover
        pytest.fail(f"docs/language.md fragment at line {line} does not parse:\n{_explain(err)}")
    assert module.decls


@pytest.mark.parametrize("line,text,expected", BROKEN, ids=_ids(BROKEN))
def test_broken_block_gives_the_documented_errors(line, text, expected, tmp_path, monkeypatch):
    (tmp_path / "Rulefile").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RulecError) as info:
        analyze.load("Rulefile")
    assert info.value.render() == expected.rstrip("\n")
