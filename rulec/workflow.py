"""The Python API: a ``Workflow`` for notebooks and scripts, over the command line's own code.

    import rulec

    wf = rulec.load("examples/datasets_models")
    plan = wf.plan()                 # what would run, and why (rulec dryrun)
    report = wf.run(plan, jobs=2)    # run it (rulec run -j 2)
    wf.emit("slurm", "bundle")       # a submission bundle (rulec emit --slurm -o bundle)

Every method builds the typed options ``rulec`` builds from its arguments (``api.Target``,
``PlanOptions``, ``RunArgs``, ``EmitArgs``) and calls the same functions, so a call means what
the command means: the same plan, the same lock, records and run loop, the same messages.
A bad Rulefile or a bad option raises ``RulecError`` (with its ``span``: file, line, column)
whose text is what ``rulec`` prints. Nothing here calls ``sys.exit``; a run installs its
signal handlers only while it runs and gives the old ones back.

The Rulefile is read again at each call (parsed Rulefiles are cached), so an edit is seen by
the next ``plan`` or ``run`` without loading again.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Iterable, Mapping

from . import api
from .errors import RulecError
from .recordclass import field, record, replace

if TYPE_CHECKING:
    from .backend import Backend
    from .plan import Reason, Why
    from .run.loop import JobResult


# --------------------------------------------------------------------------- plans

@record(frozen=True)
class Job:
    """A job the plan will run: what ``rulec dryrun --json`` says about it, as values."""

    id: str  # e.g. estimate[data_0,logistic_model]
    rule: str
    wildcards: Mapping[str, str]
    reasons: tuple["Reason", ...]  # why it runs (rulec.Reason: .why a rulec.Why, .path, .job)
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    logs: tuple[str, ...]
    deps: tuple[str, ...]  # the ids of the jobs it needs (up to date or not)
    command: str | None  # the fully expanded command

    @property
    def why(self) -> "Why":
        """The first reason's kind."""
        return self.reasons[0].why

    def explain(self) -> list[str]:
        """The reasons in the words ``rulec dryrun`` uses."""
        from .report import reason_text

        return [reason_text(r) for r in self.reasons]


@record(frozen=True)
class Plan:
    """What ``Workflow.plan`` found: the jobs to run (dependencies first) and how many are up
    to date. ``Workflow.run(plan)`` runs what it asked for, planned again under the run's
    lock (files may have changed since)."""

    jobs: tuple[Job, ...]
    up_to_date: int
    targets: tuple[str, ...] = ()
    force: tuple[str, ...] = ()
    force_all: bool = False
    select: str | None = None

    def __len__(self) -> int:
        return len(self.jobs)

    def __iter__(self):
        return iter(self.jobs)

    def __getitem__(self, job_id: str) -> Job:
        for job in self.jobs:
            if job.id == job_id:
                return job
        raise KeyError(job_id)

    def __contains__(self, job_id: object) -> bool:
        return any(job.id == job_id for job in self.jobs)

    @property
    def ids(self) -> list[str]:
        return [job.id for job in self.jobs]

    def __repr__(self) -> str:
        return f"<rulec.Plan: {len(self.jobs)} job(s) to run, {self.up_to_date} up to date>"


# --------------------------------------------------------------------------- runs

@record(frozen=True)
class RunReport:
    """What ``Workflow.run`` did. ``jobs``: job id -> ``rulec.JobResult`` (``status``: a
    ``rulec.Status``; ``outcome``: a ``rulec.Outcome``; ``exit_code``, ``log``, ``attempts``,
    ``why``) for every job the run planned, in plan order."""

    exit_code: int  # what `rulec run` exits with: 0, 1 (a job failed), 141
    jobs: Mapping[str, "JobResult"] = field(default_factory=dict)
    up_to_date: int = 0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def failed(self) -> list["JobResult"]:
        from .run.loop import Status

        return [r for r in self.jobs.values() if r.status is Status.FAILED]

    def __getitem__(self, job_id: str) -> "JobResult":
        return self.jobs[job_id]

    def __repr__(self) -> str:
        from collections import Counter

        counts = Counter(r.status.value for r in self.jobs.values())
        parts = ", ".join(f"{n} {s}" for s, n in counts.items()) or "nothing ran"
        return f"<rulec.RunReport: {'ok' if self.ok else 'failed'}: {parts}; {self.up_to_date} up to date>"


