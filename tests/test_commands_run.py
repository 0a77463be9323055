"""rulec/commands/run.py: what `rulec run` does around the loop (options are tested with the
executors and in e2e/test_cli_flags.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rulec import api, verdict
from rulec.commands.run import RunArgs, remember_after_run, run_options
from rulec.errors import RulecError
from rulec.history import History
from rulec.plan import PlanOptions

RULEFILE = '''
dimension d = ["a", "b"]
rule all:
    input: expand("out/{d}.txt")
rule copy:
    input:  "src/{d}.txt"
    output: "out/{d}.txt"
    shell:  "cp {input} {output}"
'''


def _project(tmp_path):
    (tmp_path / "Rulefile").write_text(RULEFILE)
    (tmp_path / "src").mkdir()
    for d in "ab":
        (tmp_path / "src" / f"{d}.txt").write_text(d)
    return tmp_path


def _run(cwd, *args):
    return subprocess.run([sys.executable, "-m", "rulec", *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_a_successful_run_leaves_the_verdict_for_the_next_no_op(tmp_path, monkeypatch):
    proj = _project(tmp_path)
    assert _run(proj, "run", "-q").returncode == 0
    monkeypatch.chdir(proj)
    target = api.Target("Rulefile")  # as the command line makes it
    wf = api.load(target)
    assert verdict.check(wf, target, PlanOptions()) == 2  # the first no-op takes the fast path
    assert "Nothing to do" in _run(proj, "run").stdout
    (proj / "src" / "a.txt").write_text("changed")
    assert verdict.check(wf, target, PlanOptions()) is None
    res = _run(proj, "dryrun")
    assert "copy[a]" in res.stdout and "copy[b]" not in res.stdout, res.stdout


def test_nothing_is_remembered_when_an_input_changed_during_the_run(tmp_path):
    proj = _project(tmp_path)
    assert _run(proj, "run", "-q").returncode == 0
    os.unlink(proj / ".rulec" / "verdict.bin")
    target = api.Target(str(proj / "Rulefile"))
    wf = api.load(target)
    graph = api.graph_of(wf, target)
    (proj / "src" / "b.txt").write_text("edited while the run went on")
    os.utime(proj / "src" / "b.txt", (1, 1))  # older than its output, but not what was recorded
    history = History.open(str(proj), write=True)
    try:
        assert remember_after_run(wf, target, PlanOptions(), graph, history) is False
    finally:
        history.close()
    assert not (proj / ".rulec" / "verdict.bin").exists()
    assert "copy[b]" in _run(proj, "dryrun").stdout


def test_run_touch_leaves_the_verdict_for_the_next_no_op(tmp_path, monkeypatch):
    proj = _project(tmp_path)
    (proj / "out").mkdir()
    for d in "ab":
        (proj / "out" / f"{d}.txt").write_text(d)  # made by another tool
    assert _run(proj, "run", "--touch", "-q").returncode == 0
    monkeypatch.chdir(proj)
    target = api.Target("Rulefile")
    wf = api.load(target)
    assert verdict.check(wf, target, PlanOptions()) == 2
    (proj / "src" / "b.txt").write_text("changed")
    assert "copy[b]" in _run(proj, "dryrun").stdout


def test_the_outputs_a_run_made_are_not_stated_again_for_the_verdict(tmp_path, monkeypatch):
    """remember_after_run takes the made outputs' stats from the run (``made``); a verdict
    over a stat that is no longer true is never taken: the next no-op plans in full."""
    import rulec.commands.run as run_cmd

    proj = _project(tmp_path)
    assert _run(proj, "run", "-q").returncode == 0
    os.unlink(proj / ".rulec" / "verdict.bin")
    monkeypatch.chdir(proj)
    target = api.Target("Rulefile")
    wf = api.load(target)
    graph = api.graph_of(wf, target)
    st = os.stat(proj / "out" / "a.txt")
    made = {"out/a.txt": (st.st_mtime_ns, st.st_size), "out/b.txt": (1, 1)}  # b: as if changed since
    asked: list = []
    real = run_cmd.snapshot
    monkeypatch.setattr(run_cmd, "snapshot", lambda paths, *a, **k: real(asked.extend(paths) or paths, *a, **k))
    history = History.open(str(proj), write=True)
    try:
        assert remember_after_run(wf, target, PlanOptions(), graph, history, made=made) is True
    finally:
        history.close()
    assert "src/a.txt" in asked and "out/a.txt" not in asked and "out/b.txt" not in asked
    assert verdict.check(wf, target, PlanOptions()) is None  # out/b.txt is not as the verdict says
    assert "Nothing to do" in _run(proj, "dryrun").stdout  # and the full plan finds nothing to do


BAD_OPTIONS = [
    (dict(mem="lots"), "--mem 'lots': expected a number with a unit K, M, G or T, e.g. 16G"),
    (dict(mem="0"), "--mem '0': expected a number with a unit K, M, G or T, e.g. 16G"),
    (dict(mem="0G"), "--mem '0G': the memory pool must be more than 0"),
    (dict(mem=""), "--mem '': expected a number with a unit"),
    (dict(resources=("io=x",)), "--resources 'io=x': expected NAME=NUMBER, a number of at least 0, e.g. io=2"),
    (dict(resources=("io",)), "--resources 'io': expected NAME=NUMBER"),
    (dict(resources=("io=nan",)), "--resources 'io=nan': expected NAME=NUMBER"),
    (dict(resources=("io=inf",)), "--resources 'io=inf': expected NAME=NUMBER"),
    (dict(resources=("io=-1",)), "--resources 'io=-1': expected NAME=NUMBER"),
    (dict(resources=("io=1", "io=2")), "--resources 'io=2': io is given twice"),
    (dict(resources=("gpus=1.5",)), "--resources 'gpus=1.5': gpus is a whole number"),
    (dict(resources=("mem=4",)), "--resources 'mem=4': mem is no pool (give the memory pool with --mem, e.g. --mem 16G)"),
    (dict(retries=-1), "--retries -1: must be zero or more"),
]


@pytest.mark.parametrize("given,says", BAD_OPTIONS, ids=[str(g) for g, _ in BAD_OPTIONS])
def test_a_bad_run_option_is_refused_saying_what_is_wrong(given, says):
    with pytest.raises(RulecError) as info:
        run_options(RunArgs(**given))
    assert info.value.message.startswith(says), info.value.message


def test_good_run_options_make_the_pools():
    opts = run_options(RunArgs(cores=2, mem="2G", resources=("io=1.5", "gpus=2"), retries=3))
    assert (opts.cores, opts.mem_mb, opts.gpus, opts.custom, opts.retries) == (2, 2048, 2, (("io", 1.5),), 3)


@pytest.mark.parametrize("args", [["--mem", "lots"], ["--resources", "io=x"], ["--resources", "io"],
                                  ["--retries", "-1"], ["--mem", "0"], ["--resources", "io=nan"]])
def test_a_bad_run_option_is_refused_even_when_nothing_would_run(tmp_path, args):
    proj = _project(tmp_path)
    assert _run(proj, "run", "-q").returncode == 0
    assert "Nothing to do" in _run(proj, "run").stdout  # up to date: the verdict's fast path
    for dry in ((), ("-n",)):
        res = _run(proj, "run", *dry, *args)
        assert res.returncode == 2, res.stdout + res.stderr
        assert "Nothing to do" not in res.stdout and "Traceback" not in res.stderr
        assert res.stderr.startswith(f"{args[0]} "), res.stderr


def test_options_a_cluster_executor_cannot_honour_are_refused_naming_it():
    from rulec.backend import Backend
    from rulec.commands.run import check_executor_options

    for executor in (Backend.SLURM, Backend.LSF):  # the scheduler runs every job: no pool here bounds them
        for given, flag in ((dict(cores=4), "-j/--cores"), (dict(mem="16G"), "--mem"), (dict(resources=("io=2",)), "--resources")):
            with pytest.raises(RulecError, match=f"^{flag} is for local runs: {executor.value.upper()} jobs ask for their own"):
                check_executor_options(RunArgs(executor=executor, **given))
    for given, flag in ((dict(poll=2.0), "--poll"), (dict(bundle="b"), "--bundle")):  # jbsub -wait: no bundle, no polls
        with pytest.raises(RulecError, match=f"^{flag} is for SLURM and LSF runs: the jbsub executor writes no bundle"):
            check_executor_options(RunArgs(executor=Backend.JBSUB, **given))
    # the jbsub executor's jobs wait in this machine's job slots: its pools hold
    check_executor_options(RunArgs(executor=Backend.JBSUB, cores=4, mem="16G", resources=("io=2",), profile="p.toml"))
    check_executor_options(RunArgs(executor=Backend.LSF, poll=2.0, bundle="b", profile="p.toml"))
