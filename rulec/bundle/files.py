"""A submission bundle: the files that run a Plan on a cluster with no rulec process alive.

Shape (the same for every backend)::

    <bundle>/
      submit.sh              submits everything in dependency order (or, for jbsub, runs it)
      <array>.sbatch         one script per job array (.lsf for LSF, .job.sh for jbsub)
      <array>.tasks          the task table: line i+1 = task i's job id, its markers' name
                             (``marker_name``), log, fully expanded command, number of
                             declared outputs, outputs and logs, each one shell word, so a
                             task is exactly one line (multi-line commands as $'...\n...')
      manifest.json          job id -> array, task, outputs, log; arrays and dependencies
      <rule>.local.sh        SLURM/LSF: the jobs of a ``local: true`` rule, run by submit.sh on
                             the submit host before anything is submitted (``local`` in the
                             manifest); jbsub runs them in its waves, without jbsub
      README.md              only when the plan uses what a bundle does differently from
                             ``rulec run`` (temp(), protected(), touch(), local: true)
      written when it runs:  jobs/<array>/<i>.sh (the command the task ran, as a script),
                             logs/ (scheduler output per task), status/<name>.rc (exit
                             status markers, <name> the job's ``marker_name``), jobids (the
                             scheduler's ids of the arrays)

Building is pure (``build`` returns the files as text); ``write`` puts them on disk.
Deterministic: the same plan gives byte-identical files (no timestamps, stable order).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys

from ..backend import Backend
from .. import benchmark, ir, shell, storage
from ..dag import JobGraph
from ..errors import BackendError
from ..logs import default_log, file_name
from ..recordclass import field, record, replace
from ..profile import CONTROL, Profile
from . import arrays as arr
from . import settings as st

FORMAT = 1
MANIFEST = "manifest.json"
EXTENSIONS = {Backend.SLURM: ".sbatch", Backend.LSF: ".lsf", Backend.JBSUB: ".job.sh"}
UNLIMITED = 1 << 62
# What a status marker says when the job's command exited 0 without creating a declared
# output: no exit status can be 256, so it is told apart from a command's own exit 1 (the
# task exits 1). The templates write it as ``no_output`` (render.environment).
MISSING_OUTPUT = 256


@record
class Bundle:
    backend: str
    dir: str  # absolute
    workdir: str
    graph: JobGraph
    layout: arr.Layout
    files: dict[str, str]  # relative path -> text, in writing order
    logs: dict[int, str]  # job -> its log, relative to the workflow folder
    max_array_size: int
    submissions: int = 0  # scheduler calls submit.sh makes
    extras: dict = field(default_factory=dict)

    def script(self, array: arr.Array) -> str:
        return array.name + EXTENSIONS[self.backend]

    def marker(self, job: int) -> str:
        return status_file(self.dir, self.graph.job_id(job), ".rc")

    def start_marker(self, job: int) -> str:
        """Written by a packed task when the job's command starts (its time)."""
        return status_file(self.dir, self.graph.job_id(job), ".start")

    def cancel_marker(self, job: int) -> str:
        """Written by rulec: a packed task does not start the job."""
        return status_file(self.dir, self.graph.job_id(job), ".cancel")

    def marker_code(self, job: int) -> int | None:
        """The exit status the job's task wrote to its marker (it ran to its end; MISSING_OUTPUT:
        it exited 0 without a declared output), or None."""
        try:
            with open(self.marker(job)) as fh:
                return int(fh.read().strip())
        except (OSError, ValueError):
            return None


def marker_name(job_id: str) -> str:
    """The name a job's status markers share in a bundle's ``status/`` (``<name>.rc``,
    ``.start``, ``.cancel``): its id as its default log's file name has it (``logs.file_name``:
    ``fit[d0,m1]`` is ``fit.d0,m1``), so that a ``/`` in a value (``sub/x``, from a glob()
    dimension) makes no folder and no id climbs out of ``status/``. Short enough for the
    longest suffix, ``.cancel``."""
    return file_name(job_id, ".cancel")[:-len(".cancel")]


def status_file(bundle_dir: str, job_id: str, suffix: str) -> str:
    """A job's status marker in the bundle at ``bundle_dir``: ``status/<marker_name>.rc``
    (the exit status), ``.start`` (when a packed job started), ``.cancel`` (do not start it)."""
    return os.path.join(bundle_dir, "status", marker_name(job_id) + suffix)


