"""The state store: what rulec recorded when it last built each job's outputs.

SQLite at ``.rulec/state.db`` (embedded, no server). Writes are transactions, so an
interrupted rulec never leaves a half-written record. Planning reads every record with one
query; the bulky details (command text, input list) are read only to explain a decision.
"""

from __future__ import annotations

import json
import os
import time
from collections import namedtuple

TYPE_CHECKING = False

from .errors import StateError
from .recordclass import record
from .storage import make_dirs

if TYPE_CHECKING:  # annotations only: sqlite3 is imported where a store is opened
    from typing import Iterable
    import sqlite3

SCHEMA_VERSION = 1
STATE_DIR = ".rulec"
DB_NAME = "state.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    job_id      TEXT PRIMARY KEY,
    rule        TEXT NOT NULL,
    status      TEXT NOT NULL,          -- 'running' (started, not finished) or 'ok'
    cmd_hash    TEXT NOT NULL,
    params_hash TEXT NOT NULL,
    inputs_hash TEXT NOT NULL,          -- the list of input paths
    input_sig   TEXT NOT NULL,          -- sizes and mtimes of the inputs when it ran
    command     TEXT NOT NULL,          -- the expanded command, for --why diffs
    inputs      TEXT NOT NULL,          -- JSON [[path, size, mtime_ns], ...]
    log         TEXT,
    started     REAL,
    finished    REAL,
    attempts    INTEGER NOT NULL DEFAULT 1  -- the attempt that succeeded (retries: N)
);
DROP TABLE IF EXISTS outputs;             -- which job made each path, in older stores: written, never read
CREATE TABLE IF NOT EXISTS failures (     -- jobs whose last run failed (they have no record in jobs)
    job_id   TEXT PRIMARY KEY,
    why      TEXT NOT NULL,                -- in words: "exit status 3", "killed by signal KILL"
    log      TEXT,
    finished REAL
);
"""

# The run history (``rulec report``, the failed state of ``rulec dag``): one row per
# ``rulec run`` that ran jobs, one per attempt of a job in it. Added after schema 1 as
# tables of their own, so an older rulec reads (and writes) such a store as before and a
# store written before them simply has no history yet. The last RUNS_KEPT runs are kept.
#
# Two kinds of run record jobs this rulec did not run, told apart by the values they write
# (no column was added for them: every store, and every rulec that reads it, stays as it
# was): ``rulec run --touch`` is a run of executor TOUCH whose attempts are TOUCHED (start =
# end = when the job was touched); the adoption of the bundle of a SLURM/LSF run whose rulec
# died is a run of that executor with status ADOPTED, whose attempts are ADOPTED (done there)
# or 'failed' (see rulec/executors/adopt.py). A job of such a run that the next run
# re-attaches and sees succeed is an ADOPTED attempt of that run.
_RUN_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    started   REAL NOT NULL,
    finished  REAL,                     -- NULL: still running, or rulec was killed
    executor  TEXT NOT NULL,
    command   TEXT,
    planned   INTEGER NOT NULL,         -- the jobs its plan said to run
    status    TEXT NOT NULL,            -- 'running', 'ok', 'failed', 'interrupted', 'error', 'adopted'
    exit_code INTEGER
);
CREATE TABLE IF NOT EXISTS attempts (
    run_id   INTEGER NOT NULL,
    job_id   TEXT NOT NULL,
    rule     TEXT NOT NULL,
    attempt  INTEGER NOT NULL,          -- 1, then 2, 3 ... for retries
    started  REAL,
    finished REAL NOT NULL,
    outcome  TEXT NOT NULL,             -- 'ok', 'failed', 'interrupted', 'touched', 'adopted'
    place    TEXT,                      -- where it ran: a local slot ('local:2'), a cluster job id
    why      TEXT,                      -- a failure in words
    command  TEXT,                      -- a failed attempt's command
    log      TEXT,
    tail     TEXT                       -- a failed attempt's log end, read when it failed
);
CREATE INDEX IF NOT EXISTS attempts_run ON attempts(run_id);
CREATE INDEX IF NOT EXISTS attempts_job ON attempts(job_id);
"""
RUNS_KEPT = 20
TOUCH = "touch"  # the executor of a ``rulec run --touch`` run
TOUCHED = "touched"  # the outcome of a job it touched
ADOPTED = "adopted"  # the status of an adoption's run, and the outcome of a job done in the run that died


