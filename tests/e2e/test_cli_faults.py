"""Faults of the machine rather than of the Rulefile: folders rulec may not write, a disk
that fills up. Each gives one clear line and an exit status, never a traceback, and the next
run (once the fault is gone) recovers: every job done, every output whole.

Immutable folders (``chattr +i``) and a small tmpfs need root, as CI has; elsewhere these
tests are skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from rulec_e2e import Project, done_jobs

ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False

TWO = """\
dimension d = ["a", "b"]

rule all:
    input: expand("bld/{d}.txt")

rule make:
    output: "bld/{d}.txt"
    shell: "echo {d} > {output}"
"""


def _chattr(flag: str, path: Path) -> bool:
    if not ROOT or shutil.which("chattr") is None:
        return False
    return subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0


@pytest.fixture
def immutable():
    """``immutable(path)`` makes a folder immutable (even for root) until the test ends."""
    made = []

    def make(path: Path) -> None:
        if not _chattr("+i", path):
            pytest.skip("needs root and chattr on a file system with immutable files")
        made.append(path)

    yield make
    for path in reversed(made):
        _chattr("-i", path)


def _one_clear_line(res) -> str:
    assert "Traceback" not in res.stderr, res.stderr
    first = res.stderr.strip().splitlines()[0]
    return first


def test_an_immutable_working_folder_is_one_clear_line(tmp_path, immutable):
    proj = Project(tmp_path)
    proj.write("Rulefile", TWO)
    immutable(tmp_path)
    res = proj.run("run")
    assert res.returncode == 2, res.stderr
    line = _one_clear_line(res)
    assert ".rulec" in line and "not permitted" in line, line
    assert not (tmp_path / ".rulec").exists()
    # a dry run and status need not write anything
    assert proj.run("dryrun").returncode == 0
    assert proj.run("status").returncode == 0


def test_an_immutable_state_folder_is_one_clear_line(tmp_path, immutable):
    proj = Project(tmp_path)
    proj.write("Rulefile", TWO)
    (tmp_path / ".rulec").mkdir()
    immutable(tmp_path / ".rulec")
    res = proj.run("run")
    assert res.returncode == 2, res.stderr
    assert ".rulec" in _one_clear_line(res)
    assert not (tmp_path / "bld" / "a.txt").exists()


def test_an_immutable_output_folder_fails_the_jobs_with_the_shells_words(tmp_path, immutable):
    proj = Project(tmp_path)
    proj.write("Rulefile", TWO)
    (tmp_path / "bld").mkdir()
    immutable(tmp_path / "bld")
    res = proj.run("run")
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert "Operation not permitted" in res.stdout + res.stderr


@pytest.fixture
def small_disk(tmp_path):
    """A 512 KiB tmpfs at tmp_path/disk, unmounted when the test ends."""
    if not ROOT:
        pytest.skip("needs root to mount a tmpfs")
    disk = tmp_path / "disk"
    disk.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(disk)], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], capture_output=True)


FILLING = """\
dimension d = ["a", "b", "c", "d", "e", "f", "g", "h"]

rule all:
    input: expand("bld/{d}.txt")

rule make:
    output: "bld/{d}.txt"
    shell: "head -c 60000 /dev/urandom | base64 > {output}.tmp && mv {output}.tmp {output}"
