"""scripts/cli_reference.py and docs/cli-reference.md: the reference is what the parser says.

When this fails after an option was added or changed, run ``python scripts/cli_reference.py``
and commit docs/cli-reference.md."""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "cli_reference.py"
DOC = ROOT / "docs" / "cli-reference.md"


def _script():
    spec = importlib.util.spec_from_file_location("cli_reference", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_reference_is_what_the_parser_gives():
    text = _script().render()
    assert DOC.read_text(encoding="utf-8") == text, \
        "docs/cli-reference.md is out of date: run  python scripts/cli_reference.py  and commit it"


def test_every_command_and_option_is_in_it():
    from rulec.cli import build_parser

    text = _script().render()
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert list(sub.choices) == ["check", "dryrun", "run", "status", "dag", "report", "emit", "clean", "unlock", "init", "completion"]
    for name, p in sub.choices.items():
        section = text.split(f"\n## rulec {name}\n", 1)[1].split("\n## ", 1)[0]
        for action in p._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert f"`{option}" in section or f", {option}" in section, (name, option)
            if action.help and action.help != argparse.SUPPRESS and not isinstance(action, argparse._HelpAction):
                assert action.help.replace("|", "\\|") in section, (name, action.help)


def test_check_mode_says_whether_the_file_is_up_to_date(tmp_path, monkeypatch):
    module = _script()
    monkeypatch.setattr(module, "OUT", str(tmp_path / "cli-reference.md"))
    assert module.main(["--check"]) == 1  # no file
    assert module.main([]) == 0
    assert (tmp_path / "cli-reference.md").read_text(encoding="utf-8") == module.render()
    assert module.main(["--check"]) == 0
    (tmp_path / "cli-reference.md").write_text("old\n")
    assert module.main(["--check"]) == 1


def test_the_script_runs_as_a_command(tmp_path):
    out = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
