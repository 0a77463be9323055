import os
import stat

import pytest

from rulec import api
from rulec.commands import dag
from rulec.history import Finished, History

RULEFILE = """\
dimension d = ["a", "b", "c"]

rule all:
    input: expand("out/{d}.txt")

rule make:
    output: "out/{d}.txt"
    shell: "echo {d} > {output}"
"""


def test_write_atomic_writes_the_whole_file_with_the_usual_mode(tmp_path):
    path = tmp_path / "g.svg"
    dag.write_atomic(str(path), b"<svg/>")
    assert path.read_bytes() == b"<svg/>"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert os.listdir(tmp_path) == ["g.svg"]


def test_write_atomic_leaves_the_old_file_and_no_temporary_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "g.svg"
    path.write_bytes(b"old")

    def broken(src, dst):
        raise OSError(28, "No space left on device", dst)

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError):
        dag.write_atomic(str(path), b"new" * 1000)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["g.svg"]


def test_write_atomic_refuses_a_folder_and_a_missing_folder(tmp_path):
    from rulec.errors import RulecError

    with pytest.raises(RulecError, match="is a folder: -o needs a file name"):
        dag.write_atomic(str(tmp_path), b"x")
    with pytest.raises(RulecError, match="the folder .*/nope does not exist"):
        dag.write_atomic(str(tmp_path / "nope" / "g.svg"), b"x")


def test_job_states_done_to_run_and_failed_last_time(tmp_path):
    (tmp_path / "Rulefile").write_text(RULEFILE)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.txt").write_text("a\n")  # made by hand: up to date by mtime
    target = api.Target(str(tmp_path / "Rulefile"))
    h = History.open(str(tmp_path), write=True)
    h.begin_run("local", 2)
    h.note_attempt("make[b]", "make", 1, 1.0, 2.0, "failed", why="exit status 1")
    h.note_attempt("make[c]", "make", 1, 1.0, 2.0, "failed", why="exit status 1")
    h.end_run(1)
    h.begin_run("local", 1)  # c ran again, and succeeded, but its output is gone since
    h.note_attempt("make[c]", "make", 1, 3.0, 4.0, "ok")
    h.record([Finished("make[c]", "make", "x", "x", "x", "x", "echo c", [], ("out/c.txt",))])
    h.end_run(0)
    h.close()
    planned = api.plan(target)
    states = dag.job_states(planned)
    by_id = {planned.graph.job_id(j): states[j] for j in range(len(planned.graph))}
    assert by_id == {"make[a]": "done", "make[b]": "failed", "make[c]": "todo", "all": "todo"}
    (tmp_path / "out" / "b.txt").write_text("b\n")
    (tmp_path / "out" / "c.txt").write_text("c\n")
    History.open(str(tmp_path), write=True).forget(["make[c]"])
    planned = api.plan(target)
    assert set(dag.job_states(planned)) == {"done"}  # b failed last time, but is up to date now
