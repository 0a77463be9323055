"""The rendered bundles, compared with golden files (tests/golden/<backend>/<case>.txt, every
file of the bundle in one text, ``==> path <==`` before each). Regenerate after an intended
change with ``RULEC_UPDATE_GOLDEN=1 python -m pytest tests/test_bundle_golden.py`` and
review the diff.

The Rulefile covers every directive: cpus, mem, time, gpus, partition, account, qos,
constraint, gres, extra flags, other options, the label's limit, arrays split at a small
MaxArraySize, aftercorr and afterok dependencies, multi-line commands, odd characters in
paths; a profile case shows profile settings overriding the Rulefile's. LSF and jbsub
cannot run here: these golden files are their tests.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from rulec import ir
from rulec import profile as prof
from rulec.analyze import analyze
from rulec.bundle import files as bundle_mod
from rulec.dag import resolve
from rulec.syntax import parse

GOLDEN = Path(__file__).parent / "golden"
WORKDIR = "/project"
BUNDLE = "/project/bundle"

RULEFILE = '''
dimension dataset = ["d0", "d1", "d2"]
dimension model = ["lin", "tree"]

rule all:
    input: expand("out/{model}.csv"), "report.txt"

rule prepare:
    output: "data/{dataset}.csv"
    shell: "echo {dataset} > {output}"

rule fit:
    input: "data/{dataset}.csv"
    output: "fit/{dataset}_{model}.json"
    log: "logs/fit/{dataset}_{model}.log"
    resources: cpus=4, mem="8G", time="1d2h30m", gpus=1
    label: gpu
    shell: """
        cat {input} > {output}
        echo "model {model}: it's fitted" >> {output}
    """

rule score:
    input: "fit/{dataset}_{model}.json"
    output: "score/{dataset} {model}.txt"
    resources: time="90s", mem="500M"
    label: cheap
    shell: "wc -c < {input} > {output}"

rule summarize:
    input: expand("score/{dataset} {model}.txt")
    output: "out/{model}.csv"
    shell: "cat {input} > {output}"

rule report:
    input: expand("out/{model}.csv")
    output: "report.txt"
    resources: cpus=2, gpus=2, time="45m"
    shell: "cat {input} > {output}"

label gpu:
    limit: 2
    slurm: partition="gpu", account="proj", qos="high", constraint="a100", gres="gpu:a100:1", mail_type="END", extra="--exclusive --comment=golden"
    lsf: queue="gpu", project="proj", extra="-x"
    jbsub: "-queue x86_6h -cores 4+1 -mem 16g -require a100"

label cheap:
    limit: 10
    slurm: partition="short"
    lsf: queue="short"
    jbsub: "-proj cheap"
'''

PROFILE = {
    "slurm": {
        "account": "cluster_b",
        "labels": {"gpu": {"partition": "gpu_b", "gres": "gpu:v100:1", "extra": False, "qos": False}},
        "rules": {"fit": {"time": "2h", "mem": "16G", "array_limit": 1}, "report": {"gpus": 0, "nodelist": "n01"}},
    },
    "lsf": {
        "project": "cluster_b",
        "labels": {"gpu": {"queue": "gpu_b", "extra": False}},
        "rules": {"fit": {"time": "2h", "mem": "16G"}},
    },
    "jbsub": {
        "limit": 20,
        "labels": {"gpu": {"flags": "-queue x86_24h -require v100"}},
        "rules": {"fit": {"mem": "32G"}},
    },
}


def make_bundle(backend: str, profile=prof.EMPTY, max_size: int = 4, pack=None):
    wf = analyze(parse(RULEFILE, "Rulefile"), WORKDIR)
    graph = resolve(wf, (), exists=lambda p: False)
    run = [j for j in graph.order if graph.rule_of(j).shell is not None]
    return bundle_mod.build(graph, run, backend, profile, BUNDLE, max_size, pack=pack)


# --pack 2: fit's packs of two models line up with prepare's tasks (aftercorr), score's with
# fit's; each packed task asks for its jobs' time, one after another
PACK = ir.Pack(jobs=2, text="2")
# score's tasks get the cores of two jobs (two at once: the memory of two, the time of one
# round); the profile unpacks prepare and packs summarize's two jobs together
PACK_PROFILE = {
    "slurm": {"rules": {"score": {"cpus_per_task": 2}, "prepare": {"pack": 1}, "summarize": {"pack": 5}}},
    "lsf": {"rules": {"score": {"n": 2}, "prepare": {"pack": 1}, "summarize": {"pack": 5}}},
}


def as_text(bundle) -> str:
    return "".join(f"==> {path} <==\n{text}" for path, text in bundle.files.items())


CASES = [
    ("slurm", "directives", prof.EMPTY),
    ("slurm", "profile", prof.parse(PROFILE, "cluster.toml")),
    ("lsf", "directives", prof.EMPTY),
    ("lsf", "profile", prof.parse(PROFILE, "cluster.toml")),
    ("jbsub", "directives", prof.EMPTY),
    ("jbsub", "profile", prof.parse(PROFILE, "cluster.toml")),
    ("slurm", "packed", prof.EMPTY),
    ("lsf", "packed", prof.EMPTY),
    ("slurm", "packed_wide", prof.parse(PACK_PROFILE, "cluster.toml")),
    ("lsf", "packed_wide", prof.parse(PACK_PROFILE, "cluster.toml")),
]


@pytest.mark.parametrize("backend, case, profile", CASES, ids=[f"{b}-{c}" for b, c, _ in CASES])
def test_golden(backend, case, profile):
    text = as_text(make_bundle(backend, profile, pack=PACK if case.startswith("packed") else None))
    path = GOLDEN / backend / f"{case}.txt"
    if os.environ.get("RULEC_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run with RULEC_UPDATE_GOLDEN=1 to create it"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{backend} bundle differs from {path}; if intended, regenerate with RULEC_UPDATE_GOLDEN=1"


# --------------------------------------------------------------------------- what the goldens must show

def script(backend, name, profile=prof.EMPTY):
    return make_bundle(backend, profile).files[name]


def test_slurm_directives():
    fit = script("slurm", "fit-1.sbatch")
    for line in [
        "#SBATCH --job-name=rulec-fit",
        "#SBATCH --array=0-3%2",
        "#SBATCH --output=logs/fit-1_%A_%a.out",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --mem=8192M",
        "#SBATCH --time=1-02:30:00",
        "#SBATCH --partition=gpu",
        "#SBATCH --account=proj",
        "#SBATCH --qos=high",
        "#SBATCH --constraint=a100",
        "#SBATCH --gres=gpu:a100:1",
        "#SBATCH --mail-type=END",
        "#SBATCH --kill-on-invalid-dep=yes",
        "#SBATCH --exclusive --comment=golden",
    ]:
        assert line + "\n" in fit, line
    assert "--gres=gpu:1" not in fit  # the label's gres wins over gpus=1
    report = script("slurm", "report.sbatch")
    assert "#SBATCH --gres=gpu:2\n" in report and "#SBATCH --time=00:45:00\n" in report
    assert "#SBATCH --array=0-0\n" in report
    score = script("slurm", "score-1.sbatch")
    assert "#SBATCH --time=00:02:00\n" in score  # 90 s rounds up to 2 minutes
    assert "#SBATCH --array=0-3\n" in score  # limit 10 >= 4 tasks: no throttle


def test_slurm_dependencies():
    submit = script("slurm", "submit.sh")
    assert 'submit score-1 4 --dependency="aftercorr:${id[fit-1]}"\n' in submit
    assert 'submit score-2 2 --dependency="aftercorr:${id[fit-2]}"\n' in submit
    assert 'submit fit-1 4 --dependency="afterok:${id[prepare]}"\n' in submit
    assert 'submit summarize 2 --dependency="afterok:${id[score-1]}:${id[score-2]}"\n' in submit
    assert "submit prepare 3\n" in submit


def test_slurm_profile_overrides():
    p = prof.parse(PROFILE, "cluster.toml")
    fit = script("slurm", "fit-1.sbatch", p)
    assert "--partition=gpu_b" in fit and "--gres=gpu:v100:1" in fit and "--account=proj" in fit
    assert "--qos" not in fit and "--exclusive" not in fit
    assert "--time=02:00:00" in fit and "--mem=16384M" in fit and "--array=0-3%1" in fit
    prepare = script("slurm", "prepare.sbatch", p)
    assert "--account=cluster_b" in prepare  # the profile's cluster-wide default
    report = script("slurm", "report.sbatch", p)
    assert "--gres" not in report and "--nodelist=n01" in report


def test_lsf_directives():
    fit = script("lsf", "fit-1.lsf")
    for line in ['#BSUB -J "rulec-fit[1-4]%2"', "#BSUB -o logs/fit-1_%J_%I.out", "#BSUB -n 4", '#BSUB -R "span[hosts=1]"',
                 '#BSUB -R "rusage[mem=8192]"', "#BSUB -W 26:30", '#BSUB -gpu "num=1"', "#BSUB -q gpu", "#BSUB -P proj", "#BSUB -x"]:
        assert line + "\n" in fit, line
    assert "task=$((${LSB_JOBINDEX:?" in fit
    submit = script("lsf", "submit.sh")
    assert 'submit score-1 4 -ti -w "done(${id[fit-1]}[*])"\n' in submit
    assert 'submit summarize 2 -ti -w "done(${id[score-1]}) && done(${id[score-2]})"\n' in submit
    assert "bsub \"$@\" <\"$name.lsf\"" in submit


def test_jbsub_waves_and_flags():
    submit = script("jbsub", "submit.sh")
    assert "jbsub -queue x86_6h -cores 4+1 -mem 16g -require a100 -name rulec-fit" in submit
    assert "jbsub -cores 1 -mem 1g -queue x86_1h -proj cheap -name rulec-score" in submit
    assert "# wave 1: 3 job(s)" in submit and "# wave 5: 1 job(s)" in submit
    assert "limit=2 running=0  # label gpu: at most 2 at once" in submit
    # no arrays: no chunks; the job and its dependencies, each with its marker's name
    assert "start fit 0 'fit[d0,lin]' fit.d0,lin 'prepare[d0]' prepare.d0" in submit
    assert "-wait bash" in submit


def test_task_tables_hold_one_line_per_task():
    b = make_bundle("slurm")
    lines = b.files["score-1.tasks"].splitlines()
    assert len(lines) == 4
    assert shell_words(lines[0]) == ["score[d0,lin]", "score.d0,lin", ".rulec/logs/score/score.d0,lin.log",
                                     "wc -c < fit/d0_lin.json > 'score/d0 lin.txt'", "1", "score/d0 lin.txt"]
    fit = b.files["fit-1.tasks"].splitlines()[0]
    # a multi-line command stays on one line, and comes back exactly
    assert fit.startswith("'fit[d0,lin]' fit.d0,lin logs/fit/d0_lin.log $'cat data/d0.csv > fit/d0_lin.json\\necho")
    assert shell_words(fit) == ["fit[d0,lin]", "fit.d0,lin", "logs/fit/d0_lin.log",
                                "cat data/d0.csv > fit/d0_lin.json\necho \"model lin: it's fitted\" >> fit/d0_lin.json",
                                "1", "fit/d0_lin.json", "logs/fit/d0_lin.log"]
    assert not [f for f in b.files if f.startswith("jobs/")]  # written when the task runs
    assert '"workdir": ".."' in b.files["manifest.json"]
    assert 'cd "$bundle"/.. || exit 2' in b.files["fit-1.sbatch"]


def shell_words(line: str) -> list[str]:
    """What the task wrapper's ``eval "set -- $line"`` gives."""
    import subprocess

    script = 'eval "set -- $1"; for a in "$@"; do printf "%s\\0" "$a"; done'
    out = subprocess.run(["bash", "-c", script, "bash", line], capture_output=True, check=True).stdout
    return out.decode().split("\0")[:-1]


