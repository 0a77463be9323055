"""What a run shows while it goes: a live rich display on a terminal, one line per event
otherwise (CI, pipes, ``NO_COLOR``, ``TERM=dumb``), only errors and the summary with ``-q``.

The live display redraws itself (rich's refresh thread, 4 times a second) whatever the run
loop is doing, so the clocks move while it blocks in ``executor.wait()`` (a ``select`` or a
``sleep``: both let that thread run). It shows the counts, the elapsed time, an ETA (from
the durations of the jobs that finished; none once a job failed, or before any finished),
and the running jobs with their own run times. The state it renders is written by the loop's
thread and read by the refresh thread: both take ``self._lock``, and the renderer copies what
it needs under it. When the run ends the last frame is replaced by a record that stays in the
scrollback: per rule how many jobs ran, failed and were skipped (the loop then prints the
failures with their commands and log tails).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter

from ..report import shown

MAX_ROWS = 8  # running jobs listed by name; the rest are counted


def wants_live(stream) -> bool:
    """Whether ``stream`` gets the live display: a terminal that is not ``TERM=dumb``, with no
    ``NO_COLOR`` asking for plain output."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        return False
    return tty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


class Progress:
    """``rules``: per rule name how many jobs the run holds (for the record it leaves);
    ``print_commands`` (``-p``): each job's command is printed when it starts."""

    def __init__(self, total: int, quiet: bool = False, live: bool | None = None, stream=None,
                 rules: dict[str, int] | None = None, print_commands: bool = False, clock=time.monotonic):
        self.total = total
        self.quiet = quiet
        self.stream = stream or sys.stdout
        self.print_commands = print_commands
        self.clock = clock
        self.done = 0
        self.failed = 0
        self.skipped = 0
        self.running: dict[str, float] = {}
        self.started = clock()
        self.durations = 0.0  # seconds, summed over the jobs that succeeded
        self.timed = 0  # how many of them had a known start
        self.widest = 1  # the most jobs seen running at once (the ETA's parallelism)
        self.rules = dict(rules or {})
        self.per_rule: dict[str, Counter] = {}
        self.ended = False
        self._lock = threading.Lock()
        self._drawn = 0.0  # when an event last redrew the display
        self.live = (wants_live(self.stream) if live is None else live) and not quiet
        self._live = None
        if self.live:
            from rich.live import Live

            from ..report import console

            self._live = Live(self, console=console(), refresh_per_second=4, transient=False)
            self._live.start()

    # events -------------------------------------------------------------------
    def start(self, job_id: str, command: str | None = None) -> None:
        with self._lock:
            self.running[job_id] = self.clock()
            if len(self.running) > self.widest:
                self.widest = len(self.running)
        if self.print_commands and command is not None and not self.quiet:
            self._print(command_lines(job_id, command, "start "))
        if self._live is not None:
            self._poke()

    def success(self, job_id: str) -> None:
        now = self.clock()
        with self._lock:
            t0 = self.running.pop(job_id, None)
            self.done += 1
            secs = now - t0 if t0 is not None else 0.0
            if t0 is not None:
                self.durations += secs
                self.timed += 1
            self._count(job_id, "done")
        if self._live is not None:
            self._poke()
        elif not self.quiet:
            self.stream.write(f"[{self.done + self.failed:>{len(str(self.total))}}/{self.total}] done {shown(job_id)} ({secs:.1f}s)\n")

    def failure(self, job_id: str, why: str) -> None:
        with self._lock:
            self.running.pop(job_id, None)
            self.failed += 1
            self._count(job_id, "failed")
        line = shown(f"FAILED {job_id}: {why}")
        if self._live is not None:
            from ..report import _esc

            self._live.console.print(f"[bold red]{_esc(line)}[/]")
            self._poke()
        else:
            sys.stderr.write(line + "\n")

    def skip(self, job_ids: list[str]) -> None:
        with self._lock:
            self.skipped += len(job_ids)
            for jid in job_ids:
                self.running.pop(jid, None)
                self._count(jid, "skipped")
        if not self.quiet and job_ids and self._live is None:
            for jid in job_ids:
                self.stream.write(f"skipped {shown(jid)}: an upstream job failed\n")

    def note(self, text: str) -> None:
        if not self.quiet:
            self._print([text])

    def close(self) -> None:
        if self._live is not None:
            with self._lock:
                self.ended = True  # the next frame is the record, the last one drawn
            self._live.refresh()
            self._live.stop()
            self._live = None
        self.stream.flush()

    def _poke(self) -> None:
        """Redraw now after an event, at most 10 times a second: many short jobs must not
        cost a frame each (the refresh thread shows the latest state within 0.25 s anyway,
        since every frame is rendered from the state as it is then)."""
        now = self.clock()
        if now - self._drawn >= 0.1:
            self._drawn = now
            self._live.refresh()

    def _count(self, job_id: str, what: str) -> None:
        if self.live:
            rule = job_id.partition("[")[0]
            counts = self.per_rule.get(rule)
            if counts is None:
                counts = self.per_rule[rule] = Counter()
            counts[what] += 1

    def _print(self, lines: list[str]) -> None:
        if self._live is not None:
            from ..report import _esc

            for line in lines:
                self._live.console.print(_esc(line))
        else:
            self.stream.write("".join(line + "\n" for line in lines))

    # what is shown ----------------------------------------------------------------
    def eta(self, now: float | None = None) -> float | None:
        """Seconds until the run ends, from the mean duration of the jobs that succeeded and
        the most jobs seen running at once; None when unknown or once a job failed."""
        now = self.clock() if now is None else now
        with self._lock:
            return self._eta(now, list(self.running.values()))

    def _eta(self, now: float, starts: list[float]) -> float | None:
        if self.failed or not self.timed:
            return None
        mean = self.durations / self.timed
        queued = max(self.total - self.done - self.failed - self.skipped - len(starts), 0)
        if not queued and not starts:
            return None
        left = queued * mean + sum(max(mean - (now - t0), 0.0) for t0 in starts)
        return left / max(self.widest, 1)

    def __rich__(self):  # called on every refresh, from the refresh thread too
        return self._render()

    def _render(self):
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        now = self.clock()
        with self._lock:
            running = list(self.running.items())
            done, failed, skipped, ended = self.done, self.failed, self.skipped, self.ended
            eta = None if ended else self._eta(now, [t0 for _, t0 in running])
            per_rule = {rule: Counter(c) for rule, c in self.per_rule.items()} if ended else None
        elapsed = _clock(now - self.started)
        if ended:
            return self._record(done, failed, skipped, elapsed, per_rule)
        queued = max(self.total - done - failed - skipped - len(running), 0)
        head = Text.from_markup(
            f"[green]done {done}[/]  [cyan]running {len(running)}[/]  [red]failed {failed}[/]  "
            f"skipped {skipped}  queued {queued}  of {self.total}  elapsed {elapsed}"
            + (f"  ETA {_clock(eta)}" if eta is not None else ""))
        table = Table.grid(padding=(0, 2))
        table.add_column()
        table.add_column(justify="right")
        rows = MAX_ROWS
        if self._live is not None:
            try:
                rows = max(1, min(MAX_ROWS, self._live.console.size.height - 3))
            except Exception:  # pragma: no cover - a console that cannot tell its size
                pass
        for jid, t0 in running[:rows]:
            table.add_row(Text(f"  {shown(jid)}", style="cyan"), Text(_clock(now - t0), style="cyan"))
        if len(running) > rows:
            table.add_row(Text(f"  ... and {len(running) - rows} more", style="dim"), "")
        return Group(head, table) if running else head

    def _record(self, done: int, failed: int, skipped: int, elapsed: str, per_rule: dict):
        """What stays on the terminal: the totals, and per rule what became of its jobs."""
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        not_run = max(self.total - done - failed - skipped, 0)
        parts = [f"[green]done {done}[/]"]
        if failed:
            parts.append(f"[bold red]failed {failed}[/]")
        if skipped:
            parts.append(f"skipped {skipped}")
        if not_run:
            parts.append(f"not run {not_run}")
        head = Text.from_markup("  ".join(parts) + f"  of {self.total} job(s) in {elapsed}")
        rules = list(self.rules) or list(per_rule)
        rules += [r for r in per_rule if r not in self.rules]
        table = Table(box=None, pad_edge=False, show_edge=False)
        table.add_column("rule")
        for col in ("done", "failed", "skipped", "not run"):
            table.add_column(col, justify="right")
        for rule in rules:
            c = per_rule.get(rule, Counter())
            total = self.rules.get(rule, c["done"] + c["failed"] + c["skipped"])
            left = max(total - c["done"] - c["failed"] - c["skipped"], 0)
            table.add_row(shown(rule), str(c["done"]), f"[red]{c['failed']}[/]" if c["failed"] else "0",
                          str(c["skipped"]), str(left))
        return Group(head, table) if rules else head


def command_lines(job_id: str, command: str, lead: str = "") -> list[str]:
    """A job's command as lines to print under its id (``-p``): each after ``    $ ``, made
    safe to show."""
    return [f"{lead}{shown(job_id)}"] + [f"    $ {shown(line)}" for line in command.splitlines() or [""]]


def _clock(secs: float) -> str:
    secs = int(max(secs, 0))
    return f"{secs // 3600}:{secs % 3600 // 60:02d}:{secs % 60:02d}" if secs >= 3600 else f"{secs // 60}:{secs % 60:02d}"
