"""rulec/syntax/cache.py: parsed Rulefiles kept by text, file name and grammar."""

from __future__ import annotations

import collections
import glob
import hashlib
import json
import os
import pickle
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rulec import syntax
from rulec.syntax import cache

ROOT = Path(__file__).resolve().parent.parent

TEXT = 'dimension d = ["a", "b"]\nrule r:\n    output: "out/{d}.txt"\n    shell: "touch {output}"\n'


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("RULEC_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "parse"


def test_a_second_read_comes_from_the_cache_without_parsing(cache_dir, tmp_path, monkeypatch):
    rulefile = tmp_path / "Rulefile"
    rulefile.write_text(TEXT)
    first = syntax.parse_file(str(rulefile))
    assert len(list(cache_dir.iterdir())) == 1

    from rulec.syntax import parser

    def no_parse(*args, **kwargs):
        raise AssertionError("parsed again")

    monkeypatch.setattr(parser, "parse", no_parse)
    assert syntax.parse_file(str(rulefile)) == first


def test_an_edited_text_or_another_file_name_is_parsed_afresh(cache_dir, tmp_path):
    a = tmp_path / "Rulefile"
    a.write_text(TEXT)
    first = syntax.parse_file(str(a))
    a.write_text(TEXT.replace('"b"', '"c"'))
    edited = syntax.parse_file(str(a))
    assert edited != first and edited == syntax.parse(TEXT.replace('"b"', '"c"'), str(a))
    b = tmp_path / "Other"
    b.write_text(TEXT)
    syntax.parse_file(str(b))
    assert len(list(cache_dir.iterdir())) == 3


def test_a_damaged_entry_is_ignored_and_replaced(cache_dir, tmp_path):
    rulefile = tmp_path / "Rulefile"
    rulefile.write_text(TEXT)
    good = syntax.parse_file(str(rulefile))
    entry, = cache_dir.iterdir()
    entry.write_bytes(b"not a pickle")
    assert syntax.parse_file(str(rulefile)) == good
    assert entry.read_bytes() != b"not a pickle"


def test_only_the_most_recently_used_entries_are_kept(cache_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "KEEP", 3)
    rulefile = tmp_path / "Rulefile"
    files = []
    for n in range(3):
        rulefile.write_text(TEXT + f"# version {n}\n")
        syntax.parse_file(str(rulefile))
        files.append(sorted(cache_dir.iterdir(), key=os.path.getmtime)[-1])
        time.sleep(0.01)
    # using the oldest entry again makes it the most recent
    rulefile.write_text(TEXT + "# version 0\n")
    syntax.parse_file(str(rulefile))
    time.sleep(0.01)
    rulefile.write_text(TEXT + "# version 3\n")
    syntax.parse_file(str(rulefile))
    left = set(cache_dir.iterdir())
    assert len(left) == 3
    assert files[0] in left and files[1] not in left and files[2] in left


def test_errors_are_not_cached(cache_dir, tmp_path):
    rulefile = tmp_path / "Rulefile"
    rulefile.write_text("rule r:\n    output: \n")
    with pytest.raises(Exception):
        syntax.parse_file(str(rulefile))
    assert not cache_dir.exists() or not list(cache_dir.iterdir())


# --------------------------------------------------------------------------- nothing runs code

class _Payload:
    """Unpickling this creates the file ``marker``: what a hostile entry could do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _old_entry(path: str, text: str) -> str:
    """Where a pickle-era rulec kept the entry of ``path`` (its _file())."""
    h = hashlib.blake2b(digest_size=16)
    h.update(cache.grammar_text().encode())
    h.update(b"\0" + path.encode("utf-8", "surrogateescape") + b"\0")
    h.update(text.encode("utf-8", "surrogateescape"))
    return os.path.join(cache.folder(), h.hexdigest() + ".pickle")


def test_an_edited_entry_reads_as_absent(cache_dir, tmp_path):
    """An entry whose body is not the one its digest was made of could change a command."""
    rulefile = tmp_path / "Rulefile"
    rulefile.write_text(TEXT)
    good = syntax.parse_file(str(rulefile))
    entry, = cache_dir.iterdir()
    data = entry.read_bytes()
    assert cache._unseal(data) is not None and b'"out/{d}.txt"' in data
    entry.write_bytes(data.replace(b'"out/{d}.txt"', b'"own/{d}.txt"'))
    assert cache.get(str(rulefile), TEXT) is None
    assert syntax.parse_file(str(rulefile)) == good


@pytest.mark.parametrize("how", ["group-writable", "world-writable", "symlink", "another user's"])
def test_an_entry_others_could_have_written_is_not_read(cache_dir, tmp_path, how):
    rulefile = tmp_path / "Rulefile"
    rulefile.write_text(TEXT)
    good = syntax.parse_file(str(rulefile))
    entry, = cache_dir.iterdir()
    assert cache.get(str(rulefile), TEXT) == good
    if how == "symlink":
        real = tmp_path / "elsewhere.json"
        os.rename(entry, real)
        os.symlink(real, entry)
    elif how == "another user's":
        if os.geteuid() != 0:
            pytest.skip("needs root to give a file away")
        os.chown(entry, 12345, 12345)
    else:
        os.chmod(entry, 0o620 if how == "group-writable" else 0o602)
    assert cache.get(str(rulefile), TEXT) is None
    assert syntax.parse_file(str(rulefile)) == good


def test_a_planted_pickle_runs_nothing(cache_dir, tmp_path):
    marker = tmp_path / "marker"
    payload = pickle.dumps(_Payload(marker))
    proof = tmp_path / "proof"
    pickle.loads(pickle.dumps(_Payload(proof)))  # the payload does run code when unpickled
    assert proof.exists()

    rulefile = tmp_path / "Rulefile"
    rulefile.write_text(TEXT)
    cache_dir.mkdir(parents=True)
    for entry in {_old_entry(str(rulefile), TEXT), cache._file(str(rulefile), TEXT)}:
        Path(entry).write_bytes(cache._seal(payload))  # (a digest an attacker can make)
    assert cache.get(str(rulefile), TEXT) is None
    assert syntax.parse_file(str(rulefile)) == syntax.parse(TEXT, str(rulefile))
    assert not marker.exists()
    # the entry written then is data, and an old pickle entry is gone
    assert not os.path.exists(_old_entry(str(rulefile), TEXT))
    assert cache.get(str(rulefile), TEXT) == syntax.parse(TEXT, str(rulefile))
    assert not marker.exists()


# --------------------------------------------------------------------------- the format

FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```\s*$", re.S | re.M)


def _corpus() -> list[tuple[str, str]]:
    """(name, text) of every example Rulefile and every rulefile block of docs/language.md."""
    out = [(os.path.relpath(p, ROOT), Path(p).read_text(encoding="utf-8"))
           for p in sorted(glob.glob(str(ROOT / "examples" / "*" / "Rulefile")))]
    doc = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    for m in FENCE.finditer(doc):
        if m.group(1) in ("rulefile", "rulefile-fragment"):
            out.append((f"language.md:{doc[: m.start()].count(chr(10)) + 1}", m.group(2)))
    return out


CORPUS = _corpus()


@pytest.mark.parametrize("name,text", CORPUS, ids=[name for name, _ in CORPUS])
def test_every_example_comes_back_equal(name, text):
    module = syntax.parse(text, name)
    again = cache.decode(cache.encode(module))
    assert again == module
    assert type(again) is cache.d.Module


def test_the_examples_hold_every_class_of_the_format():
    seen = collections.Counter()

    def walk(x):
        seen[type(x).__name__] += 1
        if isinstance(x, tuple):
            for y in x:
                walk(y)
        elif hasattr(x, "__match_args__"):
            for n in x.__match_args__:
                walk(getattr(x, n))

    assert len(CORPUS) > 20
    for name, text in CORPUS:
        walk(syntax.parse(text, name))
    names = {cls.__name__ for cls in (cache.Span, cache.d.Str, cache.d.Num, cache.d.Word, cache.d.Dotted, cache.d.ListV,
                                      cache.d.Named, cache.d.Call, cache.d.Field, cache.d.DimEntry,
                                      cache.d.DimensionDecl, cache.d.RuleDecl, cache.d.LabelDecl,
                                      cache.d.RuleorderDecl, cache.d.IncludeDecl, cache.d.Module,
                                      cache.d.ConfigDecl, cache.d.Dotted)}
    assert names <= set(seen), names - set(seen)


def test_an_entry_is_plain_json():
    module = syntax.parse(TEXT, "Rulefile")
    data = json.loads(cache.encode(module))
    assert data["@"] == "Module" and data["file"] == "Rulefile"
    span = data["decls"][0]["span"]
    assert span == {"@": "Span", "file": "Rulefile", "line": 1, "col": 1,
                    "end_line": span["end_line"], "end_col": span["end_col"]}


def test_a_value_the_format_cannot_hold_is_not_cached(cache_dir, tmp_path):
    module = syntax.parse(TEXT, "Rulefile")
    odd = cache.d.Module(module.file, module.decls + (object(),))
    with pytest.raises(TypeError):
        cache.encode(odd)
    cache.put("Rulefile", TEXT, odd)
    assert not cache_dir.exists() or not list(cache_dir.iterdir())


def _entry():
    return json.loads(cache.encode(syntax.parse(TEXT, "Rulefile")))


def _first(tree, name):
    """The first JSON object of class ``name`` in ``tree`` (depth first)."""
    if isinstance(tree, dict):
        if tree.get("@") == name:
            return tree
        tree = list(tree.values())
    if isinstance(tree, list):
        for item in tree:
            found = _first(item, name)
            if found is not None:
                return found
    return None


def _mutated(change):
    def make():
        tree = _entry()
        change(tree)
        return json.dumps(tree).encode()

    return make


def _constant(data: bytes):
    return lambda: data


MALFORMED = {  # name -> the entry's bytes (made when the test runs)
    "empty": _constant(b""),
    "not json": _constant(b"not an entry"),
    "not utf-8": _constant(b"\xff\xfe\x00garbage"),
    "truncated": lambda: cache.encode(syntax.parse(TEXT, "Rulefile"))[:-7],
    "a list": _constant(b"[1,2,3]"),
    "an object without a class": _constant(b'{"key": 5}'),
    "a bare number": _constant(b"5"),
    "deeply nested": _constant(b"[" * 100_000 + b"]" * 100_000),
    "a Span, not a Module": _constant(b'{"@": "Span", "file": "f", "line": 1, "col": 1, "end_line": 0, "end_col": 0}'),
    "an unknown class": _mutated(lambda t: _first(t, "Str").update({"@": "Popen"})),
    "a class of another module": _mutated(lambda t: _first(t, "Str").update({"@": "Target"})),
    "a missing field": _mutated(lambda t: _first(t, "Span").pop("end_col")),
    "an extra field": _mutated(lambda t: _first(t, "Str").update({"extra": 1})),
    "a str for an int": _mutated(lambda t: _first(t, "Span").update({"line": "1"})),
    "a bool for an int": _mutated(lambda t: _first(t, "Span").update({"col": True})),
    "an int for a str": _mutated(lambda t: _first(t, "Str").update({"value": 3})),
    "a float for a bool": _mutated(lambda t: _first(t, "Str").update({"long": 0.0})),
    "a Span for a Str": _mutated(lambda t: _first(t, "RuleDecl")["fields"][0]["items"].__setitem__(
        0, _first(t, "Span"))),
    "an object for a tuple": _mutated(lambda t: _first(t, "RuleDecl").update({"fields": {"a": 1}})),
    "a str in a tuple of fields": _mutated(lambda t: _first(t, "RuleDecl")["fields"].append("x")),
    "a plain object in a tuple": _mutated(lambda t: _first(t, "RuleDecl")["fields"].append({"a": 1})),
    "a nested list": _mutated(lambda t: _first(t, "RuleDecl")["fields"].append([1])),
    "a class name that is not a string": _mutated(lambda t: _first(t, "Str").update({"@": ["Str"]})),
    "a tuple of decls that is a string": _mutated(lambda t: t.update({"decls": "x"})),
}


LONG = ('dimension dataset = [' + ", ".join(f'"d{i:02d}"' for i in range(12)) + ']\n'
        'rule r:\n    input: ["a.txt", "b.txt", "c.txt", "d.txt", "e.txt", "f.txt", "g.txt", """h\n.txt"""]\n'
        '    output: "out/{dataset}.txt"\n    shell: "cat {input} > {output}"\n')


def _strs(tree):
    return _first(tree, cache.STRS)


def test_a_run_of_strings_is_one_object_and_comes_back_equal():
    module = syntax.parse(LONG, "Rulefile")
    data = cache.encode(module)
    tree = json.loads(data)
    run = _strs(tree)
    assert run["file"] == "Rulefile" and len(run["rows"]) == 12 and run["rows"][0][:3] == ["d00", 1, 22]
    assert cache.decode(data) == module
    assert cache.decode(cache.encode(module, lines=5)) == syntax.parse("\n" * 5 + LONG, "Rulefile")
    assert _first(_first(tree, "RuleDecl"), cache.STRS)["rows"][-1][-1] is True  # a long string keeps its kind


def _run_changed(change):
    def make():
        tree = json.loads(cache.encode(syntax.parse(LONG, "Rulefile")))
        change(_strs(tree))
        return json.dumps(tree).encode()

    return make


RUN_MALFORMED = {
    "a row too short": lambda r: r["rows"][0].pop(),
    "a str for a line": lambda r: r["rows"][0].__setitem__(1, "1"),
    "a bool for a column": lambda r: r["rows"][0].__setitem__(2, True),
    "an int for a value": lambda r: r["rows"][0].__setitem__(0, 5),
    "an int for long": lambda r: r["rows"][0].__setitem__(5, 0),
    "a row that is an object": lambda r: r["rows"].__setitem__(0, {"@": "Str"}),
    "rows that are an object": lambda r: r.update({"rows": {}}),
    "no file": lambda r: r.pop("file"),
    "an extra key": lambda r: r.update({"x": 1}),
}


@pytest.mark.parametrize("name", sorted(RUN_MALFORMED))
def test_a_malformed_run_of_strings_reads_as_absent(name):
    assert cache.decode(_run_changed(RUN_MALFORMED[name])()) is None


def test_a_run_of_strings_where_another_type_belongs_reads_as_absent():
    """A run decodes to Str values: where the field holds no Str (the decls of a Module),
    the entry is malformed."""
    tree = json.loads(cache.encode(syntax.parse(LONG, "Rulefile")))
    tree["decls"] = _strs(tree)
    assert cache.decode(json.dumps(tree).encode()) is None


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_entry_reads_as_absent(name, cache_dir, tmp_path):
    data = MALFORMED[name]()
    assert cache.decode(data) is None
    rulefile = tmp_path / "Rulefile"
    rulefile.write_text(TEXT)
    cache_dir.mkdir(parents=True)
    entry = Path(cache._file(str(rulefile), TEXT))
    entry.write_bytes(cache._seal(data))
    assert cache.get(str(rulefile), TEXT) is None
    assert syntax.parse_file(str(rulefile)) == syntax.parse(TEXT, str(rulefile))
    assert cache.get(str(rulefile), TEXT) is not None  # replaced by a good entry


def test_a_ruleorder_comes_back_with_its_pairs_as_tuples():
    text = TEXT + 'rule s:\n    output: "out/{d}.txt"\n    shell: "true"\nruleorder: r > s\n'
    module = syntax.parse(text, "Rulefile")
    again = cache.decode(cache.encode(module))
    order = [decl for decl in again.decls if isinstance(decl, cache.d.RuleorderDecl)][0]
    assert type(order.names) is tuple and all(type(pair) is tuple for pair in order.names)
    assert again == module


@pytest.mark.parametrize("kind", ["fifo", "link to /dev/zero", "folder"])
def test_an_entry_that_is_not_a_regular_file_reads_as_absent(kind, cache_dir, tmp_path):
    import threading

    rulefile = tmp_path / "Rulefile"
    rulefile.write_text(TEXT)
    cache_dir.mkdir(parents=True)
    entry = Path(cache._file(str(rulefile), TEXT))
    if kind == "fifo":
        os.mkfifo(entry)
    elif kind == "folder":
        entry.mkdir()
    else:
        os.symlink("/dev/zero", entry)
    out = []
    thread = threading.Thread(target=lambda: out.append(cache.get(str(rulefile), TEXT)), daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "blocked"
    assert out == [None]


# ---- statement by statement (big Rulefiles)

BIG = "".join(
    f'rule r{k}:\n    input: "in/{{d}}.{k}"\n    output: "out/{{d}}.{k}"\n    shell: """\n        cp {{input}} {{output}}  # {"x" * 40}\n    """\n\n'
    for k in range(120)) + 'dimension d = ["a", "b"]\n'


