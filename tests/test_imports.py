"""Third-party libraries stay in their rooms, and start-up imports none of them.

Rooms (docs/architecture.md): lark only in rulec/syntax/; fsspec only in rulec/storage.py;
jinja2 only in rulec/bundle/render.py; rich only in rulec/report.py, rulec/cli.py and
rulec/run/progress.py; plumbum only in rulec/executors/; yaml (PyYAML) only in rulec/config.py. Every import
statement counts, including the lazy ones inside functions.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "rulec"

ROOMS: dict[str, tuple[str, ...]] = {
    "lark": ("syntax/",),
    "fsspec": ("storage.py",),
    "jinja2": ("bundle/render.py",),
    "rich": ("report.py", "cli.py", "run/progress.py"),
    "plumbum": ("executors/",),
    "yaml": ("config.py",),
}
HEAVY = tuple(ROOMS)


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def imports_of(path: Path) -> list[tuple[str, int]]:
    """Top-level package names this file imports (absolute imports only), with line numbers."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name.split(".")[0], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module.split(".")[0], node.lineno))
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__" and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.append((arg.value.split(".")[0], node.lineno))
    return found


def _allowed(rel: str, library: str) -> bool:
    return any(rel == room or (room.endswith("/") and rel.startswith(room)) for room in ROOMS[library])


def test_the_package_is_found():
    rels = {p.relative_to(PACKAGE).as_posix() for p in _modules()}
    assert {"cli.py", "analyze.py", "syntax/parser.py"} <= rels


def test_third_party_imports_stay_in_their_rooms():
    wrong = []
    for path in _modules():
        rel = path.relative_to(PACKAGE).as_posix()
        for name, line in imports_of(path):
            if name in ROOMS and not _allowed(rel, name):
                wrong.append(f"rulec/{rel}:{line}: imports {name} (allowed only in {', '.join(ROOMS[name])})")
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_lazy_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\ndef f():\n    from rich.table import Table\n    import lark.lexer, json\n    __import__('jinja2')\n")
    assert imports_of(sample) == [("os", 1), ("rich", 3), ("lark", 4), ("json", 4), ("jinja2", 5)]


def _loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_importing_the_cli_imports_no_heavy_library():
    assert _loaded_after("import rulec.cli") == []


def test_help_imports_no_heavy_library():
    code = "import contextlib, io, rulec.cli\nwith contextlib.redirect_stdout(io.StringIO()):\n    try:\n        rulec.cli.main(['--help'])\n    except SystemExit:\n        pass"
    assert _loaded_after(code) == []


def test_importing_rulec_imports_nothing_else():
    """``import rulec`` is cheap: the API's names are loaded when first used."""
    probe = "import rulec, sys\nprint(' '.join(sorted(m for m in sys.modules if m.startswith('rulec'))))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["rulec"]
    assert _loaded_after("import rulec\nrulec.RulecError, rulec.Why, rulec.Outcome, rulec.Workflow") == []


def test_loading_a_workflow_from_python_needs_only_lark(tmp_path):
    (tmp_path / "Rulefile").write_text('dimension m = ["a"]\nrule all:\n    input: expand("x/{m}.txt")\nrule x:\n    output: "x/{m}.txt"\n    shell: "touch {output}"\n')
    assert _loaded_after(f"import rulec\nrulec.load({str(tmp_path)!r}).plan()") == ["lark"]


@pytest.mark.parametrize("module", ["rulec.analyze", "rulec.ir", "rulec.pattern", "rulec.dag", "rulec.syntax", "rulec.errors", "rulec.source"])
def test_the_front_end_imports_no_heavy_library(module):
    # lark is imported when a Rulefile is really parsed, not when the module is imported
    assert _loaded_after(f"import {module}") == []


def test_check_of_a_local_rulefile_needs_no_jinja2_fsspec_or_plumbum(tmp_path):
    (tmp_path / "Rulefile").write_text('dimension m = ["a"]\nrule all:\n    input: expand("x/{m}.txt")\nrule x:\n    output: "x/{m}.txt"\n    shell: "touch {output}"\n')
    code = f"import contextlib, io, rulec.cli\nwith contextlib.redirect_stdout(io.StringIO()):\n    rulec.cli.main(['check', {str(tmp_path)!r}])"
    assert set(_loaded_after(code)) <= {"lark", "rich"}


# Standard modules a dry run of a project without a state store does not need: each is a few
# milliseconds of every start (OpenSSL for hashlib, SQLite, pathlib, the profile and config readers,
# typing, shutil with its compression modules, difflib).
NOT_AT_START = ("_hashlib", "sqlite3", "pathlib", "rulec.profile", "rulec.config", "typing", "shutil", "difflib")


def test_a_dry_run_without_a_store_imports_no_needless_module(tmp_path):
    (tmp_path / "Rulefile").write_text('dimension m = ["a"]\nrule all:\n    input: expand("x/{m}.txt")\nrule x:\n    output: "x/{m}.txt"\n    shell: "touch {output}"\n')
    probe = (f"import sys\nbefore = set(sys.modules)\nimport contextlib, io, os, rulec.cli\nos.chdir({str(tmp_path)!r})\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n    rulec.cli.main(['dryrun', '-q'])\n"
             f"print(' '.join(m for m in {NOT_AT_START!r} if m in sys.modules and m not in before))")
    env = {**os.environ, "RULEC_CACHE_DIR": str(tmp_path / "cache")}
    for _ in range(2):  # the first run parses with lark (which uses hashlib) and fills the caches
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, env=env)
        assert out.returncode == 0, out.stderr
    assert out.stdout.split() == []  # the second reads them
    assert not (tmp_path / ".rulec").exists()


