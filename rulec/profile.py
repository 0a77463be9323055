"""Cluster profiles: per-cluster settings for the SLURM, LSF and jbsub backends, in TOML.

One Rulefile runs on two clusters by keeping what differs between them (partition names,
accounts, queues, jbsub flags) in a profile given with ``--profile cluster.toml``::

    [slurm]                      # every job on this cluster
    account = "proj42"
    partition = "normal"

    [slurm.labels.gpu]           # jobs of rules with `label: gpu`
    partition = "gpu"
    gres = "gpu:a100:1"

    [slurm.rules.estimate]       # jobs of one rule
    time = "2h"
    mem = "8G"

The same shape for ``[lsf]`` and ``[jbsub]``. Keys ``cpus``, ``mem``, ``time`` and ``gpus``
override the rule's resources (same units as in a Rulefile); ``extra`` is a string of raw
flags; ``array_limit`` caps how many tasks of one array run at once; ``pack`` (SLURM and LSF:
``pack = 50`` jobs per array task, or ``pack = "5m"`` of run time per task) is rulec's own
and goes in its own order (rulec/bundle/settings.py: the table ``[slurm]`` is a default below
``--pack``, the label and rule tables win over the Rulefile's ``pack:``); any other key is a
scheduler option (``qos = "high"`` -> ``--qos=high``, ``exclusive = true`` -> ``--exclusive``,
``false`` removes an option set by an earlier layer). A key is a name of letters, digits, ``_``
and ``-``: it goes into the job script as it is. ``[jbsub]`` refuses the run settings it cannot
honour (``poll``, ``max_poll``, ``stuck_after``, ``max_array_size``: jbsub has no status query
and no arrays).

Precedence, later wins: ``[slurm]`` (cluster-wide defaults: its cpus/mem/time/gpus apply
to rules that do not set them) < the rule's ``resources:`` < the Rulefile's ``label`` block
(``slurm: partition="gpu"``) < ``[slurm.labels.<label>]`` < ``[slurm.rules.<rule>]``. Pure: parsing only; the backends decide what the settings mean.
"""

from __future__ import annotations

import os
import re
from typing import Mapping, Union

from . import units
from .backend import CLUSTER
from .controls import CONTROL, control_char, describe_char  # noqa: F401 - used by the bundle too
from .errors import RulecError
from .recordclass import field, record

Value = Union[str, int, float, bool]

BACKENDS = tuple(b.value for b in CLUSTER)
# rulec's own settings at the top of a backend table (not scheduler options)
TOP_KEYS = {"max_array_size", "poll", "max_poll", "limit", "stuck_after"}
RUN_KEYS = TOP_KEYS - {"limit"}  # settings of the whole run: meaningless per label or rule
RESOURCE_KEYS = ("cpus", "mem", "time", "gpus")
# The run settings a [jbsub] table cannot have, and why: the jbsub executor waits on each job's
# own `jbsub -wait` (no status query, no arrays).
JBSUB_UNUSED = {
    "poll": "each job's jbsub -wait blocks until the job ends, so rulec has no status query to space out",
    "max_poll": "each job's jbsub -wait blocks until the job ends, so rulec has no status query to space out",
    "stuck_after": "rulec does not query the state of jbsub jobs, so it cannot see one stuck on a node",
    "max_array_size": "jbsub has no job arrays (one job per jbsub call)",
}
# A scheduler option's name: it becomes --<key> (SLURM) or -<key> (LSF, jbsub) as it is, so it
# may hold nothing a scheduler reads as the end of an option or the start of another.
_OPTION_NAME = re.compile(r"[A-Za-z0-9_-]+").fullmatch


class ProfileError(RulecError):
    phase = "profile"


# Control characters are refused in profiles as in the Rulefile's labels: rulec/controls.py.


@record(frozen=True)
class Layer:
    """One table of settings: key -> value, in file order."""

    items: tuple[tuple[str, Value], ...] = ()
    where: str = ""  # e.g. "cluster.toml [slurm.labels.gpu]", for messages
    env: tuple[tuple[str, str], ...] = ()  # its env table: NAME -> value, exported for the jobs

    def get(self, key: str, default=None):
        for k, v in self.items:
            if k == key:
                return v
        return default


