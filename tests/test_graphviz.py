from rulec import graphviz

from helpers import graph


def test_rule_graph_dot():
    text = graphviz.render(graph(), "dot")
    assert '"prepare" -> "fit";' in text and '"fit" -> "summarize";' in text and '"summarize" -> "all";' in text


def test_job_graph_mermaid():
    text = graphviz.render(graph(), "mermaid", jobs=True)
    assert text.startswith("flowchart TD")
    assert '["fit[d0,m1]"]' in text and "-->" in text
