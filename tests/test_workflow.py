"""rulec/workflow.py, the Python API: ``rulec.load`` -> Workflow with ``plan`` (jobs and
reasons as data), ``run`` (per-job results, through the same code as ``rulec run``) and
``emit`` (a bundle); errors are RulecErrors with the CLI's text and place. Real files, real
jobs (local bash workers), no subprocess except to compare with the CLI."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import rulec

CHAIN = '''\
dimension d = ["a", "b"]

rule all:
    input: expand("final/{d}.txt")

rule make:
    input:  "src/{d}.txt"
    output: "mid/{d}.txt"
    shell:  "cat {input} > {output}"

rule final:
    input:  "mid/{d}.txt"
    output: "final/{d}.txt"
    shell:  "cp {input} {output}"
'''

FAILING = '''\
dimension d = ["a", "b"]

rule all:
    input: expand("final/{d}.txt")

rule make:
    output: "mid/{d}.txt"
    shell:  "if [ {d} = b ]; then echo broken >&2; exit 3; fi; echo {d} > {output}"

rule final:
    input:  "mid/{d}.txt"
    output: "final/{d}.txt"
    shell:  "cp {input} {output}"
'''


@pytest.fixture
def chain(tmp_path):
    (tmp_path / "Rulefile").write_text(CHAIN)
    (tmp_path / "src").mkdir()
    for d in "ab":
        (tmp_path / "src" / f"{d}.txt").write_text(f"{d}\n")
    return tmp_path


def _cli(*args, cwd):
    env = dict(os.environ, NO_COLOR="1", COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "rulec", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


# --------------------------------------------------------------------------- load

def test_load_reads_the_workflow(chain):
    wf = rulec.load(chain)
    assert isinstance(wf, rulec.Workflow)
    assert wf.rules == ("all", "make", "final")
    assert wf.dimensions == {"d": ("a", "b")}
    assert wf.directory == str(chain)
    assert wf.default_target == "all"


def test_a_bad_rulefile_raises_the_clis_error_with_its_place(tmp_path, monkeypatch):
    (tmp_path / "Rulefile").write_text('rule x:\n    input: "in/{sample}.txt"\n    output: "out.txt"\n    shell: "cat {input} > {output}"\n')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(rulec.RulecError) as info:
        rulec.load("Rulefile")
    err = info.value
    assert (err.span.file, err.span.line, err.span.col) == ("Rulefile", 2, 16)
    assert str(err).startswith("Rulefile:2:16: wildcard {sample} in input is not defined by any output of rule x")
    cli = _cli("check", "Rulefile", cwd=tmp_path)
    assert cli.returncode == err.exit_code == 2
    assert cli.stderr == str(err) + "\n"


def test_a_missing_rulefile_and_bad_arguments_raise_rulec_errors(tmp_path, chain):
    with pytest.raises(rulec.RulecError, match=r"no Rulefile at .*nowhere"):
        rulec.load(tmp_path / "nowhere")
    wf = rulec.load(chain)
    with pytest.raises(rulec.RulecError, match=r"-j/--cores must be at least 1"):
        wf.run(jobs=-1)
    with pytest.raises(rulec.RulecError, match=r"executor 'nope': expected one of local, slurm, jbsub, lsf"):
        wf.run(executor="nope")
    with pytest.raises(rulec.RulecError, match=r"--poll is for cluster runs"):
        wf.run(poll=2)
    with pytest.raises(rulec.RulecError, match=r"no job makes 'nothing/here.txt'|nothing/here.txt"):
        wf.plan("nothing/here.txt")
    assert not (chain / "final").exists()


@pytest.mark.parametrize("call, says", [
    (lambda wf: wf.run(jobs="two"), r"jobs: expected a whole number or \"all\", not 'two'"),
    (lambda wf: wf.run(jobs=2.5), r"jobs: expected a whole number or \"all\", not 2.5"),
    (lambda wf: wf.run(jobs=True), r"jobs: expected a whole number"),
    (lambda wf: wf.run(retries="x"), r"retries: expected a whole number, not 'x'"),
    (lambda wf: wf.run(mem=16), r"mem: expected a size with its unit as text, e.g. \"16G\""),
    (lambda wf: wf.run(mem="16"), r"--mem '16': expected a number with a unit"),
    (lambda wf: wf.run(resources=[("io", 2)]), r"resources: expected a dict of names and numbers"),
    (lambda wf: wf.run(resources={"io": "lots"}), r"resources: io: expected a number, not 'lots'"),
    (lambda wf: wf.run(resources={3: 1}), r"resources: expected names \(text\) as keys, not 3"),
    (lambda wf: wf.run(poll="often"), r"poll: expected a number, not 'often'"),
    (lambda wf: wf.run(profile=3), r"profile: expected a path"),
    (lambda wf: wf.plan(select=3), r"select: expected an expression as text"),
    (lambda wf: wf.run(select=["a"]), r"select: expected an expression as text"),
    (lambda wf: wf.emit("slurm", 3), r"dir: expected a path"),
    (lambda wf: rulec.load(3), r"path: expected a path \(text or a path-like object\), not 3"),
    (lambda wf: rulec.load(None), r"path: expected a Rulefile or a folder holding one, not None"),
    (lambda wf: rulec.load(wf.path, directory=3), r"directory: expected a path"),
], ids=["jobs-text", "jobs-float", "jobs-bool", "retries-text", "mem-int", "mem-no-unit", "resources-list",
        "resources-value", "resources-key", "poll-text", "profile-int", "plan-select-int", "run-select-list",
        "emit-dir-int", "load-int", "load-none", "load-directory-int"])
def test_arguments_of_the_wrong_type_raise_rulec_errors(chain, call, says):
    wf = rulec.load(chain)
    with pytest.raises(rulec.RulecError, match=says):
        call(wf)
    assert not (chain / "final").exists() and not (chain / ".rulec" / "lock").exists()


def test_jobs_and_retries_take_what_the_command_line_takes(chain):
    wf = rulec.load(chain)
    assert wf.run(jobs="all", retries="1", mem="1G", resources={"io": 2}, poll=None).ok  # -j all
    (chain / "src" / "a.txt").write_text("changed\n")
    report = wf.run(jobs="2")
    assert report.ok and sorted(report.jobs) == ["final[a]", "make[a]"]


def test_config_overrides_go_to_the_config_mechanism(tmp_path):
    (tmp_path / "c.toml").write_text("seed = 1\n")
    (tmp_path / "Rulefile").write_text('config "c.toml"\n\nrule x:\n    output: "x.txt"\n    shell: "echo {config.seed} > {output}"\n')
    plan = rulec.load(tmp_path, config={"seed": 7}).plan()
    assert plan.jobs[0].command == "echo 7 > x.txt"
    with pytest.raises(rulec.RulecError, match="sed"):  # an unknown key: the CLI's error, did-you-mean
        rulec.load(tmp_path, config={"sed": 7}).plan()


def test_config_dicts_become_config_items():
    from rulec.workflow import _config_items

    assert _config_items({"db": {"host": "x"}, "models": ["a", "b"], "on": True, "n": 3}) == (
        "db.host=x", "models=a,b", "on=true", "n=3")


# --------------------------------------------------------------------------- plan

def test_plan_gives_jobs_and_reasons_as_data(chain):
    wf = rulec.load(chain)
    plan = wf.plan()
    assert isinstance(plan, rulec.Plan)
    assert plan.ids == ["make[a]", "final[a]", "make[b]", "final[b]"] and plan.up_to_date == 0
    job = plan["final[b]"]
    assert (job.rule, dict(job.wildcards), job.inputs, job.outputs, job.deps) == (
        "final", {"d": "b"}, ("mid/b.txt",), ("final/b.txt",), ("make[b]",))
    assert job.command == "cp mid/b.txt final/b.txt"
    assert job.reasons == (rulec.Reason(rulec.Why.OUTPUT_MISSING, "final/b.txt"),)
    assert job.why is rulec.Why.OUTPUT_MISSING
    assert job.explain() == ["output missing: final/b.txt"]
    assert not (chain / ".rulec").exists()  # a plan writes nothing, as a dry run


def test_reasons_follow_what_changed(chain):
    wf = rulec.load(chain)
    assert wf.run().ok
    plan = wf.plan()
    assert (plan.jobs, plan.up_to_date) == ((), 4)
    (chain / "src" / "a.txt").write_text("a changed\n")
    plan = wf.plan()
    assert plan.ids == ["make[a]", "final[a]"]
    assert plan["make[a]"].reasons == (rulec.Reason(rulec.Why.INPUT_CHANGED, "src/a.txt"),)
    assert plan["final[a]"].reasons == (rulec.Reason(rulec.Why.UPSTREAM, job="make[a]"),)
    forced = wf.plan(force=["final"], select="b")
    assert forced.ids == ["final[b]"] and forced["final[b]"].why is rulec.Why.FORCED
    assert forced.up_to_date == 1  # make[b]: selected because final[b] needs it
    every = wf.plan("final[a]", force_all=True, why=True)
    assert [r.why for r in every["final[a]"].reasons] == [rulec.Why.FORCED, rulec.Why.UPSTREAM]


def test_the_rulefile_is_read_again_at_each_call(chain):
    wf = rulec.load(chain)
    assert len(wf.plan()) == 4
    (chain / "Rulefile").write_text(CHAIN.replace('"cp {input} {output}"', '"cp {input} {output} && true"'))
    assert wf.run().ok
    assert wf.plan().jobs == ()


# --------------------------------------------------------------------------- run

def test_run_returns_each_jobs_outcome(chain):
    wf = rulec.load(chain)
    report = wf.run(jobs=2)
    assert isinstance(report, rulec.RunReport) and report.ok and report.exit_code == 0
    assert list(report.jobs) == ["make[a]", "final[a]", "make[b]", "final[b]"]
    r = report["final[b]"]
    assert (r.status, r.outcome, r.exit_code, r.attempts, r.log, r.why) == (
        rulec.Status.SUCCEEDED, rulec.Outcome.OK, 0, 1, None, None)
    assert (chain / "final" / "b.txt").read_text() == "b\n"
    again = wf.run()
    assert again.ok and again.jobs == {} and again.up_to_date == 4


def test_a_failing_job_gives_ok_false_with_its_exit_code_and_log(tmp_path):
    (tmp_path / "Rulefile").write_text(FAILING)
    wf = rulec.load(tmp_path)
    report = wf.run(jobs=1, keep_going=True)
    assert not report.ok and report.exit_code == 1
    bad = report["make[b]"]
    assert (bad.status, bad.outcome, bad.exit_code, bad.attempts, bad.why) == (
        rulec.Status.FAILED, rulec.Outcome.EXIT, 3, 1, "exit status 3")
    assert bad.log == ".rulec/logs/make/make.b.log"
    assert (tmp_path / bad.log).read_text() == "broken\n"
    assert report["final[b]"].status is rulec.Status.SKIPPED
    assert report["final[a]"].ok and report.failed == [bad]
    assert not (tmp_path / "mid" / "b.txt").exists()


def test_without_keep_going_the_rest_is_not_run(tmp_path):
    (tmp_path / "Rulefile").write_text(FAILING)
    report = rulec.load(tmp_path).run(jobs=1)
    assert {i: r.status for i, r in report.jobs.items()} == {
        "make[a]": rulec.Status.SUCCEEDED, "final[a]": rulec.Status.NOT_RUN,
        "make[b]": rulec.Status.FAILED, "final[b]": rulec.Status.SKIPPED}


def test_a_job_that_succeeds_on_a_retry_says_its_attempts(tmp_path):
    (tmp_path / "Rulefile").write_text('rule x:\n    output: "x.txt"\n    retries: 1\n'
                                       '    shell: "[ {attempt} -gt 1 ] || exit 4; echo ok > {output}"\n')
    report = rulec.load(tmp_path).run()
    assert report.ok and report["x"].attempts == 2
    (tmp_path / "x.txt").unlink()
    (tmp_path / "Rulefile").write_text('rule x:\n    output: "x.txt"\n    shell: "exit 4"\n')
    report = rulec.load(tmp_path).run(retries=2)
    assert (report["x"].status, report["x"].attempts, report["x"].exit_code) == (rulec.Status.FAILED, 3, 4)


def test_a_job_that_makes_no_output_is_a_missing_output(tmp_path):
    (tmp_path / "Rulefile").write_text('rule x:\n    output: "x.txt"\n    shell: "true"\n')
    r = rulec.load(tmp_path).run()["x"]
    assert (r.status, r.outcome, r.exit_code) == (rulec.Status.FAILED, rulec.Outcome.MISSING_OUTPUT, 0)
    assert r.why == "exited 0 but did not create x.txt"


def test_run_takes_a_plan_and_its_options(chain):
    wf = rulec.load(chain)
    plan = wf.plan("final[a]")
    report = wf.run(plan)
    assert list(report.jobs) == ["make[a]", "final[a]"]
    assert not (chain / "final" / "b.txt").exists()
    with pytest.raises(rulec.RulecError, match="give force, force_all and select to plan()"):
        wf.run(plan, force_all=True)
    assert list(wf.run(wf.plan("final", force=["final"])).jobs) == ["final[a]", "make[b]", "final[b]"]
    assert list(wf.run(wf.plan(force=["make"], select="b")).jobs) == ["make[b]", "final[b]"]


class NotebookStream(io.TextIOBase):
    """What a Jupyter kernel puts in sys.stdout / sys.stderr: text only, no file descriptor."""

    def __init__(self):
        self.text = []

    def writable(self):
        return True

    def write(self, s):
        self.text.append(s)
        return len(s)

    def fileno(self):
        raise io.UnsupportedOperation("fileno")

    def isatty(self):
        return False


def test_run_leaves_no_signal_handler_and_works_without_a_terminal(tmp_path, monkeypatch):
    (tmp_path / "Rulefile").write_text(FAILING)

    def mine(signum, frame):  # pragma: no cover - never called
        pass

    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGHUP)}
    old_term = signal.signal(signal.SIGTERM, mine)
    out, err = NotebookStream(), NotebookStream()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    try:
        report = rulec.load(tmp_path).run(jobs=1, keep_going=True, quiet=False)  # no SystemExit
        assert signal.getsignal(signal.SIGTERM) is mine
        assert {s: signal.getsignal(s) for s in before} == before
    finally:
        signal.signal(signal.SIGTERM, old_term)
    assert not report.ok
    assert "done make[a]" in "".join(out.text)
    assert "1 job(s) failed, 2 succeeded, 1 not run" in "".join(err.text)


def test_run_from_a_thread(chain):
    wf = rulec.load(chain)
    found = []
    thread = threading.Thread(target=lambda: found.append(wf.run()))
    thread.start()
    thread.join(60)
    assert found and found[0].ok and len(found[0].jobs) == 4


def test_ctrl_c_stops_the_run_and_raises_keyboard_interrupt(tmp_path):
    (tmp_path / "Rulefile").write_text(f'rule x:\n    output: "x.txt"\n    shell: "echo partial > {{output}}; kill -INT {os.getpid()}; sleep 20; echo done >> {{output}}"\n')
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        rulec.load(tmp_path).run()
    assert signal.getsignal(signal.SIGTERM) is before
    assert not (tmp_path / "x.txt").exists()  # the stopped job's output is removed
    assert rulec.load(tmp_path).plan().ids == ["x"]  # nothing recorded as done
    (tmp_path / "Rulefile").write_text('rule x:\n    output: "x.txt"\n    shell: "echo ok > {output}"\n')
    assert rulec.load(tmp_path).run().ok  # the lock was released


# --------------------------------------------------------------------------- emit

def test_emit_writes_a_bundle_and_returns_its_path(chain, tmp_path_factory, monkeypatch):
    wf = rulec.load(chain)
    where = tmp_path_factory.mktemp("b")
    monkeypatch.chdir(where)  # a relative bundle folder is taken from the current folder
    path = wf.emit("slurm", "bundle")
    assert path == str(where / "bundle")
    assert (Path(path) / "submit.sh").is_file()
    assert "make" in (Path(path) / "submit.sh").read_text()
    assert wf.emit(rulec.Backend.LSF, where / "lsf", "final[a]") == str(where / "lsf")
    assert wf.run().ok  # the chdir above: the Rulefile is still the one loaded
    assert wf.emit("slurm", "again") is None and not (where / "again").exists()
    assert wf.emit("jbsub", "forced", force=["final"]) == str(where / "forced")
    with pytest.raises(rulec.RulecError, match="backend 'local': a bundle is for slurm, lsf, jbsub"):
        wf.emit("local", "x")


def test_emit_refuses_to_overwrite_a_folder_that_is_not_a_bundle(chain):
    (chain / "mine").mkdir()
    (chain / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(rulec.RulecError, match="is not a rulec bundle"):
        rulec.load(chain).emit("slurm", chain / "mine")
    assert (chain / "mine" / "notes.txt").read_text() == "keep me"


def test_os_errors_become_rulec_errors(chain):
    wf = rulec.load(chain)
    (chain / "ro").mkdir()
    (chain / "ro" / "file").write_text("")
    bundle = chain / "ro" / "file" / "bundle"  # a file where a folder must be
    with pytest.raises(rulec.RulecError) as info:
        wf.emit("slurm", bundle)
    assert str(info.value).startswith(f"{chain / 'ro' / 'file'}: ")
    assert _cli("emit", "--slurm", "-o", bundle, cwd=chain).stderr == str(info.value) + "\n"
