"""Starting and stopping local job processes: the only place that spawns them.

Starting bash costs more than most small jobs (about 2 ms of CPU here, against 0.5 ms for
forking a running bash). So a run starts a few long-lived bash *workers* (with
``subprocess``), one per job slot, and each job is a subshell forked from a worker:

    ( set +m -euo pipefail; eval "$BASH_EXECUTION_STRING" ) 2>&1 </dev/null >LOG 2>&1 &

with ``$0`` the job id and BASH_EXECUTION_STRING the command, both set before the fork, and
job control on for the fork (see the protocol below: what the subshell does costs most).

Job control (``set -m``) puts every job in its own process group, which is what rulec signals
on Ctrl-C. The worker waits for the job and reports its pid and exit status on a pipe when it
has ended. It may hold one more request, *queued* while its job runs, and starts that job as
soon as the running one has ended (unless the request's guard says the job before failed,
that job's group still has processes, or rulec has taken the queued job back): its answer
then says so, and the next job starts without waiting for rulec. A job sees what ``bash -euo pipefail -c COMMAND JOB_ID`` would show it (``$0`` is
the job id, error messages say ``line N`` of the command), with two exceptions that are
handled here:

- ``$$`` in a subshell is the worker's pid. A command that mentions ``$$`` (for a temporary
  name, say) is therefore run by ``exec bash -euo pipefail -c COMMAND JOB_ID`` in the subshell,
  where ``$$`` is its own.
- Long commands (and commands holding a NUL) are written to a script file and run by
  ``exec bash -euo pipefail FILE``.

As under ``bash -c``, a command that is one program with plain words (``ExecWords``) is
exec'ed by the job's shell rather than forked from it once more.

A worker sees its job's status the way a shell does: a job killed by signal N reads as exit
status 128+N, which rulec reports as "killed by signal" (as shells and make do).
"""

from __future__ import annotations

import os
import re
import select
import selectors
import shlex
import signal
import time
from collections import deque

from ..recordclass import record
from ..storage import make_dirs, remove_local, write_replacing

# The protocol. Each request starts with a header of HEADER bytes: a form letter; a queue
# letter (n: start it now; q: a *queued* request, written while the worker's job runs, to
# start the moment that job ends; g: queued, and to start only if that job exited 0 and its
# guard, a ``[[ ... ]]`` test of the paths it must leave, holds; f and d: the same, the
# guard being the one file, or folder, that job must leave, tested without parsing a
# test); a run letter (e: a command, run after ``set +m -euo pipefail``; x: shell text of
# rulec's making that execs a program, ``exec COMMAND`` or ``exec bash ...``, run as it
# is); a log letter (t: open the log with ``>``; k: with ``1<>``, which leaves the file as
# it is: only for a lazy log's spool, which rulec has emptied or removed); the lengths of
# four fields (7 digits each) and a newline. Form "a": the job id, the log path, the shell
# text and the guard follow back to back, each read with one ``read -N`` (which counts
# characters, so this form is used only when all are ASCII: a character is then a byte).
# Form "z", for anything else: the fields follow NUL-terminated, read as such (bash reads a
# pipe one byte per system call for that). The guard is there for "g", "f" and "d"
# requests only (form "a" gives the others an empty one: its ``read -N 0`` costs less than
# the test that would skip it).
#
# The worker answers one line when a job has ended: its pid and its exit status. Nothing is
# said when a job starts: a line then would wake rulec once more per job, for a pid it needs
# only to stop the job early, when it asks the system for the worker's child instead
# (``Launcher._pid_of``). A queued request gets a verdict, ``+`` (started) or ``-`` (not
# started: its stop file exists, which is how rulec takes a queued job back; the group of
# the job before it still has processes; or its guard failed). When the queued request was
# there as the job before it ended (``read -t 0``), the verdict ends that job's line
# (``PID STATUS +``), said just before the queued job is forked; when it came later, the
# verdict is a line of its own. Any other line is bash's complaint that a job's log cannot
# be opened (the job's stderr is the answer pipe until then), ``JOB_ID: line 1: LOG: why``:
# a newline in the job id is written "\\n" there (``request``), and one in the log path
# makes the complaint take several lines, which rulec reads as one (``Launcher._line``), so
# that no part of either can read as a status. The worker's own stderr is /dev/null.
#
# What a job sees (as under ``bash -c``) costs the least where it is made before the fork:
# each command the job's subshell runs before the job's own costs a few page faults (copies
# of the worker's pages), which on a virtual machine are much of a small job's cost. So:
# - the job id is read straight into BASH_ARGV0 (``$0``), and the shell text into
#   BASH_EXECUTION_STRING, which is where ``bash -c`` has its command;
# - the worker's variables are unset before the fork, the log path last: the redirection
#   of the subshell takes it from ``$_``, the last argument of the worker's last command
#   (so ``$_`` is the log path when the job starts). ``unset`` without -v takes a word that
#   is no variable's name for a function's: the log path always holds a "/", and bash never
#   imports a function of such a name;
# - the subshell then runs one command, ``set +m -euo pipefail`` (``+m``: ``$-`` as under
#   ``bash -c``; a subshell has no job control anyway), before the eval'ed command, or
#   none (run letter x);
# - job control (``set -m``) is on only around the fork, which gives the job its own
#   process group: a job that is stopped then does not end the worker's ``wait`` (it is
#   waited for until it has ended), and bash writes no "Done" notice of each job.
# Everything is on one line so that bash's ``line N`` in a job's error messages counts from
# the command. Bash 5.0 or later (BASH_ARGV0).
HEADER = 33
_FIELD_MAX = 10**7 - 1  # a length in the header: 7 digits
_READ = (
    "read -r -N 33 __h && if [[ $__h == a* ]]; then "
    "read -r -N ${__h:4:7} BASH_ARGV0 && read -r -N ${__h:11:7} __l && "
    "read -r -N ${__h:18:7} BASH_EXECUTION_STRING && read -r -N ${__h:25:7} __g; "
    "else IFS= read -r -d '' BASH_ARGV0 && IFS= read -r -d '' __l && IFS= read -r -d '' BASH_EXECUTION_STRING && "
    "{ [[ $__h == ?[nq]* ]] || IFS= read -r -d '' __g; }; fi"
)
# __p: while the line of the job that ended last is unsaid (a request was there), that
# line's start, "PID STATUS ": it is said with the verdict on that request
_UNSET = "unset __h __g __p __s __l \"$__l\"; "
_LOG = " 2>&1 </dev/null >\"$_\" 2>&1 & "
_KEEP = " 2>&1 </dev/null 1<>\"$_\" 2>&1 & "
_RUN = "( set +m -euo pipefail; eval \"$BASH_EXECUTION_STRING\" )"
_AS_IS = "( eval \"$BASH_EXECUTION_STRING\" )"


