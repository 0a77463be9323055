"""``rulec dag``: the rule graph (or the job graph) as Graphviz dot or Mermaid text. Pure."""

from __future__ import annotations

from .dag import JobGraph


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


def render(graph: JobGraph, fmt: str = "dot", jobs: bool = False) -> str:
    nodes, pairs = edges(graph, jobs)
    if fmt == "mermaid":
        ids = {n: f"n{i}" for i, n in enumerate(nodes)}
        lines = ["flowchart TD"]
        lines += [f'    {ids[n]}["{_mermaid(n)}"]' for n in nodes]
        lines += [f"    {ids[a]} --> {ids[b]}" for a, b in pairs]
        return "\n".join(lines) + "\n"
    lines = ["digraph rulec {", "    rankdir=LR;", "    node [shape=box, style=rounded];"]
    lines += [f"    {_dot(n)};" for n in nodes]
    lines += [f"    {_dot(a)} -> {_dot(b)};" for a, b in pairs]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _mermaid(name: str) -> str:
    return name.replace('"', "#quot;")
