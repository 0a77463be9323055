"""rulec/lazyre.py: a pattern compiled at its first use means what re.compile's means."""

from __future__ import annotations

import re

import pytest

from rulec.lazyre import Lazy


def test_nothing_is_compiled_until_the_pattern_is_used():
    lazy = Lazy(r"(\d+)([smhd])")
    assert lazy._compiled is None
    assert lazy.fullmatch("12m").groups() == ("12", "m")
    compiled = lazy._compiled
    assert compiled is re.compile(r"(\d+)([smhd])")  # (re's own cache)
    assert lazy.sub(r"\2", "3h 4d") == "h d" and lazy._compiled is compiled


def test_flags_are_kept():
    assert Lazy("a.b", re.DOTALL).fullmatch("a\nb") and not Lazy("a.b").fullmatch("a\nb")


def test_a_bad_pattern_fails_at_first_use():
    lazy = Lazy("(")
    with pytest.raises(re.error):
        lazy.search("x")


def test_the_lazy_patterns_of_rulec_work():
    from rulec import controls, errors, storage, units

    assert controls.control_char("a\tb") == 1 and controls.control_char("ab") == -1
    assert errors.mask_secrets("ftp://user:pw@host/x") == "ftp://user:***@host/x"
    assert storage.is_remote("s3://bucket/x") and not storage.is_remote("data/x")
    assert units.parse_mem("4G") == 4096
