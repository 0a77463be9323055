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
- an input written ``ancient(...)`` counts only by existing: it gives no INPUT_CHANGED nor
  INPUT_NEWER, and a job that makes it gives no UPSTREAM while it exists (Snakemake's rule)
- COMMAND_CHANGED, PARAMS_CHANGED   the expanded command (white space folded) or params differ
- ENV_CHANGED       a value of the label's ``env:`` differs (the reason names the variables)
- TEMP_NEEDED       a ``temp()`` output that is missing after its job's recorded successful
                    run (that run deleted it once it was used) is no reason on its own: its
                    job runs only when a job that reads it runs (or it is requested: an
                    output of a target job). Without such a record it is OUTPUT_MISSING,
                    as any output of a job that never ran. Jobs whose
                    records were made from a temp input compare the other inputs only,
                    while it is missing (``input_signature``).
"""

from __future__ import annotations

import enum

TYPE_CHECKING = False

from . import shell
from .errors import ResolveError
from .gcpause import paused
from .history import History
from .kinds import TEMP, OutputKinds
from .options import PlanOptions  # noqa: F401 - part of this module's interface
from .recordclass import field, record
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
    TEMP_NEEDED = "temp-needed"  # path: a missing temp() output; job: the job that runs and reads it


@record(frozen=True, slots=True)
class Reason:
    why: Why
    path: str | None = None  # the output or input concerned; for ENV_CHANGED, the variables; CONFIG_CHANGED, the keys
    job: str | None = None  # the upstream job, for UPSTREAM; the job that reads it, for TEMP_NEEDED


@record
class Plan:
    graph: "JobGraph"
    run: list[int]  # jobs to run, dependencies first
    reasons: dict[int, tuple[Reason, ...]]
    groups: list[int] = field(default_factory=list)  # jobs without command or outputs (like `all`)

    def __len__(self) -> int:
        return len(self.run)


def inputs_hash(paths: tuple[str, ...]) -> str:
    return shell.digest("\0".join(paths))


EXISTS = (0, 0)  # what an ancient input adds to a signature: that it exists


def input_signature(paths: tuple[str, ...], stat, ancient: frozenset[int] = frozenset(), temp: tuple[int, ...] = ()) -> str:
    """A hash of the inputs' sizes and mtimes; ``stat(path)`` -> (mtime_ns, size) or None.
    The inputs at positions ``ancient`` count only by existing.

    ``temp``: the positions of inputs that are ``temp()`` outputs (a run deletes them once
    used). Their stats are kept apart, one short hash each after a ``|``, so that a deleted
    one can be left out of the comparison (``same_inputs``)."""
    if not ancient and not temp:
        return shell.digest(repr(list(map(stat, paths))))

    def one(i: int, p: str):
        return (EXISTS if stat(p) is not None else None) if i in ancient else stat(p)

    if not temp:
        return shell.digest(repr([one(i, p) for i, p in enumerate(paths)]))
    skip = set(temp)
    base = shell.digest(repr([one(i, p) for i, p in enumerate(paths) if i not in skip]))
    return base + "|" + ",".join(shell.digest(repr(one(i, paths[i])))[:16] for i in temp)


def same_inputs(recorded: str, paths: tuple[str, ...], stat, ancient: frozenset[int] = frozenset(),
                temp: tuple[int, ...] = ()) -> bool:
    """Whether the inputs are as ``recorded`` (an ``input_signature``), a missing temp input
    counting as unchanged: a run deleted it after the job had used it."""
    if not temp:
        return recorded == input_signature(paths, stat, ancient)
    base, bar, rest = recorded.partition("|")
    if not bar:  # recorded before they were temp() outputs: comparable while they all exist
        return all(stat(paths[i]) is not None for i in temp) and recorded == input_signature(paths, stat, ancient)
    now = input_signature(paths, stat, ancient, temp)
    now_base, _, now_rest = now.partition("|")
    if now_base != base:
        return False
    old, new = rest.split(","), now_rest.split(",")
    if len(old) != len(new):
        return False
    return all(o == n or stat(paths[i]) is None for i, o, n in zip(temp, old, new))


@paused
def plan(graph: "JobGraph", snap: Snapshot, history: History, options: PlanOptions = PlanOptions(),
         fresh: frozenset[int] = frozenset(), recorded=frozenset()) -> Plan:
    """Which jobs run and why. ``fresh``: rules (indices) whose jobs are known up to date but
    for their upstream (``verdict.fresh_rules``, after an edit of other rules): of those, only
    whether a job they need runs is looked at.

    A ``fresh`` set also says that every path, the graph's structure (paths, input kinds) and
    the records are as they were when the verdict found every job up to date: no job's inputs
    can have changed since, so the other rules' jobs are not asked about their inputs either
    (INPUT_SET_CHANGED, INPUT_CHANGED, INPUT_NEWER), only about what an edit changes (the
    command, params, env, config).

    ``recorded``: ids of jobs whose records this process made from this same ``graph`` (a
    run's end, ``History.recorded_here``): their command, params, env, config and input set
    hash to what the record holds, since the same code made both from the same graph, so
    only their inputs' stats are compared."""
    if options.force:
        check_force(graph.workflow, options.force)
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
    need_id = bool(records) or bool(force)
    g_rule, g_out, g_nout, g_in, g_deps = graph.rule, graph.outputs, graph.n_outputs, graph.inputs, graph.deps
    ancient_of = [p.ancient for p in graph.plans]
    any_ancient = any(ancient_of)  # else no job pays for ancient(...)
    anc: frozenset[int] = frozenset()
    # temp() outputs: None when the workflow has none (nothing below costs anything then)
    kinds = OutputKinds.of(graph)
    temp_ok = kinds.temp_paths() if kinds is not None and kinds.has(TEMP) else None  # deletable: not requested
    temp_in = kinds.temp_inputs if temp_ok is not None else None
    pending: dict[int, list[str]] = {}  # job -> its missing temp outputs, when that is all it lacks
    # fresh rules upstream of no other rule's jobs: none of their jobs can run, and their
    # rows are not even read (a graph from the cache makes a row only when it is asked for)
    skip = _unreached(graph, fresh) if fresh and not explain else frozenset()
    inputs_known = bool(fresh) and not explain

    for job in graph.order:
        if skip and g_rule[job] in skip:
            if not g_nout[job] and rules[g_rule[job]].shell is None:
                groups.append(job)
            continue
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
        if fresh and g_rule[job] in fresh and not explain:
            for d in deps:
                if runs[d] and not (any_ancient and ancient_of[g_rule[job]]
                                    and _only_ancient(graph, job, d, ancient_of[g_rule[job]], get)):
                    runs[job] = 1
                    reasons[job] = (Reason(Why.UPSTREAM, job=graph.job_id(d)),)
                    order_run.append(job)
                    break
            continue
        # the job's id, for the records and --force (no job pays for it without either)
        job_id = graph.job_id(job) if need_id else None
        if any_ancient:
            anc = ancient_of[g_rule[job]]
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
        missing_temp = None
        rec = records.get(job_id) if records else None
        # rec: (job_id, rule, status, cmd_hash, params_hash, inputs_hash, input_sig)
        if not found or explain:
            for path in outs:
                if get(path) is None:
                    # a missing temp() output is the deletion of a run that made it only with
                    # the record of that run; a job never run has simply not made it yet
                    if temp_ok and path in temp_ok and rec is not None and rec[2] == "ok":
                        if missing_temp is None:
                            missing_temp = []
                        missing_temp.append(path)
                        continue
                    found.append(Reason(Why.OUTPUT_MISSING, path))
                    if not explain:
                        break
        if rec is not None and rec[2] != "ok" and (not found or explain):
            found.append(Reason(Why.INCOMPLETE))
        if not found or explain:
            for d in deps:
                if runs[d]:
                    if anc and _only_ancient(graph, job, d, anc, get):
                        continue
                    found.append(Reason(Why.UPSTREAM, job=graph.job_id(d)))
                    break
        if (not found or explain) and outs:
            inputs = g_in[job]
            upstream = bool(found) and any(r.why is Why.UPSTREAM for r in found)
            if rec is not None and rec[2] == "ok" and recorded and job_id in recorded and not explain:
                if not rule.persist and not found and not inputs_known and not upstream and (
                        rec[6] != input_signature(inputs, get, anc) if temp_in is None
                        else not same_inputs(rec[6], inputs, get, anc, temp_in(job))):
                    found.append(Reason(Why.INPUT_CHANGED, _changed_input(inputs, get, outs, anc)))
            elif rec is not None and rec[2] == "ok":
                if rule.config:
                    changed = _config_changed(rec[4], rule.config)
                    if changed:
                        found.append(Reason(Why.CONFIG_CHANGED, changed))
                if not rule.persist and (not found or explain) and not inputs_known:
                    if rec[5] != inputs_hash(inputs):
                        found.append(Reason(Why.INPUT_SET_CHANGED))
                    elif not upstream and (rec[6] != input_signature(inputs, get, anc) if temp_in is None
                                           else not same_inputs(rec[6], inputs, get, anc, temp_in(job))):
                        found.append(Reason(Why.INPUT_CHANGED, _changed_input(inputs, get, outs, anc)))
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
            elif not rule.persist and not upstream and inputs and not inputs_known:
                if len(outs) == 1:  # the common case, without building a list
                    st = get(outs[0])
                    oldest = st[0] if st is not None else None
                else:
                    out_stats = [get(p) for p in outs]
                    oldest = min(st[0] for st in out_stats if st is not None) if any(out_stats) else None
                for i, path in enumerate(inputs if oldest is not None else ()):
                    if anc and i in anc:
                        continue
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
            if missing_temp and explain:
                found.extend(Reason(Why.OUTPUT_MISSING, p) for p in missing_temp)
            runs[job] = 1
            reasons[job] = tuple(found)
            order_run.append(job)
        elif missing_temp:
            pending[job] = missing_temp
    if pending and order_run:
        order_run = _needed_temps(graph, runs, reasons, order_run, pending, set(groups), explain)
    return Plan(graph, order_run, reasons, groups)


def check_force(workflow, names) -> None:
    """Each ``--force NAME`` names a rule, or a job id of one (``fit[data_0,mean]``) whose
    values fit the rule's wildcards, as a target's job id must (``dag._target_jobs``); else a
    ResolveError (exit 2), never a name that forces nothing. Per name, not per job."""
    if not names:
        return
    from .dag import job_values

    rules = {r.name: r for r in workflow.rules}
    for name in sorted(names):
        if name in rules:
            continue
        head, bracket, rest = name.partition("[")
        rule = rules.get(head) if bracket and name.endswith("]") else None
        if rule is None:
            raise ResolveError(f"--force {name!r}: not a rule name or job id{_close(head, rules, 'rule ')}",
                               hint="--force takes a rule name (all its jobs) or a job id, RULE[VALUE,...]")
        if not rule.wildcards:
            raise ResolveError(f"--force {name!r}: rule {head} has no wildcards: its one job is {head!r}")
        job_values(workflow, rule, rest[:-1], f"--force {name!r}")


def _close(name: str, choices, what: str = "") -> str:
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {what}'{close[0]}'?)" if close else ""


def _unreached(graph: "JobGraph", fresh: frozenset[int]) -> frozenset[int]:
    """The rules of ``fresh`` that need, however indirectly, no job of another rule."""
    edges = graph.rule_edges()
    reached = set(range(len(graph.workflow.rules))) - fresh
    grew = bool(reached)
    while grew:
        grew = False
        for rule, needs in edges:
            if needs in reached and rule not in reached:
                reached.add(rule)
                grew = True
    return frozenset(fresh - reached)


def _needed_temps(graph, runs: bytearray, reasons: dict, order_run: list[int], pending: dict[int, list[str]],
                  groups: set[int], explain: bool) -> list[int]:
    """Jobs whose only lack is a deleted temp() output (``pending``) run when a job that
    runs reads it (TEMP_NEEDED); every job downstream of them then runs too (UPSTREAM),
    and may need other deleted temp outputs in turn. Returns the jobs to run in order."""
    g_in, g_deps = graph.inputs, graph.deps
    dependents = None
    new: set[int] = set()
    work = list(order_run)
    while work:
        job = work.pop()
        inputs = None
        for d in g_deps[job]:
            missing = pending.get(d)
            if missing is None or runs[d]:
                continue
            if inputs is None:
                inputs = set(g_in[job])
            needed = [p for p in missing if p in inputs]
            if not needed:
                continue
            runs[d] = 1
            found = [Reason(Why.TEMP_NEEDED, needed[0], graph.job_id(job))]
            if explain:
                found.extend(Reason(Why.TEMP_NEEDED, p, graph.job_id(job)) for p in needed[1:])
            reasons[d] = tuple(found)
            new.add(d)
            work.append(d)
        if job in new:  # newly running: so is everything downstream of it
            if dependents is None:
                dependents = graph.dependents()
            for c in dependents[job]:
                if c in groups:
                    runs[c] = 1
                elif not runs[c]:
                    runs[c] = 1
                    reasons[c] = (Reason(Why.UPSTREAM, job=graph.job_id(job)),)
                    new.add(c)
                    work.append(c)
                elif explain and not any(r.why is Why.UPSTREAM for r in reasons[c]):
                    reasons[c] += (Reason(Why.UPSTREAM, job=graph.job_id(job)),)
    if not new:
        return order_run
    return [j for j in graph.order if runs[j] and j not in groups]


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


def _only_ancient(graph: "JobGraph", job: int, dep: int, anc: frozenset[int], get) -> bool:
    """Whether every input of ``job`` that ``dep`` makes is an ancient one that exists (then
    ``dep`` running is no reason for ``job`` to run)."""
    producer = graph.producer
    return all(i in anc and get(p) is not None for i, p in enumerate(graph.inputs[job]) if producer.get(p) == dep)


def _changed_input(inputs, get, outs, anc: frozenset[int] = frozenset()) -> str | None:
    """The input most likely changed: the newest one (for the message only)."""
    best, best_t = None, -1
    for i, path in enumerate(inputs):
        if i in anc:
            continue
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
