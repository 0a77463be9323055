"""Shared code of the stand-in ``bsub``, ``bjobs`` and ``bkill`` in this folder.

A stand-in for tests, not LSF: it follows the documented behaviour and output of IBM Spectrum
LSF's commands (bsub's ``Job <N> is submitted to queue <q>.``, arrays ``-J "name[1-N]%L"``,
``LSB_JOBID`` / ``LSB_JOBINDEX``, ``-w`` expressions ``done(N)``, ``done(N[*])``, ``ended(N)``,
``exit(N)``, ``started(N)`` joined by ``&&``, ``-ti``, ``-o``/``-e`` with ``%J``/``%I``; bjobs'
states PEND/RUN/DONE/EXIT and its ``-o``/``-noheader`` output; bkill's "Job <N> is being
terminated") and runs the jobs on this machine.

No daemon: ``bsub`` records a job under ``$RULEC_LSF_STANDIN_DIR/jobs/<id>/`` and starts a
detached runner (``python3 _standin.py --run <id>``) that waits for the job's dependencies,
runs each element's script with ``LSB_JOBINDEX`` set (at most ``%L`` at once) and records its
end. bjobs reads that folder; bkill signals running elements and ends pending ones. Every call
is appended to ``$RULEC_LSF_STANDIN_DIR/calls.log`` (one line: the command and its arguments,
tab-separated). ``RULEC_LSF_STANDIN_CLEAN_PERIOD`` (seconds): finished jobs older than this are
no longer shown by bjobs, as past LSF's CLEAN_PERIOD. While a file ``unreachable`` exists in
that folder, running elements show as ``UNKWN`` (mbatchd has lost contact with the sbatchd of
the job's host, per bjobs' documentation); the jobs themselves go on.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time

FLAGS = {"-ti", "-K", "-x", "-N", "-B", "-r", "-rn", "-H", "-I", "-Ip", "-Is", "-IS", "-ISp", "-ISs", "-IX", "-tty"}
FINAL = ("DONE", "EXIT")


def state_dir() -> str:
    d = os.environ.get("RULEC_LSF_STANDIN_DIR")
    if not d:
        sys.stderr.write("LSF stand-in: RULEC_LSF_STANDIN_DIR is not set\n")
        sys.exit(255)
    os.makedirs(os.path.join(d, "jobs"), exist_ok=True)
    return d


def log_call(argv: list[str]) -> None:
    with open(os.path.join(state_dir(), "calls.log"), "a") as fh:
        fh.write("\t".join(argv) + "\n")


class Locked:
    def __init__(self, path: str):
        self.path = path

    def __enter__(self):
        self.fh = open(self.path, "a")
        fcntl.flock(self.fh, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()


def write_json(path: str, data) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)


def read_json(path: str):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def job_dir(job_id: str) -> str:
    return os.path.join(state_dir(), "jobs", str(job_id))


def load_job(job_id: str):
    return read_json(os.path.join(job_dir(job_id), "job.json"))


def elements(job_id: str) -> dict[int, dict]:
    return read_json(os.path.join(job_dir(job_id), "state.json")) or {}


def load_state(job_id: str) -> dict[int, dict]:
    return {int(k): v for k, v in elements(job_id).items()}


def save_state(job_id: str, state: dict[int, dict]) -> None:
    write_json(os.path.join(job_dir(job_id), "state.json"), {str(k): v for k, v in state.items()})


# --------------------------------------------------------------------------- bsub

# ``name[1-N]%L``, or one element ``name[i]`` (a job array holding only index i), or a list
# of indexes and ranges ``name[1-3,5]%L`` (the array holds only those)
ARRAY = re.compile(r"^(?P<name>[^\[]*)(\[((?P<lo>\d+)-(?P<hi>\d+)|(?P<one>\d+)|(?P<list>[\d,-]+))\](%(?P<limit>\d+))?)?$")
# done(N), done(N[*]) (element-wise), done(N[i]) (element i of N)
COND = re.compile(r"^\s*(done|ended|exit|started)\(\s*(\d+)(\[(\*|\d+)\])?\s*\)\s*$")


def parse_options(args: list[str]) -> tuple[dict, list[str]]:
    opts: dict = {}
    i = 0
    while i < len(args):
        a = args[i]
        if not a.startswith("-") or a == "-":
            break
        if a in FLAGS:
            opts[a] = True
            i += 1
            continue
        if i + 1 >= len(args):
            raise SystemExit(f"{a}: option requires an argument. Job not submitted.")
        if a == "-R":
            opts.setdefault("-R", []).append(args[i + 1])
        else:
            opts[a] = args[i + 1]
        i += 2
    return opts, args[i:]


def parse_dependency(expr: str) -> list[tuple[str, str, bool]]:
    conds = []
    for part in expr.split("&&"):
        m = COND.match(part)
        if not m:
            raise ValueError(part)
        each = m.group(4) == "*" or (int(m.group(4)) if m.group(4) else False)
        conds.append((m.group(1), m.group(2), each))
    return conds


def bsub(argv: list[str]) -> int:
    log_call(["bsub", *argv])
    opts, command = parse_options(argv)
    script = None
    if not command:
        script = sys.stdin.read()
        for line in script.splitlines():
            if line.startswith("#BSUB"):
                more, _ = parse_options(shlex.split(line[5:]))
                for k, v in more.items():
                    if k == "-R":
                        opts.setdefault("-R", []).extend(v)
                    else:
                        opts.setdefault(k, v)  # the command line wins over #BSUB lines
    name = opts.get("-J", "")
    m = ARRAY.match(name)
    if not m:
        sys.stderr.write(f"{name}: Bad job name. Job not submitted.\n")
        return 255
    size = int(m.group("hi")) if m.group("lo") else 0
    indexes = list(range(1, size + 1)) if size else [int(m.group("one"))] if m.group("one") else [0]
    if m.group("one"):
        size = 1
    if m.group("list"):
        indexes = []
        for part in m.group("list").split(","):
            lo, _, hi = part.partition("-")
            indexes.extend(range(int(lo), int(hi or lo) + 1))
        size = max(indexes)
    if m.group("lo") and int(m.group("lo")) != 1:
        sys.stderr.write("this stand-in only handles arrays indexed from 1. Job not submitted.\n")
        return 255
    deps = []
    if "-w" in opts:
        try:
            deps = parse_dependency(opts["-w"])
        except ValueError:
            sys.stderr.write(f"{opts['-w']}: Syntax error. Job not submitted.\n")
            return 255
        for _, dep, _ in deps:
            if load_job(dep) is None:
                sys.stderr.write(f"{opts['-w']}: No matching job found. Job not submitted.\n")
                return 255
    root = state_dir()
    with Locked(os.path.join(root, "lock")):
        counter = os.path.join(root, "next")
        try:
            job_id = int(open(counter).read().strip())
        except (OSError, ValueError):
            job_id = 1001
        with open(counter, "w") as fh:
            fh.write(str(job_id + 1))
    d = job_dir(str(job_id))
    os.makedirs(d)
    if script is not None:
        with open(os.path.join(d, "script"), "w") as fh:
            fh.write(script)
        run = ["/bin/bash", os.path.join(d, "script")]
    else:
        run = ["/bin/sh", "-c", " ".join(command)]
    queue = opts.get("-q", "normal")
    job = {"id": str(job_id), "name": m.group("name"), "size": size, "limit": int(m.group("limit") or 0),
           "deps": deps, "ti": bool(opts.get("-ti")), "cwd": opts.get("-cwd", os.getcwd()),
           "out": opts.get("-o"), "err": opts.get("-e"), "queue": queue, "run": run,
           "submitted": time.time()}
    write_json(os.path.join(d, "job.json"), job)
    save_state(str(job_id), {i: {"stat": "PEND"} for i in indexes})
    subprocess.Popen([sys.executable, os.path.abspath(__file__), "--run", str(job_id)],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True, close_fds=True)
    print(f"Job <{job_id}> is submitted to queue <{queue}>.")
    return 0


# --------------------------------------------------------------------------- the runner

def _dep_state(kind: str, dep: str, each: bool, index: int) -> str:
    """'yes' (satisfied), 'no' (not yet), 'never' (can no longer be met)."""
    state = load_state(dep)
    if each is not False and each is not True:  # one element, by its index
        els = [state.get(each, {"stat": "EXIT"})]
    elif each:
        els = [state.get(index, {"stat": "EXIT"})]
    else:
        els = list(state.values())
    stats = [e["stat"] for e in els]
    if kind == "done":
        if all(s == "DONE" for s in stats):
            return "yes"
        return "never" if any(s == "EXIT" for s in stats) else "no"
    if kind == "exit":
        if all(s == "EXIT" for s in stats):
            return "yes"
        return "never" if any(s == "DONE" for s in stats) else "no"
    if kind == "ended":
        return "yes" if all(s in FINAL for s in stats) else "no"
    # started
    return "yes" if all(s != "PEND" for s in stats) else "no"


def _path(pattern: str | None, job: dict, index: int) -> str | None:
    if not pattern:
        return None
    return pattern.replace("%J", job["id"]).replace("%I", str(index))


def run_job(job_id: str) -> None:
    job = load_job(job_id)
    d = job_dir(job_id)
    procs: dict[int, subprocess.Popen] = {}
    while True:
        with Locked(os.path.join(d, "lock")):
            state = load_state(job_id)
            for index, proc in list(procs.items()):
                rc = proc.poll()
                if rc is None:
                    continue
                del procs[index]
                code = rc if rc >= 0 else 128 - rc
                state[index] = {"stat": "DONE" if rc == 0 else "EXIT", "exit_code": code if rc else None,
                                "ended": time.time()}
            for index, e in state.items():  # bkill's SIGKILL, JOB_TERMINATE_INTERVAL (10 s) after
                if e["stat"] == "RUN" and e.get("kill_at") and time.time() - e["kill_at"] > 10:
                    try:
                        os.killpg(e["pid"], signal.SIGKILL)
                    except OSError:
                        pass
            running = sum(1 for e in state.values() if e["stat"] == "RUN")
            blocked = 0
            for index, e in sorted(state.items()):
                if e["stat"] != "PEND":
                    continue
                verdicts = [_dep_state(k, dep, each, index) for k, dep, each in job["deps"]]
                if "never" in verdicts:
                    if job["ti"]:  # orphan job termination: ends at once, no exit code
                        state[index] = {"stat": "EXIT", "exit_code": None, "ended": time.time(), "orphan": True}
                    else:
                        blocked += 1  # pends forever, as LSF does without -ti
                    continue
                if any(v != "yes" for v in verdicts):
                    continue
                if job["limit"] and running >= job["limit"]:
                    continue
                env = {**os.environ, "LSB_JOBID": job["id"], "LSB_JOBINDEX": str(index),
                       "LSB_JOBNAME": f"{job['name']}[{index}]" if job["size"] else job["name"],
                       "LSB_QUEUE": job["queue"]}
                out = _path(job["out"], job, index)
                err = _path(job["err"], job, index)
                fout = open(os.path.join(job["cwd"], out), "a") if out else subprocess.DEVNULL
                ferr = open(os.path.join(job["cwd"], err), "a") if err else (subprocess.STDOUT if out else subprocess.DEVNULL)
                proc = subprocess.Popen(job["run"], cwd=job["cwd"], env=env, stdin=subprocess.DEVNULL,
                                        stdout=fout, stderr=ferr, start_new_session=True)
                for f in (fout, ferr):
                    if hasattr(f, "close"):
                        f.close()
                procs[index] = proc
                state[index] = {"stat": "RUN", "pid": proc.pid, "started": time.time()}
                running += 1
            save_state(job_id, state)
            pending = sum(1 for e in state.values() if e["stat"] in ("PEND", "RUN")) - blocked
        if pending <= 0 and not procs:
            return  # over, or pending forever (bkill ends those without a runner)
        time.sleep(0.05)


# --------------------------------------------------------------------------- bjobs

FIELDS = {"jobid", "jobindex", "stat", "exit_code", "job_name", "queue", "user", "from_host", "exec_host", "submit_time"}
IDS = re.compile(r"^(\d+)(?:\[(\d+)\])?$")


def _fields(fmt: str) -> tuple[list[str], str | None]:
    delim = None
    m = re.search(r"delimiter='(.)'", fmt)
    if m:
        delim = m.group(1)
        fmt = fmt[:m.start()] + fmt[m.end():]
    names = [f.split(":")[0].lower() for f in fmt.split()]
    return names, delim


def bjobs(argv: list[str]) -> int:
    log_call(["bjobs", *argv])
    fmt = None
    header = True
    show_all = False
    ids = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "-o":
            fmt = argv[i + 1]
            i += 2
            continue
        if a == "-noheader":
            header = False
        elif a == "-a":
            show_all = True
        elif a in ("-w", "-W"):
            pass
        elif a.startswith("-"):
            sys.stderr.write(f"{a}: Illegal option.\n")
            return 255
        else:
            ids.append(a)
        i += 1
    names, delim = _fields(fmt) if fmt else (["jobid", "user", "stat", "queue", "from_host", "exec_host", "job_name", "submit_time"], None)
    bad = [n for n in names if n not in FIELDS]
    if bad:
        sys.stderr.write(f"{bad[0]}: Unknown field name in the output format.\n")
        return 255
    root = state_dir()
    if not ids:
        ids = sorted(os.listdir(os.path.join(root, "jobs")), key=int)
        if not show_all:
            pass
    clean = float(os.environ.get("RULEC_LSF_STANDIN_CLEAN_PERIOD", "3600"))
    rows = []
    rc = 0
    now = time.time()
    explicit = bool([a for a in argv if IDS.match(a)])
    for spec in ids:
        m = IDS.match(spec)
        job = load_job(m.group(1)) if m else None
        state = load_state(m.group(1)) if job else {}
        shown = {k: v for k, v in state.items()
                 if not (v["stat"] in FINAL and now - v.get("ended", now) > clean)}
        if m and m.group(2):
            shown = {k: v for k, v in shown.items() if k == int(m.group(2))}
        if not explicit and not show_all:
            shown = {k: v for k, v in shown.items() if v["stat"] not in FINAL}
        if job is None or not shown:
            if explicit:
                sys.stderr.write(f"Job <{spec}> is not found\n")
                rc = 255
            continue
        for index, e in sorted(shown.items()):
            code = e.get("exit_code")
            stat = e["stat"]
            if stat == "RUN" and os.path.exists(os.path.join(root, "unreachable")):
                stat = "UNKWN"  # mbatchd lost contact with the host's sbatchd (the test says so)
            values = {"jobid": job["id"], "jobindex": str(index), "stat": stat,
                      "exit_code": str(code) if code is not None else "-",
                      "job_name": f"{job['name']}[{index}]" if job["size"] else job["name"],
                      "queue": job["queue"], "user": os.environ.get("USER", "user"), "from_host": "localhost",
                      "exec_host": "hostA" if e["stat"] != "PEND" else "-",
                      "submit_time": time.strftime("%b %d %H:%M", time.localtime(job["submitted"]))}
            rows.append([values[n] for n in names])
    if not rows:
        if not explicit:
            sys.stderr.write("No unfinished job found\n" if not show_all else "No job found\n")
        return rc
    if header:
        rows.insert(0, [n.upper() for n in names])
    for row in rows:
        if delim is not None:
            print(delim.join(row))
        else:
            print(" ".join(v.ljust(10) for v in row).rstrip())
    return rc


# --------------------------------------------------------------------------- bkill

def bkill(argv: list[str]) -> int:
    log_call(["bkill", *argv])
    rc = 0
    for spec in argv:
        if spec.startswith("-"):
            continue  # -s SIG etc. are not needed by the tests; a job id never starts with -
        m = IDS.match(spec)
        job = load_job(m.group(1)) if m else None
        if job is None:
            sys.stderr.write(f"Job <{spec}>: No matching job found\n")
            rc = 255
            continue
        d = job_dir(job["id"])
        with Locked(os.path.join(d, "lock")):
            state = load_state(job["id"])
            chosen = [int(m.group(2))] if m.group(2) else sorted(state)
            live = [i for i in chosen if i in state and state[i]["stat"] not in FINAL]
            if not live:
                sys.stderr.write(f"Job <{spec}>: Job has already finished\n")
                rc = 255
                continue
            for i in live:
                e = state[i]
                if e["stat"] == "RUN":
                    for sig in (signal.SIGINT, signal.SIGTERM):  # bkill: SIGINT, SIGTERM, later SIGKILL
                        try:
                            os.killpg(e["pid"], sig)
                        except OSError:
                            pass
                    e["kill_at"] = time.time()
                else:
                    state[i] = {"stat": "EXIT", "exit_code": None, "ended": time.time(), "killed": True}
            save_state(job["id"], state)
        print(f"Job <{spec}> is being terminated")
    return rc


def main(command: str) -> int:
    argv = sys.argv[1:]
    return {"bsub": bsub, "bjobs": bjobs, "bkill": bkill}[command](argv)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--run":
        run_job(sys.argv[2])
