"""resolve(workflow, targets) -> JobGraph: backward chaining from target paths. Pure.

Jobs get dense int ids (their index in the graph's columns) and a readable id
``rule[value,value]``. The graph is kept as columns of compact tuples so that 100k+ jobs
stay cheap to build and to walk.
"""

from __future__ import annotations

import os
import re
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Iterable, Sequence

from . import ir
from . import pattern as pat
from .errors import ResolveError
from .gcpause import paused
from .recordclass import record

intern = sys.intern


@record(frozen=True, slots=True)
class RulePlan:
    """Per rule, what resolving needs, compiled once: formatters and matchers."""

    rule: ir.Rule
    outputs: tuple[Callable, ...]
    logs: tuple[Callable, ...]
    inputs: tuple[tuple[Callable, object], ...]  # (formatter, combos or None)
    input_slices: tuple[tuple[str | None, int, int], ...]  # per entry: name, start, end (same for all jobs)
    matchers: tuple[pat.Matcher, ...]
    # A rule whose inputs use a list field ("{sample.files}": one path per item) has a number
    # of inputs that depends on the job: then ``paths(values)`` gives a job's inputs and
    # ``slices(values)`` its entries' (name, start, end); ``input_slices`` does not hold.
    paths: Callable[[tuple[str, ...]], list[str]] | None = None
    slices: Callable[[tuple[str, ...]], tuple[tuple[str | None, int, int], ...]] | None = None
    ancient: frozenset[int] = frozenset()  # flattened input positions written ancient(...)


class JobGraph:
    """The jobs needed for some targets, as columns indexed by dense job ids."""

    def __init__(self, workflow: ir.Workflow, plans: Sequence[RulePlan]):
        self.workflow = workflow
        self.plans = plans
        self.rule: list[int] = []
        self.values: list[tuple[str, ...]] = []
        self.outputs: list[tuple[str, ...]] = []  # outputs, then logs
        self.n_outputs: list[int] = []  # how many of ``outputs`` are declared outputs (the rest are logs)
        self.inputs: list[tuple[str, ...]] = []
        self.deps: list[tuple[int, ...]] = []
        self._producer: dict[str, int] | None = {}  # None: made from ``outputs`` on first use
        self.targets: list[int] = []
        self.order: list[int] = []  # topological: dependencies first
        self.sources: dict[str, int] = {}  # input path no job makes -> first job needing it
        self._key: dict[tuple[int, tuple[str, ...]], int] | None = {}  # None: made on first use
        self._directories: frozenset[str] | None = None  # see directories(), once resolved
        self._rule_edges: set[tuple[int, int]] | None = None  # see rule_edges(), once resolved

    def __len__(self) -> int:
        return len(self.rule)

    @property
    def producer(self) -> dict[str, int]:
        """path -> the job that makes it (outputs and logs)."""
        made = self._producer
        if made is None:
            made = self._producer = {path: job for job, outs in enumerate(self.outputs) for path in outs}
        return made

    @producer.setter
    def producer(self, value: dict[str, int]) -> None:
        self._producer = value

    def rule_edges(self) -> set[tuple[int, int]]:
        """(rule, rule it needs) for every dependency of a job on another's, at C speed."""
        if self._rule_edges is not None:
            return self._rule_edges
        from itertools import chain, repeat

        rule, deps = self.rule, self.deps
        flat = getattr(deps, "flat", None)  # a lazy column (graphs.Rows): its arrays as they are
        if flat is not None:
            lengths, items = deps.lengths(), flat
        else:
            lengths, items = map(len, deps), chain.from_iterable(deps)
        owners = chain.from_iterable(map(repeat, rule, lengths))
        self._rule_edges = set(zip(owners, map(rule.__getitem__, items)))
        return self._rule_edges

    def rule_of(self, job: int) -> ir.Rule:
        return self.workflow.rules[self.rule[job]]

    def job_id(self, job: int) -> str:
        rule = self.workflow.rules[self.rule[job]]
        values = self.values[job]
        return f"{rule.name}[{','.join(values)}]" if values else rule.name

    def find(self, rule_index: int, values: tuple[str, ...]) -> int | None:
        if self._key is None:
            self._key = dict(zip(zip(self.rule, self.values), range(len(self.rule))))
        return self._key.get((rule_index, values))

    def declared_outputs(self, job: int) -> tuple[str, ...]:
        return self.outputs[job][: self.n_outputs[job]]

    def logs(self, job: int) -> tuple[str, ...]:
        """The job's logs: its outputs after the declared ones, less its benchmark (the last)."""
        outs = self.outputs[job]
        if self.workflow.rules[self.rule[job]].benchmark is not None:
            return outs[self.n_outputs[job] : -1]
        return outs[self.n_outputs[job] :]

    def benchmark(self, job: int) -> str | None:
        """The job's benchmark file (``benchmark:``), or None."""
        if self.workflow.rules[self.rule[job]].benchmark is None:
            return None
        return self.outputs[job][-1]

    def ancient(self, job: int) -> frozenset[int]:
        """The positions in ``inputs[job]`` of the inputs written ``ancient(...)``."""
        return self.plans[self.rule[job]].ancient

    def directories(self) -> frozenset[str]:
        """The paths that are folders to sign as trees: outputs written ``directory(...)``, and
        inputs written so. Empty, at the cost of a look at each rule, for a workflow without."""
        if self._directories is not None:
            return self._directories
        wanted: dict[int, tuple[tuple[int, ...], tuple[tuple[int, int], ...]]] = {}
        for plan in self.plans:
            rule = plan.rule
            outs = tuple(i for i, spec in enumerate(rule.outputs) if "directory" in spec.flags)
            ins = tuple((a, b) for spec, (_, a, b) in zip(rule.inputs, plan.input_slices) if "directory" in spec.flags)
            if outs or ins:
                wanted[rule.index] = (outs, ins)
        found: set[str] = set()
        if wanted:
            for job, r in enumerate(self.rule):
                places = wanted.get(r)
                if places is None:
                    continue
                outs, ins = places
                found.update(self.outputs[job][i] for i in outs)
                for a, b in ins:
                    found.update(self.inputs[job][a:b])
        self._directories = frozenset(found)
        return self._directories

    def input_entries(self, job: int) -> list[tuple[str | None, tuple[str, ...]]]:
        paths = self.inputs[job]
        plan = self.plans[self.rule[job]]
        slices = plan.slices(self.values[job]) if plan.slices is not None else plan.input_slices
        return [(name, paths[a:b]) for name, a, b in slices]

    def dependents(self) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in self.rule]
        for job, deps in enumerate(self.deps):
            for dep in deps:
                out[dep].append(job)
        return out

    def subgraph_of(self, keep: Iterable[int]) -> "JobGraph":
        """The jobs in ``keep`` and everything they need, with new dense ids."""
        wanted: set[int] = set()
        stack = list(keep)
        while stack:
            job = stack.pop()
            if job in wanted:
                continue
            wanted.add(job)
            stack.extend(self.deps[job])
        new = JobGraph(self.workflow, self.plans)
        remap: dict[int, int] = {}
        for job in self.order:
            if job not in wanted:
                continue
            nid = len(new.rule)
            remap[job] = nid
            new.rule.append(self.rule[job])
            new.values.append(self.values[job])
            new.outputs.append(self.outputs[job])
            new.n_outputs.append(self.n_outputs[job])
            new.inputs.append(self.inputs[job])
            new.deps.append(tuple(remap[d] for d in self.deps[job]))
            new.order.append(nid)
            new._key[(self.rule[job], self.values[job])] = nid
            for path in self.outputs[job]:
                new.producer[path] = nid
        new.targets = [remap[j] for j in keep if j in remap]
        for path, job in self.sources.items():
            if job in remap:
                new.sources[path] = remap[job]
        for job in new.order:
            for path in new.inputs[job]:
                if path not in new.producer and path not in new.sources:
                    new.sources[path] = job
        return new


