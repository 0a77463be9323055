"""The Rulefile syntax, as tables: Rulefile text -> a compact dump of what was understood.

DECLS: the parser's output (rulec.syntax.parse -> decls), for every construct of the grammar.
IR:    the same text analyzed (rulec.analyze.analyze -> ir.Workflow), for what the
       constructs mean: wildcards, expand/zip, params types, resource units, shell references.
Errors have their own module (test_analyze.py); the dump format is in rulec_dump.py.
"""

from __future__ import annotations

import os

import pytest
from rulec_dump import dump_module, dump_workflow

from rulec.analyze import analyze
from rulec.source import Span
from rulec.syntax import parse

# (name, Rulefile text, dump of the declarations)
DECLS = [
    ("empty file", "", ""),
    ("only comments and blank lines", "# a comment\n\n   \n\t\n# another\n", ""),
    ("dimension list", 'dimension model = ["a", "b"]\n', "dimension model = ['a', 'b']"),
    ("dimension list, single quotes, trailing comma", "dimension model = ['a', 'b',]\n", "dimension model = ['a', 'b']"),
    ("dimension list over lines", 'dimension model = [\n    "a",   # first\n  "b"\n]\n', "dimension model = ['a', 'b']"),
    ("dimension of numbers and names", "dimension fold = [1, 2, x]\n", "dimension fold = [1, 2, x]"),
    ("dimension glob", 'dimension sample = glob("data/{sample}.csv")\n', "dimension sample = glob('data/{sample}.csv')"),
    (
        "dimension block with fields",
        'dimension dataset:\n    data_0: subset="s1", rows=10\n    data_1: subset="s2", rows=20\n',
        "dimension dataset: data_0(subset='s1', rows=10) data_1(subset='s2', rows=20)",
    ),
    (
        "dimension block keys: name, string, number",
        'dimension d:\n    a: x=1\n    "b c": x=2\n    3: x=3\n',
        "dimension d: a(x=1) b c(x=2) 3(x=3)",
    ),
    ("dimension block of bare values", "dimension region:\n    north\n    south\n", "dimension region: north south"),
    ("input: one", 'rule r:\n    input: "a.txt"\n', "rule r | input: 'a.txt'"),
    ("input: several", 'rule r:\n    input: "a.txt", "b.txt"\n', "rule r | input: 'a.txt', 'b.txt'"),
    ("input: a list", 'rule r:\n    input: ["a.txt", "b.txt"]\n', "rule r | input: ['a.txt', 'b.txt']"),
    (
        "input: named, and a named list",
        'rule r:\n    input: data="a.txt", extra=["b.txt", "c.txt"]\n',
        "rule r | input: data='a.txt', extra=['b.txt', 'c.txt']",
    ),
    (
        "input: expand and zip",
        'rule r:\n    input: expand("x/{d}.txt", d=["1", "2"]), zip("y/{a}_{b}")\n',
        "rule r | input: expand('x/{d}.txt', d=['1', '2']), zip('y/{a}_{b}')",
    ),
    (
        "output (named and not) and log",
        'rule r:\n    output: main="x.txt", "y.txt"\n    log: "x.log"\n',
        "rule r | output: main='x.txt', 'y.txt' | log: 'x.log'",
    ),
    (
        "a field block: items on the lines below, commas between lines optional",
        'rule r:\n    input:\n        "a.txt"\n        "b.txt", "c.txt",\n        data="d.txt"\n    output: "x"\n',
        "rule r | input: 'a.txt', 'b.txt', 'c.txt', data='d.txt' | output: 'x'",
    ),
    (
        "items on the field's line, then more on indented lines below (Snakemake's layout)",
        'rule r:\n    output: "a",\n            "b"\n    input: "c", "d",\n        "e", x="f"\n        "g"\n    shell: "y"\n',
        "rule r | output: 'a', 'b' | input: 'c', 'd', 'e', x='f', 'g' | shell: 'y'",
    ),
    (
        "rule references: names joined by dots",
        'rule r:\n    input: rules.a.output, data=rules.a.output.table, expand(rules.b.log), [rules.c.output]\n',
        "rule r | input: <rules.a.output>, data=<rules.a.output.table>, expand(<rules.b.log>), [<rules.c.output>]",
    ),
    (
        "multiext: a call",
        'rule r:\n    output: multiext("bld/x", ".bam", ".bai"), i=multiext("y", ".a"), multiext("z", a=".a")\n',
        "rule r | output: multiext('bld/x', '.bam', '.bai'), i=multiext('y', '.a'), multiext('z', a='.a')",
    ),
    (
        "a list over lines inside a field",
        'rule r:\n    output: [\n  "a",\n            "b",\n    ]\n',
        "rule r | output: ['a', 'b']",
    ),
    (
        "params of every type",
        'rule r:\n    params: i=42, neg=-3, f=0.5, e=1e-3, s="text", b=true, l=["a", 1, 2.5]\n',
        "rule r | params: i=42, neg=-3, f=0.5, e=0.001, s='text', b=true, l=['a', 1, 2.5]",
    ),
    (
        "resources",
        'rule r:\n    resources: cpus=2, mem="4G", time="30m", gpus=1, io=3\n',
        "rule r | resources: cpus=2, mem='4G', time='30m', gpus=1, io=3",
    ),
    ("label field", "rule r:\n    label: gpu\n", "rule r | label: gpu"),
    ("shell: one line", 'rule r:\n    shell: "echo {input} > {output}"\n', "rule r | shell: 'echo {input} > {output}'"),
    (
        'shell: a """block"""',
        'rule r:\n    shell: """\n        echo a\n        echo b\n    """\n',
        "rule r | shell: block'\\n        echo a\\n        echo b\\n    '",
    ),
    ("shell: a '''block'''", "rule r:\n    shell: '''echo \"a\"'''\n", "rule r | shell: block'echo \"a\"'"),
    ("persist and priority", "rule r:\n    persist: true\n    priority: -2\n", "rule r | persist: true | priority: -2"),
    (
        "label block",
        'label gpu:\n    limit: 1\n    slurm: partition="gpu", gres="gpu:1"\n    lsf: queue="gpu"\n    jbsub: "-queue x86_1h"\n',
        "label gpu | limit: 1 | slurm: partition='gpu', gres='gpu:1' | lsf: queue='gpu' | jbsub: '-queue x86_1h'",
    ),
    ("ruleorder", "ruleorder: a > b > c\n", "ruleorder a > b > c"),
    ("include", 'include "sub/Rulefile"\n', "include 'sub/Rulefile'"),
    ("config", 'config "config.toml"\nconfig \'site.yaml\'\n', "config 'config.toml'\nconfig 'site.yaml'"),
    ("a dotted name", "dimension model = config.models\n", "dimension model = <config.models>"),
    ("dotted names as values", "rule r:\n    params: seed=config.seed, n=config.db.port\n",
     "rule r | params: seed=<config.seed>, n=<config.db.port>"),
    ("table()", 'dimension s = table("s.tsv", key="id", list_sep=",")\n', "dimension s = table('s.tsv', key='id', list_sep=',')"),
    (
        "config is still a name: a dimension, a field, a value",
        'dimension config = [config]\nrule r:\n    config: 1\n    label: config\n',
        "dimension config = [config]\nrule r | config: 1 | label: config",
    ),
    (
        "comments everywhere, at any indentation",
        'rule r:   # after the header\n    # before a field\n        # deeper\n  # shallower\n    output: "x"  # after a field\n'
        '# at the margin, inside the block\n    shell: "y"\n# the end\n',
        "rule r | output: 'x' | shell: 'y'",
    ),
    ("a # inside a string is not a comment", 'rule r:\n    shell: "echo # not a comment"\n', "rule r | shell: 'echo # not a comment'"),
    ("tabs for indentation", 'rule r:\n\toutput: "x"\n\tshell: "y"\n', "rule r | output: 'x' | shell: 'y'"),
    ("CRLF line ends, no final newline", 'rule r:\r\n    output: "x"\r\n    shell: "y"', "rule r | output: 'x' | shell: 'y'"),
    ("a byte order mark", '\ufeffrule r:\n    output: "x"\n', "rule r | output: 'x'"),
    ("a backslash continues a line", 'rule r:\n    output: \\\n        "x"\n', "rule r | output: 'x'"),
    ("string escapes, and unknown ones kept", 'rule r:\n    shell: "a\\tb \\"q\\" \\\\ \\d"\n', "rule r | shell: 'a\\tb \"q\" \\\\ \\\\d'"),
    (
        "several statements",
        'dimension m = ["a"]\nrule r:\n    output: "x/{m}"\n\nrule s:\n    input: "x/a"\n',
        "dimension m = ['a']\nrule r | output: 'x/{m}'\nrule s | input: 'x/a'",
    ),
]


