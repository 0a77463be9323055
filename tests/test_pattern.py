"""rulec.pattern: compile, format, match, trie_regex, overlap. Pure functions, no disk."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rulec import pattern as pat
from rulec.pattern import FREE, PatternError, Slot


def parts(text: str) -> list:
    """A compact view of a compiled pattern: literal text, and slots as '{name}' strings."""
    out = []
    for p in pat.compile(text).parts:
        if isinstance(p, str):
            out.append(p)
        else:
            inner = p.name + (f".{p.field}" if p.field else "") + (f",{p.regex}" if p.regex else "")
            out.append("{" + inner + "}")
    return out


# ----------------------------------------------------------------------------- compile

@pytest.mark.parametrize(
    "text,expected,wildcards",
    [
        ("", [], ()),
        ("plain/path.txt", ["plain/path.txt"], ()),
        ("bld/{dataset}_{model}.json", ["bld/", "{dataset}", "_", "{model}", ".json"], ("dataset", "model")),
        ("{a}{b}", ["{a}", "{b}"], ("a", "b")),
        ("x/{name}_{name}.out", ["x/", "{name}", "_", "{name}", ".out"], ("name",)),
        ("runs/{n,[0-9]+}.txt", ["runs/", "{n,[0-9]+}", ".txt"], ("n",)),
        ("ids/{id,[0-9]{4}}.txt", ["ids/", "{id,[0-9]{4}}", ".txt"], ("id",)),
        ("a/{x,(?:ab|cd)}/{y,a\\}b}", ["a/", "{x,(?:ab|cd)}", "/", "{y,a\\}b}"], ("x", "y")),
        ("src/{dataset.subset}.csv", ["src/", "{dataset.subset}", ".csv"], ()),
        ("{ name }", ["{name}"], ("name",)),
        ("a{{b}}c", ["a{b}c"], ()),
        ("{{{x}}}", ["{", "{x}", "}"], ("x",)),
        ("{{x}}", ["{x}"], ()),
        ("{d}/{d.f}/{m}", ["{d}", "/", "{d.f}", "/", "{m}"], ("d", "m")),
    ],
)
def test_compile(text, expected, wildcards):
    assert parts(text) == expected
    p = pat.compile(text)
    assert p.wildcards == wildcards
    assert p.text == text
    assert p.constant == (not p.slots)


def test_slot_offsets_and_lengths():
    p = pat.compile("bld/{dataset}_{n,[0-9]+}.json")
    assert p.slots == (Slot("dataset", None, None, 4, 9), Slot("n", None, "[0-9]+", 14, 10))


def test_prefix_and_suffix():
    p = pat.compile("bld/{d}_{m}.json")
    assert (p.prefix(), p.suffix()) == ("bld/", ".json")
    assert (pat.compile("{d}.x").prefix(), pat.compile("x.{d}").suffix()) == ("", "")
    c = pat.compile("a/b.txt")
    assert (c.prefix(), c.suffix(), c.constant) == ("a/b.txt", "a/b.txt", True)


@pytest.mark.parametrize(
    "text,message,offset,length",
    [
        ("bld/{dataset", "unclosed '{' in pattern (write '{{' for a literal brace)", 4, 1),
        ("bld/}x", "unmatched '}' (write '}}' for a literal brace)", 4, 1),
        ("a/{}", "bad wildcard {}: expected {name}, {name,regex} or {name.field}", 2, 2),
        ("a/{1x}.txt", "bad wildcard {1x}: expected {name}, {name,regex} or {name.field}", 2, 4),
        ("a/{a-b}", "bad wildcard {a-b}: expected {name}, {name,regex} or {name.field}", 2, 5),
        ("a/{d.}", "bad wildcard {d.}: expected {name}, {name,regex} or {name.field}", 2, 4),
        ("a/{d.f,[0-9]}", "a field reference cannot carry a regex: {d.f,[0-9]}", 2, 11),
        ("a/{n,}", "empty regex in {n,}", 2, 4),
        ("a/{n,[0-9}", "bad regex in {n,[0-9}: unterminated character set at position 0", 2, 8),
        ("a/{n,(a}", "bad regex in {n,(a}: missing ), unterminated subpattern at position 0", 2, 6),
        ("ok/{x}/then}", "unmatched '}' (write '}}' for a literal brace)", 11, 1),
    ],
)
def test_bad_patterns_say_where(text, message, offset, length):
    with pytest.raises(PatternError) as info:
        pat.compile(text)
    assert (info.value.message, info.value.offset, info.value.length) == (message, offset, length)


@pytest.mark.parametrize(
    "regex,why",
    [
        ("(?P<n>a)", "a wildcard's regex cannot name a group ((?P<n>...)): the wildcard is the group; write (...) or (?:...)"),
        ("(?P<x>a)", "a wildcard's regex cannot name a group ((?P<x>...)): the wildcard is the group; write (...) or (?:...)"),
        ("(a)\\1", "a wildcard's regex cannot refer back to a group (\\1, (?P=name), (?(1)...)): its groups are "
                   "numbered in the regex of the whole path"),
        ("(?=(a)\\1)b", "a wildcard's regex cannot refer back to a group (\\1, (?P=name), (?(1)...)): its groups are "
                        "numbered in the regex of the whole path"),
        ("(a)(?(1)b|c)", "a wildcard's regex cannot refer back to a group (\\1, (?P=name), (?(1)...)): its groups are "
                         "numbered in the regex of the whole path"),
        ("(?i)a", "a wildcard's regex cannot set flags for the whole pattern, such as (?i) at its start; "
                  "write (?i:...) around the part they are for"),
        ("(?u)a", "a wildcard's regex cannot set flags for the whole pattern, such as (?i) at its start; "
                  "write (?i:...) around the part they are for"),
        ("a{99999999999}", "the repetition number is too large"),
    ],
)
def test_a_regex_that_cannot_stand_in_the_path_regex_is_refused_at_its_slot(regex, why):
    text = "o/{n,%s}.txt" % regex
    with pytest.raises(PatternError) as info:
        pat.compile(text)
    assert (info.value.message, info.value.offset, info.value.length) == (
        f"bad regex in {{n,{regex}}}: {why}", 2, len(regex) + 4)


@pytest.mark.parametrize("regex", ["(?i:a)", "(a|b)+", "(?:x)(y)", "[\\1]", "\\101", "(?#note)a", "(?=a)a"])
def test_groups_scoped_flags_and_octal_escapes_are_fine_and_match(regex):
    p = pat.compile("o/{n,%s}/{m}" % regex)
    m = pat.Matcher(p, {})  # compiles the whole path's regex
    assert m.match("o/a/z") in (("a", "z"), None)


def test_a_regex_that_python_warns_about_is_fine(recwarn):
    pat.compile("x/{n,[[a]}")  # "possible nested set": a FutureWarning in re, not ours to print
    assert not [w for w in recwarn if issubclass(w.category, FutureWarning)]


# ----------------------------------------------------------------------------- format

def test_formatter():
    f = pat.formatter(pat.compile("bld/{dataset}_{model}.json"), ("model", "dataset"))
    assert f(("logit", "data_0")) == "bld/data_0_logit.json"


def test_formatter_with_fields_and_repeats():
    p = pat.compile("src/{d.sub}/{d}_{d}.csv")
    f = pat.formatter(p, ("d",), {("d", "sub"): {"d0": "s1", "d1": "s2"}})
    assert f(("d1",)) == "src/s2/d1_d1.csv"


def test_formatter_keeps_literal_braces_and_values_with_braces():
    f = pat.formatter(pat.compile("a{{b}}/{x}"), ("x",))
    assert f(("{y}",)) == "a{b}/{y}"
    assert pat.formatter(pat.compile("const{{}}"), ())(()) == "const{}"


# ----------------------------------------------------------------------------- match

def _matcher(text, regex=None, order=None):
    return pat.Matcher(pat.compile(text), regex or {}, order)


def test_match_free_wildcards():
    m = _matcher("bld/{a}_{b}.txt")
    assert m.match("bld/x_y.txt") in (("x", "y"),)
    assert m.match("bld/x.txt") is None
    assert m.match("bld/x/y_z.txt") is None  # a free wildcard does not cross folders
    assert m.match("bld/x_y.txt.bak") is None


def test_match_dimension_wildcards_split_values_with_underscores():
    regex = {"dataset": pat.trie_regex(["data_0", "data_1"]), "model": pat.trie_regex(["linear_probability", "logit"])}
    m = _matcher("bld/{dataset}_{model}.json", regex)
    assert m.match("bld/data_1_linear_probability.json") == ("data_1", "linear_probability")
    assert m.match("bld/data_2_logit.json") is None
    assert _matcher("bld/{dataset}_{model}.json", regex, ("model", "dataset")).match("bld/data_0_logit.json") == ("logit", "data_0")


def test_match_a_repeated_wildcard_takes_one_value():
    m = _matcher("x/{name}_{name}.out")
    assert m.match("x/a_a.out") == ("a",)
    assert m.match("x/ab_ab.out") == ("ab",)
    assert m.match("x/a_b.out") is None


def test_match_with_a_constraint():
    m = _matcher("runs/{n,[0-9]+}.txt")
    assert m.match("runs/42.txt") == ("42",)
    assert m.match("runs/4a.txt") is None
    # the constraint of the first occurrence holds for the repeat too
    assert _matcher("{n,[0-9]+}-{n}").match("12-12") == ("12",)
    assert _matcher("{n,[0-9]+}-{n}").match("12-13") is None


def test_match_literal_regex_characters_and_braces():
    m = _matcher("a.b+{x}(1)[{{}}].txt")
    assert m.match("a.b+zz(1)[{}].txt") == ("zz",)
    assert m.match("aXb+zz(1)[{}].txt") is None


def test_match_constant_and_no_wildcard_order():
    assert _matcher("a/b.txt").match("a/b.txt") == ()
    assert _matcher("a/b.txt").match("a/c.txt") is None


def test_regex_for():
    assert pat.regex_for(pat.compile("a/{x}_{x}.{y,[0-9]+}"), {}) == "a/(?P<x>" + FREE + r")_(?P=x)\.(?P<y>[0-9]+)"


# ----------------------------------------------------------------------------- trie_regex

@pytest.mark.parametrize(
    "values,yes,no",
    [
        (["a", "ab", "abc"], ["a", "ab", "abc"], ["", "b", "abcd", "ac"]),
        (["data_0", "data_1", "data_10"], ["data_0", "data_1", "data_10"], ["data_", "data_2", "data_100"]),
        (["a.b", "a*b", "(x)"], ["a.b", "a*b", "(x)"], ["axb", "aab", "x"]),
        (["x y", "ü", "日本"], ["x y", "ü", "日本"], ["x", "u", "日"]),
        ([], [], ["", "a"]),
    ],
)
def test_trie_regex(values, yes, no):
    rx = re.compile(pat.trie_regex(values))
    assert all(rx.fullmatch(v) for v in yes)
    assert not any(rx.fullmatch(v) for v in no)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="ab_.*()[]{}/\\x", min_size=1, max_size=6), max_size=12), st.text(alphabet="ab_.x", max_size=6))
def test_trie_regex_matches_exactly_its_values(values, probe):
    rx = re.compile(pat.trie_regex(values), re.DOTALL)
    for v in values:
        assert rx.fullmatch(v)
    assert bool(rx.fullmatch(probe)) == (probe in values)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="ab_-1", min_size=1, max_size=5), min_size=1, max_size=5, unique=True),
       st.lists(st.text(alphabet="ab_-1", min_size=1, max_size=5), min_size=1, max_size=5, unique=True),
       st.data())
def test_format_then_match_gives_the_values_back(ds, ms, data):
    # Dimension wildcards make "{d}_{m}" a path that matches back to some (d, m) pair that
    # formats to the same path: the path names a real job, whatever the underscores.
    regex = {"d": pat.trie_regex(ds), "m": pat.trie_regex(ms)}
    p = pat.compile("bld/{d}_{m}.json")
    d, m = data.draw(st.sampled_from(ds)), data.draw(st.sampled_from(ms))
    path = pat.formatter(p, ("d", "m"))((d, m))
    got = pat.Matcher(p, regex, ("d", "m")).match(path)
    assert got is not None and got[0] in ds and got[1] in ms
    assert pat.formatter(p, ("d", "m"))(got) == path


# ----------------------------------------------------------------------------- overlap

def _overlap(a, b, choices=None, ra=None, rb=None):
    pa, pb = pat.compile(a), pat.compile(b)
    xa = re.compile(pat.regex_for(pa, ra or {}), re.DOTALL)
    xb = re.compile(pat.regex_for(pb, rb or {}), re.DOTALL)
    return pat.overlap(pa, pb, choices or {}, lambda s: bool(xa.fullmatch(s) and xb.fullmatch(s)))


def test_overlap_of_a_free_wildcard_and_a_constant():
    assert _overlap("bld/plots/{name}.png", "bld/plots/special.png") == "bld/plots/special.png"


def test_overlap_of_two_free_wildcards_is_a_shortest_path():
    assert _overlap("x/{a}.txt", "x/{b}.txt") == "x/x.txt"


def test_no_overlap_of_different_folders_or_suffixes():
    assert _overlap("a/{x}.txt", "b/{x}.txt") is None
    assert _overlap("a/{x}.txt", "a/{x}.csv") is None
    assert _overlap("a/{x}.txt", "a/{x}/{y}.txt") is None  # a free wildcard holds no '/'


def test_overlap_with_dimension_values():
    dims = {"dataset": ("data_0", "data_1"), "model": ("lin", "tree")}
    regex = {k: pat.trie_regex(v) for k, v in dims.items()}
    assert _overlap("bld/{dataset}_{model}.json", "bld/{name}_tree.json", dims, regex) == "bld/data_0_tree.json"
    assert _overlap("bld/{dataset}.json", "bld/{model}.json", dims, regex, regex) is None
    assert _overlap("bld/{dataset}_{model}.json", "bld/{name}_forest.json", dims, regex) is None


def test_overlap_respects_constraints():
    assert _overlap("x/{n,[0-9]+}.txt", "x/{w,[a-z]+}.txt") is None
    assert _overlap("x/{n,[0-9]+}.txt", "x/{w,[a-z0-9]+}.txt") == "x/0.txt"


def test_overlap_with_a_repeated_wildcard():
    assert _overlap("x/{n}_{n}.txt", "x/{m}_b.txt") == "x/b_b.txt"
    assert _overlap("x/{n}_{n}.txt", "x/a_b.txt") is None
    assert _overlap("x/{n}_{n}.txt", "x/a_a.txt") == "x/a_a.txt"


def test_overlap_of_constants():
    assert _overlap("a/b.txt", "a/b.txt") == "a/b.txt"
    assert _overlap("a/b.txt", "a/c.txt") is None


# ----------------------------------------------------------------------------- affix index

affix = st.text(alphabet="ab/.", max_size=4)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(affix, affix), max_size=15), st.tuples(affix, affix), st.text(alphabet="ab/.", max_size=8))
def test_affix_index_agrees_with_comparing_every_entry(keys, query, path):
    index = pat.AffixIndex(keys)
    pre, suf = query
    related = [
        i for i, (p, s) in enumerate(keys)
        if (p.startswith(pre) or pre.startswith(p)) and (s.endswith(suf) or suf.endswith(s))
    ]
    assert index.related(pre, suf) == related
    assert index.matching(path) == [i for i, (p, s) in enumerate(keys) if path.startswith(p) and path.endswith(s)]


def test_affix_index_on_real_patterns():
    texts = ["bld/{d}_{m}.json", "bld/{d}.csv", "bld/plots/{n}.png", "bld/plots/special.png", "{x}.png", "logs/{d}.log"]
    keys = [(pat.compile(t).prefix(), pat.compile(t).suffix()) for t in texts]
    index = pat.AffixIndex(keys)
    assert index.matching("bld/plots/special.png") == [2, 3, 4]
    assert index.related(*keys[3]) == [2, 3, 4]
    assert index.related(*keys[0]) == [0]


# --------------------------------------------------------------------------- split collisions

def _brute_collision(pattern, choices):
    import itertools

    names = pattern.wildcards
    seen = {}
    for combo in itertools.product(*(choices[n] for n in names)):
        text = pat.format_values(pattern, dict(zip(names, combo)))
        if text in seen and seen[text] != combo:
            return True
        seen[text] = combo
    return False


@pytest.mark.parametrize("text, choices, path", [
    ("out/{d}_{m}.txt", {"d": ("a", "a_b"), "m": ("c", "b_c")}, "out/a_b_c.txt"),
    ("{a}{b}", {"a": ("x", "xy"), "b": ("yz", "z")}, "xyz"),
    ("{a}-{b}-{c}", {"a": ("p", "p-q"), "b": ("r", "q-r"), "c": ("s", "r-s")}, "p-q-r-r-s"),
])
def test_split_collision_finds_two_assignments_of_one_path(text, choices, path):
    pattern = pat.compile(text)
    one, other, found = pat.split_collision(pattern, choices)
    assert found == path and one != other
    assert pat.format_values(pattern, one) == pat.format_values(pattern, other) == path


@pytest.mark.parametrize("text, choices", [
    ("out/{d}_{m}.txt", {"d": tuple(f"data_{i}" for i in range(30)), "m": ("lin_prob", "logit")}),
    ("out/{d}/{m}.txt", {"d": ("a", "a_b"), "m": ("c", "b_c")}),
    ("out/{d}.txt", {"d": ("a", "a_b")}),                       # one wildcard: always distinct
    ("out/{d}_{m}.txt", {"d": ("a", "a_b")}),                    # {m} is free: not checked
    ("out/{d,[a-z_]+}_{m}.txt", {"d": ("a", "a_b"), "m": ("c", "b_c")}),  # a regex: not checked
    ("out/{d}_{d}.txt", {"d": ("a", "a_b")}),                    # repeated: not checked
])
def test_split_collision_none(text, choices):
    assert pat.split_collision(pat.compile(text), choices) is None


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["{a}", "{b}", "{c}", "_", "-", "x", "/"]), min_size=1, max_size=6),
    st.lists(st.text("x_-ab", min_size=1, max_size=4), min_size=1, max_size=4, unique=True),
    st.lists(st.text("x_-ab", min_size=1, max_size=4), min_size=1, max_size=4, unique=True),
    st.lists(st.text("x_-ab", min_size=1, max_size=4), min_size=1, max_size=4, unique=True),
)
def test_split_collision_agrees_with_brute_force(parts, va, vb, vc):
    text = "".join(parts)
    pattern = pat.compile(text)
    if len(pattern.slots) != len(set(s.name for s in pattern.slots)):
        return  # repeated wildcards are not checked
    choices = {"a": tuple(va), "b": tuple(vb), "c": tuple(vc)}
    found = pat.split_collision(pattern, choices)
    if len(pattern.slots) < 2:
        assert found is None
        return
    assert (found is not None) == _brute_collision(pattern, choices), text
    if found is not None:
        one, other, path = found
        assert one != other and pat.format_values(pattern, one) == pat.format_values(pattern, other) == path


@pytest.mark.parametrize("value,out", [
    ("..", True), ("../x", True), ("a/..", True), ("a/../b", True), ("/abs", True), ("/", True),
    ("x", False), ("..a", False), ("a..", False), ("a..b/c", False), (".", False), ("a/./b", False), ("a/b", False),
])
def test_escapes_is_a_dotdot_segment_or_a_leading_slash(value, out):
    assert pat.escapes(value) is out


def test_a_dimensions_regex_is_made_only_when_a_path_is_matched():
    from types import SimpleNamespace

    class Dims(dict):
        asked: list = []

        def __getitem__(self, name):
            Dims.asked.append(name)
            return dict.__getitem__(self, name)

    dims = Dims(dataset=SimpleNamespace(values=("d0", "d1", "d10")))
    regexes = pat.Regexes((("dataset", pat.DIMENSION), ("n", "[0-9]+")), dims)
    p = pat.compile("bld/{dataset}_{n}.txt")
    m = pat.Matcher(p, regexes)
    assert Dims.asked == []  # nothing made yet
    assert m.match("bld/d10_3.txt") == ("d10", "3")
    assert m.match("bld/d2_3.txt") is None  # only the dimension's values
    assert Dims.asked == ["dataset"]
    assert regexes["dataset"] == pat.trie_regex(("d0", "d1", "d10")) and regexes.get("n") == "[0-9]+"
    assert regexes.get("other", pat.FREE) == pat.FREE
