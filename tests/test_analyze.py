"""The analyzer (and the parser's syntax errors): one test per kind of error, each asserting
the exact text a person sees: ``FILE:LINE:COL: message``, the source line, a caret line
(and a hint where there is one). Then what the analyzer accepts: ambiguity settled by
ruleorder/priority, ``--set`` overrides, glob dimensions, wildcard splitting, constraints.

Rulefiles are written into a temporary folder that is the current directory, so messages
name ``Rulefile`` exactly as ``rulec check`` run there would.
"""

from __future__ import annotations

import textwrap

import pytest

from rulec import analyze, ir
from rulec import pattern as pat
from rulec.errors import AnalysisError, ErrorGroup, RulecError, SyntaxError_

HEAD = 'dimension dataset = ["data_0", "data_1"]\ndimension model = ["logistic_model", "decision_tree"]\n'


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(root, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def load(root, text: str, files: dict[str, str] | None = None, **kw) -> ir.Workflow:
    write(root, {"Rulefile": text, **(files or {})})
    return analyze.load("Rulefile", **kw)


def error(root, text: str, files: dict[str, str] | None = None, kind: type = RulecError, **kw) -> str:
    """The rendered error of analyzing ``text`` (it must fail, with errors of ``kind``)."""
    with pytest.raises(RulecError) as info:
        load(root, text, files, **kw)
    err = info.value
    for e in err.errors if isinstance(err, ErrorGroup) else [err]:
        assert isinstance(e, kind), e.render()
        assert e.span is not None, e.render()
    return err.render()


def msg(*lines: str) -> str:
    return "\n".join(lines)


# ============================================================================ syntax errors

def test_syntax_missing_colon_after_a_rule_name(here):
    assert error(here, 'rule estimate\n    output: "x"\n', kind=SyntaxError_) == msg(
        "Rulefile:1:14: unexpected end of line; expected ':'",
        "    rule estimate",
        "                 ^",
    )


def test_syntax_field_without_a_colon(here):
    assert error(here, 'rule estimate:\n    output "x"\n', kind=SyntaxError_) == msg(
        """Rulefile:2:12: unexpected string "x"; expected ':'""",
        '        output "x"',
        "               ^^^",
    )


def test_syntax_unterminated_string(here):
    assert error(here, 'rule estimate:\n    output: "bld/x.json\n', kind=SyntaxError_) == msg(
        'Rulefile:2:13: unterminated string: a "string" ends on its own line (use """...""" for several lines)',
        '        output: "bld/x.json',
        "                ^",
    )


def test_syntax_unterminated_block(here):
    assert error(here, "rule estimate:\n    shell: '''echo\n        more\n", kind=SyntaxError_) == msg(
        "Rulefile:2:12: unterminated string: no closing '''",
        "        shell: '''echo",
        "               ^",
    )


def test_syntax_unexpected_indentation(here):
    assert error(here, 'dimension model = ["a"]\n    rule estimate:\n', kind=SyntaxError_) == msg(
        "Rulefile:2:1: unexpected indentation; expected 'config', 'dimension', 'include', 'label', 'rule' or 'ruleorder'",
        "        rule estimate:",
        "    ^^^^",
    )


def test_syntax_indentation_that_matches_no_block(here):
    text = 'rule estimate:\n    output: "x"\n  shell: "touch {output}"\n'
    assert error(here, text, kind=SyntaxError_) == msg(
        "Rulefile:3:1: this line is indented by 2, which matches no enclosing block: "
        "indent it by 4 to stay in the block, or by 0 to end it",
        '      shell: "touch {output}"',
        "    ^^",
    )


def test_syntax_missing_indented_block(here):
    assert error(here, 'rule estimate:\nrule summarize:\n    output: "y"\n', kind=SyntaxError_) == msg(
        "Rulefile:1:15: expected an indented block below this line; found 'rule' on line 2",
        "    rule estimate:",
        "                  ^",
    )


def test_syntax_field_with_nothing(here):
    assert error(here, 'rule estimate:\n    output:\nrule b:\n    output: "y"\n', kind=SyntaxError_) == msg(
        "Rulefile:2:12: expected an indented block below this line; found the end of the block",
        "        output:",
        "               ^",
    )


def test_syntax_unclosed_bracket(here):
    assert error(here, 'dimension model = ["a", "b"\nrule estimate:\n    output: "x"\n', kind=SyntaxError_) == msg(
        "Rulefile:2:1: unexpected 'rule'; expected ',' or ']' (is a '[' or '(' above left open?)",
        "    rule estimate:",
        "    ^^^^",
    )


def test_syntax_unknown_statement(here):
    assert error(here, 'rules estimate:\n    output: "x"\n', kind=SyntaxError_) == msg(
        "Rulefile:1:1: unexpected 'rules'; expected 'config', 'dimension', 'include', 'label', 'rule' or 'ruleorder' (did you mean 'rule'?)",
        "    rules estimate:",
        "    ^^^^^",
    )


def test_syntax_keywords_are_whole_words(here):
    # "rulefoo:" is not the rule "foo"
    assert error(here, 'rulefoo:\n    output: "x"\n', kind=SyntaxError_).splitlines()[0] == (
        "Rulefile:1:1: unexpected 'rulefoo'; expected 'config', 'dimension', 'include', 'label', 'rule' or 'ruleorder' (did you mean 'rule'?)"
    )


def test_syntax_a_name_with_a_letter_that_is_not_ascii_says_what_names_hold(here):
    assert error(here, 'rule données:\n    output: "x"\n', kind=SyntaxError_) == msg(
        "Rulefile:1:10: unexpected character 'é'; expected ':' or end of line",
        "    rule données:",
        "             ^",
        "  hint: names (of rules, dimensions, labels, params, fields and wildcards) are ASCII letters, digits and _: "
        "write 'donnees' for 'données'",
    )
    out = error(here, 'rule a:\n    output: "x/{é}"\n    shell: "touch {output} {ré}"\n', kind=AnalysisError)
    assert out.splitlines()[0] == ("Rulefile:2:16: bad wildcard {é}: expected {name}, {name,regex} or {name.field} "
                                   "(names are ASCII letters, digits and _)")


def test_syntax_unexpected_character(here):
    assert error(here, 'rule estimate:\n    output: "x" @ "y"\n', kind=SyntaxError_) == msg(
        "Rulefile:2:17: unexpected character '@'; expected ',', ')', ']' or end of line",
        '        output: "x" @ "y"',
        "                    ^",
    )


def test_syntax_missing_comma(here):
    assert error(here, 'dimension model = ["a" "b"]\n', kind=SyntaxError_) == msg(
        """Rulefile:1:24: unexpected string "b"; expected ',' or ']'""",
        '    dimension model = ["a" "b"]',
        "                           ^^^",
    )


def test_syntax_nul_character_in_a_string(here):
    assert error(here, 'rule estimate:\n    output: "a\0b"\n', kind=SyntaxError_).splitlines()[0] == (
        "Rulefile:2:15: a NUL character inside a string"
    )


def test_syntax_errors_in_separate_statements_are_all_reported(here):
    text = 'rule a\n    output: "x"\n\nrule b:\n    output "y"\n\ndimension m = [\n'
    with pytest.raises(ErrorGroup) as info:
        load(here, text)
    assert [type(e) for e in info.value.errors] == [SyntaxError_] * 3
    assert info.value.render() == msg(
        "Rulefile:1:7: unexpected end of line; expected ':'",
        "    rule a",
        "          ^",
        """Rulefile:5:12: unexpected string "y"; expected ':'""",
        '        output "y"',
        "               ^^^",
        """Rulefile:7:16: unexpected end of file; expected a \"\"\"block\"\"\", '[', a name, a number, ']' or a string""",
        "    dimension m = [",
        "                   ^",
    )


# ============================================================================ dimensions

def test_unknown_dimension_in_a_field_reference(here):
    text = HEAD + 'rule prepare:\n    input: "src/{datset.subset}.csv"\n    output: "bld/{dataset}.csv"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:4:17: unknown dimension 'datset' in {datset.subset} (did you mean 'dataset'?)",
        '        input: "src/{datset.subset}.csv"',
        "                    ^^^^^^^^^^^^^^^",
    )


def test_unknown_dimension_in_a_shell_command(here):
    text = HEAD + 'rule prepare:\n    output: "bld/{dataset}.csv"\n    shell: "run --subset {datset.subset} > {output}"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:5:26: unknown dimension 'datset' in {datset.subset} (did you mean 'dataset'?)",
        '        shell: "run --subset {datset.subset} > {output}"',
        "                             ^^^^^^^^^^^^^^^",
    )


def test_unknown_dimension_in_set(here):
    with pytest.raises(AnalysisError) as info:
        load(here, HEAD, overrides={"modl": ("decision_tree",)})
    assert info.value.render() == "--set modl=...: no dimension named modl (did you mean 'model'?)"


def test_unknown_field_of_a_dimension(here):
    text = (
        'dimension dataset:\n    data_0: subset="s1"\n    data_1: subset="s2"\n'
        'rule prepare:\n    output: "bld/{dataset}.csv"\n    shell: "run --subset {dataset.subst} > {output}"\n'
    )
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:6:26: dimension dataset has no field 'subst' (did you mean 'subset'?) (its fields: subset)",
        '        shell: "run --subset {dataset.subst} > {output}"',
        "                             ^^^^^^^^^^^^^^^",
    )


def test_dimension_values_with_different_fields(here):
    text = 'dimension dataset:\n    data_0: subset="s1"\n    data_1: rows=3\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:3:5: value 'data_1' of dimension dataset has fields ['rows'], the first value has ['subset'] (differs in subset)",
        "        data_1: rows=3",
        "        ^^^^^^",
    )


def test_duplicate_dimension_value(here):
    assert error(here, 'dimension model = ["a", "b", "a"]\n', kind=AnalysisError) == msg(
        "Rulefile:1:30: duplicate value 'a' in dimension model",
        '    dimension model = ["a", "b", "a"]',
        "                                 ^^^",
    )


# ============================================================================ wildcards

def test_wildcard_in_input_that_no_output_defines(here):
    text = HEAD + 'rule estimate:\n    input: "bld/{sample}.csv"\n    output: "bld/{dataset}_{model}.json"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:4:17: wildcard {sample} in input is not defined by any output of rule estimate (its outputs define {dataset}, {model})",
        '        input: "bld/{sample}.csv"',
        "                    ^^^^^^^^",
    )


def test_dimension_wildcard_in_input_suggests_expand(here):
    text = HEAD + 'rule summarize:\n    input: "bld/{dataset}_{model}.json"\n    output: "bld/{model}.csv"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:4:17: wildcard {dataset} in input is not defined by any output of rule summarize (its outputs define {model})",
        '        input: "bld/{dataset}_{model}.json"',
        "                    ^^^^^^^^^",
        "  hint: use expand(...) to take every value of a dimension",
    )


def test_wildcard_in_log_that_no_output_defines(here):
    text = HEAD + 'rule estimate:\n    output: "bld/{dataset}_{model}.json"\n    log: "logs/{dataset}_{model}_{seed}.log"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:5:34: wildcard {seed} in log is not defined by any output of rule estimate (its outputs define {dataset}, {model})",
        '        log: "logs/{dataset}_{model}_{seed}.log"',
        "                                     ^^^^^^",
    )


def test_log_missing_an_output_wildcard(here):
    text = HEAD + 'rule estimate:\n    output: "bld/{dataset}_{model}.json"\n    log: "logs/{dataset}.log"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:5:10: log 'logs/{dataset}.log' must use every output wildcard, or jobs would share it: missing {model}",
        '        log: "logs/{dataset}.log"',
        "             ^^^^^^^^^^^^^^^^^^^^",
    )


def test_wildcard_in_params_that_no_output_defines(here):
    text = HEAD + 'rule estimate:\n    output: "bld/{dataset}.json"\n    params: name="fit_{model}"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:5:23: wildcard {model} in params is not defined by any output of rule estimate (its outputs define {dataset})",
        '        params: name="fit_{model}"',
        "                          ^^^^^^^",
    )


def test_wildcard_in_shell_that_no_output_defines(here):
    text = HEAD + 'rule estimate:\n    output: "bld/{dataset}.json"\n    shell: "fit --model {model} > {output}"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:5:25: wildcard {model} in shell is not defined by any output of rule estimate (its outputs define {dataset})",
        '        shell: "fit --model {model} > {output}"',
        "                            ^^^^^^^",
    )


def test_unknown_name_in_shell(here):
    text = HEAD + 'rule estimate:\n    output: "bld/{dataset}.json"\n    shell: "fit {inptu} > {output}"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:5:17: unknown name {inptu} in shell command (did you mean 'input'?): not a wildcard of rule estimate "
        "(its outputs define {dataset}), nor input, output, log, params, resources, threads, rule, jobid or attempt",
        '        shell: "fit {inptu} > {output}"',
        "                    ^^^^^^^",
    )


def test_unknown_input_name_in_shell(here):
    text = 'rule estimate:\n    input: data="a.csv"\n    output: "x"\n    shell: "fit {input.dat} > {output}"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:4:17: rule estimate has no input named 'dat' (did you mean 'data'?)",
        '        shell: "fit {input.dat} > {output}"',
        "                    ^^^^^^^^^^^",
    )


def test_an_entry_with_an_error_does_not_also_make_its_name_unknown(here):
    text = HEAD + 'rule estimate:\n    input: data="{sample}.csv"\n    output: "bld/{dataset}.json"\n    shell: "fit {input.data} {input} > {output}"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:4:18: wildcard {sample} in input is not defined by any output of rule estimate (its outputs define {dataset})",
        '        input: data="{sample}.csv"',
        "                     ^^^^^^^^",
    )


def test_outputs_with_different_wildcards(here):
    text = HEAD + 'rule estimate:\n    output: "bld/{dataset}_{model}.json", "bld/{dataset}.log"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:4:43: outputs of rule estimate must all use the same wildcards: {dataset} here, {dataset}, {model} in 'bld/{dataset}_{model}.json'",
        '        output: "bld/{dataset}_{model}.json", "bld/{dataset}.log"',
        "                                              ^^^^^^^^^^^^^^^^^^^",
    )


def test_bad_pattern_in_an_output(here):
    assert error(here, 'rule estimate:\n    output: "bld/{dataset.json"\n', kind=AnalysisError) == msg(
        "Rulefile:2:18: unclosed '{' in pattern (write '{{' for a literal brace)",
        '        output: "bld/{dataset.json"',
        "                     ^",
    )


def test_bad_regex_constraint(here):
    assert error(here, 'rule estimate:\n    output: "bld/{n,[0-9}.txt"\n', kind=AnalysisError) == msg(
        "Rulefile:2:18: bad regex in {n,[0-9}: unterminated character set at position 0",
        '        output: "bld/{n,[0-9}.txt"',
        "                     ^^^^^^^^",
    )


