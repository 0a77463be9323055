"""``rulec report``: one self-contained HTML file (inline CSS, JavaScript and SVG; nothing
fetched from the network) about the last run, or every recorded run (``--all``).

What is in it: a summary (jobs done and failed, wall time, when), the rule graph coloured
by the jobs' states (dot's SVG, or a plain SVG drawn here when graphviz is missing), a
timeline of every attempt on a <canvas> (per-rule lanes; start, end, attempt, where it
ran), a paged table of the attempts, per-rule runtime statistics (with the figures of the
rules' ``benchmark:`` files when there are any) and the failures with their command and
log end. A ``rulec run --touch`` is a run of touched jobs, the adoption of a dead SLURM/LSF
run's bundle a run of adopted (or failed) ones: each outcome has its colour and its word. The
data are embedded as JSON and drawn by the page's script, so 50,000 jobs make
a few MB and no more than a page of table rows at a time; beyond DETAIL_LIMIT attempts the
timeline of older runs (or of one huge run) is binned per rule instead.

Everything that comes from the working folder (job ids, commands, log text, file names)
is escaped: HTML text through ``html.escape``, the JSON through ``_json`` (no ``<`` in
it), and the page's script puts text in with ``textContent`` only."""

from __future__ import annotations

import html
import json
import os
import statistics
import sys
import time
from collections import Counter, defaultdict

from .. import __version__, api, graphviz, report
from ..errors import RulecError, mask_secrets
from ..history import ADOPTED, TOUCH, TOUCHED, Attempt, Run
from ..plan import PlanOptions
from ..recordclass import record
from .dag import job_states, write_atomic

DEFAULT_OUTPUT = "rulec-report.html"
DETAIL_LIMIT = 60_000  # attempts drawn one by one, newest runs first; the rest are binned
BINS = 400  # time bins per lane of a binned timeline
TOP = 200  # attempts listed for a binned run (the longest)
FAILURES_SHOWN = 100  # failures written out with command and log end
BENCHMARK_FILES = 200_000  # benchmark files read at most
# An attempt's outcome, by its index in the page's data (``o``): what ran and succeeded, failed,
# was interrupted; a job ``rulec run --touch`` recorded as built without running it; a job done
# on the cluster by a run whose rulec died, recorded when the next run adopted it.
OUTCOMES = ("ok", "failed", "interrupted", TOUCHED, ADOPTED)
BENCHMARK_COLUMNS = ("s", "max_rss_mb", "user_s", "system_s", "io_in", "io_out")


@record(frozen=True)
class ReportArgs:
    """What the command line says to ``rulec report`` (built by rulec/cli.py)."""

    output: str | None = None  # None: DEFAULT_OUTPUT; "-": standard output
    all: bool = False


def main(target: api.Target, args: ReportArgs) -> int:
    started = time.monotonic()
    planned = api.plan(target, PlanOptions(missing_sources_ok=True))
    states = job_states(planned)
    history = planned.history
    runs = history.runs()
    if runs:
        chosen = runs if args.all else runs[-1:]
        attempts = history.attempts([r.run_id for r in chosen])
    else:
        attempts = history.successes()
        if not attempts:
            raise RulecError(f"no run is recorded in {planned.workflow.workdir} yet: nothing to report",
                             hint="`rulec run` first; every run that runs jobs is recorded in .rulec/state.db")
        first = min((a.started or a.finished) for a in attempts)
        chosen = [Run(0, first, max(a.finished for a in attempts), "?", None, len(attempts), "recorded", None)]
    page = build(planned, states, chosen, attempts, all_runs=args.all)
    data = page.encode("utf-8")
    output = args.output or DEFAULT_OUTPUT
    if output == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return 0
    write_atomic(output, data)
    jobs = len({a.job_id for a in attempts})
    print(f"wrote {output} ({_size(len(data))}): {len(chosen)} run(s), {jobs} job(s), "
          f"{len(attempts)} attempt(s), in {time.monotonic() - started:.1f}s")
    return 0


# --------------------------------------------------------------------------- the model