# --------------------------------------------------------------------------- the facade

class Workflow:
    """A Rulefile and its working folder (``rulec.load``)."""

    def __init__(self, target: api.Target, workflow):
        self._target = target
        self._ir = workflow
        self._cwd = os.getcwd()

    # what it is ------------------------------------------------------------
    @property
    def path(self) -> str:
        """The top Rulefile."""
        return self._ir.file

    @property
    def directory(self) -> str:
        """The working folder its paths are relative to."""
        return self._ir.workdir

    @property
    def rules(self) -> tuple[str, ...]:
        return tuple(rule.name for rule in self._ir.rules)

    @property
    def dimensions(self) -> dict[str, tuple[str, ...]]:
        return {name: dim.values for name, dim in self._ir.dimensions.items()}

    @property
    def default_target(self) -> str | None:
        return self._ir.default_target

    def __repr__(self) -> str:
        return f"<rulec.Workflow {self.path}: {len(self._ir.rules)} rule(s), {len(self._ir.dimensions)} dimension(s)>"

    # what it does ------------------------------------------------------------
    def plan(self, targets=(), *, force: Iterable[str] = (), force_all: bool = False, select: str | None = None,
             why: bool = False) -> Plan:
        """What ``rulec dryrun [TARGETS] [--force X] [--force-all] [-k SELECT] [--why]`` shows:
        the jobs that would run, each with its reasons (the first one; every one with
        ``why=True``), and how many are up to date. Runs nothing, writes nothing."""
        from .plan import PlanOptions

        targets, force = _names(targets, "targets"), _names(force, "force")
        target = self._for(targets, select)
        options = PlanOptions(force=frozenset(force), force_all=force_all, explain=why)
        with _errors():
            workflow = self._ir = api.load(target)
            if not why:
                jobs = api.up_to_date(workflow, target, options)
                if jobs is not None:
                    return Plan((), jobs, targets, force, force_all, select)
            planned = api.plan(target, options, workflow=workflow)
        return Plan(_jobs(planned), len(planned.graph) - len(planned.plan.groups) - len(planned.plan.run),
                    targets, force, force_all, select)

    def run(self, plan_or_targets=None, *, executor: "str | Backend" = "local", jobs: int | None = None,
            keep_going: bool = False, retries: int | None = None, quiet: bool = True,
            force: Iterable[str] = (), force_all: bool = False, select: str | None = None,
            mem: str | None = None, resources: Mapping[str, float] | None = None,
            profile: str | None = None, bundle: str | None = None, poll: float | None = None,
            keep_temp: bool = False, overwrite_protected: bool = False) -> RunReport:
        """``rulec run``: run what is out of date. ``plan_or_targets``: a ``Plan`` (its targets,
        force and select), target names (one or several), or None (the default target).
        ``jobs`` is ``-j`` (default: all cores); ``quiet=False`` prints the progress lines;
        ``keep_temp`` and ``overwrite_protected`` are ``--keep-temp`` and ``--overwrite-protected``.
        A failed job gives ``report.ok == False``, not an exception; Ctrl-C stops the running
        jobs and removes their outputs, as ``rulec run`` does, then raises KeyboardInterrupt."""
        from .commands import run as run_cmd

        targets, force, force_all, select = self._what(plan_or_targets, force, force_all, select)
        args = run_cmd.RunArgs(force=force, force_all=force_all, quiet=quiet, cores=_whole(jobs, "jobs", every=True),
                               mem=_mem(mem), resources=_resources(resources), keep_going=keep_going,
                               retries=_whole(retries, "retries"), executor=_backend(executor, "executor"),
                               profile=_path(profile, "profile"), bundle=_path(bundle, "bundle"),
                               poll=_number(poll, "poll"), keep_temp=keep_temp, overwrite_protected=overwrite_protected)
        with _errors():
            result = run_cmd.execute(self._for(targets, select), args)
        from .errors import EXIT_INTERRUPTED

        if result.exit_code == EXIT_INTERRUPTED:
            raise KeyboardInterrupt("rulec run was interrupted: the running jobs were stopped and their outputs removed")
        return RunReport(result.exit_code, {r.id: r for r in result.jobs()}, result.up_to_date)

    def emit(self, backend: "str | Backend", dir: str | os.PathLike | None = None, plan_or_targets=None, *,
             force: Iterable[str] = (), force_all: bool = False, select: str | None = None,
             profile: str | None = None, quiet: bool = True) -> str | None:
        """``rulec emit --BACKEND -o DIR``: write a submission bundle of the jobs the plan runs
        (``backend``: "slurm", "lsf" or "jbsub"; ``dir`` default ``rulec-<backend>``, relative
        to the current folder). Returns the bundle's absolute path (submit it with
        ``bash PATH/submit.sh``), or None when every job is up to date (nothing is written)."""
        from .backend import CLUSTER
        from .commands import emit as emit_cmd

        targets, force, force_all, select = self._what(plan_or_targets, force, force_all, select)
        name = _backend(backend, "backend")
        if name not in CLUSTER:
            raise RulecError(f"backend {str(name)!r}: a bundle is for {', '.join(map(str, CLUSTER))}")
        args = emit_cmd.EmitArgs(name, output=_path(dir, "dir"), profile=_path(profile, "profile"),
                                 force=force, force_all=force_all, quiet=quiet)
        with _errors():
            return emit_cmd.write(self._for(targets, select), args)

    # helpers -------------------------------------------------------------
    def _for(self, targets: tuple[str, ...], select: str | None) -> api.Target:
        """The Target of one call; relative paths as at ``load`` even after a chdir."""
        if select is not None and not isinstance(select, str):
            raise RulecError(f"select: expected an expression as text (-k), e.g. \"fit and small\", not {select!r}")
        target = self._target
        if os.getcwd() != self._cwd:
            target = replace(
                target, rulefile=os.path.join(self._cwd, target.rulefile),
                workdir=os.path.join(self._cwd, target.workdir) if target.workdir else None)
        return replace(target, targets=targets, select=select)

    def _what(self, plan_or_targets, force, force_all, select):
        force = _names(force, "force")
        if isinstance(plan_or_targets, Plan):
            p = plan_or_targets
            if force or force_all or select is not None:
                raise RulecError("give force, force_all and select to plan(): the plan passed here already says them")
            return p.targets, p.force, p.force_all, p.select
        return _names(plan_or_targets or (), "targets"), force, force_all, select


