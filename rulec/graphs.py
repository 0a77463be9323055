"""A cache of resolved job graphs in the user's cache folder, next to the parsed Rulefiles.

Resolving is a pure function of the workflow's *structure*: the rules' path patterns (outputs,
logs, benchmark, inputs with their ``expand()`` combinations and kinds), their wildcards and
constraints, the dimensions' values and the fields the patterns use, ``ruleorder``, the default
target, the working folder and the targets asked for. A rule's command, params, resources,
label, env and config values play no part in it. So the key is a hash of exactly that
structure (no spans: a line added above a rule changes nothing), and an edit of a command, or a
run, or a touched input, finds the graph again instead of resolving 51k jobs anew (0.29 s ->
0.07 s at 51k jobs here). The one case where resolving looks at the disk (a cycle or an
endless chain cut at an existing file, as make does) is never cached.

An entry is data only, as the parse cache's: the folder may be writable by others, and reading
an entry must not run their code. A line of JSON (the key, the counts, the byte order), then
the strings (paths and values, UTF-8, NUL-separated) and the columns as raw int32 arrays (the
header also holds the rule-level edges, ``JobGraph.rule_edges``): the
rule per job, then per ragged column (values, outputs, inputs, deps) its offsets and its
flat items, the declared outputs' counts, the order, the targets and the sources. Every length
is checked against the file's size, the body against the header's blake2b digest (damage), and
every index against its range; an entry of any other shape reads as absent. Read lazily (a
dry run after an edit), the ragged columns' items are checked row by row as rows are made:
an entry crafted to pass the digest with an index out of range is then an error naming the
folder, not a traceback. The folder keeps the newest entries up to BUDGET bytes.
"""

from __future__ import annotations

from .digest import blake2b
import json
import operator
import os
import sys
from array import array
from itertools import compress, islice

from . import ir
from .gcpause import paused
from .storage import make_dirs, prune_newest, read_own, write_replacing

FORMAT = 3
MAGIC = b"rulec-graph\n"
SUFFIX = ".graph"
BUDGET = 512 << 20  # bytes of entries kept; the oldest go first
LARGEST = 128 << 20  # an entry larger than this is not written
TYPE = "i"  # int32 indices: 2**31 strings or jobs is beyond any graph rulec can plan
_FLAT = (2, 4, 6, 8)  # the columns of the ragged columns' items (values, outputs, inputs, deps)

_CODE = ("dag.py", "pattern.py", "ir.py", "graphs.py")


def folder() -> str:
    from .syntax.cache import folder as parse_folder

    return os.path.join(os.path.dirname(parse_folder()), "graph")


def _code_stamp() -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    out = []
    for name in _CODE:
        try:
            st = os.stat(os.path.join(here, name))
            out.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            out.append(f"{name}:?")
    return ",".join(out)


def key(workflow: ir.Workflow, targets) -> str:
    """The hash of everything resolving reads (see the module's docstring)."""
    from . import __version__

    h = blake2b(digest_size=20)
    used: set[tuple[str, str]] = set()
    rules = []
    for r in workflow.rules:
        products = [(s.name, s.pattern.text, sorted(s.flags)) for s in r.products]
        inputs = [(s.name, s.pattern.text, s.kind, s.expanded, s.combos, sorted(s.flags)) for s in r.inputs]
        rules.append((r.name, r.index, r.wildcards, r.wildcard_regex, len(r.outputs), len(r.logs),
                      r.benchmark is not None, products, inputs))
        for spec in (*r.products, *r.inputs):
            for slot in spec.pattern.slots:
                if slot.field is not None:
                    used.add((slot.name, slot.field))
    h.update(repr((FORMAT, __version__, _code_stamp(), sys.byteorder, workflow.workdir, tuple(targets),
                   workflow.default_target, sorted(workflow.precedence), rules)).encode("utf-8", "surrogateescape"))
    for name, dim in workflow.dimensions.items():
        h.update(repr((name, dim.fields, sorted(dim.list_fields))).encode("utf-8", "surrogateescape"))
        h.update(b"\0".join(v.encode("utf-8", "surrogateescape") for v in dim.values) + b"\n")
    for name, f in sorted(used):
        dim = workflow.dimensions.get(name)
        if dim is not None and f in dim.fields:
            h.update(repr((name, f, [dim.table[v][f] for v in dim.values])).encode("utf-8", "surrogateescape"))
    return h.hexdigest()


@paused
def resolve(workflow: ir.Workflow, targets=(), lazy: bool = False):
    """``dag.resolve(workflow, targets)``, through the cache. ``lazy``: a graph read from the
    cache makes each job's values, outputs, inputs and deps only when they are asked for
    (``Rows``): for a caller that looks at a few jobs (a dry run after an edit of a rule)."""
    from . import dag

    try:
        k = key(workflow, targets)
    except Exception:  # a workflow this cannot describe is resolved as it is
        return dag.resolve(workflow, targets)
    path = os.path.join(folder(), k + SUFFIX)
    plans = dag.compile_rules(workflow)
    graph = _load(path, k, workflow, plans, lazy)
    if graph is not None:
        return graph
    looked = []

    def exists(p: str) -> bool:
        looked.append(p)
        return os.path.exists(os.path.join(workflow.workdir, p))

    graph = dag.resolve(workflow, targets, exists=exists, plans=plans)
    if not looked:  # the graph depends on no file's existence: the same next time
        _store(path, k, graph)
    return graph


