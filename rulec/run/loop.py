"""The one run loop over a Plan, for every executor (ninja's Builder as the
model; the executors are its CommandRunners, rulec/run/executor.py).

Plan -> Scheduler (which job may start) -> Executor (starts, watches, stops; events as data)
-> results into the state store. The loop owns the lock, signals, records, output removal,
skipping, --keep-going, Ctrl-C, the progress display and the summary; an executor owns none
of them.
A job fails on a non-zero exit, or on exit 0 without every declared output; its outputs are
then removed, its dependents are skipped, the other running jobs finish (and keep their
outputs), and rulec exits 1 with a summary. SIGINT/SIGTERM stop the running jobs' process
groups, remove their partial outputs, record nothing as complete and exit 130; a closed
standard output (``rulec run | head``) does the same and exits 141, as a writer killed by
SIGPIPE would. A job has ended only when its whole process group has: what it leaves running
is stopped before its outputs are judged (and a job that exits 0 leaving processes behind
fails: they were cut short).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass

from .. import report, storage
from ..errors import EXIT_INTERRUPTED, EXIT_JOB_FAILED, Interrupted, RulecError, brief
from ..history import History
from ..logs import default_log
from ..schedule import Pools, Scheduler
from ..state import snapshot
from .record import Recorder
from .executor import Finished, Note, Outcome, Started, Task

EXIT_CLOSED_OUTPUT = 141  # 128 + SIGPIPE: what a shell shows for a writer whose reader went away


@dataclass(frozen=True)
class RunOptions:
    cores: int
    mem_mb: int | None
    gpus: int = 0
    custom: tuple[tuple[str, float], ...] = ()
    keep_going: bool = False
    quiet: bool = False
    grace: float = 5.0
    retries: int = 0  # --retries: for rules that do not say (a rule's retries: wins)


@dataclass
class Failure:
    job_id: str
    why: str
    log: str | None


class Loop:
    """One run of a Plan through one executor."""

    def __init__(self, graph, plan, history: History, opts: RunOptions, executor, snap=None):
        self.graph = graph
        self.plan = plan
        self.history = history
        self.opts = opts
        self.executor = executor
        self.workdir = graph.workflow.workdir
        self.recorder = Recorder(graph)
        # Remote paths (s3://...) are worked on as local copies (see storage.py); a push
        # executor's job scripts stage them on the node themselves.
        self.remote = executor.stages_files and any(
            storage.is_remote(p) for paths in (graph.sources, *graph.outputs) for p in paths)
        self.local = _local_path if self.remote else _same
        self.fetched: set[str] = set()  # remote inputs downloaded during this run
        # Remote stats as planned, and of the outputs this run uploaded: a record needs its
        # inputs' stats, and listing a remote folder per finished job would cost seconds.
        self.remote_stats: dict = {}
        self.planned_stat = snap.lookup if snap is not None else (lambda p: None)
        self.not_started: list[tuple[int, str]] = []
        self.failures: list[Failure] = []
        self.folders: set[str] = set()  # folders known to exist
        self.own_dir = os.path.join(self.workdir, ".rulec") + os.sep
        # Paths that existed when the run was planned (None: unknown, so any may exist).
        self.existed = snap.exists if snap is not None else None
        self.old_logs: set[str] = set()  # files in the folders of lazy logs, listed once
        self.listed: set[str] = set()
        self.commands: dict[int, str] = {}  # commands of running jobs, for their records
        self.started_at: dict[int, float] = {}
        self.attempts: dict[int, int] = {}  # jobs on a later attempt than the first (retries)
        self.retried: list[tuple[str, int]] = []  # (job id, attempt) of jobs that succeeded on a retry
        self.done: list = []  # finished jobs not yet recorded: written with the next starts
        self.sched: Scheduler | None = None
        self.progress = None
        self.logs_of: dict[int, tuple[str, bool]] = {}  # push: each task's log, for a resubmission

    def log_of(self, job: int) -> tuple[str, bool]:
        """The job's log path, and whether it is lazy (the default log: written only if the
        job prints something; a declared ``log:`` is always written)."""
        logs = self.graph.logs(job)
        return (logs[0], False) if logs else (default_log(self.graph, job), True)

    def run(self) -> int:
        graph = self.graph
        executor = self.executor
        sched = self.sched = Scheduler(graph, self.plan, Pools(self.opts.cores, self.opts.mem_mb, self.opts.gpus, self.opts.custom), self.opts.keep_going)
        progress_ = self.progress = _progress(len(self.plan.run), self.opts.quiet)
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        # A closed terminal or SSH session: the jobs, in their own sessions, do not get the
        # hang-up, so stop them as for SIGTERM (unless rulec runs under nohup: an ignored
        # SIGHUP stays ignored, for every executor).
        previous_hup = signal.getsignal(signal.SIGHUP)
        if previous_hup is signal.SIG_DFL:
            signal.signal(signal.SIGHUP, _raise_interrupt)
        # A line per event on a pipe, as it happens: `rulec run | head -1` then learns at the
        # next line that its reader is gone, not 8 KiB of lines later. (A file keeps block
        # buffering: a write per line costs ~20 us per job there.)
        relined = _line_buffered(sys.stdout) if not self.opts.quiet else None
        try:
            if executor.push and not hasattr(executor, "resubmit") and self._any_retries():
                raise RulecError(f"retries: the {executor.name} executor cannot resubmit a failed job yet; "
                                 "run without --retries (and without rules' retries:), or use another executor")
            if executor.push:
                self._drive_push()
            else:
                self._drive_pull()
            if self.done:
                self.history.record(self.done)
                self.done = []
        except (KeyboardInterrupt, Interrupted, BrokenPipeError) as exc:
            return self._interrupted(isinstance(exc, BrokenPipeError))
        finally:
            executor.close()
            signal.signal(signal.SIGTERM, previous)
            if previous_hup is signal.SIG_DFL:
                signal.signal(signal.SIGHUP, previous_hup)
            _close(progress_)
            if relined is not None:
                _line_buffered(sys.stdout, relined)
        if self.failures:
            not_run = len(self.plan.run) - len(sched.done) - len(self.failures)
            report.run_failures(self.failures, len(sched.done), not_run, self.workdir)
            return EXIT_JOB_FAILED
        if not self.opts.quiet:
            where = f" on {executor.name}" if executor.name != "local" else ""
            print(f"Done: {len(sched.done)} job(s) ran{where}.")
            for jid, attempt in self.retried[:10]:
                print(f"  {report.shown(jid)} succeeded on attempt {attempt}")
            if len(self.retried) > 10:
                print(f"  ... and {len(self.retried) - 10} more succeeded on a retry")
        return 0

    # ------------------------------------------------------------------ driving

    def _drive_pull(self) -> None:
        """Start what the ready queue allows, wait for events, until nothing is left."""
        sched, executor = self.sched, self.executor
        while not sched.finished_all():
            starts = sched.startable()
            if starts:
                self._start(starts)
                for job, why in self.not_started:  # a remote input could not be fetched
                    self._failed(job, why, None)
                self.not_started = []
            if not executor.running():
                if sched.ready and not sched.stopping:
                    continue
                break
            if self.done:
                self.history.record(self.done)  # nothing to start: record now, then wait
                self.done = []
            for event in executor.wait():
                self._event(event)

    def _drive_push(self) -> None:
        """Hand every task to the executor (it wires the dependencies), then follow it."""
        graph, sched, executor = self.graph, self.sched, self.executor
        jobs = list(self.plan.run)
        tasks = []
        logs = {}
        for job in jobs:
            jid = graph.job_id(job)
            log, lazy = self.log_of(job)
            logs[jid] = log
            command = self.commands[job] = self.recorder.command(job)
            tasks.append(Task(job, jid, command, log, lazy))
            self.logs_of[job] = (log, lazy)
        self.history.mark_started([(graph.job_id(j), graph.rule_of(j).name, graph.outputs[j]) for j in jobs], logs)
        sched.ready.clear()  # the scheduler only tells which jobs a failure skips
        sched.running.update(jobs)
        try:
            opened = executor.open(tasks, {j: graph.deps[j] for j in jobs})
        except Exception:  # nothing stays submitted (the executor cancels it): no marks either
            self.history.forget([graph.job_id(j) for j in jobs])
            raise
        for event in opened:
            self._event(event)
        while executor.running():
            for event in executor.wait():
                self._event(event)
            if self.done:
                self.history.record(self.done)
                self.done = []

    def _event(self, event) -> None:
        if type(event) is Note:
            self.progress.note(report.shown(event.text))
        elif type(event) is Started:
            jid = self.graph.job_id(event.job)
            self.started_at.setdefault(event.job, time.time())
            self.progress.start(jid)
        else:
            self._ended(event)

    def _ended(self, ev: Finished) -> None:
        graph = self.graph
        job = ev.job
        missing = ()
        if ev.outcome is Outcome.OK:
            if self.executor.stages_files:
                local_ = self.local
                missing = [p for p in graph.declared_outputs(job) if not os.path.exists(os.path.join(self.workdir, local_(p)))]
            if not missing:
                why = self._upload(job) if self.remote else None
                if why is None:
                    stats = self._input_stats(job) if self.remote else None
                    attempt = self.attempts.get(job, 1)
                    self.done.append(self.recorder.finished(job, log=ev.log, started=self.started_at.get(job), command=self.commands.pop(job, None),
                                                            stats=stats, attempts=attempt))
                    self.sched.finished(job, True)
                    self.progress.success(graph.job_id(job))
                    if attempt > 1:
                        self.retried.append((graph.job_id(job), attempt))
                    return
                self._failed(job, why, ev.log)
                return
        if ev.outcome is Outcome.NOT_STARTED:
            self._not_run(job)
            return
        self._failed(job, report.outcome_text(ev, missing), ev.log)

    def _not_run(self, job: int) -> None:
        """A job the executor never started because of an upstream failure (a cluster array
        that waits for a whole upstream array): skipped, as its dependents are; not a failure."""
        graph = self.graph
        dependents = self.sched.skip(job)
        self.history.forget([graph.job_id(j) for j in [job, *dependents]])
        self.progress.skip([graph.job_id(j) for j in [job, *dependents]])
        if self.executor.push and dependents:
            for j in dependents:
                self.sched.running.discard(j)
            for event in self.executor.cancel(sorted(dependents)):
                self._event(event)

    def _interrupted(self, closed: bool) -> int:
        """Ctrl-C, SIGTERM, SIGHUP or a closed standard output: stop every running job, keep
        what finished, remove what the others left, record nothing of them as complete."""
        graph = self.graph
        if closed:
            _quiet_stdout()  # nothing more can be shown there; no complaint at exit either
        if self.done:
            self.history.record(self.done)  # they finished: keep them
            self.done = []
        running = set(self.executor.running_jobs())
        _close(self.progress)
        events, alive = self.executor.stop(self.opts.grace)
        finished_ok = []
        kept: set[int] = set()
        for ev in events:
            if ev.outcome is Outcome.OK and ev.job in running and not self.executor.stages_files:
                kept.add(ev.job)
                # a push executor's job that completed while being cancelled: it is done
                finished_ok.append(self.recorder.finished(ev.job, log=ev.log, started=self.started_at.get(ev.job), command=self.commands.get(ev.job),
                                                          attempts=self.attempts.get(ev.job, 1)))
                running.discard(ev.job)
        if finished_ok:
            self.history.record(finished_ok)
        alive = set(alive)
        stopped = [j for j in running if j not in alive]
        for job in stopped:
            self._remove_outputs(job)
        unfinished = [j for j in self.plan.run if j not in self.sched.done and j not in self.sched.failed and j not in alive
                      and j not in kept] if self.executor.push else stopped
        self.history.forget([graph.job_id(j) for j in unfinished])
        cause = "standard output was closed; " if closed else ""
        if alive:
            report.error(f"interrupted: {cause}{len(alive)} job(s) may still be running: {self.executor.name} could not stop them "
                         f"({', '.join(sorted(graph.job_id(j) for j in alive)[:5])}{' ...' if len(alive) > 5 else ''}); "
                         f"stopped {len(stopped)} and removed their outputs; the others' outputs were left alone")
        else:
            report.error(f"interrupted: {cause}stopped {len(stopped)} running job(s) and removed their outputs")
        return EXIT_CLOSED_OUTPUT if closed else EXIT_INTERRUPTED

    def _start(self, jobs: list[int]) -> None:
        graph = self.graph
        items = []
        logs = {}
        lazy = {}
        for job in jobs:
            jid = graph.job_id(job)
            log, lazy[job] = self.log_of(job)
            logs[jid] = log
            self._prepare(job, log, lazy[job])
            items.append((jid, graph.rule_of(job).name, graph.outputs[job]))
        self.history.commit(self.done, items, logs)
        self.done = []
        now = time.time()
        local_ = self.local
        blocked = {job for job, _ in self.not_started}
        tasks = []
        for job, (jid, _, _) in zip(jobs, items):
            if job in blocked:
                continue
            # The record keeps the first attempt's command (what a plan compares); the task
            # runs this attempt's ({attempt}, resources "*{attempt}").
            attempt = self.attempts.get(job, 1)
            if self.remote:
                why = self._fetch(job)
                if why is not None:
                    self.not_started.append((job, why))
                    continue
                self.commands[job] = self.recorder.command(job)
                command = self.recorder.command(job, local=local_, attempt=attempt)
            else:
                command = self.commands[job] = self.recorder.command(job)
                if attempt != 1:
                    command = self.recorder.command(job, attempt=attempt)
            self.started_at[job] = now
            tasks.append(Task(job, jid, command, local_(logs[jid]), lazy[job], attempt))
        for event in self.executor.start(tasks):
            self._event(event)

    def _prepare(self, job: int, log: str, lazy: bool) -> None:
        """Make the output and log folders; remove stale outputs so a failing command
        cannot leave an old file looking new, and an earlier run's lazy log (a declared log
        is truncated when the job opens it). Only outputs the plan saw are removed: nothing
        else makes a job's outputs."""
        outputs = self.graph.outputs[job]
        existed = self.existed
        local_ = self.local
        for path in outputs if log in outputs else outputs + (log,):
            if self.remote and path != log and storage.is_remote(path):
                if existed is None or existed(path):
                    try:
                        storage.remove([path])  # a stale remote output must not look fresh
                    except Exception as exc:  # fsspec backends raise many kinds
                        self.not_started.append((job, f"could not delete its old output {path}: {brief(exc)}"))
                        return
            full = os.path.join(self.workdir, local_(path))
            folder = os.path.dirname(full)
            if folder and folder not in self.folders:
                if folder.startswith(self.own_dir):  # default logs, remote copies: rulec's own
                    storage.make_dirs(folder)
                else:  # the user's folders get the user's umask
                    os.makedirs(folder, exist_ok=True)
                self.folders.add(folder)
            if path == log:
                if lazy and folder not in self.listed:
                    self.listed.add(folder)
                    self.old_logs.update(e.path for e in os.scandir(folder))
                if lazy and full in self.old_logs:
                    storage.remove_local(full)
            elif existed is None or existed(path) or local_(path) is not path:
                storage.remove_local(full)

    def _remove_outputs(self, job: int) -> None:
        local_ = self.local
        remote = []
        for path in self.graph.declared_outputs(job):
            local = local_(path)
            storage.remove_local(os.path.join(self.workdir, local))
            if local is not path:
                remote.append(path)
        if remote:
            try:
                storage.remove(remote)  # some may have been uploaded before one failed
            except Exception:
                pass  # the job is reported as failed; its record is gone, so it reruns

    def _failed(self, job: int, why: str, log: str | None) -> None:
        """A job failed: remove its outputs, forget it, skip its dependents (and, without
        --keep-going, start nothing more: a push executor cancels what has not started)."""
        sched, progress_ = self.sched, self.progress
        jid = self.graph.job_id(job)
        if log is None and _disk_full(self.workdir):
            why += " (the disk holding the working folder is full: nothing it printed could be kept)"
        attempt = self.attempts.get(job, 1)
        allowed = self._retries(job)
        if attempt <= allowed and not sched.stopping:  # stopping: a failure elsewhere ends the run
            self._retry(job, attempt + 1, allowed + 1, why)
            return
        if attempt > 1:
            why += f" (attempt {attempt} of {allowed + 1})"
        self._remove_outputs(job)
        self.history.forget([jid])
        self.failures.append(Failure(jid, why, log))
        progress_.failure(jid, f"{why} (log: {log})" if log else f"{why} (no output)")
        skipped = sched.finished(job, False)
        progress_.skip([self.graph.job_id(j) for j in skipped])
        if self.executor.push:
            cancel = set(skipped)
            if sched.stopping:  # no --keep-going: nothing new starts
                cancel.update(j for j in self.plan.run if j in sched.running and j not in self.started_at)
            if cancel:
                for j in cancel:
                    sched.running.discard(j)
                for event in self.executor.cancel(sorted(cancel)):
                    self._event(event)

    def _retries(self, job: int) -> int:
        """How many times a failed attempt of ``job`` may be retried: its rule's ``retries:``,
        else ``--retries``."""
        n = self.graph.rule_of(job).retries
        return self.opts.retries if n is None else n

    def _any_retries(self) -> bool:
        rules = self.graph.workflow.rules
        return any((rules[r].retries if rules[r].retries is not None else self.opts.retries)
                   for r in {self.graph.rule[j] for j in self.plan.run})

    def _retry(self, job: int, attempt: int, total: int, why: str) -> None:
        """Start ``job`` again as ``attempt``: its failed attempt's outputs go, one line says
        so, and it goes back to the front of the ready queue (pull) or is resubmitted (push)."""
        jid = self.graph.job_id(job)
        self._remove_outputs(job)
        self.attempts[job] = attempt
        self.started_at.pop(job, None)
        self.progress.note(report.shown(f"retrying {jid} (attempt {attempt} of {total}): {why}"))
        if self.executor.push:
            log, lazy = self.logs_of.get(job) or self.log_of(job)
            task = Task(job, jid, self.recorder.command(job, attempt=attempt), log, lazy, attempt)
            for event in self.executor.resubmit([task]):
                self._event(event)
        else:
            self.sched.retry(job, self.graph.rule_of(job).resources.at(attempt))

    def _fetch(self, job: int) -> str | None:
        """Download the job's remote inputs not fetched yet in this run; None, or why not."""
        wanted = [p for p in self.graph.inputs[job] if storage.is_remote(p) and p not in self.fetched]
        try:
            storage.download(wanted, self.workdir)
        except Exception as exc:  # fsspec and its backends raise many kinds
            return f"could not fetch its input: {brief(exc)}"
        self.fetched.update(wanted)
        return None

    def _upload(self, job: int) -> str | None:
        """Upload a succeeded job's remote outputs (and remote log); None, or why not."""
        local_ = self.local
        urls = [p for p in self.graph.outputs[job] if local_(p) is not p
                and os.path.exists(os.path.join(self.workdir, local_(p)))]
        try:
            storage.upload(urls, self.workdir)
            self.remote_stats.update(storage.stat_each(urls))
            self.fetched.update(urls)  # the local copy is what was uploaded: no download later
        except Exception as exc:
            return f"could not upload its outputs: {brief(exc)}"
        return None

    def _input_stats(self, job: int) -> dict:
        """The stats of a job's inputs for its record: local ones now, remote ones as
        planned or as uploaded by this run."""
        inputs = self.graph.inputs[job]
        local_ = self.local
        stats = snapshot([p for p in inputs if local_(p) is p], self.workdir).as_dict()
        for path in inputs:
            if local_(path) is not path:
                st = self.remote_stats.get(path) or self.planned_stat(path)
                if st is None:
                    st = storage.stat_each([path]).get(path)
                if st is not None:
                    stats[path] = st
        return stats