# --------------------------------------------------------------------------- quoting

SAFE = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")  # a shell word as it is


def word(text: str) -> str:
    """One shell word on one line: bare when safe, '...' when printable, else $'...'."""
    if SAFE.fullmatch(text):
        return text
    if text.isprintable():
        return "'" + text.replace("'", "'\\''") + "'"
    out = ["$'"]
    for ch in text:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch == "'":
            out.append("\\'")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8 (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 32 or code == 127:
            out.append(f"\\x{code:02x}")
        elif not ch.isprintable():
            # its UTF-8 bytes: bash reads $'\u...' as the character only in a UTF-8 locale
            # (a job's locale may be C), and $'\x85' is the byte 0x85, not U+0085
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))
        else:
            out.append(ch)
    out.append("'")
    return "".join(out)


def comment(text) -> str:
    """Text for a comment of a script (``# ...``): a control character becomes ``?`` (a
    newline would end the comment, and the rest of the line would run as a command)."""
    return CONTROL.sub("?", str(text))


# Array names are file names (<name>.sbatch, <name>.tasks), bash function names and words of
# the scripts as they are: rule names (a Rulefile NAME), "-<k>" for a split rule.
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(-[0-9]+)?")


def check_name(array: arr.Array) -> None:
    if not NAME.fullmatch(array.name) or not NAME.fullmatch(array.rule.name):
        raise BackendError(f"rule {array.rule.name!r}: not a name a job script can use as it is ({array.name!r})")


is_remote = storage.is_remote


def log_of(graph: JobGraph, job: int) -> str:
    """The job's log: its rule's first ``log:``, else ``.rulec/logs/<rule>/<job id>.log``."""
    for path in graph.logs(job):
        if not is_remote(path):
            return path
    return default_log(graph, job)


def task_line(graph: JobGraph, job: int, log: str, command: str) -> str:
    """The task table line of a job: its id, the name of its status markers (``marker_name``),
    its log, command, number of declared outputs, then the declared outputs and the logs,
    each one shell word. Remote outputs appear as their
    local copies (see storage.staged_command), which the task checks and removes; a folder
    output (``directory(...)``) ends with '/', so the task checks that a folder is there. The
    benchmark file is no part of it: ``rulec.benchmark`` starts it afresh on attempt 1."""
    declared = [local_path(p) for p in graph.declared_outputs(job)]
    rule = graph.rule_of(job)
    if any("directory" in spec.flags for spec in rule.outputs):
        declared = [p + "/" if "directory" in spec.flags else p for p, spec in zip(declared, rule.outputs)]
    logs = [p for p in graph.logs(job) if not is_remote(p)]
    jid = graph.job_id(job)
    fields = [jid, marker_name(jid), log, command, str(len(declared)), *declared, *logs]
    return " ".join(word(f) for f in fields)


def local_path(path: str) -> str:
    """The path a cluster task works on: a remote URL's local copy, else the path itself."""
    return storage.scratch_path(path) if is_remote(path) else path


def task_command(graph: JobGraph, renderers, job: int, attempt: int = 1) -> str:
    """The command a task runs: with remote paths, it names their local copies and is
    wrapped in the fetch and upload steps; with a ``benchmark:``, it is measured into it
    (rulec/benchmark.py)."""
    paths = graph.inputs[job] + graph.outputs[job]
    bench = graph.benchmark(job)
    if not any(is_remote(p) for p in paths):
        command = shell.command_of(graph, renderers, job, attempt=attempt)
        return command if bench is None else benchmark.wrap(command, bench, attempt, graph.job_id(job))
    command = shell.command_of(graph, renderers, job, local_path, attempt=attempt)
    if bench is not None:
        command = benchmark.wrap(command, bench, attempt, graph.job_id(job), exec_=False)
    return storage.staged_command(command, graph.inputs[job], graph.declared_outputs(job), sys.executable)


def workdir_text(workdir: str, bundle_dir: str) -> str:
    """The workflow folder as the bundle refers to it: relative when the bundle is inside it."""
    rel = os.path.relpath(workdir, bundle_dir)
    if all(part in (".", "..") for part in rel.split(os.sep)):
        return rel.replace(os.sep, "/")
    return workdir


