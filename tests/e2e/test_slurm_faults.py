"""Cluster faults on the REAL local SLURM cluster (scripts/local-slurm.sh), end to end: a task
cancelled by hand with ``scancel`` (also one whose command ignores SIGTERM, so SLURM kills it
with SIGKILL), a TIMEOUT, a slurmctld restart while rulec follows, Ctrl-C or SIGTERM with
another submitter's jobs in the queue, and a failure inside an element-wise (``aftercorr``)
chain; under ``rulec run --executor slurm`` and, where it makes sense, under a bare
``bash submit.sh``.

Each test checks what a user relies on: the exit status, the words of the summary, that the
failed job's outputs are gone, that its dependents were skipped while independent jobs ran and
kept their outputs, that no record claims success for a failed job (the next ``rulec dryrun``
lists exactly the failed job and its dependents), and that no job of the run is left in the
queue. Real sbatch/squeue/scancel/scontrol throughout, nothing mocked.

Jobs are found by their bundle's ``jobids`` (other tests may submit arrays with the same job
names at the same time); the job name ``rulec-<rule>`` is checked as well.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from rulec_e2e import planned_jobs, popen_rulec, run_rulec, wait_for
from slurm_cluster import start_cluster

pytestmark = pytest.mark.slurm

SLURM = ["--executor", "slurm", "--poll", "0.2"]
TIMEOUT = 120
# states of a task that is no longer in the queue (squeue -t all still lists it for MinJobAge)
ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"}


# --------------------------------------------------------------------------- helpers

def make(path: Path, rulefile: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "Rulefile").write_text(rulefile)
    return path


def show(res) -> str:
    return f"exit {res.returncode}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}"


def ok(res):
    assert res.returncode == 0, show(res)
    return res


def job_ids(bundle: Path) -> dict[str, str]:
    """array name -> SLURM job id, from the bundle's ``jobids``."""
    path = bundle / "jobids"
    if not path.exists():
        return {}
    return dict(line.split() for line in path.read_text().splitlines() if line.strip())


def manifest(bundle: Path) -> dict:
    return json.loads((bundle / "manifest.json").read_text())


def task_id(bundle: Path, job: str) -> str:
    """The SLURM id (``123_4``) of one rulec job of a bundle that was submitted."""
    entry = manifest(bundle)["jobs"][job]
    return f"{job_ids(bundle)[entry['array']]}_{entry['task']}"


def squeue(ids, all_states: bool = True) -> dict[str, tuple[str, str, str]]:
    """task id -> (state, reason, job name) for the arrays ``ids``, one line per task."""
    ids = list(ids)
    if not ids:
        return {}
    args = ["squeue", "-h", "-r", "-j", ",".join(ids), "-o", "%i|%T|%r|%j"]
    if all_states:
        args[2:2] = ["-t", "all"]
    res = subprocess.run(args, capture_output=True, text=True)
    out = {}
    for line in res.stdout.splitlines():
        task, state, reason, name = line.split("|", 3)
        out[task] = (state, reason, name)
    return out


def left_in_queue(ids) -> dict[str, str]:
    """The tasks of ``ids`` that have not ended (pending, running, completing...)."""
    return {t: s for t, (s, _, _) in squeue(ids).items() if s not in ENDED}


def cancel(ids) -> None:
    ids = [i for i in ids if i]
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True)


def dry_jobs(proj: Path) -> list[str]:
    """The jobs a ``rulec dryrun`` lists to run (empty when there is nothing to do)."""
    res = ok(run_rulec(["dryrun"], proj))
    if "Nothing to do" in res.stdout:
        return []
    return sorted(planned_jobs(res.stdout))


def reap(proc: subprocess.Popen | None) -> None:
    """Kill a background rulec (its whole process group) if a test left it alive."""
    if proc is None or proc.returncode is not None:
        return
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        proc.communicate(timeout=10)
    except Exception:  # pragma: no cover
        pass


