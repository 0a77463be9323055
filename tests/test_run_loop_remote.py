"""rulec/run/loop.py in process, on fsspec's in-memory file system for remote paths (the
same paths through a real S3 server are in tests/e2e/test_s3.py; the run loop's
processes, signals and failures in tests/e2e/test_cli_run.py; SLURM's closed standard output in
tests/test_executors_slurm.py)."""

from __future__ import annotations

import fsspec
import pytest

from rulec import cli, storage

RULEFILE = """\
dimension sample = {samples}

rule all:
    input: expand("memory://rulec-run/out/{{sample}}.txt")

rule upper:
    input:  "memory://rulec-run/raw/{{sample}}.txt"
    output: "memory://rulec-run/out/{{sample}}.txt"
    shell:  "tr a-z A-Z < {{input}} > {{output}}"
"""


@pytest.fixture
def mem():
    fs = fsspec.filesystem("memory")
    if fs.exists("/rulec-run"):
        fs.rm("/rulec-run", recursive=True)
    yield fs
    if fs.exists("/rulec-run"):
        fs.rm("/rulec-run", recursive=True)


def test_remote_jobs_do_not_list_a_folder_per_finished_job(mem, tmp_path, monkeypatch, capsys):
    samples = [f"s{i}" for i in range(20)]
    for s in samples:
        mem.pipe_file(f"/rulec-run/raw/{s}.txt", s.encode())
    (tmp_path / "Rulefile").write_text(RULEFILE.format(samples=repr(samples).replace("'", '"')))
    listings = []
    real = storage.stat_many

    def counting(urls):
        listings.append(len(urls))
        return real(urls)

    monkeypatch.setattr(storage, "stat_many", counting)
    assert cli.main(["run", "-q", "-j2", str(tmp_path)]) == 0
    assert mem.cat_file("/rulec-run/out/s7.txt") == b"S7"
    # the plan's one snapshot of the 40 remote paths; the records use its stats and the uploads'
    assert listings == [40]
    capsys.readouterr()
    assert cli.main(["dryrun", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == "Nothing to do: all 20 jobs are up to date."


def test_a_remote_output_used_downstream_is_not_downloaded_again(mem, tmp_path, monkeypatch):
    mem.pipe_file("/rulec-run/raw/a.txt", b"abc")
    (tmp_path / "Rulefile").write_text("""\
rule all:
    input: "memory://rulec-run/final/a.txt"

rule one:
    input:  "memory://rulec-run/raw/a.txt"
    output: "memory://rulec-run/mid/a.txt"
    shell:  "tr a-z A-Z < {input} > {output}"

rule two:
    input:  "memory://rulec-run/mid/a.txt"
    output: "memory://rulec-run/final/a.txt"
    shell:  "rev < {input} > {output}"
""")
    fetched = []
    real = storage.download

    def counting(urls, workdir):
        fetched.extend(urls)
        return real(urls, workdir)

    monkeypatch.setattr(storage, "download", counting)
    assert cli.main(["run", "-q", str(tmp_path)]) == 0
    assert mem.cat_file("/rulec-run/final/a.txt").strip() == b"CBA"
    assert fetched == ["memory://rulec-run/raw/a.txt"]


def test_a_stale_remote_output_that_cannot_be_deleted_fails_its_job_cleanly(mem, tmp_path, monkeypatch, capsys):
    mem.pipe_file("/rulec-run/raw/a.txt", b"abc")
    mem.pipe_file("/rulec-run/out/a.txt", b"stale")
    (tmp_path / "Rulefile").write_text("""\\
rule make:
    input:  "memory://rulec-run/raw/a.txt"
    output: "memory://rulec-run/out/a.txt"
    shell:  "cp {input} {output}"
""")

    def refuse(urls):
        raise PermissionError("Access Denied")

    monkeypatch.setattr(storage, "remove", refuse)
    assert cli.main(["run", "-q", "--force-all", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "make: could not delete its old output memory://rulec-run/out/a.txt: Access Denied" in err
    assert mem.cat_file("/rulec-run/out/a.txt") == b"stale"  # nothing ran

