"""Record classes: rulec's ``@dataclass``, made with one ``exec`` per class.

On Python 3.10 and 3.11 ``dataclasses`` compiles each generated method with an ``exec`` of
its own: about 0.7 ms for a frozen class with slots, and its import (with ``inspect``) is
another 8-10 ms. rulec defines some forty such classes on the path of every dry run: 35 ms of
a start that make does in a few. ``record`` makes the same methods with the same meaning,
for what rulec uses of dataclasses:

- fields from the class's annotations (``ClassVar`` ones excluded), in order; a default, or
  ``field(default=..., default_factory=..., init=..., repr=..., compare=...)``; a mutable
  default (list, dict, set) is refused, as dataclasses does;
- ``__init__`` (then ``__post_init__`` if the class has one), ``__repr__``, ``__eq__``
  (same class only, fields with ``compare``), ``__hash__`` (frozen and eq: the compared
  fields' hash; eq without frozen: unhashable; a ``__hash__`` of the class's own is kept),
  ``__match_args__``; a method the class defines itself is never replaced;
- ``frozen=True``: assigning or deleting an attribute raises ``FrozenError`` (an
  ``AttributeError``); ``slots=True``: the class is made again with ``__slots__``
  (``copy.copy`` still works for frozen ones);
- ``replace``, ``fields`` and ``is_record`` as in dataclasses.

Not supported (rulec does not use them, and a class asking for them gets a TypeError rather
than another meaning): inheriting from a record, ``order``, ``kw_only``, ``InitVar``.
"""

from __future__ import annotations

__all__ = ["FrozenError", "MISSING", "Field", "field", "fields", "is_record", "record", "replace"]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()  # no default
_FIELDS = "__record_fields__"
_MUTABLE = (list, dict, set)


class FrozenError(AttributeError):
    """An attribute of a frozen record was assigned or deleted."""


class Field:
    __slots__ = ("name", "default", "default_factory", "init", "repr", "compare")

    def __init__(self, default=MISSING, default_factory=MISSING, init=True, repr=True, compare=True):
        if default is not MISSING and default_factory is not MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.name = ""
        self.default = default
        self.default_factory = default_factory
        self.init = init
        self.repr = repr
        self.compare = compare

    def __repr__(self) -> str:
        return f"Field(name={self.name!r}, default={self.default!r}, init={self.init}, compare={self.compare})"


def field(*, default=MISSING, default_factory=MISSING, init: bool = True, repr: bool = True, compare: bool = True):
    """A field's settings, as ``dataclasses.field``."""
    return Field(default, default_factory, init, repr, compare)


def record(cls=None, /, *, frozen: bool = False, slots: bool = False, eq: bool = True):
    """``@record``, ``@record(frozen=True, slots=True)``: see the module's docstring."""

    def wrap(cls):
        return _make(cls, frozen, slots, eq)

    return wrap if cls is None else wrap(cls)


def fields(obj_or_cls) -> tuple[Field, ...]:
    try:
        return getattr(obj_or_cls, _FIELDS)
    except AttributeError:
        raise TypeError("must be called with a record type or instance") from None


def is_record(obj_or_cls) -> bool:
    cls = obj_or_cls if isinstance(obj_or_cls, type) else type(obj_or_cls)
    return _FIELDS in cls.__dict__


def replace(obj, /, **changes):
    """A copy of the record ``obj`` with ``changes``: a new instance, made by its ``__init__``."""
    for f in fields(obj):
        if not f.init:
            if f.name in changes:
                raise ValueError(f"field {f.name} is declared with init=False, it cannot be specified with replace()")
        elif f.name not in changes:
            changes[f.name] = getattr(obj, f.name)
    return obj.__class__(**changes)


# The methods that are the same for every record: only __init__, __eq__ and __hash__, the ones
# called most, are written out for each class (compiling is most of a class's making).
def _repr(self) -> str:
    shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in self.__record_fields__ if f.repr)
    return f"{self.__class__.__qualname__}({shown})"


def _frozen_setattr(self, name, value):
    raise FrozenError(f"cannot assign to field {name!r}")


def _frozen_delattr(self, name):
    raise FrozenError(f"cannot delete field {name!r}")


def _getstate(self) -> list:
    return [getattr(self, f.name) for f in self.__record_fields__ if hasattr(self, f.name)]


def _setstate(self, state: list) -> None:
    for f, value in zip(self.__record_fields__, state):
        object.__setattr__(self, f.name, value)


def _is_classvar(annotation) -> bool:
    if isinstance(annotation, str):
        return annotation.startswith(("ClassVar", "typing.ClassVar", "t.ClassVar"))
    return getattr(annotation, "__origin__", None) is not None and repr(annotation).startswith("typing.ClassVar")


# Names the generated __init__ uses besides its parameters: a field of one of these names
# would shadow them.
_RESERVED = frozenset({"self", "MISSING", "_set", "_hash"})


