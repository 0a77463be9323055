"""End to end: ``rulec run`` on the local machine (issue "local execution"), as a real
subprocess with real shell commands, on small Rulefile projects in tmp_path."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from rulec_e2e import (
    ALL_JOBS,
    ESTIMATE,
    OUTPUTS,
    SUMMARIZE,
    Project,
    PtyRun,
    done_jobs,
    kill_groups_of,
    planned_jobs,
    set_mtime,
    wait_for,
)

REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- the pipeline runs

def test_run_builds_everything_then_nothing_to_do(project):
    res = project.ok("run", "-j2")
    assert sorted(done_jobs(res.stdout)) == sorted(ALL_JOBS)
    assert "Done: 8 job(s) ran." in res.stdout
    assert re.search(r"^\[8/8\] done ", res.stdout, re.M)
    assert project.read("bld/data/d1.txt") == "raw data\nprepared d1\n"
    assert project.read("bld/estimation/d1_m0.txt") == "raw data\nprepared d1\nfit m0 seed 42\n"
    assert project.read("bld/summary/m1.txt") == (
        "raw data\nprepared d0\nfit m1 seed 42\n" "raw data\nprepared d1\nfit m1 seed 42\n"
    )
    # every job ran after the jobs it needs
    order = done_jobs(res.stdout)
    for d in ("d0", "d1"):
        for m in ("m0", "m1"):
            assert order.index(f"prepare[{d}]") < order.index(f"estimate[{d},{m}]") < order.index(f"summarize[{m}]")

    again = project.ok("run", "-j2")
    assert again.stdout.strip() == "Nothing to do: all 8 jobs are up to date."
    assert done_jobs(again.stdout) == []


def test_touching_an_input_reruns_exactly_its_dependents(project):
    project.ok("run", "-j2")
    set_mtime(project.path / "bld/data/d1.txt", 100)
    res = project.ok("run", "-j2")
    assert sorted(done_jobs(res.stdout)) == sorted(["estimate[d1,m0]", "estimate[d1,m1]"] + SUMMARIZE)
    assert "Done: 4 job(s) ran." in res.stdout
    assert project.ok("dryrun").stdout.strip() == "Nothing to do: all 8 jobs are up to date."

    set_mtime(project.path / "src/data.txt", 200)
    res = project.ok("run", "-j2")
    assert sorted(done_jobs(res.stdout)) == sorted(ALL_JOBS)


def test_changed_source_content_flows_through(project):
    project.ok("run", "-j2")
    project.write("src/data.txt", "new data\n")
    set_mtime(project.path / "src/data.txt", 100)
    project.ok("run", "-j2")
    assert project.read("bld/summary/m0.txt").startswith("new data\nprepared d0\nfit m0")


def test_editing_a_command_reruns_that_rule_and_its_dependents(project):
    project.ok("run", "-j2")
    project.edit("echo fit {model} seed", "echo fitted {model} seed")
    res = project.ok("run", "-j2")
    assert sorted(done_jobs(res.stdout)) == sorted(ESTIMATE + SUMMARIZE)
    assert "fitted m1 seed 42" in project.read("bld/summary/m1.txt")
    assert project.ok("run").stdout.strip() == "Nothing to do: all 8 jobs are up to date."


def test_editing_a_comment_or_white_space_reruns_nothing(project):
    project.ok("run", "-j2")
    text = project.read("Rulefile").replace("# a small datasets × models pipeline", "# rewritten comment")
    text = text.replace("rule prepare:", "# a new comment\nrule prepare:   # and here")
    text = text.replace("echo prepared {dataset}", "echo   prepared    {dataset}")
    project.write("Rulefile", text)
    res = project.ok("run", "-j2")
    assert done_jobs(res.stdout) == []
    assert res.stdout.strip() == "Nothing to do: all 8 jobs are up to date."


def test_run_with_a_target(project):
    res = project.ok("run", "bld/estimation/d1_m1.txt")
    assert sorted(done_jobs(res.stdout)) == ["estimate[d1,m1]", "prepare[d1]"]
    assert project.exists("bld/estimation/d1_m1.txt")
    assert not project.exists("bld/estimation/d0_m1.txt")
    res = project.ok("run", "-j2")
    assert len(done_jobs(res.stdout)) == 6


# --------------------------------------------------------------------------- failures

FAILING = """\
dimension dataset = ["d0", "d1", "d2"]

rule all:
    input: expand("out/b_{dataset}.txt")

rule a:
    output: "out/a_{dataset}.txt"
    shell: "echo a-{dataset} > {output}; echo line1-{dataset} >&2; echo oops-{dataset} >&2; test {dataset} != d1 || exit 3"

rule b:
    input: "out/a_{dataset}.txt"
    output: "out/b_{dataset}.txt"
    shell: "cp {input} {output}"
"""


def test_failing_job_with_keep_going(empty_project):
    proj = empty_project
    proj.write("Rulefile", FAILING)
    res = proj.run("run", "-j2", "--keep-going")
    assert res.returncode == 1, res.stderr
    # the failed job's output (written before it failed) is removed; its dependent never ran
    assert not proj.exists("out/a_d1.txt")
    assert not proj.exists("out/b_d1.txt")
    assert "skipped b[d1]: an upstream job failed" in res.stdout
    assert "b[d1]" not in done_jobs(res.stdout)
    # independent jobs went on
    assert sorted(done_jobs(res.stdout)) == ["a[d0]", "a[d2]", "b[d0]", "b[d2]"]
    assert proj.read("out/b_d2.txt") == "a-d2\n"
    # the summary on stderr: job id, exit status, log path, the last lines of its output
    err = res.stderr
    assert "FAILED a[d1]: exit status 3" in err
    assert "1 job(s) failed, 4 succeeded, 1 not run:" in err
    assert "  a[d1]: exit status 3" in err
    assert "log: .rulec/logs/a/a.d1.log" in err
    assert "| line1-d1" in err and "| oops-d1" in err
    assert err.index("| line1-d1") < err.index("| oops-d1")
    assert proj.exists(".rulec/logs/a/a.d1.log")
    # the next plan redoes exactly the failed job and its dependent
    jobs = planned_jobs(proj.ok("dryrun").stdout)
    assert jobs == {"a[d1]": "output missing: out/a_d1.txt", "b[d1]": "output missing: out/b_d1.txt"}


def test_failing_job_stops_the_run_without_keep_going(empty_project):
    proj = empty_project
    proj.write("Rulefile", FAILING)
    res = proj.run("run", "-j1")
    assert res.returncode == 1
    assert done_jobs(res.stdout) == ["a[d0]"]
    assert "skipped b[d1]: an upstream job failed" in res.stdout
    assert not proj.exists("out/a_d1.txt") and not proj.exists("out/b_d1.txt")
    # nothing new is started after the failure
    assert not proj.exists("out/a_d2.txt") and not proj.exists("out/b_d0.txt")
    assert "1 job(s) failed, 1 succeeded, 4 not run:" in res.stderr
    assert "a[d1]: exit status 3" in res.stderr


def test_failing_job_does_not_kill_other_running_jobs(empty_project):
    proj = empty_project
    proj.rulefile("""\
        rule all:
            input: "out/slow.txt", "out/bad.txt"

        rule slow:
            output: "out/slow.txt"
            shell: "sleep 0.5; echo slow > {output}"

        rule bad:
            output: "out/bad.txt"
            shell: "echo bad > {output}; exit 4"
        """)
    res = proj.run("run", "-j2")
    assert res.returncode == 1
    assert done_jobs(res.stdout) == ["slow"]
    assert proj.read("out/slow.txt") == "slow\n"
    assert not proj.exists("out/bad.txt")
    assert "bad: exit status 4" in res.stderr
    assert planned_jobs(proj.ok("dryrun").stdout) == {"bad": "output missing: out/bad.txt"}


def test_exit_zero_without_the_declared_output_is_a_failure(empty_project):
    proj = empty_project
    proj.rulefile("""\
        rule all:
            input: "out/y.txt"

        rule x:
            output: "out/x.txt", "out/x2.txt"
            shell: "echo said nothing; touch out/x2.txt"

        rule y:
            input: "out/x.txt"
            output: "out/y.txt"
            shell: "cp {input} {output}"
        """)
    res = proj.run("run")
    assert res.returncode == 1
    assert "did not create out/x.txt" in res.stderr
    assert "out/x2.txt" not in res.stderr.split("did not create", 1)[1].splitlines()[0]
    assert "| said nothing" in res.stderr
    assert "skipped y: an upstream job failed" in res.stdout
    assert not proj.exists("out/x2.txt"), "the outputs of a failed job are removed"
    assert not proj.exists("out/y.txt")


def test_a_silent_job_gets_no_log_file_and_its_failure_says_so(empty_project):
    proj = empty_project
    proj.one_job("echo partial > {output}; exit 5")
    res = proj.run("run")
    assert res.returncode == 1
    assert "  x: exit status 5\n    $ echo partial > out/x.txt; exit 5\n    (no output)\n" in res.stderr
    assert not proj.exists(".rulec/logs/x/x.log")
    # an old log from a run that printed is not left behind by a silent rerun
    proj.one_job("echo talk; touch {output}")
    proj.ok("run")
    assert proj.read(".rulec/logs/x/x.log") == "talk\n"
    proj.one_job("touch {output}")
    proj.ok("run")
    assert not proj.exists(".rulec/logs/x/x.log")
    assert list((proj.path / ".rulec" / "spool").iterdir()) == []


def test_a_job_killed_by_a_signal_is_a_failure(empty_project):
    proj = empty_project
    proj.one_job("echo partial > {output}; kill -9 $$")
    res = proj.run("run")
    assert res.returncode == 1
    assert "x: killed by signal SIGKILL" in res.stderr
    assert not proj.exists("out/x.txt")


def test_a_failing_pipe_fails_the_job(empty_project):
    """Commands run with ``set -euo pipefail``."""
    proj = empty_project
    proj.one_job("false | cat > {output}; echo not reached")
    res = proj.run("run")
    assert res.returncode == 1
    assert "x: exit status 1" in res.stderr
    assert "| not reached" not in res.stderr
    assert not proj.exists("out/x.txt")


# --------------------------------------------------------------------------- logs

def test_logs_go_to_the_rules_log_or_the_default_place(empty_project):
    proj = empty_project
    proj.rulefile("""\
        dimension n = ["p", "q"]

        rule all:
            input: expand("out/{n}.b")

        rule a:
            output: "out/{n}.a"
            shell: "echo to-stdout-a-{n}; echo to-stderr-a-{n} >&2; touch {output}"

        rule b:
            input: "out/{n}.a"
            output: "out/{n}.b"
            log: "logs/b/{n}.log"
            shell: "echo to-stdout-b-{n}; echo to-stderr-b-{n} >&2; cp {input} {output}"
        """)
    res = proj.ok("run", "-j2")
    assert len(done_jobs(res.stdout)) == 4
    # no log: -> .rulec/logs/<rule>/<job-id>.log
    for n in ("p", "q"):
        text = proj.read(f".rulec/logs/a/a.{n}.log")
        assert f"to-stdout-a-{n}" in text and f"to-stderr-a-{n}" in text
        text = proj.read(f"logs/b/{n}.log")
        assert text.splitlines() == [f"to-stdout-b-{n}", f"to-stderr-b-{n}"]
        assert not proj.exists(f".rulec/logs/b/b.{n}.log")
    # job output does not leak into rulec's own output
    assert "to-stdout" not in res.stdout + res.stderr
    # a rerun starts each log afresh
    proj.ok("run", "-j2", "--force-all")
    assert proj.read("logs/b/p.log").splitlines() == ["to-stdout-b-p", "to-stderr-b-p"]
    assert proj.read(".rulec/logs/a/a.q.log").count("to-stdout-a-q") == 1
    # status -v points at the logs
    status = proj.ok("status", "-v").stdout
    assert re.search(r"^b\[p\]\s+done\s+logs/b/p\.log", status, re.M), status
    assert re.search(r"^a\[q\]\s+done\s+\.rulec/logs/a/a\.q\.log", status, re.M), status


def test_a_failed_jobs_own_log_is_kept_and_named(empty_project):
    proj = empty_project
    proj.one_job("echo partial > {output}; echo the-reason >&2; exit 3", extra='log: "logs/x.log"')
    res = proj.run("run")
    assert res.returncode == 1
    assert "log: logs/x.log" in res.stderr and "| the-reason" in res.stderr
    assert proj.read("logs/x.log") == "the-reason\n"
    assert not proj.exists("out/x.txt")


# --------------------------------------------------------------------------- interrupting

SLOW = """\
dimension n = ["p", "q"]

