"""Path patterns such as ``"bld/{dataset}_{model}.json"``: compile, match, format. Pure.

A pattern is literal text with *slots*:

- ``{name}``         a wildcard; a dimension's name matches only that dimension's values,
                     any other name matches ``[^/]+``;
- ``{name,REGEX}``   a wildcard constrained by a regular expression;
- ``{name.field}``   a field of a dimension value (not allowed in outputs), or a config
                     key (``{config.db.host}``, replaced by its value when a Rulefile is read);
- ``{{`` and ``}}``  literal braces.
"""

from __future__ import annotations

import bisect
import re
import warnings
from collections import deque
from functools import lru_cache
from .recordclass import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Iterable, Mapping

FREE = r"[^/]+"
# The regex of a dimension's wildcard, as a rule holds it (``ir.Rule.wildcard_regex``): the
# dimension's values, made into a trie regex only when a path is really matched (``Regexes``)
# (4,636 values take 20 ms; a plan from the cached job graph matches none).
DIMENSION = "\0dimension"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# a field: a column name may hold '-'; a config key is dotted ({config.db.host})
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*\Z")


class PatternError(ValueError):
    """A malformed pattern; ``offset``/``length`` locate the problem inside the text."""

    def __init__(self, message: str, offset: int, length: int = 1):
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.length = length


@record(frozen=True, slots=True)
class Slot:
    name: str
    field: str | None
    regex: str | None
    offset: int  # where ``{`` is in the pattern text
    length: int  # up to and including ``}``


@record(frozen=True, slots=True)
class Pattern:
    text: str
    parts: tuple  # str | Slot
    wildcards: tuple[str, ...]  # distinct wildcard names, in order of first appearance
    # Derived once (the job graph asks for them per candidate path): not part of the value.
    slots: tuple[Slot, ...] = field(init=False, repr=False, compare=False)
    constant: bool = field(init=False, repr=False, compare=False)
    _prefix: str = field(init=False, repr=False, compare=False)
    _suffix: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = self.parts
        slots = tuple(p for p in parts if isinstance(p, Slot))
        first = parts[0] if parts and isinstance(parts[0], str) else ""
        last = parts[-1] if parts and isinstance(parts[-1], str) else ""
        setattr_ = object.__setattr__
        setattr_(self, "slots", slots)
        setattr_(self, "constant", not slots)
        setattr_(self, "_prefix", first)
        setattr_(self, "_suffix", first if not slots else last)

    def prefix(self) -> str:
        """The literal text before the first slot."""
        return self._prefix

    def suffix(self) -> str:
        """The literal text after the last slot (the whole text if there is no slot)."""
        return self._suffix

    def __str__(self) -> str:
        return self.text


def compile(text: str) -> Pattern:
    """Split ``text`` into literal parts and slots, or raise ``PatternError``."""
    parts: list = []
    wildcards: list[str] = []
    buf: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "{":
            if i + 1 < n and text[i + 1] == "{":
                buf.append("{")
                i += 2
                continue
            end = _closing_brace(text, i)
            body = text[i + 1 : end]
            slot = _slot(body, i, end - i + 1)
            if buf:
                parts.append("".join(buf))
                buf = []
            parts.append(slot)
            if slot.field is None and slot.name not in wildcards:
                wildcards.append(slot.name)
            i = end + 1
        elif ch == "}":
            if i + 1 < n and text[i + 1] == "}":
                buf.append("}")
                i += 2
                continue
            raise PatternError("unmatched '}' (write '}}' for a literal brace)", i)
        else:
            buf.append(ch)
            i += 1
    if buf:
        parts.append("".join(buf))
    return Pattern(text, tuple(parts), tuple(wildcards))


def _closing_brace(text: str, start: int) -> int:
    depth = 0
    i = start
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise PatternError("unclosed '{' in pattern (write '{{' for a literal brace)", start)


