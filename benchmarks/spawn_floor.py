#!/usr/bin/env python3
"""What starting one trivial job costs, by the way it is started: the floor under any run
loop that gives its jobs a shell.

Every way runs N jobs one after another, each ``echo mI > o/outK.json`` (the harness's
``fit`` job: a shell builtin and a redirection), and counts the CPU time of the processes
that run them (the starter's children, user + system), not the starter's own:

  sh-spawn       ``posix_spawn("/bin/sh", "-c", COMMAND)`` per job, waited for: what ninja
                 and make do for each job (/bin/sh is dash on Debian)
  bash-spawn     the same with ``bash -euo pipefail -c``: a job run as rulec promises, by a
                 fresh bash each time
  dash-subshell  a dash loop forking ``( COMMAND ) & wait`` per job
  bash-subshell  a bash loop forking ``( COMMAND ) & wait`` per job: the least a job of a
                 long-lived bash costs, before any protocol
  worker         rulec's bash worker (rulec/executors/workers.py), fed the jobs as the run
                 loop feeds it: each queued behind the one running, with that job's output
                 as its guard

The ways alternate within each repetition (this machine is shared and noisy); the table
gives medians and each way's CPU against sh-spawn's, measured in the same run.

    python benchmarks/spawn_floor.py --jobs 2000 --reps 5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

COMMAND = "echo m{i} > o/out{k}.json"
WAYS = ("sh-spawn", "bash-spawn", "dash-subshell", "bash-subshell", "worker")


def _cpu(ru) -> float:
    return ru.ru_utime + ru.ru_stime


def _spawn_loop(shell: list[str], n: int) -> float:
    """CPU of the spawned shells (and what they run), in seconds."""
    import resource

    before = _cpu(resource.getrusage(resource.RUSAGE_CHILDREN))
    for i in range(n):
        pid = os.posix_spawn(shell[0], [*shell, COMMAND.format(i=i, k=i % 10)], os.environ)
        os.waitpid(pid, 0)
    return _cpu(resource.getrusage(resource.RUSAGE_CHILDREN)) - before


def _shell_loop(shell: str, n: int) -> float:
    """CPU of one shell running a loop of ``( COMMAND ) & wait`` (its children included)."""
    if shell == "bash":
        script = f'for ((i=0;i<{n};i++)); do ( echo m$i > o/out$((i%10)).json ) & wait; done'
    else:
        script = f'i=0; while [ $i -lt {n} ]; do ( echo m$i > o/out$((i%10)).json ) & wait; i=$((i+1)); done'
    pid = os.posix_spawnp(shell, [shell, "-c", script], os.environ)
    _, status, ru = os.wait4(pid, 0)
    if status:
        raise SystemExit(f"{shell} loop failed: {status}")
    return _cpu(ru)


def _worker(n: int, folder: str) -> float:
    """CPU of one rulec worker and the jobs it forks, fed as the run loop feeds it."""
    from rulec.executors import workers as w

    p = subprocess.Popen(["bash", "-c", w.WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, bufsize=0)

    def request(i: int, queue: str) -> bytes:
        guard = f"o/out{(i - 1) % 10}.json" if queue == "f" else ""
        return w.request(f"fit[d{i:04d},m00]", f"{folder}/log{i % 2}", "e", COMMAND.format(i=i, k=i % 10), queue, guard,
                         keep=True)

    p.stdin.write(request(0, "n"))
    for i in range(1, n):
        p.stdin.write(request(i, "f"))
        while True:  # the verdict on the queued job ends a line: "PID STATUS +" or "+"
            line = p.stdout.readline().rstrip()
            if not line:
                raise SystemExit("the worker stopped answering")
            if line.endswith((b"+", b"-")):
                break
    p.stdin.close()
    p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    return _cpu(ru)


def one(way: str, n: int, folder: str) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of ``n`` jobs started ``way``."""
    t = time.perf_counter()
    if way == "sh-spawn":
        cpu = _spawn_loop(["/bin/sh", "-c"], n)
    elif way == "bash-spawn":
        cpu = _spawn_loop([shutil.which("bash"), "-euo", "pipefail", "-c"], n)
    elif way == "dash-subshell":
        cpu = _shell_loop("dash", n)
    elif way == "bash-subshell":
        cpu = _shell_loop("bash", n)
    else:
        cpu = _worker(n, folder)
    return cpu, time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=2000, help="jobs per way and repetition (default 2000)")
    ap.add_argument("--reps", type=int, default=5, help="repetitions, the ways alternating (default 5)")
    ap.add_argument("--ways", default=",".join(WAYS), help=f"any of {', '.join(WAYS)}")
    ap.add_argument("--json", help="write the per-job figures to this file")
    args = ap.parse_args()
    ways = [w.strip() for w in args.ways.split(",") if w.strip()]
    unknown = [w for w in ways if w not in WAYS]
    if unknown:
        ap.error(f"unknown way(s): {', '.join(unknown)}")
    if "dash-subshell" in ways and shutil.which("dash") is None:
        print("no dash here: dash-subshell skipped", file=sys.stderr)
        ways.remove("dash-subshell")
    got: dict[str, list[tuple[float, float]]] = {w: [] for w in ways}
    with tempfile.TemporaryDirectory(prefix="rulec-spawn-") as folder:
        os.makedirs(os.path.join(folder, "o"))
        here = os.getcwd()
        os.chdir(folder)
        try:
            for rep in range(args.reps):
                order = ways if rep % 2 == 0 else ways[::-1]
                for way in order:
                    cpu, wall = one(way, args.jobs, folder)
                    got[way].append((cpu, wall))
                    print(f"rep {rep + 1}/{args.reps} {way:14s} {1000 * cpu / args.jobs:6.3f} ms CPU a job", file=sys.stderr)
        finally:
            os.chdir(here)
    n = args.jobs
    base = statistics.median(c for c, _ in got["sh-spawn"]) if "sh-spawn" in got else None
    print(f"\n{n} jobs `{COMMAND.format(i='I', k='K')}` a way, {args.reps} repetitions (medians)")
    print(f"  {'way':14s} {'CPU ms/job':>11s} {'wall ms/job':>12s} {'x sh-spawn':>11s}")
    out = {}
    for way in ways:
        cpu = statistics.median(c for c, _ in got[way]) / n * 1000
        wall = statistics.median(w for _, w in got[way]) / n * 1000
        ratio = f"{cpu / (base / n * 1000):.2f}" if base else "-"
        print(f"  {way:14s} {cpu:11.3f} {wall:12.3f} {ratio:>11s}")
        out[way] = {"cpu_ms_per_job": cpu, "wall_ms_per_job": wall}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"jobs": n, "reps": args.reps, "ways": out}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
