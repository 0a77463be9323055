"""A job's shell command: the rule's template with the job's paths and values substituted.

Paths and values are quoted for the shell by default (``{input:raw}`` opts out), so a file
name with spaces, quotes, ``;`` or ``$(...)`` reaches the command as one literal argument.
"""

from __future__ import annotations

from .digest import blake2b
import re
import shlex

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

from . import ir
from . import pattern as pat

_quote = shlex.quote
# what shlex.quote leaves alone, and NUL (which no path holds): a list of words matching none
# of it needs no quoting at all, found by one search over the words joined
_UNSAFE_IN_WORDS = re.compile(r"[^\w@%+=:,./\x00-]", re.ASCII).search


def _quote_words(words) -> str:
    """``" ".join(shlex.quote(w) for w in words)``, in one search when none needs quoting."""
    if not words:
        return ""
    if _UNSAFE_IN_WORDS("\0".join(words)) is None and "" not in words:
        return " ".join(words)
    return " ".join([_quote(w) for w in words])
_SCALED = ("mem", "mem_mb", "time", "time_s")  # resources that may grow with the attempt


def _q(text: str, raw: bool) -> str:
    return text if raw else _quote(text)


def _join(items, raw: bool) -> str:
    return " ".join(_q(x, raw) for x in items)


