"""What a finished job's record holds (rulec/run/record.py): its inputs' stats, taken from
the outputs this run made where it made them, from a stat now where it did not."""

from __future__ import annotations

import contextlib
import io
import os

from rulec import cli
from rulec.analyze import analyze
from rulec.dag import resolve
from rulec.run.record import Recorder
from rulec.syntax import parse

from helpers import SMALL


def _graph(tmp_path):
    wf = analyze(parse(SMALL, "Rulefile"), workdir=str(tmp_path))
    return resolve(wf)


def _job(graph, job_id):
    return next(j for j in range(len(graph)) if graph.job_id(j) == job_id)


def test_an_input_this_run_made_is_not_stated_again(tmp_path):
    graph = _graph(tmp_path)
    recorder = Recorder(graph)
    fit = _job(graph, "fit[d0,m0]")
    # not on disk at all: the record can only have its stat from ``made``
    recorder.made["bld/prepared/d0.csv"] = (1_700_000_000_000_000_000, 42)
    record = recorder.finished(fit)
    assert record.inputs == [("bld/prepared/d0.csv", 42, 1_700_000_000_000_000_000)]


def test_an_input_the_run_did_not_make_is_stated_now(tmp_path):
    graph = _graph(tmp_path)
    recorder = Recorder(graph)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "data.csv").write_text("x\n")
    st = os.stat(tmp_path / "src" / "data.csv")
    recorder.made["bld/prepared/d0.csv"] = (1, 1)  # (another path: no help here)
    record = recorder.finished(_job(graph, "prepare[d0]"))
    assert record.inputs == [("src/data.csv", 2, st.st_mtime_ns)]


def test_many_inputs_mix_made_and_stated(tmp_path):
    graph = _graph(tmp_path)
    recorder = Recorder(graph)
    (tmp_path / "bld" / "fit").mkdir(parents=True)
    (tmp_path / "bld" / "fit" / "d1_m0.json").write_text("abc")
    st = os.stat(tmp_path / "bld" / "fit" / "d1_m0.json")
    recorder.made["bld/fit/d0_m0.json"] = (7, 3)
    record = recorder.finished(_job(graph, "summarize[m0]"))
    assert record.inputs == [("bld/fit/d0_m0.json", 3, 7), ("bld/fit/d1_m0.json", 3, st.st_mtime_ns)]


def _cli(*args) -> int:
    with contextlib.redirect_stdout(io.StringIO()):
        return cli.main(list(args))


def test_an_input_changed_while_its_reader_ran_makes_it_run_again(tmp_path):
    """The reader's record holds the stat its input had when its producer ended, which is
    what the reader read: a change while it ran (after it read) is a change at the next plan,
    not something the record blesses."""
    (tmp_path / "Rulefile").write_text(
        'rule all:\n    input: "b.txt"\n'
        'rule a:\n    input: "src.txt"\n    output: "a.txt"\n    shell: "cp {input} {output}"\n'
        'rule b:\n    input: "a.txt"\n    output: "b.txt"\n'
        '    shell: "cat {input} > {output}; sleep 0.05; echo later >> {input}"\n')
    (tmp_path / "src.txt").write_text("first\n")
    os.chdir(tmp_path)
    assert _cli("run", "-q") == 0
    assert (tmp_path / "b.txt").read_text() == "first\n"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cli.main(["dryrun", "--why"])
    assert "1 of 2 jobs to run" in out.getvalue() and "input changed since the last run: a.txt" in out.getvalue(), out.getvalue()
    assert _cli("run", "-q") == 0
    assert (tmp_path / "b.txt").read_text() == "first\nlater\n"


def test_a_source_edited_while_its_reader_ran_makes_it_run_again(tmp_path):
    """A source's stat in the record is the one the plan saw, which is what the job read: an
    edit while the job runs is a change at the next plan (make sees the source newer)."""
    (tmp_path / "Rulefile").write_text(
        'rule a:\n    input: "src.txt"\n    output: "out.txt"\n'
        '    shell: "cp {input} {output}; echo edited >> {input}"\n')
    (tmp_path / "src.txt").write_text("v1\n")
    os.chdir(tmp_path)
    assert _cli("run", "-q") == 0
    assert (tmp_path / "out.txt").read_text() == "v1\n"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cli.main(["dryrun", "--why"])
    assert "1 of 1 jobs to run" in out.getvalue() and "src.txt" in out.getvalue(), out.getvalue()
    assert _cli("run", "-q") == 0
    assert (tmp_path / "out.txt").read_text() == "v1\nedited\n"


def test_a_source_is_signed_as_planned(tmp_path):
    graph = _graph(tmp_path)
    recorder = Recorder(graph)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "data.csv").write_text("now\n")
    recorder.planned = {"src/data.csv": (5, 9)}.get
    record = recorder.finished(_job(graph, "prepare[d0]"))
    assert record.inputs == [("src/data.csv", 9, 5)]
    recorder.planned = {}.get  # not in the plan's snapshot: stat'ed now
    st = os.stat(tmp_path / "src" / "data.csv")
    assert recorder.finished(_job(graph, "prepare[d0]")).inputs == [("src/data.csv", 4, st.st_mtime_ns)]
