"""``rulec clean [TARGETS]``: remove the outputs (and records) of the selected jobs."""

from __future__ import annotations

import os
import sys

from .. import api, storage
from ..history import History
from ..run.lock import Lock


def main(target: api.Target, yes: bool = False) -> int:
    """``yes``: delete without asking (--yes)."""
    workflow = api.load(target)
    graph = api.graph_of(workflow, target)
    remote = [p for outs in graph.outputs for p in outs if storage.is_remote(p)]
    remote_found = set(storage.stat_many(remote)) if remote else set()
    existing = []
    jobs = []
    for job in graph.order:
        outs = [p for p in graph.outputs[job]
                if (p in remote_found if storage.is_remote(p) else os.path.lexists(os.path.join(workflow.workdir, p)))]
        if outs:
            existing.extend(outs)
            jobs.append(graph.job_id(job))
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
            storage.remove_local(os.path.join(workflow.workdir, path))
        history.forget(jobs)
        history.close()
    print(f"Deleted {len(existing)} file(s).")
    return 0
