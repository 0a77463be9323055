"""Declarations as written in a Rulefile: the parser's output, before any meaning is given."""

from __future__ import annotations

from ..recordclass import record
from ..source import Span, source_line

# What a name may hold, for the messages about one that holds more (``rule données:``).
NAME_RULE = "names (of rules, dimensions, labels, params, fields and wildcards) are ASCII letters, digits and _"


@record(frozen=True, slots=True)
class Str:
    value: str
    span: Span
    long: bool = False  # written as a triple-quoted block

    def content_span(self, offset: int, length: int) -> Span:
        """The span of ``value[offset:offset+length]`` in the source, inside the quotes.

        Escapes (``\\"``, ``\\t``, a backslash-newline...) make the value shorter than the
        text as written; the source text is read again to place the span exactly.
        """
        quote = 3 if self.long else 1
        body = _raw_body(self.span, quote, self.value)
        if body is not None:
            start = _raw_index(body, offset)
            end = _raw_index(body, offset + length)
            if start is not None:
                before = body[:start]
                if "\n" in before:
                    line = self.span.line + before.count("\n")
                    col = start - before.rfind("\n")
                else:
                    line, col = self.span.line, self.span.col + quote + start
                width = (end - start) if end is not None and "\n" not in body[start:end] else length
                return Span(self.span.file, line, col, line, col + max(width, 1))
        if self.long and "\n" in self.value[:offset]:
            before = self.value[:offset]
            line = self.span.line + before.count("\n")
            col = offset - before.rfind("\n")
            return Span(self.span.file, line, col, line, col + max(length, 1))
        return self.span.shifted(quote + offset, length)


def _raw_body(span: Span, quote: int, value: str) -> str | None:
    """The text between the quotes as written in the source, if the source still says so."""
    lines = []
    for number in range(span.line, (span.end_line or span.line) + 1):
        text = source_line(Span(span.file, number, 1))
        if text is None:
            return None
        lines.append(text)
    if span.end_line in (0, span.line):
        raw = lines[0][span.col - 1 : span.end_col - 1] if span.end_col else lines[0][span.col - 1 :]
    else:
        raw = "\n".join([lines[0][span.col - 1 :], *lines[1:-1], lines[-1][: span.end_col - 1]])
    if len(raw) < 2 * quote:
        return None
    try:
        import ast
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if ast.literal_eval(raw) != value:
                return None
    except Exception:  # only a better caret is at stake: never fail on it
        return None
    return raw[quote:-quote]


def _raw_index(body: str, offset: int) -> int | None:
    """Where the value's character ``offset`` is written in ``body`` (the text in the quotes)."""
    i = v = 0
    n = len(body)
    while i < n:
        if v == offset:
            return i
        if body[i] == "\\" and i + 1 < n:
            nxt = body[i + 1]
            if nxt == "\n":  # a backslash-newline: no character
                i += 2
                continue
            if nxt in "\\'\"abfnrtv":
                i += 2
            elif nxt == "x":
                i += 4
            elif nxt == "u":
                i += 6
            elif nxt == "U":
                i += 10
            elif nxt == "N":
                close = body.find("}", i)
                i = close + 1 if close > 0 else i + 2
            elif nxt in "01234567":
                k = 1
                while k < 3 and i + 1 + k < n and body[i + 1 + k] in "01234567":
                    k += 1
                i += 1 + k
            else:  # an unknown escape stays two characters
                i += 1
            v += 1
            continue
        i += 1
        v += 1
    return i if v == offset else None


@record(frozen=True, slots=True)
class Num:
    value: int | float
    span: Span


@record(frozen=True, slots=True)
class Word:
    name: str
    span: Span


@record(frozen=True, slots=True)
class Dotted:
    """``rules.prepare.output.name``: names joined by dots, each with its span."""

    names: tuple[str, ...]
    spans: tuple[Span, ...]
    span: Span

    @property
    def text(self) -> str:
        return ".".join(self.names)


@record(frozen=True, slots=True)
class ListV:
    items: tuple["Expr", ...]
    span: Span


@record(frozen=True, slots=True)
class Named:
    name: str
    value: "Expr"
    span: Span
    name_span: Span


@record(frozen=True, slots=True)
class Call:
    func: str
    args: tuple[Expr | Named, ...]
    span: Span
    func_span: Span


Expr = Str | Num | Word | Dotted | ListV | Call
Item = Expr | Named


@record(frozen=True, slots=True)
class Field:
    name: str
    items: tuple[Item, ...]
    span: Span
    name_span: Span


@record(frozen=True, slots=True)
class DimEntry:
    key: str
    fields: tuple[Item, ...]
    span: Span


@record(frozen=True, slots=True)
class DimensionDecl:
    name: str
    span: Span
    name_span: Span
    expr: Expr | None = None
    entries: tuple[DimEntry, ...] = ()
    options: tuple[tuple[str, Span], ...] = ()  # ``dimension NAME (outside) = ...``


@record(frozen=True, slots=True)
class RuleDecl:
    name: str
    fields: tuple[Field, ...]
    span: Span
    name_span: Span


@record(frozen=True, slots=True)
class LabelDecl:
    name: str
    fields: tuple[Field, ...]
    span: Span
    name_span: Span


@record(frozen=True, slots=True)
class RuleorderDecl:
    names: tuple[tuple[str, Span], ...]
    span: Span


@record(frozen=True, slots=True)
class IncludeDecl:
    path: Str
    span: Span


@record(frozen=True, slots=True)
class ConfigDecl:
    """``config "config.toml"``: a config file, relative to the declaring Rulefile's folder."""

    path: Str
    span: Span


Decl = DimensionDecl | RuleDecl | LabelDecl | RuleorderDecl | IncludeDecl | ConfigDecl


@record(frozen=True, slots=True)
class Module:
    file: str
    decls: tuple[Decl, ...]
