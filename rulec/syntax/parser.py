"""Rulefile text -> declarations (``decls.Module``), with precise syntax errors.

The lark parser is built once per process; its LALR tables are kept in the user's cache
folder as data (``cache.put_tables``), so only the first run after an install builds them.
"""

from __future__ import annotations

import ast
import re
import warnings
from functools import lru_cache

from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, VisitError, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.indenter import Indenter

from ..errors import ErrorGroup, SyntaxError_
from ..source import Span, register_text
from . import decls as d
from .decls import NAME_RULE

MAX_ERRORS = 20
MAX_NESTING = 100  # brackets inside brackets; deeper is refused (it would exhaust Python's stack)


class _BadDedent(LarkError):
    """A line indented less than its block but more than the block around it."""

    def __init__(self, line: int, column: int, indent: int, levels: list[int]):
        super().__init__(f"bad dedent at {line}:{column}")
        self.line = line
        self.column = column
        self.indent = indent
        self.levels = levels


class _RulefileIndenter(Indenter):
    NL_type = "_NL"
    OPEN_PAREN_types = ["LPAR", "LSQB"]
    CLOSE_PAREN_types = ["RPAR", "RSQB"]
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    tab_len = 8

    def handle_NL(self, token: Token):
        # lark's version raises a DedentError without a position; this one says where.
        if self.paren_level > 0:
            return
        yield token
        indent_str = token.rsplit("\n", 1)[1]
        indent = indent_str.count(" ") + indent_str.count("\t") * self.tab_len
        if indent > self.indent_level[-1]:
            self.indent_level.append(indent)
            yield Token.new_borrow_pos(self.INDENT_type, indent_str, token)
            return
        levels = list(self.indent_level)
        while indent < self.indent_level[-1]:
            self.indent_level.pop()
            yield Token.new_borrow_pos(self.DEDENT_type, indent_str, token)
        if indent != self.indent_level[-1]:
            line = (token.end_line or token.line or 1)
            raise _BadDedent(line, len(indent_str) + 1, indent, levels)


@lru_cache(maxsize=1)
def _lark() -> Lark:
    """The parser, its LALR tables read from the user's cache folder when they are there.

    lark's own ``cache=True`` is not used: it unpickles a file of a predictable name in the
    shared temporary folder, which any local user can plant. The tables are kept instead by
    ``cache.get_tables``/``put_tables`` as data only, in lark's own serialized form."""
    from .cache import get_tables, grammar_text, put_tables

    options = dict(postlex=_RulefileIndenter(), propagate_positions=True)
    tables = get_tables()
    if tables is not None:
        try:
            return Lark._load_from_dict(tables["data"], tables["memo"], **options)
        except Exception:  # tables of another shape (lark's internals changed): build anew
            pass
    parser = Lark(grammar_text(), parser="lalr", maybe_placeholders=False, **options)
    put_tables(parser)
    return parser


def parse(text: str, file: str = "<string>", _registered: bool = True) -> d.Module:
    """Parse Rulefile ``text``; ``file`` is the name used in spans and messages.

    On syntax errors, the broken top-level statement is blanked out and parsing goes on, so
    several independent errors in one file are all reported.
    """
    if _registered:
        register_text(file, text)
    if text.startswith("\ufeff"):  # a byte order mark, as some editors write
        text = text[1:]
    if not text.endswith("\n"):
        text += "\n"
    text = text.replace("\r\n", "\n")
    errors: list[SyntaxError_] = []
    while True:
        try:
            tree = _lark().parse(text)
        except (UnexpectedInput, _BadDedent) as exc:
            errors.append(_explained(_syntax_error(exc, file, text), text))
            blanked = _blank_statement(text, exc)
            if blanked is None or len(errors) >= MAX_ERRORS:
                break
            text = blanked
            continue
        if errors:
            break
        try:
            return _ToDecls(file).transform(tree)
        except VisitError as exc:  # lark wraps what a transformer method raises
            if isinstance(exc.orig_exc, SyntaxError_):
                raise exc.orig_exc from None
            raise
    if len(errors) == 1:
        raise errors[0]
    raise ErrorGroup(errors)