def build(planned: api.Planned, states, runs: list[Run], attempts: list[Attempt], all_runs: bool = False) -> str:
    """The HTML page, as text."""
    graph = planned.graph
    workflow = planned.workflow
    by_run: dict[int, list[Attempt]] = defaultdict(list)
    for a in attempts:
        by_run[a.run_id].append(a)
    rule_names = [r.name for r in workflow.rules]
    extra_rules = sorted({a.rule for a in attempts} - set(rule_names))  # rules since removed
    rule_index = {n: i for i, n in enumerate(rule_names + extra_rules)}
    # Newest runs first get their attempts one by one, as long as the budget lasts.
    budget = DETAIL_LIMIT
    detailed = set()
    for run in reversed(runs):
        n = len(by_run.get(run.run_id, ()))
        if n <= budget:
            detailed.add(run.run_id)
            budget -= n
        else:
            budget = 0
    places: dict[str, int] = {}
    run_data = [_run_data(run, by_run.get(run.run_id, []), rule_index, places, run.run_id in detailed) for run in runs]
    counts = graphviz.rule_counts(graph, states)
    svg, drawn_by = _rule_graph(graph, states)
    data = {
        "rules": rule_names + extra_rules,
        "places": list(places),
        "runs": run_data,
        "outcomes": list(OUTCOMES),
    }
    failures = _failures(attempts)
    sections = [
        _summary(workflow, runs, by_run, all_runs),
        _section("Rule graph", f'<p class="note">{html.escape(drawn_by)}; colours: the jobs\' state now.</p>'
                 f'{_legend()}<div class="graph">{svg}</div>', "graph"),
        _section("Timeline", _timeline_html(runs), "timeline"),
        _section("Rules", _rules_table(graph, rule_names + extra_rules, attempts, counts), "rules"),
        _section("Failures", _failures_html(failures, workflow.workdir), "failures"),
        _section("Attempts", _table_html(), "attempts"),
    ]
    title = f"rulec report: {workflow.file}"
    return _fill(_PAGE, title=_h(title), css=_CSS, body="\n".join(sections), data=_json(data), js=_JS,
                 version=_h(__version__), generated=_h(_when(time.time())))


def _run_data(run: Run, attempts: list[Attempt], rule_index: dict[str, int], places: dict[str, int], detail: bool) -> dict:
    t0 = min([run.started] + [a.started for a in attempts if a.started is not None] + [a.finished for a in attempts])
    end = max([run.finished or 0.0] + [a.finished for a in attempts] + [t0])
    out = {"id": run.run_id, "t0": t0, "span": max(end - t0, 1e-3), "label": _run_label(run), "n": len(attempts)}

    def columns(rows: list[Attempt]) -> dict:
        cols: dict[str, list] = {"r": [], "j": [], "s": [], "d": [], "n": [], "p": [], "o": []}
        for a in rows:
            start = a.started if a.started is not None else a.finished
            cols["r"].append(rule_index[a.rule])
            cols["j"].append(_clean(a.job_id[len(a.rule):] if a.job_id.startswith(a.rule) else "|" + a.job_id))
            cols["s"].append(round((start - t0) * 1000))
            cols["d"].append(max(round((a.finished - start) * 1000), 0))
            cols["n"].append(a.attempt)
            cols["p"].append(places.setdefault(_clean(a.place), len(places)) if a.place else -1)
            cols["o"].append(OUTCOMES.index(a.outcome) if a.outcome in OUTCOMES else 1)
        return cols

    if detail:
        out["a"] = columns(attempts)
        return out
    # Binned: per rule, the average number of its jobs running in each of BINS slices.
    width = out["span"] / BINS
    lanes: dict[int, list[float]] = {}
    for a in attempts:
        start = a.started if a.started is not None else a.finished
        lane = lanes.get(rule_index[a.rule])
        if lane is None:
            lane = lanes[rule_index[a.rule]] = [0.0] * BINS
        s, e = start - t0, a.finished - t0
        first, last = min(int(s / width), BINS - 1), min(int(e / width), BINS - 1)
        for b in range(first, last + 1):
            lo, hi = max(s, b * width), min(e, (b + 1) * width)
            if hi > lo:
                lane[b] += (hi - lo) / width
    out["bins"] = {"width": width, "lanes": {str(k): [round(v, 2) for v in lane] for k, lane in lanes.items()}}
    longest = sorted(attempts, key=lambda a: a.finished - (a.started or a.finished), reverse=True)[:TOP]
    out["a"] = columns(longest)
    out["top"] = True
    return out


def _run_label(run: Run) -> str:
    name = "records of the last successful runs" if run.run_id == 0 else f"run {run.run_id}"
    if run.run_id and run.executor == TOUCH:
        name += " (rulec run --touch)"
    elif run.run_id and run.status == ADOPTED:
        name += " (adopted: jobs of a run whose rulec died)"
    return f"{name}, {_when(run.started)}"


def _final(attempts: list[Attempt]) -> dict[tuple[int, str], Attempt]:
    """(run, job) -> the job's last attempt in that run."""
    last: dict[tuple[int, str], Attempt] = {}
    for a in attempts:
        last[(a.run_id, a.job_id)] = a
    return last


def _failures(attempts: list[Attempt]) -> list[Attempt]:
    """The jobs whose last attempt in a run failed, newest first."""
    return sorted((a for a in _final(attempts).values() if a.outcome == "failed"), key=lambda a: -a.finished)


# --------------------------------------------------------------------------- sections

