"""Declarations -> ``ir.Workflow``. Every semantic error is raised here, with its span.

Errors are collected, not raised one by one, so ``rulec check`` shows them all at once.
"""

from __future__ import annotations

import difflib
import glob as globmod
import dataclasses
import itertools
import os
import re
import shlex
import textwrap
from typing import Iterable

from . import ir
from . import pattern as pat
from .errors import AnalysisError, ErrorGroup, RulecError, StorageError
from .profile import control_char, describe_char
from .source import Span
from .syntax import decls as d
from .units import parse_mem, parse_time

DIMENSION_OPTIONS = ("outside",)
RULE_FIELDS = ("input", "output", "log", "params", "resources", "label", "shell", "persist", "priority", "retries", "local")
# Path wrappers of an output entry, NAME("pattern"), nestable (temp(touch("x"))): what the
# output is besides a file its job makes. Recorded on ir.PathSpec.kinds; see kinds.py.
OUTPUT_KINDS = ("temp", "protected", "touch")
# Kinds that cannot be honoured for a remote path (s3://...): rulec cannot make it read-only,
# and a task uploads its outputs before rulec would create the marker.
_LOCAL_ONLY_KINDS = ("protected", "touch")
LABEL_FIELDS = ("limit", "slurm", "lsf", "jbsub", "prefix", "env")
_BUILTIN_RESOURCES = ("cpus", "gpus", "mem", "mem_mb", "time", "time_s")
SHELL_OBJECTS = ("input", "output", "log", "params", "resources", "wildcards", "rule", "jobid", "threads", "attempt")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PER_ATTEMPT = re.compile(r"(.*?)\s*\*\s*\{attempt\}")  # mem="4G*{attempt}"


def load(rulefile: str, workdir: str | None = None, overrides: dict[str, tuple[str, ...]] | None = None) -> ir.Workflow:
    """Parse ``rulefile`` and everything it includes, and analyze it.

    Paths in the Rulefile are relative to ``workdir``, by default the Rulefile's folder.
    """
    from .syntax import parse_file

    top = os.path.normpath(rulefile)
    if workdir is None:
        workdir = os.path.dirname(os.path.abspath(top))
    modules: list[d.Module] = []
    errors: list[RulecError] = []

    base = os.path.dirname(os.path.abspath(top))
    seen: set[str] = set()

    def visit(path: str, stack: tuple[str, ...], via: d.IncludeDecl | None) -> None:
        real = os.path.realpath(path)
        if real in stack:
            assert via is not None
            if real == stack[-1]:
                errors.append(AnalysisError(f"{via.path.value!r} includes itself", via.path.span))
            else:
                chain = " -> ".join(os.path.relpath(p, base) for p in stack[stack.index(real):] + (real,))
                errors.append(AnalysisError(f"include cycle: {chain}", via.path.span))
            return
        if real in seen:  # included twice without a cycle (a shared file): read once
            return
        if via is not None and not os.path.isfile(path):
            where = "" if os.path.normpath(via.path.value) == path else f" (looked for {path})"
            errors.append(AnalysisError(f"included file not found: {via.path.value}{where}", via.path.span))
            return
        seen.add(real)
        try:
            module = parse_file(path)
        except ErrorGroup as group:
            errors.extend(group.errors)
            return
        except RulecError as exc:
            errors.append(exc)
            return
        modules.append(module)
        for decl in module.decls:
            if isinstance(decl, d.IncludeDecl):
                target = os.path.join(os.path.dirname(path), decl.path.value)
                visit(os.path.normpath(target), stack + (real,), decl)

    visit(top, (), None)
    if errors:
        _raise(errors)
    return analyze(modules, workdir, overrides)


def analyze(modules: list[d.Module] | d.Module, workdir: str = ".", overrides: dict[str, tuple[str, ...]] | None = None) -> ir.Workflow:
    """``overrides`` restricts dimensions to some of their values (``--set dim=a,b``)."""
    if isinstance(modules, d.Module):
        modules = [modules]
    return _Analyzer(modules, workdir, overrides or {}).run()


_warned: set[tuple[str, int, int, str]] = set()


def _warn_once(span: Span, message: str) -> None:
    """A warning on stderr, with the place it is about; the same one is printed once."""
    key = (os.path.abspath(span.file), span.line, span.col, message)
    if key in _warned:
        return
    _warned.add(key)
    from . import report

    report.warn(f"{span.location()}: {message}")


def _raise(errors: list[RulecError]):
    if len(errors) == 1:
        raise errors[0]
    raise ErrorGroup(errors)


