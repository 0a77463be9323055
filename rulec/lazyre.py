"""Regular expressions compiled when first used.

Compiling a pattern costs 0.1-0.4 ms, at every start, whether or not the command ever uses
it: a pattern needed only in some cases (an error message, a unit, a remote path) is
compiled on its first use instead."""

from __future__ import annotations

import re


class Lazy:
    """``re.compile(pattern, flags)``, compiled at the first attribute looked up on it
    (``.search``, ``.sub``...), which is then the compiled pattern's."""

    __slots__ = ("pattern", "flags", "_compiled")

    def __init__(self, pattern: str, flags: int = 0):
        self.pattern = pattern
        self.flags = flags
        self._compiled = None

    def __getattr__(self, name: str):
        compiled = self._compiled
        if compiled is None:
            compiled = self._compiled = re.compile(self.pattern, self.flags)
        return getattr(compiled, name)

    def __repr__(self) -> str:
        return f"Lazy({self.pattern!r}, {self.flags})"
