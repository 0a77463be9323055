"""Talking to SLURM: the commands (through plumbum, with retries) and the parsers of their
output (pure, tested on samples).

Every query is batched: one ``squeue`` for all of a run's arrays per poll, one ``sacct`` for
every job that left the queue, one ``scontrol show job`` per array only when an exit code is
missing. A command that fails with a transient error (controller busy, socket timeout) is
retried with backoff; ``sbatch`` only on errors that mean the job was not accepted.
"""

from __future__ import annotations

import re
import time
from typing import Callable, Sequence

from ..errors import BackendError
from ..recordclass import record

TERMINAL = frozenset({
    "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED",
    "BOOT_FAIL", "DEADLINE", "REVOKED", "SPECIAL_EXIT",
})
# Pending reasons that will never clear: the job is as good as finished.
HOPELESS = frozenset({"DependencyNeverSatisfied", "BadConstraints", "PartitionConfig", "InvalidAccount", "InvalidQOS"})

TRANSIENT = re.compile(
    r"Socket timed out|Unable to contact slurm controller|Connection refused|Connection reset|"
    r"Resource temporarily unavailable|[Tt]ry again|Transport endpoint|Zero Bytes were transmitted|"
    r"Communication connection failure|Slurm backup controller in standby mode|timed out|"
    r"Job submit/allocate failed: Resource temporarily unavailable"
)
# sbatch errors that mean the job was certainly not accepted: safe to submit again
NOT_ACCEPTED = re.compile(r"Unable to contact slurm controller|Connection refused|Resource temporarily unavailable")


# --------------------------------------------------------------------------- parsers

