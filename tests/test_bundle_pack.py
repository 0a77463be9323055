"""A packed task (templates/common/pack.sh.j2) run by hand with bash, as SLURM or LSF would
run it: its jobs one after another, one marker, start marker, log and command script each; a
failing job fails only itself (its pack-mates run and keep their outputs) and the task exits
1 so that what waits for it waits for every job of it; a cancel file skips a job; a retry's
script runs exactly one job of the pack; a signal stops the running job and removes its
outputs. A task with the cores of several jobs runs that many at once, with the same
guarantees; directory(), protected() and touch() outputs are handled in a pack as in an
unpacked task. No cluster needed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from rulec.cli import main
from helpers import SLASHED  # (a job id with a /: its markers named as its default log)

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


def project(tmp_path: Path, *flags: str, backend: str = "slurm", pack: str = "5", rulefile: str = RULEFILE,
            profile: str | None = None) -> Path:
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "Rulefile").write_text(rulefile)
    for flag in flags:
        (proj / flag).write_text("")
    args = ["emit", f"--{backend}", str(proj), "-o", str(proj / "bundle"), "-q", "--pack", pack]
    if profile is not None:
        (proj / "cluster.toml").write_text(profile)
        args += ["--profile", str(proj / "cluster.toml")]
    assert main(args) == 0
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
    return {x: (bundle / "status" / f"{rule}.{x}.rc").read_text().strip()
            for x in "abcde" if (bundle / "status" / f"{rule}.{x}.rc").exists()}


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
        started = int((bundle / "status" / f"make.{x}.start").read_text())
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
    assert markers(proj / "bundle") == {"a": "0", "b": "256", "c": "0", "d": "0", "e": "0"}  # exit 0 without its output: 256, no exit status
    assert "make[b] exited 0 but did not create mid/b.txt" in res.stdout


def test_packs_split_the_table_and_a_cancel_file_skips_a_job(tmp_path):
    proj = project(tmp_path, pack="2")
    bundle = proj / "bundle"
    assert json.loads((bundle / "manifest.json").read_text())["arrays"][0]["size"] == 3  # 2 + 2 + 1
    (bundle / "status").mkdir(exist_ok=True)
    (bundle / "status" / "make.d.cancel").write_text("cancelled\n")
    assert run_task(bundle, "make", 2).returncode == 0  # task 2: line 4 alone
    assert markers(bundle) == {"e": "0"}
    res = run_task(bundle, "make", 1)  # task 1: lines 2 and 3, d cancelled
    assert res.returncode == 1 and "make[d] cancelled: not started" in res.stdout
    assert markers(bundle) == {"c": "0", "e": "0"}
    assert not (bundle / "status" / "make.d.start").exists() and not (proj / "mid" / "d.txt").exists()
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
    start = bundle / "status" / "make.c.start"
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
    assert not (bundle / "status" / "make.d.start").exists()


# --------------------------------------------------------------------------- several at once

WIDE = """
[slurm.rules.make]
cpus_per_task = 2
[lsf.rules.make]
n = 2
"""

TIMED = RULEFILE.replace("""        if [ -e slow_{x} ]; then sleep 30; fi""", """        date +%s.%N > times/{x}
        if [ -e slow_{x} ]; then sleep 30; fi
        sleep 1.5
        date +%s.%N >> times/{x}""")


def intervals(proj: Path, names: str) -> dict[str, tuple[float, float]]:
    out = {}
    for x in names:
        lines = (proj / "times" / x).read_text().split()
        out[x] = (float(lines[0]), float(lines[-1]))
    return out


def overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


@pytest.mark.parametrize("backend", ["slurm", "lsf"])
def test_a_task_with_the_cores_of_two_jobs_runs_two_at_once_and_a_failure_stays_its_own(tmp_path, backend):
    proj = project(tmp_path, "fail_c", backend=backend, rulefile=TIMED, profile=WIDE)
    (proj / "times").mkdir()
    bundle = proj / "bundle"
    script = (bundle / f"make.{'sbatch' if backend == 'slurm' else 'lsf'}").read_text()
    wanted = ["#SBATCH --cpus-per-task=2\n"] if backend == "slurm" else ["#BSUB -n 2\n", '#BSUB -R "span[hosts=1]"\n']
    assert all(line in script for line in wanted)
    assert "\nwidth=2  # jobs run at once\n" in script and "2 at a time" in script
    res = run_task(bundle, "make", 0, backend)
    assert res.returncode == 1, res.stdout + res.stderr  # make[c] failed: so does its task
    assert markers(bundle) == {"a": "0", "b": "0", "c": "3", "d": "0", "e": "0"}
    assert sorted(p.name for p in (proj / "mid").iterdir()) == ["a.txt", "b.txt", "d.txt", "e.txt"]
    assert "failing on purpose" in (proj / ".rulec" / "logs" / "make" / "make.c.log").read_text()
    for x in "abde":
        assert (proj / "mid" / f"{x}.txt").read_text() == f"made {x}\n"
        assert (proj / ".rulec" / "logs" / "make" / f"make.{x}.log").read_text() == f"log of {x}\n"
    t = intervals(proj, "abde")
    assert overlap(t["a"], t["b"]), t  # two at once...
    assert not overlap(t["a"], t["e"]) and not overlap(t["b"], t["e"]), t  # ...and never more than two
    starts = {x: int((bundle / "status" / f"make.{x}.start").read_text()) for x in "abcde"}
    assert abs(starts["a"] - starts["b"]) <= 1
    said = [line.split()[1] for line in res.stdout.splitlines() if " (line " in line]
    assert said == [f"make[{x}]" for x in "abcde"]  # started in table order
    assert run_task(bundle, "use", 0, backend).returncode == 1  # use[c] lacks its input
    assert markers(bundle, "use") == {"a": "0", "b": "0", "c": "1", "d": "0", "e": "0"}


def test_two_at_once_a_job_without_its_output_and_a_cancel_file_fail_alone(tmp_path):
    proj = project(tmp_path, "nothing_b", rulefile=TIMED, profile=WIDE)
    (proj / "times").mkdir()
    bundle = proj / "bundle"
    (bundle / "status").mkdir(exist_ok=True)
    (bundle / "status" / "make.d.cancel").write_text("cancelled\n")
    res = run_task(bundle, "make", 0)
    assert res.returncode == 1
    assert markers(bundle) == {"a": "0", "b": "256", "c": "0", "e": "0"}
    assert "make[b] exited 0 but did not create mid/b.txt" in res.stdout
    assert "make[d] cancelled: not started" in res.stdout and not (bundle / "status" / "make.d.start").exists()


def test_two_at_once_a_signal_stops_both_running_jobs_removes_their_outputs_and_starts_no_other(tmp_path):
    proj = project(tmp_path, "slow_b", "slow_c", rulefile=TIMED, profile=WIDE)
    (proj / "times").mkdir()
    bundle = proj / "bundle"
    proc = run_task(bundle, "make", 0, wait=False)
    started = [bundle / "status" / f"make.{x}.start" for x in "bc"]
    deadline = time.monotonic() + 20
    while not all(p.exists() for p in started) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(p.exists() for p in started)
    time.sleep(0.3)
    for x in "bc":
        (proj / "mid" / f"{x}.txt").write_text("partial")  # what the killed commands had written
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 143, out
    assert "make[b] stopped by a signal; its outputs were removed" in out
    assert "make[c] stopped by a signal; its outputs were removed" in out
    assert "task 0 of make stopped by a signal" in out
    assert markers(bundle) == {"a": "0"}  # no marker for the stopped ones: the scheduler stopped them
    assert sorted(p.name for p in (proj / "mid").iterdir()) == ["a.txt"]
    assert not (bundle / "status" / "make.d.start").exists() and not (bundle / "status" / "make.e.start").exists()
    _kill_sleepers(proj)


def _kill_sleepers(proj: Path) -> None:
    """The killed commands' own children (sleep 30) outlive them here; on a cluster the
    scheduler ends every process of the task."""
    res = subprocess.run(["pgrep", "-f", "sleep 30"], capture_output=True, text=True)
    for pid in res.stdout.split():
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if cwd == str(proj):
            os.kill(int(pid), signal.SIGTERM)


# --------------------------------------------------------------------------- output kinds

KINDS = """
dimension x = ["a", "b", "c"]