def _make(cls, frozen: bool, slots: bool, eq: bool):
    for base in cls.__mro__[1:]:
        if _FIELDS in base.__dict__:
            raise TypeError(f"{cls.__name__}: a record cannot inherit from the record {base.__name__}")
    own = cls.__dict__
    specs: list[Field] = []
    for name, annotation in own.get("__annotations__", {}).items():
        if _is_classvar(annotation):
            continue
        if name in _RESERVED or name.startswith("_d_") or name.startswith("_f_"):
            raise TypeError(f"{cls.__name__}: a record field cannot be named {name!r}")
        value = own.get(name, MISSING)
        spec = value if isinstance(value, Field) else Field(default=value)
        spec.name = name
        if isinstance(spec.default, _MUTABLE):
            raise ValueError(f"mutable default {type(spec.default)} for field {name} is not allowed: use default_factory")
        specs.append(spec)
    for name, value in own.items():
        if isinstance(value, Field) and name not in {f.name for f in specs}:
            raise TypeError(f"{cls.__name__}.{name} is a field() without an annotation")

    env = {"MISSING": MISSING, "_set": object.__setattr__, "_hash": hash}
    params: list[str] = []
    body: list[str] = []
    after_default = None
    for f in specs:
        has_default = f.default is not MISSING or f.default_factory is not MISSING
        if f.default is not MISSING:
            env[f"_d_{f.name}"] = f.default
        if f.default_factory is not MISSING:
            env[f"_f_{f.name}"] = f.default_factory
        if f.init:
            if has_default:
                after_default = f.name
                params.append(f"{f.name}=_d_{f.name}" if f.default is not MISSING else f"{f.name}=MISSING")
                if f.default_factory is not MISSING:
                    body.append(f"    if {f.name} is MISSING: {f.name} = _f_{f.name}()")
            elif after_default is not None:
                raise TypeError(f"non-default argument {f.name!r} follows default argument")
            else:
                params.append(f.name)
            value = f.name
        elif f.default is not MISSING:
            value = f"_d_{f.name}"
        elif f.default_factory is not MISSING:
            value = f"_f_{f.name}()"
        else:
            continue  # set by __post_init__
        body.append(f"    _set(self, {f.name!r}, {value})" if frozen else f"    self.{f.name} = {value}")
    if "__post_init__" in own:
        body.append("    self.__post_init__()")

    src = [f"def __init__(self, {', '.join(params)}):" if params else "def __init__(self):", *(body or ["    pass"])]
    compared = [f.name for f in specs if f.compare]
    mine = "(" + "".join(f"self.{n}," for n in compared) + ")"
    if eq:
        theirs = "(" + "".join(f"other.{n}," for n in compared) + ")"
        src += ["def __eq__(self, other):",
                "    if other.__class__ is self.__class__:",
                f"        return {mine} == {theirs}",
                "    return NotImplemented",
                "def __hash__(self):",
                f"    return _hash({mine})"]
    made: dict = {}
    exec("\n".join(src), env, made)
    for fn in made.values():
        fn.__qualname__ = f"{cls.__qualname__}.{fn.__name__}"

    methods = {"__init__": made["__init__"], "__repr__": _repr}
    if eq:
        methods["__eq__"] = made["__eq__"]
        class_hash = own.get("__hash__", MISSING)
        if class_hash is MISSING or (class_hash is None and "__eq__" in own):  # no __hash__ of its own
            methods["__hash__"] = made["__hash__"] if frozen else None
    if frozen:
        for name in ("__setattr__", "__delattr__"):
            if name in own:
                raise TypeError(f"cannot overwrite attribute {name} in class {cls.__name__}")
        methods["__setattr__"] = _frozen_setattr
        methods["__delattr__"] = _frozen_delattr
        if slots:  # copy.copy sets a slotted object's state with setattr: refused when frozen
            methods["__getstate__"] = _getstate
            methods["__setstate__"] = _setstate
    for name, fn in methods.items():
        if name in own and name != "__hash__":
            continue  # the class's own method wins
        type.__setattr__(cls, name, fn)
    if "__match_args__" not in own:
        cls.__match_args__ = tuple(f.name for f in specs if f.init)
    setattr(cls, _FIELDS, tuple(specs))

    if slots:
        if "__slots__" in own:
            raise TypeError(f"{cls.__name__} already specifies __slots__")
        namespace = dict(cls.__dict__)
        namespace.pop("__dict__", None)
        namespace.pop("__weakref__", None)
        for f in specs:
            namespace.pop(f.name, None)
        namespace["__slots__"] = tuple(f.name for f in specs)
        qualname = cls.__qualname__
        cls = type(cls)(cls.__name__, cls.__bases__, namespace)
        cls.__qualname__ = qualname
    else:
        for f in specs:  # the class attribute is the default, as with dataclasses
            if isinstance(own.get(f.name), Field):
                if f.default is MISSING:
                    type.__delattr__(cls, f.name)
                else:
                    type.__setattr__(cls, f.name, f.default)
    return cls
