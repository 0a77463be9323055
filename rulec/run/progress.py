"""What a run shows while it goes: a live rich display on a terminal, one line per event
otherwise (CI, pipes), only errors with ``-q``."""

from __future__ import annotations

import sys
import time

from ..report import shown


class Progress:
    def __init__(self, total: int, quiet: bool = False, live: bool | None = None, stream=None):
        self.total = total
        self.quiet = quiet
        self.stream = stream or sys.stdout
        self.done = 0
        self.failed = 0
        self.skipped = 0
        self.running: dict[str, float] = {}
        self.started = time.monotonic()
        self.live = (self.stream.isatty() if live is None else live) and not quiet
        self._live = None
        self._last = 0.0
        if self.live:
            from rich.live import Live

            from ..report import console

            self._live = Live(self._render(), console=console(), refresh_per_second=8, transient=False)
            self._live.start()

    # events -------------------------------------------------------------------
    def start(self, job_id: str) -> None:
        self.running[job_id] = time.monotonic()
        if self._live is not None:
            self._refresh()

    def success(self, job_id: str) -> None:
        t0 = self.running.pop(job_id, None)
        self.done += 1
        if self._live is not None:
            self._refresh()
        elif not self.quiet:
            secs = time.monotonic() - t0 if t0 else 0.0
            self.stream.write(f"[{self.done + self.failed:>{len(str(self.total))}}/{self.total}] done {shown(job_id)} ({secs:.1f}s)\n")

    def failure(self, job_id: str, why: str) -> None:
        self.running.pop(job_id, None)
        self.failed += 1
        line = shown(f"FAILED {job_id}: {why}")
        if self._live is not None:
            from ..report import _esc

            self._live.console.print(f"[bold red]{_esc(line)}[/]")
            self._refresh()
        else:
            sys.stderr.write(line + "\n")

    def skip(self, job_ids: list[str]) -> None:
        self.skipped += len(job_ids)
        if not self.quiet and job_ids and self._live is None:
            for jid in job_ids:
                self.stream.write(f"skipped {shown(jid)}: an upstream job failed\n")

    def note(self, text: str) -> None:
        if self.quiet:
            return
        if self._live is not None:
            from ..report import _esc

            self._live.console.print(_esc(text))
        else:
            self.stream.write(text + "\n")

    def close(self) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.stop()
            self._live = None
        self.stream.flush()

    # display ------------------------------------------------------------------
    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._last > 0.1:
            self._last = now
            self._live.update(self._render())

    def _render(self):
        from rich.table import Table
        from rich.text import Text

        elapsed = time.monotonic() - self.started
        finished = self.done + self.failed
        remaining = self.total - finished - self.skipped - len(self.running)
        eta = ""
        if finished and finished < self.total:
            eta = f"  ETA {_clock(elapsed / finished * (self.total - finished - self.skipped))}"
        head = Text.from_markup(
            f"[green]done {self.done}[/]  [cyan]running {len(self.running)}[/]  "
            f"[red]failed {self.failed}[/]  skipped {self.skipped}  remaining {max(remaining, 0)}  "
            f"of {self.total}  elapsed {_clock(elapsed)}{eta}"
        )
        table = Table.grid(padding=(0, 2))
        table.add_row(head)
        now = time.monotonic()
        for jid, t0 in list(self.running.items())[:8]:
            table.add_row(Text(f"  {shown(jid)}  {now - t0:.0f}s", style="dim"))
        if len(self.running) > 8:
            table.add_row(Text(f"  ... and {len(self.running) - 8} more", style="dim"))
        return table


def _clock(secs: float) -> str:
    secs = int(secs)
    return f"{secs // 3600}:{secs % 3600 // 60:02d}:{secs % 60:02d}" if secs >= 3600 else f"{secs // 60}:{secs % 60:02d}"