def worker_script(stop_file: str) -> str:
    """The worker's script (run by ``bash -c``): it starts no queued job while ``stop_file``
    (an absolute path) exists."""
    stop = f"! -e {shlex.quote(stop_file)}"
    # (each command the worker runs costs it some 15,000 instructions: the tests of a queued
    # request are one ``[[ ... ]]`` each where they can be)
    starts = (f"case $__h in ?q*) [[ {stop} ]] ;; ?f*) [[ {stop} && $__s == 0 && -e $__g ]] ;; "
              f"?d*) [[ {stop} && $__s == 0 && -d $__g ]] ;; *) [[ {stop} && $__s == 0 ]] && eval \"$__g\" ;; esac "
              "&& ! kill -0 -- \"-$!\"")
    return (
        "unset -v __h __g __p __s __l; while " + _READ + "; do "
        "case $__h in ?n*) [[ -z $__p ]] || echo \"${__p% }\" ;; "
        "*) if " + starts + "; then echo \"$__p+\"; else echo \"$__p-\"; unset __p; continue; fi ;; "
        "esac; set -m; "
        "case $__h in ??ek*) " + _UNSET + _RUN + _KEEP + ";; ??e*) " + _UNSET + _RUN + _LOG + ";; "
        "??xk*) " + _UNSET + _AS_IS + _KEEP + ";; *) " + _UNSET + _AS_IS + _LOG + ";; esac; "
        "set +m; wait \"$!\"; __s=$?; "
        "if read -t 0; then __p=\"$! $__s \"; else echo \"$! $__s\"; fi; done; "
        "[[ -z $__p ]] || echo \"${__p% }\""
    )


# A worker with no stop file (a path that cannot exist), for measuring the worker alone.
WORKER = worker_script("/dev/null/no-stop-file")
STARTED = "started"  # wait_any: a queued job its worker has started
RETURNED = "returned"  # wait_any: a queued job its worker did not start (it is the caller's again)


def request(job_id: str, log: str, mode: str, command: str, queue: str = "n", guard: str = "",
            keep: bool = False) -> bytes:
    """The bytes that hand one job to a worker (see ``worker_script``). ``mode``: "e" (a
    command), "x" (one program with plain words: exec'ed), "c" (a command run by a bash of its
    own, for its own ``$$``), "f" (``command`` names the script file to run) or "r" (shell text
    of rulec's making, run as it is). ``queue``: "n" (start now), "q" (queued), "g" (queued,
    with ``guard``, a test), "f" or "d" (queued, with ``guard`` the one file or folder to
    test). ``keep``: the log is a spool rulec has emptied or removed, opened without
    truncating it."""
    if mode == "e":
        run, text = "e", command
    elif mode == "x":
        run, text = "x", "exec " + command
    elif mode == "c":
        run, text = "x", f'exec bash -euo pipefail -c {shlex.quote(command)} "$0"'
    elif mode == "f":
        run, text = "x", "exec bash -euo pipefail " + shlex.quote(command)
    else:
        run, text = "x", command
    if "\n" in job_id:
        # Bash's complaint about the log, on the answer pipe, starts with ``$0``: a newline
        # there would make the rest of the id a line of its own, which could read as a job's
        # status. The worker's ``$0`` is then the id with "\\n" for each newline, and the
        # job sets its own.
        text = f"BASH_ARGV0={_dollar_quote(job_id)}; {text}"
        job_id = job_id.replace("\n", "\\n")
    if "/" not in log:
        log = "./" + log  # (see _UNSET: never a variable's or an imported function's name)
    if queue in "nq":
        guard = ""
    head = f"{queue}{run}{'k' if keep else 't'}"
    if (job_id.isascii() and log.isascii() and text.isascii() and guard.isascii() and "\0" not in text
            and len(text) <= _FIELD_MAX and len(job_id) <= _FIELD_MAX and len(log) <= _FIELD_MAX
            and len(guard) <= _FIELD_MAX):
        return (f"a{head}{len(job_id):07d}{len(log):07d}{len(text):07d}{len(guard):07d}\n"
                f"{job_id}{log}{text}{guard}").encode("ascii")
    fields = (job_id, log, text) if queue in "nq" else (job_id, log, text, guard)
    data = b"".join(s.encode("utf-8", "surrogateescape") + b"\0" for s in fields)
    return f"z{head}{0:028d}\n".encode("ascii") + data


