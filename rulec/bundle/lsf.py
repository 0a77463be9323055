"""LSF: job-array scripts with ``#BSUB`` directives and a ``submit.sh`` calling ``bsub``.

Resources -> directives: cpus -> ``-n N`` (with ``-R "span[hosts=1]"`` when N > 1), mem ->
``-R "rusage[mem=<MB>]"`` (megabytes: the unit of LSF_UNIT_FOR_LIMITS on most sites), time ->
``-W H:MM`` (rounded up to a minute), gpus -> ``-gpu "num=N"``; label/profile settings: queue ->
``-q``, project -> ``-P``, ``extra`` (raw flags), any other key -> ``-key value``; the label's
``limit`` -> ``-J "name[1-N]%limit"``. Dependencies: ``-w "done(ID[*])"`` when element i needs
exactly element i of an array of the same size, else ``-w "done(ID)"``; with ``-ti`` so a job
whose dependency can no longer be met ends at once.

LSF is not available on the machines rulec is developed on, so this backend is tested at the
script-text level only (golden files).
"""

from __future__ import annotations

from ..errors import BackendError
from . import arrays as arr
from .files import word
from .render import render, render_array, render_arrays
from .settings import lsf_time

NAMES = {"queue": "-q", "project": "-P", "group": "-G", "app": "-app", "sla": "-sla"}
RESERVED = {"-J", "-w", "-ti", "-i", "-cwd"}


def _flag(key: str) -> str:
    return NAMES.get(key, key if key.startswith("-") else "-" + key)


def directives(array: arr.Array) -> list[str]:
    s = array.settings
    opts = {_flag(k): v for k, v in s.options}
    bad = sorted(RESERVED & set(opts))
    if bad:
        raise BackendError(f"rule {array.rule.name}: the LSF option {bad[0]} is set by rulec itself; remove it from the label or profile")
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
        lines.append(word(flag) if value is True else f"{word(flag)} {word(str(value))}")
    if s.extra:
        lines.append(s.extra)
    return lines


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
