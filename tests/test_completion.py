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

from helpers import hostile_rulefile
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
    assert _bash_complete(starter, tmp, "rulec run fit[sm") == ["fit\\[small,mean]", "fit\\[small,median]"]
    # a word starting like a file: file names too
    assert _bash_complete(starter, tmp, "rulec run Rule") == ["Rulefile"]
    assert _bash_complete(starter, tmp, "rulec run scr") == ["scripts"]
    # bash splits "--set model=me" at "=": the candidates fit the word after it
    assert _bash_complete(starter, tmp, "rulec dryrun --set model=me") == ["mean", "median"]
    # ...and right after the "=", bash's word is the "=": readline completes what follows it
    assert _bash_complete(starter, tmp, "rulec dryrun --set model=") == ["mean", "median"]
    # file names beside rule names: folders end with "/" (no space after a lone one)
    assert _bash_complete(starter, tmp, "rulec run s") == ["summarize", "scripts/"]
    (starter / "x:y").mkdir()  # bash splits at ":" too: the file names fit the word after it
    assert _bash_complete(starter, tmp, "rulec run x:") == ["y/"]


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


# --------------------------------------------------------------------------- hostile words

HOSTILE = ["$(touch PWNED)", "`touch PWNED`", "p;q", "a b", "x'y", 'a"b', "h!st", "~t", "{a,b}", "#c", "*"]


