"""Small builders shared by the unit tests: a Workflow from Rulefile text, no disk needed."""

from __future__ import annotations

from rulec.analyze import analyze
from rulec.dag import resolve
from rulec.syntax import parse

SMALL = '''
dimension dataset = ["d0", "d1"]
dimension model = ["m0", "m1"]

rule all:
    input: expand("bld/summary/{model}.csv")

rule prepare:
    input:  "src/data.csv"
    output: "bld/prepared/{dataset}.csv"
    shell:  "cp {input} {output}"

rule fit:
    input:  data="bld/prepared/{dataset}.csv"
    output: "bld/fit/{dataset}_{model}.json"
    params: seed=42
    shell:  "echo {model} {params.seed} > {output}"

rule summarize:
    input:  expand("bld/fit/{dataset}_{model}.json")
    output: "bld/summary/{model}.csv"
    shell:  "cat {input} > {output}"
'''


# two rules, each making the other's input: a cycle among x/N.a and x/N.b
CYCLE = '''
rule a:
    input: "x/{n}.b"
    output: "x/{n}.a"
    shell: "cp {input} {output}"
rule b:
    input: "x/{n}.a"
    output: "x/{n}.b"
    shell: "cp {input} {output}"
'''


def workflow(text: str = SMALL, workdir: str = "/nonexistent"):
    return analyze(parse(text, "Rulefile"), workdir)


def graph(text: str = SMALL, targets=(), exists=lambda p: False):
    wf = workflow(text)
    return resolve(wf, targets, exists=exists)


def gate(name: str = "go", seconds: int = 30) -> str:
    """Shell text that waits until the file ``name`` exists (``seconds`` at most): a job that
    is still running when the test acts on it (queues, holds or cancels the next one, kills
    rulec, re-attaches), however slow the machine, until the test creates the file."""
    return f"for n in $(seq {seconds * 20}); do [ -e {name} ] && break; sleep 0.05; done"


def hostile_rulefile(values) -> str:
    """A Rulefile whose dimension ``s`` takes ``values`` (shell code, quotes, blanks, globs),
    each the job id and output of a rule ``mk``: what shell completion must quote."""
    quoted = ", ".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return (f"dimension s = [{quoted}]\n\n"
            'rule all:\n    input: expand("out/{s}.txt")\n\n'
            'rule mk:\n    output: "out/{s}.txt"\n    shell: "printf hi > {output}"\n')


# A dimension value holding a "/" (common with glob() dimensions): job ids with a slash.
SLASHED = '''
dimension n = ["a", "b", "sub/x"]

rule all:
    input: expand("out/{n}.txt")

rule make:
    output: "out/{n}.txt"
    shell: "if [ {n} = a ]; then exit 3; fi; echo {n} > {output}"
'''
