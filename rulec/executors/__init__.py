"""Executors: what starts, watches and stops jobs for the one run loop (rulec/run/loop.py).

``local``: per-slot bash workers on this machine (pull). Every other executor is a module
here with a ``make(options, graph, plan, journal, quiet)`` function. The loop owns every
decision; an executor only starts, watches and stops jobs and reports events as data.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

NAMES = ("local", "slurm")  # what --executor accepts


@dataclass(frozen=True)
class ExecutorOptions:
    """What the command line says about the executor (built by rulec/cli.py's callers)."""

    name: str = "local"
    profile: str | None = None  # cluster settings (TOML)
    bundle: str | None = None  # where a cluster executor writes its bundle
    poll: float | None = None  # seconds between status queries


def make(options: ExecutorOptions, graph, plan, journal=None, quiet: bool = False):
    """The executor named by ``options``, ready for ``Loop``."""
    if options.name == "local":
        from .local import LocalExecutor

        return LocalExecutor(graph.workflow.workdir, journal)
    module = importlib.import_module(f"{__name__}.{options.name}")
    return module.make(options, graph, plan, journal, quiet)
