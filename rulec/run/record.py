"""What to write into the state store when a job has succeeded, shared by every executor."""

from __future__ import annotations

import os

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
        self._prefix = os.path.join(os.path.abspath(self.workdir), "")  # what a relative path is joined to
        from ..kinds import TEMP, OutputKinds

        kinds = OutputKinds.of(graph)
        # temp() inputs' stats are kept apart in the signature (plan.same_inputs)
        self.temp_inputs = kinds.temp_inputs if kinds is not None and kinds.has(TEMP) else None
        # The stats of outputs made by jobs of this run, as the run loop saw them when each
        # job ended (path -> (mtime_ns, size)): a record takes its inputs' stats from here,
        # not from a stat of its own. What a job read was there before it started, so the
        # stat of its producer's end is the one its record should hold: a change after that
        # (while the job ran, say) then shows as a change at the next plan.
        self.made: dict = {}
        # The stats the run's plan saw (a path -> (mtime_ns, size) lookup), for the inputs no
        # job makes (``graph.sources``): what a job read is what was there when it was
        # planned, so a source edited while the job ran shows as a change at the next plan,
        # as make sees it newer than the output. None: stat them when the job has ended.
        self.planned = None

    def command(self, job: int, local=None, attempt: int = 1, jid: str | None = None) -> str:
        """The job's command; ``local`` maps its paths to those the job works on. ``jid``:
        the job's id, when the caller has it."""
        return shell.command_of(self.graph, self.renderers, job, local, attempt, jid)

    def task_command(self, job: int, local=None, attempt: int = 1) -> str:
        """What the job's task runs: its command, measured into its ``benchmark:`` file if it
        has one (rulec/benchmark.py); the record keeps the command itself."""
        command = self.command(job, local, attempt)
        path = self.graph.benchmark(job)
        if path is None:
            return command
        from .. import benchmark

        return benchmark.wrap(command, path, attempt, self.graph.job_id(job))

    def finished(self, job: int, log: str | None = None, started: float | None = None, stats=None, command: str | None = None,
                 attempts: int = 1, job_id: str | None = None) -> Finished:
        """The record for ``job``; inputs are stat'ed now (or taken from ``stats``, or from
        ``made``).
        ``command``: the job's command as ``command(job)`` gives it, and ``job_id`` its id,
        when the caller has them."""
        g = self.graph
        inputs = g.inputs[job]
        if stats is not None:
            get = stats.get
        elif g.directories():
            get = snapshot(inputs, self.workdir, trees=g.directories()).get
        else:
            made = self.made
            left = [p for p in inputs if p not in made] if made else inputs  # (the others: as planned, or stat'ed now)
            if not left:
                get = made.get
            else:
                planned, got = self.planned, {}
                if planned is not None:  # sources: as planned (see self.planned)
                    sources = g.sources
                    now = []
                    for p in left:
                        st = planned(p) if p in sources else None
                        if st is None:
                            now.append(p)
                        else:
                            got[p] = st
                    left = now
                if left:  # (what snapshot does for two or fewer)
                    got.update(self._stat_few(left) if len(left) <= 2 else snapshot(left, self.workdir).as_dict())
                get = (lambda p: made.get(p) or got.get(p)) if made else got.get
        r = self.renderers[g.rule[job]]
        if job_id is None:
            job_id = g.job_id(job)
        if command is None:
            command = self.command(job, jid=job_id)
        return Finished(
            job_id=job_id,
            rule=r.rule.name,
            cmd_hash=r.key(job_id, g.values[job], inputs, g.outputs[job], g.n_outputs[job], None if r.env else command),
            params_hash=shell.params_hash(r, g.values[job]) + shell.env_key(g, self.renderers, job),
            inputs_hash=inputs_hash(inputs),
            input_sig=input_signature(inputs, get, g.ancient(job), self.temp_inputs(job) if self.temp_inputs is not None else ()),
            command=command,
            inputs=[(p, *(get(p) or (0, -1))[::-1]) for p in inputs] if len(inputs) <= 10000 else [],
            outputs=g.outputs[job],
            log=log,
            started=started,
            attempts=attempts,
        )

    def _stat_few(self, paths: tuple[str, ...]) -> dict:
        """The stats of a few local paths, as ``state.snapshot`` reads them (one ``stat`` each)."""
        out = {}
        prefix = self._prefix
        for path in paths:
            if "://" in path:
                return snapshot(paths, self.workdir).as_dict()  # a remote one: the general way
            try:
                st = os.stat(path if path[:1] == "/" else prefix + path)
            except OSError:
                continue
            out[path] = (st.st_mtime_ns, st.st_size)
        return out


