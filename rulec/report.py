"""Everything rulec shows a person: plans and reasons, errors, summaries, progress.

rich is imported here (and in cli.py) only, and lazily: a plain dry run of 100k jobs writes
its job lines straight to the stream, as make -n does.
"""

from __future__ import annotations

import json
import sys
from collections import Counter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO

from .plan import Plan, Reason, Why
from .verdict import nothing_to_do  # noqa: F401 - the line for a plan with nothing to run


def console(stderr: bool = False):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 200  # pipes and CI logs: do not fold lines at 80
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=width)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _esc(text) -> str:
    from rich.markup import escape

    return escape(str(text))


def error(err, stream: IO[str] | None = None) -> None:
    from .errors import mask_secrets

    stream = stream or sys.stderr
    text = mask_secrets(err.render() if hasattr(err, "render") else str(err))
    stream.write(text + "\n")
    stream.flush()


def warn(message: str) -> None:
    from .errors import mask_secrets

    sys.stderr.write(f"warning: {mask_secrets(message)}\n")


# Control characters (C0, DEL, C1) as escapes: a name from a file listing never moves the
# cursor, rings the bell or starts an escape sequence on the user's terminal.
_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7f, 0xa0)]}
_CONTROL.update({0x09: "\\t", 0x0a: "\\n", 0x0d: "\\r"})


def shown(text: str) -> str:
    """A name or path as it may be printed on one line: control characters escaped,
    passwords in URLs masked."""
    from .errors import mask_secrets

    return mask_secrets(text.translate(_CONTROL)) if text else text


# --------------------------------------------------------------------------- reasons

def outcome_text(ev, missing=()) -> str:
    """Why a job did not succeed, from its ``run.executor.Finished`` event, in words (the only
    place these words live). ``missing``: declared outputs that do not exist after exit 0."""
    import signal

    from .run.executor import Outcome

    o = ev.outcome
    # a folder output (directory(...)) comes as "path/": "the folder path"
    made = ", ".join(f"the folder {shown(p[:-1])}" if p.endswith("/") else shown(p) for p in missing)
    if o is Outcome.OK and missing:
        text = "exited 0 but did not create " + made
    elif o is Outcome.MISSING_OUTPUT:
        text = "exited 0 but did not create " + (made or "every declared output")
    elif o is Outcome.EXIT:
        text = f"exit status {ev.exit_code}" if ev.exit_code is not None else f"{ev.state or 'failed'}, no exit status known"
        if ev.signal:
            text += f", signal {ev.signal}"
    elif o is Outcome.SIGNAL:
        try:
            name = signal.Signals(ev.signal).name
        except (ValueError, TypeError):
            name = str(ev.signal)
        text = f"killed by signal {name}"
    elif o is Outcome.LEFT_RUNNING:
        text = "exited 0 but left processes running, whose work was cut short (a job must wait for what it starts)"
    elif o is Outcome.LOST:
        text = ev.state and f"lost: {ev.state}" or "lost: the bash worker running it was killed"
    elif o is Outcome.NOT_STARTED:
        text = "not started"
    else:  # scheduler states: TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, PREEMPTED, CANCELLED
        text = ev.state or o.value
        if ev.exit_code is not None and (ev.exit_code or ev.signal):
            text += f", exit code {ev.exit_code}" + (f", signal {ev.signal}" if ev.signal else "")
        elif ev.state:  # the scheduler ended it before its command could say anything
            text += ", no exit code: stopped by the scheduler"
    if ev.notes:
        text += " (" + "; ".join(ev.notes) + ")"
    return text


def reason_text(reason: Reason) -> str:
    w = reason.why
    if reason.path is not None:
        reason = Reason(w, shown(reason.path), reason.job)
    if w is Why.OUTPUT_MISSING:
        return f"output missing: {reason.path}"
    if w is Why.FORCED:
        return "forced"
    if w is Why.INPUT_MISSING:
        return f"input missing: {reason.path} (no rule makes it)"
    if w is Why.NO_OUTPUTS:
        return "no outputs: always runs"
    if w is Why.INCOMPLETE:
        return "incomplete: the last run started it and never finished"
    if w is Why.UPSTREAM:
        return f"upstream job runs: {reason.job}"
    if w is Why.INPUT_SET_CHANGED:
        return "the set of inputs changed"
    if w is Why.INPUT_CHANGED:
        return f"input changed since the last run: {reason.path}" if reason.path else "input changed since the last run"
    if w is Why.INPUT_NEWER:
        return f"input newer than output: {reason.path}"
    if w is Why.COMMAND_CHANGED:
        return "command changed"
    if w is Why.PARAMS_CHANGED:
        return "params changed"
    if w is Why.TEMP_NEEDED:
        return f"temp output missing: {reason.path}, read by {reason.job}, which runs"
    if w is Why.ENV_CHANGED:
        return f"environment changed: {reason.path}" if reason.path else "environment changed"
    if w is Why.CONFIG_CHANGED:
        return f"config changed: {reason.path}"
    return w.value  # pragma: no cover