def compile_rules(workflow: ir.Workflow) -> list[RulePlan]:
    fields = ir.FieldColumns(workflow.dimensions)
    dims = workflow.dimensions
    plans = []
    for rule in workflow.rules:
        order = rule.wildcards
        regex = pat.Regexes(rule.wildcard_regex, dims)
        outputs = tuple(pat.formatter(s.pattern, order, fields) for s in rule.outputs)
        # the benchmark goes last, after the logs (JobGraph.logs and .benchmark know it)
        logs = tuple(pat.formatter(s.pattern, order, fields) for s in rule.products[len(rule.outputs):])
        matchers = tuple(pat.Matcher(s.pattern, regex, order) for s in rule.products)
        if any(_list_slots(spec.pattern, dims) for spec in rule.inputs):
            plans.append(_variable_plan(rule, outputs, logs, matchers, fields, dims))
            continue
        inputs = []
        slices = []
        ancient: list[int] = []
        at = 0
        for spec in rule.inputs:
            if "ancient" in spec.flags:
                ancient.extend(range(at, at + (1 if spec.kind == "one" else len(spec.combos))))
            if spec.kind == "one":
                inputs.append((pat.formatter(spec.pattern, order, fields), None))
                slices.append((spec.name, at, at + 1))
                at += 1
            else:
                fmt = pat.formatter(spec.pattern, order + spec.expanded, fields)
                inputs.append((fmt, spec.combos))
                slices.append((spec.name, at, at + len(spec.combos)))
                at += len(spec.combos)
        plans.append(RulePlan(rule, outputs, logs, tuple(inputs), tuple(slices), matchers, ancient=frozenset(ancient)))
    return plans


