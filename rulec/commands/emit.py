"""``rulec emit --slurm|--lsf|--jbsub [-o DIR]``: write a submission bundle; never submit.

The bundle holds every job the plan says must run (the same plan as ``rulec dryrun``), with
fully expanded commands: it runs with no rulec process alive (``bash DIR/submit.sh``), and
the same inputs give byte-identical files, so it can be reviewed and committed.

No rulec records what a bundle runs, so writing one drops the records (and kept failures) of
the jobs it holds (``known_jobs``), under the run lock: the next ``rulec run`` judges their outputs by their
files, as make would, and not by records from before the bundle rebuilt them (whose input
stats and commands would call them changed).
"""

from __future__ import annotations

import os

from ..recordclass import record

from .. import api, ir, report
from ..backend import DEFAULT_MAX_ARRAY, SUBMIT_COMMAND, Backend
from ..bundle import files as bundle_mod
from ..errors import RulecError
from ..plan import PlanOptions
from ..profile import load as load_profile
from ..units import parse_time


@record(frozen=True)
class EmitArgs:
    """What the command line says to ``rulec emit`` (built by rulec/cli.py)."""

    backend: Backend
    output: str | None = None  # the bundle folder; default rulec-<backend>
    profile: str | None = None
    force: tuple[str, ...] = ()
    force_all: bool = False
    why: bool = False
    quiet: bool = False
    pack: str | None = None  # --pack N or --pack 5m


def pack_option(text: str | None, backend: Backend) -> ir.Pack | None:
    """``--pack N`` (jobs per array task) or ``--pack 5m`` (a run time per task), for rules
    without ``pack:`` of their own; refused where there are no array tasks to pack."""
    if text is None:
        return None
    if backend not in (Backend.SLURM, Backend.LSF):
        where = "a local run has no array tasks to pack" if backend is Backend.LOCAL else "jbsub runs one job per jbsub call"
        raise RulecError(f"--pack is for SLURM and LSF job arrays: {where}",
                         hint="add --executor slurm (or lsf)" if backend is Backend.LOCAL else None)
    value = text.strip()
    if value.isdigit():
        if int(value) < 1:
            raise RulecError("--pack must be at least 1 (--pack 1 runs one job per task)")
        return ir.Pack(jobs=int(value), text=value)
    seconds = parse_time(value)
    if seconds is None or seconds <= 0:
        raise RulecError(f"--pack {text!r}: expected a whole number of jobs per task (--pack 50) "
                         "or a run time per task (--pack 5m)")
    return ir.Pack(seconds=seconds, text=value)


def max_array_size(backend: Backend, profile) -> int:
    """The profile's ``max_array_size``, else $RULEC_MAX_ARRAY_SIZE, else the scheduler's default."""
    value = profile.backend(backend).setting("max_array_size")
    if value is None and os.environ.get("RULEC_MAX_ARRAY_SIZE"):
        value = os.environ["RULEC_MAX_ARRAY_SIZE"]
    if value is None:
        value = DEFAULT_MAX_ARRAY[backend] or 1
    try:
        size = int(value)
    except ValueError:
        raise RulecError(f"max array size {value!r} is not a whole number") from None
    if size < 1:
        raise RulecError("the max array size must be at least 1")
    return size


def main(target: api.Target, args: EmitArgs) -> int:
    write(target, args)
    return 0


def write(target: api.Target, args: EmitArgs) -> str | None:
    """``rulec emit``: the bundle's folder, or None when nothing is to run (no bundle)."""
    backend = args.backend
    why = args.why
    if args.output and os.path.lexists(args.output) and not os.path.isdir(args.output):
        raise RulecError(f"-o {args.output}: not a folder (a bundle is a folder of scripts)",
                         hint="name a new or existing folder")
    pack = pack_option(args.pack, backend)
    options = PlanOptions(force=frozenset(args.force), force_all=args.force_all, explain=why)
    profile = load_profile(args.profile)
    workflow = api.with_profile_env(api.load(target), profile, backend)
    planned = api.plan(target, options, workflow=workflow)
    plan = planned.plan
    graph = planned.graph
    out = args.output or f"rulec-{backend}"
    if not plan.run:
        print(report.nothing_to_do(len(graph) - len(plan.groups), "; no bundle written"))
        return None
    if why:  # the jobs the bundle holds, each with every reason it must run
        report.show_plan(planned, why=True)
    refuse_protected(graph, plan)
    size = max_array_size(backend, profile)
    bundle = bundle_mod.build(graph, plan.run, backend, profile, out, size, pack=pack)
    forget = known_jobs(planned.history, [graph.job_id(j) for j in plan.run])
    if forget:
        from ..history import History
        from ..run.lock import Lock

        with Lock(workflow.workdir) as lock:  # (not while a run here writes records)
            if lock.warning:
                report.warn(lock.warning)
            bundle_mod.write(bundle)
            history = History.open(workflow.workdir, write=True)
            try:
                history.forget(forget)
            finally:
                history.close()
    else:
        bundle_mod.write(bundle)
    if not args.quiet:
        show(bundle, out)
    return bundle.dir


def known_jobs(history, job_ids: list[str]) -> list[str]:
    """Which of these jobs the state store holds a record or a kept failure of: what writing a
    bundle of them forgets (see the module's docstring)."""
    records, failures = history.records(), history.failures()
    return [jid for jid in job_ids if jid in records or jid in failures]


def refuse_protected(graph, plan) -> None:
    """A bundle whose jobs would replace read-only protected() outputs is not written: its
    tasks would refuse to (see the bundle's README)."""
    from ..kinds import PROTECTED, OutputKinds, in_the_way, refusal

    kinds = OutputKinds.of(graph)
    if kinds is None or not kinds.has(PROTECTED):
        return
    found = in_the_way(kinds, plan.run)
    if found:
        raise refusal(kinds, found, "would replace it, and its task refuses to",
                      "delete the file, or make it writable (chmod u+w), then emit again; no bundle was written")


def show(bundle, out: str) -> None:
    from ..bundle import arrays as arr

    layout = bundle.layout
    rows = []
    for a in layout.arrays:
        deps = []
        for d in a.deps:
            kind = "element-wise" if d.kind == arr.AFTERCORR else "all of"
            deps.append(f"{kind} {layout.arrays[d.array].name}")
        rows.append((a.name, len(a), ", ".join(deps), (len(a.jobs), a.pack) if a.pack > 1 else None))
    path = out.rstrip("/")
    if bundle.backend == Backend.JBSUB:
        hint = f"run with: bash {path}/submit.sh   (stays alive while the jobs run: jbsub has no dependencies)"
    else:
        hint = f"submit with: bash {path}/submit.sh"
    report.bundle_written(path, bundle.backend, rows, layout.n_tasks, bundle.submissions, SUBMIT_COMMAND[Backend(bundle.backend)], hint)
    local = bundle.extras.get("local")
    if local:
        n = sum(len(a) for a in local)
        print(f"  and {n} local: true job(s) ({', '.join(a.name for a in local)}) that submit.sh runs here, before submitting")
    if "README.md" in bundle.files:
        print(f"  see {path}/README.md for temp(), protected(), touch() and local: true in this bundle")