def _dollar_quote(text: str) -> str:
    """``text`` as a bash ``$'...'`` word: a newline written as ``\\n``, so that the line
    numbers of what follows it stay those of the command."""
    return "$'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def complaint(job_id: str, log: str) -> bytes:
    """How bash's complaint that ``log`` (a request's log field) cannot be opened starts, on
    the answer pipe of the worker that got ``job_id`` (see ``request``)."""
    if "/" not in log:
        log = "./" + log
    return f"{job_id.replace(chr(10), chr(92) + 'n')}: line 1: {log}: ".encode("utf-8", "surrogateescape")


def guard(paths) -> str:
    """The worker's test that ``paths`` are there (a trailing "/": a folder), quoted."""
    tests = []
    for path in paths:
        folder = path.endswith("/") and len(path) > 1
        if folder:
            path = path.rstrip("/")
        if path.startswith("-"):
            path = "./" + path
        tests.append(("-d " if folder else "-e ") + shlex.quote(path))
    return f"[[ {' && '.join(tests)} ]]" if tests else ""


_guard_text = guard  # (``spawn``'s parameter of that name hides it there)


# Above this many bytes a command goes through a script file (see the module docstring).
INLINE_LIMIT = 4096


def script_path(workdir: str, job_id: str) -> str:
    import hashlib  # (here: only long commands have a script file, and hashlib loads OpenSSL)

    name = hashlib.sha1(job_id.encode("utf-8", "surrogateescape")).hexdigest()[:20]
    return os.path.join(workdir, ".rulec", "jobs", name + ".sh")


def uses_own_pid(command: str) -> bool:
    """Whether ``$$`` appears in the command (as ``$$`` or ``${$}``)."""
    return "$$" in command or "${$}" in command


# One simple command of plain words: a program name, then arguments and redirections to
# files, with nothing bash would expand, quote, group, chain or run in the background.
_ONE_PROGRAM = re.compile(r"([A-Za-z_][A-Za-z0-9_.+-]*)(?: +[A-Za-z0-9_./,:=+@%^~<>-]+)* *").fullmatch

# What bash runs itself, without a program: its builtins and reserved words (bash 5).
_BASH_OWN = frozenset("""
    ! . : [ [[ ]] { } alias bg bind break builtin caller case cd command compgen complete compopt
    continue coproc declare dirs disown do done echo elif else enable esac eval exec exit export
    false fc fg fi for function getopts hash help history if in jobs kill let local logout mapfile
    popd printf pushd pwd read readarray readonly return select set shift shopt source suspend
    test then time times trap true type typeset ulimit umask unalias unset until wait while
    """.split())


class ExecWords:
    """Which commands a worker may ``exec`` instead of forking once more for them.

    bash -c runs the last command of its script by exec'ing it, but a command eval'ed in
    the worker's subshell is forked: one process more per job, for the common job that runs
    one program. A command may be exec'ed (and then behaves as under ``bash -c``) when it is
    one simple command of plain words (``_ONE_PROGRAM``) whose first word is a program found
    on PATH: no builtin or reserved word, no function the worker could have (bash imports
    exported ones from the environment, ``BASH_FUNC_name%%``), and nothing may be defined
    behind rulec's back (BASH_ENV, which a non-interactive bash sources, turns it off, as
    does a relative folder in PATH). Anything else goes the usual way."""

    def __init__(self, env=None):
        env = os.environ if env is None else env
        self.path = env.get("PATH", os.defpath)
        self.off = bool(env.get("BASH_ENV")) or any(not d.startswith("/") for d in self.path.split(os.pathsep))
        self.functions = {k[10:-2] for k in env if k.startswith("BASH_FUNC_") and k.endswith("%%")}
        self._found: dict[str, bool] = {}

    def __call__(self, command: str) -> bool:
        if self.off:
            return False
        m = _ONE_PROGRAM(command)
        if m is None or "<<" in command:  # (a here-document needs lines of its own anyway)
            return False
        word = m.group(1)
        found = self._found.get(word)
        if found is None:
            found = self._found[word] = (word not in _BASH_OWN and word not in self.functions
                                         and self._on_path(word))
        return found

    def _on_path(self, word: str) -> bool:
        """Whether a folder of PATH (all absolute here) holds an executable file ``word``
        (a plain name): ``shutil.which`` on POSIX, without importing shutil, which costs a
        run's start a few milliseconds (it imports bz2, lzma and zlib)."""
        for folder in self.path.split(os.pathsep):
            candidate = os.path.join(folder, word)
            if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
                return True
        return False


