"""A remembered "all up to date" verdict, so a no-op dry run of 100k jobs is cheap.

A plan is a pure function of the workflow (the Rulefiles' text, the working folder, the
dimension values, the targets and options), the snapshot of every path the job graph
touches, and the state store. When a full plan finds nothing to do, rulec keeps, in
``.rulec/uptodate.pickle``: a key over the first and the state store's write generation,
the list of paths and their (mtime, size). Next time, if the key is the same and a fresh
snapshot of those paths is equal, the verdict is the same, and resolving and planning are
skipped. Anything else (or any doubt: an unreadable cache) means a full plan.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile

from . import __version__
from .history import STATE_DIR, History
from .state import snapshot

FILE = "uptodate.pickle"
FORMAT = 1


def _key(workflow, target, options) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((FORMAT, __version__, workflow.workdir, target.targets, target.select, target.overrides,
                   sorted(options.force), options.force_all, options.tolerance_ns)).encode())
    for file in workflow.files:
        try:
            with open(file, "rb") as fh:
                h.update(fh.read())
        except OSError:
            h.update(b"\0missing\0")
        h.update(b"\0" + file.encode("utf-8", "surrogateescape") + b"\0")
    for name, dim in workflow.dimensions.items():  # glob() dimensions depend on the files
        h.update(name.encode() + b"=" + "\0".join(dim.values).encode("utf-8", "surrogateescape") + b"\n")
    h.update(b"history:" + History.generation(workdir=workflow.workdir).encode())
    return h.hexdigest()


def _path(workflow) -> str:
    return os.path.join(workflow.workdir, STATE_DIR, FILE)


def check(workflow, target, options) -> int | None:
    """The number of jobs if the remembered verdict still holds, else None."""
    if options.force or options.force_all:
        return None
    try:
        with open(_path(workflow), "rb") as fh:
            saved = pickle.load(fh)
        if saved.get("key") != _key(workflow, target, options):
            return None
        paths, stats = saved["paths"], saved["stats"]
        now = snapshot(paths, workflow.workdir).lookup
        if [now(p) for p in paths] != stats:
            return None
        return int(saved["jobs"])
    except Exception:  # a missing, stale or damaged cache only means a full plan
        return None


def remember(workflow, target, options, graph, snap, jobs: int) -> None:
    """Keep the verdict "nothing to do" of a full plan (only where .rulec/ exists already)."""
    folder = os.path.join(workflow.workdir, STATE_DIR)
    if options.force or options.force_all or not os.path.isdir(folder):
        return
    paths = sorted(set(graph.sources).union(*graph.outputs))
    get = snap.lookup
    data = {"key": _key(workflow, target, options), "paths": paths, "stats": [get(p) for p in paths], "jobs": jobs}
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".uptodate.")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, _path(workflow))
    except OSError:
        pass


def forget(workdir: str) -> None:
    try:
        os.unlink(os.path.join(workdir, STATE_DIR, FILE))
    except OSError:
        pass
