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

        self._pieces = self._compile(folded=False)
        self._folded = self._compile(folded=True)

    def _compile(self, folded: bool) -> list:
        """One piece per template part: a literal string, or a function of the job that gives
        the substituted text. ``folded`` folds white space in the literal text (for hashing)."""
        if self.template is None:
            return []
        pieces: list = []
        parts = self.template.parts
        for i, part in enumerate(parts):
            if isinstance(part, str):
                if folded:
                    part = _WS.sub(" ", part)
                    if i == 0:
                        part = part.lstrip()
                    if i == len(parts) - 1:
                        part = part.rstrip()
                pieces.append(part)
            else:
                pieces.append(self._piece(part))
        return pieces

    def _piece(self, part: ir.Ref) -> Callable:
        kind, raw, index, key = part.kind, part.raw, part.index, part.key
        q = (lambda t: t) if raw else _quote
        if kind == "input":
            a, b = self.input_slices[key] if key is not None else (0, None)
            if index is not None:
                return lambda j, v, i, o, n: q(i[a:b][index]) if index < len(i[a:b]) else ""
            return lambda j, v, i, o, n: " ".join([q(x) for x in i[a:b]])
        if kind in ("output", "log"):
            where = None if key is None else (self.out_index if kind == "output" else self.log_index)[key]

            def items(o, n, kind=kind, where=where):
                declared = o[:n] if kind == "output" else o[n:]
                return declared if where is None else tuple(declared[k] for k in where)

            if index is not None:
                return lambda j, v, i, o, n: (lambda xs: q(xs[index]) if index < len(xs) else "")(items(o, n))
            return lambda j, v, i, o, n: " ".join([q(x) for x in items(o, n)])
        if kind == "wildcard":
            pos = self.wc_pos[key]
            return lambda j, v, i, o, n: q(v[pos])
        if kind == "field":
            pos = self.wc_pos[key]
            table = self.dims[key].table
            attr = part.attr
            return lambda j, v, i, o, n: q(table[v[pos]][attr])
        if kind == "params":
            return lambda j, v, i, o, n: self._value(self.param_text(key, v), index, raw)
        if kind == "resources":
            text = self._resource(key)
            return lambda j, v, i, o, n: text
        if kind == "threads":
            text = str(self.rule.resources.cpus)
            return lambda j, v, i, o, n: text
        if kind == "rule":
            name = self.rule.name
            return lambda j, v, i, o, n: name
        if kind == "jobid":
            return lambda j, v, i, o, n: q(j)
        raise AssertionError(kind)  # pragma: no cover

    def render(self, job_id: str, values: tuple[str, ...], inputs: tuple[str, ...], outputs: tuple[str, ...], n_out: int) -> str:
        return "".join([p if p.__class__ is str else p(job_id, values, inputs, outputs, n_out) for p in self._pieces])

    def key(self, job_id: str, values: tuple[str, ...], inputs: tuple[str, ...], outputs: tuple[str, ...], n_out: int) -> str:
        """The command's hash with the template's white space folded: re-indenting a block
        or adding blank lines is not a change."""
        return digest("".join([p if p.__class__ is str else p(job_id, values, inputs, outputs, n_out) for p in self._folded]))

    def param_text(self, name: str, values: tuple[str, ...]):
        value = self.params[name]
        if isinstance(value, pat.Pattern):
            return self.param_fmt[name](values)
        return value

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
    """The hash of a command given as text (white space folded everywhere)."""
    return digest(normalize(command))


def command_key(graph, renderers_: list[CommandRenderer], job: int) -> str:
    """The hash that the planner compares with the record: ``CommandRenderer.key``."""
    r = renderers_[graph.rule[job]]
    return r.key(graph.job_id(job), graph.values[job], graph.inputs[job], graph.outputs[job], graph.n_outputs[job])


def params_hash(renderer: CommandRenderer, values: tuple[str, ...]) -> str:
    if not renderer.params:
        return ""
    items = sorted((name, repr(renderer.param_text(name, values))) for name in renderer.params)
    return digest(repr(items))


def renderers(graph) -> list[CommandRenderer]:
    wf = graph.workflow
    return [CommandRenderer(wf, rule, graph.plans[rule.index].input_slices) for rule in wf.rules]


def command_of(graph, renderers_: list[CommandRenderer], job: int, local=None) -> str:
    """The job's command; ``local`` (a function) maps each input and output path first."""
    r = renderers_[graph.rule[job]]
    inputs, outputs = graph.inputs[job], graph.outputs[job]
    if local is not None:
        inputs, outputs = tuple(map(local, inputs)), tuple(map(local, outputs))
    return r.render(graph.job_id(job), graph.values[job], inputs, outputs, graph.n_outputs[job])
