"""completion.py: what ``rulec __complete`` offers (commands, options, rule names, job ids,
dimension values), and the bash, zsh and fish scripts that ask it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rulec import completion
from rulec.commands import init

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def starter(tmp_path, monkeypatch):
    """The ``rulec init`` project (datasets small, large × models mean, median), as cwd."""
    init.main(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_commands_and_options_come_from_the_parser(starter):
    assert completion.candidates(["ru"]) == ["run"]
    assert "__complete" not in completion.candidates([""]) and "completion" in completion.candidates([""])
    assert completion.candidates(["run", "--keep-g"]) == ["--keep-going"]
    assert {"-p", "--print-commands", "-F", "-t", "-j"} <= set(completion.candidates(["run", "-"]))
    assert completion.candidates(["run", "--executor", "s"]) == ["slurm"]
    assert completion.candidates(["dag", "--format=m"]) == ["--format=mermaid"]
    assert completion.candidates(["completion", ""]) == ["bash", "zsh", "fish"]
    assert completion.candidates(["run", "--profile", ""]) == ["@files"]
    assert completion.candidates(["init", ""]) == ["@dirs"]


def test_rule_names_job_ids_and_dimension_values_come_from_the_rulefile(starter):
    assert completion.candidates(["run", "s"]) == ["summarize", "@files"]
    assert completion.candidates(["run", "fi"]) == ["fit", "fit[small,mean]", "fit[small,median]", "fit[large,mean]",
                                                   "fit[large,median]", "@files"]
    assert completion.candidates(["clean", "fit[l"]) == ["fit[large,mean]", "fit[large,median]", "@files"]
    assert completion.candidates(["run", "--force", "make"]) == ["make_data", "make_data[small]", "make_data[large]"]
    assert completion.candidates(["dryrun", "--set", ""]) == ["dataset=", "model="]
    assert completion.candidates(["dryrun", "--set", "model=me"]) == ["model=mean", "model=median"]
    assert completion.candidates(["dryrun", "--set", "model=mean,"]) == ["model=mean,median"]
    assert completion.candidates(["dryrun", "-k", "la"]) == ["large"]


def test_the_rulefile_named_on_the_line_is_read(starter, tmp_path_factory, monkeypatch):
    other = tmp_path_factory.mktemp("elsewhere")
    monkeypatch.chdir(other)
    assert completion.candidates(["run", "fi"]) == ["@files"]  # no Rulefile here
    assert completion.candidates(["run", str(starter), "su"]) == ["summarize", "@files"]
    assert completion.candidates(["run", "-f", str(starter / "Rulefile"), "su"]) == ["summarize", "@files"]
    (other / "Rulefile").write_text("rule broken:\n    output: \n")
    assert completion.candidates(["run", "b"]) == ["@files"]  # a Rulefile being edited: no dynamic words


def test_a_failing_completion_prints_nothing(starter, capsys, monkeypatch):
    monkeypatch.setattr(completion, "candidates", lambda words: 1 / 0)
    assert completion.main(["--", "run", ""]) == 0
    assert capsys.readouterr() == ("", "")


def _shell_env(tmp_path: Path) -> dict:
    """A PATH whose ``rulec`` is this checkout's."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    exe = bin_dir / "rulec"
    exe.write_text(f"#!/bin/sh\nexec {sys.executable} -m rulec \"$@\"\n")
    exe.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(REPO)}


def _bash_complete(starter: Path, tmp_path: Path, line: str, with_line: bool = True) -> list[str]:
    """Source the bash script, set COMP_WORDS as bash would for ``line`` (the cursor at its
    end: split at spaces, and around "=" and ":", bash's COMP_WORDBREAKS), call the
    completion function and return COMPREPLY."""
    import re

    script = completion.script("bash")
    words = [w for w in re.split(r" |([=:])", line) if w is not None and w != ""]
    if line.endswith(" "):
        words.append("")
    test = textwrap.dedent(f"""\
        source /dev/stdin <<'RULEC_COMPLETION'
        {script}
        RULEC_COMPLETION
        COMP_WORDS=({" ".join(_bash_word(w) for w in words)})
        COMP_CWORD={len(words) - 1}
        """)
    if with_line:
        test += f"COMP_LINE={_bash_word(line)}\nCOMP_POINT={len(line)}\n"
    test += "_rulec\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
    res = subprocess.run(["bash", "-c", test], cwd=starter, env=_shell_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return [w for w in res.stdout.splitlines() if w]


def _bash_word(word: str) -> str:
    return "'" + word.replace("'", "'\\''") + "'"


def test_the_bash_script_fills_compreply(starter, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("shell")
    assert _bash_complete(starter, tmp, "rulec st") == ["status"]
    assert _bash_complete(starter, tmp, "rulec run --exec", with_line=False) == ["--executor"]
    assert _bash_complete(starter, tmp, "rulec run fit[sm") == ["fit[small,mean]", "fit[small,median]"]
    # a word starting like a file: file names too
    assert _bash_complete(starter, tmp, "rulec run Rule") == ["Rulefile"]
    assert _bash_complete(starter, tmp, "rulec run scr") == ["scripts"]
    # bash splits "--set model=me" at "=": the candidates fit the word after it
    assert _bash_complete(starter, tmp, "rulec dryrun --set model=me") == ["mean", "median"]


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_the_fish_script_completes_rules_and_job_ids(starter, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("shell")
    (tmp / "rulec.fish").write_text(completion.script("fish"))
    res = subprocess.run(["fish", "--no-config", "-c", f"source {tmp / 'rulec.fish'}; complete -C 'rulec run fit[l'; "
                          "complete -C 'rulec dryrun --set dataset=s'"],
                         cwd=starter, env=_shell_env(tmp), capture_output=True, text=True, timeout=60)
    assert res.stdout.split() == ["fit[large,mean]", "fit[large,median]", "dataset=small"], res.stderr


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_the_zsh_script_is_valid_zsh_and_defines_its_function(tmp_path):
    path = tmp_path / "_rulec"
    path.write_text(completion.script("zsh"))
    res = subprocess.run(["zsh", "-f", "-c", f"autoload -U compinit; compinit -u -D; source {path}; "
                          "print -r -- ${_comps[rulec]}"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.strip() == "_rulec", res.stdout + res.stderr