def _list_slots(pattern: pat.Pattern, dims) -> list[tuple[str, str]]:
    """The (dimension, field) pairs of a pattern's list fields, each once, in order."""
    out = []
    for s in pattern.slots:
        if s.field is not None:
            dim = dims.get(s.name)
            if dim is not None and s.field in dim.list_fields and (s.name, s.field) not in out:
                out.append((s.name, s.field))
    return out


def _many(pattern: pat.Pattern, order: tuple[str, ...], fields, dims) -> Callable[[tuple[str, ...]], list[str]]:
    """``values -> paths``: the pattern once per item of its list fields (their product, when
    it has several; one list field used twice takes the same item at both places)."""
    import itertools

    keys = _list_slots(pattern, dims)
    if not keys:
        fmt = pat.formatter(pattern, order, fields)
        return lambda values: [fmt(values)]
    # Each list field becomes a wildcard of its own, given after the job's values.
    names = {key: f"\0{k}" for k, key in enumerate(keys)}
    parts = tuple(pat.Slot(names[(p.name, p.field)], None, None, p.offset, p.length)
                  if not isinstance(p, str) and (p.name, p.field) in names else p for p in pattern.parts)
    fmt = pat.formatter(pat.Pattern(pattern.text, parts, pattern.wildcards), order + tuple(names.values()), fields)
    columns = [(order.index(dim), fields[(dim, f)]) for dim, f in keys]
    if len(columns) == 1:
        (at, column), = columns
        return lambda values: [fmt((*values, item)) for item in column[values[at]]]
    return lambda values: [fmt(values + combo) for combo in itertools.product(*(column[values[at]] for at, column in columns))]


def _variable_plan(rule: ir.Rule, outputs, logs, matchers, fields, dims) -> RulePlan:
    """The plan of a rule with a list field in its inputs: each job's number of inputs is its own."""
    entries = []  # (name, fn(values) -> paths)
    for spec in rule.inputs:
        if "ancient" in spec.flags:  # its positions would differ from job to job
            from .errors import RulecError

            raise RulecError(f"rule {rule.name}: ancient() in a rule whose inputs use a list field is not supported yet",
                             spec.span, hint="give the ancient input to a rule of its own, or write the list's paths out")
        if spec.kind == "one":
            entries.append((spec.name, _many(spec.pattern, rule.wildcards, fields, dims)))
        else:
            many = _many(spec.pattern, rule.wildcards + spec.expanded, fields, dims)
            entries.append((spec.name, lambda values, many=many, combos=spec.combos:
                            [p for combo in combos for p in many(values + combo)]))

    def paths(values: tuple[str, ...]) -> list[str]:
        out: list[str] = []
        for _, fn in entries:
            out.extend(fn(values))
        return out

    def slices(values: tuple[str, ...]) -> tuple[tuple[str | None, int, int], ...]:
        out, at = [], 0
        for name, fn in entries:
            n = len(fn(values))
            out.append((name, at, at + n))
            at += n
        return tuple(out)

    # ``inputs``/``input_slices`` say one entry each, as a job without list items would have.
    return RulePlan(rule, outputs, logs, tuple((fn, None) for _, fn in entries),
                    tuple((name, k, k + 1) for k, (name, _) in enumerate(entries)), matchers, paths=paths, slices=slices)


def _input_paths(plan: RulePlan, values: tuple[str, ...]) -> list[str]:
    if plan.paths is not None:
        return plan.paths(values)
    paths: list[str] = []
    for fmt, expand in plan.inputs:
        if expand is None:
            paths.append(fmt(values))
            continue
        # the formatter takes the job's values followed by one combination of the expanded ones
        paths.extend([fmt(values + combo) for combo in expand])
    return paths