class Proc:
    """One job handed to a worker (a plain class: one is made per job, and a record's
    default factories cost more than the rest of its making)."""

    __slots__ = ("job", "worker", "started", "log", "pid", "spool", "linked", "notes", "job_id", "left", "status",
                 "sent", "verdict", "termed")

    def __init__(self, job: int, worker: "Worker", started: float, log: str | None, spool: str | None = None,
                 job_id: str = ""):
        self.job = job
        self.worker = worker
        self.started = started  # (a queued job: when its worker said it started it)
        self.log = log  # None once a job with a lazy log has ended without printing anything
        self.pid: int | None = None  # the job's pid (and process group), once known (see Launcher._pid_of)
        self.spool = spool  # a lazy log's spool file (see Launcher.spawn)
        self.linked = False  # the spool is already hard-linked at ``log``
        self.notes: list = []  # bash's words when the log cannot be opened
        self.job_id = job_id
        self.left: list = []  # processes of its group still running after it ended (stopped)
        self.status: int | None = None  # its shell's exit status, once the worker has said it
        self.sent = False  # its request is written whole
        self.verdict = b""  # with its status: what its worker did with the job queued behind it
        self.termed = False  # stop_all has signalled its group

    def __repr__(self) -> str:
        return f"Proc(job={self.job}, job_id={self.job_id!r}, pid={self.pid}, status={self.status})"


@record(eq=False)
class Worker:
    popen: object
    stdin: int
    stdout: int
    buf: bytes = b""
    proc: Proc | None = None  # the job it runs
    queued: Proc | None = None  # the job queued behind it (started when ``proc`` ends)
    spool: str = ""  # its first lazy log spool, relative to the working folder
    number: int = 0  # 1, 2, ...: the job slot it serves (where its jobs ran, in the run history)
    spools: tuple[str, str] = ("", "")  # the two spools its lazy logs alternate between (a queued job
    #                                     writes to one while the job before it is finished from the other)
    turn: int = 0  # which of the two the next lazy log gets
    stop_file: str = ""  # while it exists, the worker starts no queued job (absolute)


