#!/usr/bin/env python3
"""Benchmark rulec against GNU make (and Snakemake, when installed) on generated workflows.

Modes:

  dry (default)  For each scale, these phases:
                   scratch    no outputs exist: every job must run   (rulec dryrun / make -n / snakemake -n)
                   noop       every output is up to date by mtime, no .rulec/ (rulec dryrun / make -q / snakemake -n)
                   noop-hist  the first no-op after `rulec run --touch` recorded every job (rulec dryrun / make -q)
                   edit       as noop-hist, just after an edit of one rule's command (summarize:
                              one job per model): rulec plans those jobs (rulec dryrun / make -q)
                 The tool "rulec-cold" is rulec with no cache folder (no parse or graph cache):
                 the first dry run of a new Rulefile. "rulec-replan" is rulec with its verdict
                 forgotten before each run (the parse and graph caches warm): a full plan, as
                 the first dry run after another tool changed a file.
  throughput     Really run the workflow from scratch with -j N (rulec run / make -j / snakemake -c),
                 deleting bld/ and tool state before every run; report jobs per second.

Repetitions alternate the tools round-robin (rotating the order each repetition) so machine
noise hits all tools alike. Wall time is measured around each child; peak RSS is the child's
wait4 ru_maxrss, taken through GNU time when available (see measure() for why).

    python benchmarks/harness.py --scales 1.1k,11k,51k
    python benchmarks/harness.py --scales 202k --tools make --reps 1 --json out.json
    python benchmarks/harness.py throughput --scales 1.1k,11k -j 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import generate  # noqa: E402

# ------------------------------------------------------------------ command lines (adjust here)
# "{rulec}" becomes `rulec` if it is on PATH, else `<python> -m rulec` (with the repo on
# PYTHONPATH); override it with the RULEC environment variable, e.g. RULEC="rulec --no-color".
RULEC_DRYRUN = "{rulec} dryrun -q Rulefile"
# The same workflow with its dimensions read from sample sheets and a 10k-key config.toml
# (generate.write_table_rulefile): what reading them costs, against RULEC_DRYRUN.
RULEC_TABLE_DRYRUN = "{rulec} dryrun -q table.rules"
# No cache at all (a cache folder that cannot exist): the Rulefile parsed and the graph
# resolved anew, as the first dry run of a new Rulefile does.
RULEC_COLD_DRYRUN = "env RULEC_CACHE_DIR=/dev/null/none {rulec} dryrun -q Rulefile"
RULEC_RUN = "{rulec} run -j {jobs} -q Rulefile"
# Records the touched state in the History without running jobs (make -t), so the
# "noop-hist" phase measures a no-op dry run with a History present.
RULEC_MARK: str | None = "{rulec} run --touch -q Rulefile"
MAKE_DRYRUN = "make -n -f Makefile"
MAKE_QUESTION = "make -q -f Makefile"
MAKE_RUN = "make -j {jobs} -f Makefile"
NINJA_DRYRUN = "ninja -n"  # scratch: every command listed; no-op: "no work to do"
NINJA_RUN = "ninja -j {jobs}"
SNAKEMAKE_DRYRUN = "snakemake -n -c1 -s Snakefile"
SNAKEMAKE_RUN = "snakemake -c {jobs} -s Snakefile"
# Not a CLI: rulec's parse + analyze + resolve in-process, as a preview while `dryrun` is missing.
RULEC_RESOLVE = "{python} -c 'from rulec import analyze, dag; dag.resolve(analyze.load(\"Rulefile\", \".\"))'"

ALL_TOOLS = ("rulec", "make", "ninja", "snakemake", "rulec-resolve", "rulec-table", "rulec-cold", "rulec-replan")
DEFAULT_TOOLS = "rulec,make,ninja,snakemake"
DEFAULT_SCALES = "1.1k,11k,51k"


# ------------------------------------------------------------------ environment


INSTALL = "venv"  # how rulec is started: "venv" (installed as a user installs it) or "current"


def venv_dir(workdir: str) -> str:
    return os.path.join(workdir, "venv")


def install_rulec(workdir: str) -> str:
    """rulec installed as a user installs it, in a venv of its own under the work folder:
    ``pip install .`` (not editable, bytecode compiled by pip), its dependencies from
    pyproject.toml. The first call creates the venv (a minute, from PyPI); later calls only
    reinstall rulec from the working tree (a few seconds).

    Measured this way, a start pays what a user's start pays: the interpreter's site with this
    venv's own packages only. An editable install adds its import finder (about 15 ms per
    start), and the developer's interpreter may carry other .pth files (a host's certificate
    hook took another 13 ms here)."""
    venv = venv_dir(workdir)
    py = os.path.join(venv, "bin", "python")
    if not os.access(py, os.X_OK):
        print(f"creating {venv} (rulec installed as a user installs it)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "setuptools>=68", "wheel"], check=True)
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--force-reinstall",
                    REPO], check=True, cwd=workdir, env={**os.environ, "PYTHONDONTWRITEBYTECODE": ""})
    # The dependencies as pyproject.toml says (pip skips those already there).
    subprocess.run([py, "-m", "pip", "install", "-q", REPO], check=True, cwd=workdir)
    return os.path.join(venv, "bin", "rulec")


_installed: str | None = None


def rulec_prefix() -> str:
    """How to start rulec: $RULEC, else the venv's installed `rulec` (INSTALL = "venv",
    prepared by ``install_rulec``), else the `rulec` script of this interpreter, else one on
    PATH that is not a pyenv/asdf shim (a shim is a bash script adding ~60 ms per start),
    else `<python> -m rulec`."""
    if os.environ.get("RULEC"):
        return os.environ["RULEC"]
    if _installed:
        return shlex.quote(_installed)
    here = os.path.join(os.path.dirname(sys.executable), "rulec")
    if os.access(here, os.X_OK):
        return shlex.quote(here)
    found = shutil.which("rulec")
    if found and os.sep + "shims" + os.sep not in found:
        return shlex.quote(found)
    return f"{shlex.quote(sys.executable)} -m rulec"


def precompile() -> None:
    """Write rulec's bytecode, as ``pip install`` does. Where PYTHONDONTWRITEBYTECODE is set
    (it is on some machines) an editable install would otherwise compile every module again
    at every start, about 50 ms that no installed rulec pays."""
    import compileall

    compileall.compile_dir(os.path.join(REPO, "rulec"), quiet=1)


def child_env() -> dict:
    env = dict(os.environ)
    if not _installed:  # the installed copy is the one to import, not the working tree
        env["PYTHONPATH"] = REPO + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("LC_ALL", "C")
    env["NO_COLOR"] = "1"
    return env


def expand(template: str, jobs: int = 1) -> list[str]:
    return shlex.split(template.format(rulec=rulec_prefix(), python=shlex.quote(python()), jobs=jobs))


def python() -> str:
    """The interpreter rulec runs under: the venv's when rulec is installed there."""
    return os.path.join(os.path.dirname(_installed), "python") if _installed else sys.executable