def parse_config(text: str) -> dict[str, str]:
    """``scontrol show config``: ``Key = Value`` lines."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and " " not in key.strip():
            out[key.strip()] = value.strip()
    return out


_KEY = re.compile(r"(?:^|(?<=\s))([A-Za-z][A-Za-z0-9_:/.]*)=")


def parse_record(line: str) -> dict[str, str]:
    """One ``scontrol show ... -o`` line: ``Key=Value`` pairs, where a value may hold spaces
    (split before each ``Key=``)."""
    out: dict[str, str] = {}
    matches = list(_KEY.finditer(line))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(line)
        out.setdefault(m.group(1), line[m.end():end].strip())
    return out


def parse_records(text: str) -> list[dict[str, str]]:
    return [parse_record(line) for line in text.splitlines() if "=" in line]


def expand_job_id(text: str) -> list[tuple[str, int | None]]:
    """``"12_3"`` -> [("12", 3)]; ``"12_[0-2,5%4]"`` -> [("12", 0), ("12", 1), ("12", 2), ("12", 5)];
    ``"12"`` -> [("12", None)]; ``"12;cluster"`` ignores the cluster."""
    text = text.strip().split(";")[0]
    base, sep, rest = text.partition("_")
    if not sep:
        return [(base, None)]
    if rest.startswith("["):
        body = rest[1:].rstrip("]").split("%")[0]
        out = []
        for part in body.split(","):
            part = part.strip()
            if not part:
                continue
            if "-" in part:
                a, b = part.split("-", 1)
                step = 1
                if ":" in b:
                    b, s = b.split(":", 1)
                    step = int(s)
                out.extend((base, i) for i in range(int(a), int(b) + 1, step))
            else:
                out.append((base, int(part)))
        return out
    try:
        return [(base, int(rest))]
    except ValueError:
        return [(base, None)]


@record(frozen=True)
class Row:
    """The state of one job or array task as a status command reported it."""

    array_id: str
    task: int | None
    state: str
    reason: str = ""
    exit_code: int | None = None
    signal: int | None = None
    nodes: str = ""  # the node list it runs on (squeue's %N), when asked for


def parse_squeue(text: str) -> list[Row]:
    """``squeue -h -t all -j IDS -o '%i|%T|%r'``."""
    rows = []
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 2 or not parts[0]:
            continue
        state = parts[1].strip().split()[0] if parts[1].strip() else ""
        reason = parts[2].strip() if len(parts) > 2 else ""
        for base, task in expand_job_id(parts[0]):
            rows.append(Row(base, task, state, reason))
    return rows


def parse_squeue_nodes(text: str) -> list[Row]:
    """``squeue -h -t all -j IDS -o '%i|%T|%N'``: rows with their node list."""
    rows = []
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 3 or not parts[0]:
            continue
        state = parts[1].strip().split()[0] if parts[1].strip() else ""
        for base, task in expand_job_id(parts[0]):
            rows.append(Row(base, task, state, "", nodes=parts[2].strip()))
    return rows


def expand_hostlist(text: str) -> list[str]:
    """``"n[01-03,7],gpu1"`` -> ["n01", "n02", "n03", "n7", "gpu1"] (SLURM's host lists)."""
    names: list[str] = []
    for m in re.finditer(r"([^,\[]+)(?:\[([^\]]*)\])?([^,]*)", text.strip()):
        prefix, ranges, suffix = m.group(1), m.group(2), m.group(3)
        if ranges is None:
            names.append(prefix + suffix)
            continue
        for part in ranges.split(","):
            a, _, b = part.partition("-")
            if b and a.isdigit() and b.isdigit():
                names.extend(f"{prefix}{i:0{len(a)}d}{suffix}" for i in range(int(a), int(b) + 1))
            elif a:
                names.append(prefix + a + suffix)
    return [n for n in names if n]


def parse_sinfo_nodes(text: str) -> dict[str, str]:
    """``sinfo -h -N -n NODES -o '%N|%T'`` -> node -> state (``idle``, ``down*``, ``drained``);
    a node in several partitions is listed once per partition."""
    out = {}
    for line in text.splitlines():
        node, sep, state = line.strip().partition("|")
        if sep and node:
            out[node] = state.strip()
    return out


def node_problem(state: str) -> str | None:
    """sinfo's node state -> why jobs on it may never end (``DOWN``, ``NOT_RESPONDING``,
    ``DRAINED``, ``FAIL``), or None for a node that works (``mixed``, ``draining``...). A
    trailing ``*`` means slurmctld gets no answer from the node's slurmd."""
    s = state.strip().lower()
    base = s.rstrip("*~#!%$@^-+")
    if base.startswith("down"):
        return "DOWN"
    if s.endswith("*"):
        return "NOT_RESPONDING"
    if base in ("drained", "drain"):
        return "DRAINED"
    if base == "fail":
        return "FAIL"
    return None


def parse_exit(text: str) -> tuple[int | None, int | None]:
    """``"3:0"`` -> (3, 0)."""
    code, _, sig = (text or "").partition(":")
    try:
        return int(code), int(sig) if sig else 0
    except ValueError:
        return None, None


def parse_sacct(text: str) -> list[Row]:
    """``sacct -n -P -X -j IDS -o JobID,State,ExitCode``; State may read ``CANCELLED by 0``."""
    rows = []
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 3 or not parts[0]:
            continue
        state = parts[1].split()[0] if parts[1].strip() else ""
        code, sig = parse_exit(parts[2])
        for base, task in expand_job_id(parts[0]):
            rows.append(Row(base, task, state, "", code, sig))
    return rows


def parse_show_job(text: str) -> list[Row]:
    """``scontrol show job -o ID``: one line per task, with ArrayJobId and ArrayTaskId."""
    rows = []
    for rec in parse_records(text):
        state = rec.get("JobState", "")
        code, sig = parse_exit(rec.get("ExitCode", ""))
        array_id = rec.get("ArrayJobId") or rec.get("JobId", "")
        task_text = rec.get("ArrayTaskId")
        if task_text and task_text != "N/A":
            for _, task in expand_job_id(f"{array_id}_{task_text if task_text.isdigit() else '[' + task_text + ']'}"):
                rows.append(Row(array_id, task, state, rec.get("Reason", ""), code, sig))
        else:
            rows.append(Row(array_id, None, state, rec.get("Reason", ""), code, sig))
    return rows


def parse_minutes(text: str) -> int | None:
    """A SLURM time limit in seconds: ``UNLIMITED``/``INFINITE`` -> None; ``D-HH:MM:SS``,
    ``HH:MM:SS``, ``MM:SS``, or minutes."""
    text = (text or "").strip()
    if not text or text.upper() in ("UNLIMITED", "INFINITE", "NONE", "N/A"):
        return None
    days = 0
    if "-" in text:
        d, text = text.split("-", 1)
        days = int(d)
    parts = [int(p) for p in text.split(":")]
    if len(parts) == 3:
        h, m, s = parts
    elif len(parts) == 2:
        h, m, s = 0, parts[0], parts[1]
    else:
        h, m, s = 0, parts[0], 0
    return ((days * 24 + h) * 60 + m) * 60 + s


def parse_mem(text: str) -> int | None:
    """``MaxMemPerNode`` and the like, in MB; ``UNLIMITED`` -> None."""
    text = (text or "").strip()
    if not text or text.upper() in ("UNLIMITED", "NONE", "N/A", "0"):
        return None
    m = re.fullmatch(r"(\d+)([KMGT]?)", text)
    if not m:
        return None
    scale = {"": 1, "K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}[m.group(2)]
    return int(int(m.group(1)) * scale)


# --------------------------------------------------------------------------- commands

Executor = Callable[[str, list[str], "str | None"], tuple[int, str, str]]


def plumbum_executor(timeout: float = 120.0) -> Executor:
    def execute(name: str, args: list[str], cwd: str | None = None) -> tuple[int, str, str]:
        from plumbum import local
        from plumbum.commands.processes import CommandNotFound, ProcessTimedOut

        try:
            cmd = local[name][args]
        except CommandNotFound:
            raise BackendError(
                f"{name} not found: is SLURM installed here, and on PATH?",
                hint="for the local test cluster: eval \"$(scripts/local-slurm.sh start | tail -1)\"",
            ) from None
        try:
            if cwd:
                with local.cwd(cwd):
                    rc, out, err = cmd.run(retcode=None, timeout=timeout)
            else:
                rc, out, err = cmd.run(retcode=None, timeout=timeout)
        except ProcessTimedOut:
            return 124, "", f"{name} timed out after {timeout:.0f} s"
        return rc, out, err

    return execute


class Slurm:
    """The SLURM commands rulec uses. ``executor`` runs one command (a seam for tests)."""

    def __init__(self, executor: Executor | None = None, retries: int = 4, delay: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep):
        self.execute = executor or plumbum_executor()
        self.retries = retries
        self.delay = delay
        self.sleep = sleep
        self.calls: dict[str, int] = {}
        self.last_error = ""  # the last failed status query's complaint (its first line)

    def _run(self, name: str, args: list[str], cwd: str | None = None, retry_any: bool = True,
             ok: Callable[[int, str, str], bool] = lambda rc, out, err: rc == 0,
             transient_errors: re.Pattern = TRANSIENT) -> tuple[int, str, str]:
        delay = self.delay
        for attempt in range(self.retries + 1):
            self.calls[name] = self.calls.get(name, 0) + 1
            rc, out, err = self.execute(name, args, cwd)
            if ok(rc, out, err):
                return rc, out, err
            transient = bool(transient_errors.search(err)) or (rc == 124 and retry_any)
            if attempt == self.retries or not (transient or retry_any):
                return rc, out, err
            self.sleep(delay)
            delay = min(delay * 2, 10.0)
        return rc, out, err  # pragma: no cover

    def _must(self, name: str, args: list[str], **kw) -> str:
        rc, out, err = self._run(name, args, **kw)
        if rc != 0:
            raise BackendError(f"{name} {' '.join(args)} failed (exit {rc}): {err.strip() or out.strip()}")
        return out

    # cluster facts -------------------------------------------------------------
    def config(self) -> dict[str, str]:
        return parse_config(self._must("scontrol", ["show", "config"]))

    def partitions(self) -> list[dict[str, str]]:
        return parse_records(self._must("scontrol", ["show", "partition", "-o"]))

    def nodes(self) -> list[dict[str, str]]:
        return parse_records(self._must("scontrol", ["show", "node", "-o"]))

    # jobs ------------------------------------------------------------------------
    def submit(self, script: str, dependency: str | None, cwd: str, options: Sequence[str] = ()) -> str:
        """sbatch; ``options`` (``--array=3``, ``--mem=200M``: a retry) override the script's
        ``#SBATCH`` lines."""
        args = ["--parsable", *options]
        if dependency:
            args.append(f"--dependency={dependency}")
        args.append(script)
        rc, out, err = self._run("sbatch", args, cwd=cwd, retry_any=False, transient_errors=NOT_ACCEPTED)
        if rc != 0:
            raise BackendError(f"sbatch {script} failed (exit {rc}): {err.strip() or out.strip()}")
        job_id = out.strip().splitlines()[-1].split(";")[0].strip() if out.strip() else ""
        if not job_id.isdigit():
            raise BackendError(f"sbatch {script} printed no job id: {out.strip()!r}")
        return job_id

    def queue(self, ids: list[str]) -> list[Row] | None:
        """States of the tasks of ``ids``; None when squeue keeps failing."""
        if not ids:
            return []

        def ok(rc, out, err):
            return rc == 0 or "Invalid job id" in err

        rc, out, err = self._run("squeue", ["-h", "-t", "all", "-j", ",".join(ids), "-o", "%i|%T|%r"], ok=ok)
        if rc != 0 and "Invalid job id" not in err:
            self.last_error = _complaint(rc, out, err)
            return None
        return parse_squeue(out)

    def job_nodes(self, ids: list[str]) -> list[Row] | None:
        """The tasks of ``ids`` with the nodes they run on (``Row.nodes``); None on failure."""
        if not ids:
            return []

        def ok(rc, out, err):
            return rc == 0 or "Invalid job id" in err

        rc, out, err = self._run("squeue", ["-h", "-t", "all", "-j", ",".join(ids), "-o", "%i|%T|%N"], ok=ok)
        if rc != 0 and "Invalid job id" not in err:
            return None
        return parse_squeue_nodes(out)

    def node_states(self, nodes: list[str]) -> dict[str, str] | None:
        """sinfo's state of each of these nodes (``idle``, ``down*``...); None on failure."""
        if not nodes:
            return {}
        rc, out, err = self._run("sinfo", ["-h", "-N", "-n", ",".join(nodes), "-o", "%N|%T"])
        if rc != 0:
            return None
        return parse_sinfo_nodes(out)

    def accounting(self, ids: list[str]) -> list[Row] | None:
        """Final states from sacct; None when accounting is not available."""
        rc, out, err = self._run("sacct", ["-n", "-P", "-X", "-j", ",".join(ids), "-o", "JobID,State,ExitCode"])
        if rc != 0:
            return None
        return parse_sacct(out)

    def show_job(self, job_id: str) -> list[Row]:
        def ok(rc, out, err):
            return rc == 0 or "Invalid job id" in err

        rc, out, err = self._run("scontrol", ["show", "job", "-o", job_id], ok=ok)
        return parse_show_job(out) if rc == 0 else []

    def cancel(self, ids: list[str]) -> str | None:
        """scancel these ids; None, or scancel's complaint when it could not (an id that is
        already gone is no failure)."""
        def ok(rc, out, err):
            return rc == 0 or "Invalid job id" in err

        failed = []
        for start in range(0, len(ids), 500):
            rc, out, err = self._run("scancel", ids[start:start + 500], ok=ok)
            if not ok(rc, out, err):
                failed.append((err.strip() or out.strip() or f"exit status {rc}").splitlines()[0])
        return "; ".join(failed) or None


def _complaint(rc: int, out: str, err: str) -> str:
    text = (err.strip() or out.strip() or f"exit status {rc}").splitlines()[0]
    return text[:200]