def test_a_constraint_that_names_a_group_is_refused_at_its_slot(here):
    # (the whole path's regex makes the wildcard the group (?P<n>...): a second one named n
    # was Python's "redefinition of group name", a traceback)
    text = 'rule all:\n    input: "oa"\nrule a:\n    output: "o{n,(?P<n>a)}"\n    shell: "touch {output}"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:4:15: bad regex in {n,(?P<n>a)}: a wildcard's regex cannot name a group ((?P<n>...)): "
        "the wildcard is the group; write (...) or (?:...)",
        '        output: "o{n,(?P<n>a)}"',
        "                  ^^^^^^^^^^^^",
    )


@pytest.mark.parametrize("regex,why", [
    ("(?i)a", "cannot set flags for the whole pattern"),
    ("(a)\\\\1", "cannot refer back to a group"),
])
def test_a_constraint_with_global_flags_or_a_back_reference_is_refused(here, regex, why):
    text = f'rule all:\n    input: "oaa"\nrule a:\n    output: "o{{n,{regex}}}"\n    shell: "touch {{output}}"\n'
    out = error(here, text, kind=AnalysisError)
    assert out.startswith("Rulefile:4:15: bad regex in {n,") and why in out, out


def test_constraint_on_a_dimension_wildcard(here):
    text = HEAD + 'rule estimate:\n    output: "bld/{model,[a-z]+}.json"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:4:18: wildcard {model} is a dimension: its values are its constraint, drop ',[a-z]+'",
        '        output: "bld/{model,[a-z]+}.json"',
        "                     ^^^^^^^^^^^^^^",
    )


# ============================================================================ names

def test_duplicate_rule(here):
    assert error(here, 'rule estimate:\n    output: "a"\nrule estimate:\n    output: "b"\n', kind=AnalysisError) == msg(
        "Rulefile:3:6: duplicate rule 'estimate' (first defined at Rulefile:1:6)",
        "    rule estimate:",
        "         ^^^^^^^^",
    )


def test_duplicate_label(here):
    assert error(here, "label gpu:\n    limit: 1\nlabel gpu:\n    limit: 2\n", kind=AnalysisError) == msg(
        "Rulefile:3:7: duplicate label 'gpu' (first defined at Rulefile:1:7)",
        "    label gpu:",
        "          ^^^",
    )


def test_duplicate_dimension(here):
    assert error(here, 'dimension model = ["a"]\ndimension model = ["b"]\n', kind=AnalysisError) == msg(
        "Rulefile:2:11: duplicate dimension 'model' (first defined at Rulefile:1:11)",
        '    dimension model = ["b"]',
        "              ^^^^^",
    )


def test_unknown_label(here):
    text = 'label gpu:\n    limit: 1\nrule estimate:\n    output: "x"\n    label: gpus\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:5:12: unknown label 'gpus' (did you mean 'gpu'?)",
        "        label: gpus",
        "               ^^^^",
    )


def test_unknown_label_with_nothing_close_gets_a_hint(here):
    assert error(here, 'rule estimate:\n    output: "x"\n    label: fast\n', kind=AnalysisError) == msg(
        "Rulefile:3:12: unknown label 'fast'",
        "        label: fast",
        "               ^^^^",
        "  hint: declare it with a block:  label fast:  and indented settings such as  limit: 1",
    )


def test_unknown_rule_field(here):
    assert error(here, 'rule estimate:\n    ouput: "x"\n', kind=AnalysisError) == msg(
        "Rulefile:2:5: unknown rule field 'ouput' (did you mean 'output'?); expected one of input, output, log, params, "
        "resources, label, shell, persist, priority, retries, benchmark, local, pack",
        '        ouput: "x"',
        "        ^^^^^",
    )


def test_unknown_rule_in_ruleorder(here):
    assert error(here, 'rule estimate:\n    output: "x"\nruleorder: estimat > other\n', kind=AnalysisError) == msg(
        "Rulefile:3:12: unknown rule 'estimat' in ruleorder (did you mean 'estimate'?)",
        "    ruleorder: estimat > other",
        "               ^^^^^^^",
        "Rulefile:3:22: unknown rule 'other' in ruleorder",
        "    ruleorder: estimat > other",
        "                         ^^^^^",
    )


def test_a_rule_twice_in_a_ruleorder_is_an_error_at_the_second(here):
    text = 'rule a:\n    output: "x"\nrule b:\n    output: "y"\nruleorder: a > b > a\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:5:20: ruleorder names rule 'a' twice: a rule cannot come before itself",
        "    ruleorder: a > b > a",
        "                       ^",
    )
    assert error(here, text.replace("a > b > a", "a > a"), kind=AnalysisError).splitlines()[0] == (
        "Rulefile:5:16: ruleorder names rule 'a' twice: a rule cannot come before itself")


# ============================================================================ resources

def test_bad_memory_unit(here):
    assert error(here, 'rule estimate:\n    output: "x"\n    resources: mem="4X"\n', kind=AnalysisError) == msg(
        """Rulefile:3:20: bad memory value '4X': expected a number with a unit K, M, G or T, e.g. "4G\"""",
        '        resources: mem="4X"',
        "                       ^^^^",
    )


def test_a_memory_value_that_is_a_list_is_shown_as_one(here):
    assert error(here, 'rule estimate:\n    output: "x"\n    resources: mem=["4G"]\n', kind=AnalysisError).splitlines()[0] == (
        """Rulefile:3:20: bad memory value ['4G'] (a list): expected a number with a unit K, M, G or T, e.g. "4G\"""")


def test_bad_time_unit(here):
    assert error(here, 'rule estimate:\n    output: "x"\n    resources: time="30 minutes"\n', kind=AnalysisError) == msg(
        """Rulefile:3:21: bad time value '30 minutes': expected e.g. "30m", "2h", "1d", "1h30m" or "HH:MM:SS\"""",
        '        resources: time="30 minutes"',
        "                        ^^^^^^^^^^^^",
    )


def test_bad_clock_time(here):
    assert error(here, 'rule estimate:\n    output: "x"\n    resources: time="1:75"\n', kind=AnalysisError).splitlines()[0] == (
        """Rulefile:3:21: bad time value '1:75': expected e.g. "30m", "2h", "1d", "1h30m" or "HH:MM:SS\""""
    )


@pytest.mark.parametrize("value", ["0", '"2"', "1.5", "-1"])
def test_bad_cpus(here, value):
    text = f'rule estimate:\n    output: "x"\n    resources: cpus={value}\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:3:21: cpus must be a whole number of at least 1",
        f"        resources: cpus={value}",
        "                        " + "^" * len(value),
    )


def test_bad_custom_resource(here):
    assert error(here, 'rule estimate:\n    output: "x"\n    resources: io="lots"\n', kind=AnalysisError) == msg(
        "Rulefile:3:19: custom resource 'io' must be a number of at least 0",
        '        resources: io="lots"',
        "                      ^^^^^^",
    )


READS_SHEET = "sample\treads\nA\ta1.fq,a2.fq\nB\tb1.fq\n"
INDEXED = ('dimension sample = table("s.tsv", list_sep=",")\n'
           'dimension d = ["p", "q"]\n'
           'config "c.toml"\n'
           'rule a:\n'
           '    input: o="ref.fa", reads="{sample.reads}", each=expand("in/{d}.txt")\n'
           '    output: "x/{sample}/{n}"\n'
           '    log: l="a{sample}{n}.log"\n'
           '    params: r="{sample.reads}", t=["a", "b"], s=3\n'
           '    shell: "cat REF > {output}"\n')


@pytest.mark.parametrize("ref,message", [
    # a count the Rulefile fixes
    ("{output[1]}", "rule a has 1 output, so [1] names none (0 is the first)"),
    ("{output[99999999999999999999]}", "rule a has 1 output, so [99999999999999999999] names none (0 is the first)"),
    ("{log.l[1]}", "log l of rule a is 1 path, so [1] names none (0 is the first)"),
    ("{input.o[1]}", "input o of rule a is 1 path, so [1] names none (0 is the first)"),
    ("{input.each[2]}", "input each of rule a is 2 paths, so [2] names none (0 is the first)"),
    ("{params.t[2]}", "param t has 2 items, so [2] names none (0 is the first)"),
    ("{config.models[2]}", "config key 'models' has 2 items, so [2] names none (0 is the first)"),
    # a count each value of the dimension fixes: every value is looked at
    ("{input[4]}", "the job of rule a for sample 'B' has 4 inputs, so [4] names none (0 is the first)"),
    ("{input.reads[1]}", "the job of rule a for sample 'B' has 1 input reads path, so [1] names none (0 is the first)"),
    ("{sample.reads[1]}", "field 'reads' of sample 'B' has 1 item, so [1] names none (0 is the first)"),
    ("{params.r[1]}", "param r ({sample.reads}) has 1 item for sample 'B', so [1] names none (0 is the first)"),
    # no items at all
    ("{params.s[0]}", "param s is one value, not a list: drop [0]"),
    ("{n[0]}", "a wildcard is one value, not a list: drop [0]"),
    ("{wildcards.n[0]}", "a wildcard is one value, not a list: drop [0]"),
    ("{resources.cpus[0]}", "a resource is one number, not a list: drop [0]"),
    ("{attempt.x}", "{attempt} has no fields or items: write {attempt}"),
    ("{rule[0]}", "{rule} has no fields or items: write {rule}"),
    ("{jobid.x}", "{jobid} has no fields or items: write {jobid}"),
    ("{threads[1]}", "{threads} has no fields or items: write {threads}"),
])
def test_a_reference_past_the_end_of_its_list_or_into_a_single_value_is_an_error_at_it(here, ref, message):
    # (each rendered "" or dropped the index, and rulec check said ok)
    text = INDEXED.replace("REF", ref)
    out = error(here, text, files={"s.tsv": READS_SHEET, "c.toml": 'models = ["m1", "m2"]\n'}, kind=AnalysisError)
    assert out == msg(f"Rulefile:9:17: {ref}: {message}", f'        shell: "cat {ref} > {{output}}"',
                      " " * 20 + "^" * len(ref)), out


def test_references_inside_their_lists_are_fine(here):
    refs = "{input[3]} {input.reads[0]} {input.each[1]} {sample.reads[0]} {params.r[0]} {params.t[1]} {config.models[1]} {log[0]}"
    wf = load(here, INDEXED.replace("REF", refs), files={"s.tsv": READS_SHEET, "c.toml": 'models = ["m1", "m2"]\n'})
    assert wf.rules[0].shell is not None


def test_unknown_resource_in_shell(here):
    text = 'rule estimate:\n    output: "x"\n    resources: io=1\n    shell: "run --io {resources.oi} > {output}"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:4:22: rule estimate has no resource 'oi' (it has cpus, gpus, io, mem, mem_mb, time, time_s)",
        '        shell: "run --io {resources.oi} > {output}"',
        "                         ^^^^^^^^^^^^^^",
    )


RULE_A = 'rule a:\n    output: "x{s}"\n    shell: "touch {output}"\n'


@pytest.mark.parametrize("text,expected", [
    ('rule a:\n    output: "x"\n    resources: cpus=1, cpus=2\n',
     ("Rulefile:3:24: resource 'cpus' is given twice", "        resources: cpus=1, cpus=2", "                           ^^^^")),
    ('rule a:\n    output: "x"\n    resources: io=1, mem="2G", io=2\n',
     ("Rulefile:3:32: resource 'io' is given twice", '        resources: io=1, mem="2G", io=2', "                                   ^^")),
    ("label g:\n    limit: 1\n    limit: 2\n",
     ("Rulefile:3:5: 'limit' given twice in label g", "        limit: 2", "        ^^^^^")),
    ('label g:\n    slurm: partition="a", partition="b"\n',
     ("Rulefile:2:27: slurm option partition is given twice", '        slurm: partition="a", partition="b"',
      "                              ^^^^^^^^^")),
    ('label g:\n    lsf: queue="a"\n    limit: 1\n    lsf: queue="b"\n',
     ("Rulefile:4:5: 'lsf' given twice in label g", '        lsf: queue="b"', "        ^^^")),
    ('label g:\n    lsf: queue="a", queue="b"\n',
     ("Rulefile:2:21: lsf option queue is given twice", '        lsf: queue="a", queue="b"', "                        ^^^^^")),
    ("dimension s:\n    a: x=1, x=2\n    b: x=3\n" + RULE_A,
     ("Rulefile:2:13: field 'x' of value 'a' is given twice", "        a: x=1, x=2", "                ^")),
    ('dimension s = table("t.tsv", sep="\\t", sep=",")\n' + RULE_A,
     ("Rulefile:1:40: table() option sep is given twice", '    dimension s = table("t.tsv", sep="\\t", sep=",")',
      "                                           ^^^")),
    ('rule all:\n    input: expand("x{s}", s=["a"], s=["b"])\n',
     ("Rulefile:2:36: expand() gives wildcard 's' twice", '        input: expand("x{s}", s=["a"], s=["b"])',
      "                                       ^")),
])
def test_a_key_given_twice_is_an_error_at_the_second(here, text, expected):
    # (each was accepted, the last one winning)
    assert error(here, text, files={"t.tsv": "s\tf\na\t1\n"}, kind=AnalysisError) == msg(*expected)


def test_bad_label_limit(here):
    assert error(here, "label gpu:\n    limit: 0\n", kind=AnalysisError) == msg(
        "Rulefile:2:12: limit must be at least 1",
        "        limit: 0",
        "               ^",
    )


# ============================================================================ include

def test_missing_include(here):
    assert error(here, 'include "sub/rules.rulefile"\nrule a:\n    output: "x"\n', kind=AnalysisError) == msg(
        "Rulefile:1:9: included file not found: sub/rules.rulefile",
        '    include "sub/rules.rulefile"',
        "            ^^^^^^^^^^^^^^^^^^^^",
    )


INCLUDE_B = 'include "b.rules"\nrule a:\n    output: "x"\n    shell: "touch {output}"\n'


def test_an_included_file_that_is_not_utf8_is_an_error_at_the_include(here):
    (here / "b.rules").write_bytes(b'rule b:\n    output: "y\xff"\n')
    assert error(here, INCLUDE_B, kind=AnalysisError) == msg(
        "Rulefile:1:9: included file b.rules:2: not UTF-8 text (byte 22)",
        '    include "b.rules"',
        "            ^^^^^^^^^",
        "  hint: a Rulefile is UTF-8 text: save it as UTF-8",
    )


def test_an_included_file_that_cannot_be_read_is_an_error_at_the_include(here, monkeypatch):
    import builtins

    from rulec import syntax

    (here / "b.rules").write_text('rule b:\n    output: "y"\n')
    real = builtins.open

    def refuse(path, *a, **k):  # what chmod 000 gives a user who is not root
        if str(path).endswith("b.rules"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *a, **k)

    monkeypatch.setattr(syntax, "open", refuse, raising=False)
    assert error(here, INCLUDE_B, kind=AnalysisError) == msg(
        "Rulefile:1:9: included file b.rules: Permission denied",
        '    include "b.rules"',
        "            ^^^^^^^^^",
    )


def test_an_included_folder_is_said_to_be_a_folder(here):
    (here / "sub").mkdir()
    assert error(here, INCLUDE_B.replace("b.rules", "sub"), kind=AnalysisError) == msg(
        "Rulefile:1:9: included file sub is a folder, not a file",
        '    include "sub"',
        "            ^^^^^",
        '  hint: include names a file of rules: include "sub/NAME.rules"',
    )