rule all:
    input: expand("out/{{n}}.txt")

rule slow:
    output: "out/{{n}}.txt"
    shell: "echo partial > {{output}}; test -e fast || sleep {marker}; echo done >> {{output}}"
"""


def _start_slow(proj: Project, marker, procs) -> subprocess.Popen:
    proj.write("Rulefile", SLOW.format(marker=marker))
    p = proj.popen("run", "-j2")
    procs.append(p)
    wait_for(lambda: proj.exists("out/p.txt") and proj.exists("out/q.txt") and len(marker.pids()) == 2,
             what="both jobs to write their partial outputs")
    return p


@pytest.mark.parametrize("sig", [
    pytest.param(signal.SIGINT, id="SIGINT"),
    pytest.param(signal.SIGTERM, id="SIGTERM"),
    pytest.param(signal.SIGHUP, id="SIGHUP"),
])
def test_interrupt_stops_jobs_and_removes_partial_outputs(empty_project, marker, procs, sig):
    proj = empty_project
    p = _start_slow(proj, marker, procs)
    t0 = time.monotonic()
    p.send_signal(sig)
    out, err = p.communicate(timeout=15)
    assert p.returncode == 130, (out, err)
    assert time.monotonic() - t0 < 8  # a few seconds, on a busy machine too; not the jobs' 30 s
    assert "interrupted" in err
    # no job process survives
    wait_for(lambda: not marker.all_pids(), timeout=3, what="the jobs' processes to be gone")
    # no partial output remains, nothing is recorded as complete
    assert not proj.exists("out/p.txt") and not proj.exists("out/q.txt")
    assert not proj.exists(".rulec/lock")
    jobs = planned_jobs(proj.ok("dryrun").stdout)
    assert jobs == {"slow[p]": "output missing: out/p.txt", "slow[q]": "output missing: out/q.txt"}
    # and the next run does them
    proj.write("fast", "")
    res = proj.ok("run", "-j2")
    assert sorted(done_jobs(res.stdout)) == ["slow[p]", "slow[q]"]
    assert proj.read("out/p.txt") == "partial\ndone\n"


def test_interrupt_keeps_the_jobs_that_finished(empty_project, marker, procs):
    proj = empty_project
    p = proj.start_fast_then_slow(marker, procs)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=15)
    assert p.returncode == 130
    assert done_jobs(out) == ["fast"]
    assert "stopped 1 running job(s)" in err
    assert proj.read("out/fast.txt") == "fast\n"
    assert not proj.exists("out/slow.txt")
    wait_for(lambda: not marker.all_pids(), timeout=3, what="the job to be gone")
    assert planned_jobs(proj.ok("dryrun").stdout) == {"slow": "output missing: out/slow.txt"}


def test_sigkill_of_rulec_leaves_jobs_to_be_redone(empty_project, marker, procs):
    proj = empty_project
    p = _start_slow(proj, marker, procs)
    p.send_signal(signal.SIGKILL)
    p.communicate(timeout=10)
    assert p.returncode == -signal.SIGKILL
    # rulec could not clean up: its jobs survive, in their own process groups; stop them
    children = marker.all_pids()
    assert len(marker.pids()) == 2
    kill_groups_of(children)
    wait_for(lambda: not marker.all_pids(), timeout=3, what="the orphaned jobs to die")
    assert proj.read("out/p.txt") == "partial\n"  # a partial output that looks complete to make

    jobs = planned_jobs(proj.ok("dryrun").stdout)
    assert set(jobs) == {"slow[p]", "slow[q]"}
    for why in jobs.values():
        assert why.startswith("incomplete") or why.startswith("output missing"), jobs
    # the lock of the dead rulec is stale: the next run takes it over and redoes both jobs
    proj.write("fast", "")
    res = proj.ok("run", "-j2")
    assert "took over a stale lock" in res.stderr
    assert sorted(done_jobs(res.stdout)) == ["slow[p]", "slow[q]"]
    assert proj.read("out/p.txt") == "partial\ndone\n"
    assert proj.ok("dryrun").stdout.strip() == "Nothing to do: all 2 jobs are up to date."


# --------------------------------------------------------------------------- queued jobs
# A worker holds the next ready job queued behind its running one and starts it as that one
# ends (docs/architecture.md, "Running local jobs"): -j N still means N jobs running, and a
# failure without --keep-going starts nothing more.

QUEUED = """\
rule all:
    input: "out/a.txt", "out/b.txt"

rule a:
    output: "out/a.txt"
    shell: "sleep 0.5; {a}"

rule b:
    output: "out/b.txt"
    shell: "touch ran.b; echo b > {{output}}"