@pytest.fixture
def hostile(tmp_path, monkeypatch):
    """A project whose dimension values are shell code, quotes, blanks and globs, as cwd."""
    (tmp_path / "Rulefile").write_text(hostile_rulefile(HOSTILE))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _bash_replies(where: Path, tmp_path: Path, words: list[str]) -> tuple[list[str], list[list[str]]]:
    """Run the bash script's function with COMP_WORDS = ``words`` (as bash split them; the
    last is the word being completed), COMP_LINE their join. Returns COMPREPLY, and for each
    reply the words bash makes of the command line it gives (the text after an open quote
    is replaced, and readline closes that quote), evaluated by bash itself."""
    cur = words[-1]
    parsed = completion._bash_word(cur)
    opened = ""
    if parsed.quote:  # what readline keeps: the word up to its open quote
        opened = cur[:cur.rindex("'" if parsed.quote == "$'" else parsed.quote) + 1]
    closer = {"": "", "'": "'", "$'": "'", '"': '"'}[parsed.quote]
    line = _join(words)
    test = textwrap.dedent(f"""\
        source /dev/stdin <<'RULEC_COMPLETION'
        {completion.script("bash")}
        RULEC_COMPLETION
        COMP_WORDS=({" ".join(_bash_word(w) for w in words)})
        COMP_CWORD={len(words) - 1}
        COMP_LINE={_bash_word(line)}
        COMP_POINT={len(line)}
        _rulec
        for r in "${{COMPREPLY[@]}}"; do printf 'R%s\\0' "$r"; done
        o={_bash_word(opened)} c={_bash_word(closer)}
        for r in "${{COMPREPLY[@]}}"; do
            eval "v=($o$r$c)"
            printf 'V%s\\0' "${{v[@]}}"; printf 'E\\0'
        done
        """)
    res = subprocess.run(["bash", "-c", test], cwd=where, env=_shell_env(tmp_path), capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    replies, values, current = [], [], []
    for item in res.stdout.split("\0")[:-1]:
        if item[0] == "R":
            replies.append(item[1:])
        elif item[0] == "V":
            current.append(item[1:])
        else:
            values.append(current)
            current = []
    return replies, values


def _join(words: list[str]) -> str:
    """The command line bash split into ``words`` (no blank around "=" and ":")."""
    line = words[0]
    for before, word in zip(words, words[1:]):
        line += word if word in ("=", ":") or before in ("=", ":") else " " + word
    return line


def test_bash_gets_job_ids_and_values_quoted_so_nothing_in_them_runs(hostile, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("shell")
    ids = ["mk[" + v + "]" for v in HOSTILE]
    values = HOSTILE
    cases = [
        (["rulec", "run", "--force", "mk["], ids),             # --force JOB
        (["rulec", "run", "mk["], ids),                        # a target (file names may fit too)
        (["rulec", "dryrun", "-k", ""], ["all", "mk"] + sorted(values)),
        (["rulec", "dryrun", "--set", "s", "=", ""], values),  # bash splits at "="
        (["rulec", "dryrun", "--set", "s", "="], values),
    ]
    for words, want in cases:
        replies, got = _bash_replies(hostile, tmp, words)
        assert sorted(v for (v,) in got) == sorted(want), (words, replies)
        assert not (hostile / "PWNED").exists()
    replies, _ = _bash_replies(hostile, tmp, ["rulec", "run", "--force", "mk[$"])
    assert replies == ["mk\\[\\$\\(touch\\ PWNED\\)]"]
    replies, _ = _bash_replies(hostile, tmp, ["rulec", "run", "--force", "mk[p"])
    assert replies == ["mk\\[p\\;q]"]
    replies, _ = _bash_replies(hostile, tmp, ["rulec", "dryrun", "--set", "s", "=", "a"])
    assert sorted(replies) == sorted(["a\\\"b", "a\\ b"])
    assert not (hostile / "PWNED").exists()


def test_bash_candidates_follow_the_quoting_already_typed(hostile, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("shell")
    cases = [
        ("mk[\\$", ["mk[$(touch PWNED)]"]),           # a backslash typed
        ("mk[a\\ ", ["mk[a b]"]),
        ("mk[\\`", ["mk[`touch PWNED`]"]),
        ("'mk[$", ["mk[$(touch PWNED)]"]),            # an open single quote: readline closes it
        ("'mk[x", ["mk[x'y]"]),
        ('"mk[$', ["mk[$(touch PWNED)]"]),            # an open double quote: $ ` " \\ ! escaped
        ('"mk[h', ["mk[h!st]"]),
        ('"mk[a', ['mk[a"b]', "mk[a b]"]),
        ("$'mk[x", ["mk[x'y]"]),
        ("mk['a", ['mk[a"b]', "mk[a b]"]),            # a quote opened inside the word
        ("mk[a\\", ['mk[a"b]', "mk[a b]"]),           # a backslash at the end
    ]
    for cur, want in cases:
        replies, got = _bash_replies(hostile, tmp, ["rulec", "run", "--force", cur])
        assert sorted(v for (v,) in got) == sorted(want), (cur, replies)
        replies, got = _bash_replies(hostile, tmp, ["rulec", "dryrun", cur])
        assert sorted(v for (v,) in got) == sorted(want), (cur, replies)
    assert not (hostile / "PWNED").exists()


def test_bash_quote_round_trips_through_bash_in_every_quoting():
    texts = HOSTILE + ["new\nline", "tab\there", "esc\x1b[31m", "été", "@files", "back\\slash", "-", "", "a=b:c"]
    checks = []
    for text in texts:
        for quote in ("", "'", '"', "$'"):
            word = quote + completion.bash_quote(text, quote) + {"": "", "'": "'", '"': '"', "$'": "'"}[quote]
            if not word:
                continue
            checks.append((text, word))
            assert completion._bash_word(word).value == text, word
            if quote:  # still open: the value so far, and the quote
                value, still, kept = completion._bash_word(word[:-1])
                assert (value, still) == (text, quote) and text.startswith(kept), word
            else:  # a backslash at the end quotes what is not typed yet
                assert completion._bash_word(word + "\\") == (text, "", ""), word
    script = "set -f\n" + "".join(f"printf '%s\\0' {word}\n" for _, word in checks)
    res = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split("\0")[:-1] == [text for text, _ in checks]
    assert completion.bash_quote("fit[small,mean]") == "fit\\[small,mean]"
    assert completion.bash_quote("new\nline") == "new$'\\x0a'line"


def test_file_names_alone_are_left_to_bash_with_the_word_unquoted(hostile, capsys):
    completion.main(["--shell", "bash", "--cur", "'out/a", "--", "run", "--profile", "'out/a"])
    assert capsys.readouterr().out == "@files=out/a\n"
    completion.main(["--shell", "bash", "--cur", "sub\\ dir/", "--", "init", "sub\\ dir/"])
    assert capsys.readouterr().out == "@dirs=sub dir/\n"