class _Index:
    """Which rules can make a path: prefix/suffix filters, then the rule's regex."""

    def __init__(self, workflow: ir.Workflow, plans: Sequence[RulePlan]):
        self.workflow = workflow
        self.entries = []
        for plan in plans:
            rule = plan.rule
            for spec, matcher in zip(rule.products, plan.matchers):
                p = spec.pattern
                self.entries.append((p.prefix(), p.suffix(), p.constant, matcher, rule))
        self.constant: dict[str, list[ir.Rule]] = {}
        for pre, suf, const, matcher, rule in self.entries:
            if const:
                self.constant.setdefault(pre, []).append(rule)
        self.patterned = [e for e in self.entries if not e[2]]
        self.affixes = pat.AffixIndex((e[0], e[1]) for e in self.patterned)
        # per patterned entry, the positions of the rule's free (not dimension) wildcards
        dims = workflow.dimensions
        self.free = [tuple(k for k, w in enumerate(e[4].wildcards) if w not in dims) for e in self.patterned]

    def candidates(self, path: str) -> list[tuple[ir.Rule, tuple[str, ...]]]:
        found = [(rule, ()) for rule in self.constant.get(path, ())]
        for i in self.affixes.matching(path):  # prefix starts the path, suffix ends it
            _, _, _, matcher, rule = self.patterned[i]
            values = matcher.match(path)
            if values is not None:
                free = self.free[i]
                # A free wildcard never takes a value that leaves the working folder
                # ('..' as a path segment, a leading '/'): only paths written as such in
                # the Rulefile, and dimension values allowed to, do.
                if free and any(pat.escapes(values[k]) for k in free):
                    continue
                found.append((rule, values))
        return found

    def escaping(self, path: str) -> tuple[ir.Rule, str, str] | None:
        """A rule that would make ``path`` through a free wildcard value that leaves the
        working folder: (rule, wildcard, value). For messages only."""
        for i in self.affixes.matching(path):
            _, _, _, matcher, rule = self.patterned[i]
            values = matcher.match(path)
            if values is not None:
                for k in self.free[i]:
                    if pat.escapes(values[k]):
                        return rule, rule.wildcards[k], values[k]
        return None


def _links(workflow: ir.Workflow, plans: Sequence[RulePlan]) -> list[list | None]:
    """Per rule and flattened input position: (producer rule, positions, combo) when the
    input's pattern is, letter for letter, one rule's output pattern and no other rule can
    make any of its paths. Then the producer job follows from the values directly: no regex
    matching (the common datasets x models case)."""
    by_text: dict[str, list[tuple[ir.Rule, ir.PathSpec]]] = {}
    makers_all: list[tuple[ir.Rule, ir.PathSpec]] = []
    for rule in workflow.rules:
        for spec in rule.products:
            by_text.setdefault(spec.pattern.text, []).append((rule, spec))
            makers_all.append((rule, spec))
    affixes = pat.AffixIndex((spec.pattern.prefix(), spec.pattern.suffix()) for _, spec in makers_all)
    dims = workflow.dimensions
    choices = {name: dim.values for name, dim in dims.items()}
    safe: dict[tuple[str, str], bool] = {}

    def default_regex(rule: ir.Rule, w: str) -> bool:
        # A dimension wildcard cannot carry a constraint (the analyzer refuses it).
        return w in dims or dict(rule.wildcard_regex).get(w) == pat.FREE

    def only_maker(text: str, producer: ir.Rule, pattern: pat.Pattern) -> bool:
        key = (text, producer.name)
        if key not in safe:
            ok = True
            # only the outputs whose literal prefix and suffix fit ours (not every rule's)
            for i in affixes.related(pattern.prefix(), pattern.suffix()):
                rule, spec = makers_all[i]
                if rule is producer:
                    continue
                if pat.overlap(pattern, spec.pattern, choices, lambda s: True) is not None:
                    ok = False
                    break
            safe[key] = ok
        return safe[key]

    out: list[list | None] = []
    for plan in plans:
        rule = plan.rule
        if plan.paths is not None:  # a job's input positions are its own: no links
            out.append(None)
            continue
        links: list = []
        any_link = False
        for spec, (_, combos) in zip(rule.inputs, plan.inputs):
            makers = by_text.get(spec.pattern.text, ())
            link = None
            if len(makers) == 1 and not any(s.field for s in spec.pattern.slots):
                producer, ospec = makers[0]
                full = rule.wildcards + spec.expanded
                if (set(ospec.pattern.wildcards) == set(producer.wildcards)
                        and all(default_regex(producer, w) for w in producer.wildcards)
                        and all(w in dims or default_regex(rule, w) for w in rule.wildcards if w in producer.wildcards)
                        and all(w in dims for w in spec.expanded)
                        and only_maker(spec.pattern.text, producer, spec.pattern)):
                    link = (producer, tuple(full.index(w) for w in producer.wildcards))
            if spec.kind == "one":
                links.append((link[0], link[1], ()) if link else None)
            else:
                links.extend([(link[0], link[1], combo) for combo in combos] if link else [None] * len(combos))
            any_link = any_link or link is not None
        out.append(links if any_link else None)
    return out


