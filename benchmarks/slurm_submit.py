#!/usr/bin/env python3
"""SLURM submission benchmark: a D datasets × M models workflow of ``echo`` jobs, emitted and
run on the local SLURM cluster (scripts/local-slurm.sh).

    prepare[d]     -> data/{d}.txt            D jobs
    fit[d,m]       data/{d}.txt -> fit/{d}_{m}.txt   D*M jobs
    summarize[m]   fit/*_{m}.txt -> out/{m}.txt      M jobs

Measures, for D=1000, M=10 (11,010 jobs) by default:

- emit: in-process phases (plan, bundle build, bundle write) and the wall time of
  ``rulec emit --slurm`` as a subprocess;
- run: ``rulec run --executor slurm`` as a subprocess: the time until every array is
  submitted (rulec's own time: start-up, plan, bundle, limit checks, sbatch calls), the
  end-to-end time until every job is done and recorded, and the number of sbatch calls,
  checked against the bound rules × ⌈tasks / MaxArraySize⌉.

The default local cluster (MaxArraySize=1001, MaxJobCount=10000) cannot hold 11k finished
tasks (they stay in slurmctld's memory for MinJobAge=600 s), so by default the script
restarts it with LOCAL_SLURM_MAX_ARRAY_SIZE=10001 (MaxJobCount=20002) and
LOCAL_SLURM_CPUS=8, and restores the default cluster at the end (``--keep-cluster`` not to),
after waiting for the finished tasks to be purged (MinJobAge, up to 10 minutes): until then
the default cluster would refuse new jobs.
``--max-array-size N`` caps arrays below the cluster's limit (through a profile), to measure
the split case: with 1001, fit's 10,000 tasks become 10 arrays.

``--pack N`` runs N jobs per array task (``rulec run --pack N``: 11,010 jobs in 221 tasks at
N=50); ``--compare`` runs the workflow unpacked and then packed, back to back on the same
cluster, and gives the ratio of their end-to-end times. ``--cluster-dir DIR --cluster-port P``
uses a cluster of its own (scripts/local-slurm.sh with LOCAL_SLURM_DIR and LOCAL_SLURM_PORT),
next to a shared one, stopped at the end instead of restored.

    python benchmarks/slurm_submit.py                          # 1000 × 10, arrays up to 10001
    python benchmarks/slurm_submit.py --max-array-size 1001    # the same split as a default cluster
    python benchmarks/slurm_submit.py --pack 50 --compare      # unpacked, then 50 jobs per task
    python benchmarks/slurm_submit.py --datasets 100 --no-cluster-restart --emit-only
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "local-slurm.sh"
RULEC = [sys.executable, "-m", "rulec"]


def rulefile(datasets: int, models: int) -> str:
    ds = ", ".join(f'"d{i:04d}"' for i in range(datasets))
    ms = ", ".join(f'"m{j:02d}"' for j in range(models))
    return f'''\
dimension dataset = [{ds}]
dimension model = [{ms}]

rule all:
    input: expand("out/{{model}}.txt")

rule prepare:
    output: "data/{{dataset}}.txt"
    shell: "echo {{dataset}} > {{output}}"

rule fit:
    input: "data/{{dataset}}.txt"
    output: "fit/{{dataset}}_{{model}}.txt"
    shell: "echo {{dataset}} {{model}} > {{output}}"

rule summarize:
    input: expand("fit/{{dataset}}_{{model}}.txt")
    output: "out/{{model}}.txt"
    shell: "cat {{input}} > {{output}}"
'''


def cluster(action: str, env_extra: dict[str, str]) -> str | None:
    env = {**os.environ, **env_extra}
    res = subprocess.run(["bash", str(SCRIPT), action], env=env, capture_output=True, text=True, timeout=900)
    if res.returncode != 0:
        sys.exit(f"local-slurm.sh {action} failed:\n{res.stderr}")
    last = res.stdout.strip().splitlines()[-1] if res.stdout.strip() else ""
    return last.split("=", 1)[1] if last.startswith("export SLURM_CONF=") else None


def max_array_size() -> int:
    out = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith("MaxArraySize"):
            return int(line.split("=")[1])
    return 1001


def records() -> int:
    out = subprocess.run(["squeue", "-h", "-t", "all", "-r", "-o", "%i"], capture_output=True, text=True).stdout
    return len(out.splitlines())


def wait_for_purge(limit: int = 5000, timeout: float = 900) -> None:
    """Finished tasks stay job records for MinJobAge (600 s): the default cluster's
    MaxJobCount of 10000 would refuse new jobs until they are purged, so wait for that before
    restoring it."""
    deadline = time.monotonic() + timeout
    while records() > limit and time.monotonic() < deadline:
        time.sleep(15)


def write_project(workdir: Path, datasets: int, models: int, cap: int | None) -> None:
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    (workdir / "Rulefile").write_text(rulefile(datasets, models))
    if cap:
        (workdir / "cluster.toml").write_text(f"[slurm]\nmax_array_size = {cap}\n")


def emit_phases(workdir: Path, size: int, profile: str | None, pack: int | None = None) -> dict:
    """plan, build and write timed in-process (what ``rulec emit`` does)."""
    sys.path.insert(0, str(REPO))
    from rulec import api, ir
    from rulec import profile as prof
    from rulec.bundle import files as bundle

    t0 = time.perf_counter()
    planned = api.plan(api.Target(str(workdir / "Rulefile")))
    t1 = time.perf_counter()
    b = bundle.build(planned.graph, planned.plan.run, "slurm", prof.load(profile), str(workdir / "bundle-inproc"), size,
                     ir.Pack(jobs=pack) if pack else None)
    t2 = time.perf_counter()
    bundle.write(b)
    t3 = time.perf_counter()
    return {
        "jobs": len(planned.plan.run),
        "arrays": len(b.layout.arrays),
        "tasks": b.layout.n_tasks,
        "plan_s": round(t1 - t0, 3),
        "build_s": round(t2 - t1, 3),
        "write_s": round(t3 - t2, 3),
        "total_s": round(t3 - t0, 3),
        "files": len(b.files),
    }


def bound(tasks_per_rule: dict[str, int], size: int) -> int:
    return sum(math.ceil(n / size) for n in tasks_per_rule.values())


def measure(workdir: Path, args, size: int, pack: int | None) -> dict:
    """emit (in-process and as a command), then ``rulec run --executor slurm`` end to end."""
    write_project(workdir, args.datasets, args.models, args.max_array_size)
    profile = str(workdir / "cluster.toml") if args.max_array_size else None
    jobs = {"prepare": args.datasets, "fit": args.datasets * args.models, "summarize": args.models}
    tasks = {rule: math.ceil(n / (pack or 1)) for rule, n in jobs.items()}
    results: dict = {"pack": pack, "jobs": sum(jobs.values()), "tasks": sum(tasks.values()), "sbatch_bound": bound(tasks, size)}
    packing = ["--pack", str(pack)] if pack else []

    results["emit_inprocess"] = emit_phases(workdir, size, profile, pack)
    shutil.rmtree(workdir / "bundle-inproc")
    env = {**os.environ, "RULEC_MAX_ARRAY_SIZE": str(size), "PYTHONPATH": str(REPO)}
    t0 = time.perf_counter()
    cmd = RULEC + ["emit", "--slurm", "-o", "bundle"] + (["--profile", profile] if profile else []) + packing
    subprocess.run(cmd, cwd=workdir, env=env, check=True, capture_output=True)
    results["emit_cli_s"] = round(time.perf_counter() - t0, 3)
    shutil.rmtree(workdir / "bundle")
    if args.emit_only:
        return results

    t0 = time.perf_counter()
    proc = subprocess.Popen(RULEC + ["run", "--executor", "slurm", "--poll", str(args.poll)] + (["--profile", profile] if profile else [])
                            + packing, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    submitted = None
    done = 0
    for line in proc.stdout:
        if submitted is None and line.startswith("submitted "):
            submitted = time.perf_counter() - t0
            results["submitted_line"] = line.strip()[:200]
        elif " done " in line:
            done += 1
    err = proc.stderr.read()
    rc = proc.wait()
    total = time.perf_counter() - t0
    if rc != 0:
        print(err, file=sys.stderr)
        raise SystemExit(f"rulec run exited {rc}")
    bundle_dir = workdir / ".rulec" / "slurm" / "1"
    calls = len((bundle_dir / "jobids").read_text().splitlines())
    results["run"] = {
        "submit_s": round(submitted or 0, 3),
        "end_to_end_s": round(total, 3),
        "sbatch_calls": calls,
        "jobs_done": done,
        "jobs_per_s": round(done / total, 1),
    }
    assert calls <= results["sbatch_bound"], (calls, results["sbatch_bound"])
    assert done == results["jobs"], (done, results["jobs"])
    dry = subprocess.run(RULEC + ["dryrun", "-q"], cwd=workdir, env=env, capture_output=True, text=True)
    results["rerun_nothing_to_do"] = "Nothing to do" in dry.stdout
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", type=int, default=1000)
    ap.add_argument("--models", type=int, default=10)
    ap.add_argument("--workdir", default=str(REPO / "benchmarks" / "work" / "slurm"))
    ap.add_argument("--poll", type=float, default=1.0)
    ap.add_argument("--max-array-size", type=int, default=None, help="cap arrays below the cluster's MaxArraySize (profile)")
    ap.add_argument("--cluster-cpus", default="8")
    ap.add_argument("--cluster-max-array", default="10001")
    ap.add_argument("--no-cluster-restart", action="store_true", help="use the running cluster as it is")
    ap.add_argument("--keep-cluster", action="store_true", help="do not restore the default cluster at the end")
    ap.add_argument("--emit-only", action="store_true")
    ap.add_argument("--pack", type=int, default=None, metavar="N", help="N jobs per array task (rulec run --pack N)")
    ap.add_argument("--compare", action="store_true", help="with --pack: run unpacked, then packed, and give the ratio")
    ap.add_argument("--cluster-dir", default=None, help="a cluster of its own: LOCAL_SLURM_DIR (stopped at the end)")
    ap.add_argument("--cluster-port", default=None, help="its slurmctld port (LOCAL_SLURM_PORT)")
    ap.add_argument("--json", help="write the results here too")
    args = ap.parse_args()

    if args.compare and not args.pack:
        ap.error("--compare needs --pack N")
    private = {}
    if args.cluster_dir:
        private = {"LOCAL_SLURM_DIR": args.cluster_dir, **({"LOCAL_SLURM_PORT": args.cluster_port} if args.cluster_port else {})}
        os.environ.update(private)  # every cluster() call, and the default restored at the end, are this one's
    restarted = False
    if not args.no_cluster_restart and not args.emit_only:
        conf = cluster("start", {"LOCAL_SLURM_CPUS": args.cluster_cpus, "LOCAL_SLURM_MAX_ARRAY_SIZE": args.cluster_max_array})
        restarted = True
    else:
        conf = os.environ.get("SLURM_CONF") if not private else None
        conf = conf or cluster("start", {})
    os.environ["SLURM_CONF"] = conf
    results: dict = {"datasets": args.datasets, "models": args.models}
    try:
        cluster_size = max_array_size()
        size = min(cluster_size, args.max_array_size or cluster_size)
        results["cluster_max_array_size"] = cluster_size
        results["max_array_size"] = size
        workdir = Path(args.workdir)
        if args.compare:
            results["unpacked"] = measure(workdir / "unpacked", args, size, None)
            results["packed"] = measure(workdir / "packed", args, size, args.pack)
            if not args.emit_only:
                results["speed_up"] = round(results["unpacked"]["run"]["end_to_end_s"] / results["packed"]["run"]["end_to_end_s"], 2)
        else:
            results.update(measure(workdir, args, size, args.pack))
    finally:
        if private and restarted:
            cluster("stop", {})  # a cluster of its own: nothing to restore
        elif restarted and not args.keep_cluster:
            wait_for_purge()
            cluster("start", {})
    print(json.dumps(results, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