def _summary(workflow, runs: list[Run], by_run, all_runs: bool) -> str:
    from ..run import lock

    live = lock.live_holder(workflow.workdir)
    rows = []
    for run in reversed(runs):
        attempts = by_run.get(run.run_id, [])
        final = _final(attempts)
        outcome = Counter(a.outcome for a in final.values())
        retried = sum(1 for a in final.values() if a.outcome in ("ok", ADOPTED) and a.attempt > 1)
        end = max([run.finished or 0.0] + [a.finished for a in attempts]) or None
        first = min([run.started] + [a.started for a in attempts if a.started is not None])
        wall = _duration(end - first) if end else "?"
        status = run.status
        if not run.finished and run.run_id:
            status = ("still running: " + lock.describe(live) if live and run is runs[-1]
                      else "no end recorded: rulec was stopped before it could say how the run ended")
        not_run = max(run.planned - len(final), 0)
        rows.append((run, outcome, retried, wall, status, not_run, end))
    run, outcome, retried, wall, status, not_run, end = rows[0]
    if run.run_id and run.executor == TOUCH:  # rulec run --touch: nothing ran, nothing failed
        cards = [("touched", outcome[TOUCHED]), ("wall time", wall), ("when", _when(run.started))]
    else:
        cards = [("jobs done", outcome["ok"]), ("failed", outcome["failed"]), ("wall time", wall),
                 ("when", _when(run.started))]
        if retried:
            cards.insert(2, ("done on a retry", retried))
        if outcome["interrupted"]:
            cards.insert(2, ("interrupted", outcome["interrupted"]))
        if outcome[ADOPTED]:  # done on the cluster by the run that died, not by this one
            cards.insert(1, ("adopted", outcome[ADOPTED]))
    head = "".join(f'<div class="card"><div class="k">{_h(k)}</div><div class="v">{_h(v)}</div></div>' for k, v in cards)
    facts = [("Rulefile", workflow.file), ("working folder", workflow.workdir),
             ("run", f"{_run_label(run)}; executor {run.executor}; {status}"),
             ("planned", f"{run.planned} job(s); {not_run} not run" if run.run_id else "?")]
    if run.command:
        facts.append(("command", run.command))
    if end:
        facts.append(("ended", _when(end)))
    dl = "".join(f"<dt>{_h(k)}</dt><dd>{_h(v)}</dd>" for k, v in facts)
    body = f'<div class="cards">{head}</div><dl>{dl}</dl>'
    if all_runs and len(rows) > 1:
        trs = "".join(f"<tr><td>{r.run_id}</td><td>{_h(_when(r.started))}</td><td>{_h(w)}</td><td>{_h(r.executor)}</td>"
                      f"<td>{o['ok']}</td><td>{o['failed']}</td><td>{o['interrupted']}</td><td>{o[TOUCHED]}</td>"
                      f"<td>{o[ADOPTED]}</td><td>{n}</td><td>{_h(s)}</td></tr>"
                      for r, o, _, w, s, n, _ in rows)
        body += ('<h3>Every recorded run (newest first)</h3><table class="t"><thead><tr><th>run</th><th>started</th>'
                 "<th>wall</th><th>executor</th><th>done</th><th>failed</th><th>interrupted</th><th>touched</th>"
                 f"<th>adopted</th><th>not run</th><th>status</th></tr></thead><tbody>{trs}</tbody></table>")
    return _section("Summary", body, "summary")


def _rule_graph(graph, states) -> tuple[str, str]:
    if graphviz.dot_program() is not None:
        try:
            svg = graphviz.image(graphviz.render(graph, "dot", False, states, legend=False), "svg")
            return graphviz.inline_svg(svg), f"drawn by graphviz's dot {graphviz.dot_version() or ''}".rstrip()
        except RulecError as err:
            return graphviz.simple_svg(graph, states), f"drawn by rulec: graphviz's dot failed ({err})"
    return graphviz.simple_svg(graph, states), "drawn by rulec: graphviz's dot is not installed (apt-get install graphviz draws a better one)"


def _legend() -> str:
    return '<div class="legend">' + "".join(
        f'<span><i style="background:{graphviz.COLOURS[s]}"></i>{_h(graphviz.LEGEND[s])}</span>' for s in graphviz.STATES) + "</div>"


def _timeline_html(runs: list[Run]) -> str:
    select = ""
    if len(runs) > 1:
        select = '<label>run <select id="run-select"></select></label> '
    return (f'<div class="controls">{select}<span id="timeline-note" class="note"></span></div>'
            '<div class="legend"><span><i style="background:#4f8fd6"></i>succeeded</span>'
            '<span><i style="background:#e0524a"></i>failed</span><span><i style="background:#9e9e9e"></i>interrupted</span>'
            '<span><i style="background:#f0a030"></i>succeeded on a retry</span>'
            '<span><i style="background:#9c7fd1"></i>touched (rulec run --touch: recorded as built, not run)</span>'
            '<span><i style="background:#2fa58c"></i>adopted (done on the cluster by a run whose rulec died)</span>'
            '</div>'
            '<div id="timeline-box"><canvas id="timeline-canvas" width="1000" height="100"></canvas><div id="tip"></div></div>')


