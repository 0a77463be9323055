"""``rulec clean [TARGETS]``: remove the outputs (and records) of the selected jobs.

Which jobs: with no target and no ``-k``, every job of the default target (the whole
pipeline, as ``make clean``); else only the jobs the targets name (a rule: its jobs; a path:
the job making it; a job id) and that ``-k`` selects, not what they need. A target without
outputs of its own (``all``) stands for every job it needs. ``upstream``: also every job they
need; ``downstream``: also every job of the default target's pipeline that needs them (the
named ones, not what they need). A selected job whose last run failed has its failure record
forgotten, even with no file left to delete (a failed job's outputs were removed).
"""

from __future__ import annotations

import os
import sys

from .. import api, report, storage
from ..kinds import PROTECTED, OutputKinds, in_the_way, make_writable
from ..history import History
from ..run.lock import Lock


def selected(workflow, target: api.Target, upstream: bool = False, downstream: bool = False) -> list[tuple[object, int]]:
    """The (job graph, job) pairs ``rulec clean`` removes the outputs of, in dependency order:
    the named jobs (a target without outputs, ``all``: every job it needs), with ``upstream``
    every job they need, with ``downstream`` every job of the default target's pipeline that
    needs them. Never what needs their upstream: a sibling built from the same input is not
    downstream of the named job."""
    graph = api.graph_of(workflow, target)
    if not target.targets and not target.select:
        return [(graph, j) for j in graph.order]
    named = set(graph.targets) | _closure([j for j in graph.targets if not graph.outputs[j]], lambda j: graph.deps[j])
    chosen = _closure(named, lambda j: graph.deps[j]) if upstream else named
    jobs = {(graph.rule[j], graph.values[j]): (graph, j) for j in graph.order if j in chosen}
    if downstream:
        from .. import dag

        full = dag.resolve(workflow, ())
        needed_by: dict[int, list[int]] = {}
        for job in full.order:
            for dep in full.deps[job]:
                needed_by.setdefault(dep, []).append(job)
        start = [full.find(graph.rule[j], graph.values[j]) for j in graph.order if j in named]
        for job in _closure([j for j in start if j is not None], lambda j: needed_by.get(j, ())):
            jobs.setdefault((full.rule[job], full.values[job]), (full, job))
        order = {(full.rule[j], full.values[j]): i for i, j in enumerate(full.order)}
        return [jobs[k] for k in sorted(jobs, key=lambda k: order.get(k, -1))]
    return list(jobs.values())


def _closure(start, step) -> set[int]:
    """``start`` and every job ``step`` leads to from them, transitively."""
    seen: set[int] = set()
    stack = list(start)
    while stack:
        job = stack.pop()
        if job in seen:
            continue
        seen.add(job)
        stack.extend(step(job))
    return seen


def main(target: api.Target, yes: bool = False, upstream: bool = False, downstream: bool = False,
         protected: bool = False) -> int:
    """``yes``: delete without asking (--yes); ``upstream``/``downstream``: also the jobs the
    selected ones need / that need them (--upstream, --downstream). Read-only protected()
    outputs are kept unless ``protected`` (--protected)."""
    workflow = api.load(target)
    chosen = selected(workflow, target, upstream, downstream)
    store = History.open(workflow.workdir)
    failures = store.failures()  # the failed jobs: their outputs were removed when they failed
    store.close()
    remote = [p for g, j in chosen for p in g.outputs[j] if storage.is_remote(p)]
    remote_found = set(storage.stat_many(remote)) if remote else set()
    kinds_of: dict[int, OutputKinds | None] = {}
    existing = []
    jobs = []
    failed: list[str] = []  # jobs with a failure record and no file to delete: the record goes
    kept: list[tuple[OutputKinds, int, str]] = []
    unguard: list[str] = []
    for graph, job in chosen:
        outs = [p for p in graph.outputs[job]
                if (p in remote_found if storage.is_remote(p) else os.path.lexists(os.path.join(workflow.workdir, p)))]
        if id(graph) not in kinds_of:
            kinds_of[id(graph)] = OutputKinds.of(graph)
        kinds = kinds_of[id(graph)]
        if kinds is not None and kinds.has(PROTECTED) and outs:
            mine = in_the_way(kinds, [job])
            if mine and not protected:
                kept.extend((kinds, j, q) for j, q in mine)
                outs = [p for p in outs if all(p != q for _, q in mine)]
            else:
                unguard.extend(q for _, q in mine)
        if outs:
            existing.extend(outs)
            jobs.append(graph.job_id(job))
        elif failures and graph.job_id(job) in failures:
            failed.append(graph.job_id(job))
    if kept:
        kinds, job, path = kept[0]
        rest = f" and {len(kept) - 1} more" if len(kept) > 1 else ""
        print(f"Keeping {len(kept)} protected file(s): {report.shown(path)} ({kinds.where(job, path)}){rest}; "
              "add --protected to delete them too.")
    if not existing and not failed:
        print("Nothing to clean.")
        return 0
    if existing:
        _list(f"Will delete {len(existing)} file(s) of {len(jobs)} job(s):", existing)
    if failed:
        _list(f"Will forget the failure of {len(failed)} job(s) (no files left to delete):",
              [report.shown(job_id) for job_id in failed])
    if not yes:
        if not sys.stdin.isatty():
            print("Not deleting anything: confirm with --yes (standard input is not a terminal).")
            return 2
        answer = input("Delete them? [y/N] " if existing else "Forget them? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("Nothing deleted.")
            return 0
    with Lock(workflow.workdir):
        history = History.open(workflow.workdir, write=True)
        for path in existing:
            if path in remote_found:
                storage.remove([path])
                path = storage.scratch_path(path)  # and its local copy
            full = os.path.join(workflow.workdir, path)
            if path in unguard:
                make_writable(full)  # a protected folder's files can then be removed
            storage.remove_local(full)
        if failed:  # (a run between the look above and the lock may have redone them)
            failed = [j for j in failed if j in history.failures()]
        history.forget(jobs + failed)
        history.close()
    said = [f"Deleted {len(existing)} file(s)."] if existing else []
    if failed:
        said.append(f"Forgot the failure of {len(failed)} job(s).")
    print(" ".join(said) or "Nothing to clean.")
    return 0


def _list(head: str, items: list[str], most: int = 50) -> None:
    """``head``, then the first ``most`` items, one a line, and how many more."""
    print(head)
    for item in items[:most]:
        print(f"  {item}")
    if len(items) > most:
        print(f"  ... and {len(items) - most} more")
