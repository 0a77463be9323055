"""``benchmark:`` files: per job, a TSV with one row per attempt (wall time, peak memory, CPU
times, I/O), measured where the job runs, the same way for every executor.

A benchmarked job's command runs as

    exec PYTHON -m rulec.benchmark FILE ATTEMPT -- bash -euo pipefail -c COMMAND JOB_ID

This small program (standard library only) starts the command, waits for it with ``wait4``
(the resource usage of the command and every process of it that was waited for, as
``getrusage(RUSAGE_CHILDREN)`` gives it), appends one row to FILE, and exits as the command
did (a command killed by a signal kills it with the same signal). Attempt 1 starts FILE
afresh with the header (a stale file from an earlier run never survives the job's start); a
retry (attempt 2, 3, ...) appends to it. Only jobs of rules with a ``benchmark:`` pay for it
(a Python start-up, tens of milliseconds, outside of what is measured).

Columns (tab-separated):

- ``attempt``      the attempt (1, then 2, 3... for retries)
- ``s``            wall-clock seconds from the command's start to its end
- ``max_rss_mb``   the peak resident memory of the largest single process of the command, in
                   MiB (``ru_maxrss``; not a sum over processes that ran at once)
- ``user_s``, ``system_s``   CPU seconds in user and kernel mode, summed over its processes
- ``io_in``, ``io_out``   bytes read from and written to storage devices, as the kernel counts
                   them (``ru_inblock``/``ru_oublock`` x 512: reads served from the page cache
                   are not counted, writes are counted when written back)
- ``exit``         the exit status (negative: killed by that signal)
"""

from __future__ import annotations

import os
import signal
import sys
import time

COLUMNS = ("attempt", "s", "max_rss_mb", "user_s", "system_s", "io_in", "io_out", "exit")
HEADER = "\t".join(COLUMNS) + "\n"
BLOCK = 512  # bytes per ru_inblock / ru_oublock unit


def wrap(command: str, path: str, attempt: int, job_id: str, python: str | None = None, exec_: bool = True) -> str:
    """The shell text that runs ``command`` measured, writing the row of ``attempt`` to ``path``
    (relative to the working folder). Every word is quoted for the shell. ``exec_``: replace
    the shell running it (False where more lines follow, as the staging of remote outputs)."""
    import shlex

    words = [python or sys.executable, "-m", "rulec.benchmark", path, str(attempt), "--",
             "bash", "-euo", "pipefail", "-c", command, job_id]
    return ("exec " if exec_ else "") + shlex.join(words)


def row(attempt: int, seconds: float, usage, status: int) -> str:
    """One TSV row from a ``resource.struct_rusage`` (``os.wait4``'s)."""
    rss = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)  # bytes there, KiB on Linux
    cells = (str(attempt), f"{seconds:.3f}", f"{rss:.1f}", f"{usage.ru_utime:.3f}", f"{usage.ru_stime:.3f}",
             str(usage.ru_inblock * BLOCK), str(usage.ru_oublock * BLOCK), str(status))
    return "\t".join(cells) + "\n"


def _start_file(path: str, attempt: int) -> None:
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    if attempt == 1 or not os.path.exists(path) or os.path.getsize(path) == 0:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(HEADER)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 4 or args[2] != "--" or not args[1].isdigit() or int(args[1]) < 1:
        print("usage: python -m rulec.benchmark FILE ATTEMPT -- COMMAND...", file=sys.stderr)
        return 2
    path, attempt, command = args[0], int(args[1]), args[3:]
    try:
        _start_file(path, attempt)
    except OSError as exc:
        print(f"rulec: cannot write the benchmark file {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    start = time.monotonic()
    try:
        pid = os.posix_spawnp(command[0], command, os.environ)
    except OSError as exc:
        print(f"rulec: cannot start {command[0]}: {exc.strerror or exc}", file=sys.stderr)
        return 127

    def forward(signum, frame):  # a stop for the job reaches the command, whoever it was sent to
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, forward)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.monotonic() - start
    code = os.waitstatus_to_exitcode(status)
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(row(attempt, seconds, usage, code))
    except OSError as exc:
        print(f"rulec: cannot write the benchmark file {path}: {exc.strerror or exc}", file=sys.stderr)
        if code == 0:
            return 1
    if code < 0:  # end as the command did: killed by its signal
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        return 128 - code
    return code


if __name__ == "__main__":
    sys.exit(main())
