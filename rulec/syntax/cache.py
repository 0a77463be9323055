"""A cache of parsed Rulefiles (pickled declarations) in the user's cache folder.

Keyed by the text, the file name and the grammar, so an unchanged Rulefile is not parsed
again and lark is not even imported (importing lark and building the parser cost ~40 ms,
more than reading a small file's entry; a 1,000-rule file saves ~0.6 s). Only successful
parses are kept; errors are always found afresh. The folder keeps the KEEP most recently
used entries: each edit of a Rulefile makes a new one.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from functools import lru_cache

from ..resources import data_dir
from . import decls as d

KEEP = 200  # entries kept; older ones are removed when a new one is written


@lru_cache(maxsize=1)
def grammar_text() -> str:
    return (data_dir("grammar") / "rulefile.lark").read_text(encoding="utf-8")


def folder() -> str:
    base = os.environ.get("RULEC_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "rulec")
    return os.path.join(base, "parse")


def _file(path: str, text: str) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(grammar_text().encode())
    h.update(b"\0" + path.encode("utf-8", "surrogateescape") + b"\0")
    h.update(text.encode("utf-8", "surrogateescape"))
    return os.path.join(folder(), h.hexdigest() + ".pickle")


def get(path: str, text: str) -> d.Module | None:
    file = _file(path, text)
    try:
        with open(file, "rb") as fh:
            module = pickle.load(fh)
    except (OSError, pickle.PickleError, EOFError, AttributeError, ImportError, TypeError, ValueError):
        return None
    if not isinstance(module, d.Module):
        return None
    try:
        os.utime(file)  # recently used: kept by the pruning in put()
    except OSError:
        pass
    return module


def put(path: str, text: str, module: d.Module) -> None:
    file = _file(path, text)
    try:
        os.makedirs(os.path.dirname(file), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(file))
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(module, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, file)  # atomic: a reader never sees half a file
        _prune(os.path.dirname(file))
    except OSError:
        pass


def _prune(folder: str) -> None:
    """Keep the KEEP most recently used entries."""
    entries = []
    for entry in os.scandir(folder):
        if entry.name.endswith(".pickle"):
            try:
                entries.append((entry.stat().st_mtime_ns, entry.path))
            except OSError:
                continue
    if len(entries) <= KEEP:
        return
    entries.sort()
    for _, path in entries[: len(entries) - KEEP]:
        try:
            os.unlink(path)
        except OSError:
            pass