class CommandRenderer:
    """Renders the command of any job of one rule."""

    def __init__(self, workflow: ir.Workflow, rule: ir.Rule, input_slices, slices=None):
        self.rule = rule
        self.template = rule.shell
        # a rule with list-field inputs: its entries' slices are per job (dag.RulePlan.slices)
        self.slices = slices
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
        self.param_attempt: set[str] = set()  # params whose text holds {attempt}
        self.param_list: dict[str, tuple[int, object]] = {}  # params that are a list field, "{sample.files}"
        fields = ir.FieldColumns(workflow.dimensions)
        for name, value in rule.params:
            if isinstance(value, pat.Pattern) and len(value.parts) == 1 and not isinstance(value.parts[0], str) \
                    and value.parts[0].field in getattr(workflow.dimensions.get(value.parts[0].name), "list_fields", ()):
                slot = value.parts[0]
                self.param_list[name] = (rule.wildcards.index(slot.name), fields[(slot.name, slot.field)])
            elif isinstance(value, pat.Pattern):
                if "attempt" in value.wildcards and "attempt" not in rule.wildcards:
                    self.param_attempt.add(name)
                    self.param_fmt[name] = pat.formatter(value, rule.wildcards + ("attempt",), fields)
                else:
                    self.param_fmt[name] = pat.formatter(value, rule.wildcards, fields)

        self._pieces = self._compile()
        self._by_attempt: dict[int, list] = {1: self._pieces}
        # The label's env (``export NAME=value`` lines before the command): its values'
        # pieces, and its text and key computed once when no value depends on the job.
        self.env = rule.env
        self._env_pieces = [(name, [p if isinstance(p, str) else self._piece(p) for p in t.parts]) for name, t in rule.env]
        self._env_static: tuple[str, str] | None = None
        if rule.env and all(isinstance(p, str) or p.kind in ("threads", "rule") or (p.kind == "resources" and p.key not in _SCALED)
                            for _, t in rule.env for p in t.parts):
            self._env_static = self._env_text("", (), (), (), 0, 1)
        self._normalized = self._normalize_template()
        self._plain = self.template is not None and all(_is_plain(p) for p in self.template.parts if p.__class__ is str)

    def _compile(self, attempt: int = 1) -> list:
        """One piece per template part: a literal string, or a function of the job that gives
        the substituted text (for one attempt: ``{attempt}`` and resources ``*{attempt}``)."""
        if self.template is None:
            return []
        return [part if isinstance(part, str) else self._piece(part, attempt) for part in self.template.parts]

    def _piece(self, part: ir.Ref, attempt: int = 1) -> Callable:
        kind, raw, index, key = part.kind, part.raw, part.index, part.key
        q = (lambda t: t) if raw else _quote
        qs = " ".join if raw else _quote_words  # a list of words
        if kind == "input" and self.slices is not None and key is not None:
            slices = self.slices

            def named(v, key=key):
                spans = [(a, b) for name, a, b in slices(v) if name == key]
                return min(a for a, _ in spans), max(b for _, b in spans)

            if index is not None:
                return lambda j, v, i, o, n: (lambda xs: q(xs[index]) if index < len(xs) else "")(i[slice(*named(v))])
            return lambda j, v, i, o, n: qs(i[slice(*named(v))])
        if kind == "input":
            a, b = self.input_slices[key] if key is not None else (0, None)
            if index is not None:
                return lambda j, v, i, o, n: q(i[a:b][index]) if index < len(i[a:b]) else ""
            return lambda j, v, i, o, n: qs(i[a:b])
        if kind in ("output", "log"):
            where = None if key is None else (self.out_index if kind == "output" else self.log_index)[key]

            n_logs = len(self.rule.logs)  # (a benchmark follows the logs)

            def items(o, n, kind=kind, where=where):
                declared = o[:n] if kind == "output" else o[n : n + n_logs]
                return declared if where is None else tuple(declared[k] for k in where)

            if index is not None:
                return lambda j, v, i, o, n: (lambda xs: q(xs[index]) if index < len(xs) else "")(items(o, n))
            return lambda j, v, i, o, n: qs(items(o, n))
        if kind == "wildcard":
            pos = self.wc_pos[key]
            return lambda j, v, i, o, n: q(v[pos])
        if kind == "field":
            pos = self.wc_pos[key]
            dim = self.dims[key]
            column = dim.column(part.attr)
            if part.attr in dim.list_fields:  # its items, like a list param
                if index is not None:
                    return lambda j, v, i, o, n: (lambda xs: q(xs[index]) if index < len(xs) else "")(column[v[pos]])
                return lambda j, v, i, o, n: qs(column[v[pos]])
            return lambda j, v, i, o, n: q(column[v[pos]])
        if kind == "params":
            return lambda j, v, i, o, n: self._value(self.param_text(key, v, attempt), index, raw)
        if kind == "resources":
            text = self._resource(key, attempt)
            return lambda j, v, i, o, n: text
        if kind == "attempt":
            text = str(attempt)
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

    def render(self, job_id: str, values: tuple[str, ...], inputs: tuple[str, ...], outputs: tuple[str, ...], n_out: int, attempt: int = 1) -> str:
        pieces = self._pieces if attempt == 1 else self._attempt_pieces(attempt)
        return "".join([p if p.__class__ is str else p(job_id, values, inputs, outputs, n_out) for p in pieces])

    def _attempt_pieces(self, attempt: int) -> list:
        pieces = self._by_attempt.get(attempt)
        if pieces is None:
            pieces = self._by_attempt[attempt] = self._compile(attempt)
        return pieces

    def _env_text(self, job_id, values, inputs, outputs, n_out, attempt: int) -> tuple[str, str]:
        """(``export NAME=value`` lines, the env key): the key names each variable with a
        short hash of its value, so a plan can say which one changed."""
        lines, keys = [], []
        for name, pieces in self._env_pieces:
            if attempt != 1:
                pieces = [p if isinstance(p, str) else self._piece(p, attempt) for p in
                          next(t for n_, t in self.env if n_ == name).parts]
            value = "".join([p if p.__class__ is str else p(job_id, values, inputs, outputs, n_out) for p in pieces])
            lines.append(f"export {name}={_quote(value)}\n")
            keys.append(f"{name}:{digest(value)[:8]}")
        return "".join(lines), "|" + ",".join(keys)

    def env_prefix(self, job_id, values, inputs, outputs, n_out, attempt: int = 1) -> str:
        """The ``export NAME=<quoted value>`` lines the job's command starts with ("" without env)."""
        if not self.env:
            return ""
        if self._env_static is not None:
            return self._env_static[0]
        return self._env_text(job_id, values, inputs, outputs, n_out, attempt)[0]

    def env_key(self, job_id, values, inputs, outputs, n_out) -> str:
        """What the env adds to the params hash: "" without env, else ``|NAME:hash,...`` (of
        the first attempt's values; computed once per rule when no value depends on the job)."""
        if not self.env:
            return ""
        if self._env_static is not None:
            return self._env_static[1]
        return self._env_text(job_id, values, inputs, outputs, n_out, 1)[1]

    def key(self, job_id: str, values: tuple[str, ...], inputs: tuple[str, ...], outputs: tuple[str, ...], n_out: int,
            rendered: str | None = None) -> str:
        """The command's hash: that of the command as ``normalize`` gives it (re-indenting a
        block, blank lines, comments and runs of blanks between words are not a change).
        Where the job's texts for the references read as their places in the normalized
        template did (the common case), that template is filled in, which gives the same
        text as normalizing the whole command, at a fraction of the cost. ``rendered``: the
        job's command as ``render`` gave it (first attempt), when the caller has it."""
        if self._plain:  # a plain template, and most often a plain command
            text = rendered if rendered is not None else "".join(
                [p if p.__class__ is str else p(job_id, values, inputs, outputs, n_out) for p in self._pieces])
            if _is_plain(text):
                return digest(_fold(text))
        norm = self._normalized
        if norm is not None:
            items, hidden = norm
            out = []
            for item in items:
                if item.__class__ is str:
                    out.append(item)
                    continue
                text = item[0](job_id, values, inputs, outputs, n_out)
                if not item[1](text):
                    break
                out.append(text)
            else:
                if all(check(piece(job_id, values, inputs, outputs, n_out)) for piece, check in hidden):
                    return digest("".join(out))
        return digest(normalize(self.render(job_id, values, inputs, outputs, n_out)))

    def _normalize_template(self):
        """The template normalized once, references in it as places: (items, hidden), items
        being literal text and (piece, check) pairs in order, hidden the pairs of references
        the normalized text leaves out (in comments). ``check(text)`` says whether a job's
        text for a reference reads as its place did, so that filling the places in gives what
        normalizing the job's whole command would. None where the template cannot be read
        so (then each job's command is normalized whole)."""
        if self.template is None:
            return None
        parts = self.template.parts
        if any(p.__class__ is str and ("\x01" in p or "\x02" in p) for p in parts):
            return None
        pieces, places = [], {}
        at = 0
        for k, part in enumerate(parts):
            if part.__class__ is not str:
                places[k] = at
                part = f"\x01{k}\x02"
            pieces.append(part)
            at += len(part)
        text = "".join(pieces)
        out: list[str] = []
        marks: dict[int, str] = {}
        scanner = _Scanner(text, out, marks)
        try:
            scanner.commands(0, False)
        except _Unsure:
            return None
        checks = {}
        for k, at in places.items():
            end = text.index("\x02", at) + 1
            where = marks.get(k)
            if where == "heredoc":  # a value could be the line that ends it
                return None
            if text[at - 1 : at] == "$":  # $'...', $(...), ${...} would start with the value
                where = None
            check = _is_words if where == "word" else _IN_DQ if where == "dq" else _PLAIN_WORD
            if scanner.nested:
                # Inside $(...) the scanner stops at the word case: a value must not spell it,
                # alone or with the letters next to its place.
                a = at
                while a > 0 and text[a - 1] not in _STOP_CHARS:
                    a -= 1
                b = end
                while b < len(text) and text[b] not in _STOP_CHARS:
                    b += 1
                left, right = text[a:at][-3:], text[end:b][:3]
                if "\x02" in left or "\x01" in right:  # next to another reference
                    return None
                check = (lambda c, left, right: lambda v: c(v) and "case" not in left + v + right)(check, left, right)
            checks[k] = check
        normalized = "".join(out)
        items: list = []
        pos = 0
        for m in _PLACE.finditer(normalized):
            if m.start() > pos:
                items.append(normalized[pos : m.start()])
            k = int(m.group(1))
            items.append((self._pieces[k], checks.pop(k)))
            pos = m.end()
        if pos < len(normalized):
            items.append(normalized[pos:])
        return items, [(self._pieces[k], check) for k, check in checks.items()]

    def param_text(self, name: str, values: tuple[str, ...], attempt: int = 1):
        value = self.params[name]
        if self.param_list and name in self.param_list:
            at, column = self.param_list[name]
            return tuple(column[values[at]])
        if isinstance(value, pat.Pattern):
            if name in self.param_attempt:
                return self.param_fmt[name]((*values, str(attempt)))
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

    def _resource(self, key: str, attempt: int = 1) -> str:
        res = self.rule.resources.at(attempt)
        if key == "cpus":
            return str(res.cpus)
        if key == "gpus":
            return str(res.gpus)
        if key in ("mem", "mem_mb"):
            return str(res.mem_mb or 0)
        if key in ("time", "time_s"):
            return str(res.time_s or 0)
        return str(dict(res.custom).get(key, 0))


