"""Declarations -> ``ir.Workflow``. Every semantic error is raised here, with its span.

Errors are collected, not raised one by one, so ``rulec check`` shows them all at once.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable

from . import ir
from . import pattern as pat
from .errors import AnalysisError, ErrorGroup, RulecError, StorageError
from .recordclass import record, replace
from .controls import control_char, describe_char
from .source import Span
from .syntax import decls as d
from .syntax.snakemake import FIELDS as SNAKEMAKE_FIELDS
from .units import parse_mem, parse_time


def _glob_hidden(base: str, text: str) -> list[str]:
    """What ``text`` matches in ``base`` (already escaped), names starting with '.' included
    (``glob(include_hidden=True)`` of Python 3.11; on 3.10 each part starting with a wildcard
    is tried with a leading '.' too)."""
    import glob as globmod  # (here: only a glob() needs it)
    import sys

    if sys.version_info >= (3, 11):
        return globmod.glob(os.path.join(base, text), include_hidden=True)
    parts = text.split("/")
    starred = [i for i, part in enumerate(parts) if part[:1] in ("*", "?", "[")]
    found: set[str] = set()
    for dots in itertools.product((False, True), repeat=len(starred)):
        tried = list(parts)
        for i, dot in zip(starred, dots):
            if dot:
                tried[i] = "." + tried[i]
        found.update(globmod.glob(os.path.join(base, "/".join(tried))))
    return sorted(found)

DIMENSION_OPTIONS = ("outside",)
RULE_FIELDS = ("input", "output", "log", "params", "resources", "label", "shell", "persist", "priority", "retries", "benchmark", "local", "pack")
# Output kinds (the path wrappers temp, protected, touch: see kinds.py) that cannot be honoured
# for a remote path (s3://...): rulec cannot make it read-only, and a task uploads its outputs
# before rulec would create the marker.
_LOCAL_ONLY_KINDS = ("protected", "touch")
LABEL_FIELDS = ("limit", "slurm", "lsf", "jbsub", "prefix", "env", "pack")
_BUILTIN_RESOURCES = ("cpus", "gpus", "mem", "mem_mb", "time", "time_s")
SHELL_OBJECTS = ("input", "output", "log", "params", "resources", "wildcards", "rule", "jobid", "threads", "attempt")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Path wrappers: NAME("path") around one path entry; where each may stand, and what it means
# (the words for a wrapper in the wrong place). The wrapper names become the entry's flags
# (ir.PathSpec.flags, ir.InputSpec.flags).
PATH_WRAPPERS: dict[str, tuple[str, ...]] = {"directory": ("output", "input"), "ancient": ("input",),
                                             "temp": ("output",), "protected": ("output",), "touch": ("output",)}
_WRAPPER_MEANING = {
    "directory": "directory() marks a folder: an output the job makes as a whole folder, or an input read as one",
    "ancient": "ancient() marks an input whose time, size and content never count, only that it exists",
    "temp": "temp() marks an output deleted once every job that reads it has succeeded",
    "protected": "protected() marks an output made read-only once its job has succeeded",
    "touch": "touch() marks an output that rulec creates when its job has succeeded",
}
_PER_ATTEMPT = re.compile(r"(.*?)\s*\*\s*\{attempt\}")  # mem="4G*{attempt}"


def load(rulefile: str, workdir: str | None = None, overrides: dict[str, tuple[str, ...]] | None = None,
         config: Iterable[str] = (), config_files: Iterable[str] = ()) -> ir.Workflow:
    """Parse ``rulefile`` and everything it includes, and analyze it.

    Paths in the Rulefile are relative to ``workdir``, by default the Rulefile's folder.
    ``config`` are ``--config KEY=VALUE`` overrides, ``config_files`` ``--config-file`` files.
    """
    from .syntax import ReadError, parse_file

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
        where = "" if via is None or os.path.normpath(via.path.value) == path else f" (looked for {path})"
        if via is not None and os.path.isdir(path):
            errors.append(AnalysisError(f"included file {via.path.value}{where} is a folder, not a file", via.path.span,
                                        hint=f"include names a file of rules: include \"{via.path.value.rstrip('/')}/NAME.rules\""))
            return
        if via is not None and not os.path.isfile(path):
            errors.append(AnalysisError(f"included file not found: {via.path.value}{where}", via.path.span))
            return
        seen.add(real)
        try:
            module = parse_file(path)
        except ReadError as exc:  # an included file's: said at the include that names it
            if via is None:
                errors.append(exc)
            else:
                at = f":{exc.line}" if exc.line else ""
                errors.append(AnalysisError(f"included file {via.path.value}{at}{where}: {exc.reason}", via.path.span,
                                            hint=exc.hint))
            return
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
    return analyze(modules, workdir, overrides, config, config_files)


def analyze(modules: list[d.Module] | d.Module, workdir: str = ".", overrides: dict[str, tuple[str, ...]] | None = None,
            config: Iterable[str] = (), config_files: Iterable[str] = ()) -> ir.Workflow:
    """``overrides`` restricts dimensions to some of their values (``--set dim=a,b``);
    ``config`` (``--config KEY=VALUE``) and ``config_files`` (``--config-file``) come after
    the Rulefile's own ``config`` files."""
    if isinstance(modules, d.Module):
        modules = [modules]
    return _Analyzer(modules, workdir, overrides or {}, tuple(config), tuple(config_files)).run()


_warned: set[tuple[str, int, int, str]] = set()
_warnings = [0]  # warnings asked for, printed or not: a load that asked for one says so (Workflow.warned)


def _warn_once(span: Span, message: str) -> None:
    """A warning on stderr, with the place it is about; the same one is printed once."""
    _warnings[0] += 1
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
    import difflib  # here: only an error needs it

    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