@pytest.mark.parametrize("text,expected", [c[1:] for c in DECLS], ids=[c[0] for c in DECLS])
def test_declarations(text, expected):
    assert dump_module(parse(text, "Rulefile")) == expected


# (name, Rulefile text, dump of the analyzed workflow)
IR = [
    ("dimension list: values are text", 'dimension model = ["a", "b", 3, x]\n', "dimension model [list] = a b 3 x"),
    (
        "dimension block with fields",
        'dimension dataset:\n    data_0: subset="s1", rows=10\n    "data 1": subset="s2", rows=2.5\n',
        "dimension dataset [block] = data_0 'data 1' | data_0:subset=s1,rows=10 'data 1':subset=s2,rows=2.5",
    ),
    (
        "the outputs define the wildcards, in order of first appearance",
        'dimension d = ["d0"]\ndimension m = ["m0"]\nrule r:\n    output: "x/{m}/{d}.txt", "y/{d}_{m}.txt"\n',
        "dimension d [list] = d0\ndimension m [list] = m0\nrule r[m,d]\n  output 'x/{m}/{d}.txt', 'y/{d}_{m}.txt'",
    ),
    (
        "a free wildcard with a regex",
        'rule r:\n    output: "runs/{n,[0-9]+}.txt"\n    shell: "seq {n} > {output}"\n',
        "rule r[n]\n  regex n=[0-9]+\n  output 'runs/{n,[0-9]+}.txt'\n  shell 'seq ' {n} ' > ' {output}",
    ),
    ("a repeated wildcard is one wildcard", 'rule r:\n    output: "x/{name}_{name}.txt"\n', "rule r[name]\n  output 'x/{name}_{name}.txt'"),
    (
        "literal braces in paths and commands",
        "rule r:\n    output: \"x/{{a}}.txt\"\n    shell: \"awk '{{print $1}}' > {output}\"\n",
        "rule r\n  output 'x/{{a}}.txt'\n  shell \"awk '{print $1}' > \" {output}",
    ),
    (
        "inputs: one, named, a named list; references by name and position",
        'rule r:\n    input: "a", data="b", extra=["c", "d"]\n    output: "x"\n'
        '    shell: "cat {input} {input.data} {input.extra} {input[0]} {input.extra[1]}"\n',
        "rule r\n  output 'x'\n  input 'a'\n  input data='b'\n  input extra='c'\n  input extra='d'\n"
        "  shell 'cat ' {input} ' ' {input.data} ' ' {input.extra} ' ' {input[0]} ' ' {input.extra[1]}",
    ),
    (
        "expand: the output's wildcards keep the job's value",
        'dimension d = ["d0", "d1"]\ndimension m = ["m0", "m1"]\nrule r:\n    input: expand("fit/{d}_{m}.json")\n    output: "sum/{m}.csv"\n',
        "dimension d [list] = d0 d1\ndimension m [list] = m0 m1\nrule r[m]\n  output 'sum/{m}.csv'\n"
        "  input expand('fit/{d}_{m}.json') over d: d0 d1",
    ),
    (
        "expand: restricted dimensions, values for a free wildcard",
        'dimension d = ["d0", "d1"]\ndimension m = ["m0", "m1"]\nrule r:\n'
        '    input: expand("fit/{d}_{m}.json", m=["m1"]), expand("p/{k}.png", k="a")\n    output: "all.txt"\n',
        "dimension d [list] = d0 d1\ndimension m [list] = m0 m1\nrule r\n  output 'all.txt'\n"
        "  input expand('fit/{d}_{m}.json') over d,m: d0/m1 d1/m1\n  input expand('p/{k}.png') over k: a",
    ),
    (
        "zip: element-wise pairs",
        'dimension s = ["a", "b"]\ndimension l = ["1", "2"]\nrule r:\n'
        '    input: zip("x/{s}_{l}.txt"), zip("y/{p}{q}", p=["u", "v"], q=["1", "2"])\n    output: "all.txt"\n',
        "dimension s [list] = a b\ndimension l [list] = 1 2\nrule r\n  output 'all.txt'\n"
        "  input zip('x/{s}_{l}.txt') over s,l: a/1 b/2\n  input zip('y/{p}{q}') over p,q: u/1 v/2",
    ),
    (
        "params of every type",
        'dimension d:\n    d0: sub="s"\nrule r:\n    output: "x/{d}"\n'
        '    params: i=42, neg=-3, f=0.5, s="text", b=true, n=false, w=word, l=["a", 1], p="run_{d}", fld="{d.sub}"\n',
        "dimension d [block] = d0 | d0:sub=s\nrule r[d]\n  output 'x/{d}'\n"
        "  params i=42 neg=-3 f=0.5 s='text' b=True n=False w='word' l=('a', 1) p=pattern('run_{d}') fld=pattern('{d.sub}')",
    ),
    (
        "resources with units",
        'rule r:\n    output: "x"\n    resources: cpus=2, mem="1.5G", time="1h30m", gpus=1, io=3\n',
        "rule r\n  output 'x'\n  resources cpus=2 mem_mb=1536 time_s=5400 gpus=1 io=3",
    ),
    (
        "memory and time units",
        'rule r:\n    output: "x"\n    resources: mem=500, time=10\n'
        'rule s:\n    output: "y"\n    resources: mem="4GiB", time="2-12:00:00"\n'
        'rule t:\n    output: "z"\n    resources: mem="512m", time="01:30:00"\n'
        'rule u:\n    output: "w"\n    resources: mem="2T", time="1:30"\n',
        "rule r\n  output 'x'\n  resources cpus=1 mem_mb=500 time_s=600\n"
        "rule s\n  output 'y'\n  resources cpus=1 mem_mb=4096 time_s=216000\n"
        "rule t\n  output 'z'\n  resources cpus=1 mem_mb=512 time_s=5400\n"
        "rule u\n  output 'w'\n  resources cpus=1 mem_mb=2097152 time_s=5400",
    ),
    (
        "a label and its settings",
        'label gpu:\n    limit: 2\n    slurm: partition="gpu", gres="gpu:1"\n    lsf: queue="gpu"\n    jbsub: "-queue x86_1h"\n'
        'rule r:\n    output: "x"\n    label: gpu\n',
        "label gpu limit=2 slurm(partition=gpu gres=gpu:1) lsf(queue=gpu) jbsub(-queue x86_1h)\nrule r\n  output 'x'\n  label gpu",
    ),
    (
        "every shell reference",
        'dimension d:\n    d0: sub="s"\nrule r:\n    input: "in/{d}"\n    output: o="out/{d}"\n    log: "log/{d}"\n'
        '    params: seed=1\n    resources: io=2\n'
        '    shell: "{input} {output.o} {log[0]} {params.seed} {resources.cpus} {resources.mem} {resources.io} '
        '{threads} {d} {wildcards.d} {d.sub} {rule} {jobid} {output:raw} {input:q}"\n',
        "dimension d [block] = d0 | d0:sub=s\nrule r[d]\n  output o='out/{d}'\n  log 'log/{d}'\n  input 'in/{d}'\n"
        "  params seed=1\n  resources cpus=1 io=2\n"
        "  shell {input} ' ' {output.o} ' ' {log[0]} ' ' {params.seed} ' ' {resources.cpus} ' ' {resources.mem} ' ' "
        "{resources.io} ' ' {threads} ' ' {d} ' ' {d} ' ' {d.sub} ' ' {rule} ' ' {jobid} ' ' {output:raw} ' ' {input}",
    ),
    (
        "a shell block is dedented, its first and last blank lines dropped",
        'rule r:\n    output: "x"\n    shell: """\n        echo a\n          echo b\n    """\n',
        "rule r\n  output 'x'\n  shell 'echo a\\n  echo b'",
    ),
    ("persist and priority", 'rule r:\n    output: "x"\n    persist: true\n    priority: 3\n', "rule r\n  output 'x'\n  persist\n  priority 3"),
    (
        "a ruleorder chain orders every pair",
        'rule a:\n    output: "x"\nrule b:\n    output: "y"\nrule c:\n    output: "z"\nruleorder: a > b > c\n',
        "rule a\n  output 'x'\nrule b\n  output 'y'\nrule c\n  output 'z'\nprecedence a>b a>c b>c",
    ),
    (
        "rules.X.output: that rule's output patterns, its wildcards bound by this rule's outputs",
        'dimension d = ["d0", "d1"]\n'
        'rule prepare:\n    output: "bld/{d}.csv", meta="bld/{d}.json"\n    log: "logs/{d}.log"\n'
        'rule fit:\n    input: rules.prepare.output, m=rules.prepare.output.meta, l=rules.prepare.log\n'
        '    output: "fit/{d}.txt"\n    shell: "cat {input.m} {input.l} > {output}"\n',
        "dimension d [list] = d0 d1\n"
        "rule prepare[d]\n  output 'bld/{d}.csv', meta='bld/{d}.json'\n  log 'logs/{d}.log'\n"
        "rule fit[d]\n  output 'fit/{d}.txt'\n  input 'bld/{d}.csv'\n  input 'bld/{d}.json'\n"
        "  input m='bld/{d}.json'\n  input l='logs/{d}.log'\n  shell 'cat ' {input.m} ' ' {input.l} ' > ' {output}",
    ),
    (
        "expand(rules.X.output) and zip(rules.X.output): each of its patterns, expanded",
        'dimension d = ["d0", "d1"]\ndimension m = ["m0", "m1"]\n'
        'rule all:\n    input: expand(rules.fit.output, m="m1"), zip(rules.fit.log)\n'
        'rule fit:\n    output: "fit/{d}_{m}.json", "fit/{d}_{m}.txt"\n    log: "logs/{d}_{m}.log"\n',
        "dimension d [list] = d0 d1\ndimension m [list] = m0 m1\nrule all\n"
        "  input expand('fit/{d}_{m}.json') over d,m: d0/m1 d1/m1\n"
        "  input expand('fit/{d}_{m}.txt') over d,m: d0/m1 d1/m1\n"
        "  input zip('logs/{d}_{m}.log') over d,m: d0/m0 d1/m1\n"
        "rule fit[d,m]\n  output 'fit/{d}_{m}.json', 'fit/{d}_{m}.txt'\n  log 'logs/{d}_{m}.log'",
    ),
    (
        "a rule may refer to a rule declared below it",
        'rule all:\n    input: rules.b.output\nrule b:\n    output: "b"\n',
        "rule all\n  input 'b'\nrule b\n  output 'b'",
    ),
    (
        "multiext: one path per extension; named extensions name them; name= names the list",
        'rule index:\n    input: src=multiext("ref/{g}", ".fa", ".fa.fai")\n'
        '    output: multiext("bld/{g}", ".bam", ".bai"), multiext("bld/{g}.stats", txt=".txt", json=".json")\n'
        '    log: multiext("logs/{g}", "_out.log", "_err.log")\n'
        '    shell: "x {input.src} > {output.txt} 2> {log[1]}"\n',
        "rule index[g]\n  output 'bld/{g}.bam', 'bld/{g}.bai', txt='bld/{g}.stats.txt', json='bld/{g}.stats.json'\n"
        "  log 'logs/{g}_out.log', 'logs/{g}_err.log'\n  input src='ref/{g}.fa'\n  input src='ref/{g}.fa.fai'\n"
        "  shell 'x ' {input.src} ' > ' {output.txt} ' 2> ' {log[1]}",
    ),
    (
        "expand: a bare name for a dimension's wildcard is one of its values, as before",
        'dimension m = ["m0", "m1"]\nrule all:\n    input: expand("fit/{m}.json", m=m1)\n',
        "dimension m [list] = m0 m1\nrule all\n  input expand('fit/{m}.json') over m: m1",
    ),
    (
        "a rule may use a dimension and a label declared below it",
        'rule r:\n    output: "x/{m}"\n    label: l\ndimension m = ["a"]\nlabel l:\n    limit: 1\n',
        "dimension m [list] = a\nlabel l limit=1\nrule r[m]\n  output 'x/{m}'\n  label l",
    ),
]


