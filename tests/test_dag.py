import os

import pytest

from rulec.dag import resolve
from rulec.errors import ResolveError

from helpers import CYCLE, SMALL, graph, workflow


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
    text = CYCLE
    with pytest.raises(ResolveError) as err:
        graph(text, targets=["x/1.a"])
    assert "cycle: a[1] -> b[1] -> a[1]" in err.value.message


def test_a_cycle_through_an_existing_file_takes_it_as_a_source():
    text = CYCLE
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


# ---------------------------------------------------------------------------- chains through a rule into itself

import signal
import time
from contextlib import contextmanager

GUNZIP = '''
rule gunzip:
    input:  "{f}.gz"
    output: "{f}"
    shell:  "gunzip -k {input}"
'''

# {f}.a is made from {f}.a.b, {f}.b from {f}.a: t.a needs t.a.b, t.a.a, t.a.a.b, t.a.a.a ...
TAKING_TURNS = '''
rule from_b:
    input:  "{f}.a.b"
    output: "{f}.a"
    shell:  "cp {input} {output}"
rule from_a:
    input:  "{f}.a"
    output: "{f}.b"
    shell:  "cp {input} {output}"
'''


@contextmanager
def finishes_within(seconds: float):
    """Fail, instead of hanging, if the block takes longer (the planner used to chain
    data.csv.gz.gz... forever)."""
    def stop(*_):
        raise AssertionError(f"still resolving after {seconds}s: an endless chain?")

    old = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_a_catch_all_rule_takes_an_existing_file_as_the_end_of_its_chain():
    with finishes_within(2):
        g = graph(GUNZIP, targets=["data.csv"], exists=lambda p: p == "data.csv.gz")
    assert ids(g) == ["gunzip[data.csv]"]
    assert set(g.sources) == {"data.csv.gz"}


def test_a_chain_goes_on_through_a_missing_file_to_one_that_exists():
    with finishes_within(2):
        g = graph(GUNZIP, targets=["data.csv"], exists=lambda p: p == "data.csv.gz.gz")
    assert ids(g) == ["gunzip[data.csv.gz]", "gunzip[data.csv]"]
    assert set(g.sources) == {"data.csv.gz.gz"}


def test_an_endless_chain_is_an_error_naming_the_rule_and_the_paths():
    with finishes_within(2), pytest.raises(ResolveError) as err:
        graph(GUNZIP, targets=["data.csv"])
    assert err.value.render() == (
        "Rulefile:2:6: no rule or file makes 'data.csv': rule gunzip would need 'data.csv.gz', "
        "'data.csv.gz.gz', 'data.csv.gz.gz.gz', …, an endless chain (no file along it exists)\n"
        "    rule gunzip:\n"
        "         ^^^^^^\n"
        "  hint: put 'data.csv.gz' in place, or constrain the wildcard of rule gunzip so that its "
        "output pattern cannot match the paths it reads"
    )


def test_an_endless_chain_below_an_input_says_which_job_needs_it():
    text = GUNZIP + 'rule all:\n    input: "data.csv", "notes.txt"\n'
    with finishes_within(2), pytest.raises(ResolveError) as err:
        graph(text, targets=["all"], exists=lambda p: p == "data.csv.gz")
    assert err.value.message.startswith("no rule or file makes 'notes.txt': rule gunzip would need 'notes.txt.gz'")
    assert err.value.message.endswith("\n  needed by: all")


def test_an_existing_file_a_rule_reads_ends_an_endless_chain_above_it():
    text = GUNZIP + 'rule all:\n    input: "data.csv", "notes.txt"\n'
    with finishes_within(2):
        g = graph(text, targets=["all"], exists=lambda p: p in ("data.csv", "notes.txt"))
    assert ids(g) == ["all"]
    assert set(g.sources) == {"data.csv", "notes.txt"}
    with finishes_within(2):  # one existing, one made from its .gz
        g = graph(text, targets=["all"], exists=lambda p: p in ("data.csv", "notes.txt.gz"))
    assert ids(g) == ["gunzip[notes.txt]", "all"]
    assert set(g.sources) == {"data.csv", "notes.txt.gz"}


