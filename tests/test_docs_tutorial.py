"""docs/tutorial.md cannot rot: its files are written and its commands run, in order, in an
empty folder, and each output it shows is what the command before it prints.

- ```python NAME, ```rulefile NAME, ```text NAME   a file the reader saves as NAME;
- ```sh            commands, run with bash (one script per block, `set -e`);
- ```sh slurm      commands for the SLURM cluster: run by the slurm test only;
- ```sh report     `rulec report`: run when this rulec has the command;
- ```text          right after an ```sh block: what its last command prints (stdout and
                   stderr), timings such as (0.1s) aside.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "tutorial.md"
FENCE = re.compile(r"^```([\w-]+)(?: +([^\n]*?))?\s*\n(.*?)^```\s*$", re.S | re.M)
MARK = "@@rulec-tutorial-last-command@@"


def blocks() -> list[tuple[int, str, str, str]]:
    text = DOC.read_text(encoding="utf-8")
    return [(text[: m.start()].count("\n") + 1, m.group(1), m.group(2) or "", m.group(3)) for m in FENCE.finditer(text)]


def _has_report_command() -> bool:
    import argparse

    from rulec.cli import build_parser

    (sub,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return "report" in sub.choices


def _env(tmp: Path, extra: dict | None = None) -> dict:
    shims = tmp.parent / f"{tmp.name}-bin"
    shims.mkdir(exist_ok=True)
    shim = shims / "rulec"  # this checkout's rulec, whatever is installed
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m rulec "$@"\n')
    shim.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("RULEC_PROFILE", "SLURM_CONF")}
    env.update(PATH=f"{shims}{os.pathsep}{env.get('PATH', '')}", PYTHONPATH=str(ROOT), NO_COLOR="1",
               COLUMNS="200", PYTHONUNBUFFERED="1", RULEC_SRC=str(ROOT))
    env.update(extra or {})
    return env


def _norm(text: str) -> str:
    return re.sub(r"\(\d+\.\d+s\)", "(0.1s)", text)


def walk(tmp: Path, slurm: bool, env: dict) -> list[str]:
    """Follow the tutorial in ``tmp``; the commands that ran."""
    found = blocks()
    ran = []
    report = _has_report_command()
    last_output = None  # of the last sh block that ran; None after a skipped one
    previous_kind = None
    for line, kind, name, body in found:
        if kind in ("python", "rulefile", "text") and name:
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body, encoding="utf-8")
        elif kind == "sh":
            if (name == "slurm" and not slurm) or (name == "report" and not report):
                last_output = None
            else:
                assert name in ("", "slurm", "report"), f"docs/tutorial.md:{line}: unknown block ```sh {name}"
                lines = body.rstrip("\n").split("\n")
                script = "set -e\n" + "\n".join(lines[:-1]) + f"\necho {MARK}\n" + lines[-1] + "\n"
                out = subprocess.run(["bash", "-c", script], cwd=tmp, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
                assert out.returncode == 0, f"docs/tutorial.md:{line}: {body!r} exited {out.returncode}:\n{out.stdout}"
                last_output = out.stdout.split(MARK + "\n", 1)[1]
                ran += lines
        elif kind == "text" and previous_kind == "sh" and last_output is not None:
            assert _norm(last_output) == _norm(body), f"docs/tutorial.md:{line}: the output shown differs"
        previous_kind = kind
    return ran


def test_the_tutorial_shows_real_commands_and_their_output(tmp_path):
    ran = walk(tmp_path, slurm=False, env=_env(tmp_path))
    assert any(c.startswith("rulec run") for c in ran) and "rulec status" in ran
    assert (tmp_path / "bld" / "summary.csv").read_text().count("\n") == 5
    assert (tmp_path / "bundle" / "submit.sh").is_file()
    if _has_report_command():
        assert (tmp_path / "report.html").is_file()


def test_the_tutorial_has_what_it_promises():
    found = blocks()
    kinds = [(k, n) for _, k, n, _ in found]
    assert ("sh", "slurm") in kinds and ("sh", "report") in kinds
    assert any(k == "rulefile" and n == "Rulefile" for k, n in kinds)
    text = DOC.read_text(encoding="utf-8")
    assert "--executor slurm" in text and "rulec report -o report.html" in text and "expand(" in text


@pytest.mark.slurm
def test_the_tutorial_on_the_local_slurm_cluster(slurm_cluster, tmp_path):
    ran = walk(tmp_path, slurm=True, env=_env(tmp_path, {"SLURM_CONF": str(slurm_cluster.conf)}))
    assert "rulec run --executor slurm --force-all" in ran
    assert (tmp_path / "bld" / "summary.csv").read_text().count("\n") == 5
    assert len(list((tmp_path / "bundle" / "status").iterdir())) == 5  # every task of the bundle ended


@pytest.mark.parametrize("page", ["README.md", "docs/tutorial.md", "docs/migrating.md", "docs/api.md", "docs/cli-reference.md"])
def test_the_guides_links_point_to_files_that_exist(page):
    path = ROOT / page
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text(encoding="utf-8")):
        if "://" not in target:
            assert (path.parent / target).exists(), f"{page}: a link to {target}, which does not exist"
