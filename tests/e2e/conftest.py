"""Helpers for the end-to-end CLI tests: run the real ``rulec`` in a subprocess on a small
Rulefile project written into ``tmp_path``.

- ``run_rulec(args, cwd)``: ``python -m rulec ARGS`` in ``cwd``; returns the CompletedProcess
  (text stdout/stderr, return code).
- ``popen_rulec(args, cwd)``: the same, started in the background (for signals and locks).
- ``project``: a fixture that writes a fresh 2×2 datasets × models project and returns a
  ``Project`` with ``run(...)``, ``write(...)``, ``read(...)``, ``edit(...)``.
- ``done_jobs(stdout)``: the job ids of the plain progress lines ``[i/N] done <id> (...)``.
- ``planned_jobs(stdout)``: job id -> first reason, from a dry run's job lines.
- ``Marker``: a unique ``sleep`` duration that makes a job's processes findable in /proc.
- ``PtyRun``: ``rulec ARGS`` on a pseudo-terminal (what a person at a terminal sees), its
  output read as it comes (``read_for(seconds)``, ``wait()``).

The test modules import these as ``from rulec_e2e import ...``: this conftest registers
itself under that name (pytest always loads a folder's conftest before its test modules),
which works whatever pytest's import mode.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.modules.setdefault("rulec_e2e", sys.modules[__name__])

RULEC = [sys.executable, "-m", "rulec"]
TIMEOUT = 60  # a safety net: every test is expected to take a few seconds


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("RULEC_PROFILE", None)
    env["PYTHONUNBUFFERED"] = "1"
    env["COLUMNS"] = "200"
    env["NO_COLOR"] = "1"
    return env


def run_rulec(args, cwd, timeout: float = TIMEOUT, input: str | None = None) -> subprocess.CompletedProcess:
    """Run ``rulec ARGS`` in ``cwd`` and wait for it. Standard input is not a terminal."""
    return subprocess.run(
        RULEC + [str(a) for a in args],
        cwd=str(cwd),
        env=_env(),
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class PtyRun:
    """``rulec ARGS`` in ``cwd`` with a pseudo-terminal as its standard output and error (a
    terminal of ``columns`` x ``rows``, colours allowed): the live display. ``output`` holds
    every byte read so far, decoded; control sequences stay in it."""

    def __init__(self, args, cwd, columns: int = 120, rows: int = 30, env: dict | None = None):
        import fcntl
        import pty
        import struct
        import termios

        environ = _env()
        environ.pop("NO_COLOR", None)
        environ.update({"TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": str(rows)})
        environ.update(env or {})
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.proc = subprocess.Popen(RULEC + [str(a) for a in args], cwd=str(cwd), env=environ,
                                     stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        self.raw = b""

    @property
    def output(self) -> str:
        return self.raw.decode("utf-8", "replace")

    def read_for(self, seconds: float) -> str:
        """Read what rulec writes for ``seconds`` (less if it ends); the new text."""
        import select

        before = len(self.raw)
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.master], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: the other side is closed, rulec has ended
                break
            if not chunk:
                break
            self.raw += chunk
        return self.raw[before:].decode("utf-8", "replace")

    def read_until(self, pattern: str, timeout: float = 20.0) -> str:
        """Read until the output (control sequences and all) matches the regex ``pattern``;
        all the output so far."""
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.output):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"no {pattern!r} in {self.output[-2000:]!r}")
            self.read_for(0.1)
        return self.output

    def wait(self, timeout: float = TIMEOUT) -> int:
        """Read until rulec ends; its exit status."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.read_for(0.2)
        self.read_for(0.3)  # what it wrote last
        code = self.proc.wait(timeout=max(deadline - time.monotonic(), 1))
        os.close(self.master)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()


