"""A remembered "all up to date" verdict, so a no-op dry run of 100k jobs is cheap.

A plan is a pure function of the workflow (the Rulefiles' text, the working folder, the
dimension values, the targets and options), the snapshot of every path the job graph
touches, and the state store. When a full plan finds nothing to do, rulec keeps, in
``.rulec/verdict.bin``: a key over the first and the state store's write generation,
and per folder the paths' names and their (mtime, size). Next time, if the key is the same
and every folder still holds those names with those stats (one stat per name, relative to
the open folder), the verdict is the same, and resolving and planning are skipped.
Anything else (or any doubt: an unreadable cache) means a full plan.

The file is data only, so that a crafted one (in a repository or a tarball) cannot run
code: a line of JSON (the key, the job count, the remote paths' stats, and per folder its
name, its number of names and the byte length of its names), then per folder its names
(UTF-8, NUL-separated) and its mtimes and sizes as raw int64 arrays. The folders written
``directory(...)`` are kept apart, with their trees' stats (``state.tree_stat``), which are
computed again to check. Every field is checked
for its type and every length against the file's size; a file of any other shape is
ignored. An ``uptodate.pickle`` left by an older rulec is never read (and is removed when a
new verdict is written).
"""

from __future__ import annotations

from .digest import blake2b
import json
import os
import sys
from array import array

from . import __version__
from .history import STATE_DIR, History
from .state import snapshot, tree_stat
from .storage import is_remote, make_dirs, prune_newest, read_own, read_regular, write_replacing

FILE = "verdict.bin"
CACHED_SUFFIX = ".verdict"  # the verdicts of projects without .rulec/, in the user's cache
CACHE_BUDGET = 256 << 20  # bytes of those kept; the least recently written go first
OLD_FILES = ("uptodate.pickle",)  # older rulecs' verdicts: never read, removed on write
FORMAT = 5
MAGIC = "rulec-verdict"


def nothing_to_do(jobs: int, tail: str = "") -> str:
    """The line for a plan with nothing to run."""
    what = "the one job is" if jobs == 1 else f"all {jobs} jobs are"
    return f"Nothing to do: {what} up to date{tail}."


def _key(workflow, target, options) -> str:
    h = blake2b(digest_size=16)
    h.update(repr((FORMAT, __version__, workflow.workdir, target.targets, target.select, target.overrides,
                   sorted(options.force), options.force_all, options.tolerance_ns)).encode())
    for file in workflow.files:
        try:
            with open(file, "rb") as fh:
                h.update(fh.read())
        except OSError:
            h.update(b"\0missing\0")
        h.update(b"\0" + file.encode("utf-8", "surrogateescape") + b"\0")
    for rule in workflow.rules:  # a profile's env is not in the Rulefiles
        if rule.env:
            h.update(repr((rule.name, [(n, t.text) for n, t in rule.env])).encode("utf-8", "surrogateescape"))
    # config files, sample sheets and --config (their fields are in no Rulefile's text)
    h.update(b"data:" + workflow.data_key.encode() + b"\n")
    for name, dim in workflow.dimensions.items():  # glob() dimensions depend on the files
        h.update(name.encode() + b"=" + "\0".join(dim.values).encode("utf-8", "surrogateescape") + b"\n")
    h.update(b"history:" + History.generation(workdir=workflow.workdir).encode())
    return h.hexdigest()


def _path(workflow, target) -> str:
    return _file(workflow.workdir, target)


def _file(workdir: str, target) -> str:
    """Where the verdict is kept: ``.rulec/verdict.bin`` where the project has a state store,
    else in the user's cache folder, one per working folder and Rulefile (a dry run never
    creates ``.rulec/``, and outputs made by another tool have no records to keep there)."""
    folder = os.path.join(workdir, STATE_DIR)
    if os.path.isdir(folder):
        return os.path.join(folder, FILE)
    h = blake2b(digest_size=16)
    h.update(os.path.abspath(workdir).encode("utf-8", "surrogateescape") + b"\0")
    h.update(os.path.abspath(target.rulefile).encode("utf-8", "surrogateescape"))
    return os.path.join(cache_folder(), h.hexdigest() + CACHED_SUFFIX)


