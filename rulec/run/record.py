"""What to write into the state store when a job has succeeded, shared by every executor."""

from __future__ import annotations

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
        from ..kinds import TEMP, OutputKinds

        kinds = OutputKinds.of(graph)
        # temp() inputs' stats are kept apart in the signature (plan.same_inputs)
        self.temp_inputs = kinds.temp_inputs if kinds is not None and kinds.has(TEMP) else None

    def command(self, job: int, local=None, attempt: int = 1) -> str:
        """The job's command; ``local`` maps its paths to those the job works on."""
        return shell.command_of(self.graph, self.renderers, job, local, attempt)

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
                 attempts: int = 1) -> Finished:
        """The record for ``job``; inputs are stat'ed now (or taken from ``stats``)."""
        g = self.graph
        inputs = g.inputs[job]
        snap = stats if stats is not None else snapshot(inputs, self.workdir, trees=g.directories())
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
            input_sig=input_signature(inputs, get, g.ancient(job), self.temp_inputs(job) if self.temp_inputs is not None else ()),
            command=command,
            inputs=[(p, *(get(p) or (0, -1))[::-1]) for p in inputs] if len(inputs) <= 10000 else [],
            outputs=g.outputs[job],
            log=log,
            started=started,
            attempts=attempts,
        )


