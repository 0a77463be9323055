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