@paused
def resolve(
    workflow: ir.Workflow,
    targets: Sequence[str] = (),
    exists: Callable[[str], bool] | None = None,
    plans: Sequence[RulePlan] | None = None,
) -> JobGraph:
    """The jobs needed to make ``targets`` (paths, rule names or job ids; default: the
    workflow's default target). ``exists`` tells whether a path is on disk, used only to
    break a cycle at a file that already exists (as make does)."""
    plans = plans if plans is not None else compile_rules(workflow)
    exists = exists or (lambda p: os.path.exists(os.path.join(workflow.workdir, p)))
    cut: set[tuple[tuple[int, tuple[str, ...]], str]] = set()
    forced: set[str] = set()
    # No cycle (the usual case): expand jobs in id order, then one post-order walk. A cycle
    # goes to the careful walk, which decides what to do with it.
    fast = True
    while True:
        try:
            return _resolve(workflow, targets, exists, plans, cut, forced, fast=fast)
        except _SlowPath:
            fast = False
        except _CutCycle as again:
            cut.add(again.edge)  # resolve again, with that existing file taken as a source
        except _Sources as again:
            forced |= again.paths  # existing files whose makers need an endless chain


class _SlowPath(Exception):
    """The fast walk met a cycle: the careful walk decides what to do with it."""


class _CutCycle(Exception):
    def __init__(self, edge):
        self.edge = edge


class _Sources(Exception):
    """Existing files that only an endless chain of jobs could make: resolve again with
    them taken as sources."""

    def __init__(self, paths: set[str]):
        self.paths = paths


# A rule with a free wildcard can need a longer path of its own making ({f} <- {f}.gz):
# backward chaining through it must end. A job whose values contain, and are longer than,
# those of a job of the same rule further up its chain "grows" from it. An existing file
# ends such a chain (a source, as make takes it); through a missing one the chain goes on
# (data.csv.gz.gz may exist) up to GROW_DEPTH steps, and at most GROW_BUDGET jobs in all
# two or more steps deep (a rule with many such inputs); then the chain is endless.
GROW_DEPTH = 8
GROW_BUDGET = 1000
LONGEST_PATH = 4096  # PATH_MAX: no file has a longer name, whatever the chain