# --------------------------------------------------------------------------- the command hash
#
# A job's command hash is that of its command as ``normalize`` writes it, which leaves out only
# what bash ignores: blanks (spaces, tabs) at the start and end of a line, blank lines,
# comments, and the length of a run of blanks between words (one space). Line breaks stay
# (one ends a command: ``a\nb`` is not ``a b``), and so does everything inside quotes,
# ``${...}``, ``$((...))``, backquotes and here-documents. Where the scanner meets what it
# does not follow (an unclosed quote, ``case`` inside ``$(...)``), the rest of the command is
# kept as it is, after a NUL mark: at worst a job reruns for an edit that changed nothing.

HASH_VERSION = 2  # 1 (before): every run of white space folded to one space, inside quotes too

_PLACE = re.compile("\x01(\\d+)\x02")  # a reference's place in a template being normalized
_STOP_CHARS = " \t\n'\"\\`$#<()"
# Checks of a job's text for a reference, by where its place was read. In a word: plain
# characters, whole '...' and simple "..." strings, one space between words, not ending in
# an operator (a '#' after it would start a comment). Inside "...": nothing that ends the
# string or expands. Elsewhere: only characters that mean nothing anywhere.
_WORD = r"""(?:[^\s'"\\`$#<()]|'[^']*'|"[^"\\`$]*")+"""
_WORDS_RE = re.compile(f"{_WORD}(?: {_WORD})*")
_IN_DQ = re.compile(r"""[^"\\`$]*""").fullmatch
_PLAIN_WORD = re.compile(r"[\w@%+=:,./-]+", re.ASCII).fullmatch


