"""SLURM: job-array scripts with ``#SBATCH`` directives and ``submit.sh`` (``rulec emit
--slurm``, and the bundle ``rulec run --executor slurm`` submits: rulec/executors/slurm.py).

Resources -> directives: cpus -> ``--cpus-per-task``, mem -> ``--mem=<MB>M``, time ->
``--time`` (whole minutes, rounded up; ``D-HH:MM:SS`` from a day on), gpus -> ``--gres=gpu:N``;
label/profile settings: partition, account, qos, constraint, gres, ``extra`` (raw flags), any
other key -> ``--key=value``; the label's ``limit`` -> ``--array=0-N%limit``. Always
``--kill-on-invalid-dep=yes``, so a failed job's dependents end CANCELLED instead of pending
forever.
"""

from __future__ import annotations

import re

from ..errors import BackendError
from . import arrays as arr
from .render import render, render_array, render_arrays
from .settings import Settings, mem_mb_text, slurm_time

# Options rulec sets itself and a label or profile may not.
RESERVED = {"array", "dependency", "parsable", "wrap", "chdir"}
FIRST = ("partition", "account", "qos", "constraint", "gres")  # shown first, in this order


def directives(array: arr.Array) -> list[str]:
    s: Settings = array.settings
    opts = dict(s.options)
    bad = sorted(RESERVED & set(opts))
    if bad:
        raise BackendError(
            f"rule {array.rule.name}: the SLURM option --{bad[0]} is set by rulec itself; remove it from the label or profile"
        )
    n = len(array)
    lines = []
    if "job-name" not in opts:
        lines.append(f"--job-name=rulec-{array.rule.name}")
    limit = f"%{s.array_limit}" if s.array_limit and s.array_limit < n else ""
    lines.append(f"--array=0-{n - 1}{limit}")
    if "output" not in opts:
        lines.append(f"--output=logs/{array.name}_%A_%a.out")
    if "cpus-per-task" not in opts:
        lines.append(f"--cpus-per-task={s.cpus}")
    if s.mem_mb is not None and not ({"mem", "mem-per-cpu", "mem-per-gpu"} & set(opts)):
        lines.append(f"--mem={mem_mb_text(array.task_mem_mb())}")  # the jobs a task runs at once
    if s.time_s is not None and "time" not in opts:
        lines.append(f"--time={slurm_time(array.task_seconds())}")  # a pack's jobs, width at a time
    if s.gpus and not ({"gres", "gpus"} & set(opts)):
        lines.append(f"--gres=gpu:{s.gpus}")
    order = [k for k in FIRST if k in opts] + [k for k in opts if k not in FIRST]
    for key in order:
        value = opts[key]
        lines.append(f"--{key}" if value is True else f"--{key}={_text(value)}")
    if "kill-on-invalid-dep" not in opts:
        lines.append("--kill-on-invalid-dep=yes")
    if s.extra:
        lines.append(s.extra)
    return lines


def _text(value) -> str:
    """An option's value as sbatch reads it from an ``#SBATCH`` line: there, whitespace ends
    the value, ``#`` starts a comment, ``"`` quotes and ``\\`` escapes; a value holding any of
    them goes in double quotes, ``"`` and ``\\`` escaped (``--comment="a b # c"``)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    if _PLAIN.fullmatch(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_PLAIN = re.compile(r'[^\s"\\#]+')


def dependency(layout: arr.Layout, array: arr.Array, id_of) -> str | None:
    """``aftercorr:<A>,afterok:<B>:<C>`` (comma: all must hold), with ``id_of(name)`` giving
    each upstream array's job id (or a shell expression for it)."""
    parts = [f"aftercorr:{id_of(n)}" for n in layout.upstream_names(array, arr.AFTERCORR)]
    ok = layout.upstream_names(array, arr.AFTEROK)
    if ok:
        parts.append("afterok:" + ":".join(id_of(n) for n in ok))
    return ",".join(parts) or None


def dependency_note(layout: arr.Layout, array: arr.Array) -> str:
    parts = [f"aftercorr on {n}" for n in layout.upstream_names(array, arr.AFTERCORR)]
    ok = layout.upstream_names(array, arr.AFTEROK)
    if ok:
        parts.append("afterok on " + ", ".join(ok))
    return "; ".join(parts) or "none"


TEMPLATE = "slurm/array.sbatch.j2"


def single_script(bundle, array: arr.Array, line: int) -> str:
    """The array's script running only the job on ``line`` of its table (a packed job
    submitted alone: ``sbatch --array=<its task> ...``)."""
    return render_array(array, TEMPLATE, directives(array), dependency_note(bundle.layout, array),
                        bundle.extras["context"], only=line)


def render_scripts(bundle, context: dict) -> dict[str, str]:
    layout = bundle.layout

    def flags(array):
        dep = dependency(layout, array, lambda n: "${id[" + n + "]}")
        return f' --dependency="{dep}"' if dep else ""

    files, submissions = render_arrays(bundle, context, TEMPLATE, directives, dependency_note, flags)
    files["submit.sh"] = render(
        "slurm/submit.sh.j2",
        submissions=submissions,
        n_arrays=len(layout.arrays),
        n_tasks=layout.n_tasks,
        local_tasks=bundle.extras.get("local_tasks", []),
    )
    bundle.submissions = len(layout.arrays)
    return {"submit.sh": files.pop("submit.sh"), **files}

