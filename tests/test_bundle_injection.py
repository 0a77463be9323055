"""Values that are shell code must stay data in a bundle: file names (hence dimension values,
job ids, paths, commands) holding a newline, ``$(...)``, quotes, backticks or ``;``, and
scheduler settings from labels and profiles. Every emitted file is checked line by line, the
task tables are decoded by bash, and the bundles are run: SLURM's and LSF's task scripts
and jbsub's job scripts directly, with the environment the scheduler would give them, and
the LSF and jbsub bundles through the stand-in ``bsub``/``jbsub`` of test_bundle_shims.
Nothing may run (no ``PWNED*`` file appears) and every job must succeed with its output.

Also: scheduler options with control characters are refused (profiles with the file and
the key; a directive line never holds one), and under umask 000 nothing the bundle holds or
its scripts make (folders, scripts, task tables, the scripts and markers a task writes) is
writable by group or others.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from rulec import ir
from rulec import profile as prof
from rulec.analyze import analyze
from rulec.bundle import files as bundle_mod
from rulec.bundle import jbsub
from rulec.bundle.arrays import Array
from rulec.bundle.settings import Settings
from rulec.cli import main
from rulec.dag import resolve
from rulec.errors import BackendError
from rulec.syntax import parse

from test_bundle_shims import FAKE_BSUB, FAKE_JBSUB

# File names that are shell code. Each would run `touch PWNED<n>` if a script let it be code.
PAYLOADS = (
    "x\ntouch PWNED\n",  # a new line of a script: a command of its own
    "$(touch PWNED2)",
    "a'b`touch PWNED3`;c",
    'q"w;touch PWNED4;"e',
    "t\ttab\r\x1b[1mbold; touch PWNED5 #",
    "back\\slash $HOME ${PWD} && touch PWNED6 |",
    "sep\u2028touch PWNED7\u2029end",  # Unicode line/paragraph separators, as UTF-8 bytes
)
BAD = {"PWNED", "PWNED2", "PWNED3", "PWNED4", "PWNED5", "PWNED6", "PWNED7"}
BACKENDS = ("slurm", "lsf", "jbsub")
# and packed SLURM and LSF bundles (rulec emit --pack 3: several jobs per task)
RUNS = [(b, None) for b in BACKENDS] + [("slurm", "3"), ("lsf", "3")]
RUN_IDS = [b if p is None else f"{b}-packed" for b, p in RUNS]

RULEFILE = '''
dimension s = glob("raw/{s}.txt")

rule all:
    input: expand("cnt/{s}.txt"), "total.txt"

rule copy:
    input: "raw/{s}.txt"
    output: "out/{s}.txt"
    log: "logs/{s}.log"
    label: gpu
    shell: """
        cp {input} {output}
        echo {s} >> {output}
        echo copied {jobid}
    """

rule count:
    input: "out/{s}.txt"
    output: "cnt/{s}.txt"
    shell: "wc -l < {input} > {output}"

rule total:
    input: expand("cnt/{s}.txt")
    output: "total.txt"
    shell: "cat {input} > {output}"

label gpu:
    limit: 2
    slurm: comment="a b; $(touch PWNED) `touch PWNED` 'q' \\"d\\""
    lsf: queue="q; touch PWNED"
    jbsub: "-queue x86_1h -require 'a;touch PWNED' -note \\"$(touch PWNED)\\""
'''


def plant(proj: Path) -> Path:
    (proj / "raw").mkdir(parents=True)
    for name in PAYLOADS:
        (proj / "raw" / f"{name}.txt").write_text(f"content of {name}\n")
    (proj / "Rulefile").write_text(RULEFILE)
    return proj


def pwned(root: Path) -> list[str]:
    return [os.path.join(d, f) for d, _, files in os.walk(root) for f in files if f in BAD]


def expected(proj: Path) -> None:
    """Every job ran, with the right data: outputs named by the payloads, one per file."""
    counts = []
    for name in sorted(PAYLOADS):
        out = f"content of {name}\n{name}\n"
        assert (proj / "out" / f"{name}.txt").read_bytes().decode() == out, repr(name)
        assert (proj / "cnt" / f"{name}.txt").read_text().strip() == str(out.count("\n"))
        assert (proj / "logs" / f"{name}.log").read_bytes().decode() == f"copied copy[{name}]\n"
        counts.append(str(out.count("\n")))
    assert sorted((proj / "total.txt").read_text().split()) == sorted(counts)


def in_memory_bundle(backend: str, profile=prof.EMPTY, pack: str | None = None):
    wf = analyze(parse(RULEFILE.replace('glob("raw/{s}.txt")', "[" + ", ".join(json.dumps(p) for p in PAYLOADS) + "]"), "Rulefile"), "/project")
    graph = resolve(wf, [], exists=lambda p: False)
    return bundle_mod.build(graph, list(graph.order), backend, profile, "/project/bundle",
                            pack=ir.Pack(jobs=int(pack), text=pack) if pack else None)


# --------------------------------------------------------------------------- the text

@pytest.mark.parametrize("backend, pack", RUNS, ids=RUN_IDS)
def test_no_line_of_a_bundle_is_a_payload_command(backend, pack):
    b = in_memory_bundle(backend, pack=pack)
    for rel, text in b.files.items():
        if rel == bundle_mod.MANIFEST:
            json.loads(text)  # JSON, never run: the payloads are escaped there
            continue
        for number, line in enumerate(text.split("\n"), 1):
            bare = line.strip()
            assert not bare.startswith(("touch PWNED", "sep", "end", "]", ".txt", ".log")), f"{rel}:{number}: {line!r}"
            assert "\r" not in line and "\x1b" not in line and "\u2028" not in line and "\u2029" not in line, f"{rel}:{number}"
            if rel.endswith(".tasks"):
                continue
            if "PWNED" in line:  # scripts: only in a directive or as quoted words (jbsub's flags, job ids)
                assert bare.startswith(("#SBATCH ", "#BSUB ", "start ", "jbsub ", "#   jbsub ")), f"{rel}:{number}: {line!r}"
    tables = [t for r, t in b.files.items() if r.endswith(".tasks")]
    assert sum(t.count("\n") for t in tables) == len(b.graph)  # one line a task
    assert all(len(t.splitlines()) == t.count("\n") for t in tables)  # no other line breaks either


def bash_words(text: str, env_extra: dict | None = None, cwd=None) -> list[bytes]:
    """What bash makes of ``eval "set -- TEXT"``, word by word (run in an empty folder with
    no PATH, so a payload that ran would fail loudly, not only leave a file)."""
    res = subprocess.run(
        ["/bin/bash", "-c", 'eval "set -- $1" && printf "%s\\0" "$@"', "bash", text],
        capture_output=True, env={"LC_ALL": "C", **(env_extra or {})}, cwd=cwd, timeout=10,
    )
    assert res.returncode == 0, res.stderr
    return res.stdout.split(b"\0")[:-1]


def encoded(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


@pytest.mark.parametrize("backend", BACKENDS)
def test_task_tables_decode_to_exactly_their_fields(backend, tmp_path):
    b = in_memory_bundle(backend)
    graph = b.graph
    renderers = bundle_mod.shell.renderers(graph)
    for array in b.layout.arrays:
        lines = b.files[f"{array.name}.tasks"].splitlines()
        assert len(lines) == len(array.jobs)
        for line, job in zip(lines, array.jobs):
            fields = [graph.job_id(job), bundle_mod.marker_name(graph.job_id(job)), b.logs[job], bundle_mod.task_command(graph, renderers, job),
                      str(len(graph.declared_outputs(job))), *graph.declared_outputs(job), *graph.logs(job)]
            assert bash_words(line, cwd=tmp_path) == [encoded(f) for f in fields]
    assert not pwned(tmp_path)


@pytest.mark.parametrize("text", [
    *PAYLOADS, "", "plain", "é ü ☃", "\x85next-line", "\udcff\udcfe not utf-8", "it's", "\\", "'", "$'x'", "a\x7fb",
])
def test_a_word_is_one_line_and_decodes_to_its_text_in_any_locale(text, tmp_path):
    w = bundle_mod.word(text)
    assert "\n" not in w and "\r" not in w and w.isprintable()
    for locale in ({"LC_ALL": "C"}, {"LC_ALL": "C.UTF-8"}):
        assert bash_words(w, locale, cwd=tmp_path) == [encoded(text)]
    assert not pwned(tmp_path)


def test_comment_text_has_no_control_characters():
    assert bundle_mod.comment("x\ntouch PWNED\r\x1b\u2028") == "x?touch PWNED???"


# --------------------------------------------------------------------------- running them

def emit(proj: Path, backend: str, pack: str | None = None) -> Path:
    assert main(["emit", f"--{backend}", str(proj), "-o", str(proj / "bundle"), "-q", *(["--pack", pack] if pack else [])]) == 0
    return proj / "bundle"


def run_task(bundle: Path, backend: str, array: str, task: int, umask: int | None = None) -> subprocess.CompletedProcess:
    """One task, as the scheduler runs it: SLURM and LSF run the array script from the bundle
    folder with the task's index in the environment; submit.sh runs `bash <array>.job.sh TASK`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "LSB_"))}
    if backend == "slurm":
        args, env["SLURM_ARRAY_TASK_ID"] = ["bash", f"{array}.sbatch"], str(task)
    elif backend == "lsf":
        args, env["LSB_JOBINDEX"] = ["bash", f"{array}.lsf"], str(task + 1)  # LSF counts from 1
    else:
        args = ["bash", str(bundle / f"{array}.job.sh"), str(task)]
    if umask is not None:
        args = ["bash", "-c", f'umask {umask:03o} && exec "$@"', "bash", *args]
    return subprocess.run(args, cwd=bundle, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("backend, pack", RUNS, ids=RUN_IDS)
def test_each_task_script_run_by_hand_runs_its_job_and_nothing_else(backend, pack, tmp_path):
    proj = plant(tmp_path / "p")
    bundle = emit(proj, backend, pack)
    m = json.loads((bundle / "manifest.json").read_text())
    for a in m["arrays"]:  # in dependency order
        for task in range(a["size"]):
            res = run_task(bundle, backend, a["name"], task)
            assert res.returncode == 0, res.stdout + res.stderr
    assert not pwned(tmp_path)
    expected(proj)
    for job, entry in m["jobs"].items():
        assert (bundle / entry["marker"]).read_text() == "0\n", repr(job)
    # the command scripts the tasks wrote: the job id in their comment has no newline left
    for script in (bundle / "jobs").rglob("*.sh"):
        first = script.read_bytes().split(b"\n", 1)[0]
        assert first.startswith(b"# ") and b"\r" not in first


@pytest.fixture
def shims(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("jbsub", FAKE_JBSUB), ("bsub", FAKE_BSUB)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_LOG": str(tmp_path / "calls.log")}


@pytest.mark.parametrize("backend, pack", [("lsf", None), ("jbsub", None), ("lsf", "3")], ids=["lsf", "jbsub", "lsf-packed"])
def test_lsf_and_jbsub_bundles_run_through_submit_sh_and_run_nothing_else(backend, pack, tmp_path, shims):
    proj = plant(tmp_path / "p")
    bundle = emit(proj, backend, pack)
    res = subprocess.run(["bash", str(bundle / "submit.sh")], env=shims, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert not pwned(tmp_path)
    expected(proj)
    if backend == "jbsub":
        assert "all 15 job(s) done" in res.stdout


def test_jbsub_flags_reach_jbsub_as_words(tmp_path):
    """The flag string's words (and a key holding odd characters) are quoted for the shell."""
    s = Settings(options=(("-require", "a;touch PWNED"), ("-note", "$(touch PWNED)"), ("-x\ny", True)))
    text = jbsub.flag_text(list(s.options))
    assert "\n" not in text
    assert bash_words(text, cwd=tmp_path) == [b"-require", b"a;touch PWNED", b"-note", b"$(touch PWNED)", b"-x\ny"]
    assert not pwned(tmp_path)


# --------------------------------------------------------------------------- settings

@pytest.mark.parametrize("table, key, shown", [
    ({"slurm": {"labels": {"gpu": {"partition": "gpu\n#SBATCH --uid=0"}}}}, "slurm.labels.gpu.partition", "a newline"),
    ({"slurm": {"account": "a\rb"}}, "slurm.account", "a carriage return"),
    ({"lsf": {"rules": {"copy": {"extra": "-x\n#BSUB -q root"}}}}, "lsf.rules.copy.extra", "a newline"),
    ({"jbsub": {"labels": {"gpu": {"flags": "-queue x86_1h\n-mem 1g"}}}}, "jbsub.labels.gpu.flags", "a newline"),
    ({"slurm": {"comment": "\x1b[31m"}}, "slurm.comment", "the control character U+001B"),
])
def test_a_profile_value_with_a_control_character_is_refused_naming_file_and_key(table, key, shown):
    with pytest.raises(prof.ProfileError) as info:
        prof.parse(table, "/somewhere/cluster.toml")
    text = info.value.message
    assert text.startswith(f"cluster.toml: {key}: the value ")
    assert f"holds {shown}" in text


def test_a_profile_key_with_a_newline_is_refused(tmp_path):
    path = tmp_path / "cluster.toml"
    path.write_text('[slurm.labels.gpu]\n"qos\\n#SBATCH --uid" = "x"\n')
    with pytest.raises(prof.ProfileError) as info:
        prof.load(str(path))
    assert info.value.message.startswith('cluster.toml: slurm.labels.gpu."qos\\n#SBATCH --uid": the key holds a newline')


def test_a_profile_file_with_an_escaped_newline_is_refused(tmp_path):
    path = tmp_path / "cluster.toml"
    path.write_text('[slurm.labels.gpu]\npartition = "gpu\\n#SBATCH --uid=0"\n')
    with pytest.raises(prof.ProfileError, match=r"^cluster.toml: slurm.labels.gpu.partition: the value 'gpu\\n#SBATCH --uid=0' holds a newline"):
        prof.load(str(path))


@pytest.mark.parametrize("backend, setting", [
    ("slurm", ("comment", "x\n#SBATCH --uid=0")),
    ("slurm", ("extra", "--exclusive\n#SBATCH --uid=0")),
    ("lsf", ("queue", "x\n#BSUB -q root")),
    ("jbsub", ("flags", "-queue x86_1h '-x\ntouch PWNED' y")),
])
def test_a_directive_never_holds_a_control_character(backend, setting):
    """Settings that did not come through `rulec check` or a profile file (a Profile built by
    hand): the option is refused, not written as two lines."""
    layer = prof.Layer((setting,), "by hand")
    profile = prof.Profile(None, {backend: prof.BackendProfile(top=layer)})
    with pytest.raises(BackendError, match="holds a newline"):
        in_memory_bundle(backend, profile)


def test_an_array_name_that_is_not_a_plain_name_is_refused():
    b = in_memory_bundle("slurm")
    a = b.layout.arrays[0]
    bad = Array(a.index, "copy\ntouch PWNED", a.rule, a.jobs, a.settings)
    with pytest.raises(BackendError):
        bundle_mod.check_name(bad)


# --------------------------------------------------------------------------- umask 000

def modes(root: Path) -> dict[str, int]:
    out = {}
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(d, name)
            out[os.path.relpath(p, root)] = stat.S_IMODE(os.lstat(p).st_mode)
    return out


@pytest.mark.parametrize("backend, pack", RUNS, ids=RUN_IDS)
def test_under_umask_000_nothing_in_a_bundle_is_writable_by_others(backend, pack, tmp_path):
    proj = plant(tmp_path / "p")
    old = os.umask(0)
    try:
        assert main(["emit", f"--{backend}", str(proj), "-o", str(proj / "new" / "deeper" / "bundle"), "-q",
                     *(["--pack", pack] if pack else [])]) == 0
    finally:
        os.umask(old)
    bundle = proj / "new" / "deeper" / "bundle"
    found = modes(proj / "new")
    assert found and not {p: oct(m) for p, m in found.items() if m & 0o022}
    script = {"slurm": "copy.sbatch", "lsf": "copy.lsf", "jbsub": "copy.job.sh"}[backend]
    assert found["deeper"] == found["deeper/bundle"] == 0o755
    assert found[f"deeper/bundle/{script}"] == found["deeper/bundle/submit.sh"] == 0o755
    assert found["deeper/bundle/copy.tasks"] == found["deeper/bundle/manifest.json"] == 0o644

    # what a task writes into the bundle when it runs under umask 000: no group/other write
    # either (its command's own files keep the job's umask, as in a local run)
    m = json.loads((bundle / "manifest.json").read_text())
    for a in m["arrays"]:
        for task in range(a["size"]):
            res = run_task(bundle, backend, a["name"], task, umask=0)
            assert res.returncode == 0, res.stdout + res.stderr
    written = {p: oct(m) for p, m in modes(bundle).items() if m & 0o022}
    assert not written, written
    assert stat.S_IMODE((proj / "logs").stat().st_mode) == 0o777  # the job's umask, untouched
    expected(proj)


@pytest.mark.parametrize("backend", ["lsf", "jbsub"])
def test_submit_sh_under_umask_000_makes_nothing_writable_by_others(backend, tmp_path, shims):
    proj = plant(tmp_path / "p")
    bundle = emit(proj, backend)
    res = subprocess.run(["bash", "-c", 'umask 000 && bash "$1"', "bash", str(bundle / "submit.sh")],
                         env=shims, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    # logs/ holds what the scheduler writes for each task (never run); the rest is rulec's
    written = {p: oct(m) for p, m in modes(bundle).items() if m & 0o022 and not p.startswith("logs/")}
    assert not written, written


def test_a_bundle_over_an_old_one_is_written_fresh(tmp_path):
    """A previous bundle's files (whatever their mode, or a link put in their place) are
    replaced, not written through."""
    proj = plant(tmp_path / "p")
    bundle = emit(proj, "slurm")
    (bundle / "copy.tasks").chmod(0o666)
    outside = tmp_path / "outside"
    outside.write_text("keep\n")
    (bundle / "submit.sh").unlink()
    (bundle / "submit.sh").symlink_to(outside)
    emit(proj, "slurm")
    assert outside.read_text() == "keep\n"
    assert not (bundle / "submit.sh").is_symlink()
    assert stat.S_IMODE((bundle / "copy.tasks").stat().st_mode) & 0o022 == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_secret_of_the_environment_reaches_a_bundle(backend, tmp_path, monkeypatch):
    """A bundle holds commands, not the submitter's environment: credentials set where
    `rulec emit` runs (AWS keys, tokens) appear in no file of it; jobs get theirs from the
    environment they run in."""
    secrets = {"AWS_SECRET_ACCESS_KEY": "s3cr3t-aws-key-93f1", "GITHUB_TOKEN": "ghp_tok3n_77ab", "MY_PASSWORD": "hunter2-xq9"}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    bundle = emit(plant(tmp_path / "p"), backend)
    for path in bundle.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for value in secrets.values():
                assert value.encode() not in data, f"{value} in {path}"