def cache_folder() -> str:
    from .syntax.cache import folder as parse_folder

    return os.path.join(os.path.dirname(parse_folder()), "verdict")


def check(workflow, target, options) -> int | None:
    """The number of jobs if the remembered verdict still holds, else None."""
    if options.force or options.force_all:
        return None
    try:
        saved = _saved(_path(workflow, target))
        if saved is None or saved[0] != _key(workflow, target, options):
            return None
        return _holds(saved, workflow.workdir)
    except Exception:  # a missing, stale or damaged cache only means a full plan
        return None


def check_before_load(target, options) -> int | None:
    """``check`` without loading the workflow: the number of jobs if the verdict was kept
    with a key over the bytes of every file the load read (the Rulefiles, config files and
    sample sheets), the target, the options and the state store's generation, and all of
    those, and every path's stat, are still the same. Else None, and the caller loads.

    Kept only for a load that depends on nothing else: no glob() dimension (the files it
    lists), no warning (it would not be shown), no profile (its env tables are no file of
    the load). Then neither lark, nor the analyzer, nor the parse cache is even imported."""
    if options.force or options.force_all:
        return None
    try:
        workdir = _workdir(target)
        if workdir is None:
            return None
        saved = _saved(_file(workdir, target))
        if saved is None or saved[5] is None:
            return None
        pre = saved[5]
        if _pre_key(target, options, workdir, pre["files"]) != pre["key"]:
            return None
        return _holds(saved, workdir)
    except Exception:  # as check(): any doubt means loading
        return None


_read: dict[str, tuple[tuple, tuple | None]] = {}  # path -> (its stat, its decoded verdict)