"""


def test_a_job_queued_behind_a_failing_one_does_not_start(empty_project):
    proj = empty_project
    proj.write("Rulefile", QUEUED.format(a="exit 1"))
    res = proj.run("run", "-j1")
    assert res.returncode == 1
    assert "1 job(s) failed, 0 succeeded, 1 not run" in res.stderr
    assert not proj.exists("ran.b") and not proj.exists("out/b.txt")
    status = json.loads(proj.ok("status", "--json", "-v").stdout)
    assert {j["id"]: j["state"] for j in status["jobs"]} == {"a": "failed", "b": "missing"}


def test_a_job_queued_behind_one_that_left_out_its_output_does_not_start(empty_project):
    proj = empty_project
    proj.write("Rulefile", QUEUED.format(a="true"))
    res = proj.run("run", "-j1")
    assert res.returncode == 1 and "out/a.txt" in res.stderr
    assert not proj.exists("ran.b")


def test_a_failure_takes_back_the_jobs_queued_behind_the_other_running_jobs(empty_project):
    proj = empty_project
    proj.rulefile("""\
        rule all:
            input: "out/a.txt", "out/c.txt", "out/b.txt", "out/d.txt"

        rule a:
            output: "out/a.txt"
            shell: "sleep 0.3; exit 1"

        rule c:
            output: "out/c.txt"
            shell: "sleep 1.5; echo c > {output}"

        rule b:
            output: "out/b.txt"
            shell: "touch ran.b; echo b > {output}"

        rule d:
            output: "out/d.txt"
            shell: "touch ran.d; echo d > {output}"
        """)
    res = proj.run("run", "-j2")
    assert res.returncode == 1
    assert "1 job(s) failed, 1 succeeded, 2 not run" in res.stderr  # c ran to its end
    assert proj.read("out/c.txt") == "c\n"
    assert not proj.exists("ran.b") and not proj.exists("ran.d")


def test_a_queued_job_that_never_starts_keeps_its_old_output(empty_project):
    """A queued job's old output waits in .rulec/stash/ (it is gone when the job starts, as
    before): put back when the job does not start after all."""
    proj = empty_project
    proj.write("Rulefile", QUEUED.format(a="echo a > {output}"))
    proj.ok("run", "-j1")
    (proj.path / "ran.b").unlink()
    proj.write("Rulefile", QUEUED.format(a="exit 1"))
    res = proj.run("run", "-j1", "--force-all")
    assert res.returncode == 1 and "1 not run" in res.stderr
    assert not proj.exists("ran.b") and proj.read("out/b.txt") == "b\n"
    assert list((proj.path / ".rulec" / "stash").iterdir()) == []
    status = json.loads(proj.ok("status", "--json", "-v").stdout)
    assert {j["id"]: j["state"] for j in status["jobs"]} == {"a": "failed", "b": "done"}
    res = proj.run("run", "-j1", "--force-all", "--keep-going")  # it starts: the old output goes first
    assert res.returncode == 1 and proj.exists("ran.b") and proj.read("out/b.txt") == "b\n"


def test_with_keep_going_the_queued_job_starts_after_the_failure(empty_project):
    proj = empty_project
    proj.write("Rulefile", QUEUED.format(a="exit 1"))
    res = proj.run("run", "-j1", "--keep-going")
    assert res.returncode == 1 and "1 job(s) failed, 1 succeeded, 0 not run" in res.stderr
    assert proj.exists("ran.b") and proj.read("out/b.txt") == "b\n"


def test_a_queued_job_is_not_running_until_it_starts(empty_project, marker, procs):
    proj = empty_project
    proj.write("Rulefile", QUEUED.format(a=f"echo a > {{output}}; sleep {marker}").replace("sleep 0.5; ", ""))
    p = proj.popen("run", "-j1")
    procs.append(p)
    wait_for(lambda: marker.pids(), what="job a to run")
    time.sleep(0.3)  # (b is queued behind it by now)
    status = json.loads(proj.ok("status", "--json", "-v").stdout)
    assert status["running"] == 1
    states = {j["id"]: j["reason"] for j in status["jobs"]}
    assert states["a"].startswith("running") and not states["b"].startswith("running")
    assert not proj.exists("ran.b")
    kill_groups_of(marker.pids())  # a fails (killed); b never starts
    out, err = p.communicate(timeout=15)
    assert p.returncode == 1 and not proj.exists("ran.b")


def test_with_queued_jobs_no_more_than_j_jobs_run_at_once(empty_project):
    proj = empty_project
    count = "flock c.lock bash -c 'n=$(cat c); n=$((n+D)); echo $n > c; [ $n -le 2 ] || echo {n} >> too-many'"
    shell = f"{count.replace('D', '1')}; sleep 0.0$(( {{n}} % 5 )); {count.replace('D', '-1')}; echo {{n}} > {{output}}"
    values = ", ".join(str(i) for i in range(16))
    proj.write("Rulefile", f'dimension n = [{values}]\n\nrule all:\n    input: expand("out/{{n}}.txt")\n\n'
                           f'rule x:\n    output: "out/{{n}}.txt"\n    shell: "{shell}"\n')
    proj.write("c", "0\n")
    proj.ok("run", "-j2")
    assert not proj.exists("too-many") and proj.read("c") == "0\n"
    assert all(proj.exists(f"out/{i}.txt") for i in range(16))


@pytest.mark.parametrize("flags, sig", [((), signal.SIGINT), (("--keep-going",), signal.SIGINT),
                                        (("--keep-going",), signal.SIGTERM), ((), signal.SIGHUP)],
                         ids=["stop-SIGINT", "keep-going-SIGINT", "keep-going-SIGTERM", "stop-SIGHUP"])
def test_ctrl_c_leaves_queued_jobs_unstarted_and_unmarked(empty_project, marker, procs, flags, sig):
    """(With --keep-going a queued job would start whatever the job before it did: the
    interrupt takes it back first.)"""
    proj = empty_project
    proj.rulefile(f"""\
        dimension n = ["p", "q"]

        rule all:
            input: expand("out/{{n}}.txt"), expand("next/{{n}}.txt")

        rule slow:
            output: "out/{{n}}.txt"
            shell: "echo partial > {{output}}; sleep {marker}; echo done >> {{output}}"

        rule quick:
            output: "next/{{n}}.txt"
            shell: "touch ran.{{wildcards.n}}; echo {{n}} > {{output}}"
        """.replace("{{wildcards.n}}", "{{n}}"))
    p = proj.popen("run", "-j2", *flags)
    procs.append(p)
    wait_for(lambda: proj.exists("out/p.txt") and proj.exists("out/q.txt") and len(marker.pids()) == 2,
             what="both slow jobs to run")
    time.sleep(0.3)  # (the quick jobs are queued behind them by now)
    p.send_signal(sig)
    out, err = p.communicate(timeout=15)
    assert p.returncode == 130, (out, err)
    assert "stopped 2 running job(s)" in err
    wait_for(lambda: not marker.all_pids(), timeout=3, what="the jobs' processes to be gone")
    assert not any(proj.exists(f) for f in ("ran.p", "ran.q", "next/p.txt", "next/q.txt", "out/p.txt", "out/q.txt"))
    status = json.loads(proj.ok("status", "--json", "-v").stdout)
    assert status["running"] == 0
    assert {j["id"]: j["state"] for j in status["jobs"]} == {
        "slow[p]": "missing", "slow[q]": "missing", "quick[p]": "missing", "quick[q]": "missing"}
    jobs = planned_jobs(proj.ok("dryrun").stdout)  # missing, not "incomplete": nothing was left marked
    assert jobs == {"slow[p]": "output missing: out/p.txt", "slow[q]": "output missing: out/q.txt",
                    "quick[p]": "output missing: next/p.txt", "quick[q]": "output missing: next/q.txt"}


def test_ctrl_c_leaves_the_old_outputs_of_queued_jobs_in_place(empty_project, marker, procs):
    proj = empty_project
    proj.rulefile(f"""\
        dimension n = ["p", "q"]

        rule all:
            input: expand("out/{{n}}.txt"), expand("next/{{n}}.txt")

        rule slow:
            output: "out/{{n}}.txt"
            shell: "echo partial > {{output}}; test -e fast || sleep {marker}; echo done >> {{output}}"

        rule quick:
            output: "next/{{n}}.txt"
            shell: "echo {{n}} > {{output}}"
        """)
    proj.write("fast", "")
    proj.ok("run", "-j2")
    (proj.path / "fast").unlink()
    p = proj.popen("run", "-j2", "--force-all")
    procs.append(p)
    wait_for(lambda: len(marker.pids()) == 2, what="both slow jobs to run")
    time.sleep(0.3)  # (the quick jobs are queued behind them by now, their outputs aside)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=15)
    assert p.returncode == 130, (out, err)
    assert proj.read("next/p.txt") == "p\n" and proj.read("next/q.txt") == "q\n"
    assert not proj.exists("out/p.txt") and not proj.exists("out/q.txt")  # stopped: removed
    assert list((proj.path / ".rulec" / "stash").iterdir()) == []
    assert planned_jobs(proj.ok("dryrun").stdout) == {"slow[p]": "output missing: out/p.txt",
                                                      "slow[q]": "output missing: out/q.txt"}


def test_queued_jobs_logs_and_outputs_are_their_own(empty_project):
    proj = empty_project
    proj.rulefile("""\
        dimension n = ["a", "b", "c", "d", "e", "f"]

        rule all:
            input: expand("out/{n}.txt")

        rule x:
            output: "out/{n}.txt"
            shell: "echo said {n}; echo {n} > {output}; echo err {n} >&2"
        """)
    res = proj.ok("run", "-j2")
    assert sorted(done_jobs(res.stdout)) == [f"x[{n}]" for n in "abcdef"]
    for n in "abcdef":
        assert proj.read(f"out/{n}.txt") == f"{n}\n"
        assert proj.read(f".rulec/logs/x/x.{n}.log") == f"said {n}\nerr {n}\n"
    assert list((proj.path / ".rulec" / "spool").iterdir()) == []


# --------------------------------------------------------------------------- the lock

def test_a_second_concurrent_run_is_refused(empty_project, marker, procs):
    proj = empty_project
    p = _start_slow(proj, marker, procs)
    second = proj.run("run", "-j2")
    assert second.returncode == 2
    assert "another rulec is running" in second.stderr
    assert f"pid {p.pid}" in second.stderr
    assert done_jobs(second.stdout) == []
    # a dry run does not need the lock; clean does
    assert proj.ok("dryrun").returncode == 0
    clean = proj.run("clean", "--yes")
    assert clean.returncode == 2 and "another rulec is running" in clean.stderr
    assert proj.exists("out/p.txt")
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=15)
    assert p.returncode == 130
    assert not proj.exists(".rulec/lock")


def test_a_run_never_removes_another_runs_lock(empty_project, procs):
    proj = empty_project
    proj.rulefile(f"""\
        rule all:
            input: "out/a.txt", "out/b.txt"

        rule a:
            output: "out/a.txt"
            shell: "touch started-a; for i in $(seq 300); do test -e go-a && break; sleep 0.05; done; echo a > {{output}}"

        rule b:
            output: "out/b.txt"
            shell: "touch started-b; for i in $(seq 300); do test -e go-b && break; sleep 0.05; done; echo b > {{output}}"
        """)
    first = proj.popen("run", "out/a.txt")
    procs.append(first)
    wait_for(lambda: proj.exists("started-a"), what="job a to start")
    refused = proj.run("unlock")  # by mistake, while the first run is alive
    assert refused.returncode == 2 and f"pid {first.pid}" in refused.stderr
    proj.ok("unlock", "--force")  # insisting
    second = proj.popen("run", "out/b.txt")
    procs.append(second)
    wait_for(lambda: proj.exists("started-b"), what="job b to start")
    proj.write("go-a", "")
    first.communicate(timeout=10)
    assert first.returncode == 0
    try:
        lock = json.loads(proj.read(".rulec/lock"))
        assert lock["pid"] == second.pid, "the second run still holds the lock"
    finally:
        proj.write("go-b", "")
        second.communicate(timeout=10)
    assert second.returncode == 0


def _write_lock(proj: Project, pid: int, host: str | None = None) -> Path:
    path = proj.write(".rulec/lock", json.dumps({
        "pid": pid, "host": host or socket.gethostname(), "started": time.time() - 60, "command": "rulec run -j9",
    }))
    return path


def test_unlock_removes_a_lock(project):
    lock = _write_lock(project, os.getpid())  # a live process: the lock is not stale
    res = project.run("run")
    assert res.returncode == 2
    assert "another rulec is running" in res.stderr
    assert not project.exists("bld")
    res = project.run("unlock")  # a live process on this host: not without --force
    assert res.returncode == 2 and f"belongs to a running rulec: pid {os.getpid()}" in res.stderr
    assert lock.exists()
    res = project.ok("unlock", "--force")
    assert f"removed the lock of pid {os.getpid()}" in res.stdout
    assert not lock.exists()
    assert "no lock" in project.ok("unlock").stdout
    res = project.ok("run", "-j2")
    assert len(done_jobs(res.stdout)) == 8


def test_unlock_removes_an_unreadable_lock(project):
    project.write(".rulec/lock", "")
    res = project.run("run")
    assert res.returncode == 2
    assert "lock" in res.stderr
    assert not project.exists("bld")
    project.ok("unlock")
    assert not project.exists(".rulec/lock")
    assert len(done_jobs(project.ok("run", "-j2").stdout)) == 8


def test_a_lock_from_another_host_is_not_taken_over(project):
    _write_lock(project, 1, host="some-other-host.example")
    res = project.run("run")
    assert res.returncode == 2
    assert "another rulec is running" in res.stderr and "some-other-host.example" in res.stderr


def test_a_stale_lock_is_taken_over_with_a_warning(project):
    dead = subprocess.Popen(["true"])
    dead.wait()
    _write_lock(project, dead.pid)
    res = project.ok("run", "-j2")
    assert f"warning: took over a stale lock of process {dead.pid}" in res.stderr
    assert len(done_jobs(res.stdout)) == 8
    assert not project.exists(".rulec/lock")


# --------------------------------------------------------------------------- resources

def _timed_rulefile(extra_rule: str = "", label: str = "", secs: float = 0.3) -> str:
    return f"""\
