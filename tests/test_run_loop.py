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
from rulec.run.executor import Dequeued, Finished, Outcome, Started
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
    def make(keep_going=False, cores=1, retries=0, fake_class=None, reattached=(), **fake):
        wf = analyze(parse(SMALL, "Rulefile"), str(tmp_path))
        graph = resolve(wf, (), exists=lambda p: p == "src/data.csv")
        (tmp_path / "src").mkdir(exist_ok=True)
        (tmp_path / "src" / "data.csv").write_text("data\n")
        history = History.open(str(tmp_path), write=True)
        plan = make_plan(graph, Snapshot({"src/data.csv": (1, 5)}), history)
        executor = (fake_class or FakeExecutor)(graph, **fake)
        attached = None
        if reattached:  # jobs a dead run started, marked as it left them, followed by this run
            ids = {graph.job_id(j): j for j in plan.run}
            history.mark_started([(jid, graph.rule_of(ids[jid]).name, graph.outputs[ids[jid]]) for jid in reattached])
            attached = {ids[jid]: history.detail(jid).started - 100 for jid in reattached}
        loop = Loop(graph, plan, history, RunOptions(cores, None, keep_going=keep_going, quiet=True, retries=retries), executor,
                    attached=attached)
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
def test_job_ids_made_once_are_given_back_when_their_jobs_end(setup, push, capsys):
    # (kept from a job's mark to its end: a run of a million jobs must not hold them all)
    loop, fake, history = setup(retries=1, keep_going=True, script={
        "fit[d0,m0]": [Outcome.EXIT, Outcome.EXIT], "fit[d1,m1]": [Outcome.EXIT, Outcome.OK]}, **fake_for(push))
    assert loop.run() == 1
    assert loop.ids == {}
    assert history.detail("fit[d1,m1]").attempts == 2
    tried = sorted((a.job_id, a.attempt, a.outcome) for a in history.attempts() if a.job_id in ("fit[d0,m0]", "fit[d1,m1]"))
    assert tried == [("fit[d0,m0]", 1, "failed"), ("fit[d0,m0]", 2, "failed"), ("fit[d1,m1]", 1, "failed"), ("fit[d1,m1]", 2, "ok")]


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


