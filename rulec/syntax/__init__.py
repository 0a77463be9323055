"""The Rulefile syntax: the only place that knows lark (imported only when a file must
really be parsed)."""

from __future__ import annotations

from . import decls as d
from ..errors import SyntaxError_


def parse(text: str, file: str = "<string>") -> d.Module:
    from .parser import parse as _parse

    return _parse(text, file)


class ReadError(SyntaxError_):
    """A Rulefile that cannot be read as text: ``reason`` says why in a few words ("is a
    folder, not a file", "Permission denied", "not UTF-8 text (byte 7)"), ``line`` where (a
    bad byte), for the message of an include that names it."""

    def __init__(self, message: str, reason: str, span=None, line: int | None = None, hint: str | None = None):
        super().__init__(message, span, hint)
        self.reason = reason
        self.line = line


def read_text(path: str) -> str:
    """The text of Rulefile ``path`` (UTF-8, a byte order mark dropped), or a ReadError; a
    byte that is not UTF-8 is an error at its line and column."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise ReadError(f"no Rulefile at {path}", "no such file") from None
    except IsADirectoryError:
        raise ReadError(f"{path}: is a folder, not a file", "is a folder, not a file") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ReadError(f"cannot read {path}: {reason}", reason) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        from ..source import Span, register_text

        register_text(path, data.decode("utf-8-sig", errors="replace"))  # the line the caret is under
        start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        before = data[start : exc.start].decode("utf-8-sig" if start == 0 else "utf-8", errors="replace")
        col = len(before.replace("\r", "")) + 1
        reason = f"not UTF-8 text (byte {exc.start})"
        raise ReadError(reason, reason, Span(path, line, col, line, col + 1), line,
                        hint="a Rulefile is UTF-8 text: save it as UTF-8") from None


def parse_file(path: str) -> d.Module:
    text = read_text(path)
    from . import cache
    from ..source import register_text

    # Errors found later (by the analyzer) show lines of this text, even if the file
    # changes or another file of the same relative name is read after a chdir.
    register_text(path, text)
    module = cache.get(path, text)  # a whole-file entry: files that are not parsed by statements
    if module is None:
        module = _by_statements(path, text)  # their entry is their statements' (no second entry to write)
        if module is None:
            from .parser import parse as _parse

            module = _parse(text, path, _registered=False)
            cache.put(path, text, module)
    return module


def _by_statements(path: str, text: str) -> d.Module | None:
    """The Module of a big Rulefile parsed statement by statement, those unchanged since the
    file's last parse taken from the cache (``cache.statements``); None when the file must be
    parsed whole: small, or a statement does not parse alone (its errors are the whole
    file's to report)."""
    from . import cache
    from ..errors import RulecError

    pieces = cache.statements(text)
    if pieces is None:
        return None
    kept = cache.get_statements(path)
    entries: dict[str, str] = {}
    decls: list = []
    for line, piece in pieces:
        key = cache.digest(piece)
        entry = kept.get(key)
        part = cache.statement(entry, line) if entry is not None else None
        if part is None:
            from .parser import parse as _parse  # lark: only when a statement is new

            try:
                part = _parse("\n" * (line - 1) + piece, path, _registered=False).decls
            except RulecError:
                return None
            try:
                entry = cache.statement_entry(path, part, line)
            except (TypeError, ValueError, RecursionError):
                entry = None
        if entry is not None:
            entries[key] = entry
        decls.extend(part)
    if entries.keys() != kept.keys():
        cache.put_statements(path, entries)
    return d.Module(path, tuple(decls))


__all__ = ["ReadError", "parse", "parse_file", "read_text"]