def test_a_rulefile_that_is_not_utf8_says_where_the_byte_is(here):
    (here / "Rulefile").write_bytes('# é\nrule a:\n    output: "x\xff"\n'.encode("utf-8").replace(b"\xc3\xbf", b"\xff"))
    with pytest.raises(RulecError) as info:
        analyze.load("Rulefile")
    assert info.value.render() == msg(
        "Rulefile:3:15: not UTF-8 text (byte 27)",
        '        output: "x\ufffd"',
        "                  ^",
        "  hint: a Rulefile is UTF-8 text: save it as UTF-8",
    )


def test_missing_include_says_where_it_looked(here):
    files = {"sub/x.rules": 'include "../nope.rules"\n'}
    assert error(here, 'include "sub/x.rules"\n', files, kind=AnalysisError) == msg(
        "sub/x.rules:1:9: included file not found: ../nope.rules (looked for nope.rules)",
        '    include "../nope.rules"',
        "            ^^^^^^^^^^^^^^^",
    )


def test_include_of_itself(here):
    assert error(here, 'include "Rulefile"\nrule a:\n    output: "x"\n', kind=AnalysisError) == msg(
        "Rulefile:1:9: 'Rulefile' includes itself",
        '    include "Rulefile"',
        "            ^^^^^^^^^^",
    )


def test_include_cycle(here):
    files = {"sub/Rulefile": 'include "../Rulefile"\n'}
    assert error(here, 'include "sub/Rulefile"\n', files, kind=AnalysisError) == msg(
        "sub/Rulefile:1:9: include cycle: Rulefile -> sub/Rulefile -> Rulefile",
        '    include "../Rulefile"',
        "            ^^^^^^^^^^^^^",
    )


def test_errors_in_an_included_file_name_that_file(here):
    files = {"sub/Rulefile": 'rule a:\n    output: "x"\n    label: nope\n'}
    assert error(here, 'include "sub/Rulefile"\n', files, kind=AnalysisError).splitlines()[:2] == [
        "sub/Rulefile:3:12: unknown label 'nope'",
        "        label: nope",
    ]


# ============================================================================ expand

def test_expand_naming_an_unknown_wildcard(here):
    text = HEAD + 'rule all:\n    input: expand("bld/{dataset}_{model}.json", modl=["decision_tree"])\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:4:49: expand() names wildcard 'modl' that is not in its pattern 'bld/{dataset}_{model}.json' (did you mean 'model'?)",
        '        input: expand("bld/{dataset}_{model}.json", modl=["decision_tree"])',
        "                                                    ^^^^",
    )


def test_expand_with_a_value_a_dimension_does_not_have(here):
    text = HEAD + 'rule all:\n    input: expand("bld/{dataset}_{model}.json", model=["tree"])\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:4:56: 'tree' is not a value of dimension model",
        '        input: expand("bld/{dataset}_{model}.json", model=["tree"])',
        "                                                           ^^^^^^",
    )


def test_expand_of_a_free_wildcard_without_values(here):
    text = HEAD + 'rule all:\n    input: expand("bld/{dataset}_{seed}.json")\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:4:34: wildcard {seed} in expand() has no values: it is not a dimension, not bound by an output of rule all, "
        "and not given as expand(..., seed=[...])",
        '        input: expand("bld/{dataset}_{seed}.json")',
        "                                     ^^^^^^",
    )


def test_expand_giving_values_to_an_output_wildcard(here):
    text = HEAD + 'rule summarize:\n    input: expand("bld/{dataset}_{model}.json", model=["decision_tree"])\n    output: "bld/{model}.csv"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:4:49: wildcard {model} is bound by the outputs of rule summarize, so expand() cannot give it values",
        '        input: expand("bld/{dataset}_{model}.json", model=["decision_tree"])',
        "                                                    ^^^^^",
    )


def test_zip_of_lists_of_different_lengths(here):
    text = 'dimension a = ["1", "2"]\ndimension b = ["x", "y", "z"]\nrule r:\n    input: zip("in/{a}_{b}.txt")\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:4:12: zip() needs lists of the same length (a: 2, b: 3)",
        '        input: zip("in/{a}_{b}.txt")',
        "               ^^^^^^^^^^^^^^^^^^^^^",
    )


# ============================================================================ ambiguity

def test_two_rules_that_can_make_one_path(here):
    text = 'rule plot:\n    output: "bld/plots/{name}.png"\nrule special:\n    output: "bld/plots/special.png"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:4:13: rules 'plot' and 'special' can both make 'bld/plots/special.png' "
        "('bld/plots/{name}.png' at Rulefile:2:13, 'bld/plots/special.png' here)",
        '        output: "bld/plots/special.png"',
        "                ^^^^^^^^^^^^^^^^^^^^^^^",
        "  hint: settle it with  ruleorder: plot > special  (or the other way), or a priority",
    )


def test_ambiguity_witness_uses_dimension_values(here):
    text = HEAD + 'rule estimate:\n    output: "bld/{dataset}_{model}.json"\nrule other:\n    output: "bld/{name}_decision_tree.json"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:6:13: rules 'estimate' and 'other' can both make 'bld/data_0_decision_tree.json' "
        "('bld/{dataset}_{model}.json' at Rulefile:4:13, 'bld/{name}_decision_tree.json' here)",
        '        output: "bld/{name}_decision_tree.json"',
        "                ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
        "  hint: settle it with  ruleorder: estimate > other  (or the other way), or a priority",
    )


def test_ambiguity_with_a_repeated_wildcard(here):
    text = 'rule twin:\n    output: "x/{n}_{n}.txt"\nrule b:\n    output: "x/{m}_b.txt"\n'
    assert "can both make 'x/b_b.txt'" in error(here, text, kind=AnalysisError)


def test_ambiguity_with_a_log_of_another_rule(here):
    text = 'rule a:\n    output: "x/{n}.txt"\n    log: "logs/{n}.log"\nrule b:\n    output: "logs/{m}.log"\n'
    assert "rules 'a' and 'b' can both make 'logs/x.log'" in error(here, text, kind=AnalysisError)


def test_values_holding_the_separator_make_one_path_twice(here):
    text = ('dimension dataset = ["a", "a_b"]\ndimension model = ["c", "b_c"]\n'
            'rule fit:\n    output: "out/{dataset}_{model}.txt"\n')
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:4:13: rule 'fit' makes 'out/a_b_c.txt' twice: for dataset=a_b, model=c and for "
        "dataset=a, model=b_c (pattern 'out/{dataset}_{model}.txt'); two jobs would write one file",
        '        output: "out/{dataset}_{model}.txt"',
        "                ^^^^^^^^^^^^^^^^^^^^^^^^^^^",
        "  hint: put a separator between the wildcards that no value contains (such as '/'), or rename the values",
    )


def test_values_that_share_a_prefix_but_not_the_separator_are_fine(here):
    text = ('dimension dataset = ["data_1", "data_10", "data_11"]\ndimension model = ["lin_prob", "logit"]\n'
            'rule fit:\n    output: "out/{dataset}_{model}.txt"\n    log: "logs/{dataset}/{model}.log"\n')
    assert [r.name for r in load(here, text).rules] == ["fit"]


# ============================================================================ many errors at once

def test_several_errors_in_one_file_are_all_reported(here):
    text = HEAD + (
        'rule estimate:\n    input: "bld/{sample}.csv"\n    output: "bld/{dataset}_{model}.json"\n'
        '    resources: mem="lots"\n    label: gpu\nrule estimate:\n    output: "y"\n'
    )
    with pytest.raises(ErrorGroup) as info:
        load(here, text)
    assert len(info.value.errors) == 4
    assert info.value.render() == msg(
        "Rulefile:4:17: wildcard {sample} in input is not defined by any output of rule estimate (its outputs define {dataset}, {model})",
        '        input: "bld/{sample}.csv"',
        "                    ^^^^^^^^",
        """Rulefile:6:20: bad memory value 'lots': expected a number with a unit K, M, G or T, e.g. "4G\"""",
        '        resources: mem="lots"',
        "                       ^^^^^^",
        "Rulefile:7:12: unknown label 'gpu'",
        "        label: gpu",
        "               ^^^",
        "  hint: declare it with a block:  label gpu:  and indented settings such as  limit: 1",
        "Rulefile:8:6: duplicate rule 'estimate' (first defined at Rulefile:3:6)",
        "    rule estimate:",
        "         ^^^^^^^^",
    )


def test_syntax_errors_in_several_files_are_reported_together(here):
    files = {"a.rules": 'rule a\n    output: "x"\n', "b.rules": 'rule b:\n    output "y"\n'}
    with pytest.raises(ErrorGroup) as info:
        load(here, 'include "a.rules"\ninclude "b.rules"\nrule c:\n    label: nope\n', files)
    # Syntax errors stop before the analysis (the unknown label is not reported yet).
    assert [e.render().splitlines()[0] for e in info.value.errors] == [
        "a.rules:1:7: unexpected end of line; expected ':'",
        """b.rules:2:12: unexpected string "y"; expected ':'""",
    ]


# ============================================================================ accepted

AMBIGUOUS = 'rule plot:\n    output: "bld/plots/{name}.png"\n    shell: "plot {name} > {output}"\nrule special:\n    output: "bld/plots/special.png"\n    shell: "special > {output}"\n'


def _producer(wf: ir.Workflow, path: str) -> str:
    from rulec import dag

    graph = dag.resolve(wf, [path], exists=lambda p: False)
    return graph.job_id(graph.targets[0])


def test_ruleorder_settles_ambiguity(here):
    wf = load(here, AMBIGUOUS + "ruleorder: special > plot\n")
    assert ("special", "plot") in wf.precedence
    assert _producer(wf, "bld/plots/special.png") == "special"
    assert _producer(wf, "bld/plots/other.png") == "plot[other]"


def test_priority_settles_ambiguity(here):
    wf = load(here, AMBIGUOUS.replace('output: "bld/plots/{name}.png"', 'output: "bld/plots/{name}.png"\n    priority: 5'))
    assert wf.rule("plot").priority == 5
    assert _producer(wf, "bld/plots/special.png") == "plot[special]"


def test_contradicting_ruleorders(here):
    assert error(here, AMBIGUOUS + "ruleorder: special > plot\nruleorder: plot > special\n", kind=AnalysisError) == msg(
        "Rulefile:8:1: ruleorder contradicts an earlier ruleorder: 'special' was put before 'plot'",
        "    ruleorder: plot > special",
        "    ^^^^^^^^^^^^^^^^^^^^^^^^^",
    )


def test_set_restricts_a_dimension(here):
    text = HEAD + 'rule all:\n    input: expand("bld/{dataset}_{model}.json")\n'
    wf = load(here, text, overrides={"model": ("decision_tree",)})
    assert wf.dimensions["model"].values == ("decision_tree",)
    assert wf.dimensions["dataset"].values == ("data_0", "data_1")
    assert wf.rule("all").inputs[0].combos == (("data_0", "decision_tree"), ("data_1", "decision_tree"))


def test_set_with_a_value_the_dimension_does_not_have(here):
    with pytest.raises(AnalysisError) as info:
        load(here, HEAD, overrides={"model": ("tree",)})
    assert info.value.render() == "--set model=tree: 'tree' is not a value of dimension model (its values: logistic_model, decision_tree)"


def test_set_with_a_value_twice_is_refused(here):
    with pytest.raises(AnalysisError) as info:
        load(here, HEAD, overrides={"model": ("decision_tree", "decision_tree")})
    assert info.value.render() == "--set model=decision_tree,decision_tree: 'decision_tree' is given twice"


def test_set_of_one_dimension_twice_is_refused_not_the_last_alone():
    from rulec.options import Target

    with pytest.raises(RulecError) as info:
        Target("Rulefile", overrides=(("model", ("mean",)), ("dataset", ("a",)), ("model", ("median",))))
    assert info.value.render() == msg("--set model=mean --set model=median: dimension model is restricted twice",
                                      "  hint: give its values once: --set model=mean,median")


def test_glob_dimension_takes_values_from_files(here):
    files = {"data/raw/b_2.csv": "", "data/raw/a.csv": "", "data/raw/notes.txt": "", "data/raw/sub/c.csv": ""}
    text = 'dimension sample = glob("data/raw/{sample}.csv")\nrule all:\n    input: expand("bld/{sample}.txt")\n'
    wf = load(here, text, files)
    assert wf.dimensions["sample"].values == ("a", "b_2")
    assert wf.dimensions["sample"].origin == "glob"


def test_glob_is_relative_to_the_working_folder_not_the_including_file(here):
    files = {"data/x.csv": "", "sub/Rulefile": 'dimension sample = glob("data/{sample}.csv")\n', "sub/data/y.csv": ""}
    wf = load(here, 'include "sub/Rulefile"\n', files)
    assert wf.dimensions["sample"].values == ("x",)
    other = here / "elsewhere"
    write(other, {"data/z.csv": ""})
    wf = analyze.load("Rulefile", workdir=str(other))
    assert wf.dimensions["sample"].values == ("z",)


def test_glob_needs_the_dimensions_own_wildcard(here):
    assert error(here, 'dimension sample = glob("data/{name}.csv")\n', kind=AnalysisError) == msg(
        "Rulefile:1:25: glob() for dimension sample must use exactly the wildcard {sample}",
        '    dimension sample = glob("data/{name}.csv")',
        "                            ^^^^^^^^^^^^^^^^^",
    )


def test_dimension_wildcards_split_values_with_underscores(here):
    text = (
        'dimension dataset = ["data_0", "data_0_x", "d"]\n'
        'dimension model = ["linear_probability", "x", "logit"]\n'
        'rule estimate:\n    output: "bld/{dataset}_{model}.json"\n'
    )
    wf = load(here, text)
    rule = wf.rule("estimate")
    m = pat.Matcher(rule.outputs[0].pattern, pat.Regexes(rule.wildcard_regex, wf.dimensions), rule.wildcards)
    assert m.match("bld/data_0_linear_probability.json") == ("data_0", "linear_probability")
    assert m.match("bld/data_0_x_logit.json") == ("data_0_x", "logit")
    assert m.match("bld/data_0_x.json") == ("data_0", "x")
    assert m.match("bld/d_x.json") == ("d", "x")
    assert m.match("bld/data_1_logit.json") is None
    assert _producer(wf, "bld/data_0_linear_probability.json") == "estimate[data_0,linear_probability]"


def test_free_wildcards_with_regex_constraints(here):
    text = (
        'rule number:\n    output: "runs/{n,[0-9]+}.txt"\n    shell: "seq {n} > {output}"\n'
        'rule word:\n    output: "runs/{w,[a-z]+}.txt"\n    shell: "echo {w} > {output}"\n'
    )
    wf = load(here, text)  # the constraints do not overlap: no ambiguity
    assert dict(wf.rule("number").wildcard_regex) == {"n": "[0-9]+"}
    assert _producer(wf, "runs/42.txt") == "number[42]"
    assert _producer(wf, "runs/abc.txt") == "word[abc]"
    from rulec.errors import ResolveError

    with pytest.raises(ResolveError):
        _producer(wf, "runs/a1.txt")


