import pytest

from rulec.select import SelectError, compile_expr


@pytest.mark.parametrize("expr, expected", [
    ("estimate", ["estimate[d0,tree]", "estimate[d1,logit]"]),
    ("estimate and d0", ["estimate[d0,tree]"]),
    ("estimate and not tree", ["estimate[d1,logit]"]),
    ("prepare or tree", ["prepare[d0]", "estimate[d0,tree]"]),
    ("not (prepare or tree)", ["estimate[d1,logit]"]),
])
def test_expressions(expr, expected):
    ids = ["prepare[d0]", "estimate[d0,tree]", "estimate[d1,logit]"]
    keep = compile_expr(expr)
    assert [i for i in ids if keep(i)] == expected


@pytest.mark.parametrize("expr", ["", "a and", "(a", "a b", "and a"])
def test_bad_expressions(expr):
    with pytest.raises(SelectError):
        compile_expr(expr)