def finish(proc: subprocess.Popen, timeout: float = TIMEOUT) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def wait_during(proc: subprocess.Popen, predicate, timeout: float, what: str):
    """``wait_for(predicate)``, failing at once (with rulec's output) if rulec exits first."""
    def check():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"rulec exited {proc.returncode} before {what}\nstdout:\n{out}\nstderr:\n{err}")
        return predicate()

    return wait_for(check, timeout, 0.05, what=what)


# --------------------------------------------------------------------------- one chain, faults 1-2

# Three tasks per rule; work[n] sleeps when the file slow_<n> says how long, and ignores
# SIGTERM (as do its children) when deaf_<n> exists; check is element-wise on work (aftercorr),
# total waits for all of check (afterok).
CHAIN = '''\
dimension n = ["a", "b", "c"]

rule all:
    input: "total.txt"

rule work:
    output: "work/{n}.txt"
    shell: """
        if [ -e deaf_{n} ]; then trap '' TERM; fi
        echo partial > {output}
        if [ -e slow_{n} ]; then sleep "$(cat slow_{n})"; fi
        echo work {n} >> {output}
    """

rule check:
    input: "work/{n}.txt"
    output: "check/{n}.txt"
    shell: "wc -l < {input} > {output}"

rule total:
    input: expand("check/{n}.txt")
    output: "total.txt"
    shell: "cat {input} > {output}"
'''


def assert_only_b_and_its_dependents_missing(proj: Path, bundle: Path, state: str) -> None:
    """On disk and in the queue, after CHAIN's work[b] was stopped by the scheduler with
    ``state`` (CANCELLED, TIMEOUT): its partial output is gone, its dependents never started
    and made nothing, the independent jobs ran to their end and kept their outputs, and the
    next dry run lists exactly work[b] and its dependents."""
    assert not (proj / "work" / "b.txt").exists()
    assert not (proj / "check" / "b.txt").exists() and not (proj / "total.txt").exists()
    for n in "ac":
        assert (proj / "work" / f"{n}.txt").read_text() == f"partial\nwork {n}\n"
        assert (proj / "check" / f"{n}.txt").read_text() == "2\n"
    # the command of work[b] never ran to its end: no marker; its dependents never started
    markers = {p.name: p.read_text() for p in (bundle / "status").glob("*.rc")}
    assert markers == {f"{r}.{n}.rc": "0\n" for r in ("work", "check") for n in "ac"}, markers
    ids = job_ids(bundle).values()
    assert left_in_queue(ids) == {}
    states = squeue(ids)
    assert states[task_id(bundle, "work[b]")][0] == state
    for job in ("check[b]", "total"):
        assert states[task_id(bundle, job)][:2] == ("CANCELLED", "DependencyNeverSatisfied"), job
    for job in ("work[a]", "work[c]", "check[a]", "check[c]"):
        assert states[task_id(bundle, job)][0] == "COMPLETED", job
    assert dry_jobs(proj) == ["check[b]", "total", "work[b]"]


def assert_b_reported(out: str, err: str, state: str) -> None:
    """What ``rulec run`` printed when CHAIN's work[b] was stopped by the scheduler."""
    assert f"FAILED work[b]: {state}, " in err
    assert f"  work[b]: {state}, " in err  # the end-of-run list gives the state too
    assert "1 job(s) failed, 4 succeeded, 2 not run:" in err
    assert "skipped check[b]: an upstream job failed" in out
    assert "skipped total: an upstream job failed" in out
    for job in ("work[a]", "work[c]", "check[a]", "check[c]"):
        assert f"done {job}" in out, job
    assert "done work[b]" not in out and "done total" not in out


def run_and_stop_b(proj: Path, fault, *args) -> tuple[int, str, str]:
    """Run CHAIN under ``rulec run --executor slurm ARGS``; once work[b] runs, ``fault(task id)``."""
    bundle = proj / ".rulec" / "slurm" / "1"
    proc = popen_rulec(["run", *SLURM, "--keep-going", *args], proj)
    try:
        wait_during(proc, lambda: (proj / "work" / "b.txt").exists(), 30, "work[b] started")
        fault(task_id(bundle, "work[b]"))
        return finish(proc, 90)
    finally:
        reap(proc)
        cancel(job_ids(bundle).values())