def _rules_table(graph, rules: list[str], attempts: list[Attempt], counts) -> str:
    durations: dict[str, list[float]] = defaultdict(list)
    succeeded: Counter = Counter()  # ran and succeeded: here, or on the cluster for a run that died (adopted)
    failed: Counter = Counter()
    touched: Counter = Counter()  # never ran: not in the runtimes
    for a in attempts:
        if a.outcome == "ok" or a.outcome == ADOPTED:
            succeeded[a.rule] += 1
            if a.started is not None:  # (an adopted job's start may be unknown)
                durations[a.rule].append(a.finished - a.started)
        elif a.outcome == "failed":
            failed[a.rule] += 1
        elif a.outcome == TOUCHED:
            touched[a.rule] += 1
    bench = benchmarks(graph)
    rows = []
    for name in rules:
        d = durations.get(name, [])
        now = counts.get(name)
        if not succeeded[name] and not failed[name] and not touched[name] and not now and name not in bench:
            continue
        cells = [name, str(succeeded[name]), str(failed[name]) if failed[name] else "",
                 str(touched[name]) if touched[name] else "",
                 _duration(statistics.median(d)) if d else "", _duration(max(d)) if d else "",
                 _duration(sum(d)) if d else "", graphviz.counts_text(now) if now else ""]
        b = bench.get(name)
        if b:
            cells += [str(b["files"]), _num(b.get("s_median"), "s"), _num(b.get("s_max"), "s"),
                      _num(b.get("max_rss_mb"), " MB"), _num(b.get("cpu_median"), "s"), _num(b.get("io_in"), ""),
                      _num(b.get("io_out"), "")]
        else:
            cells += [""] * 7
        rows.append("<tr>" + "".join(f"<td>{_h(c)}</td>" for c in cells) + "</tr>")
    bench_note = ("" if bench else '<p class="note">No rule has a <code>benchmark:</code> file yet: '
                  "its columns stay empty.</p>")
    return ('<p class="note">Runtimes of the attempts that succeeded, in the runs reported (adopted ones too: done on '
            "the cluster by a run whose rulec died, whose start is known); touched: recorded as built by "
            '<code>rulec run --touch</code>, never run; "now": the jobs\' state at '
            'the time of this report. Benchmark figures: from the rules\' <code>benchmark:</code> TSV files (seconds, '
            "peak resident memory, CPU time user + system, I/O).</p>" + bench_note +
            '<div class="scroll"><table class="t"><thead><tr><th>rule</th><th>succeeded</th><th>failed attempts</th><th>touched</th><th>median</th>'
            "<th>max</th><th>total</th><th>now</th><th>bench files</th><th>bench median</th><th>bench max</th>"
            "<th>max RSS</th><th>median CPU</th><th>I/O in</th><th>I/O out</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table></div>")


def _failures_html(failures: list[Attempt], workdir: str) -> str:
    if not failures:
        return '<p class="ok">No job failed.</p>'
    out = []
    for a in failures[:FAILURES_SHOWN]:
        tail, read_now = a.tail, False
        if tail is None and a.log:
            lines = report.tail(os.path.join(workdir, a.log), 40)
            tail, read_now = ("\n".join(lines), True) if lines else (None, False)
        parts = [f"<summary><b>{_h(a.job_id)}</b> <span>{_h(a.why or 'failed')}</span> "
                 f'<span class="note">run {a.run_id}, attempt {a.attempt}{", at " + _h(a.place) if a.place else ""}, '
                 f"{_h(_when(a.finished))}</span></summary>"]
        if a.command:
            parts.append(f"<div>command:</div><pre>{_h(a.command)}</pre>")
        if a.log:
            parts.append(f"<div>log: <code>{_h(a.log)}</code>{' (its end, read now)' if read_now else ''}:</div>")
            parts.append(f"<pre>{_h(tail)}</pre>" if tail else '<div class="note">(empty, or gone)</div>')
        else:
            parts.append('<div class="note">(it printed nothing)</div>')
        out.append(f'<details class="failure">{"".join(parts)}</details>')
    if len(failures) > FAILURES_SHOWN:
        out.append(f'<p class="note">… and {len(failures) - FAILURES_SHOWN} more: the attempts table lists them '
                   "(show: failed).</p>")
    return f"<p>{len(failures)} job(s) failed.</p>" + "\n".join(out)


def _table_html() -> str:
    return ('<div class="controls"><input id="q" type="search" placeholder="filter: job id, rule or where" size="34"> '
            '<select id="outcome"><option value="">every outcome</option><option value="0">succeeded</option>'
            '<option value="1">failed</option><option value="2">interrupted</option><option value="3">touched</option>'
            '<option value="4">adopted</option></select> '
            '<select id="sort"><option value="start">by start</option><option value="long">longest first</option>'
            '<option value="id">by job id</option></select> '
            '<button id="prev" type="button">&larr;</button> <span id="page"></span> '
            '<button id="next" type="button">&rarr;</button> <span id="table-note" class="note"></span></div>'
            '<div class="scroll"><table class="t" id="jobs"><thead><tr><th>job</th><th>attempt</th><th>start</th>'
            "<th>end</th><th>duration</th><th>where</th><th>outcome</th></tr></thead><tbody></tbody></table></div>")


def _section(title: str, body: str, anchor: str) -> str:
    return f'<section id="{anchor}"><h2>{_h(title)}</h2>{body}</section>'