dimension n = ["a", "b", "c"]

rule all:
    input: expand("out/{{n}}.t")

rule timed:
    output: "out/{{n}}.t"
{extra_rule}    shell: "s=$(date +%s.%N); sleep {secs}; e=$(date +%s.%N); echo $s $e > {{output}}"
{label}"""


def _intervals(proj: Project) -> list[tuple[float, float]]:
    spans = []
    for n in ("a", "b", "c"):
        s, e = proj.read(f"out/{n}.t").split()
        spans.append((float(s), float(e)))
    return sorted(spans)


def _overlaps(spans) -> bool:
    return any(b[0] < a[1] for a, b in zip(spans, spans[1:]))


def test_jobs_overlap_when_allowed(empty_project):
    """The control for the tests below: with -j3 and no limit, the three jobs run at once."""
    empty_project.write("Rulefile", _timed_rulefile(secs=1.0))
    empty_project.ok("run", "-j3")
    assert _overlaps(_intervals(empty_project))


def test_j1_runs_one_job_at_a_time(empty_project):
    empty_project.write("Rulefile", _timed_rulefile())
    empty_project.ok("run", "-j1")
    assert not _overlaps(_intervals(empty_project))


def test_a_label_limit_keeps_its_jobs_one_at_a_time(empty_project):
    empty_project.write("Rulefile", _timed_rulefile("    label: serial\n", "\nlabel serial:\n    limit: 1\n"))
    empty_project.ok("run", "-j3")
    assert not _overlaps(_intervals(empty_project))


def test_a_custom_resource_pool_limits_jobs(empty_project):
    empty_project.write("Rulefile", _timed_rulefile("    resources: io=1\n"))
    empty_project.ok("run", "-j3", "--resources", "io=1")
    assert not _overlaps(_intervals(empty_project))


def test_a_job_needing_more_than_the_pool_is_an_error(empty_project):
    empty_project.write("Rulefile", _timed_rulefile("    resources: io=2\n"))
    res = empty_project.run("run", "-j3", "--resources", "io=1")
    assert res.returncode == 2
    assert "io" in res.stderr
    assert not empty_project.exists("out")


def test_a_cores_pool_below_one_is_refused(project):
    res = project.run("run", "--resources", "cpus=0", timeout=30)
    assert res.returncode == 2
    assert "at least 1" in res.stderr


# --------------------------------------------------------------------------- quoting

NASTY = ["a b", "it's", "x;y", "$(touch pwned)", "back`touch pwned2`tick", 'dq"x', "star*"]


def test_wildcard_values_reach_commands_as_single_literal_arguments(empty_project):
    proj = empty_project
    raw_names = ["sp ace", "q'uote", "$(touch pwned3)", "a;b", "semi; touch pwned4"]
    for name in raw_names:
        proj.write(f"raw/{name}.csv", f"content of {name}\n")
    values = ", ".join(json.dumps(v) for v in NASTY)
    proj.rulefile(f"""\
        dimension name = [{values}]
        dimension sample = glob("raw/{{sample}}.csv")

        rule all:
            input: expand("out/{{name}}.txt"), expand("cp/{{sample}}.csv")

        rule mk:
            output: "out/{{name}}.txt"
            shell: "printf '[%s]' {{name}} > {{output}}"

        rule cp:
            input: "raw/{{sample}}.csv"
            output: "cp/{{sample}}.csv"
            shell: "cp {{input}} {{output}}; printf '[%s]' {{sample}} >> {{output}}"
        """)
    res = proj.ok("run", "-j2")
    assert len(done_jobs(res.stdout)) == len(NASTY) + len(raw_names)
    for v in NASTY:
        assert proj.read(f"out/{v}.txt") == f"[{v}]"  # one argument, nothing expanded
    for name in raw_names:
        assert proj.read(f"cp/{name}.csv") == f"content of {name}\n[{name}]"
    assert sorted(os.listdir(proj.path / "out")) == sorted(f"{v}.txt" for v in NASTY)
    assert sorted(os.listdir(proj.path / "cp")) == sorted(f"{n}.csv" for n in raw_names)
    # nothing was executed
    assert not any(p.name.startswith("pwned") for p in proj.path.rglob("*")), list(proj.path.rglob("pwned*"))
    assert proj.ok("dryrun").stdout.strip() == f"Nothing to do: all {len(NASTY) + len(raw_names)} jobs are up to date."


# --------------------------------------------------------------------------- clean

def test_clean_needs_yes_without_a_terminal(project):
    project.ok("run", "-j2")
    res = project.run("clean")
    assert res.returncode == 2
    assert "--yes" in res.stdout + res.stderr
    for out in OUTPUTS.values():
        assert project.exists(out)
    assert project.ok("dryrun").stdout.strip() == "Nothing to do: all 8 jobs are up to date."


def test_clean_yes_removes_outputs(project):
    project.ok("run", "-j2")
    res = project.ok("clean", "--yes")
    assert "Deleted 8 file(s)." in res.stdout
    for out in OUTPUTS.values():
        assert not project.exists(out)
    assert project.exists("src/data.txt")
    jobs = planned_jobs(project.ok("dryrun").stdout)
    assert jobs == {jid: f"output missing: {out}" for jid, out in OUTPUTS.items()}
    assert "Nothing to clean." in project.ok("clean", "--yes").stdout


def test_clean_a_target_only(project):
    project.ok("run", "-j2")
    project.ok("clean", "--yes", "estimate[d0,m1]")
    assert not project.exists("bld/estimation/d0_m1.txt")
    assert project.exists("bld/data/d0.txt"), "only the named job: not what it needs (--upstream)"
    assert project.exists("bld/estimation/d1_m1.txt")


# --------------------------------------------------------------------------- the example

EXAMPLE = REPO / "examples" / "datasets_models"


@pytest.mark.slow
@pytest.mark.skipif(not (EXAMPLE / "scripts").is_dir() or not any((EXAMPLE / "scripts").glob("*.py")),
                    reason="examples/datasets_models has no scripts yet")
def test_the_datasets_models_example_runs_end_to_end(tmp_path):
    work = tmp_path / "example"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("bld", "logs", ".rulec"))
    proj = Project(work)
    plan = proj.ok("dryrun")
    n = int(re.match(r"(\d+) of (\d+) jobs to run:", plan.stdout).group(2))
    res = proj.ok("run", "-j4", timeout=120)
    assert len(done_jobs(res.stdout)) == n
    assert f"Done: {n} job(s) ran." in res.stdout
    assert proj.ok("dryrun").stdout.strip() == f"Nothing to do: all {n} jobs are up to date."


# --------------------------------------------------------------------------- command changes

QUOTED = """\
rule all:
    input: "out/x.txt"

rule x:
    output: "out/x.txt"
    shell: \"\"\"
        echo "a  b" > {output}
        echo c >> {output}
    \"\"\"
"""


def test_white_space_inside_quotes_and_joined_lines_are_command_changes(tmp_path):
    proj = Project(tmp_path)
    proj.write("Rulefile", QUOTED)
    proj.ok("run")
    proj.edit('echo "a  b"', 'echo "a b"')  # the output changes: it is a change
    assert planned_jobs(proj.ok("dryrun").stdout) == {"x": "command changed"}
    proj.ok("run")
    assert proj.read("out/x.txt") == "a b\nc\n"
    proj.edit("> {output}\n        echo c", "> {output} echo c")  # two commands become one
    assert planned_jobs(proj.ok("dryrun").stdout) == {"x": "command changed"}
    proj.ok("run")
    assert proj.read("out/x.txt") == "a b echo c\n"
    # re-indenting, trailing blanks, blank lines and comment lines are no change
    proj.edit('        echo "a b" > {output} echo c >> {output}\n',
              '  # a comment\n\n          echo "a b"   >   {output} echo c  >>\t{output}   # why\n')
    assert proj.ok("run").stdout.strip() == "Nothing to do: the one job is up to date."


def _new_generation(workdir: Path) -> None:
    """Move the state store's write generation on, as a write does: a remembered "all up to
    date" verdict no longer holds, so the next command plans in full."""
    import sqlite3

    db = sqlite3.connect(workdir / ".rulec" / "state.db")
    db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'")
    db.commit()
    db.close()


def test_records_of_an_older_rulec_are_not_all_rerun(project):
    import sqlite3

    from rulec import shell

    project.ok("run", "-j2")
    # As an older rulec left them: white space folded everywhere, no hash version in the store.
    db = sqlite3.connect(project.path / ".rulec" / "state.db")
    for job_id, command in db.execute("SELECT job_id, command FROM jobs").fetchall():
        db.execute("UPDATE jobs SET cmd_hash=? WHERE job_id=?", (shell.digest(re.sub(r"\s+", " ", command).strip()), job_id))
    db.execute("DELETE FROM meta WHERE key='cmd_hash'")
    db.commit()
    _new_generation(project.path)
    assert project.ok("dryrun").stdout.strip() == "Nothing to do: all 8 jobs are up to date."
    assert db.execute("SELECT value FROM meta WHERE key='cmd_hash'").fetchone() is None  # a dry run writes nothing
    _new_generation(project.path)
    assert project.ok("run").stdout.strip() == "Nothing to do: all 8 jobs are up to date."
    assert db.execute("SELECT value FROM meta WHERE key='cmd_hash'").fetchone() == (str(shell.HASH_VERSION),)
    project.edit("echo fit {model} seed", "echo 'fit  {model}' seed")  # and a real edit is seen
    assert set(planned_jobs(project.ok("dryrun").stdout)) == set(ESTIMATE + SUMMARIZE)


# --------------------------------------------------------------------------- names and stores

GLOBBED = """\
dimension s = glob("raw/{s}.txt")

rule all:
    input: expand("out/{s}.txt")

rule make:
    input: "raw/{s}.txt"
    output: "out/{s}.txt"
    shell: "cp {input} {output}"
"""


