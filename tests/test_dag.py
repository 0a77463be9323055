import pytest

from rulec.dag import resolve
from rulec.errors import ResolveError

from helpers import SMALL, graph, workflow


def ids(g, jobs=None):
    return [g.job_id(j) for j in (g.order if jobs is None else jobs)]


def test_resolves_the_default_target_backwards_in_dependency_order():
    g = graph()
    order = ids(g)
    assert len(g) == 2 + 4 + 2 + 1
    assert order[-1] == "all"
    for job in g.order:
        for dep in g.deps[job]:
            assert order.index(g.job_id(dep)) < order.index(g.job_id(job))
    assert set(order) >= {"prepare[d0]", "fit[d1,m0]", "summarize[m1]"}
    assert g.sources == {"src/data.csv": g.find(1, ("d0",))}


def test_expand_keeps_the_bound_wildcard_of_the_output():
    g = graph()
    job = g.find(3, ("m1",))
    assert g.inputs[job] == ("bld/fit/d0_m1.json", "bld/fit/d1_m1.json")
    assert sorted(ids(g, g.deps[job])) == ["fit[d0,m1]", "fit[d1,m1]"]


def test_targets_paths_rules_and_job_ids():
    assert ids(graph(targets=["bld/fit/d1_m0.json"])) == ["prepare[d1]", "fit[d1,m0]"]
    assert sorted(ids(graph(targets=["prepare"]))) == ["prepare[d0]", "prepare[d1]"]
    assert ids(graph(targets=["fit[d0,m1]"])) == ["prepare[d0]", "fit[d0,m1]"]


def test_bad_targets_are_clear_errors():
    with pytest.raises(ResolveError, match="no rule makes 'bld/nothing.txt'"):
        graph(targets=["bld/nothing.txt"])
    with pytest.raises(ResolveError, match="'d9' is not a value of dimension dataset"):
        graph(targets=["fit[d9,m0]"])
    with pytest.raises(ResolveError, match="2 wildcard"):
        graph(targets=["fit[d0]"])


def test_dimension_values_with_underscores_split_correctly():
    # (With models "b_c" and "c" too, out/a_b_c.txt would be both fit[a_b,c] and fit[a,b_c]:
    # `rulec check` refuses that, see test_analyze.)
    text = '''
dimension dataset = ["a_b", "a"]
dimension model = ["b_c"]
rule fit:
    output: "out/{dataset}_{model}.txt"
    shell: "touch {output}"
rule all:
    input: "out/a_b_c.txt"
'''
    g = graph(text, targets=["all"])
    assert ids(g) == ["fit[a,b_c]", "all"]
    g = graph(text, targets=["out/a_b_b_c.txt"])
    assert ids(g) == ["fit[a_b,b_c]"]


def test_free_wildcards_and_constraints():
    text = '''
rule num:
    output: "out/{n,[0-9]+}.txt"
    shell: "echo {n} > {output}"
rule word:
    output: "out/{w,[a-z]+}.txt"
    shell: "echo {w} > {output}"
'''
    assert ids(graph(text, targets=["out/42.txt"])) == ["num[42]"]
    assert ids(graph(text, targets=["out/abc.txt"])) == ["word[abc]"]


def test_cycle_among_missing_files_is_an_error_that_prints_it():
    text = '''
rule a:
    input: "x/{n}.b"
    output: "x/{n}.a"
    shell: "cp {input} {output}"
rule b:
    input: "x/{n}.a"
    output: "x/{n}.b"
    shell: "cp {input} {output}"
'''
    with pytest.raises(ResolveError) as err:
        graph(text, targets=["x/1.a"])
    assert "cycle: a[1] -> b[1] -> a[1]" in err.value.message


def test_a_cycle_through_an_existing_file_takes_it_as_a_source():
    text = '''
rule a:
    input: "x/{n}.b"
    output: "x/{n}.a"
    shell: "cp {input} {output}"
rule b:
    input: "x/{n}.a"
    output: "x/{n}.b"
    shell: "cp {input} {output}"
'''
    g = graph(text, targets=["x/1.a"], exists=lambda p: p == "x/1.a")
    assert ids(g) == ["b[1]", "a[1]"]
    assert "x/1.a" in g.sources


def test_ruleorder_settles_an_ambiguous_path_at_resolve_time():
    text = '''
rule general:
    output: "out/{name}.txt"
    shell: "echo general > {output}"
rule special:
    output: "out/special_{x}.txt"
    shell: "echo special > {output}"
ruleorder: special > general
'''
    assert ids(graph(text, targets=["out/special_1.txt"])) == ["special[1]"]
    assert ids(graph(text, targets=["out/other.txt"])) == ["general[other]"]


def test_two_jobs_making_one_path_is_an_error():
    text = '''
dimension d = ["a", "b"]
rule r:
    output: "out/{d}.txt"
    log: "logs/same.log"
    shell: "touch {output}"
'''
    from rulec.errors import AnalysisError

    with pytest.raises(AnalysisError, match="must use every output wildcard"):
        workflow(text)


def test_subgraph_keeps_what_the_selection_needs():
    g = graph()
    chosen = [j for j in g.order if g.job_id(j) == "fit[d1,m1]"]
    sub = g.subgraph_of(chosen)
    assert ids(sub) == ["prepare[d1]", "fit[d1,m1]"]
    assert sub.targets == [1]


def test_many_jobs_resolve_without_regex_matching_each_path():
    values = ", ".join(f'"d{i}"' for i in range(2000))
    text = SMALL.replace('["d0", "d1"]', f"[{values}]")
    g = graph(text)
    assert len(g) == 2000 + 4000 + 2 + 1
