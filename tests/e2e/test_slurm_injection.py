"""Code in file names and settings stays data, end to end: ``rulec emit --slurm`` over files
whose names are shell code (a newline then a command, ``$(...)``, quotes, backticks, ``;``),
submitted to the REAL local SLURM cluster with ``bash submit.sh``: every job succeeds with
its output and nothing of the names runs. Under umask 000 nothing the bundle holds, or its
jobs write into it, is writable by group or others. A profile with a newline in a value is
refused, naming the file and the key."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from rulec_e2e import run_rulec, wait_for

NAMES = (
    "x\ntouch PWNED\n",
    "$(touch PWNED2)",
    "a'b`touch PWNED3`;c",
    'q"w;touch PWNED4;"e',
    "plain",
)
BAD = {"PWNED", "PWNED2", "PWNED3", "PWNED4"}

RULEFILE = '''\
dimension s = glob("raw/{s}.txt")

rule all:
    input: "total.txt"

rule copy:
    input: "raw/{s}.txt"
    output: "out/{s}.txt"
    log: "logs/{s}.log"
    resources: mem="100M", time="5m"
    shell: """
        cp {input} {output}
        echo {s} >> {output}
        echo copied {jobid}
    """

rule count:
    input: "out/{s}.txt"
    output: "cnt/{s}.txt"
    shell: "wc -l < {input} > {output}"

rule total:
    input: expand("cnt/{s}.txt")
    output: "total.txt"
    shell: "cat {input} > {output}"
'''
# a label whose SLURM option holds spaces, `$(...)`, quotes and `#`: one value for sbatch
TAGGED = RULEFILE.replace("    resources:", "    label: tagged\n    resources:") + '''
label tagged:
    slurm: comment="a b; $(touch PWNED) 'q' # not a comment"
'''
N_TASKS = 2 * len(NAMES) + 1


def plant(proj: Path, rulefile: str = RULEFILE) -> Path:
    (proj / "raw").mkdir(parents=True)
    for name in NAMES:
        (proj / "raw" / f"{name}.txt").write_text(f"content of {name}\n")
    (proj / "Rulefile").write_text(rulefile)
    return proj


def pwned(root: Path) -> list[str]:
    return [os.path.join(d, f) for d, _, files in os.walk(root) for f in files if f in BAD]


def ok(res: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert res.returncode == 0, f"exit {res.returncode}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}"
    return res


def squeue(ids, fields: str = "%i|%T") -> dict[str, list[str]]:
    res = subprocess.run(["squeue", "-h", "-r", "-t", "all", "-j", ",".join(ids), "-o", fields],
                         capture_output=True, text=True)
    out = {}
    for line in res.stdout.splitlines():
        task, *rest = line.split("|")
        out[task] = rest
    return out


def pending(ids) -> bool:
    res = subprocess.run(["squeue", "-h", "-j", ",".join(ids), "-o", "%i"], capture_output=True, text=True)
    return bool(res.stdout.strip())


def submit_and_wait(bundle: Path, cwd: Path, umask: str | None = None) -> dict[str, list[str]]:
    args = ["bash", str(bundle / "submit.sh")]
    if umask is not None:
        args = ["bash", "-c", f'umask {umask} && exec "$@"', "bash", *args]
    ok(subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=cwd))
    ids = [line.split()[1] for line in (bundle / "jobids").read_text().splitlines()]
    assert len(ids) == 3
    wait_for(lambda: not pending(ids), 90, 0.2, what="the jobs to finish")
    return squeue(ids, "%i|%T|%k")


def expected(proj: Path, bundle: Path) -> None:
    counts = []
    for name in NAMES:
        out = f"content of {name}\n{name}\n"
        assert (proj / "out" / f"{name}.txt").read_bytes().decode() == out, repr(name)
        assert (proj / "cnt" / f"{name}.txt").read_text().strip() == str(out.count("\n"))
        assert (proj / "logs" / f"{name}.log").read_bytes().decode() == f"copied copy[{name}]\n"
        counts.append(str(out.count("\n")))
    assert sorted((proj / "total.txt").read_text().split()) == sorted(counts)
    markers = list((bundle / "status").glob("*.rc"))
    assert len(markers) == N_TASKS and all(p.read_text() == "0\n" for p in markers)


@pytest.mark.slurm
def test_file_names_that_are_shell_code_run_as_data_on_slurm(slurm_cluster, tmp_path):
    proj = plant(tmp_path / "p")
    res = ok(run_rulec(["emit", "--slurm", "-o", "bundle"], proj))
    assert f"3 array(s), {N_TASKS} task(s)" in res.stdout
    bundle = proj / "bundle"
    states = submit_and_wait(bundle, tmp_path)
    assert len(states) == N_TASKS
    assert {s for s, _ in states.values()} == {"COMPLETED"}, states
    assert not pwned(tmp_path)
    expected(proj, bundle)


@pytest.mark.slurm
def test_a_label_option_with_spaces_quotes_and_a_hash_reaches_slurm_as_one_value(slurm_cluster, tmp_path):
    proj = plant(tmp_path / "p", TAGGED)
    ok(run_rulec(["emit", "--slurm", "-o", "bundle"], proj))
    bundle = proj / "bundle"
    assert "#SBATCH --comment=\"a b; $(touch PWNED) 'q' # not a comment\"\n" in (bundle / "copy.sbatch").read_text()
    states = submit_and_wait(bundle, tmp_path)
    assert {s for s, _ in states.values()} == {"COMPLETED"}, states
    copies = [c for s, c in states.values() if c != "(null)"]
    assert copies == ["a b; $(touch PWNED) 'q' # not a comment"] * len(NAMES), states
    assert not pwned(tmp_path)
    expected(proj, bundle)


@pytest.mark.slurm
def test_under_umask_000_a_slurm_bundle_and_what_its_jobs_write_stay_private(slurm_cluster, tmp_path):
    proj = plant(tmp_path / "p")
    ok(run_rulec(["emit", "--slurm", "-o", "out-of-the-way/bundle"], proj))  # (a umask-000 emit: unit tests)
    bundle = proj / "out-of-the-way" / "bundle"
    states = submit_and_wait(bundle, tmp_path, umask="000")
    assert {s for s, _ in states.values()} == {"COMPLETED"}, states
    expected(proj, bundle)
    loose = {}
    for d, dirs, files in os.walk(bundle):
        for name in dirs + files:
            p = os.path.join(d, name)
            rel = os.path.relpath(p, bundle)
            mode = stat.S_IMODE(os.lstat(p).st_mode)
            # logs/ holds what slurmstepd writes for each task (the job's umask; never run)
            if mode & 0o022 and not rel.startswith("logs/"):
                loose[rel] = oct(mode)
    assert not loose, loose
    assert (bundle / "jobs").is_dir() and (bundle / "status").is_dir()
    # the jobs' own outputs keep the umask they were submitted with, as in a local run
    assert stat.S_IMODE((proj / "cnt").stat().st_mode) == 0o777


def test_a_profile_value_with_a_newline_is_refused_naming_the_file_and_key(tmp_path):
    proj = plant(tmp_path / "p")
    (proj / "cluster.toml").write_text('[slurm.rules.copy]\npartition = "debug\\n#SBATCH --uid=0"\n')
    res = run_rulec(["emit", "--slurm", "--profile", "cluster.toml"], proj)
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr.startswith(
        "cluster.toml: slurm.rules.copy.partition: the value 'debug\\n#SBATCH --uid=0' holds a newline"
    ), res.stderr
    assert "Traceback" not in res.stderr
    assert not (proj / "rulec-slurm").exists()


def test_a_profile_key_that_would_add_directives_is_refused_naming_the_file_and_key(tmp_path):
    """A key goes on its #SBATCH line as it is: ``"comment=x --partition=short --chdir=/tmp"``
    would move the jobs to another partition and folder."""
    proj = plant(tmp_path / "p")
    (proj / "p4.toml").write_text('[slurm]\n"comment=x --partition=short --chdir=/tmp" = true\n')
    res = run_rulec(["emit", "--slurm", "--profile", "p4.toml", "-q"], proj)
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr.startswith('p4.toml: slurm."comment=x --partition=short --chdir=/tmp": a key is a name of letters'), res.stderr
    assert "Traceback" not in res.stderr
    assert not (proj / "rulec-slurm").exists()


@pytest.mark.slurm
def test_a_label_option_with_a_single_quote_reaches_slurm_intact(slurm_cluster, tmp_path):
    """sbatch reads ' in an #SBATCH line as a quote (a bare one: "Unmatched '"): the value is
    double-quoted, and the job's comment is the value."""
    proj = plant(tmp_path / "p", TAGGED.replace('''comment="a b; $(touch PWNED) 'q' # not a comment"''', '''comment="it's"'''))
    ok(run_rulec(["emit", "--slurm", "-o", "bundle", "-q"], proj))
    bundle = proj / "bundle"
    assert "#SBATCH --comment=\"it's\"\n" in (bundle / "copy.sbatch").read_text()
    ok(subprocess.run(["sbatch", "--test-only", "copy.sbatch"], cwd=bundle, capture_output=True, text=True, timeout=60))
    res = ok(subprocess.run(["sbatch", "--hold", "--parsable", "copy.sbatch"], cwd=bundle, capture_output=True, text=True,
                            timeout=60))
    job = res.stdout.strip().split(";")[0]
    try:
        shown = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True, timeout=60).stdout
    finally:
        subprocess.run(["scancel", job], capture_output=True, timeout=60)
    assert "Comment=it's " in shown or "Comment=it's\n" in shown, shown
