"""rulec/commands/clean.py: which jobs ``rulec clean`` takes (the named ones, what they need
with --upstream, what needs them with --downstream), and the failure records it forgets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rulec import api
from rulec.commands import clean, init
from rulec.history import History

FAILING = '''
dimension d = ["ok", "bad"]
rule all:
    input: expand("down/{d}.txt")
rule mk:
    output: "out/{d}.txt"
    shell:  "if [ {d} = bad ]; then exit 3; fi; echo hi > {output}"
rule down:
    input:  "out/{d}.txt"
    output: "down/{d}.txt"
    shell:  "cp {input} {output}"
'''


def _rulec(cwd, *args):
    return subprocess.run([sys.executable, "-m", "rulec", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


@pytest.fixture
def starter(tmp_path, monkeypatch):
    """The ``rulec init`` project (datasets small, large × models mean, median), built."""
    init.main(str(tmp_path))
    assert _rulec(tmp_path, "run", "-q", "-j2").returncode == 0
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _selected(*targets, upstream=False, downstream=False) -> list[str]:
    """The ids of the jobs with outputs that ``rulec clean TARGETS`` takes."""
    target = api.Target("Rulefile", targets=targets)
    return sorted(g.job_id(j) for g, j in clean.selected(api.load(target), target, upstream, downstream)
                  if g.outputs[j])


def test_upstream_and_downstream_never_take_what_needs_the_upstream(starter):
    assert _selected("fit[small,mean]") == ["fit[small,mean]"]
    assert _selected("fit[small,mean]", upstream=True) == ["fit[small,mean]", "make_data[small]"]
    assert _selected("fit[small,mean]", downstream=True) == ["fit[small,mean]", "summarize"]
    # fit[small,median] needs make_data[small] too, but it is a sibling of the named job: kept
    assert _selected("fit[small,mean]", upstream=True, downstream=True) == [
        "fit[small,mean]", "make_data[small]", "summarize"]
    assert _selected("make_data[small]", downstream=True) == [
        "fit[small,mean]", "fit[small,median]", "make_data[small]", "summarize"]
    # a target without outputs of its own stands for everything it needs, downstream too
    assert len(_selected("all", downstream=True)) == len(_selected("all")) == 7

    res = _rulec(starter, "clean", "--yes", "--upstream", "--downstream", "fit[small,mean]")
    assert res.returncode == 0 and "Deleted 3 file(s)." in res.stdout, res.stdout + res.stderr
    gone = {p for p in ("data/small.csv", "data/large.csv", "results/summary.csv", "results/fits/small_mean.json",
                        "results/fits/small_median.json", "results/fits/large_mean.json",
                        "results/fits/large_median.json") if not (starter / p).exists()}
    assert gone == {"data/small.csv", "results/fits/small_mean.json", "results/summary.csv"}


def _failed(where: Path) -> dict:
    store = History.open(str(where))
    try:
        return store.failures()
    finally:
        store.close()


@pytest.fixture
def failing(tmp_path):
    (tmp_path / "Rulefile").write_text(FAILING)
    res = _rulec(tmp_path, "run", "--keep-going")
    assert res.returncode == 1, res.stdout + res.stderr
    assert list(_failed(tmp_path)) == ["mk[bad]"] and not (tmp_path / "out" / "bad.txt").exists()
    return tmp_path


def test_cleaning_a_failed_job_forgets_its_failure_though_no_file_is_left(failing):
    assert "failed" in _rulec(failing, "status").stdout
    res = _rulec(failing, "clean", "mk[bad]")  # standard input is not a terminal: asks for --yes
    assert res.returncode == 2 and "--yes" in res.stdout
    assert "Will forget the failure of 1 job(s) (no files left to delete):\n  mk[bad]\n" in res.stdout
    assert list(_failed(failing)) == ["mk[bad]"]
    res = _rulec(failing, "clean", "--yes", "mk[bad]")
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.rstrip().endswith("Forgot the failure of 1 job(s).")
    assert _failed(failing) == {}
    assert "failed" not in _rulec(failing, "status").stdout
    assert (failing / "out" / "ok.txt").exists() and (failing / "down" / "ok.txt").exists()
    assert "Nothing to clean." in _rulec(failing, "clean", "--yes", "mk[bad]").stdout


def test_a_whole_clean_deletes_the_files_and_forgets_the_failures(failing):
    res = _rulec(failing, "clean", "--yes")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Will delete 2 file(s) of 2 job(s):" in res.stdout and "  mk[bad]\n" in res.stdout
    assert res.stdout.rstrip().endswith("Deleted 2 file(s). Forgot the failure of 1 job(s).")
    assert _failed(failing) == {}
    assert not (failing / "out" / "ok.txt").exists()
