"""Adopting the bundle of a push run (SLURM, LSF) whose rulec died, before the next run plans.

Called with the lock held (so no other run is alive here). The newest bundle under
``.rulec/<backend>/`` that was submitted (``jobids``), is not marked ``adopted``, and holds
jobs of this graph that have started marks and no record is adopted:

- tasks still pending or running on the scheduler are waited for (one batched status query
  per poll, through the backend's ``Queue``), their ids said once;
- a job whose marker says 0, whose declared outputs exist and whose task table line is the one
  this graph would write (same command, outputs, log) is recorded as done (a packed task's
  jobs each have a line and a marker of their own: the manifest's ``line``);
- a job whose marker says non-zero is forgotten (its task removed its outputs: it reruns);
- any other job keeps its mark (the plan says "incomplete": it reruns).

The bundle is then marked ``adopted`` (never adopted twice).

The jobs settled by their markers (recorded or forgotten) make a run of their own in the run
history (``rulec report``): executor the backend, status ``adopted``, one attempt a job,
``adopted`` (done there) or ``failed`` ("failed in the run that died", with its exit status).
Their own run, not the adopting one's: adoption comes before the plan (which may then find
nothing to run, and a run that runs nothing records none), and their times are the dead
run's (a packed job's ``status/<job id>.start``, else the start its mark recorded when the
dead rulec saw it start; the end: the mtime of its ``.rc`` marker), which would stretch the
wall time of the run that adopts them over the time no rulec was running.
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
from . import rel_path as _rel

ADOPTED = "adopted"  # written in a bundle's folder once a later run has adopted it
DIED = "failed in the run that died"  # the reason of a job whose marker says it failed
MARK_SLACK = 2.0  # seconds a marker may seem older than its job's started mark (clocks of node and head)
FAILED_ROUNDS = 6  # status queries failing this many polls in a row: give up (nothing submitted)


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


def adopt(workdir: str, backend: str, history, graph, queue: Queue, quiet: bool = False, poll: float = 5.0,
          sleep=time.sleep) -> dict[str, list[str]]:
    """Returns job ids by what was done with them: "recorded", "forgotten", "left"."""
    done: dict[str, list[str]] = {"recorded": [], "forgotten": [], "left": []}
    records = history.records()
    marked = {jid for jid, rec in records.items() if rec[2] == "running"}
    base = os.path.join(workdir, ".rulec", str(backend))
    if not marked or not os.path.isdir(base):
        return done
    index = {graph.job_id(j): j for j in range(len(graph))}
    marked = {jid for jid in marked if jid in index}
    found = _newest_bundle(base, str(backend), marked)
    if found is None:
        return done
    folder, manifest = found
    entries = {jid: e for jid, e in manifest["jobs"].items() if jid in marked}
    arrays, retries, resubmitted = _adopted_ids(folder, len(manifest.get("arrays", ())))
    where = {}  # job id -> (scheduler id, task) of its latest submission
    attempt = {}  # job id -> its latest submission's attempt (1, or 1 + its resubmissions)
    for jid, e in entries.items():
        key = queue.task_key(e["array"], e["task"])
        if "line" in e:  # a packed task's job: submitted alone as "<key>:<line>"
            key += f":{e['line']}"
        retry = retries.get(key)
        where[jid] = (retry, e["task"]) if retry else (arrays.get(e["array"]), e["task"])
        attempt[jid] = 1 + resubmitted.get(key, 0)

    details = {jid: history.detail(jid) for jid in entries}
    started = {jid: d.started for jid, d in details.items() if d is not None and d.started is not None}

    def marker(jid: str) -> int | None:
        """The job's marker, if its task wrote it after the job was marked started: an older
        one is of an earlier run of the bundle's jobs, and says nothing of this mark."""
        path = os.path.join(folder, "status", jid + ".rc")
        try:
            if jid in started and os.stat(path).st_mtime < started[jid] - MARK_SLACK:
                return None
            with open(path) as fh:
                return int(fh.read().strip())
        except (OSError, ValueError):
            return None

    waiting = {jid for jid in entries if marker(jid) is None and where[jid][0]}
    said = False
    bad = 0
    while waiting:
        alive = queue.alive({jid: where[jid] for jid in waiting})
        if alive is None:
            bad += 1
            if bad >= FAILED_ROUNDS:
                raise BackendError(f"{queue.command} failed {bad} times in a row: cannot tell whether the jobs of the previous run "
                                   f"({_rel(folder)}) still run ({queue.last_error})",
                                   hint=f"run again once {queue.command} answers; nothing was submitted")
            sleep(poll)
            continue
        bad = 0
        waiting = {jid for jid in alive if marker(jid) is None}
        if not waiting:
            break
        if not said and not quiet:
            shown = sorted({queue.shown(*where[j]) for j in waiting})
            print(f"waiting for {len(waiting)} job(s) of the previous run still on {str(backend).upper()}: ids "
                  + " ".join(shown[:20]) + (" ..." if len(shown) > 20 else ""), flush=True)
            said = True
        sleep(poll)

    from ..run.record import Recorder

    recorder = Recorder(graph)
    renderers = recorder.renderers
    tables: dict[str, list[str]] = {}
    finished = []
    for jid in sorted(entries):
        e = entries[jid]
        job = index[jid]
        code = marker(jid)
        if code is None:
            done["left"].append(jid)
            continue
        if code != 0:
            done["forgotten"].append(jid)
            continue
        if e["array"] not in tables:
            try:
                with open(os.path.join(folder, f"{e['array']}.tasks")) as fh:
                    tables[e["array"]] = fh.read().split("\n")
            except OSError:
                tables[e["array"]] = []
        lines = tables[e["array"]]
        log = bundle_mod.log_of(graph, job)
        line = e.get("line", e["task"])  # a packed task's jobs have a line each
        same = isinstance(line, int) and 0 <= line < len(lines) and lines[line] == bundle_mod.task_line(
            graph, job, log, bundle_mod.task_command(graph, renderers, job))
        if not same or not _outputs_exist(workdir, graph.declared_outputs(job)):
            done["left"].append(jid)
            continue
        finished.append(recorder.finished(job, log=log, started=started.get(jid)))
        done["recorded"].append(jid)
    settled = done["recorded"] + done["forgotten"]
    if settled:  # a run of their own in the run history (``rulec report``): see _note_run
        _note_run(history, backend, queue, graph, index, folder, {j: where[j] for j in settled}, attempt, started,
                  recorder, done["forgotten"], marker)
    if finished:
        history.record(finished)  # (with the run's attempts)
    if done["forgotten"]:
        history.forget(done["forgotten"])
    if settled:
        history.end_run(0, ADOPTED_RUN)
    bundle_mod.write_file(os.path.join(folder, ADOPTED),
                          "".join(f"{what} {jid}\n" for what in ("recorded", "forgotten", "left") for jid in done[what]),
                          bundle_mod.FILE_MODE)
    if not quiet and entries:
        print(f"adopted {_rel(folder)} of the previous run: {len(done['recorded'])} job(s) done there recorded, "
              f"{len(done['forgotten'])} failed, {len(done['left'])} not finished", flush=True)
    return done


