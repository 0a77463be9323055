"""A job's shell command: the rule's template with the job's paths and values substituted.

Paths and values are quoted for the shell by default (``{input:raw}`` opts out), so a file
name with spaces, quotes, ``;`` or ``$(...)`` reaches the command as one literal argument.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from typing import Callable

from . import ir
from . import pattern as pat

_quote = shlex.quote


def _q(text: str, raw: bool) -> str:
    return text if raw else _quote(text)


def _join(items, raw: bool) -> str:
    return " ".join(_q(x, raw) for x in items)


class CommandRenderer:
    """Renders the command of any job of one rule."""

    def __init__(self, workflow: ir.Workflow, rule: ir.Rule, input_slices):
        self.rule = rule
        self.template = rule.shell
        # A named list (input: extra=["a", "b"]) is several entries with one name: one slice.
        self.input_slices: dict[str, tuple[int, int]] = {}
        for name, a, b in input_slices:
            if name:
                lo, hi = self.input_slices.get(name, (a, b))
                self.input_slices[name] = (min(lo, a), max(hi, b))
        self.out_index = {}
        for i, spec in enumerate(rule.outputs):
            if spec.name:
                self.out_index.setdefault(spec.name, []).append(i)
        self.log_index = {}
        for i, spec in enumerate(rule.logs):
            if spec.name:
                self.log_index.setdefault(spec.name, []).append(i)
        self.wc_pos = {w: i for i, w in enumerate(rule.wildcards)}
        self.dims = workflow.dimensions
        self.params = dict(rule.params)
        self.param_fmt: dict[str, Callable] = {}
        fields = {(d.name, f): {v: d.table[v][f] for v in d.values} for d in workflow.dimensions.values() for f in d.fields}
        for name, value in rule.params:
            if isinstance(value, pat.Pattern):
                self.param_fmt[name] = pat.formatter(value, rule.wildcards, fields)

    def param_text(self, name: str, values: tuple[str, ...]):
        value = self.params[name]
        if isinstance(value, pat.Pattern):
            return self.param_fmt[name](values)
        return value

    def render(self, job_id: str, values: tuple[str, ...], inputs: tuple[str, ...], outputs: tuple[str, ...], n_out: int) -> str:
        if self.template is None:
            return ""
        out: list[str] = []
        for part in self.template.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            kind, raw = part.kind, part.raw
            if kind == "input":
                if part.key is None:
                    items = inputs
                else:
                    a, b = self.input_slices[part.key]
                    items = inputs[a:b]
                out.append(self._pick(items, part.index, raw))
            elif kind in ("output", "log"):
                declared = outputs[:n_out] if kind == "output" else outputs[n_out:]
                if part.key is None:
                    items = declared
                else:
                    where = (self.out_index if kind == "output" else self.log_index)[part.key]
                    items = tuple(declared[i] for i in where)
                out.append(self._pick(items, part.index, raw))
            elif kind == "wildcard":
                out.append(_q(values[self.wc_pos[part.key]], raw))
            elif kind == "field":
                value = values[self.wc_pos[part.key]]
                out.append(_q(self.dims[part.key].table[value][part.attr], raw))
            elif kind == "params":
                out.append(self._value(self.param_text(part.key, values), part.index, raw))
            elif kind == "resources":
                out.append(self._resource(part.key))
            elif kind == "threads":
                out.append(str(self.rule.resources.cpus))
            elif kind == "rule":
                out.append(self.rule.name)
            elif kind == "jobid":
                out.append(_q(job_id, raw))
        return "".join(out)

    def _pick(self, items, index, raw):
        if index is not None:
            return _q(items[index], raw) if index < len(items) else ""
        return _join(items, raw)

    def _value(self, value, index, raw):
        if isinstance(value, tuple):
            if index is not None:
                value = value[index] if index < len(value) else ""
            else:
                return " ".join(self._value(v, None, raw) for v in value)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return str(value)
        return _q(str(value), raw)

    def _resource(self, key: str) -> str:
        res = self.rule.resources
        if key == "cpus":
            return str(res.cpus)
        if key == "gpus":
            return str(res.gpus)
        if key in ("mem", "mem_mb"):
            return str(res.mem_mb or 0)
        if key in ("time", "time_s"):
            return str(res.time_s or 0)
        return str(dict(res.custom).get(key, 0))


_WS = re.compile(r"\s+")


def normalize(command: str) -> str:
    """The command with runs of white space folded, for hashing: re-indenting a block or
    adding blank lines does not count as a change."""
    return _WS.sub(" ", command).strip()


def digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=12).hexdigest()


def command_hash(command: str) -> str:
    return digest(normalize(command))


def params_hash(renderer: CommandRenderer, values: tuple[str, ...]) -> str:
    if not renderer.params:
        return ""
    items = sorted((name, repr(renderer.param_text(name, values))) for name in renderer.params)
    return digest(repr(items))


def renderers(graph) -> list[CommandRenderer]:
    wf = graph.workflow
    return [CommandRenderer(wf, rule, graph.plans[rule.index].input_slices) for rule in wf.rules]


def command_of(graph, renderers_: list[CommandRenderer], job: int) -> str:
    r = renderers_[graph.rule[job]]
    return r.render(graph.job_id(job), graph.values[job], graph.inputs[job], graph.outputs[job], graph.n_outputs[job])
