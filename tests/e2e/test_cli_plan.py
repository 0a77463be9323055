"""End to end: the planner's CLI (``rulec dryrun``, ``run -n``, ``status``, ``dag``) run as a
real subprocess on small Rulefile projects in tmp_path."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from rulec_e2e import (
    ALL_JOBS,
    ESTIMATE,
    OUTPUTS,
    PREPARE,
    SUMMARIZE,
    Project,
    kill_groups_of,
    planned_jobs,
    rule_counts,
    set_mtime,
    wait_for,
    why_blocks,
)


def _built(project: Project) -> Project:
    res = project.ok("run", "-j2")
    assert "Done: 8 job(s) ran." in res.stdout
    return project


# --------------------------------------------------------------------------- fresh project

def test_dryrun_on_a_fresh_project_lists_every_job_with_output_missing(project):
    res = project.ok("dryrun")
    assert res.stdout.splitlines()[0] == "8 of 8 jobs to run:"
    assert rule_counts(res.stdout) == {"prepare": (2, 2), "estimate": (4, 4), "summarize": (2, 2)}
    jobs = planned_jobs(res.stdout)
    assert sorted(jobs) == sorted(ALL_JOBS)
    for jid, out in OUTPUTS.items():
        assert jobs[jid] == f"output missing: {out}"
    # dependencies are listed before the jobs that need them
    order = list(jobs)
    assert order.index("prepare[d0]") < order.index("estimate[d0,m1]") < order.index("summarize[m1]")
    # planning touches nothing
    assert not project.exists(".rulec")
    assert not project.exists("bld")
    assert res.stderr == ""


def test_run_n_prints_the_same_as_dryrun(project):
    dry = project.ok("dryrun")
    n = project.ok("run", "-n")
    long = project.ok("run", "--dry-run")
    assert n.stdout == dry.stdout == long.stdout
    assert not project.exists(".rulec")
    assert not project.exists("bld")


def test_why_on_a_fresh_project_lists_every_reason(project):
    res = project.ok("dryrun", "--why")
    blocks = why_blocks(res.stdout)
    assert sorted(blocks) == sorted(ALL_JOBS)
    assert blocks["prepare[d0]"] == ["output missing: bld/data/d0.txt"]
    # not only the first reason: the missing output and the upstream job
    assert "output missing: bld/estimation/d1_m0.txt" in blocks["estimate[d1,m0]"]
    assert "upstream job runs: prepare[d1]" in blocks["estimate[d1,m0]"]
    assert "upstream job runs: estimate[d0,m1]" in blocks["summarize[m1]"]


def test_quiet_dryrun_prints_only_the_summary(project):
    res = project.ok("dryrun", "-q")
    assert res.stdout.splitlines()[0] == "8 of 8 jobs to run:"
    assert planned_jobs(res.stdout) == {}


# --------------------------------------------------------------------------- after a run

def test_after_a_run_nothing_to_do(project):
    _built(project)
    res = project.ok("dryrun")
    assert res.stdout.strip() == "Nothing to do: all 8 jobs are up to date."
    assert project.ok("run", "-n").stdout == res.stdout


def test_touching_an_intermediate_input_lists_exactly_its_dependents(project):
    _built(project)
    set_mtime(project.path / "bld/data/d1.txt", 100)
    res = project.ok("dryrun")
    assert res.stdout.splitlines()[0] == "4 of 8 jobs to run:"
    assert rule_counts(res.stdout) == {"prepare": (0, 2), "estimate": (2, 4), "summarize": (2, 2)}
    assert planned_jobs(res.stdout) == {
        "estimate[d1,m0]": "input changed since the last run: bld/data/d1.txt",
        "summarize[m0]": "upstream job runs: estimate[d1,m0]",
        "estimate[d1,m1]": "input changed since the last run: bld/data/d1.txt",
        "summarize[m1]": "upstream job runs: estimate[d1,m1]",
    }


def test_touching_a_source_lists_everything_downstream(project):
    _built(project)
    set_mtime(project.path / "src/data.txt", 100)
    jobs = planned_jobs(project.ok("dryrun").stdout)
    assert sorted(jobs) == sorted(ALL_JOBS)
    assert jobs["prepare[d0]"] == jobs["prepare[d1]"] == "input changed since the last run: src/data.txt"
    assert jobs["estimate[d1,m1]"] == "upstream job runs: prepare[d1]"
    assert jobs["summarize[m0]"].startswith("upstream job runs: estimate[")


def test_an_input_set_back_in_time_also_counts_as_changed(project):
    """Unlike make's rule, a recorded input whose mtime moved backwards (a restored backup)
    is a change too."""
    _built(project)
    set_mtime(project.path / "bld/data/d0.txt", -3600)
    jobs = planned_jobs(project.ok("dryrun").stdout)
    assert jobs["estimate[d0,m0]"] == "input changed since the last run: bld/data/d0.txt"
    assert sorted(jobs) == sorted(["estimate[d0,m0]", "estimate[d0,m1]"] + SUMMARIZE)


def test_why_lists_all_reasons_of_a_job(project):
    _built(project)
    set_mtime(project.path / "bld/data/d1.txt", 100)
    project.edit("echo fit {model} seed", "echo fitted {model} seed")
    blocks = why_blocks(project.ok("dryrun", "--why").stdout)
    assert sorted(blocks) == sorted(ESTIMATE + SUMMARIZE)
    d1 = blocks["estimate[d1,m0]"]
    assert "input changed since the last run: bld/data/d1.txt" in d1
    assert "command changed" in d1
    d0 = blocks["estimate[d0,m0]"]
    assert "command changed" in d0
    assert not any(line.startswith("input changed") for line in d0)


def test_editing_a_command_lists_that_rule_and_downstream(project):
    _built(project)
    project.edit("echo fit {model} seed", "echo fitted {model} seed")
    res = project.ok("dryrun")
    jobs = planned_jobs(res.stdout)
    assert sorted(jobs) == sorted(ESTIMATE + SUMMARIZE)
    for jid in ESTIMATE:
        assert jobs[jid] == "command changed"
    for jid in SUMMARIZE:
        assert jobs[jid].startswith("upstream job runs: estimate[")
    assert rule_counts(res.stdout)["prepare"] == (0, 2)


def test_why_shows_a_unified_diff_of_the_changed_command(project):
    _built(project)
    project.edit('shell:  "cat {input} > {output}"', 'shell:  "cat {input} | sort > {output}"')
    res = project.ok("dryrun", "--why")
    blocks = why_blocks(res.stdout)
    assert sorted(blocks) == SUMMARIZE
    lines = blocks["summarize[m0]"]
    assert lines[0] == "command changed"
    assert "--- last run" in lines and "+++ now" in lines
    assert "-cat bld/estimation/d0_m0.txt bld/estimation/d1_m0.txt > bld/summary/m0.txt" in lines
    assert "+cat bld/estimation/d0_m0.txt bld/estimation/d1_m0.txt | sort > bld/summary/m0.txt" in lines


def test_comments_reindenting_and_extra_spaces_change_nothing(project):
    _built(project)
    text = project.read("Rulefile")
    text = text.replace("# a small datasets × models pipeline", "# an edited comment\n# and another one")
    text = text.replace('    params: seed=42, note="n"', '    # a comment inside a rule\n    params: seed=42, note="n"   # trailing comment')
    # the same command as a re-indented block, with extra blanks between words
    text = text.replace(
        'shell:  "cat {input} > {output}"',
        'shell:\n        """\n            cat   {input}    >  {output}\n        """',
    )
    text = text.replace("echo fit {model} seed", "echo   fit  {model}    seed")
    project.write("Rulefile", text)
    res = project.ok("dryrun")
    assert res.stdout.strip() == "Nothing to do: all 8 jobs are up to date.", res.stdout


def test_changing_a_param_lists_params_changed(project):
    _built(project)
    project.edit('note="n"', 'note="changed"')  # a param the command does not use
    res = project.ok("dryrun")
    jobs = planned_jobs(res.stdout)
    assert sorted(jobs) == sorted(ESTIMATE + SUMMARIZE)
    for jid in ESTIMATE:
        assert jobs[jid] == "params changed"
    blocks = why_blocks(project.ok("dryrun", "--why").stdout)
    assert blocks["estimate[d1,m1]"] == ["params changed"]


def test_changing_a_param_used_by_the_command_shows_both_reasons(project):
    _built(project)
    project.edit("seed=42", "seed=43")
    blocks = why_blocks(project.ok("dryrun", "--why").stdout)
    lines = blocks["estimate[d0,m0]"]
    assert "command changed" in lines and "params changed" in lines
    assert "-cat bld/data/d0.txt > bld/estimation/d0_m0.txt; echo fit m0 seed 42 >> bld/estimation/d0_m0.txt" in lines
    assert "+cat bld/data/d0.txt > bld/estimation/d0_m0.txt; echo fit m0 seed 43 >> bld/estimation/d0_m0.txt" in lines


def test_dropping_a_dimension_value_changes_the_set_of_inputs(project):
    _built(project)
    project.edit('dimension dataset = ["d0", "d1"]', 'dimension dataset = ["d0"]')
    res = project.ok("dryrun")
    assert res.stdout.splitlines()[0] == "2 of 5 jobs to run:"
    assert planned_jobs(res.stdout) == {
        "summarize[m0]": "the set of inputs changed",
        "summarize[m1]": "the set of inputs changed",
    }
    # back to both values: everything is as recorded again
    project.edit('dimension dataset = ["d0"]', 'dimension dataset = ["d0", "d1"]')
    assert project.ok("dryrun").stdout.strip() == "Nothing to do: all 8 jobs are up to date."


# --------------------------------------------------------------------------- outputs with no record

def _make_by_hand(project: Project, when: float) -> None:
    for out in OUTPUTS.values():
        path = project.write(out, "made by hand\n")
        os.utime(path, (when, when))


def test_hand_made_outputs_newer_than_inputs_are_up_to_date(project):
    now = time.time()
    os.utime(project.path / "src/data.txt", (now - 100, now - 100))
    _make_by_hand(project, now)
    res = project.ok("dryrun")
    assert res.stdout.strip() == "Nothing to do: all 8 jobs are up to date."


def test_hand_made_outputs_older_than_an_input_use_makes_rule(project):
    now = time.time()
    os.utime(project.path / "src/data.txt", (now - 100, now - 100))
    _make_by_hand(project, now)
    set_mtime(project.path / "bld/data/d0.txt", 50)  # newer than the estimate[d0,*] outputs
    jobs = planned_jobs(project.ok("dryrun").stdout)
    assert jobs == {
        "estimate[d0,m0]": "input newer than output: bld/data/d0.txt",
        "summarize[m0]": "upstream job runs: estimate[d0,m0]",
        "estimate[d0,m1]": "input newer than output: bld/data/d0.txt",
        "summarize[m1]": "upstream job runs: estimate[d0,m1]",
    }
    set_mtime(project.path / "src/data.txt", 100)
    jobs = planned_jobs(project.ok("dryrun").stdout)
    assert sorted(jobs) == sorted(ALL_JOBS)
    assert jobs["prepare[d1]"] == "input newer than output: src/data.txt"


# --------------------------------------------------------------------------- --json

def test_json_plan(project):
    res = project.ok("dryrun", "--json")
    data = json.loads(res.stdout)
    assert data["jobs_total"] == 8 and data["jobs_to_run"] == 8
    by_id = {j["id"]: j for j in data["jobs"]}
    assert sorted(by_id) == sorted(ALL_JOBS)
    job = by_id["estimate[d1,m0]"]
    assert job["rule"] == "estimate"
    assert job["outputs"] == ["bld/estimation/d1_m0.txt"]
    assert job["inputs"] == ["bld/data/d1.txt"]
    assert job["command"] == "cat bld/data/d1.txt > bld/estimation/d1_m0.txt; echo fit m0 seed 42 >> bld/estimation/d1_m0.txt"
    whys = [r["why"] for r in job["reasons"]]
    assert whys[0] == "output-missing"
    assert job["reasons"][0]["path"] == "bld/estimation/d1_m0.txt"
    assert "upstream" in whys
    assert sorted(by_id["summarize[m1]"]["inputs"]) == ["bld/estimation/d0_m1.txt", "bld/estimation/d1_m1.txt"]
    # after a run and a touch, the machine-readable reasons
    _built(project)
    set_mtime(project.path / "bld/data/d1.txt", 100)
    data = json.loads(project.ok("run", "-n", "--json").stdout)
    reasons = {j["id"]: [r["why"] for r in j["reasons"]] for j in data["jobs"]}
    assert reasons["estimate[d1,m1]"] == ["input-changed"]
    assert reasons["summarize[m1]"] == ["upstream"]


def test_json_when_nothing_to_do(project):
    _built(project)
    data = json.loads(project.ok("dryrun", "--json").stdout)
    assert data["jobs_to_run"] == 0 and data["jobs"] == []


# --------------------------------------------------------------------------- --force, -k, --set

@pytest.mark.parametrize(
    "args, forced, upstream",
    [
        (["--force", "estimate"], ESTIMATE, SUMMARIZE),
        (["--force", "estimate[d0,m1]"], ["estimate[d0,m1]"], ["summarize[m1]"]),
        (["--force-all"], ALL_JOBS, []),
        (["--force", "prepare[d1]", "--force", "summarize[m0]"], ["prepare[d1]", "summarize[m0]"], ["estimate[d1,m0]", "estimate[d1,m1]", "summarize[m1]"]),
    ],
)
def test_force(project, args, forced, upstream):
    _built(project)
    jobs = planned_jobs(project.ok("dryrun", *args).stdout)
    assert sorted(jobs) == sorted(forced + upstream)
    for jid in forced:
        assert jobs[jid] == "forced"
    for jid in upstream:
        assert jobs[jid].startswith("upstream job runs: ")


def test_select_with_k(project):
    res = project.ok("dryrun", "-k", "estimate and not m1")
    jobs = planned_jobs(res.stdout)
    est = sorted(j for j in jobs if j.startswith("estimate"))
    assert est == ["estimate[d0,m0]", "estimate[d1,m0]"]
    assert not any(j.startswith("summarize") for j in jobs)
    # what the selected jobs need comes along
    assert set(jobs) - set(est) <= set(PREPARE)


def test_k_selecting_nothing_is_an_error(project):
    res = project.run("dryrun", "-k", "nothing_matches_this")
    assert res.returncode == 2
    assert "selects no job" in res.stderr


def test_set_restricts_a_dimension(project):
    res = project.ok("dryrun", "--set", "model=m0")
    jobs = planned_jobs(res.stdout)
    assert sorted(jobs) == sorted(PREPARE + ["estimate[d0,m0]", "estimate[d1,m0]", "summarize[m0]"])
    assert res.stdout.splitlines()[0] == "5 of 5 jobs to run:"


def test_set_with_an_unknown_value_is_an_error(project):
    res = project.run("dryrun", "--set", "model=m9")
    assert res.returncode == 2
    assert "'m9' is not a value of dimension model" in res.stderr


# --------------------------------------------------------------------------- targets

@pytest.mark.parametrize(
    "target, expected",
    [
        ("bld/estimation/d0_m1.txt", ["prepare[d0]", "estimate[d0,m1]"]),
        ("estimate[d0,m1]", ["prepare[d0]", "estimate[d0,m1]"]),
        ("prepare", PREPARE),
        ("summarize", ALL_JOBS),
        ("bld/summary/m1.txt", PREPARE + ["estimate[d0,m1]", "estimate[d1,m1]", "summarize[m1]"]),
    ],
)
def test_targets(project, target, expected):
    res = project.ok("dryrun", target)
    assert sorted(planned_jobs(res.stdout)) == sorted(expected)


def test_target_with_an_explicit_rulefile_from_another_folder(project, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    from rulec_e2e import run_rulec

    res = run_rulec(["dryrun", project.path / "Rulefile", "estimate[d1,m1]"], elsewhere)
    assert res.returncode == 0, res.stderr
    assert sorted(planned_jobs(res.stdout)) == ["estimate[d1,m1]", "prepare[d1]"]


GLOB_WITH_COMMA = """\
dimension sample = glob("raw/{sample}.csv")

