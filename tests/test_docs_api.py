"""docs/api.md cannot rot: its example runs in a fresh folder holding a copy of
examples/datasets_models, and its error example prints exactly what the page says; the
README's Python example runs too."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from pathlib import Path

import rulec

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "api.md"
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```\s*$", re.S | re.M)


def blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(DOC.read_text(encoding="utf-8"))]


def _copy_example(where: Path) -> None:
    shutil.copytree(ROOT / "examples" / "datasets_models", where / "examples" / "datasets_models",
                    ignore=shutil.ignore_patterns("bld", "logs", ".rulec", "__pycache__"))


def test_the_example_runs(tmp_path, monkeypatch):
    (code,) = [text for kind, text in blocks() if kind == "python"]
    _copy_example(tmp_path)
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    scope: dict = {}
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(DOC), "exec"), scope)
    printed = out.getvalue()
    assert scope["report"].ok
    assert (tmp_path / "examples" / "datasets_models" / "bld" / "report.md").is_file()
    assert scope["bundle"] == str(tmp_path / "bundle") and (tmp_path / "bundle" / "submit.sh").is_file()
    # what the comments say it prints
    for line in ["20 to run, 0 up to date", "{'dataset': 'data_0', 'model': 'logistic_model'}", "Why.OUTPUT_MISSING",
                 "['output missing: bld/estimation/data_0_logistic_model.json']",
                 "Status.SUCCEEDED 0 logs/estimate/data_0_logistic_model.log", "['summarize[logistic_model]']",
                 "['input changed since the last run: bld/summary/logistic_model.csv']"]:
        assert line in printed.splitlines(), line
        assert line in code


def test_the_error_example_prints_what_the_page_says(tmp_path, monkeypatch):
    found = blocks()
    kinds = [kind for kind, _ in found]
    i = kinds.index("python-error")
    assert kinds[i - 1] == "rulefile-broken" and kinds[i + 1] == "text"
    (tmp_path / "Rulefile").write_text(found[i - 1][1])
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(found[i][1], str(DOC), "exec"), {"rulec": rulec})
    assert out.getvalue() == found[i + 1][1]


def test_the_readmes_python_example_runs(tmp_path, monkeypatch):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    (code,) = [m.group(2) for m in FENCE.finditer(text) if m.group(1) == "python"]
    _copy_example(tmp_path)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["report"].ok and len(scope["report"].jobs) == len(scope["plan"]) == 20


def test_every_public_name_is_documented():
    text = DOC.read_text(encoding="utf-8")
    for name in rulec.__all__:
        if name != "__version__":
            assert f"rulec.{name}" in text, name


def test_quiet_runs_print_what_the_page_says(tmp_path, monkeypatch, capsys):
    text = " ".join(DOC.read_text(encoding="utf-8").split())
    assert ("`quiet=True` (the default) prints what `rulec run -q` prints: the one-line summary on standard output "
            "(`Done: 7 job(s) ran.`, or `Nothing to do: all 7 jobs are up to date.`) and, when jobs fail, each "
            "failure and their summary on standard error.") in text
    assert "only a failure's summary is printed" not in text
    from rulec.commands import init

    init.main(str(tmp_path))  # the starter project: 7 jobs
    capsys.readouterr()
    wf = rulec.load(tmp_path)
    assert wf.run().ok
    assert capsys.readouterr() == ("Done: 7 job(s) ran.\n", "")
    assert wf.run().ok
    assert capsys.readouterr() == ("Nothing to do: all 7 jobs are up to date.\n", "")
    (tmp_path / "failing").mkdir()
    (tmp_path / "failing" / "Rulefile").write_text('rule x:\n    output: "x.txt"\n    shell: "exit 3"\n')
    report = rulec.load(tmp_path / "failing").run()
    out, err = capsys.readouterr()
    assert not report.ok and out == ""
    assert "FAILED x: exit status 3" in err and "1 job(s) failed" in err