def _slot(body: str, offset: int, length: int) -> Slot:
    name, sep, regex = body.partition(",")
    name = name.strip()
    field = None
    if "." in name:
        name, _, field = name.partition(".")
    if not _NAME.match(name or "-") or (field is not None and not _FIELD.match(field or "-")):
        ascii = "" if (name + (field or "")).isascii() else " (names are ASCII letters, digits and _)"
        raise PatternError(f"bad wildcard {{{body}}}: expected {{name}}, {{name,regex}} or {{name.field}}{ascii}", offset, length)
    if sep:
        if field is not None:
            raise PatternError(f"a field reference cannot carry a regex: {{{body}}}", offset, length)
        regex = regex.strip()
        if not regex:
            raise PatternError(f"empty regex in {{{body}}}", offset, length)
        why = _regex_problem(name, regex)
        if why is not None:
            raise PatternError(f"bad regex in {{{body}}}: {why}", offset, length)
        return Slot(name, None, regex, offset, length)
    return Slot(name, field, None, offset, length)


def _regex_problem(name: str, regex: str) -> str | None:
    """Why ``regex`` cannot constrain wildcard ``name``, or None. A wildcard's regex is put
    into the whole path's regex as the group ``(?P<name>REGEX)`` (``regex_for``), so it
    must be a valid regex that also works there: no named group of its own (the wildcard is
    the group, and two slots could name the same one), no back-reference (``\\1``,
    ``(?P=x)``, ``(?(1)...)``: group numbers are those of the whole path's regex), and no
    flags for the whole pattern (``(?i)``: they must start the whole regex; ``(?i:...)``
    sets them for a part)."""
    with warnings.catch_warnings():  # "possible nested set" and the like: not ours to say
        warnings.simplefilter("ignore")
        try:
            compiled = re.compile(regex)
        except re.error as exc:
            return str(exc)
        except (OverflowError, RecursionError, MemoryError) as exc:  # {n,a{99999999999}}, deep nesting
            return str(exc) or "too large or nested too deeply"
        if compiled.groupindex:
            group = next(iter(compiled.groupindex))
            return (f"a wildcard's regex cannot name a group ((?P<{group}>...)): the wildcard is the group; "
                    "write (...) or (?:...)")
        if _refers_back(regex):
            return ("a wildcard's regex cannot refer back to a group (\\1, (?P=name), (?(1)...)): its groups are "
                    "numbered in the regex of the whole path")
        warnings.simplefilter("error", DeprecationWarning)  # Python 3.10: "Flags not at the start"
        try:
            re.compile(f"(?:{regex})")
        except (re.error, DeprecationWarning):
            return ("a wildcard's regex cannot set flags for the whole pattern, such as (?i) at its start; "
                    "write (?i:...) around the part they are for")
        try:
            re.compile(f"(?P<{name}>{regex})")
        except re.error as exc:  # pragma: no cover - what the checks above leave is valid in a group
            return str(exc)
    return None


def _refers_back(regex: str) -> bool:
    """Whether ``regex`` (valid) holds a back-reference or a conditional on a group."""
    try:
        from re import _parser as sre  # Python 3.11+
    except ImportError:  # pragma: no cover - Python 3.10
        import sre_parse as sre  # type: ignore[no-redef]
    try:
        tree = sre.parse(regex)
    except Exception:  # pragma: no cover - compiled above; an internal API that moved
        return False
    refs = {getattr(sre, "GROUPREF", None), getattr(sre, "GROUPREF_EXISTS", None)} - {None}
    stack: list = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, sre.SubPattern):
            for op, av in node.data:
                if op in refs:
                    return True
                stack.append(av)
        elif isinstance(node, (list, tuple)):
            stack.extend(node)
    return False


def escapes(value: str) -> bool:
    """Whether a wildcard value, put into a path, can lead out of the folder the path is
    relative to: it has ``..`` as a path segment, or starts with ``/``."""
    if value[:1] == "/":
        return True
    return ".." in value and ".." in value.split("/")


# --------------------------------------------------------------------------- formatting


