"""Every flag a command accepts does what it says, or is refused with a message: none is
accepted and ignored."""

from __future__ import annotations

import json
import os
import re

from rulec_e2e import ALL_JOBS, OUTPUTS, done_jobs, make_project, planned_jobs, why_blocks


def test_run_json_is_refused_with_a_pointer_to_dryrun(project):
    res = project.run("run", "--json")
    assert res.returncode == 2
    assert "rulec run has no JSON output" in res.stderr and "rulec dryrun --json" in res.stderr
    assert not project.exists("bld")  # nothing ran


def test_run_n_json_is_the_plan(project):
    res = project.ok("run", "-n", "--json")
    assert res.stdout.lstrip().startswith("{") and '"jobs_to_run"' in res.stdout


def test_emit_json_is_refused(project, tmp_path):
    res = project.run("emit", "--slurm", "--json", "-o", tmp_path / "b")
    assert res.returncode == 2
    assert "rulec emit has no JSON output" in res.stderr
    assert not (tmp_path / "b").exists()


def test_emit_why_shows_every_reason_of_the_bundled_jobs(project, tmp_path):
    res = project.ok("emit", "--slurm", "--why", "-o", tmp_path / "b")
    blocks = why_blocks(res.stdout.split("wrote ")[0])
    assert blocks["prepare[d0]"] == ["output missing: bld/data/d0.txt"]
    assert "wrote " in res.stdout and (tmp_path / "b" / "submit.sh").exists()


def test_run_why_shows_every_reason_then_runs(project):
    project.ok("run")
    project.edit("echo prepared", "echo Prepared")
    res = project.ok("run", "--why", "-j1")
    head = res.stdout.split("[1/")[0]
    blocks = why_blocks(head)
    assert any(line.startswith("command changed") for line in blocks["prepare[d0]"]), head
    assert len(done_jobs(res.stdout)) > 0


# --------------------------------------------------------------------------- habits of make and snakemake

def test_print_commands_in_a_dry_run_and_a_run(project):
    res = project.ok("dryrun", "-p", "estimate[d0,m1]")
    lines = res.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("estimate[d0,m1]"))
    assert lines[at + 1].strip() == "$ cat bld/data/d0.txt > bld/estimation/d0_m1.txt; echo fit m1 seed 42 >> bld/estimation/d0_m1.txt"
    res = project.ok("run", "-p", "-j1", "prepare")
    lines = [re.sub(r" \(\d+\.\ds\)$", "", line) for line in res.stdout.splitlines()]
    assert lines == ["start prepare[d0]", "    $ cat src/data.txt > bld/data/d0.txt; echo prepared d0 >> bld/data/d0.txt",
                     "[1/2] done prepare[d0]",
                     "start prepare[d1]", "    $ cat src/data.txt > bld/data/d1.txt; echo prepared d1 >> bld/data/d1.txt",
                     "[2/2] done prepare[d1]", "Done: 2 job(s) ran."]
    assert "$ cat" not in project.ok("run", "-j1").stdout  # without -p: no commands


def test_short_flags_force_all_and_touch(project):
    project.ok("run")
    assert sorted(done_jobs(project.ok("run", "-F").stdout)) == sorted(ALL_JOBS)
    os.utime(project.path / "src" / "data.txt", (2e9, 2e9))  # newer than every output
    assert "Touched 8 job(s)." in project.ok("run", "-t").stdout
    assert "Nothing to do" in project.ok("dryrun").stdout


def test_cores_all_and_zero_mean_every_core_and_below_zero_is_refused(project):
    assert "Done: 8 job(s) ran." in project.ok("run", "-j", "all").stdout
    assert "Done: 8 job(s) ran." in project.ok("run", "--cores", "0", "-F").stdout
    for bad, said in (("-1", "below 0"), ("many", "neither a number nor 'all'")):
        res = project.run("run", "-j", bad, "-F")
        assert res.returncode == 2 and said in res.stderr, res.stderr
        assert "Traceback" not in res.stderr


