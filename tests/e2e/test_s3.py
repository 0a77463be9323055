"""End to end: remote inputs and outputs on a real S3-compatible server (moto's server, a
separate process over HTTP on 127.0.0.1), through fsspec/s3fs, with `rulec` as a subprocess.

The server is configured the way a user would: ``FSSPEC_S3_ENDPOINT_URL`` and the usual
``AWS_*`` variables in the environment.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from rulec_e2e import done_jobs, planned_jobs

s3fs = pytest.importorskip("s3fs") if not os.environ.get("CI") else __import__("s3fs")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url + "/moto-api/", timeout=2).read()
        return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def s3_endpoint():
    """The S3 server: the one scripts/local-s3.sh started (``RULEC_TEST_S3``, as CI does),
    else a moto server process of the session's own."""
    given = os.environ.get("RULEC_TEST_S3")
    if given:
        if not _answers(given):
            pytest.fail(f"RULEC_TEST_S3={given} does not answer (scripts/local-s3.sh start)")
        yield given
        return
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"the moto S3 server did not start on {url}")
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def bucket(s3_endpoint, monkeypatch):
    """A fresh bucket, and the environment that points fsspec (and rulec) at the server."""
    monkeypatch.setenv("FSSPEC_S3_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    fs = s3fs.S3FileSystem(endpoint_url=s3_endpoint, key="testing", secret="testing", skip_instance_cache=True)
    name = "rulec-" + uuid.uuid4().hex[:12]
    fs.mkdir(name)
    return fs, name


def put(fs, url: str, text: str) -> None:
    fs.pipe_file(url, text.encode())


def get(fs, url: str) -> str:
    fs.invalidate_cache()
    return fs.cat_file(url).decode()


def exists(fs, url: str) -> bool:
    fs.invalidate_cache()
    return fs.exists(url)


PIPELINE = """\
dimension sample = ["a", "b"]

rule all:
    input: expand("s3://{bucket}/report/{{sample}}.txt")

rule clean:                      # remote in, local out
    input:  "s3://{bucket}/raw/{{sample}}.txt"
    output: "bld/clean/{{sample}}.txt"
    shell:  "tr a-z A-Z < {{input}} > {{output}}"

rule report:                     # local in, remote out (and the sample's raw file again)
    input:  clean="bld/clean/{{sample}}.txt", raw="s3://{bucket}/raw/{{sample}}.txt"
    output: "s3://{bucket}/report/{{sample}}.txt"
    shell:  "cat {{input.clean}} {{input.raw}} > {{output}}"
"""


def test_a_pipeline_with_remote_inputs_and_outputs(project, bucket):
    fs, name = bucket
    put(fs, f"{name}/raw/a.txt", "alpha\n")
    put(fs, f"{name}/raw/b.txt", "beta\n")
    project.write("Rulefile", PIPELINE.format(bucket=name))

    assert planned_jobs(project.ok("dryrun").stdout) == {
        "clean[a]": "output missing: bld/clean/a.txt",
        "clean[b]": "output missing: bld/clean/b.txt",
        "report[a]": f"output missing: s3://{name}/report/a.txt",
        "report[b]": f"output missing: s3://{name}/report/b.txt",
    }
    res = project.ok("run", "-j2")
    assert sorted(done_jobs(res.stdout)) == ["clean[a]", "clean[b]", "report[a]", "report[b]"]
    assert project.read("bld/clean/a.txt") == "ALPHA\n"
    assert get(fs, f"{name}/report/a.txt") == "ALPHA\nalpha\n"
    assert get(fs, f"{name}/report/b.txt") == "BETA\nbeta\n"
    # the job saw local copies, kept under the URL's path
    assert project.read(f".rulec/remote/s3/{name}/raw/a.txt") == "alpha\n"

    # nothing to do until a remote input changes; then exactly its dependents run
    assert project.ok("dryrun").stdout.strip() == "Nothing to do: all 4 jobs are up to date."
    time.sleep(1.1)  # S3 times have a resolution of one second
    put(fs, f"{name}/raw/b.txt", "beta two\n")
    jobs = planned_jobs(project.ok("dryrun").stdout)
    assert set(jobs) == {"clean[b]", "report[b]"}, jobs
    res = project.ok("run")
    assert sorted(done_jobs(res.stdout)) == ["clean[b]", "report[b]"]
    assert get(fs, f"{name}/report/b.txt") == "BETA TWO\nbeta two\n"
    assert get(fs, f"{name}/report/a.txt") == "ALPHA\nalpha\n"


def test_a_failing_job_uploads_nothing_and_leaves_no_stale_remote_output(project, bucket):
    fs, name = bucket
    put(fs, f"{name}/raw/a.txt", "alpha\n")
    put(fs, f"{name}/out/a.txt", "stale from an earlier run\n")
    project.write("Rulefile", f"""\
rule all:
    input: "s3://{name}/out/a.txt"

rule make:
    input:  "s3://{name}/raw/a.txt"
    output: "s3://{name}/out/a.txt"
    shell:  "cp {{input}} {{output}}; exit 3"
""")
    res = project.run("run", "--force", "make")
    assert res.returncode == 1, res.stderr
    assert "make: exit status 3" in res.stderr
    assert not exists(fs, f"{name}/out/a.txt"), "a failed job must not leave its old output looking fresh"
    assert not os.path.exists(project.path / ".rulec/remote/s3" / name / "out/a.txt")

    project.write("Rulefile", project.read("Rulefile").replace("; exit 3", ""))
    project.ok("run")
    assert get(fs, f"{name}/out/a.txt") == "alpha\n"


def test_touch_records_existing_remote_outputs(project, bucket):
    fs, name = bucket
    put(fs, f"{name}/raw/a.txt", "alpha\n")
    put(fs, f"{name}/out/a.txt", "made by hand\n")
    project.write("Rulefile", f"""\
rule make:
    input:  "s3://{name}/raw/a.txt"
    output: "s3://{name}/out/a.txt", "out/a.local"
    shell:  "cp {{input}} {{output[0]}}; touch {{output[1]}}"
""")
    res = project.run("run", "--touch")
    assert res.returncode == 2 and "'out/a.local' of make does not exist" in res.stderr
    project.write("out/a.local", "")
    assert "Touched 1 job(s)." in project.ok("run", "--touch").stdout
    assert project.ok("dryrun").stdout.strip() == "Nothing to do: the one job is up to date."
    assert get(fs, f"{name}/out/a.txt") == "made by hand\n"


def test_a_missing_remote_input_is_reported_before_anything_runs(project, bucket):
    fs, name = bucket
    project.write("Rulefile", f"""\
rule all:
    input: "out/a.txt"

rule make:
    input:  "s3://{name}/raw/missing.txt"
    output: "out/a.txt"
    shell:  "cp {{input}} {{output}}"
""")
    res = project.run("run")
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"s3://{name}/raw/missing.txt" in res.stderr
    assert not project.exists("out/a.txt")


def test_samples_from_a_remote_glob_and_clean_of_remote_outputs(project, bucket):
    fs, name = bucket
    for sample in ("s1", "s2", "s3"):
        put(fs, f"{name}/raw/{sample}.csv", f"{sample}\n")
    project.write("Rulefile", f"""\
dimension sample = glob("s3://{name}/raw/{{sample}}.csv")

rule all:
    input: expand("s3://{name}/out/{{sample}}.txt")

rule copy:
    input:  "s3://{name}/raw/{{sample}}.csv"
    output: "s3://{name}/out/{{sample}}.txt"
    shell:  "cp {{input}} {{output}}"
""")
    res = project.ok("run")
    assert sorted(done_jobs(res.stdout)) == ["copy[s1]", "copy[s2]", "copy[s3]"]
    assert get(fs, f"{name}/out/s2.txt") == "s2\n"

    res = project.ok("clean", "--yes")
    assert f"s3://{name}/out/s1.txt" in res.stdout and "Deleted 3 file(s)." in res.stdout
    assert not exists(fs, f"{name}/out/s1.txt") and exists(fs, f"{name}/raw/s1.csv")
    assert set(planned_jobs(project.ok("dryrun").stdout)) == {"copy[s1]", "copy[s2]", "copy[s3]"}


def test_an_unreachable_endpoint_is_a_clear_error(project, bucket, monkeypatch):
    fs, name = bucket
    project.write("Rulefile", f"""\
rule make:
    input:  "s3://{name}/raw/a.txt"
    output: "out/a.txt"
    shell:  "cp {{input}} {{output}}"
""")
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("FSSPEC_S3_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    res = project.run("run")
    assert res.returncode == 2
    assert res.stderr.startswith(f"cannot reach s3://{name}/raw: Could not connect to the endpoint URL")
    assert "hint: fsspec takes its settings from the environment" in res.stderr
    assert "Traceback" not in res.stderr


# --------------------------------------------------------------------------- on SLURM

@pytest.mark.slurm
def test_remote_paths_on_the_real_slurm_cluster_and_in_an_emitted_bundle(slurm_cluster, project, bucket):
    """Cluster tasks fetch remote inputs and upload remote outputs themselves (through
    ``python -m rulec.storage``), with the settings they inherit from the submitting shell."""
    fs, name = bucket
    put(fs, f"{name}/raw/a.txt", "alpha\n")
    put(fs, f"{name}/raw/b.txt", "beta\n")
    project.write("Rulefile", PIPELINE.format(bucket=name))
    res = project.ok("run", "--executor", "slurm", "--poll", "0.2", timeout=180)
    assert "Done: 4 job(s) ran on slurm." in res.stdout, res.stdout + res.stderr
    assert get(fs, f"{name}/report/a.txt") == "ALPHA\nalpha\n"
    assert get(fs, f"{name}/report/b.txt") == "BETA\nbeta\n"
    assert project.ok("dryrun").stdout.strip() == "Nothing to do: all 4 jobs are up to date."

    # a failing task uploads nothing, and its stale remote output is gone
    project.write("Rulefile", PIPELINE.format(bucket=name).replace(
        'shell:  "cat {input.clean} {input.raw} > {output}"',
        'shell:  "cat {input.clean} {input.raw} > {output}; exit 4"'))
    res = project.run("run", "--executor", "slurm", "--poll", "0.2", "--keep-going", timeout=180)
    assert res.returncode == 1, res.stdout + res.stderr
    assert not exists(fs, f"{name}/report/a.txt") and not exists(fs, f"{name}/report/b.txt")

    # an emitted bundle stages too, with no rulec process alive
    project.write("Rulefile", PIPELINE.format(bucket=name))
    project.ok("emit", "--slurm", "-o", "bundle")
    tasks = project.read("bundle/report.tasks")
    assert "-m rulec.storage get" in tasks and "-m rulec.storage put" in tasks
    sub = subprocess.run(["bash", "bundle/submit.sh"], cwd=project.path, capture_output=True, text=True, timeout=60)
    assert sub.returncode == 0, sub.stderr
    deadline = time.monotonic() + 120
    while not (exists(fs, f"{name}/report/a.txt") and exists(fs, f"{name}/report/b.txt")):
        assert time.monotonic() < deadline, "the bundle's tasks did not upload their outputs"
        time.sleep(0.5)
    assert get(fs, f"{name}/report/b.txt") == "BETA\nbeta\n"


def test_a_sample_sheet_on_s3(project, bucket):
    fs, name = bucket
    put(fs, f"{name}/meta/samples.tsv", "sample\tgreeting\na\thello\nb\thi\n")
    project.write("Rulefile", f"""\
dimension sample = table("s3://{name}/meta/samples.tsv")

rule all:
    input: expand("out/{{sample}}.txt")

rule greet:
    output: "out/{{sample}}.txt"
    shell:  "echo {{sample.greeting}} > {{output}}"
""")
    assert set(planned_jobs(project.ok("dryrun").stdout)) == {"greet[a]", "greet[b]"}
    project.ok("run")
    assert project.read("out/b.txt") == "hi\n"
    assert project.ok("dryrun").stdout.startswith("Nothing to do")
    put(fs, f"{name}/meta/samples.tsv", "sample\tgreeting\na\thello\nb\tgood day\n")  # read on every load
    assert planned_jobs(project.ok("dryrun").stdout) == {"greet[b]": "command changed"}
    fs.rm(f"{name}/meta/samples.tsv")
    res = project.run("dryrun")
    assert res.returncode == 2 and f"table file not found: s3://{name}/meta/samples.tsv" in res.stderr, res.stderr