def _note_run(history, backend, queue: Queue, graph, index: dict, folder: str, where: dict, attempt: dict,
              started: dict, recorder, failed: list[str], marker) -> None:
    """Begin the adoption's run in ``history`` and note an attempt for each settled job (the
    keys of ``where``; ``failed``: those whose marker is not 0), in the order they ended."""
    try:
        since = os.stat(os.path.join(folder, bundle_mod.MANIFEST)).st_mtime - MARK_SLACK  # the bundle's writing
    except OSError:
        since = 0.0
    failed = set(failed)
    rows = []
    for jid in where:
        try:
            end = os.stat(os.path.join(folder, "status", jid + ".rc")).st_mtime
        except OSError:
            continue
        start = _start_marker(folder, jid)  # a packed job's
        if start is None:
            start = started.get(jid)  # when the dead rulec saw it start (an older run's: no)
        if start is not None and not since <= start <= end + MARK_SLACK:
            start = None
        rows.append((end, jid, None if start is None else min(start, end)))
    if not rows:
        return
    rows.sort()
    from ..run.loop import TAILS_KEPT

    history.begin_run(str(backend), len(rows), " ".join(sys.argv))
    tails = TAILS_KEPT
    for end, jid, start in rows:
        job = index[jid]
        sid, task = where[jid]
        place = None
        if sid:
            place = queue.shown(sid, task)
            place = place if backend == Backend.SLURM else f"{backend}:{place}"  # as the run loop names it
        log = bundle_mod.log_of(graph, job)
        if jid in failed:
            code = marker(jid)
            tail = None
            if tails > 0:
                tails -= 1
                tail = "\n".join(report.tail(os.path.join(graph.workflow.workdir, log), 40)) or None
            history.note_attempt(jid, graph.rule_of(job).name, attempt[jid], start, end, "failed", place,
                                 f"{DIED} (exit status {code})", recorder.command(job, attempt=attempt[jid]), log, tail)
        else:
            history.note_attempt(jid, graph.rule_of(job).name, attempt[jid], start, end, ADOPTED_RUN, place, log=log)


def _start_marker(folder: str, jid: str) -> float | None:
    """The time in a packed job's ``status/<job id>.start`` (seconds since 1970), if any."""
    try:
        with open(os.path.join(folder, "status", jid + ".start")) as fh:
            return float(fh.read(64).strip())
    except (OSError, ValueError):
        return None


def _newest_bundle(base: str, backend: str, marked: set[str]):
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
            return folder, manifest
    return None


def _adopted_ids(folder: str, n_arrays: int) -> tuple[dict[str, str], dict[str, str], dict[str, int]]:
    """A bundle's ``jobids``: array name -> scheduler id (its first ``n_arrays`` lines, written
    at submission), ``<array>_<task>`` -> the id of that task's latest resubmission, and
    ``<array>_<task>`` -> how many times it was resubmitted."""
    arrays: dict[str, str] = {}
    retries: dict[str, str] = {}
    count: dict[str, int] = {}
    try:
        with open(os.path.join(folder, "jobids")) as fh:
            for i, line in enumerate(fh):
                parts = line.split()
                if len(parts) == 2:
                    (arrays if i < n_arrays else retries)[parts[0]] = parts[1]  # a later line wins
                    if i >= n_arrays:
                        count[parts[0]] = count.get(parts[0], 0) + 1
    except OSError:
        pass
    return arrays, retries, count


def _outputs_exist(workdir: str, outputs) -> bool:
    remote = [p for p in outputs if storage.is_remote(p)]
    if any(not os.path.lexists(os.path.join(workdir, p)) for p in outputs if not storage.is_remote(p)):
        return False
    return not remote or len(storage.stat_each(remote)) == len(remote)