rule all:
    input: expand("out/{sample}.csv")

rule cp:
    input: "raw/{sample}.csv"
    output: "out/{sample}.csv"
    shell: "cp {input} {output}"
"""


def test_a_job_id_whose_value_holds_a_comma_is_a_target(empty_project):
    proj = empty_project
    proj.write("Rulefile", GLOB_WITH_COMMA)
    proj.write("raw/a,b.csv", "x\n")
    proj.write("raw/c.csv", "y\n")
    assert "cp[a,b]" in planned_jobs(proj.ok("dryrun").stdout)  # the id rulec shows
    res = proj.run("dryrun", "cp[a,b]")
    assert res.returncode == 0, res.stderr
    assert planned_jobs(res.stdout) == {"cp[a,b]": "output missing: out/a,b.csv"}


def test_unknown_target_is_an_error(project):
    res = project.run("dryrun", "x")
    assert res.returncode == 2
    assert "no rule makes 'x'" in res.stderr
    assert res.stdout == ""


def test_job_id_with_an_unknown_value_is_an_error(project):
    res = project.run("dryrun", "estimate[d9,m1]")
    assert res.returncode == 2
    assert "'d9' is not a value of dimension dataset" in res.stderr


def test_missing_input_no_rule_makes(project):
    os.unlink(project.path / "src/data.txt")
    res = project.run("dryrun")
    assert res.returncode == 2
    assert "src/data.txt" in res.stderr
    assert re.search(r"needed by prepare\[d[01]\]", res.stderr), res.stderr
    assert "no rule makes it" in res.stderr
    assert not project.exists(".rulec")


# --------------------------------------------------------------------------- status

def _status_rows(stdout: str) -> dict[str, tuple[int, int, int]]:
    rows = {}
    for line in stdout.splitlines():
        m = re.match(r"^(\w+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$", line)
        if m:
            rows[m.group(1)] = tuple(int(x) for x in m.group(2, 3, 4))
    return rows


def test_status_counts(project):
    res = project.ok("status")
    assert re.search(r"^rule\s+done\s+outdated\s+missing", res.stdout, re.M)
    assert _status_rows(res.stdout) == {"prepare": (0, 0, 2), "estimate": (0, 0, 4), "summarize": (0, 0, 2)}
    assert not project.exists(".rulec")
    _built(project)
    assert _status_rows(project.ok("status").stdout) == {"prepare": (2, 0, 0), "estimate": (4, 0, 0), "summarize": (2, 0, 0)}
    set_mtime(project.path / "bld/data/d1.txt", 100)
    os.unlink(project.path / "bld/estimation/d0_m0.txt")
    assert _status_rows(project.ok("status").stdout) == {"prepare": (2, 0, 0), "estimate": (1, 2, 1), "summarize": (0, 2, 0)}


def test_status_verbose_lists_each_job_with_its_log(project):
    """Jobs that printed something have a log; a silent job's log is never created."""
    project.edit("echo fit {model} seed {params.seed} >> {output}",
                 "echo fit {model} seed {params.seed} >> {output}; echo fitting {dataset} {model}")
    _built(project)
    set_mtime(project.path / "bld/data/d1.txt", 100)
    res = project.ok("status", "-v")
    lines = {line.split()[0]: line for line in res.stdout.splitlines() if line.strip() and "[" in line.split()[0]}
    assert sorted(lines) == sorted(ALL_JOBS)
    for jid in ALL_JOBS:
        rule = jid.split("[")[0]
        log = f".rulec/logs/{rule}/{rule}.{jid[len(rule) + 1:-1]}.log"  # estimate.d0,m1.log
        if rule == "estimate":
            assert log in lines[jid]
            assert project.read(log) == "fitting {} {}\n".format(*jid[len("estimate["):-1].split(","))
        else:
            assert ".rulec/logs" not in lines[jid] and not project.exists(log)
    assert re.match(r"^estimate\[d1,m0\]\s+outdated\s+input changed since the last run: bld/data/d1.txt\s+\.rulec/logs/", lines["estimate[d1,m0]"])
    assert re.match(r"^estimate\[d0,m0\]\s+done\s+\.rulec/logs/estimate/estimate\.d0,m0\.log", lines["estimate[d0,m0]"])
    assert re.match(r"^summarize\[m1\]\s+outdated\s+upstream job runs: estimate\[d1,m1\]", lines["summarize[m1]"])


