"""The stages wired together: Rulefile -> Workflow -> JobGraph -> Snapshot + History -> Plan.

The CLI builds a ``Target`` and ``PlanOptions`` and calls these; tests can too.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False

from . import analyze, ir
from .errors import RulecError
from .options import Target  # noqa: F401 - part of this module's interface
from .history import History
from .plan import Plan, PlanOptions, plan as make_plan
from .recordclass import field, record
from .state import snapshot

if TYPE_CHECKING:
    from . import dag


@record
class Planned:
    workflow: ir.Workflow
    graph: "dag.JobGraph"
    plan: Plan
    history: History
    stats: dict = field(default_factory=dict)


def load(target: Target) -> ir.Workflow:
    rulefile = target.rulefile
    if os.path.isdir(rulefile):
        rulefile = os.path.join(rulefile, "Rulefile")
    if not os.path.exists(rulefile):
        hint = None
        if target.targets and rulefile == "Rulefile":
            hint = (f"{target.targets[0]!r} was taken as a target; give the Rulefile with -f FILE, "
                    "or name a folder that holds a Rulefile")
        raise RulecError(f"no Rulefile at {rulefile}", hint=hint)
    workdir = os.path.abspath(target.workdir) if target.workdir else None
    return analyze.load(rulefile, workdir, dict(target.overrides), target.config, target.config_files)


def with_profile_env(workflow: ir.Workflow, profile, backend: str) -> ir.Workflow:
    """The workflow with a profile's ``env`` tables for ``backend`` added to its rules' env
    (``[slurm.env]`` < ``[slurm.labels.L.env]`` < ``[slurm.rules.R.env]``; a profile's value
    wins over the label's for the same name). Like a label's env, it is exported before each
    job's command and is part of what decides a rerun. Profile values are taken literally."""
    from .recordclass import replace

    from .profile import env_for
    from .source import Span

    prof = profile.backend(backend)
    if not (prof.top.env or any(x.env for x in prof.labels.values()) or any(x.env for x in prof.rules.values())):
        return workflow
    span = Span(profile.path or "<profile>", 1, 1)
    rules = []
    for rule in workflow.rules:
        extra = env_for(prof, rule.name, rule.label)
        if extra:
            names = {n for n, _ in extra}
            env = tuple((n, t) for n, t in rule.env if n not in names)
            env += tuple((n, ir.ShellTemplate(v, (v,), span)) for n, v in extra)
            rule = replace(rule, env=env)
        rules.append(rule)
    return replace(workflow, rules=tuple(rules))


def graph_of(workflow: ir.Workflow, target: Target, lazy: bool = False) -> "dag.JobGraph":
    from . import graphs

    graph = graphs.resolve(workflow, target.targets, lazy)  # dag.resolve, through the cache
    if target.select:
        from .select import compile_expr

        keep = compile_expr(target.select)
        chosen = [j for j in graph.order if keep(graph.job_id(j))]
        if not chosen:
            raise RulecError(f"-k {target.select!r} selects no job")
        graph = graph.subgraph_of(chosen)
    return graph


def paths_of(graph: "dag.JobGraph") -> list[str]:
    """Every path a plan looks at, each once: the sources, then the jobs' outputs in job
    order (a rule's jobs side by side: ``snapshot`` takes runs of one folder at once)."""
    from itertools import chain

    paths = list(graph.sources)
    paths += chain.from_iterable(graph.outputs)
    return paths


def plan(target: Target, options: PlanOptions = PlanOptions(), history: History | None = None,
         workflow: ir.Workflow | None = None, before_load: bool = False, only_plan: bool = False) -> Planned:
    """Load (unless ``workflow`` is given), resolve, snapshot and plan; a plan with nothing to
    do is remembered (``verdict``). ``before_load``: ``workflow`` is ``target`` loaded as it
    is, so the verdict may be checked before loading next time. ``only_plan``: the caller
    reads nothing of the returned History but what the plan needed (a dry run)."""
    workflow = workflow if workflow is not None else load(target)
    found = _fresh(workflow, target, options)
    # after an edit of some rules, a dry run looks at few jobs: their rows made when asked for
    graph = graph_of(workflow, target, lazy=found is not None and only_plan)
    fresh, snap = found if found is not None else (frozenset(), full_snapshot(workflow, options, graph))
    if history is None:
        # after an edit of some rules, a dry run reads only the records of the others' jobs
        rules = [r.name for r in workflow.rules if r.index not in fresh] if fresh and only_plan else None
        history = History.open(workflow.workdir, rules=rules)
    result = make_plan(graph, snap, history, options, fresh)
    if not result.run:
        from . import verdict

        verdict.remember(workflow, target, options, graph, snap, len(graph) - len(result.groups),
                         before_load=before_load)
    return Planned(workflow, graph, result, history, {"snapshot": snap})


def fresh_snapshot(workflow: ir.Workflow, target: Target, options: PlanOptions, graph: "dag.JobGraph"):
    """(rules known up to date but for their upstream, the snapshot): after an edit of some
    rules only, from the kept verdict, with no stat taken again (``verdict.fresh_rules``);
    else (no rule, a fresh snapshot)."""
    found = _fresh(workflow, target, options)
    return found if found is not None else (frozenset(), full_snapshot(workflow, options, graph))


def _fresh(workflow: ir.Workflow, target: Target, options: PlanOptions):
    if target.select:  # -k plans a subgraph: the verdict is of the whole
        return None
    from . import verdict

    return verdict.fresh_rules(workflow, target, options)


def full_snapshot(workflow: ir.Workflow, options: PlanOptions, graph: "dag.JobGraph"):
    return snapshot(paths_of(graph), workflow.workdir, options.tolerance_ns, trees=graph.directories())


def up_to_date(workflow: ir.Workflow, target: Target, options: PlanOptions) -> int | None:
    """The job count when a remembered "all up to date" verdict still holds (rulec/verdict.py)."""
    from . import verdict

    return verdict.check(workflow, target, options)

