"""Jobs -> job arrays with dependencies between arrays. Pure; shared by every backend.

- The jobs of one rule share their resources and scheduler settings, so they become one
  array (split into chunks of at most ``max_size`` tasks: SLURM's MaxArraySize).
- A rule whose jobs depend on jobs of the same rule (directly or through other rules: a
  cycle in the rule graph) is split by depth, so the array graph stays acyclic.
- Task order: dependency order, except that when every job of array B needs exactly one job
  of an array A of the same size, and no two the same one, B's tasks are put in the order of
  A's: then task i of B needs exactly task i of A and B depends on A element-wise
  (``aftercorr`` / LSF ``done(A[*])``) instead of waiting for all of A (``afterok``).
- Only jobs in the bundle (the Plan's ``run`` list) appear; a dependency on a job that need
  not run is no dependency.
- Packing (``settings.pack`` = P > 1, a rule's ``pack:``): task t runs jobs[t*P:(t+1)*P], one
  after another (``width`` at a time when the task has the cores for several), so an array of n jobs has ceil(n / P) tasks and is split into chunks of
  ``max_size`` tasks. B depends on A element-wise when task i of B needs jobs of task i of A
  only (packs that line up: the same values in the same order, e.g. ``fit`` and ``score``
  packed alike, or ``fit[d,*]`` packed by the models of one ``prepare[d]``); else on all of A.
  When every job of a packed B needs exactly one job of A, B's jobs are put in the order of
  their A job, so that packs can line up.
"""

from __future__ import annotations

import heapq
from typing import Callable, Sequence

from .. import ir
from ..dag import JobGraph
from ..recordclass import field, record
from .settings import Settings

AFTERCORR = "aftercorr"  # task i waits for task i of the other array
AFTEROK = "afterok"  # every task waits for all of the other array


@record(frozen=True)
class Dep:
    kind: str  # AFTERCORR | AFTEROK
    array: int  # index of the upstream array