# --------------------------------------------------------------------------- 1. scancel

def scancel_by_name(rule: str, bundle: Path, job: str) -> None:
    """``scancel`` one running task as a user would find it: by its array's job name in squeue
    (``rulec-<rule>``); the bundle's jobids tell which of the same-named tasks is ours."""
    listed = subprocess.run(["squeue", "-h", "-r", "-t", "RUNNING", "-n", f"rulec-{rule}", "-o", "%i"],
                            capture_output=True, text=True, check=True).stdout.split()
    victim = task_id(bundle, job)
    assert victim in listed, (victim, listed)
    subprocess.run(["scancel", victim], check=True)


def test_scancel_of_one_task_by_hand_fails_it_and_skips_only_its_dependents(slurm_cluster, tmp_path):
    proj = make(tmp_path / "p", CHAIN)
    (proj / "slow_b").write_text("60\n")
    bundle = proj / ".rulec" / "slurm" / "1"
    rc, out, err = run_and_stop_b(proj, lambda _: scancel_by_name("work", bundle, "work[b]"))
    assert rc == 1, f"exit {rc}\n{out}\n{err}"
    assert_b_reported(out, err, "CANCELLED")
    assert "FAILED work[b]: CANCELLED, no exit code: stopped by the scheduler (scheduler log " in err
    assert_only_b_and_its_dependents_missing(proj, bundle, "CANCELLED")


def test_a_cancelled_task_that_ignores_sigterm_has_its_outputs_removed_by_rulec(slurm_cluster, tmp_path):
    """A command that ignores SIGTERM keeps its task wrapper waiting until SLURM sends SIGKILL
    (KillWait, 5 s here): the wrapper cannot remove the partial output, so rulec must."""
    proj = make(tmp_path / "p", CHAIN)
    (proj / "slow_b").write_text("60\n")
    (proj / "deaf_b").write_text("")
    bundle = proj / ".rulec" / "slurm" / "1"
    rc, out, err = run_and_stop_b(proj, lambda task: subprocess.run(["scancel", task], check=True))
    assert rc == 1, f"exit {rc}\n{out}\n{err}"
    assert_b_reported(out, err, "CANCELLED")
    sched_log = (bundle / "logs" / f"work_{job_ids(bundle)['work']}_1.out").read_text()
    assert "its outputs were removed" not in sched_log  # the wrapper was killed, not rulec
    assert_only_b_and_its_dependents_missing(proj, bundle, "CANCELLED")


