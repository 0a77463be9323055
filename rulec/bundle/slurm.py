"""SLURM: job-array scripts with ``#SBATCH`` directives and ``submit.sh`` (``rulec emit
--slurm``, and the bundle ``rulec run --executor slurm`` submits: rulec/executors/slurm.py).

Resources -> directives: cpus -> ``--cpus-per-task``, mem -> ``--mem=<MB>M``, time ->
``--time`` (whole minutes, rounded up; ``D-HH:MM:SS`` from a day on), gpus -> ``--gres=gpu:N``;
label/profile settings: partition, account, qos, constraint, gres, ``extra`` (raw flags), any
other key -> ``--key=value``; the label's ``limit`` -> ``--array=0-N%limit``. Neither an option
nor a word of ``extra`` may set what rulec sets itself (``RESERVED``, in any spelling sbatch
takes: ``--chd``, ``-D``, ``-HD``). Always
``--kill-on-invalid-dep=yes``, so a failed job's dependents end CANCELLED instead of pending
forever.
"""

from __future__ import annotations

import re
import shlex

from ..errors import BackendError
from . import arrays as arr
from .render import render, render_array, render_arrays
from .settings import Settings, mem_mb_text, slurm_time

# Options rulec sets itself and a label or profile may not (nor ``extra``), with their short
# forms. sbatch also takes any unambiguous start of a long option (``--chd`` is ``--chdir``).
RESERVED = {"array", "dependency", "parsable", "wrap", "chdir"}
RESERVED_SHORT = {"a": "array", "d": "dependency", "D": "chdir"}
# sbatch's short options without a value: others may follow them in one word (``-HD/tmp`` is
# ``-H -D /tmp``); any other letter takes the rest of the word as its value.
NO_VALUE = set("HhIkOQsuVvW")
FIRST = ("partition", "account", "qos", "constraint", "gres")  # shown first, in this order
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def reserved(name: str) -> str | None:
    """The option rulec sets itself that sbatch reads ``--<name>`` as (or could: an
    abbreviation of it), or None."""
    return next((r for r in sorted(RESERVED) if name and r.startswith(name)), None)


def reserved_flag(words: list[str]) -> tuple[str, str] | None:
    """The first of these words of raw flags that sets an option rulec sets itself, with that
    option: ``--chdir=/x``, ``--chd /x``, ``-D/x``, ``-HD /x``; or None. (A word that is the
    value of the option before it is checked too: refusing it is the safe side.)"""
    for word in words:
        if word.startswith("--"):
            found = reserved(word[2:].split("=", 1)[0])
            if found:
                return word, found
        elif word.startswith("-"):
            for letter in word[1:]:
                if letter in RESERVED_SHORT:
                    return word, RESERVED_SHORT[letter]
                if letter not in NO_VALUE:
                    break
    return None


def directives(array: arr.Array) -> list[str]:
    s: Settings = array.settings
    opts = dict(s.options)
    for key in opts:
        if not _NAME.fullmatch(key):
            raise BackendError(f"rule {array.rule.name}: {key!r} is not a SLURM option name (letters, digits, '_' and '-')")
        found = reserved(key)
        if found:
            shown = f"--{key}" if key == found else f"--{key} (an abbreviation of --{found})"
            raise BackendError(
                f"rule {array.rule.name}: the SLURM option {shown} is set by rulec itself; remove it from the label or profile"
            )
    if s.extra:
        _check_extra(array.rule.name, s.extra)
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
    the value, ``#`` starts a comment, ``"`` and ``'`` quote and ``\\`` escapes; a value holding
    any of them goes in double quotes, ``"`` and ``\\`` escaped (``--comment="a b # c"``,
    ``--comment="it's"``)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    if _PLAIN.fullmatch(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_PLAIN = re.compile(r'[^\s"\'\\#]+')


def _check_extra(rule: str, extra: str) -> None:
    """``extra`` goes on its ``#SBATCH`` line as it is (raw flags, on purpose), but may not set
    an option rulec sets itself."""
    try:
        words = shlex.split(extra, comments=True)
    except ValueError as exc:  # sbatch would refuse the whole script
        raise BackendError(f"rule {rule}: the SLURM extra flags {extra!r}: {exc}") from None
    found = reserved_flag(words)
    if found is not None:
        raise BackendError(
            f"rule {rule}: the SLURM extra flags {extra!r} set --{found[1]} ({found[0]}), which rulec sets itself; "
            "remove it from the label or profile"
        )


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

