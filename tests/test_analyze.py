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
        "Rulefile:2:1: unexpected indentation; expected 'dimension', 'include', 'label', 'rule' or 'ruleorder'",
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
        "Rulefile:1:1: unexpected 'rules'; expected 'dimension', 'include', 'label', 'rule' or 'ruleorder' (did you mean 'rule'?)",
        "    rules estimate:",
        "    ^^^^^",
    )


def test_syntax_keywords_are_whole_words(here):
    # "rulefoo:" is not the rule "foo"
    assert error(here, 'rulefoo:\n    output: "x"\n', kind=SyntaxError_).splitlines()[0] == (
        "Rulefile:1:1: unexpected 'rulefoo'; expected 'dimension', 'include', 'label', 'rule' or 'ruleorder' (did you mean 'rule'?)"
    )


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
        "resources, label, shell, persist, priority, retries, local",
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


# ============================================================================ resources

def test_bad_memory_unit(here):
    assert error(here, 'rule estimate:\n    output: "x"\n    resources: mem="4X"\n', kind=AnalysisError) == msg(
        """Rulefile:3:20: bad memory value '4X': expected a number with a unit K, M, G or T, e.g. "4G\"""",
        '        resources: mem="4X"',
        "                       ^^^^",
    )


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


def test_unknown_resource_in_shell(here):
    text = 'rule estimate:\n    output: "x"\n    resources: io=1\n    shell: "run --io {resources.oi} > {output}"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:4:22: rule estimate has no resource 'oi' (it has cpus, gpus, io, mem, mem_mb, time, time_s)",
        '        shell: "run --io {resources.oi} > {output}"',
        "                         ^^^^^^^^^^^^^^",
    )


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
    m = pat.Matcher(rule.outputs[0].pattern, dict(rule.wildcard_regex), rule.wildcards)
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


def test_a_glob_on_an_unreachable_store_is_an_error_at_the_glob(here):
    import fsspec

    class Unreachable(fsspec.AbstractFileSystem):
        protocol = "unreachablefs"

        def ls(self, path, detail=True, **kwargs):
            raise ConnectionError("Could not connect to the endpoint URL")

        find = glob = ls

    fsspec.register_implementation("unreachablefs", Unreachable, clobber=True)
    text = 'dimension s = glob("unreachablefs://b/raw/{s}.csv")\nrule a:\n    output: "out/{s}.txt"\n'
    assert error(here, text, kind=AnalysisError) == msg(
        "Rulefile:1:20: cannot reach unreachablefs://b/raw/*.csv: Could not connect to the endpoint URL",
        '    dimension s = glob("unreachablefs://b/raw/{s}.csv")',
        "                       ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
        "  hint: fsspec takes its settings from the environment (e.g. FSSPEC_UNREACHABLEFS_ENDPOINT_URL, "
        "and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for S3)",
    )


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


# ============================================================================ output kinds, local

def test_output_kinds_are_recorded_on_the_output_specs_outermost_first(here):
    wf = load(here, textwrap.dedent('''\
        rule a:
            output: temp("bld/{n}.csv"), flag=protected(touch("bld/{n}.flag")), plain="bld/{n}.txt"
            local: true
        rule b:
            output: "x"
        '''))
    a = wf.rule("a")
    assert [(s.name, s.pattern.text, s.kinds) for s in a.outputs] == [
        (None, "bld/{n}.csv", ("temp",)), ("flag", "bld/{n}.flag", ("protected", "touch")), ("plain", "bld/{n}.txt", ())]
    assert a.outputs[1].kind_span.location() == "Rulefile:2:39"
    assert a.outputs[1].span.location() == "Rulefile:2:55"  # the pattern's own place, for its errors
    assert a.local and not wf.rule("b").local


def test_temp_on_an_input_is_an_error_at_the_wrapper(here):
    assert error(here, 'rule a:\n    input: temp("x")\n    output: "y"\n', kind=AnalysisError) == msg(
        "Rulefile:2:12: temp() marks an output, not an input: an input is read as it is",
        '        input: temp("x")',
        "               ^^^^",
        '  hint: write it around the output of the rule that makes the file: output: temp("...")',
    )


def test_an_unknown_output_kind_suggests_the_close_one(here):
    assert error(here, 'rule a:\n    output: tmp("x")\n', kind=AnalysisError) == msg(
        "Rulefile:2:13: unknown output kind 'tmp()' (did you mean 'temp'?); expected temp(...), protected(...), touch(...)",
        '        output: tmp("x")',
        "                ^^^",
    )
    assert error(here, 'rule a:\n    input: expnd("x")\n    output: "y"\n', kind=AnalysisError).startswith(
        "Rulefile:2:12: unknown function 'expnd()' in input (did you mean 'expand'?)")
    assert error(here, 'rule a:\n    output: expand("x")\n', kind=AnalysisError).startswith(
        "Rulefile:2:13: expand() is for inputs: an output entry is one path pattern in quotes")


def test_an_output_kind_takes_one_string(here):
    assert error(here, 'rule a:\n    output: protected(model)\n', kind=AnalysisError) == msg(
        "Rulefile:2:23: protected() takes one path pattern in quotes, e.g. protected(\"bld/x.csv\"), not the name model",
        "        output: protected(model)",
        "                          ^^^^^",
        '  hint: a path is written in quotes: protected("model")',
    )
    assert error(here, 'rule a:\n    output: temp(42)\n', kind=AnalysisError).startswith(
        'Rulefile:2:18: temp() takes one path pattern in quotes, e.g. temp("bld/x.csv")\n')
    assert error(here, 'rule a:\n    output: temp("a", "b")\n', kind=AnalysisError).startswith(
        'Rulefile:2:13: temp() takes one path pattern in quotes, e.g. temp("bld/x.csv")\n        output: temp("a", "b")\n'
        "                ^^^^^^^^^^^^^^")
    assert error(here, 'rule a:\n    output: temp(temp("a"))\n', kind=AnalysisError).startswith(
        "Rulefile:2:18: temp() is given twice")


def test_contradicting_or_misplaced_kinds_are_errors(here):
    assert error(here, 'rule a:\n    output: temp(protected("m"))\n', kind=AnalysisError).startswith(
        "Rulefile:2:13: an output cannot be both temp() and protected(): temp() deletes it once it is used, "
        "protected() keeps it read-only")
    assert error(here, 'rule a:\n    output: "x"\n    log: temp("l.log")\n', kind=AnalysisError) == msg(
        "Rulefile:3:10: temp() is for outputs: a log file is kept as it is",
        '        log: temp("l.log")',
        "             ^^^^",
        '  hint: a log is written by its job; for a file that should be deleted once used, make it an output: output: temp("...")',
    )
    assert error(here, 'rule a:\n    output: protected("s3://b/m.pkl")\n', kind=AnalysisError).startswith(
        "Rulefile:2:23: protected() needs a path on this machine's file system: a remote file cannot be made read-only")
    assert error(here, 'rule a:\n    output: "x"\n    local: yes\n', kind=AnalysisError) == msg(
        "Rulefile:3:12: local takes true or false",
        "        local: yes",
        "               ^^^",
    )


def test_a_pattern_error_inside_a_kind_is_placed_in_the_string(here):
    assert error(here, 'rule a:\n    output: temp("bld/{n")\n', kind=AnalysisError).startswith("Rulefile:2:23: ")
