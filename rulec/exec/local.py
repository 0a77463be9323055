"""Starting and stopping local job processes: the only place that spawns them (via plumbum).

Each job's command is written to a script file and run as ``bash -euo pipefail SCRIPT`` in
its own process group (so Ctrl-C reaches rulec, which then stops whole job groups), with
stdout and stderr going to the job's log file.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from dataclasses import dataclass

_BASH = None
_DEVNULL: int | None = None


def _devnull() -> int:
    """One read-only /dev/null for every job's stdin (opening it per job costs time)."""
    global _DEVNULL
    if _DEVNULL is None:
        _DEVNULL = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    return _DEVNULL


def _bash():
    global _BASH
    if _BASH is None:
        from plumbum import local

        _BASH = local["bash"]["-euo", "pipefail"]
    return _BASH


@dataclass
class Proc:
    job: int
    pid: int
    popen: object
    started: float
    log: str


def script_path(workdir: str, job_id: str) -> str:
    name = hashlib.sha1(job_id.encode("utf-8", "surrogateescape")).hexdigest()[:20]
    return os.path.join(workdir, ".rulec", "jobs", name + ".sh")


# Longer commands go through a script file: one argument may not exceed 128 KiB on Linux.
INLINE_LIMIT = 64 * 1024


def spawn(job: int, job_id: str, command: str, workdir: str, log: str) -> Proc:
    """Start ``bash -euo pipefail -c COMMAND`` (or a script file holding a long command);
    stdout and stderr go to ``log``. (rulec opens the log, not the job's shell: an ``exec
    >>LOG`` line would cost bash a fork, as a single simple command is exec'ed directly.)"""
    if len(command) < INLINE_LIMIT and "\0" not in command:
        argv = ["-c", command, job_id]
    else:
        script = script_path(workdir, job_id)
        os.makedirs(os.path.dirname(script), exist_ok=True)
        with open(script, "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.write(f"# {job_id}\n{command}\n")
        argv = [script]
    fd = os.open(os.path.join(workdir, log), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        popen = _bash()[argv].popen(
            cwd=workdir,
            stdin=_devnull(),
            stdout=fd,
            stderr=fd,
            start_new_session=True,
            close_fds=True,
        )
    finally:
        os.close(fd)
    return Proc(job, popen.pid, popen, time.monotonic(), log)


def stop_all(procs, grace: float = 5.0) -> None:
    """TERM every job's process group, then KILL what is left after ``grace`` seconds."""
    for proc in procs:
        _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    alive = list(procs)
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if not _reaped(p)]
        if alive:
            time.sleep(0.05)
    for proc in alive:
        _signal_group(proc.pid, signal.SIGKILL)
    for proc in alive:
        try:
            os.waitpid(proc.pid, 0)
        except ChildProcessError:
            pass
        proc.popen.returncode = -9
    # Members of the groups that outlived their leader.
    for proc in procs:
        _signal_group(proc.pid, signal.SIGKILL)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _reaped(proc: Proc) -> bool:
    try:
        pid, status = os.waitpid(proc.pid, os.WNOHANG)
    except ChildProcessError:
        return True
    if pid == 0:
        return False
    proc.popen.returncode = os.waitstatus_to_exitcode(status)
    return True


def wait_any(procs: dict[int, Proc], block: bool = True) -> list[tuple[Proc, int]]:
    """Reap finished job processes: (proc, exit code; negative for a signal)."""
    out = []
    flags = 0 if block else os.WNOHANG
    while procs:
        try:
            pid, status = os.waitpid(-1, flags)
        except ChildProcessError:
            break
        if pid == 0:
            break
        proc = procs.pop(pid, None)
        if proc is None:
            continue
        code = os.waitstatus_to_exitcode(status)
        proc.popen.returncode = code
        out.append((proc, code))
        flags = os.WNOHANG  # gather whatever else has finished, without blocking
    return out
