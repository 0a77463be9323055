"""The LSF and jbsub bundles run through stand-in ``bsub`` / ``jbsub`` commands (shell scripts
on PATH that run each job at once, on this machine). Real LSF cannot be had here; these
check that the emitted scripts work as shell programs: task tables, the task wrapper,
LSB_JOBINDEX, waves, skipping after a failure, markers. What the real schedulers do with the
directives is covered by the golden files only."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from rulec.cli import main

RULEFILE = '''
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
    label: gpu
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

label gpu:
    limit: 2
    jbsub: "-queue x86_1h -cores 1+1"
    lsf: queue="gpu"
'''

FAKE_JBSUB = r'''#!/bin/bash
# stand-in for jbsub: drop the flags, run the command now, write -out/-err
out=/dev/null err=/dev/null
while (($#)); do
    case $1 in
        -out) out=$2; shift 2 ;;
        -err) err=$2; shift 2 ;;
        -wait|-tty|-interactive) shift ;;
        -*) shift 2 ;;
        *) break ;;
    esac
done
echo "$*" >>"${FAKE_LOG:-/dev/null}"
"$@" >"$out" 2>"$err"
'''

FAKE_BSUB = r'''#!/bin/bash
# stand-in for bsub: read the script from stdin, run every array element now, in order
# (submit.sh submits in dependency order, so running at once respects the dependencies)
script=$(mktemp)
cat >"$script"
n=$(sed -n 's/^#BSUB -J "[^[]*\[1-\([0-9]*\)\].*/\1/p' "$script")
echo "$*" >>"${FAKE_LOG:-/dev/null}"
for ((i = 1; i <= n; i++)); do
    LSB_JOBINDEX=$i bash "$script" >/dev/null 2>&1 || true
done
rm -f "$script"
echo "Job <$((RANDOM + 100))> is submitted to queue <normal>."
'''


@pytest.fixture
def shims(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("jbsub", FAKE_JBSUB), ("bsub", FAKE_BSUB)):
        p = bin_dir / name
        p.write_text(text)
        p.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_LOG": str(tmp_path / "calls.log")}
    return env


def project(tmp_path) -> Path:
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "Rulefile").write_text(RULEFILE)
    return proj


def expected_outputs(proj: Path) -> None:
    for m in ("m0", "m1"):
        assert (proj / "out" / f"{m}.txt").read_text() == "2\n2\n2\n"
    assert (proj / "fit" / "d1_m0.txt").read_text() == "data d1\nfitted m0\n"
    assert (proj / "logs" / "fit" / "d1_m0.log").read_text() == "log line for d1 m0\n"


def test_jbsub_bundle_runs_in_waves(tmp_path, shims, capsys):
    proj = project(tmp_path)
    assert main(["emit", "--jbsub", str(proj), "-o", str(proj / "bundle")]) == 0
    res = subprocess.run(["bash", str(proj / "bundle" / "submit.sh")], env=shims, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    expected_outputs(proj)
    assert "all 17 job(s) done" in res.stdout
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert len(calls) == 17  # one jbsub call per job
    assert all(c.startswith("bash ") for c in calls)
    assert (proj / "bundle" / "status" / "fit.d1,m0.rc").read_text() == "0\n"


def test_jbsub_bundle_skips_dependents_of_a_failure(tmp_path, shims, capsys):
    proj = project(tmp_path)
    (proj / "fail_d1_m0").write_text("")
    assert main(["emit", "--jbsub", str(proj), "-o", str(proj / "bundle")]) == 0
    res = subprocess.run(["bash", str(proj / "bundle" / "submit.sh")], env=shims, capture_output=True, text=True, timeout=60)
    assert res.returncode == 1
    assert "FAILED fit[d1,m0]" in res.stdout
    assert "skipped score[d1,m0]: fit[d1,m0] did not succeed" in res.stdout
    assert "skipped summarize[m0]" in res.stdout
    assert (proj / "out" / "m1.txt").exists()  # independent work went on
    assert not (proj / "fit" / "d1_m0.txt").exists()  # a failed job's outputs are removed
    assert (proj / "bundle" / "status" / "fit.d1,m0.rc").read_text() == "3\n"
    assert "failing on purpose" in (proj / "logs" / "fit" / "d1_m0.log").read_text()
    failed = (proj / "bundle" / "failed").read_text().split()
    assert sorted(failed) == ["fit[d1,m0]", "score[d1,m0]", "summarize[m0]"]


def test_lsf_bundle_runs(tmp_path, shims, capsys):
    proj = project(tmp_path)
    assert main(["emit", "--lsf", str(proj), "-o", str(proj / "bundle")]) == 0
    res = subprocess.run(["bash", str(proj / "bundle" / "submit.sh")], env=shims, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    expected_outputs(proj)
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert len(calls) == 4  # one bsub per array
    assert any('-ti -w done(' in c and '[*])' in c for c in calls)  # element-wise dependency
    ids = (proj / "bundle" / "jobids").read_text().split()
    assert ids[0::2] == ["prepare", "fit", "score", "summarize"]


KINDS = '''
dimension dataset = ["d0", "d1"]

rule all:
    input: expand("bld/fit/{dataset}.txt"), "bld/done.flag"

rule download:
    output: "src/data.txt"
    local: true
    shell: "echo ${{LSB_JOBINDEX:-here}} > {output}"

rule prepare:
    input: "src/data.txt"
    output: temp("bld/tmp/{dataset}.txt")
    shell: "cat {input} > {output}; echo {dataset} >> {output}"

rule fit:
    input: "bld/tmp/{dataset}.txt"
    output: "bld/fit/{dataset}.txt"
    shell: "cat {input} > {output}"

rule model:
    input: expand("bld/fit/{dataset}.txt")
    output: protected("bld/model.txt"), touch("bld/done.flag")
    shell: "cat {input} > {output[0]}"
'''


def kinds_project(tmp_path) -> Path:
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "Rulefile").write_text(KINDS)
    return proj


@pytest.mark.parametrize("backend", ["lsf", "jbsub"])
def test_a_bundle_runs_local_jobs_here_makes_touch_markers_and_protects(tmp_path, shims, capsys, backend):
    proj = kinds_project(tmp_path)
    assert main(["emit", f"--{backend}", str(proj), "-o", str(proj / "bundle")]) == 0
    res = subprocess.run(["bash", str(proj / "bundle" / "submit.sh")], env=shims, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (proj / "src" / "data.txt").read_text() == "here\n"  # not in an array element (LSB_JOBINDEX)
    calls = (tmp_path / "calls.log").read_text()
    assert "download" not in calls  # never submitted
    assert (proj / "bld" / "done.flag").exists()  # made by the task: the command did not
    assert not os.stat(proj / "bld" / "model.txt").st_mode & 0o222
    assert (proj / "bld" / "tmp" / "d0.txt").exists()  # no head process: kept (the README says so)
    readme = (proj / "bundle" / "README.md").read_text()
    assert "temp() files are not deleted" in readme and "`bld/tmp/d0.txt`, `bld/tmp/d1.txt`" in readme
    assert "local: true jobs** (1, of download)" in readme
    if backend == "lsf":
        assert res.stdout.startswith("ran download here (local: true)\n")
    # a rerun of the model task refuses to replace the read-only protected output
    (proj / "bld" / "fit" / "d0.txt").write_text("changed\n")
    out = subprocess.run(["python", "-m", "rulec", "emit", f"--{backend}", str(proj), "-o", str(proj / "b2")],
                         env={**shims, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}, capture_output=True, text=True)
    assert out.returncode == 2
    assert "bld/model.txt is protected (protected() in" in out.stderr and "Rulefile:24:13): model would replace it" in out.stderr
    assert not (proj / "b2").exists()


def test_a_task_refuses_to_replace_a_read_only_protected_output(tmp_path, shims, capsys):
    proj = kinds_project(tmp_path)
    assert main(["emit", "--lsf", str(proj), "-o", str(proj / "bundle")]) == 0
    (proj / "bld").mkdir()
    (proj / "bld" / "model.txt").write_text("precious\n")
    os.chmod(proj / "bld" / "model.txt", 0o444)  # made read-only after the bundle was written
    res = subprocess.run(["bash", str(proj / "bundle" / "submit.sh")], env=shims, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr  # submit.sh submits; the task fails
    assert (proj / "bld" / "model.txt").read_text() == "precious\n"
    assert (proj / "bundle" / "status" / "model.rc").read_text() == "1\n"
    assert not (proj / "bld" / "done.flag").exists()


FOLDER_RULEFILE = '''
dimension g = ["g1", "g2"]

rule all:
    input: expand("aligned/{g}.txt")

rule index:
    output: directory("index/{g}")
    benchmark: "bench/index_{g}.tsv"
    shell: "if [ -e broken_{g} ]; then touch {output}; else mkdir -p {output}/sub && echo {g} > {output}/sub/name; fi"

rule align:
    input: "index/{g}"
    output: "aligned/{g}.txt"
    shell: "cat {input}/sub/name > {output}"
'''


@pytest.mark.parametrize("backend", ["jbsub", "lsf"])
def test_a_bundle_checks_directory_outputs_are_folders_and_writes_benchmarks(backend, tmp_path, shims, capsys):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "Rulefile").write_text(FOLDER_RULEFILE)
    (proj / "broken_g2").write_text("")
    (proj / "index" / "g1").mkdir(parents=True)
    (proj / "index" / "g1" / "junk").write_text("stale")
    (proj / "bench").mkdir()
    (proj / "bench" / "index_g1.tsv").write_text("stale\n")
    assert main(["emit", f"--{backend}", "--force", "index", str(proj), "-o", str(proj / "bundle")]) == 0
    tasks = (proj / "bundle" / "index.tasks").read_text()
    assert " 1 index/g1/\n" in tasks and "rulec.benchmark bench/index_g1.tsv 1 --" in tasks
    res = subprocess.run(["bash", str(proj / "bundle" / "submit.sh")], env=shims, capture_output=True, text=True, timeout=60)
    # jbsub's submit.sh runs the jobs and says how they ended; LSF's only submits them
    assert res.returncode == (1 if backend == "jbsub" else 0), res.stdout + res.stderr
    assert (proj / "aligned" / "g1.txt").read_text() == "g1\n"
    assert (proj / "index" / "g1" / "sub" / "name").is_file()
    assert not (proj / "index" / "g1" / "junk").exists()  # the stale folder went whole before the job
    lines = (proj / "bench" / "index_g1.tsv").read_text().splitlines()
    assert lines[0].split("\t") == ["attempt", "s", "max_rss_mb", "user_s", "system_s", "io_in", "io_out", "exit"]
    assert len(lines) == 2 and lines[1].split("\t")[0] == "1" and lines[1].split("\t")[-1] == "0"
    # the job that made a file where its folder goes failed, and the file is gone
    assert "exited 0 but did not create the folder index/g2" in (proj / ".rulec" / "logs" / "index" / "index.g2.log").read_text()
    assert (proj / "bundle" / "status" / "index.g2.rc").read_text() == "256\n"  # exit 0 without it
    assert not (proj / "index" / "g2").exists() and not (proj / "aligned" / "g2.txt").exists()
