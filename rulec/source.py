"""Source locations: where a piece of Rulefile text came from, and how to show it."""

from __future__ import annotations

import os
from .recordclass import record
from functools import lru_cache


@record(frozen=True, slots=True)
class Span:
    """A region of a source file. Lines and columns are 1-based; ``end_col`` is exclusive."""

    file: str
    line: int
    col: int
    end_line: int = 0
    end_col: int = 0

    def location(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    def shifted(self, offset: int, length: int = 1) -> "Span":
        """A span inside this one's first line, ``offset`` characters to the right."""
        col = self.col + offset
        return Span(self.file, self.line, col, self.line, col + max(length, 1))


@lru_cache(maxsize=64)
def _read_lines(path: str, stamp: tuple[int, int]) -> tuple[str, ...]:
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as fh:
            return _split(fh.read())
    except OSError:
        return ()


def _lines(file: str) -> tuple[str, ...]:
    # Keyed by absolute path and (mtime, size): a relative name such as "Rulefile" means
    # another file after a chdir, and a file may change between two errors.
    path = os.path.abspath(file)
    try:
        st = os.stat(path)
    except OSError:
        return ()
    return _read_lines(path, (st.st_mtime_ns, st.st_size))


def register_text(file: str, text: str) -> None:
    """Make ``text`` the source shown for ``file`` (for text that was never on disk)."""
    _read_lines.cache_clear()
    _registered[file] = _split(text)


def _split(text: str) -> tuple[str, ...]:
    # Lines as the parser counts them: only "\n" ends a line (not form feeds, U+2028...).
    return tuple(text.replace("\r\n", "\n").split("\n"))


_registered: dict[str, tuple[str, ...]] = {}


def source_line(span: Span) -> str | None:
    lines = _registered.get(span.file) or _lines(span.file)
    if 1 <= span.line <= len(lines):
        return lines[span.line - 1]
    return None


def caret(span: Span) -> tuple[str, str] | None:
    """The source line of ``span`` and a caret line under its text (first line only)."""
    line = source_line(span)
    if line is None:
        return None
    start = max(span.col - 1, 0)
    if span.end_line in (0, span.line) and span.end_col > span.col:
        width = span.end_col - span.col
    else:
        width = max(len(line.rstrip()) - start, 1)
    # Tabs keep their width so the caret stays under the text.
    pad = "".join("\t" if ch == "\t" else " " for ch in line[:start])
    return line, pad + "^" * max(width, 1)


def render(span: Span | None, message: str) -> str:
    """``FILE:LINE:COL: message``, then the source line and a caret under the offending text."""
    if span is None:
        return message
    out = f"{span.location()}: {message}"
    shown = caret(span)
    if shown is not None:
        line, marks = shown
        out += f"\n    {line}\n    {marks}"
    return out