def formatter(pattern: Pattern, order: tuple[str, ...], fields: Mapping[tuple[str, str], Mapping[str, str]] | None = None) -> Callable[[tuple], str]:
    """A fast function ``values -> path``; ``values`` follow ``order`` (wildcard names).

    ``fields[(dim, field)]`` maps a dimension value to that field's text, for ``{dim.field}``.
    """
    if pattern.constant:
        text = pattern.parts[0] if pattern.parts else ""
        return lambda values: text
    fmt: list[str] = []
    extra: list[tuple[int, Mapping[str, str]]] = []
    index = {name: i for i, name in enumerate(order)}
    for part in pattern.parts:
        if isinstance(part, str):
            fmt.append(part.replace("{", "{{").replace("}", "}}"))
        elif part.field is None:
            fmt.append("{%d}" % index[part.name])
        else:
            table = (fields or {})[(part.name, part.field)]
            extra.append((index[part.name], table))
            fmt.append("{%d}" % (len(order) + len(extra) - 1))
    template = "".join(fmt).format
    if not extra:
        return lambda values: template(*values)
    return lambda values: template(*values, *(table[values[i]] for i, table in extra))


# --------------------------------------------------------------------------- matching


def trie_regex(values: Iterable[str]) -> str:
    """A regex matching exactly ``values``, shaped as a trie so matching costs O(length)."""
    trie: dict = {}
    for value in values:
        node = trie
        for ch in value:
            node = node.setdefault(ch, {})
        node[""] = {}
    return _trie_to_regex(trie) if trie else "(?!)"


def _trie_to_regex(node: dict) -> str:
    alts = []
    optional = False
    for ch in sorted(node):
        if ch == "":
            optional = True
            continue
        alts.append(re.escape(ch) + _trie_to_regex(node[ch]))
    if not alts:
        return ""
    if len(alts) == 1 and not optional:
        return alts[0]
    body = "(?:" + "|".join(alts) + ")"
    return body + "?" if optional else body


@lru_cache(maxsize=64)
def dimension_regex(values: tuple[str, ...]) -> str:
    return trie_regex(values)


class Regexes(dict):
    """A rule's wildcard -> regex (``wildcard_regex``), a dimension's trie made when first read."""

    __slots__ = ("_dimensions",)

    def __init__(self, pairs: Iterable[tuple[str, str]], dimensions: Mapping):
        super().__init__(pairs)
        self._dimensions = dimensions

    def __getitem__(self, name: str) -> str:
        regex = dict.__getitem__(self, name)
        if regex == DIMENSION:
            regex = dimension_regex(self._dimensions[name].values)
            self[name] = regex
        return regex

    def get(self, name: str, default=None):
        return self[name] if name in self else default

    def items(self):
        return [(name, self[name]) for name in self]

    def values(self):
        return [self[name] for name in self]


def regex_for(pattern: Pattern, wildcard_regex: Mapping[str, str]) -> str:
    """The full regex for ``pattern``; ``wildcard_regex`` gives each wildcard's regex."""
    out = []
    seen: set[str] = set()
    for part in pattern.parts:
        if isinstance(part, str):
            out.append(re.escape(part))
        elif part.name in seen:
            out.append(f"(?P={part.name})")
        else:
            seen.add(part.name)
            regex = part.regex or wildcard_regex.get(part.name, FREE)
            out.append(f"(?P<{part.name}>{regex})")
    return "".join(out)


class Matcher:
    """Matches paths against one output pattern, giving wildcard values in ``order``."""

    __slots__ = ("pattern", "order", "_match", "_groups", "_regex")

    def __init__(self, pattern: Pattern, wildcard_regex: Mapping[str, str], order: tuple[str, ...] | None = None):
        self.pattern = pattern
        self.order = order or pattern.wildcards
        self._regex = wildcard_regex
        self._match = None  # compiled on first use: big dimensions make big regexes
        self._groups = self.order

    def match(self, path: str) -> tuple[str, ...] | None:
        if self._match is None:
            self._match = re.compile(regex_for(self.pattern, self._regex), re.DOTALL).fullmatch
        m = self._match(path)
        if m is None:
            return None
        return m.group(*self._groups) if len(self._groups) > 1 else ((m.group(self._groups[0]),) if self._groups else ())


# --------------------------------------------------------------------------- affix index


