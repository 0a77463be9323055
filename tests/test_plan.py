"""plan() is pure: literal snapshots and histories, no disk."""

import pytest

from rulec import shell
from rulec.errors import ResolveError
from rulec.history import History, Record
from rulec.plan import PlanOptions, Reason, Why, input_signature, inputs_hash, plan
from rulec.state import Snapshot

from helpers import SMALL, graph

T = 1_000_000_000  # one second in ns


def all_paths(g):
    return {p for outs in g.outputs for p in outs}


def fresh_snapshot(g, t=10 * T):
    """Every output exists and is newer than every source."""
    stats = {p: (t, 1) for p in all_paths(g)}
    stats["src/data.csv"] = (T, 1)
    return Snapshot(stats)


def records_for(g, snap, **override):
    """A history saying every job was built from the current state."""
    renderers = shell.renderers(g)
    out = []
    for job in g.order:
        if not g.outputs[job]:
            continue
        jid = g.job_id(job)
        r = renderers[g.rule[job]]
        rec = Record(
            jid, g.rule_of(job).name, "ok",
            shell.command_key(g, renderers, job),
            shell.params_hash(r, g.values[job]),
            inputs_hash(g.inputs[job]),
            input_signature(g.inputs[job], snap.get, g.ancient(job)),
        )
        out.append(rec._replace(**override.get(jid, {})))
    return History.of(out)


def whys(p, g):
    return {g.job_id(j): [r.why for r in p.reasons[j]] for j in p.run}


@pytest.mark.parametrize("name,message", [
    ("nope", "--force 'nope': not a rule name or job id"),
    ("fitt", "--force 'fitt': not a rule name or job id (did you mean rule 'fit'?)"),
    ("fit[zz,m0]", "--force 'fit[zz,m0]': 'zz' is not a value of dimension dataset"),
    ("fit[d00,m0]", "--force 'fit[d00,m0]': 'd00' is not a value of dimension dataset (did you mean 'd0'?)"),
    ("fit[d0]", "--force 'fit[d0]': rule fit has 2 wildcard(s) (dataset, model), 1 value(s) given"),
    ("all[x]", "--force 'all[x]': rule all has no wildcards: its one job is 'all'"),
])
def test_a_force_name_that_names_no_rule_or_job_is_refused_as_a_bad_target_is(name, message):
    g = graph()
    snap = fresh_snapshot(g)
    for options in (PlanOptions(force=frozenset({name})), PlanOptions(force=frozenset({name, "fit"}), force_all=True)):
        with pytest.raises(ResolveError) as info:
            plan(g, snap, records_for(g, snap), options)
        assert info.value.message == message
        assert info.value.exit_code == 2


def test_nothing_exists_every_job_runs_because_its_output_is_missing():
    g = graph()
    p = plan(g, Snapshot({"src/data.csv": (T, 1)}), History.empty())
    assert len(p.run) == 8
    assert all(w == [Why.OUTPUT_MISSING] for w in whys(p, g).values())
    assert p.reasons[p.run[0]][0].path == "bld/prepared/d0.csv"
    assert [g.job_id(j) for j in p.groups] == ["all"]


def test_missing_source_is_an_error_naming_the_file_and_the_job():
    g = graph()
    with pytest.raises(ResolveError, match=r"missing input 'src/data.csv', needed by prepare\[d0\], and no rule makes it"):
        plan(g, Snapshot({}), History.empty())


def test_with_missing_sources_allowed_a_missing_source_is_a_reason_not_an_error():
    g = graph()
    p = plan(g, Snapshot({}), History.empty(), PlanOptions(missing_sources_ok=True))
    first = {g.job_id(j): p.reasons[j][0] for j in p.run}
    assert first["prepare[d0]"].why is Why.INPUT_MISSING and first["prepare[d0]"].path == "src/data.csv"
    assert len(p.run) == 8  # the others still run (their outputs are missing)


def test_up_to_date_without_history_by_mtime_like_make():
    g = graph()
    p = plan(g, fresh_snapshot(g), History.empty())
    assert p.run == []