def test_quiet_prints_only_the_one_line_summary(project):
    res = project.ok("run", "-q")
    assert res.stdout.splitlines() == ["Done: 8 job(s) ran."]
    assert project.ok("run", "-q").stdout.splitlines() == ["Nothing to do: all 8 jobs are up to date."]
    project.edit("echo prepared {dataset}", "echo prepared {dataset}; exit 5")
    res = project.run("run", "-q", "-F")
    assert res.returncode == 1 and res.stdout == "" and "job(s) failed" in res.stderr


def test_version_long_and_short():
    from rulec import __version__
    from rulec_e2e import run_rulec

    for flag in ("--version", "-V"):
        res = run_rulec([flag], ".")
        assert res.returncode == 0 and res.stdout.strip() == f"rulec {__version__}"


def test_every_commands_help_ends_with_examples(tmp_path):
    from rulec.cli import COMMANDS
    from rulec_e2e import run_rulec

    for name in COMMANDS:
        res = run_rulec([name, "--help"], tmp_path)
        assert res.returncode == 0, name
        tail = res.stdout.rstrip().split("\n\n")[-1].splitlines()
        assert tail[0] == "examples:" and all(line.startswith("  rulec ") or line.startswith("  source ")
                                              for line in tail[1:]) and len(tail) > 1, (name, tail)


# --------------------------------------------------------------------------- rulec init

def test_init_writes_a_starter_project_that_checks_and_runs(tmp_path):
    from rulec_e2e import Project, run_rulec

    folder = tmp_path / "new" / "proj"
    res = run_rulec(["init", folder], tmp_path)
    assert res.returncode == 0, res.stderr
    proj = Project(folder)
    assert "ok Rulefile: 4 rules, 2 dimensions" in proj.ok("check").stdout
    res = proj.ok("run", "-j2")
    assert len(done_jobs(res.stdout)) == 7
    table = proj.read("results/summary.csv").splitlines()
    assert table[0] == "data,model,rows,estimate" and len(table) == 5
    assert "Nothing to do" in proj.ok("run").stdout
    assert "rulec run" in proj.read("README.md")
    for script in ("make_data", "fit", "summarize"):  # the standard library only
        text = proj.read(f"scripts/{script}.py")
        imported = set(re.findall(r"^import (\w+)", text, re.M))
        assert imported <= {"argparse", "csv", "json", "random", "statistics", "sys"}, imported


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path):
    from rulec_e2e import run_rulec

    (tmp_path / "README.md").write_text("mine\n")
    res = run_rulec(["init"], tmp_path)
    assert res.returncode == 2
    assert "README.md exists already; nothing was written" in res.stderr
    assert (tmp_path / "README.md").read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]


# --------------------------------------------------------------------------- JSON

def test_check_json_describes_rules_and_dimensions(project):
    data = json.loads(project.ok("check", "--json").stdout)
    assert data["file"].endswith("Rulefile") and data["default_target"] == "all" and data["jobs"] == 9
    rules = {r["name"]: r for r in data["rules"]}
    assert rules["estimate"] == {"name": "estimate", "jobs": 4, "wildcards": ["dataset", "model"], "label": None}
    assert data["dimensions"] == [{"name": "dataset", "values": ["d0", "d1"]}, {"name": "model", "values": ["m0", "m1"]}]


def test_status_json_counts_per_rule_and_with_v_each_job(project):
    project.ok("run", "prepare")
    data = json.loads(project.ok("status", "--json").stdout)
    assert data["rules"][0] == {"rule": "prepare", "jobs": 2, "done": 2, "outdated": 0, "missing": 0, "failed": 0}
    assert "jobs" not in data and data["running"] == 0
    jobs = {j["id"]: j for j in json.loads(project.ok("status", "--json", "-v").stdout)["jobs"]}
    assert jobs["estimate[d0,m1]"] == {"id": "estimate[d0,m1]", "rule": "estimate", "state": "missing",
                                       "reason": "output missing: bld/estimation/d0_m1.txt", "log": None}


# --------------------------------------------------------------------------- status knows failures

