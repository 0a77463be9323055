"""The typed workflow: what a Rulefile means, checked. Frozen records (rulec/recordclass.py), no behaviour."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Mapping

from .pattern import Pattern
from .recordclass import field, record
from .source import Span


@record(frozen=True, slots=True, eq=False)
class Dimension:
    name: str
    values: tuple[str, ...]
    fields: tuple[str, ...]  # field names every value carries
    table: Mapping[str, Mapping[str, str | tuple[str, ...]]]  # value -> field -> text (a tuple: a list field)
    span: Span
    origin: str = "list"  # "list" | "block" | "glob" | "config" | "table"
    list_fields: frozenset[str] = frozenset()  # fields whose values are lists of texts
    # field -> {value: its text}, made on first use (a sample sheet may have 100k rows)
    columns: dict = field(default_factory=dict, repr=False)

    def column(self, name: str) -> Mapping[str, str | tuple[str, ...]]:
        col = self.columns.get(name)
        if col is None:
            table = self.table
            col = self.columns[name] = {v: table[v][name] for v in self.values}
        return col


class FieldColumns:
    """``(dimension, field) -> {value: text}`` for the formatters, each column made on first
    use (``Dimension.column``), not every field of every dimension up front."""

    __slots__ = ("dimensions",)

    def __init__(self, dimensions: Mapping[str, Dimension]):
        self.dimensions = dimensions

    def __getitem__(self, key: tuple[str, str]) -> Mapping[str, str | tuple[str, ...]]:
        return self.dimensions[key[0]].column(key[1])


@record(frozen=True, slots=True)
class PathSpec:
    """One output or log entry of a rule. ``flags``: the path wrappers it was written in
    (``directory("bld/index")``: {"directory"}; ``temp("...")``, ``protected("...")``,
    ``touch("...")``: output kinds, see ``kinds.py``), see ``PATH_WRAPPERS`` in analyze.py;
    ``wrapper_span``: where the outermost wrapper is written (for messages)."""

    name: str | None
    pattern: Pattern
    span: Span
    flags: frozenset[str] = frozenset()
    wrapper_span: Span | None = None


@record(frozen=True, slots=True)
class InputSpec:
    """One input entry. ``kind`` "one": a single pattern formatted with the job's wildcards;
    "expand"/"zip": the pattern over ``combos`` of the ``expanded`` wildcards (product or pairs),
    the other wildcards taking the job's value."""

    name: str | None
    pattern: Pattern
    span: Span
    kind: str = "one"
    expanded: tuple[str, ...] = ()
    combos: tuple[tuple[str, ...], ...] = ()
    flags: frozenset[str] = frozenset()  # path wrappers: {"ancient"}, {"directory"}


ParamValue = int | float | bool | str | Pattern | tuple


@record(frozen=True, slots=True)
class Resources:
    cpus: int = 1
    mem_mb: int | None = None
    time_s: int | None = None
    gpus: int = 0
    custom: tuple[tuple[str, int | float], ...] = ()
    per_attempt: tuple[str, ...] = ()  # "mem", "time": written "4G*{attempt}", scaled by the attempt

    def at(self, attempt: int) -> "Resources":
        """The resources of a job's ``attempt`` (1, 2, ...): those marked ``*{attempt}`` times it."""
        if attempt == 1 or not self.per_attempt:
            return self
        from .recordclass import replace

        return replace(self, mem_mb=self.mem_mb * attempt if "mem" in self.per_attempt and self.mem_mb else self.mem_mb,
                       time_s=self.time_s * attempt if "time" in self.per_attempt and self.time_s else self.time_s)

    def as_dict(self) -> dict[str, int | float]:
        out: dict[str, int | float] = {"cpus": self.cpus}
        if self.mem_mb is not None:
            out["mem_mb"] = self.mem_mb
        if self.time_s is not None:
            out["time_s"] = self.time_s
        if self.gpus:
            out["gpus"] = self.gpus
        out.update(self.custom)
        return out


