"""The cyclic garbage collector paused while rulec builds big structures without cycles.

Decoding a cached job graph, resolving one and planning make tens of thousands of tuples,
lists and strings: with the collector's default thresholds a young-generation collection
runs every 700 of them, and the older generations (everything alive, the whole graph) are
walked again and again: a third of decoding the graph of 11k jobs. What they make holds no
cycle, so reference counting frees it all the same; the collector runs again as before once
the function returns.
"""

from __future__ import annotations

import functools
import gc


def paused(fn):
    """``fn`` with the collector paused while it runs (unless it is off already)."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        if not gc.isenabled():
            return fn(*args, **kwargs)
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            gc.enable()

    return run


# A command of the CLI runs with the collector off (``command``): its work is building big
# structures without cycles and it ends soon, and at 11k jobs a dry run is 8 % faster so.
# The run loop, which may go on for hours, turns it on again (``long_work``), first moving
# everything made so far (the graph, the plan, the modules) out of its reach for good.
_off_for_command = False


def command_starts() -> None:
    global _off_for_command
    if gc.isenabled():
        gc.disable()
        _off_for_command = True


def long_work() -> None:
    """The collector on again for a run loop, if a command turned it off."""
    if _off_for_command and not gc.isenabled():
        gc.freeze()
        gc.enable()


def command_ends() -> None:
    global _off_for_command
    if _off_for_command:
        _off_for_command = False
        gc.unfreeze()
        gc.enable()
