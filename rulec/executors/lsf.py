"""The LSF executor (``rulec run --executor lsf``): a push executor for the one run loop.

It writes the same bundle as ``rulec emit --lsf`` (under ``.rulec/lsf/<n>/``, or
``--bundle``), and in ``open`` submits one ``bsub < <array>.lsf`` per array in dependency
order, wiring ``-ti -w "done(ID[*])"`` (element-wise) or ``-ti -w "done(ID)"`` (the whole
array) with the ids parsed from bsub's ``Job <ID> is submitted to queue <q>.`` line, exactly
as the bundle's submit.sh does. ``wait`` polls with one batched
``bjobs -a -noheader -o "jobid jobindex stat exit_code delimiter='|'" ID ...`` for all of the
run's arrays; RUN -> ``Started``, DONE -> OK, EXIT -> EXIT with the exit code of the task's
status marker (``status/<job id>.rc``), else bjobs' exit code. A task that bjobs no longer
shows (past CLEAN_PERIOD) is judged by its marker, and is LOST after three polls without one.
``cancel`` bkills exactly the ``ID[index]`` of the jobs named; ``stop`` bkills this run's
array ids and waits (bounded) for them to end.

Tested against stand-in bsub/bjobs/bkill programs (tests/stand-ins/lsf/) that follow the
documented output of the commands, not against a real LSF.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from typing import Sequence

from ..bundle import files as bundle_mod
from ..bundle import lsf as lsf_mod
from ..bundle.settings import lsf_time
from ..backend import DEFAULT_MAX_ARRAY, Backend
from ..errors import BackendError, Interrupted, RulecError
from ..profile import load as load_profile
from ..recordclass import record
from ..run.executor import Event, Finished, Note, Outcome, Started, Task
from . import rel_path as _rel

name = Backend.LSF
COMMANDS = ("bsub", "bjobs", "bkill")
DEFAULT_POLL = 1.0
DEFAULT_MAX_POLL = 30.0
FAILED_ROUNDS = 6  # bjobs failing this many polls in a row: give up following
SAY_EVERY = 30.0  # seconds between two "bjobs failing" lines
STUCK_AFTER = 600.0  # seconds a job may be UNKWN (its host out of contact) before it is given up
LOST_ROUNDS = 3  # polls a task may be missing from bjobs (and have no marker) before it is LOST
STOP_WAIT = 30.0  # seconds ``stop`` waits for bkilled jobs to end
FINAL = frozenset({"DONE", "EXIT"})
# Every other state (PEND, PROV, PSUSP, RUN, USUSP, SSUSP, WAIT, UNKWN, ZOMBI) is not over.
RUNNING = frozenset({"RUN", "USUSP", "SSUSP", "PROV"})
BJOBS_FORMAT = "jobid jobindex stat exit_code exec_host delimiter='|'"
KILL_BATCH = 500  # task ids per bkill call


# --------------------------------------------------------------------------- parsers

_SUBMITTED = re.compile(r"^Job <(\d+)> is submitted", re.M)


def parse_bsub(text: str) -> str | None:
    """The job id in bsub's ``Job <1234> is submitted to queue <normal>.``; None if absent."""
    m = _SUBMITTED.search(text)
    return m.group(1) if m else None


@record(frozen=True)
class Row:
    """One element of a job array as ``bjobs -o`` shows it."""

    job_id: str
    index: int  # LSF's array index, from 1 (0 for a job that is not an array)
    stat: str
    exit_code: int | None = None
    host: str = ""  # exec_host ("" when not shown or not started)


def parse_bjobs(text: str) -> list[Row]:
    """``bjobs -noheader -o "jobid jobindex stat exit_code exec_host delimiter='|'"``: one line per
    element; an absent value is ``-``. Lines that are not rows (``Job <N> is not found`` when
    stderr is merged, headers) are skipped."""
    rows = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) < 3 or not parts[0].isdigit():
            continue
        try:
            index = int(parts[1]) if parts[1] not in ("", "-") else 0
        except ValueError:
            continue
        code = None
        if len(parts) > 3 and parts[3] not in ("", "-"):
            try:
                code = int(parts[3])
            except ValueError:
                code = None
        host = parts[4] if len(parts) > 4 and parts[4] not in ("", "-") else ""
        rows.append(Row(parts[0], index, parts[2].upper(), code, host))
    return rows


