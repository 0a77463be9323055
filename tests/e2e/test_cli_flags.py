"""Every flag a command accepts does what it says, or is refused with a message: none is
accepted and ignored."""

from __future__ import annotations

from rulec_e2e import done_jobs, why_blocks


def test_run_json_is_refused_with_a_pointer_to_dryrun(project):
    res = project.run("run", "--json")
    assert res.returncode == 2
    assert "rulec run has no JSON output" in res.stderr and "rulec dryrun --json" in res.stderr
    assert not project.exists("bld")  # nothing ran


def test_run_n_json_is_the_plan(project):
    res = project.ok("run", "-n", "--json")
    assert res.stdout.lstrip().startswith("{") and '"jobs_to_run"' in res.stdout


def test_emit_json_is_refused(project, tmp_path):
    res = project.run("emit", "--slurm", "--json", "-o", tmp_path / "b")
    assert res.returncode == 2
    assert "rulec emit has no JSON output" in res.stderr
    assert not (tmp_path / "b").exists()


def test_emit_why_shows_every_reason_of_the_bundled_jobs(project, tmp_path):
    res = project.ok("emit", "--slurm", "--why", "-o", tmp_path / "b")
    blocks = why_blocks(res.stdout.split("wrote ")[0])
    assert blocks["prepare[d0]"] == ["output missing: bld/data/d0.txt"]
    assert "wrote " in res.stdout and (tmp_path / "b" / "submit.sh").exists()


def test_run_why_shows_every_reason_then_runs(project):
    project.ok("run")
    project.edit("echo prepared", "echo Prepared")
    res = project.ok("run", "--why", "-j1")
    head = res.stdout.split("[1/")[0]
    blocks = why_blocks(head)
    assert any(line.startswith("command changed") for line in blocks["prepare[d0]"]), head
    assert len(done_jobs(res.stdout)) > 0