rule all:
    input: expand("idx/{x}"), expand("model/{x}.txt"), expand("flag/{x}.done")

rule index:
    output: directory("idx/{x}")
    shell: \"\"\"
        if [ -e broken_{x} ]; then touch {output}; exit 0; fi
        mkdir -p {output}/sub && echo {x} > {output}/sub/name
    \"\"\"

rule model:
    output: protected("model/{x}.txt")
    shell: "echo model {x} > {output}"

rule flag:
    output: touch("flag/{x}.done")
    shell: "if [ -e fail_{x} ]; then exit 4; fi; echo flagged {x}"
"""

KINDS_WIDE = """
[slurm]
cpus_per_task = 2
"""


@pytest.mark.parametrize("wide", [False, True], ids=["one-at-a-time", "two-at-once"])
def test_directory_outputs_in_a_pack_stale_folders_go_first_and_a_job_must_leave_a_folder(tmp_path, wide):
    proj = project(tmp_path, "broken_b", rulefile=KINDS, pack="3", profile=KINDS_WIDE if wide else None)
    bundle = proj / "bundle"
    assert json.loads((bundle / "manifest.json").read_text())["arrays"][0]["pack"] == 3
    (proj / "idx" / "a" / "old").mkdir(parents=True)  # an earlier run's folder, with a file in it
    (proj / "idx" / "a" / "old" / "left").write_text("stale")
    res = run_task(bundle, "index", 0)
    assert res.returncode == 1, res.stdout + res.stderr
    assert markers(bundle, "index") == {"a": "0", "b": "256", "c": "0"}
    assert sorted(str(p.relative_to(proj / "idx")) for p in (proj / "idx").rglob("*")) == [
        "a", "a/sub", "a/sub/name", "c", "c/sub", "c/sub/name"]  # the stale folder gone; b's file removed
    assert "rulec: index[b] exited 0 but did not create the folder idx/b" in res.stdout
    assert "did not create the folder idx/b" in (proj / ".rulec" / "logs" / "index" / "index.b.log").read_text()


@pytest.mark.parametrize("wide", [False, True], ids=["one-at-a-time", "two-at-once"])
def test_protected_outputs_in_a_pack_become_read_only_and_a_read_only_one_is_not_replaced(tmp_path, wide):
    proj = project(tmp_path, rulefile=KINDS, pack="3", profile=KINDS_WIDE if wide else None)
    bundle = proj / "bundle"
    (proj / "model").mkdir()
    kept = proj / "model" / "b.txt"
    kept.write_text("an earlier model\n")
    kept.chmod(0o444)
    (proj / "model" / "c.txt").write_text("writable: replaced\n")
    res = run_task(bundle, "model", 0)
    assert res.returncode == 1, res.stdout + res.stderr
    assert markers(bundle, "model") == {"a": "0", "b": "1", "c": "0"}
    assert (f"rulec: model[b]: model/b.txt is protected (protected() in {proj / 'Rulefile'}:15:13): not replacing it; "
            "delete it or make it writable (chmod u+w) to run the job") in res.stdout
    assert kept.read_text() == "an earlier model\n"  # not run, not removed
    assert not (bundle / "status" / "model.b.start").exists()
    for x in "ac":
        out = proj / "model" / f"{x}.txt"
        assert out.read_text() == f"model {x}\n"
        assert not out.stat().st_mode & 0o222  # read-only, made so by the task
    kept.chmod(0o644)  # made writable: the next run replaces it (and protects it); a and c are protected now
    res = run_task(bundle, "model", 0)
    assert res.returncode == 1 and markers(bundle, "model") == {"a": "1", "b": "0", "c": "1"}
    assert kept.read_text() == "model b\n" and not kept.stat().st_mode & 0o222
    assert "rulec: model[c]: model/c.txt is protected" in res.stdout


@pytest.mark.parametrize("wide", [False, True], ids=["one-at-a-time", "two-at-once"])
def test_touch_outputs_in_a_pack_are_made_by_the_task_after_exit_0_only(tmp_path, wide):
    proj = project(tmp_path, "fail_b", rulefile=KINDS, pack="3", profile=KINDS_WIDE if wide else None)
    bundle = proj / "bundle"
    (proj / "flag").mkdir()
    (proj / "flag" / "b.done").write_text("")  # an earlier run's marker: gone before the job runs
    res = run_task(bundle, "flag", 0)
    assert res.returncode == 1, res.stdout + res.stderr
    assert markers(bundle, "flag") == {"a": "0", "b": "4", "c": "0"}
    assert sorted(p.name for p in (proj / "flag").iterdir()) == ["a.done", "c.done"]
    assert (proj / ".rulec" / "logs" / "flag" / "flag.a.log").read_text() == "flagged a\n"




@pytest.mark.parametrize("backend", ["slurm", "lsf"])
@pytest.mark.parametrize("profile", [None, WIDE], ids=["one-at-a-time", "two-at-once"])
def test_a_job_id_with_a_slash_gets_its_markers_in_status_named_as_its_default_log(tmp_path, backend, profile):
    """A value with a '/' (a glob() dimension's sub/x): the job's markers are named as its
    default log is (make.sub%2Fx.rc), so they make no folder; its cancel file is found by the
    same name; the manifest and the task table say that name."""
    proj = project(tmp_path, backend=backend, pack="3", rulefile=SLASHED, profile=profile)
    bundle = proj / "bundle"
    m = json.loads((bundle / "manifest.json").read_text())
    assert m["jobs"]["make[sub/x]"]["marker"] == "status/make.sub%2Fx.rc"
    res = run_task(bundle, "make", 0, backend)
    assert res.returncode == 1, res.stdout + res.stderr  # make[a] failed
    status = bundle / "status"
    assert sorted(p.name for p in status.iterdir()) == [
        "make.a.rc", "make.a.start", "make.b.rc", "make.b.start", "make.sub%2Fx.rc", "make.sub%2Fx.start"]
    assert (status / "make.sub%2Fx.rc").read_text() == "0\n" and (proj / "out" / "sub" / "x.txt").read_text() == "sub/x\n"
    # a cancel file by that name skips the job
    (status / "make.sub%2Fx.cancel").write_text("cancelled\n")
    res = run_task(bundle, "make", 0, backend)
    assert "make[sub/x] cancelled: not started" in res.stdout
    assert not (status / "make.sub%2Fx.start").exists() and not (status / "make.sub%2Fx.rc").exists()