class Launcher:
    """The bash workers of one run. ``spawn`` hands a job to an idle worker (starting one when
    none is idle) or queues it behind a running job (``after``), ``wait_any`` collects finished
    jobs (and queued ones started or given back), ``stop_all`` stops running ones."""

    # A lazy log shows up at its path once its job has run this long (see spawn).
    LIVE_AFTER = 1.0
    # Processes a job left running when it ended get this long between TERM and KILL.
    LEFTOVER_GRACE = 2.0

    def __init__(self, workdir: str, journal=None):
        """``journal`` (a lock.RunFile, optional) is told every worker before it gets a job,
        and every job before it is handed to its worker (a queued job: when its worker has
        started it): what a later run needs to stop them if this rulec is killed (and
        ``rulec status`` to say which ones run)."""
        self.workdir = workdir
        self.journal = journal
        self.idle: list[Worker] = []
        self.workers: list[Worker] = []
        self.selector = selectors.DefaultSelector()
        # epoll itself where there is one: the selectors wrapper costs a few microseconds a call
        self._epoll = select.epoll() if hasattr(select, "epoll") else None
        self._by_fd: dict[int, Worker] = {}
        self.spool_dir = os.path.join(".rulec", "spool")
        self._spools_ready = False
        self._unlinked: deque[Proc] = deque()  # jobs with a lazy log not at its path yet, in start order
        # Jobs whose log path holds a newline: the first line of bash's complaint that it
        # cannot be opened, and how many lines more the complaint takes (see _line).
        self._split_complaints: dict[Proc, list] = {}
        self._started = 0  # workers started so far
        self.exec_word = ExecWords()

    def __enter__(self) -> "Launcher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ starting

    def _new_worker(self) -> Worker:
        import subprocess

        number = self._started + 1
        stem = os.path.join(self.spool_dir, f"{os.getpid()}-{number}")
        spools = (stem + ".log", stem + ".2.log")
        stop_file = os.path.join(os.path.abspath(self.workdir), stem + ".stop")
        # subprocess itself, not plumbum: importing plumbum costs more (40-100 ms) than
        # everything else a local run of a thousand small jobs does at its start.
        popen = subprocess.Popen(
            ["bash", "-c", worker_script(stop_file), "rulec-worker"],
            cwd=self.workdir,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in the terminal reaches rulec, not the workers
            close_fds=True,
        )
        self._started += 1  # (not len(self.workers): a dropped worker's number is not free)
        if self.journal is not None:
            try:
                self.journal.worker(popen.pid)
            except BaseException:
                popen.kill()  # a worker nobody could find again must not get a job
                popen.wait()
                raise
        worker = Worker(popen, popen.stdin.fileno(), popen.stdout.fileno(), spool=spools[0], number=number,
                        spools=spools, stop_file=stop_file)
        self.workers.append(worker)
        self.selector.register(worker.stdout, selectors.EVENT_READ, worker)
        if self._epoll is not None:
            self._epoll.register(worker.stdout, select.EPOLLIN)
            self._by_fd[worker.stdout] = worker
        return worker

    def _clear_spools(self) -> None:
        """Make the spool folder and empty it of an earlier run's files (the run holds the lock)."""
        full = os.path.join(self.workdir, self.spool_dir)
        make_dirs(full)
        for entry in os.scandir(full):
            remove_local(entry.path)
        self._spools_ready = True

    def spawn(self, job: int, job_id: str, command: str, log: str, lazy: bool = False, run=None,
              after: Proc | None = None, guard: str | tuple[str, ...] | None = "") -> Proc:
        """Start the job: its stdout and stderr go to ``log`` (relative to the workdir).

        A *lazy* log is only created if the job prints something: the job writes to a spool
        file of its worker, which becomes the log when the job ends (a rename), or is emptied
        for a later job. Creating a file per job is what costs most for small jobs (and on
        network file systems a create is a round trip to a metadata server). A job running
        longer than ``LIVE_AFTER`` gets its log hard-linked in place, so that it can be
        followed while it runs.

        ``run`` (a label prefix, jbsub): the command goes to its script file and the worker
        runs the shell text ``run(script, target)`` instead, given the script's and the log
        target's absolute paths (the target is the lazy log's spool while the job runs).

        ``after`` (a running job, with nothing queued behind it yet): queue the job on that
        job's worker instead, to start the moment ``after`` ends, without waiting for rulec;
        ``guard`` (the paths ``after`` must leave, a trailing "/" for a folder, or ``guard()``'s
        text; "" or (): none) makes it start only if ``after`` exits 0 with the guard holding,
        None whatever ``after``'s status. Either way it starts only once
        ``after``'s process group is gone, and not at all after ``hold``. ``wait_any`` says
        whether it started (see there). It is not running until then."""
        if after is None:
            worker = self.idle.pop() if self.idle else self._new_worker()
            queue = "n"
        else:
            worker = after.worker
            assert worker.proc is after and worker.queued is None, "a job is queued behind a running job with none queued"
            queue = "q" if guard is None else "g"
            if queue == "g" and not isinstance(guard, str):  # the paths ``after`` must leave
                if len(guard) == 1:
                    path = guard[0]
                    queue, guard = ("d", path.rstrip("/")) if path.endswith("/") and len(path) > 1 else ("f", path)
                else:
                    guard = _guard_text(guard)
        if lazy and not self._spools_ready:
            self._clear_spools()
        if lazy:
            target = worker.spools[worker.turn]
            worker.turn ^= 1
        else:
            target = log
        if run is not None:
            mode = "r"
            command = run(self.write_script(job_id, command), os.path.join(os.path.abspath(self.workdir), target))
        elif len(command) < INLINE_LIMIT and "\0" not in command:
            mode = "c" if uses_own_pid(command) else "x" if self.exec_word(command) else "e"
        else:
            mode = "f"
            command = self.write_script(job_id, command)
        # A spool is empty or gone whenever a job gets it (``_finish_log`` moved or removed what
        # the job before printed): it is opened as it is, which saves the file system an update
        # of its inode per job (what ``>`` costs even for an empty file).
        data = request(job_id, target, mode, command, queue, guard or "", keep=lazy)
        proc = Proc(job, worker, time.monotonic(), log, spool=target if lazy else None, job_id=job_id)
        if "\n" in target:
            said = complaint(job_id, target)
            self._split_complaints[proc] = [said[:said.index(b"\n")], said.count(b"\n"), 0]
        # The job is the worker's before the request is written: an interrupt during the
        # write then still finds it (see _pid_of, stop_all).
        if after is None:
            worker.proc = proc
        else:
            worker.queued = proc
        view = memoryview(data)
        while view:
            view = view[os.write(worker.stdin, view):]
        proc.sent = True
        if after is None:
            if self.journal is not None:  # (after the request: the job starts a little sooner)
                self.journal.handed(worker.popen.pid, job_id)
            if lazy:
                self._unlinked.append(proc)
        return proc

    def hold(self, proc: Proc) -> bool:
        """Take a queued job back: its worker will not start it (unless it has already, which
        ``wait_any`` then says). False if ``proc`` is not queued."""
        worker = proc.worker
        if worker.queued is not proc:
            return False
        self._hold(worker)
        return True

    def _hold(self, worker: Worker) -> None:
        if not self._spools_ready:
            self._clear_spools()  # (now: a later clearing would remove the stop file)
        if not os.path.exists(worker.stop_file):
            with open(worker.stop_file, "w"):
                pass

    def write_script(self, job_id: str, command: str) -> str:
        """Write the job's command to its script file (0644); its absolute path."""
        script = os.path.abspath(script_path(self.workdir, job_id))
        make_dirs(os.path.dirname(script))
        # a new file renamed into place (never written through a symbolic link or into a file
        # someone else could write), 0644 at most: nobody else may change what bash runs
        write_replacing(script, f"# {_comment(job_id)}\n{command}\n".encode("utf-8", "surrogateescape"), mode=0o644)
        return script

    def _link_live_logs(self) -> float | None:
        """Hard-link the spools of jobs running longer than LIVE_AFTER at their log paths;
        the seconds until the next one is due (None: none). The jobs are in start order, so
        the first one still running is the next due: only those before it are looked at."""
        unlinked = self._unlinked
        now = time.monotonic()
        while unlinked:
            proc = unlinked[0]
            if proc.worker.proc is not proc:
                unlinked.popleft()  # ended
                continue
            wait = proc.started + self.LIVE_AFTER - now
            if wait > 0:
                return wait
            unlinked.popleft()
            try:
                os.link(os.path.join(self.workdir, proc.spool), os.path.join(self.workdir, proc.log))
                proc.linked = True
            except OSError:
                pass  # no hard links here: the log appears when the job ends
        return None

    def _finish_log(self, proc: Proc) -> None:
        """Move a lazy log's spool to the log path if the job printed something."""
        spool = os.path.join(self.workdir, proc.spool)
        if proc.linked:
            try:
                empty = not os.stat(spool).st_size
            except FileNotFoundError:
                empty = False
            remove_local(spool)  # the log path holds the same file
            if empty:  # a silent job leaves no log, however long it ran
                remove_local(os.path.join(self.workdir, proc.log))
                proc.log = None
            return
        try:
            size = os.stat(spool).st_size
        except FileNotFoundError:
            size = 0
        if not size:
            proc.log = None
            return
        log = os.path.join(self.workdir, proc.log)
        try:
            os.replace(spool, log)
        except OSError:  # another file system
            import shutil

            shutil.copyfile(spool, log)
            remove_local(spool)

    # ------------------------------------------------------------------ waiting

    def _read(self, worker: Worker) -> list:
        """Read what the worker has written: the finished job, if its status came, and the
        job queued behind it, started (STARTED) or not (RETURNED). A status that came
        before the verdict on the queued job is followed by a blocking read of the verdict
        (it comes at once: the worker has the request), so that a queued job is never left
        without a running job before it."""
        out: list = []
        while True:
            data = os.read(worker.stdout, 4096)
            if not data:  # the worker is gone (killed from outside)
                return out + self._dead(worker)
            if worker.buf:
                data = worker.buf + data
            *lines, worker.buf = data.split(b"\n")
            for line in lines:
                self._line(worker, line, out)
            queued = worker.queued
            if worker.proc is not None or queued is None:
                return out
            if not queued.sent:  # cut short: the worker waits for the rest for ever
                return out + self._abandon(worker)

    def _line(self, worker: Worker, line: bytes, out: list) -> None:
        proc = worker.proc
        if self._split_complaints and proc in self._split_complaints:
            split = self._split_complaints[proc]
            if split[2]:  # the rest of a complaint about a log path with newlines: none is a status
                proc.notes[-1] += "\n" + line.decode("utf-8", "replace")
                split[2] -= 1
                return
            if line == split[0]:  # (its first line holds ": line 1: ": never a status either)
                proc.notes.append(line.decode("utf-8", "replace"))
                split[2] = split[1]
                return
        pid, _, status = line.partition(b" ")
        status, _, verdict = status.partition(b" ")
        if pid.isdigit() and status.isdigit() and proc is not None and verdict in (b"", b"+", b"-"):
            proc.pid = int(pid)
            proc.status = int(status)
            proc.verdict = verdict
            # Nothing of the job may go on once it has ended (its shell killed, or a child
            # left in the background): its outputs are judged, or removed, next. (An
            # interrupt during this wait leaves the job to stop_all, which finishes it.)
            # (a queued job it started: its worker found this job's group gone first)
            proc.left = [] if verdict == b"+" else end_group(proc.pid, self.LEFTOVER_GRACE)
            out.append(self._ended(proc))
            self._after(worker, verdict, out)
        elif proc is None and (line == b"+" or line == b"-") and worker.queued is not None:
            self._after(worker, line, out)
        elif proc is not None:
            proc.notes.append(line.decode("utf-8", "replace"))

    def _after(self, worker: Worker, verdict: bytes, out: list) -> None:
        """The job before ``worker.queued`` has ended: the worker's verdict on it (b"+":
        started, b"-": not; b"": not said yet, or nothing is queued)."""
        queued = worker.queued
        if queued is None or not verdict:
            if queued is None:
                self.idle.append(worker)
            return
        worker.queued = None
        if verdict == b"+":
            worker.proc = queued
            queued.started = time.monotonic()
            if self.journal is not None:
                self.journal.handed(worker.popen.pid, queued.job_id)
            if queued.spool is not None:
                self._unlinked.append(queued)
            out.append((queued, STARTED))
        else:
            if os.path.exists(worker.stop_file):
                remove_local(worker.stop_file)
            if self._split_complaints:
                self._split_complaints.pop(queued, None)
            self.idle.append(worker)
            out.append((queued, RETURNED))

    def _dead(self, worker: Worker) -> list:
        proc, queued = worker.proc, worker.queued
        self._drop(worker)
        out: list = []
        if proc is not None:
            if proc.pid is not None:
                proc.left = end_group(proc.pid, 0.0)
            else:  # its job, if it had started, is in the worker's session still
                for pgid in _session_groups(worker.popen.pid):
                    proc.pid = proc.pid or pgid
                    proc.left += end_group(pgid, 0.0)
            if proc.spool is not None:
                self._finish_log(proc)  # what it printed until then
            out.append((proc, None))
        if queued is not None:  # (started, it would have been said: the verdict comes first)
            out.append((queued, RETURNED))
        return out

    def _ended(self, proc: Proc) -> tuple[Proc, int]:
        """A job whose status came and whose group is gone (``_after`` says what its worker
        does next)."""
        proc.worker.proc = None
        if self._split_complaints:
            self._split_complaints.pop(proc, None)
        if proc.spool is not None:
            self._finish_log(proc)
        status = proc.status
        return proc, -(status - 128) if 128 < status <= 128 + 64 else status

    def wait_any(self, block: bool = True) -> list[tuple[Proc, int | str | None]]:
        """What happened, in order: finished jobs with their exit codes (negative: killed by
        that signal; None: the worker running it died), and queued jobs with STARTED (their
        worker started them as the job before them ended) or RETURNED (it did not: the job
        before failed its guard, left processes running, or ``hold`` came first). Blocks
        until there is something, unless ``block`` is false."""
        while True:
            out = []
            due = self._link_live_logs() if self._unlinked else None
            for worker in self._ready(due if block else 0):
                out += self._read(worker)
            if out or not block or not self.running():
                return out

    def running(self) -> list[Proc]:
        return [w.proc for w in self.workers if w.proc is not None]

    def queued(self) -> list[Proc]:
        return [w.queued for w in self.workers if w.queued is not None]

    def busy(self) -> int:
        """How many jobs are running (``len(running())`` without the list)."""
        n = 0
        for w in self.workers:
            if w.proc is not None:
                n += 1
        return n

    def _ready(self, timeout: float | None) -> list[Worker]:
        """The workers with something to read, waiting up to ``timeout`` seconds (None: for ever)."""
        if self._epoll is not None:
            by_fd = self._by_fd
            return [by_fd[fd] for fd, _ in self._epoll.poll(-1 if timeout is None else timeout)]
        return [key.data for key, _ in self.selector.select(timeout)]

    def _pid_of(self, proc: Proc, finished: list, timeout: float = 5.0) -> int | None:
        """The job's pid: its worker's child (the worker says it only with the job's status),
        waiting briefly for the worker to fork it (a job that finishes meanwhile goes to
        ``finished``, with what the worker did with the job queued behind it). None for a
        job whose request was cut short: it never starts."""
        deadline = time.monotonic() + timeout
        worker = proc.worker
        pause = 0.001
        while proc.pid is None and worker.proc is proc and proc.sent:
            children = _children(worker.popen.pid)
            if children:
                proc.pid = children[0]
                break
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if select.select([worker.stdout], [], [], min(pause, left))[0]:
                finished += self._read(worker)
            pause = min(pause * 2, 0.05)
        return proc.pid

    # ------------------------------------------------------------------ stopping

    def stop_all(self, grace: float = 5.0) -> list[tuple[Proc, int | str | None]]:
        """TERM every running job's process group, KILL what is left after ``grace`` seconds,
        and wait for all of them. Queued jobs are held first (they come back RETURNED; one
        whose worker started it as this began is STARTED, then stopped as the others are).
        Returns what happened, as ``wait_any`` does."""
        done: list = []
        for worker in self.workers:
            if worker.queued is not None:
                self._hold(worker)
        for proc in self.running():
            if proc.status is not None:  # ended; an interrupt cut short the wait for its group
                proc.left = end_group(proc.pid, 0.0) or proc.left
                done.append(self._ended(proc))
                self._after(proc.worker, proc.verdict, done)
                if proc.worker.queued is not None and proc.worker.proc is None:  # its verdict is due
                    done += self._read(proc.worker)
        # A worker whose queued request was cut short never answers for the job before it
        # (it waits for the rest of the request): that job is stopped, then the worker killed.
        cut = [w for w in self.workers if w.queued is not None and not w.queued.sent]
        stopped: list[Proc] = []

        def term() -> None:  # (again after each read: a queued job may have started)
            for proc in self.running():
                if proc.termed:
                    continue
                pid = self._pid_of(proc, done)
                if pid is not None:
                    proc.termed = True
                    stopped.append(proc)
                    _signal_group(pid, signal.SIGTERM)
                elif proc.worker.proc is proc:
                    done.extend(self._abandon(proc.worker))  # its request never got through

        def answering() -> list[Proc]:
            return [p for p in self.running() if p.worker not in cut]

        term()
        deadline = time.monotonic() + grace
        while answering() and time.monotonic() < deadline:
            for worker in self._ready(min(0.05, max(0.0, deadline - time.monotonic()))):
                if worker not in cut:
                    done += self._read(worker)
            term()
        for proc in self.running():
            _signal_group(proc.pid, signal.SIGKILL)
        for worker in cut:
            if worker.proc is not None and worker.proc.pid is not None:
                worker.proc.left = end_group(worker.proc.pid, 0.0)
            done.extend(self._abandon(worker))
        deadline = time.monotonic() + 10
        while self.running():
            if time.monotonic() > deadline:  # a worker that does not answer any more
                for p in self.running():
                    done.extend(self._abandon(p.worker))
                break
            for worker in self._ready(1.0):
                done += self._read(worker)
            for proc in self.running():
                if not proc.termed and self._pid_of(proc, done) is not None:
                    proc.termed = True
                    stopped.append(proc)
                    _signal_group(proc.pid, signal.SIGKILL)
        # Members of the groups that outlived their leader: gone before outputs are removed.
        for proc in stopped:
            if proc.pid is not None:
                end_group(proc.pid, 0.0)
        return done

    def _abandon(self, worker: Worker) -> list:
        """Kill a worker that cannot finish its request; its job is lost (and the job queued
        behind it given back)."""
        proc, queued = worker.proc, worker.queued
        worker.popen.kill()
        self._drop(worker)
        out: list = []
        if proc is not None:
            out.append((proc, None))
        if queued is not None:
            out.append((queued, RETURNED))
        return out

    def _drop(self, worker: Worker) -> None:
        if worker in self.idle:
            self.idle.remove(worker)
        if worker in self.workers:
            self.workers.remove(worker)
            self.selector.unregister(worker.stdout)
            if self._epoll is not None:
                self._epoll.unregister(worker.stdout)
                self._by_fd.pop(worker.stdout, None)
        for stream in (worker.popen.stdin, worker.popen.stdout):
            try:
                stream.close()
            except OSError:
                pass
        if self._split_complaints:
            self._split_complaints.pop(worker.proc, None)
            self._split_complaints.pop(worker.queued, None)
        worker.proc = None
        worker.queued = None

    def close(self) -> None:
        """End the workers (an idle worker exits when its input closes)."""
        if self.running() or self.queued():
            self.stop_all(0.0)
        workers = list(self.workers)
        for worker in workers:
            self._drop(worker)
        for worker in workers:
            try:
                worker.popen.wait(timeout=5)
            except Exception:
                worker.popen.kill()
                worker.popen.wait()
        self.selector.close()
        if self._epoll is not None:
            self._epoll.close()
        for worker in workers:
            if self._spools_ready:
                for spool in worker.spools:
                    remove_local(os.path.join(self.workdir, spool))
            if os.path.exists(worker.stop_file):
                remove_local(worker.stop_file)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _comment(text: str) -> str:
    """``text`` for a ``#`` comment line: control characters (a newline would end the
    comment and make the rest a command) written as ``\\xNN``."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _stats():
    """(pid, state, ppid, process group, session) of every process, from /proc."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        fields = data[data.rfind(b")") + 2:].split()
        if len(fields) > 3:
            try:
                yield int(entry), fields[0], int(fields[1]), int(fields[2]), int(fields[3])
            except ValueError:
                continue