# --------------------------------------------------------------------------- check

def check_summary(workflow, graph, out: IO[str] | None = None) -> None:
    con = console()
    con.print(f"[bold green]ok[/] {_esc(workflow.file)}: {_count(len(workflow.rules), 'rule')}, "
              f"{_count(len(workflow.dimensions), 'dimension')}, default target "
              f"[bold]{workflow.default_target}[/] expands to [bold]{len(graph)}[/] jobs")
    # The tables are plain aligned text: a rich Table of a thousand rules takes a second.
    stream = out or sys.stdout
    lines: list[str] = []
    if workflow.dimensions:
        rows = []
        for dim in workflow.dimensions.values():
            first = ", ".join(dim.values[:4]) + (", ..." if len(dim.values) > 4 else "")
            rows.append((dim.name, str(len(dim.values)), first))
        lines += _columns(("dimension", "values", "first values"), rows, right=(1,))
    counts = Counter(graph.rule[j] for j in graph.order)
    rows = [(rule.name, str(counts.get(rule.index, 0)), ", ".join(rule.wildcards), rule.label or "") for rule in workflow.rules]
    lines += _columns(("rule", "jobs", "wildcards", "label"), rows, right=(1,))
    stream.write("\n".join(lines) + "\n")
    stream.flush()


def check_json(workflow, graph) -> str:
    """``rulec check --json``: the summary as data (fields in docs/cli.md)."""
    counts = Counter(graph.rule[j] for j in graph.order)
    return json.dumps({
        "file": workflow.file,
        "default_target": workflow.default_target,
        "jobs": len(graph),
        "rules": [{"name": r.name, "jobs": counts.get(r.index, 0), "wildcards": list(r.wildcards), "label": r.label}
                  for r in workflow.rules],
        "dimensions": [{"name": d.name, "values": list(d.values)} for d in workflow.dimensions.values()],
    }, indent=1)


def _columns(header: tuple[str, ...], rows: list[tuple[str, ...]], right: tuple[int, ...] = ()) -> list[str]:
    """A table as lines of text: columns two spaces apart, ``right`` columns right-aligned."""
    widths = [max([len(header[i])] + [len(r[i]) for r in rows]) for i in range(len(header))]

    def line(cells) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [line(header)] + [line(r) for r in rows]


# --------------------------------------------------------------------------- plan

def plan_summary(plan: Plan, quiet: bool = False, why: bool = False, history=None, commands=None, stream: IO[str] | None = None,
                 print_commands: bool = False) -> None:
    """Per rule how many jobs run, then each job with its first reason (all with ``why``),
    and with ``print_commands`` its command under it (``commands(job)``)."""
    graph = plan.graph
    stream = stream or sys.stdout
    rules = graph.workflow.rules
    total = Counter(map(graph.rule.__getitem__, graph.order))
    for j in set(plan.groups):  # a group of targets runs nothing: not a job to count
        total[graph.rule[j]] -= 1
    running = Counter(graph.rule[j] for j in plan.run)
    n_jobs = sum(total.values())
    lines = []
    if not plan.run:
        lines.append(nothing_to_do(n_jobs))
        stream.write("\n".join(lines) + "\n")
        return
    lines.append(f"{len(plan.run)} of {n_jobs} jobs to run:")
    width = max(len(r.name) for r in rules)
    for rule in rules:
        if total.get(rule.index):
            lines.append(f"  {rule.name:<{width}}  {running.get(rule.index, 0):>7} of {total[rule.index]:>7}")
    stream.write("\n".join(lines) + "\n")
    if quiet:
        return
    out = []
    job_id = graph.job_id
    reasons = plan.reasons
    if why:
        for job in plan.run:
            out.append(shown(job_id(job)))
            for reason in reasons[job]:
                out.append(f"    {reason_text(reason)}")
                if reason.why is Why.COMMAND_CHANGED and history is not None and commands is not None:
                    detail = history.detail(job_id(job))
                    if detail is not None:
                        out.extend("      " + line for line in command_diff(detail.command, commands(job)))
            if print_commands:
                out.extend(_command_lines(commands(job), "    $ "))
    else:
        ids = [shown(job_id(j)) for j in plan.run]
        w = min(max(len(i) for i in ids), 60)
        for job, jid in zip(plan.run, ids):
            out.append(f"  {jid:<{w}}  {reason_text(reasons[job][0])}")
            if print_commands:
                out.extend(_command_lines(commands(job), "      $ "))
    stream.write("\n".join(out) + "\n")


