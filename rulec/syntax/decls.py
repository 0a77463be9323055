"""Declarations as written in a Rulefile: the parser's output, before any meaning is given."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from ..source import Span


@dataclass(frozen=True, slots=True)
class Str:
    value: str
    span: Span
    long: bool = False  # written as a triple-quoted block

    def content_span(self, offset: int, length: int) -> Span:
        """The span of ``value[offset:offset+length]`` inside the quotes (first line only)."""
        quote = 3 if self.long else 1
        if self.long and "\n" in self.value[:offset]:
            before = self.value[:offset]
            line = self.span.line + before.count("\n")
            col = offset - before.rfind("\n")
            return Span(self.span.file, line, col, line, col + max(length, 1))
        return self.span.shifted(quote + offset, length)


@dataclass(frozen=True, slots=True)
class Num:
    value: int | float
    span: Span


@dataclass(frozen=True, slots=True)
class Word:
    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class ListV:
    items: tuple["Expr", ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Named:
    name: str
    value: "Expr"
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class Call:
    func: str
    args: tuple[Union["Expr", Named], ...]
    span: Span
    func_span: Span


Expr = Union[Str, Num, Word, ListV, Call]
Item = Union[Expr, Named]


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    items: tuple[Item, ...]
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class DimEntry:
    key: str
    fields: tuple[Item, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class DimensionDecl:
    name: str
    span: Span
    name_span: Span
    expr: Expr | None = None
    entries: tuple[DimEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class RuleDecl:
    name: str
    fields: tuple[Field, ...]
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class LabelDecl:
    name: str
    fields: tuple[Field, ...]
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class RuleorderDecl:
    names: tuple[tuple[str, Span], ...]
    span: Span


@dataclass(frozen=True, slots=True)
class IncludeDecl:
    path: Str
    span: Span


Decl = Union[DimensionDecl, RuleDecl, LabelDecl, RuleorderDecl, IncludeDecl]


@dataclass(frozen=True, slots=True)
class Module:
    file: str
    decls: tuple[Decl, ...]