def _is_words(text: str) -> bool:
    return _WORDS_RE.fullmatch(text) is not None and text[-1] not in ";&|>"


_BLANKS = re.compile(r"[ \t]+")
_STOP = re.compile(r"""[ \t\n'"\\`$#<()]""")
_DQ_STOP = re.compile(r'["\\`$]')
_WORD_END = " \t\n;&|<>()"


class _Unsure(Exception):
    """The scanner cannot follow the command from ``at`` on."""

    def __init__(self, at: int):
        self.at = at


def normalize(command: str) -> str:
    """``command`` without what bash ignores (see above): equal results mean commands that do
    the same, so re-indenting a block or editing a comment is not a change."""
    if _is_plain(command):
        return _fold(command)
    out: list[str] = []
    try:
        _Scanner(command, out).commands(0, False)
    except _Unsure as exc:
        out.append("\0")
        out.append(command[exc.at:])
    return "".join(out)


def _is_plain(c: str) -> bool:
    """Whether ``c`` has no quotes, expansions, comments or here-documents (tested with `in`:
    a regex search for these costs several times more, and this runs for every job)."""
    return not ("'" in c or '"' in c or "\\" in c or "`" in c or "$" in c or "#" in c or "<<" in c or "((" in c)


def _fold(c: str) -> str:
    """``normalize`` of a plain command (``_is_plain``): blanks folded, blank lines dropped."""
    if "\n" not in c and "\t" not in c and "  " not in c:
        return c.strip(" ")
    lines = [_BLANKS.sub(" ", line).strip(" ") for line in c.split("\n")]
    return "\n".join([line for line in lines if line])


