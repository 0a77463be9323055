"""A remembered "all up to date" verdict, so a no-op dry run of 100k jobs is cheap.

A plan is a pure function of the workflow (the Rulefiles' text, the working folder, the
dimension values, the targets and options), the snapshot of every path the job graph
touches, and the state store. When a full plan finds nothing to do, rulec keeps, in
``.rulec/uptodate.pickle``: a key over the first and the state store's write generation,
and per folder the paths' names and their (mtime, size). Next time, if the key is the same
and every folder still holds those names with those stats (one stat per name, relative to
the open folder), the verdict is the same, and resolving and planning are skipped.
Anything else (or any doubt: an unreadable cache) means a full plan.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from array import array

from . import __version__
from .history import STATE_DIR, History
from .state import snapshot
from .storage import is_remote

FILE = "uptodate.pickle"
FORMAT = 2


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
        base = os.path.abspath(workflow.workdir)
        for head, names, mtimes, sizes in saved["folders"]:
            if not _folder_holds(os.path.join(base, head) if head else base, names.split("\0"),
                                 array("q", mtimes), array("q", sizes)):
                return None
        remote = saved["remote"]
        if remote:
            now = snapshot([p for p, _ in remote], workflow.workdir).lookup
            if any(now(p) != st for p, st in remote):
                return None
        return int(saved["jobs"])
    except Exception:  # a missing, stale or damaged cache only means a full plan
        return None


def _folder_holds(folder: str, names: list[str], mtimes, sizes) -> bool:
    """Whether every name in ``folder`` still has its (mtime, size): one ``fstatat`` per name
    relative to the open folder (cheaper than listing it), nothing built but the comparison."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    stat = os.stat
    try:
        for name, mtime, size in zip(names, mtimes, sizes):
            st = stat(name, dir_fd=fd)
            if st.st_mtime_ns != mtime or st.st_size != size:
                return False
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def remember(workflow, target, options, graph, snap, jobs: int) -> None:
    """Keep the verdict "nothing to do" of a full plan (only where .rulec/ exists already)."""
    folder = os.path.join(workflow.workdir, STATE_DIR)
    if options.force or options.force_all or not os.path.isdir(folder):
        return
    get = snap.lookup
    by_dir: dict[str, list] = {}
    remote = []
    for path in set(graph.sources).union(*graph.outputs):
        st = get(path)
        if st is None:
            return  # a path that does not exist: not a state worth remembering
        if is_remote(path):
            remote.append((path, st))
            continue
        head, _, name = path.rpartition("/")
        by_dir.setdefault(head, []).append((name, st))
    folders = []
    for head, entries in by_dir.items():
        folders.append((head, "\0".join(n for n, _ in entries),
                        array("q", [st[0] for _, st in entries]).tobytes(),
                        array("q", [st[1] for _, st in entries]).tobytes()))
    data = {"key": _key(workflow, target, options), "folders": folders, "remote": remote, "jobs": jobs}
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