# --------------------------------------------------------------------------- the commands

class Lsf:
    """bsub, bjobs, bkill as subprocesses (each with a timeout)."""

    timeout = 60.0
    last_error = ""  # the last failed bjobs' complaint (its first line)

    def submit(self, script: str, dependency: str | None, cwd: str, options: Sequence[str] = ()) -> str:
        """``bsub < script``; ``options`` (a retry's ``-J``, ``-R``, ``-W``) win over its
        ``#BSUB`` lines."""
        args = ["bsub", *options]
        if dependency:
            args += ["-ti", "-w", dependency]
        try:
            with open(os.path.join(cwd, script), "rb") as stdin:
                res = subprocess.run(args, stdin=stdin, cwd=cwd, capture_output=True, text=True, timeout=self.timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackendError(f"bsub failed for {script}: {exc}") from None
        job_id = parse_bsub(res.stdout)
        if res.returncode != 0 or job_id is None:
            said = (res.stderr.strip() or res.stdout.strip() or f"exit status {res.returncode}").splitlines()[-1]
            raise BackendError(f"bsub failed for {script}: {said}")
        return job_id

    def jobs(self, ids: Sequence[str]) -> list[Row] | None:
        """Every element of these jobs; None when bjobs itself failed."""
        if not ids:
            return []
        try:
            res = subprocess.run(["bjobs", "-a", "-noheader", "-o", BJOBS_FORMAT, *ids],
                                 capture_output=True, text=True, timeout=self.timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            self.last_error = str(exc)[:200]
            return None
        rows = parse_bjobs(res.stdout)
        if res.returncode != 0 and not rows and "is not found" not in res.stderr:
            self.last_error = (res.stderr.strip() or res.stdout.strip() or f"exit status {res.returncode}").splitlines()[0][:200]
            return None
        return rows

    def kill(self, ids: Sequence[str]) -> str | None:
        """bkill these ids (``N`` or ``N[i]``); None, or why it failed. Ids that already
        finished or are gone are not a failure."""
        problems = []
        for i in range(0, len(ids), KILL_BATCH):
            chunk = list(ids[i:i + KILL_BATCH])
            try:
                res = subprocess.run(["bkill", *chunk], capture_output=True, text=True, timeout=self.timeout)
            except (OSError, subprocess.TimeoutExpired) as exc:
                problems.append(str(exc))
                continue
            if res.returncode != 0:
                bad = [ln for ln in res.stderr.splitlines()
                       if ln.strip() and "already finished" not in ln and "No matching job" not in ln]
                if bad:
                    problems.append(bad[0].strip())
        return "; ".join(problems) or None


def check_commands() -> None:
    missing = [c for c in COMMANDS if shutil.which(c) is None]
    if missing:
        raise RulecError(
            f"--executor lsf needs {', '.join(missing)} on PATH, and {'it is' if len(missing) == 1 else 'they are'} not there; nothing was submitted",
            hint="run rulec on an LSF submission host, or write the bundle with `rulec emit --lsf` and submit it there")


def next_bundle_dir(workdir: str) -> str:
    base = os.path.join(workdir, ".rulec", Backend.LSF.value)
    numbers = [int(n) for n in os.listdir(base) if n.isdigit()] if os.path.isdir(base) else []
    return os.path.join(base, str(max(numbers, default=0) + 1))


def make(options, graph, plan, journal=None, quiet: bool = False) -> "LsfExecutor":
    check_commands()
    profile = load_profile(options.profile)
    prof = profile.backend(Backend.LSF)
    size = prof.setting("max_array_size") or os.environ.get("RULEC_MAX_ARRAY_SIZE") or DEFAULT_MAX_ARRAY[Backend.LSF]
    try:
        size = int(size)
    except ValueError:
        raise RulecError(f"max array size {size!r} is not a whole number") from None
    workdir = graph.workflow.workdir
    where = os.path.abspath(options.bundle) if options.bundle else next_bundle_dir(workdir)
    from .adopt import Follower

    lsf = Lsf()
    follower = Follower(options.reattached, LsfQueue(lsf), graph, plan.run)  # followed, not submitted
    run = [j for j in plan.run if j not in follower] if follower else plan.run
    bundle = bundle_mod.build(graph, run, Backend.LSF, profile, where, max(size, 1), followed=True, pack=options.pack)
    bundle_mod.write(bundle)
    poll = options.poll or float(prof.setting("poll", DEFAULT_POLL))
    max_poll = max(float(prof.setting("max_poll", DEFAULT_MAX_POLL)), poll)
    from .slurm import stuck_after_setting

    return LsfExecutor(bundle, lsf, poll, max_poll, stuck_after=stuck_after_setting(prof.setting("stuck_after")), follower=follower,
                       quiet=quiet)


class LsfExecutor:
    name = Backend.LSF
    push = True
    stages_files = False  # the task scripts make folders, remove stale outputs, check outputs

    def __init__(self, bundle, lsf: Lsf, poll: float = DEFAULT_POLL, max_poll: float = DEFAULT_MAX_POLL, sleep=time.sleep,
                 clock=time.monotonic, stuck_after: float = STUCK_AFTER, follower=None, quiet: bool = True):
        from .adopt import Follower, held_arrays

        self.bundle = bundle
        self.quiet = quiet
        self.stuck_after = stuck_after
        self.unknown_since: dict[int, float] = {}  # job in UNKWN (LSF lost its host) -> since
        self.clock = clock
        self.failing_since: float | None = None  # bjobs failing since then
        self.failing_said: float | None = None  # when that was last said
        self.layout = bundle.layout
        self.graph = bundle.graph
        self.lsf = lsf
        self.poll = poll
        self.max_poll = max_poll
        self.sleep = sleep
        self.ids: dict[int, str] = {}  # array index -> LSF job id
        self.array_of: dict[str, int] = {}
        self.remaining: set[int] = set()
        self.seen_running: set[int] = set()
        self.bad: set[int] = set()  # failed, or held back because an upstream job failed
        self.missing_rounds: dict[int, int] = {}
        self.interval = poll
        self.bad_rounds = 0
        self.more = False
        self.order = {j: i for i, j in enumerate(j for a in self.layout.arrays for j in a.jobs)}
        # a job submitted again (a retry, or a dependent ended by -ti for a retried upstream
        # job): the id of its one-element array (``name[i]``), which replaces the array's
        self.current: dict[int, str] = {}
        # the dead run's jobs still in bjobs, re-attached: followed in the same bjobs
        self.follower = follower if follower is not None else Follower(None, LsfQueue(lsf), self.graph)
        # arrays submitted only once the re-attached jobs they need have ended (see release)
        self.held_back: list[int] = held_arrays(self.layout, self.graph, set(self.follower.jobs))
        self.partial: set[int] = set()  # arrays submitted with some of their elements only

    # ------------------------------------------------------------------ protocol
    def open(self, tasks: Sequence[Task], deps) -> list[Event]:
        b = self.bundle
        wanted = {t.job for t in tasks}
        if wanted != set(self.order) | set(self.follower.jobs):
            raise BackendError("the LSF bundle does not hold exactly the jobs the loop runs")
        bundle_mod.make_dirs(os.path.join(b.dir, "logs"))
        bundle_mod.make_dirs(os.path.join(b.dir, "status"))
        names: dict[str, str] = {}
        held = set(self.held_back)
        for a in held:
            self.remaining.update(self.layout.arrays[a].jobs)
        fd = os.open(os.path.join(b.dir, "jobids"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, bundle_mod.FILE_MODE)
        try:
            with open(fd, "w") as ids_file:
                for array in self.layout.arrays:
                    if array.index in held:
                        continue
                    dep = lsf_mod.dependency(self.layout, array, names.__getitem__)
                    job_id = self.lsf.submit(b.script(array), dep, b.dir)
                    self.ids[array.index] = job_id
                    self.array_of[job_id] = array.index
                    names[array.name] = job_id
                    self.remaining.update(array.jobs)
                    ids_file.write(f"{array.name} {job_id}\n")
                    ids_file.flush()
        except (KeyboardInterrupt, Interrupted):
            raise  # the loop calls stop, which bkills what was submitted
        except BaseException:
            if self.ids:  # all or nothing: what was submitted goes again
                self.lsf.kill(list(self.ids.values()))
            raise
        if held and not self.quiet:
            print(f"{len(held)} array(s) of {_rel(b.dir)} to submit once the re-attached jobs they need have ended", flush=True)
        return []

    def release(self) -> None:
        """Submit the held arrays whose re-attached upstream jobs have all ended
        (``adopt.release_held``): what is left of each (``-J "name[<its indexes>]"`` when some
        were cancelled), after its upstream arrays (``done(ID[*])``/``done(ID)``;
        ``done(ID[i])`` per unfinished job of one submitted in part)."""
        from .adopt import release_held
        from .slurm import _task_list

        where, deps = self.layout.where, self.graph.deps

        def submit(array, jobs, tasks, part):
            options = []
            if part:
                limit = array.settings.array_limit
                options = ["-J", f"rulec-{array.rule.name}[{_task_list([t + 1 for t in tasks])}]"
                           + (f"%{limit}" if limit and limit < len(tasks) else "")]
            parts = [f"done({self.ids[d.array]}[*])" if d.kind == lsf_mod.arr.AFTERCORR else f"done({self.ids[d.array]})"
                     for d in array.deps if d.array in self.ids and d.array not in self.partial]
            parts += sorted({f"done({self.task_id(d)})" for j in jobs for d in deps[j]
                             if d in self.remaining and d in where and where[d][0] in self.partial})
            return self.lsf.submit(self.bundle.script(array), " && ".join(parts) or None, self.bundle.dir, options=options)

        release_held(self, submit, "element")

    def start(self, tasks: Sequence[Task]) -> list[Event]:
        raise BackendError("the LSF executor is a push executor: every task is submitted in open")

    def resubmit(self, tasks: Sequence[Task]) -> list[Event]:
        """Failed tasks with attempts left: each is submitted again alone (``bsub`` of its
        array's script with ``-J "name[i]"``, and the memory (``-R rusage[mem=]``, ``-M``) and
        ``-W`` scaled for ``task.attempt``), after its unfinished dependencies. Its dependents
        were ended by -ti at the failure: each is submitted again the same way when it is
        seen ended (``update``), waiting for this new submission."""
        for task in tasks:
            self._submit_again(task.job, task.attempt, task.command)
        return []

    def _submit_again(self, job: int, attempt: int, command: str | None = None) -> None:
        """A job of a packed array goes alone (``retry/<array>.<line>.lsf``: its array's
        script running only its line), in an element of its own."""
        a, t = self.layout.where[job]
        array = self.layout.arrays[a]
        b = self.bundle
        if command is not None:
            bundle_mod.set_task_command(b, array, t, job, command)
        s = array.settings
        opts = {k for k, _ in s.options}
        per = array.rule.resources.per_attempt
        options = ["-J", f"rulec-{array.rule.name}[{t + 1}]"]
        if attempt > 1 and "mem" in per and s.mem_mb:
            mem = s.mem_mb * attempt
            options += ["-R", f"rusage[mem={mem}]", "-M", str(mem)]
        elif array.width > 1 and s.mem_mb:
            options += ["-R", f"rusage[mem={s.mem_mb}]"]  # one job's, not the pack's at once
        if array.width > 1:  # alone: the cores of one job, not of the jobs its task runs at once
            options += ["-n", str(s.cpus)]
        scale = attempt if attempt > 1 and "time" in per else 1
        if s.time_s and "W" not in opts and "-W" not in opts and (scale > 1 or array.pack > 1):  # a pack asks for its jobs' time
            options += ["-W", lsf_time(s.time_s * scale)]
        waits = [f"done({self.task_id(d)})" for d in self.graph.deps[job] if d in self.remaining]
        script = bundle_mod.resubmission_script(b, array, job)
        job_id = self.lsf.submit(script, " && ".join(waits) or None, b.dir, options=options)
        self.current[job] = job_id
        self.array_of[job_id] = a
        key = f"{array.name}_{t + 1}" + (f":{self.layout.line_of(job)}" if array.pack > 1 else "")
        fd = os.open(os.path.join(b.dir, "jobids"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, bundle_mod.FILE_MODE)
        with open(fd, "a") as ids_file:
            ids_file.write(f"{key} {job_id}\n")
        self.seen_running.discard(job)
        self.bad.discard(job)
        self.missing_rounds.pop(job, None)
        self.remaining.add(job)

    def _resubmit_dependent(self, job: int) -> bool:
        """A job ended by -ti (an upstream job failed) before it ran: submitted again when
        that failure was one the loop retries, i.e. when a job of its upstream arrays was
        submitted again and none of its own dependencies failed for good."""
        array = self.layout.arrays[self.layout.where[job][0]]
        upstream = {j for d in array.deps for j in self.layout.arrays[d.array].jobs}
        if job in self.seen_running or not any(j in self.current for j in upstream):
            return False
        if any(d in self.bad for d in self.graph.deps[job]):
            return False
        self._submit_again(job, 1)
        return True

    def wait(self) -> list[Event]:
        self.release()
        while self.remaining or self.follower:
            if self.more:  # the last answer was cut after a failure: ask again at once
                self.more = False
            else:
                self.sleep(self.interval)
            asked = self.clock()
            rows = self.lsf.jobs(self._active_ids() + self.follower.ids())
            if rows is None:
                self.bad_rounds += 1
                if self.bad_rounds >= FAILED_ROUNDS:
                    raise BackendError(
                        f"bjobs failed {self.bad_rounds} times in a row; giving up on following the run. "
                        f"Its jobs may still be queued: {' '.join(self.ids.values())}",
                        hint="follow them with bjobs, or end them with bkill; the next rulec run resubmits what is missing")
                self.interval = min(self.interval * 2, self.max_poll)
                # said at once, then at most every SAY_EVERY s: a run is never silent while bjobs fails
                if self.failing_since is None:
                    self.failing_since = asked
                now = self.clock()
                if self.failing_said is None or now - self.failing_said >= SAY_EVERY:
                    self.failing_said = now
                    why = getattr(self.lsf, "last_error", "") or "no answer"
                    return [Note(f"bjobs failing for {now - self.failing_since:.0f} s ({why}), retrying")]
                continue
            self.bad_rounds = 0
            if self.failing_said is not None:
                self.failing_said, since = None, self.failing_since
                self.failing_since = None
                return [Note(f"bjobs answers again (after {self.clock() - since:.0f} s)"), *self.follower.update(rows), *self.update(rows)]
            self.failing_since = None
            events = self.follower.update(rows)
            if any(type(e) is Finished and e.outcome is not Outcome.OK for e in events):
                self.more = True  # the loop cancels its dependents first; the own jobs on a fresh answer
                return events
            events += self.update(rows)
            if events:
                self.interval = self.poll
                return events
            self.interval = min(self.interval * 1.5, self.max_poll)
        return []

    def running(self) -> int:
        return len(self.remaining) + len(self.follower)

    def running_jobs(self) -> list[int]:
        return self.follower.started_jobs() + [j for j in self.remaining if self._started(j)]

    def cancel(self, jobs: Sequence[int]) -> list[Event]:
        """bkill exactly these elements; a packed job whose element still has other jobs to
        run is skipped by it instead (a cancel file), so its pack-mates go on."""
        followed = set(self.follower.cancel(jobs))
        jobs = [j for j in jobs if j not in followed]
        where = self.layout.where
        ids, packs = [], {}
        for j in jobs:
            if j in self.remaining and where[j][0] in self.ids:
                if self._packed(j):
                    packs.setdefault(where[j], []).append(j)
                else:
                    ids.append(self.task_id(j))
        for j in jobs:
            self.remaining.discard(j)
            self.bad.add(j)
        for (a, t), group in packs.items():
            if any(j in self.remaining and j not in self.current for j in self.layout.arrays[a].task_jobs(t)):
                for j in group:
                    bundle_mod.write_file(self.bundle.cancel_marker(j), "cancelled\n", bundle_mod.FILE_MODE)
            else:
                ids.append(self.task_id(group[0]))
        if ids:
            self.lsf.kill(ids)  # best effort: -ti ends them anyway once their dependency fails
        return []

    def stop(self, grace: float) -> tuple[list[Event], list[int]]:
        old = {}
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # a second Ctrl-C must not cut this short
            try:
                old[s] = signal.signal(s, signal.SIG_IGN)
            except (ValueError, OSError):  # not the main thread
                pass
        try:
            ids = list(self.ids.values()) + sorted(set(self.current.values()), key=int)
            if (not ids or not self.remaining) and not self.follower:
                return [], []
            self.lsf.kill(ids + self.follower.task_ids())  # the re-attached jobs are this run's too
            ids += self.follower.ids()
            live = set(self.remaining) | set(self.follower.jobs)
            states: dict[int, Row] = {}
            over: list[Event] = []
            deadline = time.monotonic() + max(STOP_WAIT, grace)
            while time.monotonic() < deadline:
                rows = self.lsf.jobs(ids)
                if rows is not None:
                    states = self._by_job(rows)
                    over, followed = self.follower.stopping(rows)
                    # gone from bjobs is over too (past CLEAN_PERIOD)
                    live = {j for j in self.remaining if j in states and states[j].stat not in FINAL} | set(followed)
                    if not live:
                        break
                time.sleep(0.2)
            events: list[Event] = list(over)
            for job in sorted(self.remaining - live, key=self.order.__getitem__):
                if self.layout.where[job][0] not in self.ids:
                    continue  # held: never submitted
                row = states.get(job)
                code = self.marker(job)
                if row is not None and row.stat == "DONE" or code == 0:
                    events.append(Finished(job, Outcome.OK, exit_code=0, state="DONE", log=self.bundle.logs[job]))
                else:
                    events.append(Finished(job, Outcome.CANCELLED, state="EXIT", log=self.bundle.logs[job],
                                           notes=("ended by bkill",)))
            self.remaining = {j for j in live if j not in self.follower}
            return events, sorted(live)
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    def close(self) -> None:
        pass

    # ------------------------------------------------------------------ following
    def task_id(self, job: int) -> str:
        a, t = self.layout.where[job]
        return f"{self.current.get(job) or self.ids[a]}[{t + 1}]"

    def _active_ids(self) -> list[str]:
        active = sorted({self.layout.where[j][0] for j in self.remaining})
        own = sorted({self.current[j] for j in self.remaining if j in self.current}, key=int)
        return [self.ids[a] for a in active if a in self.ids] + own

    def _by_job(self, rows: list[Row]) -> dict[int, Row]:
        """Rows by job: an element's row is its job's, or that of each job of a packed
        element (read with the job's markers in ``update``)."""
        out: dict[int, Row] = {}
        for row in rows:
            a = self.array_of.get(row.job_id)
            if a is None:
                continue
            array = self.layout.arrays[a]
            t = row.index - 1 if row.index else 0
            if not 0 <= t < len(array):
                continue
            if array.pack > 1:
                for job in array.task_jobs(t):
                    if self.current.get(job, self.ids.get(a)) == row.job_id:
                        out[job] = row
            elif self.current.get(array.jobs[t], self.ids.get(a)) == row.job_id:
                out[array.jobs[t]] = row
        return out

    def _packed(self, job: int) -> bool:
        """The job runs in an element with others (a packed array's, not submitted alone)."""
        return self.layout.arrays[self.layout.where[job][0]].pack > 1 and job not in self.current

    def _own_stat(self, job: int, row: Row, code: int | None) -> str:
        """A packed job's own state, from its element's and its markers: over (as its marker
        says) once it has one, PEND while its running element has not reached it."""
        if code is not None:
            return "DONE" if code == 0 else "EXIT"
        if (row.stat in RUNNING or row.stat == "UNKWN") and not os.path.exists(self.bundle.start_marker(job)):
            if row.stat in RUNNING:
                return "PEND"  # its element has not reached it yet
            # out of contact: said (and given up) once, by its element's running job, or by
            # its first job if none has started
            a, t = self.layout.where[job]
            mates = [j for j in self.layout.arrays[a].task_jobs(t) if j in self.remaining and j not in self.current]
            if mates[:1] != [job] or any(os.path.exists(self.bundle.start_marker(j)) for j in mates):
                return "PEND"
        return row.stat

    def marker(self, job: int) -> int | None:
        return self.bundle.marker_code(job)

    def _started(self, job: int) -> bool:
        if job in self.seen_running or self.marker(job) is not None:
            return True
        a, t = self.layout.where[job]
        if a not in self.ids:
            return False
        if self._packed(job):  # its element's log says nothing of this job
            return os.path.exists(self.bundle.start_marker(job))
        name_ = self.layout.arrays[a].name
        return os.path.exists(os.path.join(self.bundle.dir, "logs", f"{name_}_{self.current.get(job) or self.ids[a]}_{t + 1}.out"))

    def update(self, rows: list[Row]) -> list[Event]:
        """One bjobs answer -> events, in the bundle's (dependency) order, up to and including
        the first failure: the loop may cancel jobs after it, so what follows it is judged
        on a fresh answer (``more``)."""
        states = self._by_job(rows)
        graph = self.graph
        events: list[Event] = []
        for job in sorted(self.remaining, key=self.order.__getitem__):
            row = states.get(job)
            if row is None and self.layout.where[job][0] not in self.ids:
                continue  # held: not submitted yet
            code = self.marker(job)
            if row is None:
                if code is None:
                    self.missing_rounds[job] = self.missing_rounds.get(job, 0) + 1
                    if self.missing_rounds[job] < LOST_ROUNDS:
                        continue
                stat = None
            else:
                self.missing_rounds.pop(job, None)
                stat = row.stat
                if self._packed(job):
                    stat = self._own_stat(job, row, code)
                if stat == "UNKWN":
                    lost = self._unknown(job, row)
                    if lost is not None:
                        events.append(lost)
                        if type(lost) is Finished:
                            self.more = bool(self.remaining)
                            break
                    continue
                self.unknown_since.pop(job, None)
                if stat not in FINAL:
                    if stat in RUNNING and job not in self.seen_running:
                        self.seen_running.add(job)
                        events.append(Started(job, where=f"lsf:{self.task_id(job)}"))
                    continue
            # over: DONE, EXIT, or gone from bjobs
            log = self.bundle.logs[job]
            if code is None and stat == "EXIT" and self._resubmit_dependent(job):
                continue  # it waits for the retried upstream job now
            if code is None and stat == "EXIT" and any(d in self.bad for d in graph.deps[job]):
                # ended by -ti because an upstream job failed: the loop cancels it (skipped)
                self.bad.add(job)
                continue
            if job not in self.seen_running and (code is not None or stat == "DONE"):
                self.seen_running.add(job)
                events.append(Started(job, where=f"lsf:{self.task_id(job)}"))
            self.remaining.discard(job)
            if stat == "DONE" or stat is None and code == 0:
                events.append(Finished(job, Outcome.OK, exit_code=0, state="DONE", log=log))
            elif code == bundle_mod.MISSING_OUTPUT:  # its log says which output its command did not create
                self.bad.add(job)
                events.append(Finished(job, Outcome.MISSING_OUTPUT, exit_code=0, log=log))
            elif code is not None:
                self.bad.add(job)
                events.append(Finished(job, Outcome.EXIT, exit_code=code, state=stat or "EXIT", log=log))
            elif stat is None:
                self.bad.add(job)
                events.append(Finished(job, Outcome.LOST, state="not in bjobs, and no status marker", log=log))
            else:
                self.bad.add(job)
                events.append(self._ended_by_lsf(job, row, log))
            if events and type(events[-1]) is Finished and events[-1].outcome is not Outcome.OK:
                self.more = bool(self.remaining)
                break
        return events

    def _unknown(self, job: int, row: Row) -> Event | None:
        """UNKWN: mbatchd lost contact with the sbatchd of the job's host. Said once, with the
        host; after ``stuck_after`` s (the profile's, default 600) the job is bkilled and
        reported as a node failure (retried if it has attempts left, else it reruns next time)."""
        now = self.clock()
        since = self.unknown_since.get(job)
        host = row.host or "its host"
        if since is None:
            self.unknown_since[job] = now
            return Note(f"{self.graph.job_id(job)} ({self.task_id(job)}): LSF lost contact with {host} (UNKWN); "
                        f"waiting up to {self.stuck_after:.0f} s (stuck_after) for it to come back")
        if now - since < self.stuck_after:
            return None
        self.lsf.kill([self.task_id(job)])
        self.unknown_since.pop(job, None)
        self.remaining.discard(job)
        self.bad.add(job)
        return Finished(job, Outcome.NODE_FAIL, state="UNKWN", log=self.bundle.logs[job], notes=(
            f"{host} out of contact with LSF (UNKWN) for {now - since:.0f} s: ended with bkill",))

    def _ended_by_lsf(self, job: int, row: Row, log: str) -> Finished:
        """EXIT without a marker: the command did not run to its end (bkill by hand, a run or
        memory limit), or the array waits for a whole upstream array where a job failed."""
        a, t = self.layout.where[job]
        array = self.layout.arrays[a]
        upstream = [self.layout.arrays[d.array].name for d in array.deps
                    if any(j in self.bad for j in self.layout.arrays[d.array].jobs)]
        sched_log = os.path.join(_rel(self.bundle.dir), "logs", f"{array.name}_{self.ids[a]}_{t + 1}.out")
        if upstream and job not in self.seen_running:
            return Finished(job, Outcome.NOT_STARTED, state="EXIT", log=None, notes=(
                f"ended by LSF (-ti): its {'element' if array.pack > 1 else 'array'} waits for "
                f"{'every job of ' if array.pack > 1 else 'all of '}{', '.join(upstream)}, where a job failed; "
                "it runs on the next rulec run",))
        if self._packed(job) and not os.path.exists(self.bundle.start_marker(job)):
            return Finished(job, Outcome.CANCELLED, state="EXIT", log=None, notes=(
                f"it had not started: its element {self.task_id(job)} (a pack of {array.pack}) ended first; "
                f"scheduler log {sched_log}",))
        notes = (f"no status marker: LSF ended it (bkill, a run or memory limit); scheduler log {sched_log}",)
        if row.exit_code is not None:
            return Finished(job, Outcome.EXIT, exit_code=row.exit_code, state="EXIT", log=log, notes=notes)
        return Finished(job, Outcome.CANCELLED, state="EXIT", log=log, notes=notes)




# --------------------------------------------------------------------------- adopt
class LsfQueue:
    """What adopting a dead run's bundle asks of LSF (rulec/executors/adopt.py)."""

    command = "bjobs"

    def __init__(self, lsf: Lsf):
        self.lsf = lsf

    @property
    def last_error(self) -> str:
        return self.lsf.last_error

    def task_key(self, array: str, task: int) -> str:
        return f"{array}_{task + 1}"

    def shown(self, scheduler_id: str, task: int) -> str:
        return f"{scheduler_id}[{task + 1}]"

    def state(self, rows: list[Row], scheduler_id: str, task: int) -> str | None:
        from . import adopt

        row = None
        for r in rows:
            if r.job_id == scheduler_id and (r.index == task + 1 or (r.index == 0 and row is None)):
                row = r
        if row is None:
            return None
        if row.stat in FINAL:
            return adopt.OVER
        return adopt.RUNNING if row.stat in RUNNING or row.stat == "UNKWN" else adopt.PENDING

    def kill(self, ids: list[str]) -> str | None:
        return self.lsf.kill(ids)

    def alive(self, where: dict[str, tuple[str, int]]) -> set[str] | None:
        rows = self.lsf.jobs(sorted({w[0] for w in where.values()}, key=int))
        if rows is None:
            return None
        states = {(r.job_id, r.index): r for r in rows}
        return {jid for jid, (lid, task) in where.items()
                if (row := states.get((lid, task + 1)) or states.get((lid, 0))) is not None and row.stat not in FINAL}


def reattach(workdir: str, history, graph, lsf: Lsf | None = None, quiet: bool = False,
             poll: float = DEFAULT_POLL, sleep=time.sleep):
    """Before a ``--executor lsf`` run plans: re-attach the jobs of a run whose rulec died
    that are still in bjobs, settle the others (see rulec/executors/adopt.py)."""
    from .adopt import reattach as reattach_bundles

    return reattach_bundles(workdir, Backend.LSF, history, graph, LsfQueue(lsf or Lsf()), quiet, poll, sleep)


def queue(lsf: Lsf | None = None) -> LsfQueue:
    return LsfQueue(lsf or Lsf())


def adopt(workdir: str, history, graph, lsf: Lsf | None = None, quiet: bool = False,
          poll: float = DEFAULT_POLL, sleep=time.sleep) -> dict[str, list[str]]:
    """Before a ``--executor lsf`` run plans: take over the bundle of a run whose rulec
    died (see rulec/executors/adopt.py)."""
    from .adopt import adopt as adopt_bundle

    return adopt_bundle(workdir, Backend.LSF, history, graph, LsfQueue(lsf or Lsf()), quiet, poll, sleep)
