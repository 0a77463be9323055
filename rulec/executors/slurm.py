"""The SLURM executor: a push executor of the one run loop (rulec/run/loop.py).

It owns only the scheduler's side of a run; the loop owns the lock, the marks and records,
output removal, skipping, --keep-going, signals and the summary.

1. ``make``: read ``scontrol show config`` (MaxArraySize, accounting), build the bundle
   (arrays split at MaxArraySize), check every array against the partitions' limits (nothing
   is submitted when a job cannot fit), write it to ``.rulec/slurm/<n>/`` (or ``--bundle``).
2. ``open``: one ``sbatch --parsable`` per array in dependency order, wiring
   ``--dependency`` with the returned ids (the task scripts prepare, check and stage outputs
   on the node). A failed submission cancels what was submitted.
3. ``wait``: sleep the poll interval (``--poll``, default 1 s, backing off to ``max_poll``
   while nothing changes), then ONE ``squeue`` for all the run's active arrays; jobs that left
   the queue are looked up with one ``sacct`` (when accounting works), else ``scontrol show
   job``, else their marker files. Events: ``Started`` when a task is first seen running,
   ``Finished`` with the scheduler's state as data (report.outcome_text puts it in words).
4. ``cancel``: ``scancel`` exactly the given tasks (``<array>_<task>``); they are not
   reported any more.
5. ``stop``: ``scancel`` exactly this run's arrays, wait (bounded) for them to leave the
   queue; what completed meanwhile is reported, what is still alive is returned as such.

``reattach`` (called by ``rulec run`` before a SLURM run plans): the bundle of a run whose
rulec died is taken over: its jobs that ended are settled by their markers (recorded as done,
forgotten, or left incomplete), those still on SLURM are re-attached: ``make`` leaves them out
of the new bundle, and the executor follows them in its squeue (``adopt.Follower``), holding
back the arrays that need them until they have ended (``release``).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Sequence

from .. import report
from ..backend import Backend
from ..bundle import files as bundle_mod
from . import slurm_limits as limits
from ..bundle import slurm as slurm_mod
from .slurm_commands import HOPELESS, TERMINAL, Row, Slurm
from ..bundle.settings import mem_mb_text, slurm_time
from ..errors import BackendError
from .slurm_commands import expand_hostlist, node_problem
from ..run.executor import Event, Finished, Note, Outcome, Started, Task
from . import rel_path as _rel

DEFAULT_POLL = 1.0
DEFAULT_MAX_POLL = 30.0
LIVE = frozenset({"RUNNING", "COMPLETING", "CONFIGURING", "STAGE_OUT", "SIGNALING", "RESIZING"})
FAILED_ROUNDS = 6  # squeue failing this many polls in a row (each after retries): give up
STOP_WAIT = 30.0  # seconds an interruption waits for the cancelled arrays to leave the queue
LOST_ROUNDS = 3  # polls a job may be in no answer at all before it is LOST
# seconds a task may pend with DependencyNeverSatisfied, or wait for a failed upstream job to
# end, before rulec cancels it: SLURM's --kill-on-invalid-dep ends it itself once the
# upstream job is over (after KillWait, for a job stopped by a signal), and a task of a
# pending array that rulec cancels leaves no trace in the queue; only a cluster that ignores
# --kill-on-invalid-dep needs rulec
NEVER_WAIT = 30.0
# A job stuck on a node that is DOWN, NOT_RESPONDING or DRAINED (slurmd stopped: the job sits
# in COMPLETING, or RUNNING, for as long as SLURM's SlurmdTimeout, or forever): once a job has
# been COMPLETING for SLOW_COMPLETING s, or RUNNING for SLOW_RUNNING s (each at most half of
# stuck_after), its node is looked at: one squeue for the nodes and one sinfo for their states,
# at most every NODE_EVERY polls. A job on a bad node is reported (a Note) and, still there
# stuck_after s later (the profile's ``stuck_after``, default STUCK_AFTER), scancelled and
# reported as NODE_FAIL.
STUCK_AFTER = 600.0
SLOW_COMPLETING = 10.0
SLOW_RUNNING = 60.0
NODE_EVERY = 5
SAY_EVERY = 30.0  # seconds between two "squeue failing" lines

OUTCOMES = {
    "COMPLETED": Outcome.OK,
    "FAILED": Outcome.EXIT,
    "TIMEOUT": Outcome.TIMEOUT,
    "DEADLINE": Outcome.TIMEOUT,
    "OUT_OF_MEMORY": Outcome.OUT_OF_MEMORY,
    "NODE_FAIL": Outcome.NODE_FAIL,
    "BOOT_FAIL": Outcome.NODE_FAIL,
    "PREEMPTED": Outcome.PREEMPTED,
    "CANCELLED": Outcome.CANCELLED,
    "REVOKED": Outcome.CANCELLED,
    "SPECIAL_EXIT": Outcome.EXIT,
    "LOST": Outcome.LOST,
}
NEVER = "DependencyNeverSatisfied"
PACK_WAIT = "Pack"  # a packed job whose task runs, waiting for its turn


def make(options, graph, plan, journal=None, quiet: bool = False, slurm: Slurm | None = None) -> "SlurmExecutor":
    """Read the cluster's settings, build, check and write the bundle; nothing is submitted
    (and nothing written) when a job cannot fit the cluster."""
    from ..profile import load as load_profile

    profile = load_profile(options.profile)
    prof = profile.backend(Backend.SLURM)
    slurm = slurm or Slurm()
    config = slurm.config()
    max_size = int(config.get("MaxArraySize", "1001") or 1001)
    if prof.setting("max_array_size"):
        max_size = min(max_size, int(prof.setting("max_array_size")))
    workdir = graph.workflow.workdir
    bundle_dir = os.path.abspath(options.bundle) if options.bundle else next_bundle_dir(workdir)
    from .adopt import Follower

    follower = Follower(options.reattached, SlurmQueue(slurm), graph, plan.run)  # followed, not submitted
    run = [j for j in plan.run if j not in follower] if follower else list(plan.run)
    bundle = bundle_mod.build(graph, run, Backend.SLURM, profile, bundle_dir, max_size, followed=True, pack=options.pack)
    problems = limits.check(bundle.layout, limits.cluster(slurm.partitions(), slurm.nodes()))
    too_many = limits.check_job_count(bundle.layout.n_tasks, config)
    if too_many:
        problems.append(too_many)
    if problems:
        raise BackendError("\n".join(problems), hint="nothing was submitted")
    bundle_mod.write(bundle)
    poll = options.poll or float(prof.setting("poll", DEFAULT_POLL))
    max_poll = max(float(prof.setting("max_poll", DEFAULT_MAX_POLL)), poll)
    accounting = config.get("AccountingStorageType", "accounting_storage/none") != "accounting_storage/none"
    return SlurmExecutor(bundle, slurm, poll, max_poll, accounting, quiet,
                         stuck_after=stuck_after_setting(prof.setting("stuck_after")), follower=follower)


def stuck_after_setting(value) -> float:
    """The profile's ``stuck_after``: seconds (a number), or a duration (``"10m"``, ``"90s"``)."""
    if value is None:
        return STUCK_AFTER
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    from .. import units

    return float(units.parse_time(value))