# --------------------------------------------------------------------------- benchmarks

def benchmark_paths(graph) -> dict[str, list[str]]:
    """Rule name -> the ``benchmark:`` file of each of its jobs (rules without one: none)."""
    from .. import pattern as pat

    workflow = graph.workflow
    of_job = getattr(graph, "benchmark", None)  # JobGraph.benchmark(job), where the graph knows it
    if callable(of_job):
        out: dict[str, list[str]] = defaultdict(list)
        rules = workflow.rules
        if any(getattr(r, "benchmark", None) is not None for r in rules):
            for job in graph.order:
                path = of_job(job)
                if path is not None:
                    out[rules[graph.rule[job]].name].append(path)
        return dict(out)
    formatters = {}
    fields = None
    for rule in workflow.rules:
        spec = getattr(rule, "benchmark", None)
        if isinstance(spec, (tuple, list)):
            spec = spec[0] if spec else None
        if spec is None:
            continue
        pattern = getattr(spec, "pattern", spec)
        if isinstance(pattern, str):
            pattern = pat.compile(pattern)
        if fields is None:
            fields = {(d.name, f): {v: d.table[v][f] for v in d.values} for d in workflow.dimensions.values() for f in d.fields}
        formatters[rule.index] = (rule.name, pat.formatter(pattern, rule.wildcards, fields))
    out = defaultdict(list)
    if formatters:
        for job in graph.order:
            f = formatters.get(graph.rule[job])
            if f is not None:
                out[f[0]].append(f[1](graph.values[job]))
    return dict(out)


def read_benchmark(path: str) -> dict[str, float] | None:
    """The last row of a benchmark TSV (a header line naming the columns, then rows), as
    numbers; None if the file is missing or holds no row."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = [line.rstrip("\n") for line in fh if line.strip()]
    except OSError:
        return None
    if len(lines) < 2:
        return None
    head = lines[0].split("\t")
    row = lines[-1].split("\t")
    out = {}
    for name, value in zip(head, row):
        try:
            out[name.strip()] = float(value)
        except ValueError:
            continue  # "NA", "-": not measured
    return out or None


def benchmarks(graph) -> dict[str, dict]:
    """Rule name -> figures over its jobs' benchmark files: how many were read, median and
    max seconds, peak max_rss_mb, median CPU seconds (user + system), I/O totals."""
    workdir = graph.workflow.workdir
    out = {}
    budget = BENCHMARK_FILES
    for rule, paths in benchmark_paths(graph).items():
        rows = []
        for path in paths[:budget]:
            row = read_benchmark(os.path.join(workdir, path))
            if row is not None:
                rows.append(row)
        budget -= min(len(paths), budget)
        if not rows:
            continue
        figures: dict = {"files": len(rows)}
        s = [r["s"] for r in rows if "s" in r]
        if s:
            figures["s_median"], figures["s_max"] = statistics.median(s), max(s)
        rss = [r["max_rss_mb"] for r in rows if "max_rss_mb" in r]
        if rss:
            figures["max_rss_mb"] = max(rss)
        cpu = [r.get("user_s", 0.0) + r.get("system_s", 0.0) for r in rows if "user_s" in r or "system_s" in r]
        if cpu:
            figures["cpu_median"] = statistics.median(cpu)
        for k in ("io_in", "io_out"):
            v = [r[k] for r in rows if k in r]
            if v:
                figures[k] = sum(v)
        out[rule] = figures
    return out


# --------------------------------------------------------------------------- text

def _fill(template: str, **parts: str) -> str:
    """``@@NAME@@`` in ``template`` replaced by ``parts[name]``, in one pass (what is put in
    is never looked at again)."""
    import re

    return re.sub(r"@@(\w+)@@", lambda m: parts[m.group(1)], template)


def _clean(text: str | None) -> str:
    """Text that is valid Unicode (a name that is not UTF-8, lone surrogates, shows its
    undecodable bytes as U+FFFD), with the passwords of URLs in it masked."""
    if text is None:
        return ""
    if not text.isascii():
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return mask_secrets(text)


def _h(text) -> str:
    return html.escape(_clean(str(text)), quote=True)


def _json(data) -> str:
    """JSON for a <script type="application/json">: no ``<``, ``>`` or ``&`` (a ``</script>``
    in a job id cannot end the element), no U+2028/2029."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _when(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else "?"


def _duration(s: float) -> str:
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def _num(v, unit: str) -> str:
    if v is None:
        return ""
    return f"{v:.3g}{unit}" if abs(v) < 1000 else f"{v:,.0f}{unit}"


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"


