"""The run lock in ``.rulec/``: one ``rulec run`` at a time in a working folder.

Mutual exclusion is the kernel's: the holder keeps an exclusive ``flock`` on ``.rulec/lock``
for as long as it runs, and the kernel drops it when the holder dies, however it dies. The
file's JSON (pid, host, start time, command, and the pid's start time in clock ticks and the
boot id, which tell a live holder from a reused pid) is there to say *who* holds it; it is
written whole to a temporary file first and only then linked (a new lock) or renamed (a
takeover) into place, so that no reader ever sees a half-written lock and a full disk leaves
no empty one. A takeover is decided holding the flock of the very file it replaces (checked
by inode after locking), so of several runs taking over one dead lock at once exactly one
wins; the others find the winner's lock. On a file system without locks (some FUSE mounts)
the flock is skipped and only the pid test is left, and a takeover is then not atomic. NFS
passes flocks to the server as POSIX locks, but a lock of another host is never taken over
automatically anyway: its pid cannot be tested from here.

The processes of a run are found again through ``.rulec/runs/<pid>``, written by the run's
Launcher: the pid and start time of every bash worker (each is the leader of its own session,
and a job and everything it starts stay in that session unless they call ``setsid``), and
each job as it is handed to a worker (the job's pid is then that worker's child). Before a new run starts anything, it stops what dead runs left behind: the
processes still in those sessions (TERM, then KILL), so that no job of a killed rulec goes on
writing beside the job's rerun. A line is one ``write`` of a file opened once per run: a
killed rulec cannot lose it (the kernel has it), and a crashed machine takes the jobs along.

``rulec unlock`` removes a lock whose holder is gone, refuses a live one on this host unless
``--force``, and removes another host's lock with a warning that its run cannot be checked.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import stat
import sys
import threading
import time

from ..errors import LockError
from ..storage import make_dirs

LOCK_NAME = "lock"
RUNS_DIR = "runs"
# A run that found the lock busy while its JSON names a dead process (another run is taking
# it over at this moment) looks again for this long.
BUSY_WAIT = 2.0
# Processes left by a dead run get this long between TERM and KILL.
LEFTOVER_GRACE = 2.0


def _host() -> str:
    """This machine's name, as ``socket.gethostname()`` gives it (without importing socket)."""
    return os.uname().nodename


def _path(workdir: str) -> str:
    return os.path.join(workdir, ".rulec", LOCK_NAME)


def _runs(workdir: str) -> str:
    return os.path.join(workdir, ".rulec", RUNS_DIR)


# --------------------------------------------------------------------------- processes

def proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name: [0] is field 3 (state), [2] the
    process group, [3] the session, [19] field 22 (start time in clock ticks since boot)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    return data[data.rfind(b")") + 2:].decode("ascii", "replace").split()


def start_ticks(pid: int) -> int | None:
    """When the process started (clock ticks since boot), None if it is gone or unknown."""
    fields = proc_stat(pid)
    try:
        return int(fields[19]) if fields else None
    except (IndexError, ValueError):
        return None


_BOOT: list = []


def boot_id() -> str | None:
    if not _BOOT:
        try:
            with open("/proc/sys/kernel/random/boot_id") as fh:
                _BOOT.append(fh.read().strip() or None)
        except OSError:
            _BOOT.append(None)
    return _BOOT[0]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, ValueError):
        return False
    fields = proc_stat(pid)
    return fields is None or fields[0] not in ("Z", "X")  # a zombie still answers kill(0)


def same_process(pid: int, start, boot) -> bool:
    """Whether ``pid`` is alive and is the process that was recorded with that start time
    and boot id (either may be unknown: then the pid alone decides)."""
    if boot is not None and boot_id() is not None and boot != boot_id():
        return False
    if not _pid_alive(pid):
        return False
    if start is None:
        return True
    now = start_ticks(pid)
    return now is None or now == start


# --------------------------------------------------------------------------- the lock's JSON

