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
    module = cache.get(path, text)
    if module is None:
        from .parser import parse as _parse

        module = _parse(text, path, _registered=False)
        cache.put(path, text, module)
    return module


__all__ = ["parse", "parse_file"]
