"""``rulec dag``: the rule graph (or the job graph) as Graphviz dot or Mermaid text, coloured
by the jobs' states when they are given; pictures (SVG, PNG) through graphviz's ``dot``, and
a plain SVG drawn here for when ``dot`` is missing (``rulec report``)."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from html import escape
from typing import Sequence

from .dag import JobGraph
from .errors import RulecError

# A job's state, as rulec dag and rulec report colour it. "todo": the plan runs it.
STATES = ("done", "todo", "running", "failed")
WORDS = {"done": "done", "todo": "to run", "running": "running", "failed": "failed"}
LEGEND = {"done": "up to date", "todo": "to run", "running": "running now", "failed": "failed last time"}
COLOURS = {"done": "#c8e6c9", "todo": "#fff3b0", "running": "#b3d4f5", "failed": "#f4b4b4"}
_RANK = {s: i for i, s in enumerate(STATES)}  # a rule's colour: its worst job's state

MISSING_DOT = "rulec dag --format {fmt} needs graphviz's `dot`: apt-get install graphviz (or brew install graphviz)"

States = Sequence[str | None]  # per job (dense id): a state, or None (not shown)


def edges(graph: JobGraph, jobs: bool) -> tuple[list[str], list[tuple[str, str]]]:
    if jobs:
        nodes = [graph.job_id(j) for j in graph.order]
        pairs = [(graph.job_id(d), graph.job_id(j)) for j in graph.order for d in graph.deps[j]]
        return nodes, pairs
    rules = graph.workflow.rules
    seen_nodes: dict[str, None] = {}
    seen_edges: dict[tuple[str, str], None] = {}
    for j in graph.order:
        name = rules[graph.rule[j]].name
        seen_nodes[name] = None
        for d in graph.deps[j]:
            seen_edges[(rules[graph.rule[d]].name, name)] = None
    return list(seen_nodes), list(seen_edges)


def rule_counts(graph: JobGraph, states: States) -> dict[str, Counter]:
    """Rule name -> how many of its jobs are in each state."""
    rules = graph.workflow.rules
    out: dict[str, Counter] = {}
    for j in graph.order:
        name = rules[graph.rule[j]].name
        c = out.get(name)
        if c is None:
            c = out[name] = Counter()
        if states[j] is not None:
            c[states[j]] += 1
    return out


def counts_text(counts: Counter) -> str:
    """``40 done, 8 to run``."""
    return ", ".join(f"{counts[s]} {WORDS[s]}" for s in STATES if counts.get(s))


def worst(counts: Counter) -> str | None:
    present = [s for s in STATES if counts.get(s)]
    return max(present, key=_RANK.__getitem__) if present else None


def node_states(graph: JobGraph, jobs: bool, states: States | None) -> tuple[dict[str, str], dict[str, str]]:
    """(node -> state, node -> extra label line) for the nodes ``edges`` gives."""
    if states is None:
        return {}, {}
    if jobs:
        return {graph.job_id(j): states[j] for j in graph.order if states[j] is not None}, {}
    counts = rule_counts(graph, states)
    colour = {name: worst(c) for name, c in counts.items() if worst(c) is not None}
    return colour, {name: counts_text(c) for name, c in counts.items() if c}


def render(graph: JobGraph, fmt: str = "dot", jobs: bool = False, states: States | None = None, legend: bool = True) -> str:
    """Dot or Mermaid text; with ``states`` (per job), nodes are coloured by state (a rule by
    its worst job's, with its counts in its label) and dot gets a legend (unless not ``legend``)."""
    nodes, pairs = edges(graph, jobs)
    colour, extra = node_states(graph, jobs, states)
    if fmt == "mermaid":
        ids = {n: f"n{i}" for i, n in enumerate(nodes)}
        lines = ["flowchart TD"]
        lines += [f'    {ids[n]}["{_mermaid(n)}"]' for n in nodes]
        lines += [f"    {ids[a]} --> {ids[b]}" for a, b in pairs]
        if colour:
            lines += [f"    classDef {s} fill:{COLOURS[s]},stroke:#555" for s in STATES]
            by_state: dict[str, list[str]] = {}
            for n in nodes:
                if n in colour:
                    by_state.setdefault(colour[n], []).append(ids[n])
            lines += [f"    class {','.join(members)} {s}" for s, members in by_state.items()]
        return "\n".join(lines) + "\n"
    lines = ["digraph rulec {", "    rankdir=LR;", "    node [shape=box, style=rounded];"]
    if colour:
        lines[-1] = '    node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica"];'
        for n in nodes:
            attrs = []
            if n in extra:
                attrs.append(f"label={_dot(n)[:-1]}\\n{_dot(extra[n])[1:]}")
            if n in colour:
                attrs.append(f'fillcolor="{COLOURS[colour[n]]}"')
            lines.append(f"    {_dot(n)} [{', '.join(attrs)}];" if attrs else f"    {_dot(n)};")
    else:
        lines += [f"    {_dot(n)};" for n in nodes]
    lines += [f"    {_dot(a)} -> {_dot(b)};" for a, b in pairs]
    if colour and legend:
        # A leading space: no rule name or job id starts with one, so these never collide.
        lines.append('    subgraph cluster_legend { label="state"; fontname="Helvetica"; fontsize=10; style=rounded; color="#999999";')
        lines += [f'        " legend {s}" [label="{LEGEND[s]}", fillcolor="{COLOURS[s]}", fontsize=10];' for s in STATES]
        lines += [f'        " legend {a}" -> " legend {b}" [style=invis];' for a, b in zip(STATES, STATES[1:])]
        lines.append("    }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def dot_program() -> str | None:
    """The path of graphviz's ``dot``, None if it is not installed."""
    return shutil.which("dot")


def image(dot_text: str, fmt: str) -> bytes:
    """``dot -T<fmt>`` of the text: SVG or PNG bytes."""
    program = dot_program()
    if program is None:
        raise RulecError(MISSING_DOT.format(fmt=fmt))
    try:
        done = subprocess.run([program, f"-T{fmt}"], input=dot_text.encode("utf-8", "surrogateescape"),
                              capture_output=True, timeout=600)
    except subprocess.TimeoutExpired:
        raise RulecError(f"graphviz's dot took more than 10 minutes to draw {fmt}: the graph is too large",
                         hint="draw the rule graph (without --jobs), or select fewer jobs with -k") from None
    if done.returncode != 0:
        words = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RulecError(f"graphviz's dot failed (exit status {done.returncode}) drawing {fmt}: "
                         + ("; ".join(words[-3:]) or "no message"))
    return done.stdout


def dot_version() -> str | None:
    program = dot_program()
    if program is None:
        return None
    try:
        done = subprocess.run([program, "-V"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = done.stderr.decode("utf-8", "replace").strip()
    return text.split(" version ", 1)[-1].split(" ", 1)[0] if " version " in text else text or None


def inline_svg(svg: bytes) -> str:
    """dot's SVG without its XML prolog and DOCTYPE, to be placed inside an HTML page."""
    text = svg.decode("utf-8", "replace")
    at = text.find("<svg")
    return text[at:] if at >= 0 else text


# --------------------------------------------------------------------------- without dot

def simple_svg(graph: JobGraph, states: States | None = None) -> str:
    """The rule graph as a plain SVG drawn here (no graphviz): rules in columns by their
    depth, left to right, edges as curves, coloured by state like dot's."""
    nodes, pairs = edges(graph, False)
    colour, extra = node_states(graph, False, states)
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in pairs:
        preds[b].append(a)
    depth: dict[str, int] = {}
    for n in nodes:  # edges() lists the rules in dependency order
        depth[n] = 1 + max((depth[p] for p in preds[n] if p in depth), default=-1)
    columns: dict[int, list[str]] = {}
    for n in nodes:
        columns.setdefault(depth[n], []).append(n)
    w, h, gap_x, gap_y, pad = 190, 46, 70, 22, 16
    pos = {}
    for d, col in columns.items():
        for i, n in enumerate(col):
            pos[n] = (pad + d * (w + gap_x), pad + i * (h + gap_y))
    width = pad * 2 + (max(columns) + 1) * (w + gap_x) - gap_x if columns else 200
    height = pad * 2 + max((len(c) for c in columns.values()), default=1) * (h + gap_y) - gap_y
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           'font-family="Helvetica, Arial, sans-serif" font-size="12">',
           '<defs><marker id="rulec-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>']
    for a, b in pairs:
        (x1, y1), (x2, y2) = pos[a], pos[b]
        x1, y1, y2 = x1 + w, y1 + h / 2, y2 + h / 2
        mid = (x1 + x2) / 2
        out.append(f'<path d="M {x1} {y1} C {mid} {y1}, {mid} {y2}, {x2} {y2}" fill="none" stroke="#555" '
                   'marker-end="url(#rulec-arrow)"/>')
    for n in nodes:
        x, y = pos[n]
        fill = COLOURS.get(colour.get(n, ""), "#ffffff")
        out.append(f'<g class="node"><title>{escape(n)}</title>'
                   f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="8" fill="{fill}" stroke="#333"/>'
                   f'<text x="{x + w / 2}" y="{y + (18 if n in extra else 27)}" text-anchor="middle" font-weight="bold">{escape(_cut(n, 26))}</text>')
        if n in extra:
            out.append(f'<text x="{x + w / 2}" y="{y + 35}" text-anchor="middle" font-size="10">{escape(_cut(extra[n], 34))}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


def _cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _dot(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _mermaid(name: str) -> str:
    """A name as the text of a quoted Mermaid label, shown as it is: Mermaid reads ``#...;``
    as an entity code and the label as HTML, so ``#`` goes first (``#35;``), then ``&``,
    ``<``, ``>``, ``"`` and backticks as entity codes, and control characters (a newline
    would end the line) as their numbers. A job id ``mk[<img src=x onerror=...>]`` is text,
    never an element."""
    out = name.replace("#", "#35;")
    for ch, code in (("&", "#amp;"), ("<", "#lt;"), (">", "#gt;"), ('"', "#quot;"), ("`", "#96;")):
        out = out.replace(ch, code)
    return "".join(ch if ch.isprintable() else f"#{ord(ch)};" for ch in out)
