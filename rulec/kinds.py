"""Output kinds: which of a job's outputs are ``temp()``, ``protected()`` or ``touch()``. Pure.

The analyzer records the kinds on each output's ``ir.PathSpec.flags`` (with the other path
wrappers, such as ``directory``); every job of a rule has
its outputs in the order of the rule's output specs (``JobGraph.outputs``), so a kind is a
set of output positions per rule, worked out once. A workflow without kinds costs nothing:
``OutputKinds.of(graph)`` is None.

- ``temp``: deleted by the run loop once every job of the run that reads it has succeeded,
  unless it is requested (an output of a target job, ``graph.targets``); a missing temp
  output is no reason to run while the jobs reading it are up to date (plan.py).
- ``protected``: made read-only after its job succeeded; a run that would replace an
  existing one, and ``rulec clean``, refuse unless told (``--overwrite-protected``,
  ``clean --protected``).
- ``touch``: a marker rulec creates (or updates) after its job exited 0; the command need
  not make it.
"""

from __future__ import annotations

import os
import stat as stat_mod

TYPE_CHECKING = False

if TYPE_CHECKING:
    from .dag import JobGraph
    from . import ir

TEMP = "temp"
PROTECTED = "protected"
TOUCH = "touch"


def rule_positions(rule: "ir.Rule", kind: str) -> tuple[int, ...]:
    """The positions among the rule's declared outputs of those of ``kind``."""
    return tuple(i for i, spec in enumerate(rule.outputs) if kind in spec.flags)


KINDS = frozenset((TEMP, PROTECTED, TOUCH))


def uses(workflow, kind: str | None = None) -> bool:
    """Whether any rule has an output of ``kind`` (any output kind, if None)."""
    return any((kind in spec.flags) if kind else not KINDS.isdisjoint(spec.flags)
               for rule in workflow.rules for spec in rule.outputs if spec.flags)


class OutputKinds:
    """The outputs of each kind, per job of one graph."""

    def __init__(self, graph: "JobGraph"):
        self.graph = graph
        rules = graph.workflow.rules
        self.positions = {kind: [rule_positions(r, kind) for r in rules] for kind in (TEMP, PROTECTED, TOUCH)}
        self._targets: set[int] | None = None
        self._temp: dict[str, int] | None = None
        self._all_temp: set[str] | None = None

    @classmethod
    def of(cls, graph: "JobGraph") -> "OutputKinds | None":
        """None when no rule of the graph's workflow declares an output kind."""
        return cls(graph) if uses(graph.workflow) else None

    def has(self, kind: str) -> bool:
        return any(self.positions[kind])

    def outputs(self, job: int, kind: str) -> tuple[str, ...]:
        at = self.positions[kind][self.graph.rule[job]]
        if not at:
            return ()
        outs = self.graph.outputs[job]
        return tuple(outs[i] for i in at)

    def spec(self, job: int, path: str) -> "ir.PathSpec | None":
        """The output spec of ``job`` that names ``path``."""
        g = self.graph
        outs = g.declared_outputs(job)
        for i, p in enumerate(outs):
            if p == path:
                return g.rule_of(job).outputs[i]
        return None

    @property
    def targets(self) -> set[int]:
        if self._targets is None:
            self._targets = set(self.graph.targets)
        return self._targets

    def temp_paths(self) -> dict[str, int]:
        """Every temp output of a job that is not a target -> its job: what a run may delete
        (an output of a job the user asked for, or a path target, is kept)."""
        if self._temp is None:
            g = self.graph
            at = self.positions[TEMP]
            targets = self.targets
            out: dict[str, int] = {}
            for job in range(len(g)):
                where = at[g.rule[job]]
                if where and job not in targets:
                    outs = g.outputs[job]
                    for i in where:
                        out[outs[i]] = job
            self._temp = out
        return self._temp

    def all_temp(self) -> set[str]:
        """Every temp output of the graph, targets' too."""
        if self._all_temp is None:
            g = self.graph
            at = self.positions[TEMP]
            out: set[str] = set()
            for job in range(len(g)):
                where = at[g.rule[job]]
                if where:
                    outs = g.outputs[job]
                    out.update(outs[i] for i in where)
            self._all_temp = out
        return self._all_temp

    def temp_inputs(self, job: int) -> tuple[int, ...]:
        """The positions of the job's inputs that are temp outputs of other jobs: their stats
        are kept apart in the job's record (``plan.input_signature``), so that deleting them
        later does not make the job look out of date. The same whatever the targets."""
        temp = self.all_temp()
        if not temp:
            return ()
        return tuple(i for i, p in enumerate(self.graph.inputs[job]) if p in temp)

    def where(self, job: int, path: str) -> str:
        """``protected() in Rulefile:12:13``: the kind wrapper of ``path`` and its place."""
        spec = self.spec(job, path)
        if spec is None or spec.wrapper_span is None:
            return "protected()"
        return f"protected() in {spec.wrapper_span.location()}"


def read_only(path: str) -> bool:
    """Whether ``path`` exists with no write permission for anyone (what protected() makes
    of an output; a user who gives it back unprotects the file)."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return not stat_mod.S_ISLNK(st.st_mode) and not st.st_mode & 0o222


def in_the_way(kinds: OutputKinds, jobs) -> list[tuple[int, str]]:
    """The protected() outputs of ``jobs`` that exist read-only: running the jobs would
    replace them."""
    workdir = kinds.graph.workflow.workdir
    return [(job, path) for job in jobs for path in kinds.outputs(job, PROTECTED)
            if read_only(os.path.join(workdir, path))]


def refusal(kinds: OutputKinds, found: list[tuple[int, str]], doing: str, hint: str):
    """The error for protected outputs in the way: the first one named with its place in the
    Rulefile, the job, and how many more."""
    from .errors import RulecError
    from .report import shown

    job, path = found[0]
    more = ""
    if len(found) > 1:
        rest = [shown(p) for _, p in found[1:4]]
        more = f" (and {len(found) - 1} more protected file(s): {', '.join(rest)}{', ...' if len(found) > 4 else ''})"
    return RulecError(f"{shown(path)} is protected ({kinds.where(job, path)}): "
                      f"{shown(kinds.graph.job_id(job))} {doing}{more}", hint=hint)


def make_read_only(path: str) -> None:
    """Take every write bit off ``path`` (and, for a folder, everything in it)."""
    if os.path.isdir(path) and not os.path.islink(path):
        for root, dirs, files in os.walk(path):
            for name in files:
                _chmod(os.path.join(root, name), off=True)
        for root, dirs, files in os.walk(path, topdown=False):
            for name in dirs:
                _chmod(os.path.join(root, name), off=True)
    _chmod(path, off=True)


def make_writable(path: str) -> None:
    """Give the owner write permission back on ``path`` (and everything in a folder), so a
    job that is told to replace a protected output can remove it."""
    _chmod(path, off=False)
    if os.path.isdir(path) and not os.path.islink(path):
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                _chmod(os.path.join(root, name), off=False)


def _chmod(path: str, off: bool) -> None:
    try:
        st = os.lstat(path)
    except OSError:
        return
    if stat_mod.S_ISLNK(st.st_mode):
        return
    mode = stat_mod.S_IMODE(st.st_mode)
    os.chmod(path, mode & ~0o222 if off else mode | stat_mod.S_IWUSR)