def available(tool: str) -> tuple[bool, str]:
    """Whether a tool can be benchmarked here, and why not."""
    env = child_env()
    if tool == "make":
        return (shutil.which("make") is not None, "make not on PATH")
    if tool == "snakemake":
        return (shutil.which("snakemake") is not None, "snakemake not on PATH")
    if tool == "ninja":
        return (shutil.which("ninja") is not None, "ninja not on PATH (Debian: apt-get install ninja-build)")
    if tool == "rulec-resolve":
        ok = subprocess.run([python(), "-c", "import rulec.analyze, rulec.dag"], env=env,
                            capture_output=True).returncode == 0
        return ok, "rulec.analyze / rulec.dag not importable"
    if tool in ("rulec", "rulec-table", "rulec-cold", "rulec-replan"):
        argv = expand(RULEC_DRYRUN)
        probe = argv[: argv.index("dryrun") + 1] + ["--help"] if "dryrun" in argv else argv + ["--help"]
        r = subprocess.run(probe, env=env, capture_output=True, text=True, cwd=REPO)
        why = (r.stderr or r.stdout).strip().splitlines()
        return r.returncode == 0, f"`{shlex.join(probe)}` failed: {why[-1] if why else r.returncode}"
    return False, f"unknown tool {tool}"


def tool_versions(tools) -> dict:
    out = {}
    for tool, argv in (("make", ["make", "--version"]), ("snakemake", ["snakemake", "--version"])):
        if tool in tools:
            try:
                r = subprocess.run(argv, capture_output=True, text=True)
                out[tool] = (r.stdout.splitlines() or [""])[0].strip()
            except OSError:
                pass
    if "rulec" in tools or "rulec-resolve" in tools:
        out["rulec"] = rulec_prefix()
        try:
            r = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
            out["rulec_commit"] = r.stdout.strip()
        except OSError:
            pass
    return out


