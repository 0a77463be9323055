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
  (same class only, fields with ``compare``), ``__hash__`` (frozen and eq: the hash of the
  compared fields, as a tuple when there are several; eq without frozen: unhashable; a
  ``__hash__`` of the class's own is kept),
  ``__match_args__``; a method the class defines itself is never replaced;
- ``frozen=True``: assigning or deleting an attribute raises ``FrozenError`` (an
  ``AttributeError``); ``slots=True``: the class is made again with ``__slots__``
  (``copy.copy`` still works for frozen ones);
- ``replace``, ``fields`` and ``is_record`` as in dataclasses.

Not supported (rulec does not use them, and a class asking for them gets a TypeError rather
than another meaning): inheriting from a record, ``order``, ``kw_only``, ``InitVar``.
"""

from __future__ import annotations

from operator import attrgetter

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


# The methods that are the same for every record: only __init__ is written out for each class
# (compiling is most of a class's making); __eq__ and __hash__ compare the fields through the
# class's ``__record_key__``, an ``operator.attrgetter`` of the compared fields.
def _no_key(self) -> tuple:
    return ()


def _eq(self, other):
    if other.__class__ is self.__class__:
        key = self.__record_key__
        return key(self) == key(other)
    return NotImplemented


def _hash(self) -> int:
    return hash(self.__record_key__(self))


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
_RESERVED = frozenset({"self", "MISSING", "_set", "_d"})


def _deferred(source: str, env: dict, qualname: str, owner: list, slots: list[str]):
    """A record's ``__init__`` that compiles the real one (``source``) the first time it is
    called, puts it in its place on the class and calls it: compiling is most of what making
    a record class costs, and many classes a command imports are never instantiated by it.
    ``slots``: the fields ``source`` sets through their slots' setters (``_s_NAME``)."""

    def __init__(self, *args, **kwargs):
        for name in slots:
            env[f"_s_{name}"] = owner[0].__dict__[name].__set__
        made: dict = {}
        exec(source, env, made)
        real = made["__init__"]
        real.__qualname__ = qualname
        type.__setattr__(owner[0], "__init__", real)
        real(self, *args, **kwargs)

    __init__.__qualname__ = qualname
    return __init__


def _make(cls, frozen: bool, slots: bool, eq: bool):
    for base in cls.__mro__[1:]:
        if _FIELDS in base.__dict__:
            raise TypeError(f"{cls.__name__}: a record cannot inherit from the record {base.__name__}")
    own = cls.__dict__
    specs: list[Field] = []
    for name, annotation in own.get("__annotations__", {}).items():
        if _is_classvar(annotation):
            continue
        if name in _RESERVED or name.startswith(("_d_", "_f_", "_s_")):
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

    env = {"MISSING": MISSING, "_set": object.__setattr__}
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
        if frozen and slots:  # the slot's own setter: half the cost of object.__setattr__
            body.append(f"    _s_{f.name}(self, {value})")
        elif frozen:  # (into the instance's dict: what object.__setattr__ does, for less)
            body.append(f"    _d[{f.name!r}] = {value}")
        else:
            body.append(f"    self.{f.name} = {value}")
    if frozen and not slots and any(line.startswith("    _d[") for line in body):
        body.insert(next(i for i, line in enumerate(body) if line.startswith("    _d[")), "    _d = self.__dict__")
    if "__post_init__" in own:
        body.append("    self.__post_init__()")

    src = [f"def __init__(self, {', '.join(params)}):" if params else "def __init__(self):", *(body or ["    pass"])]
    owner: list = []  # the class made (the slotted copy, with slots), once it exists
    init = _deferred("\n".join(src), env, f"{cls.__qualname__}.__init__", owner,
                     [f.name for f in specs] if frozen and slots else [])
    compared = [f.name for f in specs if f.compare]
    cls.__record_key__ = attrgetter(*compared) if compared else _no_key

    methods = {"__init__": init, "__repr__": _repr}
    if eq:
        methods["__eq__"] = _eq
        class_hash = own.get("__hash__", MISSING)
        if class_hash is MISSING or (class_hash is None and "__eq__" in own):  # no __hash__ of its own
            methods["__hash__"] = _hash if frozen else None
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
    owner.append(cls)
    return cls