def parse(text: str) -> dict | None:
    """A lock's JSON if it has the shape rulec writes (a pid and a host at least), else None."""
    try:
        info = json.loads(text)
    except ValueError:
        return None
    if not isinstance(info, dict):
        return None
    pid, host = info.get("pid"), info.get("host")
    if type(pid) is not int or pid <= 0 or not isinstance(host, str) or not host:
        return None
    started = info.get("started")
    if not isinstance(started, (int, float)) or isinstance(started, bool):
        info["started"] = None
    if not isinstance(info.get("command"), str):
        info["command"] = None
    if type(info.get("start")) is not int:
        info["start"] = None
    if not isinstance(info.get("boot"), str):
        info["boot"] = None
    return info


def read(workdir: str) -> dict | None:
    """The lock's JSON, None if there is no lock or it cannot be read (see ``parse``)."""
    try:
        with open(_path(workdir), encoding="utf-8", errors="replace") as fh:
            return parse(fh.read())
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError):
        return None


def describe(info: dict) -> str:
    text = f"pid {info['pid']} on {info['host']}"
    if info.get("started") is not None:
        text += f", started {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(info['started']))}"
    if info.get("command"):
        text += f": {info['command']}"
    return text


def holder_alive(info: dict) -> bool | None:
    """Whether the lock's process is alive; None for a lock of another host (no telling)."""
    if info["host"] != _host():
        return None
    return same_process(info["pid"], info.get("start"), info.get("boot"))


def live_holder(workdir: str) -> dict | None:
    """The lock's JSON if a live process on this host holds it (for ``rulec status``)."""
    info = read(workdir)
    return info if info is not None and holder_alive(info) else None


# --------------------------------------------------------------------------- the lock

def _try_flock(fd: int) -> bool | None:
    """Take an exclusive flock without waiting: True taken, False busy, None not supported."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            return None
        raise


def _read_fd(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while True:
        data = os.read(fd, 65536)
        if not data:
            return b"".join(chunks).decode("utf-8", "replace")
        chunks.append(data)


def _same_file(fd: int, path: str) -> bool:
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False
    st = os.fstat(fd)
    return (now.st_ino, now.st_dev) == (st.st_ino, st.st_dev)


class Lock:
    def __init__(self, workdir: str, command: str | None = None):
        self.workdir = workdir
        self.path = _path(workdir)
        self.command = command or " ".join(sys.argv)
        self.held = False
        self.warning: str | None = None
        self.fd: int | None = None
        self._runfile: RunFile | None = None

    def _info(self) -> dict:
        pid = os.getpid()
        return {"pid": pid, "host": _host(), "started": time.time(), "command": self.command,
                "start": start_ticks(pid), "boot": boot_id()}

    def _write_temp(self) -> tuple[int, str]:
        """A temporary file holding our lock JSON in full, flocked; (fd, path)."""
        tmp = f"{self.path}.{os.getpid()}.tmp"
        try:
            os.unlink(tmp)  # a crashed process of our pid left it
        except FileNotFoundError:
            pass
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
        try:
            data = json.dumps(self._info()).encode()
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            _try_flock(fd)  # nobody else knows this file yet: never busy
        except BaseException:
            os.close(fd)
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return fd, tmp

    def acquire(self) -> "Lock":
        """Take the lock. An interrupt (Ctrl-C) at any point leaves no lock behind: a lock put
        in place is held from the same moment (signals wait while both happen), and one held
        when the interrupt comes is released before it goes on."""
        try:
            return self._acquire()
        except BaseException:
            if self.held:
                self.release()
            raise

    def _acquire(self) -> "Lock":
        make_dirs(os.path.dirname(self.path))
        deadline = time.monotonic() + BUSY_WAIT
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR)
            except FileNotFoundError:
                if self._create():
                    break
                continue
            keep = False
            try:
                got = _try_flock(fd)
                if not _same_file(fd, self.path):
                    continue  # removed or replaced meanwhile: look again
                other = parse(_read_fd(fd))
                alive = holder_alive(other) if other is not None else None
                if got is False:  # held by a live process
                    if other is not None and alive is not False:
                        raise self._busy(other, alive)
                    if time.monotonic() < deadline:
                        time.sleep(0.005)  # being taken over right now: the winner's lock comes
                        continue
                    if other is None:
                        raise LockError(f"another process holds the lock {self.path}, which cannot be read",
                                        hint="wait for that rulec to finish")
                    raise LockError(f"another process holds the lock {self.path} of pid {other['pid']}, which is gone",
                                    hint="another rulec is taking it over: wait for it to finish")
                if other is None:
                    raise LockError(f"the lock {self.path} cannot be read (empty, damaged or not rulec's)",
                                    hint="if no rulec is running here, remove it with `rulec unlock`")
                if alive is not False:
                    raise self._busy(other, alive)
                # Stale, and we hold its flock: nobody else can take it over now.
                tmp_fd, tmp = self._write_temp()
                held = _hold_signals()
                try:
                    os.rename(tmp, self.path)
                    self.fd, self.held = tmp_fd, True  # in the same breath, as in _create
                except BaseException:
                    os.close(tmp_fd)
                    try:
                        os.unlink(tmp)
                    except OSError:
                        pass
                    raise
                finally:
                    _release_signals(held)
                keep = True
                self.warning = (f"took over a stale lock of process {other['pid']}"
                                + (f" (started {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(other['started']))})"
                                   if other.get("started") is not None else "") + ", which is gone")
                break
            finally:
                if not keep:
                    os.close(fd)
                elif fd != self.fd:
                    os.close(fd)  # the old lock's inode: our lock is the renamed file
        self.held = True
        _remove_dead_temps(os.path.dirname(self.path))
        stopped = stop_dead_runs(self.workdir)  # an interrupt here: acquire() releases
        if stopped:
            self.warning = "; ".join(([self.warning] if self.warning else []) + stopped)
        return self

    def _create(self) -> bool:
        """Put a new lock in place (none existed); False if another run was quicker."""
        fd, tmp = self._write_temp()
        held = _hold_signals()
        try:
            os.link(tmp, self.path)
            self.fd, self.held = fd, True  # in the same breath: an interrupt finds it held
        except FileExistsError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        finally:
            _release_signals(held)
            try:
                os.unlink(tmp)
            except OSError:
                pass
        return True

    def _busy(self, other: dict, alive: bool | None) -> LockError:
        if alive is None:
            return LockError(
                f"another rulec is running in {self.workdir}, or was: {describe(other)}; a lock of another host cannot be checked from here",
                hint=f"if that run is gone, remove its lock with `rulec unlock` (run it on {other['host']} to have it checked)",
            )
        return LockError(
            f"another rulec is running in {self.workdir}: {describe(other)}",
            hint="wait for it to finish, or stop it (Ctrl-C or kill PID); `rulec unlock --force` removes its lock but does not stop it",
        )

    def journal(self) -> "RunFile":
        """This run's ``.rulec/runs/<pid>`` (created when the first worker is noted)."""
        if self._runfile is None:
            self._runfile = RunFile(self.workdir)
        return self._runfile

    def release(self) -> None:
        if self._runfile is not None:
            self._runfile.close()
            self._runfile = None
        if self.held:
            # Only our own lock: `rulec unlock --force` may have removed it and another run taken it.
            if self.fd is not None and _same_file(self.fd, self.path):
                try:
                    os.unlink(self.path)
                except FileNotFoundError:
                    pass
            self.held = False
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> "Lock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


