"""Adopting and re-attaching a dead run's bundle (rulec/executors/adopt.py) against a
scripted queue: which jobs are re-attached, recorded, forgotten, left or cancelled before the
new run plans, and what the follower reports as they end. (Through real schedulers:
tests/e2e/test_slurm.py and the LSF stand-ins, tests/test_executors_lsf.py.)"""

from __future__ import annotations

import os

import pytest

from rulec import profile as prof
from rulec.analyze import analyze
from rulec.bundle import files as bundle_mod
from rulec.bundle.arrays import layout as make_layout
from rulec.dag import resolve
from rulec.executors import adopt
from rulec.history import History
from rulec.run.executor import Finished, Outcome, Started
from rulec.syntax import parse
from helpers import SLASHED  # (a job id with a /: its markers named as its default log)

RULEFILE = '''
dimension d = ["a", "b", "c", "e"]

rule all:
    input: expand("score/{d}.txt")

rule fit:
    output: "fit/{d}.txt"
    shell: "echo {d} > {output}"

rule score:
    input: "fit/{d}.txt"
    output: "score/{d}.txt"
    shell: "cat {input} > {output}"
'''


class Queue:
    """A scheduler as adoption sees it: ``states`` maps a task (``50_1``) to PENDING,
    RUNNING, OVER or NEVER; a task not there is not shown."""

    command = "squeue"
    last_error = ""

    def __init__(self, states=None):
        self.states = dict(states or {})
        self.killed: list[str] = []

    def task_key(self, array, task):
        return f"{array}_{task}"

    def shown(self, sid, task):
        return f"{sid}_{task}"

    def state(self, rows, sid, task):
        return self.states.get(f"{sid}_{task}")

    def alive(self, where):
        return {jid for jid, (sid, task) in where.items() if self.states.get(f"{sid}_{task}") in (adopt.PENDING, adopt.RUNNING)}

    def kill(self, ids):
        self.killed.extend(ids)
        for i in ids:
            self.states.pop(i, None)
        return None


@pytest.fixture
def dead(tmp_path, monkeypatch):
    """A dead run's bundle holding the four fits (array 50), all marked started."""
    monkeypatch.chdir(tmp_path)
    wf = analyze(parse(RULEFILE, "Rulefile"), str(tmp_path))
    graph = resolve(wf, (), exists=lambda p: False)
    history = History.open(str(tmp_path), write=True)
    fits = [j for j in range(len(graph)) if graph.rule_of(j).name == "fit"]
    folder = tmp_path / ".rulec" / "slurm" / "1"
    bundle_mod.write(bundle_mod.build(graph, fits, "slurm", prof.EMPTY, str(folder), 1001))
    (folder / "jobids").write_text("fit 50\n")
    (folder / "status").mkdir()
    history.mark_started([(graph.job_id(j), "fit", graph.outputs[j]) for j in fits])
    ids = {graph.job_id(j): j for j in range(len(graph))}

    def end(d: str, code: int, output: bool = True):
        (folder / "status" / f"fit.{d}.rc").write_text(f"{code}\n")
        if output:
            (tmp_path / "fit").mkdir(exist_ok=True)
            (tmp_path / "fit" / f"{d}.txt").write_text(f"{d}\n")

    yield graph, history, folder, ids, end
    history.close()


def records(history):
    return {jid: rec[2] for jid, rec in history.records().items()}


def test_jobs_still_on_the_scheduler_are_re_attached_and_the_others_settled_as_before(dead, capsys):
    graph, history, folder, ids, end = dead
    end("a", 0)  # done while no rulec ran: recorded
    end("b", 2, output=False)  # failed: forgotten, runs again
    queue = Queue({"50_2": adopt.RUNNING, "50_3": adopt.PENDING})  # c runs, e waits
    found = adopt.reattach(str(folder.parent.parent.parent), "slurm", history, graph, queue)
    assert sorted(a.job_id for a in found.jobs.values()) == ["fit[c]", "fit[e]"]
    assert found.jobs[ids["fit[c]"]].scheduler_id == "50" and found.jobs[ids["fit[c]"]].task == 2
    assert records(history) == {"fit[a]": "ok", "fit[c]": "running", "fit[e]": "running"}
    out = capsys.readouterr().out
    assert "adopted .rulec/slurm/1 of the previous run: 1 job(s) done there recorded, 1 failed, 0 not finished" in out
    assert "re-attached 2 job(s) of .rulec/slurm/1 still on SLURM: ids 50_2 50_3" in out
    assert "waiting" not in out
    assert not (folder / "adopted").exists()  # not before the jobs it follows have ended
    assert queue.killed == []


