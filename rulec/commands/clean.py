"""``rulec clean [TARGETS]``: remove the outputs (and records) of the selected jobs."""

from __future__ import annotations

import os
import sys

from .. import api, report, storage
from ..kinds import PROTECTED, OutputKinds, in_the_way, make_writable
from ..history import History
from ..run.lock import Lock


def main(target: api.Target, yes: bool = False, protected: bool = False) -> int:
    """``yes``: delete without asking (--yes). Read-only protected() outputs are kept (and
    the records of jobs with nothing else to delete) unless ``protected`` (--protected)."""
    workflow = api.load(target)
    graph = api.graph_of(workflow, target)
    remote = [p for outs in graph.outputs for p in outs if storage.is_remote(p)]
    remote_found = set(storage.stat_many(remote)) if remote else set()
    kinds = OutputKinds.of(graph)
    guarded = kinds is not None and kinds.has(PROTECTED)
    existing = []
    jobs = []
    kept: list[tuple[int, str]] = []
    unguard: list[str] = []
    for job in graph.order:
        outs = [p for p in graph.outputs[job]
                if (p in remote_found if storage.is_remote(p) else os.path.lexists(os.path.join(workflow.workdir, p)))]
        if guarded and outs:
            mine = in_the_way(kinds, [job])
            if mine and not protected:
                kept.extend(mine)
                outs = [p for p in outs if all(p != q for _, q in mine)]
            else:
                unguard.extend(p for _, p in mine)
        if outs:
            existing.extend(outs)
            jobs.append(graph.job_id(job))
    if kept:
        job, path = kept[0]
        rest = f" and {len(kept) - 1} more" if len(kept) > 1 else ""
        print(f"Keeping {len(kept)} protected file(s): {report.shown(path)} ({kinds.where(job, path)}){rest}; "
              "add --protected to delete them too.")
    if not existing:
        print("Nothing to clean.")
        return 0
    print(f"Will delete {len(existing)} file(s) of {len(jobs)} job(s):")
    for path in existing[:50]:
        print(f"  {path}")
    if len(existing) > 50:
        print(f"  ... and {len(existing) - 50} more")
    if not yes:
        if not sys.stdin.isatty():
            print("Not deleting anything: confirm with --yes (standard input is not a terminal).")
            return 2
        answer = input("Delete them? [y/N] ").strip().lower()
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
        history.forget(jobs)
        history.close()
    print(f"Deleted {len(existing)} file(s).")
    return 0
