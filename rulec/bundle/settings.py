"""What one rule's jobs ask a scheduler for: its resources and scheduler options, after the
Rulefile's label and the profile have had their say. Pure.

Layers, later wins: profile ``[backend]`` (cluster-wide defaults; its cpus/mem/time/gpus
only for rules that leave them unset) < the rule's ``resources:`` < the Rulefile label's
``slurm:``/``lsf:``/``jbsub:`` settings (and its ``limit``) < profile
``[backend.labels.<label>]`` < profile ``[backend.rules.<rule>]``.

Packing (``pack``: jobs per array task) is rulec's own, not a scheduler option, and goes in
its own order (``pack_size``): profile ``[backend]`` < the run's ``--pack`` (both defaults,
for rules that say nothing) < the label's ``pack:`` < the rule's ``pack:`` < profile
``[backend.labels.<label>]`` < profile ``[backend.rules.<rule>]``.
"""

from __future__ import annotations

import shlex

from ..backend import Backend
from .. import ir
from ..errors import BackendError
from ..profile import TOP_KEYS, Layer, Profile, Value, control_char, describe_char, parse_mem, parse_time
from ..recordclass import record


@record(frozen=True)
class Settings:
    cpus: int = 1
    mem_mb: int | None = None
    time_s: int | None = None
    gpus: int = 0
    options: tuple[tuple[str, Value], ...] = ()  # scheduler options, by name, first-set order
    extra: str | None = None  # raw flags appended as they are
    array_limit: int | None = None  # at most this many tasks of one array at once
    pack: int = 1  # jobs per array task (pack:)
    width: int = 1  # jobs a packed task runs at once: the cores it asks for / each job's cpus
    # the profile's pack: its [backend] default, and its label or rule table's (later wins)
    pack_default: "ProfilePack | None" = None
    pack_given: "ProfilePack | None" = None

    def option(self, key: str, default=None):
        for k, v in self.options:
            if k == key:
                return v
        return default


@record(frozen=True)
class ProfilePack:
    """A profile's ``pack = 50`` / ``pack = "5m"``, with the table it is in (for messages)."""

    pack: ir.Pack
    where: str  # "cluster.toml [slurm.rules.fit]"


# The scheduler option that sets the cores of one array task, when a label or the profile
# gives it instead of the rule's cpus: a packed task with more cores than one job needs runs
# several of its jobs at once.
TASK_CPUS = {Backend.SLURM: ("cpus-per-task",), Backend.LSF: ("n", "-n")}


def for_rule(rule: ir.Rule, workflow: ir.Workflow, backend: str, profile: Profile) -> Settings:
    res = rule.resources
    state = {
        "cpus": res.cpus,
        "mem_mb": res.mem_mb,
        "time_s": res.time_s,
        "gpus": res.gpus,
        "extra": None,
        "array_limit": None,
    }
    options: dict[str, Value] = {}
    prof = profile.backend(backend)
    # [slurm]/[lsf] limit is the array limit of every rule (as array_limit); [jbsub] limit is
    # the bundle's, for the jobs without a label (bundle/files.py)
    run_keys = TOP_KEYS if backend == Backend.JBSUB else TOP_KEYS - {"limit"}
    top = [i for i in prof.top.items if i[0] not in run_keys and i[0] != "pack"]
    pack_default = _profile_pack(prof.top)
    pack_given = None
    # The profile's [backend] resources are defaults for rules that leave them unset.
    unset = {"cpus": res.cpus == 1, "mem": res.mem_mb is None, "time": res.time_s is None, "gpus": not res.gpus}
    for key, value in top:
        if key in unset and unset[key]:
            _apply(backend, prof.top.where, key, value, state, options)
    layers: list[Layer] = [Layer(tuple(i for i in top if i[0] not in unset), prof.top.where)]
    label = workflow.labels.get(rule.label) if rule.label else None
    if label is not None:
        where = f"label {label.name}"
        # its limit, above the profile's [backend] (applied as a layer, in this order)
        items: tuple = (("limit", label.limit),) if label.limit is not None else ()
        if backend == Backend.SLURM:
            items += tuple(label.slurm)
        elif backend == Backend.LSF:
            items += tuple(label.lsf)
        elif backend == Backend.JBSUB and label.jbsub:
            items += (("flags", label.jbsub),)
        layers.append(Layer(items, where))
    for table in (prof.labels.get(rule.label) if rule.label else None, prof.rules.get(rule.name)):
        if table is not None:
            pack_given = _profile_pack(table) or pack_given
            layers.append(Layer(tuple(i for i in table.items if i[0] != "pack"), table.where, table.env))
    for layer in layers:
        for key, value in layer.items:
            _apply(backend, layer.where, key, value, state, options)
    return Settings(
        cpus=state["cpus"],
        mem_mb=state["mem_mb"],
        time_s=state["time_s"],
        gpus=state["gpus"],
        options=tuple(options.items()),
        extra=state["extra"],
        array_limit=state["array_limit"],
        width=_width(backend, state["cpus"], state["gpus"], options),
        pack_default=pack_default,
        pack_given=pack_given,
    )


