import sqlite3

import pytest

from rulec.errors import StateError
from rulec.history import SCHEMA_VERSION, Finished, History


def finished(job_id="a[1]", outputs=("out/1",)):
    return Finished(job_id, "a", "c1", "p1", "i1", "s1", "echo 1", [("in", 3, 100)], outputs, log="log/1")


def test_a_missing_store_reads_as_empty_and_is_not_created(tmp_path):
    h = History.open(str(tmp_path))
    assert len(h) == 0
    assert not (tmp_path / ".rulec").exists()


def test_records_survive_reopening(tmp_path):
    h = History.open(str(tmp_path), write=True)
    h.mark_started([("a[1]", "a", ("out/1",))])
    assert h.get("a[1]").status == "running"
    h.record([finished()])
    h.close()
    h = History.open(str(tmp_path))
    rec = h.get("a[1]")
    assert (rec.status, rec.cmd_hash, rec.params_hash, rec.inputs_hash, rec.input_sig) == ("ok", "c1", "p1", "i1", "s1")
    detail = h.detail("a[1]")
    assert detail.command == "echo 1" and detail.inputs == [("in", 3, 100)] and detail.log == "log/1"


def test_started_and_never_finished_reads_as_running(tmp_path):
    h = History.open(str(tmp_path), write=True)
    h.record([finished()])
    h.mark_started([("a[1]", "a", ("out/1",))])
    h.close()
    assert History.open(str(tmp_path)).get("a[1]").status == "running"


def test_forget(tmp_path):
    h = History.open(str(tmp_path), write=True)
    h.record([finished("a[1]"), finished("a[2]", ("out/2",))])
    h.forget(["a[1]"])
    h.close()
    h = History.open(str(tmp_path))
    assert h.get("a[1]") is None and h.get("a[2]") is not None


def test_a_newer_schema_is_refused_with_a_clear_message(tmp_path):
    History.open(str(tmp_path), write=True).close()
    db = sqlite3.connect(tmp_path / ".rulec" / "state.db")
    db.execute("UPDATE meta SET value=? WHERE key='schema'", (str(SCHEMA_VERSION + 1),))
    db.commit()
    db.close()
    with pytest.raises(StateError, match="written by a newer rulec"):
        History.open(str(tmp_path))


