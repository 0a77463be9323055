"""``rulec status``: per rule how many jobs are done, outdated, missing or failed (Tasker's
menu); ``--json`` writes the same as data (see docs/cli.md for its fields)."""

from __future__ import annotations

from collections import Counter

from .. import api, report
from ..plan import PlanOptions, Why


def main(target: api.Target, verbose: bool = False, json: bool = False) -> int:
    """``verbose``: one line per job, with its log (-v); ``json``: the counts (and with
    ``verbose`` the jobs) as JSON on standard output."""
    # A missing source does not stop the table: its jobs show as missing, with a warning.
    planned = api.plan(target, PlanOptions(missing_sources_ok=True))
    graph, plan = planned.graph, planned.plan
    # A live run here (its lock names a live process on this host): the jobs it started are
    # running, not incomplete; their pids are in its run file (see run/lock.py).
    from ..run import lock

    live = lock.live_holder(planned.workflow.workdir)
    pids = lock.running_jobs(planned.workflow.workdir, live["pid"]) if live else {}
    records = planned.history.records()
    running = 0
    groups = set(plan.groups)
    done: Counter = Counter()
    outdated: Counter = Counter()
    missing: Counter = Counter()
    failed: Counter = Counter()
    per_job = []
    retried = planned.history.retried() if verbose else {}
    failures = planned.history.failures()  # the jobs whose last run failed: usually none
    for job in graph.order:
        if job in groups:
            continue
        r = graph.rule[job]
        reasons = plan.reasons.get(job)
        if reasons is None:
            state, text = "done", ""
            done[r] += 1
        elif failures and graph.job_id(job) in failures:
            state, text = "failed", failures[graph.job_id(job)][0]
            failed[r] += 1
        elif any(x.why in (Why.OUTPUT_MISSING, Why.INPUT_MISSING) for x in reasons):
            state, text = "missing", report.reason_text(reasons[0])
            missing[r] += 1
        else:
            state, text = "outdated", report.reason_text(reasons[0])
            outdated[r] += 1
        if live is not None and reasons is not None:
            jid = graph.job_id(job)
            rec = records.get(jid)
            if rec is not None and rec[2] == "running" and (jid in pids or _started_by(planned.history, jid, live)):
                text = f"running, pid {pids[jid]}" if jid in pids else "running"
                running += 1
        if verbose:
            jid = graph.job_id(job)
            logs = graph.logs(job)
            log = logs[0] if logs else planned.history.log_path(jid)
            if state == "failed":
                log = failures[jid][1] or log
            if state == "done" and jid in retried:
                text = f"succeeded on attempt {retried[jid]}"
            per_job.append((jid, state, text, log))
    counted = [(rule, done[rule.index], outdated[rule.index], missing[rule.index], failed[rule.index])
               for rule in graph.workflow.rules]
    counted = [c for c in counted if sum(c[1:])]
    if json:
        import json as json_

        out = {"rules": [{"rule": rule.name, "jobs": sum(n), "done": n[0], "outdated": n[1], "missing": n[2], "failed": n[3]}
                         for rule, *n in counted],
               "running": running if live is not None else 0}
        if verbose:
            out["jobs"] = [{"id": jid, "rule": jid.partition("[")[0], "state": state, "reason": text, "log": log}
                           for jid, state, text, log in per_job]
        print(json_.dumps(out, indent=1))
        return 0
    rows = [(rule.name, d, o, m, f) for rule, d, o, m, f in counted]
    report.status_table(rows, per_job if verbose else None, failed=bool(failures))
    absent = sorted({r.path for rs in plan.reasons.values() for r in rs if r.why is Why.INPUT_MISSING})
    if absent:
        shown = ", ".join(absent[:5]) + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
        report.warn(f"{len(absent)} input(s) that no rule makes are missing: {shown}; `rulec run` needs them")
    if live is not None:
        print(f"a rulec run is in progress here ({lock.describe(live)}): {running} job(s) running")
    return 0


def _started_by(history, job_id: str, live: dict) -> bool:
    """Whether the live run started the job (its pid is not known yet)."""
    detail = history.detail(job_id)
    return bool(detail and detail.started and live.get("started") and detail.started >= live["started"])
