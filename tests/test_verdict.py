"""The remembered "all up to date" verdict holds exactly while nothing it depends on changes."""

import json
import os
import pickle
import time

import pytest

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


def test_without_a_state_folder_it_is_kept_in_the_user_cache(tmp_path):
    # outputs made by another tool: no .rulec/, and a dry run never makes one
    target = project(tmp_path)
    os.rmdir(tmp_path / ".rulec")
    assert api.plan(target).plan.run == []
    assert not (tmp_path / ".rulec").exists()
    assert verdict_now(target) == 2
    (kept,) = [f for f in os.listdir(verdict.cache_folder()) if f == os.path.basename(verdict._file(str(tmp_path), target))]
    assert kept.endswith(verdict.CACHED_SUFFIX)
    assert verdict.check_before_load(target, PlanOptions()) is None  # api.plan kept no pre-load key
    os.utime(tmp_path / "src" / "a.in")  # the input changed since: the verdict does not hold
    assert verdict_now(target) is None
    assert [j.rule.name if hasattr(j, "rule") else j for j in api.plan(target).plan.run]


def test_a_state_folder_made_later_takes_over_from_the_user_cache(tmp_path):
    target = project(tmp_path)
    os.rmdir(tmp_path / ".rulec")
    api.plan(target)
    assert verdict_now(target) == 2
    (tmp_path / ".rulec").mkdir()  # a run made the state store: its verdict is the project's
    assert verdict_now(target) is None
    api.plan(target)
    assert (tmp_path / ".rulec" / verdict.FILE).exists()
    assert verdict_now(target) == 2


def test_each_rulefile_of_a_folder_has_its_own_cached_verdict(tmp_path):
    target = project(tmp_path)
    os.rmdir(tmp_path / ".rulec")
    (tmp_path / "Other.rules").write_text(RULEFILE.replace("cp {input}", "cat {input} >"))
    other = api.Target(str(tmp_path / "Other.rules"))
    api.plan(target)
    api.plan(other)
    assert verdict_now(target) == 2 and verdict_now(other) == 2
    assert verdict._file(str(tmp_path), target) != verdict._file(str(tmp_path), other)


def test_a_damaged_cached_verdict_means_a_full_plan(tmp_path):
    target = project(tmp_path)
    os.rmdir(tmp_path / ".rulec")
    api.plan(target)
    path = verdict._file(str(tmp_path), target)
    with open(path, "wb") as fh:
        pickle.dump({"x": 1}, fh)
    assert verdict_now(target) is None
    assert api.plan(target).plan.run == []
    assert verdict_now(target) == 2


def test_a_verdict_others_could_have_written_is_not_believed(tmp_path):
    """A verdict says which jobs need no look: only rulec's own file, which nobody else may
    write, is read."""
    target = project(tmp_path)
    api.plan(target)
    assert verdict_now(target) == 2
    path = verdict._file(str(tmp_path), target)
    os.chmod(path, 0o666)
    assert verdict_now(target) is None
    os.chmod(path, 0o600)
    assert verdict_now(target) == 2


def test_cached_verdicts_are_pruned_to_the_budget(tmp_path, monkeypatch):
    monkeypatch.setattr(verdict, "CACHE_BUDGET", 1)
    paths = []
    for k in range(3):
        proj = tmp_path / f"p{k}"
        proj.mkdir()
        target = project(proj)
        os.rmdir(proj / ".rulec")
        api.plan(target)
        paths.append(verdict._file(str(proj), target))
        past = time.time() - 100 + k
        os.utime(paths[-1], (past, past))
    # the newest always stays; with a budget of one byte, only it
    assert [os.path.exists(p) for p in paths] == [False, False, True]


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


# --------------------------------------------------------------------------- nothing runs code