def _suggest(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


class _Analyzer:
    def __init__(self, modules: list[d.Module], workdir: str, overrides: dict[str, tuple[str, ...]]):
        self.modules = modules
        self.overrides = overrides
        self.workdir = workdir
        self.errors: list[RulecError] = []
        self.dimensions: dict[str, ir.Dimension] = {}
        self.trie: dict[str, str] = {}
        self._label_env: dict[str, list] = {}  # label -> [(NAME, Str)]
        self._template_what = "shell command"  # what a {...} template is, for messages

    def error(self, message: str, span: Span | None, hint: str | None = None) -> None:
        self.errors.append(AnalysisError(message, span, hint))

    # ------------------------------------------------------------------ driver
    def run(self) -> ir.Workflow:
        decls = [x for m in self.modules for x in m.decls]
        declared = {x.name for x in decls if isinstance(x, d.DimensionDecl)}
        for name in self.overrides:
            if name not in declared:
                self.errors.append(AnalysisError(f"--set {name}=...: no dimension named {name}{_suggest(name, declared)}"))
        seen: dict[tuple[str, str], Span] = {}
        for decl in decls:
            if isinstance(decl, (d.DimensionDecl, d.RuleDecl, d.LabelDecl)):
                kind = {d.DimensionDecl: "dimension", d.RuleDecl: "rule", d.LabelDecl: "label"}[type(decl)]
                key = (kind, decl.name)
                if key in seen:
                    first = seen[key]
                    self.error(f"duplicate {kind} '{decl.name}' (first defined at {first.location()})", decl.name_span)
                else:
                    seen[key] = decl.name_span

        for decl in decls:
            if isinstance(decl, d.DimensionDecl) and decl.name not in self.dimensions:
                dim = self.dimension(decl)
                if dim is not None and dim.name in self.overrides:
                    dim = self.restrict(dim, self.overrides[dim.name]) or dim
                if dim is not None:
                    self.dimensions[dim.name] = dim
                    self.trie[dim.name] = pat.trie_regex(dim.values)

        labels: dict[str, ir.Label] = {}
        for decl in decls:
            if isinstance(decl, d.LabelDecl) and decl.name not in labels:
                labels[decl.name] = self.label(decl)

        rules: list[ir.Rule] = []
        names: set[str] = set()
        for decl in decls:
            if isinstance(decl, d.RuleDecl) and decl.name not in names:
                names.add(decl.name)
                rule = self.rule(decl, len(rules), labels)
                if rule is not None:
                    rules.append(rule)

        precedence: set[tuple[str, str]] = set()
        for decl in decls:
            if isinstance(decl, d.RuleorderDecl):
                order = []
                for name, span in decl.names:
                    if name not in names:
                        self.error(f"unknown rule '{name}' in ruleorder{_suggest(name, names)}", span)
                    order.append(name)
                for i, a in enumerate(order):
                    for b in order[i + 1 :]:
                        if (b, a) in precedence:
                            self.error(f"ruleorder contradicts an earlier ruleorder: '{b}' was put before '{a}'", decl.span)
                        precedence.add((a, b))

        top_rules = [x for x in self.modules[0].decls if isinstance(x, d.RuleDecl)]
        default = "all" if "all" in names else (top_rules[0].name if top_rules else (rules[0].name if rules else None))
        workflow = ir.Workflow(
            file=self.modules[0].file,
            workdir=self.workdir,
            files=tuple(m.file for m in self.modules),
            dimensions=dict(self.dimensions),
            rules=tuple(rules),
            labels=labels,
            precedence=frozenset(precedence),
            default_target=default,
        )
        if not self.errors:
            self.check_ambiguity(workflow)
            self.check_split_collisions(workflow)
        if self.errors:
            _raise(self.errors)
        return workflow

    # ------------------------------------------------------------------ dimensions
    def dimension(self, decl: d.DimensionDecl) -> ir.Dimension | None:
        outside = False
        for option, span in decl.options:
            if option == "outside":
                outside = True
            else:
                self.error(f"unknown dimension option '{option}'{_suggest(option, DIMENSION_OPTIONS)}; "
                           f"expected {', '.join(DIMENSION_OPTIONS)}", span)
        # Values are parts of paths: one that leads out of the working folder is refused
        # unless the dimension says it may, as  dimension NAME (outside) = ...
        inside = not outside
        if decl.entries:
            values: list[str] = []
            table: dict[str, dict[str, str]] = {}
            field_names: tuple[str, ...] | None = None
            for entry in decl.entries:
                if entry.key in table:
                    self.error(f"duplicate value '{entry.key}' in dimension {decl.name}", entry.span)
                    continue
                fields: dict[str, str] = {}
                for item in entry.fields:
                    if not isinstance(item, d.Named):
                        self.error("a dimension value's fields need names: value: field=\"...\"", _span_of(item))
                        continue
                    text = self.scalar_text(item.value)
                    if text is not None:
                        fields[item.name] = text
                names = tuple(fields)
                if field_names is None:
                    field_names = names
                elif set(names) != set(field_names):
                    missing = sorted(set(field_names) - set(names)) or sorted(set(names) - set(field_names))
                    self.error(
                        f"value '{entry.key}' of dimension {decl.name} has fields {sorted(names)}, "
                        f"the first value has {sorted(field_names)} (differs in {', '.join(missing)})",
                        entry.span,
                    )
                if inside and pat.escapes(entry.key):
                    self.value_outside(decl, entry.key, entry.span)
                values.append(entry.key)
                table[entry.key] = fields
            return ir.Dimension(decl.name, tuple(values), field_names or (), table, decl.span, "block")
        expr = decl.expr
        if isinstance(expr, d.ListV):
            values = []
            seen_values: set[str] = set()
            for item in expr.items:
                text = self.scalar_text(item)
                if text is None:
                    continue
                if text in seen_values:
                    self.error(f"duplicate value '{text}' in dimension {decl.name}", _span_of(item))
                    continue
                if text == "":
                    self.error(f"empty value in dimension {decl.name}", _span_of(item))
                    continue
                if inside and pat.escapes(text):
                    self.value_outside(decl, text, _span_of(item))
                seen_values.add(text)
                values.append(text)
            return ir.Dimension(decl.name, tuple(values), (), {v: {} for v in values}, decl.span, "list")
        if isinstance(expr, d.Call) and expr.func == "glob":
            return self.glob_dimension(decl, expr, inside)
        self.error(
            f"dimension {decl.name}: expected a list [\"a\", \"b\"], glob(\"path/{{{decl.name}}}.ext\") or a block of values",
            _span_of(expr) if expr is not None else decl.span,
        )
        return None

    def restrict(self, dim: ir.Dimension, values: tuple[str, ...]) -> ir.Dimension | None:
        unknown = [v for v in values if v not in dim.table]
        if unknown:
            self.errors.append(AnalysisError(
                f"--set {dim.name}={','.join(values)}: {', '.join(repr(v) for v in unknown)} "
                f"{'is not a value' if len(unknown) == 1 else 'are not values'} of dimension {dim.name} "
                f"(its values: {', '.join(dim.values[:12])}{', ...' if len(dim.values) > 12 else ''})"))
            return None
        return ir.Dimension(dim.name, tuple(values), dim.fields, {v: dim.table[v] for v in values}, dim.span, dim.origin)

    def glob_dimension(self, decl: d.DimensionDecl, call: d.Call, inside: bool = True) -> ir.Dimension | None:
        if len(call.args) != 1 or not isinstance(call.args[0], d.Str):
            self.error("glob() takes one pattern string", call.span)
            return None
        arg = call.args[0]
        pattern = self.compile(arg)
        if pattern is None:
            return None
        if pattern.wildcards != (decl.name,) or any(s.field for s in pattern.slots):
            self.error(f"glob() for dimension {decl.name} must use exactly the wildcard {{{decl.name}}}", arg.span)
            return None
        from . import storage  # remote prefixes are listed through fsspec

        try:
            values = storage.glob_values(pattern, decl.name, self.workdir)
        except StorageError as err:  # an unreachable store: say where the listing was asked for
            self.error(err.message, arg.span, hint=err.hint)
            return None
        if inside:
            for value in values:
                if pat.escapes(value):  # ('..' from a remote listing): said once
                    self.value_outside(decl, value, arg.span)
                    break
        if not values:
            self.warn_empty_glob(decl, pattern, arg)
        return ir.Dimension(decl.name, tuple(values), (), {v: {} for v in values}, decl.span, "glob")

    def value_outside(self, decl: d.DimensionDecl, value: str, span: Span) -> None:
        why = "starts with '/'" if value.startswith("/") else "has '..' as a path segment"
        form = "(outside) = ..." if decl.expr is not None else "(outside):"
        self.error(
            f"value {value!r} of dimension {decl.name} {why}: paths made from it can lead "
            "outside the working folder",
            span,
            hint=f"if its values are meant to name such paths, say so:  dimension {decl.name} {form}",
        )

    def warn_empty_glob(self, decl: d.DimensionDecl, pattern: pat.Pattern, arg: d.Str) -> None:
        """An empty glob() dimension is most often a typo or a missing folder: say so (once),
        and name the files starting with '.' it skipped, if any."""
        skipped = ""
        from . import storage

        if not storage.is_remote(pattern.text):
            text = "".join(p if isinstance(p, str) else "*" for p in pattern.parts)
            base = os.path.abspath(self.workdir)
            hidden = sorted(os.path.relpath(p, base) for p in globmod.glob(
                os.path.join(globmod.escape(base), text), include_hidden=True))
            if hidden:
                skipped = (f"; files whose names start with '.' are skipped (such as {hidden[0]!r}"
                           + (f" and {len(hidden) - 1} more" if len(hidden) > 1 else "") + ")")
        _warn_once(arg.span, f"glob({arg.value!r}) matches no file: dimension {decl.name} has no values{skipped}")

    def scalar_text(self, expr) -> str | None:
        if isinstance(expr, d.Str):
            return expr.value
        if isinstance(expr, d.Num):
            return _num_text(expr.value)
        if isinstance(expr, d.Word):
            return expr.name
        self.error("expected a string, a number or a name", _span_of(expr))
        return None

    # ------------------------------------------------------------------ labels
    def label(self, decl: d.LabelDecl) -> ir.Label:
        limit = None
        slurm: tuple = ()
        lsf: tuple = ()
        jbsub = None
        prefix: tuple[str, ...] = ()
        env: list = []
        for f in decl.fields:
            if f.name not in LABEL_FIELDS:
                self.error(f"unknown label field '{f.name}'{_suggest(f.name, LABEL_FIELDS)}; expected one of {', '.join(LABEL_FIELDS)}", f.name_span)
                continue
            if f.name == "limit":
                limit = self.positive_int(f, "limit")
            elif f.name in ("slurm", "lsf"):
                pairs = []
                for item in f.items:
                    if isinstance(item, d.Named):
                        text = self.scalar_text(item.value)
                        if text is not None and self.one_line(item.value, f"{f.name} option {item.name}"):
                            pairs.append((item.name, text))
                    else:
                        self.error(f"{f.name} settings are key=value pairs, e.g. {f.name}: partition=\"gpu\"", _span_of(item))
                if f.name == "slurm":
                    slurm = tuple(pairs)
                else:
                    lsf = tuple(pairs)
            elif f.name == "jbsub":
                if len(f.items) != 1 or not isinstance(f.items[0], d.Str):
                    self.error('jbsub takes one string of flags, e.g. jbsub: "-queue x86_1h -cores 4+1"', f.span)
                elif self.one_line(f.items[0], "jbsub flags"):
                    jbsub = f.items[0].value
            elif f.name == "prefix":
                prefix = self.prefix(f) or prefix
            elif f.name == "env":
                env = self.label_env(f)
                self._label_env[decl.name] = env
        return ir.Label(decl.name, decl.name_span, limit, slurm, lsf, jbsub, prefix=prefix,
                        env=tuple((name, s.value) for name, s in env))

    def label_env(self, f: d.Field) -> list:
        """``env: JAVA_HOME="/opt/java11", OMP_NUM_THREADS="{threads}"``: (name, Str) pairs;
        the values' ``{...}`` are checked per rule of the label (``rule_env``)."""
        out: list = []
        for item in f.items:
            if not isinstance(item, d.Named):
                self.error('env settings are NAME="value" pairs, e.g. env: JAVA_HOME="/opt/java11"', _span_of(item))
                continue
            if not _ENV_NAME.fullmatch(item.name):
                self.error(f"env: {item.name!r} is not a shell variable name (letters, digits and _, not starting with a digit)", item.name_span)
                continue
            if any(name == item.name for name, _ in out):
                self.error(f"env variable {item.name} is given twice", item.name_span)
                continue
            v = item.value
            if isinstance(v, d.Num):
                v = d.Str(_num_text(v.value), v.span)
            elif isinstance(v, d.Word):
                v = d.Str(v.name, v.span)
            if not isinstance(v, d.Str):
                self.error(f"env {item.name}: the value is a string, e.g. {item.name}=\"/opt/x\"", _span_of(v))
                continue
            at = control_char(v.value)
            if at >= 0:
                self.error(
                    f"env {item.name}: the value holds {describe_char(v.value[at])}; an environment value "
                    "is one line and may not hold control characters",
                    v.content_span(at, 1),
                )
                continue
            out.append((item.name, v))
        return out

    def rule_env(self, label: str, bound, rule, inputs, outputs, logs, params, resources) -> tuple:
        """The label's env for one rule: each value a template of the rule's references
        (inserted as text: the whole value is quoted once, in ``export NAME=...``)."""
        out = []
        n0 = len(self.errors)
        seen = {(e.message, e.span) for e in self.errors}
        for name, s in self._label_env.get(label, ()):
            self._template_what = f"env {name}"
            field = d.Field("env", (d.Str(s.value, s.span, False),), s.span, s.span)
            try:
                t = self.shell(field, bound, rule, inputs, outputs, logs, params, resources)
            finally:
                self._template_what = "shell command"
            if t is not None:
                parts = tuple(p if isinstance(p, str) else dataclasses.replace(p, raw=True) for p in t.parts)
                out.append((name, ir.ShellTemplate(t.text, parts, s.span)))
        # A label's value wrong for every rule of the label is said once.
        kept = []
        for e in self.errors[n0:]:
            key = (e.message, e.span)
            if key not in seen:
                kept.append(e)
                seen.add(key)
        self.errors[n0:] = kept
        return tuple(out)

    def prefix(self, f: d.Field) -> tuple[str, ...]:
        """``prefix: "srun -p gpu --"``: the words (shell-split here, once) that the label's
        jobs run under: ``<words> bash -euo pipefail <job script>``."""
        example = 'prefix takes one string, the command the jobs run under, e.g. prefix: "srun -p gpu --"'
        if len(f.items) != 1 or not isinstance(f.items[0], d.Str):
            self.error(example, f.span)
            return ()
        item = f.items[0]
        at = control_char(item.value)
        if at >= 0:
            self.error(
                f"prefix: the value holds {describe_char(item.value[at])}; a prefix is one line of words "
                "and may not hold control characters",
                item.content_span(at, 1),
            )
            return ()
        try:
            words = tuple(shlex.split(item.value))
        except ValueError as exc:  # an unclosed quote
            self.error(f"prefix {item.value!r}: {exc}; quote words as a shell would, e.g. prefix: \"env 'A=x y'\"", item.span)
            return ()
        if not words:
            self.error(example, item.span)
        return words

    def one_line(self, expr, what: str) -> bool:
        """A scheduler setting becomes (part of) one line of a job script (``#SBATCH ...``)
        or one word of a command: a control character (a newline: a directive or a command
        line of its own) is an error at the character."""
        if not isinstance(expr, d.Str):
            return True
        at = control_char(expr.value)
        if at < 0:
            return True
        self.error(
            f"{what}: the value holds {describe_char(expr.value[at])}; scheduler settings go on one line "
            "of the job script and may not hold control characters",
            expr.content_span(at, 1),
        )
        return False

    def positive_int(self, f: d.Field, what: str, allow_zero: bool = False) -> int | None:
        if len(f.items) != 1 or not isinstance(f.items[0], d.Num) or not isinstance(f.items[0].value, int):
            self.error(f"{what} must be a whole number", f.items[0].span if f.items and not isinstance(f.items[0], d.Named) else f.span)
            return None
        value = f.items[0].value
        if value < 0 or (value == 0 and not allow_zero):
            self.error(f"{what} must be {'zero or more' if allow_zero else 'at least 1'}", f.items[0].span)
            return None
        return value

    # ------------------------------------------------------------------ rules
    def compile(self, s: d.Str) -> pat.Pattern | None:
        try:
            return pat.compile(s.value)
        except pat.PatternError as exc:
            self.error(exc.message, s.content_span(exc.offset, exc.length))
            return None

    def rule(self, decl: d.RuleDecl, index: int, labels: dict[str, ir.Label]) -> ir.Rule | None:
        fields: dict[str, d.Field] = {}
        for f in decl.fields:
            if f.name not in RULE_FIELDS:
                self.error(f"unknown rule field '{f.name}'{_suggest(f.name, RULE_FIELDS)}; expected one of {', '.join(RULE_FIELDS)}", f.name_span)
            elif f.name in fields:
                self.error(f"'{f.name}' given twice in rule {decl.name}", f.name_span)
            else:
                fields[f.name] = f
        before = len(self.errors)

        outputs = self.path_specs(fields.get("output"), "output")
        seen_out: dict[str, Span] = {}
        for spec in outputs:
            if spec.pattern.text in seen_out:
                self.error(f"output {spec.pattern.text!r} is listed twice in rule {decl.name}", spec.span)
            seen_out[spec.pattern.text] = spec.span
            for slot in spec.pattern.slots:
                if slot.field is not None:
                    self.error(f"an output pattern cannot use a field reference {{{slot.name}.{slot.field}}}", spec.span.shifted(1 + slot.offset, slot.length))
        wildcards: tuple[str, ...] = outputs[0].pattern.wildcards if outputs else ()
        for spec in outputs[1:]:
            if set(spec.pattern.wildcards) != set(wildcards):
                self.error(
                    f"outputs of rule {decl.name} must all use the same wildcards: "
                    f"{_wcs(spec.pattern.wildcards)} here, {_wcs(wildcards)} in {outputs[0].pattern.text!r}",
                    spec.span,
                )
        regex: dict[str, str] = {}
        for spec in outputs:
            for slot in spec.pattern.slots:
                if slot.regex is not None:
                    prior = regex.get(slot.name)
                    if slot.name in self.dimensions:
                        self.error(f"wildcard {{{slot.name}}} is a dimension: its values are its constraint, drop ',{slot.regex}'", spec.span.shifted(1 + slot.offset, slot.length))
                    elif prior is not None and prior != slot.regex:
                        self.error(f"wildcard {{{slot.name}}} has two different constraints in rule {decl.name}", spec.span.shifted(1 + slot.offset, slot.length))
                    regex[slot.name] = slot.regex
        for name in wildcards:
            if name not in regex:
                regex[name] = self.trie.get(name, pat.FREE)
        bound = set(wildcards)

        logs = self.path_specs(fields.get("log"), "log")
        for spec in logs:
            self.check_refs(spec.pattern, spec.span, bound, "log", decl.name)
            if outputs and set(spec.pattern.wildcards) != bound:
                missing = bound - set(spec.pattern.wildcards)
                if missing:
                    self.error(
                        f"log {spec.pattern.text!r} must use every output wildcard, or jobs would share it: missing {_wcs(sorted(missing))}",
                        spec.span,
                    )

        inputs = self.inputs(fields.get("input"), bound, decl.name)
        params = self.params(fields.get("params"), bound, decl.name)
        resources = self.resources(fields.get("resources"))
        label = None
        if "label" in fields:
            f = fields["label"]
            if len(f.items) != 1 or not isinstance(f.items[0], (d.Word, d.Str)):
                self.error("label takes one label name, e.g. label: gpu", f.span)
            else:
                item = f.items[0]
                label = item.name if isinstance(item, d.Word) else item.value
                if label not in labels:
                    close = _suggest(label, labels)
                    self.error(
                        f"unknown label '{label}'{close}", item.span,
                        hint=None if close else f"declare it with a block:  label {label}:  and indented settings such as  limit: 1",
                    )
        shell = None
        # What the rule declares, as written: an entry that had an error of its own must not
        # also make "{input.data}" an unknown name.
        self._declared = {
            key: (key in fields, {i.name for i in fields[key].items if isinstance(i, d.Named)} if key in fields else set())
            for key in ("input", "output", "log", "params")
        }
        if "shell" in fields:
            shell = self.shell(fields["shell"], bound, decl.name, inputs, outputs, logs, params, resources)
        env = self.rule_env(label, bound, decl.name, inputs, outputs, logs, params, resources) if label in self._label_env else ()
        retries = self.positive_int(fields["retries"], "retries", allow_zero=True) if "retries" in fields else None
        persist = False
        if "persist" in fields:
            f = fields["persist"]
            if len(f.items) == 1 and isinstance(f.items[0], d.Word) and f.items[0].name in ("true", "false"):
                persist = f.items[0].name == "true"
            else:
                self.error("persist takes true or false", f.items[0].span if f.items and not isinstance(f.items[0], d.Named) else f.span)
        local = False
        if "local" in fields:
            f = fields["local"]
            if len(f.items) == 1 and isinstance(f.items[0], d.Word) and f.items[0].name in ("true", "false"):
                local = f.items[0].name == "true"
            else:
                self.error("local takes true or false", f.items[0].span if f.items and not isinstance(f.items[0], d.Named) else f.span)
        priority = 0
        if "priority" in fields:
            f = fields["priority"]
            if len(f.items) == 1 and isinstance(f.items[0], d.Num) and isinstance(f.items[0].value, int):
                priority = f.items[0].value
            else:
                self.error("priority must be a whole number", f.items[0].span if len(f.items) == 1 and not isinstance(f.items[0], d.Named) else f.span)
        if len(self.errors) > before:
            return None
        return ir.Rule(
            name=decl.name,
            index=index,
            span=decl.name_span,
            wildcards=wildcards,
            wildcard_regex=tuple((n, regex[n]) for n in wildcards),
            outputs=outputs,
            logs=logs,
            inputs=inputs,
            params=params,
            resources=resources,
            label=label,
            shell=shell,
            persist=persist,
            priority=priority,
            env=env,
            retries=retries,
            local=local,
        )

    def path_specs(self, f: d.Field | None, what: str) -> tuple[ir.PathSpec, ...]:
        if f is None:
            return ()
        out = []
        names: set[str] = set()
        for item in f.items:
            name = None
            value = item
            if isinstance(item, d.Named):
                name, value = item.name, item.value
                if name in names:
                    self.error(f"{what} name '{name}' is used twice", item.name_span)
                names.add(name)
            strings = value.items if isinstance(value, d.ListV) else (value,)
            for s in strings:
                kinds: tuple[str, ...] = ()
                kind_span = None
                if isinstance(s, d.Call):
                    kind_span = s.span
                    kinds, s = self.path_kinds(s, what)
                    if s is None:
                        continue
                if not isinstance(s, d.Str):
                    self.error(f"{what} entries are path patterns in quotes", _span_of(s))
                    continue
                p = self.compile(s)
                if p is not None:
                    if not s.value:
                        self.error(f"empty {what} path", s.span)
                        continue
                    if kinds:
                        remote_only = [k for k in kinds if k in _LOCAL_ONLY_KINDS]
                        if remote_only and _is_remote(s.value):
                            self.error(f"{remote_only[0]}() needs a path on this machine's file system: "
                                       f"{'a remote file cannot be made read-only' if remote_only[0] == 'protected' else 'rulec creates the marker after the job, and a remote output is uploaded by then'}",
                                       s.span)
                            continue
                        out.append(ir.PathSpec(name, p, s.span, kinds, kind_span))
                    else:
                        out.append(ir.PathSpec(name, p, s.span))
        return tuple(out)

    def path_kinds(self, call: d.Call, what: str) -> tuple[tuple[str, ...], d.Str | None]:
        """``temp("x")``, ``protected(touch("x"))``: the kinds (outermost first) and the
        pattern string inside; (kinds, None) after an error."""
        kinds: list[str] = []
        v = call
        while isinstance(v, d.Call):
            func = v.func
            if func not in OUTPUT_KINDS:
                if func in ("expand", "zip"):
                    self.error(f"{func}() is for inputs: an {what} entry is one path pattern in quotes", v.func_span)
                else:
                    self.error(f"unknown {what} kind '{func}()'{_suggest(func, OUTPUT_KINDS)}; expected "
                               + ", ".join(f"{k}(...)" for k in OUTPUT_KINDS), v.func_span)
                return tuple(kinds), None
            if what != "output":
                self.error(f"{func}() is for outputs: a {what} file is kept as it is", v.func_span,
                           hint=f"a log is written by its job; for a file that should be {_KIND_WORDS[func]}, "
                                f"make it an output: output: {func}(\"...\")")
                return tuple(kinds), None
            if func in kinds:
                self.error(f"{func}() is given twice", v.func_span)
                return tuple(kinds), None
            kinds.append(func)
            if len(v.args) != 1 or isinstance(v.args[0], d.Named):
                at = next((a for a in v.args if isinstance(a, d.Named)), None)
                self.error(f"{func}() takes one path pattern in quotes, e.g. {func}(\"bld/x.csv\")",
                           at.name_span if at is not None else v.span)
                return tuple(kinds), None
            v = v.args[0]
        if not isinstance(v, d.Str):
            self.error(f"{kinds[-1]}() takes one path pattern in quotes, e.g. {kinds[-1]}(\"bld/x.csv\")"
                       + (f", not the name {v.name}" if isinstance(v, d.Word) else ""), _span_of(v),
                       hint=f'a path is written in quotes: {kinds[-1]}("{v.name}")' if isinstance(v, d.Word) else None)
            return tuple(kinds), None
        if "temp" in kinds and "protected" in kinds:
            self.error("an output cannot be both temp() and protected(): temp() deletes it once it is used, "
                       "protected() keeps it read-only", call.span)
            return tuple(kinds), None
        return tuple(kinds), v

    def check_refs(self, p: pat.Pattern, span: Span, bound: set[str], where: str, rule: str, extra: set[str] = frozenset()) -> bool:
        ok = True
        for slot in p.slots:
            sspan = span.shifted(1 + slot.offset, slot.length)
            if slot.field is not None:
                dim = self.dimensions.get(slot.name)
                if dim is None:
                    self.error(f"unknown dimension '{slot.name}' in {{{slot.name}.{slot.field}}}{_suggest(slot.name, self.dimensions)}", sspan)
                    ok = False
                    continue
                if slot.field not in dim.fields:
                    have = ", ".join(dim.fields) or "none"
                    self.error(f"dimension {slot.name} has no field '{slot.field}'{_suggest(slot.field, dim.fields)} (its fields: {have})", sspan)
                    ok = False
                    continue
            if slot.name not in bound and slot.name not in extra:
                self.error(
                    f"wildcard {{{slot.name}}} in {where} is not defined by any output of rule {rule}"
                    + (f" (its outputs define {_wcs(sorted(bound))})" if bound else " (it has no output wildcards)"),
                    sspan,
                    hint=("use expand(...) to take every value of a dimension" if slot.name in self.dimensions and where == "input" else None),
                )
                ok = False
        return ok

    def inputs(self, f: d.Field | None, bound: set[str], rule: str) -> tuple[ir.InputSpec, ...]:
        if f is None:
            return ()
        out: list[ir.InputSpec] = []
        names: set[str] = set()
        for item in f.items:
            name = None
            value = item
            if isinstance(item, d.Named):
                name, value = item.name, item.value
                if name in names:
                    self.error(f"input name '{name}' is used twice", item.name_span)
                names.add(name)
            values = value.items if isinstance(value, d.ListV) else (value,)
            for v in values:
                spec = self.input_entry(name, v, bound, rule)
                if spec is not None:
                    out.append(spec)
        return tuple(out)

    def input_entry(self, name: str | None, v, bound: set[str], rule: str) -> ir.InputSpec | None:
        if isinstance(v, d.Str):
            p = self.compile(v)
            if p is None:
                return None
            if not v.value:
                self.error("empty input path", v.span)
                return None
            if not self.check_refs(p, v.span, bound, "input", rule):
                return None
            return ir.InputSpec(name, p, v.span)
        if isinstance(v, d.Call) and v.func in ("expand", "zip"):
            return self.expand(name, v, bound, rule)
        if isinstance(v, d.Call) and v.func in OUTPUT_KINDS:
            self.error(f"{v.func}() marks an output, not an input: an input is read as it is", v.func_span,
                       hint=f"write it around the output of the rule that makes the file: output: {v.func}(\"...\")")
            return None
        if isinstance(v, d.Call):
            self.error(f"unknown function '{v.func}()' in input{_suggest(v.func, ('expand', 'zip'))}: input entries "
                       "are path patterns in quotes, expand(...) or zip(...)", v.func_span)
            return None
        self.error("input entries are path patterns in quotes, expand(...) or zip(...)", _span_of(v))
        return None

    def expand(self, name: str | None, call: d.Call, bound: set[str], rule: str) -> ir.InputSpec | None:
        positional = [a for a in call.args if not isinstance(a, d.Named)]
        keywords = [a for a in call.args if isinstance(a, d.Named)]
        if len(positional) != 1 or not isinstance(positional[0], d.Str):
            self.error(f"{call.func}() takes one pattern string, then name=[values] arguments", call.span)
            return None
        s = positional[0]
        p = self.compile(s)
        if p is None:
            return None
        given: dict[str, tuple[str, ...]] = {}
        ok = True
        for kw in keywords:
            if kw.name in bound:
                self.error(f"wildcard {{{kw.name}}} is bound by the outputs of rule {rule}, so {call.func}() cannot give it values", kw.name_span)
                ok = False
                continue
            if kw.name not in p.wildcards:
                self.error(f"{call.func}() names wildcard '{kw.name}' that is not in its pattern {s.value!r}{_suggest(kw.name, p.wildcards)}", kw.name_span)
                ok = False
                continue
            items = kw.value.items if isinstance(kw.value, d.ListV) else (kw.value,)
            vals = []
            for it in items:
                text = self.scalar_text(it)
                if text is None:
                    ok = False
                    continue
                dim = self.dimensions.get(kw.name)
                if dim is not None and text not in dim.table:
                    self.error(f"'{text}' is not a value of dimension {kw.name}{_suggest(text, dim.values)}", _span_of(it))
                    ok = False
                vals.append(text)
            given[kw.name] = tuple(vals)
        expanded = tuple(w for w in p.wildcards if w not in bound)
        for w in expanded:
            if w not in given and w not in self.dimensions:
                slot = next(x for x in p.slots if x.name == w)
                self.error(
                    f"wildcard {{{w}}} in {call.func}() has no values: it is not a dimension, not bound by an output of rule {rule}, "
                    f"and not given as {call.func}(..., {w}=[...])",
                    s.content_span(slot.offset, slot.length),
                )
                ok = False
        for slot in p.slots:
            if slot.field is not None and not self.check_refs(pat.Pattern(p.text, (slot,), (slot.name,)), s.span, bound | set(expanded), "input", rule):
                ok = False
        if not ok:
            return None
        value_lists = [given.get(w) or self.dimensions[w].values for w in expanded]
        if call.func == "expand":
            combos = tuple(itertools.product(*value_lists))
        else:
            lengths = {len(v) for v in value_lists}
            if len(lengths) > 1:
                sizes = ", ".join(f"{w}: {len(v)}" for w, v in zip(expanded, value_lists))
                self.error(f"zip() needs lists of the same length ({sizes})", call.span)
                return None
            combos = tuple(zip(*value_lists))
        return ir.InputSpec(name, p, s.span, call.func, expanded, combos)

    def params(self, f: d.Field | None, bound: set[str], rule: str) -> tuple[tuple[str, ir.ParamValue], ...]:
        if f is None:
            return ()
        out = []
        for item in f.items:
            if not isinstance(item, d.Named):
                self.error("params need names, e.g. params: seed=42", _span_of(item))
                continue
            if any(n == item.name for n, _ in out):
                self.error(f"param '{item.name}' is given twice", item.name_span)
                continue
            value = self.param_value(item.value, bound, rule)
            if value is not None:
                out.append((item.name, value))
        return tuple(out)

    def param_value(self, v, bound: set[str], rule: str):
        if isinstance(v, d.Num):
            return v.value
        if isinstance(v, d.Word):
            if v.name in ("true", "false"):
                return v.name == "true"
            return v.name
        if isinstance(v, d.Str):
            p = self.compile(v)
            if p is None:
                return None
            if p.constant:
                return p.parts[0] if p.parts else ""
            if not self.check_refs(p, v.span, bound, "params", rule, extra={"attempt"}):
                return None
            return p
        if isinstance(v, d.ListV):
            values = [self.param_value(x, bound, rule) for x in v.items]
            if any(x is None for x in values):
                return None
            return tuple(values)
        self.error("a param is a number, a string, true/false or a list of those", _span_of(v))
        return None

    def resources(self, f: d.Field | None) -> ir.Resources:
        if f is None:
            return ir.Resources()
        cpus, mem, time_s, gpus = 1, None, None, 0
        custom = []
        per_attempt: list[str] = []
        for item in f.items:
            if not isinstance(item, d.Named):
                self.error("resources are name=value pairs, e.g. resources: cpus=2, mem=\"4G\"", _span_of(item))
                continue
            v = item.value
            if item.name in ("cpus", "gpus"):
                if not isinstance(v, d.Num) or not isinstance(v.value, int) or v.value < (1 if item.name == "cpus" else 0):
                    self.error(f"{item.name} must be a whole number of at least {1 if item.name == 'cpus' else 0}", _span_of(v))
                    continue
                if item.name == "cpus":
                    cpus = v.value
                else:
                    gpus = v.value
            elif item.name in ("mem", "time"):
                m = _PER_ATTEMPT.fullmatch(v.value) if isinstance(v, d.Str) else None
                if m is not None:  # "4G*{attempt}": the first attempt's amount, times the attempt
                    v = d.Str(m.group(1), v.span)
                    per_attempt.append(item.name)
                if item.name == "mem":
                    mem = self.memory(v)
                else:
                    time_s = self.duration(v)
            else:
                if isinstance(v, d.Str) and "{attempt}" in v.value:
                    self.error(f"only mem and time can grow with the attempt (mem=\"4G*{{attempt}}\"), not {item.name}", _span_of(v))
                    continue
                if not isinstance(v, d.Num) or v.value < 0:
                    self.error(f"custom resource '{item.name}' must be a number of at least 0", _span_of(v))
                    continue
                custom.append((item.name, v.value))
        return ir.Resources(cpus, mem, time_s, gpus, tuple(custom), tuple(per_attempt))

    def memory(self, v) -> int | None:
        mb = parse_mem(v.value) if isinstance(v, (d.Num, d.Str)) else None
        if mb is None:
            self.error(f"bad memory value {_show(v)}: expected a number with a unit K, M, G or T, e.g. \"4G\"", _span_of(v))
        return mb

    def duration(self, v) -> int | None:
        seconds = parse_time(v.value) if isinstance(v, (d.Num, d.Str)) else None
        if seconds is None:
            self.error(f"bad time value {_show(v)}: expected e.g. \"30m\", \"2h\", \"1d\", \"1h30m\" or \"HH:MM:SS\"", _span_of(v))
        return seconds

    # ------------------------------------------------------------------ shell
    def shell(self, f: d.Field, bound: set[str], rule: str, inputs, outputs, logs, params, resources: ir.Resources = ir.Resources()) -> ir.ShellTemplate | None:
        if len(f.items) != 1 or not isinstance(f.items[0], d.Str):
            self.error('shell takes one command string, or a """block"""', f.span)
            return None
        s = f.items[0]
        text = s.value
        if s.long:
            text, self._shell_offsets = _dedent(text)
        else:
            self._shell_offsets = None
        parts: list = []
        declared = getattr(self, "_declared", {})
        input_names = {x.name for x in inputs if x.name} | declared.get("input", (False, set()))[1]
        output_names = {x.name for x in outputs if x.name} | declared.get("output", (False, set()))[1]
        log_names = {x.name for x in logs if x.name} | declared.get("log", (False, set()))[1]
        param_names = {n for n, _ in params} | declared.get("params", (False, set()))[1]
        self._present = {k for k, (present, _) in declared.items() if present}
        resource_names = set(_BUILTIN_RESOURCES) | {n for n, _ in resources.custom}
        i, n = 0, len(text)
        buf = []
        while i < n:
            ch = text[i]
            if ch == "{" and text.startswith("{{", i):
                buf.append("{")
                i += 2
                continue
            if ch == "}" and text.startswith("}}", i):
                buf.append("}")
                i += 2
                continue
            if ch == "}":
                self.error(f"unmatched '}}' in {self._template_what} (write '}}}}' for a literal brace)", self.shell_span(s, text, i, 1))
                return None
            if ch != "{":
                buf.append(ch)
                i += 1
                continue
            end = text.find("}", i)
            if end < 0:
                self.error(f"unclosed '{{' in {self._template_what} (write '{{{{' for a literal brace)", self.shell_span(s, text, i, 1))
                return None
            body = text[i + 1 : end]
            # where the reference is in the source: worked out only for an error
            where = (lambda at=i, n=end - i + 1: self.shell_span(s, text, at, n))
            ref = self.shell_ref(body, i, end - i + 1, where, bound, rule, input_names, output_names, log_names, param_names, inputs, outputs, logs, resource_names)
            if ref is None:
                return None
            if buf:
                parts.append("".join(buf))
                buf = []
            parts.append(ref)
            i = end + 1
        if buf:
            parts.append("".join(buf))
        return ir.ShellTemplate(text, tuple(parts), s.span)

    def shell_span(self, s: d.Str, text: str, offset: int, length: int) -> Span:
        # Offsets are into the (dedented) command; find them in the raw string when possible.
        snippet = text[offset : offset + length]
        offsets = getattr(self, "_shell_offsets", None)
        if s.long and offsets is not None and offset < len(offsets):
            raw_at = offsets[offset]
        else:
            raw_at = s.value.find(snippet) if s.long else offset
        if raw_at < 0:
            return s.span
        return s.content_span(raw_at, length)

    def shell_ref(self, body, offset, length, where, bound, rule, input_names, output_names, log_names, param_names, inputs, outputs, logs, resource_names=frozenset(_BUILTIN_RESOURCES)) -> ir.Ref | None:
        m = _REF.fullmatch(body.strip())
        if not m:
            self.error(f"bad reference {{{body}}} in {self._template_what}: expected e.g. {{input}}, {{output.name}}, {{params.seed}} or {{wildcard}}", where())
            return None
        head, attr, index, mod = m.group(1), m.group(2), m.group(3), m.group(4)
        raw = mod == "raw"
        if mod not in (None, "raw", "q"):
            self.error(f"unknown modifier ':{mod}' (expected :raw or :q)", where())
            return None
        idx = int(index) if index is not None else None
        if head in ("input", "output", "log"):
            names = {"input": input_names, "output": output_names, "log": log_names}[head]
            entries = {"input": inputs, "output": outputs, "log": logs}[head]
            if attr is not None and attr not in names:
                self.error(f"rule {rule} has no {head} named '{attr}'{_suggest(attr, names)}", where())
                return None
            if attr is None and not entries and head not in getattr(self, "_present", ()):
                self.error(f"rule {rule} has no {head} for {{{head}}}", where())
                return None
            return ir.Ref(head, attr, None, idx, raw, offset, length)
        if head == "params":
            if attr is None or attr not in param_names:
                self.error(f"rule {rule} has no param '{attr}'{_suggest(attr or '', param_names)}" if attr else "use {params.NAME}", where())
                return None
            return ir.Ref("params", attr, None, idx, raw, offset, length)
        if head == "resources":
            if attr is None:
                self.error("use {resources.NAME}, e.g. {resources.cpus}", where())
                return None
            if attr not in resource_names:
                self.error(
                    f"rule {rule} has no resource '{attr}'{_suggest(attr, resource_names)} "
                    f"(it has {', '.join(sorted(resource_names))})",
                    where(),
                )
                return None
            return ir.Ref("resources", attr, None, idx, raw, offset, length)
        if head == "wildcards":
            if attr is None or attr not in bound:
                self.error(f"{{wildcards.{attr}}}: rule {rule} has no such output wildcard", where())
                return None
            return ir.Ref("wildcard", attr, None, None, raw, offset, length)
        if head in ("rule", "jobid", "threads", "attempt"):
            return ir.Ref(head, None, None, None, raw, offset, length)
        if head in bound:
            if attr is not None:
                dim = self.dimensions.get(head)
                if dim is None:
                    self.error(f"wildcard {{{head}}} is not a dimension, so it has no field '{attr}'", where())
                    return None
                if attr not in dim.fields:
                    self.error(f"dimension {head} has no field '{attr}'{_suggest(attr, dim.fields)} (its fields: {', '.join(dim.fields) or 'none'})", where())
                    return None
                return ir.Ref("field", head, attr, None, raw, offset, length)
            return ir.Ref("wildcard", head, None, None, raw, offset, length)
        if head in self.dimensions:
            self.error(
                f"wildcard {{{head}}} in {'shell' if self._template_what == 'shell command' else self._template_what} is not defined by any output of rule {rule}"
                + (f" (its outputs define {_wcs(sorted(bound))})" if bound else " (it has no output wildcards)"),
                where(),
            )
            return None
        if attr is not None and head not in SHELL_OBJECTS:
            self.error(f"unknown dimension '{head}' in {{{head}.{attr}}}{_suggest(head, self.dimensions)}", where())
            return None
        defined = f"its outputs define {_wcs(sorted(bound))}" if bound else "it has no output wildcards"
        self.error(
            f"unknown name {{{head}}} in {self._template_what}{_suggest(head, list(SHELL_OBJECTS) + sorted(bound))}: "
            f"not a wildcard of rule {rule} ({defined}), nor input, output, log, params, resources, "
            "threads, rule, jobid or attempt",
            where(),
        )
        return None

    # ------------------------------------------------------------------ ambiguity
    def check_ambiguity(self, wf: ir.Workflow) -> None:
        """Two rules whose outputs can match one path need a ruleorder or priority."""
        entries = []
        for rule in wf.rules:
            for spec in rule.outputs + rule.logs:
                entries.append((spec.pattern.prefix(), spec.pattern.suffix(), rule, spec))
        choices = {name: dim.values for name, dim in self.dimensions.items()}
        reported: set[tuple[str, str]] = set()
        for i, j in sorted(_candidate_pairs([(e[0], e[1]) for e in entries])):
            pre, suf, rule, spec = entries[i]
            pre2, suf2, rule2, spec2 = entries[j]
            if rule2 is rule or (rule.name, rule2.name) in reported or (rule2.name, rule.name) in reported:
                continue
            if rule.priority != rule2.priority or (rule.name, rule2.name) in wf.precedence or (rule2.name, rule.name) in wf.precedence:
                continue
            witness = self.witness(spec, rule, spec2, rule2, choices)
            if witness is not None:
                reported.add((rule.name, rule2.name))
                first, second = sorted([(spec, rule), (spec2, rule2)], key=lambda x: (x[1].span.file, x[1].span.line))
                self.error(
                    f"rules '{first[1].name}' and '{second[1].name}' can both make {witness!r} "
                    f"({first[0].pattern.text!r} at {first[0].span.location()}, {second[0].pattern.text!r} here)",
                    second[0].span,
                    hint=f"settle it with  ruleorder: {first[1].name} > {second[1].name}  (or the other way), or a priority",
                )

    def check_split_collisions(self, wf: ir.Workflow) -> None:
        """One rule whose output pattern formats two value combinations to one path (values
        holding the separator: datasets ``a``, ``a_b`` and models ``c``, ``b_c`` in
        ``{dataset}_{model}``) would have two jobs write one file."""
        choices = {name: dim.values for name, dim in self.dimensions.items()}
        cache: dict = {}
        for rule in wf.rules:
            for spec in rule.outputs + rule.logs:
                found = pat.split_collision(spec.pattern, choices, cache=cache)
                if found is None:
                    continue
                one, other, path = found

                def text(values):
                    return ", ".join(f"{k}={values[k]}" for k in spec.pattern.wildcards)

                self.error(
                    f"rule '{rule.name}' makes {path!r} twice: for {text(one)} and for {text(other)} "
                    f"(pattern {spec.pattern.text!r}); two jobs would write one file",
                    spec.span,
                    hint="put a separator between the wildcards that no value contains "
                         "(such as '/'), or rename the values",
                )
                break

    def witness(self, a: ir.PathSpec, ra: ir.Rule, b: ir.PathSpec, rb: ir.Rule, choices) -> str | None:
        xa = re.compile(pat.regex_for(a.pattern, dict(ra.wildcard_regex)), re.DOTALL)
        xb = re.compile(pat.regex_for(b.pattern, dict(rb.wildcard_regex)), re.DOTALL)
        # Finite choices only for wildcards that really are dimensions in both rules.
        return pat.overlap(a.pattern, b.pattern, choices, lambda s: bool(xa.fullmatch(s) and xb.fullmatch(s)))


_REF = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?(?:\[(\d+)\])?(?::([A-Za-z]+))?")


def _dedent(value: str) -> tuple[str, list[int] | None]:
    """A shell block as run (dedented, first and last blank lines dropped), and for each of its
    characters the index of that character in ``value`` (None if the two cannot be aligned)."""
    text = textwrap.dedent(value)
    final = text.strip("\n")
    vlines, tlines = value.split("\n"), text.split("\n")
    if len(vlines) != len(tlines):  # pragma: no cover - dedent keeps the lines
        return final, None
    offsets: list[int] = []
    at = 0
    for vl, tl in zip(vlines, tlines):
        if not vl.endswith(tl):  # pragma: no cover - dedent only removes leading blanks
            return final, None
        offsets.extend(range(at + len(vl) - len(tl), at + len(vl) + 1))  # the line and its newline
        at += len(vl) + 1
    lead = len(text) - len(text.lstrip("\n"))
    return final, offsets[lead : lead + len(final)]


def _candidate_pairs(keys: list[tuple[str, str]]) -> set[tuple[int, int]]:
    """Pairs ``(i, j)``, ``i < j``, of (literal prefix, literal suffix) keys that could name
    one path: one prefix starts the other and one suffix ends the other. Not quadratic in
    practice (see ``pattern.AffixIndex``)."""
    index = pat.AffixIndex(keys)
    pairs: set[tuple[int, int]] = set()
    for i, (pre, suf) in enumerate(keys):
        for j in index.related(pre, suf):
            if j > i:
                pairs.add((i, j))
    return pairs


def _wcs(names) -> str:
    return "{" + "}, {".join(names) + "}" if names else "none"


def _num_text(value) -> str:
    return str(value)


def _show(v) -> str:
    if isinstance(v, d.Str):
        return repr(v.value)
    if isinstance(v, d.Num):
        return str(v.value)
    if isinstance(v, d.Word):
        return v.name
    return "value"


_KIND_WORDS = {"temp": "deleted once used", "protected": "kept read-only", "touch": "created by rulec"}


def _is_remote(path: str) -> bool:
    from .storage import is_remote

    return is_remote(path)


def _span_of(item) -> Span:
    return item.span