def test_many_existing_files_that_only_an_endless_chain_could_make_stay_cheap():
    values = ", ".join(f'"s{i}"' for i in range(3000))
    text = f'dimension s = [{values}]\n' + GUNZIP + 'rule all:\n    input: expand("{s}.csv")\n'
    wf = workflow(text)
    start = time.perf_counter()
    with finishes_within(20):
        g = resolve(wf, ["all"], exists=lambda p: p.endswith(".csv"))
    assert ids(g) == ["all"] and len(g.sources) == 3000
    assert time.perf_counter() - start < 5


def test_an_existing_target_that_only_an_endless_chain_could_make_is_an_error():
    with finishes_within(2), pytest.raises(ResolveError) as err:
        graph(GUNZIP, targets=["data.csv"], exists=lambda p: p == "data.csv")
    assert err.value.message.startswith(
        "'data.csv' exists, and no rule can make it: rule gunzip would need 'data.csv.gz', 'data.csv.gz.gz'")
    assert err.value.hint == "an existing file that no rule makes needs no job: name a target that uses it"


def test_two_rules_taking_turns_in_an_endless_chain():
    with finishes_within(2), pytest.raises(ResolveError) as err:
        graph(TAKING_TURNS, targets=["t.a"])
    assert err.value.message == (
        "no rule or file makes 't.a': rules from_b, from_a would need 't.a.b', 't.a.a', 't.a.a.b', …, "
        "an endless chain (no file along it exists)"
    )
    with finishes_within(2):
        g = graph(TAKING_TURNS, targets=["t.a"], exists=lambda p: p == "t.a.a")
    assert ids(g) == ["from_a[t.a]", "from_b[t]"]
    assert set(g.sources) == {"t.a.a"}
    with finishes_within(2):
        g = graph(TAKING_TURNS, targets=["t.a"], exists=lambda p: p == "t.a.b")
    assert ids(g) == ["from_b[t]"]


def test_a_rule_with_many_inputs_of_its_own_making_stops_quickly():
    text = '''
dimension part = ["p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9"]
rule merge:
    input:  expand("{f}.{part}")
    output: "{f}"
    shell:  "cat {input} > {output}"
'''
    with finishes_within(5), pytest.raises(ResolveError, match="rule merge would need .*an endless chain"):
        graph(text, targets=["x"])


def test_an_endless_chain_found_by_the_careful_walk_of_a_cycle():
    # the a/b cycle sends resolving to the depth-first walk; gunzip's chain must end there too
    text = '''
rule a:
    input: "x/{n}.b"
    output: "x/{n}.a"
    shell: "cp {input} {output}"
rule b:
    input: "x/{n}.a", "data.csv"
    output: "x/{n}.b"
    shell: "cp {input} {output}"
''' + GUNZIP
    with finishes_within(2):
        g = graph(text, targets=["x/1.a"], exists=lambda p: p in ("x/1.a", "data.csv.gz"))
    assert ids(g) == ["gunzip[data.csv]", "b[1]", "a[1]"]
    with finishes_within(2), pytest.raises(ResolveError, match="no rule or file makes 'data.csv'") as err:
        graph(text, targets=["x/1.a"], exists=lambda p: p == "x/1.a")
    assert "needed by: b[1] <- a[1]" in err.value.message


def test_a_rule_may_still_apply_to_its_own_outputs_on_shorter_paths():
    text = '''
rule sort:
    input:  "{f}"
    output: "{f}.sorted"
    shell:  "sort {input} > {output}"
'''
    assert ids(graph(text, targets=["x.sorted.sorted"])) == ["sort[x]", "sort[x.sorted]"]


# ---------------------------------------------------------------------------- paths outside the working folder