def test_the_jobs_settled_by_their_markers_are_a_run_of_their_own_in_the_history(dead, capsys):
    graph, history, folder, ids, end = dead
    marked = history.detail("fit[a]").started
    with open(folder / "jobids", "a") as fh:
        fh.write("fit_1 51\n")  # fit[b] resubmitted once (its second attempt), as 51
    end("b", 2, output=False)  # failed
    end("a", 0)  # then done
    for d, after in (("b", 1), ("a", 2)):
        os.utime(folder / "status" / f"fit.{d}.rc", (marked + after, marked + after))
    queue = Queue({"50_2": adopt.RUNNING})  # c runs: re-attached, not in this run
    adopt.reattach(str(folder.parent.parent.parent), "slurm", history, graph, queue, quiet=True)
    (run,) = history.runs()
    assert (run.executor, run.status, run.planned, run.exit_code) == ("slurm", "adopted", 2, 0)
    assert run.finished is not None and history.run_id is None  # ended: the new run begins its own
    b, a = history.attempts()  # in the order their markers were written
    assert (a.job_id, a.outcome, a.attempt, a.place, a.why, a.command) == ("fit[a]", "adopted", 1, "50_0", None, None)
    assert a.log == bundle_mod.log_of(graph, ids["fit[a]"])
    assert (a.started, a.finished, b.finished) == (marked, marked + 2, marked + 1)
    assert (b.job_id, b.outcome, b.attempt, b.place) == ("fit[b]", "failed", 2, "51_1")
    assert b.why == "failed in the run that died (exit status 2)" and "echo b" in b.command
    assert history.failed() == {"fit[b]": "failed in the run that died (exit status 2)"}


def test_nothing_settled_is_no_run(dead):
    graph, history, folder, ids, end = dead
    queue = Queue({f"50_{t}": adopt.RUNNING for t in range(4)})
    found = adopt.reattach(str(folder.parent.parent.parent), "slurm", history, graph, queue, quiet=True)
    assert len(found.jobs) == 4 and history.runs() == []


def test_a_re_attached_job_whose_command_changed_is_cancelled_and_keeps_its_mark(dead, tmp_path, capsys):
    graph, history, folder, ids, end = dead
    wf = analyze(parse(RULEFILE.replace("echo {d} >", "echo new {d} >"), "Rulefile"), str(tmp_path))
    graph = resolve(wf, (), exists=lambda p: False)
    queue = Queue({"50_0": adopt.RUNNING})
    found = adopt.reattach(str(tmp_path), "slurm", history, graph, queue)
    assert found.jobs == {}
    assert queue.killed == ["50_0"]
    assert records(history)["fit[a]"] == "running"  # incomplete: the plan runs it again
    out = capsys.readouterr().out
    assert "not re-attached: fit[a] (its command in the Rulefile changed): cancelled 50_0; it runs again" in out
    assert (folder / "adopted").read_text().startswith("left fit[a]\n")


def test_a_packed_bundle_is_waited_for_as_before(dead, tmp_path, capsys, monkeypatch):
    graph, history, folder, ids, end = dead
    import json

    manifest = json.loads((folder / bundle_mod.MANIFEST).read_text())
    for i, e in enumerate(manifest["jobs"].values()):
        e["line"] = e["task"]
    (folder / bundle_mod.MANIFEST).write_text(json.dumps(manifest))
    queue = Queue({"50_0": adopt.RUNNING})

    def sleep(s):
        end("a", 0)
        queue.states.clear()

    found = adopt.reattach(str(tmp_path), "slurm", history, graph, queue, sleep=sleep)
    assert found.jobs == {}
    out = capsys.readouterr().out
    assert "waiting for 1 job(s) of the previous run still on SLURM: ids 50_0" in out
    assert records(history)["fit[a]"] == "ok"


