"""The SLURM executor (rulec/executors/slurm.py) against a scripted scheduler: submission
order and dependency strings, one status query per poll, the events it reports, jobs that
left the queue, giving up on a dead controller, cancelling exactly its own ids, an
interruption whose scancel fails. Driven through the one run loop where loop behaviour is
checked (records, removed outputs, --keep-going, Ctrl-C, a closed standard output), directly
for what only the executor does. (The real cluster: tests/e2e/test_slurm*.py.)"""

from __future__ import annotations

import pytest

from rulec import cli, ir
from rulec import profile as prof
from rulec.analyze import analyze
from rulec.bundle import files as bundle_mod
from rulec.executors.slurm_commands import Row
from rulec.dag import resolve
from rulec.errors import BackendError
from rulec.executors.slurm import SlurmExecutor
from rulec.history import History
from rulec.plan import plan as make_plan
from rulec.run import loop as loop_mod
from rulec.run.executor import Finished, Outcome, Started, Task
from rulec.run.loop import Loop, RunOptions
from rulec.state import Snapshot
from rulec.syntax import parse
from helpers import SLASHED  # (a job id with a /: its markers named as its default log)

RULEFILE = '''
dimension dataset = ["d0", "d1"]

rule all:
    input: "out.txt"

rule fit:
    output: "fit/{dataset}.txt"
    shell: "echo {dataset} > {output}"

rule score:
    input: "fit/{dataset}.txt"
    output: "score/{dataset}.txt"
    shell: "cat {input} > {output}"

rule summarize:
    input: expand("score/{dataset}.txt")
    output: "out.txt"
    shell: "cat {input} > {output}"
'''


class FakeSlurm:
    """Arrays get ids 100, 101, 102 in submission order; ``rounds`` are squeue answers (a
    callable answer is called: it may write a marker, or raise)."""

    def __init__(self, rounds, show=None):
        self.rounds = list(rounds)
        self.show = show or {}
        self.submitted = []
        self.cancelled = []
        self.queries = []
        self.last_error = ""
        self.where = {}  # task id -> its node list (squeue's %N)
        self.node_state = {}  # node -> sinfo's state
        self.node_queries = []

    def job_nodes(self, ids):
        self.node_queries.append(("squeue", list(ids)))
        return [Row(t.split("_")[0], int(t.split("_")[1]), "RUNNING", nodes=n) for t, n in self.where.items()]

    def node_states(self, nodes):
        self.node_queries.append(("sinfo", list(nodes)))
        return {n: self.node_state.get(n, "idle") for n in nodes}

    def submit(self, script, dependency, cwd, options=()):
        self.submitted.append((script, dependency, *options))
        return str(100 + len(self.submitted) - 1)

    def queue(self, ids):
        self.queries.append(list(ids))
        answer = self.rounds.pop(0) if self.rounds else []
        return answer(self) if callable(answer) else answer

    def accounting(self, ids):
        return None

    def show_job(self, job_id):
        return self.show.get(job_id, [])

    refuse_cancel = None  # scancel's complaint, to play a cancel that fails

    def cancel(self, ids):
        if self.refuse_cancel:
            return self.refuse_cancel
        self.cancelled.extend(ids)
        return None


class Run:
    def __init__(self, tmp_path, rounds, show=None, quiet=True, keep_going=True, poll=0.0, max_poll=0.0, clock=None,
                 stuck_after=None, rulefile=RULEFILE, pack=None, profile=prof.EMPTY):
        self.path = tmp_path
        wf = analyze(parse(rulefile, "Rulefile"), str(tmp_path))
        self.graph = graph = resolve(wf, (), exists=lambda p: False)
        self.history = History.open(str(tmp_path), write=True)
        self.plan = make_plan(graph, Snapshot({}), self.history)
        self.bundle = bundle_mod.build(graph, list(self.plan.run), "slurm", profile, str(tmp_path / ".rulec" / "slurm" / "1"), 1001,
                                       pack=None if pack is None else ir.Pack(jobs=pack))
        bundle_mod.write(self.bundle)
        self.fake = FakeSlurm(rounds, show)
        self.sleeps = []
        kw = {"clock": clock} if clock else {}
        if stuck_after is not None:
            kw["stuck_after"] = stuck_after
        self.executor = SlurmExecutor(self.bundle, self.fake, poll, max_poll, accounting=False, quiet=quiet,
                                      sleep=self.sleeps.append, **kw)
        self.opts = RunOptions(1, None, keep_going=keep_going, quiet=quiet)

    def loop(self) -> int:
        return Loop(self.graph, self.plan, self.history, self.opts, self.executor).run()

    def job(self, jid: str) -> int:
        return next(j for j in self.plan.run if self.graph.job_id(j) == jid)

    def open(self):
        tasks = [Task(j, self.graph.job_id(j), "", self.bundle.logs[j]) for j in self.plan.run]
        return self.executor.open(tasks, {j: self.graph.deps[j] for j in self.plan.run})

    def marker(self, jid: str, code: int) -> None:
        status = self.path / ".rulec" / "slurm" / "1" / "status"
        status.mkdir(parents=True, exist_ok=True)
        (status / f"{bundle_mod.marker_name(jid)}.rc").write_text(f"{code}\n")

    def start(self, jid: str) -> None:
        """What a packed task writes when it starts the job."""
        status = self.path / ".rulec" / "slurm" / "1" / "status"
        status.mkdir(parents=True, exist_ok=True)
        (status / f"{bundle_mod.marker_name(jid)}.start").write_text("1700000000\n")


