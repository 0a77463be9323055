"""rulec/recordclass.py: records mean what the same dataclasses mean."""

from __future__ import annotations

import copy
import dataclasses
import subprocess
import sys
from typing import ClassVar

import pytest

from rulec.recordclass import FrozenError, field, fields, is_record, record, replace

SETTINGS = [dict(), dict(eq=False), dict(frozen=True), dict(frozen=True, slots=True),
            dict(frozen=True, slots=True, eq=False), dict(slots=True)]


def _pair(settings: dict):
    """The same class made by dataclasses and by record."""

    def body():
        class C:
            kind: ClassVar[str] = "c"
            name: str
            size: int
            tags: tuple = ()
            extra: dict = dataclasses.field(default_factory=dict) if made_by is dataclasses.dataclass else field(default_factory=dict)
            note: str = dataclasses.field(default="", repr=False, compare=False) if made_by is dataclasses.dataclass \
                else field(default="", repr=False, compare=False)

            def twice(self) -> int:
                return 2 * self.size

        return C

    made_by = dataclasses.dataclass
    d = made_by(**settings)(body())
    made_by = record
    r = made_by(**settings)(body())
    return d, r


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: ",".join(s) or "plain")
def test_a_record_means_what_the_same_dataclass_means(settings):
    d, r = _pair(settings)
    args = [("a", 1), ("a", 1, ("x",)), ("b", 2, (), {"k": 1}, "n")]
    for a in args:
        x, y = d(*a), r(*a)
        assert repr(x) == repr(y)
        assert x.twice() == y.twice()
        assert [getattr(x, n) for n in ("name", "size", "tags", "extra", "note")] == \
               [getattr(y, n) for n in ("name", "size", "tags", "extra", "note")]
    for a in args:
        for b in args:
            assert (d(*a) == d(*b)) == (r(*a) == r(*b))
    assert (d("a", 1, note="x") == d("a", 1)) == (r("a", 1, note="x") == r("a", 1))  # note is not compared
    assert (d.__hash__ is None) == (r.__hash__ is None)
    assert d.__match_args__ == r.__match_args__
    assert r.kind == "c" and "kind" not in [f.name for f in fields(r)]
    assert r("a", 1).extra is not r("a", 1).extra  # a factory per instance
    assert hasattr(r("a", 1), "__dict__") == hasattr(d("a", 1), "__dict__")
    y = r("a", 1)
    if settings.get("frozen"):
        with pytest.raises(FrozenError):
            y.size = 3
        with pytest.raises(AttributeError):  # FrozenError is an AttributeError
            del y.size
    else:
        y.size = 3
        assert y.size == 3
    c = copy.copy(r("a", 1, ("t",)))
    assert c.tags == ("t",) and c.size == 1 and type(c) is r
    assert copy.deepcopy(r("b", 2)).name == "b"
    with pytest.raises(TypeError):
        r()
    with pytest.raises(TypeError):
        r("a", 1, nope=2)


def test_replace_fields_and_is_record():
    @record(frozen=True, slots=True)
    class P:
        text: str
        n: int = 3
        size: int = field(init=False, repr=False, compare=False)

        def __post_init__(self):
            object.__setattr__(self, "size", len(self.text))

    p = P("abc")
    assert p.size == 3 and repr(p).endswith(".P(text='abc', n=3)")  # the qualname, as dataclasses
    assert hash(p) == hash(P("abc")) == hash(("abc", 3)) and p == P("abc") and p != P("abc", 4)
    q = replace(p, text="abcdef")
    assert (q.text, q.n, q.size) == ("abcdef", 3, 6) and p.text == "abc"
    with pytest.raises(ValueError, match="init=False"):
        replace(p, size=1)
    assert [f.name for f in fields(P)] == ["text", "n", "size"] == [f.name for f in fields(p)]
    assert is_record(P) and is_record(p) and not is_record(object()) and not is_record(int)
    with pytest.raises(TypeError):
        fields(object())
    assert P.__slots__ == ("text", "n", "size")


