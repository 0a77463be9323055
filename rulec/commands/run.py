"""``rulec run``: check the options against the executor, plan under the lock, and hand the
plan to the one run loop (rulec/run/loop.py) with the executor it names."""

from __future__ import annotations

import os
import signal

from .. import api, executors, report
from ..backend import PUSH, Backend
from ..errors import EXIT_INTERRUPTED, Interrupted, RulecError
from ..history import History
from ..plan import PlanOptions
from ..plan import plan as make_plan
from ..recordclass import record
from ..run.lock import Lock
from ..run.loop import JobResult, Loop, RunOptions, catch, restore, touch
from ..state import snapshot


@record(frozen=True)
class RunArgs:
    """What the command line says to ``rulec run`` (built by rulec/cli.py)."""

    force: tuple[str, ...] = ()
    force_all: bool = False
    touch: bool = False
    why: bool = False
    quiet: bool = False
    cores: int | None = None  # -j; None or 0 (-j 0, -j all): all cores
    mem: str | None = None  # --mem, e.g. "16G"
    resources: tuple[str, ...] = ()  # --resources NAME=N
    keep_going: bool = False
    retries: int | None = None
    executor: Backend = Backend.LOCAL
    profile: str | None = None
    bundle: str | None = None
    poll: float | None = None
    print_commands: bool = False  # -p
    keep_temp: bool = False  # --keep-temp: temp() outputs are not deleted
    overwrite_protected: bool = False  # --overwrite-protected: jobs may replace read-only protected() outputs
    pack: str | None = None  # --pack N or --pack 5m (cluster executors)


@record
class RunResult:
    """What a ``rulec run`` did, as data (the Python API's RunReport is made from it)."""

    exit_code: int
    up_to_date: int = 0  # jobs that had nothing to do
    loop: Loop | None = None  # the run loop, when jobs ran

    def jobs(self) -> list[JobResult]:
        """How each job the run planned ended (none when nothing ran)."""
        return self.loop.results() if self.loop is not None else []


def _machine_mem_mb() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def run_options(args: RunArgs) -> RunOptions:
    """The run's pools and retries from the command line, or a RulecError for a bad value:
    called before anything else is looked at (a bad option is refused even when nothing
    would run), after ``check_executor_options``."""
    import math

    from ..units import parse_mem

    cores = args.cores if args.cores else (os.cpu_count() or 1)
    if cores < 1:
        raise RulecError("-j/--cores must be at least 1")
    # jbsub jobs run on cluster nodes: this machine's memory and GPUs do not bound them (the
    # rules' resources become jbsub's flags); --mem and --resources still make pools.
    on_nodes = args.executor is Backend.JBSUB
    mem = None if on_nodes else _machine_mem_mb()
    if args.mem is not None:
        text = args.mem.strip()
        mem = parse_mem(text) if any(c.isalpha() for c in text) else None
        if mem is None:
            raise RulecError(f"--mem {args.mem!r}: expected a number with a unit K, M, G or T, e.g. 16G")
        if not any(c in "123456789" for c in text):
            raise RulecError(f"--mem {args.mem!r}: the memory pool must be more than 0")
    gpus = 1 << 30 if on_nodes else 0
    custom = []
    seen: set[str] = set()
    for item in args.resources:
        name, sep, value = item.partition("=")
        name = name.strip()
        try:
            amount = float(value)
        except ValueError:
            amount = math.nan
        if not sep or not name or not math.isfinite(amount) or amount < 0:
            raise RulecError(f"--resources {item!r}: expected NAME=NUMBER, a number of at least 0, e.g. io=2")
        if name in seen:
            raise RulecError(f"--resources {item!r}: {name} is given twice")
        seen.add(name)
        if name in ("mem", "mem_mb", "time", "time_s"):
            raise RulecError(f"--resources {item!r}: {name} is no pool"
                             + (" (give the memory pool with --mem, e.g. --mem 16G)" if name.startswith("mem") else
                                " (a job's run time bounds no local pool)"))
        if name in ("gpus", "cpus") and amount != int(amount):
            raise RulecError(f"--resources {item!r}: {name} is a whole number")
        if name == "gpus":
            gpus = int(amount)
        elif name == "cpus":
            cores = int(amount)
            if cores < 1:
                raise RulecError(f"--resources {item!r}: cpus must be at least 1")
        else:
            custom.append((name, amount))
    retries = args.retries or 0
    if retries < 0:
        raise RulecError(f"--retries {args.retries}: must be zero or more")
    return RunOptions(cores, mem, gpus, tuple(custom), args.keep_going, args.quiet, retries=retries,
                      print_commands=args.print_commands, keep_temp=args.keep_temp)


