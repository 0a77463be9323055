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

import enum
import os
import signal
import sys
import time

from .. import gcpause, report, storage
from ..errors import EXIT_INTERRUPTED, EXIT_JOB_FAILED, Interrupted, RulecError, brief
from ..history import ADOPTED, TOUCH as TOUCH_RUN, TOUCHED, History
from ..kinds import PROTECTED, TEMP, TOUCH, OutputKinds, make_read_only
from ..logs import default_log, file_name
from ..recordclass import record
from ..schedule import Pools, Scheduler
from ..state import snapshot
from .record import Recorder
from .executor import Dequeued, Finished, Note, Outcome, Queued, Started, Task

TAILS_KEPT = 500  # failed attempts per run whose log end goes into the run history
# Jobs about to start are marked started in the state store in batches (one transaction for
# many, see Loop._mark): at most this many ahead of their start, and only as many as started
# within about MARK_AHEAD_SECONDS the last time, so that the marks stay close to the starts.
MARK_AHEAD = 512
MARK_AHEAD_SECONDS = 1.0
# Finished jobs' records are written with the next marks, and at least this often.
RECORD_EVERY = 1.0
EXIT_CLOSED_OUTPUT = 141  # 128 + SIGPIPE: what a shell shows for a writer whose reader went away


@record(frozen=True)
class RunOptions:
    cores: int
    mem_mb: int | None
    gpus: int = 0
    custom: tuple[tuple[str, float], ...] = ()
    keep_going: bool = False
    quiet: bool = False
    grace: float = 5.0
    retries: int = 0  # --retries: for rules that do not say (a rule's retries: wins)
    print_commands: bool = False  # -p: each job's command when it starts
    keep_temp: bool = False  # --keep-temp: temp() outputs are not deleted after their last use


@record
class Failure:
    job_id: str
    why: str
    log: str | None
    outcome: Outcome | None = None  # the executor's (None: rulec's own verdict: an input not fetched, an upload)
    exit_code: int | None = None
    attempts: int = 1
    command: str | None = None  # what it ran (the summary shows it)


