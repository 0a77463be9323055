"""Parsing SLURM's output (samples taken from a real slurm 22.05 cluster) and the retries."""

from __future__ import annotations

import pytest

from rulec.executors import slurm_limits as limits
from rulec.executors import slurm_commands as sc
from rulec.bundle.arrays import Array
from rulec.bundle.settings import Settings
from rulec.errors import BackendError

SQUEUE = """\
108_[2-3]|PENDING|Dependency
109_[0-3%2]|PENDING|None
109_1|CANCELLED|DependencyNeverSatisfied
108_0|COMPLETED|None
108_1|FAILED|NonZeroExitCode
110_4|RUNNING|None
111|PENDING|Priority
"""

SHOW_JOB = (
    "JobId=109 ArrayJobId=109 ArrayTaskId=3 JobName=b.sh UserId=root(0) GroupId=root(0) MCS_label=N/A "
    "Priority=4294901653 Nice=0 Account=(null) QOS=(null) JobState=COMPLETED Reason=None Dependency=(null) "
    "Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:00 TimeLimit=UNLIMITED\n"
    "JobId=111 ArrayJobId=109 ArrayTaskId=1 JobName=b.sh UserId=root(0) GroupId=root(0) JobState=CANCELLED "
    "Reason=DependencyNeverSatisfied Dependency=aftercorr:108_*(failed) Requeue=1 ExitCode=0:0 "
    "Command=/tmp/a dir/b.sh WorkDir=/tmp/a dir\n"
    "JobId=112 ArrayJobId=109 ArrayTaskId=2 JobState=FAILED Reason=NonZeroExitCode ExitCode=3:0\n"
    "JobId=113 ArrayJobId=109 ArrayTaskId=4 JobState=TIMEOUT Reason=TimeLimit ExitCode=0:15\n"
    "JobId=114 ArrayJobId=109 ArrayTaskId=5-7 JobState=PENDING Reason=Dependency ExitCode=0:0\n"
)

SACCT = """\
3_0|COMPLETED|0:0
3_1|FAILED|3:0
3_2|CANCELLED by 0|0:15
3_[3-4]|PENDING|0:0
4|OUT_OF_MEMORY|0:125
"""

CONFIG = """\
Configuration data as of 2026-11-22T19:13:00
AccountingStorageType   = accounting_storage/none
JobCompLoc              = /tmp/rulec-slurm/jobcomp/jobcomp.log
MaxArraySize            = 1001
MinJobAge               = 600 sec
"""

PARTITIONS = (
    "PartitionName=debug AllowGroups=ALL AllowAccounts=ALL AllowQos=ALL AllocNodes=ALL Default=YES QoS=N/A "
    "DefaultTime=NONE MaxNodes=UNLIMITED MaxTime=UNLIMITED MinNodes=0 LLN=NO MaxCPUsPerNode=UNLIMITED Nodes=vm "
    "State=UP TotalCPUs=2 TotalNodes=1 DefMemPerNode=UNLIMITED MaxMemPerNode=UNLIMITED TRES=cpu=2,mem=21695M,node=1\n"
    "PartitionName=short AllowGroups=ALL Default=NO MaxTime=01:00:00 MaxCPUsPerNode=UNLIMITED Nodes=vm State=UP "
    "MaxMemPerNode=UNLIMITED\n"
    "PartitionName=gpu Default=NO MaxTime=2-00:00:00 MaxCPUsPerNode=32 Nodes=g[1-2] State=UP MaxMemPerNode=200000 "
    "MaxMemPerCPU=4000\n"
)

NODES = (
    "NodeName=vm Arch=x86_64 CoresPerSocket=2  CPUAlloc=0 CPUEfctv=2 CPUTot=2 CPULoad=0.58 "
    "AvailableFeatures=(null) ActiveFeatures=(null) Gres=(null) NodeAddr=127.0.0.1 NodeHostName=vm "
    "Version=22.05.8 OS=Linux 6.18.44-fc-v595 #1 SMP PREEMPT_DYNAMIC @0  RealMemory=21695 AllocMem=0 "
    "FreeMem=23419 Sockets=1 Boards=1 State=IDLE ThreadsPerCore=1 Partitions=debug,short  BootTime=2026-11-22T18:54:39\n"
    "NodeName=g1 CPUTot=64 RealMemory=512000 Gres=gpu:a100:4(S:0-1) Partitions=gpu State=IDLE\n"
    "NodeName=g2 CPUTot=64 RealMemory=256000 Gres=gpu:a100:2,gpu:v100:2 Partitions=gpu State=IDLE\n"
)