ANY_PATH = '''
rule touch:
    output: "{p,.*}"
    shell:  "touch {output}"
'''


@pytest.mark.parametrize("target", ["../../z.dat", "/elsewhere/z.dat", "sub/../../z.dat"])
def test_a_free_wildcard_does_not_make_a_target_outside_the_working_folder(target):
    with pytest.raises(ResolveError) as err:
        graph(ANY_PATH, targets=[target])
    shown = os.path.normpath(target)
    assert err.value.message == (
        f"{target!r} is outside the working folder (/nonexistent): rule touch would make it with "
        f"{{p}} = {shown!r}, and a free wildcard never takes a value that leaves the working folder"
    )
    assert err.value.span.line == 2


def test_a_free_wildcard_still_makes_paths_inside_the_working_folder():
    assert ids(graph(ANY_PATH, targets=["sub/dir/z.dat"])) == ["touch[sub/dir/z.dat]"]
    assert ids(graph(ANY_PATH, targets=["/nonexistent/sub/z.dat"])) == ["touch[sub/z.dat]"]


def test_a_job_id_cannot_give_a_free_wildcard_a_value_outside_or_against_its_constraint():
    with pytest.raises(ResolveError, match=r"job id 'touch\[../../z.dat\]': the value '../../z.dat' of the free "
                                           r"wildcard \{p\} would put the outputs of rule touch outside"):
        graph(ANY_PATH, targets=["touch[../../z.dat]"])
    text = 'rule num:\n    output: "out/{n,[0-9]+}.txt"\n    shell: "echo {n} > {output}"\n'
    with pytest.raises(ResolveError, match=r"job id 'num\[abc\]': 'abc' does not match the wildcard \{n,\[0-9\]\+\}"):
        graph(text, targets=["num[abc]"])
    assert ids(graph(text, targets=["num[12]"])) == ["num[12]"]


def test_paths_written_outside_the_working_folder_stay_the_rulefiles_choice():
    text = ANY_PATH + '''
rule align:
    input:  "/data/ref.fa", "../shared/reads.fq"
    output: "bld/aligned.bam"
    shell:  "align {input} > {output}"
rule share:
    input:  "bld/aligned.bam"
    output: "../shared/{name}.txt"
    shell:  "cp {input} {output}"
ruleorder: share > align > touch
'''
    g = graph(text, targets=["bld/aligned.bam"])
    # the catch-all rule does not claim what is read from outside: sources, as written
    assert ids(g) == ["align"]
    assert set(g.sources) == {"/data/ref.fa", "../shared/reads.fq"}
    assert ids(graph(text, targets=["../shared/x.txt"])) == ["align", "share[x]"]


def test_an_absolute_target_outside_the_working_folder_finds_the_rule_that_names_it():
    text = 'rule ref:\n    output: "/data/ref.fa"\n    shell: "fetch > {output}"\n'
    assert ids(graph(text, targets=["/data/ref.fa"])) == ["ref"]


# ---------------------------------------------------------------------------- default logs

def test_default_logs_stay_in_their_folder_whatever_the_job_id_holds():
    from rulec.logs import default_log, file_name

    text = '''
dimension m (outside) = ["/elsewhere/m", "../../../../../../tmp/x", "a]b*", "d0"]
rule fit:
    output: "bld/{m}.json"
    shell:  "touch {output}"
rule once:
    output: "bld/once.txt"
'''
    g = graph(text, targets=["fit", "once"])
    logs = {g.job_id(j): default_log(g, j) for j in g.order}
    assert logs == {
        "fit[/elsewhere/m]": ".rulec/logs/fit/fit.%2Felsewhere%2Fm.log",
        "fit[../../../../../../tmp/x]": ".rulec/logs/fit/fit...%2F..%2F..%2F..%2F..%2F..%2Ftmp%2Fx.log",
        "fit[a]b*]": ".rulec/logs/fit/fit.a%5Db%2A.log",
        "fit[d0]": ".rulec/logs/fit/fit.d0.log",
        "once": ".rulec/logs/once/once.log",
    }
    for log in logs.values():
        assert os.path.dirname(os.path.normpath(log)) in (".rulec/logs/fit", ".rulec/logs/once")
    long = file_name("fit[" + "é" * 200 + "]")
    assert len(long.encode()) <= 255 and long.endswith(".log") and "/" not in long
    assert file_name("fit[" + "é" * 200 + "]") != file_name("fit[" + "é" * 199 + "e]")


