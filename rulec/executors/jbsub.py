"""The jbsub executor (``rulec run --executor jbsub``, IBM CCC's LSF front end): a pull
executor on the local bash workers, taskproc's model. Each job the loop's ready queue hands
over (as soon as its own dependencies have ended) runs in a worker as

    jbsub -wait <flags> -name <job id> -out <log> -err <log> [<label prefix>] bash -euo pipefail <job script>

which blocks until the cluster job has ended and exits with its status. The flags are the
jbsub bundle's (``bundle/jbsub.py``): ``-cores``, ``-mem`` and ``-queue`` (from ``time``)
derived from the rule's resources, then the label's ``jbsub:`` string and the profile's
``[jbsub]`` flags, flag by flag. A ``local: true`` rule's jobs run on this machine instead, as
the local executor runs them (under their label's prefix, if any). The cluster shares this file system (``stages_files``): the
loop makes the output folders and checks the outputs as for local jobs.

jbsub's own words (``Job <N> is submitted to queue <q>.``) go to a side file next to the job
script (.rulec/jobs/<hash>.jbsub), the job's output to its log. On an interruption the
waiting ``jbsub -wait`` processes are TERMed like any local job, then every cluster job id
seen in their side files is killed with ``bkill <id>`` (jbsub is a front end to LSF; CCC's
own kill command is not documented where this was written, so LSF's is used).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from typing import Sequence

from .. import report
from ..errors import BackendError, RulecError
from ..run.executor import Event, Finished, Outcome, Task
from ..backend import Backend
from . import workers as local
from .local import LocalExecutor

SUBMITTED = re.compile(r"Job <?(\d+)>? is submitted")
KILL = "bkill"
KILL_TIMEOUT = 30.0


class JbsubExecutor(LocalExecutor):
    name = Backend.JBSUB
    push = False
    stages_files = True  # the cluster shares this file system
    queue_depth = 0  # (a cluster job's wait dwarfs the turn of the loop that queueing saves)

    def __init__(self, workdir: str, journal, graph, flags: dict[int, tuple[str, ...]], jbsub: str = "jbsub"):
        super().__init__(workdir, journal, graph)
        self.jbsub = jbsub
        self.flags = flags  # rule index -> its jbsub flags, as words

    def side_file(self, job_id: str) -> str:
        script = os.path.abspath(local.script_path(self.launcher.workdir, job_id))
        return script[: -len(".sh")] + ".jbsub"

    def runner(self, task: Task):
        if self.graph.rule_of(task.job).local:  # local: true: on this machine, as --executor local runs it
            return super().runner(task)
        words = self.prefix(task.job)
        flags = self.flags.get(self.graph.rule[task.job], ())
        side = self.side_file(task.job_id)

        def run(script: str, target: str) -> str:
            try:  # (the shell's ">" would write through whatever is at its path: a new file)
                os.unlink(side)
            except FileNotFoundError:
                pass
            call = (self.jbsub, "-wait", *flags, "-name", task.job_id, "-out", target, "-err", target,
                    *words, "bash", "-euo", "pipefail", script)
            return f"exec {shlex.join(call)} >{shlex.quote(side)} 2>&1"

        return run

    def remote_ids(self, job_id: str) -> list[str]:
        try:
            with open(self.side_file(job_id), encoding="utf-8", errors="replace") as fh:
                return SUBMITTED.findall(fh.read())
        except OSError:
            return []

    def wait(self) -> list[Event]:
        out = []
        from .local import _finished

        for proc, code in self.launcher.wait_any():
            event = _finished(proc, code) if self.graph.rule_of(proc.job).local else _finished_with(proc, code, self)
            out.append(event)
        return out

    def stop(self, grace: float) -> tuple[list[Event], list[int]]:
        """TERM the waiting ``jbsub -wait`` processes (as local jobs), then kill each cluster
        job they submitted. A job whose cluster job could not be killed may still be alive."""
        running = [(p.job, p.job_id) for p in self.launcher.running()]
        events, alive = super().stop(grace)
        alive = list(alive)
        for job, job_id in running:
            for rid in self.remote_ids(job_id):
                why = _kill(rid)
                if why is not None:
                    report.warn(f"{job_id}: could not kill jbsub job {rid}: {why}")
                    alive.append(job)
        return events, alive

    def close(self) -> None:
        if self.launcher.running():
            self.stop(0.0)
        super().close()


def _kill(rid: str) -> str | None:
    """``bkill <rid>``; None when it ran (a job that had already ended counts as killed),
    else why it could not."""
    try:
        subprocess.run([KILL, rid], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=KILL_TIMEOUT, check=False)
    except FileNotFoundError:
        return f"{KILL} is not on PATH"
    except subprocess.TimeoutExpired:
        return f"{KILL} {rid} did not answer in {KILL_TIMEOUT:.0f}s"
    except OSError as exc:
        return f"{KILL} {rid}: {exc}"
    return None


def _finished_with(proc, code, executor: JbsubExecutor) -> Finished:
    """The local executor's Finished event; a failure notes the cluster job's id, or, when
    none was submitted, jbsub's own last words."""
    from .local import _finished

    event = _finished(proc, code)
    if event.outcome is Outcome.OK:
        return event
    ids = executor.remote_ids(proc.job_id)
    if ids:
        note = f"jbsub job {', '.join(ids)}"
    else:
        try:
            with open(executor.side_file(proc.job_id), encoding="utf-8", errors="replace") as fh:
                lines = [line.strip() for line in fh if line.strip()]
        except OSError:
            lines = []
        note = "jbsub: " + " / ".join(lines[-3:]) if lines else "jbsub submitted no job"
    return Finished(event.job, event.outcome, event.exit_code, event.signal, event.state, event.log, event.notes + (note,))


