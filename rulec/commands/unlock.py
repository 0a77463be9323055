"""``rulec unlock``: remove a stale lock left by a killed rulec (never a live one without --force)."""

from __future__ import annotations

import os

from .. import api, report
from ..run.lock import LockError, _path, _read_fd, _same_file, _try_flock, describe, holder_alive, parse


def main(target: api.Target, force: bool = False) -> int:
    """``force``: remove the lock even if the rulec holding it is running on this host."""
    workflow = api.load(target)
    path = _path(workflow.workdir)
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        print(f"no lock in {os.path.join(workflow.workdir, '.rulec')}")
        return 0
    try:
        got = _try_flock(fd)
        info = parse(_read_fd(fd))
        alive = holder_alive(info) if info is not None else None
        if got is False or (info is not None and alive):
            who = describe(info) if info is not None else "its file cannot be read"
            if not force:
                raise LockError(f"the lock in {workflow.workdir} belongs to a running rulec: {who}",
                                hint="stop that run first (Ctrl-C or kill PID); `rulec unlock --force` removes the lock anyway, "
                                     "and a second run could then start the same jobs beside it")
            report.warn(f"removing the lock of a running rulec ({who}): it goes on running")
        elif info is not None and alive is None:
            report.warn(f"the lock is of another host ({info['host']}): rulec cannot tell from here whether that run is alive")
        if _same_file(fd, path):
            os.unlink(path)
    finally:
        os.close(fd)
    if info is None:
        print(f"removed an unreadable lock file {path}")
    else:
        print(f"removed the lock of {describe(info)}")
    return 0
