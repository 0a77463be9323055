"""Resources and scheduler settings: formatting, label and profile precedence, profiles."""

from __future__ import annotations

import pytest

from helpers import workflow
from rulec import profile as prof
from rulec.bundle import settings as st
from rulec.errors import BackendError, RulecError

WF = '''
rule plain:
    output: "a.txt"
    shell: "echo > {output}"

rule heavy:
    output: "b.txt"
    resources: cpus=4, mem="8G", time="2h", gpus=1
    label: gpu
    shell: "echo > {output}"

label gpu:
    limit: 2
    slurm: partition="gpu", account="proj", qos="high", mail_type="END", extra="--exclusive"
    lsf: queue="gpu"
    jbsub: "-queue x86_1h -cores 4+1 -mem 16g"
'''


@pytest.mark.parametrize("seconds, text", [
    (1, "00:01:00"),
    (60, "00:01:00"),
    (61, "00:02:00"),  # rounded up to whole minutes
    (90, "00:02:00"),
    (30 * 60, "00:30:00"),
    (3600, "01:00:00"),
    (23 * 3600 + 59 * 60, "23:59:00"),
    (24 * 3600, "1-00:00:00"),
    (26 * 3600 + 30 * 60 + 1, "1-02:31:00"),
    (10 * 86400, "10-00:00:00"),
])
def test_slurm_time(seconds, text):
    assert st.slurm_time(seconds) == text


@pytest.mark.parametrize("seconds, text", [(1, "0:01"), (60, "0:01"), (61, "0:02"), (5400, "1:30"), (86400, "24:00")])
def test_lsf_time(seconds, text):
    assert st.lsf_time(seconds) == text


def test_mem_text():
    assert st.mem_mb_text(500) == "500M"
    assert st.mem_mb_text(8192) == "8192M"


@pytest.mark.parametrize("value, mb", [("4G", 4096), ("500M", 500), ("1.5G", 1536), ("2T", 2 * 1024 * 1024), (300, 300), ("1K", 1)])
def test_profile_mem(value, mb):
    assert prof.parse_mem(value) == mb


@pytest.mark.parametrize("value, secs", [("30m", 1800), ("2h", 7200), ("1h30m", 5400), ("1-00:00:00", 86400), ("01:30", 5400), (90, 5400), ("45s", 45)])
def test_profile_time(value, secs):
    assert prof.parse_time(value) == secs


@pytest.mark.parametrize("value", ["4X", "", True, "1:75"])
def test_profile_bad_values(value):
    assert prof.parse_mem(value) is None or prof.parse_time(value) is None


def rule_settings(backend, profile=prof.EMPTY, name="heavy"):
    wf = workflow(WF)
    return st.for_rule(wf.rule(name), wf, backend, profile)


def test_rule_resources_are_the_defaults():
    s = rule_settings("slurm", name="plain")
    assert (s.cpus, s.mem_mb, s.time_s, s.gpus, s.options, s.extra, s.array_limit) == (1, None, None, 0, (), None, None)


def test_label_settings():
    s = rule_settings("slurm")
    assert (s.cpus, s.mem_mb, s.time_s, s.gpus) == (4, 8192, 7200, 1)
    assert dict(s.options) == {"partition": "gpu", "account": "proj", "qos": "high", "mail-type": "END"}
    assert s.extra == "--exclusive"
    assert s.array_limit == 2  # the label's local limit caps the array too


def test_profile_layers_override_in_order():
    p = prof.parse({
        "slurm": {
            "partition": "normal", "account": "everyone", "time": "10m",
            "labels": {"gpu": {"partition": "gpu_b", "extra": False, "array_limit": 5}},
            "rules": {"heavy": {"mem": "16G", "qos": False, "exclusive": True}},
        }
    }, "cluster.toml")
    s = rule_settings("slurm", p)
    opts = dict(s.options)
    # top-level [slurm] < Rulefile label < [slurm.labels.gpu] < [slurm.rules.heavy]
    assert opts["partition"] == "gpu_b"
    assert opts["account"] == "proj"  # the label beats the profile's cluster-wide default
    assert "qos" not in opts  # false removes it
    assert opts["exclusive"] is True
    assert s.mem_mb == 16384
    assert s.time_s == 7200  # [slurm] time is a default: the rule's own time stays
    assert s.extra is None
    assert s.array_limit == 5
    plain = rule_settings("slurm", p, "plain")
    assert dict(plain.options) == {"partition": "normal", "account": "everyone"}
    assert plain.time_s == 600  # ... and applies to a rule without one


