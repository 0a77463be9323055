import os
import xml.etree.ElementTree as ET

import pytest

from rulec import graphviz
from rulec.errors import RulecError

from helpers import graph

SVG = "{http://www.w3.org/2000/svg}"


def needs_dot():
    """graphviz's dot, which CI installs (.ci/run): missing, the test fails, unless
    RULEC_SKIP_GRAPHVIZ=1 says to skip it."""
    if graphviz.dot_program() is None:
        if os.environ.get("RULEC_SKIP_GRAPHVIZ") == "1":
            pytest.skip("graphviz's dot is not installed (RULEC_SKIP_GRAPHVIZ=1)")
        pytest.fail("graphviz's dot is not installed: apt-get install graphviz (or set RULEC_SKIP_GRAPHVIZ=1 to skip)", pytrace=False)


def states_of(g, **by_id):
    """Per job: "done", unless ``by_id`` says otherwise."""
    return [by_id.get(g.job_id(j), "done") for j in range(len(g))]


def test_rule_graph_dot():
    text = graphviz.render(graph(), "dot")
    assert '"prepare" -> "fit";' in text and '"fit" -> "summarize";' in text and '"summarize" -> "all";' in text
    assert "fillcolor" not in text and "legend" not in text  # no states: no colours


def test_job_graph_mermaid():
    text = graphviz.render(graph(), "mermaid", jobs=True)
    assert text.startswith("flowchart TD")
    assert '["fit[d0,m1]"]' in text and "-->" in text


def test_a_rule_is_coloured_by_its_worst_job_and_counts_its_jobs_by_state():
    g = graph()
    text = graphviz.render(g, "dot", states=states_of(g, **{"fit[d0,m0]": "failed", "fit[d1,m0]": "todo", "summarize[m0]": "todo",
                                                             "summarize[m1]": "running"}))
    assert f'"fit" [label="fit\\n2 done, 1 to run, 1 failed", fillcolor="{graphviz.COLOURS["failed"]}"];' in text
    assert f'"prepare" [label="prepare\\n2 done", fillcolor="{graphviz.COLOURS["done"]}"];' in text
    assert f'"summarize" [label="summarize\\n1 to run, 1 running", fillcolor="{graphviz.COLOURS["running"]}"];' in text
    assert '"prepare" -> "fit";' in text  # edges as without states
    for state in graphviz.STATES:  # the legend
        assert f'" legend {state}" [label="{graphviz.LEGEND[state]}", fillcolor="{graphviz.COLOURS[state]}"' in text
    assert "legend" not in graphviz.render(g, "dot", states=states_of(g), legend=False)


def test_jobs_are_coloured_by_their_own_state():
    g = graph()
    text = graphviz.render(g, "dot", jobs=True, states=states_of(g, **{"fit[d0,m0]": "failed", "all": "todo"}))
    assert f'"fit[d0,m0]" [fillcolor="{graphviz.COLOURS["failed"]}"];' in text
    assert f'"fit[d0,m1]" [fillcolor="{graphviz.COLOURS["done"]}"];' in text
    assert f'"all" [fillcolor="{graphviz.COLOURS["todo"]}"];' in text
    assert '"fit[d0,m0]" -> "summarize[m0]";' in text


def test_mermaid_gets_the_state_colours_as_classes():
    g = graph()
    text = graphviz.render(g, "mermaid", states=states_of(g, **{"fit[d0,m0]": "failed"}))
    lines = text.splitlines()
    assert '    n1["fit"]' in lines  # node lines as without states
    assert f"    classDef failed fill:{graphviz.COLOURS['failed']},stroke:#555" in lines
    assert "    class n1 failed" in lines and "    class n0,n2,n3 done" in lines


def test_mermaid_labels_escape_markup_and_entity_codes():
    assert graphviz._mermaid('mk[<script>alert(1)</script>]') == "mk[#lt;script#gt;alert(1)#lt;/script#gt;]"
    assert graphviz._mermaid('a"b') == "a#quot;b"
    assert graphviz._mermaid("a#b #lt; &amp;") == "a#35;b #35;lt; #amp;amp;"  # written codes stay text
    assert graphviz._mermaid("x`y\nz") == "x#96;y#10;z"
    g = graph('''
dimension s = ["<img src=x onerror=alert(1)>", "#lt;b#gt;", "ok"]
rule all:
    input: expand("out/{s}.txt")
rule mk:
    output: "out/{s}.txt"
    shell: "touch {output}"
''')
    lines = graphviz.render(g, "mermaid", jobs=True).splitlines()
    assert '    n0["mk[#lt;img src=x onerror=alert(1)#gt;]"]' in lines
    assert '    n1["mk[#35;lt;b#35;gt;]"]' in lines
    assert not any(c in line.partition("[")[2] for line in lines[1:] for c in "<>")


def test_names_are_quoted_for_dot():
    assert graphviz._dot('a"b\\c') == '"a\\"b\\\\c"'


def test_the_plain_svg_parses_names_every_rule_and_escapes():
    g = graph()
    svg = graphviz.simple_svg(g, states_of(g, **{"fit[d0,m0]": "failed"}))
    root = ET.fromstring(svg)
    titles = [t.text for t in root.iter(f"{SVG}title")]
    assert titles == ["prepare", "fit", "summarize", "all"]
    fills = {t.text: n.find(f"{SVG}rect").get("fill") for n in root.iter(f"{SVG}g") for t in n.iter(f"{SVG}title")}
    assert fills["fit"] == graphviz.COLOURS["failed"] and fills["prepare"] == graphviz.COLOURS["done"]
    assert len(root.findall(f"{SVG}path")) == 3  # prepare -> fit -> summarize -> all
    texts = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    assert "3 done, 1 failed" in texts
    # columns by depth: each rule right of what it needs
    xs = {t.text: float(n.find(f"{SVG}rect").get("x")) for n in root.iter(f"{SVG}g") for t in n.iter(f"{SVG}title")}
    assert xs["prepare"] < xs["fit"] < xs["summarize"] < xs["all"]


def test_svg_from_dot_parses_and_names_every_node():
    needs_dot()
    g = graph()
    svg = graphviz.image(graphviz.render(g, "dot", jobs=True, states=states_of(g)), "svg")
    root = ET.fromstring(svg)
    titles = {t.text for t in root.iter(f"{SVG}title")}
    assert {g.job_id(j) for j in range(len(g))} <= titles
    inline = graphviz.inline_svg(svg)
    assert inline.startswith("<svg") and "<?xml" not in inline and "DOCTYPE" not in inline
    assert graphviz.dot_version()


def test_png_from_dot():
    needs_dot()
    assert graphviz.image(graphviz.render(graph(), "dot"), "png").startswith(b"\x89PNG\r\n\x1a\n")


def test_a_missing_dot_is_named_with_its_package(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert graphviz.dot_program() is None
    with pytest.raises(RulecError) as err:
        graphviz.image("digraph { a }", "svg")
    assert str(err.value) == "rulec dag --format svg needs graphviz's `dot`: apt-get install graphviz (or brew install graphviz)"


def test_a_failing_dot_says_what_it_said():
    needs_dot()
    with pytest.raises(RulecError, match=r"graphviz's dot failed \(exit status 1\) drawing svg: .*syntax error"):
        graphviz.image("digraph { a -> }", "svg")
