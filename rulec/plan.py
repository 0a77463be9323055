"""plan(graph, snapshot, history, options) -> Plan: which jobs must run, and why. Pure.

Every decision carries its reasons as data (``Reason``); only ``report`` turns them into
words. The rules, in the order they are checked for each job (dependencies first):

- FORCED            ``--force RULE|ID`` or ``--force-all``
- INPUT_MISSING     an input no rule makes does not exist (only when the options allow
                    missing sources, as ``rulec status`` does; else planning fails)
- NO_OUTPUTS        a job with a command but no outputs always runs (make's phony target)
- OUTPUT_MISSING    a declared output does not exist
- INCOMPLETE        the last run started this job and never finished it
- UPSTREAM          a job that makes one of its inputs will run
- with a record of the last run: CONFIG_CHANGED (the value of a config key the job uses,
  in a path, a param, its command or env, differs; the reason names the keys); then, not
  for ``persist`` rules, which skip the input checks:
  INPUT_SET_CHANGED, INPUT_CHANGED (an input's size or mtime differs from the record)
- without a record (outputs made by hand or another tool): INPUT_NEWER, as in make
- COMMAND_CHANGED, PARAMS_CHANGED   the expanded command (white space folded) or params differ
- ENV_CHANGED       a value of the label's ``env:`` differs (the reason names the variables)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from typing import TYPE_CHECKING

from . import shell
from .errors import ResolveError
from .history import History
from .state import Snapshot
from .storage import is_remote

COARSE_NS = 1_000_000_000  # the time resolution of S3, SFTP and HTTP stores

if TYPE_CHECKING:
    from .dag import JobGraph


class Why(enum.Enum):
    FORCED = "forced"
    INPUT_MISSING = "input-missing"
    NO_OUTPUTS = "no-outputs"
    OUTPUT_MISSING = "output-missing"
    INCOMPLETE = "incomplete"
    UPSTREAM = "upstream"
    INPUT_SET_CHANGED = "input-set-changed"
    INPUT_CHANGED = "input-changed"
    INPUT_NEWER = "input-newer"
    COMMAND_CHANGED = "command-changed"
    PARAMS_CHANGED = "params-changed"
    ENV_CHANGED = "env-changed"
    CONFIG_CHANGED = "config-changed"


@dataclass(frozen=True, slots=True)
class Reason:
    why: Why
    path: str | None = None  # the output or input concerned; for ENV_CHANGED, the variables; CONFIG_CHANGED, the keys
    job: str | None = None  # the upstream job, for UPSTREAM


@dataclass(frozen=True)
class PlanOptions:
    force: frozenset[str] = frozenset()  # rule names or job ids
    force_all: bool = False
    explain: bool = False  # collect every reason, not only the first
    tolerance_ns: int = 0  # an input counts as newer only by more than this
    missing_sources_ok: bool = False  # a missing source is a reason (INPUT_MISSING), not an error


@dataclass
class Plan:
    graph: "JobGraph"
    run: list[int]  # jobs to run, dependencies first
    reasons: dict[int, tuple[Reason, ...]]
    groups: list[int] = field(default_factory=list)  # jobs without command or outputs (like `all`)

    def __len__(self) -> int:
        return len(self.run)


def inputs_hash(paths: tuple[str, ...]) -> str:
    return shell.digest("\0".join(paths))


def input_signature(paths: tuple[str, ...], stat) -> str:
    """A hash of the inputs' sizes and mtimes; ``stat(path)`` -> (mtime_ns, size) or None."""
    return shell.digest(repr([stat(path) for path in paths]))