class AffixIndex:
    """Patterns by their literal prefix and suffix, to find the few that can name a path
    (``matching``) or share a path with another pattern (``related``) without comparing
    every pair: a thousand outputs under "bld/" cost a few lookups each, not a thousand.

    ``keys[i]`` is ``(pattern.prefix(), pattern.suffix())``; answers are sorted indexes.
    """

    __slots__ = ("keys", "_prefixes", "_groups")

    def __init__(self, keys: Iterable[tuple[str, str]]):
        self.keys = list(keys)
        members: dict[str, list[int]] = {}
        for i, (pre, _) in enumerate(self.keys):
            members.setdefault(pre, []).append(i)
        self._prefixes = sorted(members)
        self._groups: dict[str, tuple[list[str], list[int], dict[str, list[int]], tuple[int, ...]]] = {}
        for pre, ids in members.items():
            by_rev = sorted((self.keys[i][1][::-1], i) for i in ids)
            exact: dict[str, list[int]] = {}
            for i in ids:
                exact.setdefault(self.keys[i][1], []).append(i)
            lengths = tuple(sorted({len(suf) for suf in exact}))
            self._groups[pre] = ([r for r, _ in by_rev], [i for _, i in by_rev], exact, lengths)

    def related(self, prefix: str, suffix: str) -> list[int]:
        """Entries whose prefix starts ours or is started by ours, and likewise for suffixes
        (ends): the necessary condition for two patterns to name one path."""
        prefixes = self._prefixes
        lo = bisect.bisect_left(prefixes, prefix)
        hi = bisect.bisect_left(prefixes, prefix + "\U0010ffff", lo=lo)
        groups = prefixes[lo:hi]  # prefixes that start with ours (ours included)
        groups += [prefix[:k] for k in range(len(prefix)) if prefix[:k] in self._groups]  # shorter ones
        rev = suffix[::-1]
        found: set[int] = set()
        for pre in groups:
            revs, ids, exact, _ = self._groups[pre]
            a = bisect.bisect_left(revs, rev)
            b = bisect.bisect_left(revs, rev + "\U0010ffff", lo=a)
            found.update(ids[a:b])  # suffixes that end with ours (ours included)
            for k in range(1, len(suffix) + 1):  # suffixes that ours ends with
                found.update(exact.get(suffix[k:], ()))
        return sorted(found)

    def matching(self, path: str) -> list[int]:
        """Entries whose prefix starts ``path`` and whose suffix ends it."""
        found: list[int] = []
        n = len(path)
        groups = self._groups
        for k in range(n + 1):
            group = groups.get(path[:k])
            if group is None:
                continue
            exact, lengths = group[2], group[3]
            for length in lengths:
                if length > n:
                    break
                found.extend(exact.get(path[n - length :], ()))
        found.sort()
        return found


# --------------------------------------------------------------------------- overlap


_ANY = None  # an NFA edge that takes any character but '/'


def _nfa(pattern: Pattern, choices: Mapping[str, tuple[str, ...] | None]):
    """A small NFA for ``pattern``: edges[state] = [(char or _ANY, next)], final state last.

    A wildcard with a finite set of values becomes branches of literal characters; any other
    wildcard (free or regex-constrained) becomes "one or more of any character but '/'",
    an over-approximation that the caller checks against the real regexes.
    """
    edges: list[list] = [[]]

    def new() -> int:
        edges.append([])
        return len(edges) - 1

    cur = 0
    for part in pattern.parts:
        if isinstance(part, str):
            for ch in part:
                nxt = new()
                edges[cur].append((ch, nxt))
                cur = nxt
            continue
        values = choices.get(part.name) if part.regex is None else None
        if values is not None:
            end = new()
            for value in values:
                state = cur
                for k, ch in enumerate(value):
                    nxt = end if k == len(value) - 1 else new()
                    edges[state].append((ch, nxt))
                    state = nxt
            cur = end
        else:
            loop = new()
            edges[cur].append((_ANY, loop))
            edges[loop].append((_ANY, loop))
            cur = loop
    return edges, cur


