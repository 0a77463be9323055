"""``rulec status``: per rule how many jobs are done, outdated or missing (Tasker's menu)."""

from __future__ import annotations

from collections import Counter

from . import api, report
from .plan import PlanOptions, Why


def main(target: api.Target, ns) -> int:
    # A missing source does not stop the table: its jobs show as missing, with a warning.
    planned = api.plan(target, PlanOptions(missing_sources_ok=True))
    graph, plan = planned.graph, planned.plan
    groups = set(plan.groups)
    done: Counter = Counter()
    outdated: Counter = Counter()
    missing: Counter = Counter()
    per_job = []
    for job in graph.order:
        if job in groups:
            continue
        r = graph.rule[job]
        reasons = plan.reasons.get(job)
        if reasons is None:
            state, text = "done", ""
            done[r] += 1
        elif any(x.why in (Why.OUTPUT_MISSING, Why.INPUT_MISSING) for x in reasons):
            state, text = "missing", report.reason_text(reasons[0])
            missing[r] += 1
        else:
            state, text = "outdated", report.reason_text(reasons[0])
            outdated[r] += 1
        if ns.verbose:
            jid = graph.job_id(job)
            logs = graph.logs(job)
            log = logs[0] if logs else planned.history.log_path(jid)
            per_job.append((jid, state, text, log))
    rows = [(rule.name, done[rule.index], outdated[rule.index], missing[rule.index])
            for rule in graph.workflow.rules if done[rule.index] + outdated[rule.index] + missing[rule.index]]
    report.status_table(rows, per_job if ns.verbose else None)
    absent = sorted({r.path for rs in plan.reasons.values() for r in rs if r.why is Why.INPUT_MISSING})
    if absent:
        shown = ", ".join(absent[:5]) + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
        report.warn(f"{len(absent)} input(s) that no rule makes are missing: {shown}; `rulec run` needs them")
    return 0