@pytest.mark.parametrize("text, expected", [
    ("12_3", [("12", 3)]),
    ("12_[0-2,5%4]", [("12", 0), ("12", 1), ("12", 2), ("12", 5)]),
    ("12_[0-6:3]", [("12", 0), ("12", 3), ("12", 6)]),
    ("12", [("12", None)]),
    ("12;cluster", [("12", None)]),
    ("12_4;cluster", [("12", 4)]),
])
def test_expand_job_id(text, expected):
    assert sc.expand_job_id(text) == expected


def test_parse_squeue():
    rows = sc.parse_squeue(SQUEUE)
    got = [(r.array_id, r.task, r.state, r.reason) for r in rows]
    assert got == [
        ("108", 2, "PENDING", "Dependency"),
        ("108", 3, "PENDING", "Dependency"),
        ("109", 0, "PENDING", "None"),
        ("109", 1, "PENDING", "None"),
        ("109", 2, "PENDING", "None"),
        ("109", 3, "PENDING", "None"),
        ("109", 1, "CANCELLED", "DependencyNeverSatisfied"),
        ("108", 0, "COMPLETED", "None"),
        ("108", 1, "FAILED", "NonZeroExitCode"),
        ("110", 4, "RUNNING", "None"),
        ("111", None, "PENDING", "Priority"),
    ]


def test_parse_show_job_splits_before_each_key():
    rows = sc.parse_show_job(SHOW_JOB)
    got = [(r.array_id, r.task, r.state, r.reason, r.exit_code, r.signal) for r in rows]
    assert got == [
        ("109", 3, "COMPLETED", "None", 0, 0),
        ("109", 1, "CANCELLED", "DependencyNeverSatisfied", 0, 0),
        ("109", 2, "FAILED", "NonZeroExitCode", 3, 0),
        ("109", 4, "TIMEOUT", "TimeLimit", 0, 15),
        ("109", 5, "PENDING", "Dependency", 0, 0),
        ("109", 6, "PENDING", "Dependency", 0, 0),
        ("109", 7, "PENDING", "Dependency", 0, 0),
    ]
    rec = sc.parse_record(SHOW_JOB.splitlines()[1])
    assert rec["Command"] == "/tmp/a dir/b.sh"  # a value with a space
    assert rec["Dependency"] == "aftercorr:108_*(failed)"


def test_parse_sacct():
    rows = sc.parse_sacct(SACCT)
    got = [(r.array_id, r.task, r.state, r.exit_code, r.signal) for r in rows]
    assert got == [
        ("3", 0, "COMPLETED", 0, 0),
        ("3", 1, "FAILED", 3, 0),
        ("3", 2, "CANCELLED", 0, 15),
        ("3", 3, "PENDING", 0, 0),
        ("3", 4, "PENDING", 0, 0),
        ("4", None, "OUT_OF_MEMORY", 0, 125),
    ]


def test_parse_config():
    cfg = sc.parse_config(CONFIG)
    assert cfg["MaxArraySize"] == "1001"
    assert cfg["AccountingStorageType"] == "accounting_storage/none"
    assert "Configuration data as of 2026-11-22T19:13:00" not in cfg


@pytest.mark.parametrize("text, secs", [
    ("UNLIMITED", None), ("INFINITE", None), ("01:00:00", 3600), ("2-00:00:00", 172800), ("30:00", 1800), ("45", 2700),
])
def test_parse_minutes(text, secs):
    assert sc.parse_minutes(text) == secs


@pytest.mark.parametrize("text, mb", [("UNLIMITED", None), ("4000", 4000), ("4G", 4096), ("0", None)])
def test_parse_mem(text, mb):
    assert sc.parse_mem(text) == mb


# --------------------------------------------------------------------------- limits

def cluster():
    return limits.cluster(sc.parse_records(PARTITIONS), sc.parse_records(NODES))


def test_cluster_facts():
    parts = {p.name: p for p in cluster()}
    assert parts["debug"].default and not parts["short"].default
    assert parts["short"].max_time_s == 3600
    assert parts["debug"].max_time_s is None
    assert [n.name for n in parts["debug"].nodes] == ["vm"]
    assert [(n.cpus, n.mem_mb, n.gpus) for n in parts["gpu"].nodes] == [(64, 512000, 4), (64, 256000, 4)]
    assert parts["gpu"].max_cpus_node == 32