_INTERRUPTS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


def _hold_signals():
    """Interrupts wait (blocked, not lost) until ``_release_signals``: in the main thread only,
    where Python runs its handlers.

    Blocking them in this thread is not enough when the process has other threads (the
    Python API, a test runner): the system then hands a signal sent to the process to one of
    them, and Python runs its handler in this thread at once, between two steps of what must
    happen together. So while they wait, Python's handlers only note them; the first noted
    one is handed to its own handler by ``_release_signals``."""
    if threading.current_thread() is not threading.main_thread():
        return None
    noted: list[int] = []

    def note(signum, frame):
        noted.append(signum)

    previous = {sig: signal.signal(sig, note) for sig in _INTERRUPTS}
    return signal.pthread_sigmask(signal.SIG_BLOCK, _INTERRUPTS), previous, noted


def _release_signals(held) -> None:
    if held is None:
        return
    mask, previous, noted = held
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a signal that waited is noted here
    for sig, handler in previous.items():
        signal.signal(sig, handler)
    if noted:
        sig = noted[0]
        handler = previous[sig]
        if callable(handler):
            handler(sig, None)  # Python's own for SIGINT raises KeyboardInterrupt here
        elif handler == signal.SIG_DFL:
            os.kill(os.getpid(), sig)  # what it would have done: end the process