class _Payload:
    """Unpickling this creates the file ``marker``: what a hostile verdict could do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


OLD_FILE = "uptodate.pickle"  # where a pickle-era rulec kept its verdict


def test_a_planted_pickle_runs_nothing(tmp_path):
    target = project(tmp_path)
    proof = tmp_path / "proof"
    pickle.loads(pickle.dumps(_Payload(proof)))  # the payload does run code when unpickled
    assert proof.exists()
    marker = tmp_path / "marker"
    payload = pickle.dumps({"key": "x", "boom": _Payload(marker)})
    for name in (OLD_FILE, verdict.FILE):
        (tmp_path / ".rulec" / name).write_bytes(payload)
    assert verdict_now(target) is None
    assert not marker.exists()
    assert api.plan(target).plan.run == []  # the full plan
    assert not marker.exists()
    # the verdict written then is data, and the old file is gone
    assert not (tmp_path / ".rulec" / OLD_FILE).exists()
    assert verdict_now(target) == 2
    assert not marker.exists()


def test_an_old_pickle_verdict_is_not_trusted(tmp_path):
    """A well-formed verdict of a pickle-era rulec (the same key, the same stats) is not read."""
    target = project(tmp_path)
    api.plan(target)
    assert verdict_now(target) == 2
    os.replace(tmp_path / ".rulec" / verdict.FILE, tmp_path / ".rulec" / OLD_FILE)
    assert verdict_now(target) is None


def test_unusual_names_keep_it(tmp_path):
    target = project(tmp_path)
    text = RULEFILE.replace('["a", "b"]', '["a", "b", "é c\\nd"]')
    (tmp_path / "Rulefile").write_text(text)
    past = time.time() - 100
    odd = "é c\nd"
    (tmp_path / "src" / f"{odd}.in").write_text("x")
    os.utime(tmp_path / "src" / f"{odd}.in", (past, past))
    (tmp_path / "out" / f"{odd}.txt").write_text("x")
    assert api.plan(target).plan.run == []
    assert verdict_now(target) == 3
    header, body = _header_and_body(tmp_path)
    assert odd.encode() in body and header["jobs"] == 3
    os.utime(tmp_path / "src" / f"{odd}.in")
    assert verdict_now(target) is None


# --------------------------------------------------------------------------- damaged files

def _header_and_body(tmp_path):
    data = (tmp_path / ".rulec" / verdict.FILE).read_bytes()
    end = data.index(b"\n")
    return json.loads(data[:end]), data[end + 1 :]


def _with_header(change):
    def make(tmp_path):
        header, body = _header_and_body(tmp_path)
        change(header)
        return json.dumps(header).encode() + b"\n" + body
    return make


def _constant(data: bytes):
    return lambda tmp_path: data


DAMAGED = {  # name -> the file's bytes, made from the good file of a full plan
    "empty": _constant(b""),
    "truncated": lambda tmp_path: (tmp_path / ".rulec" / verdict.FILE).read_bytes()[:-5],
    "one byte more": lambda tmp_path: (tmp_path / ".rulec" / verdict.FILE).read_bytes() + b"\0",
    "no header line": _constant(b'{"key": 5}'),
    "a list": _constant(b"[1,2,3]\n"),
    "an object of another shape": _constant(b'{"key": 5}\n'),
    "not json": _constant(b"\x80\x05garbage\n"),
    "deeply nested": _constant(b"[" * 100_000 + b"]" * 100_000 + b"\n"),
    "another version": _with_header(lambda h: h.update(version=h["version"] + 1)),
    "another byte order": _with_header(lambda h: h.update(byteorder="big" if h["byteorder"] == "little" else "little")),
    "a key that is not a string": _with_header(lambda h: h.update(key=[h["key"]])),
    "a job count that is a string": _with_header(lambda h: h.update(jobs="2")),
    "a job count that is a bool": _with_header(lambda h: h.update(jobs=True)),
    "a negative job count": _with_header(lambda h: h.update(jobs=-1)),
    "folders that are an object": _with_header(lambda h: h.update(folders={"a": 1})),
    "a folder of the wrong shape": _with_header(lambda h: h["folders"].append([1, 2, 3])),
    "a folder with one name too many": _with_header(lambda h: h["folders"][0].__setitem__(1, h["folders"][0][1] + 1)),
    "a folder with a huge count": _with_header(lambda h: h["folders"][0].__setitem__(1, 10**30)),
    "a negative length": _with_header(lambda h: h["folders"][0].__setitem__(2, -1)),
    "a remote entry of the wrong shape": _with_header(lambda h: h.update(remote=[["s3://b/k", "x", 1]])),
}


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_a_damaged_file_means_a_full_plan(name, tmp_path):
    target = project(tmp_path)
    api.plan(target)
    assert verdict_now(target) == 2
    header, _ = _header_and_body(tmp_path)  # the good file: a JSON line, then the stats
    assert header["format"] == verdict.MAGIC and header["jobs"] == 2
    (tmp_path / ".rulec" / verdict.FILE).write_bytes(DAMAGED[name](tmp_path))
    assert verdict_now(target) is None
    assert api.plan(target).plan.run == []
    assert verdict_now(target) == 2  # written again by that full plan


def _returns_soon(call, seconds: float = 10.0):
    """``call()``'s result, or an AssertionError if it is still blocked after ``seconds``."""
    import threading

    out = []
    thread = threading.Thread(target=lambda: out.append(call()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "blocked"
    return out[0]


@pytest.mark.parametrize("kind", ["fifo", "link to /dev/zero", "folder"])
def test_a_file_that_is_not_a_regular_file_means_a_full_plan(kind, tmp_path):
    target = project(tmp_path)
    api.plan(target)
    path = tmp_path / ".rulec" / verdict.FILE
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    else:
        os.symlink("/dev/zero", path)
    assert _returns_soon(lambda: verdict_now(target)) is None


def test_a_file_changed_deep_inside_a_directory_output_voids_it(tmp_path):
    (tmp_path / "Rulefile").write_text('''
rule all:
    input: "out/list.txt"
rule index:
    output: directory("idx")
    shell: "mkdir -p {output}/sub && echo x > {output}/sub/f"
rule use:
    input: "idx"
    output: "out/list.txt"
    shell: "ls -R {input} > {output}"
''')
    (tmp_path / "idx" / "sub").mkdir(parents=True)
    (tmp_path / "idx" / "sub" / "f").write_text("x")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "list.txt").write_text("listed")
    (tmp_path / ".rulec").mkdir()
    past = time.time() - 100
    for p in ("idx/sub/f", "idx/sub", "idx"):
        os.utime(tmp_path / p, (past, past))
    target = api.Target(str(tmp_path / "Rulefile"))
    assert api.plan(target).plan.run == []
    assert verdict_now(target) == 2
    folders = [os.stat(tmp_path / p) for p in ("idx", "idx/sub")]
    (tmp_path / "idx" / "sub" / "f").write_text("y")  # the folders' own stats stay as they were
    os.utime(tmp_path / "idx" / "sub" / "f", (past + 1, past + 1))
    assert [os.stat(tmp_path / p) for p in ("idx", "idx/sub")] == folders
    assert verdict_now(target) is None


# ---- checked before loading (verdict.check_before_load)


def before_load(target, options=PlanOptions()):
    return verdict.check_before_load(target, options)


def test_checked_before_loading_when_kept_so(tmp_path):
    target = project(tmp_path)
    api.plan(target)  # not kept for a check before loading: the caller did not say it may be
    assert verdict_now(target) == 2 and before_load(target) is None
    api.plan(target, before_load=True)
    assert before_load(target) == 2
    (tmp_path / "out" / "a.txt").write_text("changed")
    assert before_load(target) is None


@pytest.mark.parametrize("edit", ["rulefile", "config", "sheet"])
def test_an_edited_file_of_the_load_voids_it_before_loading(edit, tmp_path):
    target = project(tmp_path)
    text = RULEFILE.replace('dimension d = ["a", "b"]', 'config "c.toml"\ndimension d = table("d.tsv")')
    text = text.replace('"cp {input} {output}"', '"cp {input} {output} # {config.x}"')
    (tmp_path / "Rulefile").write_text(text)
    (tmp_path / "c.toml").write_text("x = 1\n")
    (tmp_path / "d.tsv").write_text("d\tnote\na\tfirst\nb\tsecond\n")
    api.plan(target, before_load=True)
    assert before_load(target) == 2
    if edit == "rulefile":
        (tmp_path / "Rulefile").write_text(text + "\n# a comment\n")
    elif edit == "config":
        (tmp_path / "c.toml").write_text("x = 2\n")
    else:
        (tmp_path / "d.tsv").write_text("d\tnote\na\tfirst\nb\tthird\n")
    assert before_load(target) is None


def test_other_targets_options_or_folders_do_not_share_it_before_loading(tmp_path, monkeypatch):
    target = project(tmp_path)
    api.plan(target, before_load=True)
    assert before_load(target) == 2
    assert before_load(api.Target(target.rulefile, targets=("out/a.txt",))) is None
    assert before_load(api.Target(target.rulefile, config=("x=1",))) is None
    assert before_load(target, PlanOptions(force=frozenset({"make"}))) is None
    monkeypatch.chdir(tmp_path / "src")  # the same names, read from elsewhere
    assert before_load(target) is None


def test_a_glob_dimension_is_never_checked_before_loading(tmp_path):
    target = project(tmp_path)
    (tmp_path / "Rulefile").write_text(RULEFILE.replace('dimension d = ["a", "b"]', 'dimension d = glob("src/{d}.in")'))
    api.plan(target, before_load=True)
    assert verdict_now(target) == 2  # kept, but only for after loading: a new file would add a value
    assert before_load(target) is None


def test_a_load_with_a_warning_is_never_checked_before_loading(tmp_path):
    target = project(tmp_path)
    # {dataset} is one edit from the dimension {datasets}: a warning (in a rule no target needs)
    text = RULEFILE.replace('dimension d = ["a", "b"]', 'dimension d = ["a", "b"]\ndimension datasets = ["x"]')
    (tmp_path / "Rulefile").write_text(text + 'rule other:\n    output: "other/{dataset}.txt"\n    shell: "touch {output}"\n')
    workflow = api.load(target)
    assert workflow.warned and api.load(target).warned  # the second load too, though it prints nothing
    api.plan(target, before_load=True, workflow=workflow)
    assert verdict_now(target) == 2
    assert before_load(target) is None


# ---- after an edit of some rules (verdict.fresh_rules)

CHAIN = '''
dimension d:
    a: note="first"
    b: note="second"
rule all:
    input: expand("sum/{d}.txt")
rule make:
    input: "src/{d}.in"
    output: "out/{d}.txt"
    shell: "cp {input} {output}"
rule sum:
    input: "out/{d}.txt"
    output: "sum/{d}.txt"
    shell: "cat {input} > {output} # {d.note}"
'''


def chain(tmp_path):
    from rulec.history import Record

    target = project(tmp_path)
    (tmp_path / "Rulefile").write_text(CHAIN)
    (tmp_path / "sum").mkdir()
    for d in "ab":
        (tmp_path / "sum" / f"{d}.txt").write_text(d)
    history = History.open(str(tmp_path), write=True)  # every job recorded as built from what is there now
    try:
        planned = api.plan(target, PlanOptions(force_all=True), history=history)
        from rulec.run.record import Recorder

        recorder = Recorder(planned.graph)
        history.record([recorder.finished(j) for j in planned.plan.run])
    finally:
        history.close()
    assert api.plan(target).plan.run == []  # remembered
    return target


def full_and_fresh(target):
    """The plan made from the kept verdict and the plan made from scratch, as job ids and reasons."""
    from rulec.plan import plan as make_plan
    from rulec.state import snapshot

    wf = api.load(target)
    graph = api.graph_of(wf, target)
    found = verdict.fresh_rules(wf, target, PlanOptions())
    history = History.open(wf.workdir)
    full = make_plan(graph, snapshot(api.paths_of(graph), wf.workdir, trees=graph.directories()), history)
    shown = lambda p: [(graph.job_id(j), [(r.why, r.path, r.job) for r in p.reasons[j]]) for j in p.run]  # noqa: E731
    if found is None:
        return shown(full), None, None
    rules, snap = found
    return shown(full), shown(make_plan(graph, snap, history, PlanOptions(), rules)), {wf.rules[i].name for i in rules}


def test_after_an_edit_of_one_command_only_its_rule_is_planned(tmp_path):
    target = chain(tmp_path)
    (tmp_path / "Rulefile").write_text(CHAIN.replace('"cp {input} {output}"', '"cp -p {input} {output}"'))
    full, fresh, rules = full_and_fresh(target)
    assert rules == {"all", "sum"}
    assert fresh == full
    assert sorted(j for j, _ in full) == ["make[a]", "make[b]", "sum[a]", "sum[b]"]


@pytest.mark.parametrize("edit", [
    ("params", 'shell: "cat {input} > {output} # {d.note}"', 'params: n=1\n    shell: "cat {input} > {output} # {d.note} {params.n}"'),
    ("a field the command uses", 'note="first"', 'note="other"'),
    ("a comment and a blank line", "rule all:", "# the rules\n\nrule all:"),
    ("an output path", '"out/{d}.txt"\n    shell: "cp', '"out/{d}.csv"\n    shell: "cp'),
    ("a dimension value", 'b: note="second"', 'b: note="second"\n    c: note="third"'),  # src/c.in is made below
])
def test_the_plan_from_the_kept_verdict_is_the_full_plan(edit, tmp_path):
    target = chain(tmp_path)
    _, old, new = edit
    text = CHAIN.replace(old, new)
    if "out/{d}.csv" in new:
        text = text.replace('input: "out/{d}.txt"', 'input: "out/{d}.csv"')
    (tmp_path / "src" / "c.in").write_text("c")
    (tmp_path / "Rulefile").write_text(text)
    full, fresh, _ = full_and_fresh(target)
    assert fresh is None or fresh == full


def test_after_an_edit_the_jobs_of_rules_it_does_not_reach_are_never_read(tmp_path, monkeypatch):
    from rulec import graphs
    from rulec.plan import plan as make_plan

    target = chain(tmp_path)
    (tmp_path / "Rulefile").write_text(CHAIN.replace("cat {input} > {output}", "cat {input} >| {output}"))
    full, _, _ = full_and_fresh(target)
    wf = api.load(target)
    graph = api.graph_of(wf, target, lazy=True)
    assert isinstance(graph.inputs, graphs.Rows)
    read: set[int] = set()
    real = graphs.Rows.__getitem__

    def recorded(self, j):
        read.add(j)
        return real(self, j)

    monkeypatch.setattr(graphs.Rows, "__getitem__", recorded)
    rules, snap = verdict.fresh_rules(wf, target, PlanOptions())
    planned = make_plan(graph, snap, History.open(wf.workdir), PlanOptions(), rules)
    # make is upstream of the edited rule only: none of its jobs is looked at
    assert {graph.rule_of(j).name for j in read} == {"sum", "all"}
    assert [(graph.job_id(j), [(r.why, r.path, r.job) for r in planned.reasons[j]]) for j in planned.run] == full
    assert sorted(j for j, _ in full) == ["sum[a]", "sum[b]"]
    assert len(planned.groups) == 1  # rule all: a group, counted as such


def test_a_changed_file_means_no_rule_is_taken_as_up_to_date(tmp_path):
    target = chain(tmp_path)
    (tmp_path / "Rulefile").write_text(CHAIN.replace('"cp {input} {output}"', '"cp -p {input} {output}"'))
    os.utime(tmp_path / "sum" / "a.txt", (1, 1))
    full, fresh, _ = full_and_fresh(target)
    assert fresh is None
    assert "sum[a]" in [j for j, _ in full]


def test_after_an_edit_the_edited_rules_inputs_are_not_signed_again(tmp_path, monkeypatch):
    """The kept verdict says every input is as it was: an edited rule's jobs are asked only
    about what an edit changes, with the same plan as a full one."""
    from rulec import plan as plan_mod
    from rulec.plan import plan as make_plan

    target = chain(tmp_path)
    (tmp_path / "Rulefile").write_text(CHAIN.replace("cat {input} > {output}", "cat {input} >| {output}"))
    full, _, _ = full_and_fresh(target)
    signed = []
    real = plan_mod.input_signature
    monkeypatch.setattr(plan_mod, "input_signature", lambda *a, **k: signed.append(a) or real(*a, **k))
    monkeypatch.setattr(plan_mod, "inputs_hash", lambda *a, **k: signed.append(a) or "")
    wf = api.load(target)
    graph = api.graph_of(wf, target, lazy=True)
    rules, snap = verdict.fresh_rules(wf, target, PlanOptions())
    planned = make_plan(graph, snap, History.open(wf.workdir), PlanOptions(), rules)
    assert signed == []
    assert [(graph.job_id(j), [(r.why, r.path, r.job) for r in planned.reasons[j]]) for j in planned.run] == full
    assert [r.why for j in planned.run for r in planned.reasons[j]] == [plan_mod.Why.COMMAND_CHANGED] * 2


def test_the_kept_verdicts_stats_are_made_folder_by_folder_as_asked(tmp_path):
    from rulec.state import snapshot

    target = chain(tmp_path)
    (tmp_path / "Rulefile").write_text(CHAIN.replace("cat {input} > {output}", "cat {input} >| {output}"))
    wf = api.load(target)
    graph = api.graph_of(wf, target)
    _, snap = verdict.fresh_rules(wf, target, PlanOptions())
    stats = snap._stats
    assert stats._folders and dict.__len__(stats) == 0  # nothing made yet
    real = snapshot(api.paths_of(graph), wf.workdir, trees=graph.directories())
    assert snap.lookup("sum/a.txt") == real.get("sum/a.txt") is not None
    assert "sum" not in stats._folders and "out" in stats._folders  # only the folder asked for
    assert "out/b.txt" in snap and snap.get("nope/x") is None and not snap.exists("sum/none")
    assert snap.as_dict() == real.as_dict() and len(snap) == len(real)
    snap.update("out/a.txt", None)
    assert "out/a.txt" not in snap