@pytest.mark.parametrize("gres, n", [("(null)", 0), ("gpu:2", 2), ("gpu:a100:4(S:0-1)", 4), ("gpu:a100:2,gpu:v100:1", 3), ("mps:100", 0)])
def test_gpu_count(gres, n):
    assert limits.gpu_count(gres) == n


def _Array(name, settings, pack=1, jobs=1):
    return Array(0, name, type("R", (), {"name": name})(), list(range(jobs)), settings, pack=pack)


def check(*pairs):
    lay = type("L", (), {"arrays": [_Array(n, s) for n, s in pairs]})()
    return limits.check(lay, cluster())


def test_limits_fit():
    assert check(("ok", Settings(cpus=2, mem_mb=1000, time_s=7200))) == []
    assert check(("short", Settings(time_s=1800, options=(("partition", "short"),)))) == []
    assert check(("gpu", Settings(cpus=16, gpus=4, mem_mb=64000, options=(("partition", "gpu"),)))) == []


def test_too_many_cpus_names_rule_and_limit():
    (msg,) = check(("big", Settings(cpus=64)))
    assert "rule big" in msg and "cpus=64" in msg and "debug" in msg and "2 CPUs" in msg
    assert "fits partition" not in msg  # gpu allows 32 CPUs per node
    (msg,) = check(("big", Settings(cpus=20)))
    assert "fits partition gpu" in msg  # a hint where it would fit


def test_time_over_max_time():
    (msg,) = check(("long", Settings(time_s=7200, options=(("partition", "short"),))))
    assert "rule long" in msg and "MaxTime 01:00:00" in msg and "02:00:00" in msg


def test_memory_over_node_and_partition():
    (msg,) = check(("mem", Settings(mem_mb=100_000)))
    assert "mem=100000M" in msg and "21695M" in msg
    (msg,) = check(("mem", Settings(mem_mb=300_000, options=(("partition", "gpu"),))))
    assert "MaxMemPerNode 200000M" in msg


def test_cpus_over_max_cpus_per_node_and_gpus():
    (msg,) = check(("c", Settings(cpus=48, options=(("partition", "gpu"),))))
    assert "MaxCPUsPerNode" in msg
    (msg,) = check(("g", Settings(gpus=8, options=(("partition", "gpu"),))))
    assert "gpus=8" in msg
    (msg,) = check(("g", Settings(gpus=1)))
    assert "0 GPU(s)" in msg


def test_unknown_partition():
    (msg,) = check(("x", Settings(options=(("partition", "nope"),))))
    assert "partition nope does not exist" in msg and "debug, gpu, short" in msg


def test_a_packed_task_asks_for_its_jobs_time_added_up():
    """20 jobs of 5 minutes in a task: 01:40:00, over short's MaxTime, with a hint."""
    lay = type("L", (), {"arrays": [_Array("p", Settings(time_s=300, options=(("partition", "short"),)), pack=20, jobs=100)]})()
    (msg,) = limits.check(lay, cluster())
    assert "time 01:40:00 is over partition short's MaxTime 01:00:00" in msg
    assert "a task runs 20 of its jobs one after another: pack fewer" in msg
    lay.arrays[0].pack = 12
    assert limits.check(lay, cluster()) == []


def test_a_task_running_jobs_at_once_asks_for_their_time_in_rounds_and_their_memory_together():
    """20 jobs of 5 minutes and 12G, 2 at once: 10 rounds (00:50:00, under short's MaxTime),
    24G at once: over the RealMemory of the partition's node; one at a time, it fits."""
    s = Settings(time_s=300, mem_mb=12288, width=2, options=(("partition", "short"), ("cpus-per-task", 2)))
    lay = type("L", (), {"arrays": [_Array("p", s, pack=20, jobs=100)]})()
    (msg,) = limits.check(lay, cluster())
    assert "time" not in msg and "mem=24576M is over the 21695M RealMemory" in msg, msg
    lay.arrays[0].pack = 10
    lay.arrays[0].settings = Settings(time_s=300, mem_mb=12288, width=1, options=(("partition", "short"),))
    assert limits.check(lay, cluster()) == []
    lay = type("L", (), {"arrays": [_Array("p", Settings(time_s=300, width=4, options=(("partition", "short"),)), pack=80, jobs=100)]})()
    (msg,) = limits.check(lay, cluster())
    assert "time 01:40:00 is over partition short's MaxTime 01:00:00" in msg
    assert "a task runs 80 of its jobs, 4 at a time: pack fewer" in msg


