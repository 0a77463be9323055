"""Shell completion in a real interactive bash on a pseudo-terminal: what Tab puts into the
command line, and what the command then gets when Enter is pressed. A job id or a dimension
value holding ``$(...)``, ``;``, quotes or ``!`` must reach rulec as it is, and run nothing."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rulec import completion

from helpers import hostile_rulefile

ROOT = Path(__file__).resolve().parents[2]
VALUES = ["$(touch PWNED)", "`touch PWNED2`", "p;q", "a b", "x'y", 'a"b', "h!st"]


@pytest.fixture
def hostile(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "Rulefile").write_text(hostile_rulefile(VALUES))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "rulec").write_text(f"#!/bin/sh\nexec {sys.executable} -m rulec \"$@\"\n")
    (bin_dir / "rulec").chmod(0o755)
    (tmp_path / "rulec.bash").write_text(completion.script("bash"))
    return project


def _tab_then_enter(project: Path, typed: str) -> list[str]:
    """In an interactive bash (no rc files) that sourced the completion script, type
    ``typed``, Tab, Enter. ``rulec`` there is a function printing its arguments (the
    completion still asks the real one, through ``command rulec``): returns them."""
    import pty

    env = {**os.environ, "PATH": f"{project.parent / 'bin'}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(ROOT), "TERM": "dumb", "INPUTRC": "/dev/null", "HISTFILE": "/dev/null"}
    master, slave = pty.openpty()
    proc = subprocess.Popen(["bash", "--norc", "--noprofile", "-i"], cwd=project, env=env, stdin=slave,
                            stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    seen = b""

    def read_until(pattern: bytes, timeout: float = 30) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while not re.search(pattern, seen):
            left = deadline - time.monotonic()
            assert left > 0 and proc.poll() is None, seen.decode(errors="replace")[-2000:]
            ready, _, _ = select.select([master], [], [], min(left, 0.2))
            if ready:
                try:
                    seen += os.read(master, 65536)
                except OSError:
                    break

    try:
        os.write(master, b"PS1='$ '; source ../rulec.bash; "
                         b"rulec() { printf 'ARG<%s>\\n' \"$@\"; echo ARGS-''END; }; echo READY''-\n")
        read_until(rb"READY-")
        start = len(seen)
        os.write(master, typed.encode() + b"\t")
        time.sleep(0.2)
        os.write(master, b"\n")
        read_until(rb"ARGS-END")
        return re.findall(r"ARG<(.*?)>\r?\n", seen[start:].decode(errors="replace"), re.S)
    finally:
        proc.kill()
        proc.wait()
        os.close(master)


@pytest.mark.parametrize("typed, args", [
    ("rulec run --force mk[\\$", ["run", "--force", "mk[$(touch PWNED)]"]),
    ("rulec run --force mk[\\`", ["run", "--force", "mk[`touch PWNED2`]"]),
    ("rulec dryrun mk[p", ["dryrun", "mk[p;q]"]),
    ("rulec dryrun mk[a\\ ", ["dryrun", "mk[a b]"]),
    ("rulec dryrun --set s=\\$", ["dryrun", "--set", "s=$(touch PWNED)"]),
    ("rulec dryrun -k 'x", ["dryrun", "-k", "x'y"]),
    ('rulec dryrun -k "$', ["dryrun", "-k", "$(touch PWNED)"]),
    ('rulec dryrun -k "h', ["dryrun", "-k", "h!st"]),  # history expansion is on
])
def test_tab_then_enter_gives_rulec_the_value_and_runs_nothing_in_it(hostile, typed, args):
    assert _tab_then_enter(hostile, typed) == args
    assert not (hostile / "PWNED").exists() and not (hostile / "PWNED2").exists()
