"""rulec/gcpause.py: the collector paused for building, on again for a run loop, as it was after."""

from __future__ import annotations

import gc

import pytest

from rulec import gcpause


@pytest.fixture(autouse=True)
def restore():
    yield
    gcpause._off_for_command = False
    gc.unfreeze()
    gc.enable()


def test_a_paused_function_runs_without_the_collector_and_leaves_it_as_it_was():
    seen = []
    work = gcpause.paused(lambda x: seen.append(gc.isenabled()) or x * 2)
    assert work(2) == 4 and seen == [False] and gc.isenabled()
    gc.disable()
    assert work(3) == 6 and not gc.isenabled()  # off already: left off
    gc.enable()

    @gcpause.paused
    def fails():
        raise ValueError("no")

    with pytest.raises(ValueError):
        fails()
    assert gc.isenabled()


def test_a_command_turns_it_off_a_run_loop_on_and_its_end_as_before():
    gcpause.command_starts()
    assert not gc.isenabled()
    kept = [object()]  # made before the loop: frozen, out of the collector's reach
    gcpause.long_work()
    assert gc.isenabled() and gc.get_freeze_count() > 0
    gcpause.command_ends()
    assert gc.isenabled() and gc.get_freeze_count() == 0 and kept


def test_a_collector_turned_off_by_someone_else_stays_off():
    gc.disable()
    gcpause.command_starts()
    gcpause.long_work()
    assert not gc.isenabled() and gc.get_freeze_count() == 0
    gcpause.command_ends()
    assert not gc.isenabled()


def test_the_cli_leaves_the_collector_on(tmp_path, capsys):
    from rulec import cli

    (tmp_path / "Rulefile").write_text('rule all:\n    output: "x.txt"\n    shell: "touch {output}"\n')
    assert cli.main(["run", "-q", str(tmp_path / "Rulefile")]) == 0
    assert (tmp_path / "x.txt").exists()
    assert gc.isenabled() and gc.get_freeze_count() == 0