# --------------------------------------------------------------------------- dag

def test_dag_dot_rule_graph(project):
    out = project.ok("dag", "--format", "dot").stdout
    assert out.startswith("digraph rulec {")
    for edge in ('"prepare" -> "estimate";', '"estimate" -> "summarize";', '"summarize" -> "all";'):
        assert edge in out
    assert '"prepare" -> "summarize"' not in out
    assert project.ok("dag").stdout == out  # dot is the default


def test_dag_mermaid_rule_graph(project):
    out = project.ok("dag", "--format", "mermaid").stdout
    assert out.splitlines()[0] == "flowchart TD"
    names = dict(re.findall(r'^\s+(\w+)\["([^"]*)"\]$', out, re.M))
    edges = {(names[a], names[b]) for a, b in re.findall(r"^\s+(\w+) --> (\w+)$", out, re.M)}
    assert edges == {("prepare", "estimate"), ("estimate", "summarize"), ("summarize", "all")}


def test_dag_job_graph(project):
    out = project.ok("dag", "--jobs").stdout
    edges = set(re.findall(r'^\s+"([^"]+)" -> "([^"]+)";$', out, re.M))
    expected = set()
    for d in ("d0", "d1"):
        for m in ("m0", "m1"):
            expected.add((f"prepare[{d}]", f"estimate[{d},{m}]"))
            expected.add((f"estimate[{d},{m}]", f"summarize[{m}]"))
    expected |= {("summarize[m0]", "all"), ("summarize[m1]", "all")}
    assert edges == expected
    out = project.ok("dag", "--jobs", "--format", "mermaid").stdout
    names = dict(re.findall(r'^\s+(\w+)\["([^"]*)"\]$', out, re.M))
    assert {(names[a], names[b]) for a, b in re.findall(r"^\s+(\w+) --> (\w+)$", out, re.M)} == expected