def test_file_names_that_are_not_utf8_dry_run_and_run(tmp_path):
    proj = Project(tmp_path)
    proj.write("Rulefile", GLOBBED)
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "ok.txt").write_text("ok\n")
    with open(os.path.join(os.fsencode(tmp_path), b"raw", b"\xff.txt"), "wb") as fh:
        fh.write(b"latin-1\n")

    def rulec(*args):  # the output holds the name's byte as it is: not UTF-8
        from rulec_e2e import RULEC, _env

        res = subprocess.run(RULEC + list(args), cwd=tmp_path, env=_env(), capture_output=True, timeout=60)
        out, err = res.stdout.decode("utf-8", "surrogateescape"), res.stderr.decode("utf-8", "surrogateescape")
        assert res.returncode == 0 and "Traceback" not in err, (args, out, err)
        return out

    plan = rulec("dryrun")
    assert plan.startswith("2 of 2 jobs to run:") and "out/" + os.fsdecode(b"\xff") + ".txt" in plan, plan
    assert "Done: 2 job(s) ran." in rulec("run")
    with open(os.path.join(os.fsencode(tmp_path), b"out", b"\xff.txt"), "rb") as fh:
        assert fh.read() == b"latin-1\n"
    assert rulec("run").strip() == "Nothing to do: all 2 jobs are up to date."
    _new_generation(tmp_path)
    assert rulec("dryrun").strip() == "Nothing to do: all 2 jobs are up to date."
    assert rulec("status").splitlines()[1].split() == ["make", "2", "0", "0"]


def _read_only(path: Path):
    """Make a file or folder read-only, even for root (chattr +i); returns the undo, or skips."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        return lambda: path.chmod(mode)
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
        pytest.skip("root needs chattr on a file system with immutable files")
    return lambda: subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_read_only_state_store_stops_run_in_one_line_while_dryrun_and_status_work(project):
    project.ok("run", "-j2")
    os.unlink(project.path / "bld/summary/m0.txt")
    undo = _read_only(project.path / ".rulec" / "state.db")
    try:
        res = project.run("run")
        assert res.returncode == 2, res.stdout + res.stderr
        assert "Traceback" not in res.stderr
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "state.db is read-only" in lines[0], res.stderr
        assert not project.exists("bld/summary/m0.txt")  # nothing ran
        assert planned_jobs(project.ok("dryrun").stdout) == {"summarize[m0]": "output missing: bld/summary/m0.txt"}
        assert project.ok("status").returncode == 0
    finally:
        undo()
    res = project.ok("run")  # writable again: the next run recovers
    assert done_jobs(res.stdout) == ["summarize[m0]"]


# --------------------------------------------------------------------------- passwords in URLs

def test_a_password_in_a_url_is_never_shown(tmp_path):
    proj = Project(tmp_path)
    # Nothing listens on port 1: every command that lists the input fails at once.
    proj.write("Rulefile", 'rule get:\n    input: "ftp://user:s3cr3tpw@127.0.0.1:1/data/x.txt"\n'
                           '    output: "out/x.txt"\n    shell: "cp {input} {output}"\n')
    for command in ("dryrun", "run", "status"):
        res = proj.run(command)
        assert res.returncode == 2, (command, res.stdout, res.stderr)
        assert "s3cr3tpw" not in res.stdout + res.stderr, (command, res.stdout, res.stderr)
        assert "Traceback" not in res.stderr, res.stderr
        assert res.stderr.startswith("cannot reach ftp://user:***@127.0.0.1:1/data: "), res.stderr
    proj.write("Rulefile", 'dimension s = glob("ftp://user:s3cr3tpw@127.0.0.1:1/data/{s}.txt")\n'
                           'rule get:\n    input: "ftp://user:s3cr3tpw@127.0.0.1:1/data/{s}.txt"\n'
                           '    output: "out/{s}.txt"\n    shell: "cp {input} {output}"\n')
    res = proj.run("dryrun")
    assert res.returncode == 2 and "s3cr3tpw" not in res.stdout + res.stderr, res.stderr
    assert res.stderr.startswith("Rulefile:1:20: cannot reach ftp://user:***@127.0.0.1:1/data/*.txt"), res.stderr


def test_a_read_only_state_folder_still_dry_runs(project):
    project.ok("run", "-j2")
    os.unlink(project.path / "bld/summary/m0.txt")
    undo = _read_only(project.path / ".rulec")
    try:
        res = project.ok("dryrun")
        assert planned_jobs(res.stdout) == {"summarize[m0]": "output missing: bld/summary/m0.txt"}, res.stdout
        assert "Traceback" not in res.stderr
        assert project.ok("status").returncode == 0
        res = project.run("run")
        assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    finally:
        undo()
    assert done_jobs(project.ok("run").stdout) == ["summarize[m0]"]


# --------------------------------------------------------------------------- a killed rulec, its jobs' processes

def test_a_rerun_right_after_kill_9_first_stops_the_dead_runs_job(empty_project, marker, procs):
    """The dead run's job would go on appending to the output its rerun writes. (It sleeps
    until it is stopped; the rerun's own job, which finds ``fast``, does not.)"""
    proj = empty_project
    proj.one_job(f"echo part1 >> {{output}}; test -e fast || sleep {marker}; echo part2 >> {{output}}")
    p = proj.popen("run")
    procs.append(p)
    wait_for(lambda: proj.exists("out/x.txt") and proj.read("out/x.txt") == "part1\n", what="part1")
    p.send_signal(signal.SIGKILL)
    p.communicate(timeout=10)
    (proj.path / "fast").touch()
    res = proj.ok("run")  # the dead run's job is still sleeping
    assert "took over a stale lock" in res.stderr
    assert re.search(rf"stopped what the dead rulec \(pid {p.pid}\) had left running: x \(pid \d+\)", res.stderr), res.stderr
    assert done_jobs(res.stdout) == ["x"]
    assert proj.read("out/x.txt") == "part1\npart2\n"
    assert proj.ok("dryrun").stdout.strip() == "Nothing to do: the one job is up to date."


def test_a_job_whose_shell_is_killed_leaves_no_child_to_write_its_output(empty_project, marker, procs):
    proj = empty_project
    proj.one_job(f"echo $BASHPID > leader; (sleep 1; echo late >> {{output}}) & sleep {marker}; echo done > {{output}}")
    p = proj.popen("run")
    procs.append(p)
    wait_for(lambda: proj.exists("leader") and proj.read("leader").strip(), what="the job to start")
    os.kill(int(proj.read("leader")), signal.SIGKILL)  # the job's shell only, not its group
    out, err = p.communicate(timeout=20)
    assert p.returncode == 1, (out, err)
    assert "x: killed by signal SIGKILL" in err
    time.sleep(1.5)  # the child would have written by now
    assert not proj.exists("out/x.txt")
    assert planned_jobs(proj.ok("dryrun").stdout) == {"x": "output missing: out/x.txt"}


def test_a_job_that_exits_0_with_a_child_still_running_fails(empty_project, marker):
    proj = empty_project
    proj.one_job(f"echo ok > {{output}}; (sleep {marker}; echo late > late.txt) &")
    res = proj.run("run")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "exited 0 but left processes running" in res.stderr
    assert re.search(r"rulec stopped process(es)? \d+", res.stderr), res.stderr
    assert not marker.pids()  # the child was stopped before rulec said so, not left to write later
    assert not proj.exists("late.txt") and not proj.exists("out/x.txt")


# --------------------------------------------------------------------------- a closed standard output

PIPED = """\
dimension n = ["a", "b", "c", "d", "e", "f"]

rule all:
    input: expand("out/{n}.txt")

rule step:
    output: "out/{n}.txt"
    shell: "echo start > {output}; sleep 0.5; echo end >> {output}"
"""


@pytest.mark.parametrize("buffered", [False, True], ids=["unbuffered", "buffered"])
def test_a_closed_standard_output_interrupts_the_run(empty_project, procs, buffered):
    """`rulec run | head -1`: the reader goes away after the first line. (Python buffers a
    pipe by blocks: rulec writes its lines to a pipe as they come, else it would not learn
    of the closed pipe until 8 KiB later.)"""
    from rulec_e2e import RULEC, _env

    proj = empty_project
    proj.write("Rulefile", PIPED)
    env = {k: v for k, v in _env().items() if not (buffered and k == "PYTHONUNBUFFERED")}
    p = subprocess.Popen(RULEC + ["run", "-j1"], cwd=proj.path, env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    procs.append(p)
    first = p.stdout.readline()
    assert len(done_jobs(first)) == 1, first
    p.stdout.close()
    err = p.stderr.read()
    p.wait(timeout=20)
    assert p.returncode == 141, err
    assert "interrupted: standard output was closed" in err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    made = sorted(f.name for f in (proj.path / "out").iterdir())
    assert 1 <= len(made) < 6
    for name in made:
        assert proj.read(f"out/{name}") == "start\nend\n"  # nothing half-written
    todo = planned_jobs(proj.ok("dryrun").stdout)
    assert sorted(todo) == [f"step[{n}]" for n in "abcdef" if f"{n}.txt" not in made]
    res = proj.ok("run", "-j1")
    assert sorted(done_jobs(res.stdout)) == sorted(todo)


# --------------------------------------------------------------------------- values in script files

def test_a_file_name_with_newlines_runs_no_code_through_a_long_command(empty_project):
    """A command over 4 KiB runs from a script file whose first line names the job: a
    newline in a value must not end that comment line."""
    proj = empty_project
    proj.write("raw/x\ntouch PWNED\n.txt", "data\n")
    pad = "x" * 5000
    proj.write("Rulefile", f"""\
dimension s = glob("raw/{{s}}.txt")

rule all:
    input: expand("out/{{s}}.long"), expand("out/{{s}}.short")

rule long:
    input: "raw/{{s}}.txt"
    output: "out/{{s}}.long"
    shell: ": {pad}; cp {{input}} {{output}}"

rule short:
    input: "raw/{{s}}.txt"
    output: "out/{{s}}.short"
    shell: "cp {{input}} {{output}}"
""")
    res = proj.ok("run", "-j1")
    assert "Done: 2 job(s) ran." in res.stdout
    assert proj.read("out/x\ntouch PWNED\n.long") == "data\n"
    assert proj.read("out/x\ntouch PWNED\n.short") == "data\n"
    assert not proj.exists("PWNED") and not proj.exists("raw/PWNED") and not proj.exists("out/PWNED")


# --------------------------------------------------------------------------- start-up, status, the lock's words

def test_ctrl_c_while_planning_is_one_line_and_exit_130(empty_project, procs):
    proj = empty_project
    values = ", ".join(f'"v{i}"' for i in range(300))
    proj.write("Rulefile", f'dimension a = [{values}]\ndimension b = [{values}]\n\nrule all:\n'
                           '    input: expand("out/{a}/{b}.txt")\n\nrule mk:\n'
                           '    output: "out/{a}/{b}.txt"\n    shell: "touch {output}"\n')
    p = proj.popen("run", "-j1")
    procs.append(p)
    wait_for(lambda: proj.exists(".rulec/lock"), timeout=30, interval=0.002, what="the lock (planning begins)")
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 130, (out, err)
    assert err.strip() == "interrupted before any job started: nothing was run", err
    assert not proj.exists("out") and not proj.exists(".rulec/lock")


def test_status_during_a_run_says_running_with_the_jobs_pid(empty_project, marker, procs):
    proj = empty_project
    p = proj.start_fast_then_slow(marker, procs)
    (sleeper,) = marker.pids()
    job = os.getpgid(sleeper)  # the job leads its process group
    res = proj.ok("status", "-v")
    assert re.search(rf"^slow\s+\S+\s+running, pid {job}\s", res.stdout, re.M), res.stdout
    assert "incomplete" not in res.stdout
    assert f"a rulec run is in progress here (pid {p.pid} on " in res.stdout and "1 job(s) running" in res.stdout
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=15)
    res = proj.ok("status", "-v")
    assert "running" not in res.stdout and "in progress" not in res.stdout