def parses(monkeypatch) -> list[int]:
    """Every parse of a text by lark, as the number of lines it had."""
    from rulec.syntax import parser

    seen: list[int] = []
    real = parser.parse

    def counted(text, *args, **kwargs):
        seen.append(text.count("\n"))
        return real(text, *args, **kwargs)

    monkeypatch.setattr(parser, "parse", counted)
    return seen


def test_an_edit_of_one_statement_parses_that_statement_only(cache_dir, tmp_path, monkeypatch):
    from rulec.syntax import parser

    assert len(BIG) > cache.STATEMENTS_MIN
    rulefile = tmp_path / "Rulefile"
    rulefile.write_text(BIG)
    whole = parser.parse(BIG, str(rulefile), _registered=False)
    assert syntax.parse_file(str(rulefile)) == whole  # first read: statement by statement, each parsed
    seen = parses(monkeypatch)
    edited = BIG.replace("rule r7:", "# a new line above, so what follows moves down\nrule r7:")
    edited = edited.replace("cp {input} {output}  # " + "x" * 40 + "\n    \"\"\"\n\nrule r8:", "cat {input} > {output}\n    \"\"\"\n\nrule r8:")
    rulefile.write_text(edited)
    again = syntax.parse_file(str(rulefile))
    assert again == parser.parse(edited, str(rulefile), _registered=False)  # the same decls, spans included
    # r6 (the comment is its last line), r7 (edited) and the whole parse above, nothing else
    assert len(seen) == 3 and edited.count("cat {input}") == 1
    r100 = next(x for x in again.decls if getattr(x, "name", None) == "r100")
    assert r100.span.line == 1 + 7 * 100 + 1  # moved down one line, taken from the cache


