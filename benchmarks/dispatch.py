#!/usr/bin/env python3
"""What a job costs the process that dispatches it, in instructions: rulec's, its bash
worker's and ninja's.

On a shared 2-core machine wall time swings by more than most changes to the run loop
are worth; an instruction count (valgrind's callgrind) does not move with the load, so a
change of 1 % shows. Three counts, on the harness's workflow (benchmarks/generate.py):

  rulec    `rulec run -j2 -q` from scratch, then once more (nothing to do): rulec's own
           process only (callgrind does not follow the exec that starts each bash worker).
           A job costs (run - no-op) / jobs; the no-op is the fixed part (start, imports,
           plan).
  ninja    the same for `ninja -j2`: ninja's process only (its spawns exec /bin/sh).
  worker   one bash worker alone (rulec's, from the installed rulec), fed N `echo` jobs as
           the run loop feeds it: each queued behind the one running, with that job's output
           as its guard. The worker's own instructions a job (the forked jobs are not
           counted: each is a process of its own).

    python benchmarks/dispatch.py --scale 1.1k
    python benchmarks/dispatch.py --scale 11k --worker-jobs 500 --json out.json

rulec is installed as the harness installs it (benchmarks/work/venv, `pip install .`), so
a first run after a change also compiles rulec's bytecode: that run is made once before the
counted one and thrown away.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import generate  # noqa: E402
import harness  # noqa: E402

# The feeder of one worker (run by the venv's python, which imports the installed rulec):
# argv: the number of jobs, the folder to run them in; it prints the worker's pid, whose
# count is in that folder's cg.PID (each forked job writes a file of its own there).
FEEDER = r"""
import os, subprocess, sys
from rulec.executors import workers as w
n, folder = int(sys.argv[1]), sys.argv[2]
os.makedirs(os.path.join(folder, "o"), exist_ok=True)
p = subprocess.Popen(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + os.path.join(folder, "cg.%p"), "bash", "-c", w.WORKER],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=folder, bufsize=0)
def request(i, queue):
    guard = f"o/out{(i - 1) % 10}.json" if queue == "f" else ""
    return w.request(f"fit[d{i:04d},m00]", f"{folder}/log{i % 2}", "e", f"echo m{i} > o/out{i % 10}.json", queue, guard,
                     keep=True)
p.stdin.write(request(0, "n"))
for i in range(1, n):
    p.stdin.write(request(i, "f"))
    while True:  # the verdict on the queued job ends a line: "PID STATUS +" or "+"
        line = p.stdout.readline()
        if not line:
            sys.exit("the worker died")
        if line.endswith(b"+\n"):
            break
        if line.endswith(b"-\n"):
            sys.exit(f"the worker did not start job {i}: {line!r}")
p.stdin.close()
code = p.wait()
print(p.pid)
sys.exit(code)
"""


def collected(path: str) -> int:
    """The instruction count in a callgrind output file."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("summary:"):
                return int(line.split()[1])
    raise RuntimeError(f"no summary in {path}")


def count(argv: list[str], cwd: str, env: dict) -> int:
    """Instructions of the process ``argv`` starts (not of what it execs)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        proc = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv], cwd=cwd, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
        return collected(out)


def dispatcher(meta: dict, argv: list[str], env: dict, warm: bool) -> dict:
    """From scratch, then the no-op that follows: instructions of each, and a job's share."""
    folder = meta["dir"]
    if warm:  # (a first run after an install compiles the bytecode: not what a run costs)
        generate.clean(folder)
        subprocess.run(argv, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    generate.clean(folder)
    run = count(argv, folder, env)
    harness.check_built(meta, argv[0])
    noop = count(argv, folder, env)
    generate.clean(folder)
    return {"run": run, "noop": noop, "per_job": (run - noop) / meta["jobs"]}


def worker(python: str, jobs: int) -> float:
    """A bash worker's own instructions a job (see FEEDER)."""
    with tempfile.TemporaryDirectory() as tmp:
        # (run in tmp: `python -c` puts its folder first on sys.path, and a checkout's rulec/ is not the installed one)
        proc = subprocess.run([python, "-c", FEEDER, str(jobs), tmp], cwd=tmp, env=harness.child_env(),
                              stdout=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"the worker's feeder failed (exit {proc.returncode})")
        return collected(os.path.join(tmp, f"cg.{proc.stdout.split()[-1]}")) / jobs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--scale", default="1.1k", choices=sorted(generate.SCALES), help="the workflow (default 1.1k)")
    ap.add_argument("--tools", default="rulec,ninja,worker", help="any of rulec, ninja, worker (default: all three)")
    ap.add_argument("--worker-jobs", type=int, default=300, help="jobs fed to the worker alone (default 300)")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="jobs at a time for rulec and ninja (default 2)")
    ap.add_argument("--workdir", default=os.path.join(HERE, "work"), help="the harness's work folder")
    ap.add_argument("--json", help="write the counts to this file")
    args = ap.parse_args(argv)
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = [t for t in tools if t not in ("rulec", "ninja", "worker")]
    if unknown:
        ap.error(f"unknown tool(s): {', '.join(unknown)}")
    if shutil.which("valgrind") is None:
        print("dispatch.py needs valgrind (apt-get install valgrind)", file=sys.stderr)
        return 2
    os.makedirs(args.workdir, exist_ok=True)
    rulec = harness._installed = harness.install_rulec(args.workdir)  # (child_env then imports the installed copy)
    python = os.path.join(os.path.dirname(rulec), "python")
    meta = harness.prepare_workflow(args.workdir, args.scale)
    env = harness.child_env()
    results: dict = {"scale": args.scale, "jobs": meta["jobs"]}
    if "rulec" in tools:
        results["rulec"] = dispatcher(meta, [python, "-m", "rulec", "run", "-j", str(args.jobs), "-q", "Rulefile"], env, True)
    if "ninja" in tools:
        if shutil.which("ninja") is None:
            print("ninja is not installed: skipped", file=sys.stderr)
        else:
            results["ninja"] = dispatcher(meta, ["ninja", "-j", str(args.jobs)], env, False)
    if "worker" in tools:
        results["worker"] = {"per_job": worker(python, args.worker_jobs), "jobs": args.worker_jobs}
    print(f"\n{args.scale} ({meta['jobs']:,} jobs), instructions (callgrind)")
    print(f"  {'process':10s} {'run':>14s} {'no-op':>14s} {'a job':>10s}")
    for name in ("rulec", "ninja"):
        if name in results:
            r = results[name]
            print(f"  {name:10s} {r['run']:>14,} {r['noop']:>14,} {r['per_job']:>10,.0f}")
    if "worker" in results:
        print(f"  {'worker':10s} {'':>14s} {'':>14s} {results['worker']['per_job']:>10,.0f}   "
              f"(bash, alone, {args.worker_jobs} queued echo jobs)")
    if "rulec" in results and "ninja" in results:
        print(f"  rulec / ninja, a job: {results['rulec']['per_job'] / results['ninja']['per_job']:.1f}x")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