def overlap(a: Pattern, b: Pattern, choices: Mapping[str, tuple[str, ...] | None], verify: Callable[[str], bool]) -> str | None:
    """A shortest path that both patterns can produce, or None.

    ``choices`` gives the finite value set of dimension wildcards (None for free ones);
    ``verify`` checks a candidate against both real regexes (constraints may be narrower
    than the automaton's approximation).
    """
    ea, fa = _nfa(a, choices)
    eb, fb = _nfa(b, choices)
    start = (0, 0)
    parent: dict = {start: None}
    queue = deque([start])
    fillers = "x0aX_1"
    found = []
    while queue:
        state = queue.popleft()
        sa, sb = state
        if sa == fa and sb == fb:
            found.append(state)
            break
        for ca, na in ea[sa]:
            for cb, nb in eb[sb]:
                if ca is _ANY and cb is _ANY:
                    ch = "\0"
                elif ca is _ANY:
                    if cb == "/":
                        continue
                    ch = cb
                elif cb is _ANY:
                    if ca == "/":
                        continue
                    ch = ca
                elif ca == cb:
                    ch = ca
                else:
                    continue
                nxt = (na, nb)
                if nxt not in parent:
                    parent[nxt] = (state, ch)
                    queue.append(nxt)
    if not found:
        return None
    chars = []
    state = found[0]
    while parent[state] is not None:
        state, ch = parent[state]
        chars.append(ch)
    witness = "".join(reversed(chars))
    # Constrained or repeated wildcards may need other characters: try the usual ones, then
    # every character the two patterns (and their dimension values) are written with.
    seen = set(fillers)
    extra = sorted({ch for p in (a, b) for part in p.parts if isinstance(part, str) for ch in part} - seen - {"/"})
    extra += sorted({ch for p in (a, b) for w in p.wildcards for v in (choices.get(w) or ()) for ch in v} - seen - set(extra) - {"/"})
    for filler in list(fillers) + extra:
        candidate = witness.replace("\0", filler)
        if verify(candidate):
            return candidate
    return None


