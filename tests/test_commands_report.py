"""``rulec report``'s page from a recorded run history (no browser here: see
tests/e2e/test_cli_report.py for the page loaded in Chromium)."""

import html
import json
import re
import time
from types import SimpleNamespace

import pytest

from rulec import api
from rulec.commands import report
from rulec.commands.dag import job_states
from rulec.history import History


def rulefile(values, extra=""):
    return ("dimension d = [" + ", ".join(json.dumps(v) for v in values) + "]\n\n"
            'rule all:\n    input: expand("out/{d}.txt")\n\n'
            f'rule make:\n    output: "out/{{d}}.txt"\n{extra}    shell: "echo {{d}} > {{output}}"\n')


def page_data(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="rulec-data">(.*?)</script>', page, re.S)
    return json.loads(m.group(1))


def planned_with_runs(tmp_path, values, runs):
    """A project of one rule over ``values``, and a store holding ``runs``: per run, a list of
    (job id, attempt, start, end, outcome, why, tail)."""
    (tmp_path / "Rulefile").write_text(rulefile(values))
    h = History.open(str(tmp_path), write=True)
    for attempts in runs:
        h.begin_run("local", len(attempts), "rulec run")
        for jid, n, s, e, outcome, why, tail in attempts:
            h.note_attempt(jid, "make", n, s, e, outcome, "local:1", why, "echo x" if why else None,
                           f"logs/{jid}.log" if why else None, tail)
        h.end_run(1 if any(a[4] == "failed" for a in attempts) else 0)
    h.close()
    planned = api.plan(api.Target(str(tmp_path / "Rulefile")))
    return planned, job_states(planned), planned.history


def test_the_page_holds_the_last_run_as_data_and_its_failures_escaped(tmp_path):
    t = time.time() - 100
    nasty = "<script>alert(1)</script>"
    planned, states, h = planned_with_runs(tmp_path, ["a", "b", nasty], [
        [("make[a]", 1, t, t + 1, "ok", None, None)],
        [("make[a]", 1, t + 10, t + 11, "ok", None, None), ("make[b]", 1, t + 10, t + 12, "failed", "exit status 1", "boom </pre><b>x"),
         (f"make[{nasty}]", 1, t + 10, t + 13, "failed", f"exit {nasty}", None)],
    ])
    runs = h.runs()
    page = report.build(planned, states, runs[-1:], h.attempts([runs[-1].run_id]))
    data = page_data(page)
    (run,) = data["runs"]
    assert run["id"] == runs[-1].run_id and run["n"] == 3 and "bins" not in run
    ids = [data["rules"][r] + j for r, j in zip(run["a"]["r"], run["a"]["j"])]
    assert ids == ["make[a]", "make[b]", f"make[{nasty}]"]
    assert run["a"]["d"] == [1000, 2000, 3000] and run["a"]["o"] == [0, 1, 1]
    assert [data["places"][p] for p in run["a"]["p"]] == ["local:1"] * 3
    # user text: never raw in the page
    assert nasty not in page and "</pre><b>x" not in page and "<b>x" not in page
    assert html.escape(f"make[{nasty}]") in page and html.escape("boom </pre><b>x") in page
    assert "2 job(s) failed." in page and "echo x" in page
    # the log end is read now when the store has none
    assert "(its end, read now)" not in page  # the log file is gone: nothing read
    log = tmp_path / f"logs/make[{nasty}].log"
    log.parent.mkdir(parents=True)
    log.write_text("<i>last line</i>\n")
    page = report.build(planned, states, runs[-1:], h.attempts([runs[-1].run_id]))
    assert "(its end, read now)" in page and "&lt;i&gt;last line&lt;/i&gt;" in page and "<i>" not in page
    assert 'class="graph"' in page and "<svg" in page


def test_all_runs_and_the_detail_budget(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "DETAIL_LIMIT", 5)
    t = time.time() - 1000
    first = [(f"make[{i}]", 1, t + i, t + i + 2, "ok", None, None) for i in range(4)]
    second = [(f"make[{i}]", 1, t + 100 + i, t + 100 + i + 1, "ok", None, None) for i in range(4)]
    planned, states, h = planned_with_runs(tmp_path, [str(i) for i in range(4)], [first, second])
    page = report.build(planned, states, h.runs(), h.attempts(), all_runs=True)
    old, new = page_data(page)["runs"]
    assert "bins" not in new and len(new["a"]["r"]) == 4  # the newest run: one by one
    assert old["top"] and len(old["bins"]["lanes"]) == 1  # the older one does not fit the budget: binned
    lane = old["bins"]["lanes"]["1"]
    assert len(lane) == report.BINS
    # 4 jobs of 2 s over 5 s: 8 job-seconds; the bins' average concurrency adds up to it
    assert sum(lane) * old["bins"]["width"] == pytest.approx(8.0, rel=0.01)
    assert "Every recorded run (newest first)" in page and 'id="run-select"' in page


def test_a_store_from_before_the_run_history_is_reported_from_its_records(tmp_path, capsys):
    from rulec.history import Finished

    (tmp_path / "Rulefile").write_text(rulefile(["a"]))
    h = History.open(str(tmp_path), write=True)
    h.record([Finished("make[a]", "make", "c", "p", "i", "s", "echo", [], ("out/a.txt",), started=time.time() - 5)])
    h._db.execute("DELETE FROM runs")
    h.close()
    out = tmp_path / "r.html"
    assert report.main(api.Target(str(tmp_path / "Rulefile")), report.ReportArgs(str(out))) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out} (")
    (run,) = page_data(out.read_text())["runs"]
    assert run["id"] == 0 and run["n"] == 1 and "records of the last successful runs" in run["label"]


def test_nothing_recorded_is_a_clear_error(tmp_path):
    from rulec.errors import RulecError

    (tmp_path / "Rulefile").write_text(rulefile(["a"]))
    with pytest.raises(RulecError, match="no run is recorded in .* yet: nothing to report"):
        report.main(api.Target(str(tmp_path / "Rulefile")), report.ReportArgs(str(tmp_path / "r.html")))
    assert not (tmp_path / "r.html").exists()


def test_passwords_in_urls_are_masked(tmp_path):
    t = time.time() - 100
    planned, states, h = planned_with_runs(tmp_path, ["a"], [
        [("make[a]", 1, t, t + 1, "failed", "could not fetch s3://me:secret@host/x", "GET s3://me:secret@host/x: 403")]])
    page = report.build(planned, states, h.runs(), h.attempts())
    assert "secret" not in page and "s3://me:***@host/x" in page


def _cards(page: str) -> dict[str, str]:
    return dict(re.findall(r'<div class="card"><div class="k">([^<]*)</div><div class="v">([^<]*)</div></div>', page))


def _rules_rows(page: str) -> dict[str, list[str]]:
    body = re.search(r'<section id="rules">.*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    rows = [re.findall(r"<td>([^<]*)</td>", r) for r in re.findall(r"<tr>(.*?)</tr>", body)]
    return {r[0]: r[1:] for r in rows}


def test_a_touch_run_and_an_adoption_run_show_their_own_outcomes(tmp_path):
    from rulec.history import ADOPTED, TOUCH, TOUCHED

    t = time.time() - 100
    nasty = "<b>x</b>"
    (tmp_path / "Rulefile").write_text(rulefile(["a", "b", nasty]))
    h = History.open(str(tmp_path), write=True)
    h.begin_run("slurm", 3, "rulec run --executor slurm")  # killed: never ended
    h.note_attempt("make[a]", "make", 1, t, t + 1, "ok", "4711_0")
    h.record([])
    h.run_id = None
    h.begin_run("slurm", 2, "rulec run --executor slurm", started=t + 20)  # the next run adopts the rest
    h.note_attempt("make[b]", "make", 1, t + 2, t + 4, ADOPTED, "4711_1", log="logs/b.log")
    h.note_attempt(f"make[{nasty}]", "make", 1, None, t + 5, "failed", "4711_2", "failed in the run that died (exit status 3)",
                   "echo x", f"logs/{nasty}.log", f"boom {nasty}")
    h.end_run(0, ADOPTED)
    h.begin_run(TOUCH, 3, "rulec run --touch", started=t + 30)
    for i, v in enumerate(["a", "b", nasty]):
        h.note_attempt(f"make[{v}]", "make", 1, t + 30 + i, t + 30 + i, TOUCHED)
    h.end_run(0)
    h.close()
    planned = api.plan(api.Target(str(tmp_path / "Rulefile")))
    states, h = job_states(planned), planned.history
    runs = h.runs()
    assert [r.status for r in runs] == ["running", ADOPTED, "ok"]

    # the touch run: its jobs touched, none done nor failed
    page = report.build(planned, states, runs[-1:], h.attempts([runs[-1].run_id]))
    data = page_data(page)
    assert data["outcomes"] == ["ok", "failed", "interrupted", TOUCHED, ADOPTED]
    (run,) = data["runs"]
    assert run["a"]["o"] == [3, 3, 3] and run["a"]["d"] == [0, 0, 0]
    assert "(rulec run --touch)" in run["label"]
    cards = _cards(page)
    assert list(cards) == ["touched", "wall time", "when"]  # no "jobs done", no "failed"
    assert (cards["touched"], cards["when"]) == ("3", report._when(t + 30))
    assert "executor touch; ok" in page and "No job failed." in page
    assert _rules_rows(page)["make"][:3] == ["0", "", "3"]  # succeeded, failed attempts, touched
    assert "touched (rulec run --touch: recorded as built, not run)" in page
    assert '<option value="3">touched</option>' in page and '<option value="4">adopted</option>' in page
    assert '"succeeded", "failed", "interrupted", "touched", "adopted"' in page  # the script's words, by index

    # the adoption run: adopted and failed, the failure with its reason, as text
    page = report.build(planned, states, runs[1:2], h.attempts([runs[1].run_id]))
    (run,) = page_data(page)["runs"]
    assert run["a"]["o"] == [4, 1] and run["a"]["d"][0] == 2000
    assert "(adopted: jobs of a run whose rulec died)" in run["label"]
    cards = _cards(page)
    assert (cards["jobs done"], cards["adopted"], cards["failed"]) == ("0", "1", "1")
    assert "executor slurm; adopted" in page
    assert "1 job(s) failed." in page and "failed in the run that died (exit status 3)" in page
    assert nasty not in page and html.escape(f"boom {nasty}") in page
    assert _rules_rows(page)["make"][:4] == ["1", "1", "", "2.0 s"]  # an adopted job ran: its runtime counts

    # every run: a column each
    page = report.build(planned, states, runs, h.attempts(), all_runs=True)
    table = re.search(r"<h3>Every recorded run.*?</table>", page, re.S).group(0)
    assert "<th>touched</th><th>adopted</th>" in table
    cells = [c for r in re.findall(r"<tr>(.*?)</tr>", table) if (c := re.findall(r"<td>([^<]*)</td>", r))]
    assert [c[3:9] for c in cells] == [["touch", "0", "0", "0", "3", "0"], ["slurm", "0", "1", "0", "0", "1"],
                                       ["slurm", "1", "0", "0", "0", "0"]]


def test_json_for_a_script_element_has_no_markup():
    data = {"id": "</script><script>alert(1)</script>", "amp": "a&b", "ls": "\u2028"}
    text = report._json(data)
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == data


def test_fill_does_not_look_into_what_it_puts_in():
    assert report._fill("@@a@@ @@b@@", a="@@b@@", b="x") == "@@b@@ x"


# --------------------------------------------------------------------------- benchmarks

def test_a_benchmark_tsv_is_read_by_its_header(tmp_path):
    p = tmp_path / "b.tsv"
    p.write_text("s\tmax_rss_mb\tuser_s\tsystem_s\tio_in\tio_out\n1.5\t20.25\t1.0\t0.25\t3\tNA\n2.5\t30\t2\t0.5\t4\t5\n")
    assert report.read_benchmark(str(p)) == {"s": 2.5, "max_rss_mb": 30.0, "user_s": 2.0, "system_s": 0.5, "io_in": 4.0, "io_out": 5.0}
    p.write_text("s\tmax_rss_mb\n")
    assert report.read_benchmark(str(p)) is None
    assert report.read_benchmark(str(tmp_path / "missing.tsv")) is None


def test_benchmark_figures_per_rule(tmp_path):
    from rulec import pattern as pat

    rule = SimpleNamespace(name="fit", index=0, wildcards=("d",), benchmark=SimpleNamespace(pattern=pat.compile("bench/{d}.tsv")))
    other = SimpleNamespace(name="plain", index=1, wildcards=(), benchmark=None)
    workflow = SimpleNamespace(rules=(rule, other), dimensions={}, workdir=str(tmp_path))
    graph = SimpleNamespace(workflow=workflow, order=[0, 1, 2, 3], rule=[0, 0, 0, 1], values=[("a",), ("b",), ("c",), ()])
    assert report.benchmark_paths(graph) == {"fit": ["bench/a.tsv", "bench/b.tsv", "bench/c.tsv"]}
    (tmp_path / "bench").mkdir()
    head = "s\tmax_rss_mb\tuser_s\tsystem_s\tio_in\tio_out\n"
    (tmp_path / "bench" / "a.tsv").write_text(head + "1\t100\t0.5\t0.5\t10\t1\n")
    (tmp_path / "bench" / "b.tsv").write_text(head + "3\t300\t2\t1\t20\t2\n")  # c.tsv: not there (yet)
    figures = report.benchmarks(graph)
    assert figures == {"fit": {"files": 2, "s_median": 2.0, "s_max": 3.0, "max_rss_mb": 300.0, "cpu_median": 2.0,
                               "io_in": 30.0, "io_out": 3.0}}
    # a graph that knows each job's benchmark file (JobGraph.benchmark) is asked for it
    graph.benchmark = lambda job: {0: "bench/a.tsv", 1: "bench/b.tsv"}.get(job)
    assert report.benchmark_paths(graph) == {"fit": ["bench/a.tsv", "bench/b.tsv"]}
    # rows per attempt, with the attempt and exit columns: the last attempt's row counts
    (tmp_path / "bench" / "b.tsv").write_text("attempt\ts\tmax_rss_mb\tuser_s\tsystem_s\tio_in\tio_out\texit\n"
                                              "1\t9\t900\t9\t0\t0\t0\t1\n2\t5\t500\t4\t1\t0\t4096\t0\n")
    assert report.benchmarks(graph)["fit"] == {"files": 2, "s_median": 3.0, "s_max": 5.0, "max_rss_mb": 500.0,
                                               "cpu_median": 3.0, "io_in": 10.0, "io_out": 4097.0}


@pytest.mark.slow
def test_twenty_thousand_attempts_make_well_under_a_hundred_bytes_each(tmp_path):
    n = 20_000
    t = time.time() - 10_000
    values = [f"d{i:05d}" for i in range(n)]
    planned, states, h = planned_with_runs(tmp_path, values, [
        [(f"make[{v}]", 1, t + i * 0.3, t + i * 0.3 + 0.29, "ok", None, None) for i, v in enumerate(values)]])
    started = time.monotonic()
    page = report.build(planned, states, h.runs(), h.attempts())
    assert time.monotonic() - started < 20
    assert len(page.encode()) < 60 * n  # 50,000 jobs: about 1.7 MB (docs/cli.md)
    assert page.count("<tr>") < 50  # the attempts are data, not table rows