def _resolve(workflow, targets, exists, plans, cut, forced=frozenset(), fast: bool = False) -> JobGraph:
    graph = JobGraph(workflow, plans)
    index = _Index(workflow, plans)
    links = _links(workflow, plans)
    rules_by_name = {r.name: r for r in workflow.rules}
    if not targets:
        if workflow.default_target is None:
            raise ResolveError(f"{workflow.file} has no rules")
        targets = [workflow.default_target]

    state: list[int] = []  # 0 = on the stack, 1 = done
    producer = graph.producer
    key_of = graph._key
    g_rule, g_values, g_outputs, g_nout, g_inputs, g_deps = (
        graph.rule, graph.values, graph.outputs, graph.n_outputs, graph.inputs, graph.deps,
    )
    chain_of: dict[int, int] = {}  # job -> the job that first needed it (for messages)

    def new_job(rule: ir.Rule, values: tuple[str, ...], parent: int | None) -> int:
        key = (rule.index, values)
        job = key_of.get(key)
        if job is not None:
            return job
        plan = plans[rule.index]
        job = len(g_rule)
        key_of[key] = job
        outs = [f(values) for f in plan.outputs]
        n_out = len(outs)
        outs.extend(f(values) for f in plan.logs)
        for path in outs:
            other = producer.get(path)
            if other is not None and other != job:
                raise ResolveError(
                    f"two jobs make the same path {path!r}: {graph.job_id(other)} and "
                    f"{rule.name}[{','.join(values)}]" + _chain(graph, chain_of, parent),
                    rule.span,
                )
            producer[path] = job
        g_rule.append(rule.index)
        g_values.append(values)
        g_outputs.append(tuple(outs))
        g_nout.append(n_out)
        g_inputs.append(tuple(_input_paths(plan, values)))
        g_deps.append(())
        state.append(0)
        if parent is not None:
            chain_of[job] = parent
        return job

    dims = workflow.dimensions
    grows = [any(w not in dims for w in r.wildcards) for r in workflow.rules]
    grown: dict[int, tuple[int, int]] = {}  # job -> (steps it grew, the job the growth started at)
    deep = [0]  # jobs two or more steps grown
    found_sources: set[str] = set()
    root_path: dict[int, str] = {}  # target jobs found from a path: that path
    via: dict[int, str] = {}  # jobs of rules with free wildcards: the path they were needed as

    def grown_from(ri: int, values: tuple[str, ...], parent: int) -> int | None:
        """The nearest job of rule ``ri`` up the chain whose values ``values`` grow from."""
        j: int | None = parent
        while j is not None:
            if g_rule[j] == ri:
                old = g_values[j]
                if old != values and all(a in b for a, b in zip(old, values)):
                    return j
            j = chain_of.get(j)
        return None

    def producer_of(path: str, parent: int | None) -> int | None:
        job = producer.get(path)
        if job is not None:
            return job
        if forced and path in forced:
            return None
        found = index.candidates(path)
        if not found:
            return None
        if len(found) > 1:
            best = [found[0]]
            for cand in found[1:]:
                if workflow.beats(cand[0], best[0][0]):
                    best = [cand]
                elif not workflow.beats(best[0][0], cand[0]):
                    best.append(cand)
            if len(best) > 1:
                names = sorted({r.name for r, _ in best})
                raise ResolveError(
                    f"ambiguous: rules {', '.join(repr(n) for n in names)} can all make {path!r}"
                    + _chain(graph, chain_of, parent),
                    best[1][0].span,
                    hint=f"settle it with  ruleorder: {names[0]} > {names[1]}",
                )
            found = best
        rule, values = found[0]
        if parent is None:
            job = new_job(rule, values, None)
            root_path.setdefault(job, path)
            return job
        if grows[rule.index] and (rule.index, values) not in key_of:
            origin = grown_from(rule.index, values, parent)
            if origin is not None or len(path) > LONGEST_PATH:
                if exists(path):
                    return None  # an existing file ends the chain: a source
                steps, start = grown.get(origin, (0, origin)) if origin is not None else (GROW_DEPTH, parent)
                steps += 1
                if steps > 1:
                    deep[0] += 1
                if steps > GROW_DEPTH or deep[0] > GROW_BUDGET or len(path) > LONGEST_PATH:
                    return endless(start, parent, path)
                job = new_job(rule, values, parent)
                grown[job] = (steps, start)
            else:
                job = new_job(rule, values, parent)
            via[job] = path
            return job
        return new_job(rule, values, parent)

    def needed_as(job: int) -> str:
        """The path through which ``job`` was first needed (for messages)."""
        path = via.get(job) or root_path.get(job)
        if path is None:
            above = chain_of.get(job)
            path = next((p for p in g_inputs[above] if producer.get(p) == job), None) if above is not None else None
        return path or g_outputs[job][0]

    def endless(start: int, parent: int, path: str) -> None:
        """No file ends the chain from job ``start`` down to ``parent``, which needs ``path``:
        the deepest existing file on it is a source (found later, resolving again), or it
        is an error."""
        chain = [parent]
        while chain[-1] != start and chain[-1] in chain_of:
            chain.append(chain_of[chain[-1]])
        # up to the first job of the rules that take turns on it ({f}.a <- {f}.a.b <- ...)
        turns = {g_rule[j] for j in chain}
        while chain[-1] in chain_of and g_rule[chain_of[chain[-1]]] in turns:
            chain.append(chain_of[chain[-1]])
        start = chain[-1]
        chain.reverse()  # start ... parent
        above = chain_of.get(start)
        made = needed_as(start)
        steps: list[tuple[int | None, str]] = [(above, made)]  # (the job needing it, path)
        for j, k in zip(chain, chain[1:]):
            steps.append((j, needed_as(k)))
        steps.append((parent, path))
        for needer, p in reversed(steps):
            if needer is not None and exists(p):
                found_sources.add(p)
                return None
        names: list[str] = []
        for j in chain:
            name = workflow.rules[g_rule[j]].name
            if name not in names:
                names.append(name)
        needed = [p for _, p in steps[1:]]
        shown = ", ".join(repr(p) for p in needed[:3])
        who = f"rule {names[0]}" if len(names) == 1 else "rules " + ", ".join(names)
        if above is None and exists(made):
            head = f"{made!r} exists, and no rule can make it: "
            hint = "an existing file that no rule makes needs no job: name a target that uses it"
        else:
            head = f"no rule or file makes {made!r}: "
            its = "its output pattern" if len(names) == 1 else "their output patterns"
            hint = (f"put {needed[0]!r} in place, or constrain the wildcard of {who} so that "
                    f"{its} cannot match the paths {'it reads' if len(names) == 1 else 'they read'}")
        raise ResolveError(
            head + f"{who} would need {shown}, …, an endless chain (no file along it exists)"
            + _chain(graph, chain_of, above),
            workflow.rules[g_rule[start]].span,
            hint=hint,
        )

    def make_input(job: int, i: int, path: str) -> int | None:
        """The job for input ``i`` of ``job``, a path no job makes yet (or None: a source)."""
        link = links[g_rule[job]]
        link = link[i] if link is not None else None
        if link is not None:  # exactly one rule's output pattern: the values say which job
            maker, positions, combo = link
            full = g_values[job] + combo if combo else g_values[job]
            return new_job(maker, tuple([full[k] for k in positions]), job)
        return producer_of(path, job)

    if forced:
        linked = make_input

        def make_input(job: int, i: int, path: str) -> int | None:  # noqa: F811 - the slower variant
            if path in forced:
                return None
            return linked(job, i, path)

    roots: list[int] = []
    for target in targets:
        roots.extend(_target_jobs(workflow, graph, target, rules_by_name, new_job, producer_of, index))

    if fast:
        _expand_all(graph, make_input)
        if found_sources:
            raise _Sources(found_sources)
        graph.order = _post_order(g_deps, roots)
        graph.targets = roots
        return graph

    # Iterative depth-first walk: a job is finished once all its inputs are resolved.
    for root in roots:
        if state[root] == 1:
            continue
        stack: list[tuple[int, int]] = [(root, 0)]
        on_path: set[int] = {root}
        while stack:
            job, i = stack[-1]
            paths = g_inputs[job]
            if i == 0 and state[job] == 1:
                stack.pop()
                on_path.discard(job)
                continue
            if i < len(paths):
                stack[-1] = (job, i + 1)
                path = paths[i]
                if cut and ((g_rule[job], g_values[job]), path) in cut:
                    if path not in graph.sources:
                        graph.sources[path] = job
                    continue
                dep = producer.get(path)
                if dep is None:
                    dep = make_input(job, i, path)
                if dep is None:
                    if path not in graph.sources:
                        graph.sources[path] = job
                    continue
                if dep == job or dep in on_path:
                    if exists(path):
                        # make's rule: an existing file that could be made only through a
                        # cycle is taken as a source.
                        if path not in graph.sources:
                            graph.sources[path] = job
                        continue
                    start = [j for j, _ in stack].index(dep)
                    # an existing file further back on the cycle: rule out its maker there
                    for j, k in reversed(stack[start:-1]):
                        if exists(g_inputs[j][k - 1]):
                            raise _CutCycle(((g_rule[j], g_values[j]), g_inputs[j][k - 1]))
                    cycle = [j for j, _ in stack[start:]] + [dep]
                    raise ResolveError(
                        "cycle: " + " -> ".join(graph.job_id(j) for j in cycle)
                        + f" (through {path!r})",
                        graph.rule_of(dep).span,
                    )
                if state[dep] == 0:
                    on_path.add(dep)
                    stack.append((dep, 0))
                continue
            # all inputs resolved
            deps = []
            seen = set()
            for path in paths:
                dep = producer.get(path)
                if dep is not None and dep != job and dep not in seen and path not in graph.sources:
                    seen.add(dep)
                    deps.append(dep)
            g_deps[job] = tuple(deps)
            state[job] = 1
            graph.order.append(job)
            stack.pop()
            on_path.discard(job)
    if found_sources:
        raise _Sources(found_sources)
    graph.targets = roots
    return graph