def test_free_wildcard_does_not_cross_folders(here):
    wf = load(here, 'rule r:\n    output: "bld/{name}.txt"\n')
    rule = wf.rule("r")
    m = pat.Matcher(rule.outputs[0].pattern, dict(rule.wildcard_regex))
    assert m.match("bld/a.txt") == ("a",)
    assert m.match("bld/a/b.txt") is None


def test_the_example_project_analyzes():
    from pathlib import Path

    example = Path(__file__).resolve().parent.parent / "examples" / "datasets_models" / "Rulefile"
    wf = analyze.load(str(example))
    assert [r.name for r in wf.rules] == ["all", "prepare", "estimate", "summarize", "report"]
    assert wf.dimensions["dataset"].table["data_2"]["subset"] == "subset_3"
    assert wf.rule("estimate").label == "gpu" and wf.labels["gpu"].limit == 1
    assert wf.default_target == "all"


def test_default_target_is_the_first_rule_without_all(here):
    wf = load(here, 'rule b:\n    output: "b"\nrule a:\n    output: "a"\n')
    assert wf.default_target == "b"


def test_default_target_is_the_first_rule_of_the_top_file(here):
    wf = load(here, 'include "x.rules"\nrule top:\n    output: "t"\n', {"x.rules": 'rule inc:\n    output: "i"\n'})
    assert wf.default_target == "top"


def test_a_file_included_twice_is_read_once(here):
    files = {
        "a.rules": 'include "common.rules"\nrule a:\n    output: "a"\n',
        "b.rules": 'include "common.rules"\nrule b:\n    output: "b"\n',
        "common.rules": 'rule c:\n    output: "c"\n',
    }
    wf = load(here, 'include "a.rules"\ninclude "b.rules"\n', files)
    assert sorted(r.name for r in wf.rules) == ["a", "b", "c"]


def test_analyze_accepts_a_module_without_files():
    from rulec.syntax import parse

    text = textwrap.dedent('''
        dimension m = ["a", "b"]
        rule r:
            output: "x/{m}.txt"
    ''')
    wf = analyze.analyze(parse(text, "mem.rules"), "/nonexistent")
    assert wf.rules[0].wildcards == ("m",)


# ============================================================================ carets

def test_caret_after_escapes_in_a_string(here):
    text = 'rule r:\n    output: "x"\n    shell: "echo \\"a\\" \\t {nope} > {output}"\n'
    assert error(here, text, kind=AnalysisError).splitlines()[1:] == [
        '        shell: "echo \\"a\\" \\t {nope} > {output}"',
        " " * 30 + "^^^^^^",
    ]


def test_caret_in_a_shell_block_after_a_backslash_newline(here):
    text = 'rule r:\n    output: "x"\n    shell: """\n        echo {output}\n\n          cat {output} \\\n            {output} {nope}\n    """\n'
    assert error(here, text, kind=AnalysisError).splitlines() == [
        "Rulefile:7:22: unknown name {nope} in shell command: not a wildcard of rule r (it has no output wildcards), "
        "nor input, output, log, params, resources, threads, rule, jobid or attempt",
        "                {output} {nope}",
        "                         ^^^^^^",
    ]


def test_caret_in_a_shell_block_at_the_second_of_two_equal_references(here):
    text = 'rule r:\n    output: "x"\n    shell: """\n        echo {output:zz}\n    """\n'
    text2 = 'rule r:\n    output: "x"\n    shell: """\n        echo {output}\n        echo {output:zz}\n    """\n'
    assert error(here, text, kind=AnalysisError).splitlines()[0] == "Rulefile:4:14: unknown modifier ':zz' (expected :raw or :q)"
    assert error(here, text2, kind=AnalysisError).splitlines()[0] == "Rulefile:5:14: unknown modifier ':zz' (expected :raw or :q)"


def test_a_dimension_of_many_values_is_read_in_linear_time():
    # A list dimension was checked for duplicates with a list lookup: 18k values took 3.5 s.
    import time

    from rulec.analyze import analyze
    from rulec.syntax import parse

    values = ", ".join(f'"d{i}"' for i in range(40000))
    text = f"dimension d = [{values}]\nrule r:\n    output: \"out/{{d}}.txt\"\n    shell: \"touch {{output}}\"\n"
    module = parse(text, "Rulefile")
    t0 = time.perf_counter()
    wf = analyze(module, "/nonexistent")
    assert len(wf.dimensions["d"].values) == 40000
    assert time.perf_counter() - t0 < 5  # quadratic took minutes


def unreachable_store() -> None:
    """Register ``unreachablefs://``: a file system whose every listing and read fails as an
    S3 endpoint that does not answer."""
    import fsspec

    class Unreachable(fsspec.AbstractFileSystem):
        protocol = "unreachablefs"

        def ls(self, path, *args, **kwargs):
            raise ConnectionError("Could not connect to the endpoint URL")

        find = glob = info = isdir = cat_file = ls

    fsspec.register_implementation("unreachablefs", Unreachable, clobber=True)


def test_a_glob_on_an_unreachable_store_is_an_error_at_the_glob(here):
    unreachable_store()
    text = 'dimension s = glob("unreachablefs://b/raw/{s}.csv")\nrule a:\n    output: "out/{s}.txt"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:1:20: cannot reach unreachablefs://b/raw/*.csv: Could not connect to the endpoint URL",
        '    dimension s = glob("unreachablefs://b/raw/{s}.csv")',
        "                       ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
        "  hint: fsspec takes its settings from the environment (e.g. FSSPEC_UNREACHABLEFS_ENDPOINT_URL, "
        "and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for S3)",
    )


def test_a_table_on_an_unreachable_store_is_an_error_at_the_table(here):
    unreachable_store()
    text = 'dimension s = table("unreachablefs://b/samples.tsv")\nrule a:\n    output: "out/{s}.txt"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:1:15: cannot reach unreachablefs://b/samples.tsv: Could not connect to the endpoint URL",
        '    dimension s = table("unreachablefs://b/samples.tsv")',
        "                  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
        "  hint: fsspec takes its settings from the environment (e.g. FSSPEC_UNREACHABLEFS_ENDPOINT_URL, "
        "and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for S3)",
    )
    assert error(here, 'dimension s = table("nosuchfs://b/samples.tsv")\nrule a:\n    output: "out/{s}.txt"\n',
                 kind=AnalysisError).splitlines()[0] == \
        "Rulefile:1:15: cannot reach nosuchfs://b/samples.tsv: Protocol not known: nosuchfs"


# ============================================================================ scheduler settings on one line

WHY_ONE_LINE = "scheduler settings go on one line of the job script and may not hold control characters"


def test_a_newline_in_a_label_slurm_option_is_an_error_at_the_newline(here):
    text = 'label gpu:\n    slurm: partition="gpu\\n#SBATCH --uid=0", qos="high"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        f"Rulefile:2:26: slurm option partition: the value holds a newline; {WHY_ONE_LINE}",
        '        slurm: partition="gpu\\n#SBATCH --uid=0", qos="high"',
        "                             ^^",
    )


def test_a_newline_in_a_long_string_lsf_option_is_an_error(here):
    text = 'label gpu:\n    lsf: queue="""gpu\n#BSUB -x"""\n'
    assert error(here, text, kind=AnalysisError) == msg(
        f"Rulefile:2:22: lsf option queue: the value holds a newline; {WHY_ONE_LINE}",
        '        lsf: queue="""gpu',
        "                         ^",
    )


def test_a_control_character_in_the_jbsub_flags_or_extra_is_an_error(here):
    text = 'label gpu:\n    jbsub: "-queue x86_1h\\r-cores 1"\n    slurm: extra="--exclusive\\t--comment=x"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        f"Rulefile:2:26: jbsub flags: the value holds a carriage return; {WHY_ONE_LINE}",
        '        jbsub: "-queue x86_1h\\r-cores 1"',
        "                             ^^",
        f"Rulefile:3:30: slurm option extra: the value holds a tab; {WHY_ONE_LINE}",
        '        slurm: extra="--exclusive\\t--comment=x"',
        "                                 ^^",
    )


def test_label_options_on_one_line_are_accepted(here):
    wf = load(here, 'label gpu:\n    slurm: partition="gpu", comment="a b; $(c) \'d\'"\n    jbsub: "-queue x86_1h"\n')
    assert wf.labels["gpu"].slurm == (("partition", "gpu"), ("comment", "a b; $(c) 'd'"))
    assert wf.labels["gpu"].jbsub == "-queue x86_1h"


# ============================================================================ values outside the working folder

OUTSIDE_HINT = "  hint: if its values are meant to name such paths, say so:  dimension {} (outside){}"


def test_a_list_value_that_leads_outside_the_working_folder_is_an_error_at_the_value(here):
    text = 'dimension p = ["ok", "..", "../../x", "/elsewhere/m", "a/../b", "..a", "a..b/c"]\nrule r:\n    output: "bld/{p}.txt"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:1:22: value '..' of dimension p has '..' as a path segment: paths made from it can lead outside the working folder",
        '    dimension p = ["ok", "..", "../../x", "/elsewhere/m", "a/../b", "..a", "a..b/c"]',
        "                         ^^^^",
        OUTSIDE_HINT.format("p", " = ..."),
        "Rulefile:1:28: value '../../x' of dimension p has '..' as a path segment: paths made from it can lead outside the working folder",
        '    dimension p = ["ok", "..", "../../x", "/elsewhere/m", "a/../b", "..a", "a..b/c"]',
        "                               ^^^^^^^^^",
        OUTSIDE_HINT.format("p", " = ..."),
        "Rulefile:1:39: value '/elsewhere/m' of dimension p starts with '/': paths made from it can lead outside the working folder",
        '    dimension p = ["ok", "..", "../../x", "/elsewhere/m", "a/../b", "..a", "a..b/c"]',
        "                                          ^^^^^^^^^^^^^^",
        OUTSIDE_HINT.format("p", " = ..."),
        "Rulefile:1:55: value 'a/../b' of dimension p has '..' as a path segment: paths made from it can lead outside the working folder",
        '    dimension p = ["ok", "..", "../../x", "/elsewhere/m", "a/../b", "..a", "a..b/c"]',
        "                                                          ^^^^^^^^",
        OUTSIDE_HINT.format("p", " = ..."),
    )


def test_a_block_value_that_leads_outside_is_an_error_at_its_key(here):
    text = 'dimension ref:\n    "/data/hg38": fasta="hg38.fa"\n    mm10: fasta="mm10.fa"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:2:5: value '/data/hg38' of dimension ref starts with '/': paths made from it can lead outside the working folder",
        '        "/data/hg38": fasta="hg38.fa"',
        "        ^^^^^^^^^^^^",
        OUTSIDE_HINT.format("ref", ":"),
    )


def test_the_outside_option_allows_such_values_in_every_form(here):
    text = (
        'dimension p (outside) = ["../a", "/b/c"]\n'
        'dimension ref (outside):\n    "/data/hg38": fasta="hg38.fa"\n'
        'dimension s (outside,) = glob("data/{s}.csv")\n'
        'rule r:\n    output: "{p}/{ref}/{s}.txt"\n'
    )
    wf = load(here, text, {"data/x.csv": ""})
    assert wf.dimensions["p"].values == ("../a", "/b/c")
    assert wf.dimensions["ref"].values == ("/data/hg38",)
    assert wf.dimensions["s"].values == ("x",)


def test_an_unknown_dimension_option_is_an_error_with_a_suggestion(here):
    assert error(here, 'dimension p (outsied) = ["a"]\n', kind=AnalysisError) == msg(
        "Rulefile:1:14: unknown dimension option 'outsied' (did you mean 'outside'?); expected outside",
        '    dimension p (outsied) = ["a"]',
        "                 ^^^^^^^",
    )


def test_a_glob_value_that_leads_outside_is_an_error_at_the_glob(here):
    import fsspec

    class Dots(fsspec.AbstractFileSystem):
        protocol = "dotsfs"

        def find(self, path, **kwargs):
            return ["b/raw/ok.csv", "b/raw/..", "b/raw/../x"]

    fsspec.register_implementation("dotsfs", Dots, clobber=True)
    text = 'dimension s = glob("dotsfs://b/raw/{s}")\nrule a:\n    output: "out/{s}.txt"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:1:20: value '..' of dimension s has '..' as a path segment: paths made from it can lead outside the working folder",
        '    dimension s = glob("dotsfs://b/raw/{s}")',
        "                       ^^^^^^^^^^^^^^^^^^^^",
        OUTSIDE_HINT.format("s", " = ..."),
    )
    wf = load(here, text.replace("dimension s =", "dimension s (outside) ="))
    assert wf.dimensions["s"].values == ("..", "ok.csv")


# ============================================================================ empty glob dimensions

def test_an_empty_glob_dimension_is_a_warning_once_with_its_place(here, capsys):
    text = 'dimension sample = glob("data/raw/{sample}.csv")\nrule all:\n    input: expand("bld/{sample}.txt")\n'
    wf = load(here, text, {"data/raw/.hidden.csv": "", "data/raw/notes.txt": ""})
    assert wf.dimensions["sample"].values == ()
    load(here, text)  # the same warning is not repeated
    assert capsys.readouterr().err == (
        "warning: Rulefile:1:25: glob('data/raw/{sample}.csv') matches no file: dimension sample has no values; "
        "files whose names start with '.' are skipped (such as 'data/raw/.hidden.csv')\n"
    )
    other = 'dimension s = glob("nothing/{s}.csv")\n'
    load(here, other)
    assert capsys.readouterr().err == "warning: Rulefile:1:20: glob('nothing/{s}.csv') matches no file: dimension s has no values\n"


def test_a_glob_that_finds_files_says_nothing_and_skips_dot_files(here, capsys):
    text = 'dimension sample = glob("data/{sample}.csv")\n'
    wf = load(here, text, {"data/a.csv": "", "data/.b.csv": ""})
    assert wf.dimensions["sample"].values == ("a",)
    assert capsys.readouterr().err == ""


# --------------------------------------------------------------------------- label env, retries, {attempt}

ENV_RULES = '''
dimension sample = ["a", "b"]

label java:
    env: JAVA_HOME="/opt/java11", OMP_NUM_THREADS="{threads}", TAG="{sample}-{attempt}"

rule r:
    output: "o/{sample}.txt"
    label: java
    resources: cpus=4
    shell: "java -version > {output}"
'''


def test_label_env_is_parsed_and_checked_per_rule(here):
    wf = load(here, ENV_RULES)
    assert wf.labels["java"].env == (("JAVA_HOME", "/opt/java11"), ("OMP_NUM_THREADS", "{threads}"), ("TAG", "{sample}-{attempt}"))
    env = dict(wf.rule("r").env)
    assert [p.kind for p in env["TAG"].parts if not isinstance(p, str)] == ["wildcard", "attempt"]