def test_profile_rulec_settings_are_not_options():
    p = prof.parse({"slurm": {"max_array_size": 100, "poll": 0.5, "partition": "x"}})
    s = rule_settings("slurm", p, "plain")
    assert dict(s.options) == {"partition": "x"}
    assert p.backend("slurm").setting("max_array_size") == 100
    assert p.backend("lsf").setting("max_array_size") is None


def test_a_limit_in_the_backend_table_is_every_arrays_limit_below_the_labels():
    """``limit`` in ``[slurm]``/``[lsf]`` is ``array_limit``, as documented, in the documented
    order: below the Rulefile label's ``limit:``, below the profile's label and rule tables."""
    for backend in ("slurm", "lsf"):
        p = prof.parse({backend: {"limit": 5}})
        assert rule_settings(backend, p, "plain").array_limit == 5
        assert rule_settings(backend, p).array_limit == 2  # heavy's label gpu says limit: 2
        p = prof.parse({backend: {"array_limit": 5}})
        assert rule_settings(backend, p).array_limit == 2  # the same for array_limit
        p = prof.parse({backend: {"limit": 5, "labels": {"gpu": {"limit": 4}}, "rules": {"plain": {"array_limit": 3}}}})
        assert (rule_settings(backend, p).array_limit, rule_settings(backend, p, "plain").array_limit) == (4, 3)
    # [jbsub] limit is the bundle's limit for jobs without a label, not each rule's
    assert rule_settings("jbsub", prof.parse({"jbsub": {"limit": 5}}), "plain").array_limit is None


def test_a_limit_in_the_slurm_table_throttles_the_array(tmp_path):
    from rulec.bundle import files as bundle_mod
    from rulec.dag import resolve

    wf = workflow('dimension n = ["a", "b", "c", "d"]\nrule all:\n    input: expand("o/{n}")\n'
                  'rule make:\n    output: "o/{n}"\n    shell: "touch {output}"\n', str(tmp_path))
    graph = resolve(wf, (), exists=lambda p: False)
    for backend, directive in (("slurm", "#SBATCH --array=0-3%2\n"), ("lsf", '#BSUB -J "rulec-make[1-4]%2"\n')):
        p = prof.parse({backend: {"limit": 2}})
        b = bundle_mod.build(graph, list(range(len(graph))), backend, p, str(tmp_path / backend), 1001)
        assert directive in b.files[f"make.{'sbatch' if backend == 'slurm' else 'lsf'}"]


def test_jbsub_flags_merge_flag_by_flag():
    p = prof.parse({"jbsub": {"labels": {"gpu": {"flags": "-queue x86_6h -require a100"}}}})
    s = rule_settings("jbsub", p)
    assert dict(s.options) == {"-queue": "x86_6h", "-cores": "4+1", "-mem": "16g", "-require": "a100"}


def test_split_flags():
    assert st.split_flags("-queue x86_1h -wait -cores 4+1") == [("-queue", "x86_1h"), ("-wait", True), ("-cores", "4+1")]
    with pytest.raises(BackendError):
        st.split_flags("stray -queue x")


def test_bad_label_value():
    wf = workflow('''
rule r:
    output: "a"
    label: l
    shell: "true"

label l:
    slurm: cpus="many"
''')
    with pytest.raises(BackendError, match="cpus must be a whole number"):
        st.for_rule(wf.rule("r"), wf, "slurm", prof.EMPTY)