def _outputs_of(graph, workdir):
    for job in graph.order:
        for path in graph.declared_outputs(job):
            full = os.path.join(workdir, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w") as fh:
                fh.write("made by hand\n")


def test_touch_is_a_run_of_its_own_with_one_touched_attempt_a_job(setup, tmp_path, capsys):
    import time

    from rulec.run.loop import touch

    loop, fake, history = setup()
    _outputs_of(loop.graph, str(tmp_path))
    before = time.time()
    assert touch(loop.graph, loop.plan, history, quiet=True) == 0
    assert capsys.readouterr().out == "Touched 8 job(s).\n"
    (run,) = history.runs()
    assert (run.executor, run.planned, run.status, run.exit_code, run.command) == ("touch", 8, "ok", 0, " ".join(sys.argv))
    assert before <= run.started <= run.finished
    rows = history.attempts()
    assert sorted(a.job_id for a in rows) == sorted(ALL) == recorded(history)
    assert [a.job_id for a in rows] == [loop.graph.job_id(j) for j in loop.plan.run]  # in the order they were touched
    for a in rows:
        assert (a.attempt, a.outcome, a.place, a.why, a.command, a.log, a.tail) == (1, "touched", None, None, None, None, None)
        assert run.started <= a.started == a.finished <= run.finished
    assert history.failed() == {} and fake.log == []  # nothing ran


def test_a_touch_that_fails_on_a_missing_output_records_no_run(setup, tmp_path):
    from rulec.run.loop import touch

    loop, fake, history = setup()
    with pytest.raises(RulecError, match="does not exist"):
        touch(loop.graph, loop.plan, history, quiet=True)
    assert history.runs() == [] and history.attempts() == [] and recorded(history) == []


def test_a_touch_with_nothing_to_touch_records_no_run(setup, capsys):
    from rulec.plan import Plan
    from rulec.run.loop import touch

    loop, fake, history = setup()
    assert touch(loop.graph, Plan(loop.graph, [], {}), history, quiet=True) == 0
    assert capsys.readouterr().out == "Touched 0 job(s).\n"
    assert history.runs() == [] and history.attempts() == []


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


# --------------------------------------------------------------------------- output kinds

KINDS = '''
dimension dataset = ["d0", "d1"]

rule all:
    input: expand("bld/fit/{dataset}.json"), "bld/done.flag"

rule prepare:
    output: temp("bld/tmp/{dataset}.csv")
    shell:  "make {output}"

rule fit:
    input:  "bld/tmp/{dataset}.csv"
    output: "bld/fit/{dataset}.json"
    shell:  "make {output}"

rule model:
    input:  expand("bld/fit/{dataset}.json")
    output: protected("bld/model.pkl"), touch("bld/done.flag")
    shell:  "make {output}"
'''


class KindsFake(FakeExecutor):
    """Writes a job's outputs except its touch() markers (rulec's to make), and notes which
    temp files exist when each job finishes. ``stages`` False: a push executor's job scripts
    check outputs themselves (the loop does not)."""

    def __init__(self, graph, workdir, stages=True, **kw):
        super().__init__(graph, workdir=workdir, **kw)
        self.stages_files = stages
        self.seen: dict[str, list[str]] = {}

    def wait(self):
        for job in self.running_[:1]:
            self.seen[self._id(job)] = sorted(p for p in ("bld/tmp/d0.csv", "bld/tmp/d1.csv")
                                             if os.path.exists(os.path.join(self.workdir, p)))
        events = super().wait()
        for e in events:
            if isinstance(e, Finished) and e.outcome is Outcome.OK and self._id(e.job) == "model":
                os.unlink(os.path.join(self.workdir, "bld/done.flag"))
        return events


@pytest.fixture
def kinds_setup(tmp_path):
    def make(targets=(), keep_temp=False, stages=True, text=KINDS, **fake):
        wf = analyze(parse(text, "Rulefile"), str(tmp_path))
        graph = resolve(wf, targets)
        history = History.open(str(tmp_path), write=True)
        plan = make_plan(graph, Snapshot({}), history)
        executor = KindsFake(graph, str(tmp_path), stages=stages, **fake)
        loop = Loop(graph, plan, history, RunOptions(1, None, quiet=True, keep_temp=keep_temp), executor)
        return loop, executor, history

    return make


@pytest.mark.parametrize("push", [False, True], ids=["pull", "push"])
def test_a_temp_output_is_deleted_once_its_last_reader_has_succeeded(kinds_setup, tmp_path, push):
    loop, fake, history = kinds_setup(push=push, stages=not push)
    assert loop.run() == 0
    # each fit finished while its own temp input was there; nothing is left of them after
    assert "bld/tmp/d0.csv" in fake.seen["fit[d0]"] and "bld/tmp/d1.csv" in fake.seen["fit[d1]"]
    assert not (tmp_path / "bld/tmp/d0.csv").exists() and not (tmp_path / "bld/tmp/d1.csv").exists()
    assert loop.temp_deleted == 2
    assert recorded(history) == ["fit[d0]", "fit[d1]", "model", "prepare[d0]", "prepare[d1]"]


def test_keep_temp_and_requested_temp_outputs_are_not_deleted(kinds_setup, tmp_path):
    loop, fake, history = kinds_setup(keep_temp=True)
    assert loop.run() == 0
    assert (tmp_path / "bld/tmp/d0.csv").exists() and loop.temp_deleted == 0
    for p in ("bld/tmp/d0.csv", "bld/tmp/d1.csv"):
        os.unlink(tmp_path / p)
    loop, fake, history = kinds_setup(targets=("bld/tmp/d0.csv", "fit[d1]"))
    assert loop.run() == 0
    # the path target stays; prepare[d1] is no target (fit[d1] is): its output goes
    assert (tmp_path / "bld/tmp/d0.csv").exists() and not (tmp_path / "bld/tmp/d1.csv").exists()


def test_a_temp_output_stays_while_a_reader_has_not_succeeded(kinds_setup, tmp_path, capsys):
    loop, fake, history = kinds_setup(script={"fit[d1]": Outcome.EXIT})
    assert loop.run() == 1
    assert not (tmp_path / "bld/tmp/d0.csv").exists()
    assert (tmp_path / "bld/tmp/d1.csv").exists()  # the next run needs it for fit[d1]


def test_touch_markers_are_made_and_protected_outputs_made_read_only_after_success(kinds_setup, tmp_path):
    loop, fake, history = kinds_setup()
    assert loop.run() == 0
    assert (tmp_path / "bld/done.flag").exists()  # the command did not make it
    assert not os.stat(tmp_path / "bld/model.pkl").st_mode & 0o222
    assert "model" in recorded(history)


def test_a_failed_job_gets_no_touch_marker(kinds_setup, tmp_path, capsys):
    loop, fake, history = kinds_setup(script={"model": Outcome.EXIT})
    assert loop.run() == 1
    assert not (tmp_path / "bld/done.flag").exists() and not (tmp_path / "bld/model.pkl").exists()


# --------------------------------------------------------------------------- local: true under a push executor

PHASES = '''
dimension dataset = ["d0", "d1"]

rule all:
    input: "bld/report.txt"

rule fit:
    output: "bld/fit/{dataset}.txt"
    shell:  "make {output}"

rule summarize:
    input:  expand("bld/fit/{dataset}.txt")
    output: "bld/summary.txt"
    local:  true
    shell:  "make {output}"

rule report:
    input:  "bld/summary.txt"
    output: "bld/report.txt"
    shell:  "make {output}"
'''


class FakeWaves:
    """Waves of push fakes (what executors.make_waves gives the loop), all logged in one list."""

    name = "fake-cluster"

    def __init__(self, graph, log, script):
        self.graph, self.log, self.script = graph, log, script
        self.made: list[FakeExecutor] = []

    def make(self, plan):
        fake = FakeExecutor(self.graph, script=self.script, push=True)
        fake.log = self.log
        self.made.append(fake)
        return fake


@pytest.fixture
def phases_setup(tmp_path):
    def make(script=None, keep_going=False):
        wf = analyze(parse(PHASES, "Rulefile"), str(tmp_path))
        graph = resolve(wf, ())
        history = History.open(str(tmp_path), write=True)
        plan = make_plan(graph, Snapshot({}), history)
        local = FakeExecutor(graph, script=script)
        waves = FakeWaves(graph, local.log, script or {})
        loop = Loop(graph, plan, history, RunOptions(2, None, quiet=True, keep_going=keep_going), local, waves=waves)
        return loop, local, waves, history

    return make


def test_a_cluster_run_with_a_local_job_runs_it_here_between_two_submissions(phases_setup, capsys):
    loop, local, waves, history = phases_setup()
    assert loop.run() == 0
    steps = [(e[0], e[1]) for e in local.log if e[0] in ("open", "start")]
    assert steps == [("open", ["fit[d0]", "fit[d1]"]), ("start", ["summarize"]), ("open", ["report"])]
    assert all(w.closed for w in waves.made) and local.closed and len(waves.made) == 2
    assert recorded(history) == ["fit[d0]", "fit[d1]", "report", "summarize"]


def test_a_failure_on_the_cluster_skips_the_local_job_and_the_next_phase(phases_setup, capsys):
    loop, local, waves, history = phases_setup(script={"fit[d1]": Outcome.EXIT}, keep_going=True)
    assert loop.run() == 1
    assert [e[0] for e in local.log if e[0] in ("open", "start")] == ["open"]
    assert "1 job(s) failed, 1 succeeded, 2 not run" in capsys.readouterr().err


@pytest.mark.parametrize("push", [False, True], ids=["pull", "push"])
def test_results_say_how_each_planned_job_ended(setup, push, capsys):
    from rulec.run.loop import Status

    loop, fake, history = setup(push=push, keep_going=True, retries=1, fake_class=ResubmittingFake if push else None,
                                script={"fit[d0,m0]": Outcome.EXIT, "fit[d1,m1]": [Outcome.TIMEOUT, Outcome.OK]})
    assert loop.results() == []  # not run yet
    assert loop.run() == 1
    results = {r.id: r for r in loop.results()}
    assert list(results) == [loop.graph.job_id(j) for j in loop.plan.run]
    bad = results["fit[d0,m0]"]
    assert (bad.status, bad.outcome, bad.exit_code, bad.attempts) == (Status.FAILED, Outcome.EXIT, 3, 2)
    assert bad.why == "exit status 3 (attempt 2 of 2)" and not bad.ok
    assert (results["fit[d1,m1]"].status, results["fit[d1,m1]"].attempts) == (Status.SUCCEEDED, 2)
    assert results["summarize[m0]"].status is Status.SKIPPED and results["summarize[m0]"].attempts == 0
    ok = results["prepare[d0]"]
    assert (ok.status, ok.outcome, ok.exit_code, ok.attempts, ok.log) == (Status.SUCCEEDED, Outcome.OK, 0, 1, None)


def test_results_of_an_interrupted_run_say_not_run(setup, capsys):
    from rulec.run.loop import Status

    loop, fake, history = setup(interrupt_at=2)
    assert loop.run() == 130
    statuses = [r.status for r in loop.results()]
    assert statuses[0] is Status.SUCCEEDED and set(statuses[1:]) == {Status.NOT_RUN}


# --------------------------------------------------------------------------- marks and records in batches

MANY = '''
dimension x = [{values}]

rule make:
    output: "out/{{x}}.txt"
    shell:  "echo {{x}} > {{output}}"
'''


@pytest.fixture
def many(tmp_path):
    """40 independent jobs that end at once (so the loop marks the next ones ahead)."""
    text = MANY.format(values=", ".join(f'"v{i:02d}"' for i in range(40)))

    def make(script=None, force=False, **fake):
        from rulec.plan import PlanOptions

        wf = analyze(parse(text, "Rulefile"), str(tmp_path))
        graph = resolve(wf, ())
        history = History.open(str(tmp_path), write=True)
        plan = make_plan(graph, Snapshot({}), history, PlanOptions(force_all=force))
        executor = FakeExecutor(graph, script=script, **fake)
        loop = Loop(graph, plan, history, RunOptions(1, None, quiet=True), executor)
        return loop, executor, history

    return make


def _stored(tmp_path):
    """The records as a new reader of the state store sees them (status per job id)."""
    reader = History.open(str(tmp_path))
    try:
        return {jid: rec[2] for jid, rec in reader.records().items()}
    finally:
        reader.close()


def test_jobs_marked_started_ahead_that_never_start_get_their_records_back(many, tmp_path, capsys, monkeypatch):
    loop, fake, history = many()
    assert loop.run() == 0
    history.close()
    before = _stored(tmp_path)
    assert len(before) == 40 and set(before.values()) == {"ok"}
    loop, fake, history = many(script={"make[v03]": Outcome.EXIT}, force=True)
    marked_ahead = []
    real_commit = history.commit

    def commit(done, started, log=None, ahead=()):
        ahead = list(ahead)
        marked_ahead.extend(jid for jid, _, _ in ahead)
        return real_commit(done, started, log, ahead)

    monkeypatch.setattr(history, "commit", commit)
    assert loop.run() == 1
    history.close()
    started = {jid for entry in fake.log if entry[0] == "start" for jid in entry[1]}
    never = set(marked_ahead) - started
    assert len(never) > 10  # the failure stopped the run with many jobs marked ahead
    after = _stored(tmp_path)
    assert all(after[jid] == "ok" for jid in never)  # as they were: not "incomplete"
    assert "make[v03]" not in after and all(after[j] == "ok" for j in started - {"make[v03]"})


def test_records_of_finished_jobs_are_written_in_batches_at_least_every_record_every(many, tmp_path, monkeypatch):
    from rulec.run import loop as loopmod

    def seen_mid_run(record_every):
        monkeypatch.setattr(loopmod, "RECORD_EVERY", record_every)
        for path in tmp_path.glob(".rulec/state.db*"):
            path.unlink()
        loop, fake, history = many()
        seen = []
        real_wait = fake.wait

        def wait():
            if fake.waits == 20:  # halfway: what a reader of the store sees now
                seen.append(sum(1 for s in _stored(tmp_path).values() if s == "ok"))
            return real_wait()

        fake.wait = wait
        assert loop.run() == 0
        history.close()
        assert set(_stored(tmp_path).values()) == {"ok"} and len(_stored(tmp_path)) == 40
        return seen[0]

    assert seen_mid_run(0.0) >= 19  # each turn's records at once when they are due
    assert seen_mid_run(3600.0) < 19  # else with the marks of the next jobs, in batches


def test_a_finished_jobs_record_is_written_before_a_long_wait(tmp_path, monkeypatch):
    """A job ends while the next ready one cannot start (it needs both cores) and a long job
    runs on: the loop will wait long, so the record is written before that wait."""
    from rulec.run import loop as loopmod

    monkeypatch.setattr(loopmod, "RECORD_EVERY", 3600.0)
    text = ('rule short:\n    output: "s.txt"\n    shell: "touch s.txt"\n\n'
            'rule long:\n    output: "l.txt"\n    shell: "touch l.txt"\n\n'
            'rule wide:\n    output: "w.txt"\n    resources: cpus=2\n    shell: "touch w.txt"\n')
    wf = analyze(parse(text, "Rulefile"), str(tmp_path))
    graph = resolve(wf, ("s.txt", "l.txt", "w.txt"))
    history = History.open(str(tmp_path), write=True)
    plan = make_plan(graph, Snapshot({}), history)
    fake = FakeExecutor(graph)
    seen = []
    real_wait = fake.wait

    def wait():
        if fake.waits == 1:  # short has ended (its event comes first); long runs; wide waits
            seen.append(_stored(tmp_path))
        return real_wait()

    fake.wait = wait
    loop = Loop(graph, plan, history, RunOptions(2, None, quiet=True), fake)
    assert loop.run() == 0
    history.close()
    assert seen[0].get("short") == "ok"


# --------------------------------------------------------------------------- queueing executors

class QueueingFake(FakeExecutor):
    """A pull fake that holds one task queued behind each running job (``queue_depth``), as
    the local bash workers do: when a job ends, the task behind it starts in the same
    ``wait`` (Finished, then Started), unless it was queued with outputs (no --keep-going)
    and the job failed, or ``cancel`` held it (then Dequeued). ``refuse``: job ids it gives
    back whatever happened (a job that left processes behind). Checks that at most
    ``cores`` jobs ever run."""

    queue_depth = 1

    def __init__(self, graph, cores=2, refuse=(), **kw):
        super().__init__(graph, **kw)
        self.cores = cores
        self.behind: dict[int, object] = {}  # running job -> the Queued behind it
        self.held: set[int] = set()
        self.refuse = set(refuse)
        self.most = 0

    def start(self, tasks):
        events = super().start(tasks)
        self._check()
        return events

    def _check(self):
        self.most = max(self.most, len(self.running_))
        assert len(self.running_) <= self.cores, "more jobs running than -j allows"

    def queue(self, items):
        for q in items:
            assert q.after in self.running_ and q.after not in self.behind, "queued behind a job that does not run"
            self.behind[q.after] = q
            self.tasks[q.task.job] = q.task
            self.log.append(("queue", q.task.job_id, self._id(q.after), q.outputs))
        return []

    def wait(self):
        events = super().wait()
        for ev in list(events):
            if type(ev) is Finished and ev.job in self.behind:
                q = self.behind.pop(ev.job)
                job = q.task.job
                failed = ev.outcome is not Outcome.OK
                if job in self.held or self._id(job) in self.refuse or (q.outputs is not None and failed):
                    self.held.discard(job)
                    events.append(Dequeued(job))
                    self.log.append(("dequeued", self._id(job)))
                else:
                    self.running_.append(job)
                    self._check()
                    events.append(Started(job))
                    self.log.append(("started", self._id(job)))
        return events

    def cancel(self, jobs):
        queued = {q.task.job for q in self.behind.values()}
        self.held.update(j for j in jobs if j in queued)
        return super().cancel(jobs)

    def stop(self, grace):
        events, alive = super().stop(grace)
        events += [Dequeued(q.task.job) for q in self.behind.values()]
        self.behind = {}
        return events, alive


@pytest.fixture
def queueing(tmp_path):
    """40 independent jobs through a QueueingFake; ``existing``: outputs there before the run."""
    text = MANY.format(values=", ".join(f'"v{i:02d}"' for i in range(40)))

    def make(cores=2, keep_going=False, existing=(), **fake):
        from rulec.plan import PlanOptions

        wf = analyze(parse(text, "Rulefile"), str(tmp_path))
        graph = resolve(wf, ())
        history = History.open(str(tmp_path), write=True)
        snap = Snapshot({p: (1, 1) for p in existing})
        plan = make_plan(graph, snap, history, PlanOptions(force_all=bool(existing)))
        executor = QueueingFake(graph, cores=cores, **fake)
        loop = Loop(graph, plan, history, RunOptions(cores, None, keep_going=keep_going, quiet=True), executor, snap)
        return loop, executor, history

    return make


def _queued(fake):
    return [e[1] for e in fake.log if e[0] == "queue"]


def test_ready_jobs_are_queued_behind_running_ones_and_start_only_when_those_end(queueing, capsys):
    loop, fake, history = queueing(cores=2)
    assert loop.run() == 0
    assert len(recorded(history)) == 40
    assert len(_queued(fake)) > 30  # most jobs went through the queue
    assert fake.most == 2  # -j 2: never more than two running
    for jid in _queued(fake):  # each queued job started after the job before it ended
        after = next(e[2] for e in fake.log if e[0] == "queue" and e[1] == jid)
        assert fake.log.index(("finished", after, Outcome.OK)) < fake.log.index(("started", jid))
    outputs = {e[2]: e[3] for e in fake.log if e[0] == "queue"}
    assert all(outs == (f"out/{after[5:-1]}.txt",) for after, outs in outputs.items())  # what the job before must leave


def test_a_queued_job_does_not_start_after_a_failure_without_keep_going(queueing, tmp_path, capsys):
    loop, fake, history = queueing(cores=2, script={"make[v05]": Outcome.EXIT})
    assert loop.run() == 1
    results = {r.id: r.status.value for r in loop.results()}
    behind = next(e[1] for e in fake.log if e[0] == "queue" and e[2] == "make[v05]")
    assert ("dequeued", behind) in fake.log and ("started", behind) not in fake.log
    assert results[behind] == "not-run" and results["make[v05]"] == "failed"
    # the job queued behind the other running one is held back too: nothing new starts
    cancels = [e for e in fake.log if e[0] == "cancel"]
    assert cancels and fake.log.index(cancels[0]) > fake.log.index(("finished", "make[v05]", Outcome.EXIT))
    started_after = [e for e in fake.log[fake.log.index(cancels[0]):] if e[0] in ("start", "started")]
    assert started_after == []
    history.close()
    stored = _stored(tmp_path)
    assert behind not in stored  # its mark ahead was given back (it had no record)
    assert all(status == "ok" for status in stored.values())


def test_with_keep_going_a_queued_job_starts_whatever_the_job_before_it_did(queueing, capsys):
    loop, fake, history = queueing(cores=2, keep_going=True, script={"make[v05]": Outcome.EXIT})
    assert loop.run() == 1
    queued = [e for e in fake.log if e[0] == "queue"]
    assert queued and all(e[3] is None for e in queued)  # no condition on the job before
    behind = next(e[1] for e in queued if e[2] == "make[v05]")
    assert ("started", behind) in fake.log
    assert len(recorded(history)) == 39


def test_a_queued_job_given_back_runs_later_as_any_ready_job(queueing, capsys):
    loop, fake, history = queueing(cores=2, refuse={"make[v03]", "make[v04]"})
    assert loop.run() == 0
    assert len(recorded(history)) == 40
    for jid in ("make[v03]", "make[v04]"):
        if jid in _queued(fake):
            assert ("dequeued", jid) in fake.log
            assert any(e[0] == "start" and jid in e[1] for e in fake.log)  # started the usual way


def _old_outputs(tmp_path, every=2):
    old = [f"out/v{i:02d}.txt" for i in range(0, 40, every)]
    (tmp_path / "out").mkdir(exist_ok=True)
    for path in old:
        (tmp_path / path).write_text("old\n")
    return old


def test_a_queued_jobs_old_output_is_moved_aside_then_removed_once_it_starts(queueing, tmp_path, capsys):
    """As before, a job's old output is gone when it starts (a failing command cannot leave
    it looking new); while it is queued, it waits in .rulec/stash/."""
    old = _old_outputs(tmp_path)
    loop, fake, history = queueing(cores=2, existing=old)
    assert len(loop.plan.run) == 40
    seen = {}
    real_queue = fake.queue

    def queue(items):
        for q in items:
            path = f"out/{q.task.job_id[5:-1]}.txt"
            seen[path] = (tmp_path / path).exists(), len(list((tmp_path / ".rulec" / "stash").iterdir()))
        return real_queue(items)

    fake.queue = queue
    assert loop.run() == 0
    stashed = [p for p in old if p in seen]
    assert stashed  # jobs with an old output were queued too
    assert all(seen[p][0] is False and seen[p][1] >= 1 for p in stashed)
    assert list((tmp_path / ".rulec" / "stash").iterdir()) == []  # removed as each started
    assert all(not (tmp_path / p).exists() for p in old)  # (the fake writes no outputs)


def test_a_queued_job_given_back_gets_its_old_output_back(queueing, tmp_path, capsys):
    old = _old_outputs(tmp_path, every=1)
    loop, fake, history = queueing(cores=2, existing=old, refuse={f"make[v{i:02d}]" for i in range(40)})
    started_with = {}
    real_start = fake.start

    def start(tasks):  # a job given back starts the usual way later: its old output is still there then
        for t in tasks:
            started_with[t.job_id] = (tmp_path / f"out/{t.job_id[5:-1]}.txt").exists()
        return real_start(tasks)

    fake.start = start
    assert loop.run() == 0
    given_back = [e[1] for e in fake.log if e[0] == "dequeued"]
    assert given_back
    # put back when it came back; removed by the usual preparation just before it started
    assert all(started_with[jid] is False for jid in given_back)
    assert list((tmp_path / ".rulec" / "stash").iterdir()) == []


def test_ctrl_c_puts_the_old_outputs_of_queued_jobs_back(queueing, tmp_path, capsys):
    old = _old_outputs(tmp_path, every=1)
    loop, fake, history = queueing(cores=2, existing=old, interrupt_at=4)
    assert loop.run() == 130
    queued = set(_queued(fake))
    started = {e[1] for e in fake.log if e[0] == "started"} | {j for e in fake.log if e[0] == "start" for j in e[1]}
    never = queued - started
    assert never
    for jid in never:
        assert (tmp_path / f"out/{jid[5:-1]}.txt").read_text() == "old\n"
    assert list((tmp_path / ".rulec" / "stash").iterdir()) == []


def test_ctrl_c_gives_queued_jobs_back_unstarted_and_unrecorded(queueing, tmp_path, capsys):
    loop, fake, history = queueing(cores=2, interrupt_at=6)
    assert loop.run() == 130
    in_queue = {q.task.job_id for q in fake.behind.values()} if fake.behind else set()
    queued = set(_queued(fake))
    started = {e[1] for e in fake.log if e[0] == "started"} | {j for e in fake.log if e[0] == "start" for j in e[1]}
    never = queued - started
    assert never  # jobs were queued and never started
    assert not in_queue
    history.close()
    stored = _stored(tmp_path)
    assert not any(jid in stored for jid in never)  # no record, no mark left
    assert all(status == "ok" for status in stored.values())
    results = {r.id: r.status.value for r in loop.results()}
    assert all(results[jid] == "not-run" for jid in never)


def test_a_job_whose_old_output_cannot_be_moved_aside_is_not_queued(queueing, tmp_path, monkeypatch, capsys):
    """(An output on another file system than .rulec/: a rename cannot move it.)"""
    import errno

    from rulec.run import loop as loopmod

    old = _old_outputs(tmp_path, every=1)
    loop, fake, history = queueing(cores=2, existing=old)
    real_rename = os.rename

    def rename(src, dst):
        if "stash" in str(dst) and "v07" in str(src):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_rename(src, dst)

    monkeypatch.setattr(loopmod.os, "rename", rename)
    assert loop.run() == 0
    assert "make[v07]" not in _queued(fake) and len(_queued(fake)) > 20
    assert any(e[0] == "start" and "make[v07]" in e[1] for e in fake.log)  # the usual way
    assert list((tmp_path / ".rulec" / "stash").iterdir()) == []


# --------------------------------------------------------------------------- re-attached jobs

PREPARES = ("prepare[d0]", "prepare[d1]")


def _spy_marks(history):
    marked = []
    mark = history.mark_started

    def spy(jobs, log=None, keep=False):
        jobs = list(jobs)
        marked.extend(j[0] for j in jobs)
        return mark(jobs, log, keep)

    history.mark_started = spy
    return marked


def test_re_attached_jobs_are_in_flight_their_marks_kept_and_their_success_releases_dependents(setup, capsys):
    loop, fake, history = setup(push=True, reattached=PREPARES)
    marked = _spy_marks(history)
    started = dict(loop.attached)
    assert loop.run() == 0
    (opened,) = [e[1] for e in fake.log if e[0] == "open"]
    assert sorted(opened) == sorted(ALL)  # handed over as every job: the executor follows them
    assert set(marked) == set(ALL) - set(PREPARES)  # their marks are the dead run's
    assert recorded(history) == sorted(ALL)
    for job, t in started.items():  # recorded with the dead run's start
        assert history.detail(loop.graph.job_id(job)).started == t
    finished = [e[1] for e in fake.log if e[0] == "finished"]
    assert max(finished.index(j) for j in PREPARES) < min(finished.index(j) for j in ALL if j.startswith("fit"))
    assert "Done: 8 job(s) ran on fake." in capsys.readouterr().out
    # in the run history: the re-attached jobs adopted (a run that died started them), the rest ok
    outcomes = {a.job_id: (a.outcome, a.started) for a in history.attempts()}
    assert {j: o for j, (o, _) in outcomes.items()} == {j: "adopted" if j in PREPARES else "ok" for j in ALL}
    for job, t in started.items():
        assert outcomes[loop.graph.job_id(job)][1] == t


def test_a_re_attached_job_that_fails_fails_its_dependents_as_the_runs_own(setup, capsys):
    loop, fake, history = setup(push=True, reattached=PREPARES, script={"prepare[d0]": Outcome.EXIT})
    assert loop.run() == 1
    err = capsys.readouterr().err
    assert "prepare[d0]: exit status 3" in err
    assert "prepare[d0]" not in history.records()  # no record, no mark: it runs again next time
    assert {a.job_id: a.outcome for a in history.attempts()}["prepare[d0]"] == "failed"  # not adopted
    (cancelled,) = [e[1] for e in fake.log if e[0] == "cancel"]
    assert {"fit[d0,m0]", "fit[d0,m1]", "summarize[m0]", "summarize[m1]"} <= set(cancelled)
    assert not any(j.startswith("fit[d0") or j.startswith("summarize") for j in recorded(history))


def test_keep_going_with_a_failing_re_attached_job_runs_the_rest(setup, capsys):
    loop, fake, history = setup(push=True, keep_going=True, reattached=PREPARES, script={"prepare[d0]": Outcome.EXIT})
    assert loop.run() == 1
    assert recorded(history) == sorted(["prepare[d1]", "fit[d1,m0]", "fit[d1,m1]"])
    assert ("cancel", ["fit[d0,m0]", "fit[d0,m1]", "summarize[m0]", "summarize[m1]"]) in fake.log
    assert "1 job(s) failed, 3 succeeded, 4 not run" in capsys.readouterr().err


def test_a_re_attached_job_is_not_retried_in_the_run_that_follows_it(setup, capsys):
    loop, fake, history = setup(push=True, retries=2, keep_going=True, reattached=PREPARES, fake_class=ResubmittingFake,
                                script={"prepare[d0]": Outcome.EXIT, "fit[d1,m0]": [Outcome.EXIT, Outcome.OK]})
    assert loop.run() == 1
    resubmitted = [e[1] for e in fake.log if e[0] == "resubmit"]
    assert resubmitted == [[("fit[d1,m0]", 2)]]  # the run's own job is retried; the re-attached one is not
    assert "prepare[d0]: exit status 3" in capsys.readouterr().err


def test_a_push_executor_without_resubmit_takes_re_attached_jobs_with_retries_of_their_own(setup, capsys):
    """Only the jobs the run submits need resubmit: a run whose every job with retries is
    re-attached is not refused."""
    loop, fake, history = setup(push=True, retries=1, reattached=tuple(ALL))
    assert loop.run() == 0


def test_ctrl_c_stops_re_attached_jobs_as_the_runs_own(setup, capsys):
    loop, fake, history = setup(push=True, reattached=PREPARES, interrupt_at=1)
    assert loop.run() == 130
    assert ("stop",) in fake.log
    assert not any(history.records().get(j) for j in PREPARES)  # marks dropped: they run again


# --------------------------------------------------------------------------- retries: order, a stopped run, the summary, logs

def test_a_retry_starts_before_the_job_its_worker_gave_back(queueing, capsys):
    """-j1: the job queued behind a failing one is given back by its worker (no --keep-going:
    it starts only if that one succeeds); the retry still starts first, as the docs say."""
    loop, fake, history = queueing(cores=1, script={"make[v01]": [Outcome.EXIT, Outcome.OK]})
    loop.opts = RunOptions(1, None, quiet=True, retries=1)
    assert loop.run() == 0
    assert ("dequeued", "make[v02]") in fake.log
    starts = [jid for e in fake.log if e[0] in ("start", "started") for jid in (e[1] if e[0] == "start" else [e[1]])]
    assert starts[:4] == ["make[v00]", "make[v01]", "make[v01]", "make[v02]"]
    assert next(t.attempt for t in fake.tasks.values() if t.job_id == "make[v01]") == 2
    assert len(recorded(history)) == 40


class TogetherFake(ResubmittingFake):
    """Ends every running job in one ``wait`` (jobs that end at the same moment): a failure
    in the batch can stop the run while a job failed before it in the batch waits for its retry."""

    def wait(self):
        events = super().wait()
        while self.running_:
            events += super().wait()
        return events


THREE = '''
rule a:
    output: "a.txt"
    retries: 1
    shell: "run a --attempt {attempt}"

rule b:
    output: "b.txt"
    shell: "run b"

rule c:
    output: "c.txt"
    shell: "run c"

rule d:
    input: "a.txt"
    output: "d.txt"
    shell: "run d"
'''


def _three(tmp_path, fake_class, cores=3, mem_mb=None, text=THREE, targets=("a.txt", "b.txt", "c.txt", "d.txt"), keep_going=False, **fake):
    wf = analyze(parse(text, "Rulefile"), str(tmp_path))
    graph = resolve(wf, targets)
    history = History.open(str(tmp_path), write=True)
    snap = Snapshot({})
    plan = make_plan(graph, snap, history)
    executor = fake_class(graph, **fake)
    loop = Loop(graph, plan, history, RunOptions(cores, mem_mb, keep_going=keep_going, quiet=True), executor, snap)
    return loop, executor, history


@pytest.mark.parametrize("push", [False, True], ids=["pull", "push"])
def test_a_job_waiting_for_its_retry_when_the_run_stops_has_failed(tmp_path, push, capsys):
    """a fails and waits for its retry; b fails in the same moment: the run stops (no
    --keep-going) and a, which ran and failed, fails for good, as any failed job: recorded,
    in the summary as failed (not as not run), its dependents skipped."""
    from rulec.run.loop import Status

    loop, fake, history = _three(tmp_path, TogetherFake, push=push, script={"a": [Outcome.EXIT, Outcome.OK], "b": Outcome.SIGNAL})
    assert loop.run() == 1
    err = capsys.readouterr().err
    why = "exit status 3 (attempt 1 of 2; not retried: the run stopped)"
    assert f"FAILED a: {why} (no output)" in err
    assert "2 job(s) failed, 1 succeeded, 1 not run:" in err
    assert f"  a: {why}\n    $ run a --attempt 1\n" in err  # the attempt that ran
    assert [e[1] for e in fake.log if e[0] == "finished"].count("a") == 1
    if push:
        assert ("resubmit", [("a", 2)]) in fake.log and any(e[0] == "cancel" and "a" in e[1] for e in fake.log)
    results = {r.id: r for r in loop.results()}
    assert (results["a"].status, results["a"].outcome, results["a"].exit_code, results["a"].attempts) == (Status.FAILED, Outcome.EXIT, 3, 1)
    assert results["a"].why == why and results["d"].status is Status.SKIPPED
    assert {j: w for j, (w, _) in history.failures().items()} == {"a": why, "b": "killed by signal SIGKILL"}  # rulec status
    assert "a" not in history.records() and recorded(history) == ["c"]
    assert [(x.attempt, x.outcome) for x in history.attempts() if x.job_id == "a"] == [(1, "failed")]  # no attempt 2 ran
    assert loop.before_retry == {} and loop.ids == {}


def test_a_retry_queued_behind_a_running_job_when_the_run_stops_has_failed(tmp_path, capsys):
    """x's retry needs more memory than is free, so it is queued behind y (which holds
    enough); z fails, the run stops, the worker gives x back: x has failed."""
    text = '''
rule x:
    output: "x.txt"
    retries: 1
    resources: mem="300M*{attempt}"
    shell: "run x"

rule z:
    output: "z.txt"
    shell: "run z"

rule y:
    output: "y.txt"
    resources: mem="700M"
    shell: "run y"
'''
    three_workers = lambda graph, **kw: QueueingFake(graph, cores=3, **kw)  # noqa: E731
    loop, fake, history = _three(tmp_path, three_workers, cores=3, mem_mb=1000, text=text, targets=("x.txt", "z.txt", "y.txt"),
                                 script={"x": [Outcome.EXIT, Outcome.OK], "z": Outcome.EXIT})
    assert loop.run() == 1
    assert ("queue", "x", "y", ("y.txt",)) in fake.log and ("dequeued", "x") in fake.log
    err = capsys.readouterr().err
    assert "x: exit status 3 (attempt 1 of 2; not retried: the run stopped)" in err
    assert "2 job(s) failed, 1 succeeded, 0 not run:" in err
    assert set(history.failed()) == {"x", "z"} and recorded(history) == ["y"]
    assert loop.before_retry == {} and not loop.sched.queued


@pytest.mark.parametrize("push", [False, True], ids=["pull", "push"])
def test_the_summary_shows_the_command_of_the_attempt_that_failed(tmp_path, push, capsys):
    loop, fake, history = _three(tmp_path, ResubmittingFake if push else FakeExecutor, push=push, targets=("a.txt",),
                                 script={"a": [Outcome.EXIT, Outcome.EXIT]})
    assert loop.run() == 1
    err = capsys.readouterr().err
    assert "  a: exit status 3 (attempt 2 of 2)\n    $ run a --attempt 2\n" in err
    assert loop.failures[0].command == "run a --attempt 2"
    commands = [(x.attempt, x.command) for x in history.attempts()]
    assert commands == [(1, "run a --attempt 1"), (2, "run a --attempt 2")]  # the run history's, the same


class LoggingFake(TogetherFake):
    """A pull TogetherFake whose jobs print ``prints[job id][attempt - 1]`` (if any) into
    their lazy log, the default log, which is written only if the job prints something (as
    the local workers do). ``at_start``: (job id, attempt) -> whether its log was there when
    it started."""

    def __init__(self, graph, prints, workdir, **kw):
        super().__init__(graph, **kw)
        self.prints, self.folder = prints, workdir
        self.at_start: dict = {}

    def start(self, tasks):
        for t in tasks:
            self.at_start[(t.job_id, t.attempt)] = os.path.exists(os.path.join(self.folder, t.log))
        return super().start(tasks)

    def wait(self):
        events = super().wait()
        for i, e in enumerate(events):
            task = self.tasks[e.job]
            text = self.prints.get(task.job_id, ())[task.attempt - 1:task.attempt]
            if type(e) is Finished and text and text[0]:
                with open(os.path.join(self.folder, task.log), "w") as fh:
                    fh.write(text[0])
                events[i] = Finished(e.job, e.outcome, exit_code=e.exit_code, log=task.log)
        return events


def _logging(tmp_path, prints, keep_going):
    return _three(tmp_path, LoggingFake, prints=prints, workdir=str(tmp_path), targets=("a.txt", "b.txt"), keep_going=keep_going,
                  script={"a": [Outcome.EXIT, Outcome.EXIT], "b": Outcome.EXIT})


def test_a_retrys_default_log_starts_empty(tmp_path, capsys):
    """Attempt 1 prints and fails, attempt 2 fails printing nothing: attempt 1's log is not
    left at the job's log path (its end is in the run history), the summary says "(no
    output)" and the failure kept for ``rulec status`` names no log."""
    loop, fake, history = _logging(tmp_path, {"a": ["attempt one failing\n"]}, keep_going=True)
    log = tmp_path / loop.log_of(loop.graph.order[0])[0]
    assert loop.run() == 1
    assert fake.at_start == {("a", 1): False, ("b", 1): False, ("a", 2): False}  # removed as attempt 2 started
    assert not log.exists()
    err = capsys.readouterr().err
    assert "FAILED a: exit status 3 (attempt 2 of 2) (no output)" in err and "attempt one failing" not in err
    assert history.failures()["a"] == ("exit status 3 (attempt 2 of 2)", None)
    (first,) = [x for x in history.attempts() if x.job_id == "a" and x.attempt == 1]
    assert first.tail == "attempt one failing" and first.log == log.relative_to(tmp_path).as_posix()  # kept


def test_a_job_not_retried_because_the_run_stopped_keeps_its_attempts_log(tmp_path, capsys):
    loop, fake, history = _logging(tmp_path, {"a": ["attempt one failing\n"]}, keep_going=False)
    log = loop.log_of(loop.graph.order[0])[0]
    assert loop.run() == 1
    assert (tmp_path / log).read_text() == "attempt one failing\n"
    err = capsys.readouterr().err
    assert f"  a: exit status 3 (attempt 1 of 2; not retried: the run stopped)\n    $ run a --attempt 1\n    log: {log}\n    | attempt one failing\n" in err
    assert history.failures()["a"] == ("exit status 3 (attempt 1 of 2; not retried: the run stopped)", log)


def test_a_job_failing_once_the_run_is_stopping_is_not_retried_and_says_so(tmp_path, capsys):
    loop, fake, history = _three(tmp_path, TogetherFake, targets=("b.txt", "a.txt", "c.txt", "d.txt"),
                                 script={"a": [Outcome.EXIT, Outcome.OK], "b": Outcome.EXIT})
    assert [loop.graph.job_id(j) for j in loop.plan.run][:2] == ["b", "a"]  # b's failure is seen first
    assert loop.run() == 1
    err = capsys.readouterr().err
    assert loop.attempts == {}  # never retried
    assert "  a: exit status 3 (attempt 1 of 2; not retried: the run stopped)\n    $ run a --attempt 1\n" in err
    assert "2 job(s) failed, 1 succeeded, 1 not run:" in err


def test_a_push_runs_skipped_dependents_get_their_records_back(setup, tmp_path, capsys):
    """A cluster job skipped because its upstream failed was held by the scheduler and never
    ran: its record is as it was, not "incomplete" (a job cancelled when a failure stops the
    run may have run between two looks at the queue: it stays marked)."""
    loop, fake, history = setup(push=True)
    assert loop.run() == 0
    history.close()
    loop, fake, history = setup(push=True, keep_going=True, script={"fit[d0,m0]": Outcome.EXIT})
    assert loop.run() == 1
    history.close()
    again = History.open(str(tmp_path))
    status = {jid: rec[2] for jid, rec in again.records().items()}
    assert "fit[d0,m0]" not in status  # failed: no record
    assert status["summarize[m0]"] == "ok"  # skipped: its record given back
    assert status["fit[d1,m1]"] == "ok"


def test_a_local_job_that_needs_no_cluster_job_runs_before_anything_is_submitted(tmp_path, capsys):
    """download (local: true, needing nothing) runs first; c2, which needs it, goes with c0 in
    the one submission: nothing waits for the cluster to run the download."""
    wf = analyze(parse('''
rule all:
    input: "c2.txt", "c0.txt"

rule download:
    output: "l1.txt"
    local: true
    shell: "date > {output}"

rule c2:
    input: "l1.txt"
    output: "c2.txt"
    shell: "cat {input} > {output}"

rule c0:
    output: "c0.txt"
    shell: "echo > {output}"
''', "Rulefile"), str(tmp_path))
    graph = resolve(wf, ())
    history = History.open(str(tmp_path), write=True)
    plan = make_plan(graph, Snapshot({}), history)
    local = FakeExecutor(graph)
    waves = FakeWaves(graph, local.log, {})
    loop = Loop(graph, plan, history, RunOptions(2, None, quiet=True), local, waves=waves)
    assert loop.run() == 0
    assert [(e[0], e[1]) for e in local.log if e[0] in ("open", "start")] == [("start", ["download"]), ("open", ["c2", "c0"])]
    assert len(waves.made) == 1 and recorded(history) == ["c0", "c2", "download"]
    history.close()