def test_label_env_unknown_name_is_an_error_at_its_place_with_a_suggestion(here):
    text = ENV_RULES.replace('"{threads}"', '"{thread}"')
    out = error(here, text)
    assert "Rulefile:5:52: unknown name {thread} in env OMP_NUM_THREADS (did you mean 'threads'?)" in out
    assert out.count("unknown name {thread}") == 1


def test_label_env_errors_with_spans(here):
    out = error(here, '''
label x:
    env: "A", B=["1"], B2="x\\ty"
    limit: 1

rule r:
    output: "o.txt"
    label: x
    shell: "true"
''')
    assert 'Rulefile:3:10: env settings are NAME="value" pairs' in out
    assert "Rulefile:3:17: env B: the value is a string" in out
    assert "Rulefile:3:29: env B2: the value holds a tab" in out


def test_label_env_twice_is_an_error(here):
    out = error(here, 'label x:\n    env: A="1", A="2"\n\nrule r:\n    output: "o"\n    label: x\n    shell: "true"\n')
    assert "Rulefile:2:17: env variable A is given twice" in out


def test_retries_and_attempt_in_params_and_resources(here):
    wf = load(here, '''
rule r:
    output: "o.txt"
    retries: 2
    params: p="x{attempt}"
    resources: mem="4G*{attempt}", time="1h * {attempt}"
    shell: "echo {attempt} {params.p} {resources.mem} > {output}"
''')
    r = wf.rule("r")
    assert r.retries == 2
    assert r.resources.mem_mb == 4096 and r.resources.time_s == 3600
    assert r.resources.at(3).mem_mb == 3 * 4096 and r.resources.at(2).time_s == 7200
    assert wf.rule("r").resources.at(1) is r.resources


def test_retries_must_be_a_whole_number_and_attempt_only_scales_mem_and_time(here):
    out = error(here, '''
rule r:
    output: "o.txt"
    retries: -1
    resources: io="2*{attempt}"
    shell: "true"
''')
    assert "Rulefile:4:14: retries must be zero or more" in out
    assert "Rulefile:5:19: only mem and time can grow with the attempt" in out


def test_the_hidden_file_glob_of_python_3_10_finds_what_include_hidden_finds(tmp_path, monkeypatch):
    import glob
    import sys

    from rulec.analyze import _glob_hidden

    for rel in ("raw/.hidden.csv", "raw/a.csv", "raw/notes.txt", ".cache/x.csv", "sub/.deep/y.csv", "sub/e/z.csv"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    base = glob.escape(str(tmp_path))
    texts = ("raw/*.csv", "*/x.csv", "sub/*/*.csv")
    if sys.version_info >= (3, 11):
        wanted = [sorted(glob.glob(f"{base}/{t}", include_hidden=True)) for t in texts]
    else:
        wanted = [[f"{tmp_path}/raw/.hidden.csv", f"{tmp_path}/raw/a.csv"], [f"{tmp_path}/.cache/x.csv"],
                  [f"{tmp_path}/sub/.deep/y.csv", f"{tmp_path}/sub/e/z.csv"]]
    monkeypatch.setattr(sys, "version_info", (3, 10, 13))
    assert [_glob_hidden(base, t) for t in texts] == wanted
    assert any(".hidden.csv" in p for p in wanted[0])
# ============================================================================ output kinds, local

def test_output_kinds_are_recorded_on_the_output_specs(here):
    wf = load(here, textwrap.dedent('''\
        rule a:
            output: temp("bld/{n}.csv"), flag=protected(touch("bld/{n}.flag")), plain="bld/{n}.txt"
            local: true
        rule b:
            output: "x"
        '''))
    a = wf.rule("a")
    assert [(s.name, s.pattern.text, s.flags) for s in a.outputs] == [
        (None, "bld/{n}.csv", {"temp"}), ("flag", "bld/{n}.flag", {"protected", "touch"}), ("plain", "bld/{n}.txt", frozenset())]
    assert a.outputs[1].wrapper_span.location() == "Rulefile:2:39"  # the outermost wrapper, for messages
    assert a.outputs[1].span.location() == "Rulefile:2:55"  # the pattern's own place, for its errors
    assert a.local and not wf.rule("b").local


def test_temp_on_an_input_or_a_log_is_an_error_at_the_wrapper(here):
    assert error(here, 'rule a:\n    input: temp("x")\n    output: "y"\n', kind=AnalysisError) == msg(
        "Rulefile:2:12: temp() is not for an input: temp() marks an output deleted once every job that reads it "
        "has succeeded (it goes on outputs)",
        '        input: temp("x")',
        "               ^^^^",
    )
    assert error(here, 'rule a:\n    output: "x"\n    log: protected("l.log")\n', kind=AnalysisError).startswith(
        "Rulefile:3:10: protected() is not for a log: protected() marks an output made read-only once its job "
        "has succeeded (it goes on outputs)")


def test_an_unknown_path_wrapper_suggests_the_close_one(here):
    assert error(here, 'rule a:\n    output: tmp("x")\n', kind=AnalysisError) == msg(
        "Rulefile:2:13: unknown path wrapper 'tmp()' (did you mean 'temp'?); an output entry is a path pattern in "
        "quotes, or wrapped: directory(...), temp(...), protected(...), touch(...)",
        '        output: tmp("x")',
        "                ^^^",
    )
    assert error(here, 'rule a:\n    input: expnd("x")\n    output: "y"\n', kind=AnalysisError) == msg(
        "Rulefile:2:12: unknown function 'expnd()' in input (did you mean 'expand'?)",
        '        input: expnd("x")',
        "               ^^^^^",
    )


def test_a_path_wrapper_takes_one_string(here):
    assert error(here, 'rule a:\n    output: protected(model)\n', kind=AnalysisError) == msg(
        'Rulefile:2:23: protected() takes one path pattern in quotes, e.g. protected("bld/x.csv"), not the name model',
        "        output: protected(model)",
        "                          ^^^^^",
        '  hint: a path is written in quotes: protected("model")',
    )
    assert error(here, 'rule a:\n    output: temp(42)\n', kind=AnalysisError).startswith(
        'Rulefile:2:18: temp() takes one path pattern in quotes, e.g. temp("bld/x.csv")\n')
    assert error(here, 'rule a:\n    output: temp("a", "b")\n', kind=AnalysisError) == msg(
        'Rulefile:2:13: temp() takes one path, e.g. temp("bld/x.csv")',
        '        output: temp("a", "b")',
        "                ^^^^^^^^^^^^^^",
    )
    assert error(here, 'rule a:\n    output: temp(temp("a"))\n', kind=AnalysisError).startswith(
        "Rulefile:2:18: temp() is given twice")


def test_contradicting_kinds_and_remote_protected_outputs_are_errors(here):
    assert error(here, 'rule a:\n    output: temp(protected("m"))\n', kind=AnalysisError).startswith(
        "Rulefile:2:28: an output cannot be both temp() and protected(): temp() deletes it once it is used, "
        "protected() keeps it read-only")
    assert error(here, 'rule a:\n    output: touch(directory("d"))\n', kind=AnalysisError).startswith(
        "Rulefile:2:29: touch() makes a marker file, directory() names a folder: an output is one or the other")
    assert error(here, 'rule a:\n    output: protected("s3://b/m.pkl")\n', kind=AnalysisError).startswith(
        "Rulefile:2:23: protected() needs a path on this machine's file system: a remote file cannot be made read-only")
    assert error(here, 'rule a:\n    output: "x"\n    local: yes\n', kind=AnalysisError) == msg(
        "Rulefile:3:12: local takes true or false",
        "        local: yes",
        "               ^^^",
    )


def test_a_pattern_error_inside_a_kind_is_placed_in_the_string(here):
    assert error(here, 'rule a:\n    output: temp("bld/{n")\n', kind=AnalysisError).startswith("Rulefile:2:23: ")
# --------------------------------------------------------------------------- pack

def test_pack_is_a_number_of_jobs_or_a_run_time_per_task_for_rules_and_labels(here):
    wf = load(here, '''
label quick:
    pack: "2m30s"

rule a:
    output: "a/{n}.txt"
    pack: 50
    shell: "touch {output}"

rule b:
    output: "b/{n}.txt"
    label: quick
    shell: "touch {output}"

rule c:
    output: "c/{n}.txt"
    label: quick
    pack: 1
    shell: "touch {output}"
''')
    a, b, c = wf.rule("a"), wf.rule("b"), wf.rule("c")
    assert (a.pack.jobs, a.pack.seconds, a.pack.text) == (50, None, "50")
    assert (a.pack.span.line, a.pack.span.col) == (7, 11)
    assert b.pack is None and c.pack.jobs == 1
    assert (wf.labels["quick"].pack.seconds, wf.labels["quick"].pack.text) == (150, "2m30s")


def test_pack_errors_have_their_place(here):
    out = error(here, '''
label l:
    pack: "soon"

rule a:
    output: "a/{n}.txt"
    pack: 0
    shell: "true"

rule b:
    output: "b/{n}.txt"
    pack: 2.5
    shell: "true"

rule c:
    output: "c/{n}.txt"
    pack: n=3
    shell: "true"
''')
    assert "Rulefile:3:11: pack 'soon': not a run time; expected e.g. \"5m\", \"1h\" or \"HH:MM:SS\", or a whole number of jobs per task" in out
    assert "Rulefile:7:11: pack must be at least 1 (pack: 1 runs one job per task)" in out
    assert 'Rulefile:12:11: pack takes a whole number of jobs per task (pack: 50) or a run time per task (pack: "5m")' in out
    assert "Rulefile:17:5: pack takes a whole number" in out


def test_pack_is_no_part_of_a_jobs_signature(here):
    from rulec.dag import resolve
    from rulec.run.record import Recorder

    plain = 'rule a:\n    output: "a.txt"\n    shell: "touch {output}"\n'
    packed = plain.replace("    shell:", "    pack: 50\n    shell:")
    keys = []
    for text in (plain, packed):
        graph = resolve(load(here, text), ())
        rec = Recorder(graph).finished(0)
        keys.append((rec.cmd_hash, rec.params_hash))
    assert keys[0] == keys[1]


# ============================================================================ rule references

def test_a_reference_to_an_unknown_rule_suggests_a_name(here):
    text = 'rule all:\n    input: rules.prepar.output\n\nrule prepare:\n    output: "p.csv"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:2:18: unknown rule 'prepar' in rules.prepar.output (did you mean 'prepare'?)",
        "        input: rules.prepar.output",
        "                     ^^^^^^",
    )
    text = 'rule all:\n    input: rules.zzz.output\n\nrule prepare:\n    output: "p.csv"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:2:18: unknown rule 'zzz' in rules.zzz.output",
        "        input: rules.zzz.output",
        "                     ^^^",
        "  hint: rules: all, prepare",
    )


def test_a_reference_to_an_unknown_output_name(here):
    text = 'rule all:\n    input: rules.prepare.output.tabel\n\nrule prepare:\n    output: table="p.csv", meta="p.json"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:2:33: rule prepare has no output named 'tabel' (did you mean 'table'?)",
        "        input: rules.prepare.output.tabel",
        "                                    ^^^^^",
    )
    text = 'rule all:\n    input: rules.prepare.output.x\n\nrule prepare:\n    output: table="p.csv", meta="p.json"\n'
    assert error(here, text, kind=AnalysisError).splitlines()[0] == (
        "Rulefile:2:33: rule prepare has no output named 'x' (its named outputs: table, meta)")
    text = 'rule all:\n    input: rules.prepare.output.table\n\nrule prepare:\n    output: "p.csv"\n'
    assert error(here, text, kind=AnalysisError).splitlines()[0] == (
        "Rulefile:2:33: rule prepare has no output named 'table' (it has no named outputs)")


def test_a_reference_to_the_log_of_a_rule_without_one(here):
    text = 'rule all:\n    input: rules.prepare.log\n\nrule prepare:\n    output: "p.csv"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:2:12: rule prepare has no log, so rules.prepare.log names no files",
        "        input: rules.prepare.log",
        "               ^^^^^^^^^^^^^^^^^",
        '  hint: give rule prepare one:  log: "logs/prepare.log"',
    )
    text = 'rule all:\n    input: rules.other.output\n\nrule other:\n    input: "x"\n'
    assert error(here, text, kind=AnalysisError).splitlines()[0] == (
        "Rulefile:2:12: rule other has no outputs, so rules.other.output names no files")


@pytest.mark.parametrize("ref, col, message", [
    ("rules.prepare", 12, "rules.prepare names no files: write rules.prepare.output or rules.prepare.log"),
    ("rules.prepare.outputs", 26, "rules.prepare.outputs: expected rules.prepare.output or rules.prepare.log (did you mean 'output'?)"),
    ("rules.prepare.input", 26, "rules.prepare.input: a reference names a rule's output or log, not its input"),
    ("rules.prepare.output.table.x", 39, "rules.prepare.output.table.x: a reference is rules.RULE.output or rules.RULE.output.NAME"),
])
def test_a_reference_must_name_an_output_or_a_log(here, ref, col, message):
    text = f'rule all:\n    input: {ref}\n\nrule prepare:\n    input: "a"\n    output: table="p.csv"\n'
    assert error(here, text, kind=AnalysisError).splitlines()[0] == f"Rulefile:2:{col}: {message}"


def test_a_rule_that_reads_its_own_outputs_through_a_reference(here):
    text = 'rule a:\n    input: rules.a.output\n    output: "a.txt"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:2:12: rule a reads its own files through rules.a.output: no job can need what it makes",
        "        input: rules.a.output",
        "               ^^^^^^^^^^^^^^",
    )


def test_rule_references_in_a_cycle(here):
    text = ('rule a:\n    input: rules.b.output\n    output: "a"\n\nrule b:\n    input: rules.c.log\n    output: "b"\n\n'
            'rule c:\n    input: rules.a.output\n    output: "c"\n    log: "c.log"\n')
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:10:12: rule references go round in a cycle, a -> b -> c -> a: rule a reads rules.b.output "
        "(Rulefile:2:12), rule b reads rules.c.log (Rulefile:6:12), rule c reads rules.a.output (here)",
        "        input: rules.a.output",
        "               ^^^^^^^^^^^^^^",
        "  hint: no job of these rules could start: one of them must read other files",
    )


def test_references_without_a_cycle_are_fine(here):
    text = ('rule a:\n    input: rules.b.output, rules.c.output\n    output: "a"\n\nrule b:\n    input: rules.c.output\n'
            '    output: "b"\n\nrule c:\n    output: "c"\n')
    wf = load(here, text)
    assert [s.pattern.text for s in wf.rule("a").inputs] == ["b", "c"]


def test_a_wildcard_of_a_referenced_pattern_must_be_bound(here):
    text = ('dimension dataset = ["d0"]\n\nrule all:\n    input: rules.prepare.output\n\n'
            'rule prepare:\n    output: "bld/{dataset}.csv", "bld/{dataset}.json"\n')
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:4:12: wildcard {dataset} in input (rules.prepare.output: 'bld/{dataset}.csv') is not defined by "
        "any output of rule all (it has no output wildcards)",
        "        input: rules.prepare.output",
        "               ^^^^^^^^^^^^^^^^^^^^",
        "  hint: use expand(rules.prepare.output) to take every value of a dimension",
    )


