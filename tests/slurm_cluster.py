"""A real single-node SLURM cluster for tests, as a session-scoped fixture.

The fixture runs ``scripts/local-slurm.sh start`` (which installs the
packages when missing and is a fast no-op when the cluster is already up),
exports ``SLURM_CONF`` for the test session and yields a :class:`SlurmCluster`.

The cluster is left running after the session so that reruns are fast; set
``RULEC_SLURM_STOP=1`` to stop it at teardown. When the cluster cannot be
started the requesting tests are skipped, or fail when ``CI`` is set.

The start script's environment knobs (``LOCAL_SLURM_DIR``, ``LOCAL_SLURM_CPUS``,
``LOCAL_SLURM_MAX_ARRAY_SIZE``, ...) are passed through unchanged.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "scripts" / "local-slurm.sh"
START_TIMEOUT = 600  # seconds; a first start may install packages


@dataclass(frozen=True)
class SlurmCluster:
    """Where the running cluster keeps its files."""

    conf: Path  # slurm.conf; also exported as SLURM_CONF
    dir: Path  # state directory (logs, spool, jobcomp log)

    @property
    def jobcomp_log(self) -> Path:
        """One ``Key=Value ...`` line per finished job (JobCompType=jobcomp/filetxt)."""
        return self.dir / "jobcomp" / "jobcomp.log"

    @property
    def log_dir(self) -> Path:
        return self.dir / "log"

    def env(self) -> dict[str, str]:
        """A copy of ``os.environ`` with SLURM_CONF pointing at this cluster."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}


def _run_script(action: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), action],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _parse_conf(stdout: str) -> Path | None:
    """Take SLURM_CONF from the last line: ``export SLURM_CONF=<path>``."""
    lines = stdout.strip().splitlines()
    if not lines:
        return None
    words = shlex.split(lines[-1])
    if len(words) != 2 or words[0] != "export" or not words[1].startswith("SLURM_CONF="):
        return None
    return Path(words[1].split("=", 1)[1])


def start_cluster() -> SlurmCluster:
    """Start (or reuse) the cluster; raise RuntimeError with the script's stderr on failure."""
    if not SCRIPT.is_file():
        raise RuntimeError(f"{SCRIPT} not found")
    try:
        proc = _run_script("start", START_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"local-slurm.sh start: {exc}") from exc
    conf = _parse_conf(proc.stdout) if proc.returncode == 0 else None
    if conf is None:
        raise RuntimeError(
            f"local-slurm.sh start exited {proc.returncode}\n"
            f"--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}"
        )
    return SlurmCluster(conf=conf, dir=conf.parent)


def stop_cluster() -> None:
    _run_script("stop", 120)


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    """A running local SLURM cluster, with SLURM_CONF exported for the session."""
    try:
        cluster = start_cluster()
    except RuntimeError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"could not start the local SLURM cluster:\n{exc}", pytrace=False)
        pytest.skip(f"could not start the local SLURM cluster: {exc}")

    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(cluster.conf)
    try:
        yield cluster
    finally:
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous
        if os.environ.get("RULEC_SLURM_STOP") == "1":
            stop_cluster()