def rule_flags(rule, workflow, profile) -> tuple[str, ...]:
    """The rule's jbsub flags as words, as the jbsub bundle gives them."""
    from ..bundle import arrays as arr
    from ..bundle import jbsub as bundle
    from ..bundle import settings as settings_mod

    s = settings_mod.for_rule(rule, workflow, Backend.JBSUB, profile)
    settings_mod.check_one_line(rule.name, s)
    words: list[str] = []
    for key, value in bundle.flags(arr.Array(0, rule.name, rule, [], s)):
        words += [key] if value is True else [key, str(value)]
    return tuple(words)


def make(options, graph, plan, journal=None, quiet: bool = False) -> JbsubExecutor:
    """Refuses before anything runs: no ``jbsub`` on PATH, or a rule's flags that cannot be made."""
    from ..profile import load as load_profile

    path = shutil.which("jbsub")
    if path is None:
        raise RulecError("--executor jbsub: jbsub is not on PATH (it runs on the login nodes of IBM CCC clusters)",
                         hint="run where jbsub is installed, or use --executor local")
    profile = load_profile(options.profile)
    tables = profile.backend(Backend.JBSUB)
    for layer in (tables.top, *tables.labels.values(), *tables.rules.values()):
        if layer.get("limit") is not None:  # accepted here, it would be ignored
            raise RulecError(f"{layer.where}: limit is for `rulec emit --jbsub` bundles (their submit.sh's jobs at once); "
                             "a jbsub run from rulec bounds its jobs with -j and the Rulefile's labels' limit:",
                             hint="give the label a  limit:  in the Rulefile, or run with -j N")
    workflow = graph.workflow
    rules = sorted({graph.rule[j] for j in plan.run if not workflow.rules[graph.rule[j]].local})
    flags = {}
    for index in rules:
        try:
            flags[index] = rule_flags(workflow.rules[index], workflow, profile)
        except ValueError as exc:  # an unclosed quote in the flags
            raise BackendError(f"rule {workflow.rules[index].name}: jbsub flags: {exc}") from None
    return JbsubExecutor(workflow.workdir, journal, graph, flags, path)


__all__: Sequence[str] = ("JbsubExecutor", "make", "rule_flags")
