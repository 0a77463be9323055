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