def popen_rulec(args, cwd) -> subprocess.Popen:
    """Start ``rulec ARGS`` in ``cwd`` in the background (its own process group, so a signal
    sent to it reaches rulec only, as ``kill PID`` would)."""
    return subprocess.Popen(
        RULEC + [str(a) for a in args],
        cwd=str(cwd),
        env=_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


_DONE = re.compile(r"^\[\s*\d+/\d+\] done (.+) \(\d+(?:\.\d+)?s\)$")


def done_jobs(stdout: str) -> list[str]:
    """Job ids of the plain (not a terminal) progress lines ``[i/N] done <job-id> (0.1s)``."""
    return [m.group(1) for m in map(_DONE.match, stdout.splitlines()) if m]


_COUNT = re.compile(r"^  (\S+)\s+(\d+) of\s+(\d+)$")
_JOB = re.compile(r"^  (\S(?:.*?\S)?)\s{2,}(\S.*)$")


def rule_counts(stdout: str) -> dict[str, tuple[int, int]]:
    """The dry run's per-rule table: rule -> (jobs to run, jobs in all)."""
    out = {}
    for line in stdout.splitlines():
        m = _COUNT.match(line)
        if m:
            out[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    return out


def planned_jobs(stdout: str) -> dict[str, str]:
    """The dry run's job lines (without --why): job id -> its first reason, in order."""
    out = {}
    for line in stdout.splitlines():
        if _COUNT.match(line):
            continue
        m = _JOB.match(line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def why_blocks(stdout: str) -> dict[str, list[str]]:
    """A ``--why`` listing: job id -> its reason lines (and diff lines), stripped."""
    out: dict[str, list[str]] = {}
    current = None
    for line in stdout.splitlines():
        if not line.strip() or _COUNT.match(line) or re.match(r"^\d+ of \d+ jobs to run:$", line):
            continue
        if not line.startswith(" "):
            current = line.strip()
            out[current] = []
        elif current is not None:
            out[current].append(line.strip())
    return out


def set_mtime(path, offset: float = 100.0) -> None:
    """Move a file's mtime ``offset`` seconds away from now (into the future by default)."""
    t = time.time() + offset
    os.utime(path, (t, t))


# --------------------------------------------------------------------------- processes

def _proc_state(pid: str) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def pids_with(marker: str, argv: list[str] | None = None) -> list[int]:
    """Live (not zombie) processes whose command line contains ``marker`` (or, with ``argv``,
    whose arguments are exactly ``argv``, the program compared by its base name)."""
    found = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                raw = fh.read()
        except OSError:
            continue
        args = raw.decode("utf-8", "replace").split("\0")
        if args and args[-1] == "":
            args.pop()
        if argv is not None:
            hit = len(args) == len(argv) and os.path.basename(args[0]) == argv[0] and args[1:] == argv[1:]
        else:
            hit = marker in " ".join(args)
        if hit and _proc_state(entry) not in (None, "Z", "X"):
            found.append(int(entry))
    return found


def kill_groups_of(pids) -> None:
    """SIGKILL the process groups of ``pids`` (and the pids themselves)."""
    for pid in pids:
        try:
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class Marker:
    """A unique sleep duration, e.g. ``30.418273``: ``sleep {marker}`` in a job's command makes
    its process findable by command line, and nothing else on the machine shares it."""

    def __init__(self) -> None:
        self.value = f"30.{uuid.uuid4().int % 10**6:06d}1"

    def __str__(self) -> str:
        return self.value

    def pids(self) -> list[int]:
        """The live ``sleep MARKER`` processes (not the shells that started them)."""
        return pids_with(self.value, ["sleep", self.value])

    def all_pids(self) -> list[int]:
        """Every live process with the marker in its command line (shells included)."""
        return pids_with(self.value)


@pytest.fixture
def marker():
    m = Marker()
    yield m
    kill_groups_of(m.all_pids())  # never leave a sleeping job behind, whatever the test did


@pytest.fixture
def procs():
    """Background rulec processes started by a test; killed (whole group) at teardown."""
    started: list[subprocess.Popen] = []
    yield started
    for p in started:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            p.communicate(timeout=10)
        except Exception:  # pragma: no cover
            pass


# --------------------------------------------------------------------------- projects

# 2 datasets × 2 models: prepare (2 jobs) -> estimate (4) -> summarize (2) -> all.
SMALL_RULEFILE = """\
# a small datasets × models pipeline
dimension dataset = ["d0", "d1"]
dimension model = ["m0", "m1"]

rule all:
    input: expand("bld/summary/{model}.txt")

rule prepare:
    input:  "src/data.txt"
    output: "bld/data/{dataset}.txt"
    shell:  "cat {input} > {output}; echo prepared {dataset} >> {output}"

rule estimate:
    input:  data="bld/data/{dataset}.txt"
    output: "bld/estimation/{dataset}_{model}.txt"
    params: seed=42, note="n"
    shell:  "cat {input.data} > {output}; echo fit {model} seed {params.seed} >> {output}"

rule summarize:
    input:  expand("bld/estimation/{dataset}_{model}.txt")
    output: "bld/summary/{model}.txt"
    shell:  "cat {input} > {output}"
"""

PREPARE = ["prepare[d0]", "prepare[d1]"]
ESTIMATE = ["estimate[d0,m0]", "estimate[d0,m1]", "estimate[d1,m0]", "estimate[d1,m1]"]
SUMMARIZE = ["summarize[m0]", "summarize[m1]"]
ALL_JOBS = PREPARE + ESTIMATE + SUMMARIZE
OUTPUTS = {
    "prepare[d0]": "bld/data/d0.txt",
    "prepare[d1]": "bld/data/d1.txt",
    "estimate[d0,m0]": "bld/estimation/d0_m0.txt",
    "estimate[d0,m1]": "bld/estimation/d0_m1.txt",
    "estimate[d1,m0]": "bld/estimation/d1_m0.txt",
    "estimate[d1,m1]": "bld/estimation/d1_m1.txt",
    "summarize[m0]": "bld/summary/m0.txt",
    "summarize[m1]": "bld/summary/m1.txt",
}


@dataclass
class Project:
    path: Path

    def run(self, *args, timeout: float = TIMEOUT, input: str | None = None) -> subprocess.CompletedProcess:
        return run_rulec(args, self.path, timeout=timeout, input=input)

    def ok(self, *args, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
        """Run rulec and require exit status 0."""
        res = self.run(*args, timeout=timeout)
        assert res.returncode == 0, f"rulec {' '.join(map(str, args))} exited {res.returncode}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}"
        return res

    def popen(self, *args) -> subprocess.Popen:
        return popen_rulec(args, self.path)

    def write(self, rel: str, text: str) -> Path:
        p = self.path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        return p

    def rulefile(self, text: str) -> Path:
        return self.write("Rulefile", textwrap.dedent(text))

    def read(self, rel: str) -> str:
        return (self.path / rel).read_text()

    def exists(self, rel: str) -> bool:
        return (self.path / rel).exists()

    def one_job(self, shell: str, extra: str = "") -> Path:
        """A Rulefile whose default target needs one job, ``x``, making out/x.txt with
        ``shell``; ``extra`` holds more fields of rule x (e.g. a log line)."""
        quoted = shell.replace("\\", "\\\\").replace('"', '\\"')
        fields = "".join(f"    {line}\n" for line in extra.splitlines() if line.strip())
        return self.write("Rulefile", 'rule all:\n    input: "out/x.txt"\n\nrule x:\n    output: "out/x.txt"\n'
                          f'{fields}    shell: "{quoted}"\n')

    def start_fast_then_slow(self, marker, procs) -> subprocess.Popen:
        """Write a two-job chain (fast, then slow: partial output, ``sleep <marker>``), start
        ``rulec run -j2`` and return once the slow job is running."""
        self.rulefile(f"""\
            rule all:
                input: "out/slow.txt"

            rule fast:
                output: "out/fast.txt"
                shell: "echo fast > {{output}}"

            rule slow:
                input: "out/fast.txt"
                output: "out/slow.txt"
                shell: "echo partial > {{output}}; sleep {marker}; echo done >> {{output}}"
            """)
        p = self.popen("run", "-j2")
        procs.append(p)
        wait_for(lambda: self.exists("out/slow.txt") and marker.pids(), what="the slow job to start")
        # (slow's worker starts it the moment fast ends, before rulec has read fast's end:
        # wait for fast's record too, which rulec writes after saying it is done)
        wait_for(lambda: self.recorded("fast"), what="fast's record")
        return p

    def recorded(self, job_id: str) -> bool:
        """Whether the state store holds ``job_id``'s record of success (read as ``rulec
        dryrun`` reads it: a run may be writing the store)."""
        from rulec.errors import StateError
        from rulec.history import History

        try:
            h = History.open(str(self.path))
        except StateError:  # (being made: asked again)
            return False
        try:
            rec = h.get(job_id)
        finally:
            h.close()
        return rec is not None and rec.status == "ok"

    def edit(self, old: str, new: str, rel: str = "Rulefile") -> None:
        text = self.read(rel)
        assert text.count(old) == 1, f"{old!r} must occur once in {rel}"
        self.write(rel, text.replace(old, new))


def make_project(path: Path, rulefile: str = SMALL_RULEFILE) -> Project:
    proj = Project(path)
    proj.write("Rulefile", rulefile)
    proj.write("src/data.txt", "raw data\n")
    return proj


@pytest.fixture
def project(tmp_path) -> Project:
    """A fresh 2×2 datasets × models project (see SMALL_RULEFILE), nothing built yet."""
    return make_project(tmp_path)


@pytest.fixture
def empty_project(tmp_path) -> Project:
    """An empty folder as a Project: the test writes its own Rulefile."""
    return Project(tmp_path)
