"""The one run loop (rulec/run/loop.py) against a scripted executor, no processes (ninja's
FakeCommandRunner is the model). What a user relies on when jobs end — records, skipped
dependents, --keep-going, Ctrl-C, the summary — is tested here once, for pull executors
(local, prefix, jbsub) and push executors (SLURM, LSF) alike. The real executors have their
own end-to-end tests (tests/e2e/)."""

from __future__ import annotations

import os
import sys

import pytest

from rulec.analyze import analyze
from rulec.dag import resolve
from rulec.history import History
from rulec.plan import plan as make_plan
from rulec.run.executor import Finished, Outcome, Started
from rulec.errors import RulecError
from rulec.run.loop import Loop, RunOptions
from rulec.state import Snapshot
from rulec.syntax import parse

from helpers import SMALL

ALL = ["prepare[d0]", "prepare[d1]", "fit[d0,m0]", "fit[d0,m1]", "fit[d1,m0]", "fit[d1,m1]", "summarize[m0]", "summarize[m1]"]


class FakeExecutor:
    """Finishes jobs one per ``wait``, oldest first, with the outcome ``script`` gives its
    job id (default OK). A pull fake runs what it is handed; a push fake gets every task in
    ``open`` and runs a job once all its dependencies finished OK (as SLURM's afterok does),
    until the loop cancels it. ``interrupt_at``: the ``wait`` call (1-based) that raises
    KeyboardInterrupt. ``alive``: jobs that ``stop`` cannot stop (an unreachable cluster)."""

    name = "fake"

    def __init__(self, graph, script=None, push=False, interrupt_at=None, alive=(), workdir=None):
        self.graph = graph
        self.push = push
        self.stages_files = workdir is not None
        self.workdir = workdir
        self.script = script or {}
        self.interrupt_at = interrupt_at
        self.alive_ids = set(alive)
        self.waits = 0
        self.running_: list[int] = []
        self.pending: list[int] = []  # push: submitted, not started
        self.deps: dict = {}
        self.ok: set[int] = set()
        self.log: list[tuple] = []
        self.closed = False
        self.tasks: dict = {}  # job -> the Task last handed over (its attempt, its command)

    def _id(self, job):
        return self.graph.job_id(job)

    def open(self, tasks, deps):
        self.log.append(("open", [t.job_id for t in tasks]))
        self.tasks.update((t.job, t) for t in tasks)
        self.deps = deps
        self.pending = [t.job for t in tasks]
        return []

    def start(self, tasks):
        self.log.append(("start", [t.job_id for t in tasks]))
        self.tasks.update((t.job, t) for t in tasks)
        self.running_ += [t.job for t in tasks]
        return [Started(t.job) for t in tasks]

    def _promote(self):
        events = []
        for job in list(self.pending):
            if all(d in self.ok for d in self.deps.get(job, ()) if d in self.deps):
                self.pending.remove(job)
                self.running_.append(job)
                events.append(Started(job, where=f"slurm:{job}"))
        return events

    def wait(self):
        self.waits += 1
        if self.interrupt_at == self.waits:
            raise KeyboardInterrupt
        events = self._promote() if self.push else []
        if not self.running_:
            return events
        job = self.running_.pop(0)
        outcome = self.script.get(self._id(job), Outcome.OK)
        if isinstance(outcome, list):  # one outcome per attempt
            outcome = outcome[self.tasks[job].attempt - 1] if job in self.tasks else outcome[0]
        if outcome is Outcome.OK:
            self.ok.add(job)
            if self.workdir is not None:
                for path in self.graph.outputs[job]:
                    full = os.path.join(self.workdir, path)
                    os.makedirs(os.path.dirname(full), exist_ok=True)
                    with open(full, "w") as fh:
                        fh.write("made\n")
        kind = {Outcome.EXIT: dict(exit_code=3), Outcome.SIGNAL: dict(signal=9),
                Outcome.TIMEOUT: dict(state="TIMEOUT"), Outcome.LOST: dict(state="not in squeue, sacct or scontrol")}
        events.append(Finished(job, outcome, **kind.get(outcome, {})))
        self.log.append(("finished", self._id(job), outcome))
        return events

    def running(self):
        return len(self.running_) + len(self.pending)

    def running_jobs(self):
        return list(self.running_)

    def cancel(self, jobs):
        self.log.append(("cancel", sorted(self._id(j) for j in jobs)))
        self.pending = [j for j in self.pending if j not in jobs]
        return []

    def stop(self, grace):
        self.log.append(("stop",))
        alive = [j for j in self.running_ if self._id(j) in self.alive_ids]
        stopped = [j for j in self.running_ if j not in alive]
        self.running_ = alive
        self.pending = []
        return [Finished(j, Outcome.SIGNAL, signal=15) for j in stopped], alive

    def close(self):
        self.closed = True


