"""rulec/commands/emit.py: options reach the bundle (the bundle's files themselves are tested in
test_bundle_*.py)."""

from __future__ import annotations

from rulec.api import Target
from rulec.backend import Backend
from rulec.commands.emit import EmitArgs, main


def test_a_profiles_env_is_exported_by_the_bundles_jobs(tmp_path, capsys):
    (tmp_path / "Rulefile").write_text('rule fit:\n    output: "fit.txt"\n    shell: "echo $OMP_NUM_THREADS > {output}"\n')
    (tmp_path / "p.toml").write_text('[slurm.rules.fit.env]\nOMP_NUM_THREADS = 4\nNAME = "a b; touch PWNED"\n')
    out = tmp_path / "bundle"
    assert main(Target(str(tmp_path / "Rulefile")), EmitArgs(Backend.SLURM, output=str(out), profile=str(tmp_path / "p.toml"), quiet=True)) == 0
    table = next(out.glob("*.tasks")).read_text()
    assert "export OMP_NUM_THREADS=4" in table
    assert "export NAME=\\'a b; touch PWNED\\'" in table  # quoted: data, never code
    (tmp_path / "p.toml").write_text("")
    other = tmp_path / "bundle2"
    main(Target(str(tmp_path / "Rulefile")), EmitArgs(Backend.SLURM, output=str(other), quiet=True))
    assert "export" not in next(other.glob("*.tasks")).read_text()


def test_pack_reaches_the_bundle_and_is_refused_for_jbsub(tmp_path, capsys):
    import json

    import pytest

    from rulec.errors import RulecError

    (tmp_path / "Rulefile").write_text('dimension n = ["a", "b", "c"]\nrule all:\n    input: expand("o/{n}.txt")\n'
                                       'rule make:\n    output: "o/{n}.txt"\n    shell: "touch {output}"\n')
    target = Target(str(tmp_path / "Rulefile"))
    assert main(target, EmitArgs(Backend.SLURM, output=str(tmp_path / "b"), pack="2")) == 0
    assert "make        2 task(s) (3 jobs, 2 per task)" in capsys.readouterr().out
    m = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert [(a["size"], a["pack"], a["jobs"]) for a in m["arrays"]] == [(2, 2, 3)]
    with pytest.raises(RulecError, match="--pack is for SLURM and LSF job arrays: jbsub runs one job per jbsub call"):
        main(target, EmitArgs(Backend.JBSUB, output=str(tmp_path / "j"), pack="2"))
    assert not (tmp_path / "j").exists()


PREFIXED = '''
label box:
    prefix: "env 'RULEC_A=x y' RULEC_PREFIXED=1"

rule all:
    input: "o/boxed.txt", "o/here.txt"

rule boxed:
    output: "o/boxed.txt"
    label: box
    shell: "echo \\"$RULEC_PREFIXED $RULEC_A\\" > {output}"

rule here:
    output: "o/here.txt"
    label: box
    local: true
    shell: "echo \\"$RULEC_PREFIXED $RULEC_A\\" > {output}"
'''


def test_a_prefix_label_is_refused_by_emit_slurm_and_lsf_as_run_refuses_it(tmp_path):
    import pytest

    from rulec.errors import RulecError

    (tmp_path / "Rulefile").write_text(PREFIXED)
    target = Target(str(tmp_path / "Rulefile"))
    for backend in (Backend.SLURM, Backend.LSF):
        with pytest.raises(RulecError) as info:
            main(target, EmitArgs(backend, output=str(tmp_path / "b"), quiet=True))
        text = str(info.value)
        assert "label box has prefix" in text and f"which rulec emit --{backend} cannot do" in text
        assert "emit --jbsub" in info.value.hint
        assert not (tmp_path / "b").exists()


