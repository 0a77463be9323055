"""Which planned jobs may start now: a ready queue over resource pools. No processes. Pure.

Pools: cores, memory (MB), gpus, custom resources, and each label's ``limit``. A job starts
only when every job it depends on (in this plan) has succeeded and its needs fit the pools.
A failed job's dependents are skipped, transitively.
"""

from __future__ import annotations

from collections import deque

from .dag import JobGraph
from .errors import RulecError
from .plan import Plan
from .recordclass import record


@record(frozen=True)
class Pools:
    cores: int
    mem_mb: int | None = None  # None: not limited
    gpus: int = 0
    custom: tuple[tuple[str, float], ...] = ()


@record
class Need:
    cores: int
    mem_mb: int
    gpus: int
    custom: tuple[tuple[str, float], ...]
    label: str | None


class Scheduler:
    def __init__(self, graph: JobGraph, plan: Plan, pools: Pools, keep_going: bool = False):
        self.graph = graph
        self.pools = pools
        self.keep_going = keep_going
        wf = graph.workflow
        self.limits = {name: label.limit for name, label in wf.labels.items() if label.limit}
        self.free_cores = pools.cores
        self.free_mem = pools.mem_mb
        self.free_gpus = pools.gpus
        self.free_custom = dict(pools.custom)
        self.label_running: dict[str, int] = {}
        in_plan = set(plan.run)
        self.waiting: dict[int, int] = {}  # job -> unfinished planned deps
        self.dependents: dict[int, list[int]] = {}
        self.ready: deque[int] = deque()
        self.needs: dict[int, Need] = {}
        rule_needs: dict[int, Need] = {}
        for job in plan.run:
            r = graph.rule[job]
            need = rule_needs.get(r)
            if need is None:
                need = rule_needs[r] = self._need(graph.rule_of(job))
            self.needs[job] = need
            n = 0
            for d in graph.deps[job]:
                if d in in_plan:
                    n += 1
                    self.dependents.setdefault(d, []).append(job)
            if n:
                self.waiting[job] = n
            else:
                self.ready.append(job)
        self.running: set[int] = set()
        self.queued: set[int] = set()  # taken from the ready queue to start behind a running job
        # Failed jobs waiting for their retry (``retry``): at the front of the ready queue, in
        # front of every other ready job (``unqueue`` keeps them there), or queued.
        self.retrying: set[int] = set()
        self.done: set[int] = set()
        self.failed: set[int] = set()
        self.skipped: set[int] = set()
        self.stopping = False
        self.total = len(plan.run)
        self.allowed: set[int] | None = None  # only these may start (a phase); None: any
        self.parked: list[int] = []  # ready, waiting for their phase

    def _need(self, rule, res=None) -> Need:
        res = res or rule.resources
        cores = min(res.cpus, self.pools.cores)  # a job never waits for more cores than exist
        mem = res.mem_mb or 0
        if self.pools.mem_mb is not None and mem > self.pools.mem_mb:
            raise RulecError(f"rule {rule.name} needs {mem} MB of memory, more than the {self.pools.mem_mb} MB available (--mem)", rule.span)
        if res.gpus > self.pools.gpus:
            raise RulecError(f"rule {rule.name} needs {res.gpus} GPU(s) but {self.pools.gpus} are available", rule.span,
                             hint="give the GPUs to use with --resources gpus=N")
        pools = dict(self.pools.custom)
        for name, amount in res.custom:
            if name in pools and amount > pools[name]:
                raise RulecError(f"rule {rule.name} needs {amount} of '{name}', more than the {pools[name]} available", rule.span)
        custom = tuple((n, a) for n, a in res.custom if n in pools)
        return Need(cores, mem, res.gpus, custom, rule.label if rule.label in self.limits else None)

    def _fits(self, need: Need) -> bool:
        if need.cores > self.free_cores or need.gpus > self.free_gpus:
            return False
        if self.free_mem is not None and need.mem_mb > self.free_mem:
            return False
        for name, amount in need.custom:
            if amount > self.free_custom[name]:
                return False
        if need.label is not None and self.label_running.get(need.label, 0) >= self.limits[need.label]:
            return False
        return True

    def startable(self) -> list[int]:
        """Jobs to start now, taken from the ready queue in plan order; their resources are held."""
        if self.stopping:
            return []
        out = []
        if not self.ready:
            return out
        kept = []
        ready = self.ready
        while ready and self.free_cores > 0:
            job = ready.popleft()
            need = self.needs[job]
            if self._fits(need):
                self._take(need, 1)
                self.running.add(job)
                out.append(job)
            else:
                kept.append(job)
        if kept:  # back at the front, in their order (the rest of the queue is not copied)
            ready.extendleft(reversed(kept))
        if self.retrying and out:
            self.retrying.difference_update(out)
        return out

    def peek(self, n: int) -> list[int]:
        """Up to ``n`` jobs at the front of the ready queue, left in it: those likely to
        start next (the run loop marks them started ahead, see ``Loop._mark_ahead``)."""
        if self.stopping:
            return []
        ready = self.ready
        return [ready[i] for i in range(min(n, len(ready)))]

    def take_queued(self, after: int, scan: int = 4) -> int | None:
        """A ready job to queue behind running job ``after`` (its executor starts it the moment
        ``after`` ends, with what ``after`` held): the first of the next ``scan`` jobs in the
        ready queue whose needs fit in ``after``'s (and whose label, if limited, is
        ``after``'s), taken out of the queue. It holds nothing until ``began``. None: none."""
        if self.stopping:
            return None
        ready = self.ready
        held = self.needs[after]
        for i in range(min(scan, len(ready))):
            job = ready[i]
            need = self.needs[job]
            if need is held or _within(need, held, self.free_mem is not None):
                del ready[i]
                self.queued.add(job)
                return job
        return None

    def began(self, job: int) -> None:
        """A queued job has started (the job before it has ended and given its resources
        back): it holds its needs now."""
        self.queued.discard(job)
        self.running.add(job)
        self._take(self.needs[job], 1)
        if self.retrying:
            self.retrying.discard(job)

    def unqueue(self, job: int) -> None:
        """A queued job that did not start: back at the front of the ready queue, behind the
        failed jobs waiting there for their retry (a retry starts before anything else)."""
        self.queued.discard(job)
        ready, retrying = self.ready, self.retrying
        if retrying and job not in retrying:
            at = 0  # (the retries are the front of the queue: only they are looked at)
            while at < len(ready) and ready[at] in retrying:
                at += 1
            ready.insert(at, job)
        else:
            ready.appendleft(job)

    def _take(self, need: Need, sign: int) -> None:
        self.free_cores -= sign * need.cores
        if self.free_mem is not None:
            self.free_mem -= sign * need.mem_mb
        self.free_gpus -= sign * need.gpus
        for name, amount in need.custom:
            self.free_custom[name] -= sign * amount
        if need.label is not None:
            self.label_running[need.label] = self.label_running.get(need.label, 0) + sign

    def release(self, job: int) -> None:
        """A job that has ended gives its resources back before it is judged (the run loop
        starts the next ready jobs first); ``finished(job, True, released=True)`` follows."""
        self.running.discard(job)
        self._take(self.needs[job], -1)

    def finished(self, job: int, ok: bool, released: bool = False) -> list[int]:
        """Release the job's resources (unless ``release`` did); returns the jobs skipped
        because it failed."""
        if not released:
            self.running.discard(job)
            self._take(self.needs[job], -1)
        if ok:
            self.done.add(job)
            for dep in self.dependents.get(job, ()):
                left = self.waiting[dep] - 1
                self.waiting[dep] = left
                if left == 0 and dep not in self.skipped:
                    del self.waiting[dep]
                    if self.allowed is None or dep in self.allowed:
                        self.ready.append(dep)
                    else:
                        self.parked.append(dep)
            return []
        self.failed.add(job)
        if not self.keep_going:
            self.stopping = True
        return self._skip_dependents(job)

    def _skip_dependents(self, job: int) -> list[int]:
        """Skip every job that depends on ``job``, transitively; returns them."""
        skipped = []
        stack = list(self.dependents.get(job, ()))
        while stack:
            j = stack.pop()
            if j in self.skipped:
                continue
            self.skipped.add(j)
            skipped.append(j)
            stack.extend(self.dependents.get(j, ()))
        return skipped

    def retry(self, job: int, resources=None) -> None:
        """A running job failed and is to run again: release what it held and put it at the
        front of the ready queue, needing ``resources`` (its next attempt's, which may be
        more: ``mem="4G*{attempt}"``; capped at the pools, so it can still start)."""
        self.running.discard(job)
        self._take(self.needs[job], -1)
        rule = self.graph.rule_of(job)
        if resources is not None and resources is not rule.resources:
            if self.pools.mem_mb is not None and (resources.mem_mb or 0) > self.pools.mem_mb:
                from .recordclass import replace

                resources = replace(resources, mem_mb=self.pools.mem_mb)
            self.needs[job] = self._need(rule, resources)
        self.retrying.add(job)
        self.ready.appendleft(job)

    def not_retried(self, job: int) -> list[int]:
        """A job waiting for its retry (``retry``) that will not get it: the run stops. It has
        failed: it leaves the ready queue (or the queued jobs) and its dependents are skipped,
        as for any failed job; returns them. (It holds nothing: ``retry`` released it.)"""
        self.retrying.discard(job)
        self.running.discard(job)  # (a push executor's: resubmitted, never started)
        if job in self.queued:
            self.queued.discard(job)
        elif job in self.ready:  # (at the front: found at once)
            self.ready.remove(job)
        self.failed.add(job)
        return self._skip_dependents(job)

    def skip(self, job: int) -> list[int]:
        """A job that will not run although it did not fail itself (a cluster ended it because
        an upstream job failed): it and its dependents are skipped. Returns the dependents."""
        self.running.discard(job)
        self.skipped.add(job)
        return self._skip_dependents(job)

    def stop(self) -> None:
        self.stopping = True

    def phase(self, jobs: set[int]) -> None:
        """Start a phase of a run in which only ``jobs`` may start (a cluster run with
        ``local: true`` rules: the local jobs between the cluster's waves, see ``phases``);
        the other jobs that are or become ready wait for their phase. Nothing runs between
        two phases, so the pools are full again."""
        pool = [*self.ready, *self.parked]
        self.ready = deque(j for j in pool if j in jobs)
        self.parked = [j for j in pool if j not in jobs]
        self.allowed = jobs
        self.free_cores = self.pools.cores
        self.free_mem = self.pools.mem_mb
        self.free_gpus = self.pools.gpus
        self.free_custom = dict(self.pools.custom)
        self.label_running = {}

    def finished_all(self) -> bool:
        if self.running or self.queued:
            return False
        if self.stopping:
            return True
        return not self.ready