def test_default_log_names_need_no_quoting_and_stay_one_to_one_with_job_ids():
    import shlex

    from rulec.logs import file_name

    ids = ["fit", "fit[log]", "fit[a,b]", "fit[a.b]", "fit[a.b,c]", "fit[a,b.c]", "fit[a%2Cb]", "fit[a,,b]",
           "fit[.]", "fit[..]", "fit[a b]", "fit[*]", "fit[a]b]", "fit[]", "fi[t.a]", "fit[d0,m1]"]
    names = [file_name(i) for i in ids]
    assert len(set(names)) == len(ids), names
    assert file_name("fit[d0,m1]") == "fit.d0,m1.log" and file_name("all") == "all.log"
    for name in names:
        assert not set(name) & set("[]*?{}~#^ '\"\\$`!"), name  # nothing zsh or bash would expand
        assert shlex.quote(name) == name


REFERENCES = '''
dimension dataset = ["d0", "d1"]
dimension model = ["m0", "m1"]

rule all:
    input: expand(rules.summarize.output), rules.index.output

rule prepare:
    input:  "src/data.csv"
    output: csv="bld/prepared/{dataset}.csv", meta="bld/prepared/{dataset}.json"
    log:    "logs/prepare/{dataset}.log"
    shell:  "cp {input} {output.csv}; touch {output.meta} 2> {log}"

rule fit:
    input:  data=rules.prepare.output.csv, log=rules.prepare.log
    output: multiext("bld/fit/{dataset}_{model}", ".json", ".txt")
    shell:  "touch {output}"

rule summarize:
    input:  expand(rules.fit.output)
    output: "bld/summary/{model}.csv"
    shell:  "cat {input} > {output}"

rule index:
    input:  multiext("bld/prepared/d0", ".csv", ".json")
    output: multiext("bld/index", idx=".idx", txt=".txt")
    shell:  "cat {input} > {output.idx}; touch {output.txt}"
'''


def test_rule_references_and_multiext_resolve_to_the_referenced_jobs():
    g = graph(REFERENCES)
    assert sorted(ids(g)) == sorted(
        ["all", "index"] + [f"prepare[{d}]" for d in ("d0", "d1")]
        + [f"fit[{d},{m}]" for d in ("d0", "d1") for m in ("m0", "m1")] + ["summarize[m0]", "summarize[m1]"])
    fit = g.find(2, ("d1", "m0"))
    assert g.inputs[fit] == ("bld/prepared/d1.csv", "logs/prepare/d1.log")
    assert ids(g, g.deps[fit]) == ["prepare[d1]"]
    summarize = g.find(3, ("m1",))
    # one pattern after the other, as expand() of a list of patterns in Snakemake
    assert g.inputs[summarize] == ("bld/fit/d0_m1.json", "bld/fit/d1_m1.json", "bld/fit/d0_m1.txt", "bld/fit/d1_m1.txt")
    assert sorted(ids(g, g.deps[summarize])) == ["fit[d0,m1]", "fit[d1,m1]"]
    index = g.find(4, ())
    assert g.inputs[index] == ("bld/prepared/d0.csv", "bld/prepared/d0.json")
    assert ids(g, g.deps[index]) == ["prepare[d0]"]
    everything = g.find(0, ())
    assert g.inputs[everything] == ("bld/summary/m0.csv", "bld/summary/m1.csv", "bld/index.idx", "bld/index.txt")


