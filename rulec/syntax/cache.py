"""A cache of parsed Rulefiles (pickled declarations) in the user's cache folder.

Keyed by the text, the file name and the grammar, so an unchanged Rulefile with 100k
dimension values is not parsed again, and lark is not even imported. Only successful
parses are kept; errors are always found afresh. Small files are not cached: they parse
faster than a lookup pays for.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from functools import lru_cache

from ..resources import data_dir
from . import decls as d

MIN_SIZE = 20000


@lru_cache(maxsize=1)
def grammar_text() -> str:
    return (data_dir("grammar") / "rulefile.lark").read_text(encoding="utf-8")


def _file(path: str, text: str) -> str | None:
    if len(text) < MIN_SIZE:
        return None
    base = os.environ.get("RULEC_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "rulec")
    h = hashlib.blake2b(digest_size=16)
    h.update(grammar_text().encode())
    h.update(b"\0" + path.encode("utf-8", "surrogateescape") + b"\0")
    h.update(text.encode("utf-8", "surrogateescape"))
    return os.path.join(base, "parse", h.hexdigest() + ".pickle")


def get(path: str, text: str) -> d.Module | None:
    file = _file(path, text)
    if file is None:
        return None
    try:
        with open(file, "rb") as fh:
            module = pickle.load(fh)
    except (OSError, pickle.PickleError, EOFError, AttributeError, ImportError, TypeError, ValueError):
        return None
    return module if isinstance(module, d.Module) else None


def put(path: str, text: str, module: d.Module) -> None:
    file = _file(path, text)
    if file is None:
        return
    try:
        os.makedirs(os.path.dirname(file), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(file))
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(module, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, file)  # atomic: a reader never sees half a file
    except OSError:
        pass
