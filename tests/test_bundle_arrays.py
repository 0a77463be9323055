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


# --------------------------------------------------------------------------- packing

def packed(packs: dict[str, int], max_size=1001, run=None):
    g = make_graph(CHAIN)
    jobs = runnable(g) if run is None else run(g)
    return g, arr.layout(g, jobs, lambda rule: Settings(pack=packs.get(rule.name, 1)), max_size)


def array(lay, name):
    return next(a for a in lay.arrays if a.name == name)


def ids(g, jobs):
    return [g.job_id(j) for j in jobs]


def test_a_packed_array_has_a_task_per_pack_and_a_line_per_job():
    g, lay = packed({"fit": 4, "score": 4})
    fit = array(lay, "fit")
    assert (len(fit), fit.pack, len(fit.jobs)) == (2, 4, 6)  # ceil(6 / 4) tasks
    assert [len(a) for a in lay.arrays] == [3, 2, 2, 2] and lay.n_tasks == 9 and lay.packed
    assert ids(g, fit.task_jobs(1)) == ids(g, fit.jobs[4:])
    for i, job in enumerate(fit.jobs):
        assert lay.where[job] == (fit.index, i // 4)
        assert lay.line_of(job) == i
    prepare = array(lay, "prepare")
    assert prepare.pack == 1 and [lay.line_of(j) for j in prepare.jobs] == [0, 1, 2]  # its task


def test_packs_that_line_up_stay_element_wise():
    # fit and score packed alike: task i of score needs exactly the jobs of task i of fit
    g, lay = packed({"fit": 2, "score": 2})
    assert deps(lay, "score") == [("aftercorr", "fit")]
    fit, score = array(lay, "fit"), array(lay, "score")
    for t in range(len(score)):
        needs = {d for j in score.task_jobs(t) for d in g.deps[j]}
        assert needs == set(fit.task_jobs(t))


def test_packs_of_a_fan_out_line_up_with_their_upstream_job():
    # fit[d, *] packed by the two models of one prepare[d]: task i of fit needs prepare task i
    g, lay = packed({"fit": 2})
    fit = array(lay, "fit")
    assert deps(lay, "fit") == [("aftercorr", "prepare")]
    assert [sorted(ids(g, fit.task_jobs(t))) for t in range(3)] == [
        ["fit[d0,m0]", "fit[d0,m1]"], ["fit[d1,m0]", "fit[d1,m1]"], ["fit[d2,m0]", "fit[d2,m1]"]]


def test_packs_that_do_not_line_up_fall_back_to_afterok():
    # a pack of 3 spans two datasets' fits; packs of different sizes never line up
    assert deps(packed({"fit": 3})[1], "fit") == [("afterok", "prepare")]
    assert deps(packed({"fit": 2, "score": 3})[1], "score") == [("afterok", "fit")]
    assert deps(packed({"prepare": 2, "fit": 2})[1], "fit") == [("afterok", "prepare")]
    # the same pack on both sides of a one-to-one chain, unpacked downstream: sizes differ
    assert deps(packed({"fit": 2})[1], "score") == [("afterok", "fit")]


def test_packed_arrays_are_cut_at_max_size_tasks_and_still_line_up():
    g, lay = packed({"fit": 2, "score": 2}, max_size=2)
    assert names(lay) == ["prepare-1", "prepare-2", "fit-1", "fit-2", "score-1", "score-2", "summarize"]
    assert [(len(a), len(a.jobs)) for a in lay.arrays] == [(2, 2), (1, 1), (2, 4), (1, 2), (2, 4), (1, 2), (2, 2)]
    assert deps(lay, "score-1") == [("aftercorr", "fit-1")] and deps(lay, "score-2") == [("aftercorr", "fit-2")]
    assert deps(lay, "fit-1") == [("aftercorr", "prepare-1")] and deps(lay, "fit-2") == [("aftercorr", "prepare-2")]
    fit2 = array(lay, "fit-2")
    assert [lay.where[j] for j in fit2.jobs] == [(fit2.index, 0)] * 2 and [lay.line_of(j) for j in fit2.jobs] == [0, 1]


def test_a_pack_is_no_bigger_than_its_jobs():
    g, lay = packed({"fit": 50, "summarize": 50, "score": 1})
    assert [(a.name, len(a), a.pack) for a in lay.arrays] == [
        ("prepare", 3, 1), ("fit", 1, 6), ("score", 6, 1), ("summarize", 1, 2)]

    def one(g):
        return [j for j in runnable(g) if g.job_id(j) == "fit[d1,m0]"]

    _, lay = packed({"fit": 50}, run=one)
    assert [(len(a), a.pack) for a in lay.arrays] == [(1, 1)]  # one job: no pack
    assert not lay.packed


def test_a_packs_task_asks_for_its_jobs_time_one_after_another():
    g = make_graph(CHAIN)
    lay = arr.layout(g, runnable(g), lambda rule: Settings(time_s=60, pack=4 if rule.name == "fit" else 1), 1001)
    assert [a.task_seconds() for a in lay.arrays] == [60, 240, 60, 60]
    lay = arr.layout(g, runnable(g), lambda rule: Settings(pack=4), 1001)
    assert lay.arrays[1].task_seconds() is None


def test_a_task_asks_for_the_time_of_its_jobs_width_at_a_time_and_the_memory_of_those_at_once():
    g = make_graph(CHAIN)
    jobs = runnable(g)

    def lay_of(pack, width):
        return arr.layout(g, jobs, lambda rule: Settings(mem_mb=100, time_s=60, pack=pack, width=width))

    fit = next(a for a in lay_of(4, 1).arrays if a.name == "fit")
    assert (fit.width, fit.task_seconds(), fit.task_mem_mb()) == (1, 240, 100)  # one after another
    fit = next(a for a in lay_of(4, 2).arrays if a.name == "fit")
    assert (fit.width, fit.task_seconds(), fit.task_mem_mb()) == (2, 120, 200)  # two at once: two rounds
    fit = next(a for a in lay_of(4, 3).arrays if a.name == "fit")
    assert (fit.width, fit.task_seconds(), fit.task_mem_mb()) == (3, 120, 300)  # 3 then 1
    fit = next(a for a in lay_of(4, 8).arrays if a.name == "fit")
    assert (fit.width, fit.task_seconds()) == (4, 60)  # never more at once than a task has
    summarize = next(a for a in lay_of(50, 8).arrays if a.name == "summarize")
    assert (len(summarize.jobs), summarize.pack, summarize.width) == (2, 2, 2)
    prepare = next(a for a in lay_of(1, 8).arrays if a.name == "prepare")
    assert (prepare.width, prepare.task_seconds(), prepare.task_mem_mb()) == (1, 60, 100)  # unpacked: one job