class ResubmittingFake(FakeExecutor):
    """A push fake that can take a failed task again (``resubmit``), as SLURM/LSF will."""

    def resubmit(self, tasks):
        self.log.append(("resubmit", [(t.job_id, t.attempt) for t in tasks]))
        self.tasks.update((t.job, t) for t in tasks)
        self.pending += [t.job for t in tasks]
        return []


@pytest.fixture
def setup(tmp_path):
    def make(keep_going=False, cores=1, retries=0, fake_class=None, **fake):
        wf = analyze(parse(SMALL, "Rulefile"), str(tmp_path))
        graph = resolve(wf, (), exists=lambda p: p == "src/data.csv")
        (tmp_path / "src").mkdir(exist_ok=True)
        (tmp_path / "src" / "data.csv").write_text("data\n")
        history = History.open(str(tmp_path), write=True)
        plan = make_plan(graph, Snapshot({"src/data.csv": (1, 5)}), history)
        executor = (fake_class or FakeExecutor)(graph, **fake)
        loop = Loop(graph, plan, history, RunOptions(cores, None, keep_going=keep_going, quiet=True, retries=retries), executor)
        return loop, executor, history

    return make


def recorded(history):
    return sorted(jid for jid, rec in history.records().items() if rec[2] == "ok")


@pytest.mark.parametrize("push", [False, True], ids=["pull", "push"])
def test_everything_succeeds(setup, push, capsys):
    loop, fake, history = setup(push=push)
    assert loop.run() == 0
    assert recorded(history) == sorted(ALL)
    assert fake.closed
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("push", [False, True], ids=["pull", "push"])
def test_a_failure_without_keep_going_starts_nothing_more_and_skips_its_dependents(setup, push, capsys):
    loop, fake, history = setup(push=push, script={"fit[d0,m0]": Outcome.EXIT})
    assert loop.run() == 1
    err = capsys.readouterr().err
    assert "fit[d0,m0]: exit status 3" in err
    assert "summarize[m0]" not in recorded(history)
    assert "fit[d0,m0]" not in history.records()  # a failed job has no record: it reruns
    finished = [e[1] for e in fake.log if e[0] == "finished"]
    after = finished[finished.index("fit[d0,m0]") + 1:]
    if push:
        (cancelled,) = [e[1] for e in fake.log if e[0] == "cancel"]
        assert "summarize[m0]" in cancelled and set(after).isdisjoint(cancelled)
    else:
        assert after == []  # -j1: nothing else was running; nothing new started
    # the same summary words and counts, whatever the executor
    assert f"1 job(s) failed, {len(recorded(history))} succeeded" in err


@pytest.mark.parametrize("push", [False, True], ids=["pull", "push"])
def test_keep_going_runs_every_independent_job(setup, push, capsys):
    loop, fake, history = setup(push=push, keep_going=True, script={"fit[d0,m0]": Outcome.EXIT})
    assert loop.run() == 1
    assert recorded(history) == sorted(set(ALL) - {"fit[d0,m0]", "summarize[m0]"})
    err = capsys.readouterr().err
    assert "1 job(s) failed, 6 succeeded, 1 not run" in err
    if push:
        assert ("cancel", ["summarize[m0]"]) in fake.log  # only its dependent


@pytest.mark.parametrize("outcome, words", [
    (Outcome.SIGNAL, "killed by signal SIGKILL"),
    (Outcome.TIMEOUT, "TIMEOUT"),
    (Outcome.LEFT_RUNNING, "exited 0 but left processes running"),
    (Outcome.LOST, "lost: not in squeue, sacct or scontrol"),
])
def test_outcomes_are_put_into_words_by_the_report_layer(setup, outcome, words, capsys):
    loop, fake, history = setup(script={"prepare[d0]": outcome})
    assert loop.run() == 1
    assert f"prepare[d0]: {words}" in capsys.readouterr().err


