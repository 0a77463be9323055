"""benchmarks/spawn_floor.py: each way really runs its jobs (a smoke test of the benchmark,
not a timing: the worker way speaks the worker protocol of rulec/executors/workers.py, and
would stop answering if the two parted)."""

import importlib.util
import os
import shutil

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PATH = os.path.join(HERE, "..", "benchmarks", "spawn_floor.py")


def _module():
    spec = importlib.util.spec_from_file_location("spawn_floor", PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("way", ["sh-spawn", "bash-spawn", "dash-subshell", "bash-subshell", "worker"])
def test_each_way_runs_every_job(tmp_path, monkeypatch, way):
    if way == "dash-subshell" and shutil.which("dash") is None:
        pytest.skip("no dash here")
    mod = _module()
    (tmp_path / "o").mkdir()
    monkeypatch.chdir(tmp_path)
    cpu, wall = mod.one(way, 25, str(tmp_path))
    assert cpu > 0 and wall > 0
    # the last job of each of the ten files: jobs 15..24 write o/out5 .. o/out4
    for i in range(15, 25):
        assert (tmp_path / "o" / f"out{i % 10}.json").read_text() == f"m{i}\n"
