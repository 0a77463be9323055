"""``rulec run --executor lsf``: the parsers of bsub's and bjobs' output on samples of their
documented forms, and end-to-end runs through the stand-in bsub/bjobs/bkill of
tests/stand-ins/lsf/ (they follow the documented output of the LSF commands and run the jobs
on this machine; they are not LSF, which cannot be installed here)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import gate
from rulec.bundle.files import marker_name
from rulec.executors.lsf import Row, parse_bjobs, parse_bsub

STAND_INS = Path(__file__).parent / "stand-ins" / "lsf"

RULEFILE = '''
dimension dataset = ["d0", "d1", "d2"]
dimension model = ["m0", "m1"]

rule all:
    input: expand("out/{model}.txt")

rule prepare:
    output: "data/{dataset}.txt"
    shell: "if [ -e slow ]; then sleep 30; fi; echo data {dataset} > {output}"

rule fit:
    input: "data/{dataset}.txt"
    output: "fit/{dataset}_{model}.txt"
    log: "logs/fit/{dataset}_{model}.log"
    shell: """
        cat {input} > {output}
        echo fitted {model} >> {output}
        echo "log line for {dataset} {model}"
        if [ -e fail_{dataset}_{model} ]; then echo failing on purpose; exit 3; fi
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

ALL = 17


# --------------------------------------------------------------------------- parsers

def test_bsub_job_id():
    assert parse_bsub("Job <1234> is submitted to queue <normal>.\n") == "1234"
    assert parse_bsub("Job <42> is submitted to default queue <normal>.") == "42"
    text = "Warning: project x is not valid.\nJob <7> is submitted to queue <gpu>.\n"
    assert parse_bsub(text) == "7"
    assert parse_bsub("Bad resource requirement syntax. Job not submitted.") is None
    assert parse_bsub("") is None


def test_bjobs_rows():
    text = ("1234|1|DONE|-\n"
            "1234|2|EXIT|3\n"
            "1234|3|RUN|-\n"
            "1234|4|PEND|-\n"
            "99|0|DONE|\n"
            "Job <555> is not found\n"
            "JOBID|JOBINDEX|STAT|EXIT_CODE\n"
            "\n")
    assert parse_bjobs(text) == [
        Row("1234", 1, "DONE", None), Row("1234", 2, "EXIT", 3), Row("1234", 3, "RUN", None),
        Row("1234", 4, "PEND", None), Row("99", 0, "DONE", None),
    ]


def test_bjobs_rows_with_padding_and_lower_case():
    assert parse_bjobs(" 1234 | 10 | exit | 130 ") == [Row("1234", 10, "EXIT", 130)]


# --------------------------------------------------------------------------- end to end

@pytest.fixture
def lsf(tmp_path):
    state = tmp_path / "lsf-state"
    env = {**os.environ, "PATH": f"{STAND_INS}{os.pathsep}{os.environ['PATH']}",
           "RULEC_LSF_STANDIN_DIR": str(state), "PYTHONPATH": str(Path(__file__).parent.parent)}
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "Rulefile").write_text(RULEFILE)
    return proj, env, state


def rulec(proj, env, *args, timeout=60):
    return subprocess.run([sys.executable, "-m", "rulec", *args], cwd=proj, env=env,
                          capture_output=True, text=True, timeout=timeout)


# Jobs a killed rulec left running stay running until the next run has re-attached them
# (``go`` in the project: see rulec_then_go), however slow the machine.
GATE = gate()


