"""The Executor protocol: what the one run loop (``run/loop.py``) asks of the thing that runs
jobs, and the events it gets back, as data (ninja's CommandRunner is the model).

An executor only starts, watches and stops jobs. Everything a user relies on when a job ends
(its outputs checked, removed on failure, the record, dependents skipped, keep-going, Ctrl-C,
the progress display and the summary) is the loop's, the same for every executor.

Two kinds:

- *pull* executors (local bash workers, and label prefixes and jbsub on top of them) start
  what the loop's ready queue hands them, when every dependency has succeeded (and may
  hold one such task queued behind a running job, to start it as that job ends: see
  ``queue_depth`` below);
- *push* executors (SLURM and LSF job arrays) get every task at once in ``open`` and wire the
  dependencies on the scheduler's side; the loop only follows their events and cancels what
  must not run any more.

Words for outcomes live in the reporting layer (``report.outcome_text``), never here.
"""

from __future__ import annotations

import enum

from ..recordclass import field, record

TYPE_CHECKING = False

if TYPE_CHECKING:  # annotations only: typing costs a run's start a few milliseconds
    from typing import Protocol, Sequence
else:
    Protocol = object  # (nothing subclasses the protocol or checks against it at run time)


class Outcome(enum.Enum):
    OK = "ok"
    EXIT = "exit"  # a non-zero exit status
    SIGNAL = "signal"  # killed by a signal
    MISSING_OUTPUT = "missing-output"  # exit 0 without every declared output (the loop decides)
    LEFT_RUNNING = "left-running"  # exit 0, but processes it started were still running
    TIMEOUT = "timeout"  # scheduler states
    OUT_OF_MEMORY = "out-of-memory"
    NODE_FAIL = "node-fail"
    PREEMPTED = "preempted"
    CANCELLED = "cancelled"  # by the scheduler or by hand, not by this run
    LOST = "lost"  # whatever ran it is gone and nothing says how it ended
    NOT_STARTED = "not-started"  # it could not be started (an input could not be staged, say)


@record(frozen=True)
class Task:
    """One job as an executor sees it: everything is expanded, nothing is re-parsed."""

    job: int  # the job's dense id in the JobGraph
    job_id: str  # its readable id, e.g. estimate[data_0,logit]
    command: str
    log: str  # relative to the working folder
    lazy_log: bool = False  # written only if the job prints something (the default log)
    attempt: int = 1  # 1, then 2, 3... when a failed job is retried (retries:); {attempt} in its command


@record(frozen=True)
class Started:
    job: int
    where: str = ""  # a local slot, a cluster job id
    pid: int | None = None  # the job's process group, when it runs on this machine


@record(frozen=True)
class Queued:
    """A task for a pull executor to start the moment the running job ``after`` ends, without
    a turn of the loop in between (``Executor.queue``). The loop queues only a job that may
    start now (every job it needs has succeeded) and whose needs fit in what ``after`` holds,
    which passes to it."""

    task: Task
    after: int  # a running job with nothing queued behind it
    # None: start it however ``after`` ended (--keep-going). Else start it only if ``after``
    # exits 0 leaving these paths (its declared outputs, relative to the working folder; "/"
    # at the end: a folder), so that a queued job never starts after a failure.
    outputs: tuple[str, ...] | None = ()


@record(frozen=True)
class Dequeued:
    """A queued task the executor did not start (the job before it failed, or left processes
    running, or the task was cancelled): the job is the loop's again, as if never handed over."""

    job: int


@record(frozen=True)
class Finished:
    job: int
    outcome: Outcome
    exit_code: int | None = None
    signal: int | None = None
    state: str | None = None  # the scheduler's own word (TIMEOUT, NODE_FAIL, ...), if any
    log: str | None = None  # where its output went (None: it printed nothing)
    notes: tuple[str, ...] = field(default=())  # the shell's or scheduler's own words


