"""The command line: parse arguments, call the API, report. No logic of its own."""

from __future__ import annotations

import argparse
import os
import sys

from . import __version__
from .backend import CLUSTER, EXECUTORS

COMMANDS = {
    "check": "check a Rulefile and summarize it",
    "dryrun": "show what would run, and why",
    "run": "run the jobs that are out of date",
    "status": "how many jobs of each rule are done, outdated or missing",
    "dag": "write the rule graph (or the job graph) as dot, mermaid, SVG or PNG",
    "report": "write an HTML report of the last run (or of every recorded run)",
    "emit": "write a cluster submission bundle (SLURM, LSF, jbsub)",
    "clean": "remove the outputs (and records) of the selected jobs",
    "unlock": "remove a stale lock left by a killed rulec",
    "init": "write a starter project (datasets x models) that runs as it is",
    "completion": "print a shell completion script (bash, zsh, fish)",
}

# The end of each command's --help (argparse epilogs, shown as written).
EXAMPLES = {
    "check": """examples:
  rulec check                      the Rulefile here: rules, dimensions, job counts
  rulec check examples/x           a Rulefile in another folder
  rulec check --json | jq .rules   the same as data""",
    "dryrun": """examples:
  rulec dryrun                     what would run, and why
  rulec dryrun -p fit              the jobs of rule fit, each with its command
  rulec dryrun --why 'fit[d0,m1]'  every reason of one job, with a command diff
  rulec dryrun -k 'fit and d0' -q  per rule how many of the selected jobs run""",
    "run": """examples:
  rulec run                        everything out of date, on all cores
  rulec run -j 4 -p                four jobs at a time, printing each command
  rulec run fit --set dataset=d0   the fit jobs of one dataset
  rulec run -F --keep-going        every job, going on after a failure
  rulec run -t                     mark the outputs up to date (make -t)
  rulec run --executor slurm --profile cluster.toml""",
    "status": """examples:
  rulec status                     per rule: done, outdated, missing (failed)
  rulec status -v                  each job, with its reason and log
  rulec status --json -v           the same as data""",
    "dag": """examples:
  rulec dag --format svg -o rules.svg    the rule graph, coloured by state
  rulec dag --jobs --format png -o jobs.png
  rulec dag --jobs --format mermaid""",
    "report": """examples:
  rulec report                     the last run: rulec-report.html
  rulec report --all -o runs.html  every recorded run""",
    "emit": """examples:
  rulec emit --slurm               write rulec-slurm/; submit with bash rulec-slurm/submit.sh
  rulec emit --lsf -o bundle --profile cluster.toml""",
    "clean": """examples:
  rulec clean --yes                remove every output of the pipeline
  rulec clean fit                  the outputs of rule fit's jobs only (asks first)
  rulec clean 'fit[d0,m1]' --downstream --yes   one job and what was built from it
  rulec clean summary --upstream   a job and everything it needs""",
    "unlock": """examples:
  rulec unlock                     remove the lock of a rulec that is gone
  rulec unlock --force             remove it even if its rulec still runs here""",
    "init": """examples:
  rulec init myproject && cd myproject && rulec run
  rulec init                       into this folder (refused if its files exist)""",
    "completion": """examples:
  source <(rulec completion bash)                      in ~/.bashrc
  source <(rulec completion zsh)                       in ~/.zshrc, after compinit
  rulec completion fish > ~/.config/fish/completions/rulec.fish""",
}


def _looks_like_rulefile(arg: str) -> bool:
    base = os.path.basename(arg.rstrip("/"))
    if os.path.isdir(arg):
        return os.path.isfile(os.path.join(arg, "Rulefile"))
    return base == "Rulefile" or base.endswith((".rules", ".Rulefile", ".rulefile"))