class Status(enum.Enum):
    """How a planned job ended in a run (``Loop.results``)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"  # a job it needs failed
    NOT_RUN = "not-run"  # the run stopped before it: a failure without --keep-going, an interruption


@record(frozen=True)
class JobResult:
    """One planned job after a run, as data: what ``rulec run`` prints, for the Python API."""

    id: str
    status: Status
    outcome: Outcome | None = None  # the last attempt's, as the executor reported it
    exit_code: int | None = None
    log: str | None = None  # relative to the working folder; None: the job printed nothing
    attempts: int = 0
    why: str | None = None  # a failure in words, as the summary gives it

    @property
    def ok(self) -> bool:
        return self.status is Status.SUCCEEDED


class Loop:
    """One run of a Plan through one executor."""

    def __init__(self, graph, plan, history: History, opts: RunOptions, executor, snap=None, waves=None,
                 attached: dict[int, float | None] | None = None):
        """``waves``: a cluster run with ``local: true`` jobs (``executor`` is then the local
        one): ``waves.make(plan)`` gives the push executor of one phase's cluster jobs, and
        ``waves.name`` names the cluster (see ``_drive_phases``).

        ``attached``: planned jobs already in flight, started by a run that died (push
        executors only: re-attached, see executors/adopt.py) -> their started marks. The
        executor follows them instead of submitting them; they keep their marks, and their
        ends count as for the run's own jobs (records, dependents, --keep-going, the
        summary), except that a failure is not retried in this run (it has no task of its
        own here: the next run runs it, with its retries)."""
        self.graph = graph
        self.attached = attached or {}
        self.waves = waves
        self.pushed: set[int] = set()  # jobs handed to the current push executor
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
        if snap is not None:
            self.recorder.planned = snap.lookup
        self.not_started: list[tuple[int, str]] = []
        self.failures: list[Failure] = []
        self.folders: set[str] = set()  # folders known to exist
        self.own_dir = os.path.join(self.workdir, ".rulec") + os.sep
        # Paths that existed when the run was planned (None: unknown, so any may exist).
        self.existed = snap.exists if snap is not None else None
        self.old_logs: set[str] = set()  # files in the folders of lazy logs, listed once
        self.listed: set[str] = set()  # folders of lazy logs listed (by their path as written)
        self.heads: set[str] = set()  # folders of outputs and logs made or found (by their path as written)
        self._log_dirs: dict[int, str] = {}  # rule index -> the folder of its default logs, with a trailing /
        self._prefix = os.path.join(self.workdir, "")  # what a relative path is joined to
        self.commands: dict[int, str] = {}  # commands of running jobs, for their records
        # job -> its id, from when it is marked started until it has ended (made once per job:
        # a start, its record, its attempt and the display all need it)
        self.ids: dict[int, str] = {}
        self.started_at: dict[int, float] = {}
        self.where: dict[int, str] = {}  # where a started job runs (a local slot, a cluster job id)
        self.tails = TAILS_KEPT  # failed attempts whose log end is still kept in the run history
        self.attempts: dict[int, int] = {}  # jobs on a later attempt than the first (retries)
        # jobs whose retry has not ended -> their failed attempt's (why, log, event, command):
        # what they fail with if the run stops before the retry starts (``_not_retried``)
        self.before_retry: dict[int, tuple] = {}
        self.retried: list[tuple[str, int]] = []  # (job id, attempt) of jobs that succeeded on a retry
        self.done: list = []  # finished jobs not yet recorded: written with the next marks (RECORD_EVERY)
        self.recorded_at = time.monotonic()  # when they were last written
        self.ahead: dict[int, tuple[str, str, bool]] = {}  # marked started, not started yet: job -> (id, log, lazy)
        self.rendered: dict[int, str] = {}  # their commands (Recorder.command), made with the marks
        self.ahead_size = 0  # how many to mark ahead (0 until starts are seen to be quick)
        self.starts = 0  # jobs started so far
        self.turn_started = False  # whether this turn of the loop started a job
        self.rate_seen = (time.monotonic(), 0)  # (when, starts) at the last _mark: the start rate since
        self.sched: Scheduler | None = None
        self.progress = None
        # Queueing (a pull executor's queue_depth, see _queue): the job queued behind each
        # running job, the reverse, and the running jobs with nothing queued behind them yet.
        self.behind: dict[int, int] = {}
        self.queued: dict[int, int] = {}
        self.slots: list[int] = []
        self.queueing = False
        self.stashed: dict[int, list[tuple[str, str]]] = {}  # queued job -> its old files moved aside (_stash)
        self.stash_dir: str | None = None
        self.stash_count = 0
        self.logs_of: dict[int, tuple[str, bool]] = {}  # push: each task's log, for a resubmission
        self.benchmarked = [r.benchmark is not None for r in graph.workflow.rules]  # per rule index
        # per rule index, the positions of its outputs written directory(...) (most: none)
        self.folder_outputs = [tuple(i for i, s in enumerate(r.outputs) if "directory" in s.flags) for r in graph.workflow.rules]
        # Output kinds (temp, protected, touch): None when the workflow uses none.
        self.kinds = OutputKinds.of(graph)
        # temp() outputs this run may delete -> how many of its jobs that read them have not
        # succeeded yet (0: delete once its own job has succeeded); None: nothing to delete
        self.temp_left: dict[str, int] | None = None
        self.temp_deleted = 0
        if self.kinds is not None and self.kinds.has(TEMP) and not opts.keep_temp:
            self.temp_left = _temp_readers(graph, plan, self.kinds)

    def log_of(self, job: int, jid: str | None = None) -> tuple[str, bool]:
        """The job's log path, and whether it is lazy (the default log: written only if the
        job prints something; a declared ``log:`` is always written). ``jid``: its id, when
        the caller has it."""
        logs = self.graph.logs(job)
        if logs:
            return logs[0], False
        folder = self._log_dirs.get(self.graph.rule[job])
        if folder is None:  # (default_log's folder, joined once per rule)
            folder = self._log_dirs[self.graph.rule[job]] = os.path.dirname(default_log(self.graph, job)) + os.sep
        return folder + file_name(jid or self.graph.job_id(job), ".log"), True

    def run(self) -> int:
        """Run the plan: the exit status. The run, and every attempt of a job in it, go into
        the state store's run history (``rulec report``, the failed state of ``rulec dag``)."""
        gcpause.long_work()  # the collector on again, if the command turned it off
        self.history.begin_run(str(self.executor.name), len(self.plan.run), " ".join(sys.argv))
        code = self._run()
        self.history.end_run(code)  # (an exception: History.close records the run as an error)
        return code

    def _run(self) -> int:
        graph = self.graph
        executor = self.executor
        sched = self.sched = Scheduler(graph, self.plan, Pools(self.opts.cores, self.opts.mem_mb, self.opts.gpus, self.opts.custom), self.opts.keep_going)
        terminal = _guard_terminal()  # (first: the display writes through it)
        progress_ = self.progress = _progress(graph, self.plan.run, self.opts.quiet, self.opts.print_commands)
        previous = catch(signal.SIGTERM)
        # A closed terminal or SSH session: the jobs, in their own sessions, do not get the
        # hang-up, so stop them as for SIGTERM (unless rulec runs under nohup: an ignored
        # SIGHUP stays ignored, for every executor).
        previous_hup = catch(signal.SIGHUP) if signal.getsignal(signal.SIGHUP) is signal.SIG_DFL else None
        # A line per event on a pipe, as it happens: `rulec run | head -1` then learns at the
        # next line that its reader is gone, not 8 KiB of lines later. (A file keeps block
        # buffering: a write per line costs ~20 us per job there.)
        relined = _line_buffered(sys.stdout) if not self.opts.quiet else None
        try:
            if executor.push and not hasattr(executor, "resubmit") and self._any_retries():
                raise RulecError(f"retries: the {executor.name} executor cannot resubmit a failed job yet; "
                                 "run without --retries (and without rules' retries:), or use another executor")
            if self.waves is not None:
                self._drive_phases()
            elif executor.push:
                self._drive_push()
            else:
                self._drive_pull()
            if self.done:
                self.history.record(self.done)
                self.done = []
        except (KeyboardInterrupt, Interrupted, BrokenPipeError) as exc:
            return self._interrupted(isinstance(exc, BrokenPipeError))
        except BaseException:
            if self.done:  # they finished: kept, whatever stops the run
                try:
                    self.history.record(self.done)
                    self.done = []
                except Exception:
                    pass
            raise
        finally:
            if self.executor is not executor:  # a phase's push executor (interrupted)
                self.executor.close()
                self.executor = executor
            executor.close()
            for job in list(self.stashed):  # (an error: queued jobs never started keep their old files)
                self._unstash(job)
            restore(signal.SIGTERM, previous)
            restore(signal.SIGHUP, previous_hup)
            _close(progress_)
            if relined is not None:
                _line_buffered(sys.stdout, relined)
            _unguard_terminal(terminal)
        if self.failures:
            not_run = len(self.plan.run) - len(sched.done) - len(self.failures)
            _say(report.run_failures, self.failures, len(sched.done), not_run, self.workdir)
            return EXIT_JOB_FAILED
        name = self.waves.name if self.waves is not None else executor.name
        where = f" on {name}" if name != "local" else ""
        print(f"Done: {len(sched.done)} job(s) ran{where}.")  # -q too: the one-line summary
        if not self.opts.quiet:
            for jid, attempt in self.retried[:10]:
                print(f"  {report.shown(jid)} succeeded on attempt {attempt}")
            if len(self.retried) > 10:
                print(f"  ... and {len(self.retried) - 10} more succeeded on a retry")
            if self.temp_deleted:
                print(f"Deleted {self.temp_deleted} temp() file(s) after their last use (--keep-temp keeps them).")
        return 0

    def results(self) -> list[JobResult]:
        """Every planned job after ``run``, in plan order: how it ended (for the Python API;
        ``rulec run`` prints the same as words). Costs a stat per job that succeeded with a
        default log, to say whether it printed anything: asked for only by the API."""
        sched = self.sched
        if sched is None:
            return []
        graph = self.graph
        failed = {f.job_id: f for f in self.failures}
        out = []
        for job in self.plan.run:
            jid = graph.job_id(job)
            if job in sched.done:
                log, lazy = self.log_of(job)
                if lazy and not os.path.exists(os.path.join(self.workdir, log)):
                    log = None
                out.append(JobResult(jid, Status.SUCCEEDED, Outcome.OK, 0, log, self.attempts.get(job, 1)))
            elif jid in failed:
                f = failed[jid]
                out.append(JobResult(jid, Status.FAILED, f.outcome, f.exit_code, f.log, f.attempts, f.why))
            elif job in sched.skipped:
                out.append(JobResult(jid, Status.SKIPPED))
            else:
                out.append(JobResult(jid, Status.NOT_RUN))
        return out

    # ------------------------------------------------------------------ driving

    def _drive_pull(self) -> None:
        """Start what the ready queue allows, wait for events, until nothing is left."""
        sched, executor = self.sched, self.executor
        # Jobs that end well give their slots to the next ready jobs before their records are
        # made (see _ended_early): not where the workflow needs any check that can fail later.
        early = self.kinds is None and not self.remote and not self.opts.print_commands
        # Ready jobs are queued behind running ones where the executor can hold them (see
        # _queue): not where a job's success can still be decided after its exit status and
        # outputs (touch(), protected(), remote outputs), unless --keep-going makes that moot.
        self.queueing = bool(getattr(executor, "queue_depth", 0)) and not self.remote and (
            self.kinds is None or self.opts.keep_going)
        while not sched.finished_all():
            starts = sched.startable()
            if starts:
                self._start(starts)
                self._start_blocked()
            if self.queueing and self.slots and sched.ready and not sched.stopping:
                self._queue()
            if not executor.running():
                if sched.ready and not sched.stopping:
                    continue
                break
            self._mark_or_record()
            events = executor.wait()
            if early and self._ended_early(events):
                continue
            for event in events:
                self._event(event)
        self._unmark()  # (interrupted: _interrupted does it)

    def _ended_early(self, events) -> bool:
        """Events that are all jobs that ended well with every output there: their resources
        go back and the next ready jobs start first (they do not depend on them: their
        dependents are not ready yet), then their records are made. True if so; False (and
        nothing done) for any other mix, which goes the usual way."""
        graph, prefix, stat = self.graph, self._prefix, os.stat
        outputs, folders_of, g_rule = graph.declared_outputs, self.folder_outputs, graph.rule
        made = self.recorder.made  # (each output's stat, for its readers' records)
        others = False  # queued jobs started or given back (their resources are settled first)
        for ev in events:
            kind = type(ev)
            if kind is Started or kind is Dequeued:
                others = True
                continue
            if kind is not Finished or ev.outcome is not Outcome.OK:
                return False
            job = ev.job
            for p in outputs(job):
                try:
                    st = stat(p if p[:1] == "/" else prefix + p)
                except (OSError, ValueError):  # (as os.path.exists)
                    return False
                made[p] = (st.st_mtime_ns, st.st_size)
            if folders_of[g_rule[job]]:
                return False  # directory(...) outputs: the usual way checks them
        sched = self.sched
        if others:  # in order: a queued job may have started and ended in this batch
            ended = []
            for ev in events:
                if type(ev) is Finished:
                    sched.release(ev.job)
                    ended.append(ev)
                else:
                    self._event(ev)
        else:
            ended = events
            for ev in events:
                sched.release(ev.job)
        starts = sched.startable()
        if starts:
            self._start(starts)
        if self.queueing and self.slots and sched.ready and not sched.stopping:
            # the job queued behind the one that just started, before the records: a worker
            # whose queued job is short must not run dry while they are made
            self._queue()
        for ev in ended:
            self._succeeded(ev.job, ev, released=True)
        return True

    def _there(self, path: str, local_, made: dict | None) -> bool:
        """Whether a job's output is there; its stat goes to ``made`` (if given)."""
        try:
            st = os.stat(os.path.join(self.workdir, local_(path)))
        except (OSError, ValueError):  # (as os.path.exists)
            return False
        if made is not None:
            made[path] = (st.st_mtime_ns, st.st_size)
        return True

    def _start_blocked(self) -> None:
        for job, why in self.not_started:  # a remote input could not be fetched
            self._failed(job, why, None)
        self.not_started = []

    def _mark_or_record(self) -> None:
        """Between two waits: mark the next ready jobs started ahead when few marks are left,
        else write the finished jobs' records if they are due (this turn started no job, so
        the wait may be long; or nothing is left to start; or RECORD_EVERY has passed)."""
        sched = self.sched
        ahead = len(self.ahead)
        # (the jobs marked ahead are in the ready queue: a longer queue has some to mark)
        if self.ahead_size and ahead * 2 <= self.ahead_size and len(sched.ready) > ahead and not sched.stopping:
            self._mark([])
        elif self.done and (not self.turn_started or not sched.ready or time.monotonic() - self.recorded_at >= RECORD_EVERY):
            # (a turn that started nothing may wait long for the next event: record now)
            self.history.record(self.done)
            self.done = []
            self.recorded_at = time.monotonic()
        self.turn_started = False

    def _mark(self, jobs: list[int], queued: list[int] = ()) -> None:
        """One transaction: the finished jobs' records, ``jobs`` (about to start) marked
        started, and the next ready jobs marked ahead: as many as started in
        MARK_AHEAD_SECONDS at the rate seen since the last call (at most MARK_AHEAD), so
        that a job is marked ahead of its start by about that much at most, and jobs that
        run long are marked one by one as they start. A mark ahead only means the job counts
        as incomplete if rulec is killed; the run gives it back if the job never starts
        (``_unmark``). ``queued``: jobs about to be queued (``_queue``), marked ahead with them."""
        graph, ahead = self.graph, self.ahead
        now = time.monotonic()
        seen_at, seen = self.rate_seen
        self.ahead_size = min(MARK_AHEAD, int((self.starts - seen) / max(now - seen_at, 1e-3) * MARK_AHEAD_SECONDS))
        self.rate_seen = (now, self.starts)
        items, logs, later = [], {}, []
        ids, job_id = self.ids, graph.job_id
        for group, out in ((jobs, items), (queued, later)):
            for job in group:
                jid = ids.get(job) or job_id(job)
                ids[job] = jid
                log, lazy = self.log_of(job, jid)
                logs[jid] = log
                ahead[job] = (jid, log, lazy)
                out.append((jid, graph.rule_of(job).name, graph.outputs[job]))
        want = self.ahead_size + len(jobs) + len(queued)
        if want > len(ahead) and not self.sched.stopping:
            taken = set(jobs)
            for job in self.sched.peek(want):
                if job in ahead or job in taken:
                    continue
                jid = ids.get(job) or job_id(job)
                ids[job] = jid
                log, lazy = self.log_of(job, jid)
                logs[jid] = log
                ahead[job] = (jid, log, lazy)
                self.rendered[job] = self.recorder.command(job, jid=jid)  # (now rather than when it starts)
                later.append((jid, graph.rule_of(job).name, graph.outputs[job]))
                if len(ahead) >= want:
                    break
        self.history.commit(self.done, items, logs, later)
        self.done = []
        self.recorded_at = now

    def _unmark(self) -> None:
        """Jobs marked ahead that will not start (a failure stopped the run, or an
        interruption): their records as they were."""
        if self.ahead:
            jids = [jid for jid, _, _ in self.ahead.values()]
            self.ahead = {}
            self.rendered = {}
            self.history.unmark(jids)

    def _drive_phases(self) -> None:
        """A cluster run with ``local: true`` jobs, in phases (``schedule.phases``): each
        phase's cluster jobs are submitted together and followed as a push run, then its
        local jobs run here as a pull run; a job skipped by a failure is left out of later
        phases, and without --keep-going a failure ends the run after the phase."""
        from ..recordclass import replace

        from ..schedule import phases

        sched, local = self.sched, self.executor
        for cluster, here in phases(self.graph, self.plan.run):
            if sched.stopping:
                break
            jobs = [j for j in cluster if j not in sched.skipped]
            if jobs:
                sched.phase(set())
                # (interrupted, the loop stops this executor; run() closes it)
                self.executor = self.waves.make(replace(self.plan, run=jobs))
                self._drive_push(jobs)
                self.executor.close()
                self.executor = local
                self.pushed = set()
                if self.done:
                    self.history.record(self.done)
                    self.done = []
            jobs = [j for j in here if j not in sched.skipped]
            if jobs and not sched.stopping:
                sched.phase(set(jobs))
                self._drive_pull()

    def _drive_push(self, jobs: list[int] | None = None) -> None:
        """Hand every task to the executor (it wires the dependencies), then follow it."""
        graph, sched, executor = self.graph, self.sched, self.executor
        jobs = list(self.plan.run) if jobs is None else jobs
        self.pushed = set(jobs)
        tasks = []
        logs = {}
        for job in jobs:
            jid = graph.job_id(job)
            log, lazy = self.log_of(job)
            logs[jid] = log
            self.commands[job] = self.recorder.command(job)
            tasks.append(Task(job, jid, self.recorder.task_command(job), log, lazy))
            self.logs_of[job] = (log, lazy)
        attached = self.attached  # (marked started by the run that started them)
        # (their records before are kept: a job cancelled or skipped before it started gets
        # its record back, as a local job marked ahead does)
        self.history.mark_started([(graph.job_id(j), graph.rule_of(j).name, graph.outputs[j]) for j in jobs if j not in attached],
                                  logs, keep=True)
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
        # Dependents of a failed job, skipped: the scheduler never started them (it held them
        # on their dependencies), so their records are as they were. Any other job not seen
        # to start (cancelled when a failure stopped the run) may have run between two looks
        # at the queue, its outputs half-written: it stays marked, incomplete.
        never = [graph.job_id(j) for j in jobs if j in sched.skipped and j not in self.started_at and j not in sched.done
                 and j not in sched.failed]
        if never:
            self.history.unmark(never)

    def _event(self, event) -> None:
        if type(event) is Note:
            self.progress.note(report.shown(event.text))
        elif type(event) is Started:
            jid = self.ids.get(event.job) or self.graph.job_id(event.job)
            if self.queued and event.job in self.queued:
                self._began(event.job, jid)
            if self.pushed:
                self.history.launched((jid,))  # (marked when submitted: it stays so)
            self.started_at.setdefault(event.job, (self.attached.get(event.job) if self.attached else None) or time.time())
            if event.where:
                self.where[event.job] = event.where
            self.progress.start(jid, self.commands.get(event.job))
        elif type(event) is Dequeued:
            self._dequeued(event.job)
        elif event.outcome is Outcome.NOT_STARTED:  # never started (an upstream failure): skipped, saying why
            self._not_run(event.job, event.notes)
        else:
            self._ended(event)

    def _ended(self, ev: Finished) -> None:
        graph = self.graph
        job = ev.job
        missing = ()
        if ev.outcome is Outcome.OK:
            stages = self.executor.stages_files
            kinds = self.kinds
            if stages:
                local_ = self.local
                markers = kinds.outputs(job, TOUCH) if kinds is not None else ()
                made = None if self.remote else self.recorder.made  # (see _ended_early)
                missing = [p for p in graph.declared_outputs(job)
                           if p not in markers and not self._there(p, local_, made)]  # (a marker's stat changes: not made's)
                folders = self.folder_outputs[graph.rule[job]]
                if folders:  # directory(...): a folder, not a file, must be there
                    outs = graph.outputs[job]
                    wanted = {outs[i] for i in folders}
                    missing = [p + "/" if p in wanted else p for p in missing]  # (said "the folder p")
                    missing += [outs[i] + "/" for i in folders if outs[i] + "/" not in missing
                                and not os.path.isdir(os.path.join(self.workdir, outs[i]))]
            if not missing:
                why = None
                if stages and kinds is not None:
                    why = self._touch_markers(job)
                if why is None and self.remote and stages:
                    why = self._upload(job)
                if why is None and stages and kinds is not None:
                    why = self._protect(job)
                if why is None:
                    self._succeeded(job, ev)
                    return
                self._failed(job, why, ev.log)
                return
        if ev.outcome is Outcome.NOT_STARTED:
            self._not_run(job)
            return
        self._failed(job, report.outcome_text(ev, missing), ev.log, ev)

    def _succeeded(self, job: int, ev: Finished, released: bool = False) -> None:
        """A job that ended well and whose outputs are all there: its record (written with
        the next transaction), its dependents ready, the display told."""
        jid = self.ids.pop(job, None) or self.graph.job_id(job)
        stats = self._input_stats(job) if self.remote else None
        attempt = self.attempts.get(job, 1)
        self.done.append(self.recorder.finished(job, log=ev.log, started=self.started_at.get(job), command=self.commands.pop(job, None),
                                                stats=stats, attempts=attempt, job_id=jid))
        self.sched.finished(job, True, released)
        self._attempt(job, "ok", log=ev.log, jid=jid)
        self.progress.success(jid)
        if attempt > 1:
            self.retried.append((jid, attempt))
        if self.temp_left is not None:
            self._used(job)

    def _not_run(self, job: int, notes: tuple[str, ...] = ()) -> None:
        """A job the executor never started because of an upstream failure (a cluster array
        that waits for a whole upstream array): skipped, as its dependents are; not a failure.
        ``notes``: the executor's words for why (``cancelled by SLURM: its array waits for all
        of fit, where a job failed; ...``), shown first: the jobs it needs may all have
        succeeded."""
        graph = self.graph
        if notes:
            self.progress.note(report.shown(f"{graph.job_id(job)} not run: {'; '.join(notes)}"))
        dependents = self.sched.skip(job)
        self.history.forget([graph.job_id(j) for j in [job, *dependents]])
        self.progress.skip([graph.job_id(j) for j in [job, *dependents]])
        if self.executor.push and dependents:
            for j in dependents:
                self.sched.running.discard(j)
            for event in self.executor.cancel(sorted(j for j in dependents if j in self.pushed)):
                self._event(event)

    def _interrupted(self, closed: bool) -> int:
        """Ctrl-C, SIGTERM, SIGHUP or a closed standard output: stop every running job, keep
        what finished, remove what the others left, record nothing of them as complete."""
        graph = self.graph
        held = _defer_interrupts()  # a second Ctrl-C must not cut the clean-up short
        try:
            return self._stop_all(closed)
        finally:
            _undefer_interrupts(held)

    def _stop_all(self, closed: bool) -> int:
        graph = self.graph
        if closed:
            _quiet_stdout()  # nothing more can be shown there; no complaint at exit either
        if self.done:
            self.history.record(self.done)  # they finished: keep them
            self.done = []
        running = set(self.executor.running_jobs())
        _close(self.progress)
        events, alive = self.executor.stop(self.opts.grace)
        for ev in events:  # a queued job that started as the stop began is stopped as a running one
            if type(ev) is Started:
                running.add(ev.job)
                if self.ahead.pop(ev.job, None) is not None:
                    self.history.launched([graph.job_id(ev.job)])
                self._drop_stash(ev.job)
        for job in list(self.stashed):  # queued, never started: their old files back
            self._unstash(job)
        self._unmark()  # (the jobs marked ahead that never started, queued ones too)
        events = [ev for ev in events if type(ev) is Finished]
        finished_ok = []
        kept: set[int] = set()
        for ev in events:
            if ev.outcome is Outcome.OK and ev.job in running and not self.executor.stages_files:
                kept.add(ev.job)
                # a push executor's job that completed while being cancelled: it is done
                finished_ok.append(self.recorder.finished(ev.job, log=ev.log, started=self.started_at.get(ev.job), command=self.commands.get(ev.job),
                                                          attempts=self.attempts.get(ev.job, 1)))
                self._attempt(ev.job, "ok", log=ev.log)
                running.discard(ev.job)
        if finished_ok:
            self.history.record(finished_ok)
        alive = set(alive)
        stopped = [j for j in running if j not in alive]
        for job in stopped:
            self._remove_outputs(job)
            self._attempt(job, "interrupted", "interrupted")
        unfinished = [j for j in self.plan.run if j in self.pushed and j not in self.sched.done and j not in self.sched.failed
                      and j not in alive and j not in kept] if self.executor.push else stopped
        if self.executor.push:  # those that never started: their records as they were
            attached = self.attached or {}  # (a dead run's jobs, re-attached: they did start)
            never = {j for j in unfinished if j in self.sched.skipped and j not in self.started_at and j not in running
                     and j not in attached}  # (see _drive_push)
            if never:
                self.history.unmark([graph.job_id(j) for j in never])
                unfinished = [j for j in unfinished if j not in never]
        self.history.forget([graph.job_id(j) for j in unfinished])
        cause = "standard output was closed; " if closed else ""
        if alive:
            _say(report.error, f"interrupted: {cause}{len(alive)} job(s) may still be running: {self.executor.name} could not stop them "
                 f"({', '.join(sorted(graph.job_id(j) for j in alive)[:5])}{' ...' if len(alive) > 5 else ''}); "
                 f"stopped {len(stopped)} and removed their outputs; the others' outputs were left alone")
        else:
            _say(report.error, f"interrupted: {cause}stopped {len(stopped)} running job(s) and removed their outputs")
        return EXIT_CLOSED_OUTPUT if closed else EXIT_INTERRUPTED

    def _start(self, jobs: list[int]) -> None:
        graph = self.graph
        ahead = self.ahead
        fresh = [job for job in jobs if job not in ahead]
        if len(fresh) < len(jobs):
            self.history.launched([ahead[job][0] for job in jobs if job in ahead])
        if fresh:  # marked started now, with the next ones ahead (and the finished records)
            self._mark(fresh)
        items = [ahead.pop(job) for job in jobs]
        self.starts += len(jobs)
        self.turn_started = True
        for job, (_, log, lazy) in zip(jobs, items):
            try:
                self._prepare(job, log, lazy)
            except OSError as exc:  # this job's folder or old output: it fails, the others go on
                self.not_started.append((job, f"could not prepare its outputs: {_os_text(exc, self.workdir)}"))
        now = time.time()
        local_ = self.local
        blocked = {job for job, _ in self.not_started} if self.not_started else ()
        g_rule = graph.rule
        bench = self.benchmarked
        tasks = []
        for job, (jid, log, lazy) in zip(jobs, items):
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
                self.rendered.pop(job, None)
                self.commands[job] = self.recorder.command(job)
                command = self.recorder.task_command(job, local=local_, attempt=attempt)
            else:
                command = self._plain_command(job, attempt, bench[g_rule[job]])
            self.started_at[job] = now
            tasks.append(Task(job, jid, command, local_(log), lazy, attempt))
        for event in self.executor.start(tasks):
            self._event(event)
        if self.queueing:
            slots = self.slots
            slots.extend(t.job for t in tasks)
            if len(slots) > 64 + 2 * len(self.sched.running):  # (jobs that ended with none behind them)
                slots[:] = [j for j in slots if j in self.sched.running and j not in self.behind]

    def _queue(self) -> None:
        """Queue ready jobs behind running ones that have none behind them (the executor's
        ``queue``): each starts the moment the job before it ends, without waiting for a turn
        of this loop, with what that job held (``Scheduler.take_queued``). A queued job is
        marked started ahead, as the next jobs to start are (``_mark``), and counts as
        started only when the executor says it has (``_began``); without --keep-going it
        starts only if the job before it exits 0 with its outputs there, and after a failure
        elsewhere it is taken back (``_failed``). The old outputs (and log) that preparing a
        job removes are moved aside when it is queued (``_stash``), removed when it starts
        and put back if it does not: a job that never starts keeps them, as before."""
        sched, slots, behind, ahead = self.sched, self.slots, self.behind, self.ahead
        running = sched.running
        take = []
        while slots and sched.ready:
            after = slots.pop()
            if after not in running or after in behind:
                continue  # ended (or already has one)
            job = sched.take_queued(after)
            if job is None:
                slots.append(after)
                break
            entry = ahead.get(job)
            log, lazy = (entry[1], entry[2]) if entry is not None else self.log_of(job)
            old = self._old_files(job, log, lazy)
            if old is None or (old and not self._stash(job, old)):
                sched.unqueue(job)  # (it starts the usual way)
                slots.append(after)
                break
            take.append((after, job))
        if not take:
            return
        fresh = [job for _, job in take if job not in ahead]
        if fresh:
            self._mark([], fresh)
        g_rule, bench = self.graph.rule, self.benchmarked
        keep_going = self.opts.keep_going
        items = []
        for after, job in take:
            jid, log, lazy = ahead[job]
            self._prepare(job, log, lazy)  # (the folders: what it would remove is aside, see _stash)
            attempt = self.attempts.get(job, 1)
            command = self._plain_command(job, attempt, bench[g_rule[job]])
            behind[after] = job
            self.queued[job] = after
            outputs = None if keep_going else self._required(after)
            items.append(Queued(Task(job, jid, command, log, lazy, attempt), after, outputs))
        for event in self.executor.queue(items):
            self._event(event)

    def _required(self, job: int) -> tuple[str, ...]:
        """What a job must leave for the loop to call it a success, as ``Queued.outputs``
        (only asked where the workflow has no touch(), protected() or remote outputs)."""
        outputs = self.graph.declared_outputs(job)
        folders = self.folder_outputs[self.graph.rule[job]]
        if not folders:
            return tuple(outputs)
        outs = self.graph.outputs[job]
        dirs = {outs[i] for i in folders}
        return tuple(p + "/" if p in dirs else p for p in outputs)

    def _old_files(self, job: int, log: str, lazy: bool) -> list[str] | None:
        """The files preparing ``job`` would remove (outputs the plan saw, an earlier run's
        lazy log; see _prepare), as full paths; None: it cannot tell (no snapshot)."""
        existed = self.existed
        if existed is None:
            return None
        found = []
        workdir = self.workdir
        for path in self.graph.outputs[job]:
            if path != log and existed(path):
                if self.attempts.get(job, 1) > 1 and path == self.graph.benchmark(job):
                    continue  # (kept, see _prepare)
                found.append(os.path.join(workdir, path))
        if lazy:
            head = log.rpartition("/")[0]
            if head not in self.listed:
                self._list_logs(head, log)
            if self.old_logs:
                full = os.path.join(workdir, log)
                if full in self.old_logs:
                    found.append(full)
        return found

    def _plain_command(self, job: int, attempt: int, benchmarked: bool) -> str:
        """The command a job's worker runs (rendered ahead when it could be), kept for its
        record; through the task wrapper for a retry or a benchmark."""
        command = self.rendered.pop(job, None)
        if command is None:
            command = self.recorder.command(job)
        self.commands[job] = command
        if attempt != 1 or benchmarked:
            command = self.recorder.task_command(job, attempt=attempt)
        return command

    def _stash(self, job: int, files: list[str]) -> bool:
        """Move a queued job's old files aside, to ``.rulec/stash/``: they are removed once it
        starts (``_began``) and put back if it does not (``_unstash``). False, with nothing
        moved, if one cannot be (another file system): the job is then not queued."""
        folder = self.stash_dir
        if folder is None:
            folder = self.stash_dir = os.path.join(self.own_dir, "stash")
            storage.make_dirs(folder)
            for entry in os.scandir(folder):  # a killed run's: their jobs were to run again
                storage.remove_local(entry.path)
        moved = []
        for full in files:
            if not os.path.lexists(full):
                continue
            self.stash_count += 1
            aside = os.path.join(folder, str(self.stash_count))
            try:
                os.rename(full, aside)
            except OSError:
                self.stashed[job] = moved
                self._unstash(job)
                return False
            moved.append((aside, full))
        if moved:
            self.stashed[job] = moved
        return True

    def _unstash(self, job: int) -> None:
        """A queued job did not start: its old files back where they were."""
        for aside, full in reversed(self.stashed.pop(job, ())):
            try:
                os.rename(aside, full)
            except OSError as exc:
                report.warn(report.shown(f"could not put back {full} (kept as {aside}): {brief(exc)}"))

    def _drop_stash(self, job: int) -> None:
        """A queued job has started: its old files go, as they would have just before it started."""
        for aside, _ in self.stashed.pop(job, ()):
            storage.remove_local(aside)

    def _list_logs(self, head: str, log: str) -> None:
        """Note the files in the folder of lazy logs ``head`` (an earlier run's logs are
        removed before a job writes its own; a folder not made yet holds none)."""
        self.listed.add(head)
        folder = os.path.dirname(os.path.join(self.workdir, log))
        try:
            self.old_logs.update(e.path for e in os.scandir(folder or "."))
        except FileNotFoundError:
            pass

    def _began(self, job: int, jid: str) -> None:
        """A queued job has started (its Started event): it holds its resources, its mark
        ahead is its mark, and a job may be queued behind it."""
        after = self.queued.pop(job)
        self.behind.pop(after, None)
        self.sched.began(job)
        if self.stashed:
            self._drop_stash(job)
        if self.ahead.pop(job, None) is not None:
            self.history.launched([jid])
        self.starts += 1
        self.turn_started = True
        self.slots.append(job)

    def _dequeued(self, job: int) -> None:
        """A queued job its executor did not start: back at the front of the ready queue
        (behind the jobs waiting there for their retry), still marked ahead (``_unmark`` gives
        the mark back if it never starts). A queued retry taken back because the run stops
        fails for good instead (``_not_retried``)."""
        after = self.queued.pop(job)
        self.behind.pop(after, None)
        self.commands.pop(job, None)
        if self.stashed:
            self._unstash(job)  # (first: a queued retry's log, put aside, is its failure's)
        if self.sched.stopping and job in self.before_retry:
            self._not_retried(job)
        else:
            self.sched.unqueue(job)

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
            lp = local_(path)
            head = lp.rpartition("/")[0]  # (the folder is known by it: no join per path)
            if head not in self.heads:
                folder = os.path.dirname(os.path.join(self.workdir, lp))
                if folder and folder not in self.folders:
                    if folder.startswith(self.own_dir):  # default logs, remote copies: rulec's own
                        storage.make_dirs(folder)
                    else:  # the user's folders get the user's umask
                        os.makedirs(folder, exist_ok=True)
                    self.folders.add(folder)
                self.heads.add(head)
            if path == log:
                if lazy:
                    if head not in self.listed:
                        self._list_logs(head, lp)
                    if self.old_logs:
                        full = os.path.join(self.workdir, lp)
                        if full in self.old_logs:
                            storage.remove_local(full)
            elif existed is None or existed(path) or lp is not path:
                if self.attempts.get(job, 1) > 1 and path == self.graph.benchmark(job):
                    continue  # a retry adds its row to the earlier attempts' (rulec/benchmark.py)
                storage.remove_local(os.path.join(self.workdir, lp))

    def _touch_markers(self, job: int) -> str | None:
        """Create (or update) the job's touch() outputs; None, or why it could not."""
        for path in self.kinds.outputs(job, TOUCH):
            full = os.path.join(self.workdir, self.local(path))
            try:
                with open(full, "a"):
                    pass
                os.utime(full)
            except OSError as exc:
                return f"could not create its touch() output {path}: {exc.strerror or exc}"
        return None

    def _protect(self, job: int) -> str | None:
        """Make the job's protected() outputs read-only; None, or why it could not."""
        for path in self.kinds.outputs(job, PROTECTED):
            try:
                make_read_only(os.path.join(self.workdir, path))
            except OSError as exc:
                return f"could not make its protected() output {path} read-only: {exc.strerror or exc}"
        return None

    def _used(self, job: int) -> None:
        """``job`` succeeded: its temp() outputs no job of this run reads, and the temp()
        inputs it was the last to need, are deleted."""
        left = self.temp_left
        gone = [p for p in self.kinds.outputs(job, TEMP) if left.get(p) == 0]
        inputs = self.graph.inputs[job]
        for path in set(inputs) if len(inputs) > 1 else inputs:
            n = left.get(path)
            if n:
                left[path] = n - 1
                if n == 1:
                    gone.append(path)
        for path in gone:
            del left[path]
            self._delete_temp(path)

    def _delete_temp(self, path: str) -> None:
        local = _local_path(path) if storage.is_remote(path) else path
        try:
            if local is not path:
                storage.remove([path])
            storage.remove_local(os.path.join(self.workdir, local))
        except Exception as exc:  # a temp file that stays is no failure of any job
            self.progress.note(report.shown(f"could not delete the temp() file {path}: {brief(exc)}"))
            return
        self.temp_deleted += 1

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

    def _failed(self, job: int, why: str, log: str | None, ev: Finished | None = None) -> None:
        """A job failed: remove its outputs, forget it, skip its dependents (and, without
        --keep-going, start nothing more: a push executor cancels what has not started, and
        the jobs waiting for their retry fail for good, see ``_not_retried``).
        ``ev``: the executor's event, when the executor reported the failure."""
        sched, progress_ = self.sched, self.progress
        jid = self.ids.get(job) or self.graph.job_id(job)
        if log is None and _disk_full(self.workdir):
            why += " (the disk holding the working folder is full: nothing it printed could be kept)"
        attempt = self.attempts.get(job, 1)
        allowed = self._retries(job)
        if attempt <= allowed and not sched.stopping:  # stopping: a failure elsewhere ends the run
            command = self._attempt(job, "failed", why, log, jid)
            self.before_retry[job] = (why, log, ev, command)
            self._retry(job, attempt + 1, allowed + 1, why)
            return
        if attempt <= allowed:
            why += f" (attempt {attempt} of {allowed + 1}; not retried: the run stopped)"
        elif attempt > 1:
            why += f" (attempt {attempt} of {allowed + 1})"
        self.ids.pop(job, None)
        command = self._attempt(job, "failed", why, log, jid)
        self._remove_outputs(job)
        self._failure(jid, why, log, ev, attempt, command)
        skipped = sched.finished(job, False)
        progress_.skip([self.graph.job_id(j) for j in skipped])
        if sched.stopping and self.queued and not self.executor.push:  # no --keep-going: queued jobs stay unstarted
            for event in self.executor.cancel(sorted(self.queued)):
                self._event(event)
        if self.executor.push:
            cancel = set(skipped)
            if sched.stopping:  # no --keep-going: nothing new starts
                cancel.update(j for j in self.plan.run if j in sched.running and j not in self.started_at)
            if cancel:
                for j in cancel:
                    sched.running.discard(j)
                for event in self.executor.cancel(sorted(j for j in cancel if j in self.pushed)):
                    self._event(event)
        if sched.stopping and self.before_retry:  # (queued ones: when they are given back, _dequeued)
            for j in [j for j in self.before_retry if j not in self.started_at and j not in self.queued]:
                self._not_retried(j)

    def _not_retried(self, job: int) -> None:
        """A failed job still waiting for its retry when a failure elsewhere stops the run
        (no --keep-going; in the ready queue, taken back from its worker's queue, or
        resubmitted and cancelled): it fails for good, with the failure of the attempt that
        ran, as any failed job does (kept for ``rulec status``, shown, in the summary, its
        dependents skipped). That attempt is in the run history already."""
        why, log, ev, command = self.before_retry.pop(job)
        attempt = self.attempts[job] - 1
        why += f" (attempt {attempt} of {self._retries(job) + 1}; not retried: the run stopped)"
        jid = self.ids.pop(job, None) or self.graph.job_id(job)
        if self.ahead.pop(job, None) is not None:  # marked started ahead of its retry: given back first
            self.rendered.pop(job, None)
            self.history.unmark([jid])
        self._remove_outputs(job)  # (removed by _retry; a cancelled resubmission may have begun)
        self._failure(jid, why, log, ev, attempt, command)
        self.progress.skip([self.graph.job_id(j) for j in self.sched.not_retried(job)])

    def _failure(self, jid: str, why: str, log: str | None, ev: Finished | None, attempts: int, command: str | None) -> None:
        """A job has failed for good: its failure kept for ``rulec status``, shown, and in the
        summary (with the command of the attempt that failed)."""
        self.history.fail([(jid, why, log)])
        outcome = None if ev is None else Outcome.MISSING_OUTPUT if ev.outcome is Outcome.OK else ev.outcome
        self.failures.append(Failure(jid, why, log, outcome, None if ev is None else ev.exit_code, attempts, command))
        self.progress.failure(jid, f"{why} (log: {log})" if log else f"{why} (no output)")

    def _attempt(self, job: int, outcome: str, why: str | None = None, log: str | None = None,
                 jid: str | None = None) -> str | None:
        """Note an attempt's end in the run history (``rulec report``): a failed one with its
        command and the end of its log, as they are now (a retry rewrites both). A re-attached
        job that succeeds is ``adopted``: a run that died started it, this one followed it.
        Returns a failed attempt's command (what it ran: ``{attempt}`` as this attempt's)."""
        graph = self.graph
        attempt = self.attempts.get(job, 1)
        if attempt > 1:
            self.before_retry.pop(job, None)  # the retry has ended: no failure waits for it any more
        command = tail = None
        if outcome == "ok" and self.attached and job in self.attached:
            outcome = ADOPTED
        if outcome == "failed":
            command = self.recorder.command(job, attempt=attempt)
            if log is not None and self.tails > 0:
                self.tails -= 1
                tail = "\n".join(report.tail(os.path.join(self.workdir, self.local(log)), 40)) or None
        self.history.note_attempt(jid or graph.job_id(job), graph.rule_of(job).name, attempt, self.started_at.get(job), time.time(),
                                  outcome, self.where.get(job), why, command, log, tail)
        return command

    def _retries(self, job: int) -> int:
        """How many times a failed attempt of ``job`` may be retried: its rule's ``retries:``,
        else ``--retries``."""
        if self.attached and job in self.attached:
            return 0  # re-attached: no task of this run's bundle to submit again
        n = self.graph.rule_of(job).retries
        return self.opts.retries if n is None else n

    def _any_retries(self) -> bool:
        rules = self.graph.workflow.rules
        return any((rules[r].retries if rules[r].retries is not None else self.opts.retries)
                   for r in {self.graph.rule[j] for j in self.plan.run if j not in self.attached})

    def _retry(self, job: int, attempt: int, total: int, why: str) -> None:
        """Start ``job`` again as ``attempt``: its failed attempt's outputs go, one line says
        so, and it goes back to the front of the ready queue (pull) or is resubmitted (push).
        Its log starts empty when the retry starts, so that it is the last attempt's (the run
        history keeps the end of the failed one's, ``_attempt``): a default log is removed
        then, as an earlier run's is (``_prepare``; a cluster task removes its log itself, a
        declared log is truncated). Until then it is the failed attempt's: the run may stop
        before the retry starts (``_not_retried``)."""
        jid = self.graph.job_id(job)
        self._remove_outputs(job)
        self.attempts[job] = attempt
        self.started_at.pop(job, None)
        self.progress.note(report.shown(f"retrying {jid} (attempt {attempt} of {total}): {why}"))
        if self.executor.push:
            log, lazy = self.logs_of.get(job) or self.log_of(job)
            task = Task(job, jid, self.recorder.task_command(job, attempt=attempt), log, lazy, attempt)
            for event in self.executor.resubmit([task]):
                self._event(event)
        else:
            log, lazy = self.log_of(job, jid)
            if lazy:
                self.old_logs.add(os.path.join(self.workdir, log))  # (removed by _prepare, put aside by _stash)
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
        stats = snapshot([p for p in inputs if local_(p) is p], self.workdir, trees=self.graph.directories()).as_dict()
        for path in inputs:
            if local_(path) is not path:
                st = self.remote_stats.get(path) or self.planned_stat(path)
                if st is None:
                    st = storage.stat_each([path]).get(path)
                if st is not None:
                    stats[path] = st
        return stats