@record(frozen=True, slots=True)
class Ref:
    """A ``{...}`` reference inside a shell command."""

    kind: str  # input|output|log|params|resources|wildcard|field|rule|jobid|threads|attempt
    key: str | None  # entry name, wildcard name, param name...
    attr: str | None  # the field of a dimension value
    index: int | None
    raw: bool
    offset: int
    length: int


@record(frozen=True, slots=True)
class ShellTemplate:
    text: str
    parts: tuple[str | Ref, ...]
    span: Span


@record(frozen=True, slots=True)
class Pack:
    """``pack:`` of a rule or label: how many of its jobs one cluster array task runs, one
    after another: ``jobs`` per task, or as many as fit in ``seconds`` of run time (worked out
    from the time each job asks for). Where jobs run, not what they compute: no part of a
    job's signature."""

    jobs: int | None = None
    seconds: int | None = None
    span: Span | None = None
    text: str = ""  # as written: "50", "5m"


@record(frozen=True, slots=True)
class Rule:
    name: str
    index: int
    span: Span
    wildcards: tuple[str, ...]  # from the outputs, in order of first appearance: the job id order
    wildcard_regex: tuple[tuple[str, str], ...]  # per wildcard: pattern.DIMENSION, the constraint or pattern.FREE
    outputs: tuple[PathSpec, ...]
    logs: tuple[PathSpec, ...]
    inputs: tuple[InputSpec, ...]
    params: tuple[tuple[str, ParamValue], ...]
    resources: Resources
    label: str | None
    shell: ShellTemplate | None
    persist: bool = False
    priority: int = 0
    env: tuple[tuple[str, ShellTemplate], ...] = ()  # its label's env: NAME -> value template
    retries: int | None = None  # None: the run's --retries
    # the config keys its paths, params, command and env use: (key, a hash of the value)
    config: tuple[tuple[str, str], ...] = ()
    benchmark: PathSpec | None = None  # benchmark: "bench/{x}.tsv", one row per attempt
    # ``local: true``: under a cluster executor its jobs run on this machine (Snakemake's
    # localrules); locally nothing changes.
    local: bool = False
    pack: Pack | None = None  # None: its label's, else the run's --pack

    @property
    def products(self) -> tuple[PathSpec, ...]:
        """Every path pattern a job of the rule writes: outputs, logs, then its benchmark."""
        if self.benchmark is None:
            return self.outputs + self.logs
        return self.outputs + self.logs + (self.benchmark,)


@record(frozen=True, slots=True)
class Label:
    name: str
    span: Span
    limit: int | None = None
    slurm: tuple[tuple[str, str], ...] = ()
    lsf: tuple[tuple[str, str], ...] = ()
    jbsub: str | None = None
    env: tuple[tuple[str, str], ...] = ()  # NAME -> value as written ({...} expanded per job)
    # Locally, the label's jobs run as ``<prefix words> bash -euo pipefail <job script>``
    # (``srun -p gpu --``, ``apptainer exec img.sif``): where a job runs, not what it computes,
    # so no part of any job's signature.
    prefix: tuple[str, ...] = ()
    pack: Pack | None = None  # for its rules that have no pack: of their own


@record(frozen=True, slots=True, eq=False)
class Workflow:
    file: str  # the top Rulefile
    workdir: str  # paths are relative to this folder
    files: tuple[str, ...]  # every Rulefile read, includes too
    dimensions: Mapping[str, Dimension]
    rules: tuple[Rule, ...]
    labels: Mapping[str, Label]
    precedence: frozenset[tuple[str, str]] = field(default_factory=frozenset)  # (winner, loser)
    default_target: str | None = None
    data_files: tuple[str, ...] = ()  # config files and sample sheets read
    data_key: str = ""  # a hash of what they held and of the --config overrides ("" if none)
    warned: bool = False  # the analyzer warned about it (a verdict that skips the load would not)

    def rule(self, name: str) -> Rule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)

    def beats(self, a: Rule, b: Rule) -> bool:
        """True when ``a`` wins over ``b`` for a path both can make."""
        if (a.name, b.name) in self.precedence:
            return True
        if (b.name, a.name) in self.precedence:
            return False
        return a.priority > b.priority
