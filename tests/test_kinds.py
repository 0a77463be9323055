"""Output kinds per job (rulec/kinds.py): positions per rule, the temp files a run may delete
(never a target's), temp inputs, read-only protection of files and folders."""

from __future__ import annotations

import os

from rulec.kinds import PROTECTED, TEMP, TOUCH, OutputKinds, in_the_way, make_read_only, make_writable, read_only

from helpers import graph

TEXT = '''
dimension dataset = ["d0", "d1"]

rule all:
    input: expand("fit/{dataset}.txt")

rule prepare:
    output: "plain/{dataset}.txt", temp("tmp/{dataset}.txt")
    shell: "x"

rule fit:
    input: "tmp/{dataset}.txt", "plain/{dataset}.txt"
    output: protected("fit/{dataset}.txt"), touch("fit/{dataset}.flag")
    shell: "x"
'''


def by_id(g):
    return {g.job_id(j): j for j in range(len(g))}


def test_a_workflow_without_kinds_has_none():
    assert OutputKinds.of(graph()) is None


def test_outputs_of_each_kind_per_job():
    g = graph(TEXT)
    k = OutputKinds.of(g)
    jobs = by_id(g)
    assert k.outputs(jobs["prepare[d0]"], TEMP) == ("tmp/d0.txt",)
    assert k.outputs(jobs["prepare[d0]"], PROTECTED) == ()
    assert k.outputs(jobs["fit[d1]"], PROTECTED) == ("fit/d1.txt",)
    assert k.outputs(jobs["fit[d1]"], TOUCH) == ("fit/d1.flag",)
    assert k.where(jobs["fit[d1]"], "fit/d1.txt") == "protected() in Rulefile:13:13"  # TEXT starts with a newline
    assert k.temp_inputs(jobs["fit[d0]"]) == (0,)


def test_the_temp_outputs_of_a_target_are_not_deletable():
    g = graph(TEXT)
    assert OutputKinds(g).temp_paths() == {"tmp/d0.txt": by_id(g)["prepare[d0]"], "tmp/d1.txt": by_id(g)["prepare[d1]"]}
    g = graph(TEXT, targets=["tmp/d0.txt", "fit[d1]"])
    k = OutputKinds(g)
    assert set(k.temp_paths()) == {"tmp/d1.txt"}  # a path target stays; prepare[d1] is no target
    assert k.all_temp() == {"tmp/d0.txt", "tmp/d1.txt"}  # signatures do not depend on targets


def test_read_only_files_and_folders_and_back(tmp_path):
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "w.bin").write_text("w")
    make_read_only(str(folder))
    assert read_only(str(folder)) and read_only(str(folder / "sub" / "w.bin"))
    make_writable(str(folder))
    assert not read_only(str(folder)) and not read_only(str(folder / "sub" / "w.bin"))
    os.unlink(folder / "sub" / "w.bin")  # removable again
    assert not read_only(str(tmp_path / "missing"))


def test_in_the_way_names_existing_read_only_protected_outputs(tmp_path):
    from rulec.analyze import analyze
    from rulec.dag import resolve
    from rulec.syntax import parse

    g = resolve(analyze(parse(TEXT, "Rulefile"), str(tmp_path)), ())
    k = OutputKinds(g)
    jobs = by_id(g)
    (tmp_path / "fit").mkdir()
    (tmp_path / "fit" / "d0.txt").write_text("m")
    (tmp_path / "fit" / "d1.txt").write_text("m")
    make_read_only(str(tmp_path / "fit" / "d0.txt"))
    assert in_the_way(k, [jobs["fit[d0]"], jobs["fit[d1]"]]) == [(jobs["fit[d0]"], "fit/d0.txt")]  # d1 is writable
