"""A cache of parsed Rulefiles (declarations as JSON) in the user's cache folder.

Keyed by the text, the file name, the grammar and the entry format, so an unchanged
Rulefile is not parsed again and lark is not even imported (importing lark and building the
parser cost ~40 ms, more than reading a small file's entry; a 1,000-rule file's entry is
read in ~0.1 s, where parsing it takes ~0.35 s). Only successful parses are kept; errors
are always found afresh. The folder keeps the KEEP most recently used entries: each edit of
a Rulefile makes a new one.

An entry is data only: the cache folder may be writable by others, and reading an entry
must not run their code, nor change what rulec runs: an entry is read only when it is this
user's own file that nobody else may write (``storage.read_own``), and only when its body is
the one its digest was made of (the first line). ``encode`` writes every record class of ``decls`` (and ``Span``) as
``{"@": "ClassName", field: value, ...}``, tuples as lists; ``decode`` instantiates only the
classes of that allow-list, with exactly their fields, each checked against the field's
annotation (lists become tuples again). An entry of any other shape reads as absent, and so
does a ``.pickle`` entry of an older rulec (never read; removed when the folder is pruned).
"""

from __future__ import annotations

from ..recordclass import fields, is_record
from ..digest import blake2b
import json
import operator
import os
import sys
import types
from functools import lru_cache

from ..gcpause import paused
from ..resources import data_dir
from ..source import Span
from ..storage import make_dirs, read_own, write_replacing
from . import decls as d

KEEP = 200  # entries kept; older ones are removed when a new one is written
FORMAT = "json-3"  # part of the key: entries of another format are never read
SUFFIX = ".json"
OLD_SUFFIXES = (".pickle",)  # older rulecs' entries: never read, removed by _prune


@lru_cache(maxsize=1)
def grammar_text() -> str:
    with open(os.path.join(data_dir("grammar"), "rulefile.lark"), encoding="utf-8") as f:
        return f.read()


@lru_cache(maxsize=1)
def _parser_stamp() -> bytes:
    """What the parser's code is: its modules' sizes and mtimes, so a parse cached by another
    version of the parser (a check added, say) is never taken for this one's."""
    here = os.path.dirname(os.path.abspath(__file__))
    out = []
    for name in ("parser.py", "decls.py"):
        try:
            st = os.stat(os.path.join(here, name))
            out.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            out.append(f"{name}:?")
    return "\0".join(out).encode()


