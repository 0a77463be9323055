"""Taking over the bundles of push runs (SLURM, LSF) whose rulec died, before the next run plans.

Called with the lock held (so no other run is alive here). A bundle under
``.rulec/<backend>/`` that was submitted (``jobids``), is not marked ``adopted``, and holds
jobs of this graph that have started marks and no record is adopted (the newest first; a job
in two such bundles is the newest one's):

- ``reattach`` (what ``rulec run --executor slurm|lsf`` does): the tasks still pending or
  running on the scheduler (one batched status query, through the backend's ``Queue``) are
  *re-attached*: the new run's loop takes them as jobs already started, and its executor
  follows them (``Follower``) with the status query it makes for its own tasks. One whose
  task table line is not the one this graph would write (the command changed) is cancelled
  instead, and runs again as a job of the new run. The others are settled at once:
- a job whose marker says 0, whose declared outputs exist and whose task table line is the one
  this graph would write (same command, outputs, log) is recorded as done (a packed task's
  jobs each have a line and a marker of their own: the manifest's ``line``);
- a job whose marker says non-zero has failed, as a local failure has (its task removed its
  outputs: it reruns; ``rulec status -v`` shows it failed there, with its log);
- any other job keeps its mark (the plan says "incomplete": it reruns).

A bundle is marked ``adopted`` (never adopted twice) once every job of it is settled: at once
when none was re-attached, else when the run that follows them has seen the last one end.

``adopt`` is the older way, kept for packed bundles (whose tasks run several jobs, which the
follower does not read): the tasks still on the scheduler are waited for, then settled.

The jobs of a bundle settled by their markers (recorded or forgotten) make a run of their own
in the run history (``rulec report``): executor the backend, status ``adopted``, one attempt
a job, ``adopted`` (done there) or ``failed`` ("failed in the run that died", with its exit
status). Their own run, not the adopting one's: they are settled before the plan (which may
then find nothing to run, and a run that runs nothing records none), and their times are
the dead run's (a packed job's ``status/<name>.start``, else the start its mark recorded
when the dead rulec saw it start; the end: the mtime of its ``.rc`` marker; ``<name>``: the
job's ``bundle.files.marker_name``, as its task wrote them), which would
stretch the adopting run's wall time back over the time no rulec was running. Re-attached
jobs are the adopting run's own attempts (the loop notes them; one that succeeds is
``adopted`` there too).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Protocol

from .. import report, storage
from ..backend import Backend
from ..bundle import files as bundle_mod
from ..errors import BackendError
from ..history import ADOPTED as ADOPTED_RUN
from ..recordclass import field, record
from ..run.executor import Event
from . import rel_path as _rel

ADOPTED = "adopted"  # written in a bundle's folder once a later run has adopted it
DIED = "failed in the run that died"  # the reason of a settled job whose marker says it failed
MARK_SLACK = 2.0  # seconds a marker may seem older than its job's started mark (clocks of node and head)
FAILED_ROUNDS = 6  # status queries failing this many polls in a row: give up (nothing submitted)
LOST_ROUNDS = 3  # polls a re-attached task may be missing from the answer (and have no marker) before it is lost
CANCEL_WAIT = 30.0  # seconds a cancelled job of a dead run is waited for before the new run submits its own
# What Queue.state says of a task (None: the answer does not show it)
PENDING, RUNNING, OVER, NEVER = "pending", "running", "over", "never"  # NEVER: pending for good


class Queue(Protocol):
    """What adoption needs of a scheduler."""

    command: str  # "squeue", "bjobs": for messages
    last_error: str

    def task_key(self, array: str, task: int) -> str:
        """The ``jobids`` key of a resubmitted task (``fit_3`` for SLURM, ``fit_4`` for LSF)."""

    def alive(self, where: dict[str, tuple[str, int]]) -> set[str] | None:
        """Which of these jobs (job id -> (scheduler id, task)) are still queued or running;
        None when the query failed. Tasks that can never start may be cancelled here."""

    def shown(self, scheduler_id: str, task: int) -> str:
        """A task as the scheduler names it (``1234_3``, ``1234[4]``)."""

    def state(self, rows, scheduler_id: str, task: int) -> str | None:
        """What the rows of one status query (the executor's) say of a task: PENDING,
        RUNNING, OVER, NEVER (pending for good), or None when they do not show it."""

    def kill(self, ids: list[str]) -> str | None:
        """Cancel these tasks (as ``shown`` names them); None, or why it could not."""


def adopt(workdir: str, backend: str, history, graph, queue: Queue, quiet: bool = False, poll: float = 5.0,
          sleep=time.sleep) -> dict[str, list[str]]:
    """Wait for the newest dead run's tasks still on the scheduler, then settle its jobs.
    Returns job ids by what was done with them: "recorded", "forgotten", "left"."""
    marked, index = _marked(workdir, backend, history, graph)
    if not marked:
        return {"recorded": [], "forgotten": [], "left": []}
    found = _newest_bundle(os.path.join(workdir, ".rulec", str(backend)), str(backend), marked)
    if found is None:
        return {"recorded": [], "forgotten": [], "left": []}
    return _wait_and_settle(_Found(workdir, found[0], found[1], marked, history, queue), backend, history, graph, index,
                            queue, quiet, poll, sleep)


class _Found:
    """One dead run's bundle: its jobs with marks (``entries``), where each one's latest
    submission is (``where``: job id -> (scheduler id, task)), and their markers."""

    def __init__(self, workdir: str, folder: str, manifest: dict, marked: set[str], history, queue: Queue):
        self.workdir = workdir
        self.folder = folder
        self.manifest = manifest
        self.entries = {jid: e for jid, e in manifest["jobs"].items() if jid in marked}
        arrays, retries = _adopted_ids(folder, manifest.get("arrays", ()))
        resubmitted = _resubmissions(folder, manifest.get("arrays", ()))
        self.queue = queue
        self.where: dict[str, tuple[str | None, int]] = {}
        self.attempt: dict[str, int] = {}  # job id -> its latest submission's attempt: 1 + its resubmissions
        for jid, e in self.entries.items():
            key = queue.task_key(e["array"], e["task"])
            if "line" in e:  # a packed task's job: submitted alone as "<key>:<line>"
                key += f":{e['line']}"
            retry = retries.get(key)
            self.where[jid] = (retry, e["task"]) if retry else (arrays.get(e["array"]), e["task"])
            self.attempt[jid] = 1 + resubmitted.get(key, 0)
        details = {jid: history.detail(jid) for jid in self.entries}
        self.started = {jid: d.started for jid, d in details.items() if d is not None and d.started is not None}
        self.tables: dict[str, list[str]] = {}

    @property
    def packed(self) -> bool:
        return any("line" in e for e in self.entries.values())

    def marker(self, jid: str) -> int | None:
        """The job's marker, if its task wrote it after the job was marked started: an older
        one is of an earlier run of the bundle's jobs, and says nothing of this mark."""
        return marker_code(bundle_mod.status_file(self.folder, jid, ".rc"), self.started.get(jid))

    def same_line(self, graph, renderers, jid: str, job: int) -> bool:
        """Whether the job's line in its array's task table is the one this graph would write
        (same command, outputs and log)."""
        e = self.entries[jid]
        if e["array"] not in self.tables:
            try:
                with open(os.path.join(self.folder, f"{e['array']}.tasks")) as fh:
                    self.tables[e["array"]] = fh.read().split("\n")
            except OSError:
                self.tables[e["array"]] = []
        lines = self.tables[e["array"]]
        line = e.get("line", e["task"])  # a packed task's jobs have a line each
        return isinstance(line, int) and 0 <= line < len(lines) and lines[line] == bundle_mod.task_line(
            graph, job, bundle_mod.log_of(graph, job), bundle_mod.task_command(graph, renderers, job))


def marker_code(path: str, started: float | None) -> int | None:
    """A status marker's exit status (``bundle.files.MISSING_OUTPUT``: exit 0 without a
    declared output); None if there is none, or if it is older than the job's started mark
    (``started``: it is of an earlier run of that job)."""
    try:
        if started is not None and os.stat(path).st_mtime < started - MARK_SLACK:
            return None
        with open(path) as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return None


def _marked(workdir: str, backend: str, history, graph) -> tuple[set[str], dict[str, int]]:
    """The job ids of this graph with a started mark and no record (none when there is no
    bundle folder for the backend), and every job id's dense id."""
    records = history.records()
    marked = {jid for jid, rec in records.items() if rec[2] == "running"}
    if not marked or not os.path.isdir(os.path.join(workdir, ".rulec", str(backend))):
        return set(), {}
    index = {graph.job_id(j): j for j in range(len(graph))}
    return {jid for jid in marked if jid in index}, index


def _alive(queue: Queue, jobs: dict[str, tuple[str, int]], folder: str, poll: float, sleep) -> set[str]:
    """Which of ``jobs`` are still queued or running: the status query asked again each
    ``poll`` while it fails, a BackendError after FAILED_ROUNDS failures in a row."""
    for bad in range(1, FAILED_ROUNDS + 1):
        alive = queue.alive(jobs)
        if alive is not None:
            return alive
        if bad == FAILED_ROUNDS:
            raise BackendError(f"{queue.command} failed {bad} times in a row: cannot tell whether the jobs of the previous run "
                               f"({_rel(folder)}) still run ({queue.last_error})",
                               hint=f"run again once {queue.command} answers; nothing was submitted")
        sleep(poll)
    raise AssertionError("unreachable")


def _wait_for(found: _Found, backend: str, queue: Queue, jids, quiet: bool, poll: float, sleep) -> None:
    """Wait until none of these jobs is still on the scheduler (without a marker)."""
    where = found.where
    waiting = {jid for jid in jids if found.marker(jid) is None and where[jid][0]}
    said = False
    while waiting:
        alive = _alive(queue, {jid: where[jid] for jid in waiting}, found.folder, poll, sleep)
        waiting = {jid for jid in alive if found.marker(jid) is None}
        if not waiting:
            break
        if not said and not quiet:
            shown = sorted({queue.shown(*where[j]) for j in waiting})
            print(f"waiting for {len(waiting)} job(s) of the previous run still on {str(backend).upper()}: ids "
                  + " ".join(shown[:20]) + (" ..." if len(shown) > 20 else ""), flush=True)
            said = True
        sleep(poll)


def _why_died(code: int) -> str:
    """Why a job of a dead run whose marker says ``code`` (not 0) failed, in the loop's words
    (``report.outcome_text``): ``failed in the run that died (exit status 3)``."""
    from ..run.executor import Finished, Outcome

    if code == bundle_mod.MISSING_OUTPUT:
        ev = Finished(-1, Outcome.MISSING_OUTPUT, exit_code=0)
    else:
        ev = Finished(-1, Outcome.EXIT, exit_code=code)
    return f"{DIED} ({report.outcome_text(ev)})"


def _settle(found: _Found, jids, history, graph, index: dict[str, int], left=(), backend=None) -> dict[str, list[str]]:
    """Settle these jobs by their markers: recorded, forgotten (failed there: kept as a failure
    for ``rulec status``, as a local one is), or left with their marks (``left``: jobs to leave
    whatever their markers say). Those recorded or forgotten are a run of the ``backend`` in
    the run history (``_note_run``)."""
    from ..run.record import Recorder

    done: dict[str, list[str]] = {"recorded": [], "forgotten": [], "left": []}
    recorder = Recorder(graph)
    finished = []
    for jid in sorted(jids):
        job = index[jid]
        code = None if jid in left else found.marker(jid)
        if code is None:
            done["left"].append(jid)
        elif code != 0:
            done["forgotten"].append(jid)
        elif not found.same_line(graph, recorder.renderers, jid, job) or not _outputs_exist(found.workdir, graph.declared_outputs(job)):
            done["left"].append(jid)
        else:
            finished.append(recorder.finished(job, log=bundle_mod.log_of(graph, job), started=found.started.get(jid)))
            done["recorded"].append(jid)
    noted = backend is not None and _note_run(found, backend, history, graph, index, recorder, done)
    if finished:
        history.record(finished)  # (with the run's attempts)
    if done["forgotten"]:
        history.fail([(jid, _why_died(found.marker(jid)), bundle_mod.log_of(graph, index[jid])) for jid in done["forgotten"]])
    if noted:
        history.end_run(0, ADOPTED_RUN)
    return done


def _note_run(found: _Found, backend, history, graph, index: dict[str, int], recorder, done) -> bool:
    """Begin the adoption's run in ``history`` and note an attempt for each job ``done``
    recorded (``adopted``) or forgotten (``failed``), in the order they ended; whether there
    was any."""
    try:  # what is older than the bundle's writing is an earlier run's
        since = os.stat(os.path.join(found.folder, bundle_mod.MANIFEST)).st_mtime - MARK_SLACK
    except OSError:
        since = 0.0
    failed = set(done["forgotten"])
    rows = []
    for jid in done["recorded"] + done["forgotten"]:
        try:
            end = os.stat(bundle_mod.status_file(found.folder, jid, ".rc")).st_mtime
        except OSError:
            continue
        start = _start_marker(found.folder, jid)  # a packed job's
        if start is None:
            start = found.started.get(jid)  # when the dead rulec saw it start
        if start is not None and not since <= start <= end + MARK_SLACK:
            start = None
        rows.append((end, jid, None if start is None else min(start, end)))
    if not rows:
        return False
    rows.sort()
    from ..run.loop import TAILS_KEPT

    history.begin_run(str(backend), len(rows), " ".join(sys.argv))
    tails = TAILS_KEPT
    for end, jid, start in rows:
        job = index[jid]
        sid, task = found.where[jid]
        place = None
        if sid:
            place = found.queue.shown(sid, task)
            place = place if backend == Backend.SLURM else f"{backend}:{place}"  # as the run loop names it
        log = bundle_mod.log_of(graph, job)
        attempt = found.attempt[jid]
        if jid in failed:
            tail = None
            if tails > 0:
                tails -= 1
                tail = "\n".join(report.tail(os.path.join(found.workdir, log), 40)) or None
            history.note_attempt(jid, graph.rule_of(job).name, attempt, start, end, "failed", place,
                                 _why_died(found.marker(jid)), recorder.command(job, attempt=attempt), log, tail)
        else:
            history.note_attempt(jid, graph.rule_of(job).name, attempt, start, end, ADOPTED_RUN, place, log=log)
    return True


def _start_marker(folder: str, jid: str) -> float | None:
    """The time in a packed job's ``status/<name>.start`` (seconds since 1970), if any."""
    try:
        with open(bundle_mod.status_file(folder, jid, ".start")) as fh:
            return float(fh.read(64).strip())
    except (OSError, ValueError):
        return None


def _adopted_text(done: dict[str, list[str]]) -> str:
    return "".join(f"{what} {jid}\n" for what in ("recorded", "forgotten", "left", "followed") for jid in done.get(what, ()))


def _mark_adopted(folder: str, done: dict[str, list[str]]) -> None:
    bundle_mod.write_file(os.path.join(folder, ADOPTED), _adopted_text(done), bundle_mod.FILE_MODE)


def _say_settled(found: _Found, done: dict[str, list[str]]) -> None:
    print(f"adopted {_rel(found.folder)} of the previous run: {len(done['recorded'])} job(s) done there recorded, "
          f"{len(done['forgotten'])} failed, {len(done['left'])} not finished", flush=True)


def _wait_and_settle(found: _Found, backend: str, history, graph, index, queue: Queue, quiet: bool, poll: float,
                     sleep) -> dict[str, list[str]]:
    _wait_for(found, backend, queue, found.entries, quiet, poll, sleep)
    done = _settle(found, found.entries, history, graph, index, backend=backend)
    _mark_adopted(found.folder, done)
    if not quiet and found.entries:
        _say_settled(found, done)
    return done


# --------------------------------------------------------------------------- re-attach

@record(frozen=True)
class Attached:
    """A dead run's job still pending or running on the scheduler, taken into the new run."""

    job: int  # its dense id in this graph
    job_id: str
    scheduler_id: str  # the array's id (or its latest resubmission's)
    task: int  # its task in that array (as the bundle counts: from 0)
    folder: str  # its bundle (absolute)
    log: str  # its log, relative to the working folder
    started: float | None  # its started mark (seconds since 1970)


@record
class Reattached:
    """What ``reattach`` found: the jobs re-attached (by dense id), and per bundle folder the
    jobs settled before the run and those re-attached (its ``adopted`` file, written once the
    run has seen every one of them end)."""

    backend: str
    jobs: dict[int, Attached] = field(default_factory=dict)
    settled: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def started(self, jobs) -> dict[int, float | None]:
        """The started marks of the re-attached jobs among ``jobs`` (a plan's)."""
        return {j: self.jobs[j].started for j in jobs if j in self.jobs}

    def drop(self, jobs, queue: Queue, quiet: bool = False, why: str = "", sleep=time.sleep) -> None:
        """Stop following these jobs: cancelled on the scheduler (and waited for), they keep
        their marks and run again as jobs of the new run."""
        gone = [self.jobs.pop(j) for j in sorted(jobs) if j in self.jobs]
        if not gone:
            return
        _cancel_and_wait(queue, [(a.job_id, a.scheduler_id, a.task) for a in gone], quiet, why, sleep)
        for a in gone:
            done = self.settled[a.folder]
            done["followed"].remove(a.job_id)
            done["left"].append(a.job_id)
            if not done["followed"]:
                _mark_adopted(a.folder, done)

    def outdated(self, plan, graph) -> list[int]:
        """Re-attached jobs that would use an output the plan makes again (an upstream job
        that runs and is not itself re-attached): they must run again after it."""
        runs = set(plan.run)
        out, seen = [], set()
        for job in plan.run:  # dependencies first
            if job in self.jobs and any((d in runs and d not in self.jobs) or d in seen for d in graph.deps[job]):
                seen.add(job)
                out.append(job)
        return out


def reattach(workdir: str, backend: str, history, graph, queue: Queue, quiet: bool = False, poll: float = 5.0,
             sleep=time.sleep) -> Reattached:
    """Before a push run plans: the dead runs' jobs still on the scheduler are re-attached
    (``Reattached.jobs``), the others settled. Nothing is waited for, except a packed bundle's
    tasks (``adopt``'s way)."""
    out = Reattached(str(backend))
    marked, index = _marked(workdir, backend, history, graph)
    if not marked:
        return out
    base = os.path.join(workdir, ".rulec", str(backend))
    from ..run.record import Recorder

    renderers = Recorder(graph).renderers
    for folder, manifest in _bundles(base, str(backend), marked):
        found = _Found(workdir, folder, manifest, marked, history, queue)
        marked -= set(found.entries)  # (an older bundle's copy of a job is not this run's)
        if found.packed:
            _wait_and_settle(found, backend, history, graph, index, queue, quiet, poll, sleep)
            continue
        live = {jid: found.where[jid] for jid in found.entries if found.where[jid][0] and found.marker(jid) is None}
        alive = _alive(queue, live, folder, poll, sleep) if live else set()
        changed = {jid for jid in alive if not found.same_line(graph, renderers, jid, index[jid])}
        followed = sorted(alive - changed)
        done = _settle(found, set(found.entries) - set(followed), history, graph, index, left=changed, backend=backend)
        done["followed"] = list(followed)
        out.settled[folder] = done
        for jid in followed:
            sid, task = found.where[jid]
            out.jobs[index[jid]] = Attached(index[jid], jid, sid, task, folder, bundle_mod.log_of(graph, index[jid]),
                                            found.started.get(jid))
        if not quiet and (len(followed) < len(found.entries)):
            _say_settled(found, done)
        if not quiet and followed:
            shown = [queue.shown(*found.where[jid]) for jid in followed]
            print(f"re-attached {len(followed)} job(s) of {_rel(folder)} still on {str(backend).upper()}: ids "
                  + " ".join(shown[:20]) + (" ..." if len(shown) > 20 else ""), flush=True)
        if changed:
            _cancel_and_wait(queue, [(jid, *found.where[jid]) for jid in sorted(changed)], quiet,
                             "its command in the Rulefile changed", sleep)
        if not followed:
            _mark_adopted(folder, done)
    return out


def _cancel_and_wait(queue: Queue, gone: list[tuple[str, str, int]], quiet: bool, why: str, sleep) -> None:
    """Cancel these jobs of a dead run ((job id, scheduler id, task)), said in one line, and
    wait (at most CANCEL_WAIT s) until the scheduler no longer shows them alive, so that
    nothing of them runs when the new run submits them again."""
    ids = [queue.shown(sid, task) for _, sid, task in gone]
    why_not = queue.kill(ids)
    if not quiet:
        names = ", ".join(jid for jid, _, _ in gone[:5]) + (" ..." if len(gone) > 5 else "")
        print(f"not re-attached: {names} ({why}): cancelled {' '.join(ids[:10])}{' ...' if len(ids) > 10 else ''}; "
              f"{'it runs' if len(gone) == 1 else 'they run'} again", flush=True)
    if why_not is not None:
        raise BackendError(f"could not cancel {' '.join(ids[:20])} of the previous run, which must run again ({why_not})",
                           hint="cancel them yourself and run again; nothing was submitted")
    deadline = time.monotonic() + CANCEL_WAIT
    where = {jid: (sid, task) for jid, sid, task in gone}
    while time.monotonic() < deadline:
        alive = queue.alive(where)
        if alive is not None and not alive:
            return
        sleep(0.2)


class Follower:
    """The re-attached jobs of one run, followed by its push executor: each poll, the rows of
    the executor's one status query (which asks for ``ids()`` too) become events, as for the
    executor's own tasks. A job ends well only with marker 0 and every declared output there;
    marker non-zero is its exit status (MISSING_OUTPUT: exit 0 without a declared output, as
    a local run says); no marker (cancelled, killed) is a failure too, except
    for a job whose re-attached upstream job failed: the loop cancels it (skipped)."""

    def __init__(self, reattached: Reattached | None, queue: Queue, graph, jobs=()):
        jobs = list(jobs)
        wanted = set(jobs)
        self.reattached = reattached
        self.jobs: dict[int, Attached] = {j: a for j, a in (reattached.jobs.items() if reattached else ()) if j in wanted}
        self.queue = queue
        self.graph = graph
        self.workdir = graph.workflow.workdir
        self.order = [j for j in jobs if j in self.jobs]  # the plan's order: dependencies first
        self.seen: set[int] = set()
        self.missing: dict[int, int] = {}
        self.failed: set[int] = set()
        self.waiting: dict[int, int] = {}  # ended without a marker after an upstream failure: polls since
        self.completed: list[Event] = []  # completed while an interruption cancelled them (``stopping``)

    def __len__(self) -> int:
        return len(self.jobs)

    def __contains__(self, job: int) -> bool:
        return job in self.jobs

    def ids(self) -> list[str]:
        """The scheduler ids the executor's status query must ask for."""
        return sorted({a.scheduler_id for a in self.jobs.values()}, key=lambda s: (len(s), s))

    def task_ids(self, jobs=None) -> list[str]:
        return [self.queue.shown(a.scheduler_id, a.task) for j, a in sorted(self.jobs.items()) if jobs is None or j in jobs]

    def started_jobs(self) -> list[int]:
        return [j for j in self.order if j in self.jobs and (j in self.seen or self._marker(j) is not None)]

    def _marker(self, job: int) -> int | None:
        a = self.jobs[job]
        return marker_code(bundle_mod.status_file(a.folder, a.job_id, ".rc"), a.started)

    def update(self, rows) -> list[Event]:
        """One status answer (the executor's rows) -> events."""
        from ..run.executor import Started

        events: list[Event] = []
        never = []
        for job in self.order:
            a = self.jobs.get(job)
            if a is None:
                continue
            state = self.queue.state(rows, a.scheduler_id, a.task)
            code = self._marker(job)
            if state == NEVER and code is None:
                never.append(job)
                continue
            if state in (PENDING, RUNNING) or (state is None and code is None):
                if state is None:
                    self.missing[job] = self.missing.get(job, 0) + 1
                    if self.missing[job] < LOST_ROUNDS:
                        continue
                else:
                    self.missing.pop(job, None)
                    if state == RUNNING and job not in self.seen:
                        self.seen.add(job)
                        events.append(Started(job, where=self.queue.shown(a.scheduler_id, a.task)))
                    continue
            if job not in self.seen and code is not None:
                self.seen.add(job)
                events.append(Started(job, where=self.queue.shown(a.scheduler_id, a.task)))
            ev = self._ended(job, code, state)
            if ev is not None:
                events.append(ev)
        if never:  # pending for good (an upstream job failed): cancelled, then judged as ended
            self.queue.kill(self.task_ids(set(never)))
            for job in never:
                ev = self._ended(job, None, OVER)
                if ev is not None:
                    events.append(ev)
        return events

    def _ended(self, job: int, code: int | None, state: str | None) -> Event | None:
        from ..run.executor import Finished, Outcome

        a = self.jobs[job]
        graph = self.graph
        log = a.log if a.log and os.path.exists(os.path.join(self.workdir, a.log)) else None
        notes = [f"re-attached from {_rel(a.folder)}, {self.queue.shown(a.scheduler_id, a.task)}"]
        if code is None and any(d in self.failed for d in graph.deps[job]):
            n = self.waiting[job] = self.waiting.get(job, 0) + 1
            if n < 2:
                return None  # the loop skips it (and cancels it) on seeing its upstream failure
            self._settled(job)
            return Finished(job, Outcome.NOT_STARTED, state="CANCELLED", notes=tuple(notes))
        self._settled(job)
        if code == 0:
            missing = [p for p in graph.declared_outputs(job) if not _outputs_exist(self.workdir, (p,))]
            if not missing:
                return Finished(job, Outcome.OK, exit_code=0, log=log)
            self.failed.add(job)
            return Finished(job, Outcome.MISSING_OUTPUT, exit_code=0, log=log,
                            notes=(f"missing {', '.join(missing[:3])}", *notes))
        self.failed.add(job)
        if code == bundle_mod.MISSING_OUTPUT:  # its log says which output its command did not create
            return Finished(job, Outcome.MISSING_OUTPUT, exit_code=0, log=log, notes=tuple(notes))
        if code is not None:
            return Finished(job, Outcome.EXIT, exit_code=code, log=log, notes=tuple(notes))
        what = "not shown by " + self.queue.command if state is None else "ended"
        return Finished(job, Outcome.LOST, state=f"{what} without a status marker (cancelled, killed, or never started)",
                        log=log, notes=tuple(notes))

    def _settled(self, job: int) -> None:
        a = self.jobs.pop(job)
        self.missing.pop(job, None)
        self.waiting.pop(job, None)
        if self.reattached is not None:
            done = self.reattached.settled.get(a.folder)
            if done is not None and a.job_id in done["followed"]:
                done.setdefault("ended", []).append(a.job_id)
                if len(done["ended"]) == len(done["followed"]):
                    _mark_adopted(a.folder, done)

    def stopping(self, rows) -> tuple[list[Event], list[int]]:
        """An interruption cancelled them (``task_ids``): from one status answer, the events of
        those that completed meanwhile (so far), and the jobs still alive."""
        from ..run.executor import Finished, Outcome

        live = []
        for job in self.order:
            a = self.jobs.get(job)
            if a is None:
                continue
            if self.queue.state(rows, a.scheduler_id, a.task) in (PENDING, RUNNING, NEVER):
                live.append(job)
                continue
            if self._marker(job) == 0 and _outputs_exist(self.workdir, self.graph.declared_outputs(job)):
                log = a.log if a.log and os.path.exists(os.path.join(self.workdir, a.log)) else None
                self.completed.append(Finished(job, Outcome.OK, exit_code=0, log=log))
            self._settled(job)
        return list(self.completed), live

    def cancel(self, jobs) -> list[int]:
        """Stop following these (dependents of a failure, or all that is left): cancelled on
        the scheduler. Returns those that were followed."""
        mine = [j for j in jobs if j in self.jobs]
        if mine:
            ids = self.task_ids(set(mine))
            why = self.queue.kill(ids)
            if why is not None:
                from .. import report

                report.warn(f"could not cancel {len(ids)} re-attached job(s) that must not run any more ({why}); "
                            f"cancel them yourself: {' '.join(ids[:20])}")
            for j in mine:
                self.failed.add(j)
                self._settled(j)
        return mine


def _newest_bundle(base: str, backend: str, marked: set[str]):
    return next(_bundles(base, backend, marked), None)


def _bundles(base: str, backend: str, marked: set[str]):
    """The bundles to adopt, newest first: (folder, manifest)."""
    for n in sorted((int(n) for n in os.listdir(base) if n.isdigit()), reverse=True):
        folder = os.path.join(base, str(n))
        if os.path.exists(os.path.join(folder, ADOPTED)) or not os.path.isfile(os.path.join(folder, "jobids")):
            continue
        try:
            with open(os.path.join(folder, bundle_mod.MANIFEST)) as fh:
                manifest = json.load(fh)
        except (OSError, ValueError):
            continue
        if not isinstance(manifest, dict) or manifest.get("backend") != backend or not isinstance(manifest.get("jobs"), dict):
            continue
        if marked & set(manifest["jobs"]):
            why = damaged(manifest)
            if why is not None:
                report.warn(f"{_rel(os.path.join(folder, bundle_mod.MANIFEST))} is damaged ({why}): not adopting "
                            "that bundle; its jobs still marked started run again")
                continue
            yield folder, manifest


def damaged(manifest: dict) -> str | None:
    """What is wrong with the shape of a bundle's manifest (one that has ``jobs``) for
    adopting it, or None: ``arrays`` a list of arrays with a name each, ``local`` (if there)
    the same, and each job a table with a ``task`` (a whole number from 0), the ``array`` it is
    in (one of those) and, if packed, its ``line``."""
    names: set[str] = set()
    for key in ("arrays", "local"):
        arrays = manifest.get(key, [] if key == "local" else None)
        if not isinstance(arrays, list):
            return f"{key} is not a list"
        for a in arrays:
            if not isinstance(a, dict) or not isinstance(a.get("name"), str) or not bundle_mod.NAME.fullmatch(a["name"]):
                return f"an entry of {key} is not an array with a name"
            names.add(a["name"])
    for jid, e in manifest["jobs"].items():
        shown = report.shown(jid)
        if not isinstance(e, dict):
            return f"job {shown} is not a table"
        if not isinstance(e.get("array"), str) or e["array"] not in names:
            return f"job {shown} names no array of the bundle"
        for key in ("task", "line"):
            value = e.get(key, 0) if key == "line" else e.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                return f"job {shown} has no {key} (a whole number from 0)"
    return None


def _adopted_ids(folder: str, arrays_of) -> tuple[dict[str, str], dict[str, str]]:
    """A bundle's ``jobids``: array name -> scheduler id (a line named after one of the
    manifest's arrays: written at submission, or later for an array held back until
    re-attached jobs ended), and ``<array>_<task>`` -> the id of that task's latest
    resubmission."""
    names = {a.get("name") for a in arrays_of if isinstance(a, dict)}
    arrays: dict[str, str] = {}
    retries: dict[str, str] = {}
    try:
        with open(os.path.join(folder, "jobids")) as fh:
            for line in fh:
                parts = line.split()
                if len(parts) == 2:
                    (arrays if parts[0] in names else retries)[parts[0]] = parts[1]  # a later line wins
    except OSError:
        pass
    return arrays, retries


def _resubmissions(folder: str, arrays_of) -> dict[str, int]:
    """A bundle's ``jobids``: ``<array>_<task>`` -> how many times that task was resubmitted."""
    names = {a.get("name") for a in arrays_of if isinstance(a, dict)}
    count: dict[str, int] = {}
    try:
        with open(os.path.join(folder, "jobids")) as fh:
            for line in fh:
                parts = line.split()
                if len(parts) == 2 and parts[0] not in names:
                    count[parts[0]] = count.get(parts[0], 0) + 1
    except OSError:
        pass
    return count


def held_arrays(layout, graph, attached) -> list[int]:
    """The arrays of a bundle that wait until re-attached jobs have ended (they are submitted
    then, with what is left of them): those with a job that needs a re-attached job, or a job
    of an array that waits. In submission (dependency) order."""
    if not attached:
        return []
    held: set[int] = set()
    where = layout.where
    for array in layout.arrays:
        if any(d in attached or (d in where and where[d][0] in held) for j in array.jobs for d in graph.deps[j]):
            held.add(array.index)
    return sorted(held)


def release_held(ex, submit, unit: str) -> None:
    """Submit the arrays ``ex`` (a SLURM or LSF executor) holds back whose re-attached
    upstream jobs have all ended (those that failed have had their dependents cancelled by
    the loop meanwhile): what is left of each. ``submit(array, jobs, tasks, part)`` submits
    one (``part``: some of its tasks only, ``tasks`` 0-based, already noted in ``ex.partial``)
    and gives its scheduler id; ``unit`` names a task in the line said ("task", "element")."""
    if not ex.held_back:
        return
    b = ex.bundle
    where, deps, held = ex.layout.where, ex.graph.deps, set(ex.held_back)
    for a in list(ex.held_back):
        array = ex.layout.arrays[a]
        jobs = [j for j in array.jobs if j in ex.remaining]
        if not jobs:  # every job of it was cancelled
            ex.held_back.remove(a)
            held.discard(a)
            continue
        if any(d in ex.follower or (d in where and where[d][0] in held) or (d in ex.current and d in ex.remaining)
               for j in jobs for d in deps[j]):
            continue
        tasks = sorted({where[j][1] for j in jobs})
        part = len(tasks) < len(array)
        if part:
            ex.partial.add(a)
        job_id = submit(array, jobs, tasks, part)
        ex.ids[a] = job_id
        ex.array_of[job_id] = a
        ex.held_back.remove(a)
        held.discard(a)
        fd = os.open(os.path.join(b.dir, "jobids"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, bundle_mod.FILE_MODE)
        with open(fd, "a") as ids_file:
            ids_file.write(f"{array.name} {job_id}\n")
        if not ex.quiet:
            print(f"submitted {array.name}={job_id}, {len(tasks)} {unit}(s), its re-attached upstream jobs over", flush=True)


def _outputs_exist(workdir: str, outputs) -> bool:
    remote = [p for p in outputs if storage.is_remote(p)]
    if any(not os.path.lexists(os.path.join(workdir, p)) for p in outputs if not storage.is_remote(p)):
        return False
    return not remote or len(storage.stat_each(remote)) == len(remote)