def _width(backend: str, cpus: int, gpus: int, options: dict) -> int:
    """How many jobs of a packed task run at once: the cores the task asks for (a label's or
    the profile's SLURM ``cpus_per_task``, LSF ``n``), divided by the cpus of one job, rounded
    down; 1 when no such option is set, and for jobs that ask for GPUs (a task does not split
    its GPUs between them)."""
    if gpus or "gpu" in str(options.get("gres", "")) or any(k in options for k in ("gpus", "gpu", "-gpu")):
        return 1
    for key in TASK_CPUS.get(backend, ()):
        if key in options:
            cores = _int(options[key])
            return max(1, cores // max(cpus, 1)) if cores else 1
    return 1


def _profile_pack(layer: Layer) -> ProfilePack | None:
    """The layer's ``pack`` setting as a Pack (profile.py has checked its value)."""
    value = layer.get("pack")
    if value is None:
        return None
    if isinstance(value, int):
        return ProfilePack(ir.Pack(jobs=value, text=str(value)), layer.where)
    return ProfilePack(ir.Pack(seconds=parse_time(value), text=str(value)), layer.where)


def pack_size(rule: ir.Rule, workflow: ir.Workflow, settings: Settings, default: ir.Pack | None = None) -> int:
    """How many of the rule's jobs one array task runs, later wins: the profile's ``[backend]
    pack``, the run's ``--pack`` (``default``), the label's ``pack:``, the rule's ``pack:``, the
    profile's ``[backend.labels.<label>]`` then ``[backend.rules.<rule>]`` ``pack``; else 1.
    A run time (``pack: "5m"``) is divided by the time each job asks for (``settings.time_s``:
    the rule's, or the profile's), at least 1, and multiplied by the jobs a task runs at once
    (``settings.width``)."""
    label = workflow.labels.get(rule.label) if rule.label else None
    where = None  # the profile table it comes from, if it does
    if settings.pack_given is not None:
        spec, where = settings.pack_given.pack, settings.pack_given.where
    elif rule.pack is not None:
        spec = rule.pack
    elif label is not None and label.pack is not None:
        spec = label.pack
    elif default is not None:
        spec = default
    elif settings.pack_default is not None:
        spec, where = settings.pack_default.pack, settings.pack_default.where
    else:
        return 1
    if spec.jobs is not None:
        return spec.jobs
    if not settings.time_s:
        if where is not None:
            shown, given = f'pack = "{spec.text}" in {where}', "pack = 50"
        elif spec is default:
            shown, given = f"--pack {spec.text}", "--pack 50"
        else:
            shown, given = f'pack: "{spec.text}"', "pack: 50"
        raise BackendError(
            f"rule {rule.name}: {shown} is a run time per task, and the rule asks for no time per job to divide it by",
            spec.span,
            hint=f'give the rule a time (resources: time="2m", or the profile\'s time), or pack a number of jobs ({given})',
        )
    return max(1, spec.seconds // settings.time_s) * settings.width


def check_one_line(rule: str, settings: Settings) -> None:
    """Every option, value and the extra flags fit on one line of a job script. ``rulec
    check`` (labels) and the profile parser refuse control characters already; this holds
    for settings made any other way too."""
    texts = [("extra", settings.extra or "")]
    texts += [(str(k), str(k)) for k, _ in settings.options]
    texts += [(str(k), str(v)) for k, v in settings.options if isinstance(v, str)]
    for key, text in texts:
        at = control_char(text)
        if at >= 0:
            raise BackendError(
                f"rule {rule}: the scheduler option {key!r} holds {describe_char(text[at])} ({text!r}); "
                "an option is one line of the job script"
            )


def _apply(backend: str, where: str, key: str, value: Value, state: dict, options: dict) -> None:
    if key in ("cpus", "gpus", "array_limit", "limit"):
        number = _int(value)
        if number is None or number < (0 if key == "gpus" else 1):
            raise BackendError(f"{where}: {key} must be a whole number, got {value!r}")
        state["array_limit" if key == "limit" else key] = number
    elif key == "mem":
        mb = parse_mem(value)
        if mb is None:
            raise BackendError(f"{where}: bad memory value {value!r}: expected e.g. \"4G\" or \"500M\"")
        state["mem_mb"] = mb
    elif key == "time":
        secs = parse_time(value)
        if secs is None:
            raise BackendError(f"{where}: bad time value {value!r}: expected e.g. \"30m\", \"2h\" or \"HH:MM:SS\"")
        state["time_s"] = secs
    elif key == "extra":
        state["extra"] = None if value is False else str(value)
    elif backend == Backend.JBSUB and key == "flags":
        for flag, arg in split_flags(str(value)):
            options.pop(flag, None)  # re-set: it moves to the end, as given
            options[flag] = arg
    else:
        name = option_name(backend, key)
        options.pop(name, None)
        if value is not False:
            options[name] = value


def option_name(backend: str, key: str) -> str:
    if backend == Backend.SLURM:
        return key.lstrip("-").replace("_", "-")
    if backend == Backend.JBSUB:
        return "-" + key.lstrip("-")
    return key


def _int(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def split_flags(text: str) -> list[tuple[str, Value]]:
    """``"-queue x86_1h -cores 4+1 -wait"`` -> [("-queue", "x86_1h"), ("-cores", "4+1"), ("-wait", True)]."""
    words = shlex.split(text)
    out: list[tuple[str, Value]] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("-") and i + 1 < len(words) and not words[i + 1].startswith("-"):
            out.append((word, words[i + 1]))
            i += 2
        elif word.startswith("-"):
            out.append((word, True))
            i += 1
        else:
            raise BackendError(f"jbsub flags {text!r}: {word!r} does not follow an option")
    return out


# --------------------------------------------------------------------------- formatting

def slurm_time(seconds: int) -> str:
    """SLURM's ``--time``: whole minutes, rounded up; ``D-HH:MM:SS`` from a day on."""
    minutes = max(-(-seconds // 60), 1)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}-{hours:02d}:{mins:02d}:00"
    return f"{hours:02d}:{mins:02d}:00"


def lsf_time(seconds: int) -> str:
    """LSF's ``-W [hours:]minutes``, rounded up to a minute."""
    minutes = max(-(-seconds // 60), 1)
    return f"{minutes // 60}:{minutes % 60:02d}"


def mem_mb_text(mb: int) -> str:
    return f"{mb}M"


def refuse_prefixes(name: str, graph, jobs=None, emit: bool = False) -> None:
    """Refuse a plan whose jobs (``jobs``; None: every job of the graph) include one of a rule
    with a prefix label and without ``local: true``, for a SLURM or LSF run (``emit``: or a
    bundle written by ``rulec emit``), naming the label."""
    from ..errors import RulecError

    labels = graph.workflow.labels
    rules = {graph.rule[j] for j in jobs} if jobs is not None else range(len(graph.workflow.rules))
    found = sorted({r.label for r in (graph.workflow.rules[i] for i in rules)
                    if r.label and labels.get(r.label) is not None and labels[r.label].prefix and not r.local})
    if found:
        label = labels[found[0]]
        more = f" (and label{'s' if len(found) > 2 else ''} {', '.join(found[1:])})" if len(found) > 1 else ""
        what = f"rulec emit --{name}" if emit else f"--executor {name}"
        raise RulecError(
            f"label {label.name}{more} has prefix {shlex.join(label.prefix)!r}: its jobs run on this machine "
            f"under that prefix, which {what} cannot do (a cluster job cannot be run through a local prefix)",
            hint="emit --jbsub (its jobs run under the prefix on the node), give the rule  local: true  (submit.sh then "
                 "runs its jobs here, under the prefix), or remove the prefix from the label" if emit else
                 "run with --executor local (or jbsub), give the rule  local: true  (its jobs then run here, under the prefix), or remove the prefix from the label",
        )
