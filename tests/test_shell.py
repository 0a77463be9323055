from rulec import shell

from helpers import graph


def command(text, job_id):
    g = graph(text)
    job = next(j for j in g.order if g.job_id(j) == job_id)
    return shell.command_of(g, shell.renderers(g), job)


RULES = '''
dimension dataset:
    d0: subset="first set"
dimension model = ["m 1", "m;2"]
rule fit:
    input: data="in/{dataset}.csv", extra=["a.txt", "b.txt"]
    output: main="out/{dataset}_{model}.json", aux="out/{dataset}_{model}.aux"
    log: "logs/{dataset}_{model}.log"
    params: seed=42, name="run_{model}", flags=["-a", "-b c"], on=true
    resources: cpus=3, mem="2G"
    shell: "prog {input.data} {input.extra} {input[1]} {output.main} {log} {params.seed} {params.name} {params.flags} {params.on} {model} {dataset.subset} {threads} {resources.mem_mb} {rule} {model:raw}"
'''


def test_every_reference_is_substituted_and_quoted():
    cmd = command(RULES, "fit[d0,m;2]")
    assert cmd == (
        "prog in/d0.csv a.txt b.txt a.txt 'out/d0_m;2.json' 'logs/d0_m;2.log' 42 'run_m;2' -a '-b c' true "
        "'m;2' 'first set' 3 2048 fit m;2"
    )


def test_hostile_values_stay_single_arguments():
    text = '''
dimension name = ["a b", "it's", "$(touch pwned)"]
rule r:
    output: "out/{name}.txt"
    shell: "echo {name} > {output}"
'''
    assert command(text, "r[it's]") == """echo 'it'"'"'s' > 'out/it'"'"'s.txt'"""
    assert command(text, "r[$(touch pwned)]") == "echo '$(touch pwned)' > 'out/$(touch pwned).txt'"