@pytest.mark.parametrize("text", ["[1, 2, 3]", "{}", '"x"', '{"pid": "abc"}'])
def test_a_lock_of_the_wrong_shape_never_crashes_run_status_or_unlock(project, text):
    project.write(".rulec/lock", text)
    res = project.run("run")
    assert res.returncode == 2, res.stdout + res.stderr
    assert "cannot be read" in res.stderr and "None" not in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    res = project.run("status")
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    res = project.ok("unlock")
    assert "removed an unreadable lock file" in res.stdout
    assert len(done_jobs(project.ok("run", "-j2").stdout)) == 8


def test_unlock_of_a_dead_runs_lock_needs_no_force(project):
    dead = subprocess.Popen(["true"])
    dead.wait()
    _write_lock(project, dead.pid)
    res = project.ok("unlock")
    assert f"removed the lock of pid {dead.pid}" in res.stdout and res.stderr == ""


def test_unlock_of_another_hosts_lock_says_it_cannot_tell(project):
    _write_lock(project, 1, host="some-other-host.example")
    res = project.ok("unlock")
    assert "removed the lock of pid 1 on some-other-host.example" in res.stdout
    assert "cannot tell from here whether that run is alive" in res.stderr


def test_under_umask_000_rulecs_own_folders_and_scripts_are_not_writable_by_others(empty_project):
    """.rulec/ and what rulec keeps in it (state store, lock, job scripts, its folders) get
    no group/other write whatever the umask; the user's own outputs, and the logs that hold
    what the jobs print, keep the user's umask."""
    proj = empty_project
    long_command = ": " + "x" * 5000 + "; echo hi; echo done > {output}"
    proj.write("Rulefile", 'rule all:\n    input: "out/x.txt"\n\nrule x:\n    output: "out/x.txt"\n'
               f'    shell: "{long_command}"\n')
    old = os.umask(0)
    try:
        proj.ok("run")
    finally:
        os.umask(old)
    rulec_dir = proj.path / ".rulec"
    loose = []
    for path in [rulec_dir, *rulec_dir.rglob("*")]:
        if path.is_symlink() or path.suffix == ".log":
            continue
        if path.stat().st_mode & 0o022:
            loose.append(f"{path.relative_to(proj.path)} {oct(path.stat().st_mode & 0o777)}")
    assert not loose, loose
    assert list((rulec_dir / "jobs").glob("*.sh")), "the long command went through a script file"
    assert (proj.path / "out").stat().st_mode & 0o777 == 0o777  # the user's folder: the user's umask


# --------------------------------------------------------------------------- retries and label env

def test_a_job_failing_once_succeeds_on_its_retry_and_attempt_reaches_the_command(tmp_path):
    proj = Project(tmp_path)
    proj.write("Rulefile", '''rule x:
    output: "out/x.txt"
    retries: 1
    shell: "echo attempt {attempt} >> attempts.log; test -e marker || {{ touch marker; exit 1; }}; echo ok {attempt} > {output}"
''')
    res = proj.ok("run", "-j1")
    assert "retrying x (attempt 2 of 2): exit status 1" in res.stdout + res.stderr
    assert "x succeeded on attempt 2" in res.stdout
    assert proj.read("attempts.log") == "attempt 1\nattempt 2\n"
    assert proj.read("out/x.txt") == "ok 2\n"
    # recorded as the first attempt's command: up to date afterwards
    assert "Nothing to do" in proj.ok("run").stdout
    assert "succeeded on attempt 2" in proj.ok("status", "-v").stdout


def test_retries_from_the_command_line_and_exhausted_retries_fail(tmp_path):
    proj = Project(tmp_path)
    proj.one_job("echo try >> tries.log; exit 3")
    res = proj.run("run", "--retries", "2")
    assert res.returncode == 1
    assert proj.read("tries.log") == "try\ntry\ntry\n"
    assert "x: exit status 3 (attempt 3 of 3)" in res.stderr


def test_a_label_env_reaches_its_jobs_and_editing_it_reruns_only_them(tmp_path):
    proj = Project(tmp_path)
    text = '''rule all:
    input: "out/a.txt", "out/b.txt"

label java:
    env: JAVA_HOME="/opt/java 11", OMP_NUM_THREADS="{threads}", HOSTILE="$(touch PWNED)"

rule a:
    output: "out/a.txt"
    label: java
    resources: cpus=2
    shell: "echo \\"$JAVA_HOME|$OMP_NUM_THREADS|$HOSTILE\\" > {output}"

rule b:
    output: "out/b.txt"
    shell: "echo \\"${{JAVA_HOME:-unset}}\\" > {output}"
'''
    proj.write("Rulefile", text)
    proj.ok("run", "-j1")
    assert proj.read("out/a.txt") == "/opt/java 11|2|$(touch PWNED)\n"
    assert proj.read("out/b.txt") == "unset\n"
    assert not proj.exists("PWNED")
    proj.write("Rulefile", text.replace("/opt/java 11", "/opt/java17"))
    dry = proj.ok("dryrun", "--why")
    assert "environment changed: JAVA_HOME" in dry.stdout
    res = proj.ok("run", "-j1")
    assert sorted(done_jobs(res.stdout)) == ["a"]
    assert proj.read("out/a.txt") == "/opt/java17|2|$(touch PWNED)\n"


# --------------------------------------------------------------------------- the live display

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-B]|\r")


def _screen_text(raw: str) -> str:
    """What a terminal stream says, its control sequences removed (frames follow each other)."""
    return _ANSI.sub("", raw)


def _last_clock(text: str, pattern: str) -> int | None:
    """The last ``M:SS`` after ``pattern`` in ``text``, in seconds."""
    found = re.findall(pattern + r"\s+(\d+):(\d\d)", text)
    return int(found[-1][0]) * 60 + int(found[-1][1]) if found else None


@pytest.fixture
def pty_runs():
    started: list[PtyRun] = []
    yield started
    for run in started:
        run.kill()


def test_the_live_display_moves_on_while_jobs_run(empty_project, pty_runs):
    """Nothing ends for seconds, and still the clocks move: the elapsed time and each running
    job's own time; both jobs are shown as running from the start."""
    proj = empty_project
    proj.rulefile("""\
        dimension d = ["a", "b"]

        rule all:
            input: expand("out/{d}.txt")

        rule slow:
            output: "out/{d}.txt"
            shell: "sleep 8; echo {d} > {output}"
        """)
    run = PtyRun(["run", "-j2"], proj.path)
    pty_runs.append(run)
    run.read_until(r"slow\[b\]")  # rulec has started (a busy machine may take a while)
    first = _screen_text(run.read_for(1.5))
    second = _screen_text(run.read_for(2.5))
    assert "running 2" in first and "slow[a]" in first and "slow[b]" in first, first
    for pattern in (r"elapsed", r"slow\[a\]", r"slow\[b\]"):
        early, later = _last_clock(first, pattern), _last_clock(second, pattern)
        assert early is not None and later is not None and later > early, (pattern, first, second)
    assert "ETA" not in first + second  # nothing has finished: no ETA can be known
    assert run.wait() == 0
    out = _screen_text(run.output)
    record = out[out.rindex("of 2 job(s) in"):]
    assert re.search(r"^slow\s+2\s+0\s+0\s+0$", record, re.M), record  # per rule: done, failed, skipped, not run
    assert "Done: 2 job(s) ran." in out
    assert proj.read("out/b.txt") == "b\n"


def test_the_live_display_after_a_failure_names_its_command_and_shows_no_eta(empty_project, pty_runs):
    proj = empty_project
    proj.rulefile("""\
        rule all:
            input: "out/ok.txt", "out/bad.txt", "out/slow.txt"

        rule ok:
            output: "out/ok.txt"
            shell: "echo ok > {output}"

        rule bad:
            output: "out/bad.txt"
            shell: "sleep 1; echo the-bad-output; exit 3"

        rule slow:
            output: "out/slow.txt"
            shell: "sleep 3; echo slow > {output}"
        """)
    run = PtyRun(["run", "-j3", "--keep-going"], proj.path)
    pty_runs.append(run)
    assert run.wait() == 1
    out = _screen_text(run.output)
    failed_at = out.index("FAILED bad")
    assert "ETA" in out[:failed_at]  # ok finished: an ETA was shown ...
    assert "ETA" not in out[failed_at:]  # ... and none once a job had failed
    assert "failed 1" in out[failed_at:] and "slow" in out[failed_at:]
    summary = out[out.rindex("1 job(s) failed"):]
    assert "$ sleep 1; echo the-bad-output; exit 3" in summary  # the command ...
    assert "| the-bad-output" in summary  # ... and its log's tail
    record = out[out.rindex("of 3 job(s) in"):]
    assert re.search(r"^bad\s+0\s+1\s+0\s+0$", record, re.M), record


