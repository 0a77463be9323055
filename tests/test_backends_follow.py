"""The SLURM run loop against a scripted scheduler: submission order and dependencies, one
status query per poll, recording, failures, DependencyNeverSatisfied, jobs that left the
queue, and giving up on a dead controller. (The real cluster: tests/e2e/test_slurm.py.)"""

from __future__ import annotations

import os

import pytest

from rulec import profile as prof
from rulec.analyze import analyze
from rulec.backends import bundle as bundle_mod
from rulec.backends.follow import Follower
from rulec.backends.scheduler import Row
from rulec.dag import resolve
from rulec.errors import BackendError
from rulec.history import History
from rulec.syntax import parse

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
    """Arrays get ids 100, 101, 102 in submission order; ``rounds`` are squeue answers."""

    def __init__(self, rounds, show=None):
        self.rounds = list(rounds)
        self.show = show or {}
        self.submitted = []
        self.cancelled = []
        self.queries = []

    def submit(self, script, dependency, cwd):
        self.submitted.append((script, dependency))
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


@pytest.fixture
def setup(tmp_path):
    def make(rounds, show=None, quiet=True):
        wf = analyze(parse(RULEFILE, "Rulefile"), str(tmp_path))
        graph = resolve(wf, (), exists=lambda p: False)
        run = [j for j in graph.order if graph.rule_of(j).shell is not None]
        b = bundle_mod.build(graph, run, "slurm", prof.EMPTY, str(tmp_path / ".rulec" / "slurm" / "1"), 1001)
        bundle_mod.write(b)
        history = History.open(str(tmp_path), write=True)
        fake = FakeSlurm(rounds, show)
        follower = Follower(b, fake, history, poll=0.0, max_poll=0.0, accounting=False, quiet=quiet, sleep=lambda s: None)
        return follower, fake, history, b

    return make


def rows(spec: str) -> list[Row]:
    """``"100_0=COMPLETED 101_1=PENDING/DependencyNeverSatisfied"`` -> Rows."""
    out = []
    for item in spec.split():
        task, _, state = item.partition("=")
        state, _, reason = state.partition("/")
        array_id, _, t = task.partition("_")
        out.append(Row(array_id, int(t), state, reason or "None"))
    return out


def test_everything_completes(setup, tmp_path, capsys):
    follower, fake, history, b = setup([
        rows("100_0=RUNNING 100_1=PENDING 101_0=PENDING 101_1=PENDING 102_0=PENDING"),
        rows("100_0=COMPLETED 100_1=COMPLETED 101_0=RUNNING 101_1=PENDING 102_0=PENDING"),
        rows("100_0=COMPLETED 100_1=COMPLETED 101_0=COMPLETED 101_1=COMPLETED 102_0=COMPLETED"),
    ], quiet=False)
    assert follower.run() == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("submitted 3 array(s), 5 task(s), 3 sbatch call(s) from ")
    assert out[1:-1] == ["[1/5] done fit[d0]", "[2/5] done fit[d1]", "[3/5] done score[d0]", "[4/5] done score[d1]",
                       "[5/5] done summarize"]
    assert out[-1].startswith("Done: 5 job(s) ran on SLURM (") and out[-1].endswith(".rulec/slurm/1).")
    assert fake.submitted == [("fit.sbatch", None), ("score.sbatch", "aftercorr:100"), ("summarize.sbatch", "afterok:101")]
    assert len(fake.queries) == 3  # one batched query per poll
    assert fake.queries[0] == ["100", "101", "102"]
    assert {r[2] for r in history.records().values()} == {"ok"}
    assert len(history.records()) == 5
    assert (tmp_path / ".rulec" / "slurm" / "1" / "jobids").read_text() == "fit 100\nscore 101\nsummarize 102\n"


def test_a_failure_cancels_its_dependents(setup, tmp_path, capsys):
    def fail(fake):
        # fit[d1] failed: its marker holds its exit status
        (tmp_path / ".rulec" / "slurm" / "1" / "status" / "fit[d1].rc").write_text("3\n")
        return rows("100_0=COMPLETED 100_1=FAILED/NonZeroExitCode 101_0=PENDING 101_1=PENDING/DependencyNeverSatisfied 102_0=PENDING")

    (tmp_path / "fit").mkdir()
    (tmp_path / "fit" / "d1.txt").write_text("partial")
    follower, fake, history, b = setup([
        fail,
        rows("100_0=COMPLETED 100_1=FAILED 101_0=COMPLETED 101_1=CANCELLED/DependencyNeverSatisfied 102_0=CANCELLED/DependencyNeverSatisfied"),
    ])
    assert follower.run() == 1
    assert fake.cancelled == ["101_1"]  # hopeless pending task cancelled by rulec
    err = capsys.readouterr().err
    assert "FAILED fit[d1] (FAILED, exit code 3, log .rulec/logs/fit/fit[d1].log)" in err
    assert [f.job_id for f in follower.failures] == ["fit[d1]"]
    assert follower.outcome == {
        follower.graph.find(1, ("d0",)): "done",
        follower.graph.find(1, ("d1",)): "failed",
        follower.graph.find(2, ("d0",)): "done",
        follower.graph.find(2, ("d1",)): "skipped",
        follower.graph.find(3, ()): "skipped",
    }
    assert not (tmp_path / "fit" / "d1.txt").exists()  # outputs of a failed job removed
    assert sorted(history.records()) == ["fit[d0]", "score[d0]"]