def test_status_shows_a_failed_job_as_failed_with_its_log_until_it_succeeds(project):
    project.edit("echo fit {model} seed {params.seed} >> {output}",
                 "echo fit {model} seed {params.seed} >> {output}; if [ {dataset}{model} = d1m0 ]; then echo broke; exit 3; fi")
    assert project.run("run", "--keep-going").returncode == 1
    res = project.ok("status", "-v")
    line = next(line for line in res.stdout.splitlines() if line.startswith("estimate[d1,m0]"))
    assert re.match(r"^estimate\[d1,m0\]\s+failed\s+exit status 3\s+\.rulec/logs/estimate/estimate\.d1,m0\.log$", line), line
    assert project.read(".rulec/logs/estimate/estimate.d1,m0.log") == "broke\n"
    header, *rows = res.stdout.splitlines()[:5]
    assert header.split() == ["rule", "done", "outdated", "missing", "failed"]
    assert rows[1].split() == ["estimate", "3", "0", "0", "1"]
    data = json.loads(project.ok("status", "--json").stdout)
    assert {r["rule"]: r["failed"] for r in data["rules"]} == {"prepare": 0, "estimate": 1, "summarize": 0}
    project.edit("then echo broke; exit 3; fi", "then echo fixed; fi")
    project.ok("run")
    res = project.ok("status", "-v")
    assert "failed" not in res.stdout


# --------------------------------------------------------------------------- clean what was named

def test_clean_a_job_removes_its_outputs_only_unless_upstream_or_downstream(project):
    project.ok("run", "-j2")
    res = project.ok("clean", "--yes", "estimate[d0,m1]")
    assert "Deleted 1 file(s)." in res.stdout
    assert [p for p in OUTPUTS.values() if not project.exists(p)] == ["bld/estimation/d0_m1.txt"]
    project.ok("run")
    project.ok("clean", "--yes", "--downstream", "estimate[d0,m1]")
    gone = sorted(jid for jid, p in OUTPUTS.items() if not project.exists(p))
    assert gone == ["estimate[d0,m1]", "summarize[m1]"]
    jobs = planned_jobs(project.ok("dryrun").stdout)
    assert sorted(jobs) == gone  # the records went with the files
    project.ok("run")
    project.ok("clean", "--yes", "--upstream", "summarize[m0]")
    gone = sorted(jid for jid, p in OUTPUTS.items() if not project.exists(p))
    assert gone == ["estimate[d0,m0]", "estimate[d1,m0]", "prepare[d0]", "prepare[d1]", "summarize[m0]"]


def test_clean_a_rule_or_k_selects_only_those_jobs_and_all_means_everything(project):
    project.ok("run", "-j2")
    project.ok("clean", "--yes", "summarize")
    assert sorted(jid for jid, p in OUTPUTS.items() if not project.exists(p)) == ["summarize[m0]", "summarize[m1]"]
    project.ok("run")
    project.ok("clean", "--yes", "-k", "estimate and d1")
    assert sorted(jid for jid, p in OUTPUTS.items() if not project.exists(p)) == ["estimate[d1,m0]", "estimate[d1,m1]"]
    project.ok("run")
    assert "Deleted 8 file(s)." in project.ok("clean", "--yes", "all").stdout  # a target without outputs: what it needs


def test_a_force_name_that_names_no_rule_or_job_is_refused_by_every_command(project, tmp_path):
    project.ok("run")
    for args, says in ((("dryrun", "--force", "nope"), "--force 'nope': not a rule name or job id"),
                       (("run", "--force", "estimate[zz,m0]"), "--force 'estimate[zz,m0]': 'zz' is not a value of dimension dataset"),
                       (("emit", "--slurm", "-F", "--force", "nope", "-o", tmp_path / "b"), "--force 'nope'")):
        res = project.run(*args)
        assert res.returncode == 2, (args, res.stdout, res.stderr)
        assert res.stderr.startswith(says), res.stderr
        assert "Traceback" not in res.stderr and "Nothing to do" not in res.stdout
    assert not (tmp_path / "b").exists()
    project.ok("dryrun", "--force", "estimate[d0,m1]")  # a real job id still forces it