def test_a_target_made_by_a_multiext_output_is_that_rules_job():
    assert ids(graph(REFERENCES, targets=["bld/fit/d0_m1.txt"])) == ["prepare[d0]", "fit[d0,m1]"]
    assert ids(graph(REFERENCES, targets=["bld/index.txt"])) == ["prepare[d0]", "index"]
# --------------------------------------------------------------------------- sample sheets, list fields, config

SHEET_RULEFILE = '''\
config "config.toml"
dimension sample = table("samples.tsv", lists=["reads"], list_sep=",")

rule all:
    input: expand("{config.out}/{sample}.bam"), every=expand("{sample.reads}")

rule align:
    input: ref="{config.ref}", reads="{sample.reads}", extra="qc/{sample.reads}.ok"
    output: "{config.out}/{sample}.bam"
    shell: "align {input.ref} {input.reads} --qc {input.extra} --first {input.reads[0]} > {output}"

rule qc:
    input: "{name}"
    output: "qc/{name,.+}.ok"
    shell: "touch {output}"
'''
SHEET_FILES = {
    "config.toml": 'out = "bld"\nref = "ref/genome.fa"\n',
    "samples.tsv": "sample\treads\tcondition\nA\tfq/A_1.fq, fq/A_2.fq\tctl\nB\tfq/B.fq\ttreated\n",
}


def _load(tmp_path, text, files, monkeypatch):
    from rulec import analyze

    for name, body in {"Rulefile": text, **files}.items():
        (tmp_path / name).write_text(body)
    monkeypatch.chdir(tmp_path)
    return analyze.load("Rulefile")


def test_a_list_field_gives_one_input_per_item_and_named_entries_keep_their_items(tmp_path, monkeypatch):
    from rulec import shell

    wf = _load(tmp_path, SHEET_RULEFILE, SHEET_FILES, monkeypatch)
    g = resolve(wf, exists=lambda p: False)
    a = g.find(1, ("A",))
    b = g.find(1, ("B",))
    assert g.inputs[a] == ("ref/genome.fa", "fq/A_1.fq", "fq/A_2.fq", "qc/fq/A_1.fq.ok", "qc/fq/A_2.fq.ok")
    assert g.inputs[b] == ("ref/genome.fa", "fq/B.fq", "qc/fq/B.fq.ok")
    assert g.input_entries(a) == [("ref", ("ref/genome.fa",)), ("reads", ("fq/A_1.fq", "fq/A_2.fq")),
                                  ("extra", ("qc/fq/A_1.fq.ok", "qc/fq/A_2.fq.ok"))]
    assert sorted(ids(g, g.deps[a])) == ["qc[fq/A_1.fq]", "qc[fq/A_2.fq]"]
    rs = shell.renderers(g)
    assert shell.command_of(g, rs, a) == (
        "align ref/genome.fa fq/A_1.fq fq/A_2.fq --qc qc/fq/A_1.fq.ok qc/fq/A_2.fq.ok --first fq/A_1.fq > bld/A.bam")
    assert shell.command_of(g, rs, b) == "align ref/genome.fa fq/B.fq --qc qc/fq/B.fq.ok --first fq/B.fq > bld/B.bam"
    top = g.targets[0]
    assert g.inputs[top] == ("bld/A.bam", "bld/B.bam", "fq/A_1.fq", "fq/A_2.fq", "fq/B.fq")
    assert g.input_entries(top)[-1] == ("every", ("fq/A_1.fq", "fq/A_2.fq", "fq/B.fq"))


def test_two_list_fields_in_one_path_give_their_product_and_one_field_twice_the_same_item(tmp_path, monkeypatch):
    wf = _load(tmp_path, '''\
dimension s:
    a: x=["1", "2"], y=["u", "v"]
rule r:
    input: "in/{s.x}_{s.y}.txt", "twice/{s.x}/{s.x}.txt"
    output: "out/{s}.txt"
''', {}, monkeypatch)
    g = resolve(wf, exists=lambda p: False)
    assert g.inputs[0] == ("in/1_u.txt", "in/1_v.txt", "in/2_u.txt", "in/2_v.txt", "twice/1/1.txt", "twice/2/2.txt")