# Rows as namedtuples (typing.NamedTuple would compile every annotation at import, 2 ms).
Run = namedtuple("Run", "run_id started finished executor command planned status exit_code")
Run.__doc__ = """A run: run_id int, started float, finished float | None, executor str, command
str | None, planned int, status str, exit_code int | None."""

Attempt = namedtuple("Attempt", "run_id job_id rule attempt started finished outcome place why command log tail")
Attempt.__doc__ = """An attempt of a job: run_id int, job_id str, rule str, attempt int, started float | None,
finished float, outcome str, place str | None, why str | None, command str | None, log
str | None, tail str | None."""

Record = namedtuple("Record", "job_id rule status cmd_hash params_hash inputs_hash input_sig")
Record.__doc__ = """A job's record: every field a str (status "ok", "running"...; the hashes hex)."""


@record(frozen=True)
class Detail:
    command: str
    inputs: list[tuple[str, int, int]]
    log: str | None
    started: float | None
    finished: float | None
    attempts: int = 1  # the attempt that succeeded (1: no retry was needed)


@record(frozen=True)
class Finished:
    """What to record for a job that succeeded."""

    job_id: str
    rule: str
    cmd_hash: str
    params_hash: str
    inputs_hash: str
    input_sig: str
    command: str
    inputs: list[tuple[str, int, int]]
    outputs: tuple[str, ...]
    log: str | None = None
    started: float | None = None
    attempts: int = 1