def _command_lines(command: str, lead: str) -> list[str]:
    """A job's command under its line: each of its lines after ``lead``, made safe to show."""
    return [lead + shown(line) for line in command.splitlines() or [""]]


def command_diff(old: str, new: str) -> list[str]:
    import difflib  # here: only a changed command is shown as a diff

    return list(difflib.unified_diff(old.splitlines(), new.splitlines(), "last run", "now", lineterm="", n=1))


def show_plan(planned, json: bool = False, quiet: bool = False, why: bool = False, print_commands: bool = False) -> None:
    """Print a plan (``api.Planned``): as JSON, or per rule and per job with its reasons."""
    from . import shell

    renderers = None

    def commands(job):
        nonlocal renderers
        if renderers is None:
            renderers = shell.renderers(planned.graph)
        return shell.command_of(planned.graph, renderers, job)

    if json:
        sys.stdout.write(plan_json(planned.plan, commands) + "\n")
        return
    plan_summary(planned.plan, quiet=quiet, why=why, history=planned.history, commands=commands, print_commands=print_commands)


def plan_json(plan: Plan, commands) -> str:
    graph = plan.graph
    jobs = []
    for job in plan.run:
        jobs.append({
            "id": graph.job_id(job),
            "rule": graph.rule_of(job).name,
            "wildcards": dict(zip(graph.rule_of(job).wildcards, graph.values[job])),
            "reasons": [{"why": r.why.value, **({"path": r.path} if r.path else {}), **({"job": r.job} if r.job else {})} for r in plan.reasons[job]],
            "outputs": list(graph.declared_outputs(job)),
            "logs": list(graph.logs(job)),
            **({"benchmark": graph.benchmark(job)} if graph.benchmark(job) else {}),
            "inputs": list(graph.inputs[job]),
            "deps": [graph.job_id(d) for d in graph.deps[job]],
            "command": commands(job),
        })
    return json.dumps({"jobs_total": len(graph) - len(plan.groups), "jobs_to_run": len(plan.run), "jobs": jobs}, indent=1)


# --------------------------------------------------------------------------- status

def status_table(rows, per_job=None, failed: bool = False) -> None:
    """rows: (rule, done, outdated, missing, failed); per_job: (job id, state, reason, log
    path). The failed column is shown when some job's last run failed (``failed``)."""
    from rich.table import Table

    con = console()
    table = Table(box=None, pad_edge=False)
    cols = ("rule", "done", "outdated", "missing") + (("failed",) if failed else ())
    for col in cols:
        table.add_column(col, justify="left" if col == "rule" else "right")
    for rule, done, outdated, missing, n_failed in rows:
        cells = [_esc(rule), f"[green]{done}[/]" if done else "0", f"[yellow]{outdated}[/]" if outdated else "0",
                 f"[red]{missing}[/]" if missing else "0"]
        if failed:
            cells.append(f"[bold red]{n_failed}[/]" if n_failed else "0")
        table.add_row(*cells)
    con.print(table)
    if per_job:
        jobs = Table(box=None, pad_edge=False)
        for col in ("job", "state", "reason", "log"):
            jobs.add_column(col)
        for jid, state, reason, log in per_job:
            color = {"done": "green", "outdated": "yellow", "missing": "red", "failed": "bold red"}.get(state, "")
            jobs.add_row(_esc(jid), f"[{color}]{state}[/]", _esc(reason), _esc(log or ""))
        con.print(jobs)


# --------------------------------------------------------------------------- run results

def tail(path: str, lines: int = 10) -> list[str]:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(size - 8192, 0))
            data = fh.read().decode("utf-8", "replace")
    except OSError:
        return []
    return data.splitlines()[-lines:]


COMMAND_LINES = 10  # of a failed job's command in the summary