def rulec_then_go(proj, env, *args, timeout=60):
    """``rulec`` with ``args``; once it has said it re-attached the dead run's jobs (or has
    said all it will), the gated jobs may end (``GATE``)."""
    with open(proj / "stderr.txt", "w+") as err:
        proc = subprocess.Popen([sys.executable, "-m", "rulec", *args], cwd=proj, env=env,
                                stdout=subprocess.PIPE, stderr=err, text=True)
        lines = []
        try:
            for line in proc.stdout:
                lines.append(line)
                if line.startswith("re-attached "):
                    break
            (proj / "go").touch()
            rest, _ = proc.communicate(timeout=timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        err.seek(0)
        return subprocess.CompletedProcess(proc.args, proc.returncode, "".join(lines) + rest, err.read())


def calls(state, command):
    lines = (state / "calls.log").read_text().splitlines() if (state / "calls.log").exists() else []
    return [line.split("\t")[1:] for line in lines if line.split("\t")[0] == command]


def jobids(proj, n=1):
    text = (proj / ".rulec" / "lsf" / str(n) / "jobids").read_text()
    return dict(line.split() for line in text.splitlines())


def recorded(proj):
    from rulec.history import History

    h = History.open(str(proj))
    try:
        return sorted(j for j, rec in h.records().items() if rec[2] == "ok")
    finally:
        h.close()


def history_of(proj):
    """The recorded runs, oldest first."""
    from rulec.history import History

    h = History.open(str(proj))
    try:
        return h.runs()
    finally:
        h.close()


def attempts_of(proj, run_id):
    from rulec.history import History

    h = History.open(str(proj))
    try:
        return h.attempts([run_id])
    finally:
        h.close()


def test_a_pipeline_runs_on_lsf_and_is_then_up_to_date(lsf):
    proj, env, state = lsf
    res = rulec(proj, env, "run", "--executor", "lsf", "--poll", "0.05")
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"Done: {ALL} job(s) ran on lsf." in res.stdout
    for m in ("m0", "m1"):
        assert (proj / "out" / f"{m}.txt").read_text() == "2\n2\n2\n"
    assert (proj / "fit" / "d1_m0.txt").read_text() == "data d1\nfitted m0\n"
    assert (proj / "logs" / "fit" / "d1_m0.log").read_text() == "log line for d1 m0\n"
    assert len(recorded(proj)) == ALL
    # one bsub per array, in dependency order, with the bundle's dependencies
    ids = jobids(proj)
    assert list(ids) == ["prepare", "fit", "score", "summarize"]
    subs = calls(state, "bsub")
    assert subs == [[], ["-ti", "-w", f"done({ids['prepare']})"], ["-ti", "-w", f"done({ids['fit']}[*])"],
                    ["-ti", "-w", f"done({ids['score']})"]]
    # every poll is one bjobs for the run's ids
    polls = calls(state, "bjobs")
    assert polls and all(p[:4] == ["-a", "-noheader", "-o", "jobid jobindex stat exit_code exec_host delimiter='|'"] for p in polls)
    assert set(polls[0][4:]) <= set(ids.values())
    assert calls(state, "bkill") == []
    res = rulec(proj, env, "dryrun")
    assert "Nothing to do" in res.stdout, res.stdout


def test_a_failure_exits_1_skips_its_dependents_and_the_rerun_does_the_rest(lsf):
    proj, env, state = lsf
    (proj / "fail_d1_m0").write_text("")
    res = rulec(proj, env, "run", "--executor", "lsf", "--poll", "0.05")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "fit[d1,m0]: exit status 3" in res.stderr
    assert "failing on purpose" in res.stderr  # the log's last lines
    assert not (proj / "fit" / "d1_m0.txt").exists()  # removed by the task
    assert not (proj / "score" / "d1_m0.txt").exists()  # its dependents never ran
    assert not (proj / "out" / "m0.txt").exists()
    done = recorded(proj)
    assert "fit[d1,m0]" not in done and "score[d1,m0]" not in done and "summarize[m0]" not in done
    # what the run cancelled, it bkilled by task id (ID[index]) only
    ids = set(jobids(proj).values())
    for call in calls(state, "bkill"):
        assert call and all(c.split("[")[0] in ids and c.endswith("]") for c in call)
    os.unlink(proj / "fail_d1_m0")
    res = rulec(proj, env, "run", "--executor", "lsf", "--poll", "0.05")
    assert res.returncode == 0, res.stdout + res.stderr
    # jobs the first run bkilled as not started may have ended DONE on LSF meanwhile (the
    # stand-in's tasks take no time): the rerun adopts those instead of running them again
    import re

    adopted = re.search(r"adopted \S+ of the previous run: (\d+) job\(s\) done there recorded", res.stdout)
    ran = int(re.search(r"Done: (\d+) job\(s\) ran on lsf\.", res.stdout).group(1))
    assert ran + (int(adopted.group(1)) if adopted else 0) == ALL - len(done), res.stdout
    assert sorted(recorded(proj)) == sorted(set(recorded(proj)))
    assert len(recorded(proj)) == ALL
    assert (proj / "out" / "m0.txt").read_text() == "2\n2\n2\n"
    assert "Nothing to do" in rulec(proj, env, "dryrun").stdout


def test_ctrl_c_bkills_exactly_its_ids_and_exits_130(lsf):
    proj, env, state = lsf
    (proj / "slow").write_text("")
    # another user's job, which must not be touched
    other = subprocess.run(["bsub", "-J", "other", "sleep", "20"], env=env, capture_output=True, text=True, cwd=proj)
    other_id = parse_bsub(other.stdout)
    assert other_id
    proc = subprocess.Popen([sys.executable, "-m", "rulec", "run", "--executor", "lsf", "--poll", "0.05"],
                            cwd=proj, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # until the prepare tasks run
            if list((proj / ".rulec" / "lsf" / "1" / "logs").glob("prepare_*")) if (proj / ".rulec" / "lsf" / "1" / "logs").exists() else []:
                break
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out + err
    assert "interrupted" in err
    ids = jobids(proj)
    kills = calls(state, "bkill")
    assert kills == [list(ids.values())]  # exactly this run's arrays, once
    assert other_id not in kills[0]
    # the stand-in says the run's jobs are over, the other one is not
    res = subprocess.run(["bjobs", "-a", "-noheader", "-o", "jobid stat delimiter='|'", *ids.values(), other_id],
                         env=env, capture_output=True, text=True)
    stats = {}
    for line in res.stdout.splitlines():
        jid, stat = line.split("|")
        stats.setdefault(jid, set()).add(stat)
    assert all(stats[i] <= {"EXIT", "DONE"} for i in ids.values()), stats
    assert stats[other_id] <= {"RUN", "PEND"}
    subprocess.run(["bkill", other_id], env=env, capture_output=True)
    assert recorded(proj) == []
    assert not list((proj / "data").glob("*")) if (proj / "data").exists() else True


def test_missing_lsf_commands_are_named_before_anything_is_submitted(lsf, tmp_path):
    proj, env, state = lsf
    bin_dir = tmp_path / "only-bsub"
    bin_dir.mkdir()
    (bin_dir / "bsub").symlink_to(STAND_INS / "bsub")
    env = {**env, "PATH": f"{bin_dir}{os.pathsep}{os.path.dirname(sys.executable)}{os.pathsep}/usr/bin:/bin"}
    res = rulec(proj, env, "run", "--executor", "lsf")
    assert res.returncode != 0
    assert "bjobs, bkill" in res.stderr and "nothing was submitted" in res.stderr
    assert calls(state, "bsub") == []
    assert recorded(proj) == []


# --------------------------------------------------------------------------- retries

RETRY_RULEFILE = '''\
dimension n = ["a", "b"]

rule all:
    input: "out.txt"

rule flaky:
    output: "f/{n}.txt"
    retries: 1
    resources: cpus=1, mem="100M*{attempt}", time="5m*{attempt}"
    shell: """
        echo "{attempt}" >> tries_{n}.txt
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


def test_a_job_failing_once_is_resubmitted_with_more_memory_and_its_dependents_follow(lsf):
    proj, env, state = lsf
    (proj / "Rulefile").write_text(RETRY_RULEFILE)
    res = rulec(proj, env, "run", "--executor", "lsf", "--poll", "0.05")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "retrying flaky[a] (attempt 2 of 2)" in res.stdout + res.stderr
    assert "flaky[a] succeeded on attempt 2" in res.stdout
    assert "Done: 5 job(s) ran on lsf." in res.stdout
    assert (proj / "tries_a.txt").read_text() == "1\n2\n" and (proj / "tries_b.txt").read_text() == "1\n"
    assert (proj / "s" / "a.txt").read_text() == "a 2\n"
    assert (proj / "out.txt").read_text() == "a 2\nb 1\n"
    subs = calls(state, "bsub")
    ids = jobids(proj)
    # the three arrays, then flaky[a] alone with twice the memory and time, then the
    # dependents -ti ended, each waiting for what it needs
    assert subs[3] == ["-J", "rulec-flaky[1]", "-R", "rusage[mem=200]", "-M", "200", "-W", "0:10"]
    assert ids["flaky_1"] != ids["flaky"]
    later = [s for s in subs[4:]]
    # score[a] waits for the retried flaky[a], unless that had already ended when score[a]
    # was seen ended by -ti (a loaded machine): then it needs no wait
    score = [s for s in later if s[:2] == ["-J", "rulec-score[1]"]]
    assert score in ([["-J", "rulec-score[1]", "-ti", "-w", f"done({ids['flaky_1']}[1])"]], [["-J", "rulec-score[1]"]]), later
    assert any(s[:2] == ["-J", "rulec-summarize[1]"] and f"done({ids['score_1']}[1])" in s[-1] for s in later)
    assert len(recorded(proj)) == 5


def test_bjobs_failing_is_said_every_30_s_and_its_recovery_too(tmp_path):
    """bjobs failing (a scripted Lsf): one line at once, then at most every 30 s, and one when
    it answers again."""
    from rulec import profile as prof
    from rulec.analyze import analyze
    from rulec.bundle import files as bundle_mod
    from rulec.dag import resolve
    from rulec.executors.lsf import LsfExecutor
    from rulec.history import History
    from rulec.plan import plan as make_plan
    from rulec.state import Snapshot
    from rulec.syntax import parse

    wf = analyze(parse('rule a:\n    output: "a.txt"\n    shell: "touch {output}"\n', "Rulefile"), str(tmp_path))
    graph = resolve(wf, (), exists=lambda p: False)
    history = History.open(str(tmp_path), write=True)
    try:
        plan = make_plan(graph, Snapshot({}), history)
        bundle = bundle_mod.build(graph, list(plan.run), "lsf", prof.EMPTY, str(tmp_path / "b"), 1000)
        now = [0.0]

        class FakeLsf:
            last_error = "LSF is down. Please wait ..."
            answers = [None] * 5

            def jobs(self, ids):
                now[0] += 10.0
                return self.answers.pop(0) if self.answers else []

        ex = LsfExecutor(bundle, FakeLsf(), 0.0, 0.0, sleep=lambda s: None, clock=lambda: now[0])
        ex.remaining = set(plan.run)
        ex.ids = {0: "7"}
        said = [[e.text for e in ex.wait() if hasattr(e, "text")] for _ in range(3)]
        why = "(LSF is down. Please wait ...), retrying"
        assert said[:2] == [[f"bjobs failing for 10 s {why}"], [f"bjobs failing for 40 s {why}"]]
        assert said[2][0] == "bjobs answers again (after 60 s)"
    finally:
        history.close()


def test_a_job_whose_host_is_out_of_contact_is_said_then_given_up_after_stuck_after(lsf):
    """UNKWN (mbatchd lost the job's host; the stand-in shows it while ``unreachable`` exists):
    a line naming the host at once, then after the profile's stuck_after the task is bkilled
    and reported as a node failure; rulec exits 1 instead of waiting for ever."""
    proj, env, state = lsf
    (proj / "Rulefile").write_text('rule slow:\n    output: "slow.txt"\n    shell: "sleep 60; touch {output}"\n')
    (proj / "p.toml").write_text("[lsf]\nstuck_after = 2\n")
    proc = subprocess.Popen([sys.executable, "-m", "rulec", "run", "--executor", "lsf", "--poll", "0.1", "--profile", "p.toml"],
                            cwd=proj, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not list((proj / ".rulec" / "lsf").glob("*/logs/*.out")):
            time.sleep(0.1)
        (state / "unreachable").write_text("")
        start = time.monotonic()
        out, _ = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, out
    assert time.monotonic() - start < 20
    assert "LSF lost contact with hostA (UNKWN); waiting up to 2 s" in out
    assert "hostA out of contact with LSF (UNKWN)" in out and "ended with bkill" in out
    assert calls(state, "bkill") == [[f"{jobids(proj)['slow']}"]] or calls(state, "bkill")[0][0].startswith(jobids(proj)["slow"])
    assert not (proj / "slow.txt").exists()


def test_after_a_sigkill_the_next_run_adopts_the_lsf_bundle_and_submits_nothing_again(lsf):
    """rulec killed with SIGKILL while its LSF jobs run: the next run waits for the tasks still
    in bjobs, records those whose markers say done, and submits nothing the stand-in ran."""
    proj, env, state = lsf
    (proj / "Rulefile").write_text('''
dimension i = ["1", "2", "3"]
rule all:
    input: "total.txt"
rule part:
    output: "part_{i}.txt"
    shell:  "GATE; echo {i} > {output}"
rule total:
    input:  expand("part_{i}.txt")
    output: "total.txt"
    shell:  "cat {input} > {output}"
'''.replace("GATE", GATE))
    proc = subprocess.Popen([sys.executable, "-m", "rulec", "run", "--executor", "lsf", "--poll", "0.1"],
                            cwd=proj, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ids = proj / ".rulec" / "lsf" / "1" / "jobids"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (ids.exists() and len(ids.read_text().splitlines()) == 2):
        time.sleep(0.05)  # both arrays submitted
    proc.kill()  # SIGKILL: no cleanup, the jobs go on
    proc.wait()
    assert (proj / ".rulec" / "lsf" / "1" / "jobids").exists()
    res = rulec_then_go(proj, env, "run", "--executor", "lsf", "--poll", "0.1")
    assert res.returncode == 0, res.stdout + res.stderr
    # the jobs still in bjobs are followed by the new run, not waited for before it plans
    assert "re-attached 4 job(s) of .rulec/lsf/1 still on LSF: ids " in res.stdout, res.stdout
    assert "Done: 4 job(s) ran on lsf." in res.stdout
    assert res.stdout.index("done part[3]") < res.stdout.index("done total")
    assert (proj / ".rulec" / "lsf" / "1" / "adopted").read_text().count("followed ") == 4
    assert len(calls(state, "bsub")) == 2
    assert (proj / "total.txt").read_text() == "1\n2\n3\n"
    assert "Nothing to do" in rulec(proj, env, "dryrun").stdout
    # the run history: the dead run (no end), then the run that followed its jobs, each one
    # adopted there (started by the dead run, done on LSF); nothing was settled before it
    dead, rerun = history_of(proj)
    assert (dead.executor, dead.status, dead.finished) == ("lsf", "running", None)
    assert (rerun.executor, rerun.status, rerun.planned) == ("lsf", "ok", 4)
    attempts = attempts_of(proj, rerun.run_id)
    assert sorted(a.job_id for a in attempts) == ["part[1]", "part[2]", "part[3]", "total"]
    assert [a.job_id for a in attempts][-1] == "total"  # in the order they ended
    for a in attempts:
        assert (a.outcome, a.attempt, a.why) == ("adopted", 1, None) and a.started <= a.finished
    res = rulec(proj, env, "report", "-o", "r.html")
    assert res.returncode == 0, res.stderr
    assert '<div class="k">adopted</div><div class="v">4</div>' in (proj / "r.html").read_text()


def test_a_job_the_dead_run_saw_fail_on_lsf_is_a_failed_attempt_of_the_adoption(lsf):
    """A job whose marker says it failed after rulec was killed: the adoption's run holds it as
    failed, with the reason, its command and its log's end; the next run runs it again."""
    proj, env, state = lsf
    (proj / "Rulefile").write_text('''
dimension i = ["1", "2"]
rule all:
    input: expand("part_{i}.txt")
rule part:
    output: "part_{i}.txt"
    log:    "logs/part_{i}.log"
    shell:  "sleep 1; echo working on {i}; if [ -e fail_{i} ]; then echo giving up on {i}; exit 3; fi; echo {i} > {output}"
''')
    (proj / "fail_2").write_text("")
    proc = subprocess.Popen([sys.executable, "-m", "rulec", "run", "--executor", "lsf", "--poll", "0.1"],
                            cwd=proj, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bundle = proj / ".rulec" / "lsf" / "1"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not ((bundle / "jobids").exists() and (bundle / "jobids").read_text().strip()):
        time.sleep(0.05)  # the array submitted
    proc.kill()  # before either job has ended (each sleeps 1 s first)
    proc.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not all((bundle / "status" / f"part.{i}.rc").exists() for i in "12"):
        time.sleep(0.05)
    os.unlink(proj / "fail_2")
    res = rulec(proj, env, "run", "--executor", "lsf", "--poll", "0.1")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "adopted .rulec/lsf/1 of the previous run: 1 job(s) done there recorded, 1 failed" in res.stdout, res.stdout
    assert "Done: 1 job(s) ran on lsf." in res.stdout  # part[2] again
    dead, adoption, rerun = history_of(proj)
    assert (adoption.status, rerun.status) == ("adopted", "ok")
    by_job = {a.job_id: a for a in attempts_of(proj, adoption.run_id)}
    ok, failed = by_job["part[1]"], by_job["part[2]"]
    assert ok.outcome == "adopted" and ok.log == "logs/part_1.log"
    assert failed.outcome == "failed" and failed.why == "failed in the run that died (exit status 3)"
    assert "fail_2" in failed.command and failed.log == "logs/part_2.log"
    assert failed.tail.splitlines()[-1] == "giving up on 2"
    part = jobids(proj)["part"]
    since = (bundle / "manifest.json").stat().st_mtime - 2
    for i, a in ((1, ok), (2, failed)):
        assert a.finished == (bundle / "status" / f"part.{i}.rc").stat().st_mtime  # its marker's time
        assert a.started is None or since <= a.started <= a.finished  # when the dead rulec saw it start, if it did
        assert a.place == f"lsf:{part}[{i}]" and a.attempt == 1
    assert [a.outcome for a in attempts_of(proj, rerun.run_id)] == ["ok"]
    res = rulec(proj, env, "report", "--all", "-o", "r.html")
    assert res.returncode == 0, res.stderr
    assert "failed in the run that died (exit status 3)" in (proj / "r.html").read_text()


COUNTED = '''
dimension i = ["1", "2", "3"]
rule all:
    input: "total.txt"
rule part:
    output: "part_{i}.txt"
    shell:  "echo {i} >> runs_part_{i}; GATE; echo {i} > {output}"
rule total:
    input:  expand("part_{i}.txt")
    output: "total.txt"
    shell:  "echo x >> runs_total; cat {input} > {output}"
'''.replace("GATE", GATE)


def test_after_a_sigkill_the_next_run_follows_the_running_lsf_jobs_and_submits_their_dependents_after_them(lsf):
    """The dead run submitted the parts only; the next one (every target) plans at once,
    re-attaches the running parts, holds total back until they have ended, then submits it.
    Every job ran once."""
    proj, env, state = lsf
    (proj / "Rulefile").write_text(COUNTED)
    proc = subprocess.Popen([sys.executable, "-m", "rulec", "run", "--executor", "lsf", "--poll", "0.1",
                             "part_1.txt", "part_2.txt", "part_3.txt"],
                            cwd=proj, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not all((proj / f"runs_part_{i}").exists() for i in "123"):
        time.sleep(0.05)
    proc.kill()  # SIGKILL: no cleanup, the jobs go on
    proc.wait()
    start = time.monotonic()
    res = rulec_then_go(proj, env, "run", "--executor", "lsf", "--poll", "0.1")
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("re-attached 3 job(s) of .rulec/lsf/1 still on LSF: ids "), res.stdout
    assert "1 array(s) of .rulec/lsf/2 to submit once the re-attached jobs they need have ended" in res.stdout

    def at(text: str) -> int:
        return next(i for i, line in enumerate(lines) if text in line)

    assert max(at(f"done part[{i}]") for i in "123") < at("submitted total=") < at("done total"), res.stdout
    assert "Done: 4 job(s) ran on lsf." in res.stdout
    assert time.monotonic() - start < 30
    for i in "123":
        assert (proj / f"runs_part_{i}").read_text() == f"{i}\n"  # once each
    assert (proj / "runs_total").read_text() == "x\n"
    assert (proj / "total.txt").read_text() == "1\n2\n3\n"
    ids = jobids(proj, 2)
    assert calls(state, "bsub")[1:] == [[]]  # total alone, with nothing to wait for: its parts were over
    assert list(ids) == ["total"]
    assert (proj / ".rulec" / "lsf" / "1" / "adopted").read_text().count("followed ") == 3
    assert "Nothing to do" in rulec(proj, env, "dryrun").stdout


def test_a_re_attached_lsf_job_that_fails_fails_its_dependents(lsf):
    proj, env, state = lsf
    (proj / "Rulefile").write_text(COUNTED.replace(f"{GATE}; echo {{i}}", f"{GATE}; test {{i}} != 2; echo {{i}}"))
    proc = subprocess.Popen([sys.executable, "-m", "rulec", "run", "--executor", "lsf", "--poll", "0.1",
                             "part_1.txt", "part_2.txt", "part_3.txt"],
                            cwd=proj, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not all((proj / f"runs_part_{i}").exists() for i in "123"):
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    res = rulec_then_go(proj, env, "run", "--executor", "lsf", "--poll", "0.1", "--keep-going")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "part[2]: exit status 1 (re-attached from .rulec/lsf/1, " in res.stderr
    assert "1 job(s) failed, 2 succeeded, 1 not run" in res.stderr
    assert len(calls(state, "bsub")) == 1  # total never submitted
    assert not (proj / "total.txt").exists()
    assert recorded(proj) == ["part[1]", "part[3]"]


# --------------------------------------------------------------------------- packed tasks

def test_a_packed_pipeline_runs_on_lsf_job_by_job_and_is_then_up_to_date(lsf):
    """--pack 2: 17 jobs in 9 elements; score's packs line up with fit's (done(ID[*]))."""
    proj, env, state = lsf
    res = rulec(proj, env, "run", "--executor", "lsf", "--poll", "0.05", "--pack", "2")
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"Done: {ALL} job(s) ran on lsf." in res.stdout
    assert sum(1 for line in res.stdout.splitlines() if " done " in line) == ALL  # one line a job
    for m in ("m0", "m1"):
        assert (proj / "out" / f"{m}.txt").read_text() == "2\n2\n2\n"
    assert (proj / "logs" / "fit" / "d1_m0.log").read_text() == "log line for d1 m0\n"
    assert len(recorded(proj)) == ALL
    ids = jobids(proj)
    assert calls(state, "bsub") == [[], ["-ti", "-w", f"done({ids['prepare']})"], ["-ti", "-w", f"done({ids['fit']}[*])"],
                                    ["-ti", "-w", f"done({ids['score']})"]]
    bundle = proj / ".rulec" / "lsf" / "1"
    assert "#BSUB -J \"rulec-fit[1-3]\"" in (bundle / "fit.lsf").read_text()
    status = sorted(p.name for p in (bundle / "status").iterdir())
    assert len([s for s in status if s.endswith(".rc")]) == len([s for s in status if s.endswith(".start")]) == ALL
    assert "Nothing to do" in rulec(proj, env, "dryrun").stdout


def test_a_profile_packs_the_pipeline_with_the_cores_of_two_jobs_per_element(lsf):
    """The profile's pack = 2 and n = 2: each element runs its two jobs at once."""
    proj, env, state = lsf
    (proj / "cluster.toml").write_text("[lsf]\npack = 2\nn = 2\n")
    res = rulec(proj, env, "run", "--executor", "lsf", "--poll", "0.05", "--profile", "cluster.toml")
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"Done: {ALL} job(s) ran on lsf." in res.stdout
    text = (proj / ".rulec" / "lsf" / "1" / "fit.lsf").read_text()
    assert '#BSUB -J "rulec-fit[1-3]"' in text and "#BSUB -n 2\n" in text and '#BSUB -R "span[hosts=1]"\n' in text
    assert "\nwidth=2  # jobs run at once\n" in text
    for m in ("m0", "m1"):
        assert (proj / "out" / f"{m}.txt").read_text() == "2\n2\n2\n"
    assert len(recorded(proj)) == ALL
    assert "Nothing to do" in rulec(proj, env, "dryrun").stdout


def test_a_failing_packed_job_fails_alone_and_the_rerun_does_exactly_the_rest(lsf):
    proj, env, state = lsf
    (proj / "fail_d1_m0").write_text("")
    res = rulec(proj, env, "run", "--executor", "lsf", "--poll", "0.05", "--pack", "2", "--keep-going")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "fit[d1,m0]: exit status 3" in res.stderr
    assert not (proj / "fit" / "d1_m0.txt").exists()
    # its pack-mate fit[d1,m1] (same element) ran to the end and is kept
    assert (proj / "fit" / "d1_m1.txt").read_text() == "data d1\nfitted m1\n"
    done = recorded(proj)
    assert "fit[d1,m1]" in done and "fit[d1,m0]" not in done
    assert "score[d1,m0]" not in done and not (proj / "score" / "d1_m0.txt").exists()
    os.unlink(proj / "fail_d1_m0")
    res = rulec(proj, env, "run", "--executor", "lsf", "--poll", "0.05", "--pack", "2")
    assert res.returncode == 0, res.stdout + res.stderr
    import re

    adopted = re.search(r"adopted \S+ of the previous run: (\d+) job\(s\) done there recorded", res.stdout)
    ran = int(re.search(r"Done: (\d+) job\(s\) ran on lsf\.", res.stdout).group(1))
    assert ran + (int(adopted.group(1)) if adopted else 0) == ALL - len(done), res.stdout
    assert len(recorded(proj)) == ALL
    assert "Nothing to do" in rulec(proj, env, "dryrun").stdout


def test_a_packed_job_failing_once_is_resubmitted_alone_and_its_pack_mate_is_not_run_again(lsf):
    proj, env, state = lsf
    (proj / "Rulefile").write_text(RETRY_RULEFILE)
    res = rulec(proj, env, "run", "--executor", "lsf", "--poll", "0.05", "--pack", "2")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "retrying flaky[a] (attempt 2 of 2)" in res.stdout + res.stderr
    assert "Done: 5 job(s) ran on lsf." in res.stdout
    # flaky[b], flaky[a]'s pack-mate, ran once
    assert (proj / "tries_a.txt").read_text() == "1\n2\n" and (proj / "tries_b.txt").read_text() == "1\n"
    assert (proj / "out.txt").read_text() == "a 2\nb 1\n"
    subs = calls(state, "bsub")
    ids = jobids(proj)
    # flaky[a] alone (its element's index, its own time: 5m × 2, twice the memory), as retry/flaky.0.lsf
    assert subs[3] == ["-J", "rulec-flaky[1]", "-R", "rusage[mem=200]", "-M", "200", "-W", "0:10"]
    assert "flaky_1:0" in ids
    assert (proj / ".rulec" / "lsf" / "1" / "retry" / "flaky.0.lsf").exists()
    assert len(recorded(proj)) == 5


def test_after_a_sigkill_the_next_run_adopts_a_packed_lsf_bundle(lsf):
    proj, env, state = lsf
    (proj / "Rulefile").write_text('''
dimension i = ["1", "2", "3"]
rule all:
    input: "total.txt"
rule part:
    output: "part_{i}.txt"
    shell:  "sleep 0.5; echo {i} > {output}"
rule total:
    input:  expand("part_{i}.txt")
    output: "total.txt"
    shell:  "cat {input} > {output}"
''')
    proc = subprocess.Popen([sys.executable, "-m", "rulec", "run", "--executor", "lsf", "--poll", "0.1", "--pack", "3"],
                            cwd=proj, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ids = proj / ".rulec" / "lsf" / "1" / "jobids"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (ids.exists() and len(ids.read_text().splitlines()) == 2):
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    res = rulec(proj, env, "run", "--executor", "lsf", "--poll", "0.1", "--pack", "3")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "adopted .rulec/lsf/1 of the previous run: 4 job(s) done there recorded" in res.stdout, res.stdout
    assert "Nothing to do" in res.stdout
    assert len(calls(state, "bsub")) == 2
    assert (proj / "total.txt").read_text() == "1\n2\n3\n"
    # a packed job's start is its status/<job id>.start (total, alone in its task, has none)
    adoption = history_of(proj)[-1]
    status = proj / ".rulec" / "lsf" / "1" / "status"
    attempts = attempts_of(proj, adoption.run_id)
    assert len(attempts) == 4 and {a.outcome for a in attempts} == {"adopted"}
    assert sorted(p.name for p in status.glob("*.start")) == ["part.1.start", "part.2.start", "part.3.start"]
    for a in attempts:
        if a.job_id != "total":
            assert a.started == float((status / f"{marker_name(a.job_id)}.start").read_text())
        assert a.finished == (status / f"{marker_name(a.job_id)}.rc").stat().st_mtime


def test_a_packed_lsf_job_whose_id_has_a_slash_and_one_without_its_output(lsf):
    """make[sub/x] (a glob() dimension's value) runs in a pack like any other: its markers are
    status/make.sub%2Fx.*; make[b] exits 0 without its output: failed with a local run's words
    (its marker says 256), not 'exit status 1'; --keep-going keeps make[sub/x]."""
    proj, env, state = lsf
    (proj / "Rulefile").write_text('''
dimension n = ["a", "b", "sub/x"]

rule all:
    input: expand("out/{n}.txt")

rule make:
    output: "out/{n}.txt"
    shell: "if [ {n} != b ]; then echo {n} > {output}; fi"
''')
    res = rulec(proj, env, "run", "--executor", "lsf", "--poll", "0.05", "--pack", "3", "--keep-going")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "make[b]: exited 0 but did not create every declared output" in res.stderr
    assert "rulec: make[b] exited 0 but did not create out/b.txt" in res.stderr  # its log's last lines
    assert "make[b]: exit status" not in res.stderr
    status = proj / ".rulec" / "lsf" / "1" / "status"
    assert (status / "make.sub%2Fx.rc").read_text() == "0\n" and (status / "make.b.rc").read_text() == "256\n"
    assert (proj / "out" / "sub" / "x.txt").read_text() == "sub/x\n"
    assert sorted(recorded(proj)) == ["make[a]", "make[sub/x]"]
