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


def test_pack_is_refused_for_outputs_a_packed_task_does_not_handle_and_the_default_skips_them():
    wf = workflow(KINDS_PACKED.replace('{g}', 'g1'))
    with pytest.raises(BackendError) as info:
        pack_of(wf, "model")
    assert info.value.message.startswith("rule model: pack: cannot be used with protected(), touch() outputs yet")
    assert info.value.span.line == 4
    assert pack_of(wf, "index", default=50) == 1  # --pack leaves it unpacked