# --------------------------------------------------------------------------- graph errors

CYCLE = """\
rule all:
    input: "a.txt"

rule a:
    input: "b.txt"
    output: "a.txt"
    shell: "cp {input} {output}"

rule b:
    input: "a.txt"
    output: "b.txt"
    shell: "cp {input} {output}"
"""


def test_cycle_among_missing_files_is_an_error(empty_project):
    empty_project.write("Rulefile", CYCLE)
    res = empty_project.run("dryrun")
    assert res.returncode == 2
    assert re.search(r"cycle: (a -> b -> a|b -> a -> b)", res.stderr), res.stderr
    assert res.stdout == ""
    assert empty_project.run("run").returncode == 2
    assert not empty_project.exists("a.txt") and not empty_project.exists("b.txt")


def test_cycle_is_broken_at_the_existing_file_that_starts_it(empty_project):
    """a.txt exists: rule b makes b.txt from it, rule a is not used for a.txt (make's rule)."""
    empty_project.write("Rulefile", CYCLE)
    empty_project.write("a.txt", "A\n")
    jobs = planned_jobs(empty_project.ok("dryrun").stdout)
    assert jobs["b"] == "output missing: b.txt"


def test_cycle_through_an_existing_file_is_not_an_error(empty_project):
    """DESIGN §6: a rule that could make an existing file only through a cycle is not used for
    it. b.txt exists; rule b could remake it only from a.txt, which needs b.txt: so b.txt is a
    source and a.txt is made from it."""
    empty_project.write("Rulefile", CYCLE)
    empty_project.write("b.txt", "B\n")
    res = empty_project.run("dryrun")
    assert res.returncode == 0, res.stderr
    assert planned_jobs(res.stdout) == {"a": "output missing: a.txt"}