def test_scancel_of_one_task_of_an_emitted_bundle(slurm_cluster, tmp_path):
    """No rulec alive: the task's own wrapper removes its partial output on SIGTERM, SLURM
    cancels its dependents, the rest runs; the next dry run lists exactly what is missing."""
    proj = make(tmp_path / "p", CHAIN)
    (proj / "slow_b").write_text("60\n")
    ok(run_rulec(["emit", "--slurm", "-o", "bundle"], proj))
    bundle = proj / "bundle"
    try:
        sub = subprocess.run(["bash", str(bundle / "submit.sh")], capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert sub.returncode == 0, sub.stdout + sub.stderr
        wait_for(lambda: (proj / "work" / "b.txt").exists(), 30, 0.05, what="work[b] to start")
        scancel_by_name("work", bundle, "work[b]")
        ids = list(job_ids(bundle).values())
        wait_for(lambda: not left_in_queue(ids), 60, 0.2, what="the queue to drain")
    finally:
        cancel(job_ids(bundle).values())
    assert_only_b_and_its_dependents_missing(proj, bundle, "CANCELLED")
    sched_log = (bundle / "logs" / f"work_{job_ids(bundle)['work']}_1.out").read_text()
    assert "rulec: work[b] stopped by a signal; its outputs were removed" in sched_log


# --------------------------------------------------------------------------- 2. TIMEOUT

def time_out_now(task: str) -> None:
    """Cut a running task's time limit to 0: slurmctld times it out (TIMEOUT, reason
    TimeLimit) at its next time-limit check, which it makes every 30 s."""
    limit = subprocess.run(["squeue", "-h", "-j", task, "-o", "%l"], capture_output=True, text=True).stdout.strip()
    assert limit == "1:00", limit  # the rule's time resource reached sbatch
    subprocess.run(["scontrol", "update", f"JobId={task}", "TimeLimit=0"], check=True, capture_output=True)


@pytest.mark.slow  # slurmctld checks time limits every 30 s: 0-30 s of waiting
def test_a_job_over_its_time_limit_is_reported_as_timeout(slurm_cluster, tmp_path):
    """``time="1m"`` alone would be enforced only after 60-90 s: once the job runs, its limit
    is cut to 0 with ``scontrol update`` (see time_out_now)."""
    proj = make(tmp_path / "p", CHAIN.replace('    output: "work/{n}.txt"\n',
                                              '    output: "work/{n}.txt"\n    resources: time="1m"\n'))
    (proj / "slow_b").write_text("120\n")
    # while nothing changes rulec polls less and less often (up to every 30 s): at most every
    # second here, so the test waits for the timeout, not for the next poll
    profile = tmp_path / "profile.toml"
    profile.write_text("[slurm]\nmax_poll = 1.0\n")
    bundle = proj / ".rulec" / "slurm" / "1"
    rc, out, err = run_and_stop_b(proj, time_out_now, "--profile", profile)
    assert rc == 1, f"exit {rc}\n{out}\n{err}"
    assert_b_reported(out, err, "TIMEOUT")  # the scheduler's word, not a generic failure
    assert "reason TimeLimit" in err
    assert_only_b_and_its_dependents_missing(proj, bundle, "TIMEOUT")
    assert squeue(job_ids(bundle).values())[task_id(bundle, "work[b]")][1] == "TimeLimit"


# --------------------------------------------------------------------------- 3. slurmctld restart

def _slurmctld(cluster) -> tuple[int, list[str], str] | None:
    """(pid, argv, marker environment entry) of the cluster's live slurmctld, or None."""
    try:
        pid = int((cluster.dir / "run" / "slurmctld.pid").read_text().strip())
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
        state = next(line.split()[1] for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                     if line.startswith("State:"))
        env = Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
    except (OSError, ValueError, StopIteration, IndexError):
        return None
    if state in ("Z", "X") or not argv or not argv[0].endswith("slurmctld"):
        return None
    marker = next((e for e in env if e.startswith("RULEC_LOCAL_SLURM=")), f"RULEC_LOCAL_SLURM={cluster.dir}")
    return pid, argv, marker


def _start_slurmctld(cluster, argv: list[str], marker: str) -> None:
    """Start slurmctld as scripts/local-slurm.sh does (it daemonizes) and wait until it answers
    and the node takes jobs. Only slurmctld: munged and slurmd are left alone."""
    if _slurmctld(cluster) is None:
        with open(cluster.log_dir / "slurmctld.stderr", "ab") as errlog:
            subprocess.run(["env", marker, *argv], stdin=subprocess.DEVNULL, stdout=errlog, stderr=errlog,
                           check=True, timeout=30)

    def ready():
        res = subprocess.run(["sinfo", "-h", "-p", "debug", "-o", "%T"], capture_output=True, text=True)
        return res.returncode == 0 and res.stdout.strip() in ("idle", "mixed", "allocated", "completing")

    wait_for(ready, 30, 0.1, what="slurmctld to answer again")


# work[a] is quick; work[b] runs until the test creates the file "go".
RESTART = '''\
dimension n = ["a", "b"]

rule all:
    input: "total.txt"

rule work:
    output: "work/{n}.txt"
    shell: """
        echo partial > {output}
        if [ {n} = b ]; then while [ ! -e go ]; do sleep 0.1; done; fi
        echo work {n} >> {output}
    """

rule check:
    input: "work/{n}.txt"
    output: "check/{n}.txt"
    shell: "wc -l < {input} > {output}"

rule total:
    input: expand("check/{n}.txt")
    output: "total.txt"
    shell: "cat {input} > {output}"
'''


@pytest.mark.slow  # slurmctld is away for about 10 s: long enough for a status query to fail
def test_a_slurmctld_restart_while_following_is_ridden_out(slurm_cluster, tmp_path):
    """slurmctld is stopped (SIGTERM: it saves its state, as the stop script does) while rulec
    follows a running job, and started again once status queries have failed (a client gives
    up on an absent controller after about 9 s; rulec polls at most about 1.5 s apart this early
    in a run, so its own query has failed by then and is being retried): the run ends as if
    nothing had happened."""
    proj = make(tmp_path / "p", RESTART)
    bundle = proj / ".rulec" / "slurm" / "1"
    before = _slurmctld(slurm_cluster)
    assert before is not None, "slurmctld is not running"
    pid, argv, marker = before
    proc = popen_rulec(["run", *SLURM], proj)
    try:
        # only work[b] runs while slurmctld is away: a job ending then is told to slurmctld
        # by slurmstepd's retry, up to 15 s after the restart
        wait_during(proc, lambda: (proj / "work" / "b.txt").exists() and (bundle / "status" / "check.a.rc").exists(),
                    30, "work[b] started, and work[a] and check[a] ended")
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: _slurmctld(slurm_cluster) is None, 20, 0.05, what="slurmctld to stop")
        down = subprocess.run(["squeue", "-h"], capture_output=True, text=True, timeout=60)
        assert down.returncode != 0 and "Unable to contact slurm controller" in down.stderr, down
        time.sleep(1.5)  # a query rulec started up to 1.5 s after this one has failed too
        if proc.poll() is not None:
            rc, out, err = finish(proc)
            pytest.fail(f"rulec exited {rc} while slurmctld was away\nstdout:\n{out}\nstderr:\n{err}")
        _start_slurmctld(slurm_cluster, argv, marker)
        (proj / "go").write_text("")
        rc, out, err = finish(proc, 90)
    finally:
        (proj / "go").write_text("")
        reap(proc)
        if _slurmctld(slurm_cluster) is None:  # never leave later tests without a controller
            try:
                _start_slurmctld(slurm_cluster, argv, marker)
            except Exception:
                start_cluster()
        cancel(job_ids(bundle).values())
    after = _slurmctld(slurm_cluster)
    assert after is not None and after[0] != pid  # it really was restarted
    assert rc == 0, f"exit {rc}\n{out}\n{err}"
    assert "Done: 5 job(s) ran on slurm." in out
    assert "FAILED" not in err and "giving up" not in err
    for n in "ab":
        assert (proj / "work" / f"{n}.txt").read_text() == f"partial\nwork {n}\n"
        assert (bundle / "status" / f"work.{n}.rc").read_text() == "0\n"
    assert (proj / "total.txt").read_text() == "2\n2\n"
    assert dry_jobs(proj) == []
    ids = job_ids(bundle).values()
    assert left_in_queue(ids) == {}
    assert {s for s, _, _ in squeue(ids).values()} == {"COMPLETED"}