def _temp_readers(graph, plan, kinds: OutputKinds) -> dict[str, int]:
    """The temp() outputs a run may delete -> how many of its planned jobs read them; the
    temp outputs of planned jobs that none of them reads count 0 (deleted once made). Only
    outputs no target asked for (``OutputKinds.temp_paths``)."""
    temp = kinds.temp_paths()
    left: dict[str, int] = {}
    if not temp:
        return left
    g_in = graph.inputs
    for job in plan.run:
        inputs = g_in[job]
        for path in set(inputs) if len(inputs) > 1 else inputs:
            if path in temp:
                left[path] = left.get(path, 0) + 1
    for job in plan.run:
        for path in kinds.outputs(job, TEMP):
            if path in temp:
                left.setdefault(path, 0)
    return left


def touch(graph, plan, history: History, quiet: bool = False, snap=None) -> int:
    """``rulec run --touch``: record the planned jobs as built from the current inputs and
    touch their outputs in dependency order, running nothing (make -t). A missing output
    is an error: rulec never invents content. Remote outputs cannot be touched: they are
    recorded as they are (the plan's snapshot says they exist). The touch is a run of the
    run history (executor ``touch``, each job's attempt ``touched``); touching nothing
    records none."""
    workdir = graph.workflow.workdir

    def exists(path: str) -> bool:
        if storage.is_remote(path):
            return snap is not None and snap.exists(path)
        return os.path.exists(os.path.join(workdir, path))

    kinds = OutputKinds.of(graph)
    markers = {p for j in plan.run for p in kinds.outputs(j, TOUCH)} if kinds is not None else ()
    # a deleted temp() file needs no touching (its readers' records say what they read)
    deleted = kinds.temp_paths() if kinds is not None and kinds.has(TEMP) else ()
    missing = [(graph.job_id(j), p) for j in plan.run for p in graph.declared_outputs(j)
               if not exists(p) and p not in markers and p not in deleted]
    if missing:
        jid, path = missing[0]
        raise RulecError(f"--touch: output {path!r} of {jid} does not exist ({len(missing)} missing in all); run the job instead")
    recorder = Recorder(graph)
    records = []
    when = []  # the time each job was touched
    started = time.time()
    for job in plan.run:
        for path in graph.declared_outputs(job):
            if not storage.is_remote(path):
                full = os.path.join(workdir, path)
                if path in markers and not os.path.lexists(full):
                    os.makedirs(os.path.dirname(full) or ".", exist_ok=True)
                    with open(full, "a"):  # a touch() output: rulec's to make
                        pass
                elif path in deleted and not os.path.lexists(full):
                    continue
                os.utime(full)
        records.append(recorder.finished(job))
        when.append(time.time())
    if records:
        # A run of its own in the run history (``rulec report``): one attempt a job, touched
        # (its start and end: when it was touched; no log), written with the records.
        history.begin_run(TOUCH_RUN, len(records), " ".join(sys.argv), started=started)
        note = history.note_attempt
        for f, t in zip(records, when):
            note(f.job_id, f.rule, 1, t, t, TOUCHED)
        history.record(records)
        history.end_run(0)
    print(f"Touched {len(records)} job(s).")  # -q too: the one-line summary
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