def test_what_dataclasses_refuses_a_record_refuses():
    with pytest.raises(ValueError, match="mutable default"):
        @record
        class A:
            items: list = []
    with pytest.raises(TypeError, match="follows default"):
        @record
        class B:
            a: int = 1
            b: int
    with pytest.raises(ValueError, match="both default and default_factory"):
        field(default=1, default_factory=list)


def test_what_records_do_not_do_is_refused_not_ignored():
    @record
    class Base:
        a: int

    with pytest.raises(TypeError, match="cannot inherit"):
        @record
        class Sub(Base):
            b: int
    with pytest.raises(TypeError, match="cannot be named"):
        @record
        class Self:
            self: int
    with pytest.raises(TypeError, match="cannot be named"):  # (a frozen __init__'s own name)
        @record(frozen=True)
        class Dict:
            _d: int
    with pytest.raises(TypeError, match="__setattr__"):
        @record(frozen=True)
        class Own:
            a: int

            def __setattr__(self, name, value):
                pass


def test_methods_a_class_writes_itself_are_kept():
    @record(frozen=True)
    class K:
        a: int

        def __repr__(self) -> str:
            return "mine"

        def __eq__(self, other) -> bool:
            return True

        def __hash__(self) -> int:
            return 7

    assert repr(K(1)) == "mine" and K(1) == K(2) and hash(K(1)) == 7


def test_a_dry_run_imports_neither_dataclasses_nor_inspect(tmp_path):
    """The point of the module: start-up without dataclasses' exec per method."""
    (tmp_path / "Rulefile").write_text('rule all:\n    output: "x.txt"\n    shell: "touch {output}"\n')
    probe = ("import contextlib, io, os, sys, rulec.cli\n"
             f"os.chdir({str(tmp_path)!r})\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n    rulec.cli.main(['dryrun', '-q'])\n"
             "print(' '.join(m for m in ('dataclasses', 'inspect') if m in sys.modules))")
    env_cache = {"RULEC_CACHE_DIR": str(tmp_path / "cache")}
    import os

    for _ in range(2):  # the second run reads the caches the first filled (lark is not imported)
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                             env={**os.environ, **env_cache})
        assert out.returncode == 0, out.stderr
    assert out.stdout.split() == []


@pytest.mark.parametrize("settings", SETTINGS)
def test_init_is_compiled_when_first_called_and_then_kept(settings):
    """Making a record class compiles nothing: its __init__ is compiled by its first call,
    for the class itself or a plain subclass, and means what the dataclass's does."""

    @record(**settings)
    class P:
        x: int
        y: int = 2

    class Q(P):  # a plain subclass: its instances use P's __init__
        pass

    deferred = P.__dict__["__init__"]
    assert P.__init__.__qualname__.endswith("P.__init__")
    with pytest.raises(TypeError, match=r"missing 1 required positional argument: 'x'"):
        Q()
    compiled = P.__dict__["__init__"]
    assert compiled is not deferred and compiled.__qualname__ == deferred.__qualname__
    assert (Q(1).x, Q(1).y) == (1, 2) and (P(1, y=3).x, P(1, y=3).y) == (1, 3)
    assert P.__dict__["__init__"] is compiled  # compiled once
    with pytest.raises(TypeError, match=r"got an unexpected keyword argument 'z'"):
        P(1, z=3)


def test_a_frozen_records_init_fills_its_dict_as_setattr_would():
    @record(frozen=True)
    class Job:
        name: str
        tags: list = field(default_factory=list)
        size: int = 3

    job = Job("a")
    assert vars(job) == {"name": "a", "tags": [], "size": 3}
    assert Job("b", ["x"], 5) == Job("b", ["x"], 5) and hash(Job("b", (), 5)) == hash(Job("b", (), 5))
    with pytest.raises(FrozenError):
        job.name = "b"
