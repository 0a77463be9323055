"""A packed task (templates/common/pack.sh.j2) run by hand with bash, as SLURM or LSF would
run it: its jobs one after another, one marker, start marker, log and command script each; a
failing job fails only itself (its pack-mates run and keep their outputs) and the task exits
1 so that what waits for it waits for every job of it; a cancel file skips a job; a retry's
script runs exactly one job of the pack; a signal stops the running job and removes its
outputs. No cluster needed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from rulec.cli import main

RULEFILE = '''
dimension x = ["a", "b", "c", "d", "e"]

rule all:
    input: expand("out/{x}.txt")

rule make:
    output: "mid/{x}.txt"
    shell: """
        if [ -e fail_{x} ]; then echo "failing on purpose" >&2; exit 3; fi
        if [ -e nothing_{x} ]; then exit 0; fi
        if [ -e slow_{x} ]; then sleep 30; fi
        echo made {x} > {output}
        echo "log of {x}"
    """

rule use:
    input: "mid/{x}.txt"
    output: "out/{x}.txt"
    shell: "cat {input} > {output}"
'''


def project(tmp_path: Path, *flags: str, backend: str = "slurm", pack: str = "5") -> Path:
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "Rulefile").write_text(RULEFILE)
    for flag in flags:
        (proj / flag).write_text("")
    assert main(["emit", f"--{backend}", str(proj), "-o", str(proj / "bundle"), "-q", "--pack", pack]) == 0
    return proj


def run_task(bundle: Path, array: str, task: int, backend: str = "slurm", script: str | None = None, wait: bool = True):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "LSB_"))}
    if backend == "slurm":
        env["SLURM_ARRAY_TASK_ID"] = str(task)
    else:
        env["LSB_JOBINDEX"] = str(task + 1)
    args = ["bash", script or f"{array}.{'sbatch' if backend == 'slurm' else 'lsf'}"]
    if not wait:
        return subprocess.Popen(args, cwd=bundle, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(args, cwd=bundle, env=env, capture_output=True, text=True, timeout=60)


def markers(bundle: Path, rule: str = "make") -> dict[str, str]:
    return {x: (bundle / "status" / f"{rule}[{x}].rc").read_text().strip()
            for x in "abcde" if (bundle / "status" / f"{rule}[{x}].rc").exists()}


@pytest.mark.parametrize("backend", ["slurm", "lsf"])
def test_a_packed_task_runs_its_jobs_one_after_another_with_a_marker_and_a_log_each(tmp_path, backend):
    proj = project(tmp_path, backend=backend)
    bundle = proj / "bundle"
    m = json.loads((bundle / "manifest.json").read_text())
    assert [(a["name"], a["size"], a.get("pack"), a.get("jobs")) for a in m["arrays"]] == [("make", 1, 5, 5), ("use", 1, 5, 5)]
    assert [d["type"] for d in m["arrays"][1]["dependencies"]] == ["aftercorr"]
    assert [m["jobs"][f"make[{x}]"]["line"] for x in "abcde"] == [0, 1, 2, 3, 4]
    before = time.time()
    res = run_task(bundle, "make", 0, backend)
    assert res.returncode == 0, res.stdout + res.stderr
    assert markers(bundle) == dict.fromkeys("abcde", "0")
    for i, x in enumerate("abcde"):
        assert (proj / "mid" / f"{x}.txt").read_text() == f"made {x}\n"
        assert (proj / ".rulec" / "logs" / "make" / f"make.{x}.log").read_text() == f"log of {x}\n"  # its own log
        started = int((bundle / "status" / f"make[{x}].start").read_text())
        assert before - 1 <= started <= time.time()
        assert (bundle / "jobs" / "make" / f"{i}.sh").read_text().startswith(f"# make[{x}]\n")
    # one after another, in table order
    said = [line.split()[1] for line in res.stdout.splitlines() if " (line " in line]
    assert said == [f"make[{x}]" for x in "abcde"]
    assert run_task(bundle, "use", 0, backend).returncode == 0
    assert markers(bundle, "use") == dict.fromkeys("abcde", "0")


def test_a_failing_job_in_the_middle_fails_only_itself_and_the_task_exits_1(tmp_path):
    proj = project(tmp_path, "fail_c")
    bundle = proj / "bundle"
    (proj / "mid").mkdir()
    (proj / "mid" / "c.txt").write_text("old output of an earlier run")
    res = run_task(bundle, "make", 0)
    # exit 1: SLURM's afterok/aftercorr on this task waits for every one of its jobs
    assert res.returncode == 1, res.stdout + res.stderr
    assert markers(bundle) == {"a": "0", "b": "0", "c": "3", "d": "0", "e": "0"}
    assert sorted(p.name for p in (proj / "mid").iterdir()) == ["a.txt", "b.txt", "d.txt", "e.txt"]  # the stale one gone too
    assert "failing on purpose" in (proj / ".rulec" / "logs" / "make" / "make.c.log").read_text()
    # its dependent fails (its input is missing); the pack-mates' dependents run
    res = run_task(bundle, "use", 0)
    assert res.returncode == 1
    assert markers(bundle, "use") == {"a": "0", "b": "0", "c": "1", "d": "0", "e": "0"}
    assert sorted(p.name for p in (proj / "out").iterdir()) == ["a.txt", "b.txt", "d.txt", "e.txt"]


def test_a_job_that_exits_0_without_its_output_fails_alone(tmp_path):
    proj = project(tmp_path, "nothing_b")
    res = run_task(proj / "bundle", "make", 0)
    assert res.returncode == 1
    assert markers(proj / "bundle") == {"a": "0", "b": "1", "c": "0", "d": "0", "e": "0"}
    assert "make[b] exited 0 but did not create mid/b.txt" in res.stdout


def test_packs_split_the_table_and_a_cancel_file_skips_a_job(tmp_path):
    proj = project(tmp_path, pack="2")
    bundle = proj / "bundle"
    assert json.loads((bundle / "manifest.json").read_text())["arrays"][0]["size"] == 3  # 2 + 2 + 1
    (bundle / "status").mkdir(exist_ok=True)
    (bundle / "status" / "make[d].cancel").write_text("cancelled\n")
    assert run_task(bundle, "make", 2).returncode == 0  # task 2: line 4 alone
    assert markers(bundle) == {"e": "0"}
    res = run_task(bundle, "make", 1)  # task 1: lines 2 and 3, d cancelled
    assert res.returncode == 1 and "make[d] cancelled: not started" in res.stdout
    assert markers(bundle) == {"c": "0", "e": "0"}
    assert not (bundle / "status" / "make[d].start").exists() and not (proj / "mid" / "d.txt").exists()
    res = run_task(bundle, "make", 3)
    assert res.returncode == 2 and "has no task 3" in res.stderr


@pytest.mark.parametrize("backend", ["slurm", "lsf"])
def test_a_retry_script_runs_exactly_one_job_of_the_pack(tmp_path, backend):
    from rulec import api
    from rulec import profile as prof
    from rulec.bundle import files as bundle_mod
    from rulec import ir

    proj = project(tmp_path, backend=backend)
    planned = api.plan(api.Target(str(proj / "Rulefile")))
    b = bundle_mod.build(planned.graph, planned.plan.run, backend, prof.EMPTY, str(proj / "bundle2"), 1001, pack=ir.Pack(jobs=5))
    bundle_mod.write(b)
    array = b.layout.arrays[0]
    job = next(j for j in array.jobs if planned.graph.job_id(j) == "make[c]")
    rel = bundle_mod.single_job_script(b, array, job)
    assert rel == f"retry/make.2.{'sbatch' if backend == 'slurm' else 'lsf'}"
    text = (proj / "bundle2" / rel).read_text()
    assert "\nonly=2  #" in text and os.access(proj / "bundle2" / rel, os.X_OK)
    res = run_task(proj / "bundle2", "make", 0, backend, script=rel)
    assert res.returncode == 0, res.stdout + res.stderr
    assert markers(proj / "bundle2") == {"c": "0"}
    assert sorted(p.name for p in (proj / "mid").iterdir()) == ["c.txt"]


def test_a_signal_stops_the_running_job_removes_its_outputs_and_starts_no_other(tmp_path):
    proj = project(tmp_path, "slow_c")
    bundle = proj / "bundle"
    proc = run_task(bundle, "make", 0, wait=False)
    start = bundle / "status" / "make[c].start"
    deadline = time.monotonic() + 20
    while not start.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert start.exists()
    (proj / "mid" / "c.txt").write_text("partial")  # what the killed command had written so far
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 143, out
    assert "make[c] stopped by a signal; its outputs were removed" in out
    assert markers(bundle) == {"a": "0", "b": "0"}  # no marker: the scheduler stopped it
    assert not (proj / "mid" / "c.txt").exists()
    assert sorted(p.name for p in (proj / "mid").iterdir()) == ["a.txt", "b.txt"]  # kept
    assert not (bundle / "status" / "make[d].start").exists()