# ---- the entry's format


def _ragged(column, index) -> tuple[array, array]:
    offsets, flat = array(TYPE, [0]), array(TYPE)
    at = 0
    for items in column:
        flat.extend([index(x) for x in items] if index is not None else items)
        at += len(items)
        offsets.append(at)
    return offsets, flat


def _encode(k: str, graph) -> bytes | None:
    table: dict[str, int] = {}
    strings: list[str] = []

    def index(s: str) -> int:
        i = table.get(s)
        if i is None:
            if "\0" in s:
                raise ValueError("a NUL in a name")
            i = table[s] = len(strings)
            strings.append(s)
        return i

    n = len(graph)
    rule = array(TYPE, graph.rule)
    v_off, v_flat = _ragged(graph.values, index)
    o_off, o_flat = _ragged(graph.outputs, index)
    i_off, i_flat = _ragged(graph.inputs, index)
    d_off, d_flat = _ragged(graph.deps, None)
    n_out = array(TYPE, graph.n_outputs)
    order = array(TYPE, graph.order)
    targets = array(TYPE, graph.targets)
    sources = array(TYPE)
    for p, job in graph.sources.items():
        sources.append(index(p))
        sources.append(job)
    blob = "\0".join(strings).encode("utf-8", "surrogateescape")
    columns = [rule, v_off, v_flat, o_off, o_flat, i_off, i_flat, d_off, d_flat, n_out, order, targets, sources]
    body = b"".join([blob] + [c.tobytes() for c in columns])
    head = {"format": FORMAT, "key": k, "jobs": n, "strings": len(strings), "bytes": len(blob),
            "byteorder": sys.byteorder, "columns": [len(c) for c in columns],
            "rule_edges": sorted(graph.rule_edges()), "digest": blake2b(body, digest_size=16).hexdigest()}
    return MAGIC + json.dumps(head).encode() + b"\n" + body


def _store(path: str, k: str, graph) -> None:
    try:
        data = _encode(k, graph)
    except (ValueError, OverflowError):
        return
    if data is None or len(data) > LARGEST:
        return
    try:
        where = os.path.dirname(path)
        make_dirs(where)
        write_replacing(path, data)
        prune_newest(where, SUFFIX, BUDGET)
    except OSError:
        return


def _read_used(path: str) -> bytes | None:
    data = read_own(path)
    if data is not None:
        try:
            os.utime(path)  # used: the newest entries are the ones kept
        except OSError:
            pass
    return data


def _load(path: str, k: str, workflow: ir.Workflow, plans, lazy: bool = False):
    data = _read_used(path)
    if data is None:
        return None
    try:
        return _decode(data, k, workflow, plans, lazy)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, UnicodeDecodeError):
        return None


def _damaged():
    from .errors import RulecError

    return RulecError(f"a cached job graph in {folder()} names a path or a job it does not hold: it was not "
                      "written by rulec", hint=f"remove {folder()}; rulec resolves the graph again")


class Rows:
    """A ragged column of an entry, read lazily: row ``j`` (a tuple) is made when asked for.
    Iterating makes them all. Making all 4 columns of 51k jobs costs ~0.1 s, which a dry
    run after an edit of one rule would spend on jobs it never looks at."""

    __slots__ = ("offsets", "flat", "strings", "bound")

    def __init__(self, offsets: list[int], flat, strings: list[str] | None = None, bound: int | None = None):
        self.offsets, self.flat, self.strings = offsets, flat, strings
        self.bound = len(strings) if strings is not None else bound  # every item is below it

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, j):
        if isinstance(j, slice):
            return [self[i] for i in range(*j.indices(len(self)))]
        n = len(self.offsets) - 1
        if j < 0:
            j += n
        if not 0 <= j < n:
            raise IndexError("row index out of range")
        items = self.flat[self.offsets[j]:self.offsets[j + 1]]
        if items and not 0 <= min(items) <= max(items) < self.bound:
            raise _damaged()
        return tuple(map(self.strings.__getitem__, items)) if self.strings is not None else tuple(items)

    def __iter__(self):
        off, flat = self.offsets, self.flat
        if flat and not 0 <= min(flat) <= max(flat) < self.bound:
            raise _damaged()
        items = list(map(self.strings.__getitem__, flat)) if self.strings is not None else list(flat)
        return (tuple(items[a:b]) for a, b in zip(off, islice(off, 1, None)))

    def lengths(self):
        return map(operator.sub, islice(self.offsets, 1, None), self.offsets)


def _int(x) -> bool:
    return type(x) is int and x >= 0