def workdir_word(workdir: str, bundle_dir: str) -> str:
    """How a task script reaches the workflow folder: relative to the bundle when the bundle
    lives inside it (the project can move), else the absolute path."""
    rel = os.path.relpath(workdir, bundle_dir)
    if rel == ".":
        return '"$bundle"'
    if all(part == ".." for part in rel.split(os.sep)):
        return '"$bundle"/' + rel.replace(os.sep, "/")
    return word(workdir)


# --------------------------------------------------------------------------- build

def kind_context(rule) -> dict:
    """What a task script needs of its rule's output kinds: the positions (among the declared
    outputs) of its touch() outputs, and of its protected() ones with where each is written."""
    from ..kinds import PROTECTED, TOUCH, rule_positions

    return {
        "touch": list(rule_positions(rule, TOUCH)),
        "protected": [{"at": i, "where": f"protected() in {rule.outputs[i].wrapper_span.location()}"
                       if rule.outputs[i].wrapper_span is not None else "protected()"}
                      for i in rule_positions(rule, PROTECTED)],
    }


def prefix_of(workflow, rule) -> tuple[str, ...]:
    """The words a job of ``rule`` runs its script under (``<prefix> bash -euo pipefail
    <script>``, as ``rulec run`` runs it): its label's ``prefix``, else ``()``. Only local: true
    jobs and jbsub jobs have one in a bundle: SLURM and LSF refuse it on a cluster job."""
    label = workflow.labels.get(rule.label) if rule.label else None
    return label.prefix if label is not None else ()


def split_local(graph: JobGraph, run: list[int]) -> tuple[list[int], list[int]]:
    """A SLURM or LSF bundle's jobs: (those submitted, those of ``local: true`` rules, which
    submit.sh runs first on the submit host). A local job that needs a submitted job cannot be
    run by a bundle (no process is left to wait for it): refused, naming both."""
    rules = graph.workflow.rules
    if not any(r.local for r in rules):
        return run, []
    local = [j for j in run if rules[graph.rule[j]].local]
    if not local:
        return run, []
    cluster = set(run) - set(local)
    after: dict[int, int] = {}  # job -> a cluster job it needs, directly or through local jobs
    for job in run:
        for d in graph.deps[job]:
            if d in cluster:
                after[job] = d
                break
            if d in after:
                after[job] = after[d]
                break
        if job in after and rules[graph.rule[job]].local:
            rule = rules[graph.rule[job]]
            raise BackendError(
                f"rule {rule.name} is local: true, and its job {graph.job_id(job)} needs "
                f"{graph.job_id(after[job])}, which runs on the cluster: an emitted bundle has no process "
                "left to run it here once that job has ended",
                hint="use rulec run --executor slurm|lsf (it runs local jobs here between the cluster's waves), "
                     "or emit the cluster part only (name its targets) and run the rest afterwards",
            )
    return [j for j in run if j in cluster], local


def build(
    graph: JobGraph,
    run: list[int],
    backend: str,
    profile: Profile,
    bundle_dir: str,
    max_array_size: int = 1001,
    followed: bool = False,
    pack: ir.Pack | None = None,
) -> Bundle:
    """``followed``: a rulec process follows the bundle (``rulec run --executor slurm|lsf``):
    it runs the local jobs and deletes temp files itself, so the bundle holds neither a local
    part nor a README about them. ``pack``: the run's ``--pack``, for rules (and labels)
    without ``pack:`` of their own; jbsub runs one job per jbsub call: nothing is packed there."""
    from . import jbsub, lsf, slurm

    module = {Backend.SLURM: slurm, Backend.LSF: lsf, Backend.JBSUB: jbsub}[backend]
    workflow = graph.workflow
    bundle_dir = os.path.abspath(bundle_dir)
    cache: dict[int, st.Settings] = {}

    def settings_of(rule):
        if rule.index not in cache:
            s = st.for_rule(rule, workflow, backend, profile)
            if backend != Backend.JBSUB:
                n = st.pack_size(rule, workflow, s, pack)
                if n > 1:
                    s = replace(s, pack=n)
            cache[rule.index] = s
        return cache[rule.index]

    size = max_array_size if backend != Backend.JBSUB else UNLIMITED
    planned = list(run)
    local_jobs: list[int] = []
    if backend != Backend.JBSUB:
        from .settings import refuse_prefixes

        refuse_prefixes(backend, graph, run, emit=not followed)  # as rulec run --executor slurm|lsf does
        run, local_jobs = split_local(graph, list(run))
        assert not (local_jobs and followed), "a followed bundle's local jobs are the run loop's"
    layout = arr.layout(graph, run, settings_of, size)
    local = _local_arrays(graph, local_jobs, settings_of, len(layout.arrays))
    for array in layout.arrays + local:
        check_name(array)
        st.check_one_line(array.rule.name, array.settings)
    renderers = shell.renderers(graph)
    files: dict[str, str] = {}
    logs: dict[int, str] = {}
    for array in layout.arrays + local:
        lines = []
        for job in array.jobs:
            log = log_of(graph, job)
            logs[job] = log
            lines.append(task_line(graph, job, log, task_command(graph, renderers, job)))
        files[f"{array.name}.tasks"] = "\n".join(lines) + "\n"
    bundle = Bundle(backend, bundle_dir, workflow.workdir, graph, layout, files, logs, max_array_size)
    bundle.extras["limit"] = profile.backend(backend).setting("limit", None) or 100
    context = {"workdir": workdir_word(workflow.workdir, bundle_dir)}
    if local:
        bundle.extras["local"] = local
        bundle.extras["local_tasks"] = [{"name": a.name, "task": t, "job": graph.job_id(j)}
                                        for j in local_jobs for a, t in [_where(local, j)]]
    bundle.extras["context"] = context
    scripts = module.render_scripts(bundle, context)
    for array in local:
        scripts[f"{array.name}.local.sh"] = render_local(array, context, prefix_of(workflow, array.rule))
    # scripts first in the listing, then tables and commands, then the manifest
    bundle.files = {**scripts, **files, MANIFEST: manifest(bundle)}
    if not followed:
        notes = readme(bundle, planned)
        if notes is not None:
            bundle.files["README.md"] = notes
    return bundle