def split_collision(pattern: Pattern, choices: Mapping[str, tuple[str, ...] | None],
                    budget: int = 200_000, cache: dict | None = None) -> tuple[dict[str, str], dict[str, str], str] | None:
    """Two different assignments of the pattern's dimension wildcards that format to the same
    text, with that text; or None.

    ``{dataset}_{model}`` with datasets ``a`` and ``a_b`` and models ``c`` and ``b_c`` makes
    ``a_b_c`` twice: two jobs would write one file. Only patterns whose every slot is a plain
    dimension wildcard (finite values, no field, no regex, no repeats) are checked, and the
    search gives up (None) after ``budget`` steps. ``cache`` (a dict) may be shared by calls
    with the same ``choices``: it keeps the value pairs found per wildcard and what follows it.

    The two assignments agree up to the first wildcard where they differ, and there one value
    is a proper prefix of the other, whose rest must line up with what follows the wildcard;
    so the search only starts from such pairs (usually none: finding them is one ``str.find``
    per value). From there it walks both sides through the pattern, keeping the text one
    side still owes the other.
    """
    parts = pattern.parts
    slots = pattern.slots
    if len(slots) < 2 or len({s.name for s in slots}) != len(slots):
        return None
    raw: dict[str, tuple[str, ...]] = {}
    for s in slots:
        vals = choices.get(s.name) if s.field is None and s.regex is None else None
        if vals is None:
            return None
        raw[s.name] = vals
    pairs = {}
    for i, part in enumerate(parts):
        if isinstance(part, str):
            continue
        after = parts[i + 1] if i + 1 < len(parts) else None
        key = (part.name, after[0] if isinstance(after, str) else after is None)
        found = cache.get(key) if cache is not None else None
        if found is None:
            found = _divergences(raw[part.name], after, budget)
            if cache is not None:
                cache[key] = found
        pairs[part.name] = found
    if not any(pairs.values()):
        return None
    values = {name: sorted(set(vals)) for name, vals in raw.items()}
    sets = {name: set(vals) for name, vals in values.items()}
    n = len(parts)
    first = {name: vals[0] for name, vals in values.items()}

    def emit(i: int) -> list[tuple[str, str | None]]:
        """What part i can write: (text, the wildcard's name or None for a literal)."""
        part = parts[i]
        if isinstance(part, str):
            return [(part, None)]
        return [(v, part.name) for v in values[part.name]]

    # A state: (index of side A, index of side B, text owed, which side owes it: 0 = A).
    queue: deque = deque()
    seen: set = set()
    for i, part in enumerate(parts):
        if isinstance(part, str) or not pairs[part.name]:
            continue
        common = {s.name: first[s.name] for s in slots if s.offset < part.offset}
        for short, long in pairs[part.name]:
            a_vals = dict(common, **{part.name: long})
            b_vals = dict(common, **{part.name: short})
            queue.append((i + 1, i + 1, long[len(short):], 1, a_vals, b_vals))
    steps = 0
    while queue:
        ia, ib, owed, who, a_vals, b_vals = queue.popleft()
        key = (ia, ib, owed, who if owed else -1)
        if key in seen:
            continue
        seen.add(key)
        if not owed and ia == n and ib == n:
            text = format_values(pattern, a_vals)
            return a_vals, b_vals, text
        if not owed:
            who = 0 if ia < n else 1  # even: one side writes its next part, the other owes it
            mover = 1 - who
            idx = ib if mover == 1 else ia
            if idx >= n:
                continue
            for text, name in emit(idx):
                steps += 1
                if steps > budget:
                    return None
                na, nb = (ia, ib + 1) if mover == 1 else (ia + 1, ib)
                av, bv = _assign(a_vals, b_vals, mover, name, text)
                queue.append((na, nb, text, who, av, bv))
            continue
        idx = ia if who == 0 else ib
        if idx >= n:
            continue
        part = parts[idx]
        if isinstance(part, str):
            options = [(part, None)]
        else:
            vals, vset = values[part.name], sets[part.name]
            options = [(owed[:k], part.name) for k in range(1, len(owed) + 1) if owed[:k] in vset]
            lo = bisect.bisect_right(vals, owed)
            while lo < len(vals) and vals[lo].startswith(owed):
                options.append((vals[lo], part.name))
                lo += 1
        for text, name in options:
            steps += 1
            if steps > budget:
                return None
            na, nb = (ia + 1, ib) if who == 0 else (ia, ib + 1)
            av, bv = _assign(a_vals, b_vals, who, name, text)
            if owed.startswith(text):
                queue.append((na, nb, owed[len(text):], who, av, bv))
            elif text.startswith(owed):
                queue.append((na, nb, text[len(owed):], 1 - who, av, bv))
    return None


def _assign(a_vals: dict, b_vals: dict, side: int, name: str | None, value: str) -> tuple[dict, dict]:
    if name is None:
        return a_vals, b_vals
    if side == 0:
        return dict(a_vals, **{name: value}), b_vals
    return a_vals, dict(b_vals, **{name: value})


def _divergences(values, after, budget: int) -> list[tuple[str, str]]:
    """(short, long) pairs of values where ``short`` is a proper prefix of ``long`` and the
    rest ``long[len(short):]`` can line up with ``after`` (the part that follows the wildcard:
    a literal, a Slot, or None at the end), one pair per distinct rest."""
    if after is None:
        return []  # the short side would have nothing left to write the rest with
    by_rest: dict[str, tuple[str, str]] = {}
    if isinstance(after, str):
        c = after[0]  # the rest must start the way the literal does
        vset = None
        for long in values:
            k = long.find(c, 1)
            while k != -1:
                if vset is None:
                    vset = set(values)
                if long[:k] in vset:
                    by_rest.setdefault(long[k:], (long[:k], long))
                k = long.find(c, k + 1)
            if len(by_rest) >= budget:
                break
    else:
        vset = set(values)
        for long in values:
            for k in range(1, len(long)):
                if long[:k] in vset:
                    by_rest.setdefault(long[k:], (long[:k], long))
            if len(by_rest) >= budget:
                break
    return list(by_rest.values())


def format_values(pattern: Pattern, values: Mapping[str, str]) -> str:
    """The pattern with plain wildcards replaced by ``values``."""
    return "".join(p if isinstance(p, str) else values[p.name] for p in pattern.parts)