def _remove_dead_temps(folder: str) -> None:
    """Remove ``lock.<pid>.tmp`` files of processes that are gone (killed between writing
    their lock and putting it in place)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        parts = name.split(".")
        if len(parts) == 3 and parts[0] == LOCK_NAME and parts[2] == "tmp" and parts[1].isdigit():
            if not _pid_alive(int(parts[1])):
                try:
                    os.unlink(os.path.join(folder, name))
                except OSError:
                    pass


# --------------------------------------------------------------------------- a run's processes

class RunFile:
    """``.rulec/runs/<pid>``: a JSON header line (pid, host, start ticks, boot id), then
    ``w PID START`` per bash worker and ``q WORKER "JOB ID"`` per job handed to a worker
    (written before the worker gets it; the job's pid is the worker's child), each one
    ``write``. (``j PID "JOB ID"``, a job by its own pid, is read too: older runs wrote it.)"""

    def __init__(self, workdir: str):
        self.path = os.path.join(_runs(workdir), str(os.getpid()))
        self.fd: int | None = None

    def _open(self, first: bytes) -> None:
        make_dirs(os.path.dirname(self.path))
        try:  # (an earlier process of this pid's, or anything else in its place)
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        self.fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_WRONLY | os.O_APPEND, 0o644)
        pid = os.getpid()
        head = json.dumps({"pid": pid, "host": _host(), "start": start_ticks(pid), "boot": boot_id()})
        os.write(self.fd, head.encode() + b"\n" + first)

    def worker(self, pid: int) -> None:
        """Note a bash worker, before any job is handed to it."""
        line = b"w %d %d\n" % (pid, start_ticks(pid) or 0)
        if self.fd is None:
            self._open(line)
        else:
            os.write(self.fd, line)

    def job(self, pid: int, job_id: str) -> None:
        """Note a job by its own pid."""
        if self.fd is not None:
            os.write(self.fd, b"j %d %s\n" % (pid, json.dumps(job_id).encode()))

    def handed(self, worker: int, job_id: str) -> None:
        """Note a job about to be handed to bash worker ``worker`` (its pid)."""
        if self.fd is not None:
            if job_id.isascii() and job_id.isprintable() and '"' not in job_id and "\\" not in job_id:
                quoted = f'"{job_id}"'.encode()  # what json.dumps gives it, for less
            else:
                quoted = json.dumps(job_id).encode()
            os.write(self.fd, b"q %d %s\n" % (worker, quoted))

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass


def read_runfile(path: str, handed: dict[int, str] | None = None) -> tuple[dict | None, list[tuple[int, int]], dict[int, str]]:
    """(header, workers as (pid, start ticks), job id by pid) of a run file; a torn last
    line is skipped. ``handed`` (a dict, optional) gets, per worker pid, the id of the last
    job handed to it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None, [], {}
    try:
        info = os.fstat(fd)
        # a run file says which processes to stop: only this user's own, written by rulec
        # (a regular file nobody else may write), is believed
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
            return None, [], {}
        with os.fdopen(fd, "rb", closefd=False) as fh:
            lines = fh.read().split(b"\n")
    except OSError:
        return None, [], {}
    finally:
        os.close(fd)
    try:
        head = json.loads(lines[0])
    except ValueError:
        head = None
    if not isinstance(head, dict) or type(head.get("pid")) is not int:
        return None, [], {}
    workers, jobs = [], {}
    for line in lines[1:]:
        kind, _, rest = line.partition(b" ")
        pid, _, value = rest.partition(b" ")
        try:
            if kind == b"w":
                workers.append((int(pid), int(value)))
            elif kind == b"j":
                jobs[int(pid)] = json.loads(value)
            elif kind == b"q" and handed is not None:
                handed[int(pid)] = json.loads(value)
        except ValueError:
            continue
    return head, workers, jobs


def running_jobs(workdir: str, pid: int) -> dict[str, int]:
    """Job id -> pid of the jobs that run ``pid`` started and that are still alive: the job
    last handed to each of its workers, while that worker has a child (the job)."""
    handed: dict[int, str] = {}
    _, _, jobs = read_runfile(os.path.join(_runs(workdir), str(pid)), handed)
    out = {jid: p for p, jid in jobs.items() if _pid_alive(p)}
    for worker, jid in handed.items():
        for child in _children(worker):
            if _pid_alive(child):
                out[jid] = child
    return out