def test_profile_file(tmp_path):
    path = tmp_path / "cluster.toml"
    path.write_text('[slurm]\naccount = "a"\n\n[slurm.labels.gpu]\npartition = "g"\n\n[slurm.rules.heavy]\ntime = "3h"\n')
    p = prof.load(str(path))
    assert p.backend("slurm").top.items == (("account", "a"),)
    assert p.backend("slurm").labels["gpu"].items == (("partition", "g"),)
    assert p.backend("slurm").rules["heavy"].items == (("time", "3h"),)
    assert prof.load(None) is prof.EMPTY


@pytest.mark.parametrize("text, message", [
    ("[pbs]\nx = 1\n", "unknown table \\[pbs\\]"),
    ("[slurm]\nmem = \"lots\"\n", "bad memory value"),
    ("[slurm]\ntime = \"soon\"\n", "bad time value"),
    ("[slurm]\ncpus = 0\n", "cpus must be a whole number"),
    ("[slurm]\npartition = [\"a\"]\n", "is a list"),
    ("[slurm\n", "not valid TOML"),
    ("[slurm.labels.gpu]\nstuck_after = 60\n", r"stuck_after is a setting of the whole run, not of one label; put it in \[slurm\]"),
    ("[lsf.rules.fit]\npoll = 2\n", r"poll is a setting of the whole run, not of one rule; put it in \[lsf\]"),
])
def test_profile_errors(tmp_path, text, message):
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(RulecError, match=message):
        prof.load(str(path))


def test_missing_profile(tmp_path):
    with pytest.raises(RulecError, match="not found"):
        prof.load(str(tmp_path / "nope.toml"))


# --------------------------------------------------------------------------- pack

PACKS = '''
label quick:
    pack: 20

label timed:
    pack: "10m"
    slurm: time="2m"

rule own:
    output: "o/{n}.txt"
    label: quick
    pack: 5
    shell: "true"

rule by_label:
    output: "l/{n}.txt"
    label: quick
    shell: "true"

rule by_time:
    output: "t/{n}.txt"
    resources: time="45s"
    pack: "5m"
    shell: "true"

rule label_time:
    output: "lt/{n}.txt"
    label: timed
    shell: "true"

rule off:
    output: "x/{n}.txt"
    pack: 1
    shell: "true"

rule untimed:
    output: "u/{n}.txt"
    pack: "5m"
    shell: "true"

rule plain:
    output: "p/{n}.txt"
    shell: "true"
'''


def pack_of(wf, name, default=None, profile=prof.EMPTY):
    from rulec import ir

    rule = wf.rule(name)
    s = st.for_rule(rule, wf, "slurm", profile)
    return st.pack_size(rule, wf, s, None if default is None else ir.Pack(jobs=default, text=str(default)))


def test_a_rules_pack_wins_over_its_labels_and_the_run_default():
    wf = workflow(PACKS)
    assert pack_of(wf, "own", default=50) == 5
    assert pack_of(wf, "by_label", default=50) == 20
    assert pack_of(wf, "off", default=50) == 1
    assert (pack_of(wf, "plain"), pack_of(wf, "plain", default=50)) == (1, 50)


def test_a_run_time_per_task_is_divided_by_the_time_per_job():
    wf = workflow(PACKS)
    assert pack_of(wf, "by_time") == 6  # 5 min / 45 s, rounded down
    assert pack_of(wf, "label_time") == 5  # the label's slurm: time="2m"
    profile = prof.parse({"slurm": {"rules": {"by_time": {"time": "10m"}}}}, "p.toml")
    assert pack_of(wf, "by_time", profile=profile) == 1  # longer than the pack's time: one job a task


def test_a_run_time_without_a_time_per_job_is_an_error_at_its_place():
    from rulec import ir

    wf = workflow(PACKS)
    with pytest.raises(BackendError) as info:
        pack_of(wf, "untimed")
    assert info.value.message == 'rule untimed: pack: "5m" is a run time per task, and the rule asks for no time per job to divide it by'
    assert (info.value.span.line, info.value.span.col) == (38, 11)
    rule = wf.rule("plain")
    with pytest.raises(BackendError, match=r"^rule plain: --pack 5m is a run time per task"):
        st.pack_size(rule, wf, st.for_rule(rule, wf, "slurm", prof.EMPTY), ir.Pack(seconds=300, text="5m"))


