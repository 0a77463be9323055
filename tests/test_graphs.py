"""rulec/graphs.py: the cache of resolved job graphs."""

from __future__ import annotations

import os
import sys

import pytest

from rulec import dag, graphs

from helpers import CYCLE, SMALL, workflow

COLUMNS = ("rule", "values", "outputs", "n_outputs", "inputs", "deps", "targets", "order", "sources", "producer")

@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RULEC_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "graph"


def same(a, b) -> None:
    for name in COLUMNS:
        assert getattr(a, name) == getattr(b, name), name
    for job in range(len(a)):
        assert a.job_id(job) == b.job_id(job)


def entries(folder) -> list[str]:
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


WITH_KINDS = '''
dimension sample:
    a: files=["raw/a1.fq", "raw/a2.fq"]
    b: files=["raw/b1.fq"]
dimension k = ["1", "2"]

rule all:
    input: expand("out/{sample}_{k}.txt"), "bld/joined.txt"

rule count:
    input:  reads="{sample.files}", ref="ref.txt"
    output: "out/{sample}_{k}.txt", tmp=temp("tmp/{sample}_{k}.part")
    log:    "logs/count/{sample}_{k}.log"
    benchmark: "bench/{sample}_{k}.tsv"
    shell:  "wc -l {input.reads} > out/{sample}_{k}.txt; touch tmp/{sample}_{k}.part"

rule join:
    input:  expand("out/{sample}_{k}.txt"), old=ancient("ref.txt")
    output: "bld/joined.txt"
    shell:  "cat {input} > {output}"
'''


@pytest.mark.parametrize("text", [SMALL, WITH_KINDS], ids=["small", "kinds"])
def test_a_cached_graph_is_the_graph_resolving_makes(text, cache):
    wf = workflow(text)
    fresh = dag.resolve(wf, (), exists=lambda p: False)
    first = graphs.resolve(wf)
    assert len(entries(cache)) == 1
    again = graphs.resolve(wf)
    same(fresh, first)
    same(fresh, again)
    for job in range(len(fresh)):
        assert again.find(fresh.rule[job], fresh.values[job]) == job  # made on first use
        assert again.input_entries(job) == fresh.input_entries(job)
    assert again.directories() == fresh.directories()


def test_targets_are_part_of_the_key(cache):
    wf = workflow()
    one = graphs.resolve(wf, ("bld/fit/d1_m0.json",))
    both = graphs.resolve(wf, ())
    assert len(entries(cache)) == 2
    assert [one.job_id(j) for j in one.order] == ["prepare[d1]", "fit[d1,m0]"]
    same(both, dag.resolve(wf, ()))


def test_the_key_leaves_out_commands_params_and_lines_but_not_the_paths():
    base = graphs.key(workflow(), ())
    edited = SMALL.replace('"echo {model} {params.seed} > {output}"', '"echo edited {model} > {output}"')
    edited = edited.replace("params: seed=42", "params: seed=43")
    assert graphs.key(workflow("\n\n# a comment\n" + edited), ()) == base
    assert graphs.key(workflow(SMALL.replace('"bld/fit/{dataset}_{model}.json"', '"bld/fit/{model}_{dataset}.json"')), ()) != base
    assert graphs.key(workflow(SMALL.replace('["m0", "m1"]', '["m0", "m1", "m2"]')), ()) != base
    assert graphs.key(workflow(SMALL.replace('"src/data.csv"', '"src/other.csv"')), ()) != base
    assert graphs.key(workflow(), ("bld/summary/m0.csv",)) != base
    assert graphs.key(workflow(SMALL, workdir="/elsewhere"), ()) != base


def test_a_field_the_paths_use_is_part_of_the_key_and_another_is_not():
    text = '''
dimension s:
    a: path="raw/a.fq", note="x"
    b: path="raw/b.fq", note="y"
rule all:
    input: expand("out/{s}.txt")
rule count:
    input:  "{s.path}"
    output: "out/{s}.txt"
    shell:  "wc -l {input} > {output} # {s.note}"
'''
    base = graphs.key(workflow(text), ())
    assert graphs.key(workflow(text.replace('note="x"', 'note="z"')), ()) == base
    assert graphs.key(workflow(text.replace('"raw/a.fq"', '"raw/A.fq"')), ()) != base