def test_input_newer_without_history_reruns_it_and_everything_downstream():
    g = graph()
    snap = fresh_snapshot(g)
    snap.update("bld/prepared/d1.csv", (20 * T, 1))
    p = plan(g, snap, History.empty())
    w = whys(p, g)
    assert w == {
        "fit[d1,m0]": [Why.INPUT_NEWER],
        "fit[d1,m1]": [Why.INPUT_NEWER],
        "summarize[m0]": [Why.UPSTREAM],
        "summarize[m1]": [Why.UPSTREAM],
    }


def test_remote_times_are_whole_seconds_so_a_second_of_slack_applies_to_them():
    from helpers import graph as make_graph

    text = '''
rule up:
    input: "src/a.txt"
    output: "s3://bucket/out/a.txt"
    shell: "cp {input} {output}"
rule down:
    input: "s3://bucket/raw/b.txt"
    output: "bld/b.txt"
    shell: "cp {input} {output}"
'''
    g = make_graph(text, targets=["s3://bucket/out/a.txt", "bld/b.txt"])
    # a: written at 10.6 s, uploaded at 10.7 s, read back as 10 s: not newer.
    # b: a remote input reads as older than it is (20.x s as 20 s), so no slack: newer.
    snap = Snapshot({"src/a.txt": (10 * T + 6 * T // 10, 1), "s3://bucket/out/a.txt": (10 * T, 1),
                     "s3://bucket/raw/b.txt": (20 * T, 1), "bld/b.txt": (19 * T + T // 2, 1)})
    assert whys(plan(g, snap, History.empty()), g) == {"down": [Why.INPUT_NEWER]}
    # more than a second apart is a real change for a remote output too
    snap.update("src/a.txt", (11 * T + 1, 1))
    assert sorted(whys(plan(g, snap, History.empty()), g).items()) == [
        ("down", [Why.INPUT_NEWER]), ("up", [Why.INPUT_NEWER])]
    # local paths keep make's exact comparison
    local = Snapshot({"src/a.txt": (10 * T + 1, 1), "bld/x.txt": (10 * T, 1)})
    g2 = make_graph('''
rule x:
    input: "src/a.txt"
    output: "bld/x.txt"
    shell: "cp {input} {output}"
''', targets=["bld/x.txt"])
    assert whys(plan(g2, local, History.empty()), g2) == {"x": [Why.INPUT_NEWER]}


def test_with_history_everything_recorded_is_up_to_date():
    g = graph()
    snap = fresh_snapshot(g)
    assert plan(g, snap, records_for(g, snap)).run == []


def test_with_history_a_changed_input_signature_reruns_even_if_older():
    g = graph()
    snap = fresh_snapshot(g)
    hist = records_for(g, snap)
    snap.update("src/data.csv", (T // 2, 7))  # replaced by an older file of another size
    p = plan(g, snap, hist)
    w = whys(p, g)
    assert w["prepare[d0]"] == [Why.INPUT_CHANGED]
    assert w["fit[d0,m0]"] == [Why.UPSTREAM]
    assert len(p.run) == 8


def test_command_params_and_input_set_changes():
    g = graph()
    snap = fresh_snapshot(g)
    hist = records_for(g, snap, **{
        "fit[d0,m0]": {"cmd_hash": "old"},
        "fit[d1,m1]": {"params_hash": "old"},
        "summarize[m0]": {"inputs_hash": "old"},
    })
    w = whys(plan(g, snap, hist), g)
    assert w == {
        "fit[d0,m0]": [Why.COMMAND_CHANGED],
        "fit[d1,m1]": [Why.PARAMS_CHANGED],
        "summarize[m0]": [Why.UPSTREAM],
        "summarize[m1]": [Why.UPSTREAM],
    }


def test_jobs_this_process_recorded_are_asked_about_their_inputs_stats_only():
    """``recorded`` (a run's end): the records were made from this graph by this process, so
    only the inputs' stats are compared; a changed input is still found, with what follows."""
    g = graph()
    snap = fresh_snapshot(g)
    everyone = {g.job_id(j) for j in range(len(g)) if g.outputs[j]}
    hist = records_for(g, snap)
    assert plan(g, snap, hist, recorded=everyone).run == []
    snap.update("bld/prepared/d1.csv", (20 * T, 5))  # changed after its readers ran
    assert whys(plan(g, snap, hist, recorded=everyone), g) == whys(plan(g, snap, hist), g) == {
        "fit[d1,m0]": [Why.INPUT_CHANGED], "fit[d1,m1]": [Why.INPUT_CHANGED],
        "summarize[m0]": [Why.UPSTREAM], "summarize[m1]": [Why.UPSTREAM]}
    # what the caller vouches for is not hashed again: a command hash from elsewhere passes
    # for a job it names, and is found for one it does not
    snap = fresh_snapshot(g)
    hist = records_for(g, snap, **{"fit[d0,m0]": {"cmd_hash": "old"}, "fit[d0,m1]": {"cmd_hash": "old"}})
    w = whys(plan(g, snap, hist, recorded=everyone - {"fit[d0,m1]"}), g)
    assert w == {"fit[d0,m1]": [Why.COMMAND_CHANGED], "summarize[m1]": [Why.UPSTREAM]}


def test_incomplete_job_from_a_crashed_run():
    g = graph()
    snap = fresh_snapshot(g)
    hist = records_for(g, snap, **{"prepare[d0]": {"status": "running"}})
    w = whys(plan(g, snap, hist), g)
    assert w["prepare[d0]"] == [Why.INCOMPLETE]
    assert w["fit[d0,m1]"] == [Why.UPSTREAM]
    assert "prepare[d1]" not in w


def test_force_rule_id_and_all():
    g = graph()
    snap = fresh_snapshot(g)
    hist = records_for(g, snap)
    w = whys(plan(g, snap, hist, PlanOptions(force=frozenset({"summarize"}))), g)
    assert w == {"summarize[m0]": [Why.FORCED], "summarize[m1]": [Why.FORCED]}
    w = whys(plan(g, snap, hist, PlanOptions(force=frozenset({"fit[d1,m0]"}))), g)
    assert w == {"fit[d1,m0]": [Why.FORCED], "summarize[m0]": [Why.UPSTREAM]}
    assert len(plan(g, snap, hist, PlanOptions(force_all=True)).run) == 8


def test_explain_collects_every_reason():
    g = graph()
    snap = fresh_snapshot(g)
    hist = records_for(g, snap, **{"fit[d0,m0]": {"cmd_hash": "old", "params_hash": "old"}})
    snap.update("bld/fit/d0_m0.json", None)
    p = plan(g, snap, hist, PlanOptions(explain=True))
    job = g.find(2, ("d0", "m0"))
    assert [r.why for r in p.reasons[job]] == [Why.OUTPUT_MISSING, Why.COMMAND_CHANGED, Why.PARAMS_CHANGED]


def test_persist_ignores_input_changes_but_not_missing_outputs():
    text = SMALL.replace('    shell:  "cp {input} {output}"', '    shell:  "cp {input} {output}"\n    persist: true')
    g = graph(text)
    snap = fresh_snapshot(g)
    snap.update("src/data.csv", (99 * T, 1))
    assert whys(plan(g, snap, History.empty()), g) == {}
    snap.update("bld/prepared/d0.csv", None)
    assert whys(plan(g, snap, History.empty()), g)["prepare[d0]"] == [Why.OUTPUT_MISSING]


def test_tolerance_for_coarse_clocks():
    g = graph()
    snap = fresh_snapshot(g)
    snap.update("src/data.csv", (10 * T + T // 2, 1))  # half a second newer
    assert len(plan(g, snap, History.empty()).run) > 0
    assert plan(g, snap, History.empty(), PlanOptions(tolerance_ns=T)).run == []


def test_a_rule_without_outputs_but_with_a_command_always_runs():
    text = '''
rule hello:
    shell: "echo hello"
'''
    g = graph(text)
    p = plan(g, Snapshot({}), History.empty())
    assert whys(p, g) == {"hello": [Why.NO_OUTPUTS]}


def test_whitespace_only_command_edits_do_not_count():
    assert shell.command_hash("  echo  a   b  \n\n") == shell.command_hash("echo a b")
    assert shell.command_hash("echo a b") != shell.command_hash("echo a c")
    assert shell.command_hash("echo a\nb") != shell.command_hash("echo a b")  # two commands, not one
    assert shell.command_hash('echo "a  b"') != shell.command_hash('echo "a b"')  # quoted text is data
    reindented = SMALL.replace('"echo {model} {params.seed} > {output}"', '"""\n        echo   {model}   {params.seed} >  {output}\n    """')
    assert reindented != SMALL
    a, b = graph(), graph(reindented)
    ra, rb = shell.renderers(a), shell.renderers(b)
    job = a.find(2, ("d0", "m1"))
    assert shell.command_key(a, ra, job) == shell.command_key(b, rb, job)
    assert shell.command_of(a, ra, job) == "echo m1 42 > bld/fit/d0_m1.json"


ENV_SMALL = SMALL + '''
label java:
    env: JAVA_HOME="/opt/java11"
'''


def test_an_env_change_reruns_exactly_the_jobs_of_that_label_saying_which_variable():
    text = ENV_SMALL.replace('rule summarize:', 'rule summarize:\n    label: java', 1)
    assert 'label: java' in text
    g = graph(text)
    snap = fresh_snapshot(g)
    rs = shell.renderers(g)
    hist = records_for(g, snap)
    hist = History.of(r._replace(params_hash=r.params_hash + shell.env_key(g, rs, j))
                      for j in g.order if g.outputs[j] for r in [hist.get(g.job_id(j))])
    assert plan(g, snap, hist).run == []
    g2 = graph(text.replace("/opt/java11", "/opt/java17"))
    p = plan(g2, snap, hist)
    assert whys(p, g2) == {"summarize[m0]": [Why.ENV_CHANGED], "summarize[m1]": [Why.ENV_CHANGED]}
    from rulec import report

    assert report.reason_text(p.reasons[p.run[0]][0]) == "environment changed: JAVA_HOME"


# ---------------------------------------------------------------- temp() outputs

TEMP_RULES = '''
dimension dataset = ["d0", "d1"]

rule all:
    input: expand("bld/fit/{dataset}.json"), "bld/stats.txt"

rule prepare:
    input:  "src/data.csv"
    output: temp("bld/tmp/{dataset}.csv")
    shell:  "cp {input} {output}"

rule fit:
    input:  "bld/tmp/{dataset}.csv"
    output: "bld/fit/{dataset}.json"
    shell:  "wc -l {input} > {output}"

rule stats:
    input:  expand("bld/tmp/{dataset}.csv")
    output: "bld/stats.txt"
    shell:  "cat {input} > {output}"
'''


def temp_records(g, snap, **override):
    """Records as a run writes them: temp inputs' stats kept apart (Recorder does the same)."""
    from rulec.kinds import OutputKinds

    kinds = OutputKinds(g)
    renderers = shell.renderers(g)
    out = []
    for job in g.order:
        if not g.outputs[job]:
            continue
        jid = g.job_id(job)
        r = renderers[g.rule[job]]
        out.append(Record(jid, g.rule_of(job).name, "ok", shell.command_key(g, renderers, job),
                          shell.params_hash(r, g.values[job]), inputs_hash(g.inputs[job]),
                          input_signature(g.inputs[job], snap.get, temp=kinds.temp_inputs(job)))._replace(**override.get(jid, {})))
    return History.of(out)


def built_then_temp_deleted(g):
    """Everything built (records from the snapshot with the temp files), then the temp files
    deleted: the snapshot a run leaves."""
    built = fresh_snapshot(g)
    history = temp_records(g, built)
    left = Snapshot({p: st for p, st in built.as_dict().items() if not p.startswith("bld/tmp/")})
    return left, history


def test_a_deleted_temp_output_whose_readers_are_up_to_date_is_no_reason_to_run():
    g = graph(TEMP_RULES)
    snap, history = built_then_temp_deleted(g)
    assert plan(g, snap, history).run == []
    assert plan(g, snap, history, PlanOptions(explain=True)).run == []


def test_a_temp_output_of_a_job_that_never_ran_is_missing_and_its_job_runs():
    # a fresh folder: no record says a run made (and deleted) it, so it was never made
    g = graph('rule all:\n    input: "t"\nrule a:\n    output: temp("t")\n    shell: "touch {output}"\n')
    p = plan(g, Snapshot({}), History.empty())
    assert whys(p, g) == {"a": [Why.OUTPUT_MISSING]}
    assert p.reasons[p.run[0]][0].path == "t"


def test_a_temp_output_whose_job_has_no_record_runs_even_when_its_readers_are_recorded():
    g = graph(TEMP_RULES)
    snap, history = built_then_temp_deleted(g)
    kept = History.of([r for r in history.records().values() if r[0] != "prepare[d0]"])
    p = plan(g, snap, kept)
    assert whys(p, g)["prepare[d0]"] == [Why.OUTPUT_MISSING]
    # what reads it runs after it (stats then needs bld/tmp/d1.csv back, which was deleted)
    assert whys(p, g) == {"prepare[d0]": [Why.OUTPUT_MISSING], "fit[d0]": [Why.UPSTREAM],
                          "prepare[d1]": [Why.TEMP_NEEDED], "fit[d1]": [Why.UPSTREAM], "stats": [Why.UPSTREAM]}
    # a record that is not "ok" (the run never finished it): missing too, not deleted
    failed = History.of([r._replace(status="started") if r[0] == "prepare[d1]" else r
                         for r in history.records().values()])
    assert whys(plan(g, snap, failed), g)["prepare[d1]"] == [Why.OUTPUT_MISSING]


def test_a_reader_that_must_run_brings_back_the_temp_output_it_reads_and_only_that():
    g = graph(TEMP_RULES.replace(', "bld/stats.txt"', ""))  # no stats: fit[dX] alone reads bld/tmp/dX.csv
    snap, _ = built_then_temp_deleted(g)
    history = temp_records(g, fresh_snapshot(g), **{"fit[d0]": {"cmd_hash": "old"}})
    p = plan(g, snap, history)
    assert [g.job_id(j) for j in p.run] == ["prepare[d0]", "fit[d0]"]
    assert p.reasons[p.run[0]] == (Reason(Why.TEMP_NEEDED, "bld/tmp/d0.csv", "fit[d0]"),)
    assert p.reasons[p.run[1]][0].why is Why.COMMAND_CHANGED


def test_a_temp_output_that_comes_back_reruns_every_reader_which_may_need_others():
    g = graph(TEMP_RULES)
    snap, _ = built_then_temp_deleted(g)
    history = temp_records(g, fresh_snapshot(g), **{"fit[d0]": {"cmd_hash": "old"}})
    p = plan(g, snap, history)
    reasons = {g.job_id(j): p.reasons[j] for j in p.run}
    # prepare[d0] comes back for fit[d0]; stats reads it, so stats runs (UPSTREAM) and needs
    # bld/tmp/d1.csv back as well, which reruns fit[d1]: every job, dependencies first
    assert [g.job_id(j) for j in p.run] == ["prepare[d0]", "fit[d0]", "prepare[d1]", "fit[d1]", "stats"]
    assert reasons["prepare[d0]"] == (Reason(Why.TEMP_NEEDED, "bld/tmp/d0.csv", "fit[d0]"),)
    assert reasons["stats"] == (Reason(Why.UPSTREAM, job="prepare[d0]"),)
    assert reasons["prepare[d1]"] == (Reason(Why.TEMP_NEEDED, "bld/tmp/d1.csv", "stats"),)
    assert reasons["fit[d1]"] == (Reason(Why.UPSTREAM, job="prepare[d1]"),)


def test_temp_outputs_needed_through_a_chain_of_temp_outputs_all_come_back():
    text = '''
rule all:
    input: "c.txt"
rule a:
    output: temp("a.txt")
    shell: "echo a > {output}"
rule b:
    input: "a.txt"
    output: temp("b.txt")
    shell: "cat {input} > {output}"
rule c:
    input: "b.txt"
    output: "c.txt"
    shell: "cat {input} > {output}"
'''
    g = graph(text)
    built = Snapshot({p: (10 * T, 1) for p in all_paths(g)})
    history = temp_records(g, built)
    snap = Snapshot({"c.txt": (10 * T, 1)})
    assert plan(g, snap, history).run == []
    p = plan(g, Snapshot({}), history)  # c.txt missing too: everything comes back, in order
    assert [g.job_id(j) for j in p.run] == ["a", "b", "c"]
    assert p.reasons[p.run[0]] == (Reason(Why.TEMP_NEEDED, "a.txt", "b"),)
    assert p.reasons[p.run[1]] == (Reason(Why.TEMP_NEEDED, "b.txt", "c"),)


def test_a_present_temp_input_that_changed_still_reruns_its_reader():
    g = graph(TEMP_RULES)
    built = fresh_snapshot(g)
    history = temp_records(g, built)
    stats = built.as_dict()
    stats["bld/tmp/d1.csv"] = (20 * T, 2)
    p = plan(g, Snapshot(stats), history)
    assert whys(p, g) == {"fit[d1]": [Why.INPUT_CHANGED], "stats": [Why.INPUT_CHANGED]}


def test_a_requested_temp_output_is_made_when_missing():
    g = graph(TEMP_RULES, targets=["bld/tmp/d0.csv"])
    built = fresh_snapshot(g)
    history = temp_records(g, built)
    snap = Snapshot({p: st for p, st in built.as_dict().items() if not p.startswith("bld/tmp/")})
    p = plan(g, snap, history)
    assert whys(p, g) == {"prepare[d0]": [Why.OUTPUT_MISSING]}
    # a rule named as the target: its jobs' temp outputs are requested too
    g = graph(TEMP_RULES, targets=["prepare"])
    assert set(whys(plan(g, snap, history), g)) == {"prepare[d0]", "prepare[d1]"}


def test_a_record_made_before_the_output_was_temp_compares_while_the_file_exists():
    g = graph(TEMP_RULES)
    built = fresh_snapshot(g)
    plain = records_for(g, built)  # input signatures as plain hashes
    assert plan(g, built, plain).run == []
    snap = Snapshot({p: st for p, st in built.as_dict().items() if p != "bld/tmp/d0.csv"})
    p = plan(g, snap, plain)
    assert whys(p, g)["fit[d0]"] == [Why.INPUT_CHANGED]
    assert whys(p, g)["prepare[d0]"] == [Why.TEMP_NEEDED]


def test_explain_lists_a_missing_temp_output_among_the_reasons_of_a_job_that_runs():
    g = graph(TEMP_RULES.replace(', "bld/stats.txt"', ""))
    snap, _ = built_then_temp_deleted(g)
    history = temp_records(g, fresh_snapshot(g), **{"prepare[d1]": {"cmd_hash": "old"}})
    p = plan(g, snap, history, PlanOptions(explain=True))
    assert whys(p, g) == {"prepare[d1]": [Why.COMMAND_CHANGED, Why.OUTPUT_MISSING], "fit[d1]": [Why.UPSTREAM]}


CONFIG_RULES = '''\
config "config.toml"
dimension d = ["x", "y"]

rule all:
    input: expand("out/{d}.cmd"), expand("out/{d}.par"), expand("out/{d}.path"), "out/plain.txt"

rule cmd:
    output: "out/{d}.cmd"
    shell: "echo {config.greeting} {d} > {output}"

rule par:
    output: "out/{d}.par"
    params: seed="{config.seed}"
    persist: true
    shell: "echo {params.seed} > {output}"

rule path:
    input: "{config.src}/{d}.csv"
    output: "out/{d}.path"
    shell: "cp {input} {output}"

rule plain:
    output: "out/plain.txt"
    shell: "echo plain > {output}"
'''


def _config_graph(tmp_path, monkeypatch, config: str, items=()):
    from rulec import analyze, dag

    (tmp_path / "Rulefile").write_text(CONFIG_RULES)
    (tmp_path / "config.toml").write_text(config)
    monkeypatch.chdir(tmp_path)
    return dag.resolve(analyze.load("Rulefile", config=items), exists=lambda p: False)


BASE_CONFIG = 'greeting = "hello"\nseed = 1\nsrc = "src"\n'


def test_a_changed_config_value_reruns_exactly_the_jobs_that_use_it_naming_the_key(tmp_path, monkeypatch):
    g = _config_graph(tmp_path, monkeypatch, BASE_CONFIG)
    snap = Snapshot({**{p: (10 * T, 1) for p in all_paths(g)}, **{p: (T, 1) for p in g.sources}})
    hist = records_for(g, snap)
    assert plan(g, snap, hist).run == []
    from rulec import report

    g2 = _config_graph(tmp_path, monkeypatch, BASE_CONFIG.replace("hello", "hi"))
    p = plan(g2, snap, hist)
    assert whys(p, g2) == {"cmd[x]": [Why.CONFIG_CHANGED], "cmd[y]": [Why.CONFIG_CHANGED]}
    assert report.reason_text(p.reasons[p.run[0]][0]) == "config changed: greeting"
    # every reason: the command changed too, the params did not
    p = plan(g2, snap, hist, PlanOptions(explain=True))
    assert [r.why for r in p.reasons[p.run[0]]] == [Why.CONFIG_CHANGED, Why.COMMAND_CHANGED]
    # a persist rule's param from the config, and --config instead of the file
    g3 = _config_graph(tmp_path, monkeypatch, BASE_CONFIG, items=["seed=2"])
    p = plan(g3, snap, hist)
    assert whys(p, g3) == {"par[x]": [Why.CONFIG_CHANGED], "par[y]": [Why.CONFIG_CHANGED]}
    assert p.reasons[p.run[0]][0].path == "seed"


def test_a_config_value_in_an_input_path_says_config_changed_before_the_input_set(tmp_path, monkeypatch):
    g = _config_graph(tmp_path, monkeypatch, BASE_CONFIG)
    snap = Snapshot({**{p: (10 * T, 1) for p in all_paths(g)}, "src/x.csv": (T, 1), "src/y.csv": (T, 1),
                     "data/x.csv": (T, 1), "data/y.csv": (T, 1)})
    hist = records_for(g, snap)
    g2 = _config_graph(tmp_path, monkeypatch, BASE_CONFIG.replace('src = "src"', 'src = "data"'))
    p = plan(g2, snap, hist, PlanOptions(explain=True))
    assert whys(p, g2) == {"path[x]": [Why.CONFIG_CHANGED, Why.INPUT_SET_CHANGED, Why.COMMAND_CHANGED],
                           "path[y]": [Why.CONFIG_CHANGED, Why.INPUT_SET_CHANGED, Why.COMMAND_CHANGED]}
    assert p.reasons[p.run[0]][0].path == "src"


def test_a_record_without_the_config_part_says_what_changed_as_before(tmp_path, monkeypatch):
    g = _config_graph(tmp_path, monkeypatch, BASE_CONFIG)
    snap = Snapshot({**{p: (10 * T, 1) for p in all_paths(g)}, **{p: (T, 1) for p in g.sources}})
    hist = records_for(g, snap)
    # as an older rulec (or a rule that did not use the config yet) recorded it: no "~..." part
    hist = History.of(r._replace(params_hash=r.params_hash.partition("~")[0]) for r in hist.records().values())
    g2 = _config_graph(tmp_path, monkeypatch, BASE_CONFIG.replace("hello", "hi"))
    assert whys(plan(g2, snap, hist), g2) == {"cmd[x]": [Why.COMMAND_CHANGED], "cmd[y]": [Why.COMMAND_CHANGED]}
    assert plan(g, snap, hist).run == []  # same values: nothing to do, whatever the record's format


def test_the_params_hash_carries_one_short_hash_per_config_key(tmp_path, monkeypatch):
    g = _config_graph(tmp_path, monkeypatch, BASE_CONFIG)
    rs = shell.renderers(g)
    rules = {r.name: r for r in g.workflow.rules}
    assert [k for k, _ in rules["cmd"].config] == ["greeting"] and rules["plain"].config == ()
    par = rs[rules["par"].index]
    ph = shell.params_hash(par, ("x",))
    assert ph.startswith(shell.params_hash(par, ("x",)).partition("~")[0]) and ph.partition("~")[2].startswith("seed:")
    assert shell.params_hash(rs[rules["plain"].index], ()) == ""
WRAPPED = """
dimension genome = ["g1", "g2"]

rule all:
    input: expand("bld/aligned/{genome}.txt")

rule index:
    input:  ancient("data/reference.fa")
    output: directory("bld/index/{genome}")
    shell:  "mkdir {output}"

rule align:
    input:  idx=directory("bld/index/{genome}"), ref=ancient("data/reference.fa"), reads="data/{genome}.fq"
    output: "bld/aligned/{genome}.txt"
    shell:  "ls {input.idx} > {output}"
"""


def wrapped_snapshot(g, t=10 * T):
    stats = {p: (t, 1) for p in all_paths(g)}
    stats.update({"data/reference.fa": (T, 5), "data/g1.fq": (T, 1), "data/g2.fq": (T, 1)})
    return Snapshot(stats)


def test_an_ancient_input_that_changed_gives_no_reason_but_a_plain_one_does():
    g = graph(WRAPPED)
    snap = wrapped_snapshot(g)
    hist = records_for(g, snap)
    assert plan(g, snap, hist).run == []
    changed = Snapshot({**snap.as_dict(), "data/reference.fa": (20 * T, 6)})  # newer and bigger
    assert plan(g, changed, hist, PlanOptions(explain=True)).run == []
    changed.update("data/g1.fq", (20 * T, 2))
    p = plan(g, changed, hist)
    assert whys(p, g) == {"align[g1]": [Why.INPUT_CHANGED]}
    assert p.reasons[p.run[0]][0].path == "data/g1.fq"


def test_an_ancient_input_newer_than_the_outputs_without_a_record_is_no_reason():
    g = graph(WRAPPED)
    snap = wrapped_snapshot(g)
    snap.update("data/reference.fa", (99 * T, 5))
    assert plan(g, snap, History.empty(), PlanOptions(explain=True)).run == []
    snap.update("data/g2.fq", (99 * T, 1))
    assert whys(plan(g, snap, History.empty()), g) == {"align[g2]": [Why.INPUT_NEWER]}


def test_a_job_making_an_ancient_input_that_exists_is_no_reason_for_its_reader():
    text = WRAPPED.replace('ref=ancient("data/reference.fa")', 'ref=ancient("bld/ref.fa")') + """
rule ref:
    input:  "data/reference.fa"
    output: "bld/ref.fa"
    shell:  "cp {input} {output}"
"""
    g = graph(text)
    snap = wrapped_snapshot(g)
    hist = records_for(g, snap)
    p = plan(g, snap, hist, PlanOptions(force=frozenset({"ref"})))
    assert whys(p, g) == {"ref": [Why.FORCED]}  # Snakemake's rule too
    # missing, it is still missing: its maker runs, and so do its readers
    snap.update("bld/ref.fa", None)
    p = plan(g, snap, hist)
    assert whys(p, g) == {"ref": [Why.OUTPUT_MISSING], "align[g1]": [Why.UPSTREAM], "align[g2]": [Why.UPSTREAM]}


def test_a_changed_directory_signature_reruns_its_reader_naming_the_folder():
    g = graph(WRAPPED)
    snap = wrapped_snapshot(g)
    hist = records_for(g, snap)
    # the snapshot holds the folder's tree stat (state.tree_stat): a file added inside changes it
    snap.update("bld/index/g1", (11 * T, 987654321))
    p = plan(g, snap, hist)
    assert whys(p, g) == {"align[g1]": [Why.INPUT_CHANGED]}
    from rulec import report

    assert report.reason_text(p.reasons[p.run[0]][0]) == "input changed since the last run: bld/index/g1"
