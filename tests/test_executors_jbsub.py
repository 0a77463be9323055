"""``rulec run --executor jbsub`` end to end, through the stand-in ``jbsub`` / ``bkill`` of
tests/stand-ins/jbsub (shell scripts that follow jbsub's documented behaviour and run each
job on this machine, in a session of its own, as a cluster node would; they are not IBM's
jbsub). The stand-in logs every submission, end and kill with a time stamp."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import workflow
from rulec.executors import jbsub as jbsub_executor
from rulec.profile import EMPTY

STAND_INS = Path(__file__).resolve().parent / "stand-ins" / "jbsub"
RULEC = [sys.executable, "-m", "rulec"]


@pytest.fixture
def env(tmp_path):
    state = tmp_path / "jbsub-state"
    out = dict(os.environ, NO_COLOR="1", COLUMNS="200", PYTHONUNBUFFERED="1",
               PATH=f"{STAND_INS}{os.pathsep}{os.environ['PATH']}", JBSUB_STANDIN_DIR=str(state))
    out.pop("RULEC_PROFILE", None)
    yield out
    for pid_file in state.glob("*.pid") if state.is_dir() else ():  # nothing may outlive a test
        try:
            os.killpg(int(pid_file.read_text()), signal.SIGKILL)
        except (ProcessLookupError, PermissionError, ValueError):
            pass


def rulec(cwd, env, *args, timeout=120):
    return subprocess.run(RULEC + list(args), cwd=str(cwd), env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def events(env) -> list[list[str]]:
    log = Path(env["JBSUB_STANDIN_DIR"]) / "log"
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


def submitted(env) -> dict[str, list[str]]:
    """job name -> its submit line."""
    return {e[2]: e for e in events(env) if e[0] == "submit"}


PIPELINE = '''
label big:
    jbsub: "-queue x86_24h -require a100"

rule all:
    input: "bld/b.txt", "bld/c.txt"

rule a:
    output:    "bld/a.txt"
    resources: cpus=2, mem="3G", time="2h"
    shell:     "echo made-a > {output}; echo a-says-hi"

rule b:
    input:  "bld/a.txt"
    output: "bld/b.txt"
    label:  big
    shell:  "cat {input} > {output}; echo $LSB_JOBID >> {output}"

rule c:
    output: "bld/c.txt"
    shell:  "echo c > {output}"
'''


def test_pipeline_runs_through_jbsub_wait(tmp_path, env):
    (tmp_path / "Rulefile").write_text(PIPELINE)
    res = rulec(tmp_path, env, "run", "--executor", "jbsub", "-j4")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Done: 3 job(s) ran on jbsub." in res.stdout
    subs = submitted(env)
    assert sorted(subs) == ["a", "b", "c"]
    # flags from the resources, as the jbsub bundle makes them; the label's flags win
    assert " ".join(subs["a"][4:]) == "-cores 2 -mem 3g -queue x86_6h"
    assert " ".join(subs["b"][4:]) == "-cores 1 -queue x86_24h -require a100"
    assert (tmp_path / "bld/b.txt").read_text().splitlines() == ["made-a", subs["b"][1]]  # ran as that cluster job
    # the job's output went to its log through -out/-err; jbsub's own words did not
    log = next(tmp_path.rglob("a.log")).read_text()
    assert log == "a-says-hi\n"
    assert all(e[0] != "kill" for e in events(env))
    again = rulec(tmp_path, env, "run", "--executor", "jbsub")
    assert again.returncode == 0 and "Nothing to do" in again.stdout


def test_a_job_starts_when_its_own_dependencies_end_not_per_wave(tmp_path, env):
    (tmp_path / "Rulefile").write_text('''
rule all:
    input: "slow2.txt", "fast2.txt"

rule slow1:
    output: "slow1.txt"
    shell:  "sleep 2; touch {output}"

rule slow2:
    input:  "slow1.txt"
    output: "slow2.txt"
    shell:  "touch {output}"

rule fast1:
    output: "fast1.txt"
    shell:  "touch {output}"

rule fast2:
    input:  "fast1.txt"
    output: "fast2.txt"
    shell:  "touch {output}"
''')
    res = rulec(tmp_path, env, "run", "--executor", "jbsub", "-j4")
    assert res.returncode == 0, res.stdout + res.stderr
    subs = submitted(env)
    ends = {e[1]: int(e[3]) for e in events(env) if e[0] == "end"}
    slow1_end = ends[subs["slow1"][1]]
    assert int(subs["fast2"][3]) < slow1_end  # fast2 (depth 1) did not wait for slow1 (depth 0)
    assert int(subs["slow2"][3]) >= slow1_end


def test_failing_job_exits_1_and_skips_its_dependents(tmp_path, env):
    (tmp_path / "Rulefile").write_text('''
rule all:
    input: "b.txt", "c.txt"

rule a:
    output: "a.txt"
    shell:  "echo broken >&2; exit 3"

rule b:
    input:  "a.txt"
    output: "b.txt"
    shell:  "touch {output}"

rule c:
    output: "c.txt"
    shell:  "touch {output}"
''')
    res = rulec(tmp_path, env, "run", "--executor", "jbsub", "--keep-going")
    assert res.returncode == 1, res.stdout + res.stderr
    subs = submitted(env)
    assert "b" not in subs and "a" in subs and "c" in subs
    assert not (tmp_path / "b.txt").exists() and (tmp_path / "c.txt").exists()
    assert "exit status 3" in res.stdout + res.stderr
    assert f"jbsub job {subs['a'][1]}" in res.stdout + res.stderr
    assert "broken" in next(tmp_path.rglob("a.log")).read_text()


def test_ctrl_c_kills_the_cluster_job(tmp_path, env):
    (tmp_path / "Rulefile").write_text('''
rule long:
    output: "long.txt"
    shell:  "sleep 60; touch {output}"
''')
    p = subprocess.Popen(RULEC + ["run", "--executor", "jbsub"], cwd=str(tmp_path), env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        state = Path(env["JBSUB_STANDIN_DIR"])
        deadline = time.monotonic() + 30
        while not list(state.glob("*.pid")) and time.monotonic() < deadline:
            time.sleep(0.05)
        pid_file = next(state.glob("*.pid"))
        time.sleep(0.2)
        remote = int(pid_file.read_text())
        os.kill(remote, 0)  # the cluster job runs
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 130, out + err
    rid = pid_file.stem
    assert ["kill", rid] == [e[:2] for e in events(env) if e[0] == "kill"][0]
    with pytest.raises(ProcessLookupError):
        for _ in range(50):
            os.killpg(remote, 0)
            time.sleep(0.1)
    assert not (tmp_path / "long.txt").exists()


def test_refused_when_jbsub_is_not_on_path(tmp_path, env):
    env = dict(env, PATH=os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p))
    if shutil.which("jbsub", path=env["PATH"]):
        pytest.skip("a jbsub is installed here")
    (tmp_path / "Rulefile").write_text('rule a:\n    output: "a.txt"\n    shell: "touch {output}"\n')
    res = rulec(tmp_path, env, "run", "--executor", "jbsub")
    assert res.returncode != 0
    assert "jbsub is not on PATH" in res.stderr
    assert not (tmp_path / "a.txt").exists()


def test_rule_flags_are_the_bundles():
    wf = workflow('''
label gpu:
    jbsub: "-cores 4+1 -mem 16g"

rule r:
    output:    "o"
    resources: cpus=2, time="20h"
    label:     gpu
    shell:     "x"
''')
    assert jbsub_executor.rule_flags(wf.rules[0], wf, EMPTY) == ("-queue", "x86_24h", "-cores", "4+1", "-mem", "16g")


def test_this_machines_memory_and_gpus_do_not_bound_jbsub_jobs(tmp_path, env):
    """The jobs run on cluster nodes: a rule asking for more memory and GPUs than this machine
    has is not refused (its request becomes jbsub's flags)."""
    (tmp_path / "Rulefile").write_text(
        'rule all:\n    input: "bld/big.txt"\n\n'
        'rule big:\n    output: "bld/big.txt"\n    resources: mem="100000G", gpus=2\n    shell: "echo big > {output}"\n')
    res = rulec(tmp_path, env, "run", "--executor", "jbsub")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "-mem 100000g" in " ".join(submitted(env)["big"])


def test_a_local_rule_runs_here_without_jbsub(tmp_path, env):
    (tmp_path / "Rulefile").write_text(PIPELINE.replace('    label:  big\n', '    label:  big\n    local:  true\n')
                                       .replace("$LSB_JOBID", "${{LSB_JOBID:-here}}"))
    res = rulec(tmp_path, env, "run", "--executor", "jbsub", "-j4")
    assert res.returncode == 0, res.stdout + res.stderr
    assert sorted(submitted(env)) == ["a", "c"]  # b is local: never submitted
    assert (tmp_path / "bld/b.txt").read_text().splitlines() == ["made-a", "here"]  # not in a cluster job
    assert "Done: 3 job(s) ran on jbsub." in res.stdout


def test_a_profiles_env_reaches_the_jobs_and_a_change_reruns_them(tmp_path, env):
    (tmp_path / "Rulefile").write_text('''
rule all:
    input: "bld/tool.txt", "bld/plain.txt"

label java:
    env: JAVA_HOME="/opt/java8"

rule tool:
    output: "bld/tool.txt"
    label:  java
    shell:  "echo $JAVA_HOME $OMP_NUM_THREADS > {output}"

rule plain:
    output: "bld/plain.txt"
    shell:  "echo ${{OMP_NUM_THREADS:-unset}} > {output}"
''')
    profile = tmp_path / "cluster.toml"
    profile.write_text('[jbsub.labels.java.env]\nJAVA_HOME = "/opt/java 11"\nOMP_NUM_THREADS = 4\n')
    res = rulec(tmp_path, env, "run", "--executor", "jbsub", "--profile", str(profile))
    assert res.returncode == 0, res.stdout + res.stderr
    assert (tmp_path / "bld/tool.txt").read_text() == "/opt/java 11 4\n"  # the profile wins over the label
    assert (tmp_path / "bld/plain.txt").read_text() == "unset\n"  # only the label's rules
    again = rulec(tmp_path, env, "run", "--executor", "jbsub", "--profile", str(profile))
    assert again.returncode == 0 and "Nothing to do" in again.stdout, again.stdout + again.stderr
    profile.write_text('[jbsub.labels.java.env]\nJAVA_HOME = "/opt/java 11"\nOMP_NUM_THREADS = 8\n')
    plan = rulec(tmp_path, env, "run", "--executor", "jbsub", "--profile", str(profile), "--why")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "environment changed: OMP_NUM_THREADS" in plan.stdout
    assert "[1/1] done tool" in plan.stdout and "done plain" not in plan.stdout  # only the env's jobs
    assert (tmp_path / "bld/tool.txt").read_text() == "/opt/java 11 8\n"


@pytest.mark.parametrize("table", ["[jbsub]", "[jbsub.labels.big]", "[jbsub.rules.b]"])
def test_a_profile_limit_a_jbsub_run_cannot_honour_is_refused(tmp_path, env, table):
    """`limit` in a [jbsub] table is the emitted bundle's; a run from rulec takes -j and the
    Rulefile's label limits: accepted, it would be ignored."""
    (tmp_path / "Rulefile").write_text(PIPELINE)
    profile = tmp_path / "cluster.toml"
    profile.write_text(f"{table}\nlimit = 2\n")
    res = rulec(tmp_path, env, "run", "--executor", "jbsub", "--profile", str(profile))
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"{table}: limit is for `rulec emit --jbsub` bundles" in res.stderr and "Traceback" not in res.stderr
    assert events(env) == [] and not (tmp_path / "bld").exists()