def test_a_graph_that_looked_at_the_disk_is_not_kept(tmp_path, cache):
    text = CYCLE
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "1.a").write_text("")
    wf = workflow(text, workdir=str(tmp_path))
    g = graphs.resolve(wf, ("x/1.a",))
    assert [g.job_id(j) for j in g.order] == ["b[1]", "a[1]"]
    assert entries(cache) == []  # the cycle was cut at an existing file: it depends on the disk
    os.unlink(tmp_path / "x" / "1.a")
    with pytest.raises(Exception, match="cycle"):
        graphs.resolve(wf, ("x/1.a",))


def _entry(cache) -> str:
    (name,) = entries(cache)
    return os.path.join(cache, name)


@pytest.mark.parametrize("damage", ["truncate", "extend", "index", "magic", "key", "fifo", "empty", "edges"])
def test_a_damaged_or_crafted_entry_reads_as_absent(damage, cache):
    wf = workflow()
    fresh = graphs.resolve(wf)
    path = _entry(cache)
    data = bytearray(open(path, "rb").read())
    if damage == "truncate":
        data = data[:-3]
    elif damage == "extend":
        data += b"\0\0\0\0"
    elif damage == "index":  # the last int32 (a source's job) points past the jobs
        data[-4:] = (10**6).to_bytes(4, "little" if os.sys.byteorder == "little" else "big")
    elif damage == "magic":
        data[:5] = b"xxxxx"
    elif damage == "key":
        data = data.replace(os.path.basename(path)[:-len(graphs.SUFFIX)].encode(), b"0" * 40, 1)
    elif damage == "empty":
        data = b""
    elif damage == "edges":  # a rule-level edge naming a rule the workflow does not have
        at = data.index(b'"rule_edges": [[') + len(b'"rule_edges": [[')
        data[at:at + 1] = b"9"
    os.unlink(path)
    if damage == "fifo":
        os.mkfifo(path)  # a read would block: never opened for reading
    else:
        with open(path, "wb") as fh:
            fh.write(bytes(data))
    assert graphs._load(path, os.path.basename(path)[:-len(graphs.SUFFIX)], wf, dag.compile_rules(wf)) is None
    same(fresh, graphs.resolve(wf))  # resolved again, and written again


@pytest.mark.parametrize("how", ["group-writable", "symlink"])
def test_an_entry_others_could_have_written_reads_as_absent(how, cache, tmp_path):
    wf = workflow()
    fresh = graphs.resolve(wf)
    path = _entry(cache)
    key = os.path.basename(path)[:-len(graphs.SUFFIX)]
    assert graphs._load(path, key, wf, dag.compile_rules(wf)) is not None
    if how == "symlink":
        os.rename(path, tmp_path / "elsewhere")
        os.symlink(tmp_path / "elsewhere", path)
    else:
        os.chmod(path, 0o664)
    assert graphs._load(path, key, wf, dag.compile_rules(wf)) is None
    same(fresh, graphs.resolve(wf))


def test_the_folder_keeps_the_newest_entries_within_its_budget(cache, monkeypatch):
    wf = workflow()
    for target in ("bld/summary/m0.csv", "bld/summary/m1.csv"):
        graphs.resolve(wf, (target,))
    assert len(entries(cache)) == 2
    monkeypatch.setattr(graphs, "BUDGET", 1)  # smaller than any entry: the newest is kept all the same
    graphs.resolve(wf, ("bld/fit/d0_m0.json",))
    assert entries(cache) == [graphs.key(wf, ("bld/fit/d0_m0.json",)) + graphs.SUFFIX]


def test_an_unwritable_cache_folder_only_means_resolving(tmp_path, monkeypatch):
    (tmp_path / "ro").write_text("a file where the cache folder would be")
    monkeypatch.setenv("RULEC_CACHE_DIR", str(tmp_path / "ro"))
    wf = workflow()
    same(graphs.resolve(wf), dag.resolve(wf, ()))