"""


def test_a_disk_that_fills_up_during_a_run_then_the_next_run_recovers(small_disk):
    proj = Project(small_disk)
    proj.write("Rulefile", FILLING)
    res = proj.run("run", "-j1")
    assert res.returncode in (1, 2), res.stdout + res.stderr
    assert "Traceback" not in res.stderr, res.stderr
    assert "No space left on device" in res.stdout + res.stderr or "full" in res.stderr
    assert not (small_disk / ".rulec" / "lock").exists()
    ran_first = done_jobs(res.stdout)
    assert ran_first, res.stdout  # some jobs fitted

    # Free the space the finished outputs took, as a user would (keep the state store).
    shutil.rmtree(small_disk / "bld")
    res = proj.run("run", "-j1")
    assert res.returncode in (1, 2), res.stdout + res.stderr  # still too small for all eight
    shutil.rmtree(small_disk / "bld")

    # Now enough room: remount bigger (the state store stays).
    subprocess.run(["mount", "-o", "remount,size=4m", str(small_disk)], check=True)
    res = proj.run("run", "-j1")
    assert res.returncode == 0, res.stdout + res.stderr
    for d in "abcdefgh":
        text = (small_disk / "bld" / f"{d}.txt").read_text()
        assert len(text) > 60000, d
    assert proj.run("dryrun").stdout.startswith("Nothing to do")


def test_a_full_disk_at_start_leaves_no_empty_lock(small_disk):
    proj = Project(small_disk)
    proj.write("Rulefile", TWO)
    filler = small_disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    res = proj.run("run")
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stderr, res.stderr
    lock = small_disk / ".rulec" / "lock"
    assert not lock.exists() or lock.stat().st_size > 0
    filler.unlink()
    res = proj.run("run")
    assert res.returncode == 0, res.stdout + res.stderr
    assert (small_disk / "bld" / "a.txt").read_text() == "a\n"


def test_a_job_failing_on_a_full_disk_says_so_rather_than_no_output(small_disk):
    proj = Project(small_disk)
    proj.write("Rulefile", 'rule all:\n    input: "bld/a.txt"\n\nrule a:\n    output: "bld/a.txt"\n    shell: "head -c 2000000 /dev/zero > {output}"\n')
    (small_disk / "bld").mkdir()
    (small_disk / ".rulec").mkdir()
    res = proj.run("run")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "disk holding the working folder is full" in res.stderr, res.stderr
    assert not (small_disk / "bld" / "a.txt").exists()


# ------------------------------------------------------------ a terminal that goes away

FOUR_SLOW = """\
rule all:
    input: "a.txt", "b.txt", "c.txt", "d.txt"

rule make:
    output: "{x}.txt"
    shell: "echo start > {output}; sleep 1.5; echo end >> {output}"
"""


def _on_a_terminal(tmp_path, ignore_hup: bool, colour: bool):
    """``rulec run -j2`` with a pseudo-terminal as its standard output and input, its
    standard error to a file: (the process, the terminal's master side, the error file)."""
    import pty
    import signal

    from rulec_e2e import RULEC, _env

    env = _env()
    if colour:
        env.pop("NO_COLOR", None)
        env["TERM"] = "xterm-256color"
    master, slave = pty.openpty()
    err = open(tmp_path / "err.txt", "w")
    pre = (lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN)) if ignore_hup else None
    proc = subprocess.Popen(RULEC + ["run", "-j2"], cwd=tmp_path, env=env, stdin=slave, stdout=slave, stderr=err,
                            preexec_fn=pre, start_new_session=True)
    os.close(slave)
    err.close()
    return proc, master


def _read_until_started(master, tmp_path, count: int = 2) -> None:
    import select
    import time

    deadline = time.monotonic() + 20
    while sum((tmp_path / f"{x}.txt").exists() for x in "abcd") < count:
        assert time.monotonic() < deadline, "the jobs did not start"
        if select.select([master], [], [], 0.05)[0]:
            os.read(master, 65536)


def test_a_terminal_closed_with_a_hangup_stops_the_run_as_ctrl_c_does(tmp_path, procs):
    import signal

    (tmp_path / "Rulefile").write_text(FOUR_SLOW)
    proc, master = _on_a_terminal(tmp_path, ignore_hup=False, colour=True)
    procs.append(proc)
    _read_until_started(master, tmp_path)
    os.close(master)  # the window is gone: every write to it fails (EIO)
    proc.send_signal(signal.SIGHUP)
    assert proc.wait(timeout=30) == 130
    err = (tmp_path / "err.txt").read_text()
    assert "interrupted: stopped 2 running job(s) and removed their outputs" in err, err
    assert "Traceback" not in err and "Input/output error" not in err, err
    assert not any((tmp_path / f"{x}.txt").exists() for x in "abcd")  # nothing half-written left


