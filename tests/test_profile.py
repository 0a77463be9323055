"""rulec/profile.py: env tables in a profile (the other keys are tested with the settings
they make, in test_bundle_settings.py), and api.with_profile_env applying them."""

from __future__ import annotations

import pytest

from helpers import workflow
from rulec import api
from rulec import profile as prof

RULES = """
label gpu:
    env: CUDA_CACHE="/tmp/cuda", MODE="label"

rule fit:
    output: "fit.txt"
    label:  gpu
    shell:  "echo $MODE > {output}"

rule other:
    output: "other.txt"
    shell:  "true"
"""


def test_env_tables_at_every_level_merge_later_winning():
    p = prof.parse({"slurm": {"env": {"A": "top", "B": 1},
                              "labels": {"gpu": {"partition": "gpu", "env": {"A": "label", "C": "c"}}},
                              "rules": {"fit": {"env": {"C": "rule"}}}}}, "cluster.toml")
    bp = p.backend("slurm")
    assert bp.top.env == (("A", "top"), ("B", "1"))
    assert bp.labels["gpu"].items == (("partition", "gpu"),)  # env is not a scheduler option
    assert prof.env_for(bp, "fit", "gpu") == (("A", "label"), ("B", "1"), ("C", "rule"))
    assert prof.env_for(bp, "other", None) == (("A", "top"), ("B", "1"))
    assert prof.env_for(p.backend("lsf"), "fit", "gpu") == ()


@pytest.mark.parametrize("table, message", [
    ({"env": "A=1"}, "env must be a table"),
    ({"env": {"1A": "x"}}, "env '1A' is not a shell variable name"),
    ({"env": {"A": True}}, "env A: the value is a string or a number"),
    ({"env": {"A": ["x"]}}, "env A: the value is a string or a number"),
    ({"labels": {"gpu": {"env": {"A": "two\nlines"}}}}, "slurm.labels.gpu.env.A: the value 'two\\nlines' holds a newline"),
])
def test_bad_env_tables_are_refused_naming_the_table(table, message):
    with pytest.raises(prof.ProfileError) as err:
        prof.parse({"slurm": table}, "/x/cluster.toml")
    assert message in str(err.value)
    assert "cluster.toml" in str(err.value)


def test_with_profile_env_adds_to_the_label_env_and_wins_per_name(tmp_path):
    wf = workflow(RULES, tmp_path)
    p = prof.parse({"slurm": {"labels": {"gpu": {"env": {"MODE": "profile", "OMP_NUM_THREADS": 4}}}}}, "cluster.toml")
    out = api.with_profile_env(wf, p, "slurm")
    fit = out.rule("fit")
    assert [(n, t.text) for n, t in fit.env] == [("CUDA_CACHE", "/tmp/cuda"), ("MODE", "profile"), ("OMP_NUM_THREADS", "4")]
    assert out.rule("other").env == ()
    assert api.with_profile_env(wf, p, "lsf") is wf  # nothing for that backend: the same workflow
    assert api.with_profile_env(wf, prof.EMPTY, "slurm") is wf


# --------------------------------------------------------------------------- keys

@pytest.mark.parametrize("table, shown", [
    ({"slurm": {"comment=x --partition=short --chdir=/tmp": True}}, 'slurm."comment=x --partition=short --chdir=/tmp"'),
    ({"slurm": {"labels": {"gpu": {"qos high": "x"}}}}, 'slurm.labels.gpu."qos high"'),
    ({"lsf": {"rules": {"fit": {"q'x": "short"}}}}, 'lsf.rules.fit."q\'x"'),
    ({"jbsub": {"labels": {"gpu": {"-queue=x": "y"}}}}, 'jbsub.labels.gpu."-queue=x"'),
    ({"slurm": {"#x": 1}}, 'slurm."#x"'),
])
def test_a_key_that_is_not_an_option_name_is_refused_naming_file_and_key(table, shown):
    """A key goes into the job script as it is (``--<key>=...``): one that is not a plain
    name could add directives of its own (``--partition=...``, rulec's own ``--chdir``)."""
    with pytest.raises(prof.ProfileError) as info:
        prof.parse(table, "/somewhere/cluster.toml")
    assert info.value.message.startswith(f"cluster.toml: {shown}: a key is a name of letters, digits, '_' and '-'")


def test_a_key_smuggling_directives_in_a_profile_file_is_refused(tmp_path):
    path = tmp_path / "p4.toml"
    path.write_text('[slurm]\n"comment=x --partition=short --chdir=/tmp" = true\n')
    with pytest.raises(prof.ProfileError, match=r'^p4.toml: slurm."comment=x --partition=short --chdir=/tmp": a key is'):
        prof.load(str(path))


def test_plain_keys_of_every_kind_are_accepted():
    p = prof.parse({"slurm": {"mail_type": "END", "cpus-per-task": 2, "exclusive": True},
                    "lsf": {"-R": "span[hosts=1]", "queue": "q"}, "jbsub": {"flags": "-queue x86_1h", "limit": 3}})
    assert [k for k, _ in p.backend("slurm").top.items] == ["mail_type", "cpus-per-task", "exclusive"]
    assert p.backend("lsf").top.items == (("-R", "span[hosts=1]"), ("queue", "q"))


# --------------------------------------------------------------------------- [jbsub]

@pytest.mark.parametrize("key, value, why", [
    ("poll", 2.0, "no status query"),
    ("max_poll", 30, "no status query"),
    ("stuck_after", "10m", "cannot see one stuck on a node"),
    ("max_array_size", 500, "no job arrays"),
])
def test_a_jbsub_table_refuses_the_run_settings_jbsub_cannot_honour(key, value, why):
    with pytest.raises(prof.ProfileError) as info:
        prof.parse({"jbsub": {key: value}}, "/x/cluster.toml")
    text = info.value.message
    assert text.startswith(f"cluster.toml [jbsub]: {key} is for SLURM and LSF runs: ") and why in text
    assert text.endswith("; remove it")
    prof.parse({"slurm": {key: value}, "lsf": {key: value}})  # there they are honoured


def test_every_run_setting_is_either_honoured_by_jbsub_or_refused_there():
    assert set(prof.JBSUB_UNUSED) == prof.RUN_KEYS
    assert prof.parse({"jbsub": {"limit": 50}}).backend("jbsub").setting("limit") == 50