def _blank_statement(text: str, exc: UnexpectedInput | _BadDedent) -> str | None:
    """The text with the top-level statement holding the error replaced by empty lines."""
    lines = text.split("\n")
    err_line = getattr(exc, "line", -1)
    if not isinstance(err_line, int) or err_line < 1:
        return None
    err = min(err_line - 1, len(lines) - 1)

    def top(i: int) -> bool:
        s = lines[i]
        return bool(s) and not s[0].isspace() and not s.startswith("#")

    start = err
    while start > 0 and not top(start):
        start -= 1
    err_col = getattr(exc, "column", 0)
    if start == err and err_col == 1 and start > 0:
        # The error is at the first word of a statement: the statement before it is the
        # unfinished one (a missing block, an unclosed bracket); blank both, report once.
        start -= 1
        while start > 0 and not top(start):
            start -= 1
    end = err + 1
    while end < len(lines) and not top(end):
        end += 1
    if all(not lines[i].strip() for i in range(start, end)):
        return None
    for i in range(start, end):
        lines[i] = ""
    return "\n".join(lines)


_HUMAN = {
    "NAME": "a name",
    "STRING": "a string",
    "LONG_STRING": 'a """block"""',
    "NUMBER": "a number",
    "_NL": "end of line",
    "_INDENT": "an indented block",
    "_DEDENT": "the end of the block",
    "COLON": "':'",
    "COMMA": "','",
    "EQUAL": "'='",
    "LSQB": "'['",
    "RSQB": "']'",
    "LPAR": "'('",
    "RPAR": "')'",
    "MORETHAN": "'>'",
    "$END": "end of file",
    "_DIMENSION": "'dimension'",
    "_RULE": "'rule'",
    "_LABEL": "'label'",
    "_RULEORDER": "'ruleorder'",
    "_INCLUDE": "'include'",
    "_CONFIG": "'config'",
    "DOT": "'.'",
}


_KEYWORDS = ("_DIMENSION", "_RULE", "_LABEL", "_RULEORDER", "_INCLUDE", "_CONFIG")


def _describe_expected(expected) -> str:
    names = []
    for term in sorted(expected):
        if term == "DOT":  # a name may go on with .name (rules.x.output): not worth saying
            continue
        if term in _HUMAN:
            names.append(_HUMAN[term])
        elif term.isupper() and term.replace("_", "").isalpha() and not term.startswith("_"):
            names.append(f"'{term.lower()}'")  # keywords: DIMENSION -> 'dimension'
    names = list(dict.fromkeys(names))
    if any(n.startswith("'") and n[1:-1].isalpha() and n[1:-1].islower() for n in names):
        # At the top level blank lines and the end of the file are always fine: no news.
        names = [n for n in names if n not in ("end of line", "end of file")]
    if not names:
        return ""
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " or " + names[-1]