def _saved(path: str):
    """The decoded verdict at ``path`` (None: none, or malformed), read once per process for
    as long as the file is the same (a dry run after an edit asks three times)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    stamp = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    known = _read.get(path)
    if known is not None and known[0] == stamp:
        return known[1]
    data = read_own(path)  # (what it says makes rulec skip jobs: rulec's own file only)
    saved = _decode(data) if data is not None else None
    _read.clear()  # one verdict is kept: a long-lived process (the API) holds no more
    _read[path] = (stamp, saved)
    return saved


def _workdir(target) -> str | None:
    """The working folder ``api.load`` gives ``target`` (None when there is no Rulefile: the
    load says so)."""
    rulefile = target.rulefile
    if os.path.isdir(rulefile):
        rulefile = os.path.join(rulefile, "Rulefile")
    if not os.path.isfile(rulefile):
        return None
    if target.workdir:
        return os.path.abspath(target.workdir)
    return os.path.dirname(os.path.abspath(os.path.normpath(rulefile)))


def _pre_key(target, options, workdir: str, files) -> str | None:
    h = blake2b(digest_size=16)
    h.update(repr((FORMAT, __version__, workdir, os.getcwd(), target.rulefile, target.workdir, target.targets,
                   target.select, target.overrides, target.config, target.config_files,
                   sorted(options.force), options.force_all, options.tolerance_ns)).encode("utf-8", "surrogateescape"))
    for file in files:
        data = read_regular(file)
        if data is None:
            return None
        h.update(file.encode("utf-8", "surrogateescape") + b"\0" + str(len(data)).encode() + b"\0" + data)
    h.update(b"history:" + History.generation(workdir=workdir).encode())
    return h.hexdigest()


def _pre(workflow, target, options) -> dict | None:
    """What ``check_before_load`` needs, when the load depended on files alone."""
    if workflow.warned or any(d.origin == "glob" for d in workflow.dimensions.values()):
        return None
    files = [os.path.abspath(f) for f in (*workflow.files, *workflow.data_files)]
    if any(is_remote(f) for f in workflow.data_files):
        return None
    key = _pre_key(target, options, workflow.workdir, files)
    return {"key": key, "files": files} if key is not None else None


def fresh_rules(workflow, target, options):
    """After an edit of some rules' commands (or params, env, resources): ``(rules, snapshot)``
    where ``rules`` are the indices of the rules whose jobs the kept verdict still covers,
    and ``snapshot`` the stats it holds, the same as on disk. Else None.

    The verdict holds when everything but the Rulefiles' text is as it was (the graph's
    structure, the dimension values and fields, the config files and sheets, the targets,
    the options, the state store's generation) and every path still has its stat: then each
    job of a rule whose fingerprint (the rule, less its places in the file) is unchanged is
    up to date unless a job it needs runs, and only the other rules' jobs need planning
    (``plan.plan``'s ``fresh``)."""
    if options.force or options.force_all or options.explain:
        return None
    try:
        saved = _saved(_path(workflow, target))
        if saved is None or saved[6] is None:
            return None
        partial = saved[6]
        if len(partial["rules"]) != len(workflow.rules) or partial["key"] != _partial_key(workflow, target, options):
            return None
        if _holds(saved, workflow.workdir) is None:
            return None
        fresh = frozenset(i for i, (old, new) in enumerate(zip(partial["rules"], fingerprints(workflow))) if old == new)
        if not fresh:
            return None
        return fresh, _saved_snapshot(saved, options.tolerance_ns)
    except Exception:  # any doubt: a full plan
        return None


def _saved_snapshot(saved, tolerance_ns: int):
    from .state import Snapshot

    _, _, remote, folders, trees, _, _ = saved
    stats = _SavedStats({head: (names, mtimes, sizes) for head, names, mtimes, sizes in folders})
    dict.update(stats, remote)
    dict.update(stats, trees)
    snap = Snapshot(None, tolerance_ns)
    snap._stats = stats
    return snap


class _SavedStats(dict):
    """The verdict's stats (path -> (mtime, size)), each folder's made into entries when a
    path in it is first asked for: a plan after an edit asks for the paths of the edited
    rules' jobs only, a few of 51k. Anything that needs them all (``len``, iterating, a copy)
    makes them all first."""

    __slots__ = ("_folders",)

    def __init__(self, folders: dict):
        super().__init__()
        self._folders = folders  # head -> (names, mtimes, sizes): not made yet

    def _make(self, head: str) -> None:
        names, mtimes, sizes = self._folders.pop(head)
        prefix = head + "/" if head else ""
        dict.update(self, zip([prefix + n for n in names] if prefix else names, zip(mtimes.tolist(), sizes.tolist())))

    def _made(self, path: str) -> None:
        if self._folders:
            head = path.rpartition("/")[0]
            if head in self._folders:
                self._make(head)

    def _all(self) -> None:
        while self._folders:
            self._make(next(iter(self._folders)))

    def get(self, path, default=None):
        self._made(path)
        return dict.get(self, path, default)

    def __getitem__(self, path):
        self._made(path)
        return dict.__getitem__(self, path)

    def __contains__(self, path) -> bool:
        self._made(path)
        return dict.__contains__(self, path)

    def pop(self, path, *default):
        self._made(path)
        return dict.pop(self, path, *default)

    def __setitem__(self, path, value) -> None:
        self._made(path)
        dict.__setitem__(self, path, value)

    def __len__(self) -> int:
        self._all()
        return dict.__len__(self)

    def __iter__(self):
        self._all()
        return dict.__iter__(self)

    def keys(self):
        self._all()
        return dict.keys(self)

    def items(self):
        self._all()
        return dict.items(self)

    def values(self):
        self._all()
        return dict.values(self)

    def copy(self) -> dict:
        self._all()
        return dict(dict.items(self))

    def __eq__(self, other) -> bool:
        self._all()
        return dict.__eq__(self, other)

    __hash__ = None


def fingerprints(workflow) -> list[str]:
    """Per rule, a hash of everything it says (command, params, env, resources, paths...)
    but where it says it: a line added above a rule leaves it alone."""
    return [blake2b(repr(_plain(rule)).encode("utf-8", "surrogateescape"), digest_size=12).hexdigest()
            for rule in workflow.rules]


_PLACES = ("span", "wrapper_span")


def _plain(x):
    if isinstance(x, (str, int, float, bool, type(None))):
        return x
    if isinstance(x, (tuple, list)):
        return tuple(_plain(v) for v in x)
    if isinstance(x, (frozenset, set)):
        return tuple(sorted(repr(_plain(v)) for v in x))
    if isinstance(x, dict):
        return tuple((_plain(k), _plain(v)) for k, v in x.items())
    fields = getattr(x, "__record_fields__", None)
    if fields is not None:
        return (type(x).__name__, *((f.name, _plain(getattr(x, f.name))) for f in fields if f.name not in _PLACES))
    raise TypeError(f"no fingerprint for a {type(x).__name__}")


def _partial_key(workflow, target, options) -> str:
    """The key of everything but the rules: what must be the same for ``fresh_rules``."""
    from . import graphs

    h = blake2b(digest_size=16)
    h.update(repr((FORMAT, __version__, workflow.workdir, target.targets, target.select, target.overrides,
                   sorted(options.force), options.force_all, options.tolerance_ns,
                   graphs.key(workflow, target.targets), workflow.data_key)).encode("utf-8", "surrogateescape"))
    for name, dim in workflow.dimensions.items():
        h.update(repr((name, dim.values, dim.fields, sorted(dim.list_fields))).encode("utf-8", "surrogateescape"))
        if dim.fields and dim.origin != "table":  # a sheet's fields are in the data key
            h.update(repr(_plain(dim.table)).encode("utf-8", "surrogateescape"))
    h.update(repr(sorted((name, _plain(label)) for name, label in workflow.labels.items())).encode("utf-8", "surrogateescape"))
    h.update(b"history:" + History.generation(workdir=workflow.workdir).encode())
    return h.hexdigest()


def _holds(saved, workdir: str) -> int | None:
    """The saved job count if every saved path still has its saved stat, else None."""
    _, jobs, remote, folders, trees, _, _ = saved
    base = os.path.abspath(workdir)
    for head, names, mtimes, sizes in folders:
        if not _folder_holds(os.path.join(base, head) if head else base, names, mtimes, sizes):
            return None
    for path, st in trees:
        if tree_stat(os.path.join(base, path)) != st:
            return None
    if remote:
        now = snapshot([p for p, _ in remote], workdir).lookup
        if any(now(p) != st for p, st in remote):
            return None
    return jobs


def _encode(key: str, jobs: int, remote: list, folders: list, trees: list = (), pre: dict | None = None,
            partial: dict | None = None) -> bytes:
    """The file's bytes: a JSON line, then each folder's names, mtimes and sizes."""
    body = []
    listed = []
    for head, names, mtimes, sizes in folders:
        blob = "\0".join(names).encode("utf-8", "surrogateescape")
        listed.append([head, len(names), len(blob)])
        body += [blob, array("q", mtimes).tobytes(), array("q", sizes).tobytes()]
    header = {"format": MAGIC, "version": FORMAT, "byteorder": sys.byteorder, "key": key, "jobs": jobs,
              "remote": [[p, st[0], st[1]] for p, st in remote], "folders": listed,
              "trees": [[p, st[0], st[1]] for p, st in trees], "pre": pre, "partial": partial}
    # ensure_ascii: a name's lone surrogates (undecodable bytes) survive, and no raw newline
    return json.dumps(header, ensure_ascii=True, separators=(",", ":")).encode("ascii") + b"\n" + b"".join(body)


def _is_int(x) -> bool:
    return type(x) is int


def _decode(data: bytes):
    """(key, jobs, remote, folders, trees, pre, partial) from a file's bytes, or None for anything malformed."""
    end = data.find(b"\n")
    if end < 0:
        return None
    try:
        header = json.loads(data[:end])
    except (ValueError, RecursionError):
        return None
    if not (isinstance(header, dict) and header.get("format") == MAGIC and header.get("version") == FORMAT
            and header.get("byteorder") == sys.byteorder):
        return None
    key, jobs, remote, listed = header.get("key"), header.get("jobs"), header.get("remote"), header.get("folders")
    if not (isinstance(key, str) and _is_int(jobs) and jobs >= 0
            and isinstance(remote, list) and isinstance(listed, list)):
        return None
    listed_trees = header.get("trees")
    if not isinstance(listed_trees, list):
        return None
    pre = header.get("pre")
    if pre is not None and not (isinstance(pre, dict) and isinstance(pre.get("key"), str)
                                and isinstance(pre.get("files"), list) and all(isinstance(f, str) for f in pre["files"])):
        return None
    partial = header.get("partial")
    if partial is not None and not (isinstance(partial, dict) and isinstance(partial.get("key"), str)
                                    and isinstance(partial.get("rules"), list)
                                    and all(isinstance(f, str) for f in partial["rules"])):
        return None
    stats, trees = [], []
    for entries, out in ((remote, stats), (listed_trees, trees)):
        for entry in entries:
            if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)
                    and _is_int(entry[1]) and _is_int(entry[2])):
                return None
            out.append((entry[0], (entry[1], entry[2])))
    view = memoryview(data)
    at = end + 1
    folders = []
    for entry in listed:
        if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)
                and _is_int(entry[1]) and _is_int(entry[2]) and entry[1] >= 0 and entry[2] >= 0):
            return None
        head, count, length = entry
        if at + length + 16 * count > len(data):
            return None
        names = str(view[at : at + length], "utf-8", "surrogateescape").split("\0") if length else []
        if len(names) != count:
            return None
        at += length
        mtimes, sizes = array("q"), array("q")
        mtimes.frombytes(view[at : at + 8 * count])
        sizes.frombytes(view[at + 8 * count : at + 16 * count])
        at += 16 * count
        folders.append((head, names, mtimes, sizes))
    if at != len(data):
        return None
    return key, jobs, stats, folders, trees, pre, partial


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


