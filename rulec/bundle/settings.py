"""What one rule's jobs ask a scheduler for: its resources and scheduler options, after the
Rulefile's label and the profile have had their say. Pure.

Layers, later wins: profile ``[backend]`` (cluster-wide defaults; its cpus/mem/time/gpus
only for rules that leave them unset) < the rule's ``resources:`` < the Rulefile label's
``slurm:``/``lsf:``/``jbsub:`` settings (and its ``limit``) < profile
``[backend.labels.<label>]`` < profile ``[backend.rules.<rule>]``.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from ..backend import Backend
from .. import ir
from ..errors import BackendError
from ..profile import TOP_KEYS, Layer, Profile, Value, control_char, describe_char, parse_mem, parse_time


@dataclass(frozen=True)
class Settings:
    cpus: int = 1
    mem_mb: int | None = None
    time_s: int | None = None
    gpus: int = 0
    options: tuple[tuple[str, Value], ...] = ()  # scheduler options, by name, first-set order
    extra: str | None = None  # raw flags appended as they are
    array_limit: int | None = None  # at most this many tasks of one array at once
    pack: int = 1  # jobs per array task (pack:), run one after another

    def option(self, key: str, default=None):
        for k, v in self.options:
            if k == key:
                return v
        return default


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
    top = [i for i in prof.top.items if i[0] not in TOP_KEYS]
    # The profile's [backend] resources are defaults for rules that leave them unset.
    unset = {"cpus": res.cpus == 1, "mem": res.mem_mb is None, "time": res.time_s is None, "gpus": not res.gpus}
    for key, value in top:
        if key in unset and unset[key]:
            _apply(backend, prof.top.where, key, value, state, options)
    layers: list[Layer] = [Layer(tuple(i for i in top if i[0] not in unset), prof.top.where)]
    label = workflow.labels.get(rule.label) if rule.label else None
    if label is not None:
        where = f"label {label.name}"
        if label.limit is not None:
            state["array_limit"] = label.limit
        if backend == Backend.SLURM:
            layers.append(Layer(tuple(label.slurm), where))
        elif backend == Backend.LSF:
            layers.append(Layer(tuple(label.lsf), where))
        elif backend == Backend.JBSUB and label.jbsub:
            layers.append(Layer((("flags", label.jbsub),), where))
    if rule.label and rule.label in prof.labels:
        layers.append(prof.labels[rule.label])
    if rule.name in prof.rules:
        layers.append(prof.rules[rule.name])
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
    )


def _unpackable(rule: ir.Rule) -> str:
    """The output kinds of ``rule`` a packed task script does not handle ("" if none)."""
    kinds = sorted({flag for spec in rule.outputs for flag in spec.flags} & {"directory", "protected", "touch"})
    return ", ".join(f"{k}()" for k in kinds)


def pack_size(rule: ir.Rule, workflow: ir.Workflow, settings: Settings, default: ir.Pack | None = None) -> int:
    """How many of the rule's jobs one array task runs: its ``pack:``, else its label's, else
    the run's ``--pack`` (``default``), else 1. A run time (``pack: "5m"``) is divided by the
    time each job asks for (``settings.time_s``: the rule's, or the profile's), at least 1."""
    label = workflow.labels.get(rule.label) if rule.label else None
    spec = rule.pack if rule.pack is not None else label.pack if label is not None and label.pack is not None else default
    if spec is None:
        return 1
    unpackable = _unpackable(rule)
    if unpackable and (spec.jobs is None or spec.jobs > 1):
        if spec is default:  # --pack is a default: a rule packed tasks cannot run stays unpacked
            return 1
        raise BackendError(
            f"rule {rule.name}: pack: cannot be used with {unpackable} outputs yet: a packed task does not "
            "handle them; its jobs would go unchecked",
            spec.span, hint="remove pack: from the rule (or its label); --pack leaves such rules unpacked")
    if spec.jobs is not None:
        return spec.jobs
    if not settings.time_s:
        given = "--pack" if spec is default else "pack:"
        shown = f"--pack {spec.text}" if spec is default else f'pack: "{spec.text}"'
        raise BackendError(
            f"rule {rule.name}: {shown} is a run time per task, and the rule asks for no time per job to divide it by",
            spec.span,
            hint=f'give the rule a time (resources: time="2m", or the profile\'s time), or pack a number of jobs ({given} 50)',
        )
    return max(1, spec.seconds // settings.time_s)


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