class _Analyzer:
    def __init__(self, modules: list[d.Module], workdir: str, overrides: dict[str, tuple[str, ...]],
                 config_items: tuple[str, ...] = (), config_files: tuple[str, ...] = ()):
        self.modules = modules
        self.overrides = overrides
        self.workdir = workdir
        self.errors: list[RulecError] = []
        self.dimensions: dict[str, ir.Dimension] = {}
        self._broken_dims: set[str] = set()  # declared, but in error (a sheet that cannot be read...)
        self._label_env: dict[str, list] = {}  # label -> [(NAME, Str)]
        self._template_what = "shell command"  # what a {...} template is, for messages
        self._last_wrapper = ""  # the innermost path wrapper unwrapped last (for messages)
        self._rule_decls: dict[str, d.RuleDecl] = {}  # the first rule of each name
        self._rule_paths: dict[str, tuple] = {}  # name -> (outputs, logs, free of errors)
        self._places: dict[int, object] = {}  # id(spec) -> (offset, length) -> Span
        self._references: list[tuple[str, str, d.Dotted]] = []  # (rule, the rule it names, where)
        # The config (None: no config file and no --config): {config.key} and config.key
        # refer to it, unless a dimension is named config (its fields, as before configs).
        self.config_items = config_items
        self.config_files = config_files
        self.config: dict | None = None
        self.config_refs = True
        self._config_sources: list[str] = []  # the files, for messages
        self._config_used: dict[str, object] | None = None  # per rule, while its fields are read
        self._config_seen: set[str] = set()  # every key a reference asked for
        self._data_files: list[str] = []
        self._data_hash = None  # hashlib object, made when a config or a table is read

    def error(self, message: str, span: Span | None, hint: str | None = None) -> None:
        self.errors.append(AnalysisError(message, span, hint))

    # ------------------------------------------------------------------ driver
    def run(self) -> ir.Workflow:
        self._warnings_before = _warnings[0]
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

        before = len(self.errors)
        self.load_config(decls)
        if len(self.errors) > before:  # a config that cannot be read: its values are not known
            _raise(self.errors)

        for decl in decls:
            if isinstance(decl, d.DimensionDecl) and decl.name not in self.dimensions:
                dim = self.dimension(decl)
                if dim is not None and dim.name in self.overrides:
                    dim = self.restrict(dim, self.overrides[dim.name]) or dim
                if dim is not None:
                    self.dimensions[dim.name] = dim
                else:  # its error is said: its uses are not "unknown dimension" too
                    self._broken_dims.add(decl.name)

        labels: dict[str, ir.Label] = {}
        for decl in decls:
            if isinstance(decl, d.LabelDecl) and decl.name not in labels:
                labels[decl.name] = self.label(decl)

        for decl in decls:
            if isinstance(decl, d.RuleDecl):
                self._rule_decls.setdefault(decl.name, decl)
        rules: list[ir.Rule] = []
        names: set[str] = set()
        for decl in decls:
            if isinstance(decl, d.RuleDecl) and decl.name not in names:
                names.add(decl.name)
                rule = self.rule(decl, len(rules), labels)
                if rule is not None:
                    rules.append(rule)

        if self._references:
            self.check_reference_cycles()

        precedence: set[tuple[str, str]] = set()
        for decl in decls:
            if isinstance(decl, d.RuleorderDecl):
                order = []
                for name, span in decl.names:
                    if name not in names:
                        self.error(f"unknown rule '{name}' in ruleorder{_suggest(name, names)}", span)
                    elif name in order:
                        self.error(f"ruleorder names rule '{name}' twice: a rule cannot come before itself", span)
                        continue
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
            data_files=tuple(self._data_files),
            data_key=self._data_hash.hexdigest() if self._data_hash is not None else "",
        )
        self.check_config_items()
        if not self.errors:
            self.check_ambiguity(workflow)
            self.check_split_collisions(workflow)
        if self.errors:
            _raise(self.errors)
        if _warnings[0] != self._warnings_before:
            workflow = replace(workflow, warned=True)
        return workflow

    # ------------------------------------------------------------------ config
    def config_decls(self) -> list[d.ConfigDecl]:
        """The ``config`` statements in reading order: an included file's where it is included."""
        by_file = {os.path.realpath(m.file): m for m in self.modules}
        seen: set[str] = set()
        out: list[d.ConfigDecl] = []

        def walk(module: d.Module) -> None:
            seen.add(os.path.realpath(module.file))
            for decl in module.decls:
                if isinstance(decl, d.ConfigDecl):
                    out.append(decl)
                elif isinstance(decl, d.IncludeDecl):
                    real = os.path.realpath(os.path.join(os.path.dirname(module.file), decl.path.value))
                    if real in by_file and real not in seen:
                        walk(by_file[real])

        for module in self.modules:
            if os.path.realpath(module.file) not in seen:
                walk(module)
        return out

    def data_read(self, path: str, data: bytes, listed: bool = True) -> None:
        """A config file or a table was read: part of the workflow's data key (the verdict)."""
        if self._data_hash is None:
            from .digest import blake2b

            self._data_hash = blake2b(digest_size=16)
        if listed:
            self._data_files.append(path)
        self._data_hash.update(path.encode("utf-8", "surrogateescape") + b"\0" + str(len(data)).encode() + b"\0" + data)

    def load_config(self, decls: list) -> None:
        """The Rulefile's config files in order, then --config-file, then --config: later wins,
        tables merge key by key."""
        statements = self.config_decls()
        if any(isinstance(x, d.DimensionDecl) and x.name == "config" for x in decls):
            # A dimension named config keeps {config.field} its field, as it always was.
            self.config_refs = False
            if statements or self.config_files or self.config_items:
                decl = next(x for x in decls if isinstance(x, d.DimensionDecl) and x.name == "config")
                self.error("a dimension named 'config' cannot be declared with a config: "
                           "{config.key} names the config's values", decl.name_span,
                           hint="rename the dimension")
            return
        if not (statements or self.config_files or self.config_items):
            return
        from . import config as cfgmod  # here: a workflow without a config never needs it

        merged: dict = {}
        for decl in statements:
            path = os.path.normpath(os.path.join(os.path.dirname(decl.span.file), decl.path.value))
            value = self.read_config(path, decl.path.value, decl.path.span)
            if value is not None:
                merged = cfgmod.merge(merged, value)
        for path in self.config_files:
            value = self.read_config(path, path, None)
            if value is not None:
                merged = cfgmod.merge(merged, value)
        self._file_keys = merged
        self._items_ok = []
        for item in self.config_items:
            try:
                key, text = cfgmod.parse_override(item)
                merged = cfgmod.override(merged, key, cfgmod.coerce(key, text, cfgmod.get(merged, key, None)))
            except cfgmod.ConfigError as exc:
                self.errors.append(AnalysisError(exc.message))
                continue
            self._items_ok.append((key, item))
        if self.config_items:
            self.data_read("--config", "\0".join(self.config_items).encode("utf-8", "surrogateescape"), listed=False)
        self.config = merged

    def read_config(self, path: str, written: str, span: Span | None) -> dict | None:
        from . import config as cfgmod

        shown = written if span is None else os.path.relpath(path) if os.path.isabs(path) else path
        try:
            value, data = cfgmod.read(path)
        except cfgmod.ConfigError as exc:
            if span is None:
                self.errors.append(AnalysisError(f"--config-file {exc.where(written)}: {exc.message}"))
            elif exc.message == "no such file":
                where = "" if os.path.normpath(written) == path else f" (looked for {path})"
                self.errors.append(AnalysisError(f"config file not found: {written}{where}", span))
            else:
                self.errors.append(AnalysisError(f"config file {exc.where(shown)}: {exc.message}", span))
            return None
        self._config_sources.append(shown)
        self.data_read(path, data)
        return value

    def check_config_items(self) -> None:
        """A --config key that no config file has and no reference uses is a typo: say so."""
        if not self.config_items or self.config is None:
            return
        from . import config as cfgmod

        base = getattr(self, "_file_keys", {})
        seen = self._config_seen
        for key, item in self._items_ok:
            if cfgmod.get(base, key, None) is not None:
                continue
            if any(key == k or k.startswith(key + ".") or key.startswith(k + ".") for k in seen):
                continue
            choices = sorted(set(cfgmod.keys(base)) | seen)
            import difflib

            close = difflib.get_close_matches(key, choices, n=1)
            self.errors.append(AnalysisError(
                f"--config {item}: no config file has the key {key!r} and the Rulefile does not use it"
                + (f" (did you mean '{close[0]}'?)" if close else ""),
                hint="--config sets a key of the config files, or one that {config.KEY} uses"))

    def config_value(self, key: str, span: Span | None):
        """The value of config ``key`` for a reference at ``span`` (recorded as used by the rule
        being read), or _BAD after an error."""
        from . import config as cfgmod

        self._config_seen.add(key)
        if self.config is None:
            self.error(f"{{config.{key}}} refers to the config, but there is none: no config file is read",
                       span, hint='declare one at the top of the Rulefile:  config "config.toml"  (or give --config-file FILE)')
            return _BAD
        try:
            value = cfgmod.get(self.config, key)
        except KeyError:
            files = ", ".join(self._config_sources) or "--config"
            self.error(f"unknown config key '{key}'{cfgmod.suggest(self.config, key)} (the config: {files})", span)
            return _BAD
        if value is None:
            self.error(f"config key '{key}' is empty (null)", span)
            return _BAD
        if isinstance(value, dict):
            first = next(iter(value), "NAME")
            self.error(f"config key '{key}' is a table: name one of its keys, such as {{config.{key}.{first}}}", span)
            return _BAD
        if isinstance(value, list) and not all(cfgmod.is_scalar(v) for v in value):
            self.error(f"config key '{key}' is a list of {', '.join(sorted({cfgmod.kind(v) for v in value if not cfgmod.is_scalar(v)}))}: "
                       "only strings, numbers and true/false can be used", span)
            return _BAD
        if self._config_used is not None:
            self._config_used[key] = value
        return value

    def config_slot(self, slot) -> bool:
        return self.config_refs and slot.name == "config" and slot.field is not None

    def apply_config(self, p: pat.Pattern, s: d.Str, what: str, lists: bool = False) -> list[pat.Pattern] | None:
        """``p`` with its ``{config.key}`` slots replaced by their values: one pattern, or one
        per item of a list value (``lists``: inputs), or None after an error."""
        slots = [sl for sl in p.slots if self.config_slot(sl)] if self.config_refs else ()
        if not slots:
            return [p]
        from . import config as cfgmod

        choices: dict[str, list[str]] = {}
        ok = True
        for sl in slots:
            if sl.field in choices:
                continue
            value = self.config_value(sl.field, s.content_span(sl.offset, sl.length))
            if value is _BAD:
                ok = False
                continue
            if isinstance(value, list):
                if not lists:
                    self.error(f"config key '{sl.field}' is a list: {what} takes one value here "
                               "(a list gives several paths only in input)", s.content_span(sl.offset, sl.length))
                    ok = False
                    continue
                choices[sl.field] = [cfgmod.text(v) for v in value]
            else:
                choices[sl.field] = [cfgmod.text(value)]
        if not ok:
            return None
        names = list(choices)
        out = []
        for combo in itertools.product(*(choices[n] for n in names)):
            texts = dict(zip(names, combo))
            parts: list = []
            written: list[str] = []
            for part in p.parts:
                if isinstance(part, str) or self.config_slot(part):
                    lit = part if isinstance(part, str) else texts[part.field]
                    if parts and isinstance(parts[-1], str):
                        parts[-1] += lit
                    else:
                        parts.append(lit)
                    written.append(lit.replace("{", "{{").replace("}", "}}"))
                else:
                    parts.append(part)
                    written.append(p.text[part.offset : part.offset + part.length])
            out.append(pat.Pattern("".join(written), tuple(parts), p.wildcards))
        return out

    def config_expr(self, v):
        """``config.key`` and ``"{config.key}"`` where a setting is read (resources, labels,
        params...): the value as an expression, a string with the values put in, or ``v``."""
        if isinstance(v, d.Dotted):
            if v.names[0] != "config" or not self.config_refs:
                self.error(f"unknown name {v.text}: a dotted name reads the config, config.KEY", v.span)
                return None
            value = self.config_value(".".join(v.names[1:]), v.span)
            return None if value is _BAD else _as_expr(value, v.span)
        if isinstance(v, d.Str) and self.config_refs and "{config." in v.value:
            from . import config as cfgmod

            found = list(_CONFIG_REF.finditer(v.value))
            if not found:
                return v
            if len(found) == 1 and found[0].span() == (0, len(v.value)):
                value = self.config_value(found[0].group(1), v.content_span(0, len(v.value)))
                return None if value is _BAD else _as_expr(value, v.span)
            out, at = [], 0
            for m in found:
                value = self.config_value(m.group(1), v.content_span(m.start(), m.end() - m.start()))
                if value is _BAD:
                    return None
                if isinstance(value, list):
                    self.error(f"config key '{m.group(1)}' is a list: it can only stand alone here, "
                               f"as \"{{config.{m.group(1)}}}\"", v.content_span(m.start(), m.end() - m.start()))
                    return None
                out += [v.value[at : m.start()], cfgmod.text(value)]
                at = m.end()
            out.append(v.value[at:])
            return d.Str("".join(out), v.span, v.long)
        if isinstance(v, d.Named):
            value = self.config_expr(v.value)
            if value is None:
                return None
            return v if value is v.value else d.Named(v.name, value, v.span, v.name_span)
        return v

    def configured(self, f: d.Field | None) -> d.Field | None:
        """A field with its config references turned into values (errors said, items dropped)."""
        if f is None or not self.config_refs:
            return f
        items = []
        for item in f.items:
            value = self.config_expr(item)
            if value is None:
                return None
            items.append(value)
        return d.Field(f.name, tuple(items), f.span, f.name_span)

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
                fields: dict[str, str | tuple[str, ...]] = {}
                for item in entry.fields:
                    if not isinstance(item, d.Named):
                        self.error("a dimension value's fields need names: value: field=\"...\"", _span_of(item))
                        continue
                    if item.name in fields:
                        self.error(f"field '{item.name}' of value '{entry.key}' is given twice", item.name_span)
                        continue
                    if isinstance(item.value, d.ListV):  # a list field: files=["a.fq", "b.fq"]
                        texts = [self.scalar_text(x) for x in item.value.items]
                        fields[item.name] = tuple(t if t is not None else "" for t in texts)
                        continue
                    text = self.scalar_text(item.value)
                    # a field whose value is in error (said) keeps its place: no second error
                    fields[item.name] = text if text is not None else ""
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
            # A field given as a list for some value is a list field: its other values'
            # single texts are lists of one.
            lists = frozenset(k for row in table.values() for k, v in row.items() if isinstance(v, tuple))
            for row in table.values() if lists else ():
                for k in lists:
                    if k in row and not isinstance(row[k], tuple):
                        row[k] = (row[k],)
            return ir.Dimension(decl.name, tuple(values), field_names or (), table, decl.span, "block", lists)
        expr = decl.expr
        origin = "list"
        if isinstance(expr, d.Dotted):  # dimension model = config.models
            expr = self.config_dimension(decl, expr)
            if expr is None:
                return None
            origin = "config"
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
            return ir.Dimension(decl.name, tuple(values), (), {v: {} for v in values}, decl.span, origin)
        if isinstance(expr, d.Call) and expr.func == "glob":
            return self.glob_dimension(decl, expr, inside)
        if isinstance(expr, d.Call) and expr.func == "table":
            return self.table_dimension(decl, expr, inside)
        self.error(
            f"dimension {decl.name}: expected a list [\"a\", \"b\"], glob(\"path/{{{decl.name}}}.ext\"), "
            f"table(\"samples.tsv\"), config.KEY or a block of values",
            _span_of(expr) if expr is not None else decl.span,
        )
        return None

    def restrict(self, dim: ir.Dimension, values: tuple[str, ...]) -> ir.Dimension | None:
        twice = next((v for i, v in enumerate(values) if v in values[:i]), None)
        if twice is not None:
            self.errors.append(AnalysisError(f"--set {dim.name}={','.join(values)}: {twice!r} is given twice"))
            return None
        unknown = [v for v in values if v not in dim.table]
        if unknown:
            self.errors.append(AnalysisError(
                f"--set {dim.name}={','.join(values)}: {', '.join(repr(v) for v in unknown)} "
                f"{'is not a value' if len(unknown) == 1 else 'are not values'} of dimension {dim.name} "
                f"(its values: {', '.join(dim.values[:12])}{', ...' if len(dim.values) > 12 else ''})"))
            return None
        return ir.Dimension(dim.name, tuple(values), dim.fields, {v: dim.table[v] for v in values}, dim.span, dim.origin,
                            dim.list_fields)

    def glob_dimension(self, decl: d.DimensionDecl, call: d.Call, inside: bool = True) -> ir.Dimension | None:
        if len(call.args) != 1 or not isinstance(call.args[0], d.Str):
            self.error("glob() takes one pattern string", call.span)
            return None
        arg = call.args[0]
        pattern = self.compile(arg)
        if pattern is None:
            return None
        variants = self.apply_config(pattern, arg, "a glob() pattern")
        if variants is None:
            return None
        pattern = variants[0]
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

    def config_dimension(self, decl: d.DimensionDecl, expr: d.Dotted) -> d.ListV | None:
        """``dimension model = config.models``: the config's list, as if written in the Rulefile."""
        from . import config as cfgmod

        if expr.names[0] != "config" or not self.config_refs:
            self.error(f"dimension {decl.name}: unknown name {expr.text} (a dotted name reads the config: config.KEY)", expr.span)
            return None
        key = ".".join(expr.names[1:])
        value = self.config_value(key, expr.span)
        if value is _BAD:
            return None
        if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
            what = cfgmod.kind(value) if not isinstance(value, list) else "list holding " + ", ".join(
                sorted({cfgmod.kind(v) + "s" for v in value if not isinstance(v, (str, int, float)) or isinstance(v, bool)}))
            self.error(f"dimension {decl.name} = config.{key}: the config gives a {what}; "
                       "a dimension's values are a list of strings or numbers", expr.span)
            return None
        return _as_expr(value, expr.span)

    def table_dimension(self, decl: d.DimensionDecl, call: d.Call, inside: bool = True) -> ir.Dimension | None:
        """``dimension sample = table("samples.tsv", key="sample", list_sep=",")``: values from
        the key column (the first, by default), every other column a field."""
        from . import table as tablemod

        usage = 'table() takes the file name, then options: table("samples.tsv", key="sample", list_sep=",", lists=["files"], sep="\\t")'
        positional = [a for a in call.args if not isinstance(a, d.Named)]
        if len(positional) != 1:
            self.error(usage, call.span)
            return None
        arg = self.config_expr(positional[0])
        if arg is None:
            return None
        if not isinstance(arg, d.Str) or not arg.value:
            self.error(usage, _span_of(positional[0]))
            return None
        options: dict[str, object] = {}
        ok = True
        named: set[str] = set()
        for kw in (a for a in call.args if isinstance(a, d.Named)):
            if kw.name in named:
                self.error(f"table() option {kw.name} is given twice", kw.name_span)
                ok = False
                continue
            named.add(kw.name)
            value = self.config_expr(kw.value)
            if value is None:
                ok = False
                continue
            if kw.name not in _TABLE_OPTIONS:
                self.error(f"table() has no option '{kw.name}'{_suggest(kw.name, _TABLE_OPTIONS)}; "
                           f"its options: {', '.join(_TABLE_OPTIONS)}", kw.name_span)
                ok = False
            elif kw.name == "lists":
                items = value.items if isinstance(value, d.ListV) else (value,)
                if not all(isinstance(x, d.Str) for x in items):
                    self.error('lists= names columns: lists=["files", "lanes"]', _span_of(value))
                    ok = False
                else:
                    options["lists"] = ([x.value for x in items], _span_of(value))
            elif not isinstance(value, d.Str) or not value.value:
                self.error(f"table() option {kw.name} takes a string, e.g. {kw.name}=\"{_TABLE_OPTIONS[kw.name]}\"", _span_of(value))
                ok = False
            elif kw.name == "sep" and len(value.value) != 1:
                self.error(f"sep= is one character (\"\\t\", \",\", \";\"), not {value.value!r}", value.span)
                ok = False
            else:
                options[kw.name] = (value.value, value.span)
        if not ok:
            return None
        remote = "://" in arg.value  # a URL (s3://bucket/samples.tsv): read through fsspec
        path = arg.value if remote else os.path.normpath(os.path.join(os.path.dirname(decl.span.file), arg.value))
        shown = path if remote or not os.path.isabs(path) else os.path.relpath(path)
        span = call.span
        try:
            header, rows, delimiter, text, data = tablemod.read(path, options["sep"][0] if "sep" in options else None)
        except StorageError as err:  # an unreachable store: said at the table() call
            self.error(err.message, span, hint=err.hint)
            return None
        except tablemod.TableError as exc:
            if exc.message == "no such file":
                where = "" if remote or os.path.normpath(arg.value) == path else f" (looked for {path})"
                self.error(f"table file not found: {arg.value}{where}", span)
            else:
                self.error(f"{shown}{f':{exc.line}' if exc.line else ''}: {exc.message}", span)
            return None
        self.data_read(path, data)
        line_of = _LineOf(text, delimiter)  # where a row starts: worked out only for a message
        header = [h.strip() for h in header]
        seen_cols: dict[str, int] = {}
        for i, name in enumerate(header):
            if not name:
                self.error(f"{shown}:{line_of(0)}: column {i + 1} has no name (the first line names the columns)", span)
                return None
            if name in seen_cols:
                self.error(f"{shown}:{line_of(0)}: column '{name}' is named twice (columns {seen_cols[name] + 1} and {i + 1})", span)
                return None
            seen_cols[name] = i
        if "key" in options:
            key, key_span = options["key"]
            if key not in seen_cols:
                self.error(f"{shown}:{line_of(0)}: no column '{key}'{_suggest(key, header)} (its columns: {', '.join(header)})", key_span)
                return None
            key_at = seen_cols[key]
        else:
            key, key_at = header[0], 0
        names = tuple(h for i, h in enumerate(header) if i != key_at)
        lists: frozenset[str] = frozenset()
        sep = options["list_sep"][0] if "list_sep" in options else None
        if "lists" in options:
            wanted, lists_span = options["lists"]
            if sep is None:
                self.error('lists= needs list_sep= (the text between the items of a cell), e.g. list_sep=","', lists_span)
                return None
            for name in wanted:
                if name not in names:
                    self.error(f"lists=: {shown} has no column '{name}'{_suggest(name, names)} besides the key "
                               f"(its columns: {', '.join(header)})", lists_span)
                    return None
            lists = frozenset(wanted)
        elif sep is not None:
            lists = frozenset(names)
        width = len(header)
        values = [cells[key_at] if len(cells) == width else None for cells in rows]
        index = None  # after dropping bad rows: the row number of each kept row
        if None in values or "" in values or len(set(values)) != len(values):
            # Something to say: row by row, with the lines (at most _TABLE_ERRORS of them).
            problems = []
            first: dict[str, int] = {}
            keep = []
            for i, (cells, value) in enumerate(zip(rows, values)):
                if value is None:
                    n = len(cells)
                    problems.append(f"{shown}:{line_of(i + 1)}: {n} {'cell' if n == 1 else 'cells'}, but the header "
                                    f"(line {line_of(0)}) names {width} columns")
                elif not value:
                    problems.append(f"{shown}:{line_of(i + 1)}: the {key} cell (the key column) is empty")
                elif value in first:
                    problems.append(f"{shown}:{line_of(i + 1)}: duplicate {key} {value!r} (first on line {line_of(first[value] + 1)})")
                else:
                    first[value] = i
                    keep.append(i)
            for message in problems[:_TABLE_ERRORS]:
                self.error(message, span)
            if len(problems) > _TABLE_ERRORS:
                self.error(f"{shown}: {len(problems) - _TABLE_ERRORS} more rows like these", span)
            rows = [rows[i] for i in keep]
            values = [values[i] for i in keep]
            index = keep
        if inside:
            for i, value in enumerate(values):
                if pat.escapes(value):  # said for the first such row
                    self.value_outside(decl, value, span, f"{shown}:{line_of((index[i] if index else i) + 1)}: ")
                    break
        columns: dict[str, dict] = {}
        for i, name in enumerate(header):
            if i == key_at:
                continue
            if name in lists:
                columns[name] = {v: tuple(x.strip() for x in cells[i].split(sep) if x.strip()) for v, cells in zip(values, rows)}
            else:
                columns[name] = dict(zip(values, [cells[i] for cells in rows]))
        if not values and index is None:  # no row at all (rows in error are said, not "no rows")
            _warn_once(span, f"table({arg.value!r}) has no rows: dimension {decl.name} has no values")
        values = tuple(values)
        return ir.Dimension(decl.name, values, names, tablemod.Rows(values, names, columns), decl.span, "table", lists,
                            columns)

    def value_outside(self, decl: d.DimensionDecl, value: str, span: Span, where: str = "") -> None:
        why = "starts with '/'" if value.startswith("/") else "has '..' as a path segment"
        form = "(outside) = ..." if decl.expr is not None else "(outside):"
        self.error(
            f"{where}value {value!r} of dimension {decl.name} {why}: paths made from it can lead "
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
            import glob as globmod

            hidden = sorted(os.path.relpath(p, base) for p in _glob_hidden(globmod.escape(base), text))
            if hidden:
                skipped = (f"; files whose names start with '.' are skipped (such as {hidden[0]!r}"
                           + (f" and {len(hidden) - 1} more" if len(hidden) > 1 else "") + ")")
        _warn_once(arg.span, f"glob({arg.value!r}) matches no file: dimension {decl.name} has no values{skipped}")

    def scalar_text(self, expr) -> str | None:
        if isinstance(expr, d.Dotted) or (isinstance(expr, d.Str) and self.config_refs and "{config." in expr.value):
            expr = self.config_expr(expr)  # config.KEY, or "...{config.KEY}..." (a dimension's value or field)
            if expr is None:
                return None
            if isinstance(expr, d.ListV):
                self.error("expected one value here; the config gives a list", expr.span)
                return None
        if isinstance(expr, d.Str):
            return expr.value
        if isinstance(expr, d.Num):
            return _num_text(expr.value)
        if isinstance(expr, d.Word):
            return expr.name
        if isinstance(expr, d.Dotted):
            self.error(f"{expr.text}: a name with dots stands for nothing here", expr.span,
                       hint=f'text is written in quotes: "{expr.text}"')
            return None
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
        pack = None
        given: set[str] = set()
        for f in decl.fields:
            if f.name not in LABEL_FIELDS:
                self.error(f"unknown label field '{f.name}'{_suggest(f.name, LABEL_FIELDS)}; expected one of {', '.join(LABEL_FIELDS)}", f.name_span)
                continue
            if f.name in given:
                self.error(f"'{f.name}' given twice in label {decl.name}", f.name_span)
                continue
            given.add(f.name)
            if f.name != "env":  # env values are templates, read for each rule of the label
                f = self.configured(f)
                if f is None:
                    continue
            if f.name == "limit":
                limit = self.positive_int(f, "limit")
            elif f.name == "pack":
                pack = self.pack(f)
            elif f.name in ("slurm", "lsf"):
                seen_opts: set[str] = set()
                pairs = []
                for item in f.items:
                    if isinstance(item, d.Named):
                        if item.name in seen_opts:
                            self.error(f"{f.name} option {item.name} is given twice", item.name_span)
                            continue
                        seen_opts.add(item.name)
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
                        env=tuple((name, s.value) for name, s in env), pack=pack)

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
                parts = tuple(p if isinstance(p, str) else replace(p, raw=True) for p in t.parts)
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

    def pack(self, f: d.Field) -> ir.Pack | None:
        """``pack: 50`` (jobs per cluster array task) or ``pack: "5m"`` (a run time per task,
        divided by the time each job asks for)."""
        item = f.items[0] if len(f.items) == 1 else None
        if isinstance(item, d.Num) and isinstance(item.value, int):
            if item.value < 1:
                self.error("pack must be at least 1 (pack: 1 runs one job per task)", item.span)
                return None
            return ir.Pack(jobs=item.value, span=item.span, text=str(item.value))
        if isinstance(item, d.Str):
            seconds = parse_time(item.value)
            if seconds is None or seconds <= 0:
                self.error(f"pack {item.value!r}: not a run time; expected e.g. \"5m\", \"1h\" or \"HH:MM:SS\", "
                           "or a whole number of jobs per task", item.span)
                return None
            return ir.Pack(seconds=seconds, span=item.span, text=item.value)
        self.error('pack takes a whole number of jobs per task (pack: 50) or a run time per task (pack: "5m")',
                   item.span if item is not None and not isinstance(item, d.Named) else f.span)
        return None

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
                hint = SNAKEMAKE_FIELDS.get(f.name)
                self.error(f"unknown rule field '{f.name}'{'' if hint else _suggest(f.name, RULE_FIELDS)}; "
                           f"expected one of {', '.join(RULE_FIELDS)}", f.name_span, hint=hint)
            elif f.name in fields:
                self.error(f"'{f.name}' given twice in rule {decl.name}", f.name_span)
            else:
                fields[f.name] = f
        before = self._rule_before = len(self.errors)
        self._config_used = {} if self.config is not None else None
        try:
            return self._rule(decl, index, labels, fields, before)
        finally:
            self._config_used = None

    def _rule(self, decl: d.RuleDecl, index: int, labels: dict[str, ir.Label], fields: dict[str, d.Field], before: int) -> ir.Rule | None:
        # (computed once: a rule reference elsewhere may have needed them first)
        outputs, logs, paths_ok = self.rule_paths(decl)
        seen_out: dict[str, Span] = {}
        for spec in outputs:
            if spec.pattern.text in seen_out:
                self.error(f"output {spec.pattern.text!r} is listed twice in rule {decl.name}", spec.span)
            seen_out[spec.pattern.text] = spec.span
            for slot in spec.pattern.slots:
                if slot.field is not None:
                    self.error(f"an output pattern cannot use a field reference {{{slot.name}.{slot.field}}}", self.place(spec, slot))
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
                        self.error(f"wildcard {{{slot.name}}} is a dimension: its values are its constraint, drop ',{slot.regex}'", self.place(spec, slot))
                    elif prior is not None and prior != slot.regex:
                        self.error(f"wildcard {{{slot.name}}} has two different constraints in rule {decl.name}", self.place(spec, slot))
                    regex[slot.name] = slot.regex
        for name in wildcards:
            if name not in regex:
                regex[name] = pat.DIMENSION if name in self.dimensions else pat.FREE
                if name not in self.dimensions:
                    self.warn_near_dimension(name, outputs)
        bound = set(wildcards)

        for spec in logs:
            self.check_refs(spec.pattern, spec.span, bound, "log", decl.name, place=self._places.get(id(spec)))
            if outputs and set(spec.pattern.wildcards) != bound:
                missing = bound - set(spec.pattern.wildcards)
                if missing:
                    self.error(
                        f"log {spec.pattern.text!r} must use every output wildcard, or jobs would share it: missing {_wcs(sorted(missing))}",
                        spec.span,
                    )

        inputs = self.inputs(fields.get("input"), bound, decl.name)
        benchmark = self.benchmark(fields["benchmark"], bound, decl.name, outputs, logs) if "benchmark" in fields else None
        params = self.params(fields.get("params"), bound, decl.name)
        used, self._config_used = self._config_used, None  # where a job runs: no reason to rerun
        resources = self.resources(self.configured(fields.get("resources")))
        self._config_used = used
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
        used, self._config_used = self._config_used, None
        for name in ("retries", "persist", "priority", "pack"):
            if name in fields:
                f = self.configured(fields[name])
                if f is None:
                    del fields[name]
                else:
                    fields[name] = f
        retries = self.positive_int(fields["retries"], "retries", allow_zero=True) if "retries" in fields else None
        pack = self.pack(fields["pack"]) if "pack" in fields else None
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
        if len(self.errors) > before or not paths_ok:
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
            config=_config_key(used),
            benchmark=benchmark,
            local=local,
            pack=pack,
        )

    # ------------------------------------------------------------------ paths
    def rule_paths(self, decl: d.RuleDecl) -> tuple[tuple[ir.PathSpec, ...], tuple[ir.PathSpec, ...], bool]:
        """A rule's outputs and logs, and whether they were free of errors: worked out once,
        when the rule is analyzed or when another rule refers to them (``rules.X.output``)."""
        got = self._rule_paths.get(decl.name)
        if got is None:
            n = len(self.errors)
            fields: dict[str, d.Field] = {}
            for f in decl.fields:
                fields.setdefault(f.name, f)
            outputs = self.path_specs(fields.get("output"), "output")
            logs = self.path_specs(fields.get("log"), "log")
            got = self._rule_paths[decl.name] = (outputs, logs, len(self.errors) == n)
        return got

    def place(self, spec, slot: pat.Slot) -> Span:
        """Where a slot of an entry's pattern is written (inside its quotes, or in a
        multiext() or at a rule reference)."""
        where = self._places.get(id(spec))
        if where is not None:
            return where(slot.offset, slot.length)
        return spec.span.shifted(1 + slot.offset, slot.length)

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
            if isinstance(value, d.Dotted) and value.names[0] == "config":
                value = self.config_expr(value)
                if value is None:
                    continue
            strings = value.items if isinstance(value, d.ListV) else (value,)
            for s in strings:
                wrapper = s.span if isinstance(s, d.Call) and s.func in PATH_WRAPPERS else None
                s, flags = self.unwrap(s, what)
                if s is None:
                    continue
                if isinstance(s, d.Call) and s.func == "multiext":
                    for ext_name, path in self.multiext(s, what, name, names):
                        p = self.compile_path(path)
                        if p is not None:
                            spec = ir.PathSpec(name or ext_name, p, path.span, flags, wrapper)
                            self._places[id(spec)] = path.place
                            out.append(spec)
                    continue
                if isinstance(s, d.Call) and what == "output" and s.func not in ("expand", "zip"):
                    close = _suggest(s.func, [w for w, at in PATH_WRAPPERS.items() if what in at] + ["multiext"])
                    self.error(f"unknown path wrapper '{s.func}()'{close}; an output entry is a path pattern in quotes, "
                               "or wrapped: " + ", ".join(w + "(...)" for w, at in PATH_WRAPPERS.items() if what in at),
                               s.func_span)
                    continue
                if flags and not isinstance(s, (d.Str, d.Call)):
                    func = self._last_wrapper
                    self.error(f"{func}() takes one path pattern in quotes, e.g. {func}(\"bld/x.csv\")"
                               + (f", not the name {s.name}" if isinstance(s, d.Word) else ""), _span_of(s),
                               hint=f'a path is written in quotes: {func}("{s.name}")' if isinstance(s, d.Word) else None)
                    continue
                if not isinstance(s, d.Str):
                    self.error(f"{what} entries are path patterns in quotes"
                               + (f", or wrapped: {', '.join(w + '(...)' for w, at in PATH_WRAPPERS.items() if what in at)}"
                                  if any(what in at for at in PATH_WRAPPERS.values()) else ""), _span_of(s),
                               hint=self.entry_hint(s, what))
                    continue
                p = self.compile(s)
                if p is not None:
                    if not s.value:
                        self.error(f"empty {what} path", s.span)
                        continue
                    if flags and not self.wrapped_path_ok(s, flags):
                        continue
                    for q in self.apply_config(p, s, f"an {what} path" if what != "log" else "a log path") or ():
                        if not q.text:
                            self.error(f"empty {what} path (the config gives '')", s.span)
                            continue
                        out.append(ir.PathSpec(name, q, s.span, flags, wrapper))
        return tuple(out)

    def unwrap(self, v, what: str):
        """``directory("bld/x")``, ``ancient("ref.fa")``: the wrapped entry and the wrappers'
        names (nested wrappers add up); (None, ...) after an error."""
        flags: set[str] = set()
        while isinstance(v, d.Call) and v.func in PATH_WRAPPERS:
            allowed = PATH_WRAPPERS[v.func]
            if what not in allowed:
                places = " or ".join(f"{a}s" for a in allowed)
                article = "an" if what[0] in "aeiou" else "a"
                self.error(f"{v.func}() is not for {article} {what}: {_WRAPPER_MEANING[v.func]} (it goes on {places})",
                           v.func_span)
                return None, frozenset()
            if len(v.args) != 1 or isinstance(v.args[0], d.Named):
                example = "bld/index/{genome}" if v.func in ("directory", "ancient") else "bld/x.csv"
                self.error(f'{v.func}() takes one path, e.g. {v.func}("{example}")', v.span)
                return None, frozenset()
            if v.func in flags:
                self.error(f"{v.func}() is given twice", v.func_span)
                return None, frozenset()
            flags.add(v.func)
            self._last_wrapper = v.func
            v = v.args[0]
        return v, frozenset(flags)

    def wrapped_path_ok(self, s: d.Str, flags: frozenset[str]) -> bool:
        """A ``directory()`` path names a local folder, written without a trailing '/'. Output
        kinds: not ``temp()`` with ``protected()``, nor ``touch()`` with ``directory()``;
        ``protected()`` and ``touch()`` on local paths only."""
        if "temp" in flags and "protected" in flags:
            self.error("an output cannot be both temp() and protected(): temp() deletes it once it is used, "
                       "protected() keeps it read-only", s.span)
            return False
        if "touch" in flags and "directory" in flags:
            self.error("touch() makes a marker file, directory() names a folder: an output is one or the other", s.span)
            return False
        local_only = sorted(k for k in flags if k in _LOCAL_ONLY_KINDS)
        if local_only and _is_remote(s.value):
            why = ("a remote file cannot be made read-only" if local_only[0] == "protected"
                   else "rulec creates the marker after the job, and a remote output is uploaded by then")
            self.error(f"{local_only[0]}() needs a path on this machine's file system: {why}", s.span)
            return False
        if "directory" not in flags:
            return True
        from . import storage

        if storage.is_remote(s.value):
            self.error("directory() is for local folders: a remote store has no folders to sign", s.span)
            return False
        if s.value.endswith("/") and s.value.strip("/"):
            self.error(f"directory({s.value!r}): write the folder without a trailing '/'", s.span,
                       hint=f"directory({s.value.rstrip('/')!r})")
            return False
        return True

    def benchmark(self, f: d.Field, bound: set[str], rule: str, outputs, logs) -> ir.PathSpec | None:
        """``benchmark: "bench/{dataset}.tsv"``: one local file per job, like a log."""
        if len(f.items) != 1 or not isinstance(f.items[0], d.Str):
            item = f.items[0] if len(f.items) == 1 else None
            if isinstance(item, d.Call) and item.func in PATH_WRAPPERS:
                self.error(f"{item.func}() is not for a benchmark: a benchmark is one file rulec writes", item.func_span)
            else:
                self.error('benchmark takes one path, e.g. benchmark: "bench/{dataset}.tsv"',
                           item.span if item is not None and not isinstance(item, d.Named) else f.span)
            return None
        s = f.items[0]
        p = self.compile(s)
        if p is None:
            return None
        if not s.value:
            self.error("empty benchmark path", s.span)
            return None
        from . import storage

        if storage.is_remote(s.value):
            self.error("a benchmark is written where the job runs: give a local path", s.span)
            return None
        if not self.check_refs(p, s.span, bound, "benchmark", rule):
            return None
        missing = bound - set(p.wildcards)
        if outputs and missing:
            self.error(f"benchmark {s.value!r} must use every output wildcard, or jobs would share it: missing {_wcs(sorted(missing))}",
                       s.span)
            return None
        for spec in tuple(outputs) + tuple(logs):
            if spec.pattern.text == p.text:
                self.error(f"benchmark {s.value!r} is also an {'output' if spec in outputs else 'log'} of rule {rule}",
                           s.span, hint="give the benchmark a file of its own")
                return None
        return ir.PathSpec(None, p, s.span)

    def entry_hint(self, v, what: str) -> str | None:
        """What to write instead of a path entry that is not one (a Snakemake habit, often)."""
        if isinstance(v, d.Dotted) and v.names[0] == "rules":
            return (f"rules.RULE.output stands for another rule's files, in an input; "
                    f"an {what} of this rule is written as its pattern, in quotes")
        if isinstance(v, (d.Word, d.Dotted)):
            text = v.name if isinstance(v, d.Word) else v.text
            return f'a path is written in quotes: "{text}"'
        return None

    def compile_path(self, path: "_Path") -> pat.Pattern | None:
        try:
            return pat.compile(path.text)
        except pat.PatternError as exc:  # pragma: no cover - its parts were compiled one by one
            self.error(exc.message, path.place(exc.offset, exc.length))
            return None

    def multiext(self, call: d.Call, what: str, name: str | None, names: set[str]) -> list[tuple[str | None, "_Path"]]:
        """``multiext("bld/x", ".bam", ".bai")``: the paths ``bld/x.bam`` and ``bld/x.bai``;
        ``multiext("bld/x", bam=".bam", bai=".bai")`` names each of them."""
        example = 'multiext() takes a path prefix, then extensions: multiext("bld/x", ".bam", ".bai")'
        positional = [a for a in call.args if not isinstance(a, d.Named)]
        named = [a for a in call.args if isinstance(a, d.Named)]
        if not positional or not isinstance(positional[0], d.Str) or call.args[0] is not positional[0]:
            self.error(example, call.span)
            return []
        prefix, exts = positional[0], positional[1:]
        if exts and named:
            self.error("multiext() extensions are either all named (bam=\".bam\") or none", named[0].name_span)
            return []
        if not exts and not named:
            self.error(example, call.span)
            return []
        if named and name is not None:
            self.error(f"multiext() with named extensions names its {what}s itself: drop '{name}='", call.span,
                       hint=f"or give the list one name: {name}=multiext(\"...\", \".bam\", \".bai\")")
            return []
        if self.compile(prefix) is None:
            return []
        if not prefix.value:
            self.error(f"empty multiext() prefix", prefix.span)
            return []
        out: list[tuple[str | None, _Path]] = []
        ok = True
        for arg in named or exts:
            ext_name = arg.name if isinstance(arg, d.Named) else None
            ext = arg.value if isinstance(arg, d.Named) else arg
            if ext_name is not None:
                if ext_name in names:
                    self.error(f"{what} name '{ext_name}' is used twice", arg.name_span)
                    ok = False
                names.add(ext_name)
            if not isinstance(ext, d.Str):
                self.error('a multiext() extension is a string in quotes, e.g. ".bai"', _span_of(ext))
                ok = False
                continue
            if not ext.value:
                self.error("empty multiext() extension", ext.span)
                ok = False
                continue
            if "/" in ext.value:
                self.error(f"multiext() extension {ext.value!r} holds a '/': folders go in the prefix",
                           ext.content_span(ext.value.index("/"), 1))
                ok = False
                continue
            if self.compile(ext) is None:
                ok = False
                continue

            def place(offset: int, length: int, _p=prefix, _e=ext) -> Span:
                if offset < len(_p.value):
                    return _p.span.shifted(1 + offset, length)
                return _e.span.shifted(1 + offset - len(_p.value), length)

            out.append((ext_name, _Path(prefix.value + ext.value, ext.span, place)))
        return out if ok else []

    def reference(self, ref: d.Dotted, rule: str) -> tuple[ir.PathSpec, ...] | None:
        """``rules.X.output``, ``rules.X.output.name``, ``rules.X.log``: that rule's patterns."""
        names, text = ref.names, ref.text
        if names[0] != "rules":
            self.error(f"{text} is not a path: paths are written in quotes", ref.span,
                       hint=f'write "{text}"; rules.RULE.output stands for another rule\'s outputs')
            return None
        if len(names) < 3:
            self.error(f"{text} names no files: write rules.{names[1]}.output or rules.{names[1]}.log", ref.span)
            return None
        target, kind = names[1], names[2]
        decl = self._rule_decls.get(target)
        if decl is None:
            close = _suggest(target, self._rule_decls)
            self.error(f"unknown rule '{target}' in {text}{close}", ref.spans[1],
                       hint=None if close else "rules: " + (", ".join(list(self._rule_decls)[:12]) or "none")
                       + (", ..." if len(self._rule_decls) > 12 else ""))
            return None
        if kind not in ("output", "log"):
            if kind == "input":
                self.error(f"{text}: a reference names a rule's output or log, not its input", ref.spans[2],
                           hint=f"name the rule that makes those files (rules.OTHER.output), or write the patterns")
            else:
                self.error(f"{text}: expected rules.{target}.output or rules.{target}.log{_suggest(kind, ('output', 'log'))}", ref.spans[2])
            return None
        if len(names) > 4:
            self.error(f"{text}: a reference is rules.RULE.output or rules.RULE.output.NAME", ref.spans[4])
            return None
        outputs, logs, ok = self.rule_paths(decl)
        if not ok:  # the rule's own errors say what is wrong
            return None
        specs = outputs if kind == "output" else logs
        if not specs:
            plural = "outputs" if kind == "output" else "log"
            has_field = any(f.name == kind for f in decl.fields)
            self.error(f"rule {target} has no {plural}, so {text} names no files", ref.span,
                       hint=None if has_field or kind == "output" else
                       f"give rule {target} one:  log: \"logs/{target}.log\"")
            return None
        if len(names) == 4:
            entry = names[3]
            have = list(dict.fromkeys(s.name for s in specs if s.name))
            chosen = tuple(s for s in specs if s.name == entry)
            if not chosen:
                close = _suggest(entry, have)
                self.error(f"rule {target} has no {kind} named '{entry}'" + (close or (
                           f" (its named {kind}s: {', '.join(have)})" if have else f" (it has no named {kind}s)")),
                           ref.spans[3])
                return None
            specs = chosen
        self._references.append((rule, target, ref))
        return specs

    def check_reference_cycles(self) -> None:
        """Rules that read each other's files through rules.X references, round in a circle:
        no job of theirs could ever start."""
        edges: dict[str, list[tuple[str, d.Dotted]]] = {}
        for source, target, ref in self._references:
            edges.setdefault(source, []).append((target, ref))
        state: dict[str, int] = {}  # 1: on the path, 2: done
        path: list[tuple[str, d.Dotted | None]] = []
        reported: set[frozenset[str]] = set()

        def visit(name: str, via: d.Dotted | None) -> None:
            state[name] = 1
            path.append((name, via))
            for target, ref in edges.get(name, ()):
                if state.get(target) == 1:
                    at = next(i for i, (n, _) in enumerate(path) if n == target)
                    ring = path[at:] + [(target, ref)]
                    key = frozenset(n for n, _ in ring)
                    if key in reported:
                        continue
                    reported.add(key)
                    if len(ring) == 2:
                        self.error(f"rule {target} reads its own files through {ref.text}: no job can need what it makes",
                                   ref.span)
                        continue
                    chain = " -> ".join(n for n, _ in ring)
                    steps = ", ".join(f"rule {ring[i][0]} reads {ring[i + 1][1].text} "
                                      f"({'here' if ring[i + 1][1] is ref else ring[i + 1][1].span.location()})"
                                      for i in range(len(ring) - 1))
                    self.error(f"rule references go round in a cycle, {chain}: {steps}", ref.span,
                               hint="no job of these rules could start: one of them must read other files")
                elif target not in state and target in edges:
                    visit(target, ref)
                else:
                    state.setdefault(target, 2)
            path.pop()
            state[name] = 2

        for name in edges:
            if name not in state:
                visit(name, None)

    def warn_near_dimension(self, name: str, outputs) -> None:
        """A free wildcard named one typo away from a dimension (``{modle}``, dimension
        ``model``) matches any text, not that dimension's values: most likely a typo."""
        close = [dim for dim in self.dimensions if _one_edit(name, dim)]
        if not close:
            return
        for spec in outputs:
            slot = next((x for x in spec.pattern.slots if x.name == name), None)
            if slot is not None:
                if slot.regex is None:
                    _warn_once(self.place(spec, slot),
                               f"wildcard {{{name}}} is not a dimension, so it matches any text (did you mean {{{close[0]}}}?); "
                               f"a constraint ({{{name},[a-z]+}}) says it is meant to be free")
                return

    def check_refs(self, p: pat.Pattern, span: Span, bound: set[str], where: str, rule: str, extra: set[str] = frozenset(),
                   place=None, via: d.Dotted | None = None, lists_ok: bool | None = None) -> bool:
        ok = True
        for slot in p.slots:
            sspan = place(slot.offset, slot.length) if place is not None else span.shifted(1 + slot.offset, slot.length)
            if self.config_slot(slot):  # replaced by its value (apply_config)
                continue
            if slot.field is not None:
                dim = self.dimensions.get(slot.name)
                if dim is None:
                    if slot.name not in self._broken_dims:
                        self.error(f"unknown dimension '{slot.name}' in {{{slot.name}.{slot.field}}}{_suggest(slot.name, self.dimensions)}", sspan)
                    ok = False
                    continue
                if slot.field not in dim.fields:
                    have = ", ".join(dim.fields) or "none"
                    self.error(f"dimension {slot.name} has no field '{slot.field}'{_suggest(slot.field, dim.fields)} (its fields: {have})", sspan)
                    ok = False
                    continue
                if slot.field in dim.list_fields and not (where == "input" if lists_ok is None else lists_ok):
                    self.error(
                        f"field '{slot.field}' of dimension {slot.name} is a list: in {where} it has no single text "
                        "(a list field gives one path per item in input, its items in a shell command, "
                        f"and a list as a whole param: {slot.name}_{slot.field}=\"{{{slot.name}.{slot.field}}}\")", sspan)
                    ok = False
                    continue
            if slot.name not in bound and slot.name not in extra:
                hint = None
                if slot.name in self.dimensions and where == "input":
                    hint = (f"use expand({via.text}) to take every value of a dimension" if via is not None
                            else "use expand(...) to take every value of a dimension")
                self.error(
                    f"wildcard {{{slot.name}}} in {where}"
                    + (f" ({via.text}: {p.text!r})" if via is not None else "")
                    + f" is not defined by any output of rule {rule}"
                    + (f" (its outputs define {_wcs(sorted(bound))})" if bound else " (it has no output wildcards)"),
                    sspan,
                    hint=hint,
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
            if isinstance(value, d.Dotted) and value.names[0] == "config":  # input: config.files
                value = self.config_expr(value)
                if value is None:
                    continue
            values = value.items if isinstance(value, d.ListV) else (value,)
            for v in values:
                out.extend(self.input_entry(name, v, bound, rule, names))
        return tuple(out)

    def input_entry(self, name: str | None, v, bound: set[str], rule: str, names: set[str] | None = None) -> tuple[ir.InputSpec, ...]:
        if isinstance(v, d.Call) and v.func in PATH_WRAPPERS:
            inner, flags = self.unwrap(v, "input")
            if inner is None:
                return ()
            text = inner.args[0] if isinstance(inner, d.Call) and inner.args else inner  # expand("...")
            if isinstance(text, d.Str) and not self.wrapped_path_ok(text, flags):
                return ()
            return tuple(replace(spec, flags=flags) for spec in self.input_entry(name, inner, bound, rule, names))
        if isinstance(v, d.Str):
            p = self.compile(v)
            if p is None:
                return ()
            if not v.value:
                self.error("empty input path", v.span)
                return ()
            if not self.check_refs(p, v.span, bound, "input", rule):
                return ()
            return tuple(ir.InputSpec(name, q, v.span) for q in self.apply_config(p, v, "an input path", lists=True) or ())
        if isinstance(v, d.Call) and v.func in ("expand", "zip"):
            return self.expand(name, v, bound, rule)
        if isinstance(v, d.Call) and v.func == "multiext":
            out = []
            for ext_name, path in self.multiext(v, "input", name, names if names is not None else set()):
                p = self.compile_path(path)
                if p is not None and self.check_refs(p, path.span, bound, "input", rule, place=path.place):
                    out.append(ir.InputSpec(name or ext_name, p, path.span))
            return tuple(out)
        if isinstance(v, d.Dotted):
            specs = self.reference(v, rule)
            if specs is None:
                return ()
            out = []
            for spec in specs:  # (a rule's patterns share their wildcards: one error says it)
                if not self.check_refs(spec.pattern, v.span, bound, "input", rule, place=lambda o, n, _s=v.span: _s, via=v):
                    return ()
                out.append(ir.InputSpec(name, spec.pattern, v.span))
            return tuple(out)
        if isinstance(v, d.Call):
            close = _suggest(v.func, ["expand", "zip", "multiext"] + [w for w, at in PATH_WRAPPERS.items() if "input" in at])
            if close:
                self.error(f"unknown function '{v.func}()' in input{close}", v.func_span)
                return ()
        self.error("input entries are path patterns in quotes, expand(...), zip(...), multiext(...) or rules.RULE.output, "
                   "or one of those wrapped: ancient(...), directory(...)",
                   _span_of(v), hint=self.entry_hint(v, "input"))
        return ()

    def expand(self, name: str | None, call: d.Call, bound: set[str], rule: str) -> tuple[ir.InputSpec, ...]:
        positional = [a for a in call.args if not isinstance(a, d.Named)]
        keywords = [a for a in call.args if isinstance(a, d.Named)]
        if len(positional) != 1 or not isinstance(positional[0], (d.Str, d.Dotted)):
            self.error(f"{call.func}() takes one pattern string (or rules.RULE.output), then name=[values] arguments", call.span)
            return ()
        first = positional[0]
        # (pattern, where its slots are written) for each pattern expanded
        sources: list[tuple[pat.Pattern, object]] = []
        if isinstance(first, d.Str):
            p = self.compile(first)
            if p is None:
                return ()
            variants = self.apply_config(p, first, f"a {call.func}() pattern", lists=True)
            if variants is None:
                return ()
            sources.extend((q, lambda o, n, _s=first: _s.content_span(o, n)) for q in variants)
            what = f"its pattern {first.value!r}"
        else:
            specs = self.reference(first, rule)
            if specs is None:
                return ()
            sources.extend((spec.pattern, lambda o, n, _s=first.span: _s) for spec in specs)
            what = f"{first.text} ({', '.join(repr(spec.pattern.text) for spec in specs)})"
        in_patterns = list(dict.fromkeys(w for p, _ in sources for w in p.wildcards))
        given: dict[str, tuple[str, ...]] = {}
        ok = True
        said: set[str] = set()  # keywords with an error of their own
        named: set[str] = set()
        for kw in keywords:
            if kw.name in named:
                self.error(f"{call.func}() gives wildcard '{kw.name}' twice", kw.name_span)
                ok = False
                continue
            named.add(kw.name)
            if kw.name in bound:
                self.error(f"wildcard {{{kw.name}}} is bound by the outputs of rule {rule}, so {call.func}() cannot give it values", kw.name_span)
                ok = False
                continue
            if kw.name not in in_patterns:
                self.error(f"{call.func}() names wildcard '{kw.name}' that is not in {what}{_suggest(kw.name, in_patterns)}", kw.name_span)
                ok = False
                continue
            if isinstance(kw.value, d.Word) and kw.name not in self.dimensions:
                # expand("x_{d}.txt", d=DATASETS): Snakemake's Python variable; here the word
                # would be taken as the one value "DATASETS", which is never meant.
                word = kw.value.name
                if word in self.dimensions:
                    hint = (f"to take every value of dimension {word}, name the wildcard after it: "
                            f"{{{word}}} in the pattern, and no {kw.name}=")
                else:
                    hint = (f'a list needs brackets and quotes: {kw.name}=["a", "b"] (one value: {kw.name}="{word}"); '
                            f"or declare the values as a dimension and name the wildcard after it")
                self.error(f"{kw.name}={word}: a bare name is not a list of values (a Rulefile has no variables)",
                           kw.value.span, hint=hint)
                ok = False
                said.add(kw.name)
                continue
            kv = self.config_expr(kw.value) if isinstance(kw.value, d.Dotted) else kw.value
            if kv is None:
                ok = False
                continue
            items = kv.items if isinstance(kv, d.ListV) else (kv,)
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
        out = []
        for p, where in sources:
            expanded = tuple(w for w in p.wildcards if w not in bound)
            # expand("{sample.fq1}"): a field of a dimension no output binds takes its every value too
            expanded += tuple(dict.fromkeys(sl.name for sl in p.slots if sl.field is not None and not self.config_slot(sl)
                                            and sl.name in self.dimensions and sl.name not in bound and sl.name not in expanded))
            for w in expanded:
                if w not in given and w in self._broken_dims:  # its own error is said
                    ok = False
                    continue
                if w not in given and w not in self.dimensions and w not in said:
                    slot = next(x for x in p.slots if x.name == w)
                    close = [dim for dim in self.dimensions if _one_edit(w, dim)]
                    self.error(
                        f"wildcard {{{w}}} in {call.func}() has no values: it is not a dimension"
                        + (f" (did you mean {{{close[0]}}}?)" if close else "")
                        + f", not bound by an output of rule {rule}, "
                        f"and not given as {call.func}(..., {w}=[...])",
                        where(slot.offset, slot.length),
                    )
                    said.add(w)  # once, not again for the rule's other patterns
                    ok = False
            for slot in p.slots:
                if slot.field is not None and not self.check_refs(pat.Pattern(p.text, (slot,), (slot.name,)), _span_of(first), bound | set(expanded), "input", rule,
                                                                   place=None if isinstance(first, d.Str) else where):
                    ok = False
            if not ok:
                continue
            value_lists = [given.get(w) or self.dimensions[w].values for w in expanded]
            if call.func == "expand":
                combos = tuple(itertools.product(*value_lists))
            else:
                lengths = {len(v) for v in value_lists}
                if len(lengths) > 1:
                    sizes = ", ".join(f"{w}: {len(v)}" for w, v in zip(expanded, value_lists))
                    self.error(f"zip() needs lists of the same length ({sizes})", call.span)
                    ok = False
                    continue
                combos = tuple(zip(*value_lists))
            out.append(ir.InputSpec(name, p, _span_of(first), call.func, expanded, combos))
        return tuple(out) if ok else ()

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
            value = self.param_value(item.value, bound, rule, top=True)
            if value is not None:
                out.append((item.name, value))
        return tuple(out)

    def param_value(self, v, bound: set[str], rule: str, top: bool = False):
        if isinstance(v, d.Dotted):  # seed=config.seed
            v = self.config_expr(v)
            if v is None:
                return None
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
            if len(p.parts) == 1 and not isinstance(p.parts[0], str) and self.config_slot(p.parts[0]):
                # "{config.key}" alone: the config's value as it is (a number, a list...)
                slot = p.parts[0]
                value = self.config_value(slot.field, v.content_span(slot.offset, slot.length))
                if value is _BAD:
                    return None
                return tuple(value) if isinstance(value, list) else value
            variants = self.apply_config(p, v, "a param")
            if variants is None:
                return None
            p = variants[0]
            if p.constant:
                return p.parts[0] if p.parts else ""
            whole = top and len(p.parts) == 1 and not isinstance(p.parts[0], str)  # "{sample.files}"
            if not self.check_refs(p, v.span, bound, "params", rule, extra={"attempt"}, lists_ok=whole):
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
        given: set[str] = set()
        for item in f.items:
            if not isinstance(item, d.Named):
                self.error("resources are name=value pairs, e.g. resources: cpus=2, mem=\"4G\"", _span_of(item))
                continue
            if item.name in given:
                self.error(f"resource '{item.name}' is given twice", item.name_span)
                continue
            given.add(item.name)
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
            ref = self.shell_ref(body, i, end - i + 1, where, bound, rule, input_names, output_names, log_names, param_names, inputs, outputs, logs, resource_names, params)
            if ref is None:
                return None
            if isinstance(ref, str):  # a config value: text of the command from now on
                buf.append(ref)
                i = end + 1
                continue
            if buf:
                parts.append("".join(buf))
                buf = []
            parts.append(ref)
            i = end + 1
        if buf:
            parts.append("".join(buf))
        return ir.ShellTemplate(text, tuple(parts), s.span)

    def config_text(self, key: str, index: int | None, raw: bool, where) -> str | None:
        """``{config.key}`` in a command: the value's text, quoted for the shell unless ``:raw``
        (in an env value, as it is: the whole value is quoted once); a list, its items."""
        from . import config as cfgmod

        value = self.config_value(key, where())
        if value is _BAD:
            return None
        env = self._template_what != "shell command"
        items = value if isinstance(value, list) else [value]
        if index is not None:
            if not isinstance(value, list):
                self.error(f"{{config.{key}[{index}]}}: config key '{key}' is a {cfgmod.kind(value)}, not a list", where())
                return None
            if index >= len(value):
                self.error(f"{{config.{key}[{index}]}}: config key '{key}' has {len(value)} item{'s' if len(value) != 1 else ''}, "
                           f"so [{index}] names none (0 is the first)", where())
                return None
            items = items[index : index + 1]
        texts = [cfgmod.text(v) for v in items]
        if env:
            text = " ".join(texts)
            at = control_char(text)
            if at >= 0:
                self.error(f"{self._template_what}: config key '{key}' holds {describe_char(text[at])}; an environment "
                           "value is one line", where())
                return None
            return text
        return " ".join(texts) if raw else " ".join(shlex.quote(t) for t in texts)

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

    def shell_ref(self, body, offset, length, where, bound, rule, input_names, output_names, log_names, param_names, inputs, outputs, logs, resource_names=frozenset(_BUILTIN_RESOURCES), params=()) -> ir.Ref | None:
        m = _REF.fullmatch(body.strip())
        if not m:
            self.error(f"bad reference {{{body}}} in {self._template_what}: expected e.g. {{input}}, {{output.name}}, {{params.seed}} or {{wildcard}}", where(),
                       hint=None if body.isascii() else d.NAME_RULE)
            return None
        head, attr, index, mod = m.group(1), m.group(2), m.group(3), m.group(4)
        raw = mod == "raw"
        if mod not in (None, "raw", "q"):
            self.error(f"unknown modifier ':{mod}' (expected :raw or :q)", where())
            return None
        idx = int(index) if index is not None else None
        shown = "{" + body.strip() + "}"
        if head == "config" and attr is not None and self.config_refs:
            return self.config_text(attr, idx, raw, where)
        if head in ("input", "output", "log"):
            names = {"input": input_names, "output": output_names, "log": log_names}[head]
            entries = {"input": inputs, "output": outputs, "log": logs}[head]
            if attr is not None and attr not in names:
                self.error(f"rule {rule} has no {head} named '{attr}'{_suggest(attr, names)}", where())
                return None
            if attr is None and not entries and head not in getattr(self, "_present", ()):
                self.error(f"rule {rule} has no {head} for {{{head}}}", where())
                return None
            if idx is not None and not self.index_fits(shown, idx, head, attr, entries, rule, where):
                return None
            return ir.Ref(head, attr, None, idx, raw, offset, length)
        if head == "params":
            if attr is None or attr not in param_names:
                self.error(f"rule {rule} has no param '{attr}'{_suggest(attr or '', param_names)}" if attr else "use {params.NAME}", where())
                return None
            if idx is not None and not self.param_index_fits(shown, idx, attr, dict(params), rule, where):
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
            if idx is not None:
                self.error(f"{shown}: a resource is one number, not a list: drop [{index}]", where())
                return None
            return ir.Ref("resources", attr, None, idx, raw, offset, length)
        if head == "wildcards":
            if attr is None or attr not in bound:
                self.error(f"{{wildcards.{attr}}}: rule {rule} has no such output wildcard", where())
                return None
            if idx is not None:
                self.error(f"{shown}: a wildcard is one value, not a list: drop [{index}]", where())
                return None
            return ir.Ref("wildcard", attr, None, None, raw, offset, length)
        if head in ("rule", "jobid", "threads", "attempt"):
            if attr is not None or idx is not None:
                self.error(f"{shown}: {{{head}}} has no fields or items: write {{{head}}}", where())
                return None
            return ir.Ref(head, None, None, None, raw, offset, length)
        if head in bound:
            if attr is not None:
                dim = self.dimensions.get(head)
                if dim is None:
                    if head not in self._broken_dims:
                        self.error(f"wildcard {{{head}}} is not a dimension, so it has no field '{attr}'", where())
                    return None
                if attr not in dim.fields:
                    self.error(f"dimension {head} has no field '{attr}'{_suggest(attr, dim.fields)} (its fields: {', '.join(dim.fields) or 'none'})", where())
                    return None
                if idx is not None:  # {sample.files[0]}: one item of a list field, which every value must have
                    if attr not in dim.list_fields:
                        self.error(f"{shown}: field '{attr}' of dimension {head} is one text, not a list: drop [{index}]", where())
                        return None
                    column = dim.column(attr)
                    short = next((v for v in dim.values if len(column[v]) <= idx), None)
                    if short is not None:
                        n = len(column[short])
                        self.error(f"{shown}: field '{attr}' of {head} {short!r} has {n} item{'s' if n != 1 else ''}, "
                                   f"so [{index}] names none (0 is the first)", where())
                        return None
                return ir.Ref("field", head, attr, idx, raw, offset, length)
            if idx is not None:
                self.error(f"{shown}: a wildcard is one value, not a list: drop [{index}]", where())
                return None
            return ir.Ref("wildcard", head, None, None, raw, offset, length)
        if head in self.dimensions:
            self.error(
                f"wildcard {{{head}}} in {'shell' if self._template_what == 'shell command' else self._template_what} is not defined by any output of rule {rule}"
                + (f" (its outputs define {_wcs(sorted(bound))})" if bound else " (it has no output wildcards)"),
                where(),
            )
            return None
        if attr is not None and head not in SHELL_OBJECTS:
            if head not in self._broken_dims:
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

    def index_fits(self, shown: str, idx: int, head: str, attr: str | None, entries, rule: str, where) -> bool:
        """``{output[3]}``, ``{input.reads[1]}``: whether every job of the rule has that path
        (said at the reference if not). Outputs and logs are one path per entry; an input
        entry is one path, or one per combination of an expand(), or (a list field) one per
        item of the job's value: then each value of that dimension is looked at, once per
        rule, not per job. When the count cannot be told here (list fields of two dimensions
        in one entry), the reference is left to the job, whose command gets nothing for it."""
        if len(self.errors) > getattr(self, "_rule_before", 0):
            return True  # an entry in error is missing from ``entries``: counting would mislead
        specs = [x for x in entries if x.name == attr] if attr is not None else list(entries)
        what = f"{head} {attr}" if attr is not None else f"{head}"
        if head != "input":
            count = len(specs)
            if idx >= count:
                self.error(f"{shown}: {'rule ' + rule + ' has' if attr is None else what + ' of rule ' + rule + ' is'} "
                           f"{count} {'path' if attr is not None else head}{'s' if count != 1 else ''}, "
                           f"so [{idx}] names none (0 is the first)", where())
                return False
            return True
        counted = self.input_count(specs)
        if counted is None:
            return True
        if isinstance(counted, int):
            if idx >= counted:
                self.error(f"{shown}: {'the jobs of rule ' + rule + ' have' if attr is None else what + ' of rule ' + rule + ' is'} "
                           f"{counted} {'input' if attr is None else 'path'}{'s' if counted != 1 else ''}, "
                           f"so [{idx}] names none (0 is the first)", where())
                return False
            return True
        dim, counts = counted
        short = next((v for v in dim.values if counts[v] <= idx), None)
        if short is not None:
            n = counts[short]
            self.error(f"{shown}: the job of rule {rule} for {dim.name} {short!r} has {n} "
                       f"{'input' if attr is None else what + ' path'}{'s' if n != 1 else ''}, "
                       f"so [{idx}] names none (0 is the first)", where())
            return False
        return True

    def input_count(self, specs):
        """How many paths input entries ``specs`` give each job: an int when the same for
        every job; (dimension, {value: count}) when list fields of one dimension the outputs
        bind make it depend on the job's value of it; None when it cannot be told here."""
        const = 0
        terms: list[tuple[int, list[tuple[str, str]]]] = []
        bound_dims: set[str] = set()
        for spec in specs:
            slots: list[tuple[str, str]] = []
            for sl in spec.pattern.slots:
                dim = self.dimensions.get(sl.name) if sl.field is not None else None
                if dim is not None and sl.field in dim.list_fields and (sl.name, sl.field) not in slots:
                    slots.append((sl.name, sl.field))
            n = 1 if spec.kind == "one" else len(spec.combos)
            if not slots:
                const += n
                continue
            dims = {name for name, _ in slots}
            expanded = set(spec.expanded)
            if not dims & expanded:  # the job's own value: one dimension's at most
                bound_dims |= dims
                if len(bound_dims) > 1:
                    return None
                terms.append((n, slots))
            elif dims <= expanded:  # every value of the dimension: the same for every job
                at = {w: i for i, w in enumerate(spec.expanded)}
                columns = [(at[name], self.dimensions[name].column(f)) for name, f in slots]
                for combo in spec.combos:
                    k = 1
                    for i, column in columns:
                        k *= len(column[combo[i]])
                    const += k
            else:
                return None
        if not terms:
            return const
        dim = self.dimensions[next(iter(bound_dims))]
        counts = {}
        for v in dim.values:
            total = const
            for n, slots in terms:
                k = n
                for _, f in slots:
                    k *= len(dim.column(f)[v])
                total += k
            counts[v] = total
        return dim, counts

    def param_index_fits(self, shown: str, idx: int, name: str, params: dict, rule: str, where) -> bool:
        """``{params.tags[1]}``: the param is a list with that item (for a list field alone,
        ``"{sample.files}"``, in every value of its dimension)."""
        value = params.get(name)
        if value is None:  # a param in error: said
            return True
        if isinstance(value, pat.Pattern) and len(value.parts) == 1 and not isinstance(value.parts[0], str):
            slot = value.parts[0]
            dim = self.dimensions.get(slot.name) if slot.field is not None else None
            if dim is not None and slot.field in dim.list_fields:
                column = dim.column(slot.field)
                short = next((v for v in dim.values if len(column[v]) <= idx), None)
                if short is None:
                    return True
                n = len(column[short])
                self.error(f"{shown}: param {name} ({{{slot.name}.{slot.field}}}) has {n} item{'s' if n != 1 else ''} "
                           f"for {slot.name} {short!r}, so [{idx}] names none (0 is the first)", where())
                return False
        if not isinstance(value, tuple):
            self.error(f"{shown}: param {name} is one value, not a list: drop [{idx}]", where())
            return False
        if idx >= len(value):
            self.error(f"{shown}: param {name} has {len(value)} item{'s' if len(value) != 1 else ''}, "
                       f"so [{idx}] names none (0 is the first)", where())
            return False
        return True

    # ------------------------------------------------------------------ ambiguity
    def check_ambiguity(self, wf: ir.Workflow) -> None:
        """Two rules whose outputs can match one path need a ruleorder or priority."""
        entries = []
        for rule in wf.rules:
            for spec in rule.products:
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
            for spec in rule.products:
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
        xa = re.compile(pat.regex_for(a.pattern, pat.Regexes(ra.wildcard_regex, self.dimensions)), re.DOTALL)
        xb = re.compile(pat.regex_for(b.pattern, pat.Regexes(rb.wildcard_regex, self.dimensions)), re.DOTALL)
        # Finite choices only for wildcards that really are dimensions in both rules.
        return pat.overlap(a.pattern, b.pattern, choices, lambda s: bool(xa.fullmatch(s) and xb.fullmatch(s)))


_TABLE_OPTIONS = {"key": "sample", "list_sep": ",", "lists": "files", "sep": "\\t"}
_TABLE_ERRORS = 10  # problems said per table; then how many more
class _LineOf:
    """``line_of(i)``: the line row ``i`` of a table starts on (0: the header), read once."""

    def __init__(self, text: str, delimiter: str):
        self.text, self.delimiter, self._lines = text, delimiter, None

    def __call__(self, i: int) -> int:
        if self._lines is None:
            from . import table as tablemod

            self._lines = tablemod.lines(self.text, self.delimiter)
        return self._lines[i] if i < len(self._lines) else 0


_BAD = object()  # a config value that was not found (the error is said)
_CONFIG_REF = re.compile(r"\{config\.([A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*)\}")


def _as_expr(value, span: Span):
    """A config value as the expression a Rulefile would write for it."""
    if isinstance(value, bool):
        return d.Word("true" if value else "false", span)
    if isinstance(value, (int, float)):
        return d.Num(value, span)
    if isinstance(value, list):
        return d.ListV(tuple(_as_expr(v, span) for v in value), span)
    return d.Str(str(value), span)


_REF = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*))?(?:\[(\d+)\])?(?::([A-Za-z]+))?")