def _syntax_error(exc: UnexpectedInput | _BadDedent, file: str, text: str) -> SyntaxError_:
    line = getattr(exc, "line", 1) or 1
    col = getattr(exc, "column", 1) or 1
    if isinstance(exc, _BadDedent):
        outer = [lv for lv in exc.levels if lv < exc.indent]
        inner = [lv for lv in exc.levels if lv > exc.indent]
        message = (
            f"this line is indented by {exc.indent}, which matches no enclosing block: "
            f"indent it by {inner[0] if inner else exc.indent} to stay in the block, "
            f"or by {outer[-1] if outer else 0} to end it"
        )
        return SyntaxError_(message, Span(file, line, 1, line, max(col, 2)))
    if isinstance(exc, UnexpectedToken) and exc.token.type == "$END":
        lines = text.rstrip("\n").split("\n")
        line, col = len(lines), len(lines[-1]) + 1
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        length = 1
        if tok.type == "_NL":
            # The newline token starts at the end of the previous line (or at its comment).
            what = "end of line"
        elif tok.type == "_INDENT":
            # Point at the indented text, not at the end of the line before it.
            what = "indentation"
            line, col = tok.end_line or line, 1
            length = max(len(str(tok)), 1)
        elif tok.type == "_DEDENT":
            what = "end of the block"
        elif tok.type == "$END":
            what = "end of file"
        elif tok.type in ("STRING", "LONG_STRING"):
            first = str(tok).split("\n", 1)[0]
            what = f"string {first if len(first) <= 40 else first[:37] + '...'}"
            length = len(first)
        elif tok.type == "NUMBER":
            what = f"number {tok}"
            length = len(str(tok))
        else:
            what = repr(str(tok))
            length = len(str(tok))
        accepts = set(exc.accepts or exc.expected)
        if accepts == {"_INDENT"}:
            # "rule r:" (or "output:") with nothing indented below it: point at that line.
            lines = text.split("\n")
            k = (tok.line or line) - 1 if tok.type not in ("_NL", "_DEDENT", "$END") else line
            k -= 1
            while k >= 0 and (not lines[k].strip() or lines[k].lstrip().startswith("#")):
                k -= 1
            if k >= 0 and k + 1 <= line:
                where = "" if tok.type in ("_NL", "_DEDENT", "$END") else f" on line {tok.line}"
                end = len(lines[k].rstrip()) + 1
                found = "the end of the block" if tok.type == "_DEDENT" else what
                message = f"expected an indented block below this line; found {found}{where}"
                return SyntaxError_(message, Span(file, k + 1, end, k + 1, end + 1))
        expected = _describe_expected(accepts)
        message = f"unexpected {what}"
        if expected:
            message += f"; expected {expected}"
        keywords = [_HUMAN[t].strip("'") for t in accepts if t in _KEYWORDS]
        if tok.type == "NAME" and keywords:
            import difflib

            close = difflib.get_close_matches(str(tok), keywords, n=1)
            if close:
                message += f" (did you mean '{close[0]}'?)"
        if col == 1 and tok.type not in ("_NL", "_DEDENT", "$END", "_INDENT") and accepts & {"RSQB", "RPAR"}:
            message += " (is a '[' or '(' above left open?)"
        span = Span(file, line, col, line, col + length)
        return SyntaxError_(message, span)
    if isinstance(exc, UnexpectedCharacters):
        ch = text.split("\n")[line - 1][col - 1 : col] if line - 1 < len(text.split("\n")) else ""
        if ch in ('"', "'"):
            row = text.split("\n")[line - 1]
            if row[col - 1 :].startswith(ch * 3) or row[max(col - 3, 0) : col - 1] == ch * 2:
                if not row[col - 1 :].startswith(ch * 3):
                    col -= 2  # the lexer took the first two quotes for an empty string
                message = f"unterminated string: no closing {ch * 3}"
            else:
                message = f"unterminated string: a {ch}string{ch} ends on its own line (use {ch * 3}...{ch * 3} for several lines)"
        else:
            message = f"unexpected character {ch!r}"
        expected = _describe_expected(exc.allowed or ())
        if expected and ch not in ('"', "'"):
            message += f"; expected {expected}"
        hint = _ascii_name_hint(text.split("\n")[line - 1], col - 1) if ch and not ch.isascii() and ch.isalnum() else None
        return SyntaxError_(message, Span(file, line, col, line, col + 1), hint)
    if isinstance(exc, UnexpectedEOF):
        return SyntaxError_("unexpected end of file", Span(file, line, col, line, col + 1))
    return SyntaxError_(str(exc).splitlines()[0], Span(file, line, col, line, col + 1))


def ascii_name(word: str) -> str:
    """``word`` in the characters a name may hold: accents dropped (``données`` ->
    ``donnees``), any other character left out."""
    import unicodedata

    plain = unicodedata.normalize("NFKD", word)
    return "".join(c for c in plain if c.isascii() and (c.isalnum() or c == "_"))


