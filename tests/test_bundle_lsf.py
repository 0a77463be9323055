"""rulec/bundle/lsf.py: the ``#BSUB`` directives of a label's or profile's settings: each value
one word in quotes bsub documents (no escapes inside them), and no option rulec sets itself."""

from __future__ import annotations

import pytest

from helpers import workflow
from rulec import profile as prof
from rulec.bundle import files as bundle_mod
from rulec.dag import resolve
from rulec.errors import BackendError

RULES = '''
rule make:
    output: "o"
    shell: "touch {output}"
'''


def directives(profile=prof.EMPTY) -> list[str]:
    graph = resolve(workflow(RULES), (), exists=lambda p: False)
    b = bundle_mod.build(graph, list(graph.order), "lsf", profile, "/project/bundle")
    return [line[len("#BSUB "):] for line in b.files["make.lsf"].split("\n") if line.startswith("#BSUB ")]


def with_profile(**top) -> list[str]:
    return directives(prof.parse({"lsf": top}, "cluster.toml"))


@pytest.mark.parametrize("value, directive", [
    ("it's", "-Jd \"it's\""),  # not 'it'\''s': a shell's way, which bsub does not document
    ('say "hi"', "-Jd 'say \"hi\"'"),
    ("a b; $(touch PWNED)", "-Jd 'a b; $(touch PWNED)'"),
    ("plain-1.0", "-Jd plain-1.0"),
])
def test_a_value_is_one_word_in_single_or_double_quotes(value, directive):
    assert directive in with_profile(Jd=value)


@pytest.mark.parametrize("value", ["it's \"both\"", "it's $HOME", "it's a\\b", "it's `x`"])
def test_a_value_no_quotes_of_a_bsub_line_can_hold_is_refused(value):
    with pytest.raises(BackendError, match=r"rule make: the LSF option -Jd .* holds a ' and one of"):
        with_profile(Jd=value)


@pytest.mark.parametrize("extra, flag", [("-cwd /tmp", "-cwd"), ("-x -J other", "-J"), ("-w 'done(1)'", "-w"), ("-ti", "-ti")])
def test_extra_flags_may_not_set_an_option_rulec_sets_itself(extra, flag):
    with pytest.raises(BackendError, match=f"the LSF extra flags .* set {flag}, which rulec sets itself"):
        with_profile(extra=extra)


def test_extra_flags_that_set_nothing_of_rulecs_stay_raw():
    assert directives(prof.parse({"lsf": {"extra": "-x -wa USR1 -R 'select[mem>100]'"}}))[-1] == "-x -wa USR1 -R 'select[mem>100]'"


def test_an_option_name_that_is_not_a_plain_name_is_refused_in_settings_made_by_hand():
    layer = prof.Layer((("q x", "short"),), "by hand")
    with pytest.raises(BackendError, match=r"'-q x' is not an LSF option name"):
        directives(prof.Profile(None, {"lsf": prof.BackendProfile(top=layer)}))
