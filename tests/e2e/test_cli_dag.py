"""``rulec dag --format svg|png``, end to end: pictures of a real run of the example
pipeline, coloured by state (up to date, to run, running, failed), written atomically."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from rulec import graphviz
from rulec_e2e import RULEC, TIMEOUT, Project, _env, make_project, wait_for

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "datasets_models"
EXAMPLE_RULES = ["all", "prepare", "estimate", "summarize", "report"]
SVG = "{http://www.w3.org/2000/svg}"
C = graphviz.COLOURS


def needs_dot():
    if shutil.which("dot") is None:
        if os.environ.get("RULEC_SKIP_GRAPHVIZ") == "1":
            pytest.skip("graphviz's dot is not installed (RULEC_SKIP_GRAPHVIZ=1)")
        pytest.fail("graphviz's dot is not installed: apt-get install graphviz (or set RULEC_SKIP_GRAPHVIZ=1 to skip)", pytrace=False)


def rulec_with(args, cwd, stdout=subprocess.PIPE, **env) -> subprocess.CompletedProcess:
    """``rulec ARGS`` with more environment variables (PATH=... to hide dot)."""
    return subprocess.run(RULEC + [str(a) for a in args], cwd=str(cwd), env={**_env(), **env}, stdin=subprocess.DEVNULL,
                          stdout=stdout, stderr=subprocess.PIPE, timeout=TIMEOUT)


def nodes(svg: bytes) -> dict[str, tuple[str, str]]:
    """dot's SVG: node title -> (its text, its fill colour)."""
    root = ET.fromstring(svg)
    out = {}
    for g in root.iter(f"{SVG}g"):
        if g.get("class") != "node":
            continue
        title = g.find(f"{SVG}title").text
        text = "\n".join(t.text or "" for t in g.iter(f"{SVG}text"))
        shape = g.find(f"{SVG}path") if g.find(f"{SVG}path") is not None else g.find(f"{SVG}polygon")
        out[title] = (text, shape.get("fill"))
    return out


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Project:
    """The example pipeline, copied and run."""
    work = tmp_path_factory.mktemp("dag") / "example"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("bld", "logs", ".rulec"))
    proj = Project(work)
    proj.ok("run", "-j2", timeout=120)
    return proj


def test_the_svg_of_a_run_example_parses_names_every_rule_and_colours_it_done(example):
    needs_dot()
    res = example.ok("dag", "--format", "svg")
    found = nodes(res.stdout.encode())
    rules = {k: v for k, v in found.items() if not k.startswith(" legend")}
    assert sorted(rules) == sorted(EXAMPLE_RULES)
    assert rules["estimate"] == ("estimate\n12 done", C["done"])
    assert {fill for _, fill in rules.values()} == {C["done"]}
    legend = {k.split()[-1]: v for k, v in found.items() if k.startswith(" legend")}
    assert legend == {s: (graphviz.LEGEND[s], C[s]) for s in graphviz.STATES}


def test_o_writes_the_file_and_png_is_a_png(example, tmp_path):
    needs_dot()
    res = example.ok("dag", "--format", "svg", "--jobs", "-o", tmp_path / "jobs.svg")
    assert res.stdout == ""
    found = nodes((tmp_path / "jobs.svg").read_bytes())
    assert "estimate[data_0,logistic_model]" in found and len([k for k in found if not k.startswith(" ")]) == 21
    example.ok("dag", "--format", "png", "-o", tmp_path / "g.png")
    assert (tmp_path / "g.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert sorted(os.listdir(tmp_path)) == ["g.png", "jobs.svg"]  # no temporary file left
    example.ok("dag", "--format", "dot", "-o", tmp_path / "g.dot")
    assert (tmp_path / "g.dot").read_text().startswith("digraph rulec {")


def test_png_refuses_a_terminal(example):
    needs_dot()
    master, slave = pty.openpty()
    try:
        res = rulec_with(["dag", "--format", "png"], example.path, stdout=slave)
    finally:
        os.close(slave)
        os.close(master)
    assert res.returncode == 2
    assert res.stderr.decode() == "rulec dag --format png writes binary data, not for a terminal: use -o FILE (or redirect standard output)\n"


@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_a_missing_dot_is_a_clear_message_and_writes_nothing(example, tmp_path, fmt):
    res = rulec_with(["dag", "--format", fmt, "-o", tmp_path / f"g.{fmt}"], example.path, PATH="/nonexistent")
    assert res.returncode == 2
    assert res.stderr.decode() == (f"rulec dag --format {fmt} needs graphviz's `dot`: apt-get install graphviz "
                                   "(or brew install graphviz)\n")
    assert os.listdir(tmp_path) == []
    # dot and mermaid text need no graphviz
    assert rulec_with(["dag"], example.path, PATH="/nonexistent").returncode == 0


def test_o_into_a_missing_folder_is_an_error_and_writes_nothing(example, tmp_path):
    res = example.run("dag", "-o", tmp_path / "nope" / "g.dot")
    assert res.returncode == 2 and "does not exist" in res.stderr
    assert not (tmp_path / "nope").exists()


def test_many_jobs_are_drawn_as_the_rule_graph_with_counts(tmp_path):
    needs_dot()
    proj = make_project(tmp_path, "dimension i = [" + ", ".join(f'"{i}"' for i in range(600)) + "]\n\n"
                        'rule all:\n    input: expand("out/{i}.txt")\n\n'
                        'rule make:\n    output: "out/{i}.txt"\n    shell: "echo {i} > {output}"\n')
    res = proj.ok("dag", "--format", "svg", "--jobs")
    assert "601 jobs are more than a picture can show (500 at most): drawing the rule graph" in res.stderr
    found = {k: v for k, v in nodes(res.stdout.encode()).items() if not k.startswith(" legend")}
    assert found == {"make": ("make\n600 to run", C["todo"]), "all": ("all\n1 to run", C["todo"])}
    # text formats keep every job
    assert proj.ok("dag", "--jobs").stdout.count(" -> ") == 600 + 3  # (and the legend's 3)


def test_failed_and_to_run_jobs_get_their_colours(empty_project):
    proj = empty_project
    proj.rulefile("""\
        dimension d = ["a", "b"]

        rule all:
            input: expand("out/{d}.txt")

        rule make:
            output: "out/{d}.txt"
            shell: "test {d} = a; echo {d} > {output}"
        """)
    assert proj.run("run", "--keep-going").returncode == 1
    dot = proj.ok("dag", "--jobs").stdout
    assert f'"make[a]" [fillcolor="{C["done"]}"];' in dot
    assert f'"make[b]" [fillcolor="{C["failed"]}"];' in dot
    assert f'"all" [fillcolor="{C["todo"]}"];' in dot
    assert f'"make" [label="make\\n1 done, 1 failed", fillcolor="{C["failed"]}"];' in proj.ok("dag").stdout
    mermaid = proj.ok("dag", "--format", "mermaid", "--jobs").stdout
    assert "    class n1 failed" in mermaid.splitlines()


def test_a_job_of_a_live_run_is_running(empty_project, marker, procs):
    proj = empty_project
    p = proj.start_fast_then_slow(marker, procs)
    dot = proj.ok("dag", "--jobs").stdout
    assert f'"slow" [fillcolor="{C["running"]}"];' in dot
    assert f'"fast" [fillcolor="{C["done"]}"];' in dot
    os.killpg(p.pid, 15)
    p.communicate(timeout=30)
    wait_for(lambda: not marker.pids(), what="the slow job to stop")
    assert f'"slow" [fillcolor="{C["todo"]}"];' in proj.ok("dag", "--jobs").stdout