def _dedent(value: str) -> tuple[str, list[int] | None]:
    """A shell block as run (dedented, first and last blank lines dropped), and for each of its
    characters the index of that character in ``value`` (None if the two cannot be aligned)."""
    import textwrap  # here: only a triple-quoted block needs it

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


def _config_key(used: dict | None) -> tuple[tuple[str, str], ...]:
    """The config keys a rule's jobs use, each with a short hash of its value."""
    if not used:
        return ()
    from .digest import blake2b
    import json

    return tuple((k, blake2b(json.dumps(v, sort_keys=True).encode(), digest_size=6).hexdigest())
                 for k, v in sorted(used.items()))


def _wcs(names) -> str:
    return "{" + "}, {".join(names) + "}" if names else "none"


def _num_text(value) -> str:
    return str(value)


def _show(v) -> str:
    """A value as the message quotes it: ``'4G'``, ``4``, ``['4G']``, ``config.mem``."""
    if isinstance(v, d.Str):
        return repr(v.value)
    if isinstance(v, d.Num):
        return str(v.value)
    if isinstance(v, d.Word):
        return v.name
    if isinstance(v, d.ListV):
        return "[" + ", ".join(_show(x) for x in v.items) + "] (a list)"
    if isinstance(v, d.Dotted):
        return v.text
    if isinstance(v, d.Call):
        return f"{v.func}(...)"
    return "(this value)"


def _is_remote(path: str) -> bool:
    from .storage import is_remote

    return is_remote(path)


@record(frozen=True, slots=True)
class _Path:
    """A path pattern made of parts of the source (a multiext() prefix and extension):
    its text, the span its entry reports, and where each of its characters is written."""

    text: str
    span: Span
    place: object  # (offset, length) -> Span


def _one_edit(a: str, b: str) -> bool:
    """``a`` and ``b`` differ by one edit: a character added, removed, replaced, or two
    neighbours swapped (``modle`` / ``model``); both at least 3 characters long."""
    if a == b or min(len(a), len(b)) < 3 or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1:]


def _span_of(item) -> Span:
    return item.span