def load(path: str | os.PathLike = "Rulefile", config: Mapping | None = None,
         directory: str | os.PathLike | None = None) -> Workflow:
    """Read and check a Rulefile (or a folder holding one), as ``rulec check`` does: a bad one
    raises ``RulecError`` with the place (``err.span``) and the text rulec prints.
    ``directory`` is ``-d``: the folder paths are relative to (default: the Rulefile's).
    ``config`` overrides config keys, as ``--config KEY=VALUE`` does (nested tables as
    nested dicts or dotted keys; a list as its items)."""
    if path is None:
        raise RulecError("path: expected a Rulefile or a folder holding one, not None")
    target = api.Target(_path(path, "path"), _path(directory, "directory"), config=_config_items(config))
    with _errors():
        workflow = api.load(target)
    return Workflow(target, workflow)


# --------------------------------------------------------------------------- values in

def _names(value, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, os.PathLike)):
        return (os.fspath(value),)
    try:
        items = tuple(value)
    except TypeError:
        raise RulecError(f"{what}: expected a name or a list of names, not {type(value).__name__}") from None
    for item in items:
        if not isinstance(item, (str, os.PathLike)):
            raise RulecError(f"{what}: expected names (text), not {item!r}")
    return tuple(os.fspath(i) for i in items)