@record
class Array:
    index: int
    name: str  # file-name stem: the rule's name, or <rule>-<k> when the rule has several arrays
    rule: ir.Rule
    jobs: list[int]  # line i of the task table is jobs[i]; task t runs jobs[t*pack:(t+1)*pack]
    settings: Settings
    deps: list[Dep] = field(default_factory=list)
    pack: int = 1  # jobs per task

    def __len__(self) -> int:
        """The number of tasks (the scheduler's array size)."""
        return -(-len(self.jobs) // self.pack)

    def task_jobs(self, t: int) -> list[int]:
        """The jobs task ``t`` runs, in order."""
        return self.jobs[t * self.pack:(t + 1) * self.pack]

    @property
    def width(self) -> int:
        """How many jobs a task runs at once (1 unless packed with more cores per task than
        one job needs: ``settings.width``), never more than a task has."""
        if self.pack == 1:
            return 1
        return max(1, min(self.settings.width, self.pack, len(self.jobs)))

    def task_seconds(self) -> int | None:
        """The run time a task asks for: its jobs' time, ``width`` at a time."""
        s = self.settings.time_s
        if s is None:
            return None
        return s * -(-min(self.pack, len(self.jobs)) // self.width)

    def task_mem_mb(self) -> int | None:
        """The memory a task asks for: that of the jobs it runs at once."""
        m = self.settings.mem_mb
        return m * self.width if m is not None else None


@record
class Layout:
    arrays: list[Array]
    where: dict[int, tuple[int, int]]  # job -> (array index, task index)
    lines: dict[int, int] = field(default_factory=dict)  # job of a packed array -> its line (0-based)

    @property
    def n_tasks(self) -> int:
        return sum(len(a) for a in self.arrays)

    @property
    def packed(self) -> bool:
        return any(a.pack > 1 for a in self.arrays)

    def line_of(self, job: int) -> int:
        """The job's line in its array's task table, from 0 (its task, unless packed)."""
        line = self.lines.get(job)
        return self.where[job][1] if line is None else line

    def upstream_names(self, array: Array, kind: str) -> list[str]:
        return [self.arrays[d.array].name for d in array.deps if d.kind == kind]


def layout(
    graph: JobGraph,
    run: Sequence[int],
    settings_of: Callable[[ir.Rule], Settings],
    max_size: int = 1001,
) -> Layout:
    """Group the jobs in ``run`` (dependencies first) into arrays of at most ``max_size``."""
    if max_size < 1:
        raise ValueError("max_size must be at least 1")
    rules = graph.workflow.rules
    in_bundle = set(run)
    deps_in: dict[int, tuple[int, ...]] = {
        j: tuple(d for d in graph.deps[j] if d in in_bundle) for j in run
    }

    # Rules in a cycle of the rule graph (a self-loop counts) are split by depth.
    edges: dict[int, set[int]] = {}
    for j in run:
        r = graph.rule[j]
        edges.setdefault(r, set())
        for d in deps_in[j]:
            edges.setdefault(graph.rule[d], set()).add(r)
    cyclic = _cyclic_nodes(edges)
    depth: dict[int, int] = {}
    if cyclic:
        for j in run:
            depth[j] = 1 + max((depth[d] for d in deps_in[j]), default=-1)

    groups: dict[tuple[int, int], list[int]] = {}
    for j in run:
        r = graph.rule[j]
        key = (r, depth[j] if r in cyclic else -1)
        groups.setdefault(key, []).append(j)
    group_of = {j: key for key, jobs in groups.items() for j in jobs}

    # Topological order of the groups, ties by (rule position in the Rulefile, depth).
    up: dict[tuple, set[tuple]] = {k: set() for k in groups}
    down: dict[tuple, set[tuple]] = {k: set() for k in groups}
    for j in run:
        for d in deps_in[j]:
            a, b = group_of[d], group_of[j]
            if a != b:
                up[b].add(a)
                down[a].add(b)
    indegree = {k: len(v) for k, v in up.items()}
    heap = [k for k, n in indegree.items() if n == 0]
    heapq.heapify(heap)
    order: list[tuple[int, int]] = []
    while heap:
        k = heapq.heappop(heap)
        order.append(k)
        for nxt in down[k]:
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                heapq.heappush(heap, nxt)
    if len(order) != len(groups):  # cannot happen: groups split by depth break every cycle
        raise AssertionError("cycle among job arrays")

    settings_cache: dict[int, Settings] = {}
    for key in order:
        if key[0] not in settings_cache:
            settings_cache[key[0]] = settings_of(rules[key[0]])
    pack_of: dict[tuple[int, int], int] = {}  # a pack no bigger than the group: 1 job is no pack
    for key in order:
        pack_of[key] = max(1, min(settings_cache[key[0]].pack, len(groups[key])))

    # Align each group with an upstream group when the jobs correspond one to one (or, for a
    # packed group, when each of its jobs needs exactly one job of the upstream group).
    position = {k: i for i, k in enumerate(order)}
    for key in order:
        jobs = groups[key]
        packed = pack_of[key] > 1
        for a_key in sorted(up[key], key=position.__getitem__):
            a_jobs = groups[a_key]
            if len(a_jobs) != len(jobs) and not packed:
                continue
            a_set = set(a_jobs)
            partner: dict[int, int] = {}
            for j in jobs:
                mine = [d for d in deps_in[j] if d in a_set]
                if len(mine) != 1:
                    break
                partner[j] = mine[0]
            else:
                if packed or len(set(partner.values())) == len(jobs):
                    index = {job: i for i, job in enumerate(a_jobs)}
                    jobs.sort(key=lambda j: index[partner[j]])  # stable: many-to-one keeps its order
                    break

    # Chunks, names, settings.
    arrays: list[Array] = []
    where: dict[int, tuple[int, int]] = {}
    per_rule: dict[int, int] = {}
    chunked: list[tuple[tuple[int, int], list[int]]] = []
    for key in order:
        jobs = groups[key]
        step = max_size * pack_of[key]  # jobs per chunk
        for start in range(0, len(jobs), step):
            chunked.append((key, jobs[start : start + step]))
            per_rule[key[0]] = per_rule.get(key[0], 0) + 1
    counter: dict[int, int] = {}
    lines: dict[int, int] = {}
    for key, jobs in chunked:
        r = key[0]
        rule = rules[r]
        if per_rule[r] > 1:
            counter[r] = counter.get(r, 0) + 1
            name = f"{rule.name}-{counter[r]}"
        else:
            name = rule.name
        settings = settings_cache[r]
        array = Array(len(arrays), name, rule, jobs, settings, pack=pack_of[key])
        if array.pack == 1:
            for t, j in enumerate(jobs):
                where[j] = (array.index, t)
        else:
            pack = array.pack
            for i, j in enumerate(jobs):
                where[j] = (array.index, i // pack)
                lines[j] = i
        arrays.append(array)

    # Dependencies between arrays.
    for array in arrays:
        tasks_in: dict[int, list[set[int]]] = {}
        n = len(array)
        pack = array.pack
        for i, j in enumerate(array.jobs):
            t = i // pack
            for d in deps_in[j]:
                ua, ut = where[d]
                if ua == array.index:  # pragma: no cover - excluded by construction
                    raise AssertionError("a task depends on a task of its own array")
                per_task = tasks_in.get(ua)
                if per_task is None:
                    per_task = tasks_in[ua] = [set() for _ in range(n)]
                per_task[t].add(ut)
        for ua in sorted(tasks_in):
            per_task = tasks_in[ua]
            corr = len(arrays[ua]) == n and all(len(ts) == 1 and t in ts for t, ts in enumerate(per_task))
            array.deps.append(Dep(AFTERCORR if corr else AFTEROK, ua))
    return Layout(arrays, where, lines)


def _cyclic_nodes(edges: dict[int, set[int]]) -> set[int]:
    """Nodes on a cycle (self-loops included): Tarjan's strongly connected components."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    out: set[int] = set()
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(edges.get(nxt, ())))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    x = stack.pop()
                    on_stack.discard(x)
                    component.append(x)
                    if x == node:
                        break
                if len(component) > 1 or node in edges.get(node, ()):
                    out.update(component)
    return out
