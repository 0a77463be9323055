"""Snapshot: existence, mtime and size of every path a plan looks at, read in batches.

Local paths are grouped by folder and each folder is listed once with ``os.scandir``; only
names that the plan asks about are stat'ed. Remote paths (``s3://`` ...) are listed through
``storage`` one prefix at a time. A Snapshot is a plain value: tests build it from literals.
"""

from __future__ import annotations

import os
from typing import Iterable, Mapping

from . import storage

Stat = tuple[int, int]  # (mtime in ns, size in bytes)


class Snapshot:
    __slots__ = ("_stats", "tolerance_ns")

    def __init__(self, stats: Mapping[str, Stat] | None = None, tolerance_ns: int = 0):
        self._stats: dict[str, Stat] = dict(stats or {})
        self.tolerance_ns = tolerance_ns  # slack for "input newer than output" (coarse remote clocks)

    def get(self, path: str) -> Stat | None:
        return self._stats.get(path)

    @property
    def lookup(self):
        """The bound ``dict.get`` of the stats: what hot loops call (no Python frame per path)."""
        return self._stats.get

    def exists(self, path: str) -> bool:
        return path in self._stats

    def mtime(self, path: str) -> int | None:
        st = self._stats.get(path)
        return st[0] if st else None

    def __contains__(self, path: str) -> bool:
        return path in self._stats

    def __len__(self) -> int:
        return len(self._stats)

    def update(self, path: str, stat: Stat | None) -> None:
        if stat is None:
            self._stats.pop(path, None)
        else:
            self._stats[path] = stat

    def as_dict(self) -> dict[str, Stat]:
        return dict(self._stats)


def snapshot(paths: Iterable[str], workdir: str = ".", tolerance_ns: int = 0) -> Snapshot:
    """Read the state of ``paths`` (relative to ``workdir``, or absolute, or remote URLs)."""
    by_dir: dict[str, list[str]] = {}
    remote: list[str] = []
    for path in paths:
        if "://" in path and storage.is_remote(path):  # (inline test: a call per path costs)
            remote.append(path)
            continue
        head, _, name = path.rpartition("/")
        by_dir.setdefault(head, []).append(name)
    stats: dict[str, Stat] = {}
    base = os.path.abspath(workdir)
    for head, names in by_dir.items():
        folder = os.path.join(base, head) if head else base
        if len(names) <= 2:
            # Listing a big folder to learn about one file costs more than a stat.
            for name in names:
                path = f"{head}/{name}" if head else name
                try:
                    st = os.stat(os.path.join(folder, name))
                except (FileNotFoundError, NotADirectoryError):
                    continue
                except OSError:
                    continue
                stats[path] = (st.st_mtime_ns, st.st_size)
            continue
        wanted = set(names)
        prefix = head + "/" if head else ""
        try:
            with os.scandir(folder) as it:
                for entry in it:
                    if entry.name in wanted:
                        try:
                            st = entry.stat()
                        except OSError:
                            continue
                        stats[prefix + entry.name] = (st.st_mtime_ns, st.st_size)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError:
            continue
    if remote:
        stats.update(storage.stat_many(remote))
    return Snapshot(stats, tolerance_ns)
