"""The local executor: jobs run on this machine through per-slot bash workers (a pull
executor: it starts what the loop's ready queue hands it). The workers, process groups and
lazy logs are ``executors/workers.py``'s Launcher; this module only speaks the Executor protocol
(rulec/run/executor.py): tasks in, events out.

A job whose rule carries a label with a ``prefix`` (``srun -p gpu --``, ``apptainer exec
img.sif``) runs as ``<prefix words> bash -euo pipefail <job script>``: its command is written
to its script file under .rulec/jobs/, and each word of the prefix (split once, when the
Rulefile was read) is quoted for the worker's shell, so none is interpreted again."""

from __future__ import annotations

import shlex

from ..backend import Backend
from . import workers as local
from ..run.executor import Dequeued, Event, Finished, Outcome, Queued, Started, Task

TYPE_CHECKING = False

if TYPE_CHECKING:  # annotations only: typing costs a run's start a few milliseconds
    from typing import Sequence


class LocalExecutor:
    name = Backend.LOCAL
    push = False
    stages_files = True  # runs in this working folder: the loop prepares and stages paths
    queue_depth = 1  # a worker holds one request besides its job, and starts it as the job ends

    def __init__(self, workdir: str, journal=None, graph=None):
        self.launcher = local.Launcher(workdir, journal)
        self.graph = graph  # the rules' labels (prefixes); None: no job has one
        self._prefixes: dict[int, tuple[str, ...]] = {}  # rule index -> its label's prefix
        self._places: dict[int, str] = {}  # worker number -> "local:N"
        self._procs: dict[int, local.Proc] = {}  # running and queued jobs (when it queues: queue_depth)
        self._queued: dict[int, local.Proc] = {}  # queued jobs

    def open(self, tasks: Sequence[Task], deps) -> list[Event]:
        return []

    def prefix(self, job: int) -> tuple[str, ...]:
        """The words job ``job`` runs under: its rule's label's prefix (none: ``()``)."""
        graph = self.graph
        if graph is None:
            return ()
        index = graph.rule[job]
        words = self._prefixes.get(index)
        if words is None:
            name = graph.rule_of(job).label
            label = graph.workflow.labels.get(name) if name else None
            words = self._prefixes[index] = label.prefix if label is not None else ()
        return words

    def runner(self, task: Task):
        """How the worker runs ``task``: None (its command as it is), or a function of its
        script's and log target's paths giving the shell text the worker runs instead."""
        words = self.prefix(task.job)
        if not words:
            return None
        return lambda script, target: "exec " + shlex.join((*words, "bash", "-euo", "pipefail", script))

    def start(self, tasks: Sequence[Task]) -> list[Event]:
        spawn = self.launcher.spawn
        places = self._places
        procs = self._procs if self.queue_depth else None
        out: list[Event] = []
        for t in tasks:
            proc = spawn(t.job, t.job_id, t.command, t.log, t.lazy_log, self.runner(t))
            if procs is not None:
                procs[t.job] = proc
            out.append(Started(t.job, where=places.get(proc.worker.number) or self._place(proc)))
        return out

    def _place(self, proc) -> str:
        number = proc.worker.number
        where = self._places[number] = f"{self.name}:{number}"
        return where

    def queue(self, items: Sequence[Queued]) -> list[Event]:
        """Queue each task on the worker of the job it waits for (see Launcher.spawn)."""
        spawn = self.launcher.spawn
        procs = self._procs
        for q in items:
            t = q.task
            proc = spawn(t.job, t.job_id, t.command, t.log, t.lazy_log, self.runner(t), after=procs[q.after], guard=q.outputs)
            procs[t.job] = self._queued[t.job] = proc
        return []

    def wait(self) -> list[Event]:
        return self._events(self.launcher.wait_any())

    def _events(self, happened) -> list[Event]:
        procs = self._procs
        out: list[Event] = []
        for proc, code in happened:
            if code is local.STARTED:
                del self._queued[proc.job]
                out.append(Started(proc.job, where=self._places.get(proc.worker.number) or self._place(proc)))
            elif code is local.RETURNED:
                del self._queued[proc.job]
                procs.pop(proc.job, None)
                out.append(Dequeued(proc.job))
            else:
                procs.pop(proc.job, None)
                out.append(_finished(proc, code))
        return out

    def running(self) -> int:
        return self.launcher.busy()

    def running_jobs(self) -> list[int]:
        return [p.job for p in self.launcher.running()]

    def cancel(self, jobs: Sequence[int]) -> list[Event]:
        """Queued jobs among ``jobs`` are held back (they come back through ``wait``); the
        loop simply does not start the others."""
        for job in jobs:
            proc = self._queued.get(job)
            if proc is not None:
                self.launcher.hold(proc)
        return []

    def stop(self, grace: float) -> tuple[list[Event], list[int]]:
        """Every running job's group TERMed, KILLed after ``grace``, waited for; queued jobs
        held back. None can be left alive (a job is over when its group is gone)."""
        return self._events(self.launcher.stop_all(grace)), []

    def close(self) -> None:
        self.launcher.close()


def _finished(proc, code: int | None) -> Finished:
    if code == 0 and not proc.left and not proc.notes:  # (the common case, first)
        return Finished(proc.job, Outcome.OK, exit_code=0, log=proc.log)
    notes = tuple(proc.notes)
    if proc.left:
        notes += (f"rulec stopped {_pids(proc.left)} it left running",)
    if code is None:
        return Finished(proc.job, Outcome.LOST, log=proc.log, notes=notes)
    if code < 0:
        return Finished(proc.job, Outcome.SIGNAL, signal=-code, log=proc.log, notes=notes)
    if code == 0 and proc.left:
        return Finished(proc.job, Outcome.LEFT_RUNNING, exit_code=0, log=proc.log, notes=notes)
    if code:
        return Finished(proc.job, Outcome.EXIT, exit_code=code, log=proc.log, notes=notes)
    return Finished(proc.job, Outcome.OK, exit_code=0, log=proc.log, notes=notes)


def _pids(pids: list[int]) -> str:
    shown = ", ".join(map(str, pids[:5])) + (f" and {len(pids) - 5} more" if len(pids) > 5 else "")
    return f"process{'es' if len(pids) > 1 else ''} {shown}"