# ------------------------------------------------------------------ measuring one run


class ToolFailed(RuntimeError):
    pass


# Peak RSS. os.wait4's ru_maxrss for a direct child is floored at THIS process's RSS: Linux
# carries the pre-exec (forked / vforked) memory's high-water mark into the child's rusage, so
# `true` spawned from here "peaks" at ~14 MB. GNU time forks the tool from its own tiny process
# and reports that grandchild's wait4 ru_maxrss, accurate to ~1 MB. It is used when present;
# otherwise the harness falls back to plain wait4 (and says so). Wall time is always taken here
# (GNU time adds ~1 ms of fork/exec to every tool alike).
GNU_TIME = "/usr/bin/time"


def _gnu_time_ok() -> bool:
    if not os.access(GNU_TIME, os.X_OK):
        return False
    with tempfile.NamedTemporaryFile("r") as out:
        r = subprocess.run([GNU_TIME, "-f", "%M", "-o", out.name, "true"], capture_output=True)
        try:
            return r.returncode == 0 and int(out.read().split()[-1]) > 0
        except (ValueError, IndexError):
            return False


USE_GNU_TIME = _gnu_time_ok()
RSS_METHOD = ("GNU time %M (wait4 of the tool, forked from a small process)" if USE_GNU_TIME
              else "os.wait4 ru_maxrss (floored at the harness's own RSS)")


def measure(argv: list[str], cwd: str, ok_codes=(0,), timeout: float | None = None) -> dict:
    """Run argv in cwd (stdout discarded); return wall seconds, peak RSS and exit status."""
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r", prefix="rss") as rss:
        full = [GNU_TIME, "-f", "%M", "-o", rss.name, *argv] if USE_GNU_TIME else argv
        t0 = time.perf_counter()
        proc = subprocess.Popen(full, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err, env=child_env())
        timer = None
        if timeout:
            timer = threading.Timer(timeout, proc.kill)
            timer.start()
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped: keep Popen from waiting/killing
        if timer:
            timer.cancel()
        code = proc.returncode
        if code not in ok_codes:
            err.seek(0)
            tail = err.read()[-4000:].decode("utf-8", "replace")
            how = f"killed after {timeout:.0f}s timeout" if code == -9 and timeout else f"exit status {code}"
            raise ToolFailed(f"`{shlex.join(argv)}` in {cwd}: {how}\n--- stderr tail ---\n{tail}".rstrip())
        rss_kb = ru.ru_maxrss
        if USE_GNU_TIME:
            try:
                rss_kb = int(rss.read().split()[-1])
            except (ValueError, IndexError):
                pass
    # user/sys from wait4 include all reaped descendants (the tool and what it ran)
    return {"seconds": wall, "rss_kb": rss_kb, "exit": code, "user": ru.ru_utime, "sys": ru.ru_stime}


# ------------------------------------------------------------------ workflows


def prepare_workflow(workdir: str, scale: str, regenerate: bool = False) -> dict:
    d, m = generate.SCALES[scale]
    out = os.path.join(workdir, scale)
    meta = generate.read_stamp(out)
    if regenerate or not meta or (meta["datasets"], meta["models"]) != (d, m):
        t0 = time.perf_counter()
        meta = generate.generate(out, d, m, scale)
        print(f"[{scale}] generated {meta['jobs']} jobs into {out} in {time.perf_counter() - t0:.1f}s",
              flush=True)
    meta["dir"] = out
    return meta


def set_scratch(meta: dict) -> None:
    generate.clean(meta["dir"])


UPTODATE = ".bld-uptodate"  # cached up-to-date bld/ tree, moved into place for the no-op phases