def test_word_quoting_keeps_one_line():
    w = bundle_mod.word
    assert w("plain/path_1.txt") == "plain/path_1.txt"
    assert w("a b") == "'a b'"
    assert w("it's") == "'it'\\''s'"
    assert w("two\nlines") == "$'two\\nlines'"
    assert w("tab\there") == "$'tab\\there'"
    assert w("bad\udcffbyte") == "$'bad\\xffbyte'"
    assert w("x[1]") == "'x[1]'"  # no glob
    assert w("") == "''"


def test_word_round_trips_through_bash(tmp_path):
    import subprocess

    samples = ["a b", "it's", "two\nlines", "tab\there", "$HOME `x` $(y)", "x[1]*?", "", "ünïcode", "back\\slash"]
    line = " ".join(bundle_mod.word(s) for s in samples)
    assert "\n" not in line
    assert shell_words(line) == samples


# --------------------------------------------------------------------------- determinism, via the CLI

def tree_digest(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.rglob("*")) if p.is_file()}


def test_emit_is_deterministic(tmp_path, capsys):
    from rulec.cli import main

    (tmp_path / "Rulefile").write_text(RULEFILE)
    for name in ("a", "b"):
        assert main(["emit", "--slurm", str(tmp_path), "-o", str(tmp_path / name)]) == 0
    first = tree_digest(tmp_path / "a")
    assert first == tree_digest(tmp_path / "b")  # two folders in the project: the same bytes
    assert main(["emit", "--slurm", str(tmp_path), "-o", str(tmp_path / "a")]) == 0
    assert tree_digest(tmp_path / "a") == first  # again into the same folder
    assert "manifest.json" in first and "submit.sh" in first and "fit.tasks" in first
    out = capsys.readouterr().out
    assert "5 array(s), 18 task(s), 5 sbatch call(s)" in out