def test_no_color_and_pipes_get_one_line_per_event_and_no_control_codes(project, pty_runs):
    run = PtyRun(["run", "-j2"], project.path, env={"NO_COLOR": "1"})
    pty_runs.append(run)
    assert run.wait() == 0
    assert "\x1b" not in run.output
    assert sorted(done_jobs(run.output.replace("\r\n", "\n"))) == sorted(ALL_JOBS)
    res = project.ok("run", "--force-all")  # a pipe
    assert "\x1b" not in res.stdout + res.stderr and len(done_jobs(res.stdout)) == 8
# --------------------------------------------------------------------------- output kinds

KINDS = """\
    dimension dataset = ["d0", "d1"]

    rule all:
        input: expand("bld/fit/{dataset}.txt"), "bld/done.flag"

    rule prepare:
        input:  "src/data.txt"
        output: temp("bld/tmp/{dataset}.txt")
        shell:  "cat {input} > {output}; echo {dataset} >> {output}"

    rule fit:
        input:  "bld/tmp/{dataset}.txt"
        output: "bld/fit/{dataset}.txt"
        shell:  "cat {input} > {output}; ls bld/tmp > bld/fit/{dataset}.seen"

    rule model:
        input:  expand("bld/fit/{dataset}.txt")
        output: protected("bld/model.txt")
        shell:  "cat {input} > {output}"

    rule flag:
        input:  "bld/model.txt"
        output: touch("bld/done.flag")
        shell:  "echo checked"
    """


@pytest.fixture
def kinds(tmp_path):
    p = Project(tmp_path / "kinds")
    p.rulefile(KINDS)
    p.write("src/data.txt", "raw\n")
    return p


def test_temp_outputs_are_deleted_after_their_last_reader_and_not_rebuilt(kinds):
    res = kinds.ok("run", "-j1")
    assert "Deleted 2 temp() file(s) after their last use" in res.stdout
    assert kinds.read("bld/fit/d0.txt") == "raw\nd0\n"
    assert "d0.txt" in kinds.read("bld/fit/d0.seen")  # it was there while fit[d0] ran
    assert not kinds.exists("bld/tmp/d0.txt") and not kinds.exists("bld/tmp/d1.txt")
    assert kinds.ok("dryrun").stdout.strip() == "Nothing to do: all 6 jobs are up to date."
    assert kinds.ok("run").stdout.strip() == "Nothing to do: all 6 jobs are up to date."
    # readers that must run bring back the temp files they read, which go again after
    kinds.edit('rule fit:\n    input:  "bld/tmp/{dataset}.txt"', 'rule fit:\n    input:  "bld/tmp/{dataset}.txt"\n    params: v=2')
    plan = planned_jobs(kinds.ok("dryrun").stdout)
    assert plan["prepare[d0]"] == "temp output missing: bld/tmp/d0.txt, read by fit[d0], which runs"
    assert plan["fit[d0]"] == "params changed"
    res = kinds.ok("run", "--overwrite-protected")  # model reruns too (upstream): it replaces its protected output
    assert sorted(done_jobs(res.stdout)) == ["fit[d0]", "fit[d1]", "flag", "model", "prepare[d0]", "prepare[d1]"]
    assert not kinds.exists("bld/tmp/d0.txt")


def test_a_temp_output_of_a_job_that_never_ran_is_made_by_the_first_run(empty_project):
    # (it read as "deleted after its use", so a fresh folder had "Nothing to do" and no t)
    empty_project.write("Rulefile", 'rule all:\n    input: "t"\nrule a:\n    output: temp("t")\n'
                                    '    shell: "echo made >> made.log; touch {output}"\n')
    assert planned_jobs(empty_project.ok("dryrun").stdout) == {"a": "output missing: t"}
    res = empty_project.ok("run")
    assert done_jobs(res.stdout) == ["a"] and empty_project.read("made.log") == "made\n"
    assert empty_project.ok("run").stdout.strip() == "Nothing to do: the one job is up to date."
    assert empty_project.read("made.log") == "made\n"


def test_keep_temp_keeps_them_and_a_target_temp_output_is_kept(kinds):
    kinds.ok("run", "--keep-temp")
    assert kinds.exists("bld/tmp/d0.txt") and kinds.exists("bld/tmp/d1.txt")
    kinds.ok("clean", "--yes", "--protected")
    res = kinds.ok("run", "bld/tmp/d1.txt")
    assert done_jobs(res.stdout) == ["prepare[d1]"] and kinds.exists("bld/tmp/d1.txt")
    res = kinds.ok("run", "fit[d0]")  # prepare[d0] is no target: its file goes once fit[d0] has it
    assert not kinds.exists("bld/tmp/d0.txt") and kinds.exists("bld/tmp/d1.txt")


def test_protected_outputs_are_read_only_and_neither_rerun_nor_clean_touch_them(kinds):
    kinds.ok("run")
    model = kinds.path / "bld/model.txt"
    assert not os.stat(model).st_mode & 0o222
    res = kinds.run("run", "--force", "model")
    assert res.returncode == 2
    assert "bld/model.txt is protected (protected() in Rulefile:18:13): model would replace it" in res.stderr
    assert "hint: run with --overwrite-protected to let it" in res.stderr
    assert kinds.read("bld/model.txt") == "raw\nd0\nraw\nd1\n"
    res = kinds.ok("run", "--force", "model", "--overwrite-protected")
    assert "model" in done_jobs(res.stdout) and not os.stat(model).st_mode & 0o222
    res = kinds.ok("clean", "--yes")
    assert ("Keeping 1 protected file(s): bld/model.txt (protected() in Rulefile:18:13); "
            "add --protected to delete them too.") in res.stdout
    assert kinds.exists("bld/model.txt") and not kinds.exists("bld/fit/d0.txt")
    kinds.ok("clean", "--yes", "--protected")
    assert not kinds.exists("bld/model.txt")


def test_a_touch_output_is_made_by_rulec_after_the_command_succeeds(kinds):
    res = kinds.ok("run")
    assert kinds.exists("bld/done.flag") and kinds.read("bld/done.flag") == ""
    before = os.stat(kinds.path / "bld/done.flag").st_mtime_ns
    time.sleep(0.02)
    kinds.ok("run", "--force", "flag")
    assert os.stat(kinds.path / "bld/done.flag").st_mtime_ns > before  # made anew
    kinds.edit('shell:  "echo checked"', 'shell:  "exit 4"')
    res = kinds.run("run", "--force", "flag")
    assert res.returncode == 1 and not kinds.exists("bld/done.flag")  # no marker for a failure


def test_touch_mode_makes_missing_markers_and_passes_over_deleted_temp_files(kinds):
    kinds.ok("run")
    os.unlink(kinds.path / "bld/done.flag")
    res = kinds.ok("run", "--touch")
    assert "Touched 6 job(s)." in res.stdout
    assert kinds.exists("bld/done.flag") and not kinds.exists("bld/tmp/d0.txt")
    assert kinds.ok("dryrun").stdout.strip() == "Nothing to do: all 6 jobs are up to date."


REFERENCES = """
dimension sample = ["a", "b"]

rule all:
    input: expand(rules.stats.output), rules.report.output.html

rule align:
    input:  "src/{sample}.txt"
    output: multiext("bld/align/{sample}", ".bam", ".bai")
    log:    "logs/align/{sample}.log"
    shell:  "tr a-z A-Z < {input} > {output[0]}; wc -c < {input} > {output[1]}; echo aligned {sample} > {log}"

rule stats:
    input:  bam=rules.align.output, log=rules.align.log
    output: "bld/stats/{sample}.txt",
            "bld/stats/{sample}.json"
    shell:  "cat {input.bam} {input.log} > {output[0]}; echo '{{\\"n\\": 1}}' > {output[1]}"

rule report:
    input:  expand(rules.stats.output)
    output: multiext("bld/report", html=".html", md=".md")
    shell:  "cat {input} > {output.html}; ls {input} > {output.md}"
"""


def test_rule_references_and_multiext_run_and_make_their_files(empty_project):
    proj = empty_project
    proj.write("Rulefile", REFERENCES)
    proj.write("src/a.txt", "ab\n")
    proj.write("src/b.txt", "xyz\n")
    res = proj.run("run", "-j2")
    assert res.returncode == 0, res.stderr
    assert sorted(done_jobs(res.stdout)) == ["align[a]", "align[b]", "report", "stats[a]", "stats[b]"]
    assert proj.read("bld/align/a.bam") == "AB\n"
    assert proj.read("bld/align/b.bai").strip() == "4"
    assert proj.read("bld/stats/b.txt") == "XYZ\n4\naligned b\n"
    assert proj.read("bld/stats/a.json") == '{"n": 1}\n'
    assert proj.read("bld/report.md").split() == ["bld/stats/a.json", "bld/stats/a.txt", "bld/stats/b.json", "bld/stats/b.txt"]
    # expand(rules.stats.output): each pattern over the samples, one pattern after the other
    assert proj.read("bld/report.html") == "AB\n3\naligned a\nXYZ\n4\naligned b\n" + '{"n": 1}\n' * 2
    # the references are the patterns: a changed source reruns its sample's jobs and the report
    assert planned_jobs(proj.ok("dryrun").stdout) == {}
    set_mtime(proj.path / "src/b.txt")
    assert sorted(planned_jobs(proj.ok("dryrun").stdout)) == ["align[b]", "report", "stats[b]"]
# --------------------------------------------------------------------------- sample sheets and configs

def test_a_run_driven_by_a_sample_sheet_and_a_config_makes_its_files(empty_project):
    p = empty_project
    p.write("config.yaml", "out: results\ngreeting: \"it's $(date)\"\n")
    p.write("samples.csv", 'sample,reads,label\nA,"fq/A_1.fq,fq/A_2.fq",first\nB,fq/B.fq,second\n')
    for name in ("A_1", "A_2", "B"):
        p.write(f"fq/{name}.fq", f"reads of {name}\n")
    p.write("Rulefile", '''\
config "config.yaml"
dimension sample = table("samples.csv", lists=["reads"], list_sep=",")

rule all:
    input: expand("{config.out}/{sample}.txt")

rule count:
    input: reads="{sample.reads}"
    output: "{config.out}/{sample}.txt"
    params: label="{sample.label}"
    shell: "echo {config.greeting} {params.label} {sample.reads[0]} > {output}; cat {input.reads} >> {output}"
''')
    res = p.ok("run", "-j2")
    assert "Done: 2 job(s) ran." in res.stdout
    assert p.read("results/A.txt") == "it's $(date) first fq/A_1.fq\nreads of A_1\nreads of A_2\n"
    assert p.read("results/B.txt") == "it's $(date) second fq/B.fq\nreads of B\n"
    assert p.ok("dryrun").stdout.startswith("Nothing to do")
    # a new row: one new job; a changed list: that sample's job (its inputs changed)
    p.write("samples.csv", 'sample,reads,label\nA,fq/A_1.fq,first\nB,fq/B.fq,second\nC,fq/B.fq,third\n')
    jobs = planned_jobs(p.ok("dryrun").stdout)
    assert jobs == {"count[A]": "the set of inputs changed", "count[C]": "output missing: results/C.txt"}
    assert sorted(done_jobs(p.ok("run").stdout)) == ["count[A]", "count[C]"]  # two at once: either may end first
    assert p.read("results/A.txt") == "it's $(date) first fq/A_1.fq\nreads of A_1\n"