def _children(pid: int) -> list[int]:
    """The child processes of ``pid`` (a worker has one at most: its job)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", "rb") as fh:
            return [int(c) for c in fh.read().split()]
    except FileNotFoundError:  # a kernel without that file (or the process is gone)
        return [p for p, _, ppid, _, _ in _stats() if ppid == pid]
    except (OSError, ValueError):
        return []


def _session_groups(sid: int) -> list[int]:
    """The process groups of the live processes in session ``sid`` other than its leader's
    (a worker's session: its jobs' groups)."""
    return sorted({g for p, state, _, g, s in _stats() if s == sid and g != sid and state not in (b"Z", b"X")})


def _group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of a process group, from /proc."""
    return [p for p, state, _, g, _ in _stats() if g == pgid and state not in (b"Z", b"X")]


def end_group(pgid: int, grace: float) -> list[int]:
    """Make sure process group ``pgid`` (a job's) is gone: TERM what is left of it, KILL it
    after ``grace`` seconds, and wait until it is gone (zombies waiting for their reaper
    count as gone). Returns the pids found left, normally none: then this costs one
    ``killpg(pgid, 0)``. A process that left the group (``setsid``, ``setpgid``) is out of
    reach."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return []
    left = _group_members(pgid)
    if not left and not os.path.isdir("/proc/self"):  # no /proc: trust killpg
        left = [pgid]
    if not left:
        return []
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        if sig == signal.SIGTERM and grace <= 0:
            continue
        _signal_group(pgid, sig)
        deadline = time.monotonic() + wait
        pause = 0.001
        while True:
            try:
                os.killpg(pgid, 0)
            except (ProcessLookupError, PermissionError):
                return left
            if not _group_members(pgid) and os.path.isdir("/proc/self"):
                return left
            if time.monotonic() >= deadline:
                break
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
    return left
