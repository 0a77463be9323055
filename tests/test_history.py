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
    assert h.jobs_of_outputs(["out/1"]) == {"out/1": "a[1]"}


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