class _Scanner:
    """Appends the normalized text of ``text`` to ``out`` as it reads it, so that when it
    gives up at some index, ``out`` holds the normalized text before it. With ``marks`` (a
    dict), it notes where the places of references in a template (``_PLACE``) were read:
    in a word ("word"), inside double quotes ("dq") or in a here-document ("heredoc");
    elsewhere (single quotes, ``${...}``, comments...) it notes nothing."""

    __slots__ = ("t", "n", "out", "marks", "nested")

    def __init__(self, text: str, out: list[str], marks: dict | None = None):
        self.t = text
        self.n = len(text)
        self.out = out
        self.marks = marks
        self.nested = False  # whether it read a $(...)

    def mark(self, text: str, where: str) -> None:
        for m in _PLACE.finditer(text):
            self.marks[int(m.group(1))] = where

    def commands(self, i: int, nested: bool) -> int:
        """Commands from ``i`` to the end of the text or (``nested``) to the ``)`` that closes a
        ``$(``; returns the index after it."""
        t, n, out = self.t, self.n, self.out
        sep = ""  # what goes before the next word: "", " " or "\n"
        line_start = word_start = True
        depth = 0  # open parentheses inside $( )
        heredocs: list[tuple[str, bool]] = []
        while i < n:
            m = _STOP.search(t, i)
            j = m.start() if m is not None else n
            if j > i:  # word characters (and operators such as ; | > &)
                if sep:
                    out.append(sep)
                    sep = ""
                chunk = t[i:j]
                if nested and "case" in chunk:  # its patterns' ')' would look like the end
                    raise _Unsure(i)
                out.append(chunk)
                if self.marks is not None and "\x01" in chunk:
                    self.mark(chunk, "word")
                line_start = False
                word_start = chunk[-1] in ";&|>"
                i = j
                continue
            c = t[i]
            if c == " " or c == "\t":
                if not line_start and not sep:
                    sep = " "
                word_start = True
                i = _BLANKS.match(t, i).end()
                continue
            if c == "\n":
                if heredocs:  # their bodies start on the next line
                    out.append("\n")
                    i = self.bodies(i + 1, heredocs)
                    heredocs = []
                    sep = ""
                    line_start = False
                    word_start = True
                    continue
                if not line_start:
                    sep = "\n"
                line_start = word_start = True
                i += 1
                continue
            if c == "#" and word_start:  # a comment, to the end of the line
                k = t.find("\n", i)
                i = n if k < 0 else k
                if sep == " ":
                    sep = ""
                continue
            if c == ")" and nested and depth == 0:
                if heredocs:
                    raise _Unsure(i)
                out.append(")")
                return i + 1
            if sep:
                out.append(sep)
                sep = ""
            line_start = False
            if c == "'":
                k = t.find("'", i + 1)
                if k < 0:
                    raise _Unsure(i)
                out.append(t[i : k + 1])
                i = k + 1
                word_start = False
            elif c == '"':
                i = self.double_quoted(i)
                word_start = False
            elif c == "\\":
                if t.startswith("\\\n", i):  # a line continuation: blanks after it are one
                    out.append("\\\n")
                    i += 2
                    m = _BLANKS.match(t, i)
                    if m is not None:
                        sep = " "
                        word_start = True
                        i = m.end()
                else:
                    out.append(t[i : i + 2])
                    i += 2
                    word_start = False
            elif c == "$":
                i = self.dollar(i, False)
                word_start = False
            elif c == "`":
                k = self.backquoted_end(i)
                out.append(t[i:k])
                i = k
                word_start = False
            elif c == "#":
                out.append("#")
                i += 1
                word_start = False
            elif c == "<":
                if t.startswith("<<<", i):
                    out.append("<<<")
                    i += 3
                elif t.startswith("<<", i):
                    i = self.heredoc(i, heredocs)
                else:
                    out.append("<")
                    i += 1
                word_start = True
            elif c == "(":
                if word_start and t.startswith("((", i):  # an arithmetic command
                    k = self.arithmetic_end(i, i + 2)
                    out.append(t[i:k])
                    i = k
                    word_start = False
                else:
                    depth += 1
                    out.append("(")
                    i += 1
                    word_start = True
            else:  # ")"
                depth = max(depth - 1, 0)
                out.append(")")
                i += 1
                word_start = True
        if nested or heredocs:
            raise _Unsure(n)
        return n

    def double_quoted(self, i: int) -> int:
        """``"..."`` from ``i``: kept as it is, but for the commands of ``$(...)`` inside."""
        t, n, out = self.t, self.n, self.out
        out.append('"')
        i += 1
        while True:
            m = _DQ_STOP.search(t, i)
            if m is None:
                raise _Unsure(i)
            j = m.start()
            if j > i:
                out.append(t[i:j])
                if self.marks is not None and "\x01" in t[i:j]:
                    self.mark(t[i:j], "dq")
                i = j
            c = t[i]
            if c == '"':
                out.append('"')
                return i + 1
            if c == "\\":
                if i + 1 >= n:
                    raise _Unsure(i)
                out.append(t[i : i + 2])
                i += 2
            elif c == "`":
                k = self.backquoted_end(i)
                out.append(t[i:k])
                i = k
            else:
                i = self.dollar(i, True)

    def dollar(self, i: int, quoted: bool) -> int:
        t, out = self.t, self.out
        nxt = t[i + 1 : i + 2]
        if nxt == "(":
            if t.startswith("((", i + 1):
                k = self.arithmetic_end(i, i + 3)
                out.append(t[i:k])
                return k
            out.append("$(")
            self.nested = True
            return self.commands(i + 2, True)
        if nxt == "{":
            k = self.braced_end(i)
            out.append(t[i:k])
            return k
        if nxt == "'" and not quoted:  # $'...' (ANSI-C quoting)
            k = i + 2
            while True:
                if k >= self.n:
                    raise _Unsure(i)
                ch = t[k]
                if ch == "\\":
                    k += 2
                elif ch == "'":
                    break
                else:
                    k += 1
            out.append(t[i : k + 1])
            return k + 1
        if nxt == '"' and not quoted:  # $"..." (a translated string)
            out.append("$")
            return self.double_quoted(i + 1)
        out.append("$")
        return i + 1

    def braced_end(self, start: int) -> int:
        """The end of ``${...}`` (kept as it is: white space inside it is part of a word)."""
        t, n = self.t, self.n
        depth, k = 0, start + 1
        while k < n:
            ch = t[k]
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    return k + 1
            elif ch in "'\"`\\" or (ch == "$" and t.startswith("$(", k)):
                break
            k += 1
        raise _Unsure(start)

    def arithmetic_end(self, start: int, k: int) -> int:
        """The end of ``((...))`` or ``$((...))`` (kept as it is)."""
        t, n = self.t, self.n
        depth = 2
        while k < n:
            ch = t[k]
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    return k + 1
            elif ch in "'\"`\\":
                break
            k += 1
        raise _Unsure(start)

    def backquoted_end(self, start: int) -> int:
        """The end of ```...``` (kept as it is): the next backquote not after a backslash."""
        t, n = self.t, self.n
        k = start + 1
        while k < n:
            ch = t[k]
            if ch == "\\":
                k += 2
                continue
            if ch == "`":
                return k + 1
            k += 1
        raise _Unsure(start)

    def heredoc(self, i: int, heredocs: list[tuple[str, bool]]) -> int:
        """``<<WORD`` or ``<<-WORD`` at ``i`` (written as it is); its body is read at the
        end of the line."""
        t, n = self.t, self.n
        k = i + 2
        tabs = t.startswith("-", k)
        if tabs:
            k += 1
        while k < n and t[k] in " \t":
            k += 1
        begin = k
        word: list[str] = []
        while k < n and t[k] not in _WORD_END:
            ch = t[k]
            if ch == "'" or ch == '"':
                e = t.find(ch, k + 1)
                if e < 0:
                    raise _Unsure(i)
                word.append(t[k + 1 : e])
                k = e + 1
            elif ch == "\\":
                word.append(t[k + 1 : k + 2])
                k += 2
            else:
                word.append(ch)
                k += 1
        if k == begin:
            raise _Unsure(i)
        self.out.append(t[i:k])
        if self.marks is not None:
            self.mark(t[i:k], "heredoc")
        heredocs.append(("".join(word), tabs))
        return k

    def bodies(self, i: int, heredocs: list[tuple[str, bool]]) -> int:
        """The here-document bodies from ``i`` (the start of a line), written as they are, up
        to and including the last one's closing line; returns the index of the line break
        after it (or the end of the text)."""
        t, n = self.t, self.n
        start = i
        last = i
        for word, tabs in heredocs:
            while True:
                if i > n:
                    raise _Unsure(start)
                e = t.find("\n", i)
                if e < 0:
                    e = n
                line = t[i:e]
                if (line.lstrip("\t") if tabs else line) == word:
                    break
                i = e + 1
            last = e
            i = e + 1
        self.out.append(t[start:last])
        if self.marks is not None:
            self.mark(t[start:last], "heredoc")
        return last