def _within(need: Need, held: Need, mem: bool = True) -> bool:
    """Whether a job needing ``need`` fits in what a job holding ``held`` gives back (``mem``:
    memory is counted)."""
    if need.cores > held.cores or need.gpus > held.gpus or (mem and need.mem_mb > held.mem_mb):
        return False
    if need.label is not None and need.label != held.label:
        return False
    if need.custom:
        have = dict(held.custom)
        for name, amount in need.custom:
            if amount > have.get(name, 0):
                return False
    return True


def phases(graph: JobGraph, run: list[int]) -> list[tuple[list[int], list[int]]]:
    """A cluster run (SLURM, LSF) of a plan with ``local: true`` jobs, in phases: a list of
    (cluster jobs, local jobs), run in that order, each phase's cluster jobs submitted
    together (their dependencies wired by the scheduler) once everything before them has
    ended, then its local jobs run here. A cluster job goes one phase after the latest local
    job it depends on; a local job goes in the phase of the latest job it depends on. So no
    submitted job waits for a local job, and a local job runs once the cluster jobs it
    reads have ended. The local jobs that need no cluster job (downloads) come first, in a
    phase of their own with no cluster jobs, so that nothing waits for the cluster to run
    them; the cluster jobs that need no local job are in the next phase (the first when there
    is no such local job). ``run`` is in dependency order."""
    rules = graph.workflow.rules
    g_rule, g_deps = graph.rule, graph.deps
    level: dict[int, int] = {}
    local: dict[int, bool] = {}
    for job in run:
        here = rules[g_rule[job]].local
        at = 0 if here else 1  # (phase 0: the local jobs that need no cluster job)
        for d in g_deps[job]:
            lv = level.get(d)
            if lv is not None:
                at = max(at, lv + 1 if local[d] and not here else lv)
        level[job] = at
        local[job] = here
    out: list[tuple[list[int], list[int]]] = [([], []) for _ in range(max(level.values(), default=-1) + 1)]
    for job in run:
        out[level[job]][1 if local[job] else 0].append(job)
    return out[1:] if out and out[0] == ([], []) else out
