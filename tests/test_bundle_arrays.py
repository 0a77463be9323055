"""Jobs -> job arrays: grouping per rule, chunks at MaxArraySize, aftercorr vs afterok."""

from __future__ import annotations

import pytest

from helpers import graph as make_graph
from rulec.bundle import arrays as arr
from rulec.bundle.settings import Settings

CHAIN = '''
dimension dataset = ["d0", "d1", "d2"]
dimension model = ["m0", "m1"]

rule all:
    input: expand("out/{model}.txt")

rule prepare:
    output: "data/{dataset}.txt"
    shell: "echo {dataset} > {output}"

rule fit:
    input: "data/{dataset}.txt"
    output: "fit/{dataset}_{model}.txt"
    shell: "cat {input} > {output}"

rule score:
    input: "fit/{dataset}_{model}.txt"
    output: "score/{dataset}_{model}.txt"
    shell: "cat {input} > {output}"

rule summarize:
    input: expand("score/{dataset}_{model}.txt")
    output: "out/{model}.txt"
    shell: "cat {input} > {output}"
'''


def runnable(g):
    return [j for j in g.order if g.rule_of(j).shell is not None]


def layout_of(text=CHAIN, max_size=1001, run=None, targets=()):
    g = make_graph(text, targets)
    jobs = runnable(g) if run is None else run(g)
    return g, arr.layout(g, jobs, lambda rule: Settings(cpus=rule.resources.cpus), max_size)


def names(lay):
    return [a.name for a in lay.arrays]


def deps(lay, name):
    a = next(x for x in lay.arrays if x.name == name)
    return [(d.kind, lay.arrays[d.array].name) for d in a.deps]


def test_one_array_per_rule_in_dependency_order():
    g, lay = layout_of()
    assert names(lay) == ["prepare", "fit", "score", "summarize"]
    assert [len(a) for a in lay.arrays] == [3, 6, 6, 2]
    assert lay.n_tasks == 17
    # every job of the bundle has exactly one place
    assert sorted(lay.where) == sorted(runnable(g))


def test_fan_out_and_fan_in_use_afterok():
    _, lay = layout_of()
    assert deps(lay, "prepare") == []
    assert deps(lay, "fit") == [("afterok", "prepare")]  # 6 jobs need 3: not one-to-one
    assert deps(lay, "summarize") == [("afterok", "score")]


def test_one_to_one_chain_uses_aftercorr_with_aligned_tasks():
    g, lay = layout_of()
    assert deps(lay, "score") == [("aftercorr", "fit")]
    fit = next(a for a in lay.arrays if a.name == "fit")
    score = next(a for a in lay.arrays if a.name == "score")
    for i, job in enumerate(score.jobs):
        (dep,) = g.deps[job]
        assert fit.jobs[i] == dep, "task i of score must need exactly task i of fit"


def test_alignment_reorders_the_downstream_array():
    # score's jobs resolved in another order than fit's: the layout still aligns them
    def run(g):
        jobs = runnable(g)
        score = [j for j in jobs if g.rule_of(j).name == "score"]
        rest = [j for j in jobs if g.rule_of(j).name != "score"]
        at = max(rest.index(j) for j in rest if g.rule_of(j).name == "fit") + 1
        return rest[:at] + list(reversed(score)) + rest[at:]

    g, lay = layout_of(run=run)
    assert deps(lay, "score") == [("aftercorr", "fit")]


def test_chunks_at_max_array_size_keep_aftercorr_per_chunk():
    g, lay = layout_of(max_size=4)
    assert names(lay) == ["prepare", "fit-1", "fit-2", "score-1", "score-2", "summarize"]
    assert [len(a) for a in lay.arrays] == [3, 4, 2, 4, 2, 2]
    assert deps(lay, "score-1") == [("aftercorr", "fit-1")]
    assert deps(lay, "score-2") == [("aftercorr", "fit-2")]
    assert deps(lay, "fit-1") == [("afterok", "prepare")]
    assert deps(lay, "summarize") == [("afterok", "score-1"), ("afterok", "score-2")]
    # the bound on submissions: rules × ⌈tasks / MaxArraySize⌉
    assert len(lay.arrays) <= sum(-(-n // 4) for n in (3, 6, 6, 2))


def test_only_jobs_in_the_bundle_and_dependencies_among_them():
    # a rerun where prepare is up to date: fit depends on nothing in the bundle
    def run(g):
        return [j for j in runnable(g) if g.rule_of(j).name != "prepare"]

    _, lay = layout_of(run=run)
    assert names(lay) == ["fit", "score", "summarize"]
    assert deps(lay, "fit") == []


def test_partial_rerun_of_one_chain_is_aftercorr():
    def run(g):
        keep = {"fit[d1,m0]", "score[d1,m0]", "summarize[m0]", "summarize[m1]"}
        return [j for j in runnable(g) if g.job_id(j) in keep]

    _, lay = layout_of(run=run)
    assert [len(a) for a in lay.arrays] == [1, 1, 2]
    assert deps(lay, "score") == [("aftercorr", "fit")]
    assert deps(lay, "summarize") == [("afterok", "score")]


def test_sizes_must_match_for_aftercorr():
    def run(g):
        drop = {"score[d0,m0]"}
        return [j for j in runnable(g) if g.job_id(j) not in drop]

    _, lay = layout_of(run=run)
    assert deps(lay, "score") == [("afterok", "fit")]


def test_a_rule_depending_on_itself_is_split_by_depth():
    g = make_graph('''
rule all:
    input: "c/c.txt"

rule base:
    output: "c/a.txt"
    shell: "echo a > {output}"

rule copy:
    input: "c/{x}.txt"
    output: "c/{x}{x}.txt"
    shell: "cat {input} > {output}"
''', ["c/aaaa.txt"])
    jobs = runnable(g)
    lay = arr.layout(g, jobs, lambda rule: Settings(), 1001)
    # copy[a] -> copy[aa]: the same rule at two depths -> two arrays, chained
    copies = [a for a in lay.arrays if a.rule.name == "copy"]
    assert len(copies) == 2
    assert all(len(a) == 1 for a in copies)
    second = copies[1]
    assert [lay.arrays[d.array].name for d in second.deps] == [copies[0].name]
    assert [a.name for a in lay.arrays] == ["base", "copy-1", "copy-2"]


def test_cyclic_nodes():
    assert arr._cyclic_nodes({1: {2}, 2: {3}, 3: set()}) == set()
    assert arr._cyclic_nodes({1: {2}, 2: {1}, 3: {3}, 4: set()}) == {1, 2, 3}


def test_settings_are_asked_once_per_rule():
    g = make_graph(CHAIN)
    asked = []

    def settings_of(rule):
        asked.append(rule.name)
        return Settings()

    arr.layout(g, runnable(g), settings_of, 2)
    assert sorted(asked) == ["fit", "prepare", "score", "summarize"]


def test_bad_max_size():
    g = make_graph(CHAIN)
    with pytest.raises(ValueError):
        arr.layout(g, runnable(g), lambda r: Settings(), 0)
