"""``rulec check`` end to end: the real CLI (``python -m rulec``) in a subprocess, on the
example project and on broken Rulefiles: the summary, exit 0; the exact error text, exit 2.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from rulec_e2e import run_rulec

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "datasets_models"


def summary(stdout: str) -> dict:
    """The check summary as data: the headline numbers, dimension sizes, jobs per rule."""
    head = re.search(r"^ok (\S+): (\d+) rules, (\d+) dimensions?, default target (\S+) expands to (\d+) jobs$", stdout, re.M)
    assert head, stdout
    out = {
        "file": head.group(1),
        "rules": int(head.group(2)),
        "dimensions": int(head.group(3)),
        "target": head.group(4),
        "jobs": int(head.group(5)),
        "sizes": {},
        "jobs_per_rule": {},
    }
    section = None
    for line in stdout.splitlines()[1:]:
        words = line.split()
        if not words:
            continue
        if words[0] in ("dimension", "rule") and words[1] in ("values", "jobs"):
            section = words[0]
        elif section == "dimension":
            out["sizes"][words[0]] = int(words[1])
        elif section == "rule":
            out["jobs_per_rule"][words[0]] = int(words[1])
    return out


def test_check_the_example_from_the_repository_root():
    res = run_rulec(["check", "examples/datasets_models"], ROOT)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    s = summary(res.stdout)
    assert s == {
        "file": "examples/datasets_models/Rulefile",
        "rules": 5,
        "dimensions": 2,
        "target": "all",
        "jobs": 21,  # all, 4 prepare, 12 estimate, 3 summarize, report
        "sizes": {"dataset": 4, "model": 3},
        "jobs_per_rule": {"all": 1, "prepare": 4, "estimate": 12, "summarize": 3, "report": 1},
    }
    assert re.search(r"^dataset\s+4\s+data_0, data_1, data_2, data_3\s*$", res.stdout, re.M)
    assert re.search(r"^estimate\s+12\s+dataset, model\s+gpu\s*$", res.stdout, re.M)


def test_check_works_from_anywhere(tmp_path):
    res = run_rulec(["check", str(EXAMPLE / "Rulefile")], tmp_path)
    assert res.returncode == 0, res.stderr
    assert summary(res.stdout)["jobs"] == 21


def test_check_with_set_restricts_the_jobs():
    res = run_rulec(["check", "examples/datasets_models", "--set", "model=decision_tree"], ROOT)
    assert res.returncode == 0, res.stderr
    s = summary(res.stdout)
    assert s["sizes"] == {"dataset": 4, "model": 1}
    assert s["jobs_per_rule"] == {"all": 1, "prepare": 4, "estimate": 4, "summarize": 1, "report": 1}
    assert s["jobs"] == 11


def test_check_of_a_target(tmp_path):
    res = run_rulec(["check", str(EXAMPLE), "summarize"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert summary(res.stdout)["jobs_per_rule"] == {"all": 0, "prepare": 4, "estimate": 12, "summarize": 3, "report": 0}


def test_check_in_the_current_folder(tmp_path):
    shutil.copytree(EXAMPLE, tmp_path / "project", ignore=shutil.ignore_patterns("bld", "logs", ".rulec"))
    res = run_rulec(["check"], tmp_path / "project")
    assert res.returncode == 0, res.stderr
    assert summary(res.stdout)["file"] == "Rulefile"


# ----------------------------------------------------------------------------- errors

def check_error(folder: Path, text: str, files: dict[str, str] | None = None) -> str:
    (folder / "Rulefile").write_text(text, encoding="utf-8")
    for name, body in (files or {}).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(body, encoding="utf-8")
    res = run_rulec(["check"], folder)
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert res.stdout == ""
    assert "Traceback" not in res.stderr
    return res.stderr


def test_syntax_error(tmp_path):
    assert check_error(tmp_path, 'rule estimate\n    output: "x"\n') == (
        "Rulefile:1:14: unexpected end of line; expected ':'\n"
        "    rule estimate\n"
        "                 ^\n"
    )


def test_several_errors_at_once(tmp_path):
    text = (
        'dimension dataset = ["data_0", "data_1"]\n'
        "rule estimate:\n"
        '    input: "bld/{sample}.csv"\n'
        '    output: "bld/{dataset}.json"\n'
        '    resources: mem="4X"\n'
        "    label: gpu\n"
    )
    assert check_error(tmp_path, text) == (
        "Rulefile:3:17: wildcard {sample} in input is not defined by any output of rule estimate (its outputs define {dataset})\n"
        '        input: "bld/{sample}.csv"\n'
        "                    ^^^^^^^^\n"
        """Rulefile:5:20: bad memory value '4X': expected a number with a unit K, M, G or T, e.g. "4G"\n"""
        '        resources: mem="4X"\n'
        "                       ^^^^\n"
        "Rulefile:6:12: unknown label 'gpu'\n"
        "        label: gpu\n"
        "               ^^^\n"
        "  hint: declare it with a block:  label gpu:  and indented settings such as  limit: 1\n"
    )


def test_ambiguity_error(tmp_path):
    text = 'rule plot:\n    output: "bld/{name}.png"\nrule special:\n    output: "bld/special.png"\n'
    assert check_error(tmp_path, text) == (
        "Rulefile:4:13: rules 'plot' and 'special' can both make 'bld/special.png' "
        "('bld/{name}.png' at Rulefile:2:13, 'bld/special.png' here)\n"
        '        output: "bld/special.png"\n'
        "                ^^^^^^^^^^^^^^^^^\n"
        "  hint: settle it with  ruleorder: plot > special  (or the other way), or a priority\n"
    )


def test_error_in_an_included_file(tmp_path):
    stderr = check_error(tmp_path, 'include "sub/more.rules"\n', {"sub/more.rules": 'rule a:\n    output: "x/{n}"\n    shell: "{nope}"\n'})
    assert stderr.splitlines()[0].startswith("sub/more.rules:3:13: unknown name {nope} in shell command")


def test_error_of_a_rulefile_given_by_path_names_that_path(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "Rulefile").write_text('rule a:\n    label: x\n    output: "y"\n')
    res = run_rulec(["check", "p"], tmp_path)
    assert res.returncode == 2
    assert res.stderr.splitlines()[0] == "p/Rulefile:2:12: unknown label 'x'"


def test_missing_rulefile(tmp_path):
    res = run_rulec(["check"], tmp_path)
    assert res.returncode == 2
    assert res.stderr.startswith("no Rulefile at Rulefile")
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("option", ["--set=model", "--set=nope=a"])
def test_bad_set(option):
    res = run_rulec(["check", "examples/datasets_models", option], ROOT)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert res.stderr.startswith("--set ")


def test_a_missing_rulefile_says_how_the_argument_was_read(tmp_path):
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-m", "rulec", "check", "nonexist"], cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 2
    assert res.stderr == (
        "no Rulefile at Rulefile\n"
        "  hint: 'nonexist' was taken as a target; give the Rulefile with -f FILE, or name a folder that holds a Rulefile\n"
    )
    assert "Traceback" not in res.stderr


def test_a_newline_in_a_label_scheduler_option_is_refused_at_its_place(tmp_path):
    (tmp_path / "Rulefile").write_text(
        'rule a:\n    output: "x"\n    label: gpu\n    shell: "touch x"\n\n'
        'label gpu:\n    slurm: partition="gpu\\n#SBATCH --uid=0"\n    jbsub: "-queue x86_1h\\ntouch PWNED"\n'
    )
    res = run_rulec(["check"], tmp_path)
    assert res.returncode == 2, res.stdout
    lines = res.stderr.splitlines()
    assert lines[0] == (
        "Rulefile:7:26: slurm option partition: the value holds a newline; "
        "scheduler settings go on one line of the job script and may not hold control characters"
    )
    assert "Rulefile:8:26: jbsub flags: the value holds a newline; " in res.stderr
    assert "Traceback" not in res.stderr
    for command in (["emit", "--slurm"], ["dryrun"]):  # every command checks the Rulefile first
        res = run_rulec(command, tmp_path)
        assert res.returncode == 2 and res.stderr.startswith("Rulefile:7:26: slurm option partition"), res.stderr
    assert not (tmp_path / "rulec-slurm").exists()


def test_brackets_nested_too_deep_are_one_clear_error(tmp_path):
    from rulec.syntax.parser import MAX_NESTING

    n = 600
    for text, at in (("dimension x = " + "[" * n + '"a"' + "]" * n + "\n", f"Rulefile:1:{15 + MAX_NESTING}: "),
                     ('dimension x = ["a"]\nrule r:\n    input: ' + "expand(" * n + '"i/{x}"' + ")" * n
                      + '\n    output: "o/{x}"\n    shell: "touch {output}"\n', "Rulefile:3:")):
        (tmp_path / "Rulefile").write_text(text)
        res = run_rulec(["check"], tmp_path)
        assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr[-2000:]
        assert res.stderr.startswith(at) and f"brackets nested deeper than {MAX_NESTING} levels" in res.stderr.splitlines()[0]
    (tmp_path / "Rulefile").write_text('dimension x = [["a"]]\nrule r:\n    output: "o/{x}"\n    shell: "touch {output}"\n')
    assert "Traceback" not in run_rulec(["check"], tmp_path).stderr  # the next run gets on with it


def test_a_nul_or_a_lone_surrogate_in_an_output_path_is_refused_where_it_is(tmp_path):
    for escape, what in (("\\x00", "a NUL character"), ("\\udcff", "a lone surrogate")):
        (tmp_path / "Rulefile").write_text(f'rule r:\n    output: "out/a{escape}b.txt"\n    shell: "touch {{output}}"\n')
        for command in ("check", "dryrun", "run"):
            res = run_rulec([command], tmp_path)
            assert res.returncode == 2 and "Traceback" not in res.stderr, (command, res.stderr)
            assert res.stderr.startswith(f"Rulefile:2:19: {what}"), res.stderr
        assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- a Snakefile, nearly

# What someone moving from Snakemake writes first: each habit is an error at its place, with
# what to write instead. Syntax errors come first (the analyzer reads only a file that parses).
SNAKEFILE_SYNTAX = '''\
DATASETS = ["a", "b"]

rule all:
    input: expand("bld/{d}.txt", d=DATASETS)

rule copy:
    input: data/{d}.csv
    output: "bld/{d}.txt"
    shell: "cp {input} {output}"

rule plot:
    output: "bld/plot.png"
    run:
        with open(output[0], "w") as f:
            f.write("x")

rule tabbed:
    output: "bld/t.txt"
\tshell: "touch {output}"
'''

SNAKEFILE_FIELDS = '''\
dimension dataset = ["a", "b"]

rule all:
    input: expand("bld/{d}.txt", d=DATASETS), rules.summary.output

rule copy:
    input: "data/{dataset}.csv"
    output: "bld/{dataset}.txt",
            "bld/{dataset}.md"
    conda: "envs/copy.yaml"
    shell: "cp {input} {output[0]}; touch {output[1]}"

rule summary:
    input: expand(rules.copy.output)
    output: "bld/summary/{datset}.txt"
    script: "scripts/summary.py"
'''


def test_a_snakefiles_syntax_habits_are_errors_with_hints(tmp_path):
    assert check_error(tmp_path, SNAKEFILE_SYNTAX) == (
        "Rulefile:1:1: unexpected 'DATASETS'; expected 'config', 'dimension', 'include', 'label', 'rule' or 'ruleorder'\n"
        '    DATASETS = ["a", "b"]\n'
        "    ^^^^^^^^\n"
        '  hint: a Rulefile has no variables: a list of values is a dimension,  dimension datasets = ["a", "b"],  '
        "and a wildcard of that name, {datasets}, takes its values\n"
        "Rulefile:7:16: unexpected character '/'; expected ',', '=', '(' or end of line\n"
        "        input: data/{d}.csv\n"
        "                   ^\n"
        '  hint: paths and other text are written in quotes: "data/{d}.csv"\n'
        "Rulefile:13:5: a run: block is Python code, which a Rulefile cannot hold\n"
        "        run:\n"
        "        ^^^\n"
        "  hint: rulec runs no Python code of a Rulefile: put the code in a script and call it from shell:, "
        'e.g.  shell: "python scripts/step.py {input} {output}"\n'
        "Rulefile:19:7: unexpected ':': this line is indented deeper than the field 'output' above it, "
        "so it would go on with that field's items\n"
        '    \tshell: "touch {output}"\n'
        "    \t     ^\n"
        "  hint: a tab in the indentation counts as 8 columns: indent with spaces only\n"
    )


def test_a_snakefiles_fields_are_errors_with_hints(tmp_path):
    stderr = check_error(tmp_path, SNAKEFILE_FIELDS)
    assert stderr == (
        "warning: Rulefile:15:26: wildcard {datset} is not a dimension, so it matches any text "
        "(did you mean {dataset}?); a constraint ({datset,[a-z]+}) says it is meant to be free\n"
        "Rulefile:4:36: d=DATASETS: a bare name is not a list of values (a Rulefile has no variables)\n"
        '        input: expand("bld/{d}.txt", d=DATASETS), rules.summary.output\n'
        "                                       ^^^^^^^^\n"
        '  hint: a list needs brackets and quotes: d=["a", "b"] (one value: d="DATASETS"); '
        "or declare the values as a dimension and name the wildcard after it\n"
        "Rulefile:4:47: wildcard {datset} in input (rules.summary.output: 'bld/summary/{datset}.txt') is not "
        "defined by any output of rule all (it has no output wildcards)\n"
        '        input: expand("bld/{d}.txt", d=DATASETS), rules.summary.output\n'
        "                                                  ^^^^^^^^^^^^^^^^^^^^\n"
        "Rulefile:10:5: unknown rule field 'conda'; expected one of input, output, log, params, resources, label, "
        "shell, persist, priority, retries, benchmark, local, pack\n"
        '        conda: "envs/copy.yaml"\n'
        "        ^^^^^\n"
        "  hint: give the rule a label whose prefix runs its jobs in the environment, e.g.  label myenv:  "
        "prefix: \"conda run -n myenv\"  (see \"Labels\" in docs/language.md; a label's env: sets variables)\n"
        "Rulefile:16:5: unknown rule field 'script'; expected one of input, output, log, params, resources, label, "
        "shell, persist, priority, retries, benchmark, local, pack\n"
        '        script: "scripts/summary.py"\n'
        "        ^^^^^^\n"
        '  hint: call the script from shell:, e.g.  shell: "python scripts/x.py {input} {output}" '
        "(it gets the paths as arguments; there is no snakemake object)\n"
    )


def test_the_same_workflow_written_for_rulec_checks(tmp_path):
    text = '''\
dimension dataset = ["a", "b"]

rule all:
    input: expand(rules.copy.output), rules.summary.output

rule copy:
    input: "data/{dataset}.csv"
    output: "bld/{dataset}.txt",
            "bld/{dataset}.md"
    shell: "cp {input} {output[0]}; touch {output[1]}"

rule summary:
    input: expand(rules.copy.output)
    output: multiext("bld/summary", ".txt", ".json")
    shell: "python scripts/summary.py {input} {output}"
'''
    (tmp_path / "Rulefile").write_text(text)
    res = run_rulec(["check"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    assert summary(res.stdout)["jobs_per_rule"] == {"all": 1, "copy": 2, "summary": 1}
