"""run/progress.py: what a run shows while it goes (the live display's data, its ETA, the
record it leaves, the plain lines of a pipe). The terminal itself is tested end to end under
a pseudo-terminal (tests/e2e/test_cli_run.py)."""

from __future__ import annotations

import io
import threading

from rulec.run.progress import Progress, command_lines, wants_live


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def _text(renderable) -> str:
    from rich.console import Console

    out = io.StringIO()
    Console(file=out, width=120, color_system=None, force_terminal=False).print(renderable)
    return out.getvalue()


def test_the_eta_comes_from_finished_jobs_and_the_parallelism_seen():
    clock = Clock()
    p = Progress(6, live=False, stream=io.StringIO(), clock=clock)
    assert p.eta() is None  # nothing finished: unknown
    p.start("a[1]"), p.start("a[2]")
    clock.now += 10
    p.success("a[1]"), p.success("a[2]")  # 10 s each, two at a time
    p.start("a[3]"), p.start("a[4]")
    clock.now += 4
    # 2 queued x 10 s, 2 running with 6 s left each: 32 s of work over 2 slots
    assert p.eta() == 16.0
    p.failure("a[3]", "exit status 1")
    assert p.eta() is None  # once a job failed, no ETA


def test_the_display_shows_the_running_jobs_with_their_own_times_and_the_record_at_the_end():
    clock = Clock()
    p = Progress(3, live=False, stream=io.StringIO(), clock=clock, rules={"fit": 2, "plot": 1})
    p.live = True  # count per rule, as on a terminal
    p.start("fit[d0]")
    clock.now += 65
    p.start("fit[d1]")
    clock.now += 5
    shown = _text(p._render())
    assert "running 2" in shown and "elapsed 1:10" in shown and "ETA" not in shown
    assert "fit[d0]" in shown and "1:10" in shown and "fit[d1]" in shown and "0:05" in shown
    p.success("fit[d0]")
    p.failure("fit[d1]", "exit status 2")
    p.skip(["plot"])
    p.ended = True
    record = _text(p._render())
    assert "done 1  failed 1  skipped 1  of 3 job(s) in 1:10" in record
    lines = [line.split() for line in record.splitlines()]
    assert ["fit", "1", "1", "0", "0"] in lines and ["plot", "0", "0", "1", "0"] in lines


def test_a_pipe_gets_a_line_per_event_and_the_commands_with_print_commands(capsys):
    out = io.StringIO()
    p = Progress(2, live=False, stream=out, print_commands=True)
    p.start("fit[d0]", "python fit.py d0 \\\n  > out/d0.json")
    p.success("fit[d0]")
    p.skip(["plot"])
    p.close()
    assert out.getvalue().splitlines() == ["start fit[d0]", "    $ python fit.py d0 \\", "    $   > out/d0.json",
                                           "[1/2] done fit[d0] (0.0s)", "skipped plot: an upstream job failed"]
    assert command_lines("x[\x1b]", "rm -rf \x1b[2J") == ["x[\\x1b]", "    $ rm -rf \\x1b[2J"]


def test_rendering_from_another_thread_while_events_come_is_safe():
    """The refresh thread renders while the loop's thread changes the state."""
    p = Progress(3000, live=False, stream=io.StringIO())
    errors = []
    stop = threading.Event()

    def render():
        while not stop.is_set():
            try:
                p._render()
            except Exception as exc:  # pragma: no cover - what the test is for
                errors.append(exc)
                return

    t = threading.Thread(target=render)
    t.start()
    for i in range(3000):
        p.start(f"j[{i}]")
        if i % 3:
            p.success(f"j[{i}]")
    stop.set()
    t.join()
    assert not errors


def test_the_live_display_is_for_terminals_without_no_color(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert wants_live(Tty()) and not wants_live(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not wants_live(Tty())
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "dumb")
    assert not wants_live(Tty())
