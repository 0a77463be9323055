"""The remembered "all up to date" verdict holds exactly while nothing it depends on changes."""

import os
import time

from rulec import api, verdict
from rulec.history import History
from rulec.plan import PlanOptions

RULEFILE = '''
dimension d = ["a", "b"]
rule all:
    input: expand("out/{d}.txt")
rule make:
    input: "src/{d}.in"
    output: "out/{d}.txt"
    shell: "cp {input} {output}"
'''


def project(tmp_path):
    (tmp_path / "Rulefile").write_text(RULEFILE)
    (tmp_path / "src").mkdir()
    (tmp_path / "out").mkdir()
    past = time.time() - 100
    for d in "ab":
        (tmp_path / "src" / f"{d}.in").write_text(d)
        os.utime(tmp_path / "src" / f"{d}.in", (past, past))
        (tmp_path / "out" / f"{d}.txt").write_text(d)
    (tmp_path / ".rulec").mkdir()
    return api.Target(str(tmp_path / "Rulefile"))


def verdict_now(target, options=PlanOptions()):
    return api.up_to_date(api.load(target), target, options)


def test_kept_after_an_empty_plan_and_reused(tmp_path):
    target = project(tmp_path)
    assert verdict_now(target) is None
    planned = api.plan(target)
    assert planned.plan.run == []
    assert verdict_now(target) == 2


def test_not_kept_without_a_state_folder(tmp_path):
    target = project(tmp_path)
    os.rmdir(tmp_path / ".rulec")
    api.plan(target)
    assert not (tmp_path / ".rulec").exists()
    assert verdict_now(target) is None


def test_a_changed_input_mtime_or_a_removed_output_voids_it(tmp_path):
    target = project(tmp_path)
    api.plan(target)
    os.utime(tmp_path / "src" / "a.in")  # now: newer than the output
    assert verdict_now(target) is None
    assert [planned for planned in api.plan(target).plan.run]  # and the full plan sees it


def test_a_removed_output_or_folder_voids_it(tmp_path):
    target = project(tmp_path)
    api.plan(target)
    os.unlink(tmp_path / "out" / "b.txt")
    assert verdict_now(target) is None
    (tmp_path / "again").mkdir()
    target = project(tmp_path / "again")
    api.plan(target)
    for name in ("a.txt", "b.txt"):
        os.unlink(tmp_path / "again" / "out" / name)
    os.rmdir(tmp_path / "again" / "out")
    assert verdict_now(target) is None


def test_a_new_size_with_the_same_mtime_voids_it(tmp_path):
    target = project(tmp_path)
    api.plan(target)
    out = tmp_path / "out" / "a.txt"
    st = os.stat(out)
    out.write_text("longer content")
    os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert verdict_now(target) is None


def test_an_unrelated_file_beside_the_outputs_keeps_it(tmp_path):
    target = project(tmp_path)
    api.plan(target)
    (tmp_path / "out" / "notes.txt").write_text("mine")
    assert verdict_now(target) == 2


def test_an_edited_rulefile_voids_it(tmp_path):
    target = project(tmp_path)
    api.plan(target)
    (tmp_path / "Rulefile").write_text(RULEFILE.replace("cp {input} {output}", "cat {input} > {output}"))
    assert verdict_now(target) is None


def test_a_write_to_the_state_store_voids_it(tmp_path):
    target = project(tmp_path)
    api.plan(target)
    assert verdict_now(target) == 2
    history = History.open(str(tmp_path), write=True)
    history.forget(["nothing"])
    history.close()
    assert verdict_now(target) is None


def test_other_targets_or_options_do_not_share_it(tmp_path):
    target = project(tmp_path)
    api.plan(target)
    assert verdict_now(api.Target(target.rulefile, targets=("out/a.txt",))) is None
    assert verdict_now(target, PlanOptions(force_all=True)) is None


def test_a_damaged_cache_means_a_full_plan(tmp_path):
    target = project(tmp_path)
    api.plan(target)
    (tmp_path / ".rulec" / verdict.FILE).write_bytes(b"garbage")
    assert verdict_now(target) is None