def test_emit_lsf_and_jbsub_cli(tmp_path, capsys):
    from rulec.cli import main

    (tmp_path / "Rulefile").write_text(RULEFILE)
    assert main(["emit", "--lsf", str(tmp_path), "-o", str(tmp_path / "l")]) == 0
    assert main(["emit", "--jbsub", str(tmp_path), "-o", str(tmp_path / "j")]) == 0
    assert (tmp_path / "l" / "fit.lsf").exists() and (tmp_path / "j" / "fit.job.sh").exists()
    out = capsys.readouterr().out
    assert "bsub call(s)" in out and "18 jbsub call(s)" in out


def test_emit_refuses_to_overwrite_a_folder_that_is_not_a_bundle(tmp_path, capsys):
    from rulec.cli import main

    (tmp_path / "Rulefile").write_text(RULEFILE)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert main(["emit", "--slurm", str(tmp_path), "-o", str(tmp_path / "mine")]) == 2
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    assert "not a rulec bundle" in capsys.readouterr().err


def test_emit_default_folder_and_profile(tmp_path, monkeypatch, capsys):
    from rulec.cli import main

    (tmp_path / "Rulefile").write_text(RULEFILE)
    (tmp_path / "cluster.toml").write_text('[slurm.labels.gpu]\npartition = "gpu_b"\n')
    monkeypatch.chdir(tmp_path)
    assert main(["emit", "--slurm", "--profile", "cluster.toml"]) == 0
    assert "--partition=gpu_b" in (tmp_path / "rulec-slurm" / "fit.sbatch").read_text()
    # nothing to do: nothing written
    for rel in ["data", "fit", "score", "out"]:
        (tmp_path / rel).mkdir()
    for d in ["d0", "d1", "d2"]:
        (tmp_path / "data" / f"{d}.csv").write_text(d)
        for m in ["lin", "tree"]:
            (tmp_path / "fit" / f"{d}_{m}.json").write_text("x")
            (tmp_path / "score" / f"{d} {m}.txt").write_text("x")
    (tmp_path / "logs" / "fit").mkdir(parents=True)
    for d in ["d0", "d1", "d2"]:
        for m in ["lin", "tree"]:
            (tmp_path / "logs" / "fit" / f"{d}_{m}.log").write_text("")
    for m in ["lin", "tree"]:
        (tmp_path / "out" / f"{m}.csv").write_text("x")
    (tmp_path / "report.txt").write_text("x")
    capsys.readouterr()
    assert main(["emit", "--slurm", "-o", "again"]) == 0
    assert "Nothing to do" in capsys.readouterr().out
    assert not (tmp_path / "again").exists()