def test_any_of_several_partitions_may_fit():
    assert check(("x", Settings(time_s=7200, options=(("partition", "short,debug"),)))) == []


# --------------------------------------------------------------------------- commands

class Fake:
    """A scripted executor: a list of (rc, out, err) answers per command name."""

    def __init__(self, answers):
        self.answers = {k: list(v) for k, v in answers.items()}
        self.calls = []

    def __call__(self, name, args, cwd=None):
        self.calls.append((name, list(args), cwd))
        return self.answers[name].pop(0)


def test_queries_retry_transient_errors():
    fake = Fake({"squeue": [(1, "", "slurm_load_jobs error: Socket timed out on send/recv operation"), (0, "5_0|RUNNING|None\n", "")]})
    slurm = sc.Slurm(fake, sleep=lambda s: None)
    rows = slurm.queue(["5"])
    assert [(r.array_id, r.task, r.state) for r in rows] == [("5", 0, "RUNNING")]
    assert len(fake.calls) == 2
    assert fake.calls[0][1] == ["-h", "-t", "all", "-j", "5", "-o", "%i|%T|%r"]


def test_squeue_invalid_job_id_means_no_rows():
    fake = Fake({"squeue": [(1, "", "slurm_load_jobs error: Invalid job id specified")]})
    assert sc.Slurm(fake, sleep=lambda s: None).queue(["5"]) == []
    assert len(fake.calls) == 1


def test_squeue_giving_up_returns_none():
    fake = Fake({"squeue": [(1, "", "boom")] * 5})
    assert sc.Slurm(fake, retries=4, sleep=lambda s: None).queue(["5"]) is None
    assert len(fake.calls) == 5


def test_sbatch_parsable_and_no_blind_resubmission():
    fake = Fake({"sbatch": [(0, "42;cluster\n", "")]})
    slurm = sc.Slurm(fake, sleep=lambda s: None)
    assert slurm.submit("a.sbatch", "afterok:1:2", "/b") == "42"
    assert fake.calls == [("sbatch", ["--parsable", "--dependency=afterok:1:2", "a.sbatch"], "/b")]
    # a socket timeout may hide an accepted job: not retried
    fake = Fake({"sbatch": [(1, "", "sbatch: error: Socket timed out on send/recv operation")]})
    with pytest.raises(BackendError, match="Socket timed out"):
        sc.Slurm(fake, sleep=lambda s: None).submit("a.sbatch", None, "/b")
    assert len(fake.calls) == 1
    # the controller refused the connection: the job was not accepted, so it is retried
    fake = Fake({"sbatch": [(1, "", "sbatch: error: Batch job submission failed: Unable to contact slurm controller"), (0, "7\n", "")]})
    assert sc.Slurm(fake, sleep=lambda s: None).submit("a.sbatch", None, "/b") == "7"


def test_sbatch_error_is_reported():
    fake = Fake({"sbatch": [(1, "", "sbatch: error: Batch job submission failed: Requested node configuration is not available")]})
    with pytest.raises(BackendError, match="Requested node configuration"):
        sc.Slurm(fake, sleep=lambda s: None).submit("a.sbatch", None, "/b")


def test_sacct_unavailable():
    fake = Fake({"sacct": [(1, "", "Slurm accounting storage is disabled")] * 5})
    assert sc.Slurm(fake, sleep=lambda s: None).accounting(["3"]) is None


def test_cancel_is_chunked():
    fake = Fake({"scancel": [(0, "", "")] * 3})
    sc.Slurm(fake, sleep=lambda s: None).cancel([f"9_{i}" for i in range(1200)])
    assert [len(c[1]) for c in fake.calls] == [500, 500, 200]


def test_job_count_over_max_job_count():
    assert limits.check_job_count(10, {"MaxJobCount": "10000"}) is None
    assert limits.check_job_count(10, {}) is None
    msg = limits.check_job_count(11010, {"MaxJobCount": "10000"})
    assert "11010 jobs" in msg and "MaxJobCount of 10000" in msg
