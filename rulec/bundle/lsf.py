"""LSF: job-array scripts with ``#BSUB`` directives and a ``submit.sh`` calling ``bsub``.

Resources -> directives: cpus -> ``-n N`` (with ``-R "span[hosts=1]"`` when N > 1), mem ->
``-R "rusage[mem=<MB>]"`` (megabytes: the unit of LSF_UNIT_FOR_LIMITS on most sites), time ->
``-W H:MM`` (rounded up to a minute), gpus -> ``-gpu "num=N"``; label/profile settings: queue ->
``-q``, project -> ``-P``, ``extra`` (raw flags, none of them ``RESERVED``), any other key ->
``-key value`` (a value in single quotes, or double quotes when it holds a ``'``); the label's
``limit`` -> ``-J "name[1-N]%limit"``. Dependencies: ``-w "done(ID[*])"`` when element i needs
exactly element i of an array of the same size, else ``-w "done(ID)"``; with ``-ti`` so a job
whose dependency can no longer be met ends at once.

LSF is not available on the machines rulec is developed on, so this backend is tested at the
script-text level only (golden files).
"""

from __future__ import annotations

import re
import shlex

from ..errors import BackendError
from . import arrays as arr
from .files import SAFE
from .render import render, render_array, render_arrays
from .settings import lsf_time

NAMES = {"queue": "-q", "project": "-P", "group": "-G", "app": "-app", "sla": "-sla"}
RESERVED = {"-J", "-w", "-ti", "-i", "-cwd"}  # set by rulec itself: not by a label, a profile or extra
_FLAG = re.compile(r"-[A-Za-z0-9][A-Za-z0-9_-]*")


def _flag(key: str) -> str:
    return NAMES.get(key, key if key.startswith("-") else "-" + key)


def directives(array: arr.Array) -> list[str]:
    s = array.settings
    opts = {_flag(k): v for k, v in s.options}
    for flag in opts:
        if not _FLAG.fullmatch(flag):
            raise BackendError(f"rule {array.rule.name}: {flag!r} is not an LSF option name (letters, digits, '_' and '-')")
    bad = sorted(RESERVED & set(opts))
    if bad:
        raise BackendError(f"rule {array.rule.name}: the LSF option {bad[0]} is set by rulec itself; remove it from the label or profile")
    if s.extra:
        _check_extra(array.rule.name, s.extra)
    n = len(array)
    limit = f"%{s.array_limit}" if s.array_limit and s.array_limit < n else ""
    lines = [f'-J "rulec-{array.rule.name}[1-{n}]{limit}"']
    if "-o" not in opts:
        lines.append(f"-o logs/{array.name}_%J_%I.out")
    if "-n" not in opts:
        lines.append(f"-n {s.cpus}")
        if s.cpus > 1:
            lines.append('-R "span[hosts=1]"')
    elif array.width > 1:  # a packed task's jobs run at once in its one script: on one host
        lines.append('-R "span[hosts=1]"')
    if s.mem_mb is not None:
        lines.append(f'-R "rusage[mem={array.task_mem_mb()}]"')  # the jobs a task runs at once
    if s.time_s is not None and "-W" not in opts:
        lines.append(f"-W {lsf_time(array.task_seconds())}")  # a pack's jobs, width at a time
    if s.gpus and "-gpu" not in opts:
        lines.append(f'-gpu "num={s.gpus}"')
    first = [f for f in ("-q", "-P") if f in opts]
    for flag in first + [f for f in opts if f not in first]:
        value = opts[flag]
        lines.append(flag if value is True else f"{flag} {_value(array.rule.name, flag, str(value))}")
    if s.extra:
        lines.append(s.extra)
    return lines


def _value(rule: str, flag: str, text: str) -> str:
    """An option's value as one word of a ``#BSUB`` line: bare when plain, else in quotes.
    bsub documents quotes around a value but no escape inside them, so a value is put in
    single quotes, or in double quotes when it holds a ``'`` (and nothing a double-quoted word
    could read otherwise: ``"``, ``\\``, ``$``, a backtick); a value needing both is refused."""
    if SAFE.fullmatch(text):
        return text
    if "'" not in text:
        return "'" + text + "'"
    if not any(c in text for c in '"\\$`'):
        return '"' + text + '"'
    raise BackendError(
        f"rule {rule}: the LSF option {flag} {text!r} holds a ' and one of \" \\ $ `: a #BSUB line has no documented "
        "way to quote it as one value; change the value"
    )


def _check_extra(rule: str, extra: str) -> None:
    """``extra`` goes on its ``#BSUB`` line as it is (raw flags, on purpose), but may not set
    an option rulec sets itself."""
    try:
        words = shlex.split(extra)
    except ValueError as exc:  # bsub could not read the line either
        raise BackendError(f"rule {rule}: the LSF extra flags {extra!r}: {exc}") from None
    bad = [w for w in words if w in RESERVED]
    if bad:
        raise BackendError(f"rule {rule}: the LSF extra flags {extra!r} set {bad[0]}, which rulec sets itself; "
                           "remove it from the label or profile")


def dependency(layout: arr.Layout, array: arr.Array, id_of) -> str | None:
    parts = [f"done({id_of(n)}[*])" for n in layout.upstream_names(array, arr.AFTERCORR)]
    parts += [f"done({id_of(n)})" for n in layout.upstream_names(array, arr.AFTEROK)]
    return " && ".join(parts) or None


def dependency_note(layout: arr.Layout, array: arr.Array) -> str:
    parts = [f"element-wise on {n}" for n in layout.upstream_names(array, arr.AFTERCORR)]
    ok = layout.upstream_names(array, arr.AFTEROK)
    if ok:
        parts.append("all of " + ", ".join(ok))
    return "; ".join(parts) or "none"


TEMPLATE = "lsf/array.lsf.j2"


def single_script(bundle, array: arr.Array, line: int) -> str:
    """The array's script running only the job on ``line`` of its table (a packed job
    submitted alone: ``bsub -J "name[<its task + 1>]" < ...``)."""
    return render_array(array, TEMPLATE, directives(array), dependency_note(bundle.layout, array),
                        bundle.extras["context"], only=line)


def render_scripts(bundle, context: dict) -> dict[str, str]:
    layout = bundle.layout

    def flags(array):
        dep = dependency(layout, array, lambda n: "${id[" + n + "]}")
        return f' -ti -w "{dep}"' if dep else ""

    files, submissions = render_arrays(bundle, context, TEMPLATE, directives, dependency_note, flags)
    submit = render("lsf/submit.sh.j2", submissions=submissions, n_arrays=len(layout.arrays), n_tasks=layout.n_tasks,
                    local_tasks=bundle.extras.get("local_tasks", []))
    bundle.submissions = len(layout.arrays)
    return {"submit.sh": submit, **files}
