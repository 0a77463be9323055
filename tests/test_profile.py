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