def test_a_table_dimension_resolves_as_its_rulefile_twin(tmp_path, monkeypatch):
    """The same workflow with its dimension in a block and in a sample sheet: the same jobs."""
    block = 'dimension d:\n    x: subset="s1"\n    "y z": subset="s2"\n'
    rules = 'rule all:\n    input: expand("o/{d}.txt")\nrule r:\n    input: "src/{d.subset}.csv"\n    output: "o/{d}.txt"\n'
    a = resolve(_load(tmp_path, block + rules, {}, monkeypatch), exists=lambda p: False)
    b = resolve(_load(tmp_path, 'dimension d = table("d.csv")\n' + rules, {"d.csv": 'd,subset\nx,s1\n"y z",s2\n'}, monkeypatch),
                exists=lambda p: False)
    assert ids(a) == ids(b) and a.inputs == b.inputs and a.outputs == b.outputs
WRAPPED = '''
dimension genome = ["g1", "g2"]

rule all:
    input: expand("bld/aligned/{genome}.txt")

rule index:
    input:  ancient("data/reference.fa")
    output: directory("bld/index/{genome}")
    log:    "logs/index/{genome}.log"
    benchmark: "bench/index_{genome}.tsv"
    shell:  "mkdir {output}"

rule align:
    input:  "data/{genome}.fa", idx="bld/index/{genome}", raw=directory("data/raw"), ref=ancient("data/reference.fa")
    output: "bld/aligned/{genome}.txt"
    shell:  "ls {input.idx} > {output}"

rule report:
    input:  expand("bench/index_{genome}.tsv")
    output: "bld/bench.tsv"
    shell:  "cat {input} > {output}"
'''


def test_a_benchmark_is_the_last_output_of_its_job_not_a_log():
    g = graph(WRAPPED, targets=["all", "report"])
    job = g.find(g.workflow.rule("index").index, ("g1",))
    assert g.outputs[job] == ("bld/index/g1", "logs/index/g1.log", "bench/index_g1.tsv")
    assert g.declared_outputs(job) == ("bld/index/g1",)
    assert g.logs(job) == ("logs/index/g1.log",)
    assert g.benchmark(job) == "bench/index_g1.tsv"
    # another rule may read it: its job is the producer
    rep = g.find(g.workflow.rule("report").index, ())
    assert job in g.deps[rep]
    align = g.find(g.workflow.rule("align").index, ("g1",))
    assert g.benchmark(align) is None and g.logs(align) == ()


def test_directories_and_ancient_inputs_are_known_per_job():
    g = graph(WRAPPED)
    assert g.directories() == {"bld/index/g1", "bld/index/g2", "data/raw"}
    align = g.find(g.workflow.rule("align").index, ("g2",))
    assert g.inputs[align] == ("data/g2.fa", "bld/index/g2", "data/raw", "data/reference.fa")
    assert g.ancient(align) == {3}
    assert graph().directories() == frozenset()


def test_ancient_in_a_rule_with_list_field_inputs_is_refused_where_it_is_written(tmp_path, monkeypatch):
    from rulec.errors import RulecError

    text = ('dimension sample:\n    A: reads=["a1.fq", "a2.fq"]\n\n'
            'rule align:\n    input: ancient("ref.fa"), "{sample.reads}"\n    output: "bld/{sample}.bam"\n'
            '    shell: "cat {input} > {output}"\n')
    wf = workflow(text, str(tmp_path))
    with pytest.raises(RulecError) as err:
        resolve(wf, exists=lambda p: False)
    assert "ancient() in a rule whose inputs use a list field is not supported yet" in str(err.value)
    assert err.value.span.line == 5
