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


def test_retry_releases_the_job_and_requeues_it_first_with_its_next_attempts_memory():
    text = '''
rule a:
    output: "a.txt"
    resources: mem="1G*{attempt}"
    shell: "true"

rule b:
    output: "b.txt"
    resources: mem="1G"
    shell: "true"

rule all:
    input: "a.txt", "b.txt"
'''
    g, s = setup(text, Pools(cores=4, mem_mb=2560))
    started = names(g, s.startable())
    assert sorted(started) == ["a", "b"] and s.free_mem == 2560 - 2048
    a = next(j for j in g.order if g.job_id(j) == "a")
    s.retry(a, g.rule_of(a).resources.at(2))
    assert list(s.ready) == [a] and s.free_mem == 2560 - 1024
    assert s.startable() == []  # 2 GB for attempt 2: only 1.5 GB free while b runs
    b = next(j for j in g.order if g.job_id(j) == "b")
    s.finished(b, True)
    assert s.startable() == [a] and s.free_mem == 2560 - 2048
    s.retry(a, g.rule_of(a).resources.at(5))  # 5 GB: more than the pool, capped so it can run
    assert s.startable() == [a] and s.free_mem == 0


PHASES = '''
dimension dataset = ["d0", "d1"]

rule all:
    input: "bld/report.txt"

rule fit:
    output: "bld/fit/{dataset}.txt"
    shell:  "make {output}"

rule summarize:
    input:  expand("bld/fit/{dataset}.txt")
    output: "bld/summary.txt"
    local:  true
    shell:  "make {output}"

rule report:
    input:  "bld/summary.txt"
    output: "bld/report.txt"
    shell:  "make {output}"
'''


def named_phases(text):
    from rulec.schedule import phases

    g = graph(text)
    p = plan(g, Snapshot({}), History.empty())
    return [([g.job_id(j) for j in c], [g.job_id(j) for j in l]) for c, l in phases(g, p.run)]


def test_a_cluster_run_with_local_jobs_goes_in_phases():
    assert named_phases(PHASES) == [(["fit[d0]", "fit[d1]"], ["summarize"]), (["report"], [])]
    # a local job first: the cluster jobs that need it wait for the next phase
    first = PHASES.replace("    local:  true\n", "").replace('    output: "bld/fit/{dataset}.txt"\n',
                                                           '    output: "bld/fit/{dataset}.txt"\n    local: true\n')
    assert named_phases(first) == [([], ["fit[d0]", "fit[d1]"]), (["summarize", "report"], [])]
    # no local job: one phase, everything submitted at once
    assert named_phases(PHASES.replace("    local:  true\n", "")) == [(["fit[d0]", "fit[d1]", "summarize", "report"], [])]


def test_in_a_phase_only_its_jobs_start_and_the_others_wait_for_theirs():
    g, s = setup()
    prepares = s.startable()
    fits = {j for j in range(len(g)) if g.job_id(j).startswith("fit[d0")}
    for job in prepares:
        s.finished(job, True)
    s.phase(fits)
    got = s.startable()
    assert names(g, got) == ["fit[d0,m0]", "fit[d0,m1]"]  # not the d1 fits: not this phase's
    for job in got:
        s.finished(job, True)
    assert s.finished_all()  # this phase is over, though other jobs are ready
    s.phase({j for j in range(len(g)) if g.job_id(j).startswith("fit[d1")})
    assert names(g, s.startable()) == ["fit[d1,m0]", "fit[d1,m1]"]  # the pools are full again


# --------------------------------------------------------------------------- queued jobs

QUEUE = '''
rule one:
    output: "one/{x}.txt"
    shell: "touch {output}"

rule wide:
    output: "wide.txt"
    resources: cpus=2
    shell: "touch {output}"

rule heavy:
    output: "heavy/{x}.txt"
    label: disk
    shell: "touch {output}"

dimension x = ["a", "b", "c"]

rule all:
    input: expand("one/{x}.txt"), "wide.txt", expand("heavy/{x}.txt")

label disk:
    limit: 1
'''


def test_a_job_is_queued_behind_a_running_one_only_if_it_fits_in_what_that_one_holds():
    g, s = setup(QUEUE, Pools(cores=2))
    first = s.startable()
    assert names(g, first) == ["one[a]", "one[b]"]
    behind = s.take_queued(first[0])
    assert names(g, [behind]) == ["one[c]"]  # ready, the same needs
    assert behind in s.queued and behind not in s.running and behind not in s.ready
    # wide needs two cores, heavy a label one[b] does not hold: neither fits behind one[b]
    assert s.take_queued(first[1]) is None
    assert s.startable() == []  # the queued job took no core
    s.finished(first[0], True)  # it ends; the worker starts what was queued behind it
    s.began(behind)
    assert behind in s.running and behind not in s.queued and s.free_cores == 0
    assert s.startable() == []