# --------------------------------------------------------------------------- 4. Ctrl-C, others' jobs

# slow (4 tasks, running or pending) -> after (element-wise, pending) -> total (pending)
SLEEPY = '''\
dimension n = ["a", "b", "c", "d"]

rule all:
    input: "total.txt"

rule slow:
    output: "out/{n}.txt"
    shell: "echo partial > {output}; sleep 60; echo done >> {output}"

rule after:
    input: "out/{n}.txt"
    output: "after/{n}.txt"
    shell: "cp {input} {output}"

rule total:
    input: expand("after/{n}.txt")
    output: "total.txt"
    shell: "cat {input} > {output}"
'''


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupt_cancels_its_own_jobs_and_leaves_another_submitters_alone(slurm_cluster, tmp_path, sig):
    """tests/e2e/test_slurm.py checks Ctrl-C with one array and only rulec's jobs queued. Here
    three arrays (running and pending tasks), SIGINT or SIGTERM, and another submitter's jobs
    queued too: a plain ``sbatch --wrap "sleep 60"``, and a held one with rulec's very job name
    (``rulec-slow``), so rulec must cancel by job id, not by name or user."""
    proj = make(tmp_path / "p", SLEEPY)
    bundle = proj / ".rulec" / "slurm" / "1"

    def sbatch(*args: str) -> str:
        return subprocess.run(["sbatch", "--parsable", "-o", "/dev/null", *args], capture_output=True,
                              text=True, check=True, cwd=tmp_path).stdout.strip().split(";")[0]

    others = [sbatch("--wrap", "sleep 60"), sbatch("--hold", "--job-name=rulec-slow", "--wrap", "sleep 60")]
    proc = None
    try:
        proc = popen_rulec(["run", *SLURM], proj)
        wait_during(proc, lambda: list((proj / "out").glob("*.txt")) if (proj / "out").exists() else [], 30,
                    "a rulec job started")
        proc.send_signal(sig)
        rc, out, err = finish(proc, 60)
        ours = list(job_ids(bundle).values())
        theirs = [squeue([i]).get(i, ("gone", "", ""))[:2] for i in others]
    finally:
        reap(proc)
        cancel(job_ids(bundle).values())
        cancel(others)
    assert rc == 130, f"exit {rc}\n{out}\n{err}"
    assert len(ours) == 3
    assert f"cancelled 3 job array(s) of this run ({' '.join(ours)})" in err
    assert "interrupted: stopped " in err
    assert left_in_queue(ours) == {}
    states = squeue(ours)
    assert len(states) == 9 and {s for s, _, _ in states.values()} == {"CANCELLED"}, states
    assert not list((proj / "out").glob("*.txt"))  # partial outputs removed
    assert dry_jobs(proj) == sorted([f"{r}[{n}]" for r in ("slow", "after") for n in "abcd"] + ["total"])
    # the other submitter's jobs are untouched: still queued or running, still held
    assert theirs[0][0] in ("RUNNING", "PENDING"), theirs
    assert theirs[1] == ("PENDING", "JobHeldUser"), theirs