def test_a_corrupt_store_is_a_clear_error(tmp_path):
    (tmp_path / ".rulec").mkdir()
    (tmp_path / ".rulec" / "state.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError, match="cannot read the state store"):
        History.open(str(tmp_path))


def test_a_failed_transaction_leaves_nothing(tmp_path):
    h = History.open(str(tmp_path), write=True)

    def broken():
        yield finished("a[1]")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        h.record(broken())
    h.close()
    assert History.open(str(tmp_path)).get("a[1]") is None


def _read_only(path):
    """Make ``path`` read-only, even for root (chattr +i); the undo function, or a skip."""
    import os
    import shutil
    import subprocess

    if os.geteuid() != 0:
        mode = os.stat(path).st_mode
        os.chmod(path, 0o555 if os.path.isdir(path) else 0o444)
        return lambda: os.chmod(path, mode)
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
        pytest.skip("root needs chattr on a file system with immutable files to make a file read-only")
    return lambda: subprocess.run(["chattr", "-i", str(path)], check=True)


def test_records_of_an_older_command_hash_get_the_hash_of_their_command_once(tmp_path):
    from rulec.shell import HASH_VERSION, command_hash

    h = History.open(str(tmp_path), write=True)
    h.record([Finished("a[1]", "a", "v1-hash", "p1", "i1", "s1", "echo  'a  b'\n  # note", [], ("out/1",))])
    h.close()
    db = sqlite3.connect(tmp_path / ".rulec" / "state.db")  # as an older rulec left it
    db.execute("DELETE FROM meta WHERE key='cmd_hash'")
    db.commit()
    new = command_hash("echo  'a  b'\n  # note")
    assert new == command_hash("echo 'a  b'") != command_hash("echo 'a b'")
    # read-only: in memory, the store untouched
    assert History.open(str(tmp_path)).get("a[1]").cmd_hash == new
    assert db.execute("SELECT cmd_hash FROM jobs").fetchone() == ("v1-hash",)
    # open for writing: rewritten once, and marked
    assert History.open(str(tmp_path), write=True).get("a[1]").cmd_hash == new
    assert db.execute("SELECT cmd_hash FROM jobs").fetchone() == (new,)
    assert db.execute("SELECT value FROM meta WHERE key='cmd_hash'").fetchone() == (str(HASH_VERSION),)
    db.execute("UPDATE jobs SET cmd_hash='later'")  # a marked store is read as it is
    db.commit()
    assert History.open(str(tmp_path)).get("a[1]").cmd_hash == "later"


def test_names_that_are_not_utf8_are_stored_and_read_back(tmp_path):
    import os

    name = os.fsdecode(b"raw/\xff.txt")  # what os.listdir gives for such a file
    job, out = f"make[{name[4:-4]}]", os.fsdecode(b"out/\xff.txt")
    h = History.open(str(tmp_path), write=True)
    h.mark_started([(job, "make", (out,))], {job: os.fsdecode(b"logs/\xff.log")})
    h.record([Finished(job, "make", "c", "p", "i", "s", f"cp {name} {out}", [(name, 2, 5)], (out,), log=os.fsdecode(b"logs/\xff.log"))])
    h.record([finished("ok[1]")])
    h.close()
    h = History.open(str(tmp_path))
    assert h.get(job).status == "ok" and h.get("ok[1]").status == "ok"
    detail = h.detail(job)
    assert detail.command == f"cp {name} {out}" and detail.inputs == [(name, 2, 5)]
    assert detail.log == h.log_path(job) == os.fsdecode(b"logs/\xff.log")
    h.close()
    h = History.open(str(tmp_path), write=True)
    h.forget([job])
    h.close()
    assert History.open(str(tmp_path)).get(job) is None


def test_a_read_only_store_refuses_writing_in_one_clear_line_and_still_reads(tmp_path):
    h = History.open(str(tmp_path), write=True)
    h.record([finished()])
    h.close()
    path = tmp_path / ".rulec" / "state.db"
    undo = _read_only(path)
    try:
        with pytest.raises(StateError) as err:
            History.open(str(tmp_path), write=True)
        text = err.value.render()
        assert "\n" not in text and "read-only" in text and str(path) in text, text
        assert History.open(str(tmp_path)).get("a[1]").status == "ok"
    finally:
        undo()
    History.open(str(tmp_path), write=True).close()  # writable again: it works again


def test_a_store_in_a_read_only_folder_still_reads(tmp_path):
    h = History.open(str(tmp_path), write=True)
    h.record([finished()])
    h.close()  # the last connection merges the -wal file and removes it
    folder = tmp_path / ".rulec"
    undo = _read_only(folder)
    try:
        assert History.open(str(tmp_path)).get("a[1]").status == "ok"
        with pytest.raises(StateError, match="read-only"):
            History.open(str(tmp_path), write=True)
    finally:
        undo()


def test_a_store_made_before_attempts_gains_the_column_and_keeps_its_records(tmp_path):
    import sqlite3

    h = History.open(str(tmp_path), write=True)
    h.close()
    db = sqlite3.connect(tmp_path / ".rulec" / "state.db")
    db.execute("DROP TABLE jobs")
    db.execute("CREATE TABLE jobs (job_id TEXT PRIMARY KEY, rule TEXT NOT NULL, status TEXT NOT NULL, cmd_hash TEXT NOT NULL, "
               "params_hash TEXT NOT NULL, inputs_hash TEXT NOT NULL, input_sig TEXT NOT NULL, command TEXT NOT NULL, "
               "inputs TEXT NOT NULL, log TEXT, started REAL, finished REAL)")
    db.execute("INSERT INTO jobs VALUES ('old', 'r', 'ok', 'c', 'p', 'i', 's', 'echo', '[]', NULL, 1.0, 2.0)")
    db.commit()
    db.close()
    ro = History.open(str(tmp_path))  # read-only: the old shape is read as it is
    assert ro.detail("old").attempts == 1 and ro.retried() == {}
    ro.close()
    h = History.open(str(tmp_path), write=True)
    assert h.records()["old"][3] == "c" and h.detail("old").attempts == 1
    h.record([Finished("new", "r", "c", "p", "i", "s", "echo", [], ("o",), attempts=3)])
    assert h.detail("new").attempts == 3 and h.retried() == {"new": 3}
    h.close()


def test_a_failure_drops_the_record_and_is_kept_until_the_job_succeeds_or_is_forgotten(tmp_path):
    h = History.open(str(tmp_path), write=True)
    h.record([finished("a[1]"), finished("a[2]", ("out/2",))])
    h.mark_started([("a[1]", "a", ("out/1",))])
    h.fail([("a[1]", "exit status 3", ".rulec/logs/a/a.1.log"), ("a[2]", "killed by signal KILL", None)])
    assert h.get("a[1]") is None  # it must run again
    h.close()
    h = History.open(str(tmp_path), write=True)
    assert h.failures() == {"a[1]": ("exit status 3", ".rulec/logs/a/a.1.log"), "a[2]": ("killed by signal KILL", None)}
    h.record([finished("a[1]")])  # it succeeded since
    h.forget(["a[2]"])  # cleaned
    assert h.failures() == {}
    h.close()
    assert History.open(str(tmp_path)).failures() == {}


def test_a_store_made_before_failures_were_kept_reads_as_none_failed(tmp_path):
    h = History.open(str(tmp_path), write=True)
    h.record([finished()])
    h.close()
    db = sqlite3.connect(tmp_path / ".rulec" / "state.db")
    db.execute("DROP TABLE failures")
    db.commit()
    db.close()
    h = History.open(str(tmp_path))  # read-only: the table is not made
    assert h.failures() == {} and h.get("a[1]").status == "ok"
    h = History.open(str(tmp_path), write=True)  # written to: it is
    h.fail([("a[1]", "exit status 1", None)])
    assert h.failures() == {"a[1]": ("exit status 1", None)}
# --------------------------------------------------------------------------- run history

def test_a_run_and_its_attempts_are_recorded_and_read_back(tmp_path):
    from rulec.history import Attempt

    h = History.open(str(tmp_path), write=True)
    run_id = h.begin_run("local", 3, "rulec run -j2")
    h.note_attempt("a[1]", "a", 1, 10.0, 11.5, "ok", "local:1", log="log/1")
    h.note_attempt("a[2]", "a", 1, 10.0, 10.5, "failed", "local:2", "exit status 3", "echo 2; exit 3", "log/2", "2\n")
    h.record([finished("a[1]")])  # noted attempts go with the next transaction
    h.note_attempt("a[2]", "a", 2, 10.6, 11.0, "ok", "local:2")
    h.end_run(0)
    h.close()
    h = History.open(str(tmp_path))
    (run,) = h.runs()
    assert (run.run_id, run.executor, run.planned, run.command, run.status, run.exit_code) == (run_id, "local", 3, "rulec run -j2", "ok", 0)
    assert run.finished >= run.started
    assert h.attempts() == [
        Attempt(run_id, "a[1]", "a", 1, 10.0, 11.5, "ok", "local:1", None, None, "log/1", None),
        Attempt(run_id, "a[2]", "a", 1, 10.0, 10.5, "failed", "local:2", "exit status 3", "echo 2; exit 3", "log/2", "2\n"),
        Attempt(run_id, "a[2]", "a", 2, 10.6, 11.0, "ok", "local:2", None, None, None, None),
    ]
    assert h.failed() == {}  # its last attempt succeeded
    assert h.attempts([run_id + 1]) == [] and h.attempts([]) == []


def test_failed_names_the_jobs_whose_latest_attempt_failed(tmp_path):
    h = History.open(str(tmp_path), write=True)
    h.begin_run("local", 2)
    h.note_attempt("a[1]", "a", 1, 1.0, 2.0, "failed", why="exit status 1")
    h.note_attempt("a[2]", "a", 1, 1.0, 2.0, "ok")
    h.end_run(1)
    h.begin_run("local", 2)
    h.note_attempt("a[1]", "a", 1, 3.0, 4.0, "ok")
    h.note_attempt("a[2]", "a", 1, 3.0, 4.0, "failed", why="killed by signal SIGKILL")
    h.end_run(1)
    assert h.failed() == {"a[2]": "killed by signal SIGKILL"}
    assert [r.status for r in h.runs()] == ["failed", "failed"]


def test_only_the_last_runs_are_kept(tmp_path):
    from rulec.history import RUNS_KEPT

    h = History.open(str(tmp_path), write=True)
    for i in range(RUNS_KEPT + 3):
        h.begin_run("local", 1)
        h.note_attempt(f"a[{i}]", "a", 1, float(i), float(i) + 1, "ok")
        h.end_run(0)
    runs = h.runs()
    assert len(runs) == RUNS_KEPT and runs[0].run_id == 4 and runs[-1].run_id == RUNS_KEPT + 3
    assert {a.run_id for a in h.attempts()} == {r.run_id for r in runs}


def test_a_run_that_never_ended_is_closed_as_an_error_with_its_attempts(tmp_path):
    h = History.open(str(tmp_path), write=True)
    h.begin_run("slurm", 1)
    h.note_attempt("a[1]", "a", 1, 1.0, 2.0, "ok", "12345_0")
    h.close()  # an exception went past end_run
    h = History.open(str(tmp_path))
    assert [(r.status, r.exit_code) for r in h.runs()] == [("error", None)]
    assert [a.place for a in h.attempts()] == ["12345_0"]


def test_attempts_noted_without_a_run_are_not_kept(tmp_path):
    h = History.open(str(tmp_path), write=True)
    h.note_attempt("a[1]", "a", 1, 1.0, 2.0, "ok")  # no run begun
    h.record([finished("a[1]")])
    assert h.runs() == [] and h.attempts() == []


def test_a_run_may_say_when_it_started(tmp_path):
    h = History.open(str(tmp_path), write=True)
    h.begin_run("touch", 1, "rulec run --touch", started=12.5)
    h.end_run(0)
    (run,) = h.runs()
    assert run.started == 12.5 and run.finished > 12.5


def test_touched_and_adopted_attempts_are_read_back_and_only_a_failure_is_failed(tmp_path):
    from rulec.history import ADOPTED, TOUCH, TOUCHED

    h = History.open(str(tmp_path), write=True)
    h.begin_run("local", 2)
    h.note_attempt("a[1]", "a", 1, 1.0, 2.0, "failed", why="exit status 1")
    h.note_attempt("a[2]", "a", 1, 1.0, 2.0, "ok")
    h.end_run(1)
    h.begin_run(TOUCH, 1, "rulec run --touch")
    h.note_attempt("a[1]", "a", 1, 3.0, 3.0, TOUCHED)  # made by hand, then touched: no more failed
    h.record([finished("a[1]")])
    h.end_run(0)
    h.begin_run("slurm", 2, "rulec run --executor slurm")
    h.note_attempt("b[1]", "b", 1, None, 5.0, ADOPTED, "4711_0", log="logs/b1.log")
    h.note_attempt("b[2]", "b", 2, 4.0, 5.5, "failed", "4712_1", "failed in the run that died (exit status 3)")
    h.end_run(0, ADOPTED)
    h.close()
    h = History.open(str(tmp_path))
    assert [(r.executor, r.status, r.planned) for r in h.runs()] == [("local", "failed", 2), (TOUCH, "ok", 1), ("slurm", ADOPTED, 2)]
    assert [(a.job_id, a.outcome, a.started, a.finished, a.place) for a in h.attempts()][2:] == [
        ("a[1]", TOUCHED, 3.0, 3.0, None), ("b[1]", ADOPTED, None, 5.0, "4711_0"), ("b[2]", "failed", 4.0, 5.5, "4712_1")]
    assert h.failed() == {"b[2]": "failed in the run that died (exit status 3)"}


# The run history's tables as the first rulec with a run history made them (before touched
# and adopted attempts): a store it wrote is read, and written to, as it is.
_FIRST_RUN_SCHEMA = """
CREATE TABLE runs (run_id INTEGER PRIMARY KEY AUTOINCREMENT, started REAL NOT NULL, finished REAL,
    executor TEXT NOT NULL, command TEXT, planned INTEGER NOT NULL, status TEXT NOT NULL, exit_code INTEGER);
CREATE TABLE attempts (run_id INTEGER NOT NULL, job_id TEXT NOT NULL, rule TEXT NOT NULL, attempt INTEGER NOT NULL,
    started REAL, finished REAL NOT NULL, outcome TEXT NOT NULL, place TEXT, why TEXT, command TEXT, log TEXT, tail TEXT);
CREATE INDEX attempts_run ON attempts(run_id);
CREATE INDEX attempts_job ON attempts(job_id);
INSERT INTO runs VALUES (1, 1.0, 3.0, 'local', 'rulec run', 1, 'failed', 1);
INSERT INTO attempts VALUES (1, 'a[1]', 'a', 1, 1.0, 2.0, 'failed', 'local:1', 'exit status 1', 'echo 1', 'log/1', 'x');
"""


def test_a_store_from_before_touched_and_adopted_runs_reads_and_takes_them(tmp_path):
    from rulec.history import TOUCH, TOUCHED

    h = History.open(str(tmp_path), write=True)
    h.record([finished("a[2]")])
    h.close()
    db = sqlite3.connect(tmp_path / ".rulec" / "state.db")
    db.executescript("DROP TABLE runs; DROP TABLE attempts;" + _FIRST_RUN_SCHEMA)
    db.commit()
    db.close()
    h = History.open(str(tmp_path))
    assert [(r.run_id, r.executor, r.status) for r in h.runs()] == [(1, "local", "failed")]
    assert h.failed() == {"a[1]": "exit status 1"}
    h.close()
    h = History.open(str(tmp_path), write=True)
    h.begin_run(TOUCH, 1, "rulec run --touch")
    h.note_attempt("a[1]", "a", 1, 4.0, 4.0, TOUCHED)
    h.record([finished("a[1]")])
    h.end_run(0)
    h.close()
    h = History.open(str(tmp_path))
    assert [(r.run_id, r.executor, r.status) for r in h.runs()] == [(1, "local", "failed"), (2, TOUCH, "ok")]
    assert [a.outcome for a in h.attempts()] == ["failed", TOUCHED] and h.failed() == {}
    assert h.get("a[1]").status == "ok" and h.get("a[2]").status == "ok"


def test_a_store_from_before_the_run_history_reads_as_having_none_and_gets_it_when_written(tmp_path):
    h = History.open(str(tmp_path), write=True)
    h.record([Finished("a[1]", "a", "c", "p", "i", "s", "echo", [], ("out/1",), log="l", started=5.0)])
    h.close()
    db = sqlite3.connect(tmp_path / ".rulec" / "state.db")  # as a rulec before the run history left it
    db.execute("DROP TABLE runs")
    db.execute("DROP TABLE attempts")
    db.commit()
    h = History.open(str(tmp_path))
    assert h.runs() == [] and h.attempts() == [] and h.failed() == {}
    (old,) = h.successes()  # what its records know: the last successful run of each job
    assert (old.run_id, old.job_id, old.rule, old.started, old.outcome, old.log) == (0, "a[1]", "a", 5.0, "ok", "l")
    h.close()
    h = History.open(str(tmp_path), write=True)
    assert h.get("a[1]").status == "ok"
    h.begin_run("local", 1)
    h.end_run(0)
    assert len(h.runs()) == 1


def test_run_history_text_that_is_not_utf8_is_read_back(tmp_path):
    import os

    job = os.fsdecode(b"make[\xff]")
    h = History.open(str(tmp_path), write=True)
    h.begin_run("local", 1, os.fsdecode(b"rulec run \xff"))
    h.note_attempt(job, "make", 1, 1.0, 2.0, "failed", why="exit status 1", command=os.fsdecode(b"cp \xff x"),
                   log=os.fsdecode(b"logs/\xff.log"), tail=os.fsdecode(b"\xff"))
    h.end_run(1)
    h.close()
    h = History.open(str(tmp_path))
    (a,) = h.attempts()
    assert (a.job_id, a.command, a.log, a.tail) == (job, os.fsdecode(b"cp \xff x"), os.fsdecode(b"logs/\xff.log"), os.fsdecode(b"\xff"))
    assert h.failed() == {job: "exit status 1"} and h.runs()[0].command == os.fsdecode(b"rulec run \xff")


def test_the_records_of_some_rules_only(tmp_path):
    h = History.open(str(tmp_path), write=True)
    rules = [f"r{k}" for k in range(700)]  # more than one query's parameters
    h.record([Finished(f"{r}[1]", r, "c", "p", "i", "s", "echo", [], (f"out/{r}",)) for r in rules])
    h.close()
    some = History.open(str(tmp_path), rules=["r3", "r650", "gone"])
    assert sorted(some.records()) == ["r3[1]", "r650[1]"]
    assert len(History.open(str(tmp_path), rules=[])) == 0
    assert len(History.open(str(tmp_path))) == 700
    with pytest.raises(ValueError):
        History.open(str(tmp_path), write=True, rules=["r3"])


def test_a_jobs_marks_and_records_write_no_row_per_output(tmp_path):
    """A job's rows are its record (and its attempts): which job made each path was once kept
    too, a row per output written at each mark and never read."""
    h = History.open(str(tmp_path), write=True)
    statements = []
    h._db.set_trace_callback(statements.append)
    h.commit([], [("a[1]", "a", ("out/1",))], ahead=[("a[2]", "a", ("out/2",))])
    h.record([finished()])
    h.unmark(["a[2]"])
    h.forget(["a[1]"])
    h.record([finished()])
    h.fail([("a[1]", "exit status 1", None)])
    h._db.set_trace_callback(None)
    assert statements and not any("outputs" in s for s in statements)
    h.close()


def test_recorded_here_names_the_ok_records_this_store_wrote_and_still_holds(tmp_path):
    h = History.open(str(tmp_path), write=True)
    h.record([finished("a[1]"), finished("a[2]", ("out/2",)), finished("a[3]", ("out/3",))])
    assert h.recorded_here == {"a[1]", "a[2]", "a[3]"}
    h.mark_started([("a[1]", "a", ("out/1",))])  # running again: not ok any more
    h.forget(["a[2]"])
    h.fail([("a[3]", "exit status 1", None)])
    assert h.recorded_here == set()
    h.close()
    assert History.open(str(tmp_path), write=True).recorded_here == set()  # another process: none


def _wal_index(tmp_path):
    """(frames in the write-ahead log, frames of it already moved into the store), from the
    log's index (SQLite's -shm file: the header's mxFrame, the checkpoint's nBackfill)."""
    import struct

    shm = (tmp_path / ".rulec" / "state.db-shm").read_bytes()
    return struct.unpack_from("=I", shm, 16)[0], struct.unpack_from("=I", shm, 96)[0]


def test_a_runs_store_moves_its_log_into_the_store_beside_the_run_and_close_ends_the_thread(tmp_path):
    import time

    h = History.open(str(tmp_path), write=True)
    h.record([finished("a[0]", ("out/0",))])
    frames, moved = _wal_index(tmp_path)
    assert frames > 0 and moved < frames  # (SQLite checkpoints by itself only past 1,000 pages)
    h.checkpoint_behind()
    thread = h._checkpointer.thread
    h.commit([finished(f"a[{i}]", (f"out/{i}",)) for i in range(1, 50)], [("b", "b", ("out/b",))])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        frames, moved = _wal_index(tmp_path)
        if moved == frames:
            break
        time.sleep(0.01)
    assert moved == frames > 0  # moved by the thread, with no call of the store's
    h.close()
    assert not thread.is_alive() and h._checkpointer is None
    h = History.open(str(tmp_path))
    assert h.get("a[49]").status == "ok" and h.get("b").status == "running"
    h.close()


def test_a_store_that_kept_which_job_made_each_path_drops_that_table_when_written(tmp_path):
    """An older store's ``outputs`` table (written, never read) is dropped by the first rulec
    that opens the store for writing; its records stay."""
    h = History.open(str(tmp_path), write=True)
    h.record([finished()])
    h.close()
    db = sqlite3.connect(tmp_path / ".rulec" / "state.db")
    db.executescript("CREATE TABLE outputs (path TEXT PRIMARY KEY, job_id TEXT NOT NULL);"
                     "CREATE INDEX outputs_job ON outputs(job_id); INSERT INTO outputs VALUES ('out/1', 'a[1]');")
    db.close()
    History.open(str(tmp_path)).close()  # (reading changes nothing)
    names = lambda: {r[0] for r in sqlite3.connect(tmp_path / ".rulec" / "state.db").execute("SELECT name FROM sqlite_master")}
    assert {"outputs", "outputs_job"} <= names()
    h = History.open(str(tmp_path), write=True)
    h.close()
    assert not {"outputs", "outputs_job"} & names()
    assert History.open(str(tmp_path)).get("a[1]").status == "ok"


def test_jobs_marked_started_with_keep_get_their_records_back_until_they_launch(tmp_path):
    h = History.open(str(tmp_path), write=True)
    h.record([finished("a[1]"), finished("a[2]", ("out/2",)), finished("a[3]", ("out/3",))])
    before = {j: (h.detail(j).started, h.detail(j).log) for j in ("a[1]", "a[2]")}
    h.mark_started([("a[1]", "a", ("out/1",)), ("a[2]", "a", ("out/2",)), ("a[3]", "a", ("out/3",)),
                    ("a[4]", "a", ("out/4",))], {"a[1]": "logs/new.log"}, keep=True)
    assert h.records()["a[1]"][2] == "running"
    h.launched(["a[2]"])  # it started: it stays marked
    h.record([finished("a[3]", ("out/3",))])  # it finished: nothing to give back
    h.unmark(["a[1]", "a[2]", "a[3]", "a[4]"])
    h.close()
    again = History.open(str(tmp_path))
    status = {j: r[2] for j, r in again.records().items()}
    assert status == {"a[1]": "ok", "a[2]": "running", "a[3]": "ok"}  # a[4] had no record: none
    assert (again.detail("a[1]").started, again.detail("a[1]").log) == before["a[1]"]