def _local_arrays(graph: JobGraph, jobs: list[int], settings_of, first: int) -> list[arr.Array]:
    """The jobs of ``local: true`` rules, one table per rule (in the order they first run)."""
    by_rule: dict[int, list[int]] = {}
    for job in jobs:
        by_rule.setdefault(graph.rule[job], []).append(job)
    rules = graph.workflow.rules
    return [arr.Array(first + i, rules[r].name, rules[r], js, settings_of(rules[r])) for i, (r, js) in enumerate(by_rule.items())]


def _where(local: list[arr.Array], job: int) -> tuple[arr.Array, int]:
    for array in local:
        if job in array.jobs:
            return array, array.jobs.index(job)
    raise KeyError(job)  # pragma: no cover


def render_local(array: arr.Array, context: dict, prefix: tuple[str, ...] = ()) -> str:
    from .render import render

    return render("common/local.sh.j2", name=array.name, rule=array.rule.name, size=len(array),
                  tasks_file=f"{array.name}.tasks", prefix=prefix, **kind_context(array.rule), **context)


def readme(bundle: Bundle, run: list[int]) -> str | None:
    """The bundle's README: what it does differently from ``rulec run`` with this plan (output
    kinds, local jobs), or None when nothing is."""
    from ..kinds import PROTECTED, TEMP, TOUCH, OutputKinds

    graph = bundle.graph
    kinds = OutputKinds.of(graph)
    local = bundle.extras.get("local", [])
    jbsub_local = [a for a in bundle.layout.arrays if a.rule.local] if bundle.backend == Backend.JBSUB else []
    if kinds is None and not local and not jbsub_local:
        return None
    lines = [f"# rulec {bundle.backend} bundle", "",
             "`bash submit.sh` runs it. What it does with what the Rulefile asks of some outputs and rules "
             f"(compared with `rulec run --executor {bundle.backend}` on the same plan):", ""]
    if kinds is not None:
        temp = kinds.temp_paths()
        kept = sorted({p for j in run for p in kinds.outputs(j, TEMP) if p in temp}
                      | {p for j in run for p in graph.inputs[j] if p in temp})
        if kept:
            shown_ = ", ".join(f"`{comment(p)}`" for p in kept[:20]) + (f" and {len(kept) - 20} more" if len(kept) > 20 else "")
            lines += [f"- **temp() files are not deleted.** With no rulec process following the jobs, nothing knows "
                      f"when the last job reading one has ended, so the bundle keeps them: {shown_}. Delete them by hand "
                      "once the bundle has run: rulec does not rebuild a deleted temp() file while the jobs that read it "
                      "are up to date.", ""]
        if any(kinds.outputs(j, PROTECTED) for j in run):
            lines += ["- **protected() outputs** are made read-only by their task once it has succeeded, as `rulec run` "
                      "does; a task whose protected() output exists read-only refuses to replace it (it fails, saying "
                      "so): delete the file or make it writable first.", ""]
        if any(kinds.outputs(j, TOUCH) for j in run):
            lines += ["- **touch() outputs** are created by their task once its command has succeeded, as `rulec run` "
                      "does.", ""]
    if local:
        n = sum(len(a) for a in local)
        names = ", ".join(a.rule.name for a in local)
        lines += [f"- **local: true jobs** ({n}, of {names}) run in submit.sh, on the machine that runs it, one at "
                  "a time and before anything is submitted (none of them needs a cluster job: `rulec emit` refuses a "
                  "plan where one does). A failure stops submit.sh before any submission.", ""]
    if jbsub_local:
        n = sum(len(a) for a in jbsub_local)
        lines += [f"- **local: true jobs** ({n}, of {', '.join(a.rule.name for a in jbsub_local)}) run in submit.sh's "
                  "waves on the machine that runs it, without jbsub.", ""]
    if len(lines) == 4:
        return None
    return "\n".join(lines)


