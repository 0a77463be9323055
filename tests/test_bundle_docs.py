"""docs/slurm.md cannot rot: its Rulefile example analyzes, its profile example loads and
settles the settings the text says, and the emitted SLURM bundle shows its directives."""

from __future__ import annotations

import re
from pathlib import Path

from rulec import profile as prof
from rulec.analyze import analyze
from rulec.bundle import settings as st
from rulec.bundle.slurm import directives
from rulec.syntax import parse

DOC = Path(__file__).resolve().parent.parent / "docs" / "slurm.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\s*$", re.S | re.M)


def blocks(kind: str) -> list[str]:
    return [m.group(2) for m in FENCE.finditer(DOC.read_text(encoding="utf-8")) if m.group(1) == kind]


def test_the_docs_examples_work(tmp_path):
    (rulefile,) = blocks("rulefile")
    (toml,) = blocks("toml")
    wf = analyze(parse(rulefile, "Rulefile"), str(tmp_path))
    path = tmp_path / "cluster.toml"
    path.write_text(toml)
    p = prof.load(str(path))
    s = st.for_rule(wf.rule("estimate"), wf, "slurm", p)
    assert dict(s.options) == {"account": "proj42", "partition": "gpu_a100", "gres": "gpu:a100:1"}
    assert (s.cpus, s.mem_mb, s.time_s, s.array_limit) == (2, 16384, 7200, 4)
    assert p.backend("slurm").setting("max_array_size") == 500
    jb = st.for_rule(wf.rule("estimate"), wf, "jbsub", p)
    assert dict(jb.options)["-queue"] == "x86_6h" and jb.array_limit == 2


def test_the_mapping_table_matches_the_code():
    text = DOC.read_text(encoding="utf-8")
    s = st.Settings(cpus=4, mem_mb=8192, time_s=5400, gpus=2)

    class A:  # the parts of an Array that directives() reads
        settings = s
        name = "fit"
        rule = type("R", (), {"name": "fit"})()

        def __len__(self):
            return 10

        width = 1

        def task_seconds(self):  # unpacked: one job's
            return s.time_s

        def task_mem_mb(self):
            return s.mem_mb

    lines = directives(A())
    for line in ["--cpus-per-task=4", "--mem=8192M", "--time=01:30:00", "--gres=gpu:2", "--kill-on-invalid-dep=yes"]:
        assert line in lines
        assert f"`{line}`" in text or line.split("=")[0] in text