def folder() -> str:
    base = os.environ.get("RULEC_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "rulec")
    return os.path.join(base, "parse")


def _file(path: str, text: str) -> str:
    h = blake2b(digest_size=16)
    h.update(FORMAT.encode() + b"\0")
    h.update(grammar_text().encode())
    h.update(b"\0" + _parser_stamp())
    h.update(b"\0" + path.encode("utf-8", "surrogateescape") + b"\0")
    h.update(text.encode("utf-8", "surrogateescape"))
    return os.path.join(folder(), h.hexdigest() + SUFFIX)


def get(path: str, text: str) -> d.Module | None:
    file = _file(path, text)
    data = _unseal(read_own(file))  # (a FIFO would block a read, /dev/zero would never end)
    if data is None:
        return None
    module = decode(data)
    if module is None:
        return None
    try:
        os.utime(file)  # recently used: kept by the pruning in put()
    except OSError:
        pass
    return module


def put(path: str, text: str, module: d.Module) -> None:
    file = _file(path, text)
    try:
        data = encode(module)
    except (TypeError, ValueError, RecursionError):  # a value the format cannot hold: not cached
        return
    _write(file, data)


# ------------------------------------------------------------------ the parser's tables
#
# Building lark's LALR tables costs ~40 ms, loading them ~15 ms. lark can cache them itself
# (``cache=True``), but it pickles them to a predictable name in the shared temporary
# folder: a file another user planted there would run their code. So they are kept here,
# in lark's own data-only serialized form (``Lark.memo_serialize``) written as JSON with two
# marks JSON lacks: {"#t": [...]} for a tuple and {"#d": [[key, value], ...]} for a dict
# whose keys are not all strings. An entry of any other shape reads as absent.

TABLES_FORMAT = "lark-tables-2"


def _tables_file() -> str:
    import lark

    h = blake2b(digest_size=16)
    h.update(f"{TABLES_FORMAT}\0{lark.__version__}\0".encode())
    h.update(grammar_text().encode())
    return os.path.join(os.path.dirname(folder()), "lark", h.hexdigest() + SUFFIX)


def _tables_hook(obj: dict):
    if len(obj) == 1:
        if "#t" in obj and type(obj["#t"]) is list:
            return tuple(obj["#t"])
        if "#d" in obj and type(obj["#d"]) is list:
            items = obj["#d"]
            if not all(type(i) is list and len(i) == 2 and type(i[0]) in (int, str) for i in items):
                raise ValueError("not a table entry")
            return {k: v for k, v in items}
    return obj


def _tables_encode(value):
    if isinstance(value, tuple):
        return {"#t": [_tables_encode(v) for v in value]}
    if isinstance(value, list):
        return [_tables_encode(v) for v in value]
    if isinstance(value, dict):
        if all(type(k) is str for k in value):
            if len(value) == 1 and ("#t" in value or "#d" in value):
                raise TypeError("a key of the marks")
            return {k: _tables_encode(v) for k, v in value.items()}
        if not all(type(k) in (int, str) for k in value):
            raise TypeError("a dict key that is neither int nor str")
        return {"#d": [[k, _tables_encode(v)] for k, v in value.items()]}
    if value is None or type(value) in (str, int, bool):
        return value
    raise TypeError(f"{type(value).__name__} in lark's tables")


def get_tables() -> dict | None:
    """lark's serialized parser ({"data": ..., "memo": ...}) as ``put_tables`` kept it."""
    data = _unseal(read_own(_tables_file()))
    if data is None:
        return None
    try:
        found = json.loads(data, object_hook=_tables_hook)
    except (ValueError, RecursionError):
        return None
    if not (isinstance(found, dict) and isinstance(found.get("data"), dict)
            and isinstance(found.get("memo"), dict) and isinstance(found["data"].get("options"), dict)):
        return None
    return found


def put_tables(parser) -> None:
    """Keep ``parser``'s tables (a lark.Lark) for ``get_tables``; nothing if they cannot be held."""
    from lark.grammar import Rule
    from lark.lexer import TerminalDef

    data, memo = parser.memo_serialize([TerminalDef, Rule])
    # the options hold the postlex object, which is not data: given again when loading
    data["options"] = {k: v for k, v in data["options"].items() if k != "postlex"}
    try:
        text = json.dumps({"data": _tables_encode(data), "memo": _tables_encode(memo)},
                          ensure_ascii=True, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        return
    file = _tables_file()
    try:
        make_dirs(os.path.dirname(file))
        write_replacing(file, _seal(text.encode("ascii")))
    except OSError:
        pass


# ------------------------------------------------------------- statement by statement
#
# An edit of one statement of a big Rulefile (a rule's command) misses the entry above, and
# parsing the whole file again costs ~0.3 s for 44 KB. So each big file also has one entry
# holding its top-level statements apart, each with its text's digest and its decls with
# lines counted from the statement's first: after an edit, the statements whose text is the
# same are taken from it, moved to their new lines, and only the others are parsed.

STATEMENTS_MIN = 8 << 10  # below this, parsing the whole file is as cheap


def statements(text: str) -> list[tuple[int, str]] | None:
    """The top-level statements of a Rulefile's text as (first line, text), a statement
    starting at each line that starts with a letter (and does not follow a line ending with a
    backslash); what comes before the first goes with it. None when the text is small or has
    carriage returns or a byte order mark (the whole file is parsed then).

    A split that is not a statement's end (a line inside brackets or a long string that starts
    with a letter) leaves the part before it unfinished: its parse fails, and so the whole file
    is parsed (``syntax.parse_file``)."""
    if len(text) < STATEMENTS_MIN or "\r" in text or text.startswith("\ufeff"):
        return None
    lines = text.split("\n")
    starts = [0]
    for i in range(1, len(lines)):
        first = lines[i][:1]
        if first.isalpha() and not lines[i - 1].endswith("\\"):
            starts.append(i)
    if len(starts) < 2:
        return None
    out = []
    for a, b in zip(starts, starts[1:] + [len(lines)]):
        chunk = "\n".join(lines[a:b])
        out.append((a + 1, chunk + "\n" if b < len(lines) else chunk))
    return out


def _statements_file(path: str) -> str:
    h = blake2b(digest_size=16)
    h.update(FORMAT.encode() + b"\0statements\0")
    h.update(grammar_text().encode())
    h.update(b"\0" + _parser_stamp())
    h.update(b"\0" + path.encode("utf-8", "surrogateescape"))
    return os.path.join(folder(), h.hexdigest() + SUFFIX)


def digest(text: str) -> str:
    return blake2b(text.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()


def get_statements(path: str) -> dict[str, str]:
    """digest of a statement's text -> its entry (a JSON text, lines counted from 1)."""
    data = _unseal(read_own(_statements_file(path)))
    if data is None:
        return {}
    try:
        found = json.loads(data)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(found, dict) or not all(type(k) is str and type(v) is str for k, v in found.items()):
        return {}
    try:
        os.utime(_statements_file(path))  # recently used: kept by the pruning
    except OSError:
        pass
    return found


def statement(entry: str, first_line: int) -> tuple | None:
    """The decls of a statement's entry, for the statement starting at ``first_line``."""
    module = decode(entry, first_line - 1)
    return module.decls if module is not None else None


def statement_entry(path: str, decls: tuple, first_line: int) -> str:
    """The entry of a statement's decls parsed at ``first_line`` (a TypeError if the format
    cannot hold them)."""
    return encode(d.Module(path, decls), 1 - first_line).decode("ascii")


def put_statements(path: str, entries: dict[str, str]) -> None:
    _write(_statements_file(path), json.dumps(entries, ensure_ascii=True, separators=(",", ":")).encode("ascii"))


def _write(file: str, data: bytes) -> None:
    try:
        make_dirs(os.path.dirname(file))
        write_replacing(file, _seal(data))  # atomic: a reader never sees half a file
        _prune(os.path.dirname(file))
    except OSError:
        pass


def _seal(data: bytes) -> bytes:
    """An entry as it is kept: the digest of its body, a newline, the body."""
    return blake2b(data, digest_size=16).hexdigest().encode("ascii") + b"\n" + data


def _unseal(data: bytes | None) -> bytes | None:
    """The body of a kept entry; None for one whose body is not the one it was kept with (a
    damaged or edited entry reads as absent: it could change a command)."""
    if data is None or len(data) < 33 or data[32:33] != b"\n":
        return None
    body = data[33:]
    if blake2b(body, digest_size=16).hexdigest().encode("ascii") != data[:32]:
        return None
    return body


# --------------------------------------------------------------------------- the format

_PLAIN = (str, int, float, bool, type(None))


def encode(module: d.Module, lines: int = 0) -> bytes:
    """A Module as JSON bytes; a TypeError for a value that is not a record of the
    allow-list, a tuple or a plain JSON value. ``lines`` is added to every span's lines."""
    return json.dumps(_encode(module, lines), ensure_ascii=True, check_circular=False,
                      separators=(",", ":")).encode("ascii")


# A tuple of 8 or more plain strings of one file (a dimension's values, a long list of inputs)
# is one JSON object, {"@": STRS, "file": ..., "rows": [[value, line, col, end_line, end_col,
# long], ...]}, made into its Str values by one call of the decoder's hook instead of two per
# value (a Str and its Span): 4,636 values decode in a third of the time.
STRS = "#strs"
_STRS_MIN = 8


def _strs(value: tuple, lines: int):
    file = value[0].span.file
    rows = []
    for s in value:
        span = s.span
        if type(s) is not d.Str or type(span) is not Span or span.file != file or type(s.value) is not str \
                or type(s.long) is not bool:
            return None
        end = span.end_line + lines if span.end_line else span.end_line
        rows.append([s.value, span.line + lines, span.col, end, span.end_col, s.long])
    return {"@": STRS, "file": file, "rows": rows}


def _encode(value, lines: int = 0):
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is tuple:
        if len(value) >= _STRS_MIN and type(value[0]) is d.Str:
            run = _strs(value, lines)
            if run is not None:
                return run
        return [_encode(v, lines) for v in value]
    names = _allowed_fields().get(kind)
    if names is None:
        raise TypeError(f"the parse cache cannot hold a {kind.__name__}")
    out = {"@": kind.__name__}
    for name in names:
        out[name] = _encode(getattr(value, name), lines)
    if lines and kind is Span:
        out["line"] += lines
        if out["end_line"]:
            out["end_line"] += lines
    return out


class _Malformed(Exception):
    pass


@paused
def decode(data: bytes | str, lines: int = 0) -> d.Module | None:
    """The Module of an entry's bytes, or None for anything else: not JSON, an unknown class,
    missing or extra fields, a value of the wrong type. ``lines`` is added to every span's
    lines (a statement kept from another place in its file)."""
    try:
        module = json.loads(data, object_hook=_hook(lines))
    except (_Malformed, ValueError, TypeError, RecursionError, MemoryError):
        return None
    return module if type(module) is d.Module else None


@lru_cache(maxsize=8)
def _hook(lines: int = 0):
    """The ``object_hook`` of ``json.loads``: each JSON object becomes an instance of a class
    of the allow-list, or the whole entry is malformed."""
    get = _specs().get
    # Spans are most of the objects (16k of 27k for 1,000 rules): built here, with the test
    # _builder would make written out (three times faster), while Span's fields are these.
    names = _allowed_fields()[Span]
    hints = _hints(Span)
    span = "Span" if names == ("file", "line", "col", "end_line", "end_col") and \
        [hints[n] for n in names] == [str, int, int, int, int] else object()  # else: never equal
    span_fields = operator.itemgetter(*names)

    def strs(obj: dict) -> tuple:
        file, rows = obj.get("file"), obj.get("rows")
        if len(obj) != 3 or type(file) is not str or type(rows) is not list:
            raise _Malformed
        out = []
        for row in rows:
            if type(row) is not list or len(row) != 6:
                raise _Malformed
            value, line, col, end_line, end_col, long = row
            if not (type(value) is str and type(line) is int and type(col) is int and type(end_line) is int
                    and type(end_col) is int and type(long) is bool):
                raise _Malformed
            if lines:
                line += lines
                if end_line:
                    end_line += lines
            out.append(Str(value, Span(file, line, col, end_line, end_col), long))
        return tuple(out)

    Str = d.Str

    def hook(obj: dict):
        name = obj.get("@")
        if name == STRS:
            return strs(obj)
        if name == span and len(obj) == 6:
            try:
                file, line, col, end_line, end_col = span_fields(obj)
            except KeyError:
                raise _Malformed from None
            if type(file) is str and type(line) is int and type(col) is int and type(end_line) is int \
                    and type(end_col) is int:
                if lines:
                    return Span(file, line + lines, col, end_line + lines if end_line else end_line, end_col)
                return Span(file, line, col, end_line, end_col)
            raise _Malformed
        build = get(name)
        if build is None:
            raise _Malformed
        return build(obj)

    return hook


def _tuples(items: list) -> tuple:
    return tuple(_tuples(v) if type(v) is list else v for v in items)


@lru_cache(maxsize=1)
def _allowed() -> tuple:
    """The allow-list: every record class defined in ``decls``, and ``Span``."""
    return (Span,) + tuple(c for c in vars(d).values()
                           if isinstance(c, type) and is_record(c) and c.__module__ == d.__name__)


@lru_cache(maxsize=1)
def _allowed_fields() -> dict:
    return {cls: tuple(f.name for f in fields(cls)) for cls in _allowed()}


@lru_cache(maxsize=1)
def _specs() -> dict:
    """ClassName -> a function that makes the class's instance of a decoded JSON object (or
    raises _Malformed), for the classes of the allow-list only."""
    specs = {}
    for cls, names in _allowed_fields().items():
        hints = _hints(cls)
        specs[cls.__name__] = _builder(cls, names, [hints[n] for n in names])
    return specs


class _Any:
    """The "types" of a field checked by a predicate of its own: contains every type."""

    def __contains__(self, kind) -> bool:
        return True


def _builder(cls, names: tuple[str, ...], hints: list):
    """The function that makes a ``cls`` of a decoded JSON object. Each field is one of: a
    value of some exact types (a str, an int, a Span, an Expr...: one C-level test for all
    of them), a tuple of such values (a JSON list, made a tuple again), or anything else the
    annotation allows, tested by a predicate of its own (nested tuples)."""
    size = len(names) + 1  # and "@"
    fields = operator.itemgetter(*names) if len(names) > 1 else (lambda obj, _n=names[0]: (obj[_n],))
    kinds = []  # per field: the types its value may have once tuples are rebuilt
    seqs = []  # (index, the types of its items): a tuple of values of exact types
    others = []  # (index, predicate)
    for i, hint in enumerate(hints):
        plain = _types(hint)
        args = _args(hint)
        item = _types(args[0]) if _origin(hint) is tuple and len(args) == 2 and args[1] is Ellipsis else None
        if plain is not None:
            kinds.append(plain)
        elif item is not None:
            kinds.append(frozenset([tuple]))
            seqs.append((i, item))
        else:
            kinds.append(_Any())
            others.append((i, _check(hint)))
    kinds = tuple(kinds)
    contains = operator.contains

    def build(obj: dict):
        if len(obj) != size:
            raise _Malformed
        try:
            values = fields(obj)
        except KeyError:
            raise _Malformed from None
        if seqs or others:
            values = list(values)
            for i, allowed in seqs:
                value = values[i]
                kind = type(value)
                if kind is not list and kind is not tuple or not allowed.issuperset(map(type, value)):
                    raise _Malformed  # a tuple: a run of strings (STRS), made by the hook
                if kind is list:
                    values[i] = tuple(value)
            for i, check in others:
                value = values[i]
                if type(value) is list:
                    value = values[i] = _tuples(value)
                if not check(value):
                    raise _Malformed
        if not all(map(contains, kinds, map(type, values))):
            raise _Malformed
        return cls(*values)

    return build


def _hints(cls) -> dict:
    """The annotations of a record's fields, evaluated in its module's namespace (they are
    strings there: ``from __future__ import annotations``): what ``get_type_hints`` gives
    for these classes, without importing ``typing``; each distinct text is compiled once."""
    hints = {}
    for klass in reversed(cls.__mro__):
        for name, text in klass.__dict__.get("__annotations__", {}).items():
            hints[name] = _evaluated(text, klass.__module__) if isinstance(text, str) else text
    return hints


@lru_cache(maxsize=None)
def _evaluated(text: str, module: str):
    return eval(text, vars(sys.modules[module]))  # an annotation in rulec's own source


def _origin(hint):
    """``tuple`` for ``tuple[...]``, ``types.UnionType`` for ``A | B``, else None."""
    if type(hint) is types.UnionType:
        return types.UnionType
    return hint.__origin__ if type(hint) is types.GenericAlias else None


def _args(hint) -> tuple:
    return hint.__args__ if type(hint) in (types.GenericAlias, types.UnionType) else ()


def _named(hint):
    """A name left as text in an annotation (``tuple["Expr", ...]``): the class or alias of
    ``decls`` of that name, looked up, never evaluated."""
    if isinstance(hint, str):
        found = vars(d).get(hint)
        if found is None:
            raise TypeError(f"the parse cache cannot check a field of type {hint!r}")
        return found
    return hint


def _check(hint):
    """A predicate for a value decoded for a field annotated ``hint`` (tuples rebuilt)."""
    hint = _named(hint)
    plain = _types(hint)
    if plain is not None:
        if len(plain) == 1:
            (only,) = plain
            return lambda v: type(v) is only
        return lambda v: type(v) in plain
    origin, args = _origin(hint), _args(hint)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            item = _check(args[0])
            return lambda v: type(v) is tuple and all(map(item, v))
        items = tuple(_check(a) for a in args)
        return lambda v: type(v) is tuple and len(v) == len(items) and all(c(x) for c, x in zip(items, v))
    if origin is types.UnionType:
        options = tuple(_check(a) for a in args)
        return lambda v: any(c(v) for c in options)
    raise TypeError(f"the parse cache cannot check a field of type {hint!r}")


def _types(hint) -> frozenset | None:
    """The exact types a value of ``hint`` may have, when that is all there is to check."""
    hint = _named(hint)
    if hint is type(None) or hint is None:
        return frozenset([type(None)])
    if isinstance(hint, type) and type(hint) is not types.GenericAlias:
        return frozenset([hint])  # str, int, float, bool, or a class of the allow-list
    if type(hint) is types.UnionType:
        parts = [_types(a) for a in hint.__args__]
        if all(p is not None for p in parts):
            return frozenset().union(*parts)
    return None


def _prune(folder: str) -> None:
    """Keep the KEEP most recently used entries."""
    entries = []
    for entry in os.scandir(folder):
        if entry.name.endswith(OLD_SUFFIXES):
            try:
                os.unlink(entry.path)
            except OSError:
                pass
        elif entry.name.endswith(SUFFIX):
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