def manifest(bundle: Bundle) -> str:
    graph = bundle.graph
    layout = bundle.layout
    arrays = []
    for a in layout.arrays:
        entry = {
            "name": a.name,
            "rule": a.rule.name,
            "script": bundle.script(a),
            "tasks": f"{a.name}.tasks",
            "size": len(a),
            "dependencies": [{"type": d.kind, "array": layout.arrays[d.array].name} for d in a.deps],
        }
        if a.pack > 1:  # task t runs lines t*pack+1 .. (t+1)*pack of the table
            entry["pack"] = a.pack
            entry["jobs"] = len(a.jobs)
        arrays.append(entry)
    jobs = {}
    for a in layout.arrays:
        for i, job in enumerate(a.jobs):
            entry = {
                "array": a.name,
                "task": i // a.pack,
                "outputs": list(graph.declared_outputs(job)),
                "logs": list(graph.logs(job)),
                **({"benchmark": graph.benchmark(job)} if graph.benchmark(job) else {}),
                "log": bundle.logs[job],
                "marker": f"status/{marker_name(graph.job_id(job))}.rc",
            }
            if a.pack > 1:
                entry["line"] = i  # its line in the task table, from 0
            jobs[graph.job_id(job)] = entry
    for a in bundle.extras.get("local", ()):
        for t, job in enumerate(a.jobs):
            jobs[graph.job_id(job)] = {
                "array": a.name,
                "task": t,
                "local": True,
                "outputs": list(graph.declared_outputs(job)),
                "logs": list(graph.logs(job)),
                "log": bundle.logs[job],
                "marker": f"status/{marker_name(graph.job_id(job))}.rc",
            }
    head = {
        "format": FORMAT,
        "backend": bundle.backend,
        "workdir": workdir_text(bundle.workdir, bundle.dir),
        "max_array_size": bundle.max_array_size if bundle.backend != Backend.JBSUB else None,
    }
    # One line per array and per job: readable, diffable, and quick to write for 100k jobs.
    dump = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode
    out = ["{"]
    out.extend(f" {dump(k)}: {dump(v)}," for k, v in head.items())
    out.append(' "arrays": [')
    out.append(",\n".join(f"  {dump(a)}" for a in arrays))
    out.append(" ],")
    local = bundle.extras.get("local")
    if local:  # run by submit.sh on the submit host, in this order, before any submission
        out.append(' "local": [')
        out.append(",\n".join(f"  {dump({'name': a.name, 'rule': a.rule.name, 'script': a.name + '.local.sh', 'tasks': a.name + '.tasks', 'size': len(a)})}" for a in local))
        out.append(" ],")
        out.append(f' "local_order": {dump([t["job"] for t in bundle.extras["local_tasks"]])},')
    out.append(' "jobs": {')
    out.append(",\n".join(f"  {dump(k)}: {dump(v)}" for k, v in jobs.items()))
    out.append(" }")
    out.append("}")
    return "\n".join(line for line in out if line) + "\n"


# --------------------------------------------------------------------------- write

# Modes of what the bundle writes: cluster jobs run its scripts and eval its task tables, so
# nothing in it may be writable by group or others, whatever the umask (under umask 000 the
# usual 0o666/0o777 would let any user change the commands). The umask can only take more
# bits away (umask 077: 0o700 and 0o600).
DIR_MODE = 0o755
SCRIPT_MODE = 0o755
FILE_MODE = 0o644
SCRIPTS = (".sh", ".sbatch", ".lsf")