KINDS_PACKED = '''
rule model:
    output: protected("bld/model.txt"), touch("bld/done.flag")
    pack:   10
    shell:  "true"

rule index:
    output: directory("bld/index/{g}")
    shell:  "true"
'''


def test_rules_with_directory_protected_and_touch_outputs_are_packed_like_any_other():
    wf = workflow(KINDS_PACKED.replace('{g}', 'g1'))
    assert pack_of(wf, "model") == 10
    assert pack_of(wf, "index", default=50) == 50


# --------------------------------------------------------------------------- pack in the profile

def profile_of(data: dict):
    return prof.parse(data, "/site/cluster.toml")


def test_a_profiles_pack_its_default_below_the_run_and_its_label_and_rule_tables_above_the_rulefile():
    wf = workflow(PACKS)
    top = profile_of({"slurm": {"pack": 7}})
    assert pack_of(wf, "plain", profile=top) == 7  # a default for rules that say nothing
    assert pack_of(wf, "plain", default=50, profile=top) == 50  # --pack wins over it
    assert pack_of(wf, "own", profile=top) == 5 and pack_of(wf, "by_label", profile=top) == 20
    assert pack_of(wf, "off", profile=top) == 1  # pack: 1 says something
    tables = profile_of({"slurm": {"pack": 7, "labels": {"quick": {"pack": 30}}, "rules": {"own": {"pack": 3}}}})
    assert pack_of(wf, "by_label", default=50, profile=tables) == 30  # the label table wins over the label's pack:
    assert pack_of(wf, "own", default=50, profile=tables) == 3  # the rule table wins over the rule's pack: and its label's
    assert pack_of(wf, "plain", profile=tables) == 7
    off = profile_of({"slurm": {"rules": {"own": {"pack": 1}}}})
    assert pack_of(wf, "own", default=50, profile=off) == 1  # the profile can unpack a rule
    # a run time in the profile, divided by the time per job; lsf reads its own table
    timed = profile_of({"slurm": {"rules": {"by_time": {"pack": "15m"}}}, "lsf": {"pack": 4}})
    assert pack_of(wf, "by_time", profile=timed) == 20  # 15 min / 45 s
    rule = wf.rule("plain")
    assert st.pack_size(rule, wf, st.for_rule(rule, wf, "lsf", timed)) == 4
    assert st.pack_size(rule, wf, st.for_rule(rule, wf, "slurm", timed)) == 1


def test_a_profiles_pack_is_no_scheduler_option():
    wf = workflow(PACKS)
    p = profile_of({"slurm": {"pack": 7, "partition": "x", "rules": {"own": {"pack": 3, "qos": "q"}}}})
    assert dict(st.for_rule(wf.rule("own"), wf, "slurm", p).options) == {"partition": "x", "qos": "q"}


def test_a_profiles_run_time_pack_without_a_time_per_job_names_its_table():
    wf = workflow(PACKS)
    with pytest.raises(BackendError) as info:
        pack_of(wf, "plain", profile=profile_of({"slurm": {"labels": {"none": {}}, "rules": {"plain": {"pack": "5m"}}}}))
    assert info.value.message == ('rule plain: pack = "5m" in cluster.toml [slurm.rules.plain] is a run time per task, '
                                  'and the rule asks for no time per job to divide it by')
    assert "pack = 50" in info.value.hint