_CSS = """
:root { --fg:#1d2330; --mute:#667085; --line:#d9dee8; --bg:#ffffff; --band:#f5f7fb; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: var(--fg); background: var(--bg); }
header { padding: 14px 24px; background: #24324a; color: #fff; }
header h1 { margin: 0; font-size: 18px; font-weight: 600; word-break: break-all; }
header nav a { color: #cfe0ff; margin-right: 14px; font-size: 13px; }
main { padding: 8px 24px 40px; max-width: 1500px; }
section { margin-top: 22px; }
h2 { font-size: 17px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 14px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; }
.card { background: var(--band); border: 1px solid var(--line); border-radius: 8px; padding: 8px 14px; min-width: 130px; }
.card .k { color: var(--mute); font-size: 12px; } .card .v { font-size: 20px; font-weight: 600; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; }
dt { color: var(--mute); } dd { margin: 0; word-break: break-all; }
.note { color: var(--mute); font-size: 12.5px; } .ok { color: #2e7d32; }
.legend { display: flex; flex-wrap: wrap; gap: 14px; margin: 6px 0; font-size: 12.5px; }
.legend i { display: inline-block; width: 12px; height: 12px; border: 1px solid #777; margin-right: 5px; vertical-align: -2px; }
.graph { overflow: auto; max-height: 640px; border: 1px solid var(--line); border-radius: 6px; padding: 6px; background: #fff; }
.graph svg { max-width: none; height: auto; }
.scroll { overflow: auto; }
table.t { border-collapse: collapse; font-size: 13px; }
table.t th, table.t td { border-bottom: 1px solid var(--line); padding: 3px 9px; text-align: left; white-space: nowrap; }
table.t th { background: var(--band); position: sticky; top: 0; }
table.t td:first-child { max-width: 520px; overflow: hidden; text-overflow: ellipsis; }
.controls { margin: 6px 0; display: flex; flex-wrap: wrap; align-items: center; gap: 6px; }
#timeline-box { position: relative; border: 1px solid var(--line); border-radius: 6px; overflow: hidden; }
#timeline-canvas { display: block; width: 100%; }
#tip { position: absolute; display: none; pointer-events: none; background: rgba(20,28,40,.92); color: #fff; padding: 5px 8px;
       border-radius: 5px; font-size: 12px; white-space: pre; z-index: 2; }
details.failure { border: 1px solid #f0c4c0; background: #fff8f7; border-radius: 6px; margin: 6px 0; padding: 5px 10px; }
details.failure summary { cursor: pointer; word-break: break-all; }
pre { background: #f3f4f7; padding: 8px; border-radius: 5px; overflow: auto; max-height: 360px; white-space: pre-wrap; word-break: break-all; }
footer { color: var(--mute); font-size: 12px; padding: 20px 24px; }
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>@@title@@</title><style>@@css@@</style></head>
<body>
<header><h1>@@title@@</h1><nav><a href="#summary">summary</a><a href="#graph">rule graph</a><a href="#timeline">timeline</a>
<a href="#rules">rules</a><a href="#failures">failures</a><a href="#attempts">attempts</a></nav></header>
<main>
@@body@@
</main>
<footer>rulec @@version@@, @@generated@@</footer>
<script type="application/json" id="rulec-data">@@data@@</script>
<script>@@js@@</script>
</body></html>
"""