# --------------------------------------------------------------------------- 5. aftercorr chain

ELEMENTWISE = '''\
# A (3 tasks) -> B (element-wise on A: aftercorr) -> C (all of B: afterok)
dimension i = ["1", "2", "3"]

rule all:
    input: "c.txt"

rule a:
    output: "a/{i}.txt"
    shell: "if [ -e fail_{i} ]; then echo a{i} fails on purpose >&2; exit 3; fi; echo a{i} > {output}"

rule b:
    input: "a/{i}.txt"
    output: "b/{i}.txt"
    shell: "cat {input} > {output}; echo b{i} >> {output}"

rule c:
    input: expand("b/{i}.txt")
    output: "c.txt"
    shell: "cat {input} > {output}"
'''


def assert_elementwise_outcome(proj: Path, bundle: Path) -> None:
    """On disk and in the queue, after A[2] failed: B[1] and B[3] ran, B[2] and C did not."""
    assert manifest(bundle)["arrays"][1]["dependencies"] == [{"type": "aftercorr", "array": "a"}]
    assert not (proj / "a" / "2.txt").exists()
    assert not (proj / "b" / "2.txt").exists() and not (proj / "c.txt").exists()
    assert (proj / "b" / "1.txt").read_text() == "a1\nb1\n"
    assert (proj / "b" / "3.txt").read_text() == "a3\nb3\n"
    markers = {p.name: p.read_text() for p in (bundle / "status").glob("*.rc")}
    assert markers == {"a.1.rc": "0\n", "a.2.rc": "3\n", "a.3.rc": "0\n", "b.1.rc": "0\n", "b.3.rc": "0\n"}
    ids = job_ids(bundle).values()
    assert left_in_queue(ids) == {}
    states = squeue(ids)
    assert states[task_id(bundle, "a[2]")][0] == "FAILED"
    for job in ("b[2]", "c"):  # never started: killed by its invalid dependency
        assert states[task_id(bundle, job)][:2] == ("CANCELLED", "DependencyNeverSatisfied"), job
    for job in ("a[1]", "a[3]", "b[1]", "b[3]"):
        assert states[task_id(bundle, job)][0] == "COMPLETED", job
    assert {name for _, _, name in states.values()} == {"rulec-a", "rulec-b", "rulec-c"}
    assert dry_jobs(proj) == ["a[2]", "b[2]", "c"]