@record(frozen=True)
class BackendProfile:
    top: Layer = Layer()
    labels: Mapping[str, Layer] = field(default_factory=dict)
    rules: Mapping[str, Layer] = field(default_factory=dict)

    def setting(self, key: str, default=None):
        return self.top.get(key, default)


@record(frozen=True)
class Profile:
    path: str | None = None
    backends: Mapping[str, BackendProfile] = field(default_factory=dict)

    def backend(self, name: str) -> BackendProfile:
        return self.backends.get(name) or BackendProfile()


EMPTY = Profile()


def load(path: str | None) -> Profile:
    """Read a profile; ``None`` gives the empty profile."""
    if not path:
        return EMPTY
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the same parser, as a package
        import tomli as tomllib

    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ProfileError(f"profile {path} not found") from None
    except OSError as exc:
        raise ProfileError(f"cannot read profile {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"profile {path} is not valid TOML: {exc}") from None
    return parse(data, path)


def parse(data: Mapping, path: str = "<profile>") -> Profile:
    name = os.path.basename(path)
    backends: dict[str, BackendProfile] = {}
    for key, table in data.items():
        if key not in BACKENDS:
            raise ProfileError(f"{name}: unknown table [{key}]; expected [slurm], [lsf] or [jbsub]")
        if not isinstance(table, Mapping):
            raise ProfileError(f"{name}: [{key}] must be a table")
        top: list[tuple[str, Value]] = []
        labels: dict[str, Layer] = {}
        rules: dict[str, Layer] = {}
        for k, v in table.items():
            if k in ("labels", "rules") and isinstance(v, Mapping):
                target = labels if k == "labels" else rules
                for sub, subtable in v.items():
                    where = f"{name} [{key}.{k}.{sub}]"
                    if not isinstance(subtable, Mapping):
                        raise ProfileError(f"{where} must be a table")
                    env = _env(where, subtable.get("env"), (name, key, k, sub, "env"))
                    items = tuple(_check(where, kk, vv, (name, key, k, sub, kk)) for kk, vv in subtable.items() if kk != "env")
                    for kk, _ in items:
                        if kk in RUN_KEYS:  # accepted there, it would be ignored
                            raise ProfileError(f"{where}: {kk} is a setting of the whole run, not of one {k[:-1]}; put it in [{key}]")
                    target[sub] = Layer(items, where, env)
                continue
            if k == "env":
                continue
            top.append(_check(f"{name} [{key}]", k, v, (name, key, k)))
        env = _env(f"{name} [{key}]", table.get("env"), (name, key, "env"))
        if key == "jbsub":
            for k, _ in top:
                if k in JBSUB_UNUSED:  # accepted there, it would be ignored
                    raise ProfileError(f"{name} [jbsub]: {k} is for SLURM and LSF runs: {JBSUB_UNUSED[k]}; remove it")
            for layer in [Layer(tuple(top), f"{name} [{key}]"), *labels.values(), *rules.values()]:
                if layer.get("pack") is not None:
                    raise ProfileError(f"{layer.where}: pack is for SLURM and LSF job arrays: jbsub runs one job per jbsub call")
        backends[key] = BackendProfile(Layer(tuple(top), f"{name} [{key}]", env), labels, rules)
    return Profile(path, backends)


_SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*").fullmatch


def _env(where: str, table, path: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """An ``env`` table (``env = { JAVA_HOME = "/opt/java11" }``): shell variable names and
    one-line values (strings or numbers), taken literally."""
    if table is None:
        return ()
    if not isinstance(table, Mapping):
        raise ProfileError(f"{where}: env must be a table of NAME = \"value\", e.g. env = {{ OMP_NUM_THREADS = \"4\" }}")
    pairs = []
    for name, value in table.items():
        _one_line(path + (name,), name, value)
        if not _SHELL_NAME(name):
            raise ProfileError(f"{where}: env {name!r} is not a shell variable name (letters, digits and _, not starting with a digit)")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ProfileError(f"{where}: env {name}: the value is a string or a number, e.g. {name} = \"/opt/x\"")
        pairs.append((name, str(value)))
    return tuple(pairs)


def env_for(prof: BackendProfile, rule: str, label: str | None) -> tuple[tuple[str, str], ...]:
    """The profile's env for one rule's jobs: ``[<backend>.env]`` < ``[<backend>.labels.<label>.env]``
    < ``[<backend>.rules.<rule>.env]``, a later table's value winning per name."""
    merged: dict[str, str] = dict(prof.top.env)
    layer = prof.labels.get(label) if label else None
    if layer is not None:
        merged.update(layer.env)
    layer = prof.rules.get(rule)
    if layer is not None:
        merged.update(layer.env)
    return tuple(merged.items())


def _check(where: str, key: str, value, path: tuple[str, ...] = ()) -> tuple[str, Value]:
    path = path or ("<profile>", key)
    _one_line(path, key, value)
    if not _OPTION_NAME(key):
        raise ProfileError(
            f"{path[0]}: {_dotted(path[1:])}: a key is a name of letters, digits, '_' and '-' (e.g. mail_type): "
            "a scheduler option's key goes into the job script as it is"
        )
    if isinstance(value, Mapping):
        raise ProfileError(f"{where}: {key} is a table; only [<backend>.labels.<name>] and [<backend>.rules.<name>] nest")
    if isinstance(value, list):
        raise ProfileError(f"{where}: {key} is a list; give a string, a number or true/false")
    if not isinstance(value, (str, int, float, bool)):
        raise ProfileError(f"{where}: {key} has an unsupported value {value!r}")
    if key == "mem" and parse_mem(value) is None:
        raise ProfileError(f"{where}: bad memory value {value!r}: expected e.g. \"4G\", \"500M\" or megabytes")
    if key == "time" and parse_time(value) is None:
        raise ProfileError(f"{where}: bad time value {value!r}: expected e.g. \"30m\", \"2h\", \"1-00:00:00\" or minutes")
    if key == "stuck_after" and not (
        (isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0)
        or (isinstance(value, str) and parse_time(value))
    ):
        raise ProfileError(f"{where}: stuck_after must be seconds (a number) or a duration like \"10m\"")
    if key == "pack":
        _check_pack(where, value)
    if key in ("cpus", "gpus", "array_limit", "max_array_size", "limit") and (
        isinstance(value, bool) or not isinstance(value, int) or value < (0 if key == "gpus" else 1)
    ):
        raise ProfileError(f"{where}: {key} must be a whole number{'' if key == 'gpus' else ' of at least 1'}")
    return key, value


def _check_pack(where: str, value) -> None:
    """``pack = 50`` (jobs per array task) or ``pack = "5m"`` (a run time per task)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ProfileError(f"{where}: pack must be at least 1 (pack = 1 runs one job per task), got {value}")
        return
    if isinstance(value, str):
        seconds = parse_time(value)
        if seconds is None or seconds <= 0:
            raise ProfileError(f"{where}: pack {value!r} is not a run time; expected e.g. \"5m\", \"1h\" or \"HH:MM:SS\", "
                               "or a whole number of jobs per task (pack = 50)")
        return
    shown = str(value).lower() if isinstance(value, bool) else repr(value)
    raise ProfileError(f"{where}: pack takes a whole number of jobs per task (pack = 50) or a run time per task "
                       f"(pack = \"5m\"), not {shown}")


_WHY = "scheduler options go on one line of the job script and may not hold control characters"


def _dotted(parts) -> str:
    return ".".join(p if re.fullmatch(r"[A-Za-z0-9_-]+", p) else '"' + p.encode("unicode_escape").decode().replace('"', '\\"') + '"' for p in parts)


def _one_line(path: tuple[str, ...], key: str, value) -> None:
    """Refuse a key or a string value holding a control character: ``profile.toml:
    slurm.labels.gpu.partition: ...``, naming the file and the key."""
    file, parts = path[0], path[1:]
    at = control_char(key)
    if at >= 0:
        raise ProfileError(
            f"{file}: {_dotted(parts)}: the key holds {describe_char(key[at])}; {_WHY}"
        )
    if isinstance(value, str):
        at = control_char(value)
        if at >= 0:
            raise ProfileError(
                f"{file}: {_dotted(parts)}: the value {value!r} holds {describe_char(value[at])} "
                f"(character {at + 1}); {_WHY}"
            )


def parse_mem(value: Value) -> int | None:
    """Megabytes, from "4G", "500M", "1.5T" or a bare number of megabytes."""
    return units.parse_mem(value)


def parse_time(value: Value) -> int | None:
    """Seconds, from "30m", "2h", "1h30m", "[D-]HH:MM[:SS]" or a bare number of minutes."""
    return units.parse_time(value)