def write(bundle: Bundle) -> None:
    """Write the bundle's files; a previous bundle in the folder is removed first."""
    path = bundle.dir
    if os.path.isdir(path) and os.listdir(path):
        if not os.path.isfile(os.path.join(path, MANIFEST)):
            raise BackendError(
                f"{path} exists and is not a rulec bundle (no {MANIFEST}); not overwriting it",
                hint="choose another folder with -o, or remove this one",
            )
        shutil.rmtree(path)
    make_dirs(path)
    made: set[str] = {path}
    for rel, text in bundle.files.items():
        full = os.path.join(path, rel)
        folder = os.path.dirname(full)
        if folder not in made:
            make_dirs(folder)
            made.add(folder)
        executable = rel.endswith(SCRIPTS) and not rel.startswith("jobs/")
        write_file(full, text, SCRIPT_MODE if executable else FILE_MODE)


def make_dirs(path: str) -> None:
    """``os.makedirs`` with every folder it creates (not only the last) made ``DIR_MODE``."""
    storage.make_dirs(path, DIR_MODE)


def write_file(path: str, text: str, mode: int) -> None:
    """A new file with ``mode`` (less the umask); one left in the way is replaced, never
    followed (a symbolic link) nor kept with its old mode."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError:
        os.unlink(path)
        fd = os.open(path, flags, mode)
    with open(fd, "w", encoding="utf-8", errors="surrogateescape", newline="\n") as fh:
        fh.write(text)


remove = storage.remove_local


def set_task_command(bundle: "Bundle", array, t: int, job: int, command: str) -> None:
    """A retried attempt's command in the job's line of the array's task table (``{attempt}``;
    ``t`` is its task, whose line it is unless the array is packed);
    the table is replaced whole (rename), so a task reading it meanwhile reads one of the two,
    which differ only in this failed task's line. A job with remote paths keeps its line: it
    wraps the command in the staging steps."""
    graph = bundle.graph
    if any(storage.is_remote(p) for p in graph.inputs[job] + graph.outputs[job]):
        return
    path = os.path.join(bundle.dir, f"{array.name}.tasks")
    with open(path) as fh:
        lines = fh.read().split("\n")
    line = task_line(graph, job, bundle.logs[job], command)
    t = bundle.layout.line_of(job)  # its line: its task, unless the array is packed
    if lines[t] == line:
        return
    lines[t] = line
    tmp = path + ".new"
    write_file(tmp, "\n".join(lines), FILE_MODE)
    os.replace(tmp, path)


def resubmission_script(bundle: Bundle, array, job: int) -> str:
    """The script that submits ``job`` again, alone (a retry, or a dependent of one), with the
    failed attempt's markers removed first, as this attempt writes its own: the array's own
    script, or for a packed array the job's line alone (``single_job_script``)."""
    markers = [bundle.marker(job)]
    if array.pack > 1:
        markers += [bundle.start_marker(job), bundle.cancel_marker(job)]
    for path in markers:
        try:
            os.unlink(path)
        except OSError:
            pass
    return single_job_script(bundle, array, job) if array.pack > 1 else bundle.script(array)


def single_job_script(bundle: Bundle, array, job: int) -> str:
    """A job of a packed array submitted alone (a retry, or a dependent of one): its array's
    script running only the job's line, written as ``retry/<array>.<line><ext>``; returns that
    path, relative to the bundle."""
    from . import lsf, slurm

    module = {Backend.SLURM: slurm, Backend.LSF: lsf}[bundle.backend]
    line = bundle.layout.line_of(job)
    rel = f"retry/{array.name}.{line}{EXTENSIONS[bundle.backend]}"
    full = os.path.join(bundle.dir, rel)
    if not os.path.exists(full):
        make_dirs(os.path.dirname(full))
        write_file(full, module.single_script(bundle, array, line), SCRIPT_MODE)
    return rel


def summary(bundle: Bundle, calls: str) -> str:
    n_arrays = len(bundle.layout.arrays)
    n_tasks = bundle.layout.n_tasks
    rules = len({a.rule.name for a in bundle.layout.arrays})
    return (f"{n_arrays} array(s) over {rules} rule(s), {n_tasks} task(s), "
            f"{bundle.submissions} {calls} call(s)")