def test_a_failure_in_an_elementwise_chain_stops_only_its_own_element(slurm_cluster, tmp_path):
    proj = make(tmp_path / "p", ELEMENTWISE)
    (proj / "fail_2").write_text("")
    bundle = proj / ".rulec" / "slurm" / "1"
    try:
        res = run_rulec(["run", *SLURM, "--keep-going"], proj, timeout=TIMEOUT)
    finally:
        cancel(job_ids(bundle).values())
    assert res.returncode == 1, show(res)
    assert "FAILED a[2]: exit status 3 (scheduler log .rulec/slurm/1/logs/a_" in res.stderr
    assert "(log: .rulec/logs/a/a.2.log)" in res.stderr
    assert "a2 fails on purpose" in res.stderr
    assert "skipped b[2]: an upstream job failed" in res.stdout
    assert "skipped c: an upstream job failed" in res.stdout
    assert "1 job(s) failed, 4 succeeded, 2 not run:" in res.stderr
    assert_elementwise_outcome(proj, bundle)
    kept = {n: (proj / "b" / f"{n}.txt").stat().st_mtime_ns for n in "13"}

    (proj / "fail_2").unlink()
    res = ok(run_rulec(["run", *SLURM], proj, timeout=TIMEOUT))
    rerun = manifest(proj / ".rulec" / "slurm" / "2")
    assert sorted(rerun["jobs"]) == ["a[2]", "b[2]", "c"]
    assert [(a["name"], a["size"]) for a in rerun["arrays"]] == [("a", 1), ("b", 1), ("c", 1)]
    assert "Done: 3 job(s) ran on slurm." in res.stdout
    assert (proj / "c.txt").read_text() == "a1\nb1\na2\nb2\na3\nb3\n"
    assert {n: (proj / "b" / f"{n}.txt").stat().st_mtime_ns for n in "13"} == kept  # not rerun
    assert dry_jobs(proj) == []
    assert left_in_queue(job_ids(proj / ".rulec" / "slurm" / "2").values()) == {}


def test_a_failure_in_an_elementwise_chain_of_an_emitted_bundle(slurm_cluster, tmp_path):
    """The same chain as an emitted bundle, with no rulec alive: SLURM alone must stop B[2] and
    C, and run B[1] and B[3]; the markers under the bundle tell what ran."""
    proj = make(tmp_path / "p", ELEMENTWISE)
    (proj / "fail_2").write_text("")
    ok(run_rulec(["emit", "--slurm", "-o", "bundle"], proj))
    bundle = proj / "bundle"
    try:
        sub = subprocess.run(["bash", str(bundle / "submit.sh")], capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert sub.returncode == 0, sub.stdout + sub.stderr
        ids = list(job_ids(bundle).values())
        assert len(ids) == 3
        wait_for(lambda: not left_in_queue(ids), 60, 0.2, what="the queue to drain")
    finally:
        cancel(job_ids(bundle).values())
    assert_elementwise_outcome(proj, bundle)
    assert "a2 fails on purpose" in (proj / ".rulec" / "logs" / "a" / "a.2.log").read_text()
    assert not (proj / ".rulec" / "logs" / "b" / "b.2.log").exists()  # B[2] never started