def test_the_follower_reports_starts_and_ends_as_the_markers_say(dead, tmp_path):
    graph, history, folder, ids, end = dead
    queue = Queue({f"50_{t}": adopt.RUNNING for t in range(4)})
    found = adopt.reattach(str(tmp_path), "slurm", history, graph, queue, quiet=True)
    plan = [ids[f"fit[{d}]"] for d in "abce"] + [ids[f"score[{d}]"] for d in "abce"]
    follow = adopt.Follower(found, queue, graph, plan)
    assert follow.ids() == ["50"] and len(follow) == 4
    assert [type(e) for e in follow.update([])] == [Started] * 4
    end("a", 0)
    end("b", 0, output=False)  # exit 0 without its output
    end("c", 3)
    for t in range(3):
        queue.states[f"50_{t}"] = adopt.OVER
    del queue.states["50_3"]  # gone without a marker
    events = follow.update([])
    assert [(graph.job_id(e.job), e.outcome) for e in events] == [
        ("fit[a]", Outcome.OK), ("fit[b]", Outcome.MISSING_OUTPUT), ("fit[c]", Outcome.EXIT)]
    assert events[2].exit_code == 3 and events[2].notes == ("re-attached from .rulec/slurm/1, 50_2",)
    assert follow.update([]) == []  # fit[e]: not shown twice more before it is lost
    (lost,) = follow.update([])
    assert lost.outcome is Outcome.LOST and "without a status marker" in lost.state
    assert len(follow) == 0
    assert (folder / "adopted").read_text() == "".join(f"followed fit[{d}]\n" for d in "abce")


def test_the_follower_cancels_what_the_loop_cancels_and_waits_a_poll_for_an_upstream_failure(dead, tmp_path):
    graph, history, folder, ids, end = dead
    queue = Queue({"50_0": adopt.RUNNING, "50_1": adopt.RUNNING})
    found = adopt.reattach(str(tmp_path), "slurm", history, graph, queue, quiet=True)
    follow = adopt.Follower(found, queue, graph, [ids["fit[a]"], ids["fit[b]"]])
    assert follow.cancel([ids["fit[b]"], ids["score[a]"]]) == [ids["fit[b]"]]
    assert queue.killed == ["50_1"] and len(follow) == 1
    assert follow.task_ids() == ["50_0"]


def test_held_arrays_are_those_that_need_a_re_attached_job_or_a_held_array(dead):
    graph, history, folder, ids, end = dead
    from rulec.bundle.settings import Settings

    run = [ids["fit[a]"], ids["score[a]"], ids["score[b]"]]
    lay = make_layout(graph, run, lambda rule: Settings(), 1001)
    names = {a.index: a.name for a in lay.arrays}
    assert [names[a] for a in adopt.held_arrays(lay, graph, {ids["fit[b]"]})] == ["score"]
    assert adopt.held_arrays(lay, graph, set()) == []


def test_outdated_re_attached_jobs_are_those_after_a_job_that_runs_again(dead, tmp_path):
    graph, history, folder, ids, end = dead
    found = adopt.Reattached("slurm", {ids["score[a]"]: None, ids["fit[b]"]: None})

    class Plan:
        run = [ids["fit[a]"], ids["score[a]"], ids["fit[b]"], ids["score[b]"]]

    assert found.outdated(Plan, graph) == [ids["score[a]"]]  # fit[a] runs again; fit[b] is re-attached itself


