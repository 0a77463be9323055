"""rulec/bundle/slurm.py: the ``#SBATCH`` directives of a label's or profile's settings: values
quoted as sbatch reads them, and no option rulec sets itself, in any spelling sbatch takes
(checked against the real sbatch in e2e/test_slurm_injection.py)."""

from __future__ import annotations

import pytest

from helpers import workflow
from rulec import profile as prof
from rulec.bundle import files as bundle_mod
from rulec.dag import resolve
from rulec.errors import BackendError

RULES = '''
dimension n = ["a", "b"]

rule all:
    input: expand("o/{n}")

rule make:
    output: "o/{n}"
    label: l
    shell: "touch {output}"

label l:
    slurm: SETTINGS
'''


def directives(settings: str = 'partition="debug"', profile=prof.EMPTY) -> list[str]:
    graph = resolve(workflow(RULES.replace("SETTINGS", settings)), (), exists=lambda p: False)
    b = bundle_mod.build(graph, list(graph.order), "slurm", profile, "/project/bundle")
    return [line[len("#SBATCH "):] for line in b.files["make.sbatch"].split("\n") if line.startswith("#SBATCH ")]


def with_profile(**top) -> list[str]:
    return directives(profile=prof.parse({"slurm": top}, "cluster.toml"))


@pytest.mark.parametrize("value, directive", [
    ("it's", "--comment=\"it's\""),  # sbatch reads a bare ' as a quote: "Unmatched '"
    ("'q'", "--comment=\"'q'\""),
    ('say "hi"', '--comment="say \\"hi\\""'),
    ("a\\b", '--comment="a\\\\b"'),
    ("x#y", '--comment="x#y"'),
    ("plain-1.0:x", "--comment=plain-1.0:x"),
])
def test_a_value_is_quoted_where_sbatch_would_read_it_otherwise(value, directive):
    assert directive in with_profile(comment=value)


@pytest.mark.parametrize("key", ["chdir", "chd", "arr", "dep", "parsable", "wrap", "array"])
def test_an_option_rulec_sets_itself_is_refused_in_any_spelling_sbatch_takes(key):
    """sbatch takes an unambiguous start of a long option as the option (``--chd=/tmp`` moves
    the job to /tmp)."""
    with pytest.raises(BackendError, match=r"rule make: the SLURM option --" + key + r"\b.* is set by rulec itself"):
        with_profile(**{key: "/tmp"})


@pytest.mark.parametrize("extra, found", [
    ("--chdir=/tmp", "chdir"),
    ("--exclusive --chd /tmp", "chdir"),
    ("-D/tmp", "chdir"),
    ("-HD /tmp", "chdir"),  # -H takes no value: -D follows in the same word
    ("-v -a 0-3", "array"),
    ("--dependency=afterok:1", "dependency"),
    ("-Hd afterany:1", "dependency"),
    ("--parsable", "parsable"),
    ("--wrap='rm -rf x'", "wrap"),
])
def test_extra_flags_may_not_set_an_option_rulec_sets_itself(extra, found):
    with pytest.raises(BackendError, match=rf"the SLURM extra flags .* set --{found} \(.*\), which rulec sets itself"):
        with_profile(extra=extra)


def test_extra_flags_that_set_nothing_of_rulecs_stay_raw():
    lines = with_profile(extra="-pdebug --exclusive -H --mail-type=END -J rename")
    assert lines[-1] == "-pdebug --exclusive -H --mail-type=END -J rename"  # -pdebug: -p takes "debug"
    with pytest.raises(BackendError, match="extra flags .*: No closing quotation"):
        with_profile(extra="--comment='open")


def test_an_option_name_that_is_not_a_plain_name_is_refused_in_settings_made_by_hand():
    """The profile reader refuses such keys; settings made any other way are checked too."""
    layer = prof.Layer((("comment=x --partition=short", True),), "by hand")
    with pytest.raises(BackendError, match=r"'comment=x --partition=short' is not a SLURM option name"):
        directives(profile=prof.Profile(None, {"slurm": prof.BackendProfile(top=layer)}))
