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


# --------------------------------------------------------------------------- the command hash

def test_white_space_inside_quotes_and_line_breaks_are_changes():
    h = shell.command_hash
    assert h('echo "a  b"') != h('echo "a b"')
    assert h("echo 'a  b'") != h("echo 'a b'")
    assert h("a\nb") != h("a b")  # a line break ends a command
    assert h('echo "x\n   y"') != h('echo "x\ny"')  # inside a string that spans lines
    assert h("cat <<EOF\n  indented\nEOF") != h("cat <<EOF\nindented\nEOF")  # a here-document's body
    assert h("echo ${x:-a   b}") != h("echo ${x:-a b}")  # a word inside ${...}
    assert h("foo\\\n  bar") != h("foobar")  # blanks after a line continuation separate words


def test_what_bash_ignores_is_not_a_change():
    h = shell.command_hash
    base = h("prep in.txt > out.txt\ntest -s out.txt")
    assert h("    prep   in.txt  >\tout.txt   \n\n\n    test -s out.txt\n") == base
    assert h("# make it\nprep in.txt > out.txt  # comment\n   # another\ntest -s out.txt") == base
    assert h('echo "a  b"   # note') == h('echo "a  b"')
    assert h("x=$(  dirname  'a b'  )") == h("x=$(dirname 'a b')")


def test_hashes_and_dollars_that_are_no_comments():
    h = shell.command_hash
    assert h("echo $# a") != h("echo $# b")
    assert h("echo ${#x} a") != h("echo ${#x} b")
    assert h("echo a#b") != h("echo a#c")
    assert h("echo '#a'") != h("echo '#b'")
    assert h('echo "#a"') != h('echo "#b"')
    assert h("echo \\#a") != h("echo \\#b")
    assert h("echo $((16#ff)) a") != h("echo $((16#ff)) b")


def test_what_the_scanner_cannot_follow_is_kept_as_it_is():
    # an unclosed quote, and `case` inside $(...) (its patterns' ')' would look like the end)
    assert shell.normalize('echo  "unclosed  ') == 'echo "\0unclosed  '
    cmd = 'echo "$(case x in a) echo "hi  there";; esac)"'
    assert shell.normalize(cmd).endswith('case x in a) echo "hi  there";; esac)"')
    assert shell.command_hash(cmd) != shell.command_hash(cmd.replace("hi  there", "hi there"))


def test_plain_commands_normalize_as_the_scanner_does():
    import random

    rnd = random.Random(7)
    for _ in range(3000):
        text = "".join(rnd.choice("ab ;|>&<()\t\n=\r-") for _ in range(rnd.randint(0, 16)))
        if "<<" in text or "((" in text:
            continue
        out: list = []
        shell._Scanner(text, out).commands(0, False)
        assert shell.normalize(text) == "".join(out), repr(text)


def _key_and_whole(text):
    g = graph(text)
    rs = shell.renderers(g)
    for j in g.order:
        if g.rule_of(j).shell is None:
            continue
        r = rs[g.rule[j]]
        args = (g.job_id(j), g.values[j], g.inputs[j], g.outputs[j], g.n_outputs[j])
        yield r, r.key(*args), shell.digest(shell.normalize(r.render(*args)))


def test_a_jobs_key_is_the_hash_of_its_whole_command_normalized():
    # The renderer fills in the template normalized once where it can; the result must be
    # that of normalizing each job's command, whatever the values hold.
    import random

    from rulec.errors import RulecError

    frags = ["echo", " ", "  ", "\t", "\n", "\n  ", "'", '"', "\\", "`", "$", "#", "<<", "<<-", "EOF", "\nEOF\n", "(",
             ")", "((", "))", "$(", "${", "}", "case", "ca", "se", ";", "|", ">", "&", "a", "b c", "$'", "\\\n", "<<<"]
    refs = ["{input}", "{output}", "{s}", "{s:raw}", "{params.p}", "{params.p:raw}"]
    values = ["a", "a b", "", "it's", "x'y", 'q"r', "$(ls)", "case", "se", "ca", "#c", "EOF", "a\nb", " lead", "trail ",
              "a  b", "x;", "p|", "\\", "`", "${x}", "<", "<<E", "(", ")", "é", "a\tb", "-n", "1"]
    rnd = random.Random(11)
    compared = filled = 0
    while compared < 400:
        template = "".join(rnd.choice(frags + refs * 2) for _ in range(rnd.randint(1, 14)))
        body = template.replace("\\", "\\\\").replace('"""', '""\\"')
        vals = ", ".join('"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'
                         for v in rnd.sample(values, 4))
        text = (f'dimension s = [{vals}]\nrule r:\n    input: "in/{{s}}.txt"\n    output: "out/{{s}}.txt"\n'
                f'    params: p="{{s}}"\n    shell: """{body}"""\n')
        try:
            jobs = list(_key_and_whole(text))
        except RulecError:
            continue
        for r, key, whole in jobs:
            assert key == whole, (r.template.text, text)
            compared += 1
            filled += r._normalized is not None
    assert filled > 100  # the filled-in template was used, not only the whole command


# --------------------------------------------------------------------------- label env and {attempt}

ENV = '''
dimension sample = ["a", "b"]
label java:
    env: JAVA_HOME="/opt/java 11", OMP_NUM_THREADS="{threads}", TAG="{sample}"
rule r:
    output: "o/{sample}.txt"
    label: java
    resources: cpus=4
    shell: "java > {output}"
'''


def test_env_is_exported_before_the_command_quoted():
    assert command(ENV, "r[a]") == (
        "export JAVA_HOME='/opt/java 11'\n"
        "export OMP_NUM_THREADS=4\n"
        "export TAG=a\n"
        "java > o/a.txt"
    )