# Standard modules a local run does not need: each costs its start a few milliseconds
# (_hashlib loads OpenSSL). Long commands' script files use hashlib, config files tempfile.
NOT_IN_A_RUN = ("_hashlib", "socket", "typing", "tempfile", "shutil", "pathlib", "difflib")


def test_a_local_run_imports_no_needless_module(tmp_path):
    (tmp_path / "Rulefile").write_text('dimension m = ["a", "b"]\nrule all:\n    input: expand("y/{m}.txt")\n'
                                       'rule x:\n    output: "x/{m}.txt"\n    shell: "echo {m} > {output}"\n'
                                       'rule y:\n    input: "x/{m}.txt"\n    output: "y/{m}.txt"\n    shell: "cp {input} {output}"\n')
    probe = (f"import sys\nbefore = set(sys.modules)\nimport contextlib, io, os, rulec.cli\nos.chdir({str(tmp_path)!r})\n"
             "os.system('rm -rf x y .rulec')\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n    code = rulec.cli.main(['run', '-q'])\n"
             f"print(code, ' '.join(m for m in {NOT_IN_A_RUN!r} if m in sys.modules and m not in before))")
    # -S: without site's .pth files (an editable install's finder, a developer's tools),
    # which may have imported any of them before rulec starts
    import sysconfig

    path = os.pathsep.join([str(PACKAGE.parent), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    env = {**os.environ, "RULEC_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": path}
    for _ in range(2):  # the first run parses with lark (which uses hashlib) and fills the caches
        out = subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True, text=True, timeout=60, env=env)
        assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0"]  # the second reads them, runs the four jobs, and needs none of them
    assert (tmp_path / "y" / "b.txt").read_text() == "b\n"


def test_every_package_is_in_the_wheel():
    """pyproject.toml lists the packages by hand: a new folder of rulec/ must be in it, or an
    installed rulec (not an editable one) cannot import it."""
    import re

    text = (PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8")
    listed = set(re.search(r"^packages = \[(.*)\]$", text, re.M).group(1).replace('"', "").replace(" ", "").split(","))
    found = {".".join(("rulec",) + p.parent.relative_to(PACKAGE).parts) for p in PACKAGE.rglob("__init__.py")
             if "__pycache__" not in p.parts}
    assert found <= listed, sorted(found - listed)


# The parts of rulec and what each may import (docs/architecture.md): the compiler knows
# nothing of running; bundle/ writes bundles and knows nothing of running them; run/ is the
# loop and knows no executor by name; executors/ know the loop's protocol but not the
# commands; commands/ and cli.py sit on top. No circle between parts.
PARTS = ("commands", "executors", "run", "bundle")
MAY_NOT_IMPORT = {
    "bundle": ("run", "executors", "commands"),
    "run": ("executors", "commands", "bundle"),
    "executors": ("commands",),
    "compiler": ("run", "executors", "commands", "bundle"),
}


def _part(rel: str) -> str:
    head = rel.split("/", 1)[0]
    if head in PARTS:
        return head
    return "top" if rel in ("__init__.py", "cli.py", "__main__.py", "api.py", "workflow.py", "graphviz.py", "report.py") else "compiler"


def _rulec_imports(path: Path) -> list[tuple[str, int]]:
    """The parts of rulec this file imports (relative or absolute), with line numbers."""
    rel = path.relative_to(PACKAGE)
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(rel.parent.parts)[: len(rel.parent.parts) - (node.level - 1)]
                mod = base + (node.module.split(".") if node.module else [])
                names = [mod + [a.name] for a in node.names] if not node.module else [mod]
            elif node.module and node.module.split(".")[0] == "rulec":
                names = [node.module.split(".")[1:]]
            else:
                continue
            for name in names:
                if name and name[0] in PARTS:
                    found.append((name[0], node.lineno))
    return found


def test_the_parts_import_only_downwards():
    wrong = []
    for path in _modules():
        rel = path.relative_to(PACKAGE).as_posix()
        part = _part(rel)
        for imported, line in _rulec_imports(path):
            if imported != part and imported in MAY_NOT_IMPORT.get(part, ()):
                wrong.append(f"rulec/{rel}:{line}: {part} imports {imported}/")
    assert not wrong, "\n".join(wrong)


def test_the_part_checker_sees_relative_imports(tmp_path):
    pkg = tmp_path / "rulec" / "run"
    pkg.mkdir(parents=True)
    sample = pkg / "x.py"
    sample.write_text("from ..executors import slurm\nfrom .. import bundle\nfrom .lock import Lock\n")
    global PACKAGE
    old, PACKAGE = PACKAGE, tmp_path / "rulec"
    try:
        assert _rulec_imports(sample) == [("executors", 1), ("bundle", 2), ("run", 3)]
    finally:
        PACKAGE = old