def _target_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="[RULEFILE] TARGET",
                   help="a Rulefile (or a folder holding one; default ./Rulefile), then targets: paths, rule names or job ids like estimate[data_0,logit]")
    p.add_argument("-f", "--rulefile", help="the Rulefile, when its name is not Rulefile")
    p.add_argument("-d", "--directory", help="the working folder paths are relative to (default: the Rulefile's folder)")
    p.add_argument("-k", dest="select", metavar="EXPR", help="select jobs by id: 'estimate and data_0 and not tree'")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="DIM=V1,V2", help="restrict a dimension to some values for this invocation")
    p.add_argument("--config", dest="config", action="append", default=[], metavar="KEY=VALUE", help="set a config key (db.host=x, models=a,b), over the config files")
    p.add_argument("--config-file", dest="config_files", action="append", default=[], metavar="FILE", help="a config file (TOML, YAML, JSON) read after the Rulefile's")


def _cores(text: str) -> int:
    """-j/--cores: a number >= 0 or ``all`` (0 and ``all``: every core of the machine)."""
    if text.strip().lower() == "all":
        return 0
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a number nor 'all'") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is below 0 (0 or 'all': every core)")
    return value


def _plan_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--force", action="append", default=[], metavar="RULE|ID", help="run these jobs whatever their state")
    p.add_argument("-F", "--force-all", action="store_true", help="run every job")
    p.add_argument("--why", action="store_true", help="show every reason, with a diff for changed commands")
    p.add_argument("--json", action="store_true", help="write the plan as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="only the summary (and errors)")


class _LazyWidth:
    """For argparse's formatters: the terminal's width looked up only when help or usage is
    really formatted. argparse makes a formatter for every option added, to check its
    metavar, and the stock one looks the width up each time, importing ``shutil`` (and zlib,
    bz2 and lzma with it): most starts print no help."""

    def __init__(self, prog, indent_increment=2, max_help_position=24, width=None):
        super().__init__(prog, indent_increment, max_help_position, width=80 if width is None else width)
        self._asked = (indent_increment, max_help_position, width)

    def format_help(self):
        indent_increment, max_help_position, width = self._asked
        if width is None:  # as argparse.HelpFormatter.__init__ does
            import shutil

            width = shutil.get_terminal_size().columns - 2
            self._width = width
            self._max_help_position = min(max_help_position, max(width - 20, indent_increment * 2))
        return super().format_help()


class _Formatter(_LazyWidth, argparse.HelpFormatter):
    pass


class _RawFormatter(_LazyWidth, argparse.RawDescriptionHelpFormatter):
    """The examples of a command's help kept as written."""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser. ``only``: the command given, whose parser alone is made
    then (``prog`` "rulec NAME", the same help and errors): a parser per command is most of
    argparse's cost at every start."""
    if only is not None:
        p = argparse.ArgumentParser(prog=f"rulec {only}", formatter_class=_Formatter)
        p.set_defaults(command=only)
        _options(p, only)
        _add_example(p, only)
        return p
    parser = argparse.ArgumentParser(prog="rulec", formatter_class=_Formatter, description="A rule compiler for data-analysis pipelines: local runs, SLURM, LSF and jbsub.")
    parser.add_argument("-V", "--version", action="version", version=f"rulec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, text in COMMANDS.items():
        p = sub.add_parser(name, help=text, formatter_class=_Formatter)
        _options(p, name)
        _add_example(p, name)
    return parser


def _options(p: argparse.ArgumentParser, name: str) -> None:
    """The options and arguments of command ``name``."""
    if name == "check":
        _target_args(p)
        p.add_argument("--json", action="store_true", help="the summary as JSON (file, default target, jobs, rules, dimensions)")
    elif name in ("dryrun", "run"):
        _target_args(p)
        _plan_args(p)
        p.add_argument("-n", "--dry-run", action="store_true", help="print the plan, run nothing")
        p.add_argument("-p", "--print-commands", action="store_true", help="print each job's command (a dry run: under each job; a run: when it starts)")
        if name == "run":
            p.add_argument("-j", "--cores", type=_cores, default=None, metavar="N|all", help="jobs and cores to use at once (default, 0 or all: every core)")
            p.add_argument("--mem", default=None, help="memory jobs may use at once, e.g. 16G (default: the machine's)")
            p.add_argument("--resources", action="append", default=[], metavar="NAME=N", help="a custom resource pool, e.g. io=2")
            p.add_argument("--keep-going", action="store_true", help="after a failure, go on with independent jobs")
            p.add_argument("--retries", type=int, default=None, metavar="N", help="retry a failed job up to N times (for rules without retries: of their own)")
            p.add_argument("-t", "--touch", action="store_true", help="mark the outputs up to date without running anything (make -t): touch existing outputs, record them")
            p.add_argument("--executor", choices=[b.value for b in EXECUTORS], default="local", help="where jobs run")
            p.add_argument("--profile", help="cluster settings (TOML) for --executor slurm")
            p.add_argument("--bundle", help="where the SLURM bundle is written (default .rulec/slurm/<run>)")
            p.add_argument("--poll", type=float, default=None, help="seconds between status queries (SLURM)")
            p.add_argument("--keep-temp", action="store_true", help="keep temp() outputs (by default deleted once every job that reads them has succeeded)")
            p.add_argument("--overwrite-protected", action="store_true", help="let jobs replace their read-only protected() outputs")
            p.add_argument("--pack", default=None, metavar="N|TIME", help="cluster array tasks run N jobs each, or as many as fit in TIME (e.g. 5m), one after another (for rules without pack: of their own)")
    elif name == "status":
        _target_args(p)
        p.add_argument("-v", "--verbose", action="store_true", help="one line per job, with its log")
        p.add_argument("--json", action="store_true", help="the counts per rule as JSON (with -v: each job too)")
    elif name == "dag":
        _target_args(p)
        p.add_argument("--format", choices=("dot", "mermaid", "svg", "png"), default="dot",
                       help="svg and png are drawn by graphviz's dot")
        p.add_argument("--jobs", action="store_true", help="the job graph instead of the rule graph")
        p.add_argument("-o", "--output", default=None, metavar="FILE", help="write FILE (default: standard output)")
    elif name == "report":
        _target_args(p)
        p.add_argument("-o", "--output", default=None, metavar="FILE", help="the HTML file (default: rulec-report.html; - for standard output)")
        p.add_argument("--all", action="store_true", help="every recorded run, not only the last")
    elif name == "emit":
        _target_args(p)
        _plan_args(p)
        group = p.add_mutually_exclusive_group(required=True)
        for backend in CLUSTER:
            group.add_argument(f"--{backend}", action="store_true", help=f"a {backend} bundle")
        p.add_argument("-o", "--output", default=None, help="the bundle folder (default: rulec-<backend>)")
        p.add_argument("--profile", help="cluster settings (TOML)")
        p.add_argument("--pack", default=None, metavar="N|TIME", help="array tasks run N jobs each, or as many as fit in TIME (e.g. 5m), one after another (for rules without pack: of their own)")
    elif name == "clean":
        _target_args(p)
        p.add_argument("--yes", action="store_true", help="do not ask")
        p.add_argument("--upstream", action="store_true", help="also the jobs the selected ones need")
        p.add_argument("--downstream", action="store_true", help="also the jobs of the pipeline that need the selected ones")
        p.add_argument("--protected", action="store_true", help="delete read-only protected() outputs too (by default they are kept)")
    elif name == "unlock":
        _target_args(p)
        p.add_argument("--force", action="store_true", help="remove the lock even if the rulec holding it is running on this host")
    elif name == "init":
        p.add_argument("folder", nargs="?", default=".", metavar="DIR", help="where to write it (default: here; made if missing)")
    elif name == "completion":
        p.add_argument("shell", choices=("bash", "zsh", "fish"))


def _add_example(p: argparse.ArgumentParser, name: str) -> None:
    """Every command's --help ends with its examples."""
    if name in EXAMPLES:
        p.epilog = EXAMPLES[name]
        p.formatter_class = _RawFormatter


def _target(ns):
    from .options import Target
    from .errors import RulecError

    args = list(ns.args)
    rulefile = ns.rulefile
    if rulefile is None:
        if args and _looks_like_rulefile(args[0]):
            rulefile = args.pop(0)
        else:
            rulefile = "Rulefile"
    if ns.directory is not None and os.path.exists(ns.directory) and not os.path.isdir(ns.directory):
        raise RulecError(f"-d {ns.directory}: not a folder (the working folder that paths are relative to)")
    overrides = []
    for item in ns.overrides:
        name, sep, values = item.partition("=")
        if not sep or not name or not values:
            raise RulecError(f"--set {item!r}: expected DIM=VALUE[,VALUE...]")
        overrides.append((name.strip(), tuple(v.strip() for v in values.split(",") if v.strip())))
    return Target(rulefile, ns.directory, tuple(args), ns.select, tuple(overrides), tuple(ns.config), tuple(ns.config_files))


def _plan_options(ns):
    from .options import PlanOptions

    return PlanOptions(force=frozenset(ns.force), force_all=ns.force_all, explain=ns.why or getattr(ns, "json", False))


def run_args(ns):
    """``rulec run``'s options, typed: the argparse Namespace goes no further than this file."""
    from .backend import Backend
    from .commands.run import RunArgs

    return RunArgs(force=tuple(ns.force), force_all=ns.force_all, touch=ns.touch, why=ns.why, quiet=ns.quiet,
                   cores=ns.cores, mem=ns.mem, resources=tuple(ns.resources), keep_going=ns.keep_going,
                   retries=ns.retries, executor=Backend(ns.executor), profile=ns.profile, bundle=ns.bundle, poll=ns.poll,
                   print_commands=ns.print_commands, keep_temp=ns.keep_temp, overwrite_protected=ns.overwrite_protected,
                   pack=ns.pack)


def emit_args(ns):
    """``rulec emit``'s options, typed."""
    from .backend import CLUSTER
    from .commands.emit import EmitArgs

    backend = next(b for b in CLUSTER if getattr(ns, b.value))  # argparse requires exactly one
    return EmitArgs(backend, output=ns.output, profile=ns.profile, force=tuple(ns.force), force_all=ns.force_all,
                    why=ns.why, quiet=ns.quiet, pack=ns.pack)


def console() -> int:
    """The ``rulec`` program (``python -m rulec`` too): ``main``, and an exit that does not
    walk everything the command made once more. Python's exit runs the cyclic collector over
    every object still alive (at 1,111 jobs, about 20 ms after a run); frozen, the collector
    leaves them alone: what reference counts free is freed as before, and the rest goes
    with the process. Nothing rulec leaves at exit needs the collector: its files and the
    state store are closed by then."""
    import gc

    code = main()
    gc.freeze()
    return code


def main(argv: list[str] | None = None) -> int:
    from . import gcpause

    gcpause.command_starts()  # the collector off: see rulec/gcpause.py
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C at any moment, start-up included: one line, 130
        sys.stderr.write("interrupted\n")
        return 130
    finally:
        gcpause.command_ends()


def _main(argv: list[str] | None) -> int:
    # File names need not be UTF-8: print them as the bytes they are, never crash on one.
    try:
        sys.stdout.reconfigure(errors="surrogateescape")
    except (AttributeError, ValueError):  # not a text stream we own (tests, embedding)
        pass
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["__complete"]:  # the shell asking what may come next: quick, silent
        from . import completion

        return completion.main(args[1:])
    if args and args[0] in COMMANDS:
        ns = build_parser(args[0]).parse_args(args[1:])
    else:
        parser = build_parser()
        ns = parser.parse_args(args)
        if ns.command is None:
            parser.print_help()
            return 2
    from .errors import RulecError

    try:
        return _dispatch(ns)
    except RulecError as err:
        from . import report  # here, not above: a no-op from the verdict never needs it

        report.error(err)
        return err.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except OSError as err:  # a folder, file or disk that refuses: one line, not a traceback
        from . import report

        report.error(RulecError(os_error_text(err), hint=_os_error_hint(err)))
        return 2
    except Exception as err:
        if type(err).__module__ != "sqlite3":
            raise
        from . import report

        report.error(RulecError(f"the state store in .rulec/ cannot be used: {err}",
                                hint="free disk space, or make .rulec/ writable; nothing was recorded for the jobs in progress, so they run again"))
        return 2


def os_error_text(err: OSError) -> str:
    """An OSError in words: what could not be done to which path."""
    what = err.strerror or type(err).__name__
    if err.filename is None:
        return what
    path = os.fsdecode(err.filename) if isinstance(err.filename, bytes) else str(err.filename)
    text = f"{path}: {what}"
    if err.filename2 is not None:
        text = f"{path} -> {err.filename2}: {what}"
    return text


def _os_error_hint(err: OSError) -> str | None:
    import errno

    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "rulec needs to write there: is the folder immutable or read-only?"
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk (or your quota) is full; free some space and run again"
    return None


def _quiet_stdout() -> None:
    """After a closed pipe, point stdout at /dev/null so that Python's flush at exit does not
    complain about it."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _refuse_unhonoured(ns) -> None:
    """Flags shared by the plan commands that a command cannot honour are refused, never
    accepted and ignored."""
    from .errors import RulecError

    dry = ns.command == "dryrun" or (ns.command == "run" and getattr(ns, "dry_run", False))
    if getattr(ns, "json", False) and not dry and ns.command not in ("check", "status"):
        raise RulecError(f"rulec {ns.command} has no JSON output: --json writes the plan of a dry run",
                         hint="use `rulec dryrun --json` for the plan as JSON")


def _dispatch(ns) -> int:
    if ns.command == "init":
        from .commands import init

        return init.main(ns.folder)
    if ns.command == "completion":
        from . import completion

        sys.stdout.write(completion.script(ns.shell))
        return 0
    _refuse_unhonoured(ns)
    target = _target(ns)
    if ns.command == "run" and ns.dry_run:  # `run -n` refuses what `run` would refuse
        from .commands import run

        run.check_executor_options(run_args(ns))
        run.run_options(run_args(ns))
    dry = ns.command in ("dryrun",) or (ns.command == "run" and ns.dry_run)
    if dry and not (ns.json or ns.why):
        from . import verdict

        # a verdict kept over the bytes of every file the load would read: nothing to load
        jobs = verdict.check_before_load(target, _plan_options(ns))
        if jobs is not None:
            sys.stdout.write(verdict.nothing_to_do(jobs) + "\n")
            return 0
    from . import api, report

    if ns.command == "check":
        workflow = api.load(target)
        graph = api.graph_of(workflow, target)
        if ns.json:
            sys.stdout.write(report.check_json(workflow, graph) + "\n")
            return 0
        report.check_summary(workflow, graph)
        return 0
    if ns.command in ("dryrun",) or (ns.command == "run" and ns.dry_run):
        options = _plan_options(ns)
        workflow = api.load(target)
        if not (ns.json or ns.why):
            jobs = api.up_to_date(workflow, target, options)
            if jobs is not None:
                sys.stdout.write(report.nothing_to_do(jobs) + "\n")
                return 0
        planned = api.plan(target, options, workflow=workflow, before_load=True, only_plan=not ns.json)
        report.show_plan(planned, json=ns.json, quiet=ns.quiet, why=ns.why, print_commands=ns.print_commands)
        return 0
    if ns.command == "run":
        from .commands import run

        return run.main(target, run_args(ns))
    if ns.command == "status":
        from .commands import status

        return status.main(target, verbose=ns.verbose, json=ns.json)
    if ns.command == "dag":
        from .commands import dag

        return dag.main(target, dag.DagArgs(ns.format, ns.jobs, ns.output))
    if ns.command == "report":
        from .commands import report as report_command

        return report_command.main(target, report_command.ReportArgs(ns.output, ns.all))
    if ns.command == "emit":
        from .commands import emit

        return emit.main(target, emit_args(ns))
    if ns.command == "clean":
        from .commands import clean

        return clean.main(target, yes=ns.yes, upstream=ns.upstream, downstream=ns.downstream, protected=ns.protected)
    if ns.command == "unlock":
        from .commands import unlock

        return unlock.main(target, force=ns.force)
    raise AssertionError(ns.command)  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
