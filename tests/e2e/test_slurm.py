"""End to end on the REAL local SLURM cluster (scripts/local-slurm.sh): ``rulec run --executor
slurm`` and ``rulec emit --slurm`` + ``bash submit.sh``, as subprocesses, on small Rulefile
projects in tmp_path. The ``slurm_cluster`` fixture starts the cluster (and fails, not skips,
when CI is set and it cannot)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from rulec.bundle.files import marker_name
from rulec_e2e import popen_rulec, run_rulec, wait_for

pytestmark = pytest.mark.slurm

RULEFILE = '''\
# 3 datasets × 2 models: prepare -> fit -> score (element-wise) -> summarize (per model)
dimension dataset = ["d0", "d1", "d2"]
dimension model = ["m0", "m1"]

rule all:
    input: expand("out/{model}.txt")

rule prepare:
    output: "data/{dataset}.txt"
    shell: "echo data {dataset} > {output}"

rule fit:
    input: "data/{dataset}.txt"
    output: "fit/{dataset}_{model}.txt"
    log: "logs/fit/{dataset}_{model}.log"
    resources: cpus=1, mem="100M", time="5m"
    shell: """
        cat {input} > {output}
        echo "fitted {model}" >> {output}
        echo "fitting {dataset} with {model}"
        if [ -e fail_{dataset}_{model} ]; then echo "failing on purpose" >&2; exit 3; fi
    """

rule score:
    input: "fit/{dataset}_{model}.txt"
    output: "score/{dataset}_{model}.txt"
    shell: "wc -l < {input} > {output}"

rule summarize:
    input: expand("score/{dataset}_{model}.txt")
    output: "out/{model}.txt"
    shell: "cat {input} > {output}"
'''

OUTPUTS = (
    [f"data/{d}.txt" for d in ("d0", "d1", "d2")]
    + [f"{kind}/{d}_{m}.txt" for kind in ("fit", "score") for d in ("d0", "d1", "d2") for m in ("m0", "m1")]
    + [f"logs/fit/{d}_{m}.log" for d in ("d0", "d1", "d2") for m in ("m0", "m1")]
    + ["out/m0.txt", "out/m1.txt"]
)
SLURM = ["--executor", "slurm", "--poll", "0.2"]
TIMEOUT = 120


def make(path: Path, rulefile: str = RULEFILE) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "Rulefile").write_text(rulefile)
    return path


def ok(res: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert res.returncode == 0, f"exit {res.returncode}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}"
    return res


def manifest(proj: Path, n: int) -> dict:
    return json.loads((proj / ".rulec" / "slurm" / str(n) / "manifest.json").read_text())


def job_ids(bundle: Path) -> dict[str, str]:
    pairs = (line.split() for line in (bundle / "jobids").read_text().splitlines())
    return {name: job_id for name, job_id in pairs}


def squeue(ids, all_states: bool = False) -> dict[str, tuple[str, str]]:
    """task id (``123_4``) -> (state, reason); pending arrays are listed one line per task."""
    args = ["squeue", "-h", "-r", "-j", ",".join(ids), "-o", "%i|%T|%r"]
    if all_states:
        args[2:2] = ["-t", "all"]
    res = subprocess.run(args, capture_output=True, text=True)
    out = {}
    for line in res.stdout.splitlines():
        task, state, reason = line.split("|")
        out[task] = (state, reason)
    return out


def task_of(proj: Path, n: int, job: str) -> str:
    m = manifest(proj, n)
    entry = m["jobs"][job]
    ids = job_ids(proj / ".rulec" / "slurm" / str(n))
    return f"{ids[entry['array']]}_{entry['task']}"


# --------------------------------------------------------------------------- (a)

def test_slurm_run_matches_a_local_run(slurm_cluster, tmp_path):
    on_slurm = make(tmp_path / "slurm")
    local = make(tmp_path / "local")
    t0 = time.monotonic()
    res = ok(run_rulec(["run", *SLURM], on_slurm, timeout=TIMEOUT))
    elapsed = time.monotonic() - t0
    assert "submitted 4 array(s), 17 task(s), 4 sbatch call(s)" in res.stdout
    assert res.stdout.count(" done ") == 17
    assert "Done: 17 job(s) ran on slurm." in res.stdout
    ok(run_rulec(["run", "-j2"], local, timeout=TIMEOUT))
    for rel in OUTPUTS:
        assert (on_slurm / rel).read_bytes() == (local / rel).read_bytes(), rel
    assert (on_slurm / "out" / "m0.txt").read_text() == "2\n2\n2\n"
    assert (on_slurm / "logs" / "fit" / "d1_m0.log").read_text() == "fitting d1 with m0\n"
    # the results are recorded: nothing left to do, locally or on SLURM
    assert "Nothing to do" in ok(run_rulec(["dryrun"], on_slurm)).stdout
    assert "Nothing to do" in ok(run_rulec(["run", *SLURM], on_slurm)).stdout
    # arrays and dependencies as submitted
    m = manifest(on_slurm, 1)
    deps = {a["name"]: [(d["type"], d["array"]) for d in a["dependencies"]] for a in m["arrays"]}
    assert deps == {"prepare": [], "fit": [("afterok", "prepare")], "score": [("aftercorr", "fit")], "summarize": [("afterok", "score")]}
    states = squeue(job_ids(on_slurm / ".rulec" / "slurm" / "1").values(), all_states=True)
    assert len(states) == 17 and {s for s, _ in states.values()} == {"COMPLETED"}
    assert elapsed < 60


# --------------------------------------------------------------------------- (b)

def test_failure_cancels_dependents_and_a_rerun_submits_only_what_is_left(slurm_cluster, tmp_path):
    proj = make(tmp_path / "p")
    (proj / "fail_d1_m0").write_text("")
    res = run_rulec(["run", *SLURM, "--keep-going"], proj, timeout=TIMEOUT)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "FAILED fit[d1,m0]: exit status 3 (scheduler log .rulec/slurm/1/logs/fit_" in res.stderr
    assert "(log: logs/fit/d1_m0.log)" in res.stderr
    assert "failing on purpose" in res.stderr  # the end of the log is shown
    assert "skipped score[d1,m0]: an upstream job failed" in res.stdout
    assert not (proj / "fit" / "d1_m0.txt").exists()  # never left looking fresh
    assert (proj / "fit" / "d1_m1.txt").exists()  # independent jobs ran on
    # the dependents ended CANCELLED, none is left pending
    bundle = proj / ".rulec" / "slurm" / "1"
    states = squeue(job_ids(bundle).values(), all_states=True)
    assert states[task_of(proj, 1, "fit[d1,m0]")][0] == "FAILED"
    assert states[task_of(proj, 1, "score[d1,m0]")][0] == "CANCELLED"
    assert states[task_of(proj, 1, "summarize[m0]")][0] == "CANCELLED"
    assert not [t for t, (s, _) in states.items() if s in ("PENDING", "RUNNING")]
    assert not (bundle / "status" / "score.d1,m0.rc").exists()
    assert (bundle / "status" / "fit.d1,m0.rc").read_text() == "3\n"

    (proj / "fail_d1_m0").unlink()
    res = ok(run_rulec(["run", *SLURM], proj, timeout=TIMEOUT))
    rerun = manifest(proj, 2)
    # summarize[m1] waits for the whole score array, so SLURM cancelled it too
    assert sorted(rerun["jobs"]) == ["fit[d1,m0]", "score[d1,m0]", "summarize[m0]", "summarize[m1]"]
    assert [(a["name"], a["size"]) for a in rerun["arrays"]] == [("fit", 1), ("score", 1), ("summarize", 2)]
    assert (proj / "out" / "m0.txt").read_text() == "2\n2\n2\n"
    assert "Nothing to do" in ok(run_rulec(["dryrun"], proj)).stdout


# --------------------------------------------------------------------------- (c)

SLEEPY = '''\
dimension n = ["a", "b", "c", "d", "e", "f"]

rule all:
    input: expand("out/{n}.txt")

rule slow:
    output: "out/{n}.txt"
    shell: "echo partial > {output}; sleep 60; echo done >> {output}"
'''


def test_ctrl_c_cancels_exactly_this_runs_jobs(slurm_cluster, tmp_path):
    proj = make(tmp_path / "p", SLEEPY)
    proc = popen_rulec(["run", *SLURM], proj)
    try:
        bundle = proj / ".rulec" / "slurm" / "1"
        wait_for(lambda: (bundle / "jobids").exists() and (bundle / "jobids").read_text().strip(), 30, what="the submission")
        wait_for(lambda: list((proj / "out").glob("*.txt")) if (proj / "out").exists() else [], 30, what="a job to start")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out + err
    assert f"cancelled 1 job array(s) of this run ({job_ids(bundle)['slow']})" in err
    assert "interrupted: stopped " in err
    ids = list(job_ids(bundle).values())
    assert squeue(ids) == {}  # no job of this run pending or running
    assert {s for s, _ in squeue(ids, all_states=True).values()} == {"CANCELLED"}
    assert not list((proj / "out").glob("*.txt"))  # partial outputs removed
    dry = ok(run_rulec(["dryrun"], proj)).stdout
    assert "6 of 6 jobs to run" in dry


# --------------------------------------------------------------------------- (d)

def test_emitted_bundle_runs_with_no_rulec_alive(slurm_cluster, tmp_path):
    proj = make(tmp_path / "p")
    res = ok(run_rulec(["emit", "--slurm", "-o", "bundle"], proj))
    assert "4 array(s), 17 task(s), 4 sbatch call(s)" in res.stdout
    bundle = proj / "bundle"
    sub = subprocess.run(["bash", str(bundle / "submit.sh")], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert sub.returncode == 0, sub.stdout + sub.stderr
    assert sub.stdout.count("submitted ") == 5  # 4 arrays + the closing line
    ids = list(job_ids(bundle).values())
    assert len(ids) == 4
    # submit.sh has exited: nothing of rulec is alive; SLURM alone runs the rest
    wait_for(lambda: not squeue(ids), 60, 0.2, what="the jobs to finish")
    states = squeue(ids, all_states=True)
    assert len(states) == 17 and {s for s, _ in states.values()} == {"COMPLETED"}, states
    assert (proj / "out" / "m1.txt").read_text() == "2\n2\n2\n"
    assert (proj / "logs" / "fit" / "d2_m1.log").read_text() == "fitting d2 with m1\n"
    assert len(list((bundle / "status").glob("*.rc"))) == 17
    assert all(p.read_text() == "0\n" for p in (bundle / "status").glob("*.rc"))
    assert len(list((bundle / "logs").glob("*.out"))) == 17


# --------------------------------------------------------------------------- (e)

def test_a_job_bigger_than_the_cluster_is_refused_before_submission(slurm_cluster, tmp_path):
    proj = make(tmp_path / "p", '''\
rule small:
    output: "small.txt"
    shell: "echo small > {output}"

rule big:
    input: "small.txt"
    output: "big.txt"
    resources: cpus=64
    shell: "echo big > {output}"
''')
    res = run_rulec(["run", *SLURM, "big.txt"], proj)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "rule big" in res.stderr and "cpus=64" in res.stderr and "partition debug" in res.stderr
    assert "nothing was submitted" in res.stderr
    assert not (proj / ".rulec" / "slurm").exists()
    assert not (proj / "small.txt").exists()


def test_time_over_a_partitions_max_time_is_refused(slurm_cluster, tmp_path):
    proj = make(tmp_path / "p", '''\
rule long:
    output: "long.txt"
    resources: time="2h"
    label: quick
    shell: "echo > {output}"

label quick:
    slurm: partition="short"
''')
    res = run_rulec(["run", *SLURM], proj)
    assert res.returncode == 2
    assert "rule long" in res.stderr and "MaxTime 01:00:00" in res.stderr
    assert "fits partition debug" in res.stderr


# --------------------------------------------------------------------------- the example

def test_the_example_pipeline_on_slurm_matches_a_local_run(slurm_cluster, tmp_path):
    """examples/datasets_models under --executor slurm (with its profile for the local
    cluster, which has no GPU partition) gives byte-identical outputs to a local run."""
    import shutil

    example = Path(__file__).resolve().parents[2] / "examples" / "datasets_models"
    on_slurm, local = tmp_path / "slurm", tmp_path / "local"
    for dest in (on_slurm, local):
        shutil.copytree(example, dest, ignore=shutil.ignore_patterns("bld", "logs", ".rulec"))
    profile = str(on_slurm / "local-slurm.toml")
    ok(run_rulec(["run", "--executor", "slurm", "--profile", profile, "--poll", "0.3"], on_slurm, timeout=TIMEOUT))
    ok(run_rulec(["run", "-j2"], local, timeout=TIMEOUT))
    made = sorted(p.relative_to(local) for p in (local / "bld").rglob("*") if p.is_file())
    assert len(made) == 4 + 12 + 3 + 1
    for rel in made:
        assert (on_slurm / rel).read_bytes() == (local / rel).read_bytes(), rel
    assert "Nothing to do" in ok(run_rulec(["dryrun"], on_slurm)).stdout
    # the run history says where each job ran: its SLURM task (rulec report's timeline)
    import json
    import re

    ok(run_rulec(["report", "-o", "r.html"], on_slurm))
    page = (on_slurm / "r.html").read_text()
    data = json.loads(re.search(r'id="rulec-data">(.*?)</script>', page, re.S).group(1))
    (run,) = data["runs"]
    assert run["n"] == 20 and all(re.fullmatch(r"\d+_\d+", data["places"][p]) for p in run["a"]["p"])
    assert "executor slurm; ok" in page


# --------------------------------------------------------------------------- nohup

SLOW = '''\
dimension n = ["a", "b", "c", "d"]

rule all:
    input: expand("out/{n}.txt")

rule slow:
    output: "out/{n}.txt"
    shell: "echo partial > {output}; sleep 3; echo done >> {output}"
'''


def test_a_sighup_under_nohup_stays_ignored_and_the_run_finishes(slurm_cluster, tmp_path):
    """``nohup rulec run --executor slurm &``, then the terminal goes away: SIGHUP was ignored
    when rulec started, so it stays ignored, as for a local run; nothing is cancelled."""
    from rulec_e2e import RULEC, _env

    proj = make(tmp_path / "p", SLOW)
    proc = subprocess.Popen(RULEC + ["run", *SLURM], cwd=proj, env=_env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    bundle = proj / ".rulec" / "slurm" / "1"
    try:
        wait_for(lambda: list((proj / "out").glob("*.txt")) if (proj / "out").exists() else [], 30, what="a job to start")
        proc.send_signal(signal.SIGHUP)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        ids = list(job_ids(bundle).values()) if (bundle / "jobids").exists() else []
        if ids:
            subprocess.run(["scancel", *ids], capture_output=True)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{out}\nstderr:\n{err}"
    assert "Done: 4 job(s) ran on slurm." in out and "interrupted" not in err
    for n in "abcd":
        assert (proj / "out" / f"{n}.txt").read_text() == "partial\ndone\n"
    assert {s for s, _ in squeue(ids, all_states=True).values()} == {"COMPLETED"}
    assert "Nothing to do" in ok(run_rulec(["dryrun"], proj)).stdout


# --------------------------------------------------------------------------- label env

def test_a_label_env_reaches_its_job_on_the_cluster_through_an_emitted_bundle(slurm_cluster, tmp_path):
    proj = make(tmp_path / "p", '''\
label java:
    env: JAVA_HOME="/opt/java 11", OMP_NUM_THREADS="{threads}", HOSTILE="$(touch PWNED)"

rule a:
    output: "a.txt"
    label: java
    resources: cpus=1, mem="100M", time="5m"
    shell: "echo \\"$JAVA_HOME|$OMP_NUM_THREADS|$HOSTILE\\" > {output}"
''')
    ok(run_rulec(["emit", "--slurm", "-o", "bundle"], proj))
    bundle = proj / "bundle"
    sub = subprocess.run(["bash", str(bundle / "submit.sh")], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert sub.returncode == 0, sub.stdout + sub.stderr
    ids = list(job_ids(bundle).values())
    wait_for(lambda: not squeue(ids), 60, 0.2, what="the job to finish")
    assert (proj / "a.txt").read_text() == "/opt/java 11|1|$(touch PWNED)\n"
    assert not (proj / "PWNED").exists()


# --------------------------------------------------------------------------- retries

RETRY_RULEFILE = '''\
dimension n = ["a", "b"]

rule all:
    input: "out.txt"

rule flaky:
    output: "f/{n}.txt"
    retries: 1
    resources: cpus=1, mem="100M*{attempt}", time="5m"
    shell: """
        echo "{attempt} $SLURM_MEM_PER_NODE" >> tries_{n}.txt
        if [ {n} = a ] && [ ! -e marker ]; then touch marker; exit 1; fi
        echo {n} {attempt} > {output}
    """

rule score:
    input: "f/{n}.txt"
    output: "s/{n}.txt"
    shell: "cat {input} > {output}"

rule summarize:
    input: expand("s/{n}.txt")
    output: "out.txt"
    shell: "cat {input} > {output}"
'''


def test_a_job_failing_once_is_resubmitted_with_more_memory_and_its_dependents_follow(slurm_cluster, tmp_path):
    proj = make(tmp_path / "p", RETRY_RULEFILE)
    res = ok(run_rulec(["run", *SLURM], proj, timeout=TIMEOUT))
    assert "retrying flaky[a] (attempt 2 of 2)" in res.stderr + res.stdout
    assert "flaky[a] succeeded on attempt 2" in res.stdout
    assert "Done: 5 job(s) ran on slurm." in res.stdout
    # the first attempt asked SLURM for 100M, the resubmitted one for 200M
    assert (proj / "tries_a.txt").read_text() == "1 100\n2 200\n"
    assert (proj / "tries_b.txt").read_text() == "1 100\n"
    assert (proj / "f" / "a.txt").read_text() == "a 2\n"
    # the dependents ran after the successful attempt, on its output
    assert (proj / "s" / "a.txt").read_text() == "a 2\n"
    assert (proj / "out.txt").read_text() == "a 2\nb 1\n"
    ids = job_ids(proj / ".rulec" / "slurm" / "1")
    assert "flaky_0" in ids  # the resubmission's own id, after the arrays'
    assert "Nothing to do" in ok(run_rulec(["dryrun"], proj)).stdout


# --------------------------------------------------------------------------- a dead head

QUICK = '''\
dimension n = ["a", "b", "c"]

rule all:
    input: "total.txt"

rule step:
    output: "out/{n}.txt"
    shell: "sleep 2; echo {n} > {output}"

rule total:
    input: expand("out/{n}.txt")
    output: "total.txt"
    shell: "cat {input} > {output}"
'''
QUICK_OUTPUTS = ["out/a.txt", "out/b.txt", "out/c.txt", "total.txt"]


def _kill_after_submission(proj: Path) -> list[str]:
    """Start ``rulec run --executor slurm``, SIGKILL it once both arrays are submitted; the
    SLURM ids of its arrays."""
    proc = popen_rulec(["run", *SLURM], proj)
    bundle = proj / ".rulec" / "slurm" / "1"
    try:
        wait_for(lambda: (bundle / "jobids").exists() and len((bundle / "jobids").read_text().split("\n")) > 2,
                 30, what="the submission")
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    return list(job_ids(bundle).values())


def test_after_a_sigkill_the_next_run_adopts_what_slurm_finished(slurm_cluster, tmp_path):
    proj = make(tmp_path / "p", QUICK)
    ids = _kill_after_submission(proj)
    wait_for(lambda: not squeue(ids), 60, 0.2, what="the jobs to finish")
    assert {s for s, _ in squeue(ids, all_states=True).values()} == {"COMPLETED"}
    mtimes = {p: (proj / p).stat().st_mtime_ns for p in QUICK_OUTPUTS}
    res = ok(run_rulec(["run", *SLURM], proj))
    assert "Nothing to do" in res.stdout, res.stdout + res.stderr
    assert "adopted .rulec/slurm/1 of the previous run: 4 job(s) done there recorded" in res.stdout
    assert "submitted" not in res.stdout
    assert not (proj / ".rulec" / "slurm" / "2").exists()
    assert (proj / ".rulec" / "slurm" / "1" / "adopted").exists()
    assert {p: (proj / p).stat().st_mtime_ns for p in QUICK_OUTPUTS} == mtimes
    assert (proj / "total.txt").read_text() == "a\nb\nc\n"
    assert "Nothing to do" in ok(run_rulec(["dryrun"], proj)).stdout
    # the run history: the adoption is a run of its own, its jobs adopted, where SLURM ran them
    from rulec.history import History

    h = History.open(str(proj))
    try:
        adoption = h.runs()[-1]
        attempts = h.attempts([adoption.run_id])
    finally:
        h.close()
    assert (adoption.executor, adoption.status, adoption.planned) == ("slurm", "adopted", 4)
    status = proj / ".rulec" / "slurm" / "1" / "status"
    arrays = job_ids(proj / ".rulec" / "slurm" / "1")
    assert sorted(a.job_id for a in attempts) == ["step[a]", "step[b]", "step[c]", "total"]
    for a in attempts:
        assert a.outcome == "adopted" and a.finished == (status / f"{marker_name(a.job_id)}.rc").stat().st_mtime
        assert a.place.split("_")[0] in arrays.values()  # e.g. 4711_2: the SLURM task
    assert "executor slurm; adopted" in ok(run_rulec(["report", "-o", "-"], proj)).stdout


def test_after_a_sigkill_a_rerun_re_attaches_the_jobs_still_on_slurm(slurm_cluster, tmp_path):
    """Both arrays on SLURM (steps running, total pending): the new run follows all four jobs
    in its loop, submits nothing, and records them as they end."""
    proj = make(tmp_path / "p", QUICK)
    ids = _kill_after_submission(proj)
    try:
        res = ok(run_rulec(["run", *SLURM], proj))
    finally:
        subprocess.run(["scancel", *ids], capture_output=True)
    assert "re-attached 4 job(s) of .rulec/slurm/1 still on SLURM: ids " in res.stdout, res.stdout + res.stderr
    assert "waiting for" not in res.stdout
    assert "Done: 4 job(s) ran on slurm." in res.stdout
    assert "submitted" not in res.stdout
    assert {s for s, _ in squeue(ids, all_states=True).values()} == {"COMPLETED"}
    assert (proj / "total.txt").read_text() == "a\nb\nc\n"
    assert (proj / ".rulec" / "slurm" / "1" / "adopted").read_text().count("followed ") == 4
    from rulec.history import History

    h = History.open(str(proj))
    try:  # in the run history: the new run's attempts, adopted (the dead run started them)
        rerun = h.runs()[-1]
        assert (rerun.executor, rerun.status) == ("slurm", "ok")
        assert sorted((a.job_id, a.outcome) for a in h.attempts([rerun.run_id])) == [
            ("step[a]", "adopted"), ("step[b]", "adopted"), ("step[c]", "adopted"), ("total", "adopted")]
    finally:
        h.close()
    mtimes = {p: (proj / p).stat().st_mtime_ns for p in QUICK_OUTPUTS}
    assert "Nothing to do" in ok(run_rulec(["run", *SLURM], proj)).stdout
    assert {p: (proj / p).stat().st_mtime_ns for p in QUICK_OUTPUTS} == mtimes


COUNTED = '''\
dimension n = ["a", "b"]  # the local cluster runs two tasks at once (two cores)

rule all:
    input: "total.txt"

rule step:
    output: "out/{n}.txt"
    shell: "echo {n} >> runs_step_{n}; sleep 4; echo {n} > {output}"

rule total:
    input: expand("out/{n}.txt")
    output: "total.txt"
    shell: "echo x >> runs_total; cat {input} > {output}"
'''


def test_a_rerun_after_a_sigkill_follows_the_running_jobs_and_submits_their_dependents_after_them(slurm_cluster, tmp_path):
    """The dead run built the steps only; the next one (every target) does not wait before it
    plans: it re-attaches the running steps, holds total back until they have ended, then
    submits it. Every job ran once."""
    proj = make(tmp_path / "p", COUNTED)
    proc = popen_rulec(["run", *SLURM, "out/a.txt", "out/b.txt"], proj)
    bundle = proj / ".rulec" / "slurm" / "1"
    try:
        wait_for(lambda: all((proj / f"runs_step_{n}").exists() for n in "ab"), 30, 0.1, what="the steps to run")
    finally:
        proc.kill()
        proc.communicate()
    ids = list(job_ids(bundle).values())
    try:
        start = time.monotonic()
        proc = popen_rulec(["run", *SLURM], proj)
        out, err = proc.communicate(timeout=60)
    finally:
        subprocess.run(["scancel", *ids], capture_output=True)
    assert proc.returncode == 0, out + err
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("re-attached "))
    assert lines[first].startswith("re-attached 2 job(s) of .rulec/slurm/1 still on SLURM: ids "), out
    assert "waiting for" not in out
    # the plan came at once: total's array was written before the steps ended, and held back
    assert "1 array(s) of .rulec/slurm/2 to submit once the re-attached jobs they need have ended" in out, out

    def at(text: str) -> int:
        return next(i for i, line in enumerate(lines) if text in line)

    # followed in the loop, then total submitted after them
    assert max(at(f"done step[{n}]") for n in "ab") < at("submitted total=") < at("done total"), out
    assert "Done: 3 job(s) ran on slurm." in out
    assert time.monotonic() - start < 50
    for n in "ab":
        assert (proj / f"runs_step_{n}").read_text() == f"{n}\n"  # once each
    assert (proj / "runs_total").read_text() == "x\n"
    assert (proj / "total.txt").read_text() == "a\nb\n"
    assert "Nothing to do" in ok(run_rulec(["dryrun"], proj)).stdout


def test_a_re_attached_job_whose_command_changed_is_cancelled_and_runs_again(slurm_cluster, tmp_path):
    proj = make(tmp_path / "p", COUNTED)
    proc = popen_rulec(["run", *SLURM, "out/a.txt"], proj)
    try:
        wait_for(lambda: (proj / "runs_step_a").exists(), 30, 0.1, what="the step to run")
    finally:
        proc.kill()
        proc.communicate()
    ids = list(job_ids(proj / ".rulec" / "slurm" / "1").values())
    (proj / "Rulefile").write_text(COUNTED.replace("sleep 4; echo {n}", "echo {n} new"))
    try:
        res = ok(run_rulec(["run", *SLURM, "out/a.txt"], proj))
    finally:
        subprocess.run(["scancel", *ids], capture_output=True)
    assert "not re-attached: step[a] (its command in the Rulefile changed): cancelled " in res.stdout, res.stdout
    assert "re-attached 1" not in res.stdout
    assert {s for s, _ in squeue(ids, all_states=True).values()} == {"CANCELLED"}
    assert (proj / "out/a.txt").read_text() == "a new\n"
    assert "Done: 1 job(s) ran on slurm." in res.stdout


# --------------------------------------------------------------------------- output kinds, local: true

KINDS = '''\
dimension dataset = ["d0", "d1"]

rule all:
    input: expand("bld/fit/{dataset}.txt"), "bld/done.flag"

rule prepare:
    output: temp("bld/tmp/{dataset}.txt")
    shell: "echo {dataset} > {output}"

rule fit:
    input: "bld/tmp/{dataset}.txt"
    output: "bld/fit/{dataset}.txt"
    shell: "cat {input} > {output}"

rule model:
    input: expand("bld/fit/{dataset}.txt")
    output: protected("bld/model.txt"), touch("bld/done.flag")
    shell: "cat {input} > {output[0]}"
'''


def test_temp_protected_and_touch_outputs_on_slurm(slurm_cluster, tmp_path):
    proj = make(tmp_path / "p", KINDS)
    res = ok(run_rulec(["run", *SLURM], proj, timeout=TIMEOUT))
    assert "Done: 5 job(s) ran on slurm." in res.stdout
    assert "Deleted 2 temp() file(s)" in res.stdout  # by rulec, once both fits had succeeded
    assert not (proj / "bld/tmp/d0.txt").exists() and (proj / "bld/fit/d0.txt").read_text() == "d0\n"
    assert (proj / "bld/done.flag").exists()  # made by the task script: the command did not
    assert not (proj / "bld/model.txt").stat().st_mode & 0o222  # read-only, made so on the node
    assert "Nothing to do" in ok(run_rulec(["dryrun"], proj)).stdout
    # a rerun that would replace the protected output is refused before anything is submitted
    res = run_rulec(["run", *SLURM, "--force", "model"], proj, timeout=TIMEOUT)
    assert res.returncode == 2 and "bld/model.txt is protected (protected() in Rulefile:17:13)" in res.stderr
    assert not (proj / ".rulec/slurm/2").exists()
    res = ok(run_rulec(["run", *SLURM, "--force", "model", "--overwrite-protected"], proj, timeout=TIMEOUT))
    assert "Done: 1 job(s) ran on slurm." in res.stdout
    assert not (proj / "bld/model.txt").stat().st_mode & 0o222


PHASES = '''\
dimension dataset = ["d0", "d1"]

rule all:
    input: "bld/report.txt"

rule fit:
    output: "bld/fit/{dataset}.txt"
    shell: "echo {dataset} ${{SLURM_JOB_ID:-here}} > {output}"

rule summarize:
    input: expand("bld/fit/{dataset}.txt")
    output: "bld/summary.txt"
    local: true
    shell: "cat {input} > {output}; echo summary ${{SLURM_JOB_ID:-here}} >> {output}"

rule report:
    input: "bld/summary.txt"
    output: "bld/report.txt"
    shell: "cat {input} > {output}; echo report ${{SLURM_JOB_ID:-here}} >> {output}"
'''


def test_a_local_rule_runs_here_between_two_slurm_submissions(slurm_cluster, tmp_path):
    proj = make(tmp_path / "p", PHASES)
    res = ok(run_rulec(["run", *SLURM], proj, timeout=TIMEOUT))
    lines = (proj / "bld/report.txt").read_text().splitlines()
    assert lines[2] == "summary here"  # not in a SLURM job
    assert all(line.split()[-1].isdigit() for line in lines[:2] + lines[3:])  # in SLURM jobs
    assert manifest(proj, 1)["jobs"].keys() == {"fit[d0]", "fit[d1]"}
    assert manifest(proj, 2)["jobs"].keys() == {"report"}
    out = res.stdout
    assert out.index("done fit[d1]") < out.index("done summarize") < out.index("submitted 1 array(s), 1 task(s)")
    assert "Done: 4 job(s) ran on slurm." in out
    assert "Nothing to do" in ok(run_rulec(["dryrun"], proj)).stdout
    # an emitted bundle cannot run a local job after a cluster one: refused, nothing written
    res = run_rulec(["emit", "--slurm", "--force-all", "-o", "b"], proj)
    assert res.returncode == 2 and "rule summarize is local: true, and its job summarize needs fit[d0]" in res.stderr
    assert not (proj / "b").exists()


# --------------------------------------------------------------------------- directory(), benchmark:

FOLDERS = '''\
dimension g = ["g1", "g2"]

rule all:
    input: expand("aligned/{g}.txt")

rule index:
    output: directory("index/{g}")
    benchmark: "bench/index_{g}.tsv"
    resources: mem="100M", time="5m"
    shell: "sleep 0.3; mkdir -p {output}/sub && echo {g} > {output}/sub/name"

rule align:
    input: "index/{g}"
    output: "aligned/{g}.txt"
    shell: "find {input} -type f | sort > {output}"

rule broken:
    output: directory("broken")
    shell: "touch {output}"
'''


def test_directory_outputs_and_benchmarks_on_slurm(slurm_cluster, tmp_path):
    proj = make(tmp_path / "p", FOLDERS)
    ok(run_rulec(["run", *SLURM], proj, timeout=TIMEOUT))
    assert (proj / "aligned" / "g1.txt").read_text() == "index/g1/sub/name\n"
    lines = (proj / "bench" / "index_g2.tsv").read_text().splitlines()
    assert lines[0].split("\t") == ["attempt", "s", "max_rss_mb", "user_s", "system_s", "io_in", "io_out", "exit"]
    row = dict(zip(lines[0].split("\t"), lines[1].split("\t")))
    assert len(lines) == 2 and row["attempt"] == "1" and row["exit"] == "0"
    assert 0.3 <= float(row["s"]) < 30 and float(row["max_rss_mb"]) > 0
    assert "Nothing to do" in ok(run_rulec(["dryrun"], proj)).stdout
    # a file added inside the folder a node made: its reader reruns, on SLURM
    (proj / "index" / "g1" / "sub" / "extra").write_text("x")
    assert "input changed since the last run: index/g1" in ok(run_rulec(["dryrun"], proj)).stdout
    res = ok(run_rulec(["run", *SLURM], proj, timeout=TIMEOUT))
    assert "Done: 1 job(s) ran on slurm." in res.stdout
    assert (proj / "aligned" / "g1.txt").read_text() == "index/g1/sub/extra\nindex/g1/sub/name\n"
    # the task checks that a folder is there after exit 0
    res = run_rulec(["run", *SLURM, "broken"], proj, timeout=TIMEOUT)
    assert res.returncode == 1
    assert "rulec: broken exited 0 but did not create the folder broken" in (proj / ".rulec" / "logs" / "broken" / "broken.log").read_text()
    assert not (proj / "broken").exists()
# --------------------------------------------------------------------------- packing

def test_a_packed_run_fails_only_the_failing_job_and_a_rerun_does_exactly_the_rest(slurm_cluster, tmp_path):
    """--pack 2: 17 jobs in 9 tasks. fit[d1,m0] fails in its pack: its pack-mate fit[d1,m1]
    runs to the end and is kept; its dependents are skipped (score's task 1 waits for every
    job of fit's task 1, so SLURM cancels score[d1,m1] too, and summarize waits for all of
    score); the rerun does exactly the rest."""
    proj = make(tmp_path / "p")
    (proj / "fail_d1_m0").write_text("")
    res = run_rulec(["run", *SLURM, "--keep-going", "--pack", "2"], proj, timeout=TIMEOUT)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "submitted 4 array(s), 9 task(s) for 17 job(s), 4 sbatch call(s)" in res.stdout
    assert "FAILED fit[d1,m0]: exit status 3 (scheduler log .rulec/slurm/1/logs/fit_" in res.stderr
    assert "skipped score[d1,m0]: an upstream job failed" in res.stdout
    m = manifest(proj, 1)
    assert [(a["name"], a["size"], a.get("pack")) for a in m["arrays"]] == [
        ("prepare", 2, 2), ("fit", 3, 2), ("score", 3, 2), ("summarize", 1, 2)]
    assert m["jobs"]["fit[d1,m0]"]["task"] == m["jobs"]["fit[d1,m1]"]["task"]  # pack-mates
    bundle = proj / ".rulec" / "slurm" / "1"
    assert (bundle / "status" / "fit.d1,m0.rc").read_text() == "3\n"
    assert (bundle / "status" / "fit.d1,m1.rc").read_text() == "0\n"
    assert (proj / "fit" / "d1_m1.txt").read_text() == "data d1\nfitted m1\n"
    assert not (proj / "fit" / "d1_m0.txt").exists()
    states = squeue(job_ids(bundle).values(), all_states=True)
    assert states[task_of(proj, 1, "fit[d1,m0]")][0] == "FAILED"  # the pack's task: a job of it failed
    assert states[task_of(proj, 1, "score[d1,m0]")][0] == "CANCELLED"
    assert not [t for t, (s, _) in states.items() if s in ("PENDING", "RUNNING")]
    assert " done fit[d1,m1] " in res.stdout and " done fit[d1,m0] " not in res.stdout

    (proj / "fail_d1_m0").unlink()
    res = ok(run_rulec(["run", *SLURM, "--pack", "2"], proj, timeout=TIMEOUT))
    rerun = manifest(proj, 2)
    assert sorted(rerun["jobs"]) == ["fit[d1,m0]", "score[d1,m0]", "score[d1,m1]", "summarize[m0]", "summarize[m1]"]
    assert "Done: 5 job(s) ran on slurm." in res.stdout
    for rel in OUTPUTS:
        assert (proj / rel).exists(), rel
    assert (proj / "out" / "m0.txt").read_text() == "2\n2\n2\n"
    assert "Nothing to do" in ok(run_rulec(["dryrun"], proj)).stdout


WIDE = '''\
dimension x = ["a", "b", "c", "d"]

rule all:
    input: expand("work/{x}.txt")

rule work:
    output: "work/{x}.txt"
    resources: cpus=1, time="2m"
    shell: """
        mkdir -p times
        date +%s.%N > times/{x}
        sleep 1.5
        date +%s.%N >> times/{x}
        if [ -e fail_{x} ]; then echo "failing on purpose" >&2; exit 3; fi
        echo {x} $SLURM_CPUS_PER_TASK > {output}
    """
'''

WIDE_PROFILE = '''\
[slurm.rules.work]
pack = 4               # the profile packs the rule: 4 jobs in one task
cpus_per_task = 2      # with the cores of two: two at once
'''


def test_a_packed_task_with_the_cores_of_two_jobs_runs_two_at_once_and_a_failure_stays_its_own(slurm_cluster, tmp_path):
    proj = make(tmp_path / "p", WIDE)
    (proj / "cluster.toml").write_text(WIDE_PROFILE)
    (proj / "fail_b").write_text("")
    res = run_rulec(["run", *SLURM, "--keep-going", "--profile", "cluster.toml"], proj, timeout=TIMEOUT)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "submitted 1 array(s), 1 task(s) for 4 job(s), 1 sbatch call(s)" in res.stdout
    m = manifest(proj, 1)
    assert [(a["name"], a["size"], a.get("pack")) for a in m["arrays"]] == [("work", 1, 4)]
    bundle = proj / ".rulec" / "slurm" / "1"
    script = (bundle / "work.sbatch").read_text()
    assert "#SBATCH --cpus-per-task=2\n" in script and "#SBATCH --time=00:04:00\n" in script  # two rounds of 2m
    times = {}
    for x in "abcd":
        start, end = (float(t) for t in (proj / "times" / x).read_text().split())
        times[x] = (start, end)
    assert times["a"][0] < times["b"][1] and times["b"][0] < times["a"][1], times  # a and b at once
    assert times["c"][0] >= min(times["a"][1], times["b"][1]) - 0.05, times  # c waited for a free slot
    starts = {x: int((bundle / "status" / f"work.{x}.start").read_text()) for x in "abcd"}
    assert abs(starts["a"] - starts["b"]) <= 1 and starts["d"] - starts["a"] <= 3, starts
    assert {x: (bundle / "status" / f"work.{x}.rc").read_text() for x in "abcd"} == {
        "a": "0\n", "b": "3\n", "c": "0\n", "d": "0\n"}
    for x in "acd":
        assert (proj / "work" / f"{x}.txt").read_text() == f"{x} 2\n"  # each job saw the task's cores
    assert not (proj / "work" / "b.txt").exists()
    assert "FAILED work[b]: exit status 3" in res.stderr
    assert res.stdout.count(" done work[") == 3
    states = squeue(job_ids(bundle).values(), all_states=True)
    assert [s for s, _ in states.values()] == ["FAILED"]  # the task: one of its jobs failed
    (proj / "fail_b").unlink()
    res = ok(run_rulec(["run", *SLURM, "--profile", "cluster.toml"], proj, timeout=TIMEOUT))
    assert sorted(manifest(proj, 2)["jobs"]) == ["work[b]"] and "Done: 1 job(s) ran on slurm." in res.stdout


PACKED_KINDS = '''\
dimension x = ["a", "b", "c"]

rule all:
    input: expand("aligned/{x}.txt"), expand("flag/{x}.done")

rule index:
    output: directory("idx/{x}")
    resources: time="1m"
    shell: "mkdir -p {output}/sub && echo {x} > {output}/sub/name"

rule model:
    input: "idx/{x}"
    output: protected("model/{x}.txt")
    shell: "find {input} -type f > {output}"

rule align:
    input: "model/{x}.txt"
    output: "aligned/{x}.txt"
    shell: "cat {input} > {output}"

rule flag:
    output: touch("flag/{x}.done")
    shell: "echo flagging {x}"
'''


def test_directory_protected_and_touch_outputs_in_packed_tasks_through_rulec_run(slurm_cluster, tmp_path):
    proj = make(tmp_path / "p", PACKED_KINDS)
    res = ok(run_rulec(["run", *SLURM, "--pack", "3"], proj, timeout=TIMEOUT))
    assert "submitted 4 array(s), 4 task(s) for 12 job(s), 4 sbatch call(s)" in res.stdout
    assert {a["name"]: a.get("pack") for a in manifest(proj, 1)["arrays"]} == {"index": 3, "model": 3, "align": 3, "flag": 3}
    for x in "abc":
        assert (proj / "idx" / x / "sub" / "name").read_text() == f"{x}\n"
        assert (proj / "aligned" / f"{x}.txt").read_text() == f"idx/{x}/sub/name\n"
        assert not (proj / "model" / f"{x}.txt").stat().st_mode & 0o222  # made read-only by the packed task
        assert (proj / "flag" / f"{x}.done").exists()  # made by the packed task: the command did not
    assert "Nothing to do" in ok(run_rulec(["dryrun"], proj)).stdout
    # replacing the protected outputs is refused before anything is submitted, unless asked for
    res = run_rulec(["run", *SLURM, "--pack", "3", "--force", "model"], proj, timeout=TIMEOUT)
    assert res.returncode == 2 and "model/a.txt is protected" in res.stderr
    res = ok(run_rulec(["run", *SLURM, "--pack", "3", "--force", "model", "--overwrite-protected"], proj, timeout=TIMEOUT))
    assert "Done: 6 job(s) ran on slurm." in res.stdout  # model's 3, and align's after them
    assert all(not (proj / "model" / f"{x}.txt").stat().st_mode & 0o222 for x in "abc")


def test_directory_protected_and_touch_outputs_in_packed_tasks_of_an_emitted_bundle(slurm_cluster, tmp_path):
    """No rulec alive: the packed tasks (two jobs at once) remove a stale folder, refuse a
    read-only protected output and make the others read-only, and make the touch() markers."""
    proj = make(tmp_path / "p", PACKED_KINDS)
    (proj / "cluster.toml").write_text("[slurm]\ncpus_per_task = 2\n")
    ok(run_rulec(["emit", "--slurm", "-o", "bundle", "--pack", "3", "--profile", "cluster.toml"], proj))
    bundle = proj / "bundle"
    assert "\nwidth=2  # jobs run at once\n" in (bundle / "model.sbatch").read_text()
    (proj / "idx" / "a" / "stale").mkdir(parents=True)  # an earlier run's, in the folder index[a] makes
    (proj / "model").mkdir()
    (proj / "model" / "c.txt").write_text("an earlier model\n")
    (proj / "model" / "c.txt").chmod(0o444)
    sub = subprocess.run(["bash", str(bundle / "submit.sh")], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert sub.returncode == 0, sub.stdout + sub.stderr
    ids = list(job_ids(bundle).values())
    wait_for(lambda: not squeue(ids), 60, 0.2, what="the jobs to finish")
    rc = {p.name[:-3]: p.read_text().strip() for p in (bundle / "status").glob("*.rc")}
    assert rc == {"index.a": "0", "index.b": "0", "index.c": "0", "model.a": "0", "model.b": "0", "model.c": "1",
                  "flag.a": "0", "flag.b": "0", "flag.c": "0"}, rc
    # align's task waits for every job of model's, where model[c] was refused: SLURM cancels it
    states = squeue(ids, all_states=True)
    assert sorted(s for s, _ in states.values()) == ["CANCELLED", "COMPLETED", "COMPLETED", "FAILED"], states
    assert not (proj / "aligned").exists()
    assert sorted(p.name for p in (proj / "idx" / "a").iterdir()) == ["sub"]
    assert (proj / "model" / "c.txt").read_text() == "an earlier model\n"
    logs = "".join(p.read_text() for p in (bundle / "logs").glob("model_*.out"))
    assert "rulec: model[c]: model/c.txt is protected (protected() in Rulefile:13:13): not replacing it" in logs
    for x in "ab":
        assert (proj / "model" / f"{x}.txt").read_text() == f"idx/{x}/sub/name\n"
        assert not (proj / "model" / f"{x}.txt").stat().st_mode & 0o222
    assert all((proj / "flag" / f"{x}.done").exists() for x in "abc")


def test_scancel_of_a_task_running_two_jobs_at_once_stops_both_and_removes_their_outputs(slurm_cluster, tmp_path):
    proj = make(tmp_path / "p", WIDE.replace("sleep 1.5", "echo partial > {output}; sleep 60"))
    (proj / "cluster.toml").write_text(WIDE_PROFILE)
    ok(run_rulec(["emit", "--slurm", "-o", "bundle", "--profile", "cluster.toml"], proj))
    bundle = proj / "bundle"
    sub = subprocess.run(["bash", str(bundle / "submit.sh")], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert sub.returncode == 0, sub.stdout + sub.stderr
    ids = list(job_ids(bundle).values())
    wait_for(lambda: (proj / "work" / "a.txt").exists() and (proj / "work" / "b.txt").exists(), 60, 0.1,
             what="two jobs of the task to run")
    subprocess.run(["scancel", *ids], check=True)
    wait_for(lambda: not squeue(ids), 60, 0.2, what="the task to end")
    # SLURM signals every process of the task at once: a job's command may be seen to end
    # (exit 143, its marker written) just before its task is told to stop; either way no job
    # succeeded and no output is left
    status = {p.name: p.read_text() for p in (bundle / "status").iterdir()}
    assert {"work.a.start", "work.b.start"} <= set(status), status
    assert all(text.strip() != "0" for name, text in status.items() if name.endswith(".rc")), status
    log = "".join(p.read_text() for p in (bundle / "logs").glob("work_*.out"))
    assert "rulec: task 0 of work stopped by a signal" in log, log
    for x in "ab":
        assert f"rulec: work[{x}] stopped by a signal; its outputs were removed" in log or f"work.{x}.rc" in status, log
    assert not (proj / "work").exists() or not list((proj / "work").iterdir())
