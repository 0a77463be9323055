"""``rulec clean [TARGETS]``: remove the outputs (and records) of the selected jobs."""

from __future__ import annotations

import os
import sys

from .. import api
from ..history import History
from .lock import Lock


def main(target: api.Target, ns) -> int:
    workflow = api.load(target)
    graph = api.graph_of(workflow, target)
    existing = []
    jobs = []
    for job in graph.order:
        outs = [p for p in graph.outputs[job] if os.path.lexists(os.path.join(workflow.workdir, p))]
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
    if not ns.yes:
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
            full = os.path.join(workflow.workdir, path)
            if os.path.isdir(full) and not os.path.islink(full):
                import shutil

                shutil.rmtree(full)
            else:
                os.unlink(full)
        history.forget(jobs)
        history.close()
    print(f"Deleted {len(existing)} file(s).")
    return 0