def _path(value, what: str) -> str | None:
    """A path given as text or a path-like object (None: not given)."""
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        if isinstance(path, str):
            return path
    raise RulecError(f"{what}: expected a path (text or a path-like object), not {value!r}")


def _whole(value, what: str, every: bool = False) -> int | None:
    """A whole number given as an int or as its text, as the command line takes it (``every``:
    ``"all"`` too, which is 0: every core); None: not given."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        if every and text.lower() == "all":
            return 0
        try:
            return int(text)
        except ValueError:
            pass
    kinds = 'a whole number or "all"' if every else "a whole number"
    raise RulecError(f"{what}: expected {kinds}, not {value!r}")


def _number(value, what: str) -> float | None:
    """A number given as an int, a float or its text; None: not given."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise RulecError(f"{what}: expected a number, not {value!r}")


def _mem(value) -> str | None:
    """``--mem``: a size with its unit, as text ("16G", "500M"); a bare number is refused, as
    on the command line (it would say no unit)."""
    if value is None or isinstance(value, str):
        return value
    raise RulecError(f"mem: expected a size with its unit as text, e.g. \"16G\" or \"500M\", not {value!r}")


def _resources(value) -> tuple[str, ...]:
    """``--resources NAME=N ...`` from a dict of names and numbers."""
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise RulecError(f"resources: expected a dict of names and numbers, e.g. {{\"io\": 2}}, not {value!r}")
    items = []
    for name, amount in value.items():
        if not isinstance(name, str):
            raise RulecError(f"resources: expected names (text) as keys, not {name!r}")
        if isinstance(amount, bool) or not isinstance(amount, (int, float)):
            raise RulecError(f"resources: {name}: expected a number, not {amount!r}")
        items.append(f"{name}={amount}")
    return tuple(items)


def _backend(value, what: str) -> "Backend":
    from .backend import EXECUTORS, Backend

    try:
        return Backend(value)
    except ValueError:
        raise RulecError(f"{what} {value!r}: expected one of {', '.join(map(str, EXECUTORS))}") from None


def _config_items(config: Mapping | None) -> tuple[str, ...]:
    """A dict of config overrides as ``--config KEY=VALUE`` items, in order."""
    if not config:
        return ()
    if not isinstance(config, Mapping):
        raise RulecError(f"config: expected a dict of keys and values, not {type(config).__name__}")
    items: list[str] = []

    def text(value) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (list, tuple)):
            return ",".join(text(v) for v in value)
        return str(value)

    def walk(prefix: str, table: Mapping) -> None:
        for key, value in table.items():
            name = f"{prefix}{key}"
            if isinstance(value, Mapping):
                walk(name + ".", value)
            else:
                items.append(f"{name}={text(value)}")

    walk("", config)
    return tuple(items)


# --------------------------------------------------------------------------- values out

def _jobs(planned) -> tuple[Job, ...]:
    from . import shell

    graph, plan = planned.graph, planned.plan
    renderers = shell.renderers(graph) if plan.run else None
    out = []
    for job in plan.run:
        rule = graph.rule_of(job)
        out.append(Job(
            id=graph.job_id(job),
            rule=rule.name,
            wildcards=dict(zip(rule.wildcards, graph.values[job])),
            reasons=plan.reasons[job],
            inputs=tuple(graph.inputs[job]),
            outputs=tuple(graph.declared_outputs(job)),
            logs=tuple(graph.logs(job)),
            deps=tuple(graph.job_id(d) for d in graph.deps[job]),
            command=shell.command_of(graph, renderers, job),
        ))
    return tuple(out)


@contextlib.contextmanager
def _errors():
    """What ``rulec`` turns into one line turns into a RulecError with that line here."""
    try:
        yield
    except RulecError:
        raise
    except OSError as err:
        from .cli import _os_error_hint, os_error_text

        raise RulecError(os_error_text(err), hint=_os_error_hint(err)) from err
    except Exception as err:
        if type(err).__module__ != "sqlite3":
            raise
        raise RulecError(f"the state store in .rulec/ cannot be used: {err}",
                         hint="free disk space, or make .rulec/ writable; nothing was recorded for the jobs in progress, "
                              "so they run again") from err