def run_failures(failures, done: int, not_run: int, workdir: str, stream: IO[str] | None = None) -> None:
    import os

    stream = stream or sys.stderr
    out = [f"{len(failures)} job(s) failed, {done} succeeded, {not_run} not run:"]
    for f in failures:
        out.append(f"  {shown(f.job_id)}: {shown(f.why)}")
        command = getattr(f, "command", None)
        if command:
            lines = command.splitlines() or [""]
            out.extend(f"    $ {shown(line)}" for line in lines[:COMMAND_LINES])
            if len(lines) > COMMAND_LINES:
                out.append(f"    $ ... ({len(lines) - COMMAND_LINES} more lines)")
        if f.log:
            out.append(f"    log: {f.log}")
            for line in tail(os.path.join(workdir, f.log)):
                out.append(f"    | {line}")
        else:
            out.append("    (no output)")
    stream.write("\n".join(out) + "\n")
    stream.flush()


# ---- cluster runs
# What `rulec emit` and `rulec run --executor slurm` show. Plain data in, text out.

def bundle_written(path: str, backend: str, rows, n_tasks: int, calls: int, call_name: str,
                   hint: str, stream: IO[str] | None = None) -> None:
    """rows: (array name, number of tasks, dependency text[, (jobs, jobs per task) of a packed
    array]) per array."""
    stream = stream or sys.stdout
    rows = list(rows)
    out = [f"wrote {path}/ ({backend}): {len(rows)} array(s), {n_tasks} task(s), {calls} {call_name} call(s)"]
    width = max((len(r[0]) for r in rows), default=0)
    for name, size, deps, *packed in rows:
        jobs = f" ({packed[0][0]} jobs, {packed[0][1]} per task)" if packed and packed[0] else ""
        out.append(f"  {name:<{width}}  {size:>7} task(s){jobs}" + (f"  after {deps}" if deps else ""))
    out.append(hint)
    stream.write("\n".join(out) + "\n")
    stream.flush()


class ClusterProgress:
    """Events of a cluster run: a live summary line on a terminal, else one plain line per
    event (``[3/20] done <job id>``, ``FAILED <job id> (state, exit code, log)``)."""

    def __init__(self, total: int, quiet: bool = False, live: bool | None = None, stream=None):
        import time

        self.total = total
        self.quiet = quiet
        self.stream = stream or sys.stdout
        self.done = self.failed = self.skipped = 0
        self.running: set[str] = set()
        self.started = time.monotonic()
        self.live = (self.stream.isatty() if live is None else live) and not quiet
        self._live = None
        if self.live:
            from rich.live import Live

            self._live = Live(self, console=console(), refresh_per_second=4, transient=False)
            self._live.start()

    def _line(self, text: str, err: bool = False, style: str = "") -> None:
        text = shown(text)
        if self._live is not None:
            self._live.console.print(f"[{style}]{_esc(text)}[/]" if style else _esc(text))
            self._live.refresh()
        elif err:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()
        elif not self.quiet:
            self.stream.write(text + "\n")
            self.stream.flush()

    def note(self, text: str) -> None:
        if not self.quiet:
            self._line(text)

    def start(self, job_id: str) -> None:
        self.running.add(job_id)

    def success(self, job_id: str) -> None:
        self.running.discard(job_id)
        self.done += 1
        if self._live is None and not self.quiet:
            self._line(f"[{self.done + self.failed:>{len(str(self.total))}}/{self.total}] done {job_id}")

    def failure(self, job_id: str, detail: str) -> None:
        self.running.discard(job_id)
        self.failed += 1
        self._line(f"FAILED {job_id} ({detail})", err=True, style="bold red")

    def skip(self, job_id: str, why: str) -> None:
        self.running.discard(job_id)
        self.skipped += 1
        if not self.quiet and self._live is None:
            self._line(f"skipped {job_id}: {why}")

    def close(self) -> None:
        if self._live is not None:
            self._live.refresh()
            self._live.stop()
            self._live = None
        self.stream.flush()

    def __rich__(self):  # re-rendered on every refresh: the elapsed time moves on
        return self._render()

    def _render(self):
        import time

        from rich.text import Text

        secs = int(time.monotonic() - self.started)
        waiting = self.total - self.done - self.failed - self.skipped - len(self.running)
        return Text.from_markup(
            f"[green]done {self.done}[/]  [cyan]running {len(self.running)}[/]  [red]failed {self.failed}[/]  "
            f"skipped {self.skipped}  queued {max(waiting, 0)}  of {self.total}  elapsed {secs // 60}:{secs % 60:02d}"
        )