def remember(workflow, target, options, graph, snap, jobs: int, before_load: bool = False) -> None:
    """Keep the verdict "nothing to do" of a full plan: in ``.rulec/`` where it exists, else
    in the user's cache folder (``_file``).
    ``before_load``: ``workflow`` is ``target`` loaded as it is (no profile added to it), so
    the verdict may be checked before loading (``check_before_load``)."""
    if options.force or options.force_all:
        return
    get = snap.lookup
    by_dir: dict[str, list] = {}
    remote = []
    trees = []
    directories = graph.directories()
    for path in set(graph.sources).union(*graph.outputs):
        st = get(path)
        if st is None:
            return  # a path that does not exist: not a state worth remembering
        if is_remote(path):
            remote.append((path, st))
            continue
        if directories and path in directories:
            trees.append((path, st))
            continue
        head, _, name = path.rpartition("/")
        by_dir.setdefault(head, []).append((name, st))
    folders = [(head, [n for n, _ in entries], [st[0] for _, st in entries], [st[1] for _, st in entries])
               for head, entries in by_dir.items()]
    pre = _pre(workflow, target, options) if before_load else None
    try:
        partial = {"key": _partial_key(workflow, target, options), "rules": fingerprints(workflow)}
    except TypeError:  # a value with no fingerprint: kept for the whole workflow only
        partial = None
    data = _encode(_key(workflow, target, options), jobs, remote, folders, trees, pre, partial)
    path = _path(workflow, target)
    folder = os.path.join(workflow.workdir, STATE_DIR)
    cached = not path.startswith(folder + os.sep)
    try:
        if cached:
            make_dirs(os.path.dirname(path))
        write_replacing(path, data)
        if cached:
            prune_newest(os.path.dirname(path), CACHED_SUFFIX, CACHE_BUDGET)
    except OSError:
        return
    if cached:
        return
    for old in OLD_FILES:
        try:
            os.unlink(os.path.join(folder, old))
        except OSError:
            pass


def forget(workdir: str) -> None:
    for name in (FILE, *OLD_FILES):
        try:
            os.unlink(os.path.join(workdir, STATE_DIR, name))
        except OSError:
            pass