def _crafted(path: str, at_column: int, value: int) -> None:
    """Rewrite the entry with the first item of column ``at_column`` set to ``value`` and a
    digest that matches: a crafted entry, not a damaged one."""
    import json as json_

    from rulec.digest import blake2b

    data = open(path, "rb").read()
    end = data.index(b"\n", len(graphs.MAGIC))
    head = json_.loads(data[len(graphs.MAGIC):end])
    body = bytearray(data[end + 1:])
    at = head["bytes"] + 4 * sum(head["columns"][:at_column])
    body[at:at + 4] = value.to_bytes(4, sys.byteorder)
    head["digest"] = blake2b(bytes(body), digest_size=16).hexdigest()
    with open(path, "wb") as fh:
        fh.write(graphs.MAGIC + json_.dumps(head).encode() + b"\n" + bytes(body))


def test_an_entry_with_more_declared_outputs_than_outputs_reads_as_absent(cache):
    wf = workflow()
    graphs.resolve(wf)
    path = _entry(cache)
    _crafted(path, 9, 99)  # n_outputs is the 10th column: its first count beyond that job's outputs
    assert graphs._load(path, os.path.basename(path)[:-len(graphs.SUFFIX)], wf, dag.compile_rules(wf)) is None


@pytest.mark.parametrize("text", [SMALL, WITH_KINDS], ids=["small", "kinds"])
def test_a_lazily_read_graph_has_the_same_rows(text, cache):
    wf = workflow(text)
    fresh = dag.resolve(wf, (), exists=lambda p: False)
    graphs.resolve(wf)  # kept
    lazy = graphs.resolve(wf, lazy=True)
    assert isinstance(lazy.outputs, graphs.Rows) and isinstance(lazy.deps, graphs.Rows)
    for name in COLUMNS:  # row by row (iterating a lazy column makes them all)
        column = getattr(lazy, name)
        assert (list(column) if isinstance(column, graphs.Rows) else column) == getattr(fresh, name), name
    for name in ("values", "outputs", "inputs", "deps"):
        eager, rows = getattr(fresh, name), getattr(lazy, name)
        assert len(rows) == len(eager)
        assert [rows[j] for j in range(len(rows))] == eager
        assert rows[-1] == eager[-1] and rows[1:3] == eager[1:3] and rows[::-2] == eager[::-2]
        with pytest.raises(IndexError):
            rows[len(rows)]
        assert list(rows.lengths()) == [len(r) for r in eager]
    assert lazy.rule_edges() == fresh.rule_edges() != set()
    assert graphs.resolve(wf).rule_edges() == fresh.rule_edges()  # read from the entry's header


def test_rule_edges_name_each_rule_and_the_rules_its_jobs_need():
    wf = workflow(WITH_KINDS)
    g = dag.resolve(wf, (), exists=lambda p: False)
    names = {(wf.rules[a].name, wf.rules[b].name) for a, b in g.rule_edges()}
    assert names == {("all", "count"), ("all", "join"), ("join", "count")}


def test_a_lazily_read_entry_crafted_past_its_digest_is_an_error_at_the_row(cache):
    """Lazily read, the items are checked when a row is made: an index out of range, in an
    entry whose digest was made to match, is a RulecError naming the folder."""
    from rulec.errors import RulecError

    wf = workflow()
    graphs.resolve(wf)
    path = _entry(cache)
    _crafted(path, 6, 10**6)  # the first item of the inputs' flat column points past the strings
    k = os.path.basename(path)[:-len(graphs.SUFFIX)]
    assert graphs._load(path, k, wf, dag.compile_rules(wf)) is None  # read whole: absent
    lazy = graphs._load(path, k, wf, dag.compile_rules(wf), lazy=True)
    first = next(j for j in range(len(lazy)) if lazy.inputs.offsets[j + 1] > lazy.inputs.offsets[j])
    with pytest.raises(RulecError, match="cached job graph"):
        lazy.inputs[first]
    with pytest.raises(RulecError, match="cached job graph"):
        list(lazy.inputs)