def test_a_local_rules_prefix_runs_in_the_slurm_bundles_local_script(tmp_path):
    """local: true jobs run here, as run runs them: under their label's prefix."""
    import subprocess

    (tmp_path / "Rulefile").write_text(PREFIXED.replace('"o/boxed.txt", ', ""))
    out = tmp_path / "b"
    assert main(Target(str(tmp_path / "Rulefile")), EmitArgs(Backend.SLURM, output=str(out), quiet=True)) == 0
    script = (out / "here.local.sh").read_text()
    assert "env 'RULEC_A=x y' RULEC_PREFIXED=1 bash -euo pipefail \"$script\"" in script
    subprocess.run(["bash", str(out / "here.local.sh"), "0"], check=True, capture_output=True, timeout=60)
    assert (tmp_path / "o" / "here.txt").read_text() == "1 x y\n"


def test_emit_jbsub_runs_the_command_under_the_labels_prefix(tmp_path):
    """As rulec run --executor jbsub does: jbsub ... <prefix> bash -euo pipefail <script>, each
    prefix word one quoted shell word."""
    import subprocess

    (tmp_path / "Rulefile").write_text(PREFIXED)
    out = tmp_path / "b"
    assert main(Target(str(tmp_path / "Rulefile")), EmitArgs(Backend.JBSUB, output=str(out), quiet=True)) == 0
    for name in ("boxed", "here"):
        script = (out / f"{name}.job.sh").read_text()
        assert "\nenv 'RULEC_A=x y' RULEC_PREFIXED=1 bash -euo pipefail \"$script\" </dev/null" in script
        subprocess.run(["bash", str(out / f"{name}.job.sh"), "0"], check=True, capture_output=True, timeout=60)
        assert (tmp_path / "o" / f"{name}.txt").read_text() == "1 x y\n"


def test_a_bundle_run_by_hand_leaves_the_jobs_it_rebuilt_up_to_date(tmp_path, capsys, monkeypatch):
    """rulec run, an input changes, rulec emit, the bundle's tasks run by hand: the next plan
    judges what the bundle rebuilt by its files (emit forgot their records, which would call
    them changed), and keeps the records of the jobs it did not hold."""
    import os
    import subprocess

    from rulec.cli import main as cli
    from rulec.history import History

    (tmp_path / "Rulefile").write_text('''
dimension d = ["a", "b"]

rule all:
    input: expand("two/{d}.txt")

rule one:
    input: "in/{d}.txt"
    output: "one/{d}.txt"
    shell: "cat {input} > {output}"

rule two:
    input: "one/{d}.txt"
    output: "two/{d}.txt"
    shell: "cat {input} > {output}; echo MORE >> {output}"
''')
    (tmp_path / "in").mkdir()
    for d in "ab":
        (tmp_path / "in" / f"{d}.txt").write_text(f"{d}\n")
    monkeypatch.chdir(tmp_path)
    assert cli(["run", "-q"]) == 0
    (tmp_path / "in" / "a.txt").write_text("A2\n")
    assert cli(["emit", "--slurm", "-o", "bundle", "-q"]) == 0
    history = History.open(str(tmp_path))
    assert sorted(history.records()) == ["one[b]", "two[b]"]  # one[a] and two[a] are the bundle's
    history.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    for array in ("one", "two"):
        subprocess.run(["bash", f"{array}.sbatch"], cwd=tmp_path / "bundle", env={**env, "SLURM_ARRAY_TASK_ID": "0"},
                       check=True, capture_output=True, timeout=60)
    assert (tmp_path / "two" / "a.txt").read_text() == "A2\nMORE\n"
    capsys.readouterr()
    assert cli(["dryrun", "--why"]) == 0
    assert "Nothing to do" in capsys.readouterr().out


def test_an_output_that_is_a_file_is_refused_before_anything_is_done(tmp_path):
    import pytest

    from rulec.errors import RulecError

    (tmp_path / "Rulefile").write_text('rule fit:\n    output: "fit.txt"\n    shell: "touch {output}"\n')
    with pytest.raises(RulecError, match=r"-o .*Rulefile: not a folder \(a bundle is a folder of scripts\)"):
        main(Target(str(tmp_path / "Rulefile")), EmitArgs(Backend.SLURM, output=str(tmp_path / "Rulefile"), quiet=True))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Rulefile"]