def test_scheduler_kill_without_marker(setup, capsys):
    follower, fake, history, b = setup(
        [rows("100_0=COMPLETED 100_1=TIMEOUT/TimeLimit 101_0=COMPLETED 101_1=CANCELLED/DependencyNeverSatisfied 102_0=CANCELLED/DependencyNeverSatisfied")],
        show={"100": [Row("100", 1, "TIMEOUT", "TimeLimit", 0, 15)]},
    )
    assert follower.run() == 1
    (failure,) = follower.failures
    assert failure.why.startswith("TIMEOUT, exit code 0, signal 15, reason TimeLimit, scheduler log ")
    assert failure.why.endswith("logs/fit_100_1.out")
    assert "TIMEOUT" in capsys.readouterr().err


def test_jobs_that_left_the_queue_are_looked_up(setup, tmp_path):
    follower, fake, history, b = setup(
        [[]],  # squeue no longer knows any of them (past MinJobAge)
        show={
            "100": [Row("100", 0, "COMPLETED", "None", 0, 0), Row("100", 1, "COMPLETED", "None", 0, 0)],
            "101": [Row("101", 0, "COMPLETED", "None", 0, 0)],
        },
    )
    # score[d1] is in no scheduler answer, but its marker says it succeeded; summarize is lost
    status = tmp_path / ".rulec" / "slurm" / "1" / "status"
    status.mkdir(parents=True, exist_ok=True)
    (status / "score[d1].rc").write_text("0\n")
    fake.rounds = [[], [], []]
    assert follower.run() == 1
    assert sorted(history.records()) == ["fit[d0]", "fit[d1]", "score[d0]", "score[d1]"]
    (failure,) = follower.failures
    assert failure.job_id == "summarize" and failure.why.startswith("LOST")


def test_giving_up_when_squeue_keeps_failing(setup):
    follower, fake, history, b = setup([None] * 10)
    with pytest.raises(BackendError, match="squeue failed 6 times in a row"):
        follower.run()
    assert fake.cancelled == []  # the submitted jobs are left running
    assert {r[2] for r in history.records().values()} == {"running"}  # seen as incomplete next time


def test_a_failed_submission_cancels_what_was_submitted(setup):
    follower, fake, history, b = setup([])

    def submit(script, dependency, cwd):
        if script == "summarize.sbatch":
            raise BackendError("sbatch: error: invalid partition")
        fake.submitted.append(script)
        return str(100 + len(fake.submitted) - 1)

    fake.submit = submit
    with pytest.raises(BackendError, match="invalid partition"):
        follower.run()
    assert fake.cancelled == ["100", "101"]
    assert len(history.records()) == 0  # the marks are dropped: all or nothing


def test_ctrl_c_cancels_and_cleans_up(setup, tmp_path, monkeypatch, capsys):
    import rulec.backends.follow as follow_mod

    monkeypatch.setattr(follow_mod.time, "sleep", lambda s: None)

    def interrupt(fake):
        raise KeyboardInterrupt

    (tmp_path / "fit").mkdir()
    (tmp_path / "fit" / "d1.txt").write_text("partial")
    follower, fake, history, b = setup([
        rows("100_0=COMPLETED 100_1=RUNNING 101_0=PENDING 101_1=PENDING 102_0=PENDING"),
        interrupt,
        rows("100_0=COMPLETED 100_1=CANCELLED 101_0=CANCELLED 101_1=CANCELLED 102_0=CANCELLED"),
    ])
    assert follower.run() == 130
    assert fake.cancelled == ["100", "101", "102"]
    assert sorted(history.records()) == ["fit[d0]"]
    assert not (tmp_path / "fit" / "d1.txt").exists()  # it had started: partial output removed
    assert "interrupted: cancelled 3 job array(s) of this run (100 101 102)" in capsys.readouterr().err


def test_ctrl_c_when_scancel_fails_says_so_and_leaves_running_jobs_alone(setup, tmp_path, monkeypatch, capsys):
    """scancel cannot reach the controller: the jobs may still run, so their outputs are not
    removed and the message says what to cancel by hand, instead of claiming it cancelled them."""
    import rulec.backends.follow as follow_mod

    clock = iter(range(0, 10_000, 10))
    monkeypatch.setattr(follow_mod.time, "sleep", lambda s: None)
    monkeypatch.setattr(follow_mod.time, "monotonic", lambda: next(clock))

    def interrupt(fake):
        raise KeyboardInterrupt

    (tmp_path / "fit").mkdir()
    (tmp_path / "fit" / "d1.txt").write_text("being written")
    still = rows("100_0=COMPLETED 100_1=RUNNING 101_0=PENDING 101_1=PENDING 102_0=PENDING")
    follower, fake, history, b = setup([still, interrupt] + [still] * 10)
    fake.refuse_cancel = "scancel: error: Unable to contact slurm controller"
    assert follower.run() == 130
    err = capsys.readouterr().err
    assert "cancelled 3 job array" not in err
    assert "scancel failed (scancel: error: Unable to contact slurm controller)" in err
    assert "cancel them yourself: scancel 100_1 101_0 101_1 102_0" in err
    assert (tmp_path / "fit" / "d1.txt").read_text() == "being written"  # still running: untouched
    assert history.records()["fit[d1]"][2] != "ok"  # marked started: incomplete, never done