def _children(pid: int) -> list[int]:
    """The child processes of ``pid`` (from /proc)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", "rb") as fh:
            return [int(c) for c in fh.read().split()]
    except FileNotFoundError:  # a kernel without that file, or no such process
        if not os.path.exists(f"/proc/{pid}"):
            return []
    except (OSError, ValueError):
        return []
    out = []
    for entry in os.listdir("/proc"):
        fields = proc_stat(int(entry)) if entry.isdigit() else None
        if fields and len(fields) > 1 and fields[1] == str(pid):
            out.append(int(entry))
    return out


def _members(workers: list[tuple[int, int]]) -> dict[int, tuple[int, int, int]]:
    """pid -> (process group, session, parent) of the live processes in the workers' sessions.

    A session lives on, its id pinned, as long as any process is in it: a process found in
    session W is the worker's or its jobs', unless pid W was reused by a new session leader,
    which a live leader's start time tells (the worker's start time is recorded)."""
    sessions = {}
    own = os.getsid(0)
    for pid, start in workers:
        # (a worker without a start time is not acted on: pid W may be anyone's session)
        if not start or pid == own:
            continue
        now = start_ticks(pid)
        if now is None or now == start:
            sessions[pid] = start
    out: dict[int, tuple[int, int, int]] = {}
    if not sessions:
        return out
    me = os.getpid()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return out
    for entry in entries:
        if not entry.isdigit() or int(entry) == me:
            continue
        fields = proc_stat(int(entry))
        if not fields or len(fields) < 20 or fields[0] in ("Z", "X"):
            continue
        try:
            ppid, pgrp, sid, started = int(fields[1]), int(fields[2]), int(fields[3]), int(fields[19])
        except ValueError:
            continue
        if sid in sessions and started >= sessions[sid]:
            out[int(entry)] = (pgrp, sid, ppid)
    return out


def _stop(workers: list[tuple[int, int]], grace: float) -> dict[int, tuple[int, int, int]]:
    """TERM the processes in the workers' sessions, KILL those left after ``grace``, wait
    until none is left (at most 10 s more); the processes found at first."""
    found = _members(workers)
    if not found:
        return found
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        left = _members(workers)
        for pgrp in {g for g, _, _ in left.values()}:
            try:
                os.killpg(pgrp, sig)
            except (ProcessLookupError, PermissionError):
                pass
        for pid in left:  # (one in a group it shares with none of ours: should not happen)
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + wait
        pause = 0.005
        while _members(workers) and time.monotonic() < deadline:
            time.sleep(pause)
            pause = min(pause * 2, 0.1)
        if not _members(workers):
            break
    return found


def stop_dead_runs(workdir: str, grace: float = LEFTOVER_GRACE) -> list[str]:
    """Stop what dead runs on this host left running (see the module docstring); one
    sentence per dead run that had processes left."""
    folder = _runs(workdir)
    try:
        names = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    host = _host()
    notes = []
    for name in names:
        path = os.path.join(folder, name)
        handed: dict[int, str] = {}
        head, workers, jobs = read_runfile(path, handed)
        if head is not None:
            if head.get("host") != host:
                continue  # another host's: its processes are not visible here
            if same_process(head["pid"], head.get("start"), head.get("boot")):
                continue  # a live run (its lock was removed by hand)
            if head.get("boot") == boot_id() or head.get("boot") is None:
                found = _stop(workers, grace)
                # job leaders (a group of their own), and what they started; not the workers
                leaders = sorted(p for p, (g, sid, _) in found.items() if p == g and p != sid)
                others = sum(1 for p, (g, sid, _) in found.items() if p != g and p != sid)
                for p in leaders:  # a job's pid is its worker's child
                    if p not in jobs and found[p][2] == found[p][1] and found[p][2] in handed:
                        jobs[p] = handed[found[p][2]]
                if leaders or others:
                    named = ", ".join(f"{jobs[p]} (pid {p})" if p in jobs else f"pid {p}" for p in leaders)
                    if others:
                        named += f"{' and ' if named else ''}{others} more process(es) of theirs"
                    notes.append(f"stopped what the dead rulec (pid {head['pid']}) had left running: {named}; "
                                 "those jobs are incomplete and run again")
        try:
            os.unlink(path)
        except OSError:
            pass
    return notes