_JS = r"""
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("rulec-data").textContent);
  var COLOUR = ["#4f8fd6", "#e0524a", "#9e9e9e", "#9c7fd1", "#2fa58c"], RETRY = "#f0a030";
  var WORD = ["succeeded", "failed", "interrupted", "touched", "adopted"];
  var LEFT = 170, TOP = 26, ROW = 7, MAXROWS = 8, LANEPAD = 6, BINLANE = 30;
  var canvas = document.getElementById("timeline-canvas"), tip = document.getElementById("tip");
  var note = document.getElementById("timeline-note"), select = document.getElementById("run-select");
  var current = null, layout = null;

  function jobId(run, i) {
    var j = run.a.j[i];
    return j.charAt(0) === "|" ? j.slice(1) : D.rules[run.a.r[i]] + j;
  }
  function place(run, i) { var p = run.a.p[i]; return p < 0 ? "" : D.places[p]; }
  function secs(ms) {
    var s = ms / 1000;
    if (s < 1) return Math.round(ms) + " ms";
    if (s < 120) return s.toFixed(1) + " s";
    if (s < 7200) return (s / 60).toFixed(1) + " min";
    return (s / 3600).toFixed(1) + " h";
  }
  function clock(run, ms) { return new Date(run.t0 * 1000 + ms).toLocaleTimeString(); }
  function colour(run, i) {
    var o = run.a.o[i];
    return o === 0 && run.a.n[i] > 1 ? RETRY : COLOUR[o];
  }

  // Lanes: one per rule that has attempts; in a lane, attempts packed into rows.
  function plan(run) {
    var lanes = [], byRule = {}, i, y = TOP;
    if (run.bins) {
      var first = function (r) { var v = run.bins.lanes[String(r)]; for (var k = 0; k < v.length; k++) if (v[k] > 0) return k; return v.length; };
      Object.keys(run.bins.lanes).map(Number).sort(function (a, b) { return first(a) - first(b) || a - b; }).forEach(function (r) {
        var v = run.bins.lanes[String(r)], max = 0;
        for (var k = 0; k < v.length; k++) if (v[k] > max) max = v[k];
        lanes.push({ rule: r, y: y, h: BINLANE, bins: v, max: max || 1 });
        y += BINLANE + LANEPAD;
      });
      return { lanes: lanes, height: y + 4 };
    }
    var n = run.a.r.length;
    var order = new Array(n);
    for (i = 0; i < n; i++) order[i] = i;
    order.sort(function (a, b) { return run.a.s[a] - run.a.s[b]; });
    for (var k = 0; k < n; k++) {
      i = order[k];
      var r = run.a.r[i];
      if (!byRule[r]) byRule[r] = { rule: r, ends: [], items: [] };
      var lane = byRule[r], row = -1;
      for (var q = 0; q < lane.ends.length; q++) if (lane.ends[q] <= run.a.s[i]) { row = q; break; }
      if (row < 0) {
        if (lane.ends.length < MAXROWS) { row = lane.ends.length; lane.ends.push(0); }
        else row = k % MAXROWS;
      }
      lane.ends[row] = Math.max(lane.ends[row], run.a.s[i] + run.a.d[i]);
      lane.items.push([i, row]);
    }
    // lanes in the order their rules' first jobs started
    var start = function (r) { return run.a.s[byRule[r].items[0][0]]; };
    Object.keys(byRule).map(Number).sort(function (a, b) { return start(a) - start(b) || a - b; }).forEach(function (r) {
      var lane = byRule[r];
      lane.y = y;
      lane.h = Math.max(lane.ends.length, 2) * ROW;
      lanes.push(lane);
      y += lane.h + LANEPAD;
    });
    return { lanes: lanes, height: y + 4 };
  }

  function draw() {
    var run = current;
    if (!run) return;
    var width = canvas.parentNode.clientWidth || 1000;
    layout = plan(run);
    var ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(layout.height * ratio);
    canvas.style.height = layout.height + "px";
    var g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.fillStyle = "#ffffff";
    g.fillRect(0, 0, width, layout.height);
    var span = run.span * 1000, scale = (width - LEFT - 12) / span;
    layout.scale = scale;
    // the time axis
    g.fillStyle = "#667085"; g.strokeStyle = "#e3e7ef"; g.font = "11px sans-serif";
    var steps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000,
                 600000, 900000, 1800000, 3600000, 7200000, 14400000, 28800000, 86400000];
    var step = steps[steps.length - 1];
    for (var s = 0; s < steps.length; s++) if (steps[s] * scale >= 80) { step = steps[s]; break; }
    for (var t = 0; t <= span; t += step) {
      var x = LEFT + t * scale;
      g.beginPath(); g.moveTo(x + 0.5, TOP - 6); g.lineTo(x + 0.5, layout.height); g.stroke();
      if (x < width - 50) g.fillText(secs(t), x + 2, 12);
    }
    layout.lanes.forEach(function (lane, li) {
      g.fillStyle = li % 2 ? "#fafbfd" : "#f3f5f9";
      g.fillRect(0, lane.y - 2, LEFT - 6, lane.h + 4);
      g.fillStyle = "#1d2330"; g.font = "12px sans-serif";
      var name = D.rules[lane.rule];
      if (name.length > 22) name = name.slice(0, 21) + "\u2026";
      g.fillText(name, 6, lane.y + Math.min(lane.h, 18) / 2 + 5);
      if (lane.bins) {
        var bw = run.bins.width * 1000 * scale;
        g.fillStyle = COLOUR[0];
        for (var b = 0; b < lane.bins.length; b++) {
          var v = lane.bins[b];
          if (v > 0) {
            var h = Math.max(1, lane.h * v / lane.max);
            g.fillRect(LEFT + b * bw, lane.y + lane.h - h, Math.max(bw, 1), h);
          }
        }
        return;
      }
      for (var k = 0; k < lane.items.length; k++) {
        var i = lane.items[k][0], row = lane.items[k][1];
        g.fillStyle = colour(run, i);
        g.fillRect(LEFT + run.a.s[i] * scale, lane.y + row * ROW, Math.max(run.a.d[i] * scale, 1), ROW - 1);
      }
    });
  }

  function hit(ev) {
    if (!layout || !current) return null;
    var box = canvas.getBoundingClientRect(), x = ev.clientX - box.left, y = ev.clientY - box.top, run = current;
    for (var l = 0; l < layout.lanes.length; l++) {
      var lane = layout.lanes[l];
      if (y < lane.y || y > lane.y + lane.h) continue;
      var t = (x - LEFT) / layout.scale;
      if (t < 0) return { text: D.rules[lane.rule] };
      if (lane.bins) {
        var b = Math.floor(t / (run.bins.width * 1000));
        var v = lane.bins[b] || 0;
        return { text: D.rules[lane.rule] + "\n" + secs(t) + ": " + v.toFixed(1) + " job(s) running on average" };
      }
      var row = Math.floor((y - lane.y) / ROW), slack = 3 / layout.scale;
      for (var k = 0; k < lane.items.length; k++) {
        var i = lane.items[k][0];
        if (lane.items[k][1] === row && run.a.s[i] - slack <= t && t <= run.a.s[i] + run.a.d[i] + slack) {
          return { text: jobId(run, i) + "\nattempt " + run.a.n[i] + ", " + WORD[run.a.o[i]] +
                   "\n" + clock(run, run.a.s[i]) + " \u2013 " + clock(run, run.a.s[i] + run.a.d[i]) +
                   " (" + secs(run.a.d[i]) + ")" + (place(run, i) ? "\nwhere: " + place(run, i) : "") };
        }
      }
      return null;
    }
    return null;
  }

  canvas.addEventListener("mousemove", function (ev) {
    var h = hit(ev);
    if (!h) { tip.style.display = "none"; return; }
    var box = canvas.getBoundingClientRect();
    tip.textContent = h.text;
    tip.style.display = "block";
    var x = ev.clientX - box.left + 14;
    if (x + tip.offsetWidth > box.width) x = Math.max(0, ev.clientX - box.left - tip.offsetWidth - 10);
    tip.style.left = x + "px";
    tip.style.top = (ev.clientY - box.top + 12) + "px";
  });
  canvas.addEventListener("mouseleave", function () { tip.style.display = "none"; });

  // The attempts table: filtered and sorted indexes, one page of rows in the DOM.
  var PAGE = 50, pageNo = 0, rows = [];
  var q = document.getElementById("q"), outcome = document.getElementById("outcome"), sort = document.getElementById("sort");
  var tbody = document.querySelector("#jobs tbody"), pageLabel = document.getElementById("page");
  var tableNote = document.getElementById("table-note");

  function refilter() {
    var run = current, n = run.a.r.length, text = q.value.trim().toLowerCase(), want = outcome.value;
    rows = [];
    for (var i = 0; i < n; i++) {
      if (want !== "" && run.a.o[i] !== Number(want)) continue;
      if (text && (jobId(run, i) + " " + place(run, i)).toLowerCase().indexOf(text) < 0) continue;
      rows.push(i);
    }
    var by = sort.value;
    if (by === "long") rows.sort(function (a, b) { return run.a.d[b] - run.a.d[a]; });
    else if (by === "id") rows.sort(function (a, b) { var x = jobId(run, a), y = jobId(run, b); return x < y ? -1 : x > y ? 1 : 0; });
    else rows.sort(function (a, b) { return run.a.s[a] - run.a.s[b]; });
    pageNo = 0;
    page();
  }

  function cell(tr, text) { var td = document.createElement("td"); td.textContent = text; tr.appendChild(td); }

  function page() {
    var run = current, pages = Math.max(1, Math.ceil(rows.length / PAGE));
    pageNo = Math.min(Math.max(pageNo, 0), pages - 1);
    while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
    var end = Math.min(rows.length, (pageNo + 1) * PAGE);
    for (var k = pageNo * PAGE; k < end; k++) {
      var i = rows[k], tr = document.createElement("tr");
      cell(tr, jobId(run, i));
      cell(tr, String(run.a.n[i]));
      cell(tr, clock(run, run.a.s[i]) + " (+" + secs(run.a.s[i]) + ")");
      cell(tr, clock(run, run.a.s[i] + run.a.d[i]));
      cell(tr, secs(run.a.d[i]));
      cell(tr, place(run, i));
      cell(tr, WORD[run.a.o[i]]);
      tr.firstChild.title = jobId(run, i);
      tbody.appendChild(tr);
    }
    pageLabel.textContent = "page " + (pageNo + 1) + " of " + pages + " (" + rows.length + " attempts)";
  }

  function show(run) {
    current = run;
    note.textContent = run.top
      ? run.n + " attempts: too many to draw one by one here, so each rule's lane shows how many of its jobs ran at once"
      : run.n + " attempt(s), over " + secs(run.span * 1000) + "; hover over a bar for the job";
    tableNote.textContent = run.top ? "the " + run.a.r.length + " longest of " + run.n + " attempts" : "";
    draw();
    refilter();
  }

  if (select) {
    D.runs.forEach(function (run, k) {
      var o = document.createElement("option");
      o.value = String(k);
      o.textContent = run.label + " (" + run.n + " attempts)";
      select.appendChild(o);
    });
    select.value = String(D.runs.length - 1);
    select.addEventListener("change", function () { show(D.runs[Number(select.value)]); });
  }
  q.addEventListener("input", refilter);
  outcome.addEventListener("change", refilter);
  sort.addEventListener("change", refilter);
  document.getElementById("prev").addEventListener("click", function () { pageNo--; page(); });
  document.getElementById("next").addEventListener("click", function () { pageNo++; page(); });
  var pending = null;
  window.addEventListener("resize", function () { clearTimeout(pending); pending = setTimeout(draw, 100); });
  // #run=ID in the address shows that run first
  var wanted = /run=(\d+)/.exec(location.hash), at = D.runs.length - 1;
  if (wanted) D.runs.forEach(function (run, k) { if (String(run.id) === wanted[1]) at = k; });
  if (select) select.value = String(at);
  show(D.runs[at]);
  document.body.setAttribute("data-ready", "1");
})();
"""