def _rows(off: list[int], items: list) -> list[tuple]:
    """``items`` cut into tuples at ``off``: row ``j`` is ``items[off[j]:off[j + 1]]``.

    Jobs of one rule are mostly side by side and their rows of one width, so each run of
    rows of one width is made by ``zip`` at C speed, not by a slice per row (three to ten
    times faster); rows whose widths change at almost every job are sliced one by one."""
    n = len(off) - 1
    if n <= 0:
        return []
    widths = list(map(operator.sub, islice(off, 1, None), off))
    cuts = [0, *compress(range(1, n), map(operator.ne, islice(widths, 1, None), widths)), n]
    if len(cuts) > n // 8 + 2:
        return [tuple(items[a:b]) for a, b in zip(off, islice(off, 1, None))]
    out: list[tuple] = []
    for a, b in zip(cuts, islice(cuts, 1, None)):
        width = widths[a]
        if width == 0:
            out += [()] * (b - a)
        else:
            chunk = items[off[a]:off[b]]
            out += zip(chunk) if width == 1 else zip(*[iter(chunk)] * width)
    return out


def _decode(data: bytes, k: str, workflow: ir.Workflow, plans, lazy: bool = False):
    from .dag import JobGraph

    if not data.startswith(MAGIC):
        return None
    end = data.index(b"\n", len(MAGIC))
    head = json.loads(data[len(MAGIC):end])
    if not isinstance(head, dict) or head.get("format") != FORMAT or head.get("key") != k:
        return None
    if head.get("byteorder") != sys.byteorder:
        return None
    n, count, size, lengths = head.get("jobs"), head.get("strings"), head.get("bytes"), head.get("columns")
    if not (_int(n) and _int(count) and _int(size) and isinstance(lengths, list) and len(lengths) == 13
            and all(_int(x) for x in lengths)):
        return None
    width = array(TYPE).itemsize
    at = end + 1
    if at + size + width * sum(lengths) != len(data):
        return None
    view = memoryview(data)
    if blake2b(view[at:], digest_size=16).hexdigest() != head.get("digest"):
        return None  # damaged
    strings = str(view[at:at + size], "utf-8", "surrogateescape").split("\0") if count else []
    if len(strings) != count:
        return None
    at += size
    cols = []
    for length in lengths:
        col = array(TYPE)
        col.frombytes(view[at:at + width * length])
        at += width * length
        cols.append(col)
    # lists: min(), max() and slices at C speed. Read lazily, the flat items stay arrays and
    # each row's items are checked when it is made (Rows): most rows are never made.
    rule, v_off, v_flat, o_off, o_flat, i_off, i_flat, d_off, d_flat, n_out, order, targets, sources = (
        c if lazy and i in _FLAT else c.tolist() for i, c in enumerate(cols))
    n_rules = len(workflow.rules)
    if len(rule) != n or len(n_out) != n or (n and not 0 <= min(rule) <= max(rule) < n_rules):
        return None
    for off, flat, bound in ((v_off, v_flat, count), (o_off, o_flat, count), (i_off, i_flat, count), (d_off, d_flat, n)):
        if len(off) != n + 1 or off[0] != 0 or off[-1] != len(flat) or off != sorted(off):
            return None
        if flat and not lazy and not 0 <= min(flat) <= max(flat) < bound:
            return None
    for col in (order, targets):
        if col and not 0 <= min(col) <= max(col) < n:
            return None
    if len(order) != n or len(sources) % 2:
        return None
    if n and min(map(operator.sub, map(operator.sub, islice(o_off, 1, None), o_off), n_out)) < 0:
        return None  # more declared outputs than outputs
    src_paths, src_jobs = sources[0::2], sources[1::2]
    if src_paths and not (0 <= min(src_paths) and max(src_paths) < count and 0 <= min(src_jobs) and max(src_jobs) < n):
        return None
    get = strings.__getitem__

    rows = _rows
    edges = head.get("rule_edges")
    if not (isinstance(edges, list) and all(isinstance(e, list) and len(e) == 2 and all(
            type(x) is int and 0 <= x < n_rules for x in e) for e in edges)):
        return None
    graph = JobGraph(workflow, plans)
    graph.rule = rule
    graph._rule_edges = {(a, b) for a, b in edges}
    if lazy:
        graph.values, graph.outputs = Rows(v_off, v_flat, strings), Rows(o_off, o_flat, strings)
        graph.inputs, graph.deps = Rows(i_off, i_flat, strings), Rows(d_off, d_flat, bound=n)
    else:
        graph.values = rows(v_off, list(map(get, v_flat)))
        graph.outputs = rows(o_off, list(map(get, o_flat)))
        graph.inputs = rows(i_off, list(map(get, i_flat)))
        graph.deps = rows(d_off, d_flat)
    graph.n_outputs = n_out
    graph.order = order
    graph.targets = targets
    graph.sources = dict(zip(map(get, src_paths), src_jobs))
    graph._producer = None  # made from the outputs when asked for
    graph._key = None
    return graph