@pytest.mark.parametrize("damage, why", [
    (lambda m: m.update(arrays=5), "arrays is not a list"),
    (lambda m: m.update(arrays=[{"name": 5}]), "an entry of arrays is not an array with a name"),
    (lambda m: m["jobs"]["fit[a]"].pop("task"), "job fit[a] has no task"),
    (lambda m: m["jobs"]["fit[a]"].update(task="0"), "job fit[a] has no task"),
    (lambda m: m["jobs"]["fit[a]"].update(task=True), "job fit[a] has no task"),
    (lambda m: m["jobs"]["fit[a]"].update(line=-1), "job fit[a] has no line"),
    (lambda m: m["jobs"].update({"fit[a]": "x"}), "job fit[a] is not a table"),
    (lambda m: m["jobs"]["fit[a]"].pop("array"), "job fit[a] names no array of the bundle"),
    (lambda m: m["jobs"]["fit[a]"].update(array="other"), "job fit[a] names no array of the bundle"),
])
def test_a_damaged_manifest_is_skipped_with_a_warning_naming_it(dead, capsys, damage, why):
    """A dead run's bundle whose manifest.json is not of the shape rulec writes: that bundle is
    not adopted (one warning line), its jobs keep their marks and run again; never a traceback."""
    import json

    graph, history, folder, ids, end = dead
    end("a", 0)
    manifest = json.loads((folder / "manifest.json").read_text())
    damage(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    queue = Queue({"50_1": adopt.RUNNING})
    workdir = str(folder.parent.parent.parent)

    def sleep(seconds):
        raise AssertionError("waited for a job of a damaged bundle")

    assert adopt.reattach(workdir, "slurm", history, graph, queue, sleep=sleep).jobs == {}
    assert adopt.adopt(workdir, "slurm", history, graph, queue, sleep=sleep) == {"recorded": [], "forgotten": [], "left": []}
    lines = capsys.readouterr().err.splitlines(keepends=True)
    assert len(lines) == 2  # one line each time
    for err in lines:
        assert err.startswith(f"warning: .rulec/slurm/1/manifest.json is damaged ({why}")
        assert err.endswith("): not adopting that bundle; its jobs still marked started run again\n")
    assert set(records(history).values()) == {"running"}  # not settled: the plan runs them again
    assert not (folder / "adopted").exists() and queue.killed == []


def test_a_job_that_failed_in_the_dead_run_is_kept_as_failed_with_its_log(dead, capsys):
    """Marker non-zero: failed there, as a local failure is (``rulec status -v`` says failed
    with the reason and the log), not merely forgotten; marker 256: exit 0 without its
    output, in a local run's words."""
    graph, history, folder, ids, end = dead
    end("a", 0)
    end("b", 2, output=False)
    end("c", bundle_mod.MISSING_OUTPUT, output=False)
    adopt.reattach(str(folder.parent.parent.parent), "slurm", history, graph, Queue(), quiet=True)
    assert history.failures() == {
        "fit[b]": ("failed in the run that died (exit status 2)", bundle_mod.log_of(graph, ids["fit[b]"])),
        "fit[c]": ("failed in the run that died (exited 0 but did not create every declared output)",
                   bundle_mod.log_of(graph, ids["fit[c]"])),
    }
    assert records(history) == {"fit[a]": "ok", "fit[e]": "running"}  # e: no marker, incomplete
    assert history.failed()["fit[c]"] == "failed in the run that died (exited 0 but did not create every declared output)"




def test_a_dead_packed_run_is_settled_by_the_markers_its_task_wrote_for_ids_with_a_slash(tmp_path, monkeypatch):
    """The markers a packed task writes (make.sub%2Fx.rc, run here with bash as SLURM would)
    are the ones adoption reads: make[sub/x] is recorded, make[a] kept as failed."""
    import subprocess

    from rulec import ir

    monkeypatch.chdir(tmp_path)
    (tmp_path / "Rulefile").write_text(SLASHED)
    graph = resolve(analyze(parse(SLASHED, "Rulefile"), str(tmp_path)), (), exists=lambda p: False)
    history = History.open(str(tmp_path), write=True)
    try:
        jobs = [j for j in range(len(graph)) if graph.rule_of(j).name == "make"]
        folder = tmp_path / ".rulec" / "slurm" / "1"
        bundle_mod.write(bundle_mod.build(graph, jobs, "slurm", prof.EMPTY, str(folder), 1001, pack=ir.Pack(jobs=3)))
        (folder / "jobids").write_text("make 50\n")
        history.mark_started([(graph.job_id(j), "make", graph.outputs[j]) for j in jobs])
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
        res = subprocess.run(["bash", "make.sbatch"], cwd=folder, env={**env, "SLURM_ARRAY_TASK_ID": "0"},
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 1, res.stdout + res.stderr
        done = adopt.reattach(str(tmp_path), "slurm", history, graph, Queue(), quiet=True)
        assert done.jobs == {}
        assert records(history) == {"make[b]": "ok", "make[sub/x]": "ok"}
        assert history.failures()["make[a]"][0] == "failed in the run that died (exit status 3)"
        assert "recorded make[sub/x]" in (folder / "adopted").read_text()
    finally:
        history.close()
