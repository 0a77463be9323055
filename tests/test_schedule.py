from rulec.history import History
from rulec.plan import plan
from rulec.schedule import Pools, Scheduler
from rulec.state import Snapshot

from helpers import SMALL, graph


def setup(text=SMALL, pools=Pools(cores=2), keep_going=False):
    g = graph(text)
    p = plan(g, Snapshot({"src/data.csv": (1, 1)}), History.empty())
    return g, Scheduler(g, p, pools, keep_going)


def names(g, jobs):
    return sorted(g.job_id(j) for j in jobs)


def test_dependencies_first_and_cores_as_a_pool():
    g, s = setup()
    first = s.startable()
    assert names(g, first) == ["prepare[d0]", "prepare[d1]"]
    assert s.startable() == []  # both cores busy, and fits wait for prepare anyway
    s.finished(first[0], True)
    nxt = s.startable()
    assert names(g, nxt) == ["fit[d0,m0]"]  # one core free


def test_failure_skips_dependents_and_stops_without_keep_going():
    g, s = setup()
    a, b = s.startable()
    skipped = s.finished(a, False)
    assert names(g, skipped) == ["fit[d0,m0]", "fit[d0,m1]", "summarize[m0]", "summarize[m1]"]
    assert s.startable() == []
    s.finished(b, True)
    assert s.finished_all()


def test_keep_going_runs_independent_work():
    g, s = setup(keep_going=True)
    a, b = s.startable()
    s.finished(a, False)
    s.finished(b, True)
    assert names(g, s.startable()) == ["fit[d1,m0]", "fit[d1,m1]"]


def test_label_limit_and_custom_resources():
    text = SMALL.replace('    params: seed=42', '    params: seed=42\n    label: heavy\n    resources: io=1') + '''
label heavy:
    limit: 1
'''
    g, s = setup(text, Pools(cores=8, custom=(("io", 5),)))
    for job in s.startable():
        s.finished(job, True)
    running = s.startable()
    assert names(g, running) == ["fit[d0,m0]"]  # the label allows one at a time


def test_memory_pool():
    text = SMALL.replace('    params: seed=42', '    params: seed=42\n    resources: mem="600M"')
    g, s = setup(text, Pools(cores=8, mem_mb=1000))
    for job in s.startable():
        s.finished(job, True)
    assert len(s.startable()) == 1  # two fits would need 1200 MB
