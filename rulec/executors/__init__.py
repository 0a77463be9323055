"""Executors: what starts, watches and stops jobs for the one run loop (rulec/run/loop.py).

``local``: per-slot bash workers on this machine (pull). Every other executor is a module
here with a ``make(options, graph, plan, journal, quiet)`` function. The loop owns every
decision; an executor only starts, watches and stops jobs and reports events as data.
"""

from __future__ import annotations

import importlib

from .. import ir
from ..backend import LOCAL_WORKERS, PUSH, Backend
from ..recordclass import record


@record(frozen=True)
class ExecutorOptions:
    """What the command line says about the executor (built by rulec/cli.py's callers)."""

    name: Backend = Backend.LOCAL
    profile: str | None = None  # cluster settings (TOML)
    bundle: str | None = None  # where a cluster executor writes its bundle
    poll: float | None = None  # seconds between status queries
    pack: "ir.Pack | None" = None  # --pack: jobs per array task, for rules without pack: of their own
    # a dead run's jobs still on the scheduler (executors/adopt.py: Reattached), which this
    # run follows instead of submitting them: not an option, what the run found before planning
    reattached: object = None


def make(options: ExecutorOptions, graph, plan, journal=None, quiet: bool = False):
    """The executor named by ``options``, ready for ``Loop``."""
    if options.name not in LOCAL_WORKERS:
        _refuse_prefixes(options.name, graph, plan)
    if options.name in PUSH and local_jobs(graph, plan):
        raise AssertionError("a cluster run with local: true jobs goes in waves (make_waves)")
    if options.name is Backend.LOCAL:
        from .local import LocalExecutor

        return LocalExecutor(graph.workflow.workdir, journal, graph)
    module = importlib.import_module(f"{__name__}.{options.name.value}")
    return module.make(options, graph, plan, journal, quiet)


def local_jobs(graph, plan) -> bool:
    """Whether the plan runs a job of a ``local: true`` rule."""
    rules = graph.workflow.rules
    if not any(r.local for r in rules):
        return False
    return any(rules[graph.rule[j]].local for j in plan.run)


class Waves:
    """A push run (SLURM, LSF) of a plan with ``local: true`` jobs: the loop runs the local
    jobs here on ``local`` (the local executor) and asks ``make`` for one push executor per
    phase of cluster jobs (its own bundle under .rulec/<backend>/). See ``schedule.phases``."""

    def __init__(self, options: ExecutorOptions, graph, plan, journal=None, quiet: bool = False):
        from .local import LocalExecutor

        _refuse_prefixes(options.name, graph, plan)  # the cluster jobs'; local jobs may have one
        self.name = options.name
        self.options = options
        self.graph = graph
        self.journal = journal
        self.quiet = quiet
        self.module = importlib.import_module(f"{__name__}.{options.name.value}")
        self.local = LocalExecutor(graph.workflow.workdir, journal, graph)
        self.made = 0  # phases submitted so far

    def make(self, plan):
        """The push executor for the cluster jobs of one phase (``plan.run``); with
        ``--bundle DIR``, phase k's bundle is ``DIR/<k>``."""
        from ..recordclass import replace
        import os

        self.made += 1
        options = self.options
        if options.bundle:
            options = replace(options, bundle=os.path.join(options.bundle, str(self.made)))
        return self.module.make(options, self.graph, plan, self.journal, self.quiet)


def make_waves(options: ExecutorOptions, graph, plan, journal=None, quiet: bool = False) -> Waves:
    return Waves(options, graph, plan, journal, quiet)


def _refuse_prefixes(name: str, graph, plan) -> None:
    """A label prefix says how a job runs on this machine (``srun ...``, ``apptainer exec``):
    a cluster job submitted by a push executor cannot honour it, so refuse, naming the label."""
    from ..bundle.settings import refuse_prefixes

    refuse_prefixes(name, graph, getattr(plan, "run", None))


def rel_path(path: str) -> str:
    """A path as messages show it: relative to the current folder, unless that climbs out
    more than one level."""
    import os

    rel = os.path.relpath(path)
    return path if rel.startswith("../..") else rel
