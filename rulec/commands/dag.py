"""``rulec dag``: the rule graph (or the job graph) as dot, mermaid, SVG or PNG, coloured by
the jobs' states (up to date, to run, running now, failed last time)."""

from __future__ import annotations

import os
import sys

from .. import api, graphviz, report
from ..errors import RulecError
from ..recordclass import record
from ..storage import write_replacing
from ..plan import PlanOptions

# With --jobs, a picture of more jobs than this is the rule graph with counts per state
# instead: dot takes minutes over tens of thousands of nodes, and nobody can read them.
JOB_LIMIT = 500
FORMATS = ("dot", "mermaid", "svg", "png")


@record(frozen=True)
class DagArgs:
    """What the command line says to ``rulec dag`` (built by rulec/cli.py)."""

    format: str = "dot"
    jobs: bool = False
    output: str | None = None  # -o FILE; None: standard output


def job_states(planned: api.Planned) -> list[str | None]:
    """Per job (dense id): "done" (up to date), "todo" (the plan runs it), "running" (a live
    run on this host started it: its lock and records say so, as for ``rulec status``) or
    "failed" (its last recorded attempt failed, and it is not up to date). A group (no
    command, no outputs: ``all``) is "todo" when a job it needs is not done."""
    from ..run import lock
    from .status import _started_by

    graph, plan, history = planned.graph, planned.plan, planned.history
    workdir = planned.workflow.workdir
    live = lock.live_holder(workdir)
    pids = lock.running_jobs(workdir, live["pid"]) if live else {}
    records = history.records() if live else {}
    failed = history.failed()
    groups = set(plan.groups)
    reasons = plan.reasons
    states: list[str | None] = [None] * len(graph)
    for job in graph.order:
        if job in groups:
            states[job] = "todo" if any(states[d] != "done" for d in graph.deps[job]) else "done"
            continue
        if job not in reasons:
            states[job] = "done"
            continue
        state = "todo"
        if live is not None or failed:
            jid = graph.job_id(job)
            rec = records.get(jid)
            if live is not None and rec is not None and rec[2] == "running" and (jid in pids or _started_by(history, jid, live)):
                state = "running"
            elif jid in failed:
                state = "failed"
        states[job] = state
    return states


def main(target: api.Target, args: DagArgs) -> int:
    if args.format not in FORMATS:
        raise RulecError(f"--format {args.format!r}: expected one of {', '.join(FORMATS)}")
    if args.format == "png" and args.output in (None, "-") and _tty(sys.stdout):
        raise RulecError("rulec dag --format png writes binary data, not for a terminal: use -o FILE (or redirect standard output)")
    picture = args.format in ("svg", "png")
    if picture and graphviz.dot_program() is None:  # before planning: say it at once
        raise RulecError(graphviz.MISSING_DOT.format(fmt=args.format))
    planned = api.plan(target, PlanOptions(missing_sources_ok=True))
    states = job_states(planned)
    jobs = args.jobs
    if jobs and picture and len(planned.graph) > JOB_LIMIT:
        report.warn(f"{len(planned.graph)} jobs are more than a picture can show ({JOB_LIMIT} at most): "
                    "drawing the rule graph, with each rule's jobs counted by state; "
                    "select fewer jobs with -k or a target, or use --format dot")
        jobs = False
    text = graphviz.render(planned.graph, "mermaid" if args.format == "mermaid" else "dot", jobs, states)
    data = graphviz.image(text, args.format) if picture else text.encode("utf-8", "surrogateescape")
    if args.output in (None, "-"):
        out = sys.stdout.buffer
        sys.stdout.flush()
        out.write(data)
        out.flush()
    else:
        write_atomic(args.output, data)
    return 0


def write_atomic(path: str, data: bytes) -> None:
    """Write ``path`` whole or not at all: a temporary file next to it, renamed into place
    (a failure, a full disk or Ctrl-C leave the old file, or none, never half of one)."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise RulecError(f"{path} is a folder: -o needs a file name")
    if not os.path.isdir(folder):
        raise RulecError(f"cannot write {path}: the folder {folder} does not exist")
    write_replacing(path, data, mode=0o666)  # as a plain open() would have made it, not private


def _tty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