@pytest.mark.parametrize("text,expected", [c[1:] for c in IR], ids=[c[0] for c in IR])
def test_meaning(text, expected):
    assert dump_workflow(analyze(parse(text, "Rulefile"), "/nonexistent")) == expected


# ----------------------------------------------------------------------------- spans

def test_spans_point_at_the_text():
    text = 'dimension model = ["a", "b"]\n\nrule fit:\n    input: data="x/{model}.csv"\n    shell: """\n        run {input}\n    """\n'
    module = parse(text, "Rulefile")
    dim, rule = module.decls
    assert dim.name_span == Span("Rulefile", 1, 11, 1, 16)
    assert dim.expr.items[1].span == Span("Rulefile", 1, 25, 1, 28)
    assert rule.name_span == Span("Rulefile", 3, 6, 3, 9)
    field = rule.fields[0]
    assert field.name_span == Span("Rulefile", 4, 5, 4, 10)
    named = field.items[0]
    assert (named.name, named.name_span) == ("data", Span("Rulefile", 4, 12, 4, 16))
    assert named.value.span == Span("Rulefile", 4, 17, 4, 32)
    # inside the quotes: {model} starts 3 characters after the opening quote
    assert named.value.content_span(2, 7) == Span("Rulefile", 4, 20, 4, 27)
    block = rule.fields[1].items[0]
    assert block.long and block.span.line == 5
    # a position on the block's second line
    offset = block.value.index("{input}")
    assert block.content_span(offset, 7) == Span("Rulefile", 6, 13, 6, 20)