def catch(signum: int):
    """Make ``signum`` raise Interrupted; returns the handler to give back to ``restore``.
    Only the main thread gets signals (and may set handlers): elsewhere (a run started from
    a thread of a script) nothing is set and None is returned."""
    try:
        return signal.signal(signum, _raise_interrupt)
    except ValueError:  # not the main thread
        return None


def restore(signum: int, previous) -> None:
    """Give ``signum`` back the handler ``catch`` replaced (nothing if it set none)."""
    if previous is not None:
        signal.signal(signum, previous)


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
    except OSError:  # a closed pipe, a full disk: nothing more can be shown there
        _quiet_stdout()
        try:
            progress_.close()
        except OSError:
            pass


def _say(show, *args) -> None:
    """Show a last message on standard error (``report.error``, ``report.run_failures``);
    a closed or gone standard error swallows it (its reader is gone: the exit status says it)."""
    try:
        show(*args)
        sys.stderr.flush()
    except OSError:
        _quiet(2)


def _quiet(fd: int) -> None:
    """Point ``fd`` at /dev/null."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)
    except OSError:
        pass


def _os_text(exc: OSError, workdir: str) -> str:
    """An OSError of a job's preparation in words: the path (relative to the working folder
    when it is in it) and why."""
    import errno

    if exc.filename is None:
        return exc.strerror or brief(exc)
    path = os.fsdecode(exc.filename)
    inside = os.path.join(os.path.abspath(workdir), "")
    if path.startswith(inside):
        path = path[len(inside):]
    if exc.errno in (errno.EEXIST, errno.ENOTDIR) and os.path.lexists(exc.filename) and not os.path.isdir(exc.filename):
        return f"{path} is a file, where a folder must be made"
    return f"{path}: {exc.strerror or brief(exc)}"


class _Terminal(__import__("io").RawIOBase):
    """A terminal's file descriptor, for standard output or error during a run: once the
    terminal is gone (a closed SSH session or window: writes fail with EIO), what is written
    goes to /dev/null and the run goes on as it would under nohup, its jobs untouched (when
    SIGHUP is not ignored, the hang-up itself stops the run, as Ctrl-C does)."""

    def __init__(self, fd: int):
        self.fd = fd

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd

    def isatty(self) -> bool:
        return os.isatty(self.fd)

    def write(self, data) -> int:
        try:
            return os.write(self.fd, data)
        except OSError as exc:
            import errno

            if exc.errno != errno.EIO:
                raise
            _quiet(self.fd)
            return len(data)


def _guard_terminal():
    """Standard output and error, where they are terminals, written through ``_Terminal``;
    what to give ``_unguard_terminal``."""
    import io

    saved = []
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        try:
            if stream is None or not isinstance(stream, io.TextIOWrapper) or not stream.isatty():
                continue
            fd = stream.fileno()
            stream.flush()
        except (OSError, ValueError, AttributeError):
            continue
        guarded = io.TextIOWrapper(io.BufferedWriter(_Terminal(fd)), encoding=stream.encoding, errors=stream.errors,
                                   line_buffering=stream.line_buffering, write_through=stream.write_through)
        setattr(sys, name, guarded)
        saved.append((name, stream, guarded))
    return saved


def _unguard_terminal(saved) -> None:
    import io

    for name, stream, guarded in saved:
        try:
            guarded.flush()
        except (OSError, ValueError):
            pass
        if getattr(sys, name) is guarded:
            setattr(sys, name, stream)
        if isinstance(guarded.buffer, io.BufferedWriter):
            guarded.detach()  # (the descriptor stays: it is the original stream's)


_INTERRUPTS = ("SIGINT", "SIGTERM", "SIGHUP")


def _defer_interrupts() -> dict:
    """Until ``_undefer_interrupts``: Ctrl-C, SIGTERM and SIGHUP are noted, not raised (the
    run is being stopped already; an ignored signal stays ignored)."""
    held = {}
    for name in _INTERRUPTS:
        sig = getattr(signal, name)
        try:
            if signal.getsignal(sig) is not signal.SIG_IGN:
                held[sig] = signal.signal(sig, lambda *_: None)
        except (ValueError, OSError):  # not the main thread
            pass
    return held


def _undefer_interrupts(held: dict) -> None:
    for sig, previous in held.items():
        try:
            signal.signal(sig, previous)
        except (ValueError, OSError, TypeError):
            pass


def _progress(graph, jobs, quiet: bool, print_commands: bool = False):
    from collections import Counter

    from .progress import Progress, wants_live

    # per rule how many jobs run: only for the record a terminal keeps (a count per job)
    rules = Counter(graph.rule_of(j).name for j in jobs) if not quiet and wants_live(sys.stdout) else None
    return Progress(len(jobs), quiet, rules=rules, print_commands=print_commands)