def _expand_all(graph: JobGraph, make_input) -> None:
    """Find every job's dependencies, in job id order; new jobs get the next ids, so one
    sweep reaches them all."""
    producer = graph.producer
    sources = graph.sources
    g_rule, g_inputs, g_deps = graph.rule, graph.inputs, graph.deps
    job = 0
    while job < len(g_rule):
        paths = g_inputs[job]
        deps: list[int] = []
        seen: set[int] = set()
        for i, path in enumerate(paths):
            dep = producer.get(path)
            if dep is None:
                dep = make_input(job, i, path)
                if dep is None:
                    if path not in sources:
                        sources[path] = job
                    continue
            if dep == job:
                raise _SlowPath()
            if dep not in seen:
                seen.add(dep)
                deps.append(dep)
        g_deps[job] = tuple(deps)
        job += 1


def _post_order(deps: list[tuple[int, ...]], roots: list[int]) -> list[int]:
    """Dependencies first, each job after the jobs it needs; raises _SlowPath on a cycle."""
    color = bytearray(len(deps))  # 0 new, 1 on the path, 2 done
    order: list[int] = []
    for root in roots:
        if color[root]:
            continue
        color[root] = 1
        stack = [(root, iter(deps[root]))]
        while stack:
            job, it = stack[-1]
            for d in it:
                c = color[d]
                if c == 0:
                    color[d] = 1
                    stack.append((d, iter(deps[d])))
                    break
                if c == 1:
                    raise _SlowPath()
            else:
                color[job] = 2
                order.append(job)
                stack.pop()
    return order


def _chain(graph: JobGraph, chain_of: dict[int, int], job: int | None) -> str:
    if job is None:
        return ""
    names = [graph.job_id(job)]
    seen = {job}
    while job in chain_of and len(names) < 12:
        job = chain_of[job]
        if job in seen:
            break
        seen.add(job)
        names.append(graph.job_id(job))
    return "\n  needed by: " + " <- ".join(names)