def test_the_grammar_ships_with_the_package():
    from rulec.resources import data_dir

    assert os.path.isfile(os.path.join(data_dir("grammar"), "rulefile.lark"))


# --------------------------------------------------------------------------- limits

def test_brackets_nested_too_deep_are_one_syntax_error_at_their_place():
    from rulec.errors import SyntaxError_
    from rulec.syntax.parser import MAX_NESTING

    n = 600
    with pytest.raises(SyntaxError_) as err:
        parse("dimension x = " + "[" * n + '"a"' + "]" * n + "\n", "R")
    assert err.value.message == f"brackets nested deeper than {MAX_NESTING} levels"
    assert (err.value.span.line, err.value.span.col) == (1, 15 + MAX_NESTING)
    text = 'rule r:\n    output: "o"\n    input: ' + "f(" * n + '"x"' + ")" * n + '\n    shell: "touch o"\n'
    with pytest.raises(SyntaxError_) as err:
        parse(text, "R")
    assert "nested deeper than" in err.value.message and err.value.span.line == 3
    # as deep as allowed is fine
    deep = "[" * MAX_NESTING + '"a"' + "]" * MAX_NESTING
    assert parse(f"dimension x = {deep}\n", "R").decls


@pytest.mark.parametrize("literal, what, col", [
    (r'"a\x00b"', "a NUL character", 18),
    (r'"ok\0"', "a NUL character", 19),
    (r'"\\x00 then \u0000"', "a NUL character", 28),  # the escaped backslash is no escape
    (r'"a\udcffb"', "a lone surrogate (\\udcff)", 18),
    (r'"\U0000d800"', "a lone surrogate (\\ud800)", 17),
])
def test_a_nul_or_a_lone_surrogate_written_as_an_escape_is_refused_where_it_is(literal, what, col):
    from rulec.errors import SyntaxError_

    with pytest.raises(SyntaxError_) as err:
        parse(f'dimension x = [{literal}]\n', "R")
    assert err.value.message.startswith(what), err.value.message
    assert (err.value.span.file, err.value.span.line, err.value.span.col) == ("R", 1, col)