def check_executor_options(args: RunArgs) -> None:
    """Refuse, before anything runs, an option the chosen executor cannot honour."""
    if args.pack is not None:
        from .emit import pack_option

        pack_option(args.pack, args.executor)
    if args.executor in PUSH:  # the scheduler runs every job: no pool of this machine bounds them
        name = args.executor.value.upper()
        for given, flag in ((args.cores, "-j/--cores"), (args.mem, "--mem"), (args.resources, "--resources")):
            if given:
                raise RulecError(f"{flag} is for local runs: {name} jobs ask for their own resources "
                                 "(resources: in the Rulefile, or the profile)")
    elif args.executor is Backend.JBSUB:  # each job's own jbsub -wait, in a worker here (its pools hold)
        for given, flag in ((args.poll, "--poll"), (args.bundle, "--bundle")):
            if given is not None:
                raise RulecError(f"{flag} is for SLURM and LSF runs: the jbsub executor writes no bundle and polls "
                                 "nothing (each job's jbsub -wait blocks until the job ends)",
                                 hint="rulec emit --jbsub writes a jbsub bundle")
    elif args.executor is Backend.LOCAL:
        for given, flag in ((args.poll, "--poll"), (args.bundle, "--bundle"), (args.profile, "--profile")):
            if given is not None:
                raise RulecError(f"{flag} is for cluster runs: a local run has no scheduler to poll, bundle or profile "
                                 "(add --executor slurm)")


def main(target: api.Target, args: RunArgs) -> int:
    return execute(target, args).exit_code


def execute(target: api.Target, args: RunArgs) -> RunResult:
    """``rulec run``; what it did as data (``main`` keeps only the exit status)."""
    # --touch records every job (even those up to date by mtime alone), so later plans use the records.
    options = PlanOptions(force=frozenset(args.force), force_all=args.force_all or args.touch, explain=args.why)
    check_executor_options(args)
    opts = run_options(args)  # bad values are refused even when nothing would run
    if not args.touch and not args.profile:  # a verdict over every file the load reads: no load
        from .. import verdict

        jobs = verdict.check_before_load(target, options)
        if jobs is not None:
            print(report.nothing_to_do(jobs))  # -q too: the one-line summary
            return RunResult(0, jobs)
    workflow = api.load(target)
    if options.force:  # before the lock and a cluster's re-attach, as a bad target is
        from ..plan import check_force

        check_force(workflow, options.force)
    if args.profile:  # its env tables (cluster executors only: check_executor_options)
        from ..profile import load as load_profile

        workflow = api.with_profile_env(workflow, load_profile(args.profile), args.executor)
    # Ctrl-C or SIGTERM before the run loop (planning, taking the lock): one line, exit 130.
    # The run loop has its own handling (it has jobs to stop); `started` says it was reached.
    previous = catch(signal.SIGTERM)
    started: list = []
    try:
        if not args.touch:
            jobs = api.up_to_date(workflow, target, options)
            if jobs is not None:
                print(report.nothing_to_do(jobs))  # -q too: the one-line summary
                return RunResult(0, jobs)
        with Lock(workflow.workdir) as lock:
            if lock.warning:
                report.warn(lock.warning)
            return _locked(workflow, target, args, options, opts, lock, started)
    except (KeyboardInterrupt, Interrupted):
        report.error("interrupted" if started else "interrupted before any job started: nothing was run")
        return RunResult(EXIT_INTERRUPTED)
    finally:
        restore(signal.SIGTERM, previous)