def next_bundle_dir(workdir: str) -> str:
    base = os.path.join(workdir, ".rulec", Backend.SLURM.value)
    numbers = [int(n) for n in os.listdir(base) if n.isdigit()] if os.path.isdir(base) else []
    return os.path.join(base, str(max(numbers, default=0) + 1))


class SlurmExecutor:
    name = Backend.SLURM
    push = True
    stages_files = False  # the task scripts prepare, check and stage outputs on the node

    def __init__(self, bundle, slurm: Slurm, poll: float, max_poll: float, accounting: bool,
                 quiet: bool = False, sleep=time.sleep, clock=time.monotonic, stuck_after: float = STUCK_AFTER,
                 follower=None):
        from .adopt import Follower, held_arrays

        self.bundle = bundle
        self.graph = bundle.graph
        self.layout = bundle.layout
        self.slurm = slurm
        self.poll = poll
        self.max_poll = max_poll
        self.interval = poll
        self.accounting = accounting
        self.quiet = quiet
        self.sleep = sleep
        self.clock = clock
        self.ids: dict[int, str] = {}  # array index -> SLURM job id
        self.array_of: dict[str, int] = {}
        self.remaining: set[int] = set()  # submitted, neither finished nor cancelled
        self.seen_running: set[int] = set()
        self.ended: set[int] = set()  # seen in a final state (nothing to scancel)
        self.held: set[int] = set()  # cancelled by SLURM for a failed upstream: reported a poll later
        self.failed: set[int] = set()  # reported as not succeeded
        # cancelled by the loop, but left to SLURM: their dependency can never be met, so
        # --kill-on-invalid-dep ends them (DependencyNeverSatisfied); watched until they have
        self.doomed: set[int] = set()
        self.lost_rounds: dict[int, int] = {}
        self.never_since: dict[int, float] = {}
        self.bad_rounds = 0
        self.failing_since: float | None = None  # squeue failing since then
        self.failing_said: float | None = None  # when that was last said
        self.stuck_after = stuck_after
        self.live_since: dict[int, tuple[str, float]] = {}  # job -> (RUNNING or COMPLETING, since)
        self.stuck: dict[int, tuple[float, str, str]] = {}  # job on a bad node -> (since, node, why)
        self.node_polls = NODE_EVERY  # polls since the last node check
        # a job submitted again (a retry, or a dependent SLURM cancelled for a retried upstream
        # job): the id of its one-task array (--array=<task>), which replaces the array's
        self.current: dict[int, str] = {}
        # the dead run's jobs still on SLURM, re-attached: followed in the same squeue
        self.follower = follower if follower is not None else Follower(None, SlurmQueue(slurm), self.graph)
        # arrays submitted only once the re-attached jobs they need have ended (see release)
        self.held_back: list[int] = held_arrays(self.layout, self.graph, set(self.follower.jobs))
        self.partial: set[int] = set()  # arrays submitted with some of their tasks only

    # ------------------------------------------------------------------ submit
    def open(self, tasks: Sequence[Task], deps) -> list[Event]:
        jobs = {j for a in self.layout.arrays for j in a.jobs}
        assert {t.job for t in tasks} == jobs | set(self.follower.jobs), "the bundle was built from another plan"
        try:
            self._submit()
        except BaseException:
            if self.ids:  # all or nothing: what was submitted is cancelled
                self.slurm.cancel(list(self.ids.values()))
                self.ids.clear()
            raise
        self.remaining = jobs
        return []

    def _submit(self) -> None:
        b = self.bundle
        bundle_mod.make_dirs(os.path.join(b.dir, "logs"))  # no group/other write, whatever the umask
        bundle_mod.make_dirs(os.path.join(b.dir, "status"))
        names = {}
        fd = os.open(os.path.join(b.dir, "jobids"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, bundle_mod.FILE_MODE)
        held = set(self.held_back)
        with open(fd, "w") as ids_file:
            for array in self.layout.arrays:
                if array.index in held:
                    continue
                dep = slurm_mod.dependency(self.layout, array, names.__getitem__)
                job_id = self.slurm.submit(b.script(array), dep, cwd=b.dir)
                self.ids[array.index] = job_id
                self.array_of[job_id] = array.index
                names[array.name] = job_id
                ids_file.write(f"{array.name} {job_id}\n")
                ids_file.flush()
        if not self.quiet and self.ids:
            sent = [a for a in self.layout.arrays if a.index in self.ids]
            n = len(sent)
            jobs = f" for {sum(len(a.jobs) for a in sent)} job(s)" if self.layout.packed else ""
            later = f"; {len(held)} more once the re-attached jobs they need have ended" if held else ""
            print(f"submitted {n} array(s), {sum(len(a) for a in sent)} task(s){jobs}, {n} sbatch call(s) from {_rel(b.dir)}: "
                  + " ".join(f"{a.name}={self.ids[a.index]}" for a in sent[:8])
                  + (" ..." if n > 8 else "") + later, flush=True)
        elif not self.quiet and held:
            print(f"{len(held)} array(s) of {_rel(b.dir)} to submit once the re-attached jobs they need have ended", flush=True)

    def release(self) -> None:
        """Submit the held arrays whose re-attached upstream jobs have all ended
        (``adopt.release_held``): what is left of each (``--array=<its tasks>`` when some were
        cancelled), after its upstream arrays (their ids; a task at a time, afterok, for one
        submitted in part)."""
        from .adopt import release_held

        def submit(array, jobs, tasks, part):
            limit = array.settings.array_limit
            options = [f"--array={_task_list(tasks)}" + (f"%{limit}" if limit and limit < len(tasks) else "")] if part else []
            return self.slurm.submit(self.bundle.script(array), self._dependency_now(array, jobs), cwd=self.bundle.dir,
                                     options=options)

        release_held(self, submit, "task")

    def _dependency_now(self, array, jobs: list[int]) -> str | None:
        """A held array's dependency when it is submitted: on its upstream arrays submitted
        whole as in the bundle, and on each unfinished upstream job of one submitted in part."""
        corr, ok = [], []
        for d in array.deps:
            if d.array in self.ids and d.array not in self.partial:
                (corr if d.kind == slurm_mod.arr.AFTERCORR else ok).append(self.ids[d.array])
        where = self.layout.where
        ok += sorted({self._task_id(d) for j in jobs for d in self.graph.deps[j]
                      if d in self.remaining and d in where and where[d][0] in self.partial})
        parts = [f"aftercorr:{i}" for i in corr] + (["afterok:" + ":".join(ok)] if ok else [])
        return ",".join(parts) or None

    def start(self, tasks: Sequence[Task]) -> list[Event]:
        raise NotImplementedError("a push executor gets every task in open()")

    # ------------------------------------------------------------------ retry
    def resubmit(self, tasks: Sequence[Task]) -> list[Event]:
        """Failed tasks with attempts left: each is submitted again alone (one sbatch of its
        array's script with ``--array=<its task>``, and ``--mem``/``--time`` scaled for
        ``task.attempt``), after its unfinished dependencies. Its dependents were cancelled by
        SLURM at the failure (--kill-on-invalid-dep): each is submitted again the same way
        when it is seen cancelled (``_update``), waiting for this new submission."""
        for task in tasks:
            self._submit_again(task.job, task.attempt, task.command)
        return []

    def _submit_again(self, job: int, attempt: int, command: str | None = None) -> None:
        """A job of a packed array goes alone (``retry/<array>.<line>.sbatch``: its array's
        script running only its line), in a task of its own."""
        a, t = self.layout.where[job]
        array = self.layout.arrays[a]
        b = self.bundle
        if command is not None:
            bundle_mod.set_task_command(b, array, t, job, command)
        options = [f"--array={t}"]
        s = array.settings
        per = array.rule.resources.per_attempt
        opts = set(s.options)
        if attempt > 1 and "mem" in per and s.mem_mb and not ({"mem", "mem-per-cpu", "mem-per-gpu"} & opts):
            options.append(f"--mem={mem_mb_text(s.mem_mb * attempt)}")
        elif array.width > 1 and s.mem_mb and not ({"mem", "mem-per-cpu", "mem-per-gpu"} & opts):
            options.append(f"--mem={mem_mb_text(s.mem_mb)}")  # one job's, not the pack's at once
        if array.width > 1:  # alone: the cores of one job, not of the jobs its task runs at once
            options.append(f"--cpus-per-task={s.cpus}")
        scale = attempt if attempt > 1 and "time" in per else 1
        if s.time_s and "time" not in opts and (scale > 1 or array.pack > 1):  # a pack asks for its jobs' time
            options.append(f"--time={slurm_time(s.time_s * scale)}")
        waits = [self._task_id(d) for d in self.graph.deps[job] if d in self.remaining]
        dep = "afterok:" + ":".join(waits) if waits else None
        script = bundle_mod.resubmission_script(b, array, job)
        job_id = self.slurm.submit(script, dep, cwd=b.dir, options=options)
        self.current[job] = job_id
        self.array_of[job_id] = a
        key = f"{array.name}_{t}" + (f":{self.layout.line_of(job)}" if array.pack > 1 else "")
        fd = os.open(os.path.join(b.dir, "jobids"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, bundle_mod.FILE_MODE)
        with open(fd, "a") as ids_file:
            ids_file.write(f"{key} {job_id}\n")
        for seen in (self.seen_running, self.ended, self.held, self.failed, self.doomed):
            seen.discard(job)
        self.lost_rounds.pop(job, None)
        self.never_since.pop(job, None)
        self.remaining.add(job)

    def _resubmit_dependent(self, job: int) -> bool:
        """A job SLURM cancelled because an upstream job failed (DependencyNeverSatisfied):
        submitted again when that failure was one the loop retries, i.e. when a job of its
        upstream arrays was submitted again and none of its own dependencies failed for good
        or waits to be told apart (held)."""
        array = self.layout.arrays[self.layout.where[job][0]]
        upstream = {j for d in array.deps for j in self.layout.arrays[d.array].jobs}
        if not self.current or not any(j in self.current for j in upstream):
            return False
        deps = self.graph.deps[job]
        if any(d in self.failed or d in self.doomed or d in self.held for d in deps):
            return False
        self._submit_again(job, 1)
        return True

    # ------------------------------------------------------------------ follow
    def wait(self) -> list[Event]:
        self.release()
        if not self.remaining and not self.follower:
            return []
        self.sleep(self.interval)
        asked = self.clock()
        rows = self.slurm.queue(self._active_ids() + self.follower.ids())
        if rows is None:
            self.bad_rounds += 1
            if self.bad_rounds >= FAILED_ROUNDS:
                raise BackendError(
                    f"squeue failed {self.bad_rounds} times in a row; giving up on following the run. "
                    f"Its jobs are still queued: {' '.join(self.ids.values())}",
                    hint="follow them with squeue, or cancel them with scancel; the next rulec run resubmits what is missing",
                )
            self.interval = min(self.interval * 2, self.max_poll)
            return self._failing(asked)
        self.bad_rounds = 0
        notes: list[Event] = []
        if self.failing_said is not None:
            notes.append(Note(f"squeue answers again (after {self.clock() - self.failing_since:.0f} s)"))
        self.failing_since = self.failing_said = None
        events = self.follower.update(rows) + self._update(rows)
        soon = events or self.held or self.never_since  # something is about to change
        self.interval = self.poll if soon else min(self.interval * 1.5, self.max_poll)
        return notes + events + self._watch_nodes(rows)

    def _failing(self, asked: float) -> list[Event]:
        """squeue failed (after its retries): said at once, then at most every SAY_EVERY s."""
        if self.failing_since is None:
            self.failing_since = asked
        now = self.clock()
        if self.failing_said is not None and now - self.failing_said < SAY_EVERY:
            return []
        self.failing_said = now
        why = getattr(self.slurm, "last_error", "") or "no answer"
        return [Note(f"squeue failing for {now - self.failing_since:.0f} s ({why}), retrying")]

    # ------------------------------------------------------------------ stuck on a bad node
    def _watch_nodes(self, rows: list[Row]) -> list[Event]:
        """Jobs RUNNING or COMPLETING for long: are they on a node that is down? (See
        STUCK_AFTER.) Notes for jobs found stuck or freed, NODE_FAIL for those stuck for
        stuck_after s."""
        now = self.clock()
        states = self._rows_by_job(rows)
        live = {j: states[j] for j in self.remaining if j in states and states[j].state in LIVE and j not in self.ended}
        for d in (self.live_since, self.stuck):
            for job in [j for j in d if j not in live]:
                del d[job]
        for job, row in live.items():
            what = "COMPLETING" if row.state == "COMPLETING" else "RUNNING"
            if self.live_since.get(job, ("",))[0] != what:
                self.live_since[job] = (what, now)
        slow_completing = min(SLOW_COMPLETING, self.stuck_after / 2)
        slow_running = min(SLOW_RUNNING, self.stuck_after / 2)
        slow = [j for j, (what, since) in self.live_since.items()
                if now - since >= (slow_completing if what == "COMPLETING" else slow_running)]
        due = any(now - since >= self.stuck_after for since, _, _ in self.stuck.values())
        self.node_polls += 1
        events: list[Event] = []
        if (slow or self.stuck) and (self.node_polls >= NODE_EVERY or due):
            self.node_polls = 0
            events.extend(self._check_nodes(sorted(set(slow) | set(self.stuck)), live, now))
        return events + self._give_up_stuck(now)

    def _check_nodes(self, jobs: list[int], live: dict[int, Row], now: float) -> list[Event]:
        where = self.slurm.job_nodes(self._active_ids())
        if where is None:
            return []
        nodes_of = {j: expand_hostlist(r.nodes) for j, r in self._rows_by_job(where).items() if j in jobs and r.nodes}
        names = sorted({n for ns in nodes_of.values() for n in ns})
        node_states = self.slurm.node_states(names) if names else {}
        if node_states is None:
            return []
        events: list[Event] = []
        for job in jobs:
            bad = next(((n, p, node_states[n]) for n in nodes_of.get(job, ())
                        if n in node_states and (p := node_problem(node_states[n]))), None)
            old = self.stuck.get(job)
            jid = f"{self.graph.job_id(job)} ({self._task_id(job)})"
            if bad is None:
                if old is not None and job in nodes_of:
                    del self.stuck[job]
                    state = ", ".join(f"{n} is {node_states.get(n, '?')}" for n in nodes_of[job])
                    events.append(Note(f"{jid}: node {state} again; waiting for the job as before"))
                continue
            node, problem, raw = bad
            self.stuck[job] = (old[0] if old else now, node, problem)
            if old is None:
                what, since = self.live_since.get(job, (live[job].state, now))
                events.append(Note(
                    f"{jid} has been {what} for {now - since:.0f} s on node {node}, which is {problem} "
                    f"(sinfo: {raw}); it is given up as NODE_FAIL if it is still there in {self.stuck_after:.0f} s (stuck_after)"))
        return events

    def _give_up_stuck(self, now: float) -> list[Event]:
        """Jobs stuck on a bad node for stuck_after s: scancelled, reported as NODE_FAIL. They
        are not counted as failed in SLURM's sense (a COMPLETING job may yet end COMPLETED),
        so the loop's cancel scancels their dependents itself."""
        over = [j for j in self._ordered() if j in self.stuck and now - self.stuck[j][0] >= self.stuck_after]
        if not over:
            return []
        ids = [self._task_id(j) for j in over]
        why = self.slurm.cancel(ids)
        events: list[Event] = []
        if why is not None:
            events.append(Note(f"could not cancel {' '.join(ids)}, stuck on a node that is down ({why})"))
        for job in over:
            since, node, problem = self.stuck.pop(job)
            self.live_since.pop(job, None)
            self.ended.add(job)
            self.remaining.discard(job)
            events.append(Finished(
                job, Outcome.NODE_FAIL, state=f"NODE_FAIL: node {node} is {problem}", log=self._log(job),
                notes=(f"stuck there for {now - since:.0f} s, the profile's stuck_after; scancel {self._task_id(job)}",
                       f"scheduler log {_rel(self._sched_log(job))}")))
        return events

    def running(self) -> int:
        return len(self.remaining) + len(self.follower)

    def running_jobs(self) -> list[int]:
        """Jobs seen running (or whose task has left a trace: a marker, a scheduler log) and
        not finished: what an interruption must clean up after."""
        return self.follower.started_jobs() + [j for j in self._ordered() if j in self.seen_running or self._left_a_trace(j)]

    def cancel(self, jobs: Sequence[int]) -> list[Event]:
        """scancel exactly these tasks, except those that depend on a failed job: SLURM
        ends them itself (their dependency can never be met). None is reported any more."""
        followed = set(self.follower.cancel(jobs))
        jobs = [j for j in jobs if j not in followed]
        ids = []
        where = self.layout.where
        packs: dict[tuple[int, int], list[int]] = {}
        for job in sorted(jobs, key=where.__getitem__):  # upstream arrays first
            if job not in self.remaining:
                continue
            self.remaining.discard(job)
            self.held.discard(job)
            if job in self.ended or where[job][0] not in self.ids:
                self.failed.add(job)  # over already, without success: its dependents cannot run either
                continue
            if any(d in self.failed or d in self.doomed for d in self.graph.deps[job]):
                self.doomed.add(job)
            elif self._packed(job):
                packs.setdefault(where[job], []).append(job)
            else:
                ids.append(self._task_id(job))
        for (a, t), group in packs.items():
            if self._pack_goes_on(a, t):  # its task skips them (a cancel file each) and goes on
                for job in group:
                    self._write_cancel(job)
            else:
                ids.append(f"{self.ids[a]}_{t}")
        if ids:
            why = self.slurm.cancel(ids)
            if why is not None:
                report.warn(f"could not cancel {len(ids)} job(s) that must not run any more ({why}); "
                            f"cancel them yourself: scancel {' '.join(ids[:20])}{' ...' if len(ids) > 20 else ''}")
        return []

    # ------------------------------------------------------------------ packs
    def _packed(self, job: int) -> bool:
        """The job runs in a task with others (a packed array's, not submitted alone)."""
        return self.layout.arrays[self.layout.where[job][0]].pack > 1 and job not in self.current

    def _pack_goes_on(self, a: int, t: int) -> bool:
        """Task t of array a still has jobs this run waits for (its pack-mates)."""
        return any(j in self.remaining and j not in self.current for j in self.layout.arrays[a].task_jobs(t))

    def _write_cancel(self, job: int) -> None:
        bundle_mod.write_file(self.bundle.cancel_marker(job), "cancelled\n", bundle_mod.FILE_MODE)

    def _started(self, job: int) -> bool:
        """A packed job's command has started (its task wrote status/<job id>.start)."""
        return os.path.exists(self.bundle.start_marker(job))

    def _own_row(self, job: int, row: Row) -> Row:
        """A packed job's own state, from its task's row and its markers: a task that
        COMPLETED ran every one of its jobs to success; a job with a marker is over (as the
        marker says), while its task runs or after; one its running task has not reached yet
        is PENDING (reason ``Pack``); otherwise the task's state is the job's."""
        if row.state == "COMPLETED" or (row.state not in LIVE and row.state not in TERMINAL):
            return row
        code = self._marker(job)
        if code is not None:
            return Row(row.array_id, row.task, "COMPLETED" if code == 0 else "FAILED", "marker", code, 0, row.nodes)
        if row.state in LIVE and not self._started(job):
            if row.state == "COMPLETING" and self._first_waiting(job):
                return row  # the task's script is over: watched (a node that is down) as its first job left
            return Row(row.array_id, row.task, "PENDING", PACK_WAIT, nodes=row.nodes)
        return row

    def _first_waiting(self, job: int) -> bool:
        a, t = self.layout.where[job]
        mates = (j for j in self.layout.arrays[a].task_jobs(t) if j in self.remaining and j not in self.current)
        return next(mates, None) == job

    def _ordered(self) -> list[int]:
        return [j for a in self.layout.arrays for j in a.jobs if j in self.remaining]

    def _active_ids(self) -> list[str]:
        active = sorted({self.layout.where[j][0] for j in self.remaining | self.doomed})
        return [self.ids[a] for a in active if a in self.ids] + self._current_ids(self.remaining | self.doomed)

    def _current_ids(self, jobs) -> list[str]:
        """The ids of the jobs' own submissions (retries), oldest first."""
        return sorted({self.current[j] for j in jobs if j in self.current}, key=int)

    def _id_of(self, job: int) -> str:
        return self.current.get(job) or self.ids[self.layout.where[job][0]]

    def _task_id(self, job: int) -> str:
        return f"{self._id_of(job)}_{self.layout.where[job][1]}"

    def _rows_by_job(self, rows: list[Row]) -> dict[int, Row]:
        """Rows by job: a task's row is its job's, or, for a packed task, the row of each of
        its jobs this run still follows, read with its markers (``_own_row``)."""
        out: dict[int, Row] = {}
        for row in rows:
            a = self.array_of.get(row.array_id)
            if a is None:
                continue
            array = self.layout.arrays[a]
            if array.pack > 1:
                t = 0 if row.task is None and len(array) == 1 else row.task
                if t is None or not 0 <= t < len(array):
                    continue
                for job in array.task_jobs(t):
                    if self.current.get(job, self.ids.get(a)) == row.array_id and (job in self.remaining or job in self.doomed):
                        out[job] = self._own_row(job, row) if job not in self.current else row
                continue
            if row.task is None:
                if len(array) == 1 and self.current.get(array.jobs[0], self.ids.get(a)) == row.array_id:
                    out[array.jobs[0]] = row
                continue
            if 0 <= row.task < len(array):
                job = array.jobs[row.task]
                if self.current.get(job, self.ids.get(a)) == row.array_id:  # not a replaced submission's
                    out[job] = row
        return out

    def _update(self, rows: list[Row]) -> list[Event]:
        """One status answer -> events, in submission order."""
        states = self._rows_by_job(rows)
        ordered = self._ordered()
        events: list[Event] = []
        finished: list[tuple[int, Row]] = []
        vanished: list[int] = []
        hopeless: list[tuple[int, Row]] = []
        for job in list(self.doomed):
            row = states.get(job)
            if row is None or row.state in TERMINAL:
                self.doomed.discard(job)
            elif self._hopeless(job, row):  # kill-on-invalid-dep is off
                self.doomed.discard(job)
                self.slurm.cancel([self._task_id(job)])
        for job in ordered:
            row = states.get(job)
            if row is None and self.layout.where[job][0] not in self.ids:
                continue  # held: not submitted yet
            if row is None:
                vanished.append(job)
            elif row.state in TERMINAL:
                finished.append((job, row))
            elif self._hopeless(job, row):
                hopeless.append((job, row))
            elif row.state == "PENDING" and row.reason == NEVER:
                pass  # SLURM ends it in a moment (see NEVER_WAIT)
            elif row.state in LIVE and job not in self.seen_running:
                self.seen_running.add(job)
                events.append(Started(job, where=self._task_id(job)))
        if vanished:
            found = self._look_up(vanished)
            for job in vanished:
                row = found.get(job)
                if row is not None and row.state in TERMINAL:
                    finished.append((job, row))
                    self.lost_rounds.pop(job, None)
                elif row is not None:  # alive after all (scontrol knows it): wait
                    self.lost_rounds.pop(job, None)
                else:
                    self.lost_rounds[job] = self.lost_rounds.get(job, 0) + 1
                    if self.lost_rounds[job] >= LOST_ROUNDS:
                        finished.append((job, Row("", None, "LOST")))
        if hopeless:  # pending for good (a bad constraint, a dependency that can never be met)
            ids = list(dict.fromkeys(self._task_id(job) for job, _ in hopeless if job not in self.ended))  # once
            why = self.slurm.cancel(ids) if ids else None
            if why is not None:  # SLURM's kill-on-invalid-dep ends them anyway
                report.warn(f"could not cancel jobs that can never start: {why}")
            finished.extend((job, Row(r.array_id, r.task, "CANCELLED", r.reason)) for job, r in hopeless)
        if not finished:
            return events
        order = {j: i for i, j in enumerate(ordered)}
        finished.sort(key=lambda item: order[item[0]])
        codes = self._exit_codes(finished)
        for job, row in finished:
            self.ended.add(job)
            code = self._marker(job)
            if row.state == "CANCELLED" and row.reason == NEVER and code is None and job in self.held:
                if self._resubmit_dependent(job):
                    continue  # it waits for the retried upstream job now
                if any(d in self.failed for d in self.graph.deps[job]):
                    continue  # a job it needs failed for good: the loop skips (and cancels) it for that failure
            if row.state == "CANCELLED" and row.reason == NEVER and code is None and job not in self.held:
                # its upstream failed: the loop cancels it once it has seen that failure, which
                # may be in these very events; otherwise it is reported at the next poll
                self.held.add(job)
                continue
            self.remaining.discard(job)
            self.held.discard(job)
            ev = self._finished(job, row, codes.get(job), code)
            if ev.outcome is not Outcome.OK:
                self.failed.add(job)
            events.append(ev)
        return events

    def _hopeless(self, job: int, row: Row) -> bool:
        """Pending for good: a bad constraint, or a dependency that can never be met that
        SLURM has not ended within NEVER_WAIT s."""
        if row.state != "PENDING" or row.reason not in HOPELESS:
            self.never_since.pop(job, None)
            return False
        if row.reason != NEVER:
            return True
        since = self.never_since.setdefault(job, self.clock())
        return self.clock() - since >= NEVER_WAIT

    def _exit_codes(self, finished: list[tuple[int, Row]]) -> dict[int, Row]:
        """``scontrol show job`` for failed jobs with no exit code yet (one call per array)."""
        need = [job for job, row in finished
                if row.state not in ("COMPLETED", "CANCELLED", "LOST") and row.exit_code is None and self._marker(job) is None]
        codes: dict[int, Row] = {}
        for job_id in sorted({self._id_of(j) for j in need}):
            codes.update(self._rows_by_job(self.slurm.show_job(job_id)))
        return codes

    def _look_up(self, jobs: list[int]) -> dict[int, Row]:
        """Final states of jobs that left squeue: sacct, else scontrol, else the markers."""
        found: dict[int, Row] = {}
        arrays = sorted({self.layout.where[j][0] for j in jobs})
        ids = [self.ids[a] for a in arrays if a in self.ids] + self._current_ids(jobs)
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
            code = self._marker(job)
            if code is not None:
                found[job] = Row("", None, "COMPLETED" if code == 0 else "FAILED", "marker", code, 0)
            elif row is not None:
                found[job] = row
        return found

    def _marker(self, job: int) -> int | None:
        return self.bundle.marker_code(job)

    def _sched_log(self, job: int) -> str:
        a, t = self.layout.where[job]
        return os.path.join(self.bundle.dir, "logs", f"{self.layout.arrays[a].name}_{self.current.get(job) or self.ids.get(a, '?')}_{t}.out")

    def _log(self, job: int) -> str | None:
        """The job's log, if it wrote one (a job that never started has none)."""
        log = self.bundle.logs[job]
        return log if os.path.exists(os.path.join(self.bundle.workdir, log)) else None

    def _left_a_trace(self, job: int) -> bool:
        if self.layout.where[job][0] not in self.ids:
            return False
        if self._packed(job):  # its task's log says nothing of this job
            return self._marker(job) is not None or self._started(job)
        return self._marker(job) is not None or os.path.exists(self._sched_log(job))

    def _finished(self, job: int, row: Row, extra: Row | None, code: int | None) -> Finished:
        """A final state as data: the outcome, exit code and signal (the marker, else sacct or
        scontrol), SLURM's state and reason, and where the scheduler's log is."""
        log = self._log(job)
        state = row.state
        if state == "COMPLETED":
            return Finished(job, Outcome.OK, exit_code=0, state=state, log=log)
        if code == bundle_mod.MISSING_OUTPUT:  # its log says which output its command did not create
            return Finished(job, Outcome.MISSING_OUTPUT, exit_code=0, log=log,
                            notes=(f"scheduler log {_rel(self._sched_log(job))}",))
        exit_code = code if code is not None else row.exit_code if row.exit_code is not None else (extra.exit_code if extra else None)
        sig = (None if code is not None else row.signal if row.signal is not None else (extra.signal if extra else None)) or None
        reason = row.reason or (extra.reason if extra else "")
        if state == "CANCELLED" and reason == NEVER and code is None:
            return Finished(job, Outcome.NOT_STARTED, state=state, log=None, notes=(self._waited_for(job),))
        notes = []
        if state == "LOST":
            if code is not None:  # it ran to its end: its marker says how
                state = "FAILED"
            else:
                state = "not in squeue, sacct or scontrol, and no marker"
        if reason and reason not in ("None", "marker", "NonZeroExitCode", row.state):
            notes.append(f"reason {reason}")
        if code is None and self._packed(job):
            array = self.layout.arrays[self.layout.where[job][0]]
            if self._started(job):
                notes.append(f"its task {self._task_id(job)} (a pack of {array.pack}) ended while it ran")
            else:
                notes.append(f"it had not started: its task {self._task_id(job)} (a pack of {array.pack}) ended first")
                log = None
        notes.append(f"scheduler log {_rel(self._sched_log(job))}")
        outcome = OUTCOMES.get(state, Outcome.LOST if row.state == "LOST" else Outcome.EXIT)
        return Finished(job, outcome, exit_code=exit_code, signal=sig, state=state, log=log, notes=tuple(notes))

    def _waited_for(self, job: int) -> str:
        a, t = self.layout.where[job]
        array = self.layout.arrays[a]
        if array.pack > 1 or any(self.layout.arrays[d.array].pack > 1 for d in array.deps):
            parts = [f"task {t} of {self.layout.arrays[d.array].name}" if d.kind == slurm_mod.arr.AFTERCORR
                     else f"all of {self.layout.arrays[d.array].name}" for d in array.deps]
            return (f"cancelled by SLURM: its task waits for every job of {', '.join(parts) or 'an upstream array'}, "
                    "where a job failed; it runs on the next rulec run")
        names = [self.layout.arrays[d.array].name for d in array.deps]
        return (f"cancelled by SLURM: its array waits for all of {', '.join(names) or 'an upstream array'}, "
                "where a job failed; it runs on the next rulec run")

    # ------------------------------------------------------------------ stop
    def stop(self, grace: float) -> tuple[list[Event], list[int]]:
        """scancel exactly this run's unfinished arrays and wait (at most STOP_WAIT s) until
        they have left the queue. Returns the jobs that completed meanwhile, and those still
        queued or running (scancel failed, or they did not end)."""
        handlers = {}
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # a second Ctrl-C must not cut this short
            try:
                handlers[sig] = signal.signal(sig, signal.SIG_IGN)
            except (ValueError, OSError):  # not the main thread
                pass
        try:
            return self._stop()
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)

    def _stop(self) -> tuple[list[Event], list[int]]:
        remaining = self._ordered()
        arrays = {self.layout.where[j][0] for j in remaining} | {self.layout.where[j][0] for j in self.doomed}
        ids = [self.ids[a] for a in sorted(arrays) if a in self.ids] + self._current_ids(set(remaining) | self.doomed)
        ids += self.follower.task_ids()  # the re-attached jobs are this run's too
        self.doomed.clear()
        if not ids:
            self.remaining.clear()
            return [], []
        failed = self.slurm.cancel(ids)
        live = list(remaining) + list(self.follower.jobs)  # until the queue says otherwise
        events: list[Event] = []
        deadline = self.clock() + STOP_WAIT
        while True:
            rows = self.slurm.queue(ids)
            if rows is not None:
                states = self._rows_by_job(rows)
                over, followed = self.follower.stopping(rows)
                live = [j for j in remaining if j in states and states[j].state not in TERMINAL] + followed
                if not live:
                    events = [Finished(j, Outcome.OK, exit_code=0, state="COMPLETED", log=self._log(j))
                              for j in remaining if j in states and states[j].state == "COMPLETED"] + over
                    break
            if self.clock() >= deadline:
                break
            self.sleep(0.3)
        self.remaining.clear()
        if live:
            alive = [self._task_id(j) for j in live]
            report.warn(
                (f"scancel failed ({failed})" if failed else f"this run's jobs did not end within {STOP_WAIT:.0f} s of scancel")
                + f"; cancel them yourself: scancel {' '.join(alive[:20])}{' ...' if len(alive) > 20 else ''}")
        else:
            sys.stderr.write(f"cancelled {len(ids)} job array(s) of this run ({' '.join(ids)})\n")
        return events, live

    def close(self) -> None:
        """Nothing of the run is left pending: what was left to SLURM to end is given
        NEVER_WAIT s to end (--kill-on-invalid-dep), and cancelled if it has not."""
        deadline = self.clock() + NEVER_WAIT
        while self.doomed and not self.bad_rounds:
            ids = sorted({self._id_of(j) for j in self.doomed})
            rows = self.slurm.queue(ids)
            if rows is None:
                break
            states = self._rows_by_job(rows)
            self.doomed = {j for j in self.doomed if j in states and states[j].state not in TERMINAL}
            if not self.doomed or self.clock() >= deadline:
                break
            self.sleep(max(self.poll, 0.2))
        if self.doomed and not self.bad_rounds:
            self.slurm.cancel(sorted({self._task_id(j) for j in self.doomed}))
        self.doomed.clear()




# --------------------------------------------------------------------------- adopt
def _task_list(tasks: list[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``0-2,5`` (sbatch's --array, bsub's -J index list)."""
    parts = []
    start = prev = None
    for t in tasks:
        if prev is not None and t == prev + 1:
            prev = t
            continue
        if start is not None:
            parts.append(f"{start}-{prev}" if prev > start else str(start))
        start = prev = t
    if start is not None:
        parts.append(f"{start}-{prev}" if prev > start else str(start))
    return ",".join(parts)


class SlurmQueue:
    """What adopting a dead run's bundle asks of SLURM (rulec/executors/adopt.py)."""

    command = "squeue"

    def __init__(self, slurm: Slurm):
        self.slurm = slurm

    @property
    def last_error(self) -> str:
        return self.slurm.last_error

    def task_key(self, array: str, task: int) -> str:
        return f"{array}_{task}"

    def shown(self, scheduler_id: str, task: int) -> str:
        return f"{scheduler_id}_{task}"

    def state(self, rows: list[Row], scheduler_id: str, task: int) -> str | None:
        from . import adopt

        row = None
        for r in rows:  # (a task's own row wins over its array's pending one)
            if r.array_id == scheduler_id and (r.task == task or (r.task is None and row is None)):
                row = r
        if row is None:
            return None
        if row.state in TERMINAL:
            return adopt.OVER
        if row.state == "PENDING":
            return adopt.NEVER if row.reason in HOPELESS else adopt.PENDING
        return adopt.RUNNING if row.state in LIVE else adopt.PENDING

    def kill(self, ids: list[str]) -> str | None:
        return self.slurm.cancel(ids)

    def alive(self, where: dict[str, tuple[str, int]]) -> set[str] | None:
        rows = self.slurm.queue(sorted({w[0] for w in where.values()}))
        if rows is None:
            return None
        states = {(r.array_id, r.task): r for r in rows}
        never, alive = [], set()
        for jid, (sid, task) in where.items():
            row = states.get((sid, task)) or states.get((sid, None))
            if row is None or row.state in TERMINAL:
                continue
            if row.state == "PENDING" and row.reason in HOPELESS:
                never.append(f"{sid}_{task}")  # it can never start
                continue
            alive.add(jid)
        if never:
            self.slurm.cancel(never)
        return alive


def reattach(workdir: str, history, graph, slurm: Slurm | None = None, quiet: bool = False,
             poll: float = DEFAULT_POLL, sleep=time.sleep):
    """Before a ``--executor slurm`` run plans: re-attach the jobs of a run whose rulec died
    that are still on SLURM, settle the others (see rulec/executors/adopt.py)."""
    from .adopt import reattach as reattach_bundles

    return reattach_bundles(workdir, Backend.SLURM, history, graph, SlurmQueue(slurm or Slurm()), quiet, poll, sleep)


def queue(slurm: Slurm | None = None) -> SlurmQueue:
    return SlurmQueue(slurm or Slurm())


def adopt(workdir: str, history, graph, slurm: Slurm | None = None, quiet: bool = False,
          poll: float = DEFAULT_POLL, sleep=time.sleep) -> dict[str, list[str]]:
    """Before a ``--executor slurm`` run plans: take over the bundle of a run whose rulec
    died (see rulec/executors/adopt.py)."""
    from .adopt import adopt as adopt_bundle

    return adopt_bundle(workdir, Backend.SLURM, history, graph, SlurmQueue(slurm or Slurm()), quiet, poll, sleep)