def test_a_big_file_keeps_one_entry_and_an_unchanged_one_needs_no_lark(cache_dir, tmp_path):
    rulefile = tmp_path / "Rulefile"
    rulefile.write_text(BIG)
    root = cache_dir.parent
    probe = ("import sys; from rulec import syntax; m = syntax.parse_file(sys.argv[1]); "
             "print(len(m.decls), 'lark' in sys.modules)")
    env = dict(os.environ, RULEC_CACHE_DIR=str(root), PYTHONPATH=str(ROOT))
    runs = [subprocess.run([sys.executable, "-c", probe, str(rulefile)], env=env, capture_output=True, text=True)
            for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr
    count = runs[0].stdout.split()[0]
    assert [r.stdout.split() for r in runs] == [[count, "True"], [count, "False"]]
    # the statements' entry only: no whole-file entry written beside it (an edit writes one entry)
    assert [p.name for p in cache_dir.iterdir()] == [os.path.basename(cache._statements_file(str(rulefile)))]
    before = os.stat(cache._statements_file(str(rulefile))).st_ino
    subprocess.run([sys.executable, "-c", probe, str(rulefile)], env=env, check=True, capture_output=True)
    assert os.stat(cache._statements_file(str(rulefile))).st_ino == before  # nothing new: not written again


def test_a_statement_that_does_not_parse_alone_means_the_whole_file(cache_dir, tmp_path, monkeypatch):
    from rulec.syntax import parser

    # a line of the long string starts with a letter: the split there leaves the string open
    text = BIG.replace("    cp {input} {output}  # " + "x" * 40 + "\n", "cp {input} {output}\nrule not a statement\n", 1)
    rulefile = tmp_path / "Rulefile"
    rulefile.write_text(text)
    assert syntax.parse_file(str(rulefile)) == parser.parse(text, str(rulefile), _registered=False)


def test_a_crafted_statements_entry_reads_as_absent(cache_dir, tmp_path):
    rulefile = tmp_path / "Rulefile"
    rulefile.write_text(BIG)
    first = syntax.parse_file(str(rulefile))
    store = cache._statements_file(str(rulefile))
    kept = json.loads(cache._unseal(Path(store).read_bytes()))
    for key in kept:
        kept[key] = json.dumps({"@": "os.system", "command": "touch pwned"})
    Path(store).write_bytes(cache._seal(json.dumps(kept).encode()))
    from rulec.syntax import parser

    edited = "# edited\n" + BIG
    rulefile.write_text(edited)
    assert syntax.parse_file(str(rulefile)) == parser.parse(edited, str(rulefile), _registered=False)
    assert not (tmp_path / "pwned").exists()
    Path(store).write_bytes(cache._seal(b"[1, 2"))
    edited = "# edited again\n" + BIG
    rulefile.write_text(edited)
    assert syntax.parse_file(str(rulefile)) == parser.parse(edited, str(rulefile), _registered=False)
    assert first.decls[0].name == "r0"


# --------------------------------------------------------------- lark's parser tables

_BROKEN = 'rule r:\n    output: "a"\n    shell: "x"\nrule s\n    output: "b"\n'


def _parse_in_fresh_process(tmp_path, cache_root, code_before: str = "") -> subprocess.CompletedProcess:
    """Parse TEXT and _BROKEN in a new interpreter (so the parser is built or loaded anew),
    with pickle's loaders and dumpers replaced by ones that fail the run."""
    script = textwrap.dedent(f"""
        import pickle, sys
        def refuse(*a, **k):
            print("PICKLE USED", file=sys.stderr); raise SystemExit(3)
        pickle.load = pickle.loads = pickle.dump = pickle.dumps = refuse
        {code_before}
        from rulec import syntax
        from rulec.errors import RulecError
        print(syntax.parse({TEXT!r}, "R") == syntax.parse({TEXT!r}, "R"))
        try:
            syntax.parse({_BROKEN!r}, "B")
        except RulecError as exc:
            print(str(exc).splitlines()[0])
    """)
    env = dict(os.environ, RULEC_CACHE_DIR=str(cache_root), TMPDIR=str(tmp_path / "tmp"),
               PYTHONPATH=str(ROOT))
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)