@pytest.mark.parametrize("table, message", [
    ({"slurm": {"pack": 0}}, "cluster.toml [slurm]: pack must be at least 1 (pack = 1 runs one job per task), got 0"),
    ({"slurm": {"rules": {"fit": {"pack": "5 min"}}}},
     "cluster.toml [slurm.rules.fit]: pack '5 min' is not a run time; expected e.g. \"5m\", \"1h\" or \"HH:MM:SS\", "
     "or a whole number of jobs per task (pack = 50)"),
    ({"lsf": {"labels": {"quick": {"pack": True}}}},
     "cluster.toml [lsf.labels.quick]: pack takes a whole number of jobs per task (pack = 50) or a run time per task "
     "(pack = \"5m\"), not true"),
    ({"slurm": {"pack": 2.5}}, "cluster.toml [slurm]: pack takes a whole number of jobs per task (pack = 50) or a run "
                               "time per task (pack = \"5m\"), not 2.5"),
    ({"jbsub": {"rules": {"fit": {"pack": 5}}}},
     "cluster.toml [jbsub.rules.fit]: pack is for SLURM and LSF job arrays: jbsub runs one job per jbsub call"),
])
def test_bad_pack_values_in_a_profile_are_refused_naming_the_file_and_table(table, message):
    with pytest.raises(prof.ProfileError) as info:
        profile_of(table)
    assert info.value.message == message


def test_a_bad_pack_in_a_profile_file_is_refused_by_rulec_emit(tmp_path, capsys):
    from rulec.cli import main

    (tmp_path / "Rulefile").write_text('rule a:\n    output: "a.txt"\n    shell: "touch {output}"\n')
    (tmp_path / "cluster.toml").write_text("[slurm.rules.a]\npack = -3\n")
    assert main(["emit", "--slurm", str(tmp_path), "-o", str(tmp_path / "b"), "--profile", str(tmp_path / "cluster.toml")]) == 2
    err = capsys.readouterr().err
    assert "cluster.toml [slurm.rules.a]: pack must be at least 1 (pack = 1 runs one job per task), got -3" in err
    assert "Traceback" not in err and not (tmp_path / "b").exists()


# --------------------------------------------------------------------------- jobs at once

WIDTHS = '''
rule one:
    output: "o/{n}.txt"
    pack: 10
    shell: "true"

rule quad:
    output: "q/{n}.txt"
    resources: cpus=4, mem="1G", time="1m"
    pack: "10m"
    shell: "true"

rule gpu:
    output: "g/{n}.txt"
    resources: gpus=1
    pack: 10
    shell: "true"
'''


def settings(wf, name, backend="slurm", profile=prof.EMPTY):
    return st.for_rule(wf.rule(name), wf, backend, profile)


def test_a_packed_task_runs_as_many_jobs_at_once_as_its_cores_hold():
    wf = workflow(WIDTHS)
    assert [settings(wf, r).width for r in ("one", "quad", "gpu")] == [1, 1, 1]  # the cores of one job: one at a time
    p = profile_of({"slurm": {"cpus_per_task": 8}, "lsf": {"n": 8}})
    assert [settings(wf, r, "slurm", p).width for r in ("one", "quad", "gpu")] == [8, 2, 1]  # GPUs are not shared
    assert [settings(wf, r, "lsf", p).width for r in ("one", "quad", "gpu")] == [8, 2, 1]
    assert settings(wf, "quad", "slurm", profile_of({"slurm": {"cpus_per_task": 6}})).width == 1  # 6 // 4
    for gpu_option in ({"gres": "gpu:a100:1"}, {"gpus": 2}):  # GPUs asked for by a scheduler option
        assert settings(wf, "one", "slurm", profile_of({"slurm": {"cpus_per_task": 8, **gpu_option}})).width == 1
    assert settings(wf, "one", "slurm", profile_of({"slurm": {"cpus_per_task": 8, "gres": "tmpdisk:10"}})).width == 8
    assert settings(wf, "one", "lsf", profile_of({"lsf": {"n": 8, "gpu": "num=1"}})).width == 1
    assert settings(wf, "one", "jbsub", profile_of({"jbsub": {"cpus_per_task": 8}})).width == 1
    wide = workflow(WIDTHS.replace('rule one:\n', 'rule one:\n    label: wide\n') + '\nlabel wide:\n    slurm: cpus_per_task=3\n')
    assert settings(wide, "one").width == 3
    # a run time per task holds that many batches: 10 min of 1 min jobs, 2 at once
    rule = wf.rule("quad")
    assert st.pack_size(rule, wf, st.for_rule(rule, wf, "slurm", p)) == 20
    assert st.pack_size(rule, wf, st.for_rule(rule, wf, "slurm", prof.EMPTY)) == 10