class History:
    """Records by job id. ``History.empty()`` for tests and for a folder rulec never ran in."""

    def __init__(self, records: dict[str, Record] | None = None, db: sqlite3.Connection | None = None, path: str | None = None):
        self._records = records if records is not None else {}
        self._db = db
        self.path = path
        self._failed: set[str] = _failed_ids(db) if db is not None else set()  # usually empty
        self.run_id: int | None = None  # the run in progress (begin_run), whose attempts are noted
        self._attempts: list[tuple] = []  # noted, written with the next transaction
        self._ahead: dict[str, tuple | None] = {}  # marked started ahead (commit's ``ahead``): the record before
        self._kept: dict[str, tuple] = {}  # marked started with ``keep``: (started, log) before
        self._checkpointer: _Checkpointer | None = None  # (checkpoint_behind)
        # jobs whose "ok" record this store wrote (``record``/``commit``) and still holds:
        # their hashes were made from the graph of this process (``plan.plan``'s ``recorded``)
        self.recorded_here: set[str] = set()

    @staticmethod
    def generation(workdir: str) -> str:
        """How many write transactions the store of ``workdir`` has seen ("" if none): a
        cheap test that nothing was recorded since."""
        path = os.path.join(workdir, STATE_DIR, DB_NAME)
        if not os.path.exists(path):
            return ""
        import sqlite3

        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
            try:
                row = db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
            finally:
                db.close()
        except sqlite3.DatabaseError:
            return ""
        return str(row[0]) if row else "0"

    @classmethod
    def empty(cls) -> "History":
        return cls({})

    @classmethod
    def of(cls, records: Iterable[Record]) -> "History":
        return cls({r.job_id: r for r in records})

    @classmethod
    def open(cls, workdir: str, write: bool = False, rules: Iterable[str] | None = None) -> "History":
        """Open the store of ``workdir``; without ``write``, a missing store is an empty one.
        ``rules``: read the records of those rules' jobs only (a plan that needs no other:
        ``verdict.fresh_rules``); never with ``write``."""
        if rules is not None and write:
            raise ValueError("a store open for writing holds every record")
        path = os.path.join(workdir, STATE_DIR, DB_NAME)
        if not write and not os.path.exists(path):
            return cls({}, None, path)
        if write:
            make_dirs(os.path.dirname(path))
            if os.path.exists(path) and not os.access(path, os.W_OK):
                raise _read_only(path)
            if not os.access(os.path.dirname(path), os.W_OK):  # SQLite writes files next to it
                raise _read_only(path, f"its folder {os.path.dirname(path)} is not writable")
        import sqlite3  # here: a dry run without a state store never needs it

        try:
            db = sqlite3.connect(path, timeout=30, isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError:
                if write or os.access(os.path.dirname(path), os.W_OK):
                    raise
                db.close()
                db = _frozen(path)
            db.execute("PRAGMA synchronous=NORMAL")
            if write:
                db.executescript(_SCHEMA)
                _add_attempts(db)
                db.executescript(_RUN_SCHEMA)
            version = _schema_version(db, write)
            if version > SCHEMA_VERSION:
                db.close()
                raise StateError(
                    f"{path} was written by a newer rulec (state schema {version}; this rulec reads up to {SCHEMA_VERSION}). "
                    "Upgrade rulec, or move .rulec/ away to start afresh."
                )
            records = _load(db, rules) if version else {}
            if version:
                from .shell import HASH_VERSION

                if _meta(db, "cmd_hash") != str(HASH_VERSION):
                    _rehash(db, records, write, HASH_VERSION)
        except sqlite3.DatabaseError as exc:
            if write and getattr(exc, "sqlite_errorname", "") == "SQLITE_READONLY":
                raise _read_only(path, str(exc)) from None
            raise StateError(f"cannot read the state store {path}: {exc}. Move .rulec/state.db away to start afresh.") from None
        return cls(records, db, path)

    # reading ------------------------------------------------------------------
    def get(self, job_id: str) -> Record | None:
        row = self._records.get(job_id)
        return row if row is None or isinstance(row, Record) else Record(*row)

    def __len__(self) -> int:
        return len(self._records)

    def records(self) -> dict[str, tuple]:
        """job id -> (job_id, rule, status, cmd_hash, params_hash, inputs_hash, input_sig),
        plain tuples (or Records) in that order: the planner reads them by position."""
        return self._records

    def detail(self, job_id: str) -> Detail | None:
        if self._db is None:
            return None
        attempts = ", attempts" if _has_attempts(self._db) else ""
        row = self._db.execute(f"SELECT command, inputs, log, started, finished{attempts} FROM jobs WHERE job_id=?", (_sql(job_id),)).fetchone()
        if row is None:
            return None
        return Detail(_py(row[0]), [tuple(x) for x in json.loads(row[1])], _py(row[2]), row[3], row[4], *row[5:])

    def retried(self) -> dict[str, int]:
        """job id -> the attempt that succeeded, for the recorded jobs that needed a retry."""
        if self._db is None or not _has_attempts(self._db):
            return {}
        rows = self._db.execute("SELECT job_id, attempts FROM jobs WHERE status='ok' AND attempts > 1").fetchall()
        return {_py(job_id): n for job_id, n in rows}

    def log_path(self, job_id: str) -> str | None:
        if self._db is None:
            return None
        row = self._db.execute("SELECT log FROM jobs WHERE job_id=?", (_sql(job_id),)).fetchone()
        return _py(row[0]) if row else None

    def failures(self) -> dict[str, tuple[str, str | None]]:
        """job id -> (why, log) of the jobs whose last run failed (and that have not run
        since, nor been cleaned)."""
        if self._db is None or not self._failed:
            return {}
        rows = self._db.execute("SELECT job_id, why, log FROM failures").fetchall()
        return {_py(job_id): (_py(why), _py(log)) for job_id, why, log in rows}
    def runs(self) -> list[Run]:
        """The recorded runs, oldest first (none in a store written before run history)."""
        if self._db is None or not _has_table(self._db, "runs"):
            return []
        rows = self._db.execute("SELECT run_id, started, finished, executor, command, planned, status, exit_code "
                                "FROM runs ORDER BY run_id").fetchall()
        return [Run(r[0], r[1], r[2], r[3], _py(r[4]), r[5], r[6], r[7]) for r in rows]

    def attempts(self, run_ids: Iterable[int] | None = None) -> list[Attempt]:
        """The attempts of these runs (default: every recorded run), in the order they ended."""
        if self._db is None or not _has_table(self._db, "attempts"):
            return []
        sql = "SELECT run_id, job_id, rule, attempt, started, finished, outcome, place, why, command, log, tail FROM attempts"
        args: tuple = ()
        if run_ids is not None:
            ids = sorted(set(run_ids))
            if not ids:
                return []
            sql += f" WHERE run_id IN ({','.join('?' * len(ids))})"
            args = tuple(ids)
        rows = self._db.execute(sql + " ORDER BY rowid", args).fetchall()
        return [Attempt(r[0], _py(r[1]), r[2], r[3], r[4], r[5], r[6], _py(r[7]), _py(r[8]), _py(r[9]), _py(r[10]), _py(r[11]))
                for r in rows]

    def successes(self) -> list[Attempt]:
        """The last successful attempt of every recorded job, from its record (run 0): what a
        store written before the run history knows of when jobs ran."""
        if self._db is None:
            return []
        attempts = "attempts" if _has_attempts(self._db) else "1"
        rows = self._db.execute(f"SELECT job_id, rule, {attempts}, started, finished, log FROM jobs "
                                "WHERE status='ok' AND finished IS NOT NULL ORDER BY finished").fetchall()
        return [Attempt(0, _py(r[0]), r[1], r[2], r[3], r[4], "ok", None, None, None, _py(r[5]), None) for r in rows]

    def failed(self) -> dict[str, str]:
        """job id -> why, for the jobs whose latest recorded attempt failed."""
        if self._db is None or not _has_table(self._db, "attempts"):
            return {}
        rows = self._db.execute(
            "SELECT a.job_id, a.why FROM attempts a WHERE a.outcome='failed' AND NOT EXISTS "
            "(SELECT 1 FROM attempts b WHERE b.job_id=a.job_id AND b.rowid > a.rowid)").fetchall()
        return {_py(job_id): _py(why) or "failed" for job_id, why in rows}

    # writing ------------------------------------------------------------------
    def _need_db(self) -> sqlite3.Connection:
        if self._db is None:
            raise StateError("the state store is open read-only")
        return self._db

    def begin_run(self, executor: str, planned: int, command: str | None = None, started: float | None = None) -> int:
        """Record that a run starts (its attempts are noted with ``note_attempt``); older runs
        beyond the last RUNS_KEPT are dropped. ``started``: when it started, if not now."""
        db = self._need_db()
        with _transaction(db):
            cur = db.execute("INSERT INTO runs(started, executor, command, planned, status) VALUES (?, ?, ?, ?, 'running')",
                             (time.time() if started is None else started, str(executor), _sql(command), planned))
            self.run_id = cur.lastrowid
            oldest = self.run_id - RUNS_KEPT
            if db.execute("SELECT 1 FROM runs WHERE run_id <= ? LIMIT 1", (oldest,)).fetchone():
                db.execute("DELETE FROM attempts WHERE run_id <= ?", (oldest,))
                db.execute("DELETE FROM runs WHERE run_id <= ?", (oldest,))
        return self.run_id

    def note_attempt(self, job_id: str, rule: str, attempt: int, started: float | None, finished: float, outcome: str,
                     place: str | None = None, why: str | None = None, command: str | None = None,
                     log: str | None = None, tail: str | None = None) -> None:
        """Note an attempt of the run in progress: written with the next transaction (nothing
        when no run was begun)."""
        if self.run_id is not None:
            self._attempts.append((self.run_id, _sql(job_id), rule, attempt, started, finished, outcome, _sql(place),
                                   _sql(why), _sql(command), _sql(log), _sql(tail)))

    def end_run(self, exit_code: int | None, status: str | None = None) -> None:
        """Record the end of the run in progress, with the attempts noted and not yet written."""
        if self.run_id is None or self._db is None:
            return
        if status is None:
            status = {0: "ok", 1: "failed", 130: "interrupted", 141: "interrupted"}.get(exit_code, "error")
        with _transaction(self._db) as db:
            self._write_attempts(db)
            db.execute("UPDATE runs SET finished=?, status=?, exit_code=? WHERE run_id=?",
                       (time.time(), status, exit_code, self.run_id))
        self.run_id = None

    def _write_attempts(self, db: sqlite3.Connection) -> None:
        if self._attempts:
            db.executemany("INSERT INTO attempts(run_id, job_id, rule, attempt, started, finished, outcome, place, why, command, log, tail) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", self._attempts)
            self._attempts = []

    def mark_started(self, jobs: Iterable[tuple[str, str, tuple[str, ...]]], log: dict[str, str] | None = None,
                     keep: bool = False) -> None:
        """Record jobs (id, rule, outputs) as started and not finished, in one transaction.
        ``keep``: their records before are kept for ``unmark``, as for jobs marked ahead (a
        cluster run's jobs, marked when submitted: those cancelled before they started get
        their records back), until ``launched`` says they started."""
        jobs = list(jobs)
        if keep and jobs:
            db = self._need_db()
            for k in range(0, len(jobs), 500):
                part = [_sql(job_id) for job_id, _, _ in jobs[k:k + 500]]
                for job_id, started, log_ in db.execute(
                        f"SELECT job_id, started, log FROM jobs WHERE job_id IN ({','.join('?' * len(part))})", part):
                    self._kept[_py(job_id)] = (started, log_)
            for job_id, _, _ in jobs:
                if job_id not in self._ahead:
                    self._ahead[job_id] = self._records.get(job_id)
        self.commit((), jobs, log, keep=keep)

    def record(self, done: Iterable[Finished]) -> None:
        """Record finished jobs, in one transaction."""
        self.commit(done, ())

    def commit(self, done: Iterable[Finished], started: Iterable[tuple[str, str, tuple[str, ...]]],
               log: dict[str, str] | None = None, ahead: Iterable[tuple[str, str, tuple[str, ...]]] = (),
               keep: bool = False) -> None:
        """Record finished jobs and mark others started, in one transaction (the run loop
        does both at each turn; one commit instead of two).

        ``ahead``: jobs (id, rule, outputs) about to start, marked started as well (so that a
        ``kill -9`` of rulec after they started leaves them to be redone), but with the rest
        of an existing record (its start time, its log) left as it was: ``rulec status`` does
        not call them running before their pid is known, and ``unmark`` can give back the
        records of those that did not start by restoring their status."""
        db = self._need_db()
        now = time.time()
        records = self._records
        with _transaction(db):
            self._write_attempts(db)
            done = list(done)
            if done:
                # (an update in place where the row is there: the job was marked started)
                db.executemany(
                    "INSERT INTO jobs(job_id, rule, status, cmd_hash, params_hash, inputs_hash, input_sig, command, inputs, log, started, finished, attempts) "
                    "VALUES (?, ?, 'ok', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(job_id) DO UPDATE SET rule=excluded.rule, "
                    "status='ok', cmd_hash=excluded.cmd_hash, params_hash=excluded.params_hash, inputs_hash=excluded.inputs_hash, "
                    "input_sig=excluded.input_sig, command=excluded.command, inputs=excluded.inputs, log=excluded.log, "
                    "started=excluded.started, finished=excluded.finished, attempts=excluded.attempts",
                    [(_sql(f.job_id), f.rule, f.cmd_hash, f.params_hash, f.inputs_hash, f.input_sig, _sql(f.command),
                      _compact_json(f.inputs), _sql(f.log), f.started, now, f.attempts) for f in done])
                failed = self._failed
                for f in done:
                    if self._ahead:  # finished: nothing to give back
                        self._ahead.pop(f.job_id, None)
                        self._kept.pop(f.job_id, None)
                    records[f.job_id] = Record(f.job_id, f.rule, "ok", f.cmd_hash, f.params_hash, f.inputs_hash, f.input_sig)
                    if failed and f.job_id in failed:  # it failed before: no more
                        db.execute("DELETE FROM failures WHERE job_id=?", (_sql(f.job_id),))
                        failed.discard(f.job_id)
            started = list(started)
            if started:
                db.executemany(
                    "INSERT INTO jobs(job_id, rule, status, cmd_hash, params_hash, inputs_hash, input_sig, command, inputs, log, started) "
                    "VALUES (?, ?, 'running', '', '', '', '', '', '[]', ?, ?) "
                    "ON CONFLICT(job_id) DO UPDATE SET status='running', started=excluded.started, log=excluded.log",
                    [(_sql(job_id), rule, _sql((log or {}).get(job_id)), now) for job_id, rule, _ in started])
            for job_id, rule, outputs in started:
                if not keep:
                    self._ahead.pop(job_id, None)
                old = records.get(job_id)
                records[job_id] = Record(job_id, rule, "running", *(tuple(old[3:]) if old else ("", "", "", "")))
            ahead = list(ahead)
            if ahead:
                db.executemany(
                    "INSERT INTO jobs(job_id, rule, status, cmd_hash, params_hash, inputs_hash, input_sig, command, inputs, log, started) "
                    "VALUES (?, ?, 'running', '', '', '', '', '', '[]', ?, NULL) "
                    "ON CONFLICT(job_id) DO UPDATE SET status='running'",
                    [(_sql(job_id), rule, _sql((log or {}).get(job_id))) for job_id, rule, _ in ahead])
                for job_id, rule, _ in ahead:
                    old = records.get(job_id)
                    if job_id not in self._ahead:
                        self._ahead[job_id] = old
                    records[job_id] = Record(job_id, rule, "running", *(tuple(old[3:]) if old else ("", "", "", "")))
        here = self.recorded_here  # (once committed)
        for f in done:
            here.add(f.job_id)
        for job_id, _, _ in started:
            here.discard(job_id)
        for job_id, _, _ in ahead:
            here.discard(job_id)
        if self._checkpointer is not None:
            self._checkpointer.poke()

    def launched(self, job_ids: Iterable[str]) -> None:
        """Jobs marked ahead have started: they stay marked (nothing is written)."""
        pending, kept = self._ahead, self._kept
        for job_id in job_ids:
            pending.pop(job_id, None)
            kept.pop(job_id, None)

    def unmark(self, job_ids: Iterable[str]) -> None:
        """Jobs marked started ahead that the run did not start after all (a failure stopped
        it, or an interruption): their records as they were before (none: no record), in one
        transaction. Their outputs were never touched."""
        db = self._need_db()
        with _transaction(db):
            self._write_attempts(db)
            for job_id in job_ids:
                if job_id not in self._ahead:
                    continue
                old = self._ahead.pop(job_id)
                key = _sql(job_id)
                if old is None:
                    db.execute("DELETE FROM jobs WHERE job_id=?", (key,))
                    self._records.pop(job_id, None)
                elif job_id in self._kept:  # (marked started, not ahead: its start and log as well)
                    started, log = self._kept.pop(job_id)
                    db.execute("UPDATE jobs SET status=?, started=?, log=? WHERE job_id=?", (old[2], started, log, key))
                    self._records[job_id] = old
                else:
                    db.execute("UPDATE jobs SET status=? WHERE job_id=?", (old[2], key))
                    self._records[job_id] = old

    def forget(self, job_ids: Iterable[str]) -> None:
        """Drop the records of jobs (their outputs were removed, or the job failed)."""
        db = self._need_db()
        with _transaction(db):
            for job_id in job_ids:
                if self._ahead:  # (its record is gone: nothing to give back)
                    self._ahead.pop(job_id, None)
                    self._kept.pop(job_id, None)
                db.execute("DELETE FROM jobs WHERE job_id=?", (_sql(job_id),))
                self.recorded_here.discard(job_id)
                self._records.pop(job_id, None)
                if self._failed and job_id in self._failed:
                    db.execute("DELETE FROM failures WHERE job_id=?", (_sql(job_id),))
                    self._failed.discard(job_id)

    def fail(self, jobs: Iterable[tuple[str, str, str | None]]) -> None:
        """Jobs (id, why, log) that failed: their records dropped (they must run again), the
        failure kept for ``rulec status`` until they succeed or are cleaned."""
        db = self._need_db()
        now = time.time()
        with _transaction(db):
            for job_id, why, log in jobs:
                key = _sql(job_id)
                if self._ahead:  # (failed: nothing to give back)
                    self._ahead.pop(job_id, None)
                    self._kept.pop(job_id, None)
                db.execute("DELETE FROM jobs WHERE job_id=?", (key,))
                self.recorded_here.discard(job_id)
                db.execute("INSERT OR REPLACE INTO failures(job_id, why, log, finished) VALUES (?, ?, ?, ?)",
                           (key, _sql(why), _sql(log), now))
                self._records.pop(job_id, None)
                self._failed.add(job_id)

    def checkpoint_behind(self) -> None:
        """From now on, move the write-ahead log into the store on a thread of its own after
        each of this store's commits (a run's: see ``_Checkpointer``)."""
        if self._db is not None and self._checkpointer is None and self.path is not None:
            self._checkpointer = _Checkpointer(self.path)

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        if self._db is not None:
            if self.run_id is not None:  # the run ended without saying how: an error
                self.end_run(None, "error")
            self._db.close()
            self._db = None


# A record's inputs as compact JSON: one encoder for all (json.dumps makes one per call when
# given separators, half its time for a job's one or two inputs).
_compact_json = json.JSONEncoder(separators=(",", ":")).encode


class _Checkpointer:
    """A thread that moves the write-ahead log into the store (a PASSIVE checkpoint, which
    waits for no reader or writer) each time it is poked: after each of a run's commits.

    Otherwise SQLite does it in the committing thread once the log passes 1,000 pages, and
    for the last time when the store is closed, and each time it syncs the log and then the
    store: for a run's log (every record and mark it wrote) 10-30 ms, at the end the last
    thing rulec does, in the run a pause of the loop. SQLite lets the interpreter go while
    it copies and syncs, so on this thread that time is spent beside the run, and the close
    finds at most the last commit's pages to copy. Its own connection, opened on the
    thread; a failure is left to SQLite's own checkpoints."""

    def __init__(self, path: str):
        import threading

        self.path = path
        self.poked = threading.Event()
        self.closing = False
        self.thread = threading.Thread(target=self._run, name="rulec-checkpoint", daemon=True)
        self.thread.start()

    def poke(self) -> None:
        self.poked.set()

    def _run(self) -> None:
        import sqlite3

        try:
            db = sqlite3.connect(self.path, timeout=5, isolation_level=None)
        except sqlite3.Error:
            return
        try:
            while True:
                self.poked.wait()
                self.poked.clear()
                db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                if self.closing:
                    break
        except sqlite3.Error:
            pass
        finally:
            db.close()  # (not the last connection: the store's own is open)

    def close(self) -> None:
        """One more checkpoint (the pages of the last commits), then the thread ends."""
        self.closing = True
        self.poked.set()
        self.thread.join()


class _transaction:
    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")
        # Every write moves the generation on: a cached "all up to date" verdict keyed by
        # it (see rulec/verdict.py) is then stale.
        self.db.execute(
            "INSERT INTO meta(key, value) VALUES ('generation', '1') "
            "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1")
        return self.db

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.db.execute("COMMIT")
        else:
            self.db.execute("ROLLBACK")
        return False


def _failed_ids(db: sqlite3.Connection) -> set[str]:
    """The job ids in ``failures`` (none in a store made before that table, opened read-only)."""
    import sqlite3
    try:
        return {_py(row[0]) for row in db.execute("SELECT job_id FROM failures")}
    except sqlite3.DatabaseError:
        return set()


def _has_attempts(db: sqlite3.Connection) -> bool:
    """Whether the store has the ``attempts`` column (a store written before it, opened
    read-only, does not: its jobs succeeded on their first attempt)."""
    import sqlite3
    try:
        return any(row[1] == "attempts" for row in db.execute("PRAGMA table_info(jobs)"))
    except sqlite3.DatabaseError:
        return False


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    import sqlite3
    try:
        return db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None
    except sqlite3.DatabaseError:
        return False


def _add_attempts(db: sqlite3.Connection) -> None:
    """Give a store made before ``attempts`` existed the column (every old record: 1). The
    schema version stays: an older rulec names its columns and reads such a store as before."""
    if not _has_attempts(db):
        db.execute("ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1")


def _schema_version(db: sqlite3.Connection, write: bool) -> int:
    import sqlite3
    try:
        row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
    except sqlite3.OperationalError:
        return 0
    if row is None:
        if write:
            db.execute("INSERT INTO meta(key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            return SCHEMA_VERSION
        return 0
    try:
        return int(row[0])
    except ValueError:
        raise StateError(f"the state store has a bad schema version {row[0]!r}") from None


def _load(db: sqlite3.Connection, rules: Iterable[str] | None = None) -> dict[str, Record]:
    query = "SELECT job_id, rule, status, cmd_hash, params_hash, inputs_hash, input_sig FROM jobs"
    if rules is not None:
        names = sorted(set(rules))
        if not names:
            return {}
        rows = []
        for at in range(0, len(names), 500):  # within SQLite's limit on parameters
            part = names[at:at + 500]
            rows += db.execute(f"{query} WHERE rule IN ({','.join('?' * len(part))})", part).fetchall()
    else:
        rows = db.execute(query).fetchall()
    if db.execute("SELECT 1 FROM jobs WHERE typeof(job_id)='blob' LIMIT 1").fetchone():  # ids of non-UTF-8 names
        rows = [(_py(row[0]),) + tuple(row[1:]) if row[0].__class__ is bytes else row for row in rows]
    return {row[0]: row for row in rows}  # plain tuples: 100k Records cost more to build


def _sql(text):
    """``text`` as SQLite can store it: as it is, or, when it holds lone surrogates (a file
    name that is not UTF-8, as ``os.fsdecode`` gives it), its bytes (a BLOB; ``_py`` reads
    it back). A given text is always stored the same way, so lookups find it."""
    if text is None or text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")
    return text


def _py(value):
    """A value read from the store: a BLOB written by ``_sql`` back to its text."""
    return value.decode("utf-8", "surrogateescape") if value.__class__ is bytes else value


def _meta(db: sqlite3.Connection, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
    return row[0] if row else None


def _rehash(db: sqlite3.Connection, records: dict, write: bool, version: int) -> None:
    """Records whose command hashes an older rulec computed (another normalization of the
    command: see ``shell.HASH_VERSION``) get the hash of their recorded command, once: in
    the store when it is open for writing, else in memory."""
    from .shell import command_hash

    new = []
    for job_id, command in db.execute("SELECT job_id, command FROM jobs WHERE command != ''").fetchall():
        job_id = _py(job_id)
        rec = records.get(job_id)
        if rec is None or not rec[3]:
            continue
        h = command_hash(_py(command))
        records[job_id] = tuple(rec[:3]) + (h,) + tuple(rec[4:])
        new.append((h, _sql(job_id)))
    if write:
        with _transaction(db):
            db.executemany("UPDATE jobs SET cmd_hash=? WHERE job_id=?", new)
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('cmd_hash', ?)", (str(version),))


def _frozen(path: str) -> sqlite3.Connection:
    """The store in a folder rulec may not write (a read-only or immutable ``.rulec/``), for
    reading: SQLite cannot make the ``-shm`` file it shares with writers there, and there can
    be no writer (one needs that folder too), so the file is read as it is, unless a ``-wal``
    file holds writes not yet merged into it."""
    import sqlite3
    from urllib.parse import quote

    wal = path + "-wal"
    if os.path.exists(wal) and os.path.getsize(wal) > 0:
        raise StateError(f"cannot read the state store {path}: its folder is read-only, and {wal} holds "
                         "writes SQLite cannot merge without writing there; make .rulec/ writable")
    return sqlite3.connect(f"file:{quote(os.path.abspath(path))}?immutable=1", uri=True, timeout=30, isolation_level=None)


def _read_only(path: str, detail: str | None = None) -> StateError:
    why = f" ({detail})" if detail else ""
    return StateError(f"the state store {path} is read-only{why}: running or cleaning jobs records them there; "
                      "make it writable (dryrun and status only read it)")
