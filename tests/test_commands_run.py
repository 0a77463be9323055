"""rulec/commands/run.py: what `rulec run` does around the loop (options are tested with the
executors and in e2e/test_cli_flags.py)."""

from __future__ import annotations

import os
import subprocess
import sys

from rulec import api, verdict
from rulec.commands.run import remember_after_run
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