def touch(graph, plan, history: History, quiet: bool = False, snap=None) -> int:
    """``rulec run --touch``: record the planned jobs as built from the current inputs and
    touch their outputs in dependency order, running nothing (make -t). A missing output
    is an error: rulec never invents content. Remote outputs cannot be touched: they are
    recorded as they are (the plan's snapshot says they exist)."""
    workdir = graph.workflow.workdir

    def exists(path: str) -> bool:
        if storage.is_remote(path):
            return snap is not None and snap.exists(path)
        return os.path.exists(os.path.join(workdir, path))

    missing = [(graph.job_id(j), p) for j in plan.run for p in graph.declared_outputs(j) if not exists(p)]
    if missing:
        jid, path = missing[0]
        raise RulecError(f"--touch: output {path!r} of {jid} does not exist ({len(missing)} missing in all); run the job instead")
    recorder = Recorder(graph)
    records = []
    for job in plan.run:
        for path in graph.declared_outputs(job):
            if not storage.is_remote(path):
                os.utime(os.path.join(workdir, path))
        records.append(recorder.finished(job))
    history.record(records)
    if not quiet:
        print(f"Touched {len(records)} job(s).")
    return 0


def _local_path(path: str) -> str:
    """The path a job works on: a remote URL's local copy, else the path itself."""
    return storage.scratch_path(path) if storage.is_remote(path) else path


def _same(path: str) -> str:
    return path


def _disk_full(folder: str) -> bool:
    """Whether the file system holding ``folder`` has no block left for rulec (asked only for
    a failed job that printed nothing, so its summary does not say just "no output")."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    return st.f_bavail == 0 or (st.f_favail == 0 and st.f_files > 0)


def _raise_interrupt(signum, frame):
    raise Interrupted("terminated")


def _line_buffered(stream, on: bool = True) -> bool | None:
    """Set the line buffering of a text stream on a pipe; what it was (None: left alone)."""
    import stat

    try:
        if not stat.S_ISFIFO(os.fstat(stream.fileno()).st_mode):
            return None
        was = stream.line_buffering
        if was != on:
            stream.reconfigure(line_buffering=on)
        return was
    except (AttributeError, ValueError, OSError):
        return None


def _quiet_stdout() -> None:
    """Point standard output at /dev/null (its reader is gone): what is still buffered, and
    every later line, go nowhere, and Python's flush at exit does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _close(progress_) -> None:
    try:
        progress_.close()
    except BrokenPipeError:
        _quiet_stdout()
        progress_.close()


def _progress(total: int, quiet: bool):
    from .progress import Progress

    return Progress(total, quiet)
