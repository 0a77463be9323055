"""``rulec report``, end to end: the page of a real run of the example pipeline, loaded in
a real headless Chromium (no console message, a screenshot that is not blank), and user
text that must not become markup (a job id or log line holding HTML)."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pytest

from rulec_e2e import RULEC, TIMEOUT, Project, _env

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "datasets_models"
EXAMPLE_RULES = ["all", "prepare", "estimate", "summarize", "report"]
SVG = "{http://www.w3.org/2000/svg}"


# --------------------------------------------------------------------------- Chromium

def chromium() -> str:
    """The headless browser (Debian's ``chromium``, which CI installs): missing, the test
    fails, unless RULEC_SKIP_BROWSER=1 says to skip it."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("RULEC_SKIP_BROWSER") == "1":
        pytest.skip("no headless Chromium (RULEC_SKIP_BROWSER=1)")
    pytest.fail("these tests need a headless Chromium: apt-get install chromium (or set RULEC_SKIP_BROWSER=1 to skip them)",
                pytrace=False)


def browse(page: Path, tmp_path: Path, *, screenshot: Path | None = None, fragment: str = "") -> tuple[str, list[str]]:
    """Load ``page`` in headless Chromium: (the DOM after its scripts ran, or "" with a
    screenshot, and the console's messages: every console call and uncaught error)."""
    profile = tmp_path / f"chromium-profile-{os.getpid()}-{len(list(tmp_path.iterdir()))}"
    args = [chromium(), "--headless", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--enable-logging=stderr", "--v=0", f"--user-data-dir={profile}",
            "--window-size=1200,900"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium's sandbox refuses root
    args.append(f"--screenshot={screenshot}" if screenshot else "--dump-dom")
    args.append(page.resolve().as_uri() + fragment)
    res = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    console = [line for line in res.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    return res.stdout, console


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of pixel bytes) of an 8-bit RGB or RGBA PNG (zlib and the five
    PNG row filters)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, idat, head = 8, b"", None
    while at < len(data):
        size, kind = struct.unpack(">I4s", data[at:at + 8])
        body = data[at + 8:at + 8 + size]
        if kind == b"IHDR":
            head = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        at += 12 + size
    width, height, depth, colour = head[:4]
    assert depth == 8 and colour in (2, 6), head
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, rows


def assert_not_blank(png: Path) -> None:
    width, height, rows = png_pixels(png.read_bytes())
    assert (width, height) == (1200, 900)
    bpp = len(rows[0]) // width
    colours, inked, seen = set(), 0, 0
    for row in rows[::3]:  # every third pixel of every third row
        for x in range(0, len(row), bpp * 3):
            px = row[x:x + 3]
            colours.add(px)
            seen += 1
            inked += px != b"\xff\xff\xff"
    assert len(colours) > 20, f"the screenshot has {len(colours)} colour(s): blank"
    assert inked > 0.05 * seen, f"the screenshot is nearly all white ({inked} of {seen} pixels are not)"


# --------------------------------------------------------------------------- helpers

def rulec_with(args, cwd, **env) -> subprocess.CompletedProcess:
    return subprocess.run(RULEC + [str(a) for a in args], cwd=str(cwd), env={**_env(), **env}, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=TIMEOUT)


def page_data(text: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="rulec-data">(.*?)</script>', text, re.S).group(1))


def rule_graph_svg(text: str) -> ET.Element:
    svg = re.search(r'<div class="graph">(<svg.*?</svg>)', text, re.S).group(1)
    return ET.fromstring(svg)


def job_rows(dom: str) -> list[list[str]]:
    """The attempts table's rows as the page's script made them: cells' text."""
    body = re.search(r'<table class="t" id="jobs">.*?<tbody>(.*?)</tbody>', dom, re.S).group(1)
    return [re.findall(r"<td[^>]*>([^<]*)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def svg_titles(root: ET.Element) -> set[str]:
    return {t.text for t in root.iter(f"{SVG}title")}


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Project:
    """The example pipeline, copied and run once."""
    work = tmp_path_factory.mktemp("report") / "example"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("bld", "logs", ".rulec"))
    proj = Project(work)
    proj.ok("run", "-j2", timeout=120)
    return proj


# --------------------------------------------------------------------------- tests

@pytest.mark.browser
def test_the_report_of_the_example_loads_in_chromium_without_a_console_message(example, tmp_path):
    res = example.ok("report", "-o", tmp_path / "report.html")
    assert re.fullmatch(rf"wrote {re.escape(str(tmp_path / 'report.html'))} \(\d+ kB\): 1 run\(s\), 20 job\(s\), "
                        r"20 attempt\(s\), in \d+\.\ds\n", res.stdout)
    text = (tmp_path / "report.html").read_text()
    # self-contained: nothing to fetch (the only URLs are the SVG namespaces)
    assert not re.search(r"<(link|img|iframe|object|embed)\b", text)
    assert set(re.findall(r"https?://[^\s\"'<>)]+", text)) <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert not re.search(r"<script[^>]*\bsrc=", text)
    # the rule graph names every rule, and the data every job
    assert set(EXAMPLE_RULES) <= svg_titles(rule_graph_svg(text))
    (run,) = page_data(text)["runs"]
    assert run["n"] == 20 and all(p >= 0 for p in run["a"]["p"])  # every attempt says where it ran
    dom, console = browse(tmp_path / "report.html", tmp_path)
    assert console == []
    assert 'data-ready="1"' in dom
    rows = job_rows(dom)
    assert len(rows) == 20 and "estimate[data_0,logistic_model]" in {r[0] for r in rows}
    assert {r[5] for r in rows} <= {"local:1", "local:2"} and {r[6] for r in rows} == {"succeeded"}
    shot = tmp_path / "shot.png"
    _, console = browse(tmp_path / "report.html", tmp_path, screenshot=shot)
    assert console == []
    assert_not_blank(shot)


@pytest.mark.browser
def test_html_in_job_ids_commands_and_logs_is_shown_not_run(empty_project, tmp_path):
    proj = empty_project
    proj.rulefile("""\
        dimension name = ["ok", "<img src=x onerror=console.error(1)>"]

        rule all:
            input: expand("out/{name}.txt")

        rule make:
            output: "out/{name}.txt"
            shell: "echo '<script>console.error(2)</script>'; test {name} = ok; echo hi > {output}"
        """)
    assert proj.run("run", "--keep-going").returncode == 1
    out = tmp_path / "r.html"
    proj.ok("report", "-o", out)
    text = out.read_text()
    assert "<img src=x" not in text and "<script>console.error(2)" not in text
    assert "&lt;img src=x onerror=console.error(1)&gt;" in text  # the failure's job id, as text
    assert "&lt;script&gt;console.error(2)&lt;/script&gt;" in text  # its log's end, as text
    dom, console = browse(out, tmp_path)
    assert console == []  # neither console.error ran
    assert "<img" not in dom and "console.error(2)</script>" not in dom
    assert "make[&lt;img src=x onerror=console.error(1)&gt;]" in dom  # in the table too, as text


def test_without_dot_the_report_draws_its_own_rule_graph(example, tmp_path):
    res = rulec_with(["report", "-o", tmp_path / "r.html"], example.path, PATH="/nonexistent")
    assert res.returncode == 0, res.stderr
    text = (tmp_path / "r.html").read_text()
    assert "drawn by rulec: graphviz&#x27;s dot is not installed" in text
    assert set(EXAMPLE_RULES) == svg_titles(rule_graph_svg(text))


def test_with_dot_the_rule_graph_is_dots(example, tmp_path):
    if shutil.which("dot") is None and os.environ.get("RULEC_SKIP_GRAPHVIZ") == "1":
        pytest.skip("graphviz's dot is not installed (RULEC_SKIP_GRAPHVIZ=1)")
    assert shutil.which("dot"), "graphviz's dot is not installed: apt-get install graphviz"
    example.ok("report", "-o", tmp_path / "r.html")
    text = (tmp_path / "r.html").read_text()
    assert "drawn by graphviz&#x27;s dot" in text
    assert set(EXAMPLE_RULES) <= svg_titles(rule_graph_svg(text))


def test_report_to_standard_output(example):
    res = example.ok("report", "-o", "-")
    assert res.stdout.startswith("<!DOCTYPE html>") and res.stdout.rstrip().endswith("</html>")


@pytest.mark.browser
def test_all_runs(example, tmp_path):
    example.ok("run", "--force", "summarize", "-q")
    try:
        example.ok("report", "--all", "-o", tmp_path / "all.html")
        text = (tmp_path / "all.html").read_text()
        runs = page_data(text)["runs"]
        assert [r["n"] for r in runs][-2:] == [20, 4]  # summarize (3) and report (1) ran again
        assert "Every recorded run (newest first)" in text
        first = runs[0]["id"]
        dom, console = browse(tmp_path / "all.html", tmp_path, fragment=f"#run={first}")
        assert console == []
        assert len(job_rows(dom)) == 20  # #run=ID: that run's attempts
        # the default report: the last run only
        example.ok("report", "-o", tmp_path / "last.html")
        (last,) = page_data((tmp_path / "last.html").read_text())["runs"]
        assert last["n"] == 4
    finally:
        example.ok("run", "-q")


@pytest.mark.browser
def test_a_touch_run_is_reported_as_a_run_of_touched_jobs(project, tmp_path):
    from rulec_e2e import ALL_JOBS

    project.ok("run", "-q")
    os.utime(project.path / "src" / "data.txt", (2e9, 2e9))  # newer than every output: a touch says they are fine
    assert project.ok("run", "--touch").stdout.splitlines() == ["Touched 8 job(s)."]
    project.ok("report", "--all", "-o", tmp_path / "r.html")
    text = (tmp_path / "r.html").read_text()
    ran, touched = page_data(text)["runs"]
    assert ran["a"]["o"] == [0] * 8 and touched["a"]["o"] == [3] * 8  # ok, touched
    assert touched["id"] == ran["id"] + 1 and "(rulec run --touch)" in touched["label"]
    assert "executor touch; ok" in text and "run --touch" in text  # its command
    assert '<div class="k">touched</div><div class="v">8</div>' in text
    assert '<div class="k">jobs done</div>' not in text  # (the cards are the last run's)
    dom, console = browse(tmp_path / "r.html", tmp_path)  # the last run first: the touch
    assert console == []
    rows = job_rows(dom)
    assert sorted(r[0] for r in rows) == sorted(ALL_JOBS) and {r[6] for r in rows} == {"touched"}
    assert {r[4] for r in rows} == {"0 ms"} and {r[5] for r in rows} == {""}  # no time, nowhere
    # touching again records another run
    assert "Touched 8 job(s)." in project.ok("run", "-t").stdout
    project.ok("report", "-o", tmp_path / "last.html")
    (last,) = page_data((tmp_path / "last.html").read_text())["runs"]
    assert last["id"] == touched["id"] + 1 and last["a"]["o"] == [3] * 8


def test_no_recorded_run_is_a_clear_error(empty_project):
    empty_project.one_job("echo x > {output}")
    res = empty_project.run("report")
    assert res.returncode == 2
    assert "no run is recorded in" in res.stderr and "`rulec run` first" in res.stderr
    assert not empty_project.exists("rulec-report.html")


def test_a_run_in_progress_is_reported_as_running(empty_project, marker, procs, tmp_path):
    proj = empty_project
    p = proj.start_fast_then_slow(marker, procs)
    out = tmp_path / "r.html"
    proj.ok("report", "-o", out)
    text = out.read_text()
    assert f"still running: pid {p.pid} on " in text
    (run,) = page_data(text)["runs"]
    assert run["n"] == 1  # fast is done; slow has not ended yet