def _ascii_name_hint(row: str, at: int) -> str:
    """The hint for a letter that is not ASCII at ``row[at]``, inside or after a name."""
    a = at
    while a > 0 and (row[a - 1].isalnum() or row[a - 1] == "_"):
        a -= 1
    b = at
    while b < len(row) and (row[b].isalnum() or row[b] == "_"):
        b += 1
    word = row[a:b]
    plain = ascii_name(word)
    if plain and plain[0].isdigit():
        plain = "_" + plain
    return f"{NAME_RULE}: write {plain!r} for {word!r}" if plain else NAME_RULE


_FIELD_LINE = re.compile(r"([ \t]+)([A-Za-z_][A-Za-z0-9_]*)[ \t]*:")
_TOP_WORD = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)[ \t]*(=|:|\(|\b)")
# A bare word where a value goes: a path or text written without quotes (data/x.csv, 4G).
_BARE = re.compile(r"""[^\s,"'()\[\]=#]+""")


def _width(indent: str) -> int:
    return indent.count(" ") + indent.count("\t") * _RulefileIndenter.tab_len


def _explained(err: SyntaxError_, text: str) -> SyntaxError_:
    """The error, with what to write instead when it is a Snakemake habit (a run: block,
    Python at the top, an unquoted path) or a tab in the indentation."""
    span = err.span
    lines = text.split("\n")
    if span is None or not 1 <= span.line <= len(lines) or err.hint:
        return err
    from .snakemake import FIELDS, RUN_BLOCK, STATEMENTS

    idx = span.line - 1
    row = lines[idx]
    field = _enclosing_field(lines, idx)
    if field is not None and field[0] == "run":
        _, k, col = field
        return SyntaxError_(RUN_BLOCK, Span(span.file, k + 1, col, k + 1, col + 3), FIELDS["run"])
    if span.col == 1 and (row[:1].isalpha() or row[:1] == "_"):
        m = _TOP_WORD.match(row)
        if m and m.group(1) in STATEMENTS:
            return SyntaxError_(err.message, span, STATEMENTS[m.group(1)])
        if m and m.group(2) == "=":
            name = m.group(1)
            return SyntaxError_(err.message, span,
                                f'a Rulefile has no variables: a list of values is a dimension,  dimension {name.lower()} = '
                                f'["a", "b"],  and a wildcard of that name, {{{name.lower()}}}, takes its values')
    if re.search(r"\blambda\b", row[: span.col]):
        return SyntaxError_(err.message, span, STATEMENTS["lambda"])
    if row.startswith("include") and row[7:].lstrip().startswith(":"):
        return SyntaxError_(err.message, span, 'write  include "PATH"  (no colon)')
    if span.col <= len(row) + 1:
        for m in _BARE.finditer(row):
            if m.start() <= span.col - 1 < max(m.end(), m.start() + 1):
                word = m.group()
                before = row[: m.start()].rstrip()
                at_value = not before or before[-1] in ":,=(["
                if at_value and not word.startswith("#") and (any(c in word for c in "/.{}") or word[0].isdigit()):
                    return SyntaxError_(err.message, span, f'paths and other text are written in quotes: "{word}"')
                break
    # A tab counts as 8 columns: lines that look aligned may not be.
    above = next((lines[k] for k in range(idx - 1, -1, -1) if lines[k].strip() and not lines[k].lstrip().startswith("#")), "")
    tabs = any("\t" in r[: len(r) - len(r.lstrip())] for r in (row, above))
    tab_hint = "a tab in the indentation counts as 8 columns: indent with spaces only"
    m = _FIELD_LINE.match(row)
    if m and field is not None and field[1] != idx and span.col == len(m.group(0)) and row[span.col - 1] == ":":
        # "shell:" indented deeper than the field above: taken for more items of that field.
        return SyntaxError_(
            f"unexpected ':': this line is indented deeper than the field '{field[0]}' above it, "
            f"so it would go on with that field's items", span,
            tab_hint if tabs else f"indent '{m.group(2)}:' as '{field[0]}:' is, to start a field of its own")
    if tabs and ("indent" in err.message or span.col == 1):
        return SyntaxError_(err.message, span, tab_hint)
    return err


def _enclosing_field(lines: list[str], idx: int) -> tuple[str, int, int] | None:
    """(name, line index, column) of the field of a rule or label that line ``idx`` is in."""
    def content(s: str) -> bool:
        return bool(s.strip()) and not s.lstrip().startswith("#")

    top = idx
    while top >= 0 and not (content(lines[top]) and not lines[top][0].isspace()):
        top -= 1
    if top < 0 or top == idx or not re.match(r"(rule|label)[ \t]", lines[top]):
        return None
    level = None
    for k in range(top + 1, idx + 1):
        if content(lines[k]):
            level = _width(lines[k][: len(lines[k]) - len(lines[k].lstrip())])
            break
    if level is None:
        return None
    for k in range(idx, top, -1):
        s = lines[k]
        if content(s) and _width(s[: len(s) - len(s.lstrip())]) == level:
            m = _FIELD_LINE.match(s)
            return (m.group(2), k, len(m.group(1)) + 1) if m else None
    return None


def _unquote(token: Token, file: str) -> str:
    raw = str(token)
    if "\0" in raw:
        at = raw.index("\0")
        before = raw[:at]
        line = token.line + before.count("\n")
        col = (at - before.rfind("\n")) if "\n" in before else token.column + at
        raise SyntaxError_("a NUL character inside a string", Span(file, line, col, line, col + 1))
    if "\\" not in raw:  # no escapes: the text between the quotes (most strings; fast)
        quote = 3 if raw[:3] in ('"""', "'''") and len(raw) >= 6 else 1
        return raw[quote:-quote]
    try:
        with warnings.catch_warnings():  # "\d" stays "\d", as in Python, without a warning
            warnings.simplefilter("ignore")
            value = ast.literal_eval(raw)
    except (ValueError, SyntaxError) as exc:
        span = Span(file, token.line, token.column, token.end_line, token.end_column)
        raise SyntaxError_(f"bad string literal: {exc.msg if hasattr(exc, 'msg') else exc}", span) from None
    if not isinstance(value, str):  # pragma: no cover - the grammar only admits strings
        raise SyntaxError_("expected a string", Span(file, token.line, token.column))
    bad = _BAD_CHAR(value)
    if bad is not None:
        ch = bad.group()
        if ch == "\0":
            message = "a NUL character (\\0) inside a string: no path, value or command can hold one"
        else:
            message = (f"a lone surrogate (\\u{ord(ch):04x}) inside a string is not a character "
                       "(a file name that is not UTF-8 is found by glob())")
        at = _escape_of(raw, ch)
        before = raw[:at]
        line = token.line + before.count("\n")
        col = (at - before.rfind("\n")) if "\n" in before else token.column + at
        raise SyntaxError_(message, Span(file, line, col, line, col + 1))
    return value


_BAD_CHAR = re.compile("[\0\ud800-\udfff]").search
_ESCAPE = re.compile(r"\\(?:\\|N\{[^}]*\}|x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|[0-7]{1,3})")


def _escape_of(raw: str, ch: str) -> int:
    """Where in the string literal ``raw`` the escape that gives ``ch`` is (0: not found)."""
    for m in _ESCAPE.finditer(raw):
        if m.group() != "\\\\":
            try:
                if ch in ast.literal_eval('"' + m.group() + '"'):
                    return m.start()
            except (ValueError, SyntaxError):
                continue
    return 0


class _ToDecls:
    """The parse tree -> decls, one method per grammar rule, each called ``(meta, children)``.

    A plain recursive walk: lark's Transformer wraps every call (v_args) and visits every
    token, which cost more than the parse itself on big Rulefiles.
    """

    def __init__(self, file: str):
        self.file = file

    def transform(self, tree: Tree):
        methods: dict[str, object] = {}

        def walk(node: Tree, depth: int):
            name = str(node.data)
            if name == "list" or name == "call":
                depth += 1
                if depth > MAX_NESTING:
                    meta = node.meta
                    raise SyntaxError_(f"brackets nested deeper than {MAX_NESTING} levels",
                                       Span(self.file, meta.line, meta.column, meta.line, meta.column + 1))
            children = [walk(c, depth) if isinstance(c, Tree) else c for c in node.children]
            method = methods.get(name)
            if method is None:
                method = methods[name] = getattr(self, name)
            return method(node.meta, children)

        return walk(tree, 0)

    # spans ---------------------------------------------------------------
    def _span(self, meta) -> Span:
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tspan(self, tok: Token) -> Span:
        return Span(self.file, tok.line, tok.column, tok.end_line, tok.end_column)

    # top level -------------------------------------------------------------
    def start(self, meta, children):
        return d.Module(self.file, tuple(children))

    def dimension_expr(self, meta, children):
        name, *options, expr = children
        return d.DimensionDecl(str(name), self._span(meta), self._tspan(name), expr=expr,
                               options=options[0] if options else ())

    def dimension_block(self, meta, children):
        name, *entries = children
        options = entries.pop(0) if entries and isinstance(entries[0], tuple) else ()
        return d.DimensionDecl(str(name), self._span(meta), self._tspan(name), entries=tuple(entries), options=options)

    def dim_options(self, meta, children):
        return tuple((str(t), self._tspan(t)) for t in children)

    def dim_value(self, meta, children):
        key = children[0]
        fields = children[1] if len(children) > 1 else ()
        if isinstance(key, Token):
            if key.type == "STRING":
                text = _unquote(key, self.file)
            else:
                text = str(key)
            span = self._tspan(key)
        else:  # pragma: no cover
            text, span = str(key), self._span(meta)
        return d.DimEntry(text, tuple(fields), span)

    def rule(self, meta, children):
        name, *fields = children
        return d.RuleDecl(str(name), tuple(fields), self._span(meta), self._tspan(name))

    def label(self, meta, children):
        name, *fields = children
        return d.LabelDecl(str(name), tuple(fields), self._span(meta), self._tspan(name))

    def field(self, meta, children):
        name, items = children
        return d.Field(str(name), tuple(items), self._span(meta), self._tspan(name))

    def field_more(self, meta, children):
        name, *groups = children
        items = tuple(item for group in groups for item in group)
        return d.Field(str(name), items, self._span(meta), self._tspan(name))

    def field_block(self, meta, children):
        name, *groups = children
        items = tuple(item for group in groups for item in group)
        return d.Field(str(name), items, self._span(meta), self._tspan(name))

    def ruleorder(self, meta, children):
        return d.RuleorderDecl(tuple((str(t), self._tspan(t)) for t in children), self._span(meta))

    def include(self, meta, children):
        (tok,) = children
        path = d.Str(_unquote(tok, self.file), self._tspan(tok))
        return d.IncludeDecl(path, self._span(meta))

    def config(self, meta, children):
        (tok,) = children
        path = d.Str(_unquote(tok, self.file), self._tspan(tok))
        return d.ConfigDecl(path, self._span(meta))

    # values ----------------------------------------------------------------
    def items(self, meta, children):
        return tuple(children)

    def named(self, meta, children):
        name, value = children
        return d.Named(str(name), value, self._span(meta), self._tspan(name))

    def string(self, meta, children):
        (tok,) = children
        return d.Str(_unquote(tok, self.file), self._tspan(tok))

    def long_string(self, meta, children):
        (tok,) = children
        return d.Str(_unquote(tok, self.file), self._tspan(tok), long=True)

    def number(self, meta, children):
        (tok,) = children
        text = str(tok)
        value: int | float
        try:
            value = int(text)
        except ValueError:
            value = float(text)
        return d.Num(value, self._tspan(tok))

    def word(self, meta, children):
        (tok,) = children
        return d.Word(str(tok), self._tspan(tok))

    def dotted(self, meta, children):
        return d.Dotted(tuple(str(t) for t in children), tuple(self._tspan(t) for t in children), self._span(meta))

    def list(self, meta, children):
        return d.ListV(tuple(c for c in children if c is not None), self._span(meta))

    def call(self, meta, children):
        func, *args = children
        return d.Call(str(func), tuple(a for a in args if a is not None), self._span(meta), self._tspan(func))


