"""``-k EXPR``: pytask's selection language over job ids. Pure.

``estimate and data_0 and not tree``: a bare word is true when it is a substring of the job
id; ``and``, ``or``, ``not`` and parentheses combine them.
"""

from __future__ import annotations

import re
from typing import Callable

from .errors import RulecError

_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")


class SelectError(RulecError):
    phase = "usage"


def compile_expr(expr: str) -> Callable[[str], bool]:
    tokens = [m.group(1) for m in _TOKEN.finditer(expr)]
    if not tokens:
        raise SelectError("-k: empty expression")
    pos = 0

    def peek():
        return tokens[pos] if pos < len(tokens) else None

    def take():
        nonlocal pos
        tok = tokens[pos]
        pos += 1
        return tok

    def parse_or():
        left = parse_and()
        while peek() == "or":
            take()
            right = parse_and()
            left = (lambda a, b: lambda s: a(s) or b(s))(left, right)
        return left

    def parse_and():
        left = parse_not()
        while peek() == "and":
            take()
            right = parse_not()
            left = (lambda a, b: lambda s: a(s) and b(s))(left, right)
        return left

    def parse_not():
        if peek() == "not":
            take()
            inner = parse_not()
            return lambda s: not inner(s)
        return parse_atom()

    def parse_atom():
        tok = peek()
        if tok is None:
            raise SelectError(f"-k {expr!r}: the expression ends too early")
        if tok == "(":
            take()
            inner = parse_or()
            if peek() != ")":
                raise SelectError(f"-k {expr!r}: missing ')'")
            take()
            return inner
        if tok in (")", "and", "or"):
            raise SelectError(f"-k {expr!r}: unexpected {tok!r}")
        take()
        return lambda s: tok in s

    fn = parse_or()
    if pos != len(tokens):
        raise SelectError(f"-k {expr!r}: unexpected {tokens[pos]!r}")
    return fn