def set_noop(meta: dict) -> None:
    """bld/ with every output present and up to date by mtime.

    Creating a million files is slow on some disks (100-500 us each), so the touched tree is
    built once per workflow, kept as .bld-uptodate/ next to bld/, and renamed into place;
    restore_uptodate() moves it back after the phase. The dry runs measured here write nothing.
    """
    out = meta["dir"]
    generate.clean(out)
    cache, stamp_path = os.path.join(out, UPTODATE), os.path.join(out, UPTODATE + ".json")
    want = {"datasets": meta["datasets"], "models": meta["models"]}
    try:
        with open(stamp_path, encoding="utf-8") as fh:
            stamp = json.load(fh)
    except (OSError, ValueError):
        stamp = None
    if stamp and {k: stamp.get(k) for k in want} == want and os.path.isdir(cache):
        os.rename(cache, os.path.join(out, "bld"))
        generate.set_source_mtime(out, stamp["base_ns"])
        return
    shutil.rmtree(cache, ignore_errors=True)
    t0 = time.perf_counter()
    base = time.time_ns() - 60 * 1_000_000_000 - 5 * generate.TOUCH_STEP_NS
    n = generate.touch_outputs(out, meta["datasets"], meta["models"], base)
    with open(stamp_path, "w", encoding="utf-8") as fh:
        json.dump({**want, "base_ns": base}, fh)
    print(f"[{meta['scale']}] touched {n} outputs in {time.perf_counter() - t0:.1f}s "
          f"(kept in {UPTODATE}/ for later runs)", flush=True)


def restore_uptodate(meta: dict) -> None:
    out = meta["dir"]
    bld, cache = os.path.join(out, "bld"), os.path.join(out, UPTODATE)
    if os.path.isdir(bld) and not os.path.exists(cache):
        os.rename(bld, cache)
    generate.clean(out)


def set_noop_history(meta: dict) -> bool:
    """Touched outputs plus a rulec History recording them; False if rulec cannot do it yet."""
    set_noop(meta)
    if RULEC_MARK is not None:
        measure(expand(RULEC_MARK), meta["dir"])
        return True
    return generate.record_rulec_history(meta["dir"])


def dry_commands(phase: str) -> dict[str, tuple[str, tuple[int, ...], bool]]:
    """tool -> (command template, accepted exit codes, wipe the tool's state before each run)."""
    if phase == "scratch":
        return {
            "rulec": (RULEC_DRYRUN, (0,), True),
            "rulec-cold": (RULEC_COLD_DRYRUN, (0,), True),
            "rulec-table": (RULEC_TABLE_DRYRUN, (0,), True),
            "make": (MAKE_DRYRUN, (0,), False),
            "ninja": (NINJA_DRYRUN, (0,), True),
            "snakemake": (SNAKEMAKE_DRYRUN, (0,), True),
            "rulec-resolve": (RULEC_RESOLVE, (0,), False),
        }
    if phase == "noop":
        return {
            "rulec": (RULEC_DRYRUN, (0,), True),  # no History: plain mtime comparison
            "rulec-cold": (RULEC_COLD_DRYRUN, (0,), True),
            "rulec-replan": (RULEC_DRYRUN, (0,), True),  # the verdict forgotten: a full plan
            "rulec-table": (RULEC_TABLE_DRYRUN, (0,), True),
            "make": (MAKE_QUESTION, (0, 1), False),  # 0 = up to date, 1 = something to do
            "ninja": (NINJA_DRYRUN, (0,), True),  # no .ninja_log: plain mtime comparison, as rulec without a History
            "snakemake": (SNAKEMAKE_DRYRUN, (0,), False),
            "rulec-resolve": (RULEC_RESOLVE, (0,), False),
        }
    if phase == "edit":  # the no-op with a History, just after an edit of one rule's command
        return {"rulec": (RULEC_DRYRUN, (0,), False), "make": (MAKE_QUESTION, (0, 1), False)}
    if phase == "noop-hist":
        return {"rulec": (RULEC_DRYRUN, (0,), False), "make": (MAKE_QUESTION, (0, 1), False)}
    raise ValueError(phase)


STATE_DIRS = {"rulec": ".rulec", "rulec-table": ".rulec", "rulec-cold": ".rulec", "rulec-replan": ".rulec",
              "snakemake": ".snakemake"}
STATE_FILES = {"ninja": (".ninja_log", ".ninja_deps")}


def wipe_state(meta: dict, tool: str) -> None:
    if tool == "rulec-replan":  # also the verdict a project without .rulec/ keeps in the user cache
        forget_cached_verdicts()
    name = STATE_DIRS.get(tool)
    if name:
        shutil.rmtree(os.path.join(meta["dir"], name), ignore_errors=True)
    for file in STATE_FILES.get(tool, ()):
        try:
            os.unlink(os.path.join(meta["dir"], file))
        except FileNotFoundError:
            pass


