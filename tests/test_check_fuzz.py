"""Broken Rulefiles never crash rulec: every mutation of a real Rulefile either analyzes, or
fails with RulecErrors that each point at a place (file:line:col). Never a traceback.

The seeds are every example project (examples/*/Rulefile) and every Rulefile example of
docs/language.md; the mutations delete, duplicate, swap or insert characters, lines,
indentation, tokens and names (hypothesis chooses and shrinks them).

The normal run tries 200 mutations (a few seconds); ``RULEC_FUZZ=N`` sets a longer budget,
e.g. ``RULEC_FUZZ=2000 python -m pytest -q tests/test_check_fuzz.py``.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rulec import analyze
from rulec.errors import ErrorGroup, RulecError

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```(rulefile(?:-fragment)?)\n(.*?)^```\s*$", re.S | re.M)


def seeds() -> list[tuple[str, str, Path | None]]:
    """(name, text, project folder to copy or None)."""
    out = []
    for rulefile in sorted((ROOT / "examples").glob("*/Rulefile")):
        out.append((rulefile.parent.name, rulefile.read_text(encoding="utf-8"), rulefile.parent))
    doc = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    for m in FENCE.finditer(doc):
        out.append((f"language.md:{doc[: m.start()].count(chr(10)) + 1}", m.group(2), None))
    return out


SEEDS = seeds()
BUDGET = int(os.environ.get("RULEC_FUZZ") or 200)  # mutations tried by the property test
TOKENS = [
    "{", "}", "{{", "}}", '"', "'", '"""', ":", ",", "=", "[", "]", "(", ")", ">", "#", "\\", "\n", "\t",
    "    ", "        ", "\r\n", "\0", "é", "rule ", "dimension ", "label ", "include ", "ruleorder: ",
    "expand(", "zip(", "glob(", "input:", "output:", "shell:", "{dataset}", "{model}", "{nope}",
    "{x,[a-z]+}", "{x,[}", "{dataset.subset}", "{dataset.nope}", "{input}", "{input.data}", ":raw",
    "{params.seed}", "{resources.mem}", "true", "-1", "1e9", "0", '"4X"', '"30m"', "priority: 1",
    'include "Rulefile"', "persist: maybe",
    'config "config.toml"\n', "config ", "{config.x}", "{config.count.label}", "config.models", "table(",
    '"{sample.reads}"', "list_sep=", "{sample.reads[0]}",
]
NAMES = ["a", "x_y", "all", "rule", "model", "dataset", "data_0", "estimate", "gpu", "_", "Z9"]

mutation = st.tuples(
    st.sampled_from(["del_char", "dup_char", "swap_chars", "insert", "del_line", "dup_line", "swap_lines", "indent", "name"]),
    st.integers(min_value=0, max_value=10**6),
    st.integers(min_value=0, max_value=10**6),
)


def mutate(text: str, ops) -> str:
    for op, i, j in ops:
        n = len(text)
        at = i % (n + 1)
        lines = text.split("\n")
        k, m = i % len(lines), j % len(lines)
        if op == "del_char" and n:
            text = text[:at] + text[at + 1:]
        elif op == "dup_char" and n:
            text = text[:at] + text[at: at + 1] * 2 + text[at + 1:]
        elif op == "swap_chars" and n > 1:
            at = min(at, n - 2)
            text = text[:at] + text[at + 1] + text[at] + text[at + 2:]
        elif op == "insert":
            text = text[:at] + TOKENS[j % len(TOKENS)] + text[at:]
        elif op == "del_line":
            del lines[k]
            text = "\n".join(lines)
        elif op == "dup_line":
            lines.insert(k, lines[k])
            text = "\n".join(lines)
        elif op == "swap_lines":
            lines[k], lines[m] = lines[m], lines[k]
            text = "\n".join(lines)
        elif op == "indent":
            lines[k] = ["", " ", "  ", "    ", "\t", "        ", "\t    "][j % 7] + lines[k].lstrip()
            text = "\n".join(lines)
        elif op == "name":
            text = text[:at] + NAMES[j % len(NAMES)] + text[at:]
    return text


@pytest.fixture(scope="module")
def workspace():
    """One folder per seed project (its scripts, data and includes), reused by every example."""
    with tempfile.TemporaryDirectory() as tmp:
        folders = {}
        for name, _, project in SEEDS:
            folder = Path(tmp) / re.sub(r"[^\w.-]", "_", name)
            if project is not None:
                shutil.copytree(project, folder, ignore=shutil.ignore_patterns("bld", "logs", ".rulec"))
            else:
                folder.mkdir()
            folders[name] = folder
        yield folders


def assert_located(err: RulecError) -> None:
    errors = err.errors if isinstance(err, ErrorGroup) else [err]
    assert errors
    for e in errors:
        assert isinstance(e, RulecError)
        assert e.span is not None, f"an error without a place: {e.render()}"
        assert e.span.line >= 1 and e.span.col >= 1, e.span
        assert e.render().startswith(f"{e.span.file}:{e.span.line}:{e.span.col}: ")
    err.render()


def test_there_are_seeds():
    assert any(p is not None for _, _, p in SEEDS)
    assert len(SEEDS) > 10


@settings(max_examples=BUDGET, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.sampled_from(SEEDS), ops=st.lists(mutation, min_size=1, max_size=4))
def test_mutated_rulefiles_fail_cleanly(workspace, seed, ops):
    name, text, _ = seed
    rulefile = workspace[name] / "Rulefile"
    rulefile.write_text(mutate(text, ops), encoding="utf-8", newline="")
    try:
        analyze.load(str(rulefile))
    except RulecError as err:
        assert_located(err)


def test_the_unmutated_seeds_analyze(workspace):
    for name, text, project in SEEDS:
        if project is None:
            continue
        rulefile = workspace[name] / "Rulefile"
        rulefile.write_text(text, encoding="utf-8")
        analyze.load(str(rulefile))


def test_mutations_through_the_real_cli(tmp_path):
    """A handful of mutations through ``python -m rulec check``: exit 0 or 2, no traceback."""
    name, text, project = next(s for s in SEEDS if s[2] is not None)
    folder = tmp_path / "project"
    shutil.copytree(project, folder, ignore=shutil.ignore_patterns("bld", "logs", ".rulec"))
    rng = random.Random(20240601)
    codes = []
    for _ in range(8):
        ops = [(rng.choice(["del_char", "insert", "del_line", "swap_lines", "indent", "name"]), rng.randrange(10**6), rng.randrange(10**6))
               for _ in range(rng.randint(1, 3))]
        (folder / "Rulefile").write_text(mutate(text, ops), encoding="utf-8", newline="")
        env = dict(os.environ, NO_COLOR="1", COLUMNS="200")
        res = subprocess.run([sys.executable, "-m", "rulec", "check", str(folder / "Rulefile")],
                             capture_output=True, text=True, timeout=60, env=env)
        assert res.returncode in (0, 2), (ops, res.returncode, res.stderr)
        assert "Traceback" not in res.stderr, (ops, res.stderr)
        if res.returncode == 2:
            assert re.match(r"^\S+:\d+:\d+: ", res.stderr), res.stderr
        codes.append(res.returncode)
    assert 2 in codes  # the mutations really broke something