def test_a_job_with_a_limited_label_is_queued_behind_one_of_that_label():
    g, s = setup(QUEUE, Pools(cores=8))
    running = s.startable()
    heavy = [j for j in running if g.job_id(j).startswith("heavy")]
    assert names(g, heavy) == ["heavy[a]"]  # the label allows one at a time
    behind = s.take_queued(heavy[0])
    assert names(g, [behind]) == ["heavy[b]"]
    s.finished(heavy[0], True)
    s.began(behind)
    assert s.label_running["disk"] == 1


def test_a_queued_job_that_did_not_start_goes_back_to_the_front_and_the_run_waits_for_it():
    g, s = setup(QUEUE, Pools(cores=1))
    first, = s.startable()
    behind = s.take_queued(first)
    s.finished(first, True)
    assert not s.finished_all()  # (the queued job is not settled yet)
    s.unqueue(behind)
    assert s.startable() == [behind]


def test_nothing_is_queued_once_the_run_is_stopping():
    g, s = setup(QUEUE, Pools(cores=2))
    a, b = s.startable()
    s.finished(a, False)
    assert s.take_queued(b) is None


# --------------------------------------------------------------------------- retries and queued jobs

def test_a_queued_job_given_back_goes_behind_the_jobs_waiting_for_their_retry():
    """A retry starts before anything else that is waiting, a job its worker gave back too
    (it went back to the very front of the queue, ahead of the retry, before)."""
    g, s = setup(QUEUE, Pools(cores=2))
    first, failed = s.startable()
    behind = s.take_queued(failed)
    rest = list(s.ready)
    s.retry(failed)  # it failed, to run again; the job queued behind it did not start:
    s.unqueue(behind)
    assert list(s.ready) == [failed, behind, *rest]
    assert s.startable() == [failed]  # the retry first (one core is free)
    assert s.retrying == set()  # started: no longer waiting for its retry
    s.finished(first, True)
    assert s.startable() == [behind]


def test_a_retry_queued_then_given_back_is_still_first():
    g, s = setup(QUEUE, Pools(cores=2))
    a, b = s.startable()
    s.retry(a)
    assert s.take_queued(b) == a and a in s.retrying  # queued behind b: still waiting for its retry
    other = s.take_queued(b)  # (as if queued behind another running job)
    s.unqueue(other)
    s.unqueue(a)
    assert list(s.ready)[:2] == [a, other]
    assert s.startable() == [a] and not s.retrying


def test_a_job_waiting_for_its_retry_when_the_run_stops_has_failed():
    g, s = setup()
    a, b = s.startable()  # prepare[d0], prepare[d1]
    s.retry(a)
    assert s.ready[0] == a
    skipped = s.finished(b, False)  # no --keep-going: the run stops
    assert s.stopping and s.startable() == []
    skipped += s.not_retried(a)
    assert a in s.failed and a not in s.ready and a not in s.retrying
    assert names(g, skipped) == sorted(j for j in map(g.job_id, g.order) if j.startswith(("fit", "summarize")))
    assert s.finished_all() and s.free_cores == 2  # it held nothing (retry released it)


def test_local_jobs_that_need_no_cluster_job_run_before_the_first_submission():
    """A download (local, needing nothing) does not wait for the cluster's first phase: it
    runs first, and the cluster jobs that need it are submitted with those that need nothing."""
    assert named_phases('''
rule all:
    input: "c2.txt", "c0.txt", "l3.txt"

rule download:
    output: "l1.txt"
    local: true
    shell: "date > {output}"

rule unpack:
    input: "l1.txt"
    output: "l2.txt"
    local: true
    shell: "cat {input} > {output}"

rule c2:
    input: "l2.txt"
    output: "c2.txt"
    shell: "cat {input} > {output}"

rule c0:
    output: "c0.txt"
    shell: "echo > {output}"

rule plot:
    input: "c0.txt"
    output: "l3.txt"
    local: true
    shell: "cat {input} > {output}"
''') == [([], ["download", "unpack"]), (["c2", "c0"], ["plot"])]