@pytest.fixture
def setup(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the scheduler log paths are shown relative to it
    runs = []

    def make(*args, **kw):
        runs.append(Run(tmp_path, *args, **kw))
        return runs[-1]

    yield make
    for r in runs:
        r.history.close()


def rows(spec: str) -> list[Row]:
    """``"100_0=COMPLETED 101_1=PENDING/DependencyNeverSatisfied"`` -> Rows."""
    out = []
    for item in spec.split():
        task, _, state = item.partition("=")
        state, _, reason = state.partition("/")
        array_id, _, t = task.partition("_")
        out.append(Row(array_id, int(t), state, reason or "None"))
    return out


# --------------------------------------------------------------------------- through the loop

def test_everything_completes(setup, tmp_path, capsys):
    run = setup([
        rows("100_0=RUNNING 100_1=PENDING 101_0=PENDING 101_1=PENDING 102_0=PENDING"),
        rows("100_0=COMPLETED 100_1=COMPLETED 101_0=RUNNING 101_1=PENDING 102_0=PENDING"),
        rows("100_0=COMPLETED 100_1=COMPLETED 101_0=COMPLETED 101_1=COMPLETED 102_0=COMPLETED"),
    ], quiet=False)
    assert run.loop() == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "submitted 3 array(s), 5 task(s), 3 sbatch call(s) from .rulec/slurm/1: fit=100 score=101 summarize=102"
    assert [line.rsplit(" (", 1)[0] for line in out[1:-1]] == [
        "[1/5] done fit[d0]", "[2/5] done fit[d1]", "[3/5] done score[d0]", "[4/5] done score[d1]", "[5/5] done summarize"]
    assert out[-1] == "Done: 5 job(s) ran on slurm."
    assert run.fake.submitted == [("fit.sbatch", None), ("score.sbatch", "aftercorr:100"), ("summarize.sbatch", "afterok:101")]
    # one batched query per poll, for the arrays that still have jobs
    assert run.fake.queries == [["100", "101", "102"], ["100", "101", "102"], ["101", "102"]]
    assert {r[2] for r in run.history.records().values()} == {"ok"} and len(run.history.records()) == 5
    assert (tmp_path / ".rulec" / "slurm" / "1" / "jobids").read_text() == "fit 100\nscore 101\nsummarize 102\n"


def fit_d1_fails(run):
    def answer(fake):
        run.marker("fit[d1]", 3)  # fit[d1] failed: its marker holds its exit status
        return rows("100_0=COMPLETED 100_1=FAILED/NonZeroExitCode 101_0=PENDING 101_1=PENDING/DependencyNeverSatisfied 102_0=PENDING")

    return answer


def test_a_failure_with_keep_going_cancels_exactly_its_dependents(setup, tmp_path, capsys):
    (tmp_path / "fit").mkdir()
    (tmp_path / "fit" / "d1.txt").write_text("partial")
    run = setup([])
    run.fake.rounds = [fit_d1_fails(run), rows("100_0=COMPLETED 100_1=FAILED 101_0=COMPLETED 101_1=CANCELLED 102_0=CANCELLED")]
    assert run.loop() == 1
    # the dependents are left to SLURM: their dependency can never be met, and
    # --kill-on-invalid-dep ends them (DependencyNeverSatisfied, as the queue shows)
    assert run.fake.cancelled == []
    err = capsys.readouterr().err
    assert "FAILED fit[d1]: exit status 3 (scheduler log .rulec/slurm/1/logs/fit_100_1.out)" in err
    assert "1 job(s) failed, 2 succeeded, 2 not run:" in err
    assert not (tmp_path / "fit" / "d1.txt").exists()  # outputs of a failed job removed
    assert sorted(j for j, r in run.history.records().items() if r[2] == "ok") == ["fit[d0]", "score[d0]"]
    assert "fit[d1]" not in run.history.records()  # a failed job has no record: it reruns


def test_a_failure_without_keep_going_cancels_every_job_not_started(setup, capsys):
    run = setup([], keep_going=False)
    run.fake.rounds = [fit_d1_fails(run), rows(
        "100_0=COMPLETED 100_1=FAILED 101_0=CANCELLED 101_1=CANCELLED/DependencyNeverSatisfied 102_0=CANCELLED/DependencyNeverSatisfied")]
    assert run.loop() == 1
    # score[d0], independent of the failure, is cancelled; the dependents are left to SLURM,
    # and the run ends once the queue shows they have ended
    assert run.fake.cancelled == ["101_0"]
    assert run.fake.queries == [["100", "101", "102"], ["101", "102"]]
    assert "1 job(s) failed, 1 succeeded, 3 not run:" in capsys.readouterr().err


def test_a_scheduler_kill_without_marker_is_put_in_the_shared_words(setup, capsys):
    run = setup(
        [rows("100_0=COMPLETED 100_1=TIMEOUT/TimeLimit 101_0=COMPLETED 101_1=CANCELLED/DependencyNeverSatisfied 102_0=CANCELLED/DependencyNeverSatisfied")],
        show={"100": [Row("100", 1, "TIMEOUT", "TimeLimit", 0, 15)]},
    )
    assert run.loop() == 1
    err = capsys.readouterr().err
    assert "  fit[d1]: TIMEOUT, exit code 0, signal 15 (reason TimeLimit; scheduler log .rulec/slurm/1/logs/fit_100_1.out)" in err
    assert "1 job(s) failed, 2 succeeded, 2 not run:" in err  # its dependents are skipped, not failed
    assert run.fake.cancelled == []  # SLURM had cancelled them already


def test_jobs_that_left_the_queue_are_looked_up(setup):
    run = setup(
        [[], [], []],  # squeue no longer knows any of them (past MinJobAge)
        show={
            "100": [Row("100", 0, "COMPLETED", "None", 0, 0), Row("100", 1, "COMPLETED", "None", 0, 0)],
            "101": [Row("101", 0, "COMPLETED", "None", 0, 0)],
        },
    )
    # score[d1] is in no scheduler answer, but its marker says it succeeded; summarize is lost
    run.marker("score[d1]", 0)
    assert run.loop() == 1
    assert sorted(j for j, r in run.history.records().items() if r[2] == "ok") == ["fit[d0]", "fit[d1]", "score[d0]", "score[d1]"]
    assert len(run.fake.queries) == 3  # lost only after three answers without it


def test_giving_up_when_squeue_keeps_failing(setup):
    run = setup([None] * 10)
    with pytest.raises(BackendError, match="squeue failed 6 times in a row"):
        run.loop()
    assert run.fake.cancelled == []  # the submitted jobs are left running
    assert {r[2] for r in run.history.records().values()} == {"running"}  # seen as incomplete next time


def test_a_failed_submission_cancels_what_was_submitted(setup):
    run = setup([])

    def submit(script, dependency, cwd):
        if script == "summarize.sbatch":
            raise BackendError("sbatch: error: invalid partition")
        run.fake.submitted.append(script)
        return str(100 + len(run.fake.submitted) - 1)

    run.fake.submit = submit
    with pytest.raises(BackendError, match="invalid partition"):
        run.loop()
    assert run.fake.cancelled == ["100", "101"]
    assert len(run.history.records()) == 0  # the marks are dropped: all or nothing


def interrupt(fake):
    raise KeyboardInterrupt


def test_ctrl_c_cancels_this_runs_arrays_and_cleans_up(setup, tmp_path, capsys):
    (tmp_path / "fit").mkdir()
    (tmp_path / "fit" / "d1.txt").write_text("partial")
    run = setup([
        rows("100_0=COMPLETED 100_1=RUNNING 101_0=PENDING 101_1=PENDING 102_0=PENDING"),
        interrupt,
        rows("100_0=COMPLETED 100_1=CANCELLED 101_0=CANCELLED 101_1=CANCELLED 102_0=CANCELLED"),
    ])
    assert run.loop() == 130
    assert run.fake.cancelled == ["100", "101", "102"]
    assert sorted(run.history.records()) == ["fit[d0]"]
    assert not (tmp_path / "fit" / "d1.txt").exists()  # it had started: partial output removed
    err = capsys.readouterr().err
    assert "cancelled 3 job array(s) of this run (100 101 102)" in err
    assert "interrupted: stopped 1 running job(s) and removed their outputs" in err


def test_ctrl_c_when_scancel_fails_says_so_and_leaves_running_jobs_alone(setup, tmp_path, capsys):
    """scancel cannot reach the controller: the jobs may still run, so their outputs are not
    removed and the message says what to cancel by hand, instead of claiming it cancelled them."""
    clock = iter(range(0, 10_000, 10))
    (tmp_path / "fit").mkdir()
    (tmp_path / "fit" / "d1.txt").write_text("being written")
    still = rows("100_0=COMPLETED 100_1=RUNNING 101_0=PENDING 101_1=PENDING 102_0=PENDING")
    run = setup([still, interrupt] + [still] * 10, clock=lambda: next(clock))
    run.fake.refuse_cancel = "scancel: error: Unable to contact slurm controller"
    assert run.loop() == 130
    err = capsys.readouterr().err
    assert "cancelled 3 job array" not in err
    assert "scancel failed (scancel: error: Unable to contact slurm controller)" in err
    assert "cancel them yourself: scancel 100_1 101_0 101_1 102_0" in err
    assert "interrupted: 4 job(s) may still be running: slurm could not stop them" in err
    assert (tmp_path / "fit" / "d1.txt").read_text() == "being written"  # still running: untouched
    assert run.history.records()["fit[d1]"][2] != "ok"  # marked started: incomplete, never done


def test_a_closed_standard_output_cancels_and_cleans_up_and_exits_141(setup, tmp_path, monkeypatch):
    """As Ctrl-C does, and exits 141: left alone, the arrays would run on with nobody
    recording them."""
    quieted = []
    monkeypatch.setattr(loop_mod, "_quiet_stdout", lambda: quieted.append(True))

    def closed(fake):
        raise BrokenPipeError(32, "Broken pipe")

    (tmp_path / "fit").mkdir()
    (tmp_path / "fit" / "d1.txt").write_text("partial")
    run = setup([
        rows("100_0=COMPLETED 100_1=RUNNING 101_0=PENDING 101_1=PENDING 102_0=PENDING"),
        closed,
        rows("100_0=COMPLETED 100_1=CANCELLED 101_0=CANCELLED 101_1=CANCELLED 102_0=CANCELLED"),
    ])
    assert run.loop() == 141
    assert quieted and run.fake.cancelled == ["100", "101", "102"]
    assert sorted(run.history.records()) == ["fit[d0]"]
    assert not (tmp_path / "fit" / "d1.txt").exists()


# --------------------------------------------------------------------------- the executor alone

@pytest.mark.parametrize("state, outcome, words", [
    ("COMPLETED", Outcome.OK, None),
    ("TIMEOUT", Outcome.TIMEOUT, "TIMEOUT, no exit code: stopped by the scheduler"),
    ("OUT_OF_MEMORY", Outcome.OUT_OF_MEMORY, "OUT_OF_MEMORY, no exit code: stopped by the scheduler"),
    ("NODE_FAIL", Outcome.NODE_FAIL, "NODE_FAIL, no exit code: stopped by the scheduler"),
    ("PREEMPTED", Outcome.PREEMPTED, "PREEMPTED, no exit code: stopped by the scheduler"),
    ("CANCELLED", Outcome.CANCELLED, "CANCELLED, no exit code: stopped by the scheduler"),
])
def test_scheduler_states_become_outcomes(setup, state, outcome, words):
    from rulec import report

    run = setup([rows(f"100_0={state}")])
    run.open()
    events = [e for e in run.executor.wait() if e.job == run.job("fit[d0]")]
    (ev,) = events
    assert ev.outcome is outcome and ev.state == state
    if words:
        assert report.outcome_text(ev) == f"{words} (scheduler log .rulec/slurm/1/logs/fit_100_0.out)"


def test_a_failed_task_gets_its_exit_code_from_its_marker(setup):
    run = setup([rows("100_0=FAILED")])
    run.marker("fit[d0]", 7)
    run.open()
    (ev,) = run.executor.wait()
    assert (ev.outcome, ev.exit_code, ev.state) == (Outcome.EXIT, 7, "FAILED")


def test_started_once_with_its_task_id_and_lost_after_three_silent_answers(setup):
    run = setup([rows("101_1=RUNNING"), rows("101_1=RUNNING"), [], [], []])
    run.open()
    first = run.executor.wait()
    assert [(type(e), e.where) for e in first if e.job == run.job("score[d1]")] == [(Started, "101_1")]
    assert run.executor.running_jobs() == [run.job("score[d1]")]
    assert not [e for e in run.executor.wait() if e.job == run.job("score[d1]")]  # started once
    run.executor.wait()
    run.executor.wait()
    lost = [e for e in run.executor.wait() if e.job == run.job("score[d1]")]
    assert [(e.outcome, e.state) for e in lost] == [(Outcome.LOST, "not in squeue, sacct or scontrol, and no marker")]


def test_cancel_scancels_exactly_those_tasks_and_they_are_not_reported(setup):
    run = setup([rows("100_0=RUNNING 100_1=RUNNING 101_0=PENDING 101_1=PENDING 102_0=PENDING"),
                 rows("100_0=COMPLETED 100_1=RUNNING 101_0=CANCELLED 101_1=PENDING 102_0=CANCELLED")])
    run.open()
    run.executor.wait()
    assert run.executor.running() == 5
    assert run.executor.cancel([run.job("score[d0]"), run.job("summarize")]) == []
    assert run.fake.cancelled == ["101_0", "102_0"]
    assert run.executor.running() == 3
    events = run.executor.wait()
    assert [(e.job, e.outcome) for e in events if isinstance(e, Finished)] == [(run.job("fit[d0]"), Outcome.OK)]


def test_a_job_cancelled_for_a_failed_upstream_is_reported_a_poll_later_unless_cancelled(setup):
    """The loop cancels a failed job's dependents once it sees the failure, possibly in the
    same answer in which SLURM shows them cancelled: they are held for one poll."""
    never = "100_0=COMPLETED 100_1=COMPLETED 101_0=COMPLETED 101_1=COMPLETED 102_0=CANCELLED/DependencyNeverSatisfied"
    run = setup([rows(never), rows(never)])
    run.open()
    first = run.executor.wait()
    assert run.job("summarize") not in [e.job for e in first]
    (ev,) = [e for e in run.executor.wait() if e.job == run.job("summarize")]
    assert ev.outcome is Outcome.NOT_STARTED and "its array waits for all of score" in " ".join(ev.notes)


def test_a_task_pending_for_a_dependency_never_met_is_cancelled_if_slurm_does_not_end_it(setup):
    """A cluster that ignores --kill-on-invalid-dep: after NEVER_WAIT s rulec cancels the
    task itself (sooner would race SLURM, and a cancelled task of a pending array leaves no
    trace in the queue)."""
    now = [0.0]
    never = rows("100_0=COMPLETED 100_1=COMPLETED 101_0=COMPLETED 101_1=COMPLETED 102_0=PENDING/DependencyNeverSatisfied")
    run = setup([never, never, never, never], clock=lambda: now[0])
    run.open()
    run.executor.wait()
    now[0] = 29.0
    run.executor.wait()
    assert run.fake.cancelled == []
    now[0] = 30.0
    run.executor.wait()
    assert run.fake.cancelled == ["102_0"]
    (ev,) = run.executor.wait()  # reported a poll later (the loop may cancel it meanwhile)
    assert (ev.job, ev.outcome) == (run.job("summarize"), Outcome.NOT_STARTED)
    assert run.fake.cancelled == ["102_0"] and run.executor.running() == 0


def test_dependents_left_to_slurm_that_do_not_end_are_cancelled_at_the_end(setup):
    """(A cluster that ignores --kill-on-invalid-dep.) After NEVER_WAIT s."""
    clock = iter(range(0, 10_000, 10))
    run = setup([], keep_going=False, clock=lambda: next(clock))
    pending = rows("100_0=COMPLETED 100_1=FAILED 101_0=CANCELLED 101_1=PENDING/Dependency 102_0=PENDING/Dependency")
    run.fake.rounds = [fit_d1_fails(run)] + [pending] * 10
    assert run.loop() == 1
    assert run.fake.cancelled == ["101_0", "101_1", "102_0"]


def test_the_poll_interval_backs_off_while_nothing_changes(setup):
    pending = rows("100_0=PENDING 100_1=PENDING 101_0=PENDING 101_1=PENDING 102_0=PENDING")
    run = setup([pending] * 5 + [rows("100_0=RUNNING")] + [pending], poll=1.0, max_poll=4.0)
    run.open()
    for _ in range(7):
        run.executor.wait()
    assert run.sleeps == [1.0, 1.5, 2.25, 3.375, 4.0, 4.0, 1.0]  # a change: back to --poll


# --------------------------------------------------------------------------- a stuck cluster

def test_a_job_stuck_on_a_node_that_stops_answering_is_reported_then_given_up_as_node_fail(setup, tmp_path, capsys):
    """slurmd stopped: fit[d0] sits in COMPLETING on a node sinfo shows as ``completing*``. It
    is reported once its node is looked at (COMPLETING for 10 s), and stuck_after s later it
    is scancelled and fails as NODE_FAIL: its outputs removed, its dependents scancelled
    (SLURM may yet call it COMPLETED, so they are not left to --kill-on-invalid-dep)."""
    (tmp_path / "fit").mkdir()
    (tmp_path / "fit" / "d0.txt").write_text("partial")
    now = [0.0]

    def stuck(fake):
        now[0] += 5.0
        return rows("100_0=COMPLETING 100_1=COMPLETED 101_0=PENDING/Dependency 101_1=COMPLETED 102_0=PENDING/Dependency")

    run = setup([stuck] * 40, quiet=False, clock=lambda: now[0], stuck_after=60)
    run.fake.where = {"100_0": "vm"}
    run.fake.node_state = {"vm": "completing*"}
    assert run.loop() == 1
    out, err = capsys.readouterr()
    said = [line for line in (out + err).splitlines() if "on node vm" in line]
    # first seen COMPLETING at 5 s; looked at once it has been for 10 s (at 15 s)
    assert said == ["fit[d0] (100_0) has been COMPLETING for 10 s on node vm, which is NOT_RESPONDING (sinfo: completing*); "
                    "it is given up as NODE_FAIL if it is still there in 60 s (stuck_after)"]
    assert ("FAILED fit[d0]: NODE_FAIL: node vm is NOT_RESPONDING, no exit code: stopped by the scheduler "
            "(stuck there for 60 s, the profile's stuck_after; scancel 100_0; scheduler log") in err
    assert now[0] == 75.0  # given up at 15 + 60 s
    assert run.fake.cancelled == ["100_0", "101_0", "102_0"]  # it, then its dependents
    assert not (tmp_path / "fit" / "d0.txt").exists()
    assert "1 job(s) failed, 2 succeeded, 2 not run:" in err
    # cheap: one squeue and one sinfo at most every NODE_EVERY polls (and once to confirm)
    assert [q[0] for q in run.fake.node_queries] == ["squeue", "sinfo"] * 4
    assert run.fake.node_queries[1] == ("sinfo", ["vm"])


def test_a_node_that_comes_back_is_said_and_nothing_is_given_up(setup):
    now = [0.0]

    def completing(fake):
        now[0] += 5.0
        return rows("100_0=COMPLETING 100_1=RUNNING 101_0=PENDING 101_1=PENDING 102_0=PENDING")

    run = setup([completing] * 12, clock=lambda: now[0], stuck_after=60)
    run.fake.where = {"100_0": "vm"}
    run.fake.node_state = {"vm": "down*"}
    run.open()
    notes = []
    for i in range(12):
        if i == 6:
            run.fake.node_state = {"vm": "idle"}
        notes += [e.text for e in run.executor.wait() if not hasattr(e, "job")]
    assert [n.split(",")[0] for n in notes] == [
        "fit[d0] (100_0) has been COMPLETING for 10 s on node vm", "fit[d0] (100_0): node vm is idle again; waiting for the job as before"]
    assert "which is DOWN (sinfo: down*)" in notes[0]
    assert run.fake.cancelled == [] and run.executor.running() == 5


def test_no_node_query_while_jobs_run_for_a_short_time(setup):
    now = [0.0]

    def running(fake):
        now[0] += 1.0
        return rows("100_0=RUNNING 100_1=COMPLETING 101_0=PENDING 101_1=PENDING 102_0=PENDING")

    run = setup([running] * 9, clock=lambda: now[0])
    run.open()
    for _ in range(9):
        run.executor.wait()
    assert run.fake.node_queries == []


def test_squeue_failing_is_said_every_30_s_and_its_recovery_too(setup):
    now = [0.0]

    def failing(fake):
        now[0] += 10.0  # each failed query (with its retries) takes 10 s
        return None

    run = setup([failing] * 5 + [rows("100_0=RUNNING")], clock=lambda: now[0])
    run.fake.last_error = "slurm_load_jobs error: Unable to contact slurm controller (connect failure)"
    run.open()
    said = [[e.text for e in run.executor.wait() if not hasattr(e, "job")] for _ in range(6)]
    why = "(slurm_load_jobs error: Unable to contact slurm controller (connect failure)), retrying"
    assert said[:5] == [[f"squeue failing for 10 s {why}"], [], [], [f"squeue failing for 40 s {why}"], []]
    assert said[5] == ["squeue answers again (after 50 s)"]


def test_stuck_after_is_seconds_or_a_duration():
    from rulec.executors.slurm import STUCK_AFTER, stuck_after_setting

    assert (stuck_after_setting(None), stuck_after_setting(45), stuck_after_setting("2m")) == (STUCK_AFTER, 45.0, 120.0)
    assert prof.parse({"slurm": {"stuck_after": "10m"}}).backend("slurm").setting("stuck_after") == "10m"
    with pytest.raises(prof.ProfileError, match="stuck_after must be seconds"):
        prof.parse({"slurm": {"stuck_after": "soon"}})


# --------------------------------------------------------------------------- options

@pytest.mark.parametrize("args, words", [
    (["--executor", "slurm", "-j2"], "-j/--cores is for local runs: SLURM jobs ask for their own resources"),
    (["--executor", "slurm", "--mem", "4G"], "--mem is for local runs: SLURM jobs ask for their own resources"),
    (["--executor", "slurm", "--resources", "io=2"], "--resources is for local runs"),
    (["--poll", "1"], "--poll is for cluster runs"),
    (["--bundle", "b"], "--bundle is for cluster runs"),
    (["--profile", "p.toml"], "--profile is for cluster runs"),
    (["--pack", "5"], "--pack is for SLURM and LSF job arrays: a local run has no array tasks to pack"),
    (["--executor", "jbsub", "--pack", "5"], "--pack is for SLURM and LSF job arrays: jbsub runs one job per jbsub call"),
    (["--executor", "slurm", "--pack", "0"], "--pack must be at least 1"),
    (["--executor", "slurm", "--pack", "soon"], "--pack 'soon': expected a whole number of jobs per task (--pack 50) or a run time per task (--pack 5m)"),
])
def test_options_the_executor_cannot_honour_are_refused_before_anything_runs(tmp_path, capsys, args, words):
    (tmp_path / "Rulefile").write_text('rule a:\n    output: "a.txt"\n    shell: "touch {output}"\n')
    assert cli.main(["run", *args, str(tmp_path)]) == 2
    assert words in capsys.readouterr().err
    assert not (tmp_path / "a.txt").exists() and not (tmp_path / ".rulec" / "slurm").exists()


def test_a_retried_task_is_submitted_alone_and_the_dependents_slurm_cancelled_follow_it(setup):
    def first(fake):
        run.marker("fit[d0]", 1)
        return rows("100_0=FAILED 100_1=COMPLETED 101_0=CANCELLED/DependencyNeverSatisfied 101_1=PENDING "
                    "102_0=CANCELLED/DependencyNeverSatisfied")

    run = setup([first,
                 rows("100_0=FAILED 103_0=RUNNING 101_0=CANCELLED/DependencyNeverSatisfied 101_1=COMPLETED "
                      "102_0=CANCELLED/DependencyNeverSatisfied"),
                 rows("100_0=FAILED 103_0=COMPLETED 104_0=COMPLETED 105_0=COMPLETED")])
    run.open()
    fit, score, summarize = run.job("fit[d0]"), run.job("score[d0]"), run.job("summarize")
    events = run.executor.wait()
    assert [(e.job, e.outcome) for e in events if isinstance(e, Finished)] == [
        (fit, Outcome.EXIT), (run.job("fit[d1]"), Outcome.OK)]  # the cancelled dependents wait a poll
    assert run.executor.resubmit([Task(fit, "fit[d0]", "echo d0 > fit/d0.txt", run.bundle.logs[fit], attempt=2)]) == []
    assert run.fake.submitted[3] == ("fit.sbatch", None, "--array=0")
    assert not (run.path / ".rulec" / "slurm" / "1" / "status" / "fit.d0.rc").exists()
    events = run.executor.wait()
    # the old attempt's row is not this job's any more; score[d0] and summarize go again
    assert run.fake.submitted[4:] == [("score.sbatch", "afterok:103_0", "--array=0"),
                                      ("summarize.sbatch", "afterok:104_0", "--array=0")]
    assert [(type(e).__name__, e.job) for e in events] == [("Started", fit), ("Finished", run.job("score[d1]"))]
    assert "103" in run.fake.queries[-1] and "100" in run.fake.queries[-1]
    events = run.executor.wait()
    assert [(e.job, e.outcome) for e in events if isinstance(e, Finished)] == [
        (fit, Outcome.OK), (score, Outcome.OK), (summarize, Outcome.OK)]
    assert run.executor.running() == 0
    ids = (run.path / ".rulec" / "slurm" / "1" / "jobids").read_text().split("\n")
    assert ids[3:6] == ["fit_0 103", "score_0 104", "summarize_0 105"]


def test_a_retry_asks_for_the_scaled_memory_and_time(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    wf = analyze(parse('''
rule a:
    output: "a.txt"
    retries: 2
    resources: mem="100M*{attempt}", time="10m*{attempt}"
    shell: "echo {attempt} > {output}"
''', "Rulefile"), str(tmp_path))
    graph = resolve(wf, (), exists=lambda p: False)
    history = History.open(str(tmp_path), write=True)
    plan = make_plan(graph, Snapshot({}), history)
    bundle = bundle_mod.build(graph, list(plan.run), "slurm", prof.EMPTY, str(tmp_path / "b"), 1001)
    bundle_mod.write(bundle)
    fake = FakeSlurm([])
    ex = SlurmExecutor(bundle, fake, 0.0, 0.0, accounting=False, quiet=True, sleep=lambda s: None)
    (job,) = plan.run
    ex.open([Task(job, "a", "", bundle.logs[job])], {job: ()})
    ex.resubmit([Task(job, "a", "echo 3 > a.txt", bundle.logs[job], attempt=3)])
    assert fake.submitted[-1] == ("a.sbatch", None, "--array=0", "--mem=300M", "--time=00:30:00")
    assert "echo 3 > a.txt" in (tmp_path / "b" / "a.tasks").read_text()
    history.close()


# --------------------------------------------------------------------------- packed tasks

PACKED = '''
dimension dataset = ["d0", "d1", "d2"]

rule all:
    input: "out.txt"

rule fit:
    output: "fit/{dataset}.txt"
    shell: "echo {dataset} > {output}"

rule score:
    input: "fit/{dataset}.txt"
    output: "score/{dataset}.txt"
    shell: "cat {input} > {output}"

rule summarize:
    input: expand("score/{dataset}.txt")
    output: "out.txt"
    shell: "cat {input} > {output}"
'''


def packed(setup, rounds=(), **kw):
    """fit[d0..d2] in task 100_0, score[d0..d2] in 101_0 (aftercorr), summarize alone in 102_0."""
    run = setup(list(rounds), rulefile=PACKED, pack=3, **kw)
    assert [(a.name, len(a), a.pack) for a in run.bundle.layout.arrays] == [("fit", 1, 3), ("score", 1, 3), ("summarize", 1, 1)]
    return run


def step(run, spec, done=(), started=(), failed=()):
    """An squeue answer after the packed tasks wrote these markers."""
    def answer(fake):
        for jid in (*done, *failed, *started):
            run.start(jid)
        for jid in done:
            run.marker(jid, 0)
        for jid in failed:
            run.marker(jid, 3)
        return rows(spec)
    return answer


def test_packed_jobs_are_reported_one_by_one_from_their_markers(setup, capsys):
    run = packed(setup, quiet=False)
    run.fake.rounds = [
        step(run, "100_0=RUNNING 101_0=PENDING 102_0=PENDING", started=["fit[d0]"]),
        step(run, "100_0=RUNNING 101_0=PENDING 102_0=PENDING", done=["fit[d0]"], started=["fit[d1]"]),
        step(run, "100_0=COMPLETED 101_0=RUNNING 102_0=PENDING", done=["fit[d1]"], started=["score[d0]"]),  # fit[d2]: COMPLETED
        rows("100_0=COMPLETED 101_0=COMPLETED 102_0=COMPLETED"),
    ]
    assert run.loop() == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("submitted 3 array(s), 3 task(s) for 7 job(s), 3 sbatch call(s) from .rulec/slurm/1: fit=100")
    assert [line.rsplit(" (", 1)[0] for line in out[1:-1]] == [
        "[1/7] done fit[d0]", "[2/7] done fit[d1]", "[3/7] done fit[d2]",
        "[4/7] done score[d0]", "[5/7] done score[d1]", "[6/7] done score[d2]", "[7/7] done summarize"]
    assert run.fake.submitted == [("fit.sbatch", None), ("score.sbatch", "aftercorr:100"), ("summarize.sbatch", "aftercorr:101")]
    assert len(run.history.records()) == 7 and {r[2] for r in run.history.records().values()} == {"ok"}


def test_a_packed_job_starts_when_its_task_reaches_it(setup):
    run = packed(setup, [lambda fake: (run.start("fit[d1]"), rows("100_0=RUNNING 101_0=PENDING 102_0=PENDING"))[1]])
    run.open()
    events = run.executor.wait()
    assert [(type(e).__name__, run.graph.job_id(e.job), e.where) for e in events] == [("Started", "fit[d1]", "100_0")]
    assert run.executor.running_jobs() == [run.job("fit[d1]")]  # not its pack-mates


def test_a_failing_packed_job_fails_alone_and_slurm_ends_its_dependents_task(setup, tmp_path, capsys):
    """With --keep-going: fit[d1] fails in the middle of its pack; fit[d0] and fit[d2] succeed.
    Its task exits 1, so SLURM ends score's task (aftercorr): score[d1] is cancelled by the
    loop (a dependent), score[d0] and score[d2] are not run (their task waited for every job
    of fit's task) and run on the next run."""
    (tmp_path / "fit").mkdir()
    run = packed(setup)
    run.fake.rounds = [
        step(run, "100_0=RUNNING 101_0=PENDING 102_0=PENDING", done=["fit[d0]"], failed=["fit[d1]"], started=["fit[d2]"]),
        step(run, "100_0=FAILED/NonZeroExitCode 101_0=CANCELLED/DependencyNeverSatisfied 102_0=CANCELLED/DependencyNeverSatisfied",
             done=["fit[d2]"]),
        rows("100_0=FAILED 101_0=CANCELLED/DependencyNeverSatisfied 102_0=CANCELLED/DependencyNeverSatisfied"),
    ]
    assert run.loop() == 1
    assert run.fake.cancelled == []  # left to SLURM: nothing of the pack-mates is cancelled
    err = capsys.readouterr().err
    assert "FAILED fit[d1]: exit status 3 (scheduler log .rulec/slurm/1/logs/fit_100_0.out)" in err
    assert "1 job(s) failed, 2 succeeded, 4 not run:" in err
    assert sorted(j for j, r in run.history.records().items() if r[2] == "ok") == ["fit[d0]", "fit[d2]"]


def test_a_pack_mates_dependent_cancelled_by_slurm_says_why(setup):
    run = packed(setup)
    never = "100_0=FAILED 101_0=CANCELLED/DependencyNeverSatisfied 102_0=PENDING"
    run.fake.rounds = [step(run, never, done=["fit[d0]", "fit[d2]"], failed=["fit[d1]"]), rows(never)]
    run.open()
    first = [e for e in run.executor.wait() if isinstance(e, Finished)]
    assert [(run.graph.job_id(e.job), e.outcome) for e in first] == [
        ("fit[d0]", Outcome.OK), ("fit[d1]", Outcome.EXIT), ("fit[d2]", Outcome.OK)]
    assert first[1].exit_code == 3
    run.executor.cancel([run.job("score[d1]"), run.job("summarize")])  # what the loop does
    later = [e for e in run.executor.wait() if isinstance(e, Finished)]
    assert [(run.graph.job_id(e.job), e.outcome) for e in later] == [("score[d0]", Outcome.NOT_STARTED), ("score[d2]", Outcome.NOT_STARTED)]
    assert later[0].notes[-1] == ("cancelled by SLURM: its task waits for every job of task 0 of fit, where a job failed; "
                                  "it runs on the next rulec run")


def test_without_keep_going_a_running_pack_skips_its_jobs_not_started(setup, tmp_path):
    """fit[d0] fails while fit[d1] runs (seen started): fit[d2] must not start, but fit[d1]
    may finish: a cancel file for fit[d2], no scancel of fit's task; score's task, none of
    whose jobs may run now, is scancelled."""
    run = packed(setup, keep_going=False)
    status = tmp_path / ".rulec" / "slurm" / "1" / "status"
    run.fake.rounds = [
        step(run, "100_0=RUNNING 101_0=PENDING 102_0=PENDING", started=["fit[d1]"]),
        step(run, "100_0=RUNNING 101_0=PENDING 102_0=PENDING", failed=["fit[d0]"], started=["fit[d1]"]),
        step(run, "100_0=FAILED 101_0=CANCELLED/DependencyNeverSatisfied 102_0=CANCELLED/DependencyNeverSatisfied", done=["fit[d1]"]),
    ]
    assert run.loop() == 1
    assert run.fake.cancelled == ["101_0"]
    assert (status / "fit.d2.cancel").exists() and not (status / "fit.d1.cancel").exists()
    assert sorted(j for j, r in run.history.records().items() if r[2] == "ok") == ["fit[d1]"]


def test_a_pack_whose_jobs_are_all_cancelled_is_scancelled(setup):
    run = packed(setup, [rows("100_0=RUNNING 101_0=PENDING 102_0=PENDING")])
    run.open()
    run.executor.wait()
    run.executor.cancel([run.job("score[d0]"), run.job("score[d1]")])
    assert run.fake.cancelled == []  # score[d2] still to run in that task
    run.executor.cancel([run.job("score[d2]")])
    assert run.fake.cancelled == ["101_0"]


def test_a_pack_the_scheduler_stops_fails_its_running_job_and_those_not_started(setup, capsys):
    run = packed(setup)
    run.fake.rounds = [step(run, "100_0=TIMEOUT/TimeLimit 101_0=CANCELLED/DependencyNeverSatisfied 102_0=PENDING",
                            done=["fit[d0]"], started=["fit[d1]"])]
    run.open()
    events = {run.graph.job_id(e.job): e for e in run.executor.wait() if isinstance(e, Finished)}
    assert events["fit[d0]"].outcome is Outcome.OK
    assert events["fit[d1]"].outcome is Outcome.TIMEOUT
    assert "its task 100_0 (a pack of 3) ended while it ran" in events["fit[d1]"].notes
    assert events["fit[d2]"].outcome is Outcome.TIMEOUT and events["fit[d2]"].log is None
    assert "it had not started: its task 100_0 (a pack of 3) ended first" in events["fit[d2]"].notes


def test_a_packed_job_is_retried_alone_and_its_task_mates_dependents_follow(setup):
    """fit[d1] fails in its pack and is retried alone (retry/fit.1.sbatch, --array=0); fit's
    task ends FAILED, so SLURM cancels score's task: its three jobs go again one task each,
    score[d1] after the retry, the others at once; summarize after them."""
    run = packed(setup)
    run.fake.rounds = [
        step(run, "100_0=RUNNING 101_0=PENDING 102_0=PENDING", done=["fit[d0]"], failed=["fit[d1]"], started=["fit[d2]"]),
        step(run, "100_0=FAILED 103_0=PENDING 101_0=CANCELLED/DependencyNeverSatisfied 102_0=CANCELLED/DependencyNeverSatisfied",
             done=["fit[d2]"]),
        rows("100_0=FAILED 103_0=RUNNING 101_0=CANCELLED/DependencyNeverSatisfied 102_0=CANCELLED/DependencyNeverSatisfied"),
        rows("100_0=FAILED 103_0=COMPLETED 104_0=COMPLETED 105_0=COMPLETED 106_0=COMPLETED 107_0=COMPLETED"),
    ]
    run.open()
    fit1 = run.job("fit[d1]")
    events = run.executor.wait()
    assert [(run.graph.job_id(e.job), e.outcome) for e in events if isinstance(e, Finished)] == [
        ("fit[d0]", Outcome.OK), ("fit[d1]", Outcome.EXIT)]
    run.executor.resubmit([Task(fit1, "fit[d1]", "echo d1 > fit/d1.txt", run.bundle.logs[fit1], attempt=2)])
    assert run.fake.submitted[3] == ("retry/fit.1.sbatch", None, "--array=0")
    bundle = run.path / ".rulec" / "slurm" / "1"
    assert "\nonly=1  #" in (bundle / "retry" / "fit.1.sbatch").read_text()
    assert not (bundle / "status" / "fit.d1.rc").exists() and not (bundle / "status" / "fit.d1.start").exists()
    events = run.executor.wait()  # fit[d2] done; score's three jobs held a poll
    assert [(run.graph.job_id(e.job), e.outcome) for e in events if isinstance(e, Finished)] == [("fit[d2]", Outcome.OK)]
    events = run.executor.wait()
    assert run.fake.submitted[4:] == [("retry/score.0.sbatch", None, "--array=0"),
                                      ("retry/score.1.sbatch", "afterok:103_0", "--array=0"),
                                      ("retry/score.2.sbatch", None, "--array=0"),
                                      ("summarize.sbatch", "afterok:104_0:105_0:106_0", "--array=0")]
    assert [(type(e).__name__, run.graph.job_id(e.job)) for e in events] == [("Started", "fit[d1]")]
    events = run.executor.wait()
    assert [(run.graph.job_id(e.job), e.outcome) for e in events if isinstance(e, Finished)] == [
        ("fit[d1]", Outcome.OK), ("score[d0]", Outcome.OK), ("score[d1]", Outcome.OK), ("score[d2]", Outcome.OK),
        ("summarize", Outcome.OK)]
    assert run.executor.running() == 0
    ids = (bundle / "jobids").read_text().split("\n")
    assert ids[3:8] == ["fit_0:1 103", "score_0:0 104", "score_0:1 105", "score_0:2 106", "summarize_0 107"]


def test_a_job_of_a_task_running_three_at_once_is_retried_with_the_cores_and_memory_of_one(setup):
    rulefile = PACKED.replace('''    output: "fit/{dataset}.txt"
''', '''    output: "fit/{dataset}.txt"
    resources: mem="300M", time="10m"
''')
    run = setup([], rulefile=rulefile, pack=3, profile=prof.parse({"slurm": {"rules": {"fit": {"cpus_per_task": 3}}}}, "c.toml"))
    fit = run.bundle.layout.arrays[0]
    assert (fit.name, fit.pack, fit.width) == ("fit", 3, 3)
    text = (run.path / ".rulec" / "slurm" / "1" / "fit.sbatch").read_text()
    assert "#SBATCH --mem=900M\n" in text and "#SBATCH --time=00:10:00\n" in text and "#SBATCH --cpus-per-task=3\n" in text
    run.open()
    fit1 = run.job("fit[d1]")
    run.executor.resubmit([Task(fit1, "fit[d1]", "echo d1 > fit/d1.txt", run.bundle.logs[fit1], attempt=2)])
    assert run.fake.submitted[3] == ("retry/fit.1.sbatch", None, "--array=0", "--mem=300M", "--cpus-per-task=1", "--time=00:10:00")


def test_ctrl_c_keeps_the_packed_jobs_done_and_removes_the_running_ones_outputs(setup, tmp_path, capsys):
    (tmp_path / "fit").mkdir()
    (tmp_path / "fit" / "d1.txt").write_text("partial")
    run = packed(setup)
    def ctrl_c(fake):  # meanwhile fit[d0] ended and fit[d1] started
        step(run, "", done=["fit[d0]"], started=["fit[d1]"])(fake)
        raise KeyboardInterrupt

    run.fake.rounds = [
        step(run, "100_0=RUNNING 101_0=PENDING 102_0=PENDING", started=["fit[d0]"]),
        ctrl_c,
        rows("100_0=CANCELLED 101_0=CANCELLED 102_0=CANCELLED"),
    ]
    assert run.loop() == 130
    assert run.fake.cancelled == ["100", "101", "102"]
    assert sorted(run.history.records()) == ["fit[d0]"]  # done while being cancelled: kept
    assert not (tmp_path / "fit" / "d1.txt").exists()  # it had started


def test_a_pack_left_completing_is_watched_through_its_first_job_not_started(setup):
    """The task's script is over (COMPLETING) with fit[d1] and fit[d2] never started (the
    node went down between two jobs): fit[d1] stands for the task, so a node that is down
    is found and said once, not once per job."""
    now = [0.0]

    def completing(fake):
        now[0] += 5.0
        return step(run, "100_0=COMPLETING 101_0=PENDING 102_0=PENDING", done=["fit[d0]"])(fake)

    run = packed(setup, [completing] * 4, clock=lambda: now[0], stuck_after=60)
    run.fake.where = {"100_0": "vm"}
    run.fake.node_state = {"vm": "down*"}
    run.open()
    notes = [e.text for _ in range(4) for e in run.executor.wait() if not hasattr(e, "job")]
    assert notes == ["fit[d1] (100_0) has been COMPLETING for 10 s on node vm, which is DOWN (sinfo: down*); "
                     "it is given up as NODE_FAIL if it is still there in 60 s (stuck_after)"]


# --------------------------------------------------------------------------- re-attached jobs

class Reattach:
    """A dead run that submitted fit (array 50, bundle 1) and was killed while it ran; the
    next run re-attaches its tasks and plans every job: score and summarize go in bundle 2,
    held back until the fits have ended."""

    def __init__(self, tmp_path, monkeypatch, rounds, keep_going=True):
        from rulec.executors import ExecutorOptions
        from rulec.executors import slurm as slurm_exec

        monkeypatch.chdir(tmp_path)  # the paths in messages are shown relative to it
        monkeypatch.setattr(slurm_exec.limits, "check", lambda layout, cluster: [])  # (no partitions to fit)

        wf = analyze(parse(RULEFILE, "Rulefile"), str(tmp_path))
        self.path = tmp_path
        self.graph = graph = resolve(wf, (), exists=lambda p: False)
        self.history = History.open(str(tmp_path), write=True)
        fits = [j for j in range(len(graph)) if graph.rule_of(j).name == "fit"]
        dead = bundle_mod.build(graph, fits, "slurm", prof.EMPTY, str(tmp_path / ".rulec" / "slurm" / "1"), 1001)
        bundle_mod.write(dead)
        (tmp_path / ".rulec" / "slurm" / "1" / "jobids").write_text("fit 50\n")
        (tmp_path / ".rulec" / "slurm" / "1" / "status").mkdir()
        self.history.mark_started([(graph.job_id(j), "fit", graph.outputs[j]) for j in fits])
        self.fake = FakeSlurm(rounds)
        self.fake.config = lambda: {}
        self.fake.partitions = lambda: []
        self.fake.nodes = lambda: []
        self.reattached = slurm_exec.reattach(str(tmp_path), self.history, graph, slurm=self.fake, quiet=False)
        self.plan = make_plan(graph, Snapshot({}), self.history)
        opts = ExecutorOptions(slurm_exec.Backend.SLURM, poll=0.0, reattached=self.reattached)
        self.executor = slurm_exec.make(opts, graph, self.plan, quiet=False, slurm=self.fake)
        self.executor.sleep = lambda s: None
        self.opts = RunOptions(1, None, keep_going=keep_going, quiet=False)

    def loop(self) -> int:
        return Loop(self.graph, self.plan, self.history, self.opts, self.executor,
                    attached=self.reattached.started(self.plan.run)).run()

    def end(self, jid: str, code: int, output: str | None = None) -> None:
        (self.path / ".rulec" / "slurm" / "1" / "status" / f"{bundle_mod.marker_name(jid)}.rc").write_text(f"{code}\n")
        if output:
            (self.path / output).parent.mkdir(exist_ok=True)
            (self.path / output).write_text("x\n")


def test_re_attached_tasks_are_followed_in_the_same_squeue_and_their_dependents_submitted_after_them(tmp_path, monkeypatch, capsys):
    def fits_end(fake):
        run.end("fit[d0]", 0, "fit/d0.txt")
        run.end("fit[d1]", 0, "fit/d1.txt")
        return rows("50_0=COMPLETED 50_1=COMPLETED")

    def score_ends(fake):
        for d in ("d0", "d1"):
            (tmp_path / "score").mkdir(exist_ok=True)
            (tmp_path / "score" / f"{d}.txt").write_text("x\n")
        return rows("100_0=COMPLETED 100_1=COMPLETED 101_0=PENDING")

    run = Reattach(tmp_path, monkeypatch, [
        rows("50_0=RUNNING 50_1=PENDING"),  # reattach: both still on SLURM
        rows("50_0=RUNNING 50_1=RUNNING"),
        fits_end,
        score_ends,
        rows("101_0=COMPLETED"),
    ])
    assert run.reattached.jobs and len(run.reattached.jobs) == 2
    assert run.fake.submitted == []  # nothing before the loop: score and summarize wait for the fits
    assert run.loop() == 0
    out = capsys.readouterr().out
    assert "re-attached 2 job(s) of .rulec/slurm/1 still on SLURM: ids 50_0 50_1" in out
    assert "2 array(s) of .rulec/slurm/2 to submit once the re-attached jobs they need have ended" in out
    # one squeue per poll, the dead run's array with the new run's own
    assert run.fake.queries[1:] == [["50"], ["50"], ["100", "101"], ["101"]]
    # submitted once the fits were over: score with no dependency left, summarize after score
    assert [(s[0], s[1]) for s in run.fake.submitted] == [("score.sbatch", None), ("summarize.sbatch", "afterok:100")]
    assert "Done: 5 job(s) ran on slurm." in out
    done = {jid for jid, rec in run.history.records().items() if rec[2] == "ok"}
    assert done == {"fit[d0]", "fit[d1]", "score[d0]", "score[d1]", "summarize"}
    assert (tmp_path / ".rulec" / "slurm" / "1" / "adopted").read_text() == "followed fit[d0]\nfollowed fit[d1]\n"


def test_a_failed_re_attached_task_fails_its_dependents_and_the_rest_is_submitted_in_part(tmp_path, monkeypatch, capsys):
    def fits_end(fake):
        run.end("fit[d0]", 4)
        run.end("fit[d1]", 0, "fit/d1.txt")
        return rows("50_0=FAILED 50_1=COMPLETED")

    def score_ends(fake):
        (tmp_path / "score").mkdir(exist_ok=True)
        (tmp_path / "score" / "d1.txt").write_text("x\n")
        return rows("100_1=COMPLETED")

    run = Reattach(tmp_path, monkeypatch, [rows("50_0=RUNNING 50_1=RUNNING"), fits_end, score_ends])
    assert run.loop() == 1
    captured = capsys.readouterr()
    assert "fit[d0]: exit status 4 (re-attached from .rulec/slurm/1, 50_0)" in captured.err
    # score[d0] and summarize were cancelled before anything of them was submitted: score
    # goes with its task 1 only; summarize never
    assert run.fake.submitted == [("score.sbatch", None, "--array=1")]
    assert "1 job(s) failed, 2 succeeded, 2 not run" in captured.err
    done = {jid for jid, rec in run.history.records().items() if rec[2] == "ok"}
    assert done == {"fit[d1]", "score[d1]"}


def test_ctrl_c_cancels_the_re_attached_tasks_too(tmp_path, monkeypatch, capsys):
    def interrupt(fake):
        raise KeyboardInterrupt

    run = Reattach(tmp_path, monkeypatch, [rows("50_0=RUNNING 50_1=RUNNING"), rows("50_0=RUNNING 50_1=RUNNING"), interrupt,
                              rows("50_0=CANCELLED 50_1=CANCELLED")])
    assert run.loop() == 130
    assert run.fake.cancelled == ["50_0", "50_1"]
    assert run.fake.submitted == []
    assert not {jid for jid, rec in run.history.records().items() if rec[2] == "running"}  # they run again
    assert (tmp_path / ".rulec" / "slurm" / "1" / "adopted").exists()


# --------------------------------------------------------------------------- job ids with a slash, a retry's dependents, outcomes


def test_a_packed_job_whose_id_has_a_slash_is_followed_and_cancelled_by_its_escaped_markers(setup, tmp_path):
    """make[sub/x] (a glob() dimension's value): its markers are status/make.sub%2Fx.*, as its
    task writes them; without --keep-going, make[a]'s failure gives it a cancel file by that
    name (its task goes on with make[b]), not a crash on a folder status/make[sub."""
    run = setup([], rulefile=SLASHED, pack=3, keep_going=False)
    status = tmp_path / ".rulec" / "slurm" / "1" / "status"
    run.fake.rounds = [step(run, "100_0=RUNNING", failed=["make[a]"], started=["make[b]"]),
                       step(run, "100_0=FAILED/NonZeroExitCode", done=["make[b]"])]
    assert run.loop() == 1
    assert [p.name for p in status.glob("*.cancel")] == ["make.sub%2Fx.cancel"]
    assert run.fake.cancelled == []  # its task goes on
    assert sorted(j for j, r in run.history.records().items() if r[2] == "ok") == ["make[b]"]


def test_a_packed_job_whose_id_has_a_slash_is_reported_done_from_its_marker(setup, capsys):
    run = setup([], rulefile=SLASHED, pack=3, quiet=False)
    run.fake.rounds = [step(run, "100_0=RUNNING", failed=["make[a]"], done=["make[b]", "make[sub/x]"]),
                       rows("100_0=FAILED/NonZeroExitCode")]
    assert run.loop() == 1
    assert "done make[sub/x]" in capsys.readouterr().out
    assert sorted(j for j, r in run.history.records().items() if r[2] == "ok") == ["make[b]", "make[sub/x]"]


def test_a_job_that_exits_0_without_its_output_fails_as_in_a_local_run(setup, capsys):
    """Its task's marker says 256 (MISSING_OUTPUT), not 1: the outcome and the words of a
    local run, not 'exit status 1'."""
    def answer(fake):
        run.marker("fit[d1]", bundle_mod.MISSING_OUTPUT)
        return rows("100_0=COMPLETED 100_1=FAILED/NonZeroExitCode 101_0=COMPLETED 101_1=CANCELLED/DependencyNeverSatisfied "
                    "102_0=CANCELLED/DependencyNeverSatisfied")

    run = setup([answer])
    run.open()
    events = {run.graph.job_id(e.job): e for e in run.executor.wait() if isinstance(e, Finished)}
    assert (events["fit[d1]"].outcome, events["fit[d1]"].exit_code) == (Outcome.MISSING_OUTPUT, 0)
    run = setup([answer], quiet=False)
    assert run.loop() == 1
    err = capsys.readouterr().err
    assert "FAILED fit[d1]: exited 0 but did not create every declared output (scheduler log " in err
    assert "exit status" not in err


RETRIED = '''
dimension d = ["a", "b"]

rule all:
    input: expand("two/{d}.txt")

rule one:
    output: "one/{d}.txt"
    retries: 1
    shell: "echo {d} > {output}"

rule two:
    input: "one/{d}.txt"
    output: "two/{d}.txt"
    shell: "cat {input} > {output}"
'''


def test_a_dependent_of_a_retry_that_fails_again_is_skipped_once(setup, capsys):
    """one[a] fails, is retried (103), fails again: two[a], which SLURM cancelled at the first
    failure and rulec was about to submit again, is skipped once, for that failure."""
    def first(fake):
        run.marker("one[a]", 3)
        return rows("100_0=FAILED/NonZeroExitCode 100_1=COMPLETED 101_0=CANCELLED/DependencyNeverSatisfied 101_1=PENDING")

    def again(fake):
        run.marker("one[a]", 3)
        return rows("100_0=FAILED 102_0=FAILED/NonZeroExitCode 101_0=CANCELLED/DependencyNeverSatisfied 101_1=COMPLETED")

    run = setup([first, again], rulefile=RETRIED, quiet=False)
    assert run.loop() == 1
    captured = capsys.readouterr()
    assert captured.out.count("skipped two[a]") == 1, captured.out
    assert "1 job(s) failed, 2 succeeded, 1 not run:" in captured.err
    assert [s[0] for s in run.fake.submitted] == ["one.sbatch", "two.sbatch", "one.sbatch"]  # two[a] not again


ALL_OF = '''
dimension d = ["d0", "d1"]
dimension m = ["m0", "m1"]

rule all:
    input: expand("sum/{m}.txt")

rule fit:
    output: "fit/{d}_{m}.txt"
    shell: "echo {d} > {output}"

rule summarize:
    input: expand("fit/{d}_{m}.txt")
    output: "sum/{m}.txt"
    shell: "cat {input} > {output}"
'''


def test_a_job_slurm_cancels_for_an_array_it_waits_for_whole_says_so_when_skipped(setup, capsys):
    """fit[d1,m0] fails; summarize[m1], all of whose own fits succeeded, is cancelled by SLURM
    (afterok on the whole of fit): skipped, saying why, not 'an upstream job failed' alone."""
    def fails(fake):
        run.marker("fit[d1,m0]", 3)
        return rows("100_0=COMPLETED 100_1=FAILED/NonZeroExitCode 100_2=COMPLETED 100_3=COMPLETED "
                    "101_0=CANCELLED/DependencyNeverSatisfied 101_1=CANCELLED/DependencyNeverSatisfied")

    never = "100_0=COMPLETED 100_1=FAILED 100_2=COMPLETED 100_3=COMPLETED 101_1=CANCELLED/DependencyNeverSatisfied"
    run = setup([fails, rows(never)], rulefile=ALL_OF, quiet=False)
    assert [run.graph.job_id(j) for j in run.bundle.layout.arrays[0].jobs] == ["fit[d0,m0]", "fit[d1,m0]", "fit[d0,m1]", "fit[d1,m1]"]
    assert run.loop() == 1
    captured = capsys.readouterr()
    assert ("summarize[m1] not run: cancelled by SLURM: its array waits for all of fit, where a job failed; "
            "it runs on the next rulec run\nskipped summarize[m1]") in captured.out
    assert captured.out.count("summarize[m1]") == 2 and captured.out.count("skipped summarize[m0]") == 1
    assert "1 job(s) failed, 3 succeeded, 2 not run:" in captured.err