def _locked(workflow, target, args: RunArgs, options: PlanOptions, opts: RunOptions, lock: Lock, started: list) -> RunResult:
    history = History.open(workflow.workdir, write=True)
    try:
        graph = api.graph_of(workflow, target)
        reattached = None
        if args.executor in PUSH:
            # what a dead run left on the cluster: its finished jobs recorded, its jobs still
            # there re-attached (this run follows them), see executors/adopt.py
            import importlib

            push = importlib.import_module(f"..executors.{args.executor.value}", __package__)
            reattached = push.reattach(workflow.workdir, history, graph, quiet=opts.quiet, poll=args.poll or push.DEFAULT_POLL)
        fresh, snap = api.fresh_snapshot(workflow, target, options, graph)
        plan = make_plan(graph, snap, history, options, fresh)
        if reattached is not None and reattached.jobs:
            # one that would read an output this run makes again must run after it instead
            reattached.drop(reattached.outdated(plan, graph) + [j for j in reattached.jobs if j not in set(plan.run)],
                            push.queue(), opts.quiet, "an upstream job runs again")
        if not plan.run and not args.touch:
            from .. import verdict

            verdict.remember(workflow, target, options, graph, snap, len(graph) - len(plan.groups),
                             before_load=not args.profile)
        jobs = len(graph) - len(plan.groups)
        if not plan.run:
            print(report.nothing_to_do(jobs))  # -q too
            return RunResult(0, jobs)
        started.append(True)
        if options.explain:  # --why: every job that runs, with every reason, before it runs
            report.show_plan(api.Planned(workflow, graph, plan, history), why=True)
        if args.touch:
            code = touch(graph, plan, history, opts.quiet, snap)
            if code == 0:  # as after a run: the next no-op takes the verdict's fast path
                remember_after_run(workflow, target, options, graph, history, before_load=not args.profile)
            return RunResult(code, jobs - len(plan.run))
        unprotect(graph, plan, args.overwrite_protected)
        pack = None
        if args.pack is not None:  # (commands/emit.py, and the bundle modules it pulls in, only then)
            from .emit import pack_option

            pack = pack_option(args.pack, args.executor)
        eopts = executors.ExecutorOptions(args.executor, args.profile, args.bundle, args.poll, pack, reattached)
        attached = reattached.started(plan.run) if reattached is not None else None
        if args.executor in PUSH and executors.local_jobs(graph, plan):
            # local: true jobs run here, between the cluster's waves (docs/slurm.md)
            waves = executors.make_waves(eopts, graph, plan, lock.journal(), opts.quiet)
            loop = Loop(graph, plan, history, opts, waves.local, snap, waves=waves, attached=attached)
        else:
            executor = executors.make(eopts, graph, plan, lock.journal(), opts.quiet)
            loop = Loop(graph, plan, history, opts, executor, snap, attached=attached)
        history.checkpoint_behind()  # (the log moved into the store beside the run, not after it)
        code = loop.run()
        if code == 0:
            remember_after_run(workflow, target, options, graph, history, before_load=not args.profile,
                               made=loop.recorder.made)
        return RunResult(code, jobs - len(plan.run), loop)
    finally:
        history.close()


def unprotect(graph, plan, overwrite: bool) -> None:
    """Planned jobs would replace read-only protected() outputs: refused, naming them, unless
    ``overwrite`` (--overwrite-protected), which gives them their write permission back so
    that the job (here or on a cluster node) can remove them as any stale output."""
    from ..kinds import PROTECTED, OutputKinds, in_the_way, make_writable, refusal

    kinds = OutputKinds.of(graph)
    if kinds is None or not kinds.has(PROTECTED):
        return
    found = in_the_way(kinds, plan.run)
    if not found:
        return
    if not overwrite:
        raise refusal(kinds, found, "would replace it", "run with --overwrite-protected to let it, or delete the file yourself")
    for job, path in found:
        make_writable(os.path.join(graph.workflow.workdir, path))


def remember_after_run(workflow, target, options: PlanOptions, graph, history: History,
                       before_load: bool = False, made: dict | None = None) -> bool:
    """After a run that did all it planned: plan again, on a fresh snapshot and the records the
    run wrote, and remember the verdict when nothing is left to do, so that the first no-op
    after a run takes the verdict's fast path (one stat per path) instead of resolving and
    planning again. The fresh plan is what makes it sound: an input edited while the run went
    on shows as changed, and nothing is remembered. It costs one snapshot and one plan at the
    end of the run (the price the next no-op would have paid); runs over remote paths are not
    re-listed for it.

    ``made``: the stats of the outputs the run made, as the loop saw them at each job's end
    (``Recorder.made``): those paths are not stat'ed again. The verdict is then over those
    stats, and stays sound: the next no-op compares every path's stat with the verdict's, so
    an output changed after its job ended takes it to a full plan, which sees the change.
    Not where output kinds (temp() outputs a run deletes, touch() markers) or directory
    outputs make a path's stat at its job's end differ from its stat now."""
    from ..recordclass import replace

    from .. import storage, verdict
    from ..kinds import OutputKinds
    from ..state import Snapshot

    paths = api.paths_of(graph)
    if any(storage.is_remote(p) for p in paths):
        return False
    plain = replace(options, force=frozenset(), force_all=False, explain=False)
    if made and not graph.directories() and OutputKinds.of(graph) is None:
        stats = snapshot([p for p in paths if p not in made], workflow.workdir).as_dict()
        stats.update(made)
        snap = Snapshot(stats, plain.tolerance_ns)
    else:
        snap = snapshot(paths, workflow.workdir, plain.tolerance_ns, trees=graph.directories())
    again = make_plan(graph, snap, history, plain, recorded=history.recorded_here)
    if again.run:
        return False
    verdict.remember(workflow, target, plain, graph, snap, len(graph) - len(again.groups), before_load=before_load)
    return True