def test_the_sample_sheet_example_runs_and_reruns_for_its_config(tmp_path):
    root = Path(__file__).resolve().parent.parent.parent / "examples" / "sample_sheet"
    work = tmp_path / "sample_sheet"
    shutil.copytree(root, work, ignore=shutil.ignore_patterns("bld", ".rulec"))
    p = Project(work)
    assert "Done: 3 job(s) ran." in p.ok("run").stdout
    assert p.read("bld/report.txt") == "A control reads 3\nB treated reads 4\n"
    assert p.ok("dryrun").stdout.startswith("Nothing to do")
    jobs = planned_jobs(p.ok("dryrun", "--config", "count.label=lines").stdout)
    assert jobs["count[A]"] == jobs["count[B]"] == "config changed: count.label"
# --------------------------------------------------------------------------- directory(), ancient(), benchmark:

FOLDERS = """\
dimension genome = ["g1", "g2"]

rule all:
    input: expand("bld/aligned/{genome}.txt")

rule index:
    input:  ancient("data/reference.fa")
    output: directory("bld/index/{genome}")
    shell:  "mkdir -p {output}/part && cp {input} {output}/part/ref.fa && echo {genome} > {output}/name"

rule align:
    input:  "bld/index/{genome}"
    output: "bld/aligned/{genome}.txt"
    shell:  "find {input} -type f | sort > {output}"
"""


def test_a_directory_output_is_signed_a_change_inside_reruns_its_reader_and_a_stale_one_goes_first(empty_project):
    p = empty_project
    p.rulefile(FOLDERS)
    p.write("data/reference.fa", ">ref\n")
    res = p.ok("run", "-j2")
    assert sorted(done_jobs(res.stdout)) == ["align[g1]", "align[g2]", "index[g1]", "index[g2]"]
    assert p.read("bld/aligned/g1.txt") == "bld/index/g1/name\nbld/index/g1/part/ref.fa\n"
    assert "Nothing to do" in p.ok("run").stdout
    # the reference is ancient(): newer, even changed, it reruns nothing
    p.write("data/reference.fa", ">ref, edited\n")
    set_mtime(p.path / "data/reference.fa")
    assert "Nothing to do" in p.ok("dryrun").stdout
    # a file added two levels down (the folder's own mtime does not move): its reader reruns
    folder = os.stat(p.path / "bld/index/g1")
    p.write("bld/index/g1/part/extra.txt", "x")
    assert os.stat(p.path / "bld/index/g1").st_mtime_ns == folder.st_mtime_ns
    res = p.ok("dryrun")
    assert planned_jobs(res.stdout) == {"align[g1]": "input changed since the last run: bld/index/g1"}
    res = p.ok("run")
    assert done_jobs(res.stdout) == ["align[g1]"]
    assert "extra.txt" in p.read("bld/aligned/g1.txt")
    assert "Nothing to do" in p.ok("run").stdout
    # forced, the job's stale folder is removed whole before it runs
    res = p.ok("run", "--force", "index[g1]")
    assert sorted(done_jobs(res.stdout)) == ["align[g1]", "index[g1]"]
    assert not p.exists("bld/index/g1/part/extra.txt")
    assert p.read("bld/aligned/g1.txt") == "bld/index/g1/name\nbld/index/g1/part/ref.fa\n"


def test_a_job_that_exits_0_without_its_folder_fails(empty_project):
    p = empty_project
    p.rulefile("""\
        rule all:
            input: "idx"
        rule index:
            output: directory("idx")
            shell: "touch {output}"
        """)
    res = p.run("run")
    assert res.returncode == 1
    assert "index: exited 0 but did not create the folder idx" in res.stderr
    assert not p.exists("idx")  # the file it made instead is removed, as a failed job's outputs are
    p.edit('shell: "touch {output}"', 'shell: "true"')  # nothing at all where the folder should be
    res = p.run("run")
    assert res.returncode == 1
    assert "index: exited 0 but did not create the folder idx" in res.stderr, res.stderr


BENCH = """\
dimension n = ["a"]

rule all:
    input: "out/sleep_a.txt", "out/mem_a.txt"

rule sleep:
    output: "out/sleep_{n}.txt"
    benchmark: "bench/sleep_{n}.tsv"
    shell: "sleep 0.3; echo {n} > {output}"

rule mem:
    output: "out/mem_{n}.txt"
    benchmark: "bench/mem_{n}.tsv"
    retries: 1
    shell: \"\"\"
        python3 -c 'import time; x = bytearray(50 * 1024 * 1024); x[::4096] = b"1" * len(x[::4096]); time.sleep(0.1)'
        if [ ! -e tried ]; then touch tried; exit 3; fi
        echo {n} > {output}
    \"\"\"
"""


def _rows(path: Path) -> list[dict[str, str]]:
    lines = path.read_text().splitlines()
    head = lines[0].split("\t")
    return [dict(zip(head, line.split("\t"))) for line in lines[1:]]


def test_benchmark_files_have_a_row_per_attempt_with_plausible_figures(empty_project):
    p = empty_project
    p.rulefile(BENCH)
    p.write("bench/sleep_a.tsv", "stale\n")
    res = p.ok("run", "-j2")
    assert "mem[a] succeeded on attempt 2" in res.stdout
    assert (p.path / "bench/sleep_a.tsv").read_text().split("\n")[0] == "attempt\ts\tmax_rss_mb\tuser_s\tsystem_s\tio_in\tio_out\texit"
    (sleep,) = _rows(p.path / "bench/sleep_a.tsv")
    assert sleep["attempt"] == "1" and sleep["exit"] == "0"
    assert 0.3 <= float(sleep["s"]) < 10
    assert float(sleep["user_s"]) >= 0 and float(sleep["system_s"]) >= 0
    assert int(sleep["io_in"]) >= 0 and int(sleep["io_out"]) >= 0
    first, second = _rows(p.path / "bench/mem_a.tsv")  # the failed attempt's row is kept
    assert (first["attempt"], first["exit"], second["attempt"], second["exit"]) == ("1", "3", "2", "0")
    assert float(first["max_rss_mb"]) >= 40 and float(second["max_rss_mb"]) >= 40
    assert float(second["user_s"]) + float(second["system_s"]) > 0
    assert "Nothing to do" in p.ok("run").stdout
    # a rerun starts the file afresh; a missing benchmark is a missing output of nothing:
    # the job is up to date without it, and `rulec clean` removes it with the outputs
    res = p.ok("run", "--force", "sleep")
    assert len(_rows(p.path / "bench/sleep_a.tsv")) == 1
    assert "bench/sleep_a.tsv" in p.run("clean", "--yes").stdout
    assert not p.exists("bench/sleep_a.tsv")


# --------------------------------------------------------------------------- a failed retry's summary, log and count

def test_a_failed_retrys_summary_shows_its_own_command_and_its_log_is_the_last_attempts(empty_project):
    """Attempt 1 prints and fails, attempt 2 fails printing nothing: the summary shows the
    command attempt 2 ran, "(no output)", and neither the default log nor a declared one
    still holds attempt 1's words (rulec report keeps them, with attempt 1)."""
    p = empty_project
    shell = "if [ {attempt} = 1 ]; then echo 'attempt one failing'; exit 3; fi; exit 5"
    p.rulefile(f'''
        rule all:
            input: "a.txt", "b.txt"

        rule a:
            output: "a.txt"
            retries: 1
            shell: "{shell}"

        rule b:
            output: "b.txt"
            log: "logs/b.log"
            retries: 1
            shell: "{shell}"
        ''')
    res = p.run("run", "-j1", "--keep-going")
    assert res.returncode == 1, res.stderr
    ran = "if [ 2 = 1 ]; then echo 'attempt one failing'; exit 3; fi; exit 5"
    assert f"  a: exit status 5 (attempt 2 of 2)\n    $ {ran}\n    (no output)\n" in res.stderr
    assert f"  b: exit status 5 (attempt 2 of 2)\n    $ {ran}\n    log: logs/b.log\n" in res.stderr
    assert "| attempt one failing" not in res.stderr and "[ 1 = 1 ]" not in res.stderr
    assert not p.exists(".rulec/logs/a/a.log") and p.read("logs/b.log") == ""
    status = p.run("status", "-v").stdout
    assert re.search(r"^a +failed +exit status 5 \(attempt 2 of 2\) *$", status, re.M), status


def test_a_job_waiting_for_its_retry_when_a_failure_stops_the_run_has_failed(empty_project):
    """a fails; its retry needs more memory than b leaves free, so it waits; b fails: the run
    stops (no --keep-going). a ran and failed: it is counted, shown and kept as failed, with
    its attempt's log, not as "not run" (nor as missing in rulec status)."""
    p = empty_project
    p.rulefile('''
        rule all:
            input: "a.txt", "b.txt"

        rule a:
            output: "a.txt"
            retries: 1
            resources: mem="600M*{attempt}"
            shell: "echo try >> tries.txt; echo a failing; exit 3"

        rule b:
            output: "b.txt"
            resources: mem="400M"
            shell: "sleep 1; exit 4"
        ''')
    res = p.run("run", "-j2", "--mem", "1G")
    assert res.returncode == 1, res.stderr
    assert "2 job(s) failed, 0 succeeded, 0 not run:" in res.stderr
    why = "exit status 3 (attempt 1 of 2; not retried: the run stopped)"
    assert f"  a: {why}\n    $ echo try >> tries.txt; echo a failing; exit 3\n    log: .rulec/logs/a/a.log\n    | a failing\n" in res.stderr
    assert p.read("tries.txt") == "try\n"
    status = p.run("status", "-v").stdout
    assert re.search(r"^a +failed +" + re.escape(why), status, re.M), status