def test_an_env_value_stays_data_in_bash(tmp_path):
    import subprocess

    from rulec import ir
    from rulec.source import Span

    g = graph(ENV)
    wf = g.workflow
    hostile = "$(touch PWNED) `touch PWNED2`; touch PWNED3\nline2 'q' \"d\""
    rule = wf.rules[0]
    env = (("X", ir.ShellTemplate(hostile, (hostile,), Span("Rulefile", 3, 1))),)
    r = shell.CommandRenderer(wf, ir.Rule(**{**{f: getattr(rule, f) for f in rule.__slots__}, "env": env}),
                              g.plans[0].input_slices)
    job = g.order[0]
    prefix = r.env_prefix(g.job_id(job), g.values[job], g.inputs[job], g.outputs[job], g.n_outputs[job])
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", prefix + 'printf %s "$X"'], cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout
    assert out == hostile
    assert list(tmp_path.iterdir()) == []


def test_env_does_not_change_the_command_hash_but_is_part_of_the_params_key():
    g = graph(ENV)
    rs = shell.renderers(g)
    g2 = graph(ENV.replace("/opt/java 11", "/opt/java17"))
    rs2 = shell.renderers(g2)
    job = g.order[0]
    assert shell.command_key(g, rs, job) == shell.command_key(g2, rs2, job)
    a, b = shell.env_key(g, rs, job), shell.env_key(g2, rs2, job)
    assert a != b and a.startswith("|JAVA_HOME:") and a.split(",")[1:] == b.split(",")[1:]
    # computed once per rule when no value depends on the job (TAG does, here)
    assert rs[0]._env_static is None
    assert shell.renderers(graph(ENV.replace(', TAG="{sample}"', "")))[0]._env_static is not None


ATTEMPT = '''
rule r:
    output: "o.txt"
    params: p="try{attempt}"
    resources: mem="1G*{attempt}", time="10m*{attempt}"
    shell: "run --attempt {attempt} --p {params.p} --mem {resources.mem} --time {resources.time} > {output}"
'''


def test_attempt_reaches_the_command_params_and_resources():
    g = graph(ATTEMPT)
    rs = shell.renderers(g)
    job = g.order[0]
    assert shell.command_of(g, rs, job) == "run --attempt 1 --p try1 --mem 1024 --time 600 > o.txt"
    assert shell.command_of(g, rs, job, attempt=3) == "run --attempt 3 --p try3 --mem 3072 --time 1800 > o.txt"
    # the hash is that of the first attempt: a job that succeeded on attempt 3 is up to date
    assert shell.command_key(g, rs, job) == shell.command_hash(shell.command_of(g, rs, job))
    assert shell.params_hash(rs[0], g.values[job]) == shell.params_hash(shell.renderers(g)[0], g.values[job])


# --------------------------------------------------------------------------- config values and list fields


def test_config_values_and_list_fields_are_quoted_each_and_stay_data_in_bash(tmp_path, monkeypatch):
    import subprocess

    from rulec import analyze, dag

    (tmp_path / "config.toml").write_text('msg = "$(touch pwned) it\'s"\nwords = ["a b", ";c"]\nn = 3\n')
    (tmp_path / "Rulefile").write_text('''\
config "config.toml"
dimension s:
    one: files=["x y.fq", "$(touch pwned2)"]
rule r:
    output: "out/{s}.txt"
    params: files="{s.files}", n="{config.n}"
    shell: "printf '%s\\\\n' {config.msg} {config.words} {config.words[1]} {s.files} {s.files[1]} {params.files} {params.n} > {output}"
''')
    monkeypatch.chdir(tmp_path)
    g = dag.resolve(analyze.load("Rulefile"), exists=lambda p: False)
    cmd = shell.command_of(g, shell.renderers(g), 0)
    assert cmd == ("printf '%s\\n' '$(touch pwned) it'\"'\"'s' 'a b' ';c' ';c' 'x y.fq' '$(touch pwned2)' "
                   "'$(touch pwned2)' 'x y.fq' '$(touch pwned2)' 3 > out/one.txt")
    (tmp_path / "out").mkdir()
    subprocess.run(["bash", "-euo", "pipefail", "-c", cmd], cwd=tmp_path, check=True)
    assert (tmp_path / "out" / "one.txt").read_text().splitlines() == [
        "$(touch pwned) it's", "a b", ";c", ";c", "x y.fq", "$(touch pwned2)", "$(touch pwned2)", "x y.fq", "$(touch pwned2)", "3"]
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()
def test_log_in_a_command_is_the_logs_and_never_the_benchmark():
    g = graph('''
rule a:
    output: "out.txt"
    log: "a.log"
    benchmark: "bench/a.tsv"
    shell: "echo {output} {log} > {output}"
''')
    job = g.find(0, ())
    assert shell.command_of(g, shell.renderers(g), job) == "echo out.txt a.log > out.txt"


def test_a_list_of_words_is_quoted_as_shlex_quotes_each():
    import random
    import shlex

    from rulec.shell import _quote_words

    rng = random.Random(7)
    alphabet = "ab/._-@%+=:, '\"$\\\n\té\x01*?[]~#!;&|<>(){}`"
    for _ in range(5000):
        words = tuple("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6))) for _ in range(rng.randint(0, 5)))
        assert _quote_words(words) == " ".join(shlex.quote(w) for w in words), words
    assert _quote_words(("a", "")) == "a ''" and _quote_words(("a b",)) == "'a b'" and _quote_words(()) == ""