@record(frozen=True)
class Note:
    """Something a user should hear while jobs run that is no job's end: a job stuck on a
    node that is down, a status query that keeps failing. Executors cannot print: the loop
    hands the text to the progress display (``progress.note``), on a line of its own."""

    text: str


Event = Started | Finished | Note | Dequeued


class Executor(Protocol):
    """``open`` once, then ``start`` (pull) and ``wait`` until every job has finished, ``cancel``
    jobs that must not run any more, ``stop`` on an interruption, ``close`` at the end."""

    name: str
    push: bool  # True: wires dependencies itself and gets every task in ``open``
    stages_files: bool  # True: runs in this working folder, so the loop makes output folders,
    #                     removes stale outputs, checks outputs and stages remote paths

    def open(self, tasks: Sequence[Task], deps: dict[int, tuple[int, ...]]) -> list[Event]:
        """Prepare (a push executor submits everything here); events already known."""
        ...

    def start(self, tasks: Sequence[Task]) -> list[Event]:
        """Start these jobs now (pull executors only)."""
        ...

    def wait(self) -> list[Event]:
        """Block until something happens; at least one event unless nothing is running."""
        ...

    def running(self) -> int:
        """How many started (or, for a push executor, submitted) jobs have not finished."""
        ...

    def running_jobs(self) -> list[int]:
        """The jobs started and not finished (what an interruption must clean up after)."""
        ...

    def cancel(self, jobs: Sequence[int]) -> list[Event]:
        """Jobs that must not run (dependents of a failure, or everything left after a failure
        without --keep-going): a push executor removes them from the scheduler's queue; a pull
        executor does not start those it holds queued (each comes back as ``Dequeued``
        through ``wait``, or as ``Started`` if it had started already)."""
        ...

    def stop(self, grace: float) -> tuple[list[Event], list[int]]:
        """An interruption: stop every running job (TERM, then KILL after ``grace`` s) and wait
        until each is gone; queued tasks are not started. Returns the events of those that
        ended (a queued task that started as the stop began: its ``Started`` and ``Finished``;
        the others ``Dequeued``), and the jobs that may still be alive (a cluster that could
        not be reached): the loop leaves their outputs and marks alone and names them."""
        ...

    def close(self) -> None:
        ...

    # Optional (pull executors): ``queue_depth: int`` and ``queue(items: Sequence[Queued]) ->
    # list[Event]``. How many tasks the executor can hold queued behind each running job (0,
    # or no such attribute: none), and the call that hands them over. A queued task is not
    # running (``running`` and ``running_jobs`` leave it out) until the executor says it
    # started: its ``Started`` follows, in the same ``wait``, the ``Finished`` of the job it
    # waited for, or it comes back as ``Dequeued``. It saves the turn of the loop between two
    # jobs of a slot (the worker starts the next one itself); ``-j N`` stays N jobs running.
    #
    # Push executors may be made with jobs a dead run left on the scheduler (re-attached,
    # executors/adopt.py): ``open`` gets their tasks with the others, and the executor follows
    # them (their starts and ends as events) instead of submitting them; ``cancel`` and
    # ``stop`` cancel them as the run's own. The loop knows them (``Loop(attached=...)``).
    #
    # Optional (push executors): ``resubmit(tasks: Sequence[Task]) -> list[Event]``. A task
    # failed and has attempts left (``retries:``): submit it again as ``task.attempt`` (its
    # command already says that attempt; what it asks the scheduler for is
    # ``rule.resources.at(task.attempt)``: ``mem="4G*{attempt}"`` grows), and make its
    # dependents run after the new submission rather than the failed one (SLURM and LSF end
    # them at once when it fails: they are submitted again, waiting on the new one). Its events
    # follow through ``wait`` as before. A push executor without it cannot take retries: the
    # loop refuses them before submitting anything. Pull executors need nothing: the loop
    # hands the job to ``start`` again, with ``Task.attempt`` set.

