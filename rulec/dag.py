"""resolve(workflow, targets) -> JobGraph: backward chaining from target paths. Pure.

Jobs get dense int ids (their index in the graph's columns) and a readable id
``rule[value,value]``. The graph is kept as columns of compact tuples so that 100k+ jobs
stay cheap to build and to walk.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from . import ir
from . import pattern as pat
from .errors import ResolveError

intern = sys.intern


@dataclass(frozen=True, slots=True)
class RulePlan:
    """Per rule, what resolving needs, compiled once: formatters and matchers."""

    rule: ir.Rule
    outputs: tuple[Callable, ...]
    logs: tuple[Callable, ...]
    inputs: tuple[tuple[Callable, object], ...]  # (formatter, combos or None)
    input_slices: tuple[tuple[str | None, int, int], ...]  # per entry: name, start, end (same for all jobs)
    matchers: tuple[pat.Matcher, ...]


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
        self.producer: dict[str, int] = {}
        self.targets: list[int] = []
        self.order: list[int] = []  # topological: dependencies first
        self.sources: dict[str, int] = {}  # input path no job makes -> first job needing it
        self._key: dict[tuple[int, tuple[str, ...]], int] = {}

    def __len__(self) -> int:
        return len(self.rule)

    def rule_of(self, job: int) -> ir.Rule:
        return self.workflow.rules[self.rule[job]]

    def job_id(self, job: int) -> str:
        rule = self.workflow.rules[self.rule[job]]
        values = self.values[job]
        return f"{rule.name}[{','.join(values)}]" if values else rule.name

    def find(self, rule_index: int, values: tuple[str, ...]) -> int | None:
        return self._key.get((rule_index, values))

    def declared_outputs(self, job: int) -> tuple[str, ...]:
        return self.outputs[job][: self.n_outputs[job]]

    def logs(self, job: int) -> tuple[str, ...]:
        return self.outputs[job][self.n_outputs[job] :]

    def input_entries(self, job: int) -> list[tuple[str | None, tuple[str, ...]]]:
        paths = self.inputs[job]
        return [(name, paths[a:b]) for name, a, b in self.plans[self.rule[job]].input_slices]

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
    fields = {
        (dim.name, f): {v: dim.table[v][f] for v in dim.values} for dim in workflow.dimensions.values() for f in dim.fields
    }
    plans = []
    for rule in workflow.rules:
        order = rule.wildcards
        regex = dict(rule.wildcard_regex)
        outputs = tuple(pat.formatter(s.pattern, order, fields) for s in rule.outputs)
        logs = tuple(pat.formatter(s.pattern, order, fields) for s in rule.logs)
        inputs = []
        slices = []
        at = 0
        for spec in rule.inputs:
            if spec.kind == "one":
                inputs.append((pat.formatter(spec.pattern, order, fields), None))
                slices.append((spec.name, at, at + 1))
                at += 1
            else:
                fmt = pat.formatter(spec.pattern, order + spec.expanded, fields)
                inputs.append((fmt, spec.combos))
                slices.append((spec.name, at, at + len(spec.combos)))
                at += len(spec.combos)
        matchers = tuple(pat.Matcher(s.pattern, regex, order) for s in rule.outputs + rule.logs)
        plans.append(RulePlan(rule, outputs, logs, tuple(inputs), tuple(slices), matchers))
    return plans


def _input_paths(plan: RulePlan, values: tuple[str, ...]) -> list[str]:
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
            for spec, matcher in zip(rule.outputs + rule.logs, plan.matchers):
                p = spec.pattern
                self.entries.append((p.prefix(), p.suffix(), p.constant, matcher, rule))
        self.constant: dict[str, list[ir.Rule]] = {}
        for pre, suf, const, matcher, rule in self.entries:
            if const:
                self.constant.setdefault(pre, []).append(rule)
        self.patterned = [e for e in self.entries if not e[2]]
        self.affixes = pat.AffixIndex((e[0], e[1]) for e in self.patterned)

    def candidates(self, path: str) -> list[tuple[ir.Rule, tuple[str, ...]]]:
        found = [(rule, ()) for rule in self.constant.get(path, ())]
        for i in self.affixes.matching(path):  # prefix starts the path, suffix ends it
            _, _, _, matcher, rule = self.patterned[i]
            values = matcher.match(path)
            if values is not None:
                found.append((rule, values))
        return found


def _links(workflow: ir.Workflow, plans: Sequence[RulePlan]) -> list[list | None]:
    """Per rule and flattened input position: (producer rule, positions, combo) when the
    input's pattern is, letter for letter, one rule's output pattern and no other rule can
    make any of its paths. Then the producer job follows from the values directly: no regex
    matching (the common datasets x models case)."""
    by_text: dict[str, list[tuple[ir.Rule, ir.PathSpec]]] = {}
    makers_all: list[tuple[ir.Rule, ir.PathSpec]] = []
    for rule in workflow.rules:
        for spec in rule.outputs + rule.logs:
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
    try:
        # No cycle (the usual case): expand jobs in id order, then one post-order walk.
        return _resolve(workflow, targets, exists, plans, set(), fast=True)
    except _SlowPath:
        pass
    cut: set[tuple[tuple[int, tuple[str, ...]], str]] = set()
    while True:
        try:
            return _resolve(workflow, targets, exists, plans, cut)
        except _CutCycle as again:
            cut.add(again.edge)  # resolve again, with that existing file taken as a source


class _SlowPath(Exception):
    """The fast walk met a cycle: the careful walk decides what to do with it."""


class _CutCycle(Exception):
    def __init__(self, edge):
        self.edge = edge


def _resolve(workflow, targets, exists, plans, cut, fast: bool = False) -> JobGraph:
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

    def producer_of(path: str, parent: int) -> int | None:
        job = producer.get(path)
        if job is not None:
            return job
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
        return new_job(rule, values, parent)

    def make_input(job: int, i: int, path: str) -> int | None:
        """The job for input ``i`` of ``job``, a path no job makes yet (or None: a source)."""
        link = links[g_rule[job]]
        link = link[i] if link is not None else None
        if link is not None:  # exactly one rule's output pattern: the values say which job
            maker, positions, combo = link
            full = g_values[job] + combo if combo else g_values[job]
            return new_job(maker, tuple([full[k] for k in positions]), job)
        return producer_of(path, job)

    roots: list[int] = []
    for target in targets:
        roots.extend(_target_jobs(workflow, graph, target, rules_by_name, new_job, producer_of))

    if fast:
        _expand_all(graph, make_input)
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


def _target_jobs(workflow, graph, target, rules_by_name, new_job, producer_of) -> list[int]:
    rule = rules_by_name.get(target)
    if rule is not None:
        return [new_job(rule, values, None) for values in rule_values(workflow, rule)]
    if "[" in target and target.endswith("]"):
        name, _, rest = target.partition("[")
        rule = rules_by_name.get(name)
        if rule is not None:
            values = _split_job_values(workflow, rule, rest[:-1])
            if len(values) != len(rule.wildcards):
                raise ResolveError(
                    f"job id {target!r}: rule {name} has {len(rule.wildcards)} wildcard(s) "
                    f"({', '.join(rule.wildcards) or 'none'}), {len(values)} value(s) given"
                )
            for w, v in zip(rule.wildcards, values):
                dim = workflow.dimensions.get(w)
                if dim is not None and v not in dim.table:
                    raise ResolveError(f"job id {target!r}: '{v}' is not a value of dimension {w}")
            return [new_job(rule, values, None)]
    path = target
    if os.path.isabs(path):
        path = os.path.relpath(path, workflow.workdir)
    path = os.path.normpath(path).replace(os.sep, "/") if not path.startswith(("s3://", "gs://")) and "://" not in path else path
    job = producer_of(path, None)
    if job is None:
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
