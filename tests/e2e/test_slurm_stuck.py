"""A stuck cluster on the REAL local SLURM cluster (scripts/local-slurm.sh): slurmd stops while
a job runs. The job's command ends, slurmctld cannot reach slurmd for the epilog, and the job
sits in COMPLETING on a node sinfo shows as ``completing*`` (NOT_RESPONDING, about 12 s after
the job ended here; DOWN only after SlurmdTimeout, 300 s by default). rulec must say so, with
the node's state, and give the job up as NODE_FAIL after the profile's ``stuck_after``
instead of waiting for ever; its dependent is cancelled, the run ends with exit 1.

slurmd is started again in a ``finally`` (as the start script does) and the node resumed if
it went DOWN, so later tests find a working cluster.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from rulec_e2e import popen_rulec, wait_for

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[2]

RULEFILE = '''
rule all:
    input: "b.txt"

rule a:
    output: "a.txt"
    shell: "touch a.started; sleep 2; echo a > {output}"

rule b:
    input: "a.txt"
    output: "b.txt"
    shell: "cat {input} > {output}"
'''


def _node() -> str:
    res = subprocess.run(["sinfo", "-h", "-N", "-o", "%N"], capture_output=True, text=True)
    return res.stdout.split()[0]


def _node_state(node: str) -> str:
    res = subprocess.run(["sinfo", "-h", "-N", "-n", node, "-o", "%T"], capture_output=True, text=True)
    return res.stdout.strip().splitlines()[0] if res.stdout.strip() else ""


def _slurmd_pid(cluster) -> int | None:
    try:
        pid = int((cluster.dir / "run" / "slurmd.pid").read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    try:  # a zombie waiting for PID 1 to reap it counts as stopped
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return None
    except OSError:
        return None
    return pid


def _restore(cluster, node: str) -> None:
    """slurmd running again, and the node taking jobs (resumed if it went DOWN)."""
    if _slurmd_pid(cluster) is None:
        subprocess.run(["bash", str(REPO / "scripts" / "local-slurm.sh"), "start"], capture_output=True, timeout=120)

    def responding():
        state = _node_state(node)
        if state.startswith("down") or state.startswith("drain"):
            subprocess.run(["scontrol", "update", f"NodeName={node}", "State=RESUME"], capture_output=True)
        return state and not state.endswith("*") and not state.startswith(("down", "drain"))

    wait_for(responding, 60, 0.2, what=f"node {node} to answer again")


@pytest.mark.slow  # about 20 s: the node is NOT_RESPONDING some 12 s after the job ends
def test_a_job_stuck_on_a_node_whose_slurmd_stopped_is_given_up_as_node_fail(slurm_cluster, tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "Rulefile").write_text(RULEFILE)
    profile = tmp_path / "cluster.toml"
    profile.write_text("[slurm]\npoll = 0.2\nmax_poll = 0.5\nstuck_after = 5\n")
    node = _node()
    assert _slurmd_pid(slurm_cluster) is not None, "slurmd is not running"
    proc = None
    bundle = proj / ".rulec" / "slurm" / "1"
    try:
        proc = popen_rulec(["run", "--executor", "slurm", "--profile", str(profile)], proj)
        wait_for(lambda: (proj / "a.started").exists() or proc.poll() is not None, 30, 0.05, what="job a to start")
        assert proc.poll() is None, proc.communicate()
        os.kill(_slurmd_pid(slurm_cluster), signal.SIGTERM)  # its job goes on (slurmstepd)
        stopped = time.monotonic()
        out, err = proc.communicate(timeout=40)  # no hanging: given up after stuck_after
        took = time.monotonic() - stopped
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
        ids = [line.split()[1] for line in (bundle / "jobids").read_text().splitlines()] if (bundle / "jobids").exists() else []
        if ids:
            subprocess.run(["scancel", *ids], capture_output=True)
        _restore(slurm_cluster, node)
    text = out + err
    assert proc.returncode == 1, text
    said = [line for line in text.splitlines() if f"on node {node}, which is" in line]
    assert said and said[0].startswith("a (") and ("NOT_RESPONDING" in said[0] or "DOWN" in said[0]), text
    assert "it is given up as NODE_FAIL if it is still there in 5 s (stuck_after)" in said[0]
    assert f"FAILED a: NODE_FAIL: node {node} is " in err, text
    assert "1 job(s) failed" in err and "1 not run" in err, text
    assert not (proj / "b.txt").exists()
    assert took < 40