def test_expand_of_a_reference_checks_its_keywords_against_the_patterns(here):
    text = 'rule all:\n    input: expand(rules.fit.output, modle=["m0"])\n\nrule fit:\n    output: "fit/{model}.json"\n'
    out = error(here, text, kind=AnalysisError)
    assert ("Rulefile:2:37: expand() names wildcard 'modle' that is not in rules.fit.output ('fit/{model}.json') "
            "(did you mean 'model'?)") in out
    assert ("Rulefile:2:19: wildcard {model} in expand() has no values: it is not a dimension, not bound by an "
            "output of rule all, and not given as expand(..., model=[...])") in out


def test_a_reference_is_for_inputs_and_a_path_needs_quotes(here):
    text = 'rule a:\n    output: rules.b.output\n\nrule b:\n    output: "b"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:2:13: output entries are path patterns in quotes, or wrapped: directory(...), temp(...), protected(...), touch(...)",
        "        output: rules.b.output",
        "                ^^^^^^^^^^^^^^",
        "  hint: rules.RULE.output stands for another rule's files, in an input; an output of this rule is "
        "written as its pattern, in quotes",
    )
    assert error(here, 'rule all:\n    input: data.csv\n', kind=AnalysisError) == msg(
        "Rulefile:2:12: data.csv is not a path: paths are written in quotes",
        "        input: data.csv",
        "               ^^^^^^^^",
        '  hint: write "data.csv"; rules.RULE.output stands for another rule\'s outputs',
    )
    assert error(here, 'rule a:\n    output: result\n', kind=AnalysisError).splitlines()[-1] == (
        '  hint: a path is written in quotes: "result"')


def test_a_reference_to_a_rule_with_broken_outputs_adds_no_error_of_its_own(here):
    text = 'rule all:\n    input: rules.b.output\n\nrule b:\n    output: "b{"\n'
    assert error(here, text, kind=AnalysisError).splitlines()[0] == (
        "Rulefile:5:15: unclosed '{' in pattern (write '{{' for a literal brace)")


def test_a_reference_to_a_rule_of_an_included_file(here):
    wf = load(here, 'include "sub.rules"\n\nrule all:\n    input: rules.sub.output\n',
              {"sub.rules": 'rule sub:\n    output: "bld/sub.txt"\n'})
    assert [s.pattern.text for s in wf.rule("all").inputs] == ["bld/sub.txt"]
    assert wf.rule("all").inputs[0].span.line == 4


# ============================================================================ multiext

@pytest.mark.parametrize("entry, expected", [
    ('multiext("bld/x", ".bam", "/x.bai")', msg(
        "Rulefile:2:40: multiext() extension '/x.bai' holds a '/': folders go in the prefix",
        '        output: multiext("bld/x", ".bam", "/x.bai")',
        "                                           ^")),
    ('multiext("bld/x", ".bam", bai=".bai")', msg(
        'Rulefile:2:39: multiext() extensions are either all named (bam=".bam") or none',
        '        output: multiext("bld/x", ".bam", bai=".bai")',
        "                                          ^^^")),
    ('out=multiext("bld/x", bam=".bam")', msg(
        "Rulefile:2:17: multiext() with named extensions names its outputs itself: drop 'out='",
        '        output: out=multiext("bld/x", bam=".bam")',
        "                    ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
        '  hint: or give the list one name: out=multiext("...", ".bam", ".bai")')),
    ('multiext("bld/x")', msg(
        'Rulefile:2:13: multiext() takes a path prefix, then extensions: multiext("bld/x", ".bam", ".bai")',
        '        output: multiext("bld/x")',
        "                ^^^^^^^^^^^^^^^^^")),
    ('multiext("bld/x", ".a", "")', msg(
        "Rulefile:2:37: empty multiext() extension",
        '        output: multiext("bld/x", ".a", "")',
        "                                        ^^")),
    ('multiext("bld/x", ".a", 3)', msg(
        'Rulefile:2:37: a multiext() extension is a string in quotes, e.g. ".bai"',
        '        output: multiext("bld/x", ".a", 3)',
        "                                        ^")),
    ('multiext("bld/{x", ".a")', msg(
        "Rulefile:2:27: unclosed '{' in pattern (write '{{' for a literal brace)",
        '        output: multiext("bld/{x", ".a")',
        "                              ^")),
    ('multiext("bld/x", a=".a"), a="y"', msg(
        "Rulefile:2:40: output name 'a' is used twice",
        '        output: multiext("bld/x", a=".a"), a="y"',
        "                                           ^")),
])
def test_multiext_errors(here, entry, expected):
    assert error(here, f"rule r:\n    output: {entry}\n", kind=AnalysisError) == expected


def test_multiext_errors_point_into_the_prefix_or_the_extension(here):
    text = 'rule r:\n    input: multiext("in/{sample}", ".a")\n    output: "x_{a}", multiext("y_{a}", ".1", "_{b}")\n'
    out = error(here, text, kind=AnalysisError)
    assert out == msg(
        "Rulefile:2:25: wildcard {sample} in input is not defined by any output of rule r (its outputs define {a})",
        '        input: multiext("in/{sample}", ".a")',
        "                            ^^^^^^^^",
        "Rulefile:3:46: outputs of rule r must all use the same wildcards: {a}, {b} here, {a} in 'x_{a}'",
        '        output: "x_{a}", multiext("y_{a}", ".1", "_{b}")',
        "                                                 ^^^^^^",
    )
    # a constraint on a dimension wildcard, in a prefix: at the slot
    text = 'dimension d = ["a"]\nrule r:\n    output: multiext("x_{d,[a-z]+}", ".1")\n'
    assert error(here, text, kind=AnalysisError).splitlines()[:3] == [
        "Rulefile:3:25: wildcard {d} is a dimension: its values are its constraint, drop ',[a-z]+'",
        '        output: multiext("x_{d,[a-z]+}", ".1")',
        "                            ^^^^^^^^^^",
    ]


# ============================================================================ Snakemake habits

def test_expand_with_a_bare_name_for_a_free_wildcard_is_an_error_with_a_hint(here):
    text = 'rule all:\n    input: expand("x_{d}.txt", d=DATASETS)\n\nrule r:\n    output: "x_{d}.txt"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:2:34: d=DATASETS: a bare name is not a list of values (a Rulefile has no variables)",
        '        input: expand("x_{d}.txt", d=DATASETS)',
        "                                     ^^^^^^^^",
        '  hint: a list needs brackets and quotes: d=["a", "b"] (one value: d="DATASETS"); '
        "or declare the values as a dimension and name the wildcard after it",
    )
    text = 'dimension dataset = ["a", "b"]\nrule all:\n    input: expand("x_{d}.txt", d=dataset)\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:3:34: d=dataset: a bare name is not a list of values (a Rulefile has no variables)",
        '        input: expand("x_{d}.txt", d=dataset)',
        "                                     ^^^^^^^",
        "  hint: to take every value of dimension dataset, name the wildcard after it: {dataset} in the pattern, and no d=",
    )


def test_a_bare_value_of_a_dimension_in_expand_still_means_that_value(here):
    wf = load(here, 'dimension model = ["a", "b"]\nrule all:\n    input: expand("x_{model}.txt", model=b), expand("y_{d}", d="v")\n')
    assert [s.combos for s in wf.rule("all").inputs] == [(("b",),), (("v",),)]
    text = 'dimension model = ["a", "b"]\nrule all:\n    input: expand("x_{model}.txt", model=MODELS)\n'
    assert error(here, text, kind=AnalysisError).splitlines()[0] == (
        "Rulefile:3:42: 'MODELS' is not a value of dimension model")


def test_a_wildcard_of_expand_one_typo_away_from_a_dimension(here):
    text = 'dimension model = ["a", "b"]\nrule all:\n    input: expand("x_{modle}.txt")\n'
    assert error(here, text, kind=AnalysisError).splitlines()[0] == (
        "Rulefile:3:22: wildcard {modle} in expand() has no values: it is not a dimension (did you mean {model}?), "
        "not bound by an output of rule all, and not given as expand(..., modle=[...])")


def test_a_free_output_wildcard_one_typo_away_from_a_dimension_is_a_warning(here, capsys):
    text = ('dimension model = ["a", "b"]\nrule fit:\n    output: "fit/{modle}.json"\n    shell: "touch {output}"\n'
            'rule free:\n    output: "free/{modle,[a-z]+}.json", "free/{modle}.txt"\n'
            'rule far:\n    output: "far/{mode_x}.json"\n')
    wf = load(here, text)
    assert wf.rule("fit").wildcards == ("modle",)
    assert capsys.readouterr().err == (
        "warning: Rulefile:3:18: wildcard {modle} is not a dimension, so it matches any text (did you mean {model}?); "
        "a constraint ({modle,[a-z]+}) says it is meant to be free\n")


@pytest.mark.parametrize("a, b, close", [
    ("modle", "model", True), ("mdoel", "model", True), ("mdeol", "model", False), ("models", "model", True), ("mode", "model", True),
    ("modex", "model", True), ("model", "model", False), ("ab", "ac", False), ("sample", "lane", False),
])
def test_one_edit_apart(a, b, close):
    assert analyze._one_edit(a, b) is close


@pytest.mark.parametrize("field, value, hint", [
    ("script", '"scripts/x.py"', 'call the script from shell:, e.g.  shell: "python scripts/x.py {input} {output}" '
                                 "(it gets the paths as arguments; there is no snakemake object)"),
    ("conda", '"envs/x.yaml"', 'give the rule a label whose prefix runs its jobs in the environment, e.g.  label myenv:  '
                               'prefix: "conda run -n myenv"  (see "Labels" in docs/language.md; a label\'s env: sets variables)'),
    ("wrapper", '"v1.0/bio/samtools/index"', "write the command the wrapper would run in shell:"),
    ("threads", "4", "write  resources: cpus=N; {threads} in a command is that number"),
    ("run", '\n        shell("touch {output}")', 'rulec runs no Python code of a Rulefile: put the code in a script and '
                                                 'call it from shell:, e.g.  shell: "python scripts/step.py {input} {output}"'),
])
def test_snakemake_rule_fields_say_what_to_write_instead(here, field, value, hint):
    lines = error(here, f'rule r:\n    output: "x"\n    {field}: {value}\n', kind=AnalysisError).splitlines()
    assert lines[0] == (f"Rulefile:3:5: unknown rule field '{field}'; expected one of input, output, log, params, "
                        "resources, label, shell, persist, priority, retries, benchmark, local, pack")
    assert lines[-1] == f"  hint: {hint}"


def test_a_run_block_of_python_is_one_syntax_error_at_run(here):
    text = 'rule r:\n    output: "x"\n    run:\n        with open(output[0], "w") as f:\n            f.write("x")\n'
    assert error(here, text, kind=SyntaxError_) == msg(
        "Rulefile:3:5: a run: block is Python code, which a Rulefile cannot hold",
        "        run:",
        "        ^^^",
        '  hint: rulec runs no Python code of a Rulefile: put the code in a script and call it from shell:, '
        'e.g.  shell: "python scripts/step.py {input} {output}"',
    )


def test_an_unquoted_path_says_to_quote_it(here):
    assert error(here, 'rule r:\n    input: data/x.csv\n    output: "x"\n', kind=SyntaxError_) == msg(
        "Rulefile:2:16: unexpected character '/'; expected ',', '=', '(' or end of line",
        "        input: data/x.csv",
        "                   ^",
        '  hint: paths and other text are written in quotes: "data/x.csv"',
    )
    out = error(here, 'rule r:\n    input: "a", x=data/{s}.csv\n    output: "x"\n', kind=SyntaxError_)
    assert out.splitlines()[-1] == '  hint: paths and other text are written in quotes: "data/{s}.csv"'
    out = error(here, 'rule r:\n    output: "x"\n    resources: mem=4G\n', kind=SyntaxError_)
    assert out.splitlines()[-1] == '  hint: paths and other text are written in quotes: "4G"'
    # not a bare word at a value's place: no hint
    out = error(here, 'rule r:\n    output: "x" @ "y"\n', kind=SyntaxError_)
    assert "hint" not in out


def test_a_tab_in_the_indentation_gets_a_hint(here):
    assert error(here, 'rule r:\n    output: "x"\n\tshell: "touch {output}"\n', kind=SyntaxError_) == msg(
        "Rulefile:3:7: unexpected ':': this line is indented deeper than the field 'output' above it, "
        "so it would go on with that field's items",
        '    \tshell: "touch {output}"',
        "    \t     ^",
        "  hint: a tab in the indentation counts as 8 columns: indent with spaces only",
    )
    assert error(here, 'rule r:\n\toutput: "x"\n    shell: "touch {output}"\n', kind=SyntaxError_) == msg(
        "Rulefile:3:1: this line is indented by 4, which matches no enclosing block: indent it by 8 "
        "to stay in the block, or by 0 to end it",
        '        shell: "touch {output}"',
        "    ^^^^",
        "  hint: a tab in the indentation counts as 8 columns: indent with spaces only",
    )


def test_a_field_indented_deeper_than_the_one_above(here):
    assert error(here, 'rule r:\n    output: "x"\n      shell: "touch {output}"\n', kind=SyntaxError_) == msg(
        "Rulefile:3:12: unexpected ':': this line is indented deeper than the field 'output' above it, "
        "so it would go on with that field's items",
        '          shell: "touch {output}"',
        "               ^",
        "  hint: indent 'shell:' as 'output:' is, to start a field of its own",
    )


def test_items_on_indented_lines_after_the_fields_own_line(here):
    wf = load(here, 'rule r:\n    output: "a",\n            "b"\n    log:    "l1",\n            "l2"\n'
                    '    shell: "touch {output} {log}"\n')
    assert [s.pattern.text for s in wf.rule("r").outputs] == ["a", "b"]
    assert [s.pattern.text for s in wf.rule("r").logs] == ["l1", "l2"]


@pytest.mark.parametrize("text, hint", [
    ('DATASETS = ["a", "b"]\n', 'a Rulefile has no variables: a list of values is a dimension,  dimension datasets = '
                                '["a", "b"],  and a wildcard of that name, {datasets}, takes its values'),
    ("localrules: all\n", "mark each such rule with  local: true"),
    ('configfile: "config.yaml"\n', 'read it with  config "config.toml"  and use its values as {config.key}'),
    ('include: "rules/x.smk"\n', 'write  include "PATH"  (no colon)'),
    ("import os\n", "a Rulefile holds no Python code: call Python from a rule's shell:"),
    ('rule r:\n    input: lambda wildcards: config[wildcards.sample]\n    output: "x"\n',
     "a Rulefile has no functions: a value that depends on the job is a wildcard's field, {dataset.field}, "
     'of a dimension block or of a table(...) sample sheet (see "Dimensions")'),
])
def test_snakemake_statements_say_what_to_write_instead(here, text, hint):
    assert error(here, text, kind=SyntaxError_).splitlines()[-1] == f"  hint: {hint}"
# ============================================================================ config files