def test_the_parser_tables_never_go_through_pickle_or_the_shared_temporary_folder(tmp_path):
    # lark's cache=True unpickles /tmp/.lark_cache_<user>_<hash>.tmp, a name any local user
    # can plant: the tables are kept as data in the user's cache folder instead
    root = tmp_path / "cache"
    first = _parse_in_fresh_process(tmp_path, root)
    assert first.returncode == 0, first.stderr
    tables = list((root / "lark").iterdir())
    assert len(tables) == 1 and tables[0].suffix == ".json"
    json.loads(cache._unseal(tables[0].read_bytes()))  # plain JSON, under its digest
    second = _parse_in_fresh_process(tmp_path, root)  # tables loaded from the entry
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout and second.stdout.startswith("True\n")
    assert "B:4" in second.stdout  # the broken rule's message, with its place
    assert list((tmp_path / "tmp").iterdir()) == []


def test_tables_loaded_from_the_cache_parse_as_freshly_built_ones(tmp_path, monkeypatch):
    from lark import Lark

    from rulec.syntax import parser

    monkeypatch.setenv("RULEC_CACHE_DIR", str(tmp_path / "cache"))
    parser._lark.cache_clear()
    built = parser._lark()  # builds and keeps the tables
    parser._lark.cache_clear()
    loaded = parser._lark()
    assert loaded is not built
    text = (ROOT / "examples").glob("**/Rulefile")
    for rulefile in list(text)[:5] + [None]:
        source = rulefile.read_text() if rulefile else TEXT
        source += "\n" if not source.endswith("\n") else ""
        assert loaded.parse(source) == built.parse(source)
    parser._lark.cache_clear()


@pytest.mark.parametrize("damage", [b"", b"not json", b'{"data": 1}', b'{"#d": [[1]]}',
                                    b'{"data": {"options": {}}, "memo": {}}'])
def test_damaged_tables_are_built_again(tmp_path, damage):
    root = tmp_path / "cache"
    assert _parse_in_fresh_process(tmp_path, root).returncode == 0
    (entry,) = (root / "lark").iterdir()
    good = _parse_in_fresh_process(tmp_path, root).stdout
    entry.write_bytes(cache._seal(damage))
    again = _parse_in_fresh_process(tmp_path, root)
    assert again.returncode == 0, again.stderr
    assert again.stdout == good
    json.loads(cache._unseal(entry.read_bytes()))  # written again whole
