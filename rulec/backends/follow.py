"""``rulec run --executor slurm``: write the bundle, submit it, follow it, record results.

1. Plan under the run lock; nothing to do -> nothing submitted.
2. Build the bundle (arrays split at the cluster's MaxArraySize, read from ``scontrol show
   config``), check every array against the partitions' limits (nothing is submitted when a
   job cannot fit), write it to ``.rulec/slurm/<n>/`` (or ``--bundle``).
3. Mark the jobs started in the state store, submit one ``sbatch --parsable`` per array in
   dependency order, wiring ``--dependency`` with the returned ids.
4. Follow: one ``squeue`` for all the run's arrays per poll (``--poll``, default 1 s, backing
   off to 30 s while nothing changes); jobs that left the queue are looked up with one
   ``sacct`` (when accounting works), else ``scontrol show job``, else their marker files.
   Each finished job is recorded at once; a failed job's outputs are removed and its record
   dropped; PENDING jobs whose dependency can never be met are cancelled.
5. Ctrl-C / SIGTERM: ``scancel`` exactly this run's arrays, wait for them to end, record what
   completed, remove the outputs of jobs that had started, exit 130 (141 for a closed
   standard output, after the same clean-up).
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass

from .. import api, report, storage
from ..errors import EXIT_INTERRUPTED, EXIT_JOB_FAILED, BackendError, Interrupted
from ..exec.lock import Lock
from ..exec.record import Recorder
from ..history import History
from ..profile import load as load_profile
from ..state import snapshot
from . import bundle as bundle_mod
from . import limits
from . import slurm as slurm_mod
from .scheduler import HOPELESS, TERMINAL, Row, Slurm

DEFAULT_POLL = 1.0
DEFAULT_MAX_POLL = 30.0
LIVE = frozenset({"RUNNING", "COMPLETING", "CONFIGURING", "STAGE_OUT", "SIGNALING", "RESIZING"})
FAILED_ROUNDS = 6  # squeue failing this many polls in a row (each after retries): give up


@dataclass
class Failure:
    job_id: str
    why: str
    log: str | None


def run_graph(workflow, graph, options, ns, slurm: Slurm | None = None) -> int:
    from ..plan import plan as make_plan

    with Lock(workflow.workdir) as lock:
        if lock.warning:
            report.warn(lock.warning)
        history = History.open(workflow.workdir, write=True)
        try:
            snap = snapshot(api.paths_of(graph), workflow.workdir)
            plan = make_plan(graph, snap, history, options)
            if plan.run and options.explain:  # --why: every reason, before anything is submitted
                report.show_plan(api.Planned(workflow, graph, plan, history), why=True)
            if getattr(ns, "touch", False):  # --touch runs nothing: no scheduler involved
                from ..run.loop import touch

                return touch(graph, plan, history, getattr(ns, "quiet", False))
            return execute(graph, plan, history, ns, slurm)
        finally:
            history.close()


def run_planned(planned, ns, slurm: Slurm | None = None) -> int:
    with Lock(planned.workflow.workdir) as lock:
        if lock.warning:
            report.warn(lock.warning)
        history = History.open(planned.workflow.workdir, write=True)
        try:
            return execute(planned.graph, planned.plan, history, ns, slurm)
        finally:
            history.close()


def next_bundle_dir(workdir: str) -> str:
    base = os.path.join(workdir, ".rulec", "slurm")
    numbers = [int(n) for n in os.listdir(base) if n.isdigit()] if os.path.isdir(base) else []
    return os.path.join(base, str(max(numbers, default=0) + 1))


def execute(graph, plan, history: History, ns, slurm: Slurm | None = None) -> int:
    quiet = getattr(ns, "quiet", False)
    total = len(graph) - len(plan.groups)
    if not plan.run:
        if not quiet:
            print(report.nothing_to_do(total))
        return 0
    profile = load_profile(getattr(ns, "profile", None))
    prof = profile.backend("slurm")
    slurm = slurm or Slurm()
    config = slurm.config()
    max_size = int(config.get("MaxArraySize", "1001") or 1001)
    if prof.setting("max_array_size"):
        max_size = min(max_size, int(prof.setting("max_array_size")))
    workdir = graph.workflow.workdir
    where = getattr(ns, "bundle", None)
    bundle_dir = os.path.abspath(where) if where else next_bundle_dir(workdir)
    bundle = bundle_mod.build(graph, plan.run, "slurm", profile, bundle_dir, max_size)
    problems = limits.check(bundle.layout, limits.cluster(slurm.partitions(), slurm.nodes()))
    too_many = limits.check_job_count(bundle.layout.n_tasks, config)
    if too_many:
        problems.append(too_many)
    if problems:
        raise BackendError("\n".join(problems), hint="nothing was submitted")
    bundle_mod.write(bundle)
    poll = getattr(ns, "poll", None) or float(prof.setting("poll", DEFAULT_POLL))
    max_poll = max(float(prof.setting("max_poll", DEFAULT_MAX_POLL)), poll)
    accounting = config.get("AccountingStorageType", "accounting_storage/none") != "accounting_storage/none"
    follower = Follower(bundle, slurm, history, poll, max_poll, accounting, quiet)
    return follower.run()


class Follower:
    def __init__(self, bundle, slurm: Slurm, history: History, poll: float, max_poll: float,
                 accounting: bool, quiet: bool = False, sleep=time.sleep):
        self.bundle = bundle
        self.graph = bundle.graph
        self.layout = bundle.layout
        self.slurm = slurm
        self.history = history
        self.poll = poll
        self.max_poll = max_poll
        self.accounting = accounting
        self.quiet = quiet
        self.sleep = sleep
        self.workdir = bundle.workdir
        self.recorder = Recorder(self.graph)
        self.ids: dict[int, str] = {}  # array index -> SLURM job id
        self.array_of: dict[str, int] = {}
        self.remaining: set[int] = {j for a in self.layout.arrays for j in a.jobs}
        self.outcome: dict[int, str] = {}  # job -> done | failed | skipped | cancelled
        self.seen_running: set[int] = set()
        self.lost_rounds: dict[int, int] = {}
        self.failures: list[Failure] = []
        self.done = 0
        self.progress = None

    # ------------------------------------------------------------------ top
    def run(self) -> int:
        graph = self.graph
        jobs = [j for a in self.layout.arrays for j in a.jobs]
        self.history.mark_started(
            [(graph.job_id(j), graph.rule_of(j).name, graph.outputs[j]) for j in jobs],
            {graph.job_id(j): self.bundle.logs[j] for j in jobs},
        )
        self.progress = report.ClusterProgress(len(jobs), self.quiet)
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        previous_hup = signal.signal(signal.SIGHUP, _raise_interrupt)  # the terminal went away
        try:
            try:
                self.submit()
                self.follow()
            except (KeyboardInterrupt, Interrupted):
                return self.interrupt()
            except BrokenPipeError:  # standard output closed (`rulec run | head`): as Ctrl-C
                from ..run.loop import EXIT_CLOSED_OUTPUT, _quiet_stdout

                _quiet_stdout()
                self.interrupt()
                return EXIT_CLOSED_OUTPUT
            except BaseException:
                self._abandon()
                raise
        finally:
            signal.signal(signal.SIGTERM, previous)
            signal.signal(signal.SIGHUP, previous_hup)
            self.progress.close()
        if self.failures:
            not_run = len(jobs) - self.done - len(self.failures)
            report.run_failures(self.failures, self.done, not_run, self.workdir)
            return EXIT_JOB_FAILED
        if not self.quiet:
            print(f"Done: {self.done} job(s) ran on SLURM ({_rel(self.bundle.dir)}).")
        return 0

    def submit(self) -> None:
        b = self.bundle
        bundle_mod.make_dirs(os.path.join(b.dir, "logs"))  # no group/other write, whatever the umask
        bundle_mod.make_dirs(os.path.join(b.dir, "status"))
        names = {}
        fd = os.open(os.path.join(b.dir, "jobids"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, bundle_mod.FILE_MODE)
        with open(fd, "w") as ids_file:
            for array in self.layout.arrays:
                dep = slurm_mod.dependency(self.layout, array, names.__getitem__)
                job_id = self.slurm.submit(b.script(array), dep, cwd=b.dir)
                self.ids[array.index] = job_id
                self.array_of[job_id] = array.index
                names[array.name] = job_id
                ids_file.write(f"{array.name} {job_id}\n")
                ids_file.flush()
        n = len(self.layout.arrays)
        self.progress.note(
            f"submitted {n} array(s), {self.layout.n_tasks} task(s), {n} sbatch call(s) from {_rel(b.dir)}: "
            + " ".join(f"{a.name}={self.ids[a.index]}" for a in self.layout.arrays[:8])
            + (" ..." if n > 8 else "")
        )

    # ------------------------------------------------------------------ follow
    def follow(self) -> None:
        interval = self.poll
        bad_rounds = 0
        while self.remaining:
            self.sleep(interval)
            rows = self.slurm.queue(self._active_ids())
            if rows is None:
                bad_rounds += 1
                if bad_rounds >= FAILED_ROUNDS:
                    raise BackendError(
                        f"squeue failed {bad_rounds} times in a row; giving up on following the run. "
                        f"Its jobs are still queued: {' '.join(self.ids.values())}",
                        hint="follow them with squeue, or cancel them with scancel; the next rulec run resubmits what is missing",
                    )
                interval = min(interval * 2, self.max_poll)
                continue
            bad_rounds = 0
            changed = self.update(rows)
            interval = self.poll if changed else min(interval * 1.5, self.max_poll)

    def _active_ids(self) -> list[str]:
        active = sorted({self.layout.where[j][0] for j in self.remaining})
        return [self.ids[a] for a in active if a in self.ids]

    def _rows_by_job(self, rows: list[Row]) -> dict[int, Row]:
        out: dict[int, Row] = {}
        for row in rows:
            a = self.array_of.get(row.array_id)
            if a is None:
                continue
            array = self.layout.arrays[a]
            if row.task is None:
                if len(array) == 1:
                    out[array.jobs[0]] = row
                continue
            if 0 <= row.task < len(array):
                out[array.jobs[row.task]] = row
        return out

    def update(self, rows: list[Row]) -> bool:
        """Apply one status query; True when something changed."""
        states = self._rows_by_job(rows)
        ordered = [j for a in self.layout.arrays for j in a.jobs if j in self.remaining]
        finished: list[tuple[int, Row]] = []
        vanished: list[int] = []
        hopeless: list[tuple[int, Row]] = []
        changed = False
        for job in ordered:
            row = states.get(job)
            if row is None:
                vanished.append(job)
            elif row.state in TERMINAL:
                finished.append((job, row))
            elif row.state == "PENDING" and row.reason in HOPELESS:
                hopeless.append((job, row))
            elif row.state in LIVE and job not in self.seen_running:
                self.seen_running.add(job)
                self.progress.start(self.graph.job_id(job))
                changed = True
        if vanished:
            found = self.look_up(vanished)
            for job in vanished:
                row = found.get(job)
                if row is not None and row.state in TERMINAL:
                    finished.append((job, row))
                    self.lost_rounds.pop(job, None)
                elif row is not None:  # alive after all (scontrol knows it): wait
                    self.lost_rounds.pop(job, None)
                else:
                    self.lost_rounds[job] = self.lost_rounds.get(job, 0) + 1
                    if self.lost_rounds[job] >= 3:
                        finished.append((job, Row("", None, "LOST", "not in squeue, sacct or scontrol, and no marker")))
        if hopeless:
            why = self.slurm.cancel([self._task_id(job) for job, _ in hopeless])
            if why is not None:  # SLURM's kill-on-invalid-dep ends them anyway
                self.progress.note(f"could not cancel jobs whose dependency can never be met: {why}")
            finished.extend((job, Row(r.array_id, r.task, "CANCELLED", r.reason)) for job, r in hopeless)
        if finished:
            order = {j: i for i, j in enumerate(ordered)}
            finished.sort(key=lambda item: order[item[0]])
            self.settle(finished)
            changed = True
        return changed

    def _task_id(self, job: int) -> str:
        a, t = self.layout.where[job]
        return f"{self.ids[a]}_{t}"

    def look_up(self, jobs: list[int]) -> dict[int, Row]:
        """Final states of jobs that left squeue: sacct, else scontrol, else the markers."""
        found: dict[int, Row] = {}
        arrays = sorted({self.layout.where[j][0] for j in jobs})
        ids = [self.ids[a] for a in arrays if a in self.ids]
        rows = self.slurm.accounting(ids) if self.accounting and ids else None
        if rows is None:
            self.accounting = False  # sacct did not answer: do not ask it again
            rows = []
            for job_id in ids:
                rows.extend(self.slurm.show_job(job_id))
        by_job = self._rows_by_job(rows)
        for job in jobs:
            row = by_job.get(job)
            if row is not None and row.state in TERMINAL:
                found[job] = row
                continue
            code = self.marker(job)
            if code is not None:
                found[job] = Row("", None, "COMPLETED" if code == 0 else "FAILED", "marker", code, 0)
            elif row is not None:
                found[job] = row
        return found

    def marker(self, job: int) -> int | None:
        try:
            with open(self.bundle.marker(job)) as fh:
                return int(fh.read().strip())
        except (OSError, ValueError):
            return None

    def settle(self, finished: list[tuple[int, Row]]) -> None:
        graph = self.graph
        done: list[int] = []
        failed: list[tuple[int, str]] = []
        skipped: list[tuple[int, str]] = []
        need_codes = [job for job, row in finished if row.state not in ("COMPLETED", "CANCELLED") and self.marker(job) is None and row.exit_code is None]
        codes: dict[int, Row] = {}
        if need_codes:
            for job_id in sorted({self.ids[self.layout.where[j][0]] for j in need_codes}):
                for job, row in self._rows_by_job(self.slurm.show_job(job_id)).items():
                    codes[job] = row
        for job, row in finished:
            self.remaining.discard(job)
            if row.state == "COMPLETED":
                done.append(job)
                continue
            upstream_bad = any(self.outcome.get(d) in ("failed", "skipped") for d in graph.deps[job])
            if row.state == "CANCELLED" and (row.reason == "DependencyNeverSatisfied" or upstream_bad) and self.marker(job) is None:
                skipped.append((job, "an upstream job failed" if upstream_bad else self._waited_for(job)))
                self.outcome[job] = "skipped"
                continue
            failed.append((job, self.describe(job, row, codes.get(job))))
            self.outcome[job] = "failed"
        if done:
            snap = snapshot({p for j in done for p in graph.inputs[j]}, self.workdir)
            self.history.record([self.recorder.finished(j, log=self.bundle.logs[j], stats=snap) for j in done])
            for job in done:
                self.outcome[job] = "done"
                self.done += 1
                self.progress.success(graph.job_id(job))
        if failed:
            for job, why in failed:
                self.outcome[job] = "failed"
                self._remove_outputs(job)
                log = self.bundle.logs[job]
                self.failures.append(Failure(graph.job_id(job), why, log))
                self.progress.failure(graph.job_id(job), f"{why}, log {log}")
            self.history.forget([graph.job_id(j) for j, _ in failed])
        if skipped:
            for job, why in skipped:
                self.outcome[job] = "skipped"
                self.progress.skip(graph.job_id(job), why)
            self.history.forget([graph.job_id(j) for j, _ in skipped])

    def _waited_for(self, job: int) -> str:
        array = self.layout.arrays[self.layout.where[job][0]]
        names = [self.layout.arrays[d.array].name for d in array.deps
                 if any(self.outcome.get(j) in ("failed", "skipped") for j in self.layout.arrays[d.array].jobs)]
        return (f"cancelled by SLURM: its array waits for all of {', '.join(names) or 'an upstream array'}, "
                "where a job failed (it runs on the next rulec run)")

    def describe(self, job: int, row: Row, extra: Row | None) -> str:
        code = self.marker(job)
        if code is not None:
            text = f"{row.state}, exit code {code}"
            return text if row.state != "LOST" else f"FAILED, exit code {code}"
        exit_code = row.exit_code if row.exit_code is not None else (extra.exit_code if extra else None)
        sig = row.signal if row.signal is not None else (extra.signal if extra else None)
        reason = row.reason or (extra.reason if extra else "")
        parts = [row.state]
        if exit_code is not None and (exit_code or sig):
            parts.append(f"exit code {exit_code}" + (f", signal {sig}" if sig else ""))
        elif row.state in ("TIMEOUT", "OUT_OF_MEMORY", "CANCELLED", "NODE_FAIL", "PREEMPTED", "DEADLINE"):
            parts.append("no exit code: stopped by the scheduler")
        if reason and reason not in ("None", "marker", row.state):
            parts.append(f"reason {reason}")
        a, t = self.layout.where[job]
        sched_log = os.path.join(_rel(self.bundle.dir), "logs", f"{self.layout.arrays[a].name}_{self.ids.get(a, '?')}_{t}.out")
        parts.append(f"scheduler log {sched_log}")
        return ", ".join(parts)

    def _remove_outputs(self, job: int) -> None:
        remote = []
        for path in self.graph.declared_outputs(job):
            bundle_mod.remove(os.path.join(self.workdir, bundle_mod.local_path(path)))
            if bundle_mod.is_remote(path):
                remote.append(path)
        if remote:  # one of several may have been uploaded before another failed
            try:
                storage.remove(remote)
            except Exception:
                pass

    # ------------------------------------------------------------------ stop
    def _started(self, job: int) -> bool:
        if job in self.seen_running or self.marker(job) is not None:
            return True
        a, t = self.layout.where[job]
        if a not in self.ids:
            return False
        name = self.layout.arrays[a].name
        return os.path.exists(os.path.join(self.bundle.dir, "logs", f"{name}_{self.ids[a]}_{t}.out"))

    def interrupt(self) -> int:
        old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        old_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)
        old_hup = signal.signal(signal.SIGHUP, signal.SIG_IGN)
        try:
            ids = list(self.ids.values())
            failed = self.slurm.cancel(ids) if ids else None
            live = set(self.remaining)  # until the queue says otherwise
            if ids:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    rows = self.slurm.queue(ids)
                    if rows is not None:
                        states = self._rows_by_job(rows)
                        live = {j for j in self.remaining if j in states and states[j].state not in TERMINAL}
                        if not live:
                            done = [j for j in self.remaining if j in states and states[j].state == "COMPLETED"]
                            if done:
                                self.settle([(j, states[j]) for j in done])
                            break
                    time.sleep(0.3)
            else:
                live = set()
            # Jobs still queued or running are not touched: their outputs stay, their marks
            # say "incomplete". The others are over: remove what the started ones left.
            unfinished = [j for j in self.remaining if j not in live]
            removed = 0
            for job in unfinished:
                if self._started(job):
                    self._remove_outputs(job)
                    removed += 1
            self.history.forget([self.graph.job_id(j) for j in unfinished])
            self.progress.close()
            if live:
                alive = sorted({self._task_id(j) for j in live if self.layout.where[j][0] in self.ids})
                report.error(
                    f"interrupted, but {len(live)} job(s) of this run may still be queued or running: "
                    + (f"scancel failed ({failed})" if failed else "they did not end within 30 s of scancel")
                    + f"; cancel them yourself: scancel {' '.join(alive[:20])}{' ...' if len(alive) > 20 else ''}. "
                    f"{self.done} job(s) had finished; removed the outputs of {removed} unfinished job(s); "
                    "the outputs of the others were left alone, and they run again next time"
                )
                return EXIT_INTERRUPTED
            report.error(
                f"interrupted: cancelled {len(ids)} job array(s) of this run"
                + (f" ({' '.join(ids)})" if ids else "")
                + f"; {self.done} job(s) had finished; removed the outputs of {removed} unfinished job(s)"
            )
            return EXIT_INTERRUPTED
        finally:
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, old_term)
            signal.signal(signal.SIGHUP, old_hup)

    def _abandon(self) -> None:
        """An error while submitting: cancel what was submitted and drop the marks, so the run
        is all or nothing. (An error while following leaves the submitted jobs running.)"""
        if len(self.ids) == len(self.layout.arrays):
            return
        try:
            if self.ids:
                self.slurm.cancel(list(self.ids.values()))
            self.history.forget([self.graph.job_id(j) for j in self.remaining])
        except Exception:  # pragma: no cover - best effort while another error propagates
            pass


def _raise_interrupt(signum, frame):
    raise Interrupted("terminated")


def _rel(path: str) -> str:
    rel = os.path.relpath(path)
    return path if rel.startswith("../..") else rel