AMBIGUOUS = """\
rule all:
    input: "out/x.txt"

rule one:
    output: "out/{name}.txt"
    shell: "echo one > {output}"

rule two:
    output: "out/{stem}.txt"
    shell: "echo two > {output}"
"""


AMBIGUOUS_INFIX = """\
rule all:
    input: "out/a_b_c.txt"

rule one:
    output: "out/{x}_{y}.txt"
    shell: "echo one > {output}"

rule two:
    output: "out/{p}_b_{q}.txt"
    shell: "echo two > {output}"
"""


@pytest.mark.parametrize("rulefile", [AMBIGUOUS, AMBIGUOUS_INFIX], ids=["same-shape", "infix"])
def test_two_rules_making_the_same_path_is_an_error(empty_project, rulefile):
    empty_project.write("Rulefile", rulefile)
    for command in ("dryrun", "check", "run"):
        res = empty_project.run(command)
        assert res.returncode == 2, (command, res.stdout, res.stderr)
        assert "'one'" in res.stderr and "'two'" in res.stderr
        assert "ruleorder" in res.stderr
    assert not empty_project.exists("out")


def test_ambiguity_is_settled_by_ruleorder(empty_project):
    empty_project.write("Rulefile", AMBIGUOUS + "\nruleorder: two > one\n")
    res = empty_project.ok("dryrun")
    assert planned_jobs(res.stdout) == {"two[x]": "output missing: out/x.txt"}


# --------------------------------------------------------------------------- state store safety