def forget_cached_verdicts() -> None:
    probe = subprocess.run([sys.executable, "-c", "from rulec import verdict; print(verdict.cache_folder())"],
                           env=child_env(), capture_output=True, text=True, check=True)
    where = probe.stdout.strip()
    if os.path.isdir(where):
        for name in os.listdir(where):
            if name.endswith(".verdict"):
                os.unlink(os.path.join(where, name))


def rotations(tools: list[str], reps: int):
    for r in range(reps):
        k = r % len(tools)
        yield r, tools[k:] + tools[:k]


def run_phase(meta: dict, phase: str, tools: list[str], reps: int, timeout: float | None, before=None) -> list[dict]:
    """``before(tool, rep)``, when given, runs before each measured run (not timed)."""
    cmds = dry_commands(phase)
    tools = [t for t in tools if t in cmds]
    runs: dict[str, list[dict]] = {t: [] for t in tools}
    for r, order in rotations(tools, reps):
        for tool in order:
            template, ok, wipe = cmds[tool]
            if wipe:
                wipe_state(meta, tool)
            if before is not None:
                before(tool, r)
            argv = expand(template)
            res = measure(argv, meta["dir"], ok, timeout)
            runs[tool].append(res)
            print(f"[{meta['scale']}] {phase:9s} rep {r + 1}/{reps} {tool:13s} {res['seconds']:8.3f}s "
                  f"{res['rss_kb'] / 1024:8.1f} MB  exit {res['exit']}", flush=True)
    if phase.startswith("noop") and any(x["exit"] for x in runs.get("make", ())):
        print(f"WARNING [{meta['scale']}] make -q says something is out of date: the no-op setup is broken",
              file=sys.stderr)
    return [summarize(meta, phase, t, cmds[t][0], runs[t]) for t in tools]


EDITED = '    shell: "cat {input} > {output}"\n'  # rule summarize's command in generate.write_rulefile


def run_edit_phase(meta: dict, tools: list[str], reps: int, timeout: float | None) -> list[dict]:
    """rulec's dry run just after editing one rule's command (summarize: one job per model),
    with every output up to date and recorded: a new command each time, so each run parses
    the edited Rulefile and plans that rule's jobs (and the report after them) to run."""
    path = os.path.join(meta["dir"], "Rulefile")
    with open(path, encoding="utf-8") as fh:
        original = fh.read()
    at = original.rindex(EDITED)

    def edit(tool: str, rep: int) -> None:
        if tool == "rulec":
            text = original[:at] + f'    shell: "cat {{input}} > {{output}}; : edit {rep}"\n' + original[at + len(EDITED):]
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)

    try:
        return run_phase(meta, "edit", tools, reps, timeout, before=edit)
    finally:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(original)


def summarize(meta: dict, phase: str, tool: str, template: str, runs: list[dict], jobs_flag: int = 1) -> dict:
    times = [x["seconds"] for x in runs]
    med = statistics.median(times)
    return {
        "scale": meta["scale"], "jobs": meta["jobs"], "datasets": meta["datasets"], "models": meta["models"],
        "phase": phase, "tool": tool, "command": shlex.join(expand(template, jobs_flag)),
        "seconds": times, "rss_kb": [x["rss_kb"] for x in runs],
        "user_seconds": [x["user"] for x in runs], "sys_seconds": [x["sys"] for x in runs],
        "exit": [x["exit"] for x in runs],
        "median_s": med, "min_s": min(times), "peak_rss_mb": max(x["rss_kb"] for x in runs) / 1024,
        # CPU of the tool and everything it ran (wait4 counts reaped descendants): what a run
        # costs a machine whose cores are all busy, where wall time follows it
        "median_cpu_s": statistics.median(x["user"] + x["sys"] for x in runs),
        "sys_share": sum(x["sys"] for x in runs) / max(sum(x["user"] + x["sys"] for x in runs), 1e-9),
        "us_per_job": med / meta["jobs"] * 1e6, "jobs_per_s": meta["jobs"] / med if med else None,
    }