# --------------------------------------------------------------------------- remote paths

REMOTE = '''
rule all:
    input: "s3://results/out/a.txt"

rule fetch:
    input: "s3://lab/raw/a.txt", "src/local.txt"
    output: "s3://results/out/a.txt", "bld/a.sum"
    shell: "cat {input} > {output[0]}; wc -c < {input[0]} > {output[1]}"
'''


@pytest.mark.parametrize("backend", ["slurm", "lsf", "jbsub"])
def test_tasks_with_remote_paths_fetch_run_on_local_copies_and_upload(backend, monkeypatch):
    import shlex
    import sys

    wf = analyze(parse(REMOTE, "Rulefile"), WORKDIR)
    graph = resolve(wf, (), exists=lambda p: p == "src/local.txt")
    run = [j for j in graph.order if graph.rule_of(j).shell is not None]
    tasks = bundle_mod.build(graph, run, backend, prof.EMPTY, BUNDLE).files["fetch.tasks"]
    # read the line as the task does (eval "set -- $line")
    import subprocess

    out = subprocess.run(["bash", "-c", 'eval "set -- $1"; printf "%s\\0" "$@"', "-", tasks.rstrip("\n")],
                         capture_output=True, text=True, check=True).stdout
    fields = out.split("\0")[:-1]
    job, key, log, command, n_out, *outputs = fields
    assert (job, n_out) == ("fetch", "2")
    assert outputs == [".rulec/remote/s3/results/out/a.txt", "bld/a.sum"]  # checked and removed by the task
    py = shlex.quote(sys.executable)
    assert command.splitlines() == [
        f"{py} -m rulec.storage get s3://lab/raw/a.txt",
        f"{py} -m rulec.storage rm s3://results/out/a.txt",
        "cat .rulec/remote/s3/lab/raw/a.txt src/local.txt > .rulec/remote/s3/results/out/a.txt; "
        "wc -c < .rulec/remote/s3/lab/raw/a.txt > bld/a.sum",
        f"{py} -m rulec.storage put s3://results/out/a.txt",
    ]