def job_values(workflow, rule, text: str, what: str) -> tuple[str, ...]:
    """The values of a job id ``RULE[text]`` of ``rule``, each checked against its wildcard (a
    dimension's values, a free wildcard's regex, never a path outside the working folder);
    else a ResolveError that starts with ``what`` (``job id 'fit[x]'``, ``--force 'fit[x]'``)."""
    import difflib

    values = _split_job_values(workflow, rule, text)
    name = rule.name
    if len(values) != len(rule.wildcards):
        raise ResolveError(
            f"{what}: rule {name} has {len(rule.wildcards)} wildcard(s) "
            f"({', '.join(rule.wildcards) or 'none'}), {len(values)} value(s) given"
        )
    regex = pat.Regexes(rule.wildcard_regex, workflow.dimensions)
    for w, v in zip(rule.wildcards, values):
        dim = workflow.dimensions.get(w)
        if dim is not None:
            if v not in dim.table:
                close = difflib.get_close_matches(v, list(dim.values), n=1)
                raise ResolveError(f"{what}: '{v}' is not a value of dimension {w}"
                                   + (f" (did you mean '{close[0]}'?)" if close else ""))
            continue
        if pat.escapes(v):
            raise ResolveError(
                f"{what}: the value {v!r} of the free wildcard {{{w}}} would put the "
                f"outputs of rule {name} outside the working folder ('..' or a leading '/')",
                rule.span,
            )
        if not re.fullmatch(regex.get(w, pat.FREE), v, re.DOTALL):
            raise ResolveError(
                f"{what}: {v!r} does not match the wildcard {{{w},{regex.get(w, pat.FREE)}}} of rule {name}",
                rule.span,
            )
    return values


def _target_jobs(workflow, graph, target, rules_by_name, new_job, producer_of, index=None) -> list[int]:
    rule = rules_by_name.get(target)
    if rule is not None:
        return [new_job(rule, values, None) for values in rule_values(workflow, rule)]
    if "[" in target and target.endswith("]"):
        name, _, rest = target.partition("[")
        rule = rules_by_name.get(name)
        if rule is not None:
            return [new_job(rule, job_values(workflow, rule, rest[:-1], f"job id {target!r}"), None)]
    path = target
    remote = "://" in path
    if os.path.isabs(path):
        rel = os.path.relpath(path, workflow.workdir)
        # inside the working folder: the relative path the Rulefile names it by
        path = rel if rel != ".." and not rel.startswith("../") else path
    path = os.path.normpath(path).replace(os.sep, "/") if not remote else path
    job = producer_of(path, None)
    if job is None:
        if not remote and (path == ".." or path.startswith(("../", "/"))):
            found = index.escaping(path) if index is not None else None
            if found is not None:
                rule, w, v = found
                raise ResolveError(
                    f"{target!r} is outside the working folder ({workflow.workdir}): rule {rule.name} "
                    f"would make it with {{{w}}} = {v!r}, and a free wildcard never takes a value "
                    "that leaves the working folder",
                    rule.span,
                    hint="name the path itself as an output of a rule, or run in a folder that holds it (rulec -d DIR)",
                )
        raise ResolveError(
            f"no rule makes {target!r} and it is not a rule name or job id"
            + _suggest_target(target, rules_by_name)
        )
    return [job]


def _split_job_values(workflow, rule, text: str) -> tuple[str, ...]:
    """The values of a job id's ``[...]`` part. Values may hold commas themselves (a glob
    value from ``raw/a,b.csv``): when a plain split does not fit the rule's wildcards, the
    one grouping of the parts that gives each dimension wildcard one of its values is used."""
    if not text:
        return ()
    parts = text.split(",")
    n = len(rule.wildcards)
    if len(parts) == n or n == 0 or len(parts) < n:
        return tuple(parts)
    if n == 1:
        return (text,)
    import itertools

    fits = []
    for cuts in itertools.combinations(range(1, len(parts)), n - 1):
        bounds = (0, *cuts, len(parts))
        values = tuple(",".join(parts[a:b]) for a, b in zip(bounds, bounds[1:]))
        dims = [workflow.dimensions.get(w) for w in rule.wildcards]
        if all(d is None or v in d.table for d, v in zip(dims, values)):
            fits.append(values)
            if len(fits) > 1:
                break
    return fits[0] if len(fits) == 1 else tuple(parts)


def _suggest_target(target: str, rules_by_name) -> str:
    import difflib

    close = difflib.get_close_matches(target.split("[")[0], list(rules_by_name), n=1)
    return f" (did you mean rule '{close[0]}'?)" if close else ""


def rule_values(workflow: ir.Workflow, rule: ir.Rule) -> list[tuple[str, ...]]:
    """Every job of a rule named as a target: the product of its dimension wildcards."""
    import itertools

    lists = []
    for w in rule.wildcards:
        dim = workflow.dimensions.get(w)
        if dim is None:
            raise ResolveError(
                f"rule {rule.name} has the free wildcard {{{w}}}, so its jobs cannot be listed; "
                "name an output path as the target instead",
                rule.span,
            )
        lists.append(dim.values)
    return list(itertools.product(*lists))