def add_ratios(rows: list[dict]) -> None:
    for anchor in ("make", "ninja"):
        base = {(r["scale"], r["phase"]): r["median_s"] for r in rows if r["tool"] == anchor}
        for r in rows:  # rulec with a History: with the anchor's no-op of the same phase, else of "noop"
            b = base.get((r["scale"], r["phase"])) or base.get((r["scale"], "noop" if r["phase"] == "noop-hist" else r["phase"]))
            r[f"ratio_to_{anchor}"] = r["median_s"] / b if b else None


def print_table(rows: list[dict], throughput: bool = False) -> None:
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["scale"], r["phase"]), []).append(r)
    for (scale, phase), rs in groups.items():
        jobs = rs[0]["jobs"]
        print(f"\n{scale} ({jobs:,} jobs: {rs[0]['datasets']} datasets x {rs[0]['models']} models) - {phase}")
        last = "jobs/s" if throughput else "us/job"
        cpu_head = f" {'cpu s':>8s} {'sys %':>6s} {'cpu/job ms':>10s}" if throughput else ""
        print(f"  {'tool':14s} {'median s':>10s} {'min s':>10s} {'peak RSS MB':>12s} {last:>10s} {'x make':>8s} {'x ninja':>8s}"
              + cpu_head)
        for r in rs:
            ratios = [f"{r[k]:.2f}" if r.get(k) is not None else "-" for k in ("ratio_to_make", "ratio_to_ninja")]
            per = f"{r['jobs_per_s']:.0f}" if throughput else f"{r['us_per_job']:.1f}"
            cpu = (f" {r['median_cpu_s']:8.2f} {100 * r['sys_share']:6.0f} {1e3 * r['median_cpu_s'] / r['jobs']:10.3f}"
                   if throughput else "")
            print(f"  {r['tool']:14s} {r['median_s']:10.3f} {r['min_s']:10.3f} {r['peak_rss_mb']:12.1f} "
                  f"{per:>10s} {ratios[0]:>8s} {ratios[1]:>8s}" + cpu)


# ------------------------------------------------------------------ throughput


def run_commands(jobs_flag: int) -> dict[str, str]:
    return {"rulec": RULEC_RUN, "make": MAKE_RUN, "ninja": NINJA_RUN, "snakemake": SNAKEMAKE_RUN}


def check_built(meta: dict, tool: str) -> None:
    """The report must hold one line per fit job (each fit writes its model name)."""
    path = os.path.join(meta["dir"], generate.REPORT)
    try:
        with open(path, encoding="utf-8") as fh:
            lines = sum(1 for _ in fh)
    except OSError as exc:
        raise ToolFailed(f"{tool} exited 0 but {generate.REPORT} is missing: {exc}") from None
    want = meta["datasets"] * meta["models"]
    if lines != want:
        raise ToolFailed(f"{tool}: {generate.REPORT} has {lines} lines, expected {want}")


def run_throughput(meta: dict, tools: list[str], reps: int, jobs_flag: int, timeout: float | None) -> list[dict]:
    cmds = run_commands(jobs_flag)
    tools = [t for t in tools if t in cmds]
    runs: dict[str, list[dict]] = {t: [] for t in tools}
    for r, order in rotations(tools, reps):
        for tool in order:
            generate.clean(meta["dir"])  # bld/, .rulec/, .snakemake/
            res = measure(expand(cmds[tool], jobs_flag), meta["dir"], (0,), timeout)
            check_built(meta, tool)
            runs[tool].append(res)
            print(f"[{meta['scale']}] run -j{jobs_flag} rep {r + 1}/{reps} {tool:10s} {res['seconds']:8.3f}s "
                  f"{meta['jobs'] / res['seconds']:8.0f} jobs/s {res['rss_kb'] / 1024:8.1f} MB", flush=True)
    generate.clean(meta["dir"])
    return [summarize(meta, f"run -j{jobs_flag}", t, cmds[t], runs[t], jobs_flag) for t in tools]


