"""Where jobs run: rulec's backend names, one enum. ``--executor`` takes any of them;
``rulec emit`` and a profile's tables take the cluster ones."""

from __future__ import annotations

from enum import Enum


class Backend(str, Enum):
    LOCAL = "local"
    SLURM = "slurm"
    LSF = "lsf"
    JBSUB = "jbsub"

    def __str__(self) -> str:  # "slurm", in messages and paths alike
        return self.value


EXECUTORS = (Backend.LOCAL, Backend.SLURM, Backend.JBSUB, Backend.LSF)  # what --executor accepts
CLUSTER = (Backend.SLURM, Backend.LSF, Backend.JBSUB)  # what emit writes and a profile configures
# Executors whose jobs run on this machine's bash workers (where a label's prefix applies).
LOCAL_WORKERS = (Backend.LOCAL, Backend.JBSUB)
# Executors that submit the whole plan with scheduler-side dependencies (push).
PUSH = (Backend.SLURM, Backend.LSF)
SUBMIT_COMMAND = {Backend.SLURM: "sbatch", Backend.LSF: "bsub", Backend.JBSUB: "jbsub"}
# The schedulers' default MaxArraySize (SLURM 1001, LSF 1000); jbsub has no arrays.
DEFAULT_MAX_ARRAY = {Backend.SLURM: 1001, Backend.LSF: 1000, Backend.JBSUB: None}