def test_a_pull_executor_in_the_working_folder_gets_its_outputs_checked(setup, tmp_path, capsys):
    loop, fake, history = setup(workdir=str(tmp_path))
    assert loop.run() == 0
    assert (tmp_path / "bld" / "summary" / "m1.csv").exists()
    # exit 0 without the output: a failure, whatever the executor said
    (tmp_path / "bld" / "fit" / "d1_m1.json").unlink()
    loop, fake, history = setup(workdir=str(tmp_path), script={})
    fake.wait_orig = fake.wait

    def no_output():
        events = fake.wait_orig()
        for e in events:
            if isinstance(e, Finished) and fake._id(e.job) == "fit[d1,m1]":
                os.unlink(tmp_path / "bld" / "fit" / "d1_m1.json")
        return events

    fake.wait = no_output
    assert loop.run() == 1
    assert "fit[d1,m1]: exited 0 but did not create bld/fit/d1_m1.json" in capsys.readouterr().err


@pytest.mark.parametrize("push", [False, True], ids=["pull", "push"])
def test_ctrl_c_stops_the_running_jobs_keeps_what_finished_and_records_nothing_else(setup, push, capsys):
    loop, fake, history = setup(push=push, cores=2, interrupt_at=3)
    assert loop.run() == 130
    assert ("stop",) in fake.log and fake.closed
    done = [e[1] for e in fake.log if e[0] == "finished"]
    assert recorded(history) == sorted(done)
    assert set(history.records()) == set(done)  # no started mark is left claiming anything
    assert "interrupted: stopped" in capsys.readouterr().err


def test_an_interrupt_that_cannot_stop_a_job_says_so_and_leaves_it_alone(setup, tmp_path, capsys):
    loop, fake, history = setup(push=True, interrupt_at=2, alive={"prepare[d1]"})
    assert loop.run() == 130
    err = capsys.readouterr().err
    assert "1 job(s) may still be running" in err and "prepare[d1]" in err
    assert history.records()["prepare[d1]"][2] != "ok"  # marked started: incomplete, never done


# --------------------------------------------------------------------------- retries

def fake_for(push):
    return dict(push=push, fake_class=ResubmittingFake if push else FakeExecutor)


@pytest.mark.parametrize("push", [False, True], ids=["pull", "push"])
def test_a_job_failing_once_succeeds_on_its_second_attempt(setup, push, capsys):
    loop, fake, history = setup(retries=2, script={"fit[d0,m0]": [Outcome.EXIT, Outcome.OK]}, **fake_for(push))
    assert loop.run() == 0
    assert recorded(history) == sorted(ALL)
    task = next(t for t in fake.tasks.values() if t.job_id == "fit[d0,m0]")
    assert task.attempt == 2
    finished = [e[1:] for e in fake.log if e[0] == "finished" and e[1] == "fit[d0,m0]"]
    assert finished == [("fit[d0,m0]", Outcome.EXIT), ("fit[d0,m0]", Outcome.OK)]
    if push:
        assert ("resubmit", [("fit[d0,m0]", 2)]) in fake.log
    else:
        starts = [e[1] for e in fake.log if e[0] == "start"]
        assert sum(ids.count("fit[d0,m0]") for ids in starts) == 2
    assert history.detail("fit[d0,m0]").attempts == 2 and history.detail("fit[d0,m1]").attempts == 1
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("push", [False, True], ids=["pull", "push"])
def test_retries_exhausted_is_a_failure_and_its_dependents_are_skipped(setup, push, capsys):
    loop, fake, history = setup(retries=1, script={"fit[d0,m0]": [Outcome.EXIT, Outcome.EXIT]}, **fake_for(push))
    assert loop.run() == 1
    err = capsys.readouterr().err
    assert "fit[d0,m0]: exit status 3 (attempt 2 of 2)" in err
    assert "fit[d0,m0]" not in history.records() and "summarize[m0]" not in recorded(history)
    assert [e[1] for e in fake.log if e[0] == "finished"].count("fit[d0,m0]") == 2


@pytest.mark.parametrize("push", [False, True], ids=["pull", "push"])
def test_keep_going_with_retries(setup, push, capsys):
    loop, fake, history = setup(retries=1, keep_going=True, script={
        "fit[d0,m0]": [Outcome.EXIT, Outcome.EXIT],  # fails for good
        "fit[d1,m1]": [Outcome.SIGNAL, Outcome.OK],  # once
    }, **fake_for(push))
    assert loop.run() == 1
    assert recorded(history) == sorted(set(ALL) - {"fit[d0,m0]", "summarize[m0]"})
    assert "1 job(s) failed, 6 succeeded, 1 not run" in capsys.readouterr().err