CONFIG = '''\
threads = 4
seed = 7
ratio = 0.5
verbose = true
models = ["lin", "tree"]
outdir = "bld"
flags = "--fast --quiet"
[db]
host = "db.example.org"
port = 5432
'''


def shell_text(rule) -> str:
    return "".join(p if isinstance(p, str) else "{%s}" % p.kind for p in rule.shell.parts)


def test_config_values_in_paths_params_shell_resources_and_labels(here):
    wf = load(here, '''\
config "config.toml"
dimension model = config.models

label big:
    limit: "{config.threads}"
    slurm: partition="{config.db.host}", qos="q{config.seed}"
    env: DB="{config.db.host}:{config.db.port}"

rule fit:
    input: "{config.outdir}/data.csv"
    output: "{config.outdir}/fit/{model}.json"
    params: seed="{config.seed}", ratio=config.ratio, tag="s{config.seed}", verbose="{config.verbose}", all="{config.models}"
    resources: cpus="{config.threads}", mem="{config.threads}G"
    label: big
    shell: "fit {config.flags} {config.flags:raw} {config.models} {config.models[1]} --port {config.db.port} > {output}"
''', {"config.toml": CONFIG})
    assert wf.dimensions["model"].values == ("lin", "tree") and wf.dimensions["model"].origin == "config"
    r = wf.rule("fit")
    assert r.inputs[0].pattern.text == "bld/data.csv"
    assert r.outputs[0].pattern.text == "bld/fit/{model}.json" and r.outputs[0].pattern.wildcards == ("model",)
    assert dict(r.params) == {"seed": 7, "ratio": 0.5, "tag": "s7", "verbose": True, "all": ("lin", "tree")}
    assert (r.resources.cpus, r.resources.mem_mb) == (4, 4096)
    assert shell_text(r) == "fit '--fast --quiet' --fast --quiet lin tree tree --port 5432 > {output}"
    label = wf.labels["big"]
    assert label.limit == 4 and label.slurm == (("partition", "db.example.org"), ("qos", "q7"))
    assert "".join(p for p in dict(r.env)["DB"].parts) == "db.example.org:5432"
    # what decides a rerun: paths, params, command, env; not resources nor label settings
    assert [k for k, _ in r.config] == ["db.host", "db.port", "flags", "models", "outdir", "ratio", "seed", "verbose"]


def test_config_values_in_a_block_dimensions_fields_and_in_dimension_values(here):
    wf = load(here, '''\
config "config.toml"
dimension sample:
    a: dir="{config.outdir}/a", threads=config.threads, files=["{config.outdir}/a1.fq", "raw/a2.fq"]
    b: dir="{config.outdir}/b", threads="{config.seed}", files=["raw/b1.fq"]
dimension host = ["{config.db.host}", "local"]

rule count:
    input: "{sample.files}"
    output: "out/{sample}/{host}.txt"
    shell: "count -t {sample.threads} {input} > {sample.dir}/{output}"
''', {"config.toml": CONFIG})
    dim = wf.dimensions["sample"]
    assert dim.table == {"a": {"dir": "bld/a", "threads": "4", "files": ("bld/a1.fq", "raw/a2.fq")},
                         "b": {"dir": "bld/b", "threads": "7", "files": ("raw/b1.fq",)}}
    assert wf.dimensions["host"].values == ("db.example.org", "local")
    # one error where the key is unknown, nothing more said about the field it leaves empty
    assert error(here, 'config "config.toml"\ndimension s:\n    a: f="{config.outdr}/a"\n    b: f="x"\n'
                 'rule r:\n    output: "{s}.txt"\n    shell: "echo {s.f} > {output}"\n', {"config.toml": CONFIG}) == msg(
        "Rulefile:3:11: unknown config key 'outdr' (did you mean 'outdir'?) (the config: config.toml)",
        '        a: f="{config.outdr}/a"',
        "              ^^^^^^^^^^^^^^",
    )


def test_config_files_merge_in_order_tables_key_by_key_and_an_included_file_finds_its_own(here):
    wf = load(here, '''\
config "base.toml"
config "site.yaml"
include "sub/Rulefile"
config "last.json"

rule r:
    output: "{config.db.host}-{config.db.port}-{config.a}-{config.b}-{config.c}.txt"
''', {"base.toml": '[db]\nhost = "h1"\nport = 1\n', "site.yaml": "db:\n  port: 2\na: yaml\n",
      "sub/Rulefile": 'config "sub.toml"\n', "sub/sub.toml": 'b = "sub"\nc = "sub"\n', "last.json": '{"c": "json"}'})
    assert wf.rule("r").outputs[0].pattern.text == "h1-2-yaml-sub-json.txt"
    assert wf.data_files == ("base.toml", "site.yaml", "sub/sub.toml", "last.json")


def test_config_overrides_and_config_files_from_the_command_line(here):
    text = 'config "config.toml"\ndimension model = config.models\nrule r:\n    output: "{config.outdir}/{model}-{config.threads}.txt"\n    params: v="{config.verbose}", extra="{config.extra}"\n'
    files = {"config.toml": CONFIG, "other.toml": 'outdir = "elsewhere"\n'}
    wf = load(here, text, files, config=["threads=8", "models=a,b,c", "verbose=false", "extra=1.5"],
              config_files=["other.toml"])
    assert wf.dimensions["model"].values == ("a", "b", "c")
    assert wf.rule("r").outputs[0].pattern.text == "elsewhere/{model}-8.txt"
    assert dict(wf.rule("r").params) == {"v": False, "extra": 1.5}
    with pytest.raises(RulecError) as info:
        load(here, text, files, config=["threads=many", "db=x", "verbose=maybe", "=1", "models.x=1"])
    assert info.value.render() == msg(
        "--config threads=many: threads is a whole number in the config (4), not 'many'",
        "--config db=x: db is a table in the config; set its keys (--config db.NAME=...)",
        "--config verbose=maybe: verbose is true or false in the config, not 'maybe'",
        "--config '=1': expected KEY=VALUE, e.g. --config threads=4 or --config db.host=x",
        "--config models.x=...: models is a list in the config, not a table",
    )
    with pytest.raises(RulecError) as info:  # a key no file has and nothing uses: a typo
        load(here, 'config "config.toml"\nrule r:\n    output: "{config.extra}"\n', files, config=["extr=1", "new.key=1", "extra=x"])
    assert info.value.render() == msg(
        "--config extr=1: no config file has the key 'extr' and the Rulefile does not use it (did you mean 'extra'?)",
        "  hint: --config sets a key of the config files, or one that {config.KEY} uses",
        "--config new.key=1: no config file has the key 'new.key' and the Rulefile does not use it",
        "  hint: --config sets a key of the config files, or one that {config.KEY} uses",
    )
    with pytest.raises(RulecError) as info:
        load(here, text, files, config_files=["missing.toml"])
    assert info.value.render() == "--config-file missing.toml: no such file"


def test_an_unknown_config_key_is_an_error_at_its_place_with_a_suggestion(here):
    assert error(here, 'config "config.toml"\nrule r:\n    output: "o.txt"\n    shell: "fit --threads {config.thread} --host {config.db.hots} > {output}"\n',
                 {"config.toml": CONFIG}) == msg(
        "Rulefile:4:27: unknown config key 'thread' (did you mean 'threads'?) (the config: config.toml)",
        '        shell: "fit --threads {config.thread} --host {config.db.hots} > {output}"',
        "                              ^^^^^^^^^^^^^^^",
    )
    assert error(here, 'config "config.toml"\nrule r:\n    output: "{config.db.hots}"\n', {"config.toml": CONFIG}) == msg(
        "Rulefile:3:14: unknown config key 'db.hots' (did you mean 'db.host'?) (the config: config.toml)",
        '        output: "{config.db.hots}"',
        "                 ^^^^^^^^^^^^^^^^",
    )


def test_a_missing_or_broken_config_file_is_an_error_at_the_config_line(here):
    assert error(here, 'config "conf/config.toml"\nrule r:\n    output: "{config.x}"\n') == msg(
        "Rulefile:1:8: config file not found: conf/config.toml",
        '    config "conf/config.toml"',
        "           ^^^^^^^^^^^^^^^^^^",
    )
    assert error(here, 'config "config.toml"\n', {"config.toml": 'a = 1\nb = = 2\n'}) == msg(
        "Rulefile:1:8: config file config.toml:2:5: bad TOML: Invalid value",
        '    config "config.toml"',
        "           ^^^^^^^^^^^^^",
    )
    assert error(here, 'config "c.yaml"\n', {"c.yaml": "a: [1\nb: 2\n"}).splitlines()[0] == (
        "Rulefile:1:8: config file c.yaml:2:2: bad YAML: did not find expected ',' or ']' (while parsing a flow sequence)")
    assert error(here, 'config "c.json"\n', {"c.json": '{"a": 1,\n "b" 2}'}).splitlines()[0] == (
        "Rulefile:1:8: config file c.json:2:6: bad JSON: Expecting ':' delimiter")
    assert error(here, 'config "c.json"\n', {"c.json": '[1, 2]'}).splitlines()[0] == (
        "Rulefile:1:8: config file c.json: the file holds a list, not a table of keys")
    assert error(here, 'config "c.ini"\n', {"c.ini": ''}).splitlines()[0] == (
        "Rulefile:1:8: config file c.ini: unknown config format '.ini': expected a .toml, .yaml, .yml or .json file")


def test_config_references_without_a_config_and_wrong_kinds_of_values(here):
    assert error(here, 'rule r:\n    output: "{config.outdir}/x"\n') == msg(
        "Rulefile:2:14: {config.outdir} refers to the config, but there is none: no config file is read",
        '        output: "{config.outdir}/x"',
        "                 ^^^^^^^^^^^^^^^",
        '  hint: declare one at the top of the Rulefile:  config "config.toml"  (or give --config-file FILE)',
    )
    out = error(here, '''\
config "config.toml"
dimension a = config.outdir
dimension b = config.db
rule r:
    output: "{config.models}/x"
    log: "{config.db}"
    params: p="x{config.models}"
''', {"config.toml": CONFIG})
    assert out.splitlines()[::3] == [
        "Rulefile:2:15: dimension a = config.outdir: the config gives a string; a dimension's values are a list of strings or numbers",
        "Rulefile:3:15: config key 'db' is a table: name one of its keys, such as {config.db.host}",
        "Rulefile:5:14: config key 'models' is a list: an output path takes one value here (a list gives several paths only in input)",
        "Rulefile:6:11: config key 'db' is a table: name one of its keys, such as {config.db.host}",
        "Rulefile:7:17: config key 'models' is a list: a param takes one value here (a list gives several paths only in input)",
    ]


def test_a_list_in_the_config_gives_one_input_per_item(here):
    wf = load(here, 'config "config.toml"\ndimension d = ["x"]\nrule r:\n    input: "data/{config.models}/{d}.csv", all=expand("in/{config.models}_{d}.txt")\n    output: "o/{d}.txt"\n    shell: "cat {input.all} > {output}"\n',
              {"config.toml": CONFIG})
    inputs = wf.rule("r").inputs
    assert [(i.name, i.pattern.text, i.kind) for i in inputs] == [
        (None, "data/lin/{d}.csv", "one"), (None, "data/tree/{d}.csv", "one"),
        ("all", "in/lin_{d}.txt", "expand"), ("all", "in/tree_{d}.txt", "expand")]


def test_a_dimension_named_config_keeps_its_meaning_unless_there_is_a_config(here):
    text = 'dimension config:\n    a: x="1"\nrule r:\n    output: "o/{config}.txt"\n    shell: "echo {config.x} > {output}"\n'
    wf = load(here, text)
    assert [p.kind for p in wf.rule("r").shell.parts if not isinstance(p, str)] == ["field", "output"]
    assert error(here, 'config "c.toml"\n' + text, {"c.toml": ""}) == msg(
        "Rulefile:2:11: a dimension named 'config' cannot be declared with a config: {config.key} names the config's values",
        "    dimension config:",
        "              ^^^^^^",
        "  hint: rename the dimension",
    )


def test_the_config_is_read_after_the_parse_cache(here, monkeypatch):
    """The parse cache holds the Rulefile's declarations only: a changed config file is seen
    even when the Rulefile's parse comes from the cache."""
    monkeypatch.setenv("RULEC_CACHE_DIR", str(here / "cache"))
    text = 'config "config.toml"\nrule r:\n    output: "{config.outdir}/x"\n'
    assert load(here, text, {"config.toml": 'outdir = "a"\n'}).rule("r").outputs[0].pattern.text == "a/x"
    assert list((here / "cache" / "parse").iterdir())  # the parse was cached
    key = load(here, text, {"config.toml": 'outdir = "a"\n'}).data_key
    wf = load(here, text, {"config.toml": 'outdir = "b"\n'})
    assert wf.rule("r").outputs[0].pattern.text == "b/x" and wf.data_key != key
    assert load(here, text, {"config.toml": 'outdir = "b"\n'}, config=["outdir=c"]).data_key not in (key, wf.data_key)


def test_a_big_config_is_cached_as_json_and_read_back_the_same(here, monkeypatch):
    from rulec import config as cfgmod

    monkeypatch.setenv("RULEC_CACHE_DIR", str(here / "cache"))
    body = "".join(f"k{i} = {i}\n" for i in range(3000)) + '[t]\nf = 0.5\ns = "x"\nb = true\nl = [1, "a"]\n'
    (here / "big.toml").write_text(body)
    first, _ = cfgmod.read("big.toml")
    assert len(list((here / "cache" / "config").iterdir())) == 1
    again, _ = cfgmod.read("big.toml")
    assert again == first and again["t"] == {"f": 0.5, "s": "x", "b": True, "l": [1, "a"]} and again["k2999"] == 2999
    entry = next((here / "cache" / "config").iterdir())
    entry.write_text("[1, 2]")  # not a table: read as absent, the file is parsed again
    assert cfgmod.read("big.toml")[0] == first


# ============================================================================ sample sheets

SHEET = "sample\tfq1\tfq2\tfiles\na\ta_1.fq\ta_2.fq\tx.fq, y.fq\nb\tb_1.fq\tb_2.fq\tz.fq\n"


def test_a_table_dimension_takes_its_values_from_the_first_column_and_fields_from_the_others(here):
    wf = load(here, 'dimension sample = table("samples.tsv")\nrule r:\n    input: "{sample.fq1}", "{sample.fq2}"\n    output: "o/{sample}.txt"\n',
              {"samples.tsv": SHEET})
    dim = wf.dimensions["sample"]
    assert (dim.values, dim.fields, dim.origin, dim.list_fields) == (("a", "b"), ("fq1", "fq2", "files"), "table", frozenset())
    assert dim.table["b"] == {"fq1": "b_1.fq", "fq2": "b_2.fq", "files": "z.fq"}
    assert dim.column("fq1") == {"a": "a_1.fq", "b": "b_1.fq"}
    assert wf.data_files == ("samples.tsv",) and wf.data_key


