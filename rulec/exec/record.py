"""What to write into the state store when a job has succeeded, shared by every executor."""

from __future__ import annotations

import hashlib
import os
import re

from .. import shell
from ..dag import JobGraph
from ..history import Finished
from ..plan import input_signature, inputs_hash
from ..state import snapshot


class Recorder:
    """Builds ``history.Finished`` records for jobs of one graph."""

    def __init__(self, graph: JobGraph):
        self.graph = graph
        self.renderers = shell.renderers(graph)
        self.workdir = graph.workflow.workdir

    def command(self, job: int, local=None, attempt: int = 1) -> str:
        """The job's command; ``local`` maps its paths to those the job works on."""
        return shell.command_of(self.graph, self.renderers, job, local, attempt)

    def finished(self, job: int, log: str | None = None, started: float | None = None, stats=None, command: str | None = None,
                 attempts: int = 1) -> Finished:
        """The record for ``job``; inputs are stat'ed now (or taken from ``stats``)."""
        g = self.graph
        inputs = g.inputs[job]
        snap = stats if stats is not None else snapshot(inputs, self.workdir)
        get = snap.get
        r = self.renderers[g.rule[job]]
        if command is None:
            command = self.command(job)
        return Finished(
            job_id=g.job_id(job),
            rule=g.rule_of(job).name,
            cmd_hash=r.key(g.job_id(job), g.values[job], inputs, g.outputs[job], g.n_outputs[job]),
            params_hash=shell.params_hash(r, g.values[job]) + shell.env_key(g, self.renderers, job),
            inputs_hash=inputs_hash(inputs),
            input_sig=input_signature(inputs, get),
            command=command,
            inputs=[(p, *(get(p) or (0, -1))[::-1]) for p in inputs] if len(inputs) <= 10000 else [],
            outputs=g.outputs[job],
            log=log,
            started=started,
            attempts=attempts,
        )


def default_log(graph: JobGraph, job: int) -> str:
    """Where a job's stdout/stderr go when the rule has no ``log:``:
    ``.rulec/logs/<rule>/<job id>.log``, the id made a safe file name (``file_name``)."""
    return os.path.join(".rulec", "logs", graph.rule_of(job).name, file_name(graph.job_id(job), ".log"))


_PLAIN = re.compile(r"[\w.,+=@:-]*").fullmatch  # values that need no escaping in a file name or a shell word
NAME_MAX = 255  # bytes in one file name on the usual file systems


def file_name(job_id: str, suffix: str = ".log") -> str:
    """``job_id`` + ``suffix`` as one file name that stays in its folder, whatever the values
    hold: in the values (between the id's brackets), every character but letters, digits
    and ``_.,+=@:-`` is written as ``%XX`` (its UTF-8 bytes), so a ``/`` in a value cannot
    make folders (nor ``..`` climb out of the folder), and a value's ``[``, ``]``, ``*``,
    ``?``, spaces or quotes are not shell syntax. A name longer than a file system allows
    is cut and ends with a hash of the id. Plain ids keep their name: ``fit[d0,m1].log``."""
    head, bracket, rest = job_id.partition("[")
    if bracket and rest.endswith("]"):
        values = rest[:-1]
        if not _PLAIN(values):
            values = "".join(ch if _PLAIN(ch) else "".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogateescape"))
                             for ch in values)
        name = f"{head}[{values}]{suffix}"
    else:  # a rule without wildcards: its name, an identifier
        name = job_id + suffix
    if len(name.encode("utf-8", "surrogateescape")) > NAME_MAX:
        digest = hashlib.blake2b(job_id.encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()
        keep = NAME_MAX - len(digest) - 1 - len(suffix.encode("utf-8", "surrogateescape"))
        cut = name.encode("utf-8", "surrogateescape")[:keep].decode("utf-8", "ignore")
        name = f"{cut}~{digest}{suffix}"
    return name
