"""rulec/executors/local.py: the local executor speaks the Executor protocol over real bash
workers: tasks in, Started/Finished/Dequeued events out, and queued tasks (``queue``) that
are not running until the executor says they started."""

from __future__ import annotations

import time

import pytest

from helpers import gate
from rulec.executors.local import LocalExecutor
from rulec.run.executor import Dequeued, Finished, Outcome, Queued, Started, Task


@pytest.fixture
def executor(tmp_path):
    ex = LocalExecutor(str(tmp_path))
    yield ex
    ex.close()


def task(job, command, log=None):
    return Task(job, f"j{job}", command, log or f"{job}.log")


def until(executor, n_finished, timeout=10.0):
    """Events from ``wait`` until ``n_finished`` Finished events have come."""
    events = []
    deadline = time.monotonic() + timeout
    while sum(type(e) is Finished for e in events) < n_finished:
        assert time.monotonic() < deadline, events
        events += executor.wait()
    return events


def test_a_queued_task_is_not_running_until_its_started_event(executor, tmp_path):
    assert executor.queue_depth == 1
    assert executor.start([task(0, "sleep 0.3")]) == [Started(0, where="local:1")]
    assert executor.queue([Queued(task(1, "touch one.ran"), after=0, outputs=())]) == []
    assert executor.running() == 1 and executor.running_jobs() == [0]
    events = until(executor, 2)
    assert [type(e) for e in events] == [Finished, Started, Finished]
    assert events[0].job == 0 and events[0].outcome is Outcome.OK
    assert events[1] == Started(1, where="local:1")  # on the worker of the job it waited for
    assert events[2].job == 1 and (tmp_path / "one.ran").exists()
    assert executor.running() == 0


def test_a_task_queued_behind_a_failure_comes_back_dequeued(executor, tmp_path):
    executor.start([task(0, "sleep 0.2; exit 2")])
    executor.queue([Queued(task(1, "touch one.ran"), after=0, outputs=())])
    events = until(executor, 1)
    assert events[0].outcome is Outcome.EXIT and events[1:] == [Dequeued(1)]
    assert not (tmp_path / "one.ran").exists()


def test_a_task_queued_behind_a_job_that_left_out_an_output_comes_back_dequeued(executor, tmp_path):
    executor.start([task(0, "sleep 0.2; touch a.txt")])
    executor.queue([Queued(task(1, "touch one.ran"), after=0, outputs=("a.txt", "b.txt"))])
    events = until(executor, 1)
    assert events[0].outcome is Outcome.OK and events[1:] == [Dequeued(1)]  # (the loop fails job 0)


def test_without_outputs_to_check_a_queued_task_starts_after_a_failure(executor, tmp_path):
    """(--keep-going: ``outputs=None``)"""
    executor.start([task(0, "sleep 0.2; exit 2")])
    executor.queue([Queued(task(1, "touch one.ran"), after=0, outputs=None)])
    events = until(executor, 2)
    assert [type(e) for e in events] == [Finished, Started, Finished]
    assert (tmp_path / "one.ran").exists()


def test_a_cancelled_queued_task_does_not_start(executor, tmp_path):
    executor.start([task(0, gate()), task(1, gate())])  # (until the cancel is in)
    executor.queue([Queued(task(2, "touch two.ran"), after=0, outputs=None),
                    Queued(task(3, "touch three.ran"), after=1, outputs=None)])
    assert executor.cancel([2]) == []
    (tmp_path / "go").touch()
    events = until(executor, 3)
    assert Dequeued(2) in events and any(type(e) is Started and e.job == 3 for e in events)
    assert not (tmp_path / "two.ran").exists() and (tmp_path / "three.ran").exists()


def test_stop_gives_queued_tasks_back_and_stops_the_running_ones(executor, tmp_path):
    executor.start([task(0, "sleep 30")])
    executor.queue([Queued(task(1, "touch one.ran"), after=0, outputs=None)])
    events, alive = executor.stop(0.5)
    assert alive == []
    assert [(type(e), e.job) for e in events] == [(Finished, 0), (Dequeued, 1)]
    assert events[0].outcome is Outcome.SIGNAL
    time.sleep(0.1)
    assert not (tmp_path / "one.ran").exists()
