"""Label prefixes: a label's ``prefix: "..."`` makes its jobs run on this machine as
``<prefix words> bash -euo pipefail <job script>`` (the local executor's bash workers).
End to end through ``rulec run``, plus the checks (``rulec check``) and the refusal of a
prefix under a cluster executor."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import workflow
from rulec import executors
from rulec.dag import resolve
from rulec.errors import RulecError

RULEC = [sys.executable, "-m", "rulec"]


def rulec(cwd, *args, env=None, timeout=120):
    full = dict(os.environ, NO_COLOR="1", COLUMNS="200", **(env or {}))
    full.pop("RULEC_PROFILE", None)
    return subprocess.run(RULEC + list(args), cwd=str(cwd), env=full, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


PREFIXED = r'''
label wrapped:
    prefix: "env RULEC_PREFIXED=1"

rule all:
    input: "bld/wrapped.txt", "bld/plain.txt"

rule wrapped:
    output: "bld/wrapped.txt"
    label:  wrapped
    shell:  "echo \"prefixed=$RULEC_PREFIXED script=$0 args=$-\" > {output}; echo in-log"

rule plain:
    output: "bld/plain.txt"
    shell:  "echo \"prefixed=${{RULEC_PREFIXED:-no}}\" > {output}"
'''


def test_prefix_label_job_runs_under_its_prefix_through_bash_script(tmp_path):
    (tmp_path / "Rulefile").write_text(PREFIXED)
    res = rulec(tmp_path, "run", "-j2")
    assert res.returncode == 0, res.stderr
    line = (tmp_path / "bld/wrapped.txt").read_text().strip()
    fields = dict(part.split("=", 1) for part in line.split())
    assert fields["prefixed"] == "1"
    # $0 is the job's script file under .rulec/jobs/, run by `bash -euo pipefail <script>`
    script = Path(fields["script"])
    assert script.parent == tmp_path / ".rulec" / "jobs" and script.suffix == ".sh"
    assert stat.S_IMODE(script.stat().st_mode) == 0o644
    assert "echo in-log" in script.read_text()
    assert "e" in fields["args"] and "u" in fields["args"]
    # the job's output still goes to its log; a rule without the label has no prefix
    logs = list((tmp_path / ".rulec").rglob("wrapped*.log")) or list(tmp_path.rglob("wrapped*.log"))
    assert any("in-log" in p.read_text() for p in logs), logs
    assert (tmp_path / "bld/plain.txt").read_text().strip() == "prefixed=no"
    # where a job runs is not what it computes: the prefix is no reason to rerun
    text = PREFIXED.replace('prefix: "env RULEC_PREFIXED=1"', 'prefix: "env RULEC_PREFIXED=2"')
    (tmp_path / "Rulefile").write_text(text)
    again = rulec(tmp_path, "run")
    assert again.returncode == 0 and "Nothing to do" in again.stdout, again.stdout


def test_prefix_words_are_split_once_and_quoted(tmp_path):
    # 'A=x y' is one word; $HOME and ; in the prefix are not interpreted by any shell
    (tmp_path / "Rulefile").write_text(r'''
label q:
    prefix: "env 'A=x y' 'B=$HOME;echo hacked'"

rule q:
    output: "out.txt"
    label:  q
    shell:  "printf '%s|%s\n' \"$A\" \"$B\" > {output}"
''')
    res = rulec(tmp_path, "run")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "out.txt").read_text() == "x y|$HOME;echo hacked\n"


def test_a_failing_prefix_fails_the_job(tmp_path):
    (tmp_path / "Rulefile").write_text('''
label bad:
    prefix: "false"

rule bad:
    output: "out.txt"
    label:  bad
    shell:  "touch {output}"
''')
    res = rulec(tmp_path, "run")
    assert res.returncode == 1
    assert not (tmp_path / "out.txt").exists()


def test_control_character_in_prefix_is_an_error_at_the_character(tmp_path):
    (tmp_path / "Rulefile").write_text('''label gpu:
    prefix: "srun\\t--"

rule a:
    output: "a"
    label:  gpu
    shell:  "touch {output}"
''')
    res = rulec(tmp_path, "check")
    assert res.returncode != 0
    assert "Rulefile:2:18:" in res.stderr and "tab" in res.stderr and "prefix" in res.stderr, res.stderr


def test_prefix_field_errors():
    with pytest.raises(RulecError) as info:
        workflow('label a:\n    prefx: "srun"\n\nrule r:\n    output: "o"\n    label: a\n    shell: "x"\n')
    assert "did you mean 'prefix'" in str(info.value) or "did you mean 'prefix'" in repr(info.value.__dict__)
    for bad in ('prefix: ""', 'prefix: "env \'A=x"', "prefix: 3"):
        with pytest.raises(RulecError):
            workflow(f'label a:\n    {bad}\n\nrule r:\n    output: "o"\n    label: a\n    shell: "x"\n')
    wf = workflow('label a:\n    prefix: "apptainer exec \'my img.sif\'"\n\nrule r:\n    output: "o"\n    label: a\n    shell: "x"\n')
    assert wf.labels["a"].prefix == ("apptainer", "exec", "my img.sif")


class _Plan:
    def __init__(self, run):
        self.run = run


@pytest.mark.parametrize("name", ["slurm", "lsf"])
def test_prefix_under_cluster_executor_is_refused_naming_the_label(name):
    wf = workflow('label gpu:\n    prefix: "srun -p gpu --"\n\nrule r:\n    output: "o"\n    label: gpu\n    shell: "touch {output}"\n')
    graph = resolve(wf, ())
    with pytest.raises(RulecError) as info:
        executors.make(executors.ExecutorOptions(name), graph, _Plan(list(range(len(graph)))))
    text = str(info.value)
    assert "label gpu" in text and f"--executor {name}" in text and "srun -p gpu --" in text


def test_prefix_is_fine_when_no_job_to_run_carries_it():
    wf = workflow('label gpu:\n    prefix: "srun --"\n\nrule r:\n    output: "o"\n    shell: "touch {output}"\n')
    graph = resolve(wf, ())
    executors._refuse_prefixes("slurm", graph, _Plan(list(range(len(graph)))))  # no error


def test_a_local_rule_under_a_cluster_executor_keeps_its_prefix():
    """local: true jobs run on this machine, so their label's prefix can be honoured there."""
    text = 'label box:\n    prefix: "apptainer exec img.sif"\n\nrule r:\n    output: "o"\n    label: box\n    local: true\n    shell: "x"\n'
    graph = resolve(workflow(text), ())
    executors._refuse_prefixes("slurm", graph, _Plan(list(range(len(graph)))))  # no error
    with pytest.raises(RulecError, match="label box"):
        executors._refuse_prefixes("slurm", graph := resolve(workflow(text.replace("    local: true\n", "")), ()),
                                   _Plan(list(range(len(graph)))))


@pytest.mark.slurm
def test_prefix_srun_runs_the_job_under_slurm(tmp_path, slurm_cluster):
    if shutil.which("srun") is None:
        pytest.skip("srun not on PATH")
    (tmp_path / "Rulefile").write_text(r'''
label slurm_step:
    prefix: "srun -N1 -n1 --"

rule a:
    output: "a.txt"
    label:  slurm_step
    shell:  "echo \"job=${{SLURM_JOB_ID:-none}} step=${{SLURM_STEP_ID:-none}}\" > {output}"
''')
    res = rulec(tmp_path, "run", env={"SLURM_CONF": str(slurm_cluster.conf)}, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    text = (tmp_path / "a.txt").read_text()
    assert "job=none" not in text and text.startswith("job="), text


def test_prefix_under_executor_lsf_is_refused_on_the_command_line(tmp_path):
    (tmp_path / "Rulefile").write_text(PREFIXED)
    res = rulec(tmp_path, "run", "--executor", "lsf")
    assert res.returncode == 2, res.stdout + res.stderr
    assert "label wrapped" in res.stderr and "--executor lsf" in res.stderr
    assert not (tmp_path / "bld").exists()