def test_sigkill_during_a_run_leaves_a_usable_state_store(empty_project, marker, procs):
    proj = empty_project
    p = proj.start_fast_then_slow(marker, procs)
    os.kill(p.pid, signal.SIGKILL)
    p.communicate(timeout=10)
    assert p.returncode == -signal.SIGKILL
    children = marker.all_pids()
    assert children, "the job outlives a SIGKILLed rulec (nothing can stop it)"
    kill_groups_of(children)
    wait_for(lambda: not marker.all_pids(), what="the job to die")

    with sqlite3.connect(proj.path / ".rulec/state.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    res = proj.ok("dryrun")
    assert planned_jobs(res.stdout) == {"slow": "incomplete: the last run started it and never finished"}
    assert "1 of 2 jobs to run:" in res.stdout
    status = proj.ok("status").stdout
    assert re.search(r"^slow\s+0\s+1\s+0", status, re.M), status
    assert re.search(r"^fast\s+1\s+0\s+0", status, re.M), status


def test_status_shows_the_jobs_of_a_missing_source_instead_of_failing(project):
    project.ok("run")
    (project.path / "src" / "data.txt").unlink()
    res = project.ok("status", "-v")
    assert "input missing: src/data.txt" in res.stdout
    assert "src/data.txt" in res.stderr and "rulec run" in res.stderr
    assert "Traceback" not in res.stderr
    assert project.run("run").returncode == 2  # a run still refuses, naming the file


def test_dryrun_runs_no_code_from_planted_pickles(project, tmp_path_factory, monkeypatch):
    """A crafted pickle where rulec keeps (or once kept) its verdict and its parse cache is
    never loaded: the dry run is the normal one, and the pickle's code never runs."""
    import hashlib
    import pickle

    from rulec import verdict
    from rulec.syntax import cache

    marker = tmp_path_factory.mktemp("hostile") / "marker"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    payload = pickle.dumps(Payload())
    parse_dir = tmp_path_factory.mktemp("cache") / "parse"
    monkeypatch.setenv("RULEC_CACHE_DIR", str(parse_dir.parent))
    _built(project)
    assert project.ok("dryrun").stdout.strip() == "Nothing to do: all 8 jobs are up to date."
    entries = list(parse_dir.iterdir())
    assert entries  # the parse cache and the verdict exist now: overwrite them
    for entry in entries:
        entry.write_bytes(payload)
    text = project.read("Rulefile")
    for path in ("Rulefile", str(project.path / "Rulefile")):  # where a pickle-era rulec looked
        h = hashlib.blake2b(digest_size=16)
        h.update(cache.grammar_text().encode() + b"\0" + path.encode() + b"\0" + text.encode())
        (parse_dir / (h.hexdigest() + ".pickle")).write_bytes(payload)
    for name in ("uptodate.pickle", verdict.FILE):
        (project.path / ".rulec" / name).write_bytes(payload)

    res = project.ok("dryrun")
    assert res.stdout.strip() == "Nothing to do: all 8 jobs are up to date."
    assert res.stderr == ""
    assert not marker.exists()
    assert not (project.path / ".rulec" / "uptodate.pickle").exists()  # removed with the new verdict
    res = project.ok("dryrun")  # and the files written then are good ones
    assert res.stdout.strip() == "Nothing to do: all 8 jobs are up to date."
    assert not marker.exists()


# --------------------------------------------------------------------------- chains, paths outside, empty globs

import textwrap  # noqa: E402

from rulec_e2e import run_rulec  # noqa: E402

GUNZIP_RULEFILE = '''
rule gunzip:
    input:  "{f}.gz"
    output: "{f}"
    shell:  "gunzip -k {input}"
'''


def test_dryrun_of_a_catch_all_rule_finishes_quickly_with_the_existing_file_as_a_source(empty_project):
    proj = empty_project
    proj.rulefile(GUNZIP_RULEFILE)
    proj.write("data.csv.gz", "")
    start = time.monotonic()
    res = proj.run("dryrun", "data.csv", timeout=30)  # it used to chain data.csv.gz.gz... forever
    assert time.monotonic() - start < 15
    assert res.returncode == 0, res.stderr
    assert planned_jobs(res.stdout) == {"gunzip[data.csv]": "output missing: data.csv"}
    assert res.stderr == ""


def test_dryrun_of_an_endless_chain_is_one_clear_error(empty_project):
    proj = empty_project
    proj.rulefile(GUNZIP_RULEFILE)
    start = time.monotonic()
    res = proj.run("dryrun", "data.csv", timeout=30)
    assert time.monotonic() - start < 15
    assert res.returncode == 2
    assert res.stderr.splitlines()[0] == (
        "Rulefile:2:6: no rule or file makes 'data.csv': rule gunzip would need 'data.csv.gz', "
        "'data.csv.gz.gz', 'data.csv.gz.gz.gz', …, an endless chain (no file along it exists)"
    )
    assert "Traceback" not in res.stderr


def test_a_target_outside_the_working_folder_through_a_free_wildcard_is_refused(empty_project):
    proj = empty_project
    proj.rulefile('''
        rule touch:
            output: "{p,.*}"
            shell:  "touch {output}"
    ''')
    name = f"z-{os.getpid()}-{time.time_ns()}.dat"
    for target in (f"../../{name}", f"/elsewhere/{name}", f"touch[../../{name}]"):
        res = proj.run("run", target)
        assert res.returncode == 2, res.stdout + res.stderr
        assert "outside the working folder" in res.stderr.splitlines()[0], res.stderr
        assert "Traceback" not in res.stderr
    assert not (proj.path.parent.parent / name).exists()
    assert not proj.exists(".rulec/logs")


def test_a_dimension_value_outside_needs_the_option_and_its_log_stays_in_rulec_logs(empty_project):
    proj = empty_project
    (proj.path / "work").mkdir()
    text = '''
        dimension m = ["m0", "../shared/m1"]

        rule w:
            output: "{m}.txt"
            shell:  "echo writing {m}; echo {m} > {output}"
    '''
    proj.write("work/Rulefile", textwrap.dedent(text))
    res = run_rulec(["check"], proj.path / "work")
    assert res.returncode == 2
    assert res.stderr.splitlines()[0] == (
        "Rulefile:2:22: value '../shared/m1' of dimension m has '..' as a path segment: "
        "paths made from it can lead outside the working folder"
    )
    proj.write("work/Rulefile", textwrap.dedent(text).replace("dimension m =", "dimension m (outside) ="))
    res = run_rulec(["run", "w"], proj.path / "work")
    assert res.returncode == 0, res.stderr
    assert proj.read("shared/m1.txt") == "../shared/m1\n" and proj.read("work/m0.txt") == "m0\n"
    logs = sorted(str(p.relative_to(proj.path)) for p in proj.path.rglob("*.log"))
    assert logs == ["work/.rulec/logs/w/w...%2Fshared%2Fm1.log", "work/.rulec/logs/w/w.m0.log"]
    assert proj.read("work/.rulec/logs/w/w...%2Fshared%2Fm1.log") == "writing ../shared/m1\n"


def test_an_empty_glob_dimension_is_a_warning_on_stderr(empty_project):
    proj = empty_project
    proj.rulefile('''
        dimension sample = glob("raw/{sample}.csv")
        rule all:
            input: expand("bld/{sample}.txt")
    ''')
    proj.write("raw/.a.csv", "")
    res = proj.run("dryrun")
    assert res.returncode == 0, res.stderr
    assert res.stderr == (
        "warning: Rulefile:2:25: glob('raw/{sample}.csv') matches no file: dimension sample has no values; "
        "files whose names start with '.' are skipped (such as 'raw/.a.csv')\n"
    )


def test_names_with_control_characters_or_bad_bytes_print_safely(empty_project):
    """A glob over names holding an escape sequence or bytes that are not UTF-8: the dry run
    prints them escaped (never a raw ESC on the terminal) and never crashes, even when
    standard output is strictly UTF-8."""
    proj = empty_project
    proj.rulefile("""\
        dimension s = glob("raw/{s}.txt")

        rule all:
            input: expand("out/{s}.txt")

        rule copy:
            input: "raw/{s}.txt"
            output: "out/{s}.txt"
            shell: "cp {input} {output}"
        """)
    raw = proj.path / "raw"
    raw.mkdir()
    (raw / "a\x1b[2Jb.txt").write_text("x")
    with open(os.path.join(os.fsencode(raw), b"c\xffd.txt"), "w") as fh:
        fh.write("y")
    env = dict(os.environ, PYTHONIOENCODING="utf-8:strict", NO_COLOR="1")
    res = subprocess.run([sys.executable, "-m", "rulec", "dryrun"], cwd=proj.path, env=env, capture_output=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert b"Traceback" not in res.stderr
    assert b"\x1b" not in res.stdout and b"copy[a\\x1b[2Jb]" in res.stdout
    assert b"copy[c\xffd]" in res.stdout  # the name's own bytes


# --------------------------------------------------------------------------- config files

CONFIG_RULEFILE = """\
config "config.toml"
dimension dataset = ["d0", "d1"]
dimension model = config.models

rule all:
    input: expand("bld/summary/{model}.txt")

rule prepare:
    input:  "{config.data}"
    output: "bld/data/{dataset}.txt"
    shell:  "cat {input} > {output}; echo prepared {dataset} {config.tag} >> {output}"

rule estimate:
    input:  data="bld/data/{dataset}.txt"
    output: "bld/estimation/{dataset}_{model}.txt"
    params: seed="{config.fit.seed}"
    shell:  "cat {input.data} > {output}; echo fit {model} seed {params.seed} >> {output}"

rule summarize:
    input:  expand("bld/estimation/{dataset}_{model}.txt")
    output: "bld/summary/{model}.txt"
    shell:  "cat {input} > {output}"
"""
CONFIG_TOML = 'models = ["m0", "m1"]\ndata = "src/data.txt"\ntag = "v1"\n\n[fit]\nseed = 42\n'


@pytest.fixture
def configured(empty_project):
    empty_project.write("Rulefile", CONFIG_RULEFILE)
    empty_project.write("config.toml", CONFIG_TOML)
    empty_project.write("src/data.txt", "data\n")
    res = empty_project.ok("run", "-j2")
    assert "Done: 8 job(s) ran." in res.stdout
    assert empty_project.ok("dryrun").stdout.startswith("Nothing to do")
    return empty_project


def test_a_config_change_reruns_exactly_the_jobs_using_the_key_and_says_which(configured):
    configured.edit("seed = 42", "seed = 7", "config.toml")
    jobs = planned_jobs(configured.ok("dryrun").stdout)
    assert jobs == {**{j: "config changed: fit.seed" for j in ESTIMATE}, **{j: jobs[j] for j in SUMMARIZE}}
    assert all(jobs[j].startswith("upstream job runs: estimate[") for j in SUMMARIZE)
    configured.edit("seed = 7", "seed = 42", "config.toml")  # back: nothing to do again
    assert configured.ok("dryrun").stdout.startswith("Nothing to do")
    configured.edit('tag = "v1"', 'tag = "v2"', "config.toml")
    jobs = planned_jobs(configured.ok("dryrun").stdout)
    assert {j: jobs[j] for j in PREPARE} == {j: "config changed: tag" for j in PREPARE} and len(jobs) == 8


def test_config_on_the_command_line_overrides_the_file_for_that_invocation(configured):
    jobs = planned_jobs(configured.ok("dryrun", "--config", "fit.seed=9").stdout)
    assert sorted(j for j, why in jobs.items() if why == "config changed: fit.seed") == ESTIMATE
    configured.ok("run", "--config", "fit.seed=9")
    assert configured.read("bld/estimation/d0_m1.txt").endswith("fit m1 seed 9\n")
    assert configured.ok("dryrun", "--config", "fit.seed=9").stdout.startswith("Nothing to do")
    assert sorted(planned_jobs(configured.ok("dryrun").stdout)) == sorted(ESTIMATE + SUMMARIZE)  # the file's 42 again
    # a dimension from the config, restricted on the command line; a config file after the Rulefile's
    res = configured.ok("dryrun", "--config", "models=m0", "--force-all")
    assert sorted(rule_counts(res.stdout)) == ["estimate", "prepare", "summarize"] and rule_counts(res.stdout)["estimate"] == (2, 2)
    configured.write("more.yaml", "fit:\n  seed: 9\n")
    assert configured.ok("dryrun", "--config-file", "more.yaml").stdout.startswith("Nothing to do")


def test_config_errors_on_the_command_line(configured):
    res = configured.run("dryrun", "--config", "fit.sed=1")
    assert res.returncode == 2
    assert res.stderr == ("--config fit.sed=1: no config file has the key 'fit.sed' and the Rulefile does not use it "
                          "(did you mean 'fit.seed'?)\n  hint: --config sets a key of the config files, or one that {config.KEY} uses\n")
    res = configured.run("check", "--config", "fit.seed=many")
    assert (res.returncode, res.stderr) == (2, "--config fit.seed=many: fit.seed is a whole number in the config (42), not 'many'\n")
    res = configured.run("status", "--config-file", "nope.toml")
    assert (res.returncode, res.stderr) == (2, "--config-file nope.toml: no such file\n")
    configured.edit("{config.tag}", "{config.tga}")
    res = configured.run("dryrun")
    assert res.returncode == 2
    assert res.stderr.splitlines()[0] == "Rulefile:11:62: unknown config key 'tga' (did you mean 'tag'?) (the config: config.toml)"
    configured.edit("{config.tga}", "{config.tag}")
    configured.write("config.toml", "models = [\n")
    res = configured.run("dryrun")
    assert res.returncode == 2 and res.stderr.splitlines()[0] == "Rulefile:1:8: config file config.toml:1: bad TOML: Invalid value at the end of the file"


# --------------------------------------------------------------------------- sample sheets

def test_a_changed_field_of_a_sample_sheet_reruns_the_jobs_that_use_it(empty_project):
    p = empty_project
    p.write("Rulefile", 'dimension sample = table("samples.tsv")\n\nrule all:\n    input: expand("out/{sample}.txt")\n\n'
                        'rule greet:\n    output: "out/{sample}.txt"\n    shell: "echo {sample.greeting} > {output}"\n')
    p.write("samples.tsv", "sample\tgreeting\na\thello\nb\thi\n")
    assert p.ok("run").returncode == 0 and p.read("out/b.txt") == "hi\n"
    assert p.ok("dryrun").stdout.startswith("Nothing to do")  # a verdict is kept: the sheet is part of its key
    p.write("samples.tsv", "sample\tgreeting\na\thello\nb\tgood day\n")
    assert planned_jobs(p.ok("dryrun").stdout) == {"greet[b]": "command changed"}
    res = p.ok("check")
    assert "sample          2  a, b" in res.stdout
def test_json_plan_names_a_jobs_benchmark_apart_from_its_logs(empty_project):
    p = empty_project
    p.rulefile("""\
        rule x:
            output: directory("out/x")
            log: "logs/x.log"
            benchmark: "bench/x.tsv"
            shell: "mkdir {output} 2> {log}"
        """)
    (job,) = json.loads(p.ok("dryrun", "--json").stdout)["jobs"]
    assert (job["outputs"], job["logs"], job["benchmark"]) == (["out/x"], ["logs/x.log"], "bench/x.tsv")
    assert job["command"] == "mkdir out/x 2> logs/x.log"  # the command itself, not how it is measured


def test_a_no_op_after_a_run_loads_nothing(project):
    """The first no-op after a run stops at the verdict, before reading the Rulefile's
    parse: neither the analyzer nor lark is imported."""
    project.ok("run", "-q")
    probe = ("import sys; from rulec import cli; code = cli.main(['dryrun', '-q']); "
             "print(sorted(m for m in ('rulec.analyze', 'lark', 'rulec.syntax.parser', 'rulec.dag') if m in sys.modules)); "
             "sys.exit(code)")
    res = subprocess.run([sys.executable, "-c", probe], cwd=project.path, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["Nothing to do: all 8 jobs are up to date.", "[]"]
    project.write("Rulefile", project.read("Rulefile") + "\n# edited\n")
    res = subprocess.run([sys.executable, "-c", probe], cwd=project.path, capture_output=True, text=True, timeout=60)
    assert "'rulec.analyze'" in res.stdout.splitlines()[-1]  # an edited Rulefile is loaded again


def test_a_repeated_no_op_without_a_state_folder_loads_nothing_and_writes_nothing_in_the_project(project):
    """Outputs made by another tool, no .rulec/: the first dry run plans in full and keeps its
    verdict in the user's cache; the next stops at it, and stops no more once a file moves."""
    project.ok("run", "-q")
    shutil.rmtree(os.path.join(project.path, ".rulec"))
    probe = ("import sys; from rulec import cli; code = cli.main(['dryrun', '-q']); "
             "print(sorted(m for m in ('rulec.analyze', 'lark', 'rulec.dag') if m in sys.modules)); "
             "sys.exit(code)")
    first = subprocess.run([sys.executable, "-c", probe], cwd=project.path, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[0] == "Nothing to do: all 8 jobs are up to date."
    assert "'rulec.analyze'" in first.stdout.splitlines()[-1]
    again = subprocess.run([sys.executable, "-c", probe], cwd=project.path, capture_output=True, text=True, timeout=60)
    assert again.stdout.splitlines() == ["Nothing to do: all 8 jobs are up to date.", "[]"], again.stderr
    assert not os.path.exists(os.path.join(project.path, ".rulec"))
    source = os.path.join(project.path, "src", "data.txt")
    future = time.time() + 5
    os.utime(source, (future, future))  # an input newer than what it made: the verdict is void
    res = project.ok("dryrun")
    assert not res.stdout.startswith("Nothing to do") and "newer" in res.stdout, res.stdout


def test_a_warning_is_shown_on_every_no_op(empty_project):
    empty_project.write("Rulefile", '''
rule all:
    input: "out/x.txt"
rule make:
    output: "out/{datset}.txt"
    shell: "echo {datset} > {output}"
dimension dataset = ["x"]
''')
    assert empty_project.run("run", "-q").returncode == 0
    for _ in range(2):
        res = empty_project.run("dryrun", "-q")
        assert "Nothing to do" in res.stdout
        assert "warning: Rulefile:5:18: wildcard {datset} is not a dimension" in res.stderr, res.stderr


def test_a_run_option_that_cannot_be_honoured_is_refused_on_a_no_op_too(project):
    project.ok("run", "-q")
    res = project.run("run", "--poll", "5")
    assert res.returncode == 2 and "--poll is for cluster runs" in res.stderr, res.stderr
