"""jbsub (the LSF front end of IBM's CCC clusters): a ``submit.sh`` that runs the bundle
through ``jbsub -wait``, one job per call, in dependency waves.

jbsub has no public dependency or array syntax, so the bundle follows taskproc's model: each
job is submitted with the flags of its rule's label and ``-wait`` (blocking); the jobs of a
wave (same longest-path depth) run concurrently, at most the label's ``limit`` at a time per
label (the profile's ``[jbsub] limit``, default 100, for jobs without a label); the next wave
starts when the wave has ended; a job whose dependency failed is skipped. ``submit.sh`` must
stay alive while the jobs run.

Resources -> flags: cpus and gpus -> ``-cores N`` / ``-cores N+G``, mem -> ``-mem <GB>g``
(rounded up), time -> ``-queue`` by wall-time class (x86_1h, x86_6h, x86_12h, x86_24h, x86_7d)
unless the flags name a queue; the label's ``jbsub: "..."`` flag string and the profile's
``flags`` override these flag by flag. A label's ``prefix`` runs the job's command under it on
the node (``<prefix> bash -euo pipefail <script>`` in the job script), as ``rulec run
--executor jbsub`` does.

jbsub is not available here: this backend is tested at the script-text level only.
"""

from __future__ import annotations

from ..errors import BackendError
from . import arrays as arr
from .files import kind_context, marker_name, prefix_of, word
from .render import render
from .settings import Value

QUEUES = ((3600, "x86_1h"), (6 * 3600, "x86_6h"), (12 * 3600, "x86_12h"), (24 * 3600, "x86_24h"), (7 * 86400, "x86_7d"))
ALIASES = {"-q": "-queue", "-r": "-require", "-n": "-name"}
RESERVED = {"-name", "-out", "-err"}
DEFAULT_LIMIT = 100


def flags(array: arr.Array) -> list[tuple[str, Value]]:
    s = array.settings
    out: dict[str, Value] = {}
    out["-cores"] = f"{s.cpus}+{s.gpus}" if s.gpus else str(s.cpus)
    if s.mem_mb is not None:
        out["-mem"] = f"{-(-s.mem_mb // 1024)}g"
    if s.time_s is not None:
        for limit, queue in QUEUES:
            if s.time_s <= limit:
                out["-queue"] = queue
                break
        else:
            out["-queue"] = None  # too long: an error unless the flags name a queue
    for key, value in s.options:
        key = ALIASES.get(key, key)
        if key in RESERVED:
            raise BackendError(f"rule {array.rule.name}: the jbsub flag {key} is set by rulec itself; remove it from the label or profile")
        if key == "-wait":
            continue
        out.pop(key, None)
        if value is not False:
            out[key] = value
    if out.get("-queue", "") is None:
        raise BackendError(
            f"rule {array.rule.name}: time {s.time_s // 3600}h is longer than the longest jbsub queue class (x86_7d)",
            hint="name a queue in the label's jbsub flags, e.g. jbsub: \"-queue nonstandard\"",
        )
    return list(out.items())


def flag_text(items: list[tuple[str, Value]]) -> str:
    """The flags as shell words: each flag and each value quoted (``word``), so the string is
    one line and runs nothing, whatever the label or profile holds."""
    return " ".join(word(k) if v is True else f"{word(k)} {word(str(v))}" for k, v in items)


def render_scripts(bundle, context: dict) -> dict[str, str]:
    layout = bundle.layout
    graph = bundle.graph
    files: dict[str, str] = {}
    arrays_ctx = []
    for array in layout.arrays:
        text = flag_text(flags(array))
        files[bundle.script(array)] = render(
            "jbsub/job.sh.j2",
            name=array.name,
            rule=array.rule.name,
            size=len(array),
            flags=text,
            tasks_file=f"{array.name}.tasks",
            prefix=prefix_of(graph.workflow, array.rule),
            **kind_context(array.rule),
            **context,
        )
        arrays_ctx.append({"name": array.name, "var": array.name, "flags": text, "job_name": f"rulec-{array.rule.name}",
                           "local": array.rule.local})

    # Waves: longest-path depth over the jobs in the bundle.
    default_limit = bundle.extras.get("limit", DEFAULT_LIMIT)
    depth: dict[int, int] = {}
    in_bundle = layout.where
    order = [j for a in layout.arrays for j in a.jobs]
    pos = {j: i for i, j in enumerate(order)}
    # graph.order is topological; walk the bundle's jobs in that order
    topo = [j for j in graph.order if j in in_bundle]
    for job in topo:
        depth[job] = 1 + max((depth[d] for d in graph.deps[job] if d in in_bundle), default=-1)
    n_waves = 1 + max(depth.values(), default=-1)
    waves = []
    for number in range(n_waves):
        jobs = sorted((j for j in order if depth[j] == number), key=pos.__getitem__)
        lanes: dict[tuple, list[str]] = {}
        for job in jobs:
            a, t = in_bundle[job]
            array = layout.arrays[a]
            label = array.rule.label
            limit = array.settings.array_limit or default_limit
            ids = [graph.job_id(d) for d in (job, *graph.deps[job]) if d in in_bundle]  # each with its marker's name
            spec = " ".join(word(x) for x in (array.name, str(t), *(w for jid in ids for w in (jid, marker_name(jid)))))
            lanes.setdefault((label or "", limit), []).append(spec)
        lane_ctx = []
        for (label, limit), specs in sorted(lanes.items()):
            note = f"label {label}: at most {limit} at once" if label else f"no label: at most {limit} at once"
            lane_ctx.append({"limit": limit, "note": note, "jobs": specs})
        waves.append({"number": number + 1, "size": len(jobs), "lanes": lane_ctx})
    submit = render("jbsub/submit.sh.j2", arrays=arrays_ctx, waves=waves, n_waves=n_waves, n_tasks=layout.n_tasks)
    bundle.submissions = sum(len(a) for a in layout.arrays if not a.rule.local)
    return {"submit.sh": submit, **files}