# ------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("mode", nargs="?", choices=("dry", "throughput"), default="dry")
    ap.add_argument("--scales", default=None,
                    help=f"comma-separated presets from {', '.join(generate.SCALES)} "
                         f"(default {DEFAULT_SCALES}; throughput: 1.1k)")
    ap.add_argument("--tools", default=DEFAULT_TOOLS,
                    help=f"comma-separated subset of {', '.join(ALL_TOOLS)} (default {DEFAULT_TOOLS}); "
                         "unavailable tools are skipped with a note")
    ap.add_argument("--phases", default="scratch,noop,noop-hist,edit",
                    help="dry mode: comma-separated subset of scratch,noop,noop-hist,edit")
    ap.add_argument("--reps", type=int, default=3, help="repetitions per tool (default 3)")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="throughput: parallel jobs (default 2)")
    ap.add_argument("--workdir", default=os.path.join(HERE, "work"), help="where workflows are generated")
    ap.add_argument("--regenerate", action="store_true", help="rewrite the workflow files even if present")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per run before it counts as failed")
    ap.add_argument("--json", help="write all results to this JSON file")
    ap.add_argument("--install", choices=("venv", "current"), default=INSTALL,
                    help="venv (default): time rulec installed with `pip install .` in WORKDIR/venv, as a "
                         "user installs it; current: the rulec of this interpreter (an editable install)")
    args = ap.parse_args(argv)
    global _installed
    if args.install == "venv" and not os.environ.get("RULEC"):
        os.makedirs(args.workdir, exist_ok=True)
        _installed = install_rulec(args.workdir)
    else:
        precompile()

    scales = (args.scales or (DEFAULT_SCALES if args.mode == "dry" else "1.1k")).split(",")
    for s in scales:
        if s not in generate.SCALES:
            ap.error(f"unknown scale {s!r}; choose from {', '.join(generate.SCALES)}")
    if args.mode == "throughput" and any(generate.SCALES[s][0] > 5000 for s in scales):
        print("note: make cannot execute `cat $^` for summarize beyond ~5k datasets (128 KiB argument limit)",
              file=sys.stderr)
    tools = []
    for t in args.tools.split(","):
        t = t.strip()
        if t not in ALL_TOOLS:
            ap.error(f"unknown tool {t!r}; choose from {', '.join(ALL_TOOLS)}")
        ok, why = available(t)
        if ok:
            tools.append(t)
        else:
            print(f"skipping {t}: {why}", file=sys.stderr)
    if not tools:
        print("no tool available", file=sys.stderr)
        return 2
    phases = [p.strip() for p in args.phases.split(",")]
    os.makedirs(args.workdir, exist_ok=True)

    if not USE_GNU_TIME:
        print(f"note: peak RSS via {RSS_METHOD}", file=sys.stderr)
    rows: list[dict] = []
    t_start = time.time()
    try:
        for scale in scales:
            meta = prepare_workflow(args.workdir, scale, args.regenerate)
            if args.mode == "throughput":
                rows += run_throughput(meta, tools, args.reps, args.jobs, args.timeout)
                continue
            if "scratch" in phases:
                set_scratch(meta)
                rows += run_phase(meta, "scratch", tools, args.reps, args.timeout)
            if "noop" in phases:
                set_noop(meta)
                rows += run_phase(meta, "noop", tools, args.reps, args.timeout)
                restore_uptodate(meta)
            if "edit" in phases and "rulec" in tools:
                if set_noop_history(meta):
                    rows += run_edit_phase(meta, [t for t in tools if t in ("rulec", "make")], args.reps, args.timeout)
                restore_uptodate(meta)
            if "noop-hist" in phases and "rulec" in tools:
                if set_noop_history(meta):
                    # make -q alternates with rulec here too: the ratio is from one window of time
                    rows += run_phase(meta, "noop-hist", [t for t in tools if t in ("rulec", "make")],
                                      args.reps, args.timeout)
                    restore_uptodate(meta)
                else:
                    restore_uptodate(meta)
                    print(f"[{scale}] noop-hist skipped: no way to record a rulec History yet "
                          "(set RULEC_MARK in harness.py)", file=sys.stderr)
    except ToolFailed as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        if rows:
            add_ratios(rows)
            print_table(rows, args.mode == "throughput")
        return 1

    add_ratios(rows)
    print_table(rows, args.mode == "throughput")
    if args.json:
        doc = {
            "mode": args.mode, "reps": args.reps, "jobs_flag": args.jobs if args.mode == "throughput" else None,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t_start)),
            "host": platform.node(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "python": sys.version.split()[0], "rss_method": RSS_METHOD, "versions": tool_versions(tools), "results": rows,
        }
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1)
            fh.write("\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