@pytest.mark.parametrize("colour", [True, False], ids=["live", "lines"])
def test_a_terminal_that_goes_away_under_an_ignored_hangup_lets_the_run_finish(tmp_path, procs, colour):
    """As under ``nohup`` or ``disown -h``: the display goes nowhere, the jobs run on."""
    (tmp_path / "Rulefile").write_text(FOUR_SLOW)
    proc, master = _on_a_terminal(tmp_path, ignore_hup=True, colour=colour)
    procs.append(proc)
    _read_until_started(master, tmp_path)
    os.close(master)
    assert proc.wait(timeout=30) == 0, (tmp_path / "err.txt").read_text()
    assert "Traceback" not in (tmp_path / "err.txt").read_text()
    for x in "abcd":
        assert (tmp_path / f"{x}.txt").read_text() == "start\nend\n"
    res = Project(tmp_path).ok("dryrun")
    assert "Nothing to do" in res.stdout, res.stdout


def test_a_closed_standard_error_never_turns_an_interrupted_run_into_success(tmp_path, procs):
    """``rulec run 2>&1 | head -1``: both streams are the pipe whose reader went away."""
    from rulec_e2e import RULEC, _env

    (tmp_path / "Rulefile").write_text(
        'dimension n = ["1", "2", "3", "4", "5", "6"]\nrule all:\n    input: expand("out/{n}.txt")\n'
        'rule make:\n    output: "out/{n}.txt"\n    shell: "sleep 0.3; echo {n} > {output}"\n')
    p = subprocess.Popen(RULEC + ["run", "-j1"], cwd=tmp_path, env=_env(), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    procs.append(p)
    p.stdout.readline()
    p.stdout.close()
    assert p.wait(timeout=30) == 141
    assert len(list((tmp_path / "out").iterdir())) < 6


def test_a_job_whose_folder_cannot_be_made_fails_alone(tmp_path):
    """A file where a job's output folder should be: that job fails with the system's words,
    the others run on (make -k, Snakemake do the same)."""
    (tmp_path / "afile").write_text("a file, not a folder\n")
    (tmp_path / "Rulefile").write_text(
        'rule all:\n    input: "afile/a.txt", "b.txt"\n'
        'rule a:\n    output: "afile/a.txt"\n    shell: "echo a > {output}"\n'
        'rule b:\n    output: "b.txt"\n    shell: "echo start > {output}; sleep 0.5; echo b >> {output}"\n')
    res = Project(tmp_path).run("run", "-j2", "--keep-going")
    assert res.returncode == 1, res.stderr
    assert "FAILED a: could not prepare its outputs: afile is a file, where a folder must be made" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert (tmp_path / "b.txt").read_text() == "start\nb\n"


def test_a_second_ctrl_c_during_the_stop_still_removes_what_the_jobs_left(tmp_path, procs):
    import signal
    import time

    from rulec_e2e import popen_rulec

    (tmp_path / "Rulefile").write_text(
        'rule all:\n    input: "a.txt", "b.txt"\n'
        'rule a:\n    output: "a.txt"\n    shell: "trap \'\' TERM; echo partial > {output}; sleep 30"\n'
        'rule b:\n    output: "b.txt"\n    shell: "echo partial > {output}; sleep 30"\n')
    p = popen_rulec(["run", "-j2"], tmp_path)
    procs.append(p)
    deadline = time.monotonic() + 20
    while not ((tmp_path / "a.txt").exists() and (tmp_path / "b.txt").exists()):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    p.send_signal(signal.SIGINT)
    time.sleep(1.0)  # a's shell ignores TERM: the stop waits out its grace
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=40)
    assert p.returncode == 130, err
    assert "Traceback" not in err
    assert not (tmp_path / "a.txt").exists() and not (tmp_path / "b.txt").exists()
