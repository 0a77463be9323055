"""The run lock in ``.rulec/``: one ``rulec run`` at a time in a working folder.

The lock file holds pid, host, start time and command. A lock whose process is gone on this
host is stale: the next run takes it over with a warning. ``rulec unlock`` removes it by hand.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time

from ..errors import LockError

LOCK_NAME = "lock"


def _path(workdir: str) -> str:
    return os.path.join(workdir, ".rulec", LOCK_NAME)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as gone.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


class Lock:
    def __init__(self, workdir: str, command: str | None = None):
        self.workdir = workdir
        self.path = _path(workdir)
        self.command = command or " ".join(sys.argv)
        self.held = False
        self.warning: str | None = None

    def acquire(self) -> "Lock":
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(), "command": self.command}
        for _ in range(20):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                other = read(self.workdir)
                if other is None:
                    time.sleep(0.05)  # removed meanwhile, or being written: try again
                    continue
                if other.get("host") == socket.gethostname() and not _alive(int(other.get("pid", -1))):
                    self.warning = (f"took over a stale lock of process {other.get('pid')} "
                                    f"(started {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(other.get('started', 0)))}), which is gone")
                    try:
                        os.unlink(self.path)
                    except FileNotFoundError:
                        pass
                    continue
                raise LockError(
                    f"another rulec is running in {self.workdir}: pid {other.get('pid')} on {other.get('host')}, "
                    f"started {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(other.get('started', 0)))}: {other.get('command')}",
                    hint="wait for it to finish; if it was killed on another host, run `rulec unlock`",
                )
            with os.fdopen(fd, "w") as fh:
                json.dump(info, fh)
            self.held = True
            return self
        raise LockError(f"could not take the lock {self.path}: it cannot be read",
                        hint="if no rulec is running here, remove it with `rulec unlock`")

    def release(self) -> None:
        if self.held:
            info = read(self.workdir)
            # Only our own lock: `rulec unlock` may have removed it and another run taken it.
            if info is not None and info.get("pid") == os.getpid() and info.get("host") == socket.gethostname():
                try:
                    os.unlink(self.path)
                except FileNotFoundError:
                    pass
            self.held = False

    def __enter__(self) -> "Lock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def read(workdir: str) -> dict | None:
    try:
        with open(_path(workdir)) as fh:
            return json.load(fh)
    except (FileNotFoundError, ValueError):
        return None


def unlock_main(target, ns) -> int:
    from .. import api

    workflow = api.load(target)
    info = read(workflow.workdir)
    if info is None:
        if os.path.lexists(_path(workflow.workdir)):
            # half-written (rulec killed between creating and filling it) or damaged
            os.unlink(_path(workflow.workdir))
            print(f"removed an unreadable lock file {_path(workflow.workdir)}")
            return 0
        print(f"no lock in {os.path.join(workflow.workdir, '.rulec')}")
        return 0
    os.unlink(_path(workflow.workdir))
    print(f"removed the lock of pid {info.get('pid')} on {info.get('host')}: {info.get('command')}")
    return 0