def plan(graph: "JobGraph", snap: Snapshot, history: History, options: PlanOptions = PlanOptions()) -> Plan:
    missing_sources = [(path, job) for path, job in graph.sources.items() if path not in snap]
    if missing_sources and not options.missing_sources_ok:
        raise _missing_error(graph, missing_sources)
    absent = {path for path, _ in missing_sources}

    rules = graph.workflow.rules
    renderers = None
    n = len(graph)
    runs = bytearray(n)
    reasons: dict[int, tuple[Reason, ...]] = {}
    order_run: list[int] = []
    groups: list[int] = []
    explain = options.explain
    force = options.force
    force_all = options.force_all
    tol = options.tolerance_ns
    get = snap.lookup
    records = history.records()
    g_rule, g_out, g_nout, g_in, g_deps = graph.rule, graph.outputs, graph.n_outputs, graph.inputs, graph.deps

    for job in graph.order:
        rule = rules[g_rule[job]]
        n_out = g_nout[job]
        outs = g_out[job][:n_out] if n_out != len(g_out[job]) else g_out[job]
        deps = g_deps[job]
        if not outs and rule.shell is None:
            # A group of targets: it runs nothing itself.
            groups.append(job)
            if any(runs[d] for d in deps):
                runs[job] = 1
            continue
        job_id = graph.job_id(job)
        found: list[Reason] = []
        if force_all or (force and (rule.name in force or job_id in force)):
            found.append(Reason(Why.FORCED))
        if absent and (not found or explain):
            for path in g_in[job]:
                if path in absent:
                    found.append(Reason(Why.INPUT_MISSING, path))
                    break
        if not outs:
            found.append(Reason(Why.NO_OUTPUTS))
        if not found or explain:
            for path in outs:
                if get(path) is None:
                    found.append(Reason(Why.OUTPUT_MISSING, path))
                    if not explain:
                        break
        rec = records.get(job_id)
        # rec: (job_id, rule, status, cmd_hash, params_hash, inputs_hash, input_sig)
        if rec is not None and rec[2] != "ok" and (not found or explain):
            found.append(Reason(Why.INCOMPLETE))
        if not found or explain:
            for d in deps:
                if runs[d]:
                    found.append(Reason(Why.UPSTREAM, job=graph.job_id(d)))
                    break
        if (not found or explain) and outs:
            inputs = g_in[job]
            upstream = bool(found) and any(r.why is Why.UPSTREAM for r in found)
            if rec is not None and rec[2] == "ok":
                if rule.config:
                    changed = _config_changed(rec[4], rule.config)
                    if changed:
                        found.append(Reason(Why.CONFIG_CHANGED, changed))
                if not rule.persist and (not found or explain):
                    if rec[5] != inputs_hash(inputs):
                        found.append(Reason(Why.INPUT_SET_CHANGED))
                    elif not upstream and rec[6] != input_signature(inputs, get):
                        found.append(Reason(Why.INPUT_CHANGED, _changed_input(inputs, get, outs)))
                if not found or explain:
                    if renderers is None:
                        renderers = shell.renderers(graph)
                    r = renderers[g_rule[job]]
                    if rec[3] != r.key(job_id, graph.values[job], inputs, g_out[job], n_out):
                        found.append(Reason(Why.COMMAND_CHANGED))
                    if not found or explain:
                        # the params hash, then the env's "|NAME:hash,..." (only with an env)
                        ph = shell.params_hash(r, graph.values[job])
                        ek = r.env_key(job_id, graph.values[job], inputs, g_out[job], n_out) if r.env else ""
                        if rec[4] != ph + ek:
                            old_p, bar, old_e = rec[4].partition("|")
                            # the config's part ("~KEY:hash,...") is CONFIG_CHANGED's
                            if old_p != ph and old_p.partition("~")[0] != ph.partition("~")[0]:
                                found.append(Reason(Why.PARAMS_CHANGED))
                            if (not found or explain) and bar + old_e != ek:
                                found.append(Reason(Why.ENV_CHANGED, _env_changed(old_e, ek[1:])))
            elif not rule.persist and not upstream and inputs:
                out_stats = [get(p) for p in outs]
                oldest = min(st[0] for st in out_stats if st is not None) if any(out_stats) else None
                for path in inputs if oldest is not None else ():
                    st = get(path)
                    if st is not None and st[0] > oldest + tol:
                        # Remote stores keep whole seconds, rounded down: an output uploaded
                        # in the same second as its input was written can read as older.
                        # Allow a second for remote outputs (a remote input only ever reads
                        # as older than it is). Asked only here, off the common path.
                        if st[0] <= oldest + COARSE_NS and any(is_remote(p) for p in outs):
                            continue
                        found.append(Reason(Why.INPUT_NEWER, path))
                        break
        if found:
            runs[job] = 1
            reasons[job] = tuple(found)
            order_run.append(job)
    return Plan(graph, order_run, reasons, groups)


def _config_changed(recorded: str, config: tuple[tuple[str, str], ...]) -> str | None:
    """The config keys the job uses whose values differ from the record's (the record's
    params hash ends ``~KEY:hash,...``); keys the record does not have are not counted (a
    reference added to the Rulefile changed the command, params or paths: that is said)."""
    _, tilde, old = recorded.partition("|")[0].partition("~")
    if not tilde:
        return None
    before = dict(x.rsplit(":", 1) for x in old.split(",") if ":" in x)
    changed = [k for k, h in config if k in before and before[k] != h]
    return ", ".join(changed) or None


def _env_changed(old: str, new: str) -> str:
    """The variables whose values differ between two env keys (``NAME:hash,...``)."""
    a = dict(x.split(":", 1) for x in old.split(",") if ":" in x)
    b = dict(x.split(":", 1) for x in new.split(",") if ":" in x)
    return ", ".join(sorted(n for n in a.keys() | b.keys() if a.get(n) != b.get(n)))


def _changed_input(inputs, get, outs) -> str | None:
    """The input most likely changed: the newest one (for the message only)."""
    best, best_t = None, -1
    for path in inputs:
        st = get(path)
        if st is not None and st[0] > best_t:
            best, best_t = path, st[0]
    return best


def _missing_error(graph: "JobGraph", missing: list[tuple[str, int]]) -> ResolveError:
    lines = []
    for path, job in missing[:10]:
        lines.append(f"missing input {path!r}, needed by {graph.job_id(job)}, and no rule makes it")
    more = f"\n  ... and {len(missing) - 10} more missing inputs" if len(missing) > 10 else ""
    first_job = missing[0][1]
    rule = graph.rule_of(first_job)
    span = None
    for spec in rule.inputs:
        span = spec.span
        break
    err = ResolveError("\n".join(lines) + more, span)
    return err