# --------------------------------------------------------------------------- output kinds, local rules

KINDS = '''
rule all:
    input: "report.txt", "done.flag"

rule download:
    output: "raw.txt"
    local: true
    shell: "echo raw > {output}"

rule tidy:
    input: "raw.txt"
    output: temp("tidy.txt")
    shell: "cat {input} > {output}"

rule fit:
    input: "tidy.txt"
    output: protected("model.txt"), touch("done.flag")
    shell: "cat {input} > {output[0]}"

rule report:
    input: "model.txt"
    output: "report.txt"
    shell: "cat {input} > {output}"
'''


def kinds_bundle(backend: str, text: str = KINDS, followed: bool = False):
    wf = analyze(parse(text, "Rulefile"), WORKDIR)
    graph = resolve(wf, (), exists=lambda p: False)
    run = [j for j in graph.order if graph.rule_of(j).shell is not None]
    return bundle_mod.build(graph, run, backend, prof.EMPTY, BUNDLE, 4, followed=followed)


@pytest.mark.parametrize("backend", ["slurm", "lsf"])
def test_a_local_rule_is_left_out_of_the_arrays_and_run_first_by_submit_sh(backend):
    b = kinds_bundle(backend)
    assert [a.name for a in b.layout.arrays] == ["tidy", "fit", "report"]
    assert "download.local.sh" in b.files and b.files["download.tasks"].startswith("download ")
    submit = b.files["submit.sh"]
    assert submit.index("run_local download 0 download") < submit.index("submit tidy 1")
    manifest = json.loads(b.files["manifest.json"])
    assert manifest["jobs"]["download"]["local"] is True
    assert manifest["local"] == [{"name": "download", "rule": "download", "script": "download.local.sh",
                                  "tasks": "download.tasks", "size": 1}]
    assert len(manifest["arrays"]) == 3  # what submit.sh submits, and jobids lists


def test_task_scripts_carry_the_rules_output_kinds():
    b = kinds_bundle("slurm")
    fit = b.files["fit.sbatch"]
    assert 'touch -- "${outputs[1]}" || rc=1' in fit
    assert 'chmod -R a-w -- "${outputs[0]}" || rc=1' in fit
    assert "refuse_protected \"${outputs[0]}\" 'protected() in Rulefile:17:13'" in fit
    assert "refuse_protected" not in b.files["report.sbatch"] and "touch --" not in b.files["report.sbatch"]
    # the touch marker is made before the outputs are checked, the chmod after
    assert fit.index("touch --") < fit.index("did not create") < fit.index("chmod -R a-w")


def test_the_readme_says_what_the_bundle_does_with_kinds_and_local_jobs():
    readme = kinds_bundle("slurm").files["README.md"]
    assert "temp() files are not deleted" in readme and "`tidy.txt`" in readme
    assert "protected() outputs** are made read-only" in readme and "touch() outputs** are created" in readme
    assert "local: true jobs** (1, of download) run in submit.sh" in readme
    # a bundle followed by rulec run (it deletes temp files, runs local jobs): no README
    followed = kinds_bundle("slurm", KINDS.replace("    local: true\n", ""), followed=True)
    assert "README.md" not in followed.files
    assert "README.md" not in make_bundle("slurm").files  # nothing to say


def test_a_local_job_after_a_cluster_job_cannot_be_emitted():
    from rulec.errors import BackendError

    text = KINDS.replace("    local: true\n", "").replace('    output: "report.txt"\n', '    output: "report.txt"\n    local: true\n')
    with pytest.raises(BackendError) as info:
        kinds_bundle("slurm", text)
    assert str(info.value).startswith("rule report is local: true, and its job report needs fit, which runs on the cluster")
    b = kinds_bundle("jbsub", text)  # jbsub's submit.sh stays alive: it runs it in its waves
    assert 'submit_report() {  # local: true: run here, not through jbsub' in b.files["submit.sh"]