def digest(text: str) -> str:
    return blake2b(text.encode("utf-8", "surrogateescape"), digest_size=12).hexdigest()


def command_hash(command: str) -> str:
    """The hash of a command given as text (normalized as ``normalize`` does)."""
    return digest(normalize(command))


def command_key(graph, renderers_: list[CommandRenderer], job: int) -> str:
    """The hash that the planner compares with the record: ``CommandRenderer.key``."""
    r = renderers_[graph.rule[job]]
    return r.key(graph.job_id(job), graph.values[job], graph.inputs[job], graph.outputs[job], graph.n_outputs[job])


def params_hash(renderer: CommandRenderer, values: tuple[str, ...]) -> str:
    """The hash of the job's params; then, for a rule that uses the config, ``~KEY:hash,...``
    (one short hash per config key, so a plan can say which one changed)."""
    config = renderer.rule.config
    if not renderer.params:
        return config_suffix(config) if config else ""
    items = sorted((name, repr(renderer.param_text(name, values))) for name in renderer.params)
    return digest(repr(items)) + config_suffix(config) if config else digest(repr(items))


def config_suffix(config: tuple[tuple[str, str], ...]) -> str:
    return "~" + ",".join(f"{k}:{h}" for k, h in config)


def renderers(graph) -> list[CommandRenderer]:
    wf = graph.workflow
    return [CommandRenderer(wf, rule, graph.plans[rule.index].input_slices, graph.plans[rule.index].slices) for rule in wf.rules]