def test_a_rules_own_retries_win_over_the_command_line(setup, capsys):
    loop, fake, history = setup(retries=5, script={"prepare[d0]": [Outcome.EXIT] * 6})
    object.__setattr__(loop.graph.workflow.rule("prepare"), "retries", 0)
    assert loop.run() == 1
    assert [e[1] for e in fake.log if e[0] == "finished"].count("prepare[d0]") == 1


def test_the_retry_line_goes_through_the_progress_sink(setup, capsys):
    loop, fake, history = setup(retries=1, script={"prepare[d0]": [Outcome.EXIT, Outcome.OK]})
    loop.opts = RunOptions(1, None, quiet=False, retries=1)
    assert loop.run() == 0
    out = capsys.readouterr().out
    assert "retrying prepare[d0] (attempt 2 of 2): exit status 3" in out
    assert "prepare[d0] succeeded on attempt 2" in out


# --------------------------------------------------------------------------- run history

@pytest.mark.parametrize("push", [False, True], ids=["pull", "push"])
def test_every_attempt_goes_into_the_run_history_with_where_it_ran(setup, push, capsys):
    loop, fake, history = setup(retries=1, keep_going=True, script={
        "fit[d0,m0]": [Outcome.EXIT, Outcome.EXIT],  # fails twice: for good
        "fit[d1,m1]": [Outcome.SIGNAL, Outcome.OK],  # fails once
    }, **fake_for(push))
    assert loop.run() == 1
    (run,) = history.runs()
    assert (run.executor, run.planned, run.status, run.exit_code) == ("fake", 8, "failed", 1)
    assert run.command == " ".join(sys.argv)
    rows = history.attempts()
    by_job: dict = {}
    for a in rows:
        by_job.setdefault(a.job_id, []).append((a.attempt, a.outcome))
    assert by_job["fit[d0,m0]"] == [(1, "failed"), (2, "failed")]
    assert by_job["fit[d1,m1]"] == [(1, "failed"), (2, "ok")]
    assert "summarize[m0]" not in by_job  # skipped: never ran
    assert all(by_job[j] == [(1, "ok")] for j in ALL if j not in ("fit[d0,m0]", "fit[d1,m1]", "summarize[m0]"))
    failed = [a for a in rows if a.outcome == "failed"]
    assert {a.why for a in failed if a.job_id == "fit[d0,m0]"} == {"exit status 3", "exit status 3 (attempt 2 of 2)"}
    assert all(a.command and "fit" in a.command for a in failed)  # what the failed attempt ran
    assert all(a.started is not None and a.finished >= a.started for a in rows)
    if push:
        graph = loop.graph
        assert all(a.place == f"slurm:{next(j for j in graph.order if graph.job_id(j) == a.job_id)}" for a in rows)
    else:
        assert all(a.place is None for a in rows)  # this fake says nothing of where
    assert history.failed() == {"fit[d0,m0]": "exit status 3 (attempt 2 of 2)"}


def test_an_interrupted_run_notes_its_stopped_jobs(setup, capsys):
    loop, fake, history = setup(cores=2, interrupt_at=3)
    assert loop.run() == 130
    (run,) = history.runs()
    assert run.status == "interrupted" and run.exit_code == 130
    outcomes = {a.job_id: a.outcome for a in history.attempts()}
    done = [e[1] for e in fake.log if e[0] == "finished"]
    assert {j for j, o in outcomes.items() if o == "ok"} == set(done)
    assert "interrupted" in outcomes.values()


def test_a_push_executor_without_resubmit_refuses_retries(setup):
    loop, fake, history = setup(retries=1, push=True)
    with pytest.raises(RulecError, match="cannot resubmit"):
        loop.run()
    assert not any(e[0] == "open" for e in fake.log) and fake.closed


def test_a_job_the_cluster_never_started_for_an_upstream_failure_is_skipped_not_failed(setup, capsys):
    """SLURM's afterok on a whole array (or LSF's done(ID) with -ti) ends a job whose own
    inputs were fine because another element upstream failed: it did not fail, it was not run."""
    loop, fake, history = setup(push=True, keep_going=True,
                                script={"fit[d0,m0]": Outcome.EXIT, "summarize[m1]": Outcome.NOT_STARTED})
    assert loop.run() == 1
    err = capsys.readouterr().err
    assert "1 job(s) failed, 5 succeeded, 2 not run" in err
    assert "summarize[m1]:" not in err  # not listed among the failures
    assert "summarize[m1]" not in history.records()