def test_a_table_by_key_column_list_columns_csv_and_a_sniffed_delimiter(here):
    csv_text = 'fq,id,files\n"a,1.fq",s1,"p.fq,q.fq"\nb.fq,s2,r.fq\n'
    wf = load(here, '''\
dimension s = table("sheet.csv", key="id", list_sep=",", lists=["files"])
dimension t = table("data/sheet.txt")
dimension u = table("all.tsv", list_sep=",")
''', {"sheet.csv": csv_text, "data/sheet.txt": "name;x\nn1;1\nn2;2\n", "all.tsv": SHEET})
    s = wf.dimensions["s"]
    assert s.values == ("s1", "s2") and s.fields == ("fq", "files") and s.list_fields == {"files"}
    assert s.table["s1"] == {"fq": "a,1.fq", "files": ("p.fq", "q.fq")} and s.table["s2"]["files"] == ("r.fq",)
    assert wf.dimensions["t"].table["n2"] == {"x": "2"}
    assert wf.dimensions["u"].table["a"] == {"fq1": ("a_1.fq",), "fq2": ("a_2.fq",), "files": ("x.fq", "y.fq")}


def test_table_errors_name_the_file_line_and_the_table_in_the_rulefile(here):
    text = 'dimension sample = table("samples.tsv")\n'
    sheet = 'sample\tfq\na\t1\nb\t"two\nlines"\nc\t3\textra\n\n\t4\na\t5\n'
    assert error(here, text, {"samples.tsv": sheet}) == msg(
        "Rulefile:1:20: samples.tsv:5: 3 cells, but the header (line 1) names 2 columns",
        '    dimension sample = table("samples.tsv")',
        "                       ^^^^^^^^^^^^^^^^^^^^",
        "Rulefile:1:20: samples.tsv:7: the sample cell (the key column) is empty",
        '    dimension sample = table("samples.tsv")',
        "                       ^^^^^^^^^^^^^^^^^^^^",
        "Rulefile:1:20: samples.tsv:8: duplicate sample 'a' (first on line 2)",
        '    dimension sample = table("samples.tsv")',
        "                       ^^^^^^^^^^^^^^^^^^^^",
    )
    assert error(here, 'dimension sample = table("none.tsv")\n') == msg(
        "Rulefile:1:20: table file not found: none.tsv",
        '    dimension sample = table("none.tsv")',
        "                       ^^^^^^^^^^^^^^^^^",
    )
    assert error(here, text, {"samples.tsv": "\n\n"}).splitlines()[0] == (
        "Rulefile:1:20: samples.tsv: is empty: its first line names the columns")
    assert error(here, text, {"samples.tsv": "s\tx\tx\n"}).splitlines()[0] == (
        "Rulefile:1:20: samples.tsv:1: column 'x' is named twice (columns 2 and 3)")
    assert error(here, 'dimension sample = table("samples.tsv", key="smaple", lists=["fq"], colour="red")\n',
                 {"samples.tsv": SHEET}).splitlines()[::3] == [
        "Rulefile:1:69: table() has no option 'colour'; its options: key, list_sep, lists, sep",
    ]
    assert error(here, 'dimension sample = table("samples.tsv", key="smaple")\n', {"samples.tsv": SHEET}) == msg(
        "Rulefile:1:45: samples.tsv:1: no column 'smaple' (did you mean 'sample'?) (its columns: sample, fq1, fq2, files)",
        '    dimension sample = table("samples.tsv", key="smaple")',
        "                                                ^^^^^^^^",
    )
    assert error(here, 'dimension sample = table("samples.tsv", lists=["fq"])\n', {"samples.tsv": SHEET}).splitlines()[0] == (
        "Rulefile:1:47: lists= needs list_sep= (the text between the items of a cell), e.g. list_sep=\",\"")


def test_many_bad_rows_are_said_up_to_ten_then_counted(here):
    sheet = "s\tx\n" + "".join(f"r\t{i}\n" for i in range(15))
    lines = error(here, 'dimension s = table("t.tsv")\n', {"t.tsv": sheet}).splitlines()[::3]
    assert len(lines) == 11 and lines[0] == "Rulefile:1:15: t.tsv:3: duplicate s 'r' (first on line 2)"
    assert lines[-1] == "Rulefile:1:15: t.tsv: 4 more rows like these"


def test_a_table_value_that_leads_outside_is_an_error_unless_outside(here):
    files = {"t.tsv": "s\nok\n../up\n"}
    assert error(here, 'dimension s = table("t.tsv")\n', files).splitlines()[0] == (
        "Rulefile:1:15: t.tsv:3: value '../up' of dimension s has '..' as a path segment: paths made from it can lead outside the working folder")
    assert load(here, 'dimension s (outside) = table("t.tsv")\n', files).dimensions["s"].values == ("ok", "../up")


def test_a_table_next_to_an_included_rulefile_and_its_name_from_the_config(here):
    wf = load(here, 'config "c.toml"\ninclude "sub/Rulefile"\n', {
        "c.toml": 'sheet = "samples.tsv"\n', "sub/Rulefile": 'dimension s = table("{config.sheet}")\n',
        "sub/samples.tsv": "s\nx\n"})
    assert wf.dimensions["s"].values == ("x",)


def test_an_empty_table_is_a_warning(here, capsys):
    wf = load(here, 'dimension s = table("t.tsv")\n', {"t.tsv": "s\tx\n"})
    assert wf.dimensions["s"].values == ()
    assert capsys.readouterr().err == "warning: Rulefile:1:15: table('t.tsv') has no rows: dimension s has no values\n"


SHEET_RULE = ('dimension sample = table("s.tsv")\nrule a:\n    input: "{sample.fq1}"\n'
              '    output: "bld/{sample}.txt"\n    shell: "cat {input} > {output}"\n')


def test_a_sheet_whose_only_row_is_in_error_says_that_alone_not_that_it_has_no_rows(here, capsys):
    out = error(here, SHEET_RULE, {"s.tsv": "sample\tfq1\nA\ta.fq\textra\n"}, kind=AnalysisError)
    assert out.splitlines()[0] == "Rulefile:1:20: s.tsv:2: 3 cells, but the header (line 1) names 2 columns"
    assert len(out.splitlines()) == 3
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("sheet,says", [
    (b"", "Rulefile:1:20: s.tsv: is empty: its first line names the columns"),
    (b"\x00\x01\x02\x03\xff\xfe", "Rulefile:1:20: s.tsv:1: not UTF-8 text (byte 4)"),
    (None, "Rulefile:1:20: table file not found: s.tsv"),
])
def test_a_sheet_that_cannot_be_read_is_one_error_not_also_an_unknown_dimension(here, sheet, says):
    if sheet is not None:
        (here / "s.tsv").write_bytes(sheet)
    text = SHEET_RULE.replace('"cat {input}', '"cat {sample.fq1} {input}') + 'rule all:\n    input: expand("bld/{sample}.txt")\n'
    out = error(here, text, kind=AnalysisError)
    assert out.splitlines()[0] == says
    assert len(out.splitlines()) == 3, out  # (not "unknown dimension 'sample' in {sample.fq1}": it is declared)


def test_list_fields_where_they_have_no_single_text_are_errors(here):
    out = error(here, '''\
dimension sample:
    a: files=["x.fq", "y.fq"], name="a"
    b: files="z.fq", name="b"
rule r:
    input: "{sample.files}"
    output: "o/{sample}.txt"
    log: "logs/{sample}/{sample.files}.log"
    params: whole="{sample.files}", part="--in={sample.files}"
    shell: "cat {sample.files} {sample.files[0]} > {output}"
''')
    assert out.splitlines()[::3] == [
        "Rulefile:7:25: field 'files' of dimension sample is a list: in log it has no single text (a list field gives one path "
        "per item in input, its items in a shell command, and a list as a whole param: sample_files=\"{sample.files}\")",
        "Rulefile:8:48: field 'files' of dimension sample is a list: in params it has no single text (a list field gives one path "
        "per item in input, its items in a shell command, and a list as a whole param: sample_files=\"{sample.files}\")",
    ]
    wf = load(here, out and '''\
dimension sample:
    a: files=["x.fq", "y.fq"], name="a"
    b: files="z.fq", name="b"
rule r:
    input: "{sample.files}"
    output: "o/{sample}.txt"
    params: whole="{sample.files}"
    shell: "cat {sample.files} {sample.files[0]} > {output}"
''')
    dim = wf.dimensions["sample"]
    assert dim.list_fields == {"files"} and dim.table["b"]["files"] == ("z.fq",) and dim.table["a"]["name"] == "a"
    refs = [p for p in wf.rule("r").shell.parts if not isinstance(p, str)]
    assert [(p.kind, p.attr, p.index) for p in refs] == [("field", "files", None), ("field", "files", 0), ("output", None, None)]
# ============================================================================ directory(), ancient(), benchmark:

def test_path_wrappers_become_flags_on_the_specs(here):
    wf = load(here, HEAD + textwrap.dedent('''\
        rule index:
            input:  ref=ancient("data/reference.fa"), raw=directory("data/raw")
            output: directory("bld/index/{dataset}"), "bld/index/{dataset}.json"
            benchmark: "bench/index_{dataset}.tsv"
        rule fit:
            input:  ancient(expand("bld/index/{dataset}.json")), directory(ancient("bld/index/{dataset}"))
            output: "bld/fit/{dataset}.json"
        '''))
    index, fit = wf.rule("index"), wf.rule("fit")
    assert [spec.flags for spec in index.inputs] == [frozenset({"ancient"}), frozenset({"directory"})]
    assert [spec.flags for spec in index.outputs] == [frozenset({"directory"}), frozenset()]
    assert index.benchmark.pattern.text == "bench/index_{dataset}.tsv"
    assert index.products[-1] is index.benchmark and fit.benchmark is None
    assert fit.inputs[0].kind == "expand" and fit.inputs[0].flags == frozenset({"ancient"})
    assert fit.inputs[1].flags == frozenset({"ancient", "directory"})


def test_ancient_on_an_output_is_an_error_at_the_wrapper(here):
    assert error(here, 'rule a:\n    output: ancient("x.txt")\n', kind=AnalysisError) == msg(
        "Rulefile:2:13: ancient() is not for an output: ancient() marks an input whose time, size and content "
        "never count, only that it exists (it goes on inputs)",
        '        output: ancient("x.txt")',
        "                ^^^^^^^",
    )


def test_directory_on_a_log_is_an_error(here):
    assert error(here, 'rule a:\n    output: "x.txt"\n    log: directory("logs/a")\n', kind=AnalysisError) == msg(
        "Rulefile:3:10: directory() is not for a log: directory() marks a folder: an output the job makes as a "
        "whole folder, or an input read as one (it goes on outputs or inputs)",
        '        log: directory("logs/a")',
        "             ^^^^^^^^^",
    )


def test_a_wrapper_takes_exactly_one_path(here):
    assert error(here, 'rule a:\n    output: directory("a", "b")\n', kind=AnalysisError) == msg(
        'Rulefile:2:13: directory() takes one path, e.g. directory("bld/index/{genome}")',
        '        output: directory("a", "b")',
        "                ^^^^^^^^^^^^^^^^^^^",
    )


def test_a_directory_with_a_trailing_slash_is_an_error_with_the_fix(here):
    assert error(here, 'rule a:\n    output: directory("bld/index/")\n', kind=AnalysisError) == msg(
        "Rulefile:2:23: directory('bld/index/'): write the folder without a trailing '/'",
        '        output: directory("bld/index/")',
        "                          ^^^^^^^^^^^^",
        "  hint: directory('bld/index')",
    )


def test_a_remote_directory_is_an_error(here):
    assert error(here, 'rule a:\n    output: directory("s3://bucket/idx")\n', kind=AnalysisError) == msg(
        "Rulefile:2:23: directory() is for local folders: a remote store has no folders to sign",
        '        output: directory("s3://bucket/idx")',
        "                          ^^^^^^^^^^^^^^^^^",
    )


def test_a_wrapped_input_is_checked_as_the_input_itself(here):
    assert error(here, HEAD + 'rule a:\n    input: ancient("data/{dataset}.csv")\n    output: "x.txt"\n', kind=AnalysisError) == msg(
        "Rulefile:4:26: wildcard {dataset} in input is not defined by any output of rule a (it has no output wildcards)",
        '        input: ancient("data/{dataset}.csv")',
        " " * 29 + "^" * 9,
        "  hint: use expand(...) to take every value of a dimension",
    )


def test_benchmark_with_a_wildcard_no_output_defines_is_an_error(here):
    assert error(here, HEAD + 'rule a:\n    output: "bld/{dataset}.txt"\n    benchmark: "bench/{model}.tsv"\n',
                 kind=AnalysisError) == msg(
        "Rulefile:5:23: wildcard {model} in benchmark is not defined by any output of rule a (its outputs define {dataset})",
        '        benchmark: "bench/{model}.tsv"',
        "                          ^^^^^^^",
    )


def test_benchmark_must_use_every_output_wildcard(here):
    assert error(here, HEAD + 'rule a:\n    output: "bld/{dataset}_{model}.txt"\n    benchmark: "bench/{dataset}.tsv"\n',
                 kind=AnalysisError) == msg(
        "Rulefile:5:16: benchmark 'bench/{dataset}.tsv' must use every output wildcard, or jobs would share it: missing {model}",
        '        benchmark: "bench/{dataset}.tsv"',
        "                   ^^^^^^^^^^^^^^^^^^^^^",
    )


def test_benchmark_is_one_local_file_of_its_own(here):
    assert error(here, 'rule a:\n    output: "x.txt"\n    benchmark: "x.txt"\n', kind=AnalysisError) == msg(
        "Rulefile:3:16: benchmark 'x.txt' is also an output of rule a",
        '        benchmark: "x.txt"',
        "                   ^^^^^^^",
        "  hint: give the benchmark a file of its own",
    )
    assert error(here, 'rule a:\n    output: "x.txt"\n    benchmark: "a.tsv", "b.tsv"\n', kind=AnalysisError) == msg(
        'Rulefile:3:5: benchmark takes one path, e.g. benchmark: "bench/{dataset}.tsv"',
        '        benchmark: "a.tsv", "b.tsv"',
        "        ^^^^^^^^^^^^^^^^^^^^^^^^^^^",
    )
    assert error(here, 'rule a:\n    output: "x.txt"\n    benchmark: directory("b")\n', kind=AnalysisError) == msg(
        "Rulefile:3:16: directory() is not for a benchmark: a benchmark is one file rulec writes",
        '        benchmark: directory("b")',
        "                   ^^^^^^^^^",
    )
    assert error(here, 'rule a:\n    output: "x.txt"\n    benchmark: "s3://b/a.tsv"\n', kind=AnalysisError) == msg(
        "Rulefile:3:16: a benchmark is written where the job runs: give a local path",
        '        benchmark: "s3://b/a.tsv"',
        "                   ^^^^^^^^^^^^^^",
    )


def test_two_rules_making_one_benchmark_path_are_ambiguous(here):
    out = error(here, 'rule a:\n    output: "a.txt"\n    benchmark: "bench.tsv"\nrule b:\n    output: "bench.tsv"\n', kind=AnalysisError)
    assert out.startswith("Rulefile:5:13: rules 'a' and 'b' can both make 'bench.tsv'")