def command_of(graph, renderers_: list[CommandRenderer], job: int, local=None, attempt: int = 1, jid: str | None = None) -> str:
    """The job's command, as every executor runs it: its label's ``export NAME=value`` lines,
    then the rule's command; ``local`` (a function) maps each input and output path first;
    ``attempt`` (1, 2, ...) is what ``{attempt}`` becomes; ``jid``: the job's id, when the
    caller has it."""
    r = renderers_[graph.rule[job]]
    inputs, outputs = graph.inputs[job], graph.outputs[job]
    if local is not None:
        inputs, outputs = tuple(map(local, inputs)), tuple(map(local, outputs))
    if jid is None:
        jid = graph.job_id(job)
    values, n_out = graph.values[job], graph.n_outputs[job]
    command = r.render(jid, values, inputs, outputs, n_out, attempt)
    return r.env_prefix(jid, values, inputs, outputs, n_out, attempt) + command if r.env else command


def env_key(graph, renderers_: list[CommandRenderer], job: int) -> str:
    """What the job's env adds to its params hash ("" without env): see ``CommandRenderer.env_key``."""
    r = renderers_[graph.rule[job]]
    return r.env_key(graph.job_id(job), graph.values[job], graph.inputs[job], graph.outputs[job], graph.n_outputs[job]) if r.env else ""
