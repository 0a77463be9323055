"""The Rulefile syntax: the only place that knows lark (imported only when a file must
really be parsed)."""

from __future__ import annotations

from . import decls as d
from ..errors import SyntaxError_


def parse(text: str, file: str = "<string>") -> d.Module:
    from .parser import parse as _parse

    return _parse(text, file)


def parse_file(path: str) -> d.Module:
    try:
        with open(path, encoding="utf-8-sig") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise SyntaxError_(f"no Rulefile at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SyntaxError_(f"cannot read {path}: {exc}") from None
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


__all__ = ["parse", "parse_file"]
